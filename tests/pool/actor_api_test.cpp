// The pool package used the way a CAF program composes it: an event-based
// actor spawns a pool node through the runtime actor, adds its own job
// actor as a worker, dispatches, notifies and stops a job, closes the node
// and exits it: no scoped_actor and no blocking call on its side.

#include <boost/test/unit_test.hpp>

#include <future>
#include <set>

#include <caf/event_based_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "pulse/actors/pool/scheduler.hpp"
#include "pulse/messages/runtime.hpp"
#include "pulse/runtime/errors.hpp"
#include "tests/support/actor_report.hpp"
#include "tests/support/fixtures.hpp"

using namespace pulse;
using namespace pulse::test;
using namespace std::chrono_literals;

namespace {

struct report {
  std::string error;
  std::vector<std::string> seen; // what the job actor saw, in order
  std::vector<std::string> keys_before_stop;
  std::vector<std::string> keys_after_stop;
  bool closed = false;
  bool node_down = false;
};

// A worker: reports every start, notification and stop to `owner`.
job_actor::behavior_type jobs(job_actor::pointer, caf::actor owner) {
  return {
    [=](job_start_atom, const job& j) {
      caf::anon_send(owner, "start " + j.key + " " + j.payload);
      return true;
    },
    [=](job_stop_atom, const std::string& key) {
      caf::anon_send(owner, "stop " + key);
      return true;
    },
    [=](job_notify_atom, const std::string& key, const std::string& p) {
      caf::anon_send(owner, "notify " + key + " " + p);
      return true;
    },
  };
}

caf::behavior app(caf::event_based_actor* self, runtime_actor rt,
                  std::shared_ptr<std::promise<report>> out) {
  auto r = std::make_shared<report>();
  auto node = std::make_shared<pool_node_actor>();
  auto fail = failing(self, out);
  pool_options opts;
  opts.worker_ttl = 600ms;
  opts.ack_grace_period = 500ms;
  opts.job_sink_block_duration = 100ms;
  opts.worker_shutdown_ttl = 1s;
  // Each step runs once the previous one answered.
  auto stop_and_close = [=] {
    self->request(*node, 5s, job_keys_atom::value)
      .then(
        [=](std::vector<std::string> keys) {
          r->keys_before_stop = std::move(keys);
          self->request(*node, 5s, job_stop_atom::value, std::string{"k1"})
            .then(
              [=](bool) {
                self->request(*node, 5s, job_keys_atom::value)
                  .then(
                    [=](std::vector<std::string> keys) {
                      r->keys_after_stop = std::move(keys);
                      self->request(*node, 10s, close_atom::value)
                        .then(
                          [=](bool ok) {
                            r->closed = ok;
                            self->send_exit(*node,
                                            caf::exit_reason::user_shutdown);
                          },
                          [=](caf::error& e) { fail("close", e); });
                    },
                    [=](caf::error& e) { fail("keys", e); });
              },
              [=](caf::error& e) { fail("stop", e); });
        },
        [=](caf::error& e) { fail("keys", e); });
  };
  self->request(rt, 10s, spawn_pool_atom::value, std::string{"app-pool"}, opts)
    .then(
      [=](pool_node_actor n) {
        *node = n;
        self->monitor(n);
        auto worker = self->spawn(jobs, caf::actor{self});
        self->request(n, 5s, add_worker_atom::value, worker)
          .then(
            [=](const std::string&) {
              self->request(n, 5s, dispatch_atom::value, std::string{"k1"},
                            std::string{"p1"})
                .then(
                  [=](bool) {
                    self
                      ->request(n, 5s, job_notify_atom::value,
                                std::string{"k1"}, std::string{"hello"})
                      .then([=](bool) {},
                            [=](caf::error& e) { fail("notify", e); });
                  },
                  [=](caf::error& e) { fail("dispatch", e); });
            },
            [=](caf::error& e) { fail("add worker", e); });
      },
      [=](caf::error& e) { fail("spawn pool", e); });
  self->set_down_handler([=](const caf::down_msg& msg) {
    if (msg.source != node->address())
      return;
    r->node_down = true;
    out->set_value(*r);
    self->quit();
  });
  return {
    [=](const std::string& what) {
      r->seen.push_back(what);
      if (what == "notify k1 hello")
        stop_and_close();
    },
  };
}

// Spawns a pool node with short timings through the runtime actor (from the
// test thread; the actors under test then use it by message).
pool_node_actor spawn_node(caf::scoped_actor& self, runtime_actor rt,
                           const std::string& pool, caf::timespan grace) {
  pool_options o;
  o.retry_base = 50ms;
  o.worker_ttl = 600ms;
  o.ack_grace_period = grace;
  o.job_sink_block_duration = 100ms;
  o.worker_shutdown_ttl = 1s;
  pool_node_actor node;
  self->request(rt, 10s, spawn_pool_atom::value, pool, o)
    .receive([&](pool_node_actor n) { node = n; },
             [](caf::error& e) { BOOST_FAIL(render(e)); });
  return node;
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(pool_actor_api, actor_fixture)

BOOST_AUTO_TEST_CASE(an_actor_dispatches_stops_and_closes_a_pool_node) {
  auto reported = run_app<report>(*sys, 30s, app, rt->actor());
  BOOST_REQUIRE(reported);
  auto& r = *reported;
  BOOST_REQUIRE_MESSAGE(r.error.empty(), r.error);
  BOOST_TEST(r.node_down);
  BOOST_TEST(r.closed);
  BOOST_TEST(r.keys_before_stop == (std::vector<std::string>{"k1"}));
  BOOST_TEST(r.keys_after_stop.empty());
  BOOST_TEST(r.seen
             == (std::vector<std::string>{"start k1 p1", "notify k1 hello",
                                          "stop k1"}));
  // Nothing of the job is left in Redis.
  auto jobs = redis().call(make_command("HLEN", "pulse:pool:{app-pool}:jobs"));
  BOOST_REQUIRE_MESSAGE(jobs, describe(jobs));
  BOOST_TEST(jobs->integer == 0);
}

BOOST_AUTO_TEST_CASE(dispatches_waiting_when_the_node_exits_are_answered) {
  // No worker: the dispatch waits for a first worker (up to its timeout).
  auto node = spawn_node(*self, rt->actor(), "exit-pool", 5s);
  auto answer = std::make_shared<std::promise<caf::error>>();
  auto result = answer->get_future();
  sys->spawn([answer](caf::event_based_actor* s, pool_node_actor n) {
    s->request(n, caf::infinite, dispatch_atom::value, std::string{"k"},
               std::string{"p"})
      .then([answer](bool) { answer->set_value(caf::error{}); },
            [answer](caf::error& e) { answer->set_value(e); });
  }, node);
  BOOST_TEST(wait_until([&] {
    auto n = redis().call(make_command("HLEN", "pulse:pool:{exit-pool}:jobs"));
    return n && n->integer == 1;
  }));
  (*self)->send_exit(node, caf::exit_reason::user_shutdown);
  // Answered at once, not after the 10 s dispatch timeout, and not never.
  BOOST_REQUIRE(result.wait_for(3s) == std::future_status::ready);
  BOOST_TEST(code_of(result.get()) == errc::closed);
}

BOOST_AUTO_TEST_CASE(an_actor_starts_and_stops_a_ticker_by_message) {
  auto node = spawn_node(*self, rt->actor(), "tick-pool", 500ms);
  // The actor starts a 50 ms ticker, counts three ticks, stops it.
  auto ticks = std::make_shared<std::promise<int>>();
  auto result = ticks->get_future();
  sys->spawn(
    [ticks](caf::event_based_actor* s, pool_node_actor n) -> caf::behavior {
      auto seen = std::make_shared<int>(0);
      auto ticker = std::make_shared<ticker_actor>();
      s->request(n, 5s, new_ticker_atom::value, std::string{"beat"},
                 caf::timespan{50ms}, caf::actor_cast<tick_receiver_actor>(s))
        .then([=](ticker_actor t) { *ticker = t; },
              [=](caf::error&) { ticks->set_value(-1); });
      return {
        [=](tick_atom, const std::string&, int64_t) {
          if (++*seen == 3) {
            s->send(*ticker, ticker_stop_atom::value);
            ticks->set_value(*seen);
            s->quit();
          }
          return true;
        },
      };
    },
    node);
  BOOST_REQUIRE(result.wait_for(10s) == std::future_status::ready);
  BOOST_TEST(result.get() == 3);
  // Stopped on every node: the shared entry is gone.
  BOOST_TEST(wait_until([&] {
    auto n = redis().call(
      make_command("HEXISTS", "pulse:pool:{tick-pool}:tickers", "beat"));
    return n && n->integer == 0;
  }));
  (*self)->send_exit(node, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_CASE(an_actor_starts_a_scheduler_by_message) {
  struct producer : job_producer {
    std::string name() const override {
      return "plan";
    }
    caf::expected<job_plan> plan() override {
      job_plan p;
      p.start = {{"a", "pa"}, {"b", "pb"}};
      return p;
    }
  };
  auto node = spawn_node(*self, rt->actor(), "sched-pool", 500ms);
  auto started = std::make_shared<std::promise<std::set<std::string>>>();
  auto result = started->get_future();
  sys->spawn(
    [started](caf::event_based_actor* s, pool_node_actor n) -> caf::behavior {
      auto seen = std::make_shared<std::set<std::string>>();
      auto sched = std::make_shared<scheduler_actor>();
      auto fail = [=](caf::error&) {
        started->set_value({});
        s->quit();
      };
      s->request(n, 5s, add_worker_atom::value, s->spawn(jobs, caf::actor{s}))
        .then(
          [=](const std::string&) {
            s->request(n, 5s, schedule_atom::value,
                       job_producer_ptr{std::make_shared<producer>()},
                       caf::timespan{100ms})
              .then([=](scheduler_actor a) { *sched = a; }, fail);
          },
          fail);
      return {
        [=](const std::string& what) {
          seen->insert(what);
          if (seen->count("start a pa") && seen->count("start b pb")) {
            s->send_exit(*sched, caf::exit_reason::user_shutdown);
            started->set_value(*seen);
            s->quit();
          }
        },
      };
    },
    node);
  BOOST_REQUIRE(result.wait_for(10s) == std::future_status::ready);
  auto seen = result.get();
  BOOST_TEST(seen.count("start a pa") == 1u);
  BOOST_TEST(seen.count("start b pb") == 1u);
  (*self)->request(node, 10s, close_atom::value)
    .receive([](bool) {}, [](caf::error&) {});
  (*self)->send_exit(node, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_CASE(an_actor_delays_and_cancels_jobs_by_message) {
  auto node = spawn_node(*self, rt->actor(), "delay-pool", 500ms);
  // The actor adds a worker, delays "a" by 100 ms and "b" by 10 minutes,
  // cancels "b" and waits for "a" to start.
  auto out = std::make_shared<std::promise<std::string>>();
  auto result = out->get_future();
  sys->spawn(
    [out](caf::event_based_actor* s, pool_node_actor n) -> caf::behavior {
      auto fail = [=](caf::error& err) {
        out->set_value("error: " + render(err));
        s->quit();
      };
      auto due = std::make_shared<int64_t>(0);
      s->request(n, 5s, add_worker_atom::value, s->spawn(jobs, caf::actor{s}))
        .then(
          [=](const std::string&) {
            s->request(n, 5s, dispatch_in_atom::value, std::string{"a"},
                       std::string{"pa"}, caf::timespan{100ms})
              .then([=](int64_t t) { *due = t; }, fail);
            s->request(n, 5s, dispatch_at_atom::value, std::string{"b"},
                       std::string{"pb"}, int64_t{32503680000000})
              .then(
                [=](int64_t) {
                  s->request(n, 5s, cancel_delayed_atom::value,
                             std::string{"b"})
                    .then([](bool) {}, fail);
                },
                fail);
          },
          fail);
      return {
        [=](const std::string& what) {
          out->set_value(what + (*due > 0 ? " due" : " no due time"));
          s->quit();
        },
      };
    },
    node);
  BOOST_REQUIRE(result.wait_for(10s) == std::future_status::ready);
  BOOST_TEST(result.get() == "start a pa due");
  auto left = redis()("ZRANGE", "pulse:pool:{delay-pool}:delayed", "0", "-1");
  BOOST_REQUIRE_MESSAGE(left, describe(left));
  BOOST_TEST(left->elements.empty());
  (*self)->send_exit(node, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_CASE(an_actor_waits_for_a_job_result_by_message) {
  auto node = spawn_node(*self, rt->actor(), "result-pool", 500ms);
  // A job actor that completes each job it starts with "<payload>!",
  // through the node, by message; an app actor waits for the result.
  auto out = std::make_shared<std::promise<std::string>>();
  auto result = out->get_future();
  auto finisher = [](job_actor::pointer s,
                     pool_node_actor n) -> job_actor::behavior_type {
    return {
      [=](job_start_atom, const job& j) {
        s->request(n, 5s, job_complete_atom::value, j, true,
                   j.payload + "!")
          .then([](bool) {}, [](caf::error&) {});
        return true;
      },
      [](job_stop_atom, const std::string&) { return true; },
      [](job_notify_atom, const std::string&, const std::string&) {
        return true;
      },
    };
  };
  sys->spawn(
    [out, finisher](caf::event_based_actor* s, pool_node_actor n) {
      auto fail = [=](caf::error& err) {
        out->set_value("error: " + render(err));
        s->quit();
      };
      s->request(n, 5s, add_worker_atom::value, s->spawn(finisher, n))
        .then(
          [=](const std::string&) {
            s->request(n, 10s, dispatch_wait_atom::value, std::string{"k"},
                       std::string{"hi"}, caf::timespan{5s})
              .then(
                [=](const std::string& r) {
                  out->set_value(r);
                  s->quit();
                },
                fail);
          },
          fail);
    },
    node);
  BOOST_REQUIRE(result.wait_for(10s) == std::future_status::ready);
  BOOST_TEST(result.get() == "hi!");
  (*self)->send_exit(node, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_CASE(an_actor_retries_redrives_and_purges_by_message) {
  auto node = spawn_node(*self, rt->actor(), "retry-pool", 500ms);
  // A job actor that fails every attempt through the node, by message; an
  // app actor dispatches with 2 attempts; the test reads, redrives and
  // purges the dead set by message.
  auto failer = [](job_actor::pointer s,
                   pool_node_actor n) -> job_actor::behavior_type {
    return {
      [=](job_start_atom, const job& j) {
        s->request(n, 5s, job_complete_atom::value, j, false,
                   "nope " + std::to_string(j.attempt))
          .then([](bool) {}, [](caf::error&) {});
        return true;
      },
      [](job_stop_atom, const std::string&) { return true; },
      [](job_notify_atom, const std::string&, const std::string&) {
        return true;
      },
    };
  };
  auto out = std::make_shared<std::promise<std::string>>();
  auto result = out->get_future();
  sys->spawn(
    [out, failer](caf::event_based_actor* s, pool_node_actor n) {
      auto fail = [=](caf::error& err) {
        out->set_value("error: " + render(err));
        s->quit();
      };
      s->request(n, 5s, add_worker_atom::value, s->spawn(failer, n))
        .then(
          [=](const std::string&) {
            dispatch_options o;
            o.max_attempts = 2;
            s->request(n, 5s, dispatch_atom::value, std::string{"k"},
                       std::string{"p"}, o)
              .then(
                [=](bool) {
                  out->set_value("dispatched");
                  s->quit();
                },
                fail);
          },
          fail);
    },
    node);
  BOOST_REQUIRE(result.wait_for(10s) == std::future_status::ready);
  BOOST_REQUIRE_EQUAL(result.get(), "dispatched");
  auto dead = [&] {
    std::vector<dead_job> xs;
    (*self)->request(node, 5s, dead_jobs_atom::value, uint64_t{10})
      .receive([&](std::vector<dead_job>& ys) { xs = std::move(ys); },
               [](caf::error& e) { BOOST_FAIL(render(e)); });
    return xs;
  };
  BOOST_REQUIRE(wait_until([&] { return dead().size() == 1; }, 10s));
  auto d = dead().front();
  BOOST_TEST(d.key == "k");
  BOOST_TEST(d.payload == "p");
  BOOST_TEST(d.attempts == 2u);
  BOOST_REQUIRE_EQUAL(d.failures.size(), 2u);
  BOOST_TEST(d.failures[0].error == "nope 1");
  BOOST_TEST(d.failures[1].error == "nope 2");
  uint64_t moved = 0;
  (*self)->request(node, 5s, redrive_atom::value, std::vector<std::string>{})
    .receive([&](uint64_t n) { moved = n; },
             [](caf::error& e) { BOOST_FAIL(render(e)); });
  BOOST_TEST(moved == 1u);
  // Redriven, it fails twice more and is dead again; then purged.
  BOOST_REQUIRE(wait_until([&] {
    auto xs = dead();
    return xs.size() == 1 && xs.front().failures.size() == 2
           && xs.front().died_at > d.died_at;
  }, 10s));
  uint64_t purged = 0;
  (*self)->request(node, 5s, purge_dead_atom::value,
                   std::vector<std::string>{"k"})
    .receive([&](uint64_t n) { purged = n; },
             [](caf::error& e) { BOOST_FAIL(render(e)); });
  BOOST_TEST(purged == 1u);
  BOOST_TEST(dead().empty());
  (*self)->send_exit(node, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_SUITE_END()
