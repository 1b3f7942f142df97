// The README's package snippets, compiled and run (scripts/check-snippets
// keeps README.md equal to the regions below): a stream and a sink, a
// replicated map, a worker pool, and a gateway request from an actor.

#include <iostream>
#include <memory>

#include <caf/all.hpp>

#include <pulse/actors/pool/pool.hpp>
#include <pulse/actors/redis/client.hpp>
#include <pulse/actors/rmap/rmap.hpp>
#include <pulse/actors/streaming/sink.hpp>
#include <pulse/actors/streaming/stream.hpp>
#include <pulse/actors/streaming/subscription.hpp>
#include <pulse/messages/redis.hpp>
#include <pulse/runtime/config.hpp>
#include <pulse/runtime/errors.hpp>
#include <pulse/runtime/runtime.hpp>

namespace {

using namespace std::chrono_literals;

void streams(caf::actor_system& sys, pulse::runtime* rt) {
  std::string payload = R"({"order":42})";
  // [streams]
  auto orders = *pulse::stream::make(*rt, "orders");          // pulse:stream:orders
  pulse::client redis{sys, rt->gateway()};
  auto id = orders.add(redis, "order-placed", payload);      // XADD ... n <name> p <payload>

  auto sink = *pulse::spawn_sink(*rt, "billing", {"orders"}); // consumer group "billing"
  auto sub = std::move(*pulse::subscription::attach(sys, sink)); // or your own actor
  while (auto ev = sub->next(std::chrono::seconds{1}))
    sub->ack(*ev);                                           // XACK, batched
  // [streams]
  std::cout << "streams: added " << *id << '\n';
  caf::anon_send_exit(sink, caf::exit_reason::user_shutdown);
}

void maps(pulse::runtime* rt) {
  // [maps]
  auto flags = *pulse::rmap::map::join(*rt, "feature-flags");   // map:feature-flags:content
  flags->set_and_wait("dark-mode", "on");                        // one Lua script, then wait
  auto v = flags->get("dark-mode");                              // local, any thread, ~40 ns
  flags->append_unique_values("beta-users", {"ada"});            // JSON list value
  // [maps]
  std::cout << "maps: dark-mode=" << *v << '\n';
}

// [pool-handler]
struct mailer : pulse::job_handler {                       // or your own actor (job_actor)
  caf::error start(const pulse::job& j) override {    // j.key, j.payload
    std::cout << "mail to " << j.payload << '\n';
    return caf::none;                                      // or an error: not started
  }
  caf::error stop(const std::string&) override { return caf::none; }
};
// [pool-handler]

void pools(pulse::runtime* rt) {
  // [pools]
  auto node = std::move(*pulse::pool_node::add_node(*rt, "email")); // [pulse.pool] applies
  node->add_worker(std::make_shared<mailer>());
  auto err = node->dispatch("welcome:ada", "ada@example.com"); // returns once the worker started it
  node->notify_worker("welcome:ada", "resend");
  node->dispatch_in("nudge:ada", "ada@example.com", std::chrono::hours{24}); // kept in Redis, starts once
  node->cancel_delayed("nudge:ada");                         // before it is due
  node->stop_job("welcome:ada");
  node->close();                                             // hands this node's jobs to others
  // [pools]
  std::cout << "pools: dispatch " << pulse::render(err) << '\n';
}

// [task-handler]
struct thumbnailer : pulse::task_handler {                 // jobs that finish
  caf::expected<std::string> run(const pulse::job& j) override {
    return "thumb-of-" + j.payload;                        // the result; an error fails it
  }
};
// [task-handler]

void tasks(pulse::runtime* rt) {
  // [tasks]
  auto node = std::move(*pulse::pool_node::add_node(*rt, "thumbs"));
  node->add_worker(std::make_shared<thumbnailer>());
  auto r = node->dispatch_and_wait("img:42", "cat.png", std::chrono::seconds{5});
  auto kept = node->job_result("img:42");                  // for [pulse.pool] result-retention
  // [tasks]
  // [retries]
  pulse::dispatch_options opts;                            // or [pulse.pool] max-attempts, job-timeout
  opts.max_attempts = 3;                                   // backoff retry-base * 2^(n-1), jittered
  opts.timeout = std::chrono::seconds{30};                 // stopped and retried past it
  node->dispatch("img:43", "dog.png", opts);
  auto dead = node->dead_jobs();                           // last attempt failed: errors per attempt
  node->redrive();                                         // all back into the pool (or purge_dead)
  // [retries]
  node->close();
  std::cout << "tasks: " << (r ? *r : pulse::render(r.error()))
            << (kept && *kept ? " (kept)" : "")
            << (dead ? "" : " (no dead set)") << '\n';
}

void gateway_request(caf::actor_system& sys, pulse::runtime* rt) {
  auto gw = rt->gateway();
  caf::scoped_actor waiter{sys};
  auto asker = sys.spawn([gw](caf::event_based_actor* self) {
    // [gateway]
    self->request(gw, caf::infinite, pulse::cmd_atom::value, pulse::make_command("GET", "k"))
      .then([](const pulse::resp::value& v) { std::cout << "GET k -> " << v.str << '\n'; },
            [](caf::error& err) { std::cerr << pulse::render(err) << '\n'; });
    // v: .type, .str, .integer, .elements; err: pulse.redis_error, pulse.timeout, ...
    // [gateway]
  });
  waiter->wait_for(asker);
  std::cout << "gateway: done\n";
}

} // namespace

int main(int argc, char** argv) {
  pulse::config cfg;
  if (auto err = cfg.read(argc, argv))
    return pulse::exit_status(err);
  caf::actor_system sys{cfg};
  auto rt = pulse::runtime::start(sys, cfg.opts());
  if (!rt)
    return pulse::exit_status(rt.error());
  streams(sys, rt->get());
  maps(rt->get());
  pools(rt->get());
  tasks(rt->get());
  gateway_request(sys, rt->get());
}
