#pragma once

/// Output helpers of the `pulse` command-line tool: aligned tables for
/// people, JSON for scripts, and the formatting of ages, stream IDs and
/// binary payloads both share.

#include <chrono>
#include <cstdint>
#include <iosfwd>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace pulse::cli {

/// The error every subcommand throws for a failure the user must see: the
/// program prints `pulse: <what>` to stderr and exits with status 1.
struct cli_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// Throws `cli_error{msg}`.
[[noreturn]] void fail(const std::string& msg);

/// A table of text cells printed with aligned columns (two spaces apart,
/// the last column unpadded) under an upper-case header line.
class table {
public:
  /// Starts a table with these column headers.
  explicit table(std::vector<std::string> headers);

  /// Appends a row; missing cells are empty, extra cells are dropped.
  void add(std::vector<std::string> row);

  /// Returns whether no row was added.
  bool empty() const noexcept { return rows_.empty(); }

  /// Writes the header and every row to `out`.
  void print(std::ostream& out) const;

private:
  std::vector<std::string> headers_;
  std::vector<std::vector<std::string>> rows_;
};

/// Writes `x` to stdout, indented by 2, with invalid UTF-8 replaced (event
/// payloads are binary-safe), followed by a newline.
void print_json(const nlohmann::json& x);

/// Writes `x` to stdout on one line (JSON lines, for `--follow` modes).
void print_json_line(const nlohmann::json& x);

/// Returns `x` with control and non-UTF-8 bytes escaped (`\n`, `\xNN`) and,
/// when it is longer than `max` characters (0: no limit), cut with `...`.
std::string printable(const std::string& x, size_t max = 0);

/// Returns a compact duration: `850ms`, `12.3s`, `4m05s`, `3h02m`, `2d04h`;
/// negative values get a leading `-`.
std::string format_duration(std::chrono::milliseconds d);

/// Returns the Unix milliseconds of a stream entry ID (`<ms>-<seq>`), or -1
/// if `id` is not one.
int64_t id_ms(const std::string& id);

/// Returns Unix milliseconds as UTC text: `2026-12-05 08:30:01.123`.
std::string format_time(int64_t unix_ms);

/// Parses a duration such as `90s`, `15m`, `2h`, `1d`, `1500ms` or a bare
/// number of seconds. Throws `cli_error` naming `what` for anything else.
std::chrono::milliseconds parse_duration(const std::string& text,
                                         const char* what);

/// Returns the decimal number in `x`, or `fallback` if it is not one.
int64_t to_int(const std::string& x, int64_t fallback = 0);

} // namespace pulse::cli
