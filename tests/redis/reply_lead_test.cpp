// A blocking caller reads its own reply while the connection's reader thread
// waits for bytes (`pulse.redis.reply-lead`, `reader_crew::lead`): replies
// still reach the right requesters, and a connection lost while a caller
// reads ends its call with an error, not a hang.

#include <boost/test/unit_test.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <caf/all.hpp>

#include "pulse/actors/redis/client.hpp"
#include "pulse/actors/redis/gateway.hpp"
#include "pulse/actors/redis/reader_crew.hpp"
#include "pulse/runtime/errors.hpp"
#include "tests/support/fixtures.hpp"
#include "tests/support/print.hpp"

using namespace pulse;
using namespace pulse::test;
using namespace std::chrono_literals;

/// A gateway of its own on the fixture's server, with `reply-lead` set.
/// (Not in an anonymous namespace: the suite's cases derive from it.)
struct lead_fixture : actor_fixture {
  gateway_actor spawn(bool lead) {
    auto o = redis_opts();
    o.reply_lead = lead;
    auto gw = spawn_gateway(*sys, o);
    gateways.push_back(gw);
    return gw;
  }

  ~lead_fixture() {
    for (auto& gw : gateways)
      caf::anon_send_exit(gw, caf::exit_reason::user_shutdown);
  }

  std::vector<gateway_actor> gateways;
};

namespace {

using clock_type = std::chrono::steady_clock;

/// Runs blocking PINGs on a new client of `gw`, `pause` apart, until `want`
/// callers led or `n` calls ran; returns how many callers led.
uint64_t leads_over_pings(caf::actor_system& sys, gateway_actor gw, int n,
                          std::chrono::microseconds pause
                          = std::chrono::microseconds{0},
                          uint64_t want = UINT64_MAX) {
  client c{sys, gw, 10s};
  BOOST_REQUIRE(c("PING")); // connected: calls take the direct entry
  auto before = detail::reader_crew::leads();
  auto led = [&] { return detail::reader_crew::leads() - before; };
  for (int i = 0; i < n && led() < want; ++i) {
    if (pause.count() > 0)
      std::this_thread::sleep_for(pause);
    auto r = c("PING");
    BOOST_REQUIRE(r);
    BOOST_REQUIRE(r->str == "PONG");
  }
  return led();
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(reply_lead, lead_fixture)

BOOST_AUTO_TEST_CASE(a_blocking_caller_reads_its_own_reply) {
  // The reader thread returns to `poll` after each wake-up; a caller finds
  // it there unless it has not run yet. On a loaded machine it may not have
  // run for a while, so each call first leaves it 1 ms (well inside
  // `lead_window`, which keeps it waiting in `poll`): the calls stop once
  // 50 callers led, and fail the case if 2,000 calls did not get there.
  auto led = leads_over_pings(*sys, spawn(true), 2000,
                              std::chrono::milliseconds{1}, 50);
  BOOST_TEST_MESSAGE("callers led " << led);
  BOOST_TEST(led >= 50u);
}

BOOST_AUTO_TEST_CASE(reply_lead_false_leaves_reading_to_the_reader_thread) {
  auto led = leads_over_pings(*sys, spawn(false), 200);
  BOOST_TEST(led == 0u);
}

BOOST_AUTO_TEST_CASE(replies_reach_their_callers_and_actors_while_callers_lead) {
  // Four threads of blocking callers and two pipelining actors share one
  // connection; whoever reads hands every reply to its own requester.
  auto gw = spawn(true);
  constexpr int per_thread = 400;
  constexpr int per_actor = 400;
  auto before = detail::reader_crew::leads();
  auto wrong = std::make_shared<std::atomic<int>>(0);
  auto actor_done = std::make_shared<std::atomic<int>>(0);
  for (int a = 0; a < 2; ++a) {
    sys->spawn([=](caf::event_based_actor* self) {
      // 16 ECHOs in flight at a time, each checked against its text.
      auto sent = std::make_shared<int>(0);
      auto got = std::make_shared<int>(0);
      auto next = std::make_shared<std::function<void()>>();
      *next = [=] {
        if (*sent == per_actor)
          return;
        auto text = "a" + std::to_string(a) + "-" + std::to_string((*sent)++);
        auto on_reply = [=](bool ok) {
          if (!ok)
            ++*wrong;
          ++*actor_done;
          if (++*got == per_actor)
            *next = nullptr; // breaks the self-reference
          else
            (*next)();
        };
        self->request(gw, 10s, cmd_atom::value, make_command("ECHO", text))
          .then([=](const resp::value& v) { on_reply(v.str == text); },
                [=](caf::error&) { on_reply(false); });
      };
      for (int i = 0; i < 16; ++i)
        (*next)();
    });
  }
  std::vector<std::thread> callers;
  for (int t = 0; t < 4; ++t)
    callers.emplace_back([=, &gw] {
      client c{*sys, gw, 10s};
      for (int i = 0; i < per_thread; ++i) {
        auto text = "t" + std::to_string(t) + "-" + std::to_string(i);
        auto r = c("ECHO", text);
        if (!r || r->str != text)
          ++*wrong;
      }
    });
  for (auto& t : callers)
    t.join();
  BOOST_REQUIRE(wait_until([&] { return actor_done->load() >= 2 * per_actor; },
                           20s));
  BOOST_TEST(wrong->load() == 0);
  BOOST_TEST_MESSAGE("callers led " << detail::reader_crew::leads() - before
                                    << " times");
  BOOST_TEST(detail::reader_crew::leads() > before);
}

BOOST_AUTO_TEST_CASE(a_connection_lost_while_a_caller_reads_fails_its_call) {
  auto gw = spawn(true);
  client c{*sys, gw, 10s};
  BOOST_REQUIRE(c("PING"));
  auto id = c("CLIENT", "ID");
  BOOST_REQUIRE(id);
  auto before = detail::reader_crew::leads();
  // The caller waits for BLPOP (1 s); it reads for itself for up to
  // `lead_bound` (50 ms), then sleeps until its reply or error.
  auto call = std::async(std::launch::async, [&c] {
    auto t0 = clock_type::now();
    auto r = c("BLPOP", "reply-lead:never", "1");
    return std::make_pair(std::move(r), clock_type::now() - t0);
  });
  // Once Redis holds the BLPOP (a loaded machine may take a while to send
  // it), another connection (the runtime's gateway) kills this one.
  auto list_id = std::to_string(*id->as_integer());
  BOOST_REQUIRE(wait_until([&] {
    auto l = redis()("CLIENT", "LIST", "ID", list_id);
    return l && l->str.find("cmd=blpop") != std::string::npos;
  }));
  auto killed = redis()("CLIENT", "KILL", "ID", list_id);
  BOOST_REQUIRE(killed);
  BOOST_TEST(*killed->as_integer() == 1);
  BOOST_REQUIRE(call.wait_for(5s) == std::future_status::ready);
  auto [r, took] = call.get();
  BOOST_TEST_MESSAGE("callers led " << detail::reader_crew::leads() - before
                                    << " times; the call took "
                                    << std::chrono::duration_cast<
                                         std::chrono::milliseconds>(took)
                                         .count()
                                    << " ms");
  BOOST_REQUIRE(!r);
  BOOST_TEST((code_of(r.error()) == errc::disconnected), render(r.error()));
  // Well before BLPOP's own second: the lost connection ended the call.
  BOOST_TEST((took < 900ms));
  // The gateway reconnects and serves the next call.
  BOOST_TEST(wait_until([&] {
    auto p = c("PING");
    return p && p->str == "PONG";
  }));
}

BOOST_AUTO_TEST_SUITE_END()
