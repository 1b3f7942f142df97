#pragma once

/// Messages of stream readers and sinks (`actors/streaming/`).

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <chrono>

#include <caf/actor.hpp>
#include <caf/timespan.hpp>
#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "pulse/messages/options.hpp"
#include "pulse/messages/pubsub.hpp" // sub_atom, unsub_atom
#include "pulse/messages/redis.hpp"  // stats_atom

namespace pulse {

// -- atoms --------------------------------------------------------------------

/// `(ack_atom, stream, id)` to a sink: the event was processed (`XACK`).
/// `(ack_atom, stream, ids)` acks many events of one stream at once (one
/// message for a whole batch: the cheaper form under load).
using ack_atom = caf::atom_constant<caf::atom("ack")>;

/// `(nack_atom, stream, id, error)` to a sink: processing failed; the event
/// is redelivered after the ack grace period and the error is kept for the
/// dead-letter entry.
using nack_atom = caf::atom_constant<caf::atom("nack")>;

/// `(add_stream_atom, stream, start) -> bool`: reads one more stream
/// (`start` empty: the reader's or sink's own start position).
using add_stream_atom = caf::atom_constant<caf::atom("addstream")>;

/// `(rm_stream_atom, stream) -> bool`: stops reading a stream.
using rm_stream_atom = caf::atom_constant<caf::atom("rmstream")>;

// -- options ------------------------------------------------------------------

/// What readers and sinks share: how they read and filter.
struct stream_read_options {
  /// `XREAD`/`XREADGROUP ... BLOCK` duration.
  caf::timespan block = streaming_defaults{}.block_duration;
  /// `COUNT` of each read.
  uint64_t max_polled = streaming_defaults{}.max_polled;
  /// Start position: `"$"` (newest), `"0"` (oldest) or an entry ID
  /// (exclusive). Readers: where reading starts. Sinks: where the consumer
  /// group starts when the sink creates it (ignored if the group exists).
  std::string start = "$";
  /// Only events with exactly this topic (empty: no filter).
  std::string topic;
  /// Only events whose topic matches this ECMAScript regex anywhere
  /// (unanchored search); ignored when `topic` is set.
  std::string topic_pattern;
  /// Maximum events per batch sent to subscribers.
  uint64_t buffer_size = streaming_defaults{}.buffer_size;
  /// A subscriber that has not answered a batch for this long is named in
  /// a warning (again every period): it holds back every subscriber.
  caf::timespan slow_subscriber = streaming_defaults{}.slow_subscriber;

  /// Returns the start position for "events after `unix_ms`": `<ms>-0`
  /// (exclusive, as in Go Pulse).
  static std::string start_at(int64_t unix_ms) {
    return std::to_string(unix_ms) + "-0";
  }
};

/// Options of a stream handle.
struct stream_options {
  /// Maximum length adds trim the stream to, as `trim` says; 0 means
  /// unbounded (no trimming in either mode).
  uint64_t max_len = streaming_defaults{}.stream_max_len;
  /// How adds trim: `trim_mode::approximate` (`XADD ... MAXLEN ~ n`, Go
  /// Pulse's; may drop entries sinks have not read) or `trim_mode::safe`
  /// (one script per add that never trims entries a consumer group has not
  /// read and acked; see `stream::add`).
  trim_mode trim = streaming_defaults{}.trim;
  /// TTL of the stream key; zero means none.
  caf::timespan ttl{0};
  /// If true, every add refreshes the TTL (sliding); otherwise it is set
  /// once (absolute, `PEXPIRE ... NX`).
  bool sliding_ttl = false;

  /// Returns options with the `[pulse.streaming]` defaults.
  static stream_options from(const streaming_defaults& d) {
    stream_options r;
    r.max_len = d.stream_max_len;
    r.trim = d.trim;
    return r;
  }
};

/// Options of a stream reader (defaults as in Go Pulse; `[pulse.streaming]`
/// in `caf-application.conf` can change them through `from`).
struct reader_options : stream_read_options {
  /// Returns options with the `[pulse.streaming]` defaults.
  static reader_options from(const streaming_defaults& d) {
    reader_options r;
    r.block = d.block_duration;
    r.max_polled = d.max_polled;
    r.buffer_size = d.buffer_size;
    r.slow_subscriber = d.slow_subscriber;
    return r;
  }
};

/// Options of a sink (defaults as in Go Pulse unless noted). Filtered-out
/// events are acked at once.
struct sink_options : stream_read_options {
  /// `XREADGROUP ... NOACK`: events are never pending (at-most-once).
  bool no_ack = false;
  /// Runs the sink actor on a thread of its own (CAF `detached`) instead of
  /// the scheduler's threads: one thread more per sink, for a program whose
  /// scheduler threads are kept busy by other actors. The sink never blocks
  /// either way (its reads are requests to its own blocking connection).
  bool detached = streaming_defaults{}.detached_sinks;
  /// Unacked events idle this long are reclaimed by a live instance; the
  /// keep-alive runs every grace/2 and consumers silent for 2 x grace are
  /// stale. Every instance of one sink name must use the same value.
  caf::timespan ack_grace = streaming_defaults{}.ack_grace_period;
  /// An event delivered this many times without an ack is copied to the
  /// dead-letter stream and acked (0 disables dead-lettering).
  uint64_t max_deliveries = streaming_defaults{}.max_deliveries;
  /// Dead-letter stream name; empty means `<stream>:dead-letter`.
  std::string dead_letter_stream;
  /// How often one instance (holding the lease) reclaims idle events and
  /// removes stale consumers (Go Pulse: 500 ms).
  caf::timespan idle_check = streaming_defaults{}.idle_check;

