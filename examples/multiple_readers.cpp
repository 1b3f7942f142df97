// multiple_readers: two readers on one stream; each sees every event.

#include "pulse/actors/streaming/reader.hpp"
#include "examples/common.hpp"
#include "pulse/actors/redis/client.hpp"
#include "pulse/actors/streaming/stream.hpp"

int main(int argc, char** argv) {
  example::app app{argc, argv};
  auto& sys = *app.sys;
  auto opts = pulse::reader_options::from(app.cfg.opts().streaming);
  caf::scoped_actor self{sys};
  std::vector<caf::actor> outs;
  for (auto label : {"audit", "metrics"}) {
    auto reader = app.must(pulse::spawn_reader(*app.rt, {"clicks"}, opts),
                           "reader");
    auto out = sys.spawn(example::printer, label, caf::actor{},
                         caf::actor{self}, size_t{2});
    example::subscribe(self, reader, out);
    outs.push_back(out);
  }
  pulse::client redis{sys, app.rt->gateway()};
  auto clicks = app.must(pulse::stream::make("clicks"), "stream");
  clicks.add(redis, "click", "/home");
  clicks.add(redis, "click", "/pricing");
  example::await(self, 2);
  for (auto& o : outs)
    self->send_exit(o, caf::exit_reason::user_shutdown);
}
