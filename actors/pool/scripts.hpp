#pragma once

/// Lua scripts of worker pools (our own protocol; see docs/protocol.md).
/// Each one is a single atomic step of a job's life, so ownership changes
/// (dispatch_many, confirm, move, stop) are fenced by the job's epoch and by the
/// pool's membership revision `mrev`.
///
/// Calling convention: `KEYS = script_keys(P)` (every key of a pool
/// shares the hash tag `{P}`), `ARGV` as listed. Replies are arrays whose
/// first element is a status string: `ok`, `stale` (the caller's
/// membership revision is old: refresh and retry), `exists`, `overloaded`,
/// `shutdown`, `missing`, `unowned`, `lost`, `busy`.

#include <string>
#include <vector>

#include "pulse/messages/script.hpp"

namespace pulse::pool_scripts {

/// `pulse:pool:{P}:`, the prefix of every key of pool `P`.
std::string pool_prefix(const std::string& pool);

/// The keys every pool script declares, given the pool's `prefix`
/// (`pool_prefix(P)`): the prefix, from which the script builds the names
/// of the keys it touches, and `pulse:pool:{P}:pin`. Neither key ever exists. In Redis Cluster this
/// keeps a script off the pool's slot while it migrates: the source node
/// answers `ASK` for a script whose keys it lacks, and the importing node
/// `TRYAGAIN` for one of several keys that it lacks, so the script runs
/// nowhere until the slot has moved (the router retries `TRYAGAIN`), never
/// on the importing node against half of the pool's keys.
std::vector<std::string> script_keys(const std::string& prefix);

/// The pub/sub channel of membership and shutdown notices (`m`, `s`).
std::string control_channel(const std::string& pool);

/// The pub/sub channel carrying dispatch results to node `N`.
std::string node_channel(const std::string& pool, const std::string& node);

/// `pulse:pool:{<pool>}:intake:<node>`: a token pushed here ends the
/// `BLMPOP` of node `node`'s intake early (see `spawn_pool_intake`).
std::string intake_wake_key(const std::string& pool, const std::string& node);

/// (node, ttl_ms[, info]) -> [ok] | [shutdown]. Registers a node's lease
/// and its `info` entry `n:<node>` (`name|host|pid|version`).
const script& join_node();
/// (node, worker, created_ns, ttl_ms[, name]) -> [ok, mrev] | [shutdown].
/// Adds a worker (bumps `mrev`, publishes `m`) and its `info` entry
/// `w:<worker>` (its name); re-adding a worker re-queues the jobs it still
/// owns under new epochs. The `info` entries leave with the lease.
const script& add_worker();
/// (worker...) -> [ok, mrev]. Removes workers from membership and deletes
/// their queues. A worker that still owns jobs keeps its lease (renewed by
/// `keepalive`) while it stops them and hands them over; cleaners take its
/// jobs only once that lease is gone, so they never run twice.
const script& remove_workers();
/// () -> [mrev, id1, value1, ...]: the membership (`created_ns|node`).
const script& members();
/// (node, mrev, max_queued, key1, payload1, dispatch_id1, target1, opts1,
/// ...) -> [ok, status1, ...] | [stale] | [shutdown]. Per job: `exists` if
/// it is pending, running or waiting for a retry, `overloaded` once
/// `max_queued` jobs wait (nothing is written for it), otherwise `ok`: a
/// new epoch, its record, payload and a start entry on the target worker's
/// queue (one `RPUSH` per worker):
/// `S<epoch>[/<attempt>/<timeout_ms>] <klen> <nlen> <dlen> <key><node><dispatch_id><payload>`.
/// `opts` (per-dispatch options, `max_attempts|timeout_ms`, either may be
/// empty for the pool's) is kept in `tries:<key>`'s field, or `""`.
/// `dispatch_id` is `<id>` for a dispatch that waits for the start, or
/// `<id>.<keep_ms>` for one that also waits for the outcome: the records
/// on the node's channel carry `<id>`, and when the completion record's
/// `PUBLISH` reaches no client the outcome is also kept as
/// `out:<node>:<id>` (`<1|0><text>`) for `keep_ms` (`confirm`,
/// `complete`; read back by the node after it re-subscribed).
const script& dispatch_many();
/// (worker, retention_ms, policy, key1, epoch1, outcome1, dispatch_id1,
/// node1, error1, ...) -> [fenced key, epoch, ...]. Run by a worker after
/// its handler's starts returned (outcome `ok`, `fail`, `done` or
/// `requeue`): a started job still owned by the worker at that epoch
/// becomes running; a failed one is retried after its backoff, moved to
/// the dead set after its last attempt, or (retries off) dropped, as the
/// retry `policy` (`max_attempts|base_ms|cap_ms|jitter_pct|random`, see
/// `retry_policy`) and the job's own options say; a `done` one (a task handler finished it in its
/// start; `error` holds the result) is dropped as completed. Results are
/// published to each dispatcher's node channel (one message per node,
/// records `<dispatch_id>\x1f<error>\x1e`, and for `done` also the
/// completion record `c<dispatch_id>\x1f1<len>\x1f<result>\x1e`); the
/// outcome of a finally failed or done job is kept in `result:<key>` (`0`
/// or `1` then the text) for `retention_ms`; a retried one's dispatcher
/// gets a success (the job was accepted) and no completion yet. Started jobs the worker no longer
/// owns are returned (fenced): it stops them. That is a job moved to
/// another worker, or any changed job of a worker that is no member (lost);
/// a member's job completed, stopped or dispatched to it again meanwhile is
/// not returned, as the entry in its queue that says so follows.
const script& confirm();
/// (n1, <n1 arguments of `confirm`>, n2, ...) -> [reply of `confirm` per
/// group]: `confirm` for the starts of several workers in one call (a
/// node's `pool_confirmer`); each group is settled and fenced as by
/// `confirm` alone, with one `HMGET` of every group's records, one write
/// per hash and one `PUBLISH` per node for all of them (groups sharing a
/// key run one after the other).
const script& confirm_many();
/// (worker, running key1, epoch1, ...) -> [ok, requeued, stale key, epoch,
/// ...] | [lost]. Rebuilds a worker's queue after its poll connection
/// failed (a `BLMPOP` reply may have been lost with it): deletes the queue
/// (`LLEN`, `LRANGE` in chunks of 256, `DEL`; notifications in it are
/// queued again) and queues a start, under a new epoch, for every job it
/// owns that has not started; lists the running jobs it no longer owns
/// (their stop entry was lost), which it stops, except those whose
/// completion entry was still queued or whose `done:<key>` marker names
/// that epoch (see `complete`; the marker is then deleted): those are
/// listed with epoch `C<epoch>`, and the worker forgets them without a
/// stop.
const script& resync();
/// KEYS: queue keys; ARGV: count -> [key1, entries1, key2, entries2, ...]
/// for the non-empty queues. Pops up to `count` entries from the head of
/// each queue (`LPOP key count`, O(keys + entries)), without the prologue
/// and without blocking: a node's intake drains every wanting queue at once
/// after a `BLMPOP` returned entries, so a busy node pays one round trip
/// for many queues.
const script& intake_drain();
/// (from, mrev, policy, key1, epoch1|*, target1, ...) -> [ok, moved] |
/// [stale]. Re-assigns jobs owned by `from` under new epochs (the single
/// requeue path: rebalance, close, failover, unrouted jobs). When `from`
/// died (not a member, lease gone), each job it was running failed an
/// attempt: with retries on (see `confirm`) it is retried after its
/// backoff or goes to the dead set instead of moving at once.
const script& move();
/// (key) -> [ok] | [missing]. Deletes a job and queues its owner's stop;
/// a job waiting for a retry is cancelled.
const script& stop();
/// (key, payload) -> [ok] | [missing] | [unowned]. Queues a notification.
const script& notify();
/// (node, ttl_ms, worker...) -> [ok, mrev, lost worker...] | [shutdown].
/// Renews the node's lease and those of its members and leaving workers.
const script& keepalive();
/// (node, lease_ms) -> [ok, mrev, orphan...] | [busy]. Removes expired
/// workers and nodes (on Redis time) and lists owners whose jobs need a
/// new worker (`""` stands for jobs dispatched while no worker existed).
const script& reap();
/// (node) -> [ok]. Sets the shutdown flag and publishes `s`.
const script& begin_shutdown();
/// (node) -> [count]: nodes other than `node` whose lease is still valid.
const script& live_nodes();
/// () -> [ok]. Deletes every key of the pool.
const script& purge();
/// (key, payload, at_ms, in_ms) -> [ok, due_ms, now_ms] | [exists] |
/// [shutdown]. Stores a delayed job in `delayed` (sorted set, score: due
/// Unix ms on Redis time; `at_ms`, or now + `in_ms` when `at_ms` < 0) and
/// `delayed_payloads`; `exists` if the key already has a delayed job. A new
/// earliest job publishes `d<due_ms>` on the control channel.
const script& schedule_job();
/// (worker, key, epoch, ok 1|0, result, retention_ms, policy, mark_ms)
/// -> [ok, done|retry|dead|failed] | [stale]. A running (or pending) job
/// owned by `worker` at `epoch` finished: its record and payload are
/// deleted; a failure is retried or buried as in `confirm`; a final outcome
/// is kept in `result:<key>` for `retention_ms` and its completion record
/// goes to its dispatcher's node channel (kept as `out:<node>:<id>` when it
/// reaches no client, see `dispatch_many`); `C<epoch> <key>` goes to the
/// worker's queue (it forgets the job without calling stop). With
/// `mark_ms` > 0 (the worker is on another node) `done:<key>` = epoch is
/// also set for `mark_ms` (`SET ... PX`), which `resync` reads when that
/// entry was popped by a failed poll. `stale`: the job was stopped, moved
/// or finished meanwhile.
const script& complete();
/// (key) -> [ok] | [missing]. Deletes the key's delayed job (also a
/// pending retry).
const script& cancel_delayed();
/// (limit) -> [now_us, next_ms | -1, key...]: Redis time (Unix µs), the
/// earliest due time of any delayed job (Unix ms), and up to `limit` keys
/// that are due.
const script& due_jobs();
/// (node, mrev, max_queued, retry_ms, key1, target1, ...) -> [ok, status1,
/// ...] | [stale] | [shutdown]. Turns due delayed jobs into pending jobs
/// in one step (a key is promoted once, whichever nodes race): `ok` (a new
/// epoch, record, payload and start entry on the target's queue, as
/// `dispatch_many` writes them, with no dispatch ID), `gone` (not delayed
/// or not due any more), `exists` (the key is pending or running: retried
/// `retry_ms` later), `overloaded` (left due). A retry (its dispatcher in
/// `delayed_meta`) starts under that dispatcher with its attempt number.
const script& promote();
/// (limit) -> [key1, died_ms1, payload1, state1, ...]: the oldest `limit`
/// jobs of the dead set (`dead` sorted set by time of death, Unix ms;
/// `dead_payloads`; `dead_info`: `attempts|max|timeout_ms|history`, the
/// history as `attempt\x1funix_ms\x1ferror\x1e`, the last 10).
const script& dead_jobs();
/// (key...) or () -> [ok, moved, left]: moves dead jobs (the keys named, or
/// up to 1000 of the oldest when none is) back to the delayed set, due at
/// once with their attempts reset; a key that is pending, running or
/// delayed again is skipped. `left`: dead jobs remaining.
const script& redrive();
/// (key...) or () -> [ok, deleted, left]: deletes dead jobs (the keys
/// named, or up to 1000 of the oldest).
const script& purge_dead();
/// (name, period_ms[, first_ms]) -> [next_ms, now_ms]: joins a ticker with
/// the same period, or (re)creates it with its first tick `first_ms` (by
/// default one period) from now. Entries live in `pulse:pool:{P}:tickers`
/// as `next_ms|period_ms` (Redis time).
const script& ticker_join();
/// (name, expected_next_ms) -> [won, next, now] | [moved, next, now] |
/// [early, next, now] | [stopped]. Compare-and-set of the next tick: the
/// one node that wins delivers the tick; missed ticks are skipped.
const script& ticker_fire();

} // namespace pulse::pool_scripts
