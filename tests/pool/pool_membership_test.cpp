// Worker pools against a real Redis: membership changes. Rebalancing when
// workers come and go, close and shutdown handing over or stopping jobs,
// client-only nodes, introspection across nodes.

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <map>
#include <set>
#include <thread>

#include <caf/all.hpp>

#include "pulse/runtime/errors.hpp"
#include "pulse/actors/pool/jump_hash.hpp"
#include "pulse/actors/pool/pool.hpp"
#include "pulse/actors/pool/scripts.hpp"
#include "tests/pool/pool_fixture.hpp"

using namespace pulse;
using namespace pulse::test;
using namespace std::chrono_literals;

BOOST_FIXTURE_TEST_SUITE(pool, pool_fixture)

BOOST_AUTO_TEST_CASE(adding_a_worker_moves_exactly_the_jump_hash_keys) {
  auto n1 = node();
  auto n2 = node();
  auto w1 = worker(*n1);
  std::vector<std::string> keys;
  for (int i = 0; i < 60; ++i) {
    keys.push_back("key-" + std::to_string(i));
    BOOST_REQUIRE(!n1->dispatch(keys.back(), "x"));
  }
  auto w2 = worker(*n2);
  // Expected owners: L = [w1, w2] (creation order).
  std::map<std::string, std::string> expect;
  size_t moving = 0;
  for (auto& k : keys) {
    expect[k] = jump_hash(k, 2) == 0 ? w1 : w2;
    moving += expect[k] == w2;
  }
  BOOST_TEST(moving > 10u);
  BOOST_TEST(wait_until([&] { return log->snapshot() == expect; }));
  // Exactly the moving keys were stopped and restarted, once each.
  for (auto& k : keys) {
    auto moved = expect[k] == w2;
    BOOST_TEST(log->count('x', k) == (moved ? 1u : 0u), k);
    BOOST_TEST(log->count('s', k) == (moved ? 2u : 1u), k);
  }
  BOOST_TEST(log->overlaps.empty());
}

BOOST_AUTO_TEST_CASE(stop_and_notify_follow_a_moved_job) {
  auto n = node();
  auto w1 = worker(*n);
  std::string key;
  for (int i = 0; key.empty(); ++i)
    if (jump_hash("m" + std::to_string(i), 2) == 1)
      key = "m" + std::to_string(i);
  BOOST_TEST(!n->dispatch(key, "x"));
  auto w2 = worker(*n);
  BOOST_TEST(wait_until([&] { return log->owner(key) == w2; }));
  BOOST_TEST(!n->notify_worker(key, "ping"));
  BOOST_TEST(wait_until([&] { return log->count('n', key) == 1; }));
  BOOST_TEST(!n->stop_job(key));
  BOOST_TEST(wait_until([&] { return log->count('x', key) == 2; }));
  BOOST_TEST(log->owner(key).empty());
}

BOOST_AUTO_TEST_CASE(removing_a_worker_hands_its_jobs_over) {
  auto n = node();
  auto w1 = worker(*n);
  auto w2 = worker(*n);
  for (int i = 0; i < 20; ++i)
    BOOST_REQUIRE(!n->dispatch("r" + std::to_string(i), "x"));
  BOOST_TEST(!n->remove_worker(w1));
  BOOST_TEST(wait_until([&] {
    auto s = log->snapshot();
    if (s.size() != 20)
      return false;
    for (auto& kv : s)
      if (kv.second != w2)
        return false;
    return true;
  }));
  BOOST_TEST(log->overlaps.empty());
  auto ws = n->pool_workers();
  BOOST_REQUIRE(ws);
  BOOST_TEST(ws->size() == 1u);
}

BOOST_AUTO_TEST_CASE(close_hands_jobs_to_the_other_node) {
  auto n1 = node();
  auto n2 = node();
  auto w1 = worker(*n1);
  auto w2 = worker(*n2);
  for (int i = 0; i < 20; ++i)
    BOOST_REQUIRE(!n2->dispatch("c" + std::to_string(i), "x"));
  BOOST_TEST(!n1->close());
  BOOST_TEST(n1->is_closed());
  BOOST_TEST(code_of(n1->dispatch("late", "x")) == errc::closed);
  BOOST_TEST(wait_until([&] {
    auto s = log->snapshot();
    return s.size() == 20
           && std::all_of(s.begin(), s.end(),
                          [&](auto& kv) { return kv.second == w2; });
  }));
  BOOST_TEST(log->overlaps.empty());
}