  /// Returns options with the `[pulse.streaming]` defaults.
  static sink_options from(const streaming_defaults& d) {
    sink_options r;
    r.block = d.block_duration;
    r.max_polled = d.max_polled;
    r.buffer_size = d.buffer_size;
    r.ack_grace = d.ack_grace_period;
    r.max_deliveries = d.max_deliveries;
    r.idle_check = d.idle_check;
    r.slow_subscriber = d.slow_subscriber;
    r.detached = d.detached_sinks;
    return r;
  }
};

// -- message types ------------------------------------------------------------

/// One stream entry as delivered to subscribers.
struct event {
  /// Entry ID, `<ms>-<seq>`.
  std::string id;
  /// Stream name (the key without `pulse:stream:`).
  std::string stream;
  /// Sink name; empty when read by a reader.
  std::string sink;
  /// Event name (field `n`).
  std::string name;
  /// Topic (field `t`), empty if absent.
  std::string topic;
  /// Payload (field `p`), binary-safe.
  std::string payload;
  /// How many times a sink delivered this event (1 on first delivery).
  uint64_t deliveries = 1;

  /// Creation time: the millisecond part of the ID (Unix ms, UTC).
  int64_t created_at_ms() const;
};

/// Makes `event` serializable for CAF messages.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, event& x) {
  return f(caf::meta::type_name("event"), x.id, x.stream, x.sink, x.name,
           x.topic, x.payload, x.deliveries);
}

/// Events sent to a subscriber as one request; the subscriber replies
/// `true` to get more (`false` unsubscribes it). The reader or sink sends
/// the next batch only after every subscriber replied: back-pressure with
/// bounded memory.
struct event_batch {
  /// The events of the batch.
  std::vector<event> events;
};

/// Makes `event_batch` serializable for CAF messages.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, event_batch& x) {
  return f(caf::meta::type_name("event_batch"), x.events);
}

/// One stream of a sink as Redis sees it when the stats are asked for
/// (`XINFO GROUPS`, `XLEN`): the sink's consumer group on that stream.
struct sink_stream_stats {
  /// The stream's name.
  std::string stream;
  /// Entries delivered to the group and not acked (`pending`).
  uint64_t pending = 0;
  /// Entries not delivered to the group yet (`lag`, Redis 7); -1 unknown.
  int64_t lag = -1;
  /// Entries the group has read (`entries-read`, Redis 7, every consumer
  /// of every process); -1 unknown.
  int64_t entries_read = -1;
  /// The stream's length (`XLEN`); -1 unknown.
  int64_t length = -1;
  /// Entries waiting in the stream's dead-letter stream (`XLEN`); -1
  /// unknown.
  int64_t dead_letters = -1;
  /// Events of this stream the sink instance handed to its subscribers.
  uint64_t delivered = 0;
  /// Events of this stream the sink instance acknowledged (`XACK`).
  uint64_t acked = 0;
  /// Failures reported for events of this stream (`nack`).
  uint64_t nacked = 0;
  /// Events of this stream the sink instance's janitor claimed once they
  /// were idle for the ack grace period (from another consumer, a stale
  /// one, or its own after a nack) and redelivered.
  uint64_t reclaimed = 0;
  /// Events of this stream the sink instance copied to the dead-letter
  /// stream (and acked): too many deliveries, or malformed.
  uint64_t dead_lettered = 0;
};

/// Makes `sink_stream_stats` serializable for CAF messages.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, sink_stream_stats& x) {
  return f(caf::meta::type_name("sink_stream_stats"), x.stream, x.pending,
           x.lag, x.entries_read, x.length, x.dead_letters, x.delivered,
           x.acked, x.nacked, x.reclaimed, x.dead_lettered);
}

