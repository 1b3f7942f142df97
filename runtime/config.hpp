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

#include "pulse/messages/options.hpp"

namespace pulse {

/// One known option: its dotted key, the type its value must have, its
/// lower bound, and where it goes in `options`. The table of these drives
/// the command-line declarations (and so `--long-help`), the checks of the
/// config file, and reading `options`; the defaults are the member
/// initializers in `messages/options.hpp`, written once.
struct option_spec {
  /// The type a value must have (`port`: an integer in 1..65535;
  /// `string_list`: a list of quoted strings, on the command line also
  /// `a,b`).
  enum class type { string, integer, port, boolean, timespan, string_list };
  /// How far below a value may go (integers and durations); `percent`:
  /// an integer in 0..100.
  enum class bound { none, non_negative, positive, percent };
  /// The dotted key, e.g. `pulse.redis.host`.
  const char* key;
  /// The type the value must have.
  type expected;
  /// Help text of the command-line option (shown by `--long-help`).
  const char* description;
  /// The lower bound of the value.
  bound min = bound::none;
  /// Returns the member this option sets (the matching alternative; an
  /// enum such as `trim_mode` is a `type::string` option whose allowed
  /// names `options_from` checks).
  std::function<caf::variant<std::string*, int64_t*, uint64_t*, uint16_t*,
                             bool*, caf::timespan*, trim_mode*,
                             std::vector<std::string>*>(options&)>
    field;
};

/// Returns the table of every `pulse.*` option the runtime knows.
const std::vector<option_spec>& known_options();

/// Checks the Pulse entries of `xs` (parsed settings). Unknown keys and
/// values of the wrong type among the `pulse.*` entries give
/// `errc::invalid_config` naming the key.
caf::error validate_settings(const caf::settings& xs);

/// Reads `options` from parsed settings (defaults for absent keys), checks
/// ranges (port 1-65535, db >= 0, positive timeouts, known log level) and
/// applies `pulse.redis.url` (`apply_redis_url`: it overrides the endpoint
/// and credentials it names, and is cleared). A malformed URL is
/// `errc::invalid_config` naming the bad part.
caf::expected<options> options_from(const caf::settings& xs);

/// Makes `cfg` a Pulse configuration (for programs with their own config
/// class, derived from `caf::actor_system_config`). It declares every
/// `pulse.*` option (so each is valid on the command line and listed by
/// `--long-help`), makes `caf-application.conf` the default file (CAF 0.17
/// would read `caf-application.ini`), registers the `pulse` error category
/// and sets scheduler defaults (one worker per core; polling tuned for
/// loopback round trips). Call it in the constructor, then `read_config`.
void add_options(caf::actor_system_config& cfg);

/// Reads the command line and the config file into `cfg` (CLI > file >
/// defaults) and returns the Pulse options. Checks, before CAF parses it,
/// that the file (`--config-file=<path>`, else `cfg.config_file_path`)
/// is valid config: a missing explicit file, a syntax error
/// (`<file>:<line>:<column>: ...`), keys outside any section, unknown
/// `pulse.*` keys and values of the wrong type or out of range are
/// `errc::invalid_config` naming file, line or key. The Redis password comes
/// from `PULSE_REDIS_PASSWORD` when set, else `password-file`, else
/// `password` (setting both of the latter two is an error).
///
/// `--help`, `--long-help` and `--dump-config` print their text (to
/// stderr, naming the real default file) and return `errc::help_printed`:
/// the program should exit at once (`exit_status` returns 0 for it).
caf::expected<options> read_config(caf::actor_system_config& cfg,
                                   std::vector<std::string> args);

/// Returns the exit status for a failed `read_config`/`config::read`:
/// 0 after `--help` and friends, 1 otherwise, after printing any other
/// error to stderr.
int exit_status(const caf::error& err);

/// Actor system configuration for Pulse nodes: `add_options` applied to a
/// plain `caf::actor_system_config`, with `read` storing the options.
class config : public caf::actor_system_config {
public:
  config();

  /// Reads the command line and the config file (see `read_config`) and
  /// fills `opts()`. Returns `errc::invalid_config` naming the offending
  /// file, line or key, or `errc::help_printed` after `--help`,
  /// `--long-help` or `--dump-config`: then the program should exit
  /// (`return pulse::exit_status(err);`).
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
