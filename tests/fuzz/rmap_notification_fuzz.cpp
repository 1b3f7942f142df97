// Fuzz target: the replicated-map wire decoders (actors/rmap/encoding.cpp)
// on bytes other clients (Go Pulse or C++ nodes) publish on
// `map:<m>:updates` and store as map values.
// decode_notification: no crash or sanitizer report; a message it accepts,
// encoded again in Go Pulse's format (`set:` u32 len ‖ key ‖ u32 len ‖
// value ‖ u32 len ‖ rev, `del:` without the value, `reset:`/`destroy:`
// with a bare decimal rev), decodes to the same notification.
// decode_list: no crash; a value without `[` is split at commas into pieces
// that join back to it; any list it returns, written as a JSON array of
// strings the way Lua's cjson writes it, decodes to the same list. The
// encoders are the tests' oracles (tests/support/rmap_oracle.cpp).

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "pulse/actors/rmap/encoding.hpp"
#include "tests/support/rmap_oracle.hpp"
#include "check.hpp"

using pulse::map_notification;
using pulse::test::encode_list;
using pulse::test::encode_notification;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in{reinterpret_cast<const char*>(data), size};
  if (auto n = pulse::decode_notification(in)) {
    auto again = pulse::decode_notification(encode_notification(*n));
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
  FUZZ_CHECK(pulse::decode_list(encode_list(list)) == list);
  return 0;
}
