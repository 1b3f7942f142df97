// Fuzz target: the replicated-map wire decoders (actors/rmap/encoding.cpp)
// on bytes other clients (Go Pulse or C++ nodes) publish on
// `map:<m>:updates` and store as map values.
// decode_notification: no crash or sanitizer report; a message it accepts,
// encoded again in Go Pulse's format (`set:` u32 len ‖ key ‖ u32 len ‖
// value ‖ u32 len ‖ rev, `del:` without the value, `reset:`/`destroy:`
// with a bare decimal rev), decodes to the same notification.
// decode_list: no crash; a value without `[` is split at commas into pieces
// that join back to it; any list it returns, written as a JSON array of
// strings, decodes to the same list.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "pulse/actors/rmap/encoding.hpp"
#include "check.hpp"

namespace {

using pulse::map_notification;

void put_u32(std::string& out, size_t n) {
  for (int i = 0; i < 4; ++i)
    out += static_cast<char>((n >> (8 * i)) & 0xFF);
}

void put_str(std::string& out, const std::string& s) {
  put_u32(out, s.size());
  out += s;
}

std::string encode(const map_notification& n) {
  auto rev = std::to_string(n.rev);
  std::string out;
  switch (n.kind) {
    case map_notification::op::set:
      out = "set:";
      put_str(out, n.key);
      put_str(out, n.value);
      put_str(out, rev);
      break;
    case map_notification::op::del:
      out = "del:";
      put_str(out, n.key);
      put_str(out, rev);
      break;
    case map_notification::op::reset:
      out = "reset:" + rev;
      break;
    case map_notification::op::destroy:
      out = "destroy:" + rev;
      break;
  }
  return out;
}

// A JSON array of strings: escapes quotes, backslashes and control
// characters, other bytes as they are.
std::string encode_json(const std::vector<std::string>& xs) {
  static constexpr char hex[] = "0123456789abcdef";
  std::string out = "[";
  for (size_t i = 0; i < xs.size(); ++i) {
    if (i > 0)
      out += ',';
    out += '"';
    for (unsigned char c : xs[i]) {
      if (c == '"' || c == '\\') {
        out += '\\';
        out += static_cast<char>(c);
      } else if (c < 0x20) {
        out += "\\u00";
        out += hex[c >> 4];
        out += hex[c & 0xF];
      } else {
        out += static_cast<char>(c);
      }
    }
    out += '"';
  }
  out += ']';
  return out;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in{reinterpret_cast<const char*>(data), size};
  if (auto n = pulse::decode_notification(in)) {
    auto again = pulse::decode_notification(encode(*n));
    FUZZ_CHECK(again);
    FUZZ_CHECK(again->kind == n->kind && again->key == n->key
               && again->value == n->value && again->rev == n->rev);
    if (n->kind != map_notification::op::set)
      FUZZ_CHECK(n->value.empty());
  }
  auto list = pulse::decode_list(in);
  if (in.find('[') == std::string_view::npos) {
    std::string joined;
    for (size_t i = 0; i < list.size(); ++i)
      joined += (i > 0 ? "," : "") + list[i];
    FUZZ_CHECK(joined == in);
  }
  FUZZ_CHECK(pulse::decode_list(encode_json(list)) == list);
  return 0;
}
