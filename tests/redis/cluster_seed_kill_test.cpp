// The runtime's only seed, master 0, is killed with SIGKILL: it was the
// node of the pub/sub connection and the keyless commands. While a map on
// its slots is written and watched by a second replica and pool jobs (on
// master 1) are dispatched and their results awaited (results come over
// pub/sub), the pub/sub connection must move to a live node it learned from
// `CLUSTER SLOTS`, resubscribe and signal the gap (the map replicas reload),
// so that after the replica of master 0 is promoted the watcher converges
// to the hash and pool results arrive; keyless commands move to another
// master before the failover. Errors and recovery times are counted and
// printed (`--log_level=message`). A second case starts a runtime whose
// first seed is down.

#include <boost/test/unit_test.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <caf/all.hpp>

#include "pulse/actors/pool/handler.hpp"
#include "pulse/actors/pool/pool.hpp"
#include "pulse/actors/redis/client.hpp"
#include "pulse/actors/redis/cluster_slot.hpp"
#include "pulse/actors/rmap/rmap.hpp"
#include "pulse/runtime/errors.hpp"
#include "tests/support/cluster_fixture.hpp"
#include "tests/support/cluster_runtime.hpp"
#include "tests/support/fixtures.hpp"
#include "tests/support/print.hpp"
#include "tests/support/sentinel_fixture.hpp"

using namespace pulse;
using namespace pulse::test;
using namespace std::chrono_literals;

