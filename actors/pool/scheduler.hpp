#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <caf/actor.hpp>
#include <caf/expected.hpp>
#include <caf/timespan.hpp>

#include "pulse/actors/pool/node.hpp"
#include "pulse/actors/pool/core.hpp"

namespace pulse {

class services;

/// What a job producer wants running now.
struct job_plan {
  /// Jobs that must run: (key, payload).
  std::vector<std::pair<std::string, std::string>> start;
  /// Keys to stop (ignored when `stop_all`).
  std::vector<std::string> stop;
  /// Stop every job this producer started that is not in `start`.
  bool stop_all = false;
};

/// A job producer (plain C++): its plan is reconciled periodically.
class job_producer {
public:
  virtual ~job_producer() = default;
  /// Unique name within the pool (also the ticker's name).
  virtual std::string name() const = 0;
  /// The current plan. Returning `errc::canceled` stops the schedule on
  /// every node (jobs it started keep running); other errors skip this
  /// round.
  virtual caf::expected<job_plan> plan() = 0;
};

/// Spawns a scheduler for `producer` on a pool node: a ticker named
/// `schedule:<name>` (first tick at once) elects one node per interval,
/// including the first, and that node calls `plan()` and reconciles:
/// - dispatches every start entry through the node, all at once; a job
///   that already exists counts as running;
/// - stops (`stop` script) the keys the plan lists, or with `stop_all`
///   every key it started earlier that the plan no longer lists.
/// Started keys are recorded in `pulse:pool:{P}:sched:<name>` (a hash,
/// deleted by pool shutdown). Errors are logged and retried next round.
caf::expected<scheduler_actor>
spawn_scheduler(services& rt, pool_node_handle node, job_producer_ptr producer,
                caf::timespan interval);

} // namespace pulse
