// Replicated-map benchmark: local reads under concurrent writes, write round
// trip, propagation to another replica, and join of a large map, each next
// to a baseline measured in the same run.
//
// Usage: rmap_bench [--port=N] [--runs=3] [--scale=1.0]

#include <atomic>
#include <functional>
#include <future>
#include <random>
#include <thread>
#include <unordered_map>

#include <caf/all.hpp>
#include <fmt/format.h>

#include "bench/common.hpp"
#include "pulse/actors/redis/client.hpp"
#include "pulse/runtime/errors.hpp"
#include "pulse/actors/rmap/rmap.hpp"
#include "pulse/actors/rmap/scripts.hpp"
#include "pulse/runtime/runtime.hpp"

using namespace pulse;
using namespace pulse::bench;
using namespace std::chrono_literals;

namespace {

// Per-get cost (ns) measured over batches of 1000 gets by 4 threads while
// `write` runs in another thread; returns {p50 of batch means, gets/s}.
template <class Get, class Write>
std::pair<double, double> read_under_writes(Get get, Write write,
                                            size_t keys) {
  std::atomic<bool> stop{false};
  std::thread writer{[&] {
    while (!stop)
      write();
  }};
  std::vector<std::vector<double>> samples(4);
  std::atomic<uint64_t> total{0};
  auto t0 = clock_type::now();
  std::vector<std::thread> readers;
  for (int t = 0; t < 4; ++t)
    readers.emplace_back([&, t] {
      std::mt19937 rng(t);
      std::vector<std::string> names;
      for (size_t i = 0; i < 64; ++i)
        names.push_back("key" + std::to_string(rng() % keys));
      size_t sink = 0;
      for (int b = 0; b < 300; ++b) {
        auto s0 = clock_type::now();
        for (int i = 0; i < 1000; ++i)
          sink += get(names[i & 63]);
        auto ns = std::chrono::duration<double, std::nano>(clock_type::now()
                                                           - s0)
                    .count();
        samples[t].push_back(ns / 1000);
      }
      total += 300 * 1000 + (sink & 1);
    });
  for (auto& r : readers)
    r.join();
  auto secs = std::chrono::duration<double>(clock_type::now() - t0).count();
  stop = true;
  writer.join();
  std::vector<double> all;
  for (auto& s : samples)
    all.insert(all.end(), s.begin(), s.end());
  return {quantile(all, 0.5), static_cast<double>(total) / secs};
}

std::string load_script(redisContext* c, const script& s) {
  auto r = static_cast<redisReply*>(
    redisCommand(c, "SCRIPT LOAD %b", s.source.data(), s.source.size()));
  std::string sha = r && r->str ? r->str : "";
  freeReplyObject(r);
  return sha;
}

/// Raw subscribers that each read `n` messages of `channel` on a thread of
/// their own (the other replicas of a map, for the raw baselines), calling
/// `on_message` after each one when it is set.
class raw_drainers {
public:
  raw_drainers(uint16_t port, const std::string& channel, size_t count,
               size_t n, std::function<void()> on_message = {}) {
    for (size_t i = 0; i < count; ++i) {
      auto* c = connect_raw(port);
      freeReplyObject(redisCommand(c, "SUBSCRIBE %s", channel.c_str()));
      conns_.push_back(c);
      threads_.emplace_back([c, n, on_message] {
        for (size_t j = 0; j < n; ++j) {
          void* r = nullptr;
          if (redisGetReply(c, &r) != REDIS_OK)
            return;
          freeReplyObject(r);
          if (on_message)
            on_message();
        }
      });
    }
  }

