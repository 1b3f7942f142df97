// Replicated-map size scaling: for maps of 10k, 100k and 1M small entries
// (10-byte keys, 12-byte values) the join time against a raw hiredis
// `HGETALL` of the same hash, the process memory per entry (RSS growth of
// the first join) against Redis's own (`MEMORY USAGE ... SAMPLES 0` ÷
// entries), and the local `get` p50 against an `std::unordered_map` of the
// same keys, all measured in the same run.
//
// Each size runs in a child process of its own (this program with
// `--keys=N`), so the memory of one size does not hide in the free lists
// left by another.
//
// Usage: rmap_scale_bench [--port=N] [--runs=3] [--sizes=10000,100000,1000000]

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <random>
#include <sstream>
#include <unordered_map>

#include <caf/all.hpp>
#include <fmt/format.h>

#include "bench/common.hpp"
#include "pulse/actors/rmap/rmap.hpp"
#include "pulse/runtime/errors.hpp"
#include "pulse/runtime/runtime.hpp"

using namespace pulse;
using namespace pulse::bench;

namespace {

std::string key_of(size_t i) {
  return fmt::format("k{:09d}", i); // 10 bytes
}

std::string value_of(size_t i) {
  return fmt::format("v{:011d}", i); // 12 bytes
}

// Resident set size of this process in bytes.
double rss_bytes() {
  long pages = 0;
  long resident = 0;
  if (auto f = std::fopen("/proc/self/statm", "r")) {
    if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2)
      resident = 0;
    std::fclose(f);
  }
  return static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE));
}

double ms_since(clock_type::time_point t0) {
  return std::chrono::duration<double, std::milli>(clock_type::now() - t0)
    .count();
}

// Fills `hash` with `n` entries from a raw connection (1,000 per HSET).
void fill(uint16_t port, const std::string& hash, size_t n) {
  auto c = connect_raw(port);
  freeReplyObject(redisCommand(c, "DEL %s", hash.c_str()));
  redisFree(c);
  size_t per = 1000;
  raw_pipelined(port, (n + per - 1) / per, 16, [&](size_t b) {
    std::vector<std::string> args{"HSET", hash};
    for (size_t i = b * per; i < std::min(n, (b + 1) * per); ++i) {
      args.push_back(key_of(i));
      args.push_back(value_of(i));
    }
    return args;
  });
}

double raw_hgetall_ms(uint16_t port, const std::string& hash, size_t n) {
  auto c = connect_raw(port);
  auto t0 = clock_type::now();
  auto r = static_cast<redisReply*>(
    redisCommand(c, "HGETALL %s", hash.c_str()));
  auto ms = ms_since(t0);
  if (!r || r->elements != 2 * n)
    std::fprintf(stderr, "raw HGETALL saw %zu elements\n",
                 r ? r->elements : size_t{0});
  freeReplyObject(r);
  redisFree(c);
  return ms;
}

// p50 of per-get means over batches of 1,000 gets of random present keys.
template <class Get>
double get_p50_ns(size_t n, Get get) {
  std::mt19937 rng(7);
  std::vector<std::string> names;
  for (size_t i = 0; i < 4096; ++i)
    names.push_back(key_of(rng() % n));
  std::vector<double> samples;
  size_t sink = 0;
  for (int b = 0; b < 300; ++b) {
    auto s0 = clock_type::now();
    for (size_t i = 0; i < 1000; ++i)
      sink += get(names[(b * 1000 + i) & 4095]);
    samples.push_back(
      std::chrono::duration<double, std::nano>(clock_type::now() - s0).count()
      / 1000);
  }
  if (sink == 42)
    std::puts("");
  return quantile(samples, 0.5);
}

int child(int argc, char** argv, size_t n) {
  target tgt{argc, argv};
  pulse::config cfg;
  read_config(cfg, argc, argv);
  auto name = fmt::format("scale-{}", n);
  auto hash = "map:" + name + ":content";
  fill(tgt.port, hash, n);
  double redis_bytes = 0;
  {
    auto c = connect_raw(tgt.port);
    auto r = static_cast<redisReply*>(
      redisCommand(c, "MEMORY USAGE %s SAMPLES 0", hash.c_str()));
    if (r && r->type == REDIS_REPLY_INTEGER)
      redis_bytes = static_cast<double>(r->integer);
    freeReplyObject(r);
    redisFree(c);
  }
  std::vector<double> join_ms, raw_ms;
  double rss_per_entry = 0;
  double get_ns = 0;
  auto o = tgt.runtime_options();
  o.rmap.join_timeout = std::chrono::seconds{120};
  // An HGETALL of 1M entries on a loaded 2-core machine can take longer
  // than the default 5 s command timeout; measure the join, not retries.
  o.redis.command_timeout = std::chrono::seconds{60};
  {
    caf::actor_system sys{cfg};
    auto rt = runtime::start(sys, o);
    if (!rt) {
      std::fprintf(stderr, "cannot start runtime\n");
      return 1;
    }
    // A warm-up join of a tiny map brings up the pub/sub connection and
    // the scripts, so the first measured join is the map alone.
    (*rmap::map::join(**rt, "scale-warmup"))->close();
    for (int run = 0; run < tgt.runs; ++run) {
      raw_ms.push_back(raw_hgetall_ms(tgt.port, hash, n));
      auto rss0 = rss_bytes();
      auto t0 = clock_type::now();
      auto m = rmap::map::join(**rt, name);
      join_ms.push_back(ms_since(t0));
      if (!m) {
        std::fprintf(stderr, "join: %s\n", render(m.error()).c_str());
        return 1;
      }
      if ((*m)->len() != n)
        std::fprintf(stderr, "join saw %zu keys\n", (*m)->len());
      if (run == 0) {
        rss_per_entry = (rss_bytes() - rss0) / static_cast<double>(n);
        get_ns = get_p50_ns(n, [&](const std::string& k) {
          return (*m)->get(k) ? size_t{1} : size_t{0};
        });
      }
      (*m)->close();
    }
  }
  std::unordered_map<std::string, std::string> plain;
  plain.reserve(n);
  for (size_t i = 0; i < n; ++i)
    plain.emplace(key_of(i), value_of(i));
  auto base_ns = get_p50_ns(n, [&](const std::string& k) {
    auto i = plain.find(k);
    return i != plain.end() ? i->second.size() : size_t{0};
  });
  auto extra = fmt::format("\"runs\":{},\"keys\":{}", tgt.runs, n);
  report("rmap_scale", "join_ms", median(join_ms), "raw_hgetall_ms",
         median(raw_ms), false, extra);
  report("rmap_scale", "rss_bytes_per_entry", rss_per_entry,
         "redis_memory_usage_bytes_per_entry",
         redis_bytes / static_cast<double>(n), false, extra);
  report("rmap_scale", "get_p50_ns", get_ns, "unordered_map_find_p50_ns",
         base_ns, false, extra);
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  std::vector<size_t> sizes{10000, 100000, 1000000};
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.rfind("--keys=", 0) == 0)
      return child(argc, argv, std::stoul(arg.substr(7)));
    if (arg.rfind("--sizes=", 0) == 0) {
      sizes.clear();
      std::istringstream in{arg.substr(8)};
      for (std::string x; std::getline(in, x, ',');)
        sizes.push_back(std::stoul(x));
    }
  }
  target tgt{argc, argv};
  int rc = 0;
  for (auto n : sizes) {
    auto cmd = fmt::format("'{}' --port={} --runs={} --keys={}", argv[0],
                           tgt.port, tgt.runs, n);
    if (std::system(cmd.c_str()) != 0)
      rc = 1;
  }
  return rc;
}
