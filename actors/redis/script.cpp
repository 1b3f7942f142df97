#include "pulse/messages/script.hpp"

#include "pulse/actors/redis/sha1.hpp"

namespace pulse {

script::script(std::string src) : source(std::move(src)) {
  sha1 = sha1_hex(source);
}

} // namespace pulse
