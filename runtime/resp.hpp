#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>
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
  kind type = kind::nil;
  /// Text of a status, error or bulk reply.
  std::string str;
  /// Value of an integer reply.
  int64_t integer = 0;
  /// Elements of an array reply.
  std::vector<value> elements;

  static value make_nil() { return {}; }
  static value make_status(std::string s);
  static value make_error(std::string s);
  static value make_integer(int64_t i);
  static value make_bulk(std::string s);
  static value make_array(std::vector<value> xs);

  bool is_nil() const noexcept { return type == kind::nil; }
  bool is_error() const noexcept { return type == kind::error; }
  bool is_array() const noexcept { return type == kind::array; }
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

bool operator==(const value& x, const value& y);
inline bool operator!=(const value& x, const value& y) { return !(x == y); }

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, value& x) {
  return f(caf::meta::type_name("resp_value"), x.type, x.str, x.integer,
           x.elements);
}

/// Appends the RESP2 encoding of the command `args` (a multi-bulk array of
/// binary-safe strings) to `out`.
void encode(std::vector<char>& out, const std::vector<std::string>& args);

/// Returns the RESP2 encoding of `args` as a string.
std::string encode(const std::vector<std::string>& args);

/// Appends one command made of the `head` arguments followed by every
/// string in each of `tails` (e.g. `EVALSHA sha n` + keys + args), without
/// first copying the arguments into one vector.
void encode(std::vector<char>& out,
            std::initializer_list<std::string_view> head,
            std::initializer_list<const std::vector<std::string>*> tails);

/// Incremental RESP2 decoder: feed it bytes as they arrive and pull complete
/// replies. Builds `value`s directly (no intermediate reply objects); a
/// pending reply is checked for completeness without allocating, and only
/// once the buffer reached the size it needs.
class decoder {
public:
  decoder();
  ~decoder();
  decoder(const decoder&) = delete;
  decoder& operator=(const decoder&) = delete;

  /// Appends `n` bytes of input. Returns `errc::protocol_error` when the
  /// reader is already in an error state.
  caf::error feed(const char* data, size_t n);

  /// Tries to extract one complete reply into `out`. Returns `true` on
  /// success, `false` if more input is needed, or `errc::protocol_error` on
  /// malformed input (the decoder is then unusable; reconnect).
  caf::expected<bool> next(value& out);

  /// Drops all buffered input and any error state.
  void reset();

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

/// Decodes exactly one reply from a complete buffer (for tests and tools).
caf::expected<value> decode_one(std::string_view bytes);

} // namespace pulse::resp
