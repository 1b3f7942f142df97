#pragma once

/// Traffic for tests that keep a runtime busy while something happens to
/// Redis (a failover, a migration, a resharding): writer threads that issue
/// operations until told to stop, the record of what each writer got
/// acknowledged and which errors, the payloads a consumer received, a
/// pool task handler that counts its runs, and the set-up of what they
/// write to (names in chosen cluster slots, a fast sink, a counting
/// worker). Every type here is thread-safe unless said otherwise; nothing
/// here calls Boost.Test (its macros are not): tests check what it returns.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "pulse/actors/pool/handler.hpp"
#include "pulse/messages/streaming.hpp"

namespace pulse {
class client;
class pool_node;
class services;
class stream;
class subscription;
namespace rmap {
class map;
} // namespace rmap
} // namespace pulse

namespace pulse::test {

/// The clock of every time an op_log keeps.
using traffic_clock = std::chrono::steady_clock;

/// The first name `<prefix><n>` (n = 0, 1, ...) whose key (`key_of(name)`)
/// is in a cluster slot that `wanted` accepts: where a scenario's stream,
/// map or pool lives.
std::string name_in_slot(
  const std::string& prefix,
  const std::function<std::string(const std::string&)>& key_of,
  const std::function<bool(uint16_t)>& wanted);

/// Milliseconds from `a` to `b`.
long long ms_between(traffic_clock::time_point a, traffic_clock::time_point b);

/// One writer's record: the operations acknowledged (with their sequence
/// number, issue time and ack time) and the errors (counted by code, the
/// first one kept as text).
class op_log {
public:
  /// One acknowledged operation.
  struct ack {
    int seq;
    traffic_clock::time_point issued;
    traffic_clock::time_point acked;
  };

  /// A record named `what` (printed in reports).
  explicit op_log(std::string what = {});

  op_log(const op_log&) = delete;
  op_log& operator=(const op_log&) = delete;

  /// What this writer does, as given to the constructor.
  const std::string& what() const {
    return what_;
  }

  /// Notes that operation `seq`, issued at `issued`, was acknowledged now.
  void ok(int seq, traffic_clock::time_point issued = traffic_clock::now());

  /// Notes a failed operation (`err` counted by its code).
  void failed(const caf::error& err);

  /// Acknowledged operations so far.
  size_t count();

  /// The sequence numbers of the acknowledged operations.
  std::set<int> acked_seqs();

  /// Acknowledged operations issued at or after `t`.
  size_t acked_after(traffic_clock::time_point t);

  /// Waits (at most `within`) until `more` operations beyond those
  /// acknowledged now are acknowledged; false on timeout.
  bool wait_more(size_t more, std::chrono::milliseconds within);

  /// Failed operations so far.
  uint64_t errors();

  /// The text of the first error (empty without one).
  std::string first_error();

  /// Failed operations by error code (`to_string(code_of(err))`).
  std::map<std::string, uint64_t> codes();

  /// Errors by code, as `code=n code=n`.
  std::string codes_text();

  /// Acks per second between `from` and `to` (by ack time).
  long long rate(traffic_clock::time_point from, traffic_clock::time_point to);

  /// The longest time without an ack between `from` and the last ack.
  long long max_gap_ms(traffic_clock::time_point from);

  /// Time from `trigger` to the first ack of an operation issued at or
  /// after `switched`; -1 without one.
  long long recovery_ms(traffic_clock::time_point trigger,
                        traffic_clock::time_point switched);

private:
  std::string what_;
  std::mutex mtx_;
  std::vector<ack> acked_;
  uint64_t errors_ = 0;
  std::string first_error_;
  std::map<std::string, uint64_t> codes_;
};

/// The payloads a consumer received.
class payload_set {
public:
  /// Notes `payload`.
  void insert(const std::string& payload);

  /// Payloads received (distinct).
  size_t size();

  /// Whether every one of `payloads` was received.
  bool has_all(const std::set<std::string>& payloads);

  /// Whether every one of `seqs` was received (as its decimal text).
  bool has_all(const std::set<int>& seqs);

  /// The ones of `seqs` not received (as their decimal text).
  std::vector<int> missing(const std::set<int>& seqs);

private:
  std::mutex mtx_;
  std::set<std::string> payloads_;
};

/// Threads that each run a loop until `stop()`; the destructor stops and
/// joins them too, so a failed REQUIRE that unwinds through the owner does
/// not destroy a joinable thread (which ends the process). Declare it after
/// everything its loops use. start() and stop() are for one thread.
class traffic_threads {
public:
  traffic_threads() = default;
  traffic_threads(const traffic_threads&) = delete;
  traffic_threads& operator=(const traffic_threads&) = delete;