namespace {

using seed_clock = std::chrono::steady_clock;

long long seed_ms(seed_clock::duration d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

/// A name `<prefix><n>` whose key (`key_of(name)`) master `i` owns.
std::string seed_name_on(const cluster_fixture& f, size_t i,
                         const std::string& prefix,
                         const std::function<std::string(const std::string&)>&
                           key_of) {
  for (int n = 0;; ++n) {
    auto name = prefix + std::to_string(n);
    if (f.owner_port(cluster::key_slot(key_of(name)), f.master_port(0))
        == f.master_port(i))
      return name;
  }
}

/// Runs every job at once.
struct seed_task : task_handler {
  caf::expected<std::string> run(const job& j) override {
    return "r-" + j.key;
  }
};

/// Successes and failures of one loop, with times.
struct seed_tally {
  std::mutex mtx;
  size_t ok = 0;
  size_t failed = 0;
  std::string first_error;
  seed_clock::time_point last_failure{};
  /// The first success after the last failure.
  seed_clock::time_point back{};

  void record(const caf::error& err) {
    std::lock_guard<std::mutex> guard{mtx};
    if (!err) {
      ++ok;
      if (last_failure != seed_clock::time_point{}
          && back == seed_clock::time_point{})
        back = seed_clock::now();
      return;
    }
    if (failed++ == 0)
      first_error = render(err);
    last_failure = seed_clock::now();
    back = {};
  }
  size_t oks() {
    std::lock_guard<std::mutex> guard{mtx};
    return ok;
  }
  std::string summary(seed_clock::time_point t_kill) {
    std::lock_guard<std::mutex> guard{mtx};
    auto s = std::to_string(ok) + " ok, " + std::to_string(failed)
             + " failed";
    if (back != seed_clock::time_point{})
      s += ", ok again " + std::to_string(seed_ms(back - t_kill))
           + " ms after the kill";
    if (!first_error.empty())
      s += " (first error: " + first_error + ")";
    return s;
  }
};

} // namespace

BOOST_AUTO_TEST_SUITE(redis_cluster_seed_kill)

BOOST_FIXTURE_TEST_CASE(pubsub_moves_when_the_seed_master_dies,
                        cluster_fixture) {
  // The only seed is master 0 (redis_opts): the rest is learned.
  cluster_runtime crt{redis_opts()};
  auto& rt = *crt.rt;
  auto map_name = seed_name_on(*this, 0, "seed-map-",
                               [](const std::string& n) {
                                 return "map:" + n + ":content";
                               });
  auto pool_name = seed_name_on(*this, 1, "seed-pool-",
                                [](const std::string& n) { return n; });
  auto writer = rmap::map::join(rt, map_name);
  BOOST_REQUIRE_MESSAGE(writer, describe(writer));
  auto watcher = rmap::map::join(rt, map_name);
  BOOST_REQUIRE_MESSAGE(watcher, describe(watcher));
  auto node = pool_node::add_node(rt, pool_name);
  BOOST_REQUIRE_MESSAGE(node, describe(node));
  BOOST_REQUIRE((*node)->add_worker(std::make_shared<seed_task>()));
  auto pubsub_stats_now = [&]() -> caf::expected<pubsub_stats> {
    caf::scoped_actor self{*crt.sys};
    caf::expected<pubsub_stats> r{pubsub_stats{}};
    self->request(rt.pubsub(), 2s, stats_atom::value)
      .receive([&](pubsub_stats& s) { r = s; },
               [&](caf::error& e) { r = std::move(e); });
    return r;
  };
  std::atomic<bool> stop{false};
  seed_tally writes, jobs;
  std::mutex timed_out_mtx;
  std::vector<std::string> timed_out; // jobs whose outcome did not come
  std::vector<std::thread> threads;
  threads.emplace_back([&] {
    // 64 fields written round and round: the hash stays small.
    for (int i = 0; !stop; ++i) {
      auto r = (*writer)->set("k" + std::to_string(i % 64),
                              std::to_string(i));
      writes.record(r ? caf::error{} : r.error());
      if (!r)
        std::this_thread::sleep_for(10ms);
    }
  });
  threads.emplace_back([&] {
    for (int i = 0; !stop; ++i) {
      auto key = "job-" + std::to_string(i);
      auto r = (*node)->dispatch_and_wait(key, "x", 3s);
      if (r && *r != "r-" + key)
        jobs.record(make_error(errc::protocol_error, "wrong result " + *r));
      else
        jobs.record(r ? caf::error{} : r.error());
      if (!r && code_of(r.error()) == errc::timeout) {
        std::lock_guard<std::mutex> guard{timed_out_mtx};
        timed_out.push_back(key);
      }
      if (!r) // CLUSTERDOWN fails at once: no busy loop
        std::this_thread::sleep_for(10ms);
    }
  });
  struct joiner {
    std::function<void()> f;
    ~joiner() { f(); }
  } join_guard{[&] {
    stop = true;
    for (auto& t : threads)
      if (t.joinable())
        t.join();
  }};
  auto progress = [&](seed_tally& t, size_t more, std::chrono::seconds max) {
    auto at = t.oks();
    return wait_until([&] { return t.oks() >= at + more; }, max);
  };
  BOOST_REQUIRE(progress(writes, 100, 20s) && progress(jobs, 10, 20s));
  auto before = pubsub_stats_now();
  BOOST_REQUIRE_MESSAGE(before, describe(before));
  auto replica = nodes[3]->port();
  auto t_kill = seed_clock::now();
  nodes[0]->kill();
  // The pub/sub connection comes back (on another node) long before the
  // failover: it does not need master 0's slots.
  seed_clock::time_point t_pubsub{};
  auto pubsub_back = wait_until(
    [&] {
      auto s = pubsub_stats_now();
      if (s && s->connected && s->reconnects > before->reconnects) {
        t_pubsub = seed_clock::now();
        return true;
      }
      return false;
    },
    20s);
  // Keyless commands (here `TIME`) leave the dead first master for the
  // next one before the failover: the replica is not promoted yet.
  auto& c = *crt.redis;
  auto keyless_ok = wait_until([&] { return static_cast<bool>(c("TIME")); }, 10s);
  auto t_keyless = seed_clock::now();
  auto replica_role = command_on(replica, {"ROLE"});
  auto keyless_before_failover = keyless_ok && replica_role
                                 && replica_role->is_array()
                                 && !replica_role->elements.empty()
                                 && replica_role->elements[0].str == "slave";
  BOOST_TEST(keyless_before_failover);
  auto promoted = wait_until(
    [&] {
      auto r = command_on(replica, {"ROLE"});
      return r && r->is_array() && !r->elements.empty()
             && r->elements[0].str == "master";
    },
    30s);
  auto t_promoted = seed_clock::now();
  BOOST_TEST(pubsub_back);
  BOOST_TEST(promoted);
  // Writes on master 0's slots and jobs whose results come over pub/sub
  // go on after the promotion.
  auto resumed = promoted && progress(writes, 100, 20s)
                 && progress(jobs, 10, 20s);
  BOOST_TEST(resumed);
  auto t_resumed = seed_clock::now();
  stop = true;
  for (auto& t : threads)
    t.join();
  // The watcher converges to the hash (notifications after the move, and
  // the reload the resubscription signal started).
  std::map<std::string, std::string> hash;
  auto all = c("HGETALL", "map:" + map_name + ":content");
  BOOST_REQUIRE_MESSAGE(all, describe(all));
  for (size_t i = 0; i + 1 < all->elements.size(); i += 2)
    if (all->elements[i].str.compare(0, 1, "=") != 0) // `=rev`, `=kind`
      hash[all->elements[i].str] = all->elements[i + 1].str;
  BOOST_TEST(hash.size() == 64u);
  seed_clock::time_point t_converged{};
  auto converged = wait_until(
    [&] {
      auto snap = (*watcher)->snapshot();
      std::map<std::string, std::string> got(snap.begin(), snap.end());
      if (got != hash)
        return false;
      t_converged = seed_clock::now();
      return true;
    },
    20s);
  BOOST_TEST(converged, "the watching replica never converged to the hash");
  if (!converged) {
    auto snap = (*watcher)->snapshot();
    std::string diff;
    for (auto& [k, v] : hash)
      if (snap.count(k) == 0 || snap[k] != v)
        diff += " " + k + "=" + v + "/"
                + (snap.count(k) ? snap[k] : std::string{"-"});
    BOOST_TEST_MESSAGE("watcher rev " << (*watcher)->rev() << " size "
                       << snap.size() << " hash " << hash.size()
                       << " differs:" << diff);
  }
  auto after = pubsub_stats_now();
  // What became of the jobs whose wait timed out: finished (the outcome
  // was published while nobody listened) or not.
  std::string lost;
  size_t ran_but_timed_out = 0;
  for (auto& key : timed_out) {
    auto o = (*node)->job_result(key);
    if (o && *o && (*o)->ok)
      ++ran_but_timed_out;
    lost += " " + key + "="
            + (!o ? std::string{"error"}
                  : !*o ? std::string{"none"}
                        : (*o)->ok ? std::string{"done"}
                                   : std::string{"failed"});
  }
  BOOST_TEST_MESSAGE(
    "SIGKILL of seed master " << master_port(0) << ": pub/sub connected "
    "again after "
    << (pubsub_back ? std::to_string(seed_ms(t_pubsub - t_kill)) + " ms"
                    : std::string{"never"})
    << " (reconnects " << before->reconnects << " -> "
    << (after ? after->reconnects : 0) << "), keyless TIME answered after "
    << seed_ms(t_keyless - t_kill) << " ms, replica " << replica
    << " promoted after " << seed_ms(t_promoted - t_kill)
    << " ms, 100 writes and 10 jobs after it within "
    << seed_ms(t_resumed - t_promoted) << " ms; map writes "
    << writes.summary(t_kill) << "; jobs " << jobs.summary(t_kill)
    << "; timed-out jobs:" << (lost.empty() ? std::string{" none"} : lost)
    << "; watcher converged "
    << (converged ? std::to_string(seed_ms(t_converged - t_resumed))
                      + " ms after the writers stopped"
                  : std::string{"never"}));
  // An outcome published while the pub/sub connection moved is kept and
  // read back on `resub_atom`: no wait times out for a job that finished.
  BOOST_TEST(ran_but_timed_out == 0u, "timed-out jobs that finished:" << lost);
  writer->reset();
  watcher->reset();
  node->reset();
}

BOOST_FIXTURE_TEST_CASE(a_runtime_starts_with_its_first_seed_down,
                        cluster_fixture) {
  // The first seed refuses connections (nothing listens on port 1); the
  // second is master 1. Start, the shared gateway, pub/sub and a map work.
  auto r = redis_opts();
  r.port = 1;
  r.cluster_nodes = {"127.0.0.1:" + std::to_string(master_port(1))};
  cluster_runtime crt{r};
  auto& rt = *crt.rt;
  auto pong = (*crt.redis)("PING");
  BOOST_REQUIRE_MESSAGE(pong, describe(pong));
  auto name = seed_name_on(*this, 2, "seed-down-", [](const std::string& n) {
    return "map:" + n + ":content";
  });
  auto writer = rmap::map::join(rt, name);
  BOOST_REQUIRE_MESSAGE(writer, describe(writer));
  auto watcher = rmap::map::join(rt, name);
  BOOST_REQUIRE_MESSAGE(watcher, describe(watcher));
  auto set = (*writer)->set("a", "1");
  BOOST_REQUIRE_MESSAGE(set, describe(set));
  BOOST_TEST(wait_until([&] {
    auto v = (*watcher)->get("a");
    return v && *v == "1";
  }));
  caf::scoped_actor self{*crt.sys};
  bool connected = false;
  self->request(rt.pubsub(), 2s, stats_atom::value)
    .receive([&](pubsub_stats& s) { connected = s.connected; },
             [&](caf::error&) {});
  BOOST_TEST(connected);
  writer->reset();
  watcher->reset();
}

BOOST_AUTO_TEST_SUITE_END()
