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

#include "pulse/messages/resp.hpp"

namespace pulse::resp {

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
