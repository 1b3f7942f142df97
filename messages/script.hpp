#pragma once

#include <memory>
#include <string>

#include <caf/meta/type_name.hpp>

namespace pulse {

/// A Lua script with its SHA-1 identifier, computed once at construction.
/// Gateways run scripts with `EVALSHA` and fall back to `EVAL` (which also
/// caches the script in Redis) when Redis answers `NOSCRIPT`.
struct script {
  script() = default;

  /// Creates a script from its Lua source.
  explicit script(std::string source);

  /// The Lua source.
  std::string source;

  /// 40 lower-case hex digits of SHA-1(source).
  std::string sha1;
};

/// Scripts are equal when their SHA-1 identifiers are equal.
inline bool operator==(const script& x, const script& y) {
  return x.sha1 == y.sha1;
}

/// Makes `script` serializable for CAF messages.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, script& x) {
  return f(caf::meta::type_name("script"), x.source, x.sha1);
}

} // namespace pulse
