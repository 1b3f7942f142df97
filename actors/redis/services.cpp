#include "pulse/actors/redis/services.hpp"

namespace pulse {

services::~services() {
  // nop
}

void services::announce(metrics_source) {
  // nop
}

} // namespace pulse
