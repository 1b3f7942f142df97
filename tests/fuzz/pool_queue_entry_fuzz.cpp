// Fuzz target: parse_queue_entry (actors/pool/core.cpp), the parser of the
// entries that pool scripts, run by any node, push onto a worker's queue:
// `S<epoch>[/<attempt>/<timeout_ms>] <klen> <nlen> <dlen> <key><node><dispatch_id><payload>`,
// `T<epoch> <key>`, `N<epoch> <len> <key><payload>` and `C<epoch> <key>`.
// Checks: no crash, exception or sanitizer report; an accepted entry has a
// positive epoch, a non-empty key and no more bytes than the input, and
// written again the way the scripts write it, parses to the same entry.

#include <cstddef>
#include <cstdint>
#include <string>

#include "pulse/actors/pool/core.hpp"
#include "check.hpp"

namespace {

std::string encode(const pulse::queue_entry& e) {
  auto out = std::string(1, e.kind) + std::to_string(e.epoch);
  if (e.kind == 'S' && (e.attempt != 1 || e.timeout_ms >= 0))
    out += '/' + std::to_string(e.attempt) + '/'
           + (e.timeout_ms >= 0 ? std::to_string(e.timeout_ms) : "");
  out += ' ';
  switch (e.kind) {
    case 'S':
      return out + std::to_string(e.key.size()) + ' '
             + std::to_string(e.node.size()) + ' '
             + std::to_string(e.dispatch_id.size()) + ' ' + e.key + e.node
             + e.dispatch_id + e.payload;
    case 'N':
      return out + std::to_string(e.key.size()) + ' ' + e.key + e.payload;
    default:
      return out + e.key;
  }
}

bool same(const pulse::queue_entry& x, const pulse::queue_entry& y) {
  return x.kind == y.kind && x.epoch == y.epoch && x.key == y.key
         && x.payload == y.payload && x.node == y.node
         && x.dispatch_id == y.dispatch_id && x.attempt == y.attempt
         && x.timeout_ms == y.timeout_ms;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string raw{reinterpret_cast<const char*>(data), size};
  auto e = pulse::parse_queue_entry(raw);
  if (e.kind == 0)
    return 0;
  FUZZ_CHECK(e.kind == 'S' || e.kind == 'T' || e.kind == 'N'
             || e.kind == 'C');
  FUZZ_CHECK(e.kind == raw[0]);
  FUZZ_CHECK(e.epoch > 0 && e.epoch <= INT64_MAX);
  FUZZ_CHECK(!e.key.empty());
  FUZZ_CHECK(e.key.size() + e.node.size() + e.dispatch_id.size()
               + e.payload.size()
             < raw.size());
  if (e.kind != 'S')
    FUZZ_CHECK(e.node.empty() && e.dispatch_id.empty() && e.attempt == 1
               && e.timeout_ms == -1);
  FUZZ_CHECK(e.attempt >= 1 && e.timeout_ms >= -1);
  if (e.kind == 'T' || e.kind == 'C')
    FUZZ_CHECK(e.payload.empty());
  FUZZ_CHECK(same(pulse::parse_queue_entry(encode(e)), e));
  return 0;
}
