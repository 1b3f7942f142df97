// Fuzz target: pool_core::deliver (actors/pool/core.cpp) and
// result_registry::deliver_record (actors/pool/results.cpp), the parsers of
// the messages pool scripts of any node publish on a node's channel: start
// records `<id>\x1f<error>\x1e` and completion records
// `c<id>\x1f<1|0><len>\x1f<text>\x1e`.
// Checks: no crash, exception or sanitizer report; every waiter is run at
// most once; a completion waiter gets a text no longer than the input; and a
// well-formed completion record written the way the scripts write it, with
// the fuzz input as its text, reaches its waiter with exactly that text.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

#include "pulse/actors/pool/core.hpp"
#include "check.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string raw{reinterpret_cast<const char*>(data), size};
  pulse::pool_core core{"p", "n", pulse::pool_options{}};
  auto later = std::chrono::steady_clock::now() + std::chrono::hours{1};
  int starts[3] = {0, 0, 0};
  int results[3] = {0, 0, 0};
  for (uint64_t id = 1; id <= 2; ++id) {
    core.add_waiter(id, "k", [&, id](caf::error) { ++starts[id]; }, later);
    core.results.add(
      id,
      [&, id](caf::expected<std::string> r) {
        ++results[id];
        if (r)
          FUZZ_CHECK(r->size() <= size);
      },
      later);
  }
  core.deliver(raw);
  for (int id = 1; id <= 2; ++id)
    FUZZ_CHECK(starts[id] <= 1 && results[id] <= 1);
  // The input as a result text survives the framing byte for byte.
  pulse::result_registry reg;
  std::string got;
  bool called = false;
  reg.add(7,
          [&](caf::expected<std::string> r) {
            called = true;
            FUZZ_CHECK(static_cast<bool>(r));
            got = *r;
          },
          later);
  auto msg = "c7\x1f" "1" + std::to_string(raw.size()) + '\x1f' + raw + '\x1e';
  FUZZ_CHECK(reg.deliver_record(msg, 0) == msg.size());
  FUZZ_CHECK(called && got == raw);
  return 0;
}
