// single_sink: a sink (consumer group) receives and acks every event.

#include "pulse/actors/streaming/sink.hpp"
#include "examples/common.hpp"
#include "pulse/actors/redis/client.hpp"
#include "pulse/actors/streaming/stream.hpp"

int main(int argc, char** argv) {
  example::app app{argc, argv};
  auto& sys = *app.sys;
  auto opts = pulse::sink_options::from(app.cfg.opts().streaming);
  auto sink = app.must(pulse::spawn_sink(*app.rt, "mailer", {"signups"}, opts),
                       "sink");
  caf::scoped_actor self{sys};
  auto out = sys.spawn(example::printer, "mailer",
                       caf::actor_cast<caf::actor>(sink), caf::actor{self},
                       size_t{2});
  example::subscribe(self, sink, out);
  pulse::client redis{sys, app.rt->gateway()};
  auto signups = app.must(pulse::stream::make("signups"), "stream");
  signups.add(redis, "user-created", "ada@example.com");
  signups.add(redis, "user-created", "alan@example.com");
  example::await(self, 1);
  self->send_exit(out, caf::exit_reason::user_shutdown);
}