BOOST_AUTO_TEST_CASE(slow_stops_on_close_never_overlap_with_cleaners) {
  auto n1 = node();
  auto n2 = node();
  auto slow = std::make_shared<recorder>(log);
  slow->stop_delay = 40ms; // 10 jobs: 400 ms of stops, while cleaners run
  auto w1 = worker(*n1, slow);
  std::vector<std::string> keys;
  for (int i = 0; keys.size() < 10; ++i)
    if (jump_hash("o" + std::to_string(i), 1) == 0)
      keys.push_back("o" + std::to_string(i));
  for (auto& k : keys)
    BOOST_REQUIRE(!n1->dispatch(k, "x"));
  auto w2 = worker(*n2);
  // Every key hashes somewhere; now close n1 while n2's cleaner runs.
  BOOST_TEST(wait_until([&] { return log->snapshot().size() == 10; }));
  BOOST_TEST(!n1->close());
  BOOST_TEST(wait_until([&] {
    auto s = log->snapshot();
    return s.size() == 10
           && std::all_of(s.begin(), s.end(),
                          [&](auto& kv) { return kv.second == w2; });
  }));
  BOOST_TEST(log->overlaps.empty(), log->overlaps.size());
}

BOOST_AUTO_TEST_CASE(client_only_node_dispatches_and_closes) {
  auto o = fast_options();
  o.client_only = true;
  auto c = node(o);
  auto n = node();
  auto w = worker(*n);
  BOOST_TEST(!c->dispatch("k", "x"));
  BOOST_TEST(log->owner("k") == w);
  BOOST_TEST(!c->add_worker(std::make_shared<recorder>(log)));
  BOOST_TEST(!c->close());
  BOOST_TEST(!c->close()); // idempotent
}

BOOST_AUTO_TEST_CASE(add_workers_adds_many_at_once_or_none) {
  auto n = node();
  auto ids = n->add_workers(std::make_shared<recorder>(log), 40);
  BOOST_REQUIRE_MESSAGE(ids, describe(ids));
  std::set<std::string> distinct(ids->begin(), ids->end());
  BOOST_TEST(distinct.size() == 40u);
  // Every one is a local worker and a member of the pool.
  auto local = n->workers();
  BOOST_REQUIRE(local);
  BOOST_TEST(local->size() == 40u);
  auto members = n->pool_workers();
  BOOST_REQUIRE(members);
  std::set<std::string> listed;
  for (auto& w : *members)
    listed.insert(w.id);
  BOOST_TEST((listed == distinct));
  // Jobs run on them.
  for (int i = 0; i < 100; ++i)
    BOOST_REQUIRE(!n->dispatch("many-" + std::to_string(i), "x"));
  BOOST_TEST(wait_until([&] { return log->count('s') == 100u; }));
  std::set<std::string> owners;
  for (int i = 0; i < 100; ++i)
    owners.insert(log->owner("many-" + std::to_string(i)));
  for (auto& o : owners)
    BOOST_TEST(distinct.count(o) == 1u, o);
  BOOST_TEST(owners.size() > 1u);
  // A client-only node adds none.
  auto o = fast_options();
  o.client_only = true;
  auto c = node(o);
  auto none = c->add_workers(std::make_shared<recorder>(log), 3);
  BOOST_REQUIRE(!none);
  BOOST_TEST(code_of(none.error()) == errc::invalid_argument);
  BOOST_TEST(c->workers()->empty());
  // A closed node adds none either.
  BOOST_TEST(!n->close());
  auto closed = n->add_workers(std::make_shared<recorder>(log), 3);
  BOOST_REQUIRE(!closed);
  BOOST_TEST(code_of(closed.error()) == errc::closed);
}

BOOST_AUTO_TEST_CASE(shutdown_stops_every_job_and_leaves_no_keys) {
  auto n1 = node();
  auto n2 = node();
  worker(*n1);
  worker(*n2);
  for (int i = 0; i < 10; ++i)
    BOOST_REQUIRE(!n1->dispatch("s" + std::to_string(i), "x"));
  BOOST_TEST(!n1->shutdown());
  BOOST_TEST(wait_until([&] { return log->snapshot().empty(); }));
  BOOST_TEST(log->count('x') == 10u);
  BOOST_TEST(wait_until([&] { return n2->is_closed(); }));
  BOOST_TEST(pool_keys().empty(), joined(pool_keys()));
  // The pool name can be used again.
  auto again = node();
  worker(*again);
  BOOST_TEST(!again->dispatch("s0", "x"));
}

BOOST_AUTO_TEST_CASE(shutdown_returns_once_the_local_jobs_stopped) {
  // The shutdown's own notice can reach this node before the reply to the
  // flag's write does; either way, shutdown returns only after this node's
  // jobs stopped, and deletes the keys after that (a keep-alive sent while
  // the slow stops ran wrote the lease again after the delete).
  for (int round = 0; round < 6; ++round) {
    auto n = node();
    auto h = std::make_shared<recorder>(log);
    h->stop_delay = 250ms;
    worker(*n, h);
    auto key = "r" + std::to_string(round);
    BOOST_REQUIRE(!n->dispatch(key, "x"));
    BOOST_REQUIRE(wait_until([&] { return log->count('s', key) == 1; }));
    BOOST_REQUIRE(!n->shutdown());
    BOOST_TEST(log->count('x', key) == 1u, "round " << round);
    std::this_thread::sleep_for(50ms); // a late keep-alive would land now
    BOOST_TEST(pool_keys().empty(), "round " << round << ": "
                                               << joined(pool_keys()));
  }
}

