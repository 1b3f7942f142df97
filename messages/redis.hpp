#pragma once

/// Messages of the Redis gateway actor (`actors/redis/gateway.hpp`).

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/atom.hpp>
#include <caf/fwd.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/replies_to.hpp>
#include <caf/timespan.hpp>
#include <caf/typed_actor.hpp>

#include "pulse/messages/histogram.hpp"
#include "pulse/messages/resp.hpp"
#include "pulse/messages/script.hpp"

namespace pulse {

// -- atoms --------------------------------------------------------------------

/// Runs one command: `(cmd_atom, command) -> resp::value`.
using cmd_atom = caf::atom_constant<caf::atom("cmd")>;

/// Runs many commands in one request: `(batch_atom, vector<command>) ->
/// vector<resp::value>`.
using batch_atom = caf::atom_constant<caf::atom("batch")>;

/// Runs a Lua script: `(eval_atom, script, keys, args) -> resp::value`.
using eval_atom = caf::atom_constant<caf::atom("eval")>;

/// Fails every request in flight with `errc::canceled` and reconnects.
using cancel_atom = caf::atom_constant<caf::atom("cancel")>;

/// Asks for the gateway's counters: `(stats_atom) -> gateway_stats`.
using stats_atom = caf::atom_constant<caf::atom("stats")>;

/// `(direct_atom) -> gateway_direct_ptr`: the gateway's direct entry for
/// blocking callers in this process (see `gateway_direct`).
using direct_atom = caf::atom_constant<caf::atom("direct")>;

/// Runs one keyless command on every master: `(each_master_atom, command)
/// -> vector<resp::value>`, one reply per master (a cluster router's
/// masters that serve slots, in slot-table order; an ordinary gateway has
/// one). Redis error replies stay in the vector.
using each_master_atom = caf::atom_constant<caf::atom("each_mastr")>;

/// Lists keys with `SCAN` on every master: `(scan_keys_atom, scan_query)
/// -> scan_result`.
using scan_keys_atom = caf::atom_constant<caf::atom("scan_keys")>;

class gateway_direct;

/// Shared handle on a gateway's direct entry.
using gateway_direct_ptr = std::shared_ptr<gateway_direct>;

// -- message types ------------------------------------------------------------

/// What a gateway's connection is for.
enum class gateway_role : uint8_t {
  /// Shared, pipelined connection for ordinary commands.
  pipelined,
  /// Dedicated connection for `XREAD`/`XREADGROUP ... BLOCK`; send such
  /// commands with a `command::timeout` above their BLOCK duration, and use
  /// `cancel_atom` (or exit the actor) to abort a read at once.
  blocking,
};


/// One Redis command: its arguments (binary-safe), e.g. `{"SET", "k", "v"}`.
struct command {
  /// The command name followed by its arguments.
  std::vector<std::string> args;
  /// Reply timeout for this command; zero means the gateway's
  /// `command-timeout`. Blocking reads set it above their BLOCK duration.
  caf::timespan timeout{0};
};

/// Builds a command from its arguments: `make_command("GET", key)`.
template <class... Ts>
command make_command(Ts&&... xs) {
  return command{{std::string(std::forward<Ts>(xs))...}, caf::timespan{0}};
}

/// Makes `command` serializable for CAF messages.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, command& x) {
  return f(caf::meta::type_name("command"), x.args, x.timeout);
}

/// What `scan_keys_atom` lists: `SCAN <cursor> MATCH <pattern> COUNT
/// <count> [TYPE <type>]`, each master's cursor walked until it is back at
/// 0 (or `max_rounds` rounds per master).
struct scan_query {
  /// The `MATCH` pattern.
  std::string pattern = "*";
  /// The `TYPE` filter; empty lists keys of every type.
  std::string type;
  /// The `COUNT` hint of each round.
  uint32_t count = 1000;
  /// Most `SCAN` rounds per master; 0 walks every cursor to the end.
  uint32_t max_rounds = 0;
};

/// Makes `scan_query` serializable for CAF messages.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, scan_query& x) {
  return f(caf::meta::type_name("scan_query"), x.pattern, x.type, x.count,
           x.max_rounds);
}

/// The keys a `scan_query` found.
struct scan_result {
  /// Every key found on any master, sorted, each once (`SCAN` may return a
  /// key twice, and a key being migrated may sit on two masters).
  std::vector<std::string> keys;
  /// False when some master's cursor stopped at `max_rounds` before it was
  /// back at 0 (`keys` is then a part of the matching keys).
  bool complete = true;
};

/// Makes `scan_result` serializable for CAF messages.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, scan_result& x) {
  return f(caf::meta::type_name("scan_result"), x.keys, x.complete);
}

