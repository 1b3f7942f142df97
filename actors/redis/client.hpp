#pragma once

#include <chrono>
#include <string>
#include <vector>

#include <caf/expected.hpp>
#include <caf/fwd.hpp>
#include <caf/duration.hpp>
#include <caf/scoped_actor.hpp>

#include "pulse/actors/redis/gateway.hpp"
#include "pulse/messages/redis.hpp"

namespace pulse {

/// Blocking facade over a gateway for code that is not an actor. Each call
/// waits for its reply. While the gateway is connected, calls go through its
/// direct entry (`gateway_direct`: written from this thread, no mailbox
/// hop); otherwise they are ordinary requests. Not thread-safe: use one
/// client per thread (they may share a gateway).
class client {
public:
  /// `timeout` bounds each call on top of the gateway's own command timeout.
  /// The default, `caf::infinite`, is safe with a Pulse gateway (it answers
  /// every request within its command timeout, and a dead gateway answers
  /// with an error) and avoids one timer registration per call.
  explicit client(caf::actor_system& sys, gateway_actor gw,
                  caf::duration timeout = caf::infinite);

  /// Like above with a finite per-call timeout.
  client(caf::actor_system& sys, gateway_actor gw, caf::timespan timeout);

  /// Runs one command. Errors: any gateway error (`errc::redis_error`,
  /// `errc::timeout`, `errc::disconnected`, ...).
  caf::expected<resp::value> call(command cmd);

  /// Runs `make_command(xs...)`.
  template <class... Ts>
  caf::expected<resp::value> operator()(Ts&&... xs) {
    return call(make_command(std::forward<Ts>(xs)...));
  }

  /// Runs many commands in one request; Redis error replies stay in the
  /// result vector.
  caf::expected<std::vector<resp::value>> batch(std::vector<command> cmds);

  /// Runs a script (`EVALSHA`, falling back to `EVAL`).
  caf::expected<resp::value> eval(const script& scr,
                                  std::vector<std::string> keys,
                                  std::vector<std::string> args);

  /// Runs a keyless command on every master (`each_master_atom`): one
  /// reply per master of a cluster, one on a single node; Redis error
  /// replies stay in the vector. Errors: any gateway error of any master.
  caf::expected<std::vector<resp::value>> each_master(command cmd);

  /// Lists keys on every master (`scan_keys_atom`: `SCAN ... MATCH
  /// <pattern> COUNT <count> [TYPE <type>]` until each cursor is back at 0,
  /// or `max_rounds` rounds per master). Errors: any gateway error of any
  /// master, `errc::redis_error` (e.g. an unknown `TYPE`).
  caf::expected<scan_result> scan(scan_query q);

  /// Returns the gateway's counters.
  caf::expected<gateway_stats> stats();

private:
  caf::scoped_actor self_;
  gateway_actor gw_;
  caf::duration timeout_;
  /// The gateway's direct entry (null if unavailable): calls skip the
  /// gateway's mailbox while it is connected.
  gateway_direct_ptr direct_;
};

} // namespace pulse
