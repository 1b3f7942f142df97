// Requesters woken by a reply run on the connection's reader thread, and so
// do the actors their runs wake (up to a bound); a handler that blocks
// there, or runs long, does not hold up the connection.

#include <boost/test/unit_test.hpp>

#include <atomic>
#include <string>
#include <future>
#include <map>
#include <thread>

#include <pthread.h>

#include <caf/all.hpp>

#include "pulse/actors/redis/gateway.hpp"
#include "pulse/actors/redis/inline_unit.hpp"
#include "pulse/actors/redis/reader_crew.hpp"
#include "pulse/runtime/errors.hpp"
#include "pulse/runtime/log.hpp"
#include "tests/support/fixtures.hpp"
#include "tests/support/print.hpp"
#include "tests/support/threads.hpp"

using namespace pulse;
using namespace pulse::test;
using namespace std::chrono_literals;

namespace {

using clock_type = std::chrono::steady_clock;
using go_atom = caf::atom_constant<caf::atom("go")>;

/// What a requester saw: how many of its replies ran on a reader thread's
/// unit, and how many replies came.
struct seen {
  std::atomic<int> inline_runs{0};
  std::atomic<int> replies{0};
};

/// Whether `self` runs on a reader thread's unit now.
bool runs_on_reader_thread(caf::event_based_actor* self) {
  return dynamic_cast<detail::inline_unit*>(self->context()) != nullptr;
}

using hop_atom = caf::atom_constant<caf::atom("hop")>;

// Sends `n` PINGs one after another, and `hop` to `to` (when set) on each
// reply, from its reply handler; replies `true` to `go` when all came.
caf::behavior pinger(caf::event_based_actor* self, gateway_actor gw, int n,
                     std::shared_ptr<seen> out, caf::actor to) {
  auto rp = std::make_shared<caf::response_promise>();
  auto next = std::make_shared<std::function<void(int)>>();
  *next = [=](int left) {
    if (left == 0) {
      rp->deliver(true);
      *next = nullptr;
      return;
    }
    self->request(gw, 10s, cmd_atom::value, make_command("PING"))
      .then(
        [=](const resp::value&) {
          ++out->replies;
          if (runs_on_reader_thread(self))
            ++out->inline_runs;
          if (to)
            self->send(to, hop_atom::value);
          (*next)(left - 1);
        },
        [=](caf::error& e) {
          rp->deliver(std::move(e));
          *next = nullptr;
        });
  };
  return {
    [=](go_atom) {
      *rp = self->make_response_promise();
      (*next)(n);
      return *rp;
    },
  };
}

// Sends PINGs until one's reply handler runs on a reader thread (a reply that
// arrives while the actor still runs is handled in that run, on whatever
// thread), then calls `f` there.
void on_reader_thread(caf::event_based_actor* self, gateway_actor gw,
                      std::function<void()> f, int tries = 100) {
  self->request(gw, 10s, cmd_atom::value, make_command("PING"))
    .then([=](const resp::value&) {
      if (runs_on_reader_thread(self)
          || tries <= 1)
        f();
      else
        on_reader_thread(self, gw, f, tries - 1);
    });
}

/// What the actors of a chain saw: messages, and how many ran on a reader
/// thread's unit.
struct chain_seen {
  std::atomic<int> got{0};
  std::atomic<int> inline_runs{0};
  std::promise<void> done;
  int want = 0;
};

// Counts `hop` messages; done after `out->want`.
caf::behavior chain_recorder(caf::event_based_actor* self,
                             std::shared_ptr<chain_seen> out) {
  return {
    [=](hop_atom) {
      if (runs_on_reader_thread(self))
        ++out->inline_runs;
      if (++out->got == out->want)
        out->done.set_value();
    },
  };
}

// Passes `left` back and forth with the actor that sent it, down to 0.
caf::behavior chain_bouncer(caf::event_based_actor* self,
                            std::shared_ptr<chain_seen> out) {
  return {
    [=](int left, caf::actor other) {
      ++out->got;
      if (runs_on_reader_thread(self))
        ++out->inline_runs;
      if (left == 0)
        out->done.set_value();
      else
        self->send(other, left - 1, caf::actor_cast<caf::actor>(self));
    },
  };
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(reader_inline, actor_fixture)

BOOST_AUTO_TEST_CASE(actors_woken_by_an_inline_run_run_there_too) {
  // A requester's reply handler (on the reader thread) sends to another,
  // idle actor: that one runs on the reader thread as well, without a
  // scheduler worker's wake-up (a sink and its subscriber, say).
  auto out = std::make_shared<chain_seen>();
  out->want = 200;
  auto fut = out->done.get_future();
  auto rec = sys->spawn(chain_recorder, out);
  auto p = sys->spawn(pinger, rt->gateway(), 200, std::make_shared<seen>(),
                      caf::actor_cast<caf::actor>(rec));
  caf::anon_send(p, go_atom::value);
  BOOST_REQUIRE(fut.wait_for(30s) == std::future_status::ready);
  BOOST_TEST_MESSAGE("inline runs: " << out->inline_runs.load() << " of 200");
  // As for requesters: only a message that arrives while the recorder
  // still runs is handled in that run, wherever it runs.
  BOOST_TEST(out->inline_runs.load() >= 150);
  caf::anon_send_exit(p, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(rec, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_CASE(a_chain_longer_than_the_bound_goes_on_in_the_scheduler) {
  // Two actors pass a count back and forth 1,000 times, started from a
  // reply handler: the first runs of the chain stay on the reader thread
  // (up to `max_chained_runs` per chunk), the rest go to the scheduler;
  // none is lost.
  auto out = std::make_shared<chain_seen>();
  auto fut = out->done.get_future();
  auto b1 = sys->spawn(chain_bouncer, out);
  auto b2 = sys->spawn(chain_bouncer, out);
  auto gw = rt->gateway();
  auto a = sys->spawn([=](caf::event_based_actor* self) {
    on_reader_thread(self, gw, [=] {
      self->send(b1, 1000, caf::actor_cast<caf::actor>(b2));
    });
  });
  BOOST_REQUIRE(fut.wait_for(30s) == std::future_status::ready);
  BOOST_TEST(out->got.load() == 1001);
  BOOST_TEST_MESSAGE("inline runs: " << out->inline_runs.load() << " of 1001");
  BOOST_TEST(out->inline_runs.load() >= 1);
  // The bound's runs, plus what the last actor run there handles in the
  // same run (up to `max_throughput` messages: its partner, now on a
  // scheduler worker, may answer while it still runs).
  BOOST_TEST(out->inline_runs.load()
             <= static_cast<int>(detail::reader_crew::max_chained_runs
                                 + detail::inline_unit::max_throughput));
  // The connection still reads.
  BOOST_TEST(redis()("PING")->str == "PONG");
  for (auto& x : {caf::actor_cast<caf::actor>(a), caf::actor_cast<caf::actor>(b1),
                  caf::actor_cast<caf::actor>(b2)})
    caf::anon_send_exit(x, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_CASE(requesters_woken_by_replies_run_on_the_reader_thread) {
  auto out = std::make_shared<seen>();
  auto p = sys->spawn(pinger, rt->gateway(), 200, out, caf::actor{});
  (*self)->request(p, 30s, go_atom::value)
    .receive([](bool) {}, [](caf::error& e) { BOOST_FAIL(render(e)); });
  BOOST_TEST(out->replies.load() == 200);
  // A requester waiting for its reply is woken by the reader thread's
  // enqueue and runs there; only a reply that arrives while the requester
  // still runs (it then handles it in the same run) is not.
  BOOST_TEST_MESSAGE("inline runs: " << out->inline_runs.load() << " of 200");
  BOOST_TEST(out->inline_runs.load() >= 150);
  caf::anon_send_exit(p, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_CASE(a_handler_that_waits_for_the_same_gateway_is_answered) {
  // The handler runs on the gateway's reader thread and waits for another
  // reply of that gateway: a new reader thread must take over reading.
  auto before = detail::reader_crew::takeovers();
  // Shared with the handler, which may still run when the case returns.
  auto got = std::make_shared<std::promise<std::pair<std::string, int64_t>>>();
  auto fut = got->get_future();
  auto& blocking = redis();
  auto gw = rt->gateway();
  auto a = sys->spawn([got, &blocking, gw](caf::event_based_actor* self) {
    on_reader_thread(self, gw, [got, &blocking] {
      auto t0 = clock_type::now();
      auto r = blocking("ECHO", "inner");
      auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                  clock_type::now() - t0)
                  .count();
      got->set_value({r ? r->str : render(r.error()), ms});
    });
  });
  BOOST_REQUIRE(fut.wait_for(10s) == std::future_status::ready);
  auto [reply, ms] = fut.get();
  BOOST_TEST(reply == "inner");
  BOOST_TEST_MESSAGE("the inner call took " << ms << " ms");
  // The bound is 2 ms, the watch looks every 1 ms; the command timeout
  // (seconds) would be the wait without a takeover.
  BOOST_TEST(ms < 500);
  BOOST_TEST(detail::reader_crew::takeovers() > before);
  // The connection still works, on the new reader thread.
  BOOST_TEST(redis()("PING")->str == "PONG");
  caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_CASE(a_slow_handler_does_not_hold_up_other_replies) {
  // Shared with the handler, which may still run when the case returns.
  struct flags {
    std::promise<void> started;
    std::atomic<bool> release{false};
  };
  auto fl = std::make_shared<flags>();
  auto fut = fl->started.get_future();
  auto gw = rt->gateway();
  auto a = sys->spawn([fl, gw](caf::event_based_actor* self) {
    on_reader_thread(self, gw, [fl] {
      fl->started.set_value();
      // Runs long (busy, as a CPU-heavy handler would).
      auto until = clock_type::now() + 3s;
      while (!fl->release.load() && clock_type::now() < until)
        std::this_thread::yield();
    });
  });
  BOOST_REQUIRE(fut.wait_for(10s) == std::future_status::ready);
  // Requests of other actors and of blocking callers are answered while
  // the handler runs.
  auto out = std::make_shared<seen>();
  auto p = sys->spawn(pinger, gw, 50, out, caf::actor{});
  auto t0 = clock_type::now();
  bool ok = false;
  (*self)->request(p, 10s, go_atom::value)
    .receive([&](bool) { ok = true; },
             [](caf::error& e) { BOOST_FAIL(render(e)); });
  auto took = clock_type::now() - t0;
  auto direct = redis()("PING");
  fl->release = true;
  BOOST_TEST(ok);
  BOOST_TEST_MESSAGE("50 PINGs took " << ms_of(took) << " ms");
  BOOST_TEST((took < 1500ms));
  BOOST_TEST(direct->str == "PONG");
  caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(p, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_CASE(an_actor_run_on_the_reader_thread_may_close_its_connection) {
  // A reply handler (on the gateway's reader thread) ends the gateway; the
  // gateway, woken there, closes its connection from that very thread. The
  // close must not wait for the run it is part of (`stop_wait`, 5 s).
  auto gw = rt->spawn_gateway(gateway_role::blocking);
  (*self)->monitor(gw);
  auto t0 = clock_type::now();
  auto a = sys->spawn([gw](caf::event_based_actor* s) {
    on_reader_thread(s, gw, [s, gw] {
      s->send_exit(gw, caf::exit_reason::user_shutdown);
    });
  });
  bool down = false;
  (*self)->receive([&](const caf::down_msg&) { down = true; },
                   caf::after(std::chrono::seconds{10}) >> [] {});
  auto took = clock_type::now() - t0;
  BOOST_TEST(down);
  BOOST_TEST_MESSAGE("the gateway ended after " << ms_of(took) << " ms");
  BOOST_TEST((took < 2s));
  // Other connections work on.
  BOOST_TEST(redis()("PING")->str == "PONG");
  caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_CASE(reader_and_watch_threads_carry_pulse_names) {
  // A requester woken on a reader thread also starts the watch.
  auto out = std::make_shared<seen>();
  auto p = sys->spawn(pinger, rt->gateway(), 20, out, caf::actor{});
  (*self)->request(p, 30s, go_atom::value)
    .receive([](bool) {}, [](caf::error& e) { BOOST_FAIL(render(e)); });
  // The watch names itself when its thread starts.
  std::map<std::string, size_t> names;
  wait_until([&] {
    names = thread_names();
    return names["pulse.watch"] == 1u;
  }, 5s);
  for (auto& [name, n] : names)
    BOOST_TEST_MESSAGE("thread " << name << " x" << n);
  // At least the gateway's reader (the pub/sub connection's, too, once
  // something subscribed).
  BOOST_TEST(names["pulse.reader"] >= 1u);
  BOOST_TEST(names["pulse.watch"] == 1u);
  caf::anon_send_exit(p, caf::exit_reason::user_shutdown);
}

BOOST_AUTO_TEST_CASE(thread_names_are_cut_to_fifteen_characters) {
  std::string got;
  std::thread t{[&got] {
    log::name_thread("pulse.a-name-longer-than-fifteen");
    char buf[32] = {};
    pthread_getname_np(pthread_self(), buf, sizeof(buf));
    got = buf;
  }};
  t.join();
  BOOST_TEST(got == "pulse.a-name-lo");
}

BOOST_AUTO_TEST_SUITE_END()
