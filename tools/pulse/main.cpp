/// `pulse`: see and steer a running Pulse system from the command line.
/// Reads `caf-application.conf` and `--pulse.*=...` options like every
/// Pulse program; subcommands are in streams.cpp, dead_letters.cpp,
/// maps.cpp, pools.cpp, pool_results.cpp, pool_dead.cpp and stats.cpp. Exit status: 0 on success, 1 on any
/// error (unknown name, unreachable Redis, bad arguments), with the message
/// on stderr.

#include <iostream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <caf/actor_system.hpp>
#include <caf/settings.hpp>

#include "output.hpp"
#include "session.hpp"
#include "pulse/runtime/config.hpp"
#include "pulse/runtime/errors.hpp"

namespace {

/// Returns whether `arg` belongs to the CAF configuration (`--pulse.x=..`,
/// `--config-file=..`, `--scheduler.x=..`, `--long-help`, `--dump-config`)
/// rather than to the subcommands.
bool is_config_arg(const std::string& arg) {
  for (auto prefix : {"--pulse.", "--config-file", "--scheduler.", "--caf.",
                      "--long-help", "--dump-config"})
    if (arg.rfind(prefix, 0) == 0)
      return true;
  return false;
}

} // namespace

int main(int argc, char** argv) {
  using namespace pulse::cli;
  std::vector<std::string> config_args;
  std::vector<std::string> cli_args;
  for (int i = argc - 1; i >= 1; --i) // CLI11 takes them in reverse
    (is_config_arg(argv[i]) ? config_args : cli_args).emplace_back(argv[i]);
  std::reverse(config_args.begin(), config_args.end());

  CLI::App app{"pulse: inspect and steer Pulse streams, sinks, dead letters, "
               "replicated maps and worker pools on Redis.\nConfiguration: "
               "caf-application.conf and --pulse.redis.host=... (see "
               "--long-help).",
               "pulse"};
  app.require_subcommand(1);
  app.fallthrough();
  global_flags flags;
  app.add_flag("--json", flags.json, "print JSON instead of tables");
  registry reg;
  add_stream_commands(app, reg);
  add_dead_letter_commands(app, reg);
  add_map_commands(app, reg);
  add_pool_commands(app, reg);
  add_pool_result_commands(app, reg);
  add_pool_dead_commands(app, reg);
  add_stats_commands(app, reg);
  bool only_config = cli_args.empty() && !config_args.empty();
  if (!only_config) {
    try {
      app.parse(cli_args);
    } catch (const CLI::ParseError& e) {
      // --help: 0; any usage error: 1, like every other failure.
      return app.exit(e) == 0 ? 0 : 1;
    }
  }

  pulse::config cfg;
  if (auto err = cfg.read(config_args))
    return pulse::exit_status(err);
  if (only_config) {
    std::cerr << "pulse: missing subcommand (see pulse --help)\n";
    return 1;
  }
  auto opts = cfg.opts();
  // A tool's stderr is for its own messages: Pulse logs at `warn` unless
  // pulse.log.level was set.
  if (!caf::get_if<std::string>(&caf::content(cfg), "pulse.log.level"))
    opts.log_level = "warn";
  auto fn = reg.selected();
  if (fn == nullptr) {
    std::cerr << "pulse: missing subcommand (see pulse --help)\n";
    return 1;
  }
  install_signal_handlers();
  caf::actor_system sys{cfg};
  try {
    session s{sys, std::move(opts), flags};
    (*fn)(s);
  } catch (const cli_error& e) {
    std::cerr << "pulse: " << e.what() << '\n';
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "pulse: " << e.what() << '\n';
    return 1;
  }
  return 0;
}
