#pragma once

/// Stream operators so Boost.Test can print project types in failures.

#include <chrono>
#include <ostream>
#include <string>

#include <caf/expected.hpp>

#include "pulse/runtime/errors.hpp"
#include "pulse/actors/redis/resp.hpp"

namespace pulse {

inline std::ostream& operator<<(std::ostream& os, errc x) {
  return os << to_string(x);
}

/// Describes an `expected` for test messages: "ok" or the rendered error
/// (safe to call on either state, unlike `x.error()`).
template <class T>
std::string describe(const caf::expected<T>& x) {
  return x ? std::string{"ok"} : render(x.error());
}

/// A duration in whole milliseconds, for test messages.
template <class Rep, class Period>
long long ms_of(std::chrono::duration<Rep, Period> d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

namespace resp {

inline std::ostream& operator<<(std::ostream& os, kind x) {
  return os << to_string(x);
}

inline std::ostream& operator<<(std::ostream& os, const value& x) {
  return os << x.render();
}

} // namespace resp

} // namespace pulse
