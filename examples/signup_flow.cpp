// signup_flow: the main demo. A user-signup flow as one actor system:
//
//   signup events --stream "signups"--> sink "welcome" (actor)
//        --dispatch job "welcome:<user>"--> pool "email" (3 e-mail workers)
//   feature flags in the replicated map "flags" (read locally everywhere)
//
// The sink's subscriber dispatches one e-mail job per new user (if the
// "welcome-email" flag is on), waits until a worker started it, acks the
// event, and stops the job once the worker reported it sent. Halfway the
// demo switches the "template" flag; workers see the change at once.
// Options come from caf-application.conf ([pulse.redis], [pulse.pool], ...).

#include <atomic>
#include <iostream>
#include <mutex>

#include "pulse/actors/streaming/sink.hpp"
#include "examples/common.hpp"
#include "pulse/actors/redis/client.hpp"
#include "pulse/actors/pool/pool.hpp"
#include "pulse/actors/rmap/rmap.hpp"
#include "pulse/actors/streaming/stream.hpp"

namespace {

std::mutex out_mtx;

template <class... Ts>
void say(const Ts&... xs) {
  std::lock_guard<std::mutex> guard{out_mtx};
  (std::cout << ... << xs) << std::endl;
}

/// An e-mail worker: "sends" the welcome e-mail using the template named by
/// the "template" feature flag, read from its local replica.
class email_worker : public pulse::job_handler {
public:
  email_worker(std::shared_ptr<pulse::rmap::map> flags, std::string name,
               std::atomic<int>* sent)
    : flags_(std::move(flags)), name_(std::move(name)), sent_(sent) {}

  caf::error start(const pulse::job& j) override {
    auto tpl = flags_->get("template").value_or("default");
    say("  ", name_, " sends welcome e-mail to ", j.payload,
        " (template ", tpl, ", job ", j.key, ")");
    ++*sent_;
    return caf::none;
  }

  caf::error stop(const std::string&) override {
    return caf::none;
  }

private:
  std::shared_ptr<pulse::rmap::map> flags_;
  std::string name_;
  std::atomic<int>* sent_;
};

/// Subscriber of the "welcome" sink: one e-mail job per signup event.
caf::behavior welcome_flow(caf::event_based_actor* self, caf::actor sink,
                           pulse::pool_node_actor pool,
                           std::shared_ptr<pulse::rmap::map> flags,
                           caf::actor done) {
  return {
    [=](pulse::event_batch& batch) {
      auto rp = self->make_response_promise<bool>();
      auto left = std::make_shared<size_t>(batch.events.size());
      for (auto& ev : batch.events) {
        auto finish = [=, stream = ev.stream, id = ev.id]() mutable {
          self->send(sink, pulse::ack_atom::value, stream, id);
          self->send(done, true);
          if (--*left == 0)
            rp.deliver(true);
        };
        if (flags->get("welcome-email").value_or("off") != "on") {
          say("  welcome e-mails are off, skipping ", ev.payload);
          finish();
          continue;
        }
        auto key = "welcome:" + ev.payload;
        self->request(pool, caf::infinite, pulse::dispatch_atom::value, key,
                      ev.payload)
          .then(
            [=](bool) mutable {
              // The e-mail went out when start returned: free the key.
              self->request(pool, caf::infinite, pulse::job_stop_atom::value,
                            key)
                .then([=](bool) mutable { finish(); },
                      [=](caf::error&) mutable { finish(); });
            },
            [=](caf::error& err) mutable {
              say("  dispatch of ", key, " failed: ", pulse::render(err));
              finish(); // a real service would nack and retry
            });
      }
      if (batch.events.empty())
        rp.deliver(true);
      return rp;
    },
  };
}

} // namespace

int main(int argc, char** argv) {
  example::app app{argc, argv};
  auto& sys = *app.sys;
  auto& rt = *app.rt;
  caf::scoped_actor self{sys};

  // Feature flags: a replicated map every process reads locally.
  auto flags = app.must(pulse::rmap::map::join(rt, "flags"), "flags");
  flags->set("welcome-email", "on");
  flags->set_and_wait("template", "spring-2026");
  say("flags: welcome-email=on template=spring-2026");

  // The e-mail pool: this node with three workers.
  auto node = app.must(
    pulse::pool_node::add_node(rt, "email",
                               pulse::pool_options::from(app.cfg.opts().pool)),
    "pool node");
  std::atomic<int> sent{0};
  for (auto name : {"mailer-1", "mailer-2", "mailer-3"})
    app.must(node->add_worker(std::make_shared<email_worker>(flags, name,
                                                             &sent)),
             "worker");
  say("pool email: ", node->pool_workers()->size(), " workers");

  // The signup stream and the sink that turns events into e-mail jobs.
  auto sopts = pulse::sink_options::from(app.cfg.opts().streaming);
  sopts.start = "0";
  auto sink = app.must(pulse::spawn_sink(rt, "welcome", {"signups"}, sopts),
                       "sink");
  auto flow = sys.spawn(welcome_flow, caf::actor_cast<caf::actor>(sink),
                        node->actor(), flags, caf::actor{self});
  example::subscribe(self, sink, flow);

  pulse::client redis{sys, rt.gateway()};
  auto signups = app.must(pulse::stream::make("signups"), "stream");
  std::vector<std::string> users{"ada", "alan", "grace", "edsger",
                                 "barbara", "donald", "frances", "ken"};
  for (size_t i = 0; i < users.size(); ++i) {
    if (i == users.size() / 2) {
      example::await(self, i); // the first half went out
      flags->set_and_wait("template", "summer-2026");
      say("flags: template=summer-2026");
    }
    say("signup: ", users[i]);
    signups.add(redis, "user-created", users[i]);
  }
  example::await(self, users.size() - users.size() / 2);
  say("done: ", sent.load(), " welcome e-mails sent for ", users.size(),
      " signups");
  // Stop the pool (its keys are deleted) and clean up the demo's data.
  node->shutdown();
  self->send_exit(flow, caf::exit_reason::user_shutdown);
  self->send_exit(sink, caf::exit_reason::user_shutdown);
  flags->destroy();
  signups.destroy(redis);
  return sent.load() == static_cast<int>(users.size()) ? 0 : 1;
}
