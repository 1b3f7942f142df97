#pragma once

#include <string>
#include <string_view>

namespace pulse {

/// Returns the SHA-1 digest of `data` as 40 lower-case hex digits, the form
/// Redis uses for script identifiers (`EVALSHA`, `SCRIPT LOAD`).
std::string sha1_hex(std::string_view data);

} // namespace pulse
