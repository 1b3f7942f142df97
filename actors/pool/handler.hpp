#pragma once

/// What a pool worker runs: a plain C++ handler object, or the user's own
/// actor wrapped by `make_actor_handler`.

#include <memory>
#include <string>

#include <caf/actor_system.hpp>
#include <caf/error.hpp>
#include <caf/expected.hpp>
#include <caf/timespan.hpp>

#include "pulse/messages/pool.hpp"

namespace pulse {

/// A job handler. Calls for one worker never overlap (they come from the
/// worker actor's thread or from its node's intake reader thread, one at a
/// time); a handler shared by several workers is called concurrently by
/// them. A handler may dispatch, stop or notify jobs, but
/// must not wait for its own worker's removal or its node's close (that
/// waits for the handler: a deadlock). Workers run on the scheduler's
/// threads unless `blocks()` or `pool_options::detached_workers`: there,
/// each call must return quickly (no waiting on other actors, Redis or
/// blocking `pool_node` calls), or the scheduler's few threads stall.
class job_handler {
public:
  virtual ~job_handler() = default;

  /// Starts `j` and returns once it started (the dispatcher's `dispatch`
  /// returns this result). Return `make_error(errc::requeue)` to have the
  /// start redelivered after the node's `requeue_delay`; any other error
  /// fails the dispatch and forgets the job.
  virtual caf::error start(const job& j) = 0;

  /// Stops the job `key` (stop request, rebalance, close, lost lease).
  /// A job completed with `complete_job` (on any node) is not stopped,
  /// even when its completion entry is lost with a failed read of the
  /// worker's queue (docs/protocol.md, "A start popped but never read").
  /// Treat a stop of a key no longer running as done all the same.
  virtual caf::error stop(const std::string& key) = 0;

  /// Handles a notification sent with `notify_worker`. The default logs
  /// and ignores it.
  virtual caf::error handle_notification(const std::string& key,
                                         const std::string& payload);

  /// Whether the calls above may block for long (wait for another actor,
  /// run a whole job): the worker then runs on a thread of its own
  /// (`pool_options::detached_workers`); otherwise it runs on the
  /// scheduler's threads and the calls must return quickly. Default: false.
  virtual bool blocks() const;
};

/// A handler of jobs that finish when their start does (tasks, as in job
/// queues): `run` is called instead of `start`; its result completes the
/// job in the same script that confirms the start (`confirm`, outcome
/// `done`), so the job leaves the pool, its outcome is kept for
/// `result_retention` and reaches a `dispatch_and_wait` caller. An error
/// fails the job (`errc::requeue` retries it after `requeue_delay`). For
/// work that finishes later, use a plain handler and `complete_job`.
class task_handler : public job_handler {
public:
  /// Runs job `j` to its end; returns its result or an error.
  virtual caf::expected<std::string> run(const job& j) = 0;

  /// Not called for a task handler (`run` is).
  caf::error start(const job& j) final;

  /// Called only if a job is stopped while `run` is not running (a stop
  /// request that raced with the end); the default does nothing.
  caf::error stop(const std::string& key) override;

  /// True: `run` runs a job to its end, so a task worker has a thread of
  /// its own.
  bool blocks() const override;
};

/// Wraps a user actor (`job_actor`) as a handler: each call is a request
/// answered within `timeout` (otherwise `errc::timeout`).
job_handler_ptr make_actor_handler(caf::actor_system& sys, job_actor hdl,
                                   caf::timespan timeout);

} // namespace pulse
