#pragma once

/// Internal to the sink: its configuration, the state it shares with its
/// janitor, and the commands that make a consumer a member of its group
/// (Go Pulse's consumer group, membership map `stream:<s>:sinks` and
/// keep-alive map `sink:<name>:keepalive`, written with the rmap scripts).

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include <caf/atom.hpp>
#include <caf/expected.hpp>
#include <caf/timespan.hpp>

#include "pulse/messages/redis.hpp"
#include "pulse/messages/streaming.hpp"
#include "pulse/actors/streaming/dead_letters.hpp"
#include "pulse/actors/streaming/filter.hpp"

namespace pulse {
class services;
} // namespace pulse

namespace pulse::sink_detail {


/// Returns `d` in whole milliseconds (truncated).
inline int64_t ms_of(caf::timespan d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

/// What the sink actor and its janitor share.
struct sink_shared {
  /// Guards `last_error` and `by_stream`.
  std::mutex mtx;
  /// Last error reported by `nack` per event ID (bounded).
  std::unordered_map<std::string, std::string> last_error;
  /// Events the janitor claimed and handed to the sink.
  std::atomic<uint64_t> reclaimed{0};
  /// Events copied to the dead-letter stream and acked.
  std::atomic<uint64_t> dead_lettered{0};
  /// Reclaimed (first) and dead-lettered (second) events per stream.
  std::map<std::string, std::pair<uint64_t, uint64_t>> by_stream;
  /// Stale consumers the janitor removed.
  std::atomic<uint64_t> stale_removed{0};
  /// Events trimmed from a stream before this sink's group read them
  /// (detected at spawn and by the janitor; see `trim_report`).
  std::atomic<uint64_t> trimmed{0};
  /// Janitor requests that failed.
  std::atomic<uint64_t> janitor_errors{0};
  /// Subscribers of the sink right now: an instance without any neither
  /// takes the lease nor claims events it could not deliver.
  std::atomic<size_t> subscribers{0};

  /// Keeps `err` as the last error of event `id` (at most 10000 are kept).
  void nack(const std::string& id, std::string err) {
    std::lock_guard<std::mutex> guard{mtx};
    if (last_error.size() >= 10000)
      last_error.erase(last_error.begin());
    last_error[id] = std::move(err);
  }
  /// Counts `n` events of `stream` claimed and redelivered.
  void count_reclaimed(const std::string& stream, uint64_t n) {
    reclaimed += n;
    std::lock_guard<std::mutex> guard{mtx};
    by_stream[stream].first += n;
  }
  /// Counts `n` events of `stream` copied to the dead-letter stream.
  void count_dead_lettered(const std::string& stream, uint64_t n) {
    dead_lettered += n;
    std::lock_guard<std::mutex> guard{mtx};
    by_stream[stream].second += n;
  }
  /// Returns the reclaimed and dead-lettered counts of every stream.
  std::map<std::string, std::pair<uint64_t, uint64_t>> stream_counts() {
    std::lock_guard<std::mutex> guard{mtx};
    return by_stream;
  }
  /// Forgets the error of event `id` (it was acked or dead-lettered).
  void forget(const std::string& id) {
    std::lock_guard<std::mutex> guard{mtx};
    last_error.erase(id);
  }
  /// Returns the last error of event `id`, or "" if none is kept.
  std::string error_of(const std::string& id) {
    std::lock_guard<std::mutex> guard{mtx};
    auto i = last_error.find(id);
    return i == last_error.end() ? std::string{} : i->second;
  }
};

/// Configuration of one sink instance, shared with its janitor.
struct sink_config {
  /// The sink's name, also the name of its consumer group.
  std::string name;
  /// This instance's consumer name (a ULID).
  std::string consumer;
  /// The sink's options.
  sink_options opts;
  /// Which events to deliver; the others are acked at once.
  topic_filter filter;

  /// Returns the dead-letter stream name for `stream`:
  /// `opts.dead_letter_stream` or, if empty, `<stream>:dead-letter`.
  std::string dlq_name(const std::string& stream) const {
    return opts.dead_letter_stream.empty() ? stream + ":dead-letter"
                                           : opts.dead_letter_stream;
  }
  /// Returns the name of the keep-alive map, `sink:<name>:keepalive`.
  std::string keepalive_map() const {
    return "sink:" + name + ":keepalive";
  }
  /// How `dl_redrive_atom` moves dead letters: per entry in Redis Cluster
  /// mode (`dead_letters::redrive_mode_for`), else one script per batch.
  dead_letters::redrive_mode redrive = dead_letters::redrive_mode::script;
  /// Events found trimmed unread when the sink was spawned, per stream.
  std::map<std::string, uint64_t> trimmed_at_start;
};

/// `EVAL <source> <n> keys... args...` as one command (for batches).
command eval_command(const script& s, std::vector<std::string> keys,
                     std::vector<std::string> args);

/// Refreshes the consumer's entry in the keep-alive map (rmap `set`).
command keepalive_command(const sink_config& cfg);

/// Commands that make `cfg.consumer` a member of the group on `stream`:
/// `XGROUP CREATE ... MKSTREAM`, `XGROUP CREATECONSUMER` and the
/// membership map entry (rmap `append_unique`).
std::vector<command> join_commands(const sink_config& cfg,
                                   const std::string& stream,
                                   const std::string& start);

/// Checks the replies of `join_commands` (BUSYGROUP is fine). Errors:
/// `errc::redis_error`.
caf::error check_join(const std::vector<resp::value>& replies);

/// Validates a sink's name, streams and options, then joins its consumer
/// group on every stream in one batch (keep-alive, `XGROUP CREATE ...
/// MKSTREAM`, `XGROUP CREATECONSUMER`, membership) and checks for events
/// trimmed before the group read them (`trim_watch::check`). Returns the
/// instance's configuration. Errors: `errc::invalid_argument` (names,
/// options, pattern), Redis errors of the join.
caf::expected<sink_config> join_group(services& rt, const std::string& name,
                                      const std::vector<std::string>& streams,
                                      sink_options opts);

} // namespace pulse::sink_detail