  ~raw_drainers() {
    for (auto& t : threads_)
      t.join();
    for (auto* c : conns_)
      redisFree(c);
  }

private:
  std::vector<redisContext*> conns_;
  std::vector<std::thread> threads_;
};

// Raw baseline: EVALSHA of the same set script, one at a time. With
// `subscribers`, that many raw connections subscribe to the map's channel
// (a Pulse writer is a replica too: its own connection gets each change).
double raw_evalsha_p50(uint16_t port, size_t n, size_t subscribers = 0) {
  raw_drainers others{port, "map:raw:updates", subscribers, n};
  auto c = connect_raw(port);
  auto sha = load_script(c, rmap_scripts::set());
  std::vector<double> us;
  for (size_t i = 0; i < n; ++i) {
    auto t0 = clock_type::now();
    // KEYS: the content hash; ARGV: no TTL (""), TTL 0, key, value.
    auto r = static_cast<redisReply*>(
      redisCommand(c, "EVALSHA %s 1 map:raw:content %s 0 k %s", sha.c_str(),
                   "", std::to_string(i).c_str()));
    if (!r || r->type != REDIS_REPLY_ARRAY) {
      std::fprintf(stderr, "raw set script failed: %s\n",
                   r && r->str ? r->str : "no reply");
      std::exit(1);
    }
    freeReplyObject(r);
    us.push_back(std::chrono::duration<double, std::micro>(clock_type::now()
                                                           - t0)
                   .count());
  }
  redisFree(c);
  return quantile(us, 0.5);
}

// Raw baseline: an HSET+PUBLISH script on one connection, a subscriber
// thread on another; time until the subscriber read the message. With
// `map_script`, the script is the map's own set script (its revision and
// encoded notification), on a map named `rawp`. With `writer_subscribed`
// (map script only), a second subscriber connection drains the channel on
// its own thread, as the writer's own replica does in Pulse (a writer is a
// replica too, so Redis sends each change to two connections).
std::pair<double, double> raw_propagation(uint16_t port, size_t n,
                                          bool map_script = false,
                                          bool writer_subscribed = false) {
  script hp{"redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) "
            "redis.call('PUBLISH', KEYS[2], ARGV[2]) return 1"};
  auto c = connect_raw(port);
  auto sha = load_script(c, map_script ? rmap_scripts::set() : hp);
  std::atomic<size_t> seen{0};
  raw_drainers timed{port, map_script ? "map:rawp:updates" : "raw:updates", 1,
                     n, [&seen] { ++seen; }};
  raw_drainers others{port, "map:rawp:updates", writer_subscribed ? 1u : 0u,
                      n};
  std::vector<double> us;
  for (size_t i = 0; i < n; ++i) {
    auto before = seen.load();
    auto t0 = clock_type::now();
    auto v = std::to_string(i);
    if (map_script)
      freeReplyObject(redisCommand(c, "EVALSHA %s 1 map:rawp:content %s 0 k %s",
                                   sha.c_str(), "", v.c_str()));
    else
      freeReplyObject(redisCommand(c, "EVALSHA %s 2 raw:content raw:updates k %s",
                                   sha.c_str(), v.c_str()));
    while (seen.load() == before)
      std::this_thread::yield();
    us.push_back(std::chrono::duration<double, std::micro>(clock_type::now()
                                                           - t0)
                   .count());
  }
  redisFree(c);
  return {quantile(us, 0.5), quantile(us, 0.99)};
}

/// Propagation of `n` sets, one at a time, from `writer` to `replica`
/// (values `<tag><i>`): the µs from each `set` until `replica` reads it.
std::vector<double> propagation_us(rmap::map& writer, rmap::map& replica,
                                   const std::string& tag, size_t n) {
  std::vector<double> us;
  for (size_t i = 0; i < n; ++i) {
    auto v = tag + std::to_string(i);
    auto t0 = clock_type::now();
    writer.set("prop", v);
    while (replica.get("prop") != caf::optional<std::string>{v})
      std::this_thread::yield();
    us.push_back(
      std::chrono::duration<double, std::micro>(clock_type::now() - t0)
        .count());
  }
  return us;
}

/// Propagation of `n` sets written by a raw client (`EVALSHA` of the map's
/// own set script over hiredis) to `replica`: the replica's receive path
/// alone, the writer being the raw baseline's.
std::vector<double> raw_writer_propagation_us(uint16_t port,
                                              const std::string& name,
                                              rmap::map& replica, size_t n) {
  auto c = connect_raw(port);
  auto sha = load_script(c, rmap_scripts::set());
  auto content = "map:" + name + ":content";
  std::vector<double> us;
  for (size_t i = 0; i < n; ++i) {
    auto v = "w" + std::to_string(i);
    std::vector<std::string> args{"EVALSHA", sha, "1", content, "", "0",
                                  "prop", v};
    auto t0 = clock_type::now();
    freeReplyObject(command_raw(c, args));
    while (replica.get("prop") != caf::optional<std::string>{v})
      std::this_thread::yield();
    us.push_back(
      std::chrono::duration<double, std::micro>(clock_type::now() - t0)
        .count());
  }
  redisFree(c);
  return us;
}

} // namespace

