// pubsub_topics: one stream, events tagged with topics; one reader takes a
// single topic, another a topic pattern.

#include "pulse/actors/streaming/reader.hpp"
#include "examples/common.hpp"
#include "pulse/actors/redis/client.hpp"
#include "pulse/actors/streaming/stream.hpp"

int main(int argc, char** argv) {
  example::app app{argc, argv};
  auto& sys = *app.sys;
  caf::scoped_actor self{sys};
  std::vector<caf::actor> outs;
  auto base = pulse::reader_options::from(app.cfg.opts().streaming);
  auto exact = base;
  exact.topic = "billing.invoice";
  auto pattern = base;
  pattern.topic_pattern = "^billing\\.";
  for (auto [label, opts, expected] :
       {std::tuple{"invoices-only", exact, size_t{1}},
        std::tuple{"all-billing", pattern, size_t{2}}}) {
    auto reader = app.must(pulse::spawn_reader(*app.rt, {"events"}, opts),
                           "reader");
    auto out = sys.spawn(example::printer, label, caf::actor{},
                         caf::actor{self}, expected);
    example::subscribe(self, reader, out);
    outs.push_back(out);
  }
  pulse::client redis{sys, app.rt->gateway()};
  auto events = app.must(pulse::stream::make("events"), "stream");
  events.add(redis, "created", "invoice 42", "billing.invoice");
  events.add(redis, "paid", "payment 7", "billing.payment");
  events.add(redis, "login", "user 3", "auth.login");
  example::await(self, 2);
  for (auto& o : outs)
    self->send_exit(o, caf::exit_reason::user_shutdown);
}
