// hello_pulse: the smallest Pulse program. Starts the runtime (an embedded
// redis-server when no host is configured), writes and reads a key through
// the gateway, and round-trips a message through the pub/sub actor.
//
//   ./build/examples/hello_pulse --config-file=config/caf-application.conf
//   ./build/examples/hello_pulse --pulse.redis.host="127.0.0.1" --pulse.redis.port=6379

#include <iostream>

#include <caf/all.hpp>

#include "pulse/actors/redis/client.hpp"
#include "pulse/runtime/errors.hpp"
#include "pulse/runtime/runtime.hpp"

using namespace std::chrono_literals;

namespace {

// Prints every message it receives, then tells `done`.
pulse::pubsub_subscriber_actor::behavior_type
printer(pulse::pubsub_subscriber_actor::pointer, caf::actor done) {
  return {
    [=](const pulse::pubsub_message& msg) {
      std::cout << "subscriber got channel=" << msg.channel
                << " payload=" << msg.payload << std::endl;
      // A typed actor sends to an untyped one only anonymously.
      caf::anon_send(done, true);
    },
    [](pulse::resub_atom, const std::string&) {
      // The subscription was re-established after a lost connection.
    },
  };
}

} // namespace

int main(int argc, char** argv) {
  pulse::config cfg;
  if (auto err = cfg.read(argc, argv)) // also after --help: exit
    return pulse::exit_status(err);
  caf::actor_system sys{cfg};
  auto rt = pulse::runtime::start(sys, cfg.opts());
  if (!rt) {
    std::cerr << "cannot start: " << pulse::render(rt.error()) << std::endl;
    return 1;
  }
  auto& r = (*rt)->redis();
  std::cout << "connected to redis at " << r.host << ":" << r.port
            << ((*rt)->embedded() ? " (embedded)" : "") << std::endl;
  // Plain C++ facade: one blocking call at a time.
  pulse::client redis{sys, (*rt)->gateway()};
  redis("SET", "hello", "world");
  std::cout << "GET hello -> " << redis("GET", "hello")->render() << std::endl;
  // Pub/sub: subscribe an actor, publish through the gateway.
  caf::scoped_actor self{sys};
  auto sub = sys.spawn(printer, caf::actor{self});
  self->request((*rt)->pubsub(), 5s, pulse::sub_atom::value,
                std::string{"greetings"}, sub)
    .receive([](bool) {},
             [](caf::error& err) {
               std::cerr << "subscribe failed: " << pulse::render(err)
                         << std::endl;
             });
  redis("PUBLISH", "greetings", "hi from pulse");
  self->receive([](bool) {},
                caf::after(5s) >> [] { std::cerr << "no message" << std::endl; });
  auto stats = redis.stats();
  std::cout << "gateway sent=" << stats->sent << " replies=" << stats->replies
            << " errors=" << stats->errors << std::endl;
  self->send_exit(sub, caf::exit_reason::user_shutdown);
  // The runtime stops its actors and the embedded server on destruction.
  return 0;
}
