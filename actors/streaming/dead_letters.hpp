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
/// delete them.

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "pulse/messages/redis.hpp"
#include "pulse/messages/resp.hpp"
#include "pulse/messages/script.hpp"

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

/// Which dead letters a redrive or purge takes.
struct dead_letter_selection {
  /// Every entry.
  static dead_letter_selection all();
  /// The entries with these dead-letter IDs (missing ones are counted as
  /// such, never an error).
  static dead_letter_selection by_ids(std::vector<std::string> ids);
  /// The entries dead-lettered more than `age` ago (by their dead-letter
  /// ID, the Redis server's clock).
  static dead_letter_selection older_than(std::chrono::milliseconds age);

  /// The IDs (`by_ids`), else empty.
  std::vector<std::string> ids;
  /// The age (`older_than`), or zero.
  std::chrono::milliseconds age{0};
  /// Whether this is `all()`.
  bool every = false;
};

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

/// Moves the selected entries of dead-letter stream `name` back into their
/// source streams: each becomes a new entry (`XADD pulse:stream:<stream>
/// [MAXLEN ~ max_len] * n .. p .. [t ..]`, Go Pulse's fields) and leaves
/// the dead-letter stream (`XDEL`) in the same script run, so a redrive
/// that failed with `disconnected` can be retried without duplicates.
/// Works in batches of 500 (one `redrive_script` run each). `max_len` 0
/// means no trimming. Errors: `errc::invalid_argument` (bad name, empty
/// ID list), Redis errors, gateway errors; on an error after some batches
/// the entries moved so far stay moved.
caf::expected<redrive_result> redrive(client& c, const std::string& name,
                                      const dead_letter_selection& which,
                                      uint64_t max_len = 1000);

/// Deletes the selected entries of dead-letter stream `name` and returns
/// how many it deleted: `XDEL` (IDs), `XTRIM MINID` (older than), `DEL`
/// (all). Errors as for `redrive`.
caf::expected<uint64_t> purge(client& c, const std::string& name,
                              const dead_letter_selection& which);

/// The Lua script behind `redrive`: KEYS[1] the dead-letter stream; ARGV
/// MAXLEN (0: none), batch size, mode, then for mode `ids` the IDs, for
/// mode `range` the first ID to look at and the age in ms (-1: any age;
/// Redis `TIME` tells the cutoff). An entry naming no valid stream, or
/// whose stream key holds another type, stays in place. Returns {moved,
/// missing, more (1 when the batch was full), last ID looked at, then
/// skipped ID and reason pairs}.
const script& redrive_script();

} // namespace dead_letters

} // namespace pulse