BOOST_AUTO_TEST_CASE(shutdown_from_a_client_only_node) {
  auto o = fast_options();
  o.client_only = true;
  auto c = node(o);
  auto n = node();
  worker(*n);
  BOOST_TEST(!c->dispatch("k", "x"));
  BOOST_TEST(!c->shutdown());
  BOOST_TEST(wait_until([&] { return log->count('x', "k") == 1; }));
  BOOST_TEST(pool_keys().empty(), joined(pool_keys()));
}

BOOST_AUTO_TEST_CASE(shutdown_after_close_is_refused_and_the_pool_goes_on) {
  auto n1 = node();
  auto n2 = node();
  worker(*n1);
  worker(*n2);
  BOOST_REQUIRE(!n1->close());
  auto refused = n1->shutdown();
  BOOST_TEST(code_of(refused) == errc::closed, render(refused));
  BOOST_TEST(!n1->close()); // a second close is still fine
  BOOST_REQUIRE(!n2->dispatch("k", "x"));
  BOOST_TEST(wait_until([&] { return log->count('s', "k") == 1; }));
  BOOST_REQUIRE(!n2->shutdown());
  BOOST_TEST(!n2->shutdown()); // idempotent
  BOOST_TEST(!n2->close());    // and a close after it is done too
  BOOST_TEST(log->count('x', "k") == 1u);
  BOOST_TEST(pool_keys().empty(), joined(pool_keys()));
}

BOOST_AUTO_TEST_CASE(a_shutdown_message_while_the_close_runs_is_refused) {
  auto n = node();
  worker(*n); // the close waits for Redis and the worker: it is under way
  caf::scoped_actor self{rt->system()};
  auto closing = self->request(n->actor(), 10s, close_atom::value);
  auto shut = self->request(n->actor(), 10s, shutdown_atom::value);
  caf::error refused;
  shut.receive([](bool) {}, [&](caf::error& err) { refused = err; });
  BOOST_TEST(code_of(refused) == errc::closed, render(refused));
  bool closed = false;
  closing.receive([&](bool) { closed = true; }, [](caf::error&) {});
  BOOST_TEST(closed);
}

BOOST_AUTO_TEST_CASE(add_node_fails_while_shutting_down) {
  redis()("SET", pool_scripts::pool_prefix("p") + "shutdown", "x");
  auto n = pool_node::add_node(*rt, "p", fast_options());
  BOOST_REQUIRE(!n);
  BOOST_TEST(code_of(n.error()) == errc::shutting_down);
}

BOOST_AUTO_TEST_CASE(introspection_across_two_nodes) {
  auto n1 = node();
  auto n2 = node();
  worker(*n1);
  worker(*n1);
  worker(*n2);
  for (int i = 0; i < 4; ++i)
    BOOST_REQUIRE(!n1->dispatch("i" + std::to_string(i), "x"));
  auto local = n1->workers();
  BOOST_REQUIRE(local);
  BOOST_TEST(local->size() == 2u);
  auto all = n2->pool_workers();
  BOOST_REQUIRE(all);
  BOOST_TEST(all->size() == 3u);
  for (size_t i = 1; i < all->size(); ++i) // routing order
    BOOST_TEST((*all)[i - 1].created_at <= (*all)[i].created_at);
  auto keys = n2->job_keys();
  BOOST_REQUIRE(keys);
  BOOST_TEST(keys->size() == 4u);
}

BOOST_AUTO_TEST_CASE(cascade_of_closes_loses_no_job) {
  auto o = fast_options();
  o.worker_ttl = 200ms;
  o.worker_shutdown_ttl = 200ms;
  o.job_sink_block_duration = 50ms;
  o.ack_grace_period = 300ms;
  auto n1 = node(o);
  auto n2 = node(o);
  auto n3 = node(o);
  worker(*n1);
  auto w2 = worker(*n2);
  auto w3 = worker(*n3);
  for (int i = 0; i < 25; ++i)
    BOOST_REQUIRE(!n1->dispatch("c" + std::to_string(i), "x"));
  auto starts_on_w2 = log->count('s');
  std::thread closer{[&] { n1->close(); }};
  // Close node2 as soon as it starts a requeued job.
  BOOST_TEST(wait_until([&] {
    std::lock_guard<std::mutex> guard{log->mtx};
    for (size_t i = starts_on_w2; i < log->entries.size(); ++i)
      if (log->entries[i].kind == 's' && log->entries[i].worker == w2)
        return true;
    return false;
  }));
  n2->close();
  closer.join();
  BOOST_TEST(wait_until(
    [&] {
      auto s = log->snapshot();
      return s.size() == 25
             && std::all_of(s.begin(), s.end(),
                            [&](auto& kv) { return kv.second == w3; });
    },
    10s));
  BOOST_TEST(log->overlaps.empty());
}

BOOST_AUTO_TEST_SUITE_END()
