#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <caf/actor.hpp>

#include "pulse/actors/pool/core.hpp"
#include "pulse/messages/pool.hpp"

namespace pulse {

class services;

/// A node's intake: one blocking gateway (its own connection) that waits
/// for the queues of all the node's workers at once, so a node holds one
/// `BLMPOP` connection whatever its worker count. Thread-safe: workers call
/// it from their own threads, replies are handled on the gateway's reader
/// thread (its direct entry), with no actor in between.
///
/// - `want(queue key)`: the worker wants its next batch. The intake keeps
///   the set of wanting queues and runs one
///   `BLMPOP <block> <n> <wake key> <queue keys...> LEFT COUNT <max_batch>`
///   at a time over it (`job_sink_block_duration`, `max_batch`); the key
///   order rotates by one queue per call so a busy queue cannot starve the
///   others; after a call that returned entries, the next one drains the
///   other wanting queues (`intake_drain` script, `LPOP ... COUNT`) without
///   blocking. A reply `[key, entries]` goes to the worker owning `key`:
///   to its `sink` right on the reader thread if the sink takes it (see
///   `enroll`), else as `(pw_batch_atom, entries)` to its actor.
/// - A queue wanted while a `BLMPOP` blocks wakes it: the intake pushes a
///   token to its wake key `<prefix>intake:<node>` (`LPUSH` + `PEXPIRE`
///   60 s on the shared gateway, at most once per call), which is first in
///   every call, so the call returns and the next one covers the new set.
///   The wake-up is paced: it goes out once the call is 2 µs per key it
///   covers old (at once for a few queues, 20 ms for 10,000), since each
///   re-arm costs Redis O(keys); the wants meanwhile share the next call. A
///   start therefore never waits for a block duration to run out.
/// - `drop(queue key)`: a closing worker leaves without a wake-up (a call
///   in flight may still pop its queue until its block duration ends; those
///   entries are ignored: its jobs stay owned in Redis, and the closing
///   worker hands them over). The node deletes its wake key when it leaves
///   the pool.
/// - A failed call (`pulse.disconnected`, `pulse.timeout`, ...) may have
///   popped entries that are now lost: every worker whose queue it covered
///   gets `(pw_lost_atom, error)` and resyncs its queue (`resync` script)
///   before it wants again; the intake retries the rest with back-off.
///   While the gateway is not connected, calls go through the intake's actor
///   (the gateway queues them until it is).
class pool_intake {
public:
  /// Takes a batch on the intake's reader thread; returns false to have it
  /// sent to the worker's actor instead. Must not block for long: the
  /// node's other queues wait meanwhile.
  using sink = std::function<bool(std::vector<resp::value>&)>;

  virtual ~pool_intake() = default;

  /// Registers the queue `key` of `worker` (before its first `want`).
  virtual void enroll(const std::string& key, pool_intake_client_actor worker,
                      sink fn)
    = 0;

  /// The worker of queue `key` wants its next batch (answered once).
  virtual void want(const std::string& key) = 0;

  /// Forgets queue `key` (its worker closes).
  virtual void drop(const std::string& key) = 0;

  /// The intake's actor: exiting it closes the intake and its gateway
  /// (which ends a blocked `BLMPOP`).
  virtual caf::actor actor() const = 0;
};

/// Shared handle on a node's intake.
using pool_intake_ptr = std::shared_ptr<pool_intake>;

/// Spawns a node's intake (see `pool_intake`).
pool_intake_ptr spawn_pool_intake(services& rt, pool_core_ptr core);

} // namespace pulse
