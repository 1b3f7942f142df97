#include "pulse/actors/redis/services.hpp"

namespace pulse {

services::~services() {
  // nop
}

} // namespace pulse
