#pragma once

#include <string>
#include <string_view>

#include <caf/error.hpp>

namespace pulse {

/// Checks a stream, map, pool, producer or ticker name: 1-512 Unicode code
/// points (UTF-8), none of which is space, NUL, `*`, `?`, `[` or `]` (the
/// Go Pulse rule). `what` prefixes the error: `pulse stream: not a valid
/// name "x y"`. Errors: `errc::invalid_argument`.
caf::error validate_name(std::string_view name, const char* what);

/// Checks a map field key (and so a job key): non-empty, no `=`.
/// `op` names the operation in the error message. Errors:
/// `errc::invalid_argument`.
caf::error validate_key(std::string_view key, const char* what,
                        const char* op);

/// Returns a new ULID: 26 upper-case Crockford base-32 characters (48-bit
/// ms timestamp, 80 random bits), strictly increasing within this process.
std::string make_ulid();

/// Returns the current Unix time in nanoseconds.
int64_t unix_ns();

/// Returns the current Unix time in milliseconds.
int64_t unix_ms();

} // namespace pulse
