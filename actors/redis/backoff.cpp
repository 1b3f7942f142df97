#include "pulse/actors/redis/backoff.hpp"

#include <algorithm>

namespace pulse {

backoff::backoff(duration min, duration max, uint64_t seed)
  : min_(std::max(min, duration{1})), max_(std::max(max, min_)), rng_(seed) {
  // nop
}

backoff::duration backoff::next() {
  auto d = min_;
  for (uint32_t i = 0; i < attempt_ && d < max_; ++i)
    d *= 2;
  d = std::min(d, max_);
  ++attempt_;
  std::uniform_int_distribution<int64_t> dist{d.count() / 2, d.count()};
  return duration{dist(rng_)};
}

} // namespace pulse
