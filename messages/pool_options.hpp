#pragma once

/// Options of a pool node: `pool_options`, with the `[pulse.pool]`
/// defaults of `messages/options.hpp`.

#include <cstdint>
#include <string>

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/timespan.hpp>

#include "pulse/messages/options.hpp"

namespace pulse {

/// Options of a pool node (`add_node`); `[pulse.pool]` in
/// `caf-application.conf` sets the defaults (see `pool_options::from`).
struct pool_options {
  /// A worker or node whose keep-alive is older than this is dead; its jobs
  /// move to other workers. Keep-alives run every `worker_ttl / 3`.
  caf::timespan worker_ttl = pool_defaults{}.worker_ttl;
  /// How long `close` waits for handlers to stop and jobs to be handed
  /// over before giving up (the cleaner of another node then recovers them).
  caf::timespan worker_shutdown_ttl = pool_defaults{}.worker_shutdown_ttl;
  /// While Redis is unreachable, `close` stops trying to hand jobs over
  /// after this long and returns; other nodes' cleaners recover the jobs
  /// once the keep-alives expire (`worker_ttl`). Close returns within
  /// about `command_timeout + close_timeout` when Redis is down.
  caf::timespan close_timeout = pool_defaults{}.close_timeout;
  /// `dispatch` waits up to `2 * ack_grace_period` for the worker's start;
  /// the cleaner runs every `min(worker_ttl / 2, ack_grace_period)`.
  caf::timespan ack_grace_period = pool_defaults{}.ack_grace_period;
  /// Admission control: `dispatch` fails with `errc::overloaded` while this
  /// many jobs are queued (dispatched, not yet started). 0: no limit.
  int64_t max_queued_jobs
    = static_cast<int64_t>(pool_defaults{}.max_queued_jobs);
  /// How long a worker's `BLMPOP` on its queue blocks.
  caf::timespan job_sink_block_duration
    = pool_defaults{}.job_sink_block_duration;
  /// Dispatch only: no workers, no cleaner.
  bool client_only = false;
  /// Delay before a start answered with `errc::requeue` is retried.
  caf::timespan requeue_delay = pool_defaults{}.requeue_delay;
  /// Most queue entries a worker takes per `BLMPOP`.
  size_t max_batch = pool_defaults{}.max_batch;
  /// How long the outcome of a finished job stays readable by key
  /// (`job_result`); 0: not kept.
  caf::timespan result_retention = pool_defaults{}.result_retention;
  /// Human-readable name of the node, shown by `pulse pool` and in logs
  /// beside its ULID; its workers are named `<name>:<i>` (i = 1, 2, ...
  /// in the order the node added them). Empty: `<host>:<pid>:<k>`, the
  /// k-th node of this process. Must not contain `|`.
  std::string name = pool_defaults{}.node_name;
  /// Attempts a job gets before it goes to the pool's dead set: a failed
  /// start, a failed task, `fail_job`, a timeout or a worker that died
  /// while running it each use one, and the next attempt starts after the
  /// backoff. 0 (the default): retries off, as in Go Pulse: a failure is
  /// final and reported, and a job whose worker died moves to another
  /// worker however often that happens. `dispatch_options` overrides it
  /// per job.
  int64_t max_attempts = static_cast<int64_t>(pool_defaults{}.max_attempts);
  /// Backoff before attempt n + 1: `min(retry_cap, retry_base * 2^(n-1))`,
  /// shortened by up to `retry_jitter` percent at random.
  caf::timespan retry_base = pool_defaults{}.retry_base;
  /// Longest backoff between two attempts.
  caf::timespan retry_cap = pool_defaults{}.retry_cap;
  /// Random share (percent, 0..100) taken off each backoff, so that jobs
  /// that failed together do not all retry at once.
  int64_t retry_jitter = static_cast<int64_t>(pool_defaults{}.retry_jitter);
  /// A job still running this long after its start is stopped (the
  /// handler's `stop` is called) and fails an attempt with
  /// `errc::timeout`; a task handler's `run` that returns later than this
  /// fails the same way (its result is dropped). 0: no timeout.
  /// `dispatch_options` overrides it per job.
  caf::timespan job_timeout = pool_defaults{}.job_timeout;
  /// Rate limit: at most this many job starts in any window of
  /// `rate_period`, across every node of the pool (the grants are logged in
  /// Redis). Dispatches, delayed jobs and retries that would exceed it wait
  /// in the delayed set for the first free start slot, in order; jobs moved
  /// by rebalancing or failover are not counted. 0 (the default): no limit.
  /// Every node of a pool should use the same values.
  int64_t rate_limit = static_cast<int64_t>(pool_defaults{}.rate_limit);
  /// The window of `rate_limit`.
  caf::timespan rate_period = pool_defaults{}.rate_period;
  /// Runs each worker of the node on a thread of its own (CAF `detached`)
  /// instead of the scheduler's threads: for handlers whose `start`,
  /// `stop` or `handle_notification` block for long (a blocking call on a
  /// scheduled worker holds one of the few scheduler threads, and with it
  /// every actor waiting for one). The worker itself never blocks either
  /// way (its Redis calls are requests). Workers of task handlers and of
  /// `make_actor_handler` always get a thread (`job_handler::blocks`).
  bool detached_workers = pool_defaults{}.detached_workers;

  /// Options with the `[pulse.pool]` defaults of `caf-application.conf`.
  static pool_options from(const pool_defaults& d) {
    pool_options o;
    o.worker_ttl = d.worker_ttl;
    o.worker_shutdown_ttl = d.worker_shutdown_ttl;
    o.close_timeout = d.close_timeout;
    o.ack_grace_period = d.ack_grace_period;
    o.job_sink_block_duration = d.job_sink_block_duration;
    o.requeue_delay = d.requeue_delay;
    o.max_queued_jobs = static_cast<int64_t>(d.max_queued_jobs);
    o.max_batch = d.max_batch;
    o.result_retention = d.result_retention;
    o.name = d.node_name;
    o.max_attempts = static_cast<int64_t>(d.max_attempts);
    o.retry_base = d.retry_base;
    o.retry_cap = d.retry_cap;
    o.retry_jitter = static_cast<int64_t>(d.retry_jitter);
    o.job_timeout = d.job_timeout;
    o.rate_limit = static_cast<int64_t>(d.rate_limit);
    o.rate_period = d.rate_period;
    o.detached_workers = d.detached_workers;
    return o;
  }

  /// How long `dispatch` waits for the start: `2 * ack_grace_period`.
  caf::timespan dispatch_timeout() const { return 2 * ack_grace_period; }
  /// Period of the node cleaner: `min(worker_ttl / 2, ack_grace_period)`.
  caf::timespan cleanup_period() const {
    return std::min<caf::timespan>(worker_ttl / 2, ack_grace_period);
  }
  /// Period of the node's keep-alive: `worker_ttl / 3`.
  caf::timespan keepalive_period() const { return worker_ttl / 3; }
};

} // namespace pulse

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(pulse::pool_options)
