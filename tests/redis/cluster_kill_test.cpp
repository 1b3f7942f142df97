// A master killed with SIGKILL (no `CLUSTER FAILOVER`) while a runtime in
// cluster mode adds stream events and writes map keys on its slots: its
// replica is promoted once the others miss it for `cluster-node-timeout`
// (2 s in the fixture), the router finds the new owner, and writes go on.
// Errors, the time until writes succeed again and acked writes lost to
// asynchronous replication are counted and printed (`--log_level=message`),
// not hidden; the test fails when writes do not resume.

#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include <caf/all.hpp>

#include "pulse/actors/redis/client.hpp"
#include "pulse/actors/redis/cluster_slot.hpp"
#include "pulse/actors/rmap/rmap.hpp"
#include "pulse/actors/streaming/stream.hpp"
#include "pulse/runtime/config.hpp"
#include "pulse/runtime/errors.hpp"
#include "pulse/runtime/metrics.hpp"
#include "pulse/runtime/runtime.hpp"
#include "tests/support/cluster_fixture.hpp"
#include "tests/support/fixtures.hpp"
#include "tests/support/print.hpp"

using namespace pulse;
using namespace pulse::test;
using namespace std::chrono_literals;

namespace {

using kill_clock = std::chrono::steady_clock;

// What one writer saw: acked write numbers, failures, and when.
struct kill_writer_log {
  std::mutex mtx;
  std::set<int> acked;
  /// Stream entry ID of each acked add (empty for map writes).
  std::map<int, std::string> ids;
  int failed = 0;
  std::string first_error;
  kill_clock::time_point last_failure{};
  kill_clock::time_point first_ok_after{};  // after `last_failure`
  std::atomic<int> acks{0};

