#pragma once

/// Internal: the execution unit of a connection's reader thread. Not part
/// of the public API.

#include <cstddef>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/execution_unit.hpp>
#include <caf/resumable.hpp>

namespace pulse::detail {

/// Lets a connection's reader thread run the scheduled actors its replies
/// wake, instead of handing each to a scheduler worker (a cross-thread
/// wake-up per reply, the main cost of a reply on two cores).
///
/// - While `collecting` on its thread, an enqueue made with this unit
///   (`current()`) that wakes a scheduled actor keeps the actor here;
///   `take` returns them and `run` resumes one on this thread.
/// - Anywhere else (another thread, or outside `collecting`), `exec_later`
///   hands the actor to the scheduler: CAF keeps the unit of an actor's
///   last run as its context, and its response promises may be answered
///   later from any thread.
/// - Units are pooled per actor system and never freed, because actors
///   keep pointing at the unit of their last run.
class inline_unit final : public caf::execution_unit {
public:
  /// The most messages one inline run handles before the actor goes to the
  /// scheduler.
  static constexpr size_t max_throughput = 16;

  /// A unit of `sys` for the calling thread (from the pool, or new).
  static inline_unit* acquire(caf::actor_system& sys);

  /// Returns `u` to the pool (its thread ends).
  static void release(inline_unit* u);

  /// The unit collecting on this thread, or null: the context to pass to
  /// `enqueue` for deliveries made on a reader thread.
  static caf::execution_unit* current() noexcept;

  /// Keeps actors woken on this thread until `take`.
  void collect() noexcept;

  /// Stops collecting; returns the actors woken since `collect`.
  std::vector<caf::resumable*> take();

  /// Runs `job` (a scheduled actor woken by a delivery) on this thread for
  /// up to `max_throughput` messages; the job itself, when it has more to
  /// do, goes to the scheduler. Actors it wakes go to the scheduler too,
  /// or with `keep_woken` stay here for the next `take` (so that a chain
  /// such as sink -> subscriber runs without a cross-thread wake-up).
  void run(caf::resumable* job, bool keep_woken = false);

  /// Hands `job` to the scheduler (a woken actor not run here).
  void schedule(caf::resumable* job);

  void exec_later(caf::resumable* job) override;

private:
  explicit inline_unit(caf::actor_system* sys);

  std::vector<caf::resumable*> jobs_;
};

} // namespace pulse::detail
