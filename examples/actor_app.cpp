// An event-based actor that uses all three packages by message only: it
// spawns a sink, a replicated map and a pool node through the runtime
// actor, adds stream events, writes the map and dispatches jobs, and never
// blocks its thread. The README's "From an actor" section quotes this file.

#include <iostream>
#include <memory>

#include <caf/all.hpp>

#include "examples/common.hpp"
#include "pulse/messages/runtime.hpp"

namespace {

using namespace std::chrono_literals;

// A pool worker: logs every job it starts or stops.
pulse::job_actor::behavior_type mailer(pulse::job_actor::pointer) {
  return {
    [](pulse::job_start_atom, const pulse::job& j) {
      std::cout << "mailer: start " << j.key << " (" << j.payload << ")\n";
      return true;
    },
    [](pulse::job_stop_atom, const std::string& key) {
      std::cout << "mailer: stop " << key << '\n';
      return true;
    },
    [](pulse::job_notify_atom, const std::string&, const std::string&) {
      return true;
    },
  };
}

// The sink's subscriber: counts signups in the map and mails each user,
// then acks the event.
// [on-signup]
caf::behavior on_signup(caf::event_based_actor* self, pulse::sink_actor sink,
                        pulse::replica_actor counts,
                        pulse::pool_node_actor mail, caf::actor app) {
  return {
    [=](const pulse::event_batch& batch) {
      for (auto& ev : batch.events) {
        self
          ->request(counts, caf::infinite, pulse::map_write_atom::value,
                    pulse::map_write{pulse::map_op::inc, "signups", {"1"}})
          .then([](const pulse::map_write_result& r) {
            std::cout << "stats: " << r.number << " signups\n";
          }, [](caf::error&) {});
        self->request(mail, caf::infinite, pulse::dispatch_atom::value,
                      "welcome:" + ev.payload, ev.payload)
          .then([=](bool) { self->send(app, ev.payload); },
                [=](caf::error& err) {
                  std::cerr << "dispatch: " << pulse::render(err) << '\n';
                });
        self->send(sink, pulse::ack_atom::value, ev.stream, ev.id);
      }
      return true;
    },
  };
}
// [on-signup]

// The application: sets everything up, adds three signups and stops once
// every user was mailed.
caf::behavior app(caf::event_based_actor* self, pulse::runtime_actor rt) {
  auto mailed = std::make_shared<int>(0);
  auto actors = std::make_shared<std::vector<caf::actor>>();
  auto fail = [self](caf::error& err) {
    std::cerr << "actor_app: " << pulse::render(err) << '\n';
    self->quit(err);
  };
  pulse::sink_options so;
  so.start = "0";
  self->request(rt, 10s, pulse::spawn_map_atom::value, std::string{"stats"},
                pulse::map_options{})
    .then([=](pulse::replica_actor counts) {
      self->request(rt, 10s, pulse::spawn_pool_atom::value,
                    std::string{"mail"}, pulse::pool_options{})
        .then([=](pulse::pool_node_actor mail) {
          self->request(mail, 10s, pulse::add_worker_atom::value,
                        self->spawn(mailer))
            .then([=](const std::string&) {
              self->request(rt, 10s, pulse::spawn_sink_atom::value,
                            std::string{"welcome"},
                            std::vector<std::string>{"signups"}, so)
                .then([=](pulse::sink_actor sink) {
                  auto sub = self->spawn(on_signup, sink, counts, mail,
                                         caf::actor{self});
                  *actors = {caf::actor_cast<caf::actor>(sink),
                             caf::actor_cast<caf::actor>(counts),
                             caf::actor_cast<caf::actor>(mail), sub};
                  self->request(sink, 10s, pulse::sub_atom::value,
                  caf::actor_cast<pulse::event_subscriber_actor>(sub))
                    .then([](bool) {}, fail);
                  for (auto user : {"ada", "grace", "edsger"})
                    self
                      ->request(rt, 10s, pulse::stream_add_atom::value,
                                std::string{"signups"},
                                std::string{"signed-up"}, std::string{user},
                                std::string{}, pulse::stream_options{})
                      .then([](const std::string&) {}, fail);
                }, fail);
            }, fail);
        }, fail);
    }, fail);
  return {
    [=](const std::string& user) {
      std::cout << "app: " << user << " was mailed\n";
      if (++*mailed < 3)
        return;
      // Close the pool node (hands its jobs over), then stop everything.
      self->request(caf::actor_cast<pulse::pool_node_actor>((*actors)[2]),
                    10s, pulse::close_atom::value)
        .then([=](bool) {
          for (auto& a : *actors)
            self->send_exit(a, caf::exit_reason::user_shutdown);
          self->quit();
        }, fail);
    },
  };
}

} // namespace

int main(int argc, char** argv) {
  example::app a{argc, argv};
  caf::scoped_actor self{*a.sys};
  auto hdl = a.sys->spawn(app, a.rt->actor());
  self->wait_for(hdl);
  std::cout << "actor_app: done\n";
}
