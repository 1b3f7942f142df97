// Helper process for multi-process sink tests: joins sink <name> on
// <stream> at 127.0.0.1:<port>, receives events without acking them,
// prints "received <n>" after each batch, and runs until killed.
//
//   sink_process <port> <sink> <stream> <grace_ms>

#include <cstdio>
#include <cstdlib>
#include <thread>

#include <caf/all.hpp>

#include "pulse/actors/streaming/sink.hpp"
#include "pulse/runtime/errors.hpp"
#include "pulse/runtime/runtime.hpp"
#include "tests/support/process_main.hpp"

using namespace std::chrono_literals;

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: sink_process port sink stream grace_ms\n");
    return 2;
  }
  pulse::test::helper_process proc{argv[1]};
  auto& sys = *proc.sys;
  pulse::sink_options so;
  so.block = 50ms;
  so.ack_grace = std::chrono::milliseconds{std::atoi(argv[4])};
  so.idle_check = 50ms;
  so.start = "0";
  auto sink = pulse::spawn_sink(*proc.rt, argv[2], {argv[3]}, so);
  if (!sink) {
    std::fprintf(stderr, "%s\n", pulse::render(sink.error()).c_str());
    return 1;
  }
  auto total = std::make_shared<size_t>(0);
  auto sub = sys.spawn([total](caf::event_based_actor*) -> caf::behavior {
    return {
      [total](pulse::event_batch& b) {
        *total += b.events.size();
        std::printf("received %zu\n", *total);
        std::fflush(stdout);
        return true; // never acks
      },
    };
  });
  caf::anon_send(*sink, pulse::sub_atom::value,
                 caf::actor_cast<pulse::event_subscriber_actor>(sub));
  for (;;)
    std::this_thread::sleep_for(1s);
}
