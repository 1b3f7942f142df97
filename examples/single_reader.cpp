// single_reader: one reader prints every event of a stream.
//   ./build/examples/single_reader [--pulse.redis.host=... --pulse.redis.port=...]

#include "pulse/actors/streaming/reader.hpp"
#include "examples/common.hpp"
#include "pulse/actors/redis/client.hpp"
#include "pulse/actors/streaming/stream.hpp"

int main(int argc, char** argv) {
  example::app app{argc, argv};
  auto& sys = *app.sys;
  auto opts = pulse::reader_options::from(app.cfg.opts().streaming);
  auto reader = app.must(pulse::spawn_reader(*app.rt, {"orders"}, opts),
                         "reader");
  caf::scoped_actor self{sys};
  auto out = sys.spawn(example::printer, "reader", caf::actor{},
                       caf::actor{self}, size_t{3});
  example::subscribe(self, reader, out);
  pulse::client redis{sys, app.rt->gateway()};
  auto orders = app.must(pulse::stream::make("orders"), "stream");
  for (auto item : {"apple", "pear", "plum"})
    app.must(orders.add(redis, "order-placed", item), "add");
  example::await(self, 1);
  self->send_exit(out, caf::exit_reason::user_shutdown);
}
