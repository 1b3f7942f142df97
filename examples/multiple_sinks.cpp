// multiple_sinks: two instances of one sink share the work (each event goes
// to exactly one), while a second sink name gets its own copy of every event.

#include "pulse/actors/streaming/sink.hpp"
#include "examples/common.hpp"
#include "pulse/actors/redis/client.hpp"
#include "pulse/actors/streaming/stream.hpp"

int main(int argc, char** argv) {
  example::app app{argc, argv};
  auto& sys = *app.sys;
  auto opts = pulse::sink_options::from(app.cfg.opts().streaming);
  caf::scoped_actor self{sys};
  std::vector<caf::actor> outs;
  struct instance {
    const char* sink;
    const char* label;
    size_t expected; // signal `self` after this many events (0: never)
  };
  // 4 events: the two "mailer" instances split them, "archive" gets all.
  for (auto inst : {instance{"mailer", "mailer#1", 0},
                    instance{"mailer", "mailer#2", 0},
                    instance{"archive", "archive", 4}}) {
    auto sink = app.must(pulse::spawn_sink(*app.rt, inst.sink, {"signups"},
                                           opts),
                         "sink");
    auto out = sys.spawn(example::printer, inst.label,
                         caf::actor_cast<caf::actor>(sink), caf::actor{self},
                         inst.expected);
    example::subscribe(self, sink, out);
    outs.push_back(out);
  }
  pulse::client redis{sys, app.rt->gateway()};
  auto signups = app.must(pulse::stream::make("signups"), "stream");
  for (auto who : {"ada", "alan", "grace", "edsger"})
    signups.add(redis, "user-created", who);
  // Every event is printed twice: once by a mailer, once by the archive.
  example::await(self, 1);
  std::this_thread::sleep_for(std::chrono::milliseconds{200});
  for (auto& o : outs)
    self->send_exit(o, caf::exit_reason::user_shutdown);
}
