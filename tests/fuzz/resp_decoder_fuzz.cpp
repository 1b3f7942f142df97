// Fuzz target: pulse::resp::decoder (actors/redis/resp.cpp), the RESP2
// decoder every gateway runs on the bytes of its Redis connection.
// For arbitrary bytes it checks that decoding
//  * never crashes, trips a sanitizer, hangs or allocates out of proportion
//    to the input (libFuzzer's -rss_limit_mb / -malloc_limit_mb / -timeout);
//  * does not depend on how the bytes are split: fed whole, one byte at a
//    time (inputs up to 4 KiB) and in pseudo-random chunks, it yields the
//    same values and ends in the same state (failed or waiting for more);
//  * agrees with decode_one on the first reply;
//  * yields values that re-encode to RESP decoding to the same value;
//  * stays failed after a protocol error until reset(), and works again
//    after it.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "pulse/actors/redis/resp.hpp"
#include "check.hpp"

namespace {

using pulse::resp::kind;
using pulse::resp::value;

struct outcome {
  std::vector<value> values;
  bool failed = false;
};

// Feeds `in` in pieces of `chunk()` bytes, draining every complete reply
// after each piece.
template <class Chunk>
outcome decode(std::string_view in, Chunk chunk) {
  outcome out;
  pulse::resp::decoder dec;
  size_t pos = 0;
  while (pos < in.size() && !out.failed) {
    auto n = std::min(chunk(), in.size() - pos);
    FUZZ_CHECK(!dec.feed(in.data() + pos, n));
    pos += n;
    for (;;) {
      value v;
      auto got = dec.next(v);
      if (!got) {
        out.failed = true;
        break;
      }
      if (!*got)
        break;
      out.values.push_back(std::move(v));
    }
  }
  if (out.failed) {
    // The decoder stays failed until reset, then decodes again.
    value v;
    FUZZ_CHECK(!dec.next(v));
    FUZZ_CHECK(dec.feed("+OK\r\n", 5));
    dec.reset();
    FUZZ_CHECK(!dec.feed("+OK\r\n", 5));
    auto got = dec.next(v);
    FUZZ_CHECK(got && *got && v.type == kind::status && v.str == "OK");
  }
  return out;
}

// Our own RESP2 encoding of a reply (the library only encodes commands).
void encode(const value& v, std::string& out) {
  switch (v.type) {
    case kind::nil:
      out += "$-1\r\n";
      return;
    case kind::status:
    case kind::error:
      out += v.type == kind::status ? '+' : '-';
      out += v.str;
      out += "\r\n";
      return;
    case kind::integer:
      out += ':' + std::to_string(v.integer) + "\r\n";
      return;
    case kind::bulk:
      out += '$' + std::to_string(v.str.size()) + "\r\n";
      out += v.str;
      out += "\r\n";
      return;
    case kind::array:
      out += '*' + std::to_string(v.elements.size()) + "\r\n";
      for (auto& x : v.elements)
        encode(x, out);
      return;
  }
  FUZZ_CHECK(false);
}

// A small deterministic generator for chunk sizes, seeded from the input.
struct splitter {
  uint64_t state;
  size_t operator()() {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    // Mostly small pieces, sometimes up to 4 KiB.
    auto bits = state % 13;
    return 1 + static_cast<size_t>((state >> 8) % (size_t{1} << bits));
  }
};

uint64_t fnv1a(std::string_view in) {
  uint64_t h = 0xcbf29ce484222325u;
  for (unsigned char c : in)
    h = (h ^ c) * 0x100000001b3u;
  return h | 1;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in{reinterpret_cast<const char*>(data), size};
  auto whole = decode(in, [&] { return in.size(); });
  auto random = decode(in, splitter{fnv1a(in)});
  FUZZ_CHECK(random.failed == whole.failed);
  FUZZ_CHECK(random.values == whole.values);
  if (in.size() <= 4096) {
    auto bytes = decode(in, [] { return size_t{1}; });
    FUZZ_CHECK(bytes.failed == whole.failed);
    FUZZ_CHECK(bytes.values == whole.values);
  }
  auto first = pulse::resp::decode_one(in);
  if (!whole.values.empty())
    FUZZ_CHECK(first && *first == whole.values.front());
  else
    FUZZ_CHECK(!first);
  for (auto& v : whole.values) {
    std::string bytes;
    encode(v, bytes);
    auto again = pulse::resp::decode_one(bytes);
    FUZZ_CHECK(again && *again == v);
    // The accessors the actors use on replies.
    (void) v.render();
    if (auto s = v.as_string())
      FUZZ_CHECK(v.is_string() && *s == v.str);
    if (auto i = v.as_integer(); i && v.type == kind::integer)
      FUZZ_CHECK(*i == v.integer);
  }
  return 0;
}