/// Counters of one gateway (all since spawn).
struct gateway_stats {
  /// Commands written to Redis (a batch counts each command).
  uint64_t sent = 0;
  /// Replies received.
  uint64_t replies = 0;
  /// Requests answered with an error (Redis errors included).
  uint64_t errors = 0;
  /// Requests failed by their timeout.
  uint64_t timeouts = 0;
  /// Successful connects after the first.
  uint64_t reconnects = 0;
  /// `NOSCRIPT` replies answered by re-sending the script with `EVAL`.
  uint64_t script_reloads = 0;
  /// Requests Redis refused without running them (`LOADING`, `BUSY`,
  /// `TRYAGAIN`, `MASTERDOWN`) and the gateway sent again (in cluster mode
  /// also those the router sent again after `TRYAGAIN` from the node
  /// importing a slot).
  uint64_t refused_retries = 0;
  /// Idempotent requests (reads, see `docs/operations.md`) in flight when
  /// the connection was lost, sent again after the reconnect instead of
  /// failing with `errc::disconnected`.
  uint64_t lost_retries = 0;
  /// Cluster mode only (a cluster router's reply; 0 elsewhere): `-MOVED`
  /// redirects followed, i.e. requests sent again to a slot's new owner
  /// after a resharding or failover (each also refreshes the slot table).
  uint64_t moved_redirects = 0;
  /// Cluster mode only: `-ASK` redirects followed (`ASKING` plus the
  /// request sent once to the node importing a slot during a migration).
  uint64_t ask_redirects = 0;
  /// Cluster mode only: node connections (one gateway each) the router
  /// holds right now: the nodes of the latest slot table it used, plus a
  /// seed while a refresh asks it.
  uint64_t cluster_nodes = 0;
  /// Cluster mode only: node connections the router closed because their
  /// node left the topology (or a seed or replica did not answer a
  /// refresh); a closed connection stops reconnecting.
  uint64_t cluster_nodes_dropped = 0;
  /// Cluster mode only: slot table refreshes that found no node answering
  /// (the next one waits a back-off, up to `reconnect_max`).
  uint64_t cluster_refresh_failures = 0;
  /// Requests waiting for a connection right now.
  uint64_t queued = 0;
  /// Replies Redis still owes right now.
  uint64_t in_flight = 0;
  /// Whether the connection is up.
  bool connected = false;
  /// Time from writing a request to Redis to its (last) reply, for every
  /// request answered by Redis (errors included; a refused request that is
  /// sent again counts once per send).
  latency_histogram latency;
};

/// Adds the counters of `from` to `into` (e.g. the node gateways behind a
/// cluster router, or every gateway of one role in a metrics scrape): every
/// count and gauge is summed and the latency histograms are merged;
/// `connected` is left alone (each caller decides what "up" means for the
/// sum).
inline void merge(gateway_stats& into, const gateway_stats& from) {
  into.sent += from.sent;
  into.replies += from.replies;
  into.errors += from.errors;
  into.timeouts += from.timeouts;
  into.reconnects += from.reconnects;
  into.script_reloads += from.script_reloads;
  into.refused_retries += from.refused_retries;
  into.lost_retries += from.lost_retries;
  into.moved_redirects += from.moved_redirects;
  into.ask_redirects += from.ask_redirects;
  into.cluster_nodes += from.cluster_nodes;
  into.cluster_nodes_dropped += from.cluster_nodes_dropped;
  into.cluster_refresh_failures += from.cluster_refresh_failures;
  into.queued += from.queued;
  into.in_flight += from.in_flight;
  into.latency.merge(from.latency);
}

/// Makes `gateway_stats` serializable for CAF messages.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, gateway_stats& x) {
  return f(caf::meta::type_name("gateway_stats"), x.sent, x.replies, x.errors,
           x.timeouts, x.reconnects, x.script_reloads, x.refused_retries,
           x.lost_retries, x.moved_redirects, x.ask_redirects, x.cluster_nodes,
           x.cluster_nodes_dropped, x.cluster_refresh_failures, x.queued, x.in_flight, x.connected, x.latency);
}

// -- actor interface ----------------------------------------------------------

/// A gateway owns one Redis connection and pipelines every request on it;
/// replies come back in order. See `spawn_gateway`.
///
/// A gateway answers every request within its command timeout (with the
/// reply or an error), so callers may send with `caf::infinite`: a finite
/// request timeout costs one timer registration in CAF's clock per request,
/// which dominates at high request rates.
using gateway_actor = caf::typed_actor<
  caf::replies_to<cmd_atom, command>::with<resp::value>,
  caf::replies_to<batch_atom, std::vector<command>>::with<
    std::vector<resp::value>>,
  caf::replies_to<eval_atom, script, std::vector<std::string>,
                  std::vector<std::string>>::with<resp::value>,
  caf::reacts_to<cancel_atom>,
  caf::replies_to<stats_atom>::with<gateway_stats>,
  caf::replies_to<direct_atom>::with<gateway_direct_ptr>,
  caf::replies_to<each_master_atom, command>::with<std::vector<resp::value>>,
  caf::replies_to<scan_keys_atom, scan_query>::with<scan_result>>;


// -- internal atoms (between a package's own actors) -------------------------

/// `(gw_tick_atom)`: a gateway checks request deadlines.
using gw_tick_atom = caf::atom_constant<caf::atom("gw_tick")>;

/// `(gw_resend_atom, request)`: a gateway sends a script again after
/// `NOSCRIPT`.
using gw_resend_atom = caf::atom_constant<caf::atom("gw_resend")>;

/// `(gw_retry_atom, request)`: a gateway sends a request again that Redis
/// refused without running it (`LOADING`, `BUSY`, `TRYAGAIN`,
/// `MASTERDOWN`).
using gw_retry_atom = caf::atom_constant<caf::atom("gw_retry")>;

/// `(link_up_atom, ...)`: a connect attempt succeeded (from the connecting
/// helper).
using link_up_atom = caf::atom_constant<caf::atom("link_up")>;

/// `(link_fail_atom, ...)`: a connect attempt failed.
using link_fail_atom = caf::atom_constant<caf::atom("link_fail")>;

/// `(link_retry_atom, ...)`: the reconnect back-off elapsed.
using link_retry_atom = caf::atom_constant<caf::atom("link_retry")>;

/// `(link_flush_atom)`: send what is pending on the connection.
using link_flush_atom = caf::atom_constant<caf::atom("link_flush")>;

/// `(link_data_atom, ...)`: bytes or replies from the reader thread.
using link_data_atom = caf::atom_constant<caf::atom("link_data")>;

/// `(link_down_atom, ...)`: the connection was lost.
using link_down_atom = caf::atom_constant<caf::atom("link_down")>;

} // namespace pulse

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(pulse::gateway_direct_ptr)
