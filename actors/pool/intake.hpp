#pragma once

#include <caf/fwd.hpp>

#include "pulse/actors/pool/core.hpp"
#include "pulse/messages/pool.hpp"

namespace pulse {

class services;

/// Spawns a node's intake (an event-based actor that never blocks): one
/// blocking gateway (its own connection) that waits for the queues of all
/// the node's workers at once, so a node holds one `BLMPOP` connection
/// whatever its worker count.
///
/// - `(pi_want_atom, queue key, worker)`: the worker wants its next batch.
///   The intake keeps the set of wanting queues and runs one
///   `BLMPOP <block> <n> <wake key> <queue keys...> LEFT COUNT <max_batch>`
///   at a time over it (`job_sink_block_duration`, `max_batch`); the key
///   order rotates by one queue per call so a busy queue cannot starve the
///   others. A reply `[key, entries]` goes to the worker owning `key` as
///   `(pw_batch_atom, entries)` (the worker then wants again); the other
///   queues of that call stay wanted and the next call is sent at once.
/// - A queue wanted while a `BLMPOP` blocks wakes it: the
///   intake pushes a token to its wake key `<prefix>intake:<node>`
///   (`LPUSH` + `PEXPIRE` 60 s on the shared gateway, at most once per
///   call), which is first in every call, so the call returns at once and
///   the next one covers the new set. A start therefore never waits for a
///   block duration to run out.
/// - `(pi_drop_atom, queue key)`: a closing worker leaves the set without a
///   wake-up (a call in flight may still pop its queue until its block
///   duration ends; those entries are ignored: its jobs stay owned in
///   Redis, and the closing worker hands them over). The node deletes its
///   wake key when it leaves the pool.
/// - A failed call (`pulse.disconnected`, `pulse.timeout`, ...) may have
///   popped entries that are now lost: every worker whose queue it covered
///   gets `(pw_lost_atom, error)` and resyncs its queue (`resync` script)
///   before it wants again; the intake retries the rest with back-off.
///
/// Exiting the intake exits its gateway (which ends a blocked `BLMPOP`).
pool_intake_actor spawn_pool_intake(services& rt, pool_core_ptr core);

} // namespace pulse
