#pragma once

/// Internal to the sink: the state of one sink actor, shared by the actor
/// (`sink.cpp`: its behavior and `spawn_sink`), its reads and deliveries
/// (`sink_read.cpp`: `XREADGROUP`, the fanout to subscribers, read errors
/// and re-creating a deleted group) and its standing in its groups
/// (`sink_membership.cpp`: batched acks, keep-alive, adding and removing
/// streams).

#include <deque>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <caf/error.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/response_promise.hpp>
#include <caf/timespan.hpp>

#include "pulse/messages/redis.hpp"
#include "pulse/messages/streaming.hpp"
#include "pulse/actors/streaming/fanout.hpp"
#include "pulse/actors/streaming/poller.hpp"
#include "pulse/actors/streaming/sink_group.hpp"

namespace pulse::sink_detail {

/// The state of a sink actor: one consumer of its group on every stream.
struct sink_state {
  /// Creates the state of `self`, reading the streams `names` with its own
  /// gateway `blocking` (replies within `command_timeout` beyond `BLOCK`)
  /// and writing through `shared_gw`.
  sink_state(caf::event_based_actor* self, sink_config cfg,
             std::vector<std::string> names, gateway_actor shared_gw,
             gateway_actor blocking, caf::timespan command_timeout);

  /// The sink actor.
  caf::event_based_actor* self;
  /// This instance's configuration (shared with its janitor).
  sink_config cfg;
  /// The shared gateway: acks, keep-alive, membership, dead letters.
  gateway_actor shared_gw;
  /// The sink's own gateway, for its blocking reads.
  gateway_actor blocking;
  /// The subscribers and the batch being delivered to them.
  detail::fanout out;
  /// The blocking read in flight and the retries after failures.
  detail::stream_poller<sk_poll_atom> reads;
  /// What the sink shares with its janitor.
  std::shared_ptr<sink_shared> shared;
  /// The janitor beside this instance.
  janitor_actor janitor_hdl;
  /// The names of the streams the sink reads.
  std::vector<std::string> streams;
  /// Reclaimed or read events waiting for the fanout, with their reply.
  std::deque<std::pair<std::vector<event>, caf::response_promise>> backlog;
  /// The reply owed for the batch being delivered (reclaimed events).
  caf::response_promise current;
  /// IDs acked since the last flush, per stream.
  std::map<std::string, std::vector<std::string>> acks;
  /// The counters `stats_atom` reports (with those of `shared`).
  stream_stats stats;
  /// Delivered, acked and nacked counts per stream (the other fields of
  /// the entries are filled from Redis by `stats_atom`).
  std::map<std::string, sink_stream_stats> counts;
  /// Whether an `sk_flush_atom` is on its way.
  bool flush_scheduled = false;
  /// Whether the group is being re-created (no reads meanwhile).
  bool rejoining = false;

  // -- reads and deliveries (sink_read.cpp) ----------------------------------

  /// Answers every reclaim request still waiting (the janitor blocks on
  /// them) before the actor goes away.
  void release_janitor();

  /// Delivers `evs` to the subscribers, or queues them while a batch is out;
  /// answers `rp` (if pending) once they are delivered, then reads again.
  void deliver(std::vector<event> evs, caf::response_promise rp);

  /// Adds (or, for a batch counted on arrival and delivered later, takes
  /// back) `evs` to the per-stream `delivered` counts.
  void count_delivered(const std::vector<event>& evs, bool add);

  /// Reads ahead while a batch is being delivered: at most one read in
  /// flight and one batch waiting, so memory stays bounded (three batches).
  void poll();

  /// Handles an `XREADGROUP` reply: delivers its events, acks filtered ones
  /// and dead-letters malformed ones.
  void on_read(resp::value& v);

  /// Handles a failed read: re-creates a deleted group (`NOGROUP`), retries
  /// other failures after a back-off.
  void on_error(const caf::error& err);

  /// Reads again after the poller's back-off.
  void schedule_retry();

  /// Re-creates the group on every stream from `0`, then reads again.
  void rejoin();

  /// Retries after a failed `rejoin` (the next read fails with `NOGROUP`
  /// again and re-runs it).
  void schedule_retry_rejoin();

  /// Cancels the read in flight and reads again (the streams changed).
  void restart_read();

  // -- standing in the groups (sink_membership.cpp) --------------------------

  /// Returns the Redis key of `stream`.
  std::string key_of(const std::string& stream) const;

  /// Returns the name of the stream whose key is `key`, or null.
  const std::string* name_of_key(const std::string& key) const;

  /// Acks event `id` of `stream` with the next flush (not in `no_ack` mode).
  void ack(const std::string& stream, const std::string& id);

  /// One `XACK` per stream for everything acked since the last flush.
  void flush_acks();

  /// Refreshes the keep-alive entry and the membership of every stream, and
  /// schedules the next refresh in half the ack grace period.
  void keepalive();

  /// Joins the group on stream `name` from `start` (the configured start if
  /// empty) and reads it too; answers `rp` with `false` if it is read
  /// already, `true` once joined, or the join's error.
  void add_stream(const std::string& name, std::string start,
                  caf::response_promise rp);

  /// Stops reading stream `name` and leaves its membership list (the last
  /// member destroys the group). Returns `false` if it was not read.
  bool remove_stream(const std::string& name);
};

/// Handles `(dl_redrive_atom, stream, which, max_len)` on sink `st`: runs
/// `dead_letters::redrive_steps` (`redrive_script`, or per-entry batches in
/// cluster mode: `sink_config::redrive`) through the shared gateway, one
/// request after the other and without
/// blocking, on the dead-letter stream the sink uses for `stream` (every
/// stream's, one after the other, when `stream` is empty), and answers with
/// the sums. Errors: `errc::invalid_argument` (a stream the sink does not
/// read, an empty selection), Redis and gateway errors (what moved before
/// stays moved).
caf::result<redrive_result>
redrive_dead_letters(caf::event_based_actor* self, const sink_state& st,
                     const std::string& stream, dead_letter_selection which,
                     uint64_t max_len);

/// Handles `(dl_purge_atom, stream, which)` on sink `st`: runs
/// `dead_letters::purge_script` through the shared gateway, without
/// blocking, on the dead-letter stream the sink uses for `stream` (every
/// stream's, one after the other, when `stream` is empty), and answers how
/// many entries it deleted. Errors: `errc::invalid_argument` (a stream the
/// sink does not read, an empty selection), Redis and gateway errors (what
/// was deleted before stays deleted).
caf::result<uint64_t> purge_dead_letters(caf::event_based_actor* self,
                                         const sink_state& st,
                                         const std::string& stream,
                                         dead_letter_selection which);

} // namespace pulse::sink_detail
