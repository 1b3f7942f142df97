// Worker pools against a real Redis: recovery from damaged state. Garbage
// and duplicate queue entries, starts, stops and completions lost with a
// connection, workers of a dead node.

#include <boost/test/unit_test.hpp>

#include <future>
#include <sstream>
#include <string>

#include <caf/all.hpp>

#include "pulse/actors/pool/pool.hpp"
#include "pulse/actors/pool/scripts.hpp"
#include "tests/pool/pool_fixture.hpp"

using namespace pulse;
using namespace pulse::test;
using namespace std::chrono_literals;

namespace {

/// Whether a client blocks in `BLMPOP` right now (`flags=b`: blocked;
/// `cmd=` alone names the last command).
bool intake_blocked(client& c) {
  auto clients = c("CLIENT", "LIST");
  if (!clients)
    return false;
  std::istringstream lines{clients->str};
  for (std::string line; std::getline(lines, line);)
    if (line.find(" flags=b ") != std::string::npos
        && line.find(" cmd=blmpop") != std::string::npos)
      return true;
  return false;
}

/// Waits until `h` started job `key` and a client blocks in `BLMPOP`
/// (the node's intake), then drops every connection but `c`'s: the poll
/// fails. Returns the started job.
job started_then_poll_cut(client& c, job_holder& h, const std::string& key) {
  BOOST_REQUIRE(wait_until([&] { return static_cast<bool>(h.get(key)); }));
  BOOST_REQUIRE(wait_until([&] { return intake_blocked(c); }));
  c("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes");
  return *h.get(key);
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(pool, pool_fixture)

BOOST_AUTO_TEST_CASE(malformed_queue_entries_are_skipped) {
  auto n = node();
  auto w = worker(*n);
  auto q = pool_scripts::pool_prefix("p") + "q:" + w;
  redis()("RPUSH", q, "garbage", "S0 x", "Sx y", "N1 99 short");
  BOOST_TEST(!n->dispatch("good", "x"));
  BOOST_TEST(log->count('s') == 1u);
}

BOOST_AUTO_TEST_CASE(redelivered_start_leaves_a_running_job_alone) {
  auto n = node();
  auto w = worker(*n);
  BOOST_TEST(!n->dispatch("k", "x"));
  auto rec = redis()("HGET", pool_scripts::pool_prefix("p") + "jobs", "k");
  BOOST_REQUIRE(rec);
  auto epoch = rec->str.substr(w.size() + 1);
  epoch = epoch.substr(0, epoch.find('|'));
  // The same start again (as a duplicate delivery would look), and an
  // older one.
  auto entry = [&](const std::string& e) {
    return "S" + e + " 1 0 0 kx";
  };
  redis()("RPUSH", pool_scripts::pool_prefix("p") + "q:" + w, entry(epoch),
          entry("1"));
  BOOST_TEST(!n->dispatch("other", "x")); // processed after the duplicates
  BOOST_TEST(log->count('s', "k") == 1u);
  BOOST_TEST(log->count('x', "k") == 0u);
  BOOST_TEST(log->owner("k") == w);
  auto after = redis()("HGET", pool_scripts::pool_prefix("p") + "jobs", "k");
  BOOST_REQUIRE(after);
  BOOST_TEST(after->str.find(w + "|" + epoch + "|r|") == 0u, after->str);
}

BOOST_AUTO_TEST_CASE(starts_lost_with_a_connection_are_queued_again) {
  // A long block, so the kill below surely finds the intake's BLMPOP in
  // flight (a connection lost between two calls loses nothing).
  auto o = fast_options();
  o.job_sink_block_duration = 5s;
  auto n = node(o);
  auto w = worker(*n);
  BOOST_TEST(!n->dispatch("before", "x"));
  // A start popped by a BLMPOP whose reply never arrived: the record is
  // pending and owned by the worker, its queue entry is gone.
  auto pfx = pool_scripts::pool_prefix("p");
  redis()("HSET", pfx + "jobs", "lost", w + "|999999|p||");
  redis()("HSET", pfx + "payloads", "lost", "x");
  redis()("SADD", pfx + "owned:" + w, "lost");
  redis()("INCR", pfx + "queued");
  // And a stop whose entry was lost: the job's record is gone.
  BOOST_TEST(!n->dispatch("stopped", "x"));
  redis()("HDEL", pfx + "jobs", "stopped");
  redis()("HDEL", pfx + "payloads", "stopped");
  redis()("SREM", pfx + "owned:" + w, "stopped");
  // And a start whose confirm was lost: the worker runs it, its record is
  // still pending under the same epoch.
  BOOST_TEST(!n->dispatch("unconfirmed", "x"));
  auto rec = redis()("HGET", pfx + "jobs", "unconfirmed");
  BOOST_REQUIRE(rec);
  auto running_rec = rec->str;
  auto at = running_rec.find("|r|");
  BOOST_REQUIRE(at != std::string::npos);
  auto pending_rec = running_rec;
  pending_rec.replace(at, 3, "|p|");
  redis()("HSET", pfx + "jobs", "unconfirmed", pending_rec);
  redis()("INCR", pfx + "queued");
  // Drop every connection but ours while the node's intake blocks in
  // BLMPOP: the poll fails.
  BOOST_TEST(wait_until([&] { return intake_blocked(redis()); }));
  redis()("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes");
  BOOST_TEST(wait_until([&] { return log->owner("lost") == w; }, 10s));
  BOOST_TEST(wait_until([&] { return log->count('x', "stopped") == 1; }));
  BOOST_TEST(log->count('s', "lost") == 1u);
  BOOST_TEST(log->count('s', "before") == 1u); // running jobs untouched
  BOOST_TEST(log->count('x', "before") == 0u);
  // The unconfirmed one is recorded as running under its epoch: not
  // queued again (a new epoch would fence its retried confirm).
  auto after = redis()("HGET", pfx + "jobs", "unconfirmed");
  BOOST_REQUIRE(after);
  BOOST_TEST(after->str == running_rec);
  BOOST_TEST(log->count('s', "unconfirmed") == 1u);
  BOOST_TEST(log->count('x', "unconfirmed") == 0u);
}

BOOST_AUTO_TEST_CASE(a_completion_queued_during_a_lost_poll_stops_nothing) {
  // The intake's poll fails; before the worker rebuilds its queue (50 ms
  // later), another node completes its running job: the `C` entry waits
  // in the queue that `resync` deletes. The worker must forget the job,
  // not stop it. (A completion from the worker's own node also tells the
  // worker directly: the next case.)
  auto o = fast_options();
  o.job_sink_block_duration = 5s;
  auto n = node(o);
  auto other = node(o);
  auto h = std::make_shared<job_holder>(log);
  auto w = worker(*n, h);
  std::promise<caf::expected<std::string>> outcome;
  auto f = outcome.get_future();
  n->dispatch_for_result("long", "x", 5s,
                         [&](caf::expected<std::string> r) {
                           outcome.set_value(std::move(r));
                         });
  auto j = started_then_poll_cut(redis(), *h, "long");
  BOOST_REQUIRE(!other->complete_job(j, "all done"));
  auto q = pool_scripts::pool_prefix("p") + "q:" + w;
  // Still queued: the worker polls again only after its resync (this
  // fails only if the resync ran first, which would test nothing).
  auto len = redis()("LLEN", q);
  BOOST_REQUIRE(len);
  BOOST_TEST(len->integer == 1);
  BOOST_REQUIRE((f.wait_for(5s) == std::future_status::ready));
  auto r = f.get();
  BOOST_REQUIRE_MESSAGE(r, describe(r));
  BOOST_TEST(*r == "all done");
  // The resync deleted the queue (or the worker popped the entry).
  BOOST_TEST(wait_until([&] {
    auto x = redis()("LLEN", q);
    return x && x->integer == 0;
  }));
  // It forgot the job: a later job runs, no stop call, close stops nothing.
  BOOST_TEST(!n->dispatch("after", "x"));
  BOOST_TEST(wait_until([&] { return log->count('s', "after") == 1u; }));
  BOOST_TEST(log->count('x', "long") == 0u);
  BOOST_REQUIRE(!n->close());
  BOOST_TEST(log->count('x', "long") == 0u);
  BOOST_TEST(log->count('x', "after") == 1u);
}

BOOST_AUTO_TEST_CASE(a_completion_popped_by_the_lost_poll_stops_nothing) {
  // As above, but the `C` entry is gone before the resync, as when the
  // failed poll itself popped it: the completing node's `done:<key>`
  // marker tells the resync. The worker must forget the job, not stop it.
  auto o = fast_options();
  o.job_sink_block_duration = 5s;
  o.worker_ttl = 4s; // the marker outlives every wait below: 8 s
  auto n = node(o);
  auto other = node(o);
  auto h = std::make_shared<job_holder>(log);
  auto w = worker(*n, h);
  BOOST_REQUIRE(!n->dispatch("long", "x"));
  auto j = started_then_poll_cut(redis(), *h, "long");
  BOOST_REQUIRE(!other->complete_job(j, "all done"));
  auto pfx = pool_scripts::pool_prefix("p");
  // The marker names the epoch, for at most twice the worker TTL.
  auto mark = redis()("GET", pfx + "done:long");
  BOOST_REQUIRE(mark);
  BOOST_TEST(mark->str == std::to_string(j.epoch));
  auto ttl = redis()("PTTL", pfx + "done:long");
  BOOST_REQUIRE(ttl);
  BOOST_TEST(ttl->integer > 6000);
  BOOST_TEST(ttl->integer <= 8000);
  // The entry was still queued (the resync had not run, else the worker
  // would have popped it): take it away.
  auto gone = redis()("DEL", pfx + "q:" + w);
  BOOST_REQUIRE(gone);
  BOOST_REQUIRE(gone->integer == 1);
  // The resync read and deleted the marker (long before it expires).
  BOOST_TEST(wait_until([&] {
    auto x = redis()("EXISTS", pfx + "done:long");
    return x && x->integer == 0;
  }));
  // It forgot the job: a later job runs, no stop call, close stops nothing.
  BOOST_TEST(!n->dispatch("after", "x"));
  BOOST_TEST(wait_until([&] { return log->count('s', "after") == 1u; }));
  BOOST_TEST(log->count('x', "long") == 0u);
  // A completion on the worker's own node leaves no marker (the node tells
  // its worker directly).
  auto a = h->get("after");
  BOOST_REQUIRE(a);
  BOOST_REQUIRE(!n->complete_job(*a, "done too"));
  auto local = redis()("EXISTS", pfx + "done:after");
  BOOST_REQUIRE(local);
  BOOST_TEST(local->integer == 0);
  BOOST_REQUIRE(!n->close());
  BOOST_TEST(log->count('x', "long") == 0u);
  BOOST_TEST(log->count('x', "after") == 0u);
}

BOOST_AUTO_TEST_CASE(complete_job_then_close_while_the_poll_is_down_stops_nothing) {
  // The `C` entry waits in the queue until the worker's resync (50 ms
  // after the failed poll); `close` comes first. The node told its worker
  // of the completion before `complete_job` returned, so the close does
  // not stop the finished job.
  auto o = fast_options();
  o.job_sink_block_duration = 5s;
  auto n = node(o);
  auto h = std::make_shared<job_holder>(log);
  worker(*n, h);
  BOOST_REQUIRE(!n->dispatch("long", "x"));
  auto j = started_then_poll_cut(redis(), *h, "long");
  BOOST_REQUIRE(!n->complete_job(j, "all done"));
  BOOST_REQUIRE(!n->close());
  BOOST_TEST(log->count('x', "long") == 0u);
}

BOOST_AUTO_TEST_CASE(dead_workers_leave_the_membership) {
  auto n = node();
  auto live = worker(*n);
  // Five workers of a node that died: members with expired leases.
  // The job first: a cleaner may run between any two of these writes.
  auto pfx = pool_scripts::pool_prefix("p");
  redis()("HSET", pfx + "jobs", "orphan", "dead0|1|r|gone|");
  redis()("HSET", pfx + "payloads", "orphan", "x");
  redis()("SADD", pfx + "owned:dead0", "orphan");
  for (int i = 0; i < 5; ++i) {
    auto id = "dead" + std::to_string(i);
    redis()("HSET", pfx + "workers", id, std::to_string(i) + "|gone");
    redis()("ZADD", pfx + "alive", "1", "w:" + id);
  }
  redis()("INCR", pfx + "mrev");
  BOOST_TEST(wait_until([&] {
    auto ws = n->pool_workers();
    return ws && ws->size() == 1 && (*ws)[0].id == live;
  }));
  // The dead worker's job runs on the live one.
  BOOST_TEST(wait_until([&] { return log->owner("orphan") == live; }));
  auto left = redis()("SCARD", pfx + "orphans");
  BOOST_REQUIRE(left);
  BOOST_TEST(left->integer == 0);
}

BOOST_AUTO_TEST_SUITE_END()
