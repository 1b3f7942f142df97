#include "pulse/actors/rmap/propagation.hpp"

namespace pulse {

propagation_probe::clock::time_point propagation_probe::sent() {
  active_.store(true, std::memory_order_relaxed);
  return clock::now();
}

void propagation_probe::answered(uint64_t rev, clock::time_point at) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto& s = ring_[rev % ring_size];
  if (s.rev == rev && rev != 0) {
    if (s.at >= at)
      delays_.observe(std::chrono::duration<double>(s.at - at).count());
    else
      ++unmatched_; // applied before it was sent: another timeline's rev
    return;
  }
  if (rev <= last_ || rev == 0) {
    ++unmatched_; // applied too long ago, or only through a snapshot
    return;
  }
  waiting_.emplace(rev, at);
  if (waiting_.size() > max_waiting) {
    waiting_.erase(waiting_.begin());
    ++unmatched_;
  }
}

void propagation_probe::applied(uint64_t rev) {
  if (!active_.load(std::memory_order_relaxed))
    return;
  auto now = clock::now();
  std::lock_guard<std::mutex> guard{mtx_};
  if (last_ != 0 && rev <= last_) {
    // A regression (the hash expired or Redis lost data): revisions are
    // reused from here on, so nothing remembered can be matched.
    unmatched_ += waiting_.size();
    waiting_.clear();
    ring_.fill(stamp{});
  }
  // Writes up to `rev`: `rev` itself is this apply; lower ones were
  // skipped (a snapshot covered them).
  while (!waiting_.empty() && waiting_.begin()->first <= rev) {
    auto i = waiting_.begin();
    if (i->first == rev && now >= i->second)
      delays_.observe(std::chrono::duration<double>(now - i->second).count());
    else
      ++unmatched_;
    waiting_.erase(i);
  }
  ring_[rev % ring_size] = stamp{rev, now};
  last_ = rev;
}

latency_histogram propagation_probe::delays() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return delays_;
}

uint64_t propagation_probe::unmatched() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return unmatched_;
}

} // namespace pulse
