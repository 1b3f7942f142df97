#pragma once

/// The connection of the `pulse` command-line tool: a Pulse runtime on the
/// configured Redis (never an embedded server), a blocking client on its
/// gateway, and the registry that maps parsed subcommands to what they run.

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <caf/actor_system.hpp>

#include "pulse/actors/redis/client.hpp"
#include "pulse/messages/options.hpp"
#include "pulse/messages/resp.hpp"
#include "pulse/runtime/runtime.hpp"

namespace CLI {
class App;
} // namespace CLI

namespace pulse::cli {

/// Options every subcommand shares.
struct global_flags {
  /// `--json`: print JSON for scripts instead of tables.
  bool json = false;
};

/// A connected tool: the runtime (gateway and pub/sub actor) and a blocking
/// client. Every call throws `cli_error` on failure, naming the command.
class session {
public:
  /// Connects to the configured Redis within its connect timeout
  /// (`runtime::start`: `AUTH`, `SELECT`, `CLIENT ID`, `PING`). Throws
  /// `cli_error` when no Redis is configured (no host, URL or socket, or
  /// `embedded = true`: the tool never starts a server) or when Redis is
  /// unreachable or refuses the credentials.
  session(caf::actor_system& sys, options opts, global_flags flags);

  ~session();

  session(const session&) = delete;
  session& operator=(const session&) = delete;

  /// Runs one command; a Redis error reply or a gateway error throws.
  resp::value call(command cmd);

  /// Runs `make_command(xs...)`.
  template <class... Ts>
  resp::value operator()(Ts&&... xs) {
    return call(make_command(std::forward<Ts>(xs)...));
  }

  /// Runs commands in one request; Redis error replies stay in the result.
  std::vector<resp::value> batch(std::vector<command> cmds);

  /// Runs a script (`EVALSHA`, `EVAL` on `NOSCRIPT`).
  resp::value eval(const script& scr, std::vector<std::string> keys,
                   std::vector<std::string> args);

  /// Returns every key matching `pattern` (and of `type`, unless empty),
  /// sorted, each once: `SCAN 0 MATCH <pattern> COUNT 1000 [TYPE <type>]`
  /// until the cursor is back at 0, on every master of a Redis Cluster
  /// (`client::scan`).
  std::vector<std::string> scan(const std::string& pattern,
                                const std::string& type = "");

  /// Returns Redis' clock in Unix milliseconds (`TIME`).
  int64_t now_ms();

  /// The blocking client (for library functions taking a `client&`).
  client& redis() { return *client_; }

  /// The runtime (pub/sub, extra gateways).
  runtime& rt() { return *rt_; }

  /// The options in effect.
  const options& opts() const { return opts_; }

  /// Whether to print JSON.
  bool json() const { return flags_.json; }

private:
  caf::actor_system& sys_;
  options opts_;
  global_flags flags_;
  std::unique_ptr<runtime> rt_;
  std::unique_ptr<client> client_;
};

/// Returns the name/value pairs of a flat reply (`XINFO`, `HGETALL`): the
/// value of each name (the last one wins).
std::map<std::string, resp::value> pairs(const resp::value& reply);

/// What a subcommand runs once Redis is connected.
using handler = std::function<void(session&)>;

/// The subcommands and what they run; `main` connects and runs the handler
/// of the most deeply nested subcommand the command line named.
class registry {
public:
  /// Registers `fn` for subcommand `app`.
  void add(CLI::App* app, handler fn);

  /// Returns the handler of the deepest parsed subcommand, or null.
  const handler* selected() const;

private:
  std::vector<std::pair<CLI::App*, handler>> entries_;
};

/// Registers `streams`, `stream` and `tail` (`streams.cpp`).
void add_stream_commands(CLI::App& app, registry& reg);

/// Registers `dead-letters` with `redrive` and `purge` (`dead_letters.cpp`).
void add_dead_letter_commands(CLI::App& app, registry& reg);

/// Registers `maps` and `map` with `get`, `set`, `watch` (`maps.cpp`).
void add_map_commands(CLI::App& app, registry& reg);

/// Registers `pools`, `pool`, `jobs` and `job` with `stop` (`pools.cpp`).
void add_pool_commands(CLI::App& app, registry& reg);

/// Registers `delayed` and `result` (`pool_results.cpp`).
void add_pool_result_commands(CLI::App& app, registry& reg);

/// Registers `dead-jobs` with `redrive` and `purge` (`pool_dead.cpp`).
void add_pool_dead_commands(CLI::App& app, registry& reg);

/// Registers `stats` (`stats.cpp`).
void add_stats_commands(CLI::App& app, registry& reg);

/// Returns whether SIGINT or SIGTERM arrived (follow and watch modes stop).
bool interrupted();

/// Installs the SIGINT/SIGTERM handler behind `interrupted`.
void install_signal_handlers();

} // namespace pulse::cli