// Sequential `map_write` sets from an event-based actor; returns the p50 of
// the round trips in µs.
double actor_set_rtt_p50(caf::actor_system& sys, replica_actor replica,
                         size_t n) {
  std::promise<std::vector<double>> promise;
  auto* result = &promise;
  sys.spawn([&](caf::event_based_actor* self) {
    auto us = std::make_shared<std::vector<double>>();
    auto next = std::make_shared<std::function<void(size_t)>>();
    *next = [=](size_t i) {
      auto t0 = clock_type::now();
      self
        ->request(replica, caf::infinite, map_write_atom::value,
                  map_write{map_op::set, "actor-rtt", {std::to_string(i)}})
        .then(
          [=](const map_write_result&) {
            us->push_back(std::chrono::duration<double, std::micro>(
                            clock_type::now() - t0)
                            .count());
            if (i + 1 < n) {
              (*next)(i + 1);
              return;
            }
            result->set_value(*us);
            *next = nullptr; // breaks the self-reference
          },
          [=](caf::error& err) {
            std::fprintf(stderr, "map_write: %s\n", render(err).c_str());
          });
    };
    (*next)(0);
  });
  auto us = promise.get_future().get();
  return us.empty() ? 0 : quantile(us, 0.5);
}

int main(int argc, char** argv) {
  target tgt{argc, argv};
  pulse::config cfg;
  read_config(cfg, argc, argv);
  auto n = static_cast<size_t>(5000 * tgt.scale);
  auto big = static_cast<size_t>(100000 * tgt.scale);
  std::vector<double> get_p50, get_rate, base_p50, set_p50, actor_set_p50,
    raw_set, raw_set_sub,
    prop50, prop99, own_prop50, raw_writer_prop50, raw50, raw_map50, raw_map2_50,
    raw99, join_ms, hgetall_ms;
  auto o = tgt.runtime_options();
  {
    caf::actor_system sys{cfg};
    auto rt = runtime::start(sys, o);
    auto rt2 = runtime::start(sys, o); // a second "node": own connections
    if (!rt || !rt2) {
      std::fprintf(stderr, "cannot start runtime\n");
      return 1;
    }
    for (int run = 0; run < tgt.runs; ++run) {
      auto name = "bench-" + std::to_string(run);
      auto joined_m = rmap::map::join(**rt, name);
      if (!joined_m) {
        std::fprintf(stderr, "join: %s\n", render(joined_m.error()).c_str());
        return 1;
      }
      auto m = *joined_m;
      for (size_t i = 0; i < 1000; ++i)
        m->set("key" + std::to_string(i), "value");
      m->set_and_wait("key0", "value");
      // 1. local reads while another thread writes through the map.
      std::atomic<size_t> w{0};
      auto [p50, rate] = read_under_writes(
        [&](const std::string& k) { return m->get(k) ? size_t{1} : 0; },
        [&] { m->set("key" + std::to_string(w++ % 1000), "v2"); }, 1000);
      get_p50.push_back(p50);
      get_rate.push_back(rate);
      // Baseline: unsynchronized std::unordered_map reads (no writer).
      std::unordered_map<std::string, std::string> plain;
      for (size_t i = 0; i < 1000; ++i)
        plain["key" + std::to_string(i)] = "value";
      auto [bp50, brate] = read_under_writes(
        [&](const std::string& k) { return plain.count(k); },
        [] { std::this_thread::sleep_for(1ms); }, 1000);
      (void) brate;
      base_p50.push_back(bp50);
      // 2. set round trip.
      std::vector<double> us;
      for (size_t i = 0; i < n; ++i) {
        auto t0 = clock_type::now();
        m->set("rtt", std::to_string(i));
        us.push_back(std::chrono::duration<double, std::micro>(
                       clock_type::now() - t0)
                       .count());
      }
      set_p50.push_back(quantile(us, 0.5));
      raw_set.push_back(raw_evalsha_p50(tgt.port, n));
      raw_set_sub.push_back(raw_evalsha_p50(tgt.port, n, 1));
      // 2b. set round trip from an event-based actor: `map_write` requests
      // to the replica, one at a time.
      actor_set_p50.push_back(actor_set_rtt_p50(sys, m->replica(), n));
      // 3. propagation to a replica on the other runtime.
      auto far = *rmap::map::join(**rt2, name);
      us = propagation_us(*m, *far, "p", n);
      prop50.push_back(quantile(us, 0.5));
      prop99.push_back(quantile(us, 0.99));
      far->close();
      // 3b. the same to a replica on a thread of its own
      // (`dedicated_thread = true`; the default runs it on the scheduler).
      auto own_opts = map_options::from((*rt2)->opts().rmap);
      own_opts.dedicated_thread = true;
      auto near = *rmap::map::join(**rt2, name, own_opts);
      us = propagation_us(*m, *near, "s", n);
      own_prop50.push_back(quantile(us, 0.5));
      near->close();
      m->close();
      // 3c. propagation from a raw writer of the map's set script: the
      // receive path alone (the only replica, as the raw subscriber is
      // the only one).
      auto lone = *rmap::map::join(**rt2, name);
      us = raw_writer_propagation_us(tgt.port, name, *lone, n);
      raw_writer_prop50.push_back(quantile(us, 0.5));
      lone->close();
      auto [r50, r99] = raw_propagation(tgt.port, n);
      raw50.push_back(r50);
      raw99.push_back(r99);
      raw_map50.push_back(raw_propagation(tgt.port, n, true).first);
      raw_map2_50.push_back(raw_propagation(tgt.port, n, true, true).first);
      // 4. join a large map.
      auto bigname = "big-" + std::to_string(run);
      raw_pipelined(tgt.port, big, 1000, [&](size_t i) {
        return std::vector<std::string>{"HSET", "map:" + bigname + ":content",
                                        "key" + std::to_string(i),
                                        "value-" + std::to_string(i)};
      });
      auto t0 = clock_type::now();
      auto joined = *rmap::map::join(**rt2, bigname);
      join_ms.push_back(std::chrono::duration<double, std::milli>(
                          clock_type::now() - t0)
                          .count());
      if (joined->len() != big)
        std::fprintf(stderr, "join saw %zu keys\n", joined->len());
      joined->close();
      auto c = connect_raw(tgt.port);
      t0 = clock_type::now();
      freeReplyObject(redisCommand(c, "HGETALL map:%s:content", bigname.c_str()));
      hgetall_ms.push_back(std::chrono::duration<double, std::milli>(
                             clock_type::now() - t0)
                             .count());
      redisFree(c);
    }
    client c{sys, (*rt)->gateway()};
    c("FLUSHALL");
  }
  auto runs = fmt::format("\"runs\":{}", tgt.runs);
  report("rmap", "get_p50_ns_4_readers_1_writer", median(get_p50),
         "unsynchronized_unordered_map_find_p50_ns", median(base_p50), false,
         runs + fmt::format(",\"gets_per_s\":{:.0f}", median(get_rate)));
  report("rmap", "set_rtt_p50_us", median(set_p50), "raw_evalsha_rtt_p50_us",
         median(raw_set), false, runs);
  report("rmap", "set_rtt_p50_us_against_a_subscribed_writer", median(set_p50),
         "raw_evalsha_rtt_writer_subscribed_p50_us", median(raw_set_sub),
         false, runs);
  report("rmap", "actor_map_write_set_rtt_p50_us", median(actor_set_p50),
         "raw_evalsha_rtt_p50_us", median(raw_set), false, runs);
  report("rmap", "propagation_p50_us", median(prop50),
         "raw_hset_publish_script_to_subscriber_p50_us", median(raw50), false,
         runs);
  report("rmap", "propagation_p50_us_against_the_map_script",
         median(prop50), "raw_map_set_script_to_subscriber_p50_us",
         median(raw_map50), false, runs);
  report("rmap", "propagation_p50_us_against_the_map_script_writer_subscribed",
         median(prop50),
         "raw_map_set_script_to_subscriber_writer_subscribed_p50_us",
         median(raw_map2_50), false, runs);
  report("rmap", "propagation_from_raw_writer_p50_us",
         median(raw_writer_prop50), "raw_map_set_script_to_subscriber_p50_us",
         median(raw_map50), false, runs);
  report("rmap", "propagation_dedicated_thread_replica_p50_us", median(own_prop50),
         "raw_hset_publish_script_to_subscriber_p50_us", median(raw50), false,
         runs);
  report("rmap", "propagation_p99_us", median(prop99),
         "raw_hset_publish_script_to_subscriber_p99_us", median(raw99), false,
         runs);
  report("rmap", "join_100k_keys_ms", median(join_ms), "raw_hgetall_100k_ms",
         median(hgetall_ms), false,
         runs + fmt::format(",\"keys\":{}", big));
  return 0;
}
