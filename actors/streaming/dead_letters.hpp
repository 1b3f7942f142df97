#pragma once

/// Reading, redriving and purging a sink's dead-letter stream.
///
/// A sink copies an event it gave up on (delivered `max_deliveries` times,
/// or malformed) to its dead-letter stream, by default `<stream>:dead-letter`
/// (key `pulse:stream:<stream>:dead-letter`), with the fields `n`, `p`, `t`
/// of the event and `id` (its ID in the source stream), `stream`, `sink`,
/// `deliveries` and `error`. These functions let an operator see those
/// entries, move them back into their source stream (a new entry with the
/// same `n`, `p`, `t`, which every sink of that stream receives again) or
/// delete them. `dead_letter_selection` and `redrive_result` are message
/// types (messages/streaming.hpp): a sink redrives by message too
/// (`dl_redrive_atom`).

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "pulse/messages/options.hpp"
#include "pulse/messages/redis.hpp"
#include "pulse/messages/resp.hpp"
#include "pulse/messages/script.hpp"
#include "pulse/messages/streaming.hpp"

namespace pulse {

class client;

/// One entry of a dead-letter stream.
struct dead_letter {
  /// Its ID in the dead-letter stream (`<ms>-<seq>`: when it was
  /// dead-lettered).
  std::string id;
  /// The event's ID in its source stream (`id` field).
  std::string original_id;
  /// The source stream's name (`stream` field).
  std::string stream;
  /// The sink that gave up on it (`sink` field).
  std::string sink;
  /// Deliveries before it was dead-lettered (`deliveries` field; 0 if
  /// missing or not a number).
  uint64_t deliveries = 0;
  /// Why (`error` field).
  std::string error;
  /// The event's name (`n`).
  std::string name;
  /// The event's payload (`p`).
  std::string payload;
  /// The event's topic (`t`), empty if it had none.
  std::string topic;
};

namespace dead_letters {

/// The key of dead-letter stream `name`: `pulse:stream:<name>`. A sink's
/// default is `<stream>:dead-letter`.
std::string key(const std::string& name);

/// Parses one `XRANGE` entry of a dead-letter stream. Entries written by
/// other clients may lack fields: those come back empty (or 0).
dead_letter parse(const resp::value& entry);

/// Reads up to `count` entries of dead-letter stream `name` starting at
/// dead-letter ID `from` (inclusive; `-` for the first). One `XRANGE`.
/// Errors: `errc::invalid_argument` (bad name, `count` 0), Redis errors
/// (`WRONGTYPE` if the key is not a stream), gateway errors.
caf::expected<std::vector<dead_letter>>
list(client& c, const std::string& name, size_t count = 100,
     const std::string& from = "-");

/// How a redrive moves entries.
enum class redrive_mode : uint8_t {
  /// One `redrive_script` run per batch of 500 entries: each entry's `XADD`
  /// to its source stream and `XDEL` from the dead-letter stream happen in
  /// one script run, atomically. The script builds the source stream keys
  /// in Lua, so it needs every key on one node: a single Redis (or a
  /// Sentinel master).
  script,
  /// Redis Cluster, where source and dead-letter streams may live on
  /// different masters: per batch of 500 entries, `XRANGE` of the
  /// selected entries (one `XRANGE id id COUNT 1` per ID, or one range),
  /// then every entry's `XADD` to its source stream (one batch, split by
  /// master), then one `XDEL` of the entries whose `XADD` succeeded. The
  /// `XADD` comes first, so a failure or crash between the two leaves the
  /// entry in both streams (a redrive again adds it a second time: at
  /// least once, never lost). An age cutoff is read once per redrive
  /// (`TIME` on the dead-letter stream's master).
  per_entry,
};

/// Returns the redrive mode for `opts`: `per_entry` in cluster mode
/// (`redis_options::cluster`), else `script`.
redrive_mode redrive_mode_for(const redis_options& opts);

/// Moves the selected entries of dead-letter stream `name` back into their
/// source streams: each becomes a new entry (`XADD pulse:stream:<stream>
/// [MAXLEN ~ max_len] * n .. p .. [t ..]`, Go Pulse's fields) and leaves
/// the dead-letter stream (`XDEL`). With `redrive_mode::script` both
/// happen in one script run, so a redrive that failed with `disconnected`
/// can be retried without duplicates; with `redrive_mode::per_entry`
/// (Redis Cluster) the `XADD` comes first and a retry after a failure
/// between the two may add an entry twice (see `redrive_mode`). Works in
/// batches of 500. `max_len` 0 means no trimming. Errors:
/// `errc::invalid_argument` (bad name, empty ID list), Redis errors,
/// gateway errors; on an error after some batches the entries moved so
/// far stay moved.
caf::expected<redrive_result> redrive(client& c, const std::string& name,
                                      const dead_letter_selection& which,
                                      uint64_t max_len = 1000,
                                      redrive_mode mode = redrive_mode::script);

/// One request of a redrive (`redrive_steps::next`).
struct redrive_request {
  /// `redrive_mode::script`: the arguments of a `redrive_script()` run
  /// with the keys `{redrive_steps::key()}`.
  std::vector<std::string> args;
  /// `redrive_mode::per_entry`: commands to send in one batch request
  /// (empty in script mode).
  std::vector<command> cmds;