/// Counters of a reader or sink.
struct stream_stats {
  /// Read replies received (`XREAD` or `XREADGROUP`).
  uint64_t polls = 0;
  /// Events handed to subscribers.
  uint64_t delivered = 0;
  /// Events the topic filter rejected (a sink acks them).
  uint64_t filtered = 0;
  /// Entries that could not be parsed (skipped, or dead-lettered by a sink).
  uint64_t malformed = 0;
  /// Events acknowledged with `XACK` (sinks only).
  uint64_t acked = 0;
  /// Failures reported with `nack_atom` (sinks only; the event is
  /// redelivered after the ack grace period).
  uint64_t nacked = 0;
  /// Idle or stale pending events claimed and redelivered (sinks only).
  uint64_t reclaimed = 0;
  /// Events copied to the dead-letter stream and acked (sinks only).
  uint64_t dead_lettered = 0;
  /// Stale consumers removed from the group (sinks only).
  uint64_t stale_consumers_removed = 0;
  /// Events trimmed from a stream (`MAXLEN`) before this sink's group read
  /// them: lost to the sink (sinks only; detected at spawn and every
  /// tenth idle check, from Redis 7's `XINFO` counters).
  uint64_t trimmed = 0;
  /// Redis requests that failed.
  uint64_t errors = 0;
  /// Subscribers right now.
  uint64_t subscribers = 0;
  /// Events delivered to this sink's group and not acked yet, summed over
  /// its streams, as Redis reports them when the stats are asked for
  /// (`XINFO GROUPS`; sinks only).
  uint64_t pending = 0;
  /// Events in the streams the group has not been delivered yet (Redis 7's
  /// `lag`), summed over its streams; -1 when Redis cannot tell (after
  /// deletions inside the unread range, or a failed query). Sinks only;
  /// readers report -1.
  int64_t lag = -1;
  /// Per stream of a sink, as Redis reports them when the stats are asked
  /// for (sinks only; empty when the query failed).
  std::vector<sink_stream_stats> per_stream;
};

/// Makes `stream_stats` serializable for CAF messages.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, stream_stats& x) {
  return f(caf::meta::type_name("stream_stats"), x.polls, x.delivered,
           x.filtered, x.malformed, x.acked, x.reclaimed, x.dead_lettered,
           x.stale_consumers_removed, x.trimmed, x.errors, x.subscribers,
           x.pending, x.lag, x.nacked, x.per_stream);
}

/// Which dead letters a redrive or purge takes.
struct dead_letter_selection {
  /// Every entry.
  static dead_letter_selection all() {
    dead_letter_selection r;
    r.every = true;
    return r;
  }
  /// The entries with these dead-letter IDs (missing ones are counted as
  /// such, never an error).
  static dead_letter_selection by_ids(std::vector<std::string> ids) {
    dead_letter_selection r;
    r.ids = std::move(ids);
    return r;
  }
  /// The entries dead-lettered more than `age` ago (by their dead-letter
  /// ID, the Redis server's clock).
  static dead_letter_selection older_than(std::chrono::milliseconds age) {
    dead_letter_selection r;
    r.age = age;
    return r;
  }
  /// The IDs (`by_ids`), else empty.
  std::vector<std::string> ids;
  /// The age (`older_than`), or zero.
  std::chrono::milliseconds age{0};
  /// Whether this is `all()`.
  bool every = false;
};

/// Makes `dead_letter_selection` serializable for CAF messages.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f,
                                        dead_letter_selection& x) {
  return f(caf::meta::type_name("dead_letter_selection"), x.ids, x.age,
           x.every);
}

/// What a redrive did.
struct redrive_result {
  /// Entries added back to their source stream and removed from the
  /// dead-letter stream.
  uint64_t moved = 0;
  /// Selected IDs not in the dead-letter stream (nothing moved for them).
  uint64_t missing = 0;
  /// Entries left in place because they name no valid source stream
  /// (written by another client); each is logged.
  uint64_t skipped = 0;
};

/// Makes `redrive_result` serializable for CAF messages.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, redrive_result& x) {
  return f(caf::meta::type_name("redrive_result"), x.moved, x.missing,
           x.skipped);
}

/// `(dl_redrive_atom, stream, selection, max_len) -> redrive_result` to a
/// sink: moves the selected entries of the dead-letter stream the sink
/// uses for `stream` (all its streams' when `stream` is empty) back into
/// their source streams, like `dead_letters::redrive` but without blocking
/// the caller or the sink (`max_len` 0: no trimming).
using dl_redrive_atom = caf::atom_constant<caf::atom("sk_dlredr")>;

/// `(dl_purge_atom, stream, selection) -> uint64_t` to a sink: deletes the
/// selected entries of the dead-letter stream the sink uses for `stream`
/// (all its streams' when `stream` is empty) and answers how many it
/// deleted, like `dead_letters::purge` but without blocking the caller or
/// the sink.
using dl_purge_atom = caf::atom_constant<caf::atom("sk_dlpurg")>;

// -- actor interfaces ---------------------------------------------------------

