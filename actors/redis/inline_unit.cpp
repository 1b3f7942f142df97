#include "pulse/actors/redis/inline_unit.hpp"

#include <mutex>
#include <unordered_map>

#include <caf/scheduler/abstract_coordinator.hpp>

namespace pulse::detail {

namespace {

/// Units not used by a thread, per actor system (never freed: see the
/// class comment). Leaked on purpose, so it outlives static destruction.
struct unit_pool {
  std::mutex mtx;
  std::unordered_map<caf::actor_system*, std::vector<inline_unit*>> free;
};

unit_pool& pool() {
  static auto* p = new unit_pool;
  return *p;
}

thread_local inline_unit* collecting_unit = nullptr;

} // namespace

inline_unit::inline_unit(caf::actor_system* sys) : caf::execution_unit(sys) {
  // nop
}

inline_unit* inline_unit::acquire(caf::actor_system& sys) {
  auto& p = pool();
  {
    std::lock_guard<std::mutex> guard{p.mtx};
    auto& xs = p.free[&sys];
    if (!xs.empty()) {
      auto* u = xs.back();
      xs.pop_back();
      return u;
    }
  }
  return new inline_unit(&sys);
}

void inline_unit::release(inline_unit* u) {
  if (u == nullptr)
    return;
  if (collecting_unit == u)
    collecting_unit = nullptr;
  for (auto* job : u->jobs_)
    u->schedule(job);
  u->jobs_.clear();
  auto& p = pool();
  std::lock_guard<std::mutex> guard{p.mtx};
  p.free[u->system_].push_back(u);
}

caf::execution_unit* inline_unit::current() noexcept {
  return collecting_unit;
}

void inline_unit::collect() noexcept {
  collecting_unit = this;
}

std::vector<caf::resumable*> inline_unit::take() {
  collecting_unit = nullptr;
  std::vector<caf::resumable*> xs;
  xs.swap(jobs_);
  return xs;
}

void inline_unit::schedule(caf::resumable* job) {
  system_->scheduler().enqueue(job);
}

void inline_unit::run(caf::resumable* job, bool keep_woken) {
  // Not collecting: whatever the job wakes goes to the scheduler.
  // Collecting: `exec_later` keeps what it wakes for the next `take`.
  collecting_unit = keep_woken ? this : nullptr;
  auto result = job->resume(this, max_throughput);
  collecting_unit = nullptr;
  switch (result) {
    case caf::resumable::resume_later:
      schedule(job);
      break;
    case caf::resumable::done:
    case caf::resumable::awaiting_message:
      // The reference the waking enqueue added for the scheduler.
      intrusive_ptr_release(job);
      break;
    case caf::resumable::shutdown_execution_unit:
      break;
  }
}

void inline_unit::exec_later(caf::resumable* job) {
  if (collecting_unit == this
      && job->subtype() == caf::resumable::scheduled_actor)
    jobs_.push_back(job);
  else
    schedule(job);
}

} // namespace pulse::detail
