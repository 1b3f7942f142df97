// multiple_streams: one reader over two streams (fan-in), a third stream
// added at run time.

#include "pulse/actors/streaming/reader.hpp"
#include "examples/common.hpp"
#include "pulse/actors/redis/client.hpp"
#include "pulse/actors/streaming/stream.hpp"

int main(int argc, char** argv) {
  example::app app{argc, argv};
  auto& sys = *app.sys;
  auto opts = pulse::reader_options::from(app.cfg.opts().streaming);
  auto reader = app.must(pulse::spawn_reader(*app.rt, {"eu", "us"}, opts),
                         "reader");
  caf::scoped_actor self{sys};
  auto out = sys.spawn(example::printer, "fan-in", caf::actor{},
                       caf::actor{self}, size_t{3});
  example::subscribe(self, reader, out);
  self->request(reader, std::chrono::seconds{5}, pulse::add_stream_atom::value,
                std::string{"apac"}, std::string{})
    .receive([](bool) {}, [](caf::error&) {});
  pulse::client redis{sys, app.rt->gateway()};
  for (auto region : {"eu", "us", "apac"})
    app.must(pulse::stream::make(region), "stream")
      .add(redis, "sale", std::string{"region "} + region);
  example::await(self, 1);
  self->send_exit(out, caf::exit_reason::user_shutdown);
}