  void record(int i, const caf::error& err, const std::string& id = {}) {
    std::lock_guard<std::mutex> guard{mtx};
    auto now = kill_clock::now();
    if (!err) {
      acked.insert(i);
      if (!id.empty())
        ids[i] = id;
      ++acks;
      if (last_failure != kill_clock::time_point{}
          && first_ok_after == kill_clock::time_point{})
        first_ok_after = now;
      return;
    }
    ++failed;
    if (first_error.empty())
      first_error = render(err);
    last_failure = now;
    first_ok_after = {};
  }
};

long long kill_ms(kill_clock::duration d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

} // namespace

BOOST_AUTO_TEST_SUITE(redis_cluster_kill)

BOOST_FIXTURE_TEST_CASE(a_killed_master_is_replaced_and_writes_go_on,
                        cluster_fixture) {
  pulse::config cfg;
  cfg.set("scheduler.max-threads", 2);
  std::optional<caf::actor_system> sys{std::in_place, cfg};
  options o;
  o.redis = redis_opts(); // seed: master 0, which stays up
  o.log_level = "error";
  auto rt = runtime::start(*sys, o);
  BOOST_REQUIRE_MESSAGE(rt, describe(rt));
  // A stream and a map whose keys master 1 owns.
  auto victim = master_port(1);
  auto replica = nodes[4]->port();
  auto on_victim = [&](const std::string& key) {
    return owner_port(cluster::key_slot(key), master_port(0)) == victim;
  };
  std::string sname, mname;
  for (int n = 0; sname.empty(); ++n)
    if (on_victim("pulse:stream:kill-s" + std::to_string(n)))
      sname = "kill-s" + std::to_string(n);
  for (int n = 0; mname.empty(); ++n)
    if (on_victim("map:kill-m" + std::to_string(n) + ":content"))
      mname = "kill-m" + std::to_string(n);
  auto s = stream::make(sname);
  BOOST_REQUIRE_MESSAGE(s, describe(s));
  auto m = rmap::map::join(**rt, mname);
  BOOST_REQUIRE_MESSAGE(m, describe(m));
  std::atomic<bool> stop{false};
  kill_writer_log adds, sets;
  std::thread add_thread{[&] {
    client wc{*sys, (*rt)->gateway(), std::chrono::seconds{10}};
    for (int i = 0; !stop; ++i) {
      auto id = s->add(wc, "e", std::to_string(i));
      adds.record(i, id ? caf::error{} : id.error(), id ? *id : "");
    }
  }};
  std::thread set_thread{[&] {
    for (int i = 0; !stop; ++i) {
      auto r = (*m)->set("k" + std::to_string(i), std::to_string(i));
      sets.record(i, r ? caf::error{} : r.error());
    }
  }};
  auto stop_writers = [&] {
    stop = true;
    add_thread.join();
    set_thread.join();
  };
  if (!wait_until([&] { return adds.acks >= 200 && sets.acks >= 200; },
                  20s)) {
    stop_writers();
    BOOST_FAIL("writers did not start");
  }
  // How far the replica is behind just before the kill (bytes of the
  // replication stream; asynchronous replication loses what is missing).
  auto offset_of = [](uint16_t port) {
    auto r = command_on(port, {"INFO", "replication"});
    if (!r)
      return std::string{"?"};
    auto at = r->str.find("master_repl_offset:");
    return at == std::string::npos
             ? std::string{"?"}
             : r->str.substr(at + 19, r->str.find('\r', at) - at - 19);
  };
  auto master_offset = offset_of(victim);
  auto replica_offset = offset_of(replica);
  auto t_kill = kill_clock::now();
  nodes[1]->kill();
  auto promoted = wait_until(
    [&] {
      auto r = command_on(replica, {"ROLE"});
      return r && r->is_array() && !r->elements.empty()
             && r->elements[0].str == "master";
    },
    30s);
  auto t_promoted = kill_clock::now();
  auto at_adds = adds.acks.load();
  auto at_sets = sets.acks.load();
  auto resumed = promoted && wait_until(
                               [&] {
                                 return adds.acks >= at_adds + 200
                                        && sets.acks >= at_sets + 200;
                               },
                               30s);
  stop_writers();
  BOOST_TEST(promoted);
  BOOST_TEST(resumed);
  // The router closes its connection to the killed node once the topology
  // no longer lists it: the node connections it holds stop at the nodes
  // left (3 masters, 2 replicas) and it stops reconnecting to the dead one.
  auto router_stats = [&] {
    gateway_stats st;
    caf::scoped_actor self{*sys};
    self->request((*rt)->gateway(), 5s, stats_atom::value)
      .receive([&](gateway_stats& x) { st = x; }, [](caf::error&) {});
    return st;
  };
  // A refresh (after MOVED or a lost connection) prunes; writes that reach
  // the new master make sure one ran after the promotion.
  auto dropped = wait_until(
    [&] {
      auto st = router_stats();
      return st.cluster_nodes_dropped >= 1 && st.cluster_nodes <= 5;
    },
    15s);
  auto st1 = router_stats();
  BOOST_TEST(dropped, "router still holds " << st1.cluster_nodes
                      << " node connections, dropped "
                      << st1.cluster_nodes_dropped);
  std::this_thread::sleep_for(1s); // longer than reconnect-max in tests
  auto st2 = router_stats();
  BOOST_TEST(st2.cluster_nodes == st1.cluster_nodes);
  BOOST_TEST(st2.cluster_nodes_dropped == st1.cluster_nodes_dropped);
  BOOST_TEST(st2.cluster_refresh_failures == st1.cluster_refresh_failures);
  BOOST_TEST_MESSAGE("router after the failover: node connections "
                     << st2.cluster_nodes << ", dropped "
                     << st2.cluster_nodes_dropped << ", failed refreshes "
                     << st2.cluster_refresh_failures);
  // The same counters in a metrics scrape (the router is the pipelined
  // gateway; nothing else counts them, so the numbers are equal).
  auto snap = collect_metrics(**rt, 5s);
  BOOST_REQUIRE_MESSAGE(snap, describe(snap));
  auto text = render_prometheus(*snap);
  auto sample = [&](const std::string& name) {
    auto series = "\n" + name + "{role=\"pipelined\"} ";
    auto at = text.find(series);
    if (at == std::string::npos)
      return std::string{"<absent>"};
    at += series.size();
    return text.substr(at, text.find('\n', at) - at);
  };
  BOOST_TEST(sample("pulse_gateway_cluster_nodes")
             == std::to_string(st2.cluster_nodes));
  BOOST_TEST(sample("pulse_gateway_cluster_nodes_dropped_total")
             == std::to_string(st2.cluster_nodes_dropped));
  BOOST_TEST(sample("pulse_gateway_cluster_refresh_failures_total")
             == std::to_string(st2.cluster_refresh_failures));
  BOOST_TEST(st2.cluster_nodes_dropped >= 1u);
  // Acked writes missing on the new master (asynchronous replication).
  std::optional<client> reader{std::in_place, *sys, (*rt)->gateway(),
                               std::chrono::seconds{10}};
  auto& c = *reader;
  // The stream is trimmed (MAXLEN ~ 1000): an acked add counts as lost
  // when its ID is missing but not older than the first entry kept.
  std::set<std::string> in_stream;
  auto xs = c("XRANGE", "pulse:stream:" + sname, "-", "+");
  BOOST_REQUIRE_MESSAGE(xs, describe(xs));
  for (auto& e : xs->elements)
    in_stream.insert(e.elements[0].str);
  auto id_less = [](const std::string& a, const std::string& b) {
    auto ms = [](const std::string& x) {
      return std::stoull(x.substr(0, x.find('-')));
    };
    auto seq = [](const std::string& x) {
      return std::stoull(x.substr(x.find('-') + 1));
    };
    return ms(a) < ms(b) || (ms(a) == ms(b) && seq(a) < seq(b));
  };
  int lost_adds = 0;
  int trimmed = 0;
  std::string first_kept;
  if (!in_stream.empty())
    first_kept = *std::min_element(in_stream.begin(), in_stream.end(),
                                   id_less);
  for (auto& [i, id] : adds.ids) {
    if (in_stream.count(id) > 0)
      continue;
    if (!first_kept.empty() && id_less(id, first_kept))
      ++trimmed;
    else
      ++lost_adds;
  }
  auto hash = c("HGETALL", "map:" + mname + ":content");
  BOOST_REQUIRE_MESSAGE(hash, describe(hash));
  std::map<std::string, std::string> fields;
  for (size_t i = 0; i + 1 < hash->elements.size(); i += 2)
    fields[hash->elements[i].str] = hash->elements[i + 1].str;
  int lost_sets = 0;
  for (auto i : sets.acked)
    if (fields["k" + std::to_string(i)] != std::to_string(i))
      ++lost_sets;
  auto recovery = [&](kill_writer_log& w) {
    return w.first_ok_after == kill_clock::time_point{}
             ? std::string{"no failure"}
             : std::to_string(kill_ms(w.first_ok_after - t_kill)) + " ms";
  };
  BOOST_TEST_MESSAGE(
    "SIGKILL of master " << victim << " (replication offset "
    << master_offset << ", its replica's " << replica_offset
    << " just before): replica " << replica
    << " promoted after " << kill_ms(t_promoted - t_kill) << " ms; "
    << "stream adds acked " << adds.acked.size() << ", failed "
    << adds.failed << ", writes again " << recovery(adds)
    << " after the kill, acked but lost " << lost_adds << " (" << trimmed
    << " trimmed by MAXLEN)"
    << (adds.first_error.empty() ? "" : ", first error: " + adds.first_error)
    << "; map sets acked " << sets.acked.size() << ", failed " << sets.failed
    << ", writes again " << recovery(sets) << " after the kill, acked but lost "
    << lost_sets
    << (sets.first_error.empty() ? "" : ", first error: " + sets.first_error));
  reader.reset(); // its scoped actor would keep the actor system alive
  m->reset();
  rt->reset();
  sys.reset();
}

BOOST_AUTO_TEST_SUITE_END()