  /// Whether this request is a batch (else a script run).
  bool is_batch() const { return !cmds.empty(); }
};

/// The steps of one redrive apart from how its requests run: `redrive`
/// runs them through a blocking client, a sink's `dl_redrive_atom` handler
/// through its gateway without blocking. Use: `check()`, then while
/// `next()` gives a request, run it (a script run with `{key()}` and its
/// `args`, or a batch of its `cmds`) and pass the reply to `add`;
/// `result()` holds the sums.
class redrive_steps {
public:
  /// A redrive of `which` in dead-letter stream `name`, re-adding with
  /// `MAXLEN ~ max_len` (0: no trimming), in `mode`.
  redrive_steps(std::string name, dead_letter_selection which,
                uint64_t max_len, redrive_mode mode = redrive_mode::script);

  /// Returns `errc::invalid_argument` for a bad name or an empty
  /// selection, else none.
  caf::error check() const;

  /// The dead-letter stream's key (the script's only key).
  std::string key() const;

  /// Returns the next request (batches of 500 entries), or nothing once
  /// the redrive is done.
  std::optional<redrive_request> next();

  /// Adds the reply of the last script run to the sums (logs each entry
  /// left in place). Errors: `errc::protocol_error` for a reply of the
  /// wrong shape.
  caf::error add(const resp::value& reply);

  /// Adds the replies of the last batch (`redrive_mode::per_entry`).
  /// Errors: `errc::redis_error` when the dead-letter stream holds another
  /// type or its `XDEL` fails, `errc::protocol_error` for replies of the
  /// wrong shape.
  caf::error add(const std::vector<resp::value>& replies);

  /// What moved, was missing and was skipped so far.
  const redrive_result& result() const { return total_; }

private:
  /// What the next per-entry batch does.
  enum class phase : uint8_t { time, select, add, del };

  /// Leaves a per-entry batch: on to the next one, or done.
  void after_batch();

  /// Logs and counts an entry left in place.
  void skip(const std::string& id, const std::string& reason);

  std::string name_;
  dead_letter_selection which_;
  uint64_t max_len_;
  redrive_mode mode_;
  redrive_result total_;
  size_t next_id_ = 0;
  std::string from_ = "-";
  bool done_ = false;
  // Per-entry mode only.
  phase phase_ = phase::select;
  int64_t cutoff_ms_ = -1;
  bool more_ = false;
  std::vector<dead_letter> selected_;
  std::vector<std::string> added_;
};

/// Deletes the selected entries of dead-letter stream `name` and returns
/// how many it deleted: one `purge_script` run (`XDEL` by ID, `XTRIM
/// MINID` for older than, `DEL` for all), so a purge is atomic. Errors as
/// for `redrive`.
caf::expected<uint64_t> purge(client& c, const std::string& name,
                              const dead_letter_selection& which);

/// The arguments of a `purge_script` run for `which`. Errors:
/// `errc::invalid_argument` for an empty selection.
caf::expected<std::vector<std::string>>
purge_args(const dead_letter_selection& which);

/// The Lua script behind `purge`: KEYS[1] the dead-letter stream; ARGV
/// mode `all`, `ids` then the IDs (an ID that is not there or not valid
/// deletes nothing), or `age` then the age in ms (Redis `TIME` tells the
/// cutoff). Returns how many entries it deleted; `WRONGTYPE` when the key
/// holds something else.
const script& purge_script();

/// The Lua script behind `redrive` (`redrive_mode::script`): KEYS[1] the dead-letter stream; ARGV
/// MAXLEN (0: none), batch size, mode, then for mode `ids` the IDs, for
/// mode `range` the first ID to look at and the age in ms (-1: any age;
/// Redis `TIME` tells the cutoff). An entry naming no valid stream, or
/// whose stream key holds another type, stays in place. Returns {moved,
/// missing, more (1 when the batch was full), last ID looked at, then
/// skipped ID and reason pairs}.
const script& redrive_script();

} // namespace dead_letters

} // namespace pulse
