#pragma once

// The parts of bench/recovery_bench: traffic-loop counters, the sink's
// subscriber, the recording pool handler, the raw hiredis baseline loop,
// the server's "ready" time, and the state one run shares.

#include <atomic>
#include <chrono>
#include <ctime>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_set>
#include <utility>
#include <vector>

#include <caf/all.hpp>
#include <fmt/format.h>

#include "bench/common.hpp"
#include "pulse/actors/pool/pool.hpp"
#include "pulse/actors/streaming/sink.hpp"
#include "pulse/runtime/errors.hpp"

namespace pulse::bench::recovery {

using namespace std::chrono_literals;

constexpr auto sink_grace = 2s;     // sink ack grace: reclaim within the run
constexpr auto pool_grace = 2s;     // pool ack grace: dispatch timeout 4 s
constexpr auto recover_limit = 30s; // a loop not back by then failed

/// Steady-clock time in ns (0 means "not yet").
inline int64_t now_ns() {
  return clock_type::now().time_since_epoch().count();
}

/// Milliseconds from `from` to `to` (steady ns).
inline double ms_between(int64_t from, int64_t to) {
  return static_cast<double>(to - from) / 1e6;
}

/// The moments of the scenario (steady ns; 0 until they happened).
struct phases {
  std::atomic<int64_t> kill{0}, restart_call{0}, restart_ret{0};
};

/// Returns the name an error is counted under: the `pulse::errc` name, with
/// the first word of the reply for Redis errors (`redis_error:LOADING`).
inline std::string error_name(const caf::error& err) {
  auto code = code_of(err);
  if (code == errc::none)
    return err.category() == caf::atom("system")
             ? "caf:" + caf::to_string(static_cast<caf::sec>(err.code()))
             : "other";
  std::string name = to_string(code);
  auto text = render(err);
  auto pos = text.find(": ");
  if (code == errc::redis_error && pos != std::string::npos)
    name += ":" + text.substr(pos + 2, text.find(' ', pos + 2) - pos - 2);
  return name;
}

/// What one traffic loop saw: successes, errors by name, the first error
/// after the kill, the first success after the restart began.
struct loop_stats {
  explicit loop_stats(std::string n) : name(std::move(n)) {}

  std::string name;
  std::mutex mtx;
  uint64_t ok = 0;
  std::map<std::string, uint64_t> errors;
  int64_t first_error = 0, first_ok = 0;
  double longest_ms = 0;

  /// Records one call from `t0` to `t1` (`err` empty: success). Successes
  /// count for recovery only after `restart()` was called (the server is
  /// down until then).
  void record(const std::string& err, int64_t t0, int64_t t1,
              const phases& ph) {
    std::lock_guard<std::mutex> guard{mtx};
    longest_ms = std::max(longest_ms, ms_between(t0, t1));
    if (!err.empty()) {
      errors[err]++;
      if (ph.kill != 0 && t1 >= ph.kill && first_error == 0)
        first_error = t1;
      return;
    }
    ++ok;
    if (ph.restart_call != 0 && t1 > ph.restart_call && first_ok == 0)
      first_ok = t1;
  }

  /// Whether a call succeeded after the restart began.
  bool recovered() {
    std::lock_guard<std::mutex> guard{mtx};
    return first_ok != 0;
  }
};

/// Events delivered to the sink's subscriber: IDs, and (seq, time) pairs.
struct deliveries {
  std::mutex mtx;
  std::unordered_set<std::string> ids;
  std::vector<std::pair<uint64_t, int64_t>> at;

  /// First delivery of an event with seq >= `seq` after `after`, or 0.
  int64_t first_from(uint64_t seq, int64_t after) {
    std::lock_guard<std::mutex> guard{mtx};
    int64_t first = 0;
    for (auto& [s, t] : at)
      if (seq != 0 && s >= seq && t > after && (first == 0 || t < first))
        first = t;
    return first;
  }
};

/// The sink's subscriber: records every delivery and acks each batch.
inline caf::behavior sink_subscriber(caf::event_based_actor* self, caf::actor sink,
                              std::shared_ptr<deliveries> d) {
  return {
    [=](event_batch& b) {
      auto t = now_ns();
      std::vector<std::string> ids;
      {
        std::lock_guard<std::mutex> guard{d->mtx};
        for (auto& ev : b.events) {
          ids.push_back(ev.id);
          d->ids.insert(ev.id);
          d->at.emplace_back(std::stoull(ev.payload), t);
        }
      }
      if (!ids.empty())
        self->send(sink, ack_atom::value, b.events.front().stream,
                   std::move(ids));
      return true;
    },
  };
}

/// A pool handler that records the keys it started.
class recording_handler : public job_handler {
public:
  std::mutex mtx;
  std::unordered_set<std::string> started;

