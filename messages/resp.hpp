#pragma once

/// The RESP2 reply value that gateway requests answer with. The codec that
/// builds these values is `actors/redis/resp.hpp`; the members are defined
/// in `actors/redis/resp.cpp`.

#include <cstdint>
#include <string>
#include <vector>

#include <caf/meta/type_name.hpp>
#include <caf/optional.hpp>

namespace pulse::resp {

/// The kind of a RESP2 reply.
enum class kind : uint8_t {
  nil,     ///< `$-1` or `*-1`
  status,  ///< `+OK`
  error,   ///< `-ERR ...`
  integer, ///< `:42`
  bulk,    ///< `$3\r\nfoo` (binary-safe)
  array,   ///< `*2 ...`
};

/// Returns the name of `x`.
const char* to_string(kind x);

/// One owning RESP2 reply value. Strings are binary-safe.
struct value {
  /// The kind of reply; selects which of the fields below is meaningful.
  kind type = kind::nil;
  /// Text of a status, error or bulk reply.
  std::string str;
  /// Value of an integer reply.
  int64_t integer = 0;
  /// Elements of an array reply.
  std::vector<value> elements;

  /// Returns a nil reply.
  static value make_nil() { return {}; }
  /// Returns a status reply holding `s`.
  static value make_status(std::string s);
  /// Returns an error reply holding the message `s`.
  static value make_error(std::string s);
  /// Returns an integer reply holding `i`.
  static value make_integer(int64_t i);
  /// Returns a bulk string reply holding `s`.
  static value make_bulk(std::string s);

  /// Returns whether this is a nil reply.
  bool is_nil() const noexcept { return type == kind::nil; }
  /// Returns whether this is an error reply.
  bool is_error() const noexcept { return type == kind::error; }
  /// Returns whether this is an array reply.
  bool is_array() const noexcept { return type == kind::array; }
  /// Returns whether this is a bulk or status reply.
  bool is_string() const noexcept {
    return type == kind::bulk || type == kind::status;
  }

  /// Returns the string of a bulk or status reply, `none` otherwise.
  caf::optional<std::string> as_string() const;

  /// Returns the integer of an integer reply, or parses a bulk/status reply
  /// holding a decimal integer; `none` otherwise.
  caf::optional<int64_t> as_integer() const;

  /// Returns a compact human-readable rendering (for logs and tests).
  std::string render() const;
};

/// Compares kind, string, integer and elements of `x` and `y`.
bool operator==(const value& x, const value& y);
/// Returns `!(x == y)`.
inline bool operator!=(const value& x, const value& y) { return !(x == y); }

/// Makes `value` serializable for CAF messages.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, value& x) {
  return f(caf::meta::type_name("resp_value"), x.type, x.str, x.integer,
           x.elements);
}

} // namespace pulse::resp
