#pragma once

#include <chrono>
#include <functional>
#include <cstdint>
#include <string>
#include <vector>

#include <caf/actor_system_config.hpp>
#include <caf/error.hpp>
#include <caf/settings.hpp>
#include <caf/timespan.hpp>
#include <caf/variant.hpp>

#include "messages/options.hpp"

namespace pulse {

/// One known option: its dotted key, the type its value must have, its
/// lower bound, and where it goes in `options`. The table of these drives
/// the command-line declarations (and so `--long-help`), the checks of the
/// config file, and reading `options`; the defaults are the member
/// initializers in `messages/options.hpp`, written once.
struct option_spec {
  enum class type { string, integer, port, boolean, timespan };
  /// How far below a value may go (integers and durations).
  enum class bound { none, non_negative, positive };
  const char* key;
  type expected;
  const char* description;
  bound min = bound::none;
  /// Returns the member this option sets (the matching alternative).
  std::function<caf::variant<std::string*, int64_t*, uint64_t*, uint16_t*,
                             bool*, caf::timespan*>(options&)>
    field;
};

/// Returns the table of every `pulse.*` option the runtime knows.
const std::vector<option_spec>& known_options();

/// Checks every `pulse.*` entry of `xs` (parsed settings): unknown keys and
/// values of the wrong type give `errc::invalid_config` naming the key.
caf::error validate_settings(const caf::settings& xs);

/// Reads `options` from parsed settings (defaults for absent keys) and checks
/// ranges (port 1-65535, db >= 0, positive timeouts, known log level).
caf::expected<options> options_from(const caf::settings& xs);

/// Actor system configuration for Pulse nodes.
///
/// - Reads `caf-application.conf` (not CAF 0.17's default `.ini`), or the
///   file named by `--config-file=<path>` (a missing explicit file is an
///   error; a missing default file is not).
/// - Declares every `pulse.*` option so `--pulse.redis.port=7000` works on
///   the command line (CLI > file > defaults).
/// - Sets `scheduler.max-threads` to the number of cores (CAF's default is
///   max(cores, 4)) unless configured.
class config : public caf::actor_system_config {
public:
  config();

  /// Parses the command line and the config file, validates all `pulse.*`
  /// options and fills `opts()`. Returns `errc::invalid_config` with a
  /// message naming the offending key or file.
  caf::error read(int argc, char** argv);

  /// Like `read`, from a list of arguments (argv without the program name).
  caf::error read(std::vector<std::string> args);

  /// Returns whether `--help`/`--long-help`/`--dump-config` was handled
  /// (the program should exit).
  bool help_printed() const noexcept { return cli_helptext_printed; }

  /// Returns the options read by `read` (defaults before).
  const pulse::options& opts() const noexcept { return opts_; }

  /// Replaces the options (for programs that configure in code).
  void opts(pulse::options x) { opts_ = std::move(x); }

private:
  pulse::options opts_;
};

} // namespace pulse