/// What a subscriber of a reader or sink implements: answer each batch with
/// `true` (`false` unsubscribes; anything else drops the subscriber with a
/// warning). An untyped actor with such a handler subscribes through
/// `caf::actor_cast<event_subscriber_actor>(hdl)`.
using event_subscriber_actor
  = caf::typed_actor<caf::replies_to<event_batch>::with<bool>>;

/// A stream reader: every reader sees every event of its streams.
/// Exit it (`send_exit`) to close it; closing twice is harmless.
using reader_actor = caf::typed_actor<
  caf::replies_to<sub_atom, event_subscriber_actor>::with<bool>,
  caf::replies_to<unsub_atom, event_subscriber_actor>::with<bool>,
  caf::replies_to<add_stream_atom, std::string, std::string>::with<bool>,
  caf::replies_to<rm_stream_atom, std::string>::with<bool>,
  caf::replies_to<stats_atom>::with<stream_stats>>;

/// A sink: one consumer of a consumer group; each event goes to one
/// consumer of the group. Exit it to close it (the consumer and its pending
/// events stay in Redis for another instance to claim).
using sink_actor = reader_actor::extend<
  caf::reacts_to<ack_atom, std::string, std::string>,
  caf::reacts_to<ack_atom, std::string, std::vector<std::string>>,
  caf::reacts_to<nack_atom, std::string, std::string, std::string>,
  caf::replies_to<dl_redrive_atom, std::string, dead_letter_selection,
                  uint64_t>::with<redrive_result>,
  caf::replies_to<dl_purge_atom, std::string,
                  dead_letter_selection>::with<uint64_t>>;


// -- internal atoms (between a package's own actors) -------------------------

/// `(fanout_check_atom)`: a reader's or sink's watchdog tick for
/// subscribers that have not answered their event batch.
using fanout_check_atom = caf::atom_constant<caf::atom("fo_check")>;

/// `(drained_atom)`: a `subscription` consumer drained its batch.
using drained_atom = caf::atom_constant<caf::atom("drained")>;

/// `(sk_poll_atom)`: a sink reads again.
using sk_poll_atom = caf::atom_constant<caf::atom("sk_poll")>;

/// `(sk_flush_atom)`: a sink sends its batched acks.
using sk_flush_atom = caf::atom_constant<caf::atom("sk_flush")>;

/// `(sk_alive_atom)`: a sink refreshes its keep-alive.
using sk_alive_atom = caf::atom_constant<caf::atom("sk_alive")>;

/// `(rd_poll_atom)`: a reader reads again.
using rd_poll_atom = caf::atom_constant<caf::atom("rd_poll")>;

/// `(sk_reclaim_atom, events) -> bool`: the janitor hands reclaimed events to
/// its sink, which answers once they were delivered.
using sk_reclaim_atom = caf::atom_constant<caf::atom("sk_reclaim")>;

/// `(jn_stop_atom)`: stops a sink's janitor.
using jn_stop_atom = caf::atom_constant<caf::atom("jn_stop")>;

/// `(jn_streams_atom, streams)`: the sink's streams changed.
using jn_streams_atom = caf::atom_constant<caf::atom("jn_streams")>;

/// `(jn_tick_atom)`: a sink's janitor is due for its next check.
using jn_tick_atom = caf::atom_constant<caf::atom("jn_tick")>;

/// `(jn_check_atom, job, streams) -> bool`: the janitor host runs one check
/// of a sink's janitor and answers when it is done.
using jn_check_atom = caf::atom_constant<caf::atom("jn_check")>;

/// One sink instance's janitor work and the state it keeps between checks
/// (defined in `actors/streaming/janitor.hpp`; only the janitor host
/// touches it).
struct janitor_job;

/// A shared janitor job (local messages only).
using janitor_job_ptr = std::shared_ptr<janitor_job>;

// -- internal actor interfaces ------------------------------------------------

/// A sink's janitor (`actors/streaming/janitor.hpp`): a scheduled actor
/// that asks the process's janitor host for a check every `idle_check`.
using janitor_actor
  = caf::typed_actor<caf::reacts_to<jn_stop_atom>,
                     caf::reacts_to<jn_streams_atom, std::vector<std::string>>,
                     caf::reacts_to<jn_tick_atom>>;

/// The process's janitor host (`actors/streaming/janitor.hpp`): one thread
/// that runs every sink's janitor checks, one at a time (they make blocking
/// Redis round trips).
using janitor_host_actor = caf::typed_actor<
  caf::replies_to<jn_check_atom, janitor_job_ptr,
                  std::vector<std::string>>::with<bool>,
  caf::reacts_to<jn_stop_atom>>;

} // namespace pulse

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(pulse::stream_options)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(pulse::janitor_job_ptr)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(pulse::reader_options)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(pulse::sink_options)
