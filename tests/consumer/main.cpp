// The getting-started program of docs/guide.md, built in CI as a separate
// CMake project against the installed package and through add_subdirectory.
//
// Orders arrive on the stream "orders". An actor subscribed to the sink
// "billing" acks each order and nacks the ones it cannot bill (they are
// redelivered, then dead-lettered). An actor watches the replicated map
// "prices". A pool worker actor sends e-mails, one job per key. SIGTERM or
// SIGINT closes the pool node and stops the program.

// [includes]
#include <csignal>
#include <iostream>

#include <caf/all.hpp>

#include <pulse/messages/runtime.hpp>
#include <pulse/runtime/config.hpp>
#include <pulse/runtime/errors.hpp>
#include <pulse/runtime/runtime.hpp>
// [includes]

namespace {

using namespace std::chrono_literals;

// [billing]
// Subscribed to a sink: gets batches of events, answers `true` for the next
// batch (`false` unsubscribes), and acks or nacks every event to the sink.
caf::behavior billing(caf::event_based_actor* self, pulse::sink_actor sink) {
  return {
    [=](const pulse::event_batch& batch) {
      for (auto& ev : batch.events) {
        if (ev.payload == "broken") {
          // Redelivered after ack-grace-period, dead-lettered to
          // "orders:dead-letter" after max-deliveries.
          std::cout << ("billing: nack " + ev.id + "\n") << std::flush;
          self->send(sink, pulse::nack_atom::value, ev.stream, ev.id,
                     std::string{"cannot bill a broken order"});
          continue;
        }
        std::cout << ("billing: ack " + ev.name + " " + ev.payload + "\n")
                  << std::flush; // one write: lines of actors never mix
        self->send(sink, pulse::ack_atom::value, ev.stream, ev.id);
      }
      return true;
    },
  };
}
// [billing]

// [watcher]
// Subscribed to a replica: gets every change with old and new value, and
// must answer `true` to keep receiving.
pulse::map_changes_subscriber_actor::behavior_type
price_watcher(pulse::map_changes_subscriber_actor::pointer) {
  return {
    [](const pulse::map_changes& xs) {
      for (auto& c : xs.changes)
        std::cout << ("prices: " + c.key + " " + c.old_value + " -> "
                      + c.new_value + "\n")
                  << std::flush;
      return true;
    },
  };
}
// [watcher]

// [worker]
// A pool worker: starts and stops jobs. A job runs until it is stopped
// (by key, or when its node closes and hands it over).
pulse::job_actor::behavior_type mailer(pulse::job_actor::pointer) {
  return {
    [](pulse::job_start_atom, const pulse::job& j) {
      std::cout << ("mailer: start " + j.key + " to " + j.payload + "\n")
                << std::flush;
      return true; // started; false or an error refuses the job
    },
    [](pulse::job_stop_atom, const std::string& key) {
      std::cout << ("mailer: stop " + key + "\n") << std::flush;
      return true;
    },
    [](pulse::job_notify_atom, const std::string& key,
       const std::string& payload) {
      std::cout << ("mailer: notify " + key + " " + payload + "\n") << std::flush;
      return true;
    },
  };
}
// [worker]

// Returns the reply of a blocking request, or exits with its error.
template <class T, class Handle, class... Ts>
T ask(caf::scoped_actor& self, const Handle& dest, Ts&&... xs) {
  T result;
  self->request(dest, 10s, std::forward<Ts>(xs)...)
    .receive([&](T& x) { result = std::move(x); },
             [](caf::error& err) { std::exit(pulse::exit_status(err)); });
  return result;
}

} // namespace

int main(int argc, char** argv) {
  // [config]
  // Block SIGTERM and SIGINT before any thread starts: every thread
  // inherits the mask, and main waits for them with sigwait below.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  pulse::config cfg; // caf-application.conf, then the command line
  if (auto err = cfg.read(argc, argv)) // also after --help: exit
    return pulse::exit_status(err);
  caf::actor_system sys{cfg};
  auto rt = pulse::runtime::start(sys, cfg.opts()); // embedded Redis if no host
  if (!rt)
    return pulse::exit_status(rt.error());
  caf::scoped_actor self{sys};
  auto pulse_rt = (*rt)->actor(); // the runtime actor: spawns by message
  // [config]

  // [spawn]
  // No options passed: [pulse.streaming] and [pulse.pool] apply.
  auto sink = ask<pulse::sink_actor>(self, pulse_rt,
                                     pulse::spawn_sink_atom::value,
                                     std::string{"billing"},
                                     std::vector<std::string>{"orders"});
  auto biller = sys.spawn(billing, sink);
  ask<bool>(self, sink, pulse::sub_atom::value,
            caf::actor_cast<pulse::event_subscriber_actor>(biller));

  auto prices = ask<pulse::replica_actor>(self, pulse_rt,
                                          pulse::spawn_map_atom::value,
                                          std::string{"prices"});
  ask<bool>(self, prices, pulse::sub_atom::value, sys.spawn(price_watcher));

  auto email = ask<pulse::pool_node_actor>(self, pulse_rt,
                                           pulse::spawn_pool_atom::value,
                                           std::string{"email"});
  ask<std::string>(self, email, pulse::add_worker_atom::value,
                   sys.spawn(mailer));
  // [spawn]

  // [work]
  for (auto order : {"book", "lamp", "broken", "pen"})
    ask<std::string>(self, pulse_rt, pulse::stream_add_atom::value,
                     std::string{"orders"}, std::string{"order-placed"},
                     std::string{order}, std::string{});
  ask<pulse::map_write_result>(self, prices, pulse::map_write_atom::value,
                               pulse::map_write{pulse::map_op::set, "lamp",
                                                {"30"}});
  for (auto user : {"ada", "grace"})
    ask<bool>(self, email, pulse::dispatch_atom::value,
              std::string{"welcome:"} + user,
              std::string{user} + "@example.com");
  std::cout << "ready" << std::endl;
  // [work]

  // [shutdown]
  int sig = 0;
  sigwait(&stop_signals, &sig);
  std::cout << "stopping on signal " << sig << std::endl;
  // Close the pool node first: it stops its jobs (other nodes of the pool
  // take them over) and leaves the pool.
  ask<bool>(self, email, pulse::close_atom::value);
  for (auto hdl : {caf::actor_cast<caf::actor>(sink),
                   caf::actor_cast<caf::actor>(prices),
                   caf::actor_cast<caf::actor>(email)})
    self->send_exit(hdl, caf::exit_reason::user_shutdown);
  std::cout << "stopped" << std::endl;
  return 0; // the runtime stops before the actor system (declared after it)
  // [shutdown]
}