  caf::error start(const job& j) override {
    std::lock_guard<std::mutex> guard{mtx};
    started.insert(j.key);
    return caf::none;
  }

  caf::error stop(const std::string&) override { return caf::none; }
};

/// Raw baseline: PING every 1 ms; after a failure, a new connection
/// (`redisConnectWithTimeout`) on the next try. Never aborts.
inline void raw_ping_loop(uint16_t port, loop_stats& st, const phases& ph,
                   const std::atomic<bool>& stop) {
  redisContext* c = nullptr;
  timeval tv{0, 100000};
  while (!stop) {
    auto t0 = now_ns();
    if (c == nullptr && (c = redisConnectWithTimeout("127.0.0.1", port, tv)))
      redisSetTimeout(c, tv);
    bool up = c != nullptr && c->err == 0;
    auto r = up ? static_cast<redisReply*>(redisCommand(c, "PING")) : nullptr;
    std::string s = r != nullptr && r->str != nullptr ? r->str : "";
    std::string err = r == nullptr ? (up ? "disconnected" : "connect_failed")
                      : s == "PONG" ? ""
                                    : "redis_error:" + s.substr(0, s.find(' '));
    if (r != nullptr) {
      freeReplyObject(r);
    } else { // reconnect on the next try
      redisFree(c); // accepts nullptr
      c = nullptr;
    }
    st.record(err, t0, now_ns(), ph);
    std::this_thread::sleep_for(1ms);
  }
  redisFree(c);
}

/// The steady-clock time (ns) of the last "ready to accept connections"
/// line in `dir/redis.log` (local time, ms), or 0.
inline int64_t server_ready_ns(const std::string& dir) {
  std::ifstream in{dir + "/redis.log"};
  std::string line, last;
  while (std::getline(in, line))
    if (line.find("eady to accept connections") != std::string::npos)
      last = line;
  auto pos = last.find(':'); // "<pid>:M 05 Dec 2026 04:59:01.123 * Ready..."
  std::tm tm{};
  if (pos == std::string::npos || last.size() < pos + 27
      || !::strptime(last.c_str() + pos + 3, "%d %b %Y %H:%M:%S", &tm))
    return 0;
  tm.tm_isdst = -1;
  auto wall_ms = static_cast<int64_t>(std::mktime(&tm)) * 1000
                 + std::stoll(last.substr(pos + 24, 3));
  std::chrono::nanoseconds wall_now
    = std::chrono::system_clock::now().time_since_epoch();
  return wall_ms * 1'000'000 - (wall_now.count() - now_ns());
}

/// Prints one JSON line `{"bench":"recovery",<body>}`.
inline void print_json(const std::string& body) {
  fmt::print("{{\"bench\":\"recovery\",{}}}\n", body);
  std::fflush(stdout);
}

/// Waits until `pred()` holds or `limit` passed.
template <class Pred>
void wait_for(Pred pred, std::chrono::milliseconds limit) {
  auto deadline = clock_type::now() + limit;
  while (!pred() && clock_type::now() < deadline)
    std::this_thread::sleep_for(20ms);
}

/// What the loops of one run share, and what they produced.
struct run_state {
  phases ph;
  std::atomic<bool> stop{false};
  loop_stats add{"stream_add"}, map{"map_set"}, pool{"pool_dispatch"},
    sink{"sink"}, raw{"raw_ping"};
  std::mutex mtx;
  std::vector<std::string> acked_ids;          // adds that returned their ID
  std::vector<std::string> ok_jobs, late_jobs; // dispatches: ok, timed out
  std::atomic<uint64_t> first_seq_after_restart{0};
  std::atomic<int> dispatches_in_flight{0};
  std::shared_ptr<deliveries> delivered = std::make_shared<deliveries>();
  std::shared_ptr<recording_handler> handler
    = std::make_shared<recording_handler>();
  bool ok = true; // every loop recovered, no loss check found anything

  /// The sink's recovery: first delivery of an event first added after
  /// restart() returned.
  int64_t sink_back() {
    return delivered->first_from(first_seq_after_restart, ph.restart_call);
  }

  /// Whether every loop (and the sink) is back.
  bool all_back() {
    return add.recovered() && map.recovered() && pool.recovered()
           && raw.recovered() && sink_back() != 0;
  }

  /// Prints one check; `found > 0` fails the run if it counts losses.
  void check(int run, const std::string& metric, size_t found,
             size_t checked, bool is_loss = true) {
    print_json(fmt::format(R"("metric":"{}","value":{},"checked":{},"run":{})",
                           metric, found, checked, run));
    ok = ok && (!is_loss || found == 0);
  }
};


} // namespace pulse::bench::recovery