  /// Stops and joins every thread.
  ~traffic_threads();

  /// Runs `step(i)` for i = 0, 1, ... on a new thread until stop(),
  /// sleeping `pause` after each step (none by default).
  void loop(std::function<void(int)> step,
            std::chrono::milliseconds pause = std::chrono::milliseconds{0});

  /// A writer: runs `op(i)` like loop() and notes its outcome in `log`
  /// (ok with the issue time, or the error it returns).
  void writer(op_log& log, std::function<caf::error(int)> op,
              std::chrono::milliseconds pause = std::chrono::milliseconds{0});

  /// A consumer: takes events from `sub` (waiting at most `poll` each
  /// time), notes their payloads in `seen` and, if `ack`, acks them.
  void consumer(subscription& sub, payload_set& seen,
                std::chrono::milliseconds poll, bool ack = true);

  /// Tells every thread to stop after its current step and joins them.
  void stop();

private:
  std::atomic<bool> stop_{false};
  std::vector<std::thread> threads_;
};

/// The load of the failover and migration scenarios: stream adds (`add`
/// of event "order" with payload `<i>`: XADD), map writes (`set` of
/// `k<i>` to `<i>`) and pool dispatches (`dispatch` of job `job-<i>` with
/// payload "x"), each on a thread of its own without pause (or `pause`
/// apart) from construction until stop() or the destructor.
class store_traffic {
public:
  /// How the writers run.
  struct options {
    /// Sleep after each operation.
    std::chrono::milliseconds pause{0};
    /// Sees the key and error of each failed dispatch (on its thread).
    std::function<void(const std::string&, const caf::error&)>
      on_dispatch_error;
  };

  /// Starts the writers: adds to `s` through `c` (used by its thread only
  /// until stop()), writes to `m`, dispatches to `n`.
  store_traffic(const stream& s, client& c, rmap::map& m, pool_node& n,
                options opts);

  /// Starts the writers without pause.
  store_traffic(const stream& s, client& c, rmap::map& m, pool_node& n);

  /// What the stream adds got acknowledged (sequence numbers = payloads).
  op_log adds{"stream adds"};

  /// What the map writes got acknowledged (`i` wrote `k<i>`).
  op_log writes{"map writes"};

  /// What the dispatches got acknowledged (`i` dispatched `job-<i>`).
  op_log jobs{"pool dispatches"};

  /// Waits (each at most `within`) until the adds and the map writes have
  /// `more` acks beyond those they have now and the dispatches `more_jobs`.
  bool wait_more(size_t more, size_t more_jobs,
                 std::chrono::milliseconds within);

  /// Stops and joins the writers.
  void stop() {
    threads_.stop();
  }

private:
  traffic_threads threads_; // last: stops before the logs go
};

/// A sink and a subscription to it (see attach_fast_sink).
struct fast_sink {
  /// The sink actor.
  sink_actor sink;
  /// Takes its events (`next`, `ack`).
  std::unique_ptr<subscription> sub;
};

/// Spawns a sink of consumer group `group` on `streams` that polls fast
/// (XREADGROUP BLOCK 50 ms, idle check every 100 ms) and subscribes to it.
/// Errors: those of `spawn_sink` and `subscription::attach`.
caf::expected<fast_sink> attach_fast_sink(services& rt,
                                          caf::actor_system& sys,
                                          const std::string& group,
                                          std::vector<std::string> streams);

class counting_task;

/// Adds to `n` a worker running a new counting_task and returns the task.
/// Errors: those of `pool_node::add_worker`.
caf::expected<std::shared_ptr<counting_task>>
add_counting_worker(pool_node& n);

/// A pool task handler whose jobs finish at once (result "done"); counts
/// the runs, in all and per job key.
class counting_task : public task_handler {
public:
  /// Runs so far (noted after the job's key).
  std::atomic<uint64_t> runs{0};

  /// Notes the run of `j` and returns "done".
  caf::expected<std::string> run(const job& j) override;

  /// How often a job with `key` ran.
  int runs_of(const std::string& key);

  /// Job keys that ran more than once.
  uint64_t keys_run_twice();

private:
  std::mutex mtx_;
  std::map<std::string, int> by_key_;
};

} // namespace pulse::test
