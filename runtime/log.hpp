#pragma once

#include <memory>
#include <string>

#include <caf/error.hpp>
#include <caf/expected.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "pulse/runtime/errors.hpp"
/// \namespace fmt
/// The {fmt} library, which Pulse extends with a formatter for `caf::error`.

namespace pulse::log {

/// Returns the project logger (`pulse`), creating it on first use with a
/// colored stderr sink. Messages use `key=value` fields:
/// `log::info("gateway connected host={} port={}", host, port)`.
std::shared_ptr<spdlog::logger> logger();

/// Adds a sink that receives every record of the project logger (e.g. a
/// program's own file, or a test capturing warnings). Thread-safe.
void add_sink(spdlog::sink_ptr sink);

/// Removes a sink added with `add_sink`. Thread-safe.
void remove_sink(const spdlog::sink_ptr& sink);

/// Names the calling thread (Linux: `pthread_setname_np`, at most 15
/// characters, longer names are cut), so `top -H`, `ps -T`, `perf` and
/// debuggers tell Pulse's threads apart: `pulse.reader` (reads a Redis
/// connection), `pulse.watch` (watches handlers on reader threads),
/// `pulse.dispatch` (a pool node's dispatch flushers), `pulse.sentinel`
/// (follows Sentinel's master switches), `pulse.metrics` (serves
/// `/metrics`). Issues no Redis command; errors are ignored.
void name_thread(const std::string& name);

/// Sets the level from a name (`trace`, `debug`, `info`, `warn`, `error`,
/// `critical`, `off`). Returns `errc::invalid_config` for unknown names.
caf::error set_level(const std::string& name);

template <class... Ts>
void trace(fmt::format_string<Ts...> f, Ts&&... xs) {
  logger()->trace(f, std::forward<Ts>(xs)...);
}
template <class... Ts>
void debug(fmt::format_string<Ts...> f, Ts&&... xs) {
  logger()->debug(f, std::forward<Ts>(xs)...);
}
template <class... Ts>
void info(fmt::format_string<Ts...> f, Ts&&... xs) {
  logger()->info(f, std::forward<Ts>(xs)...);
}
template <class... Ts>
void warn(fmt::format_string<Ts...> f, Ts&&... xs) {
  logger()->warn(f, std::forward<Ts>(xs)...);
}
template <class... Ts>
void error(fmt::format_string<Ts...> f, Ts&&... xs) {
  logger()->error(f, std::forward<Ts>(xs)...);
}

} // namespace pulse::log

/// Formats a `caf::error` with `pulse::render` (fmt 9 has no ostream
/// fallback).
template <>
struct fmt::formatter<caf::error> : fmt::formatter<std::string> {
  /// Writes `pulse::render(x)` to the output of `ctx`.
  template <class FormatContext>
  auto format(const caf::error& x, FormatContext& ctx) const {
    return fmt::formatter<std::string>::format(pulse::render(x), ctx);
  }
};
