#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <caf/duration.hpp>
#include <caf/expected.hpp>
#include <caf/fwd.hpp>
#include <caf/optional.hpp>

#include "pulse/messages/redis.hpp"
#include "pulse/messages/options.hpp"

namespace pulse {

/// Spawns a Redis gateway actor owning one connection.
///
/// While connected, request messages (`cmd`, `batch`, `eval`) do not wait
/// in the gateway's mailbox: the sender's thread encodes them into the
/// connection's output buffer (under the gateway's lock). A request that
/// finds few others in flight (up to 16) is sent at once from that thread;
/// behind more, it waits for the reader thread, which sends everything
/// pending after each chunk of replies, so a burst leaves in one send. A
/// reader thread per connection decodes replies and answers requesters
/// directly. Requests sent while disconnected, and every
/// request behind them or behind a `cancel_atom`, go through the mailbox,
/// so each sender's requests reach Redis in the order it sent them. Exit
/// the gateway (`send_exit`) when done; the runtime does this for the
/// gateways it spawns.
///
/// - Pipelining: any number of requests from any actors are written to the
///   connection as they arrive; replies are matched in FIFO order.
/// - `(cmd_atom, command)` replies with the reply value; a Redis error reply
///   becomes `errc::redis_error` with Redis' text.
/// - `(batch_atom, commands)` writes all commands back to back and replies
///   once with all replies (Redis error replies stay in the vector).
/// - `(eval_atom, script, keys, args)` sends `EVAL` the first time a script
///   is seen on a connection, `EVALSHA` afterwards, and answers `NOSCRIPT`
///   (after `SCRIPT FLUSH` or a failover) by re-sending `EVAL`; note that the
///   re-sent script then runs after commands pipelined behind it.
/// - `(each_master_atom, command)` runs the command like a batch of one
///   and replies with that one reply in a vector (the cluster router's
///   form, so callers need not know the mode); `(scan_keys_atom,
///   scan_query)` walks `SCAN` from cursor 0 until it is back at 0 (or
///   `max_rounds`), one round at a time, each bounded by the command
///   timeout, and replies with every key, sorted, each once.
/// - Connects (and `AUTH`/`SELECT`s) on spawn; while disconnected, requests
///   queue (up to `max-queued`, then `errc::overloaded`) and a failed connect
///   attempt fails them with its error (`errc::connect_failed`,
///   `errc::auth_failed`, `errc::tls_failed`, `errc::invalid_config`).
/// - A lost connection fails every request in flight with
///   `errc::disconnected`; a request without a reply within its timeout
///   fails with `errc::timeout`, and the connection is then reset (later
///   replies could no longer be matched). Reconnects use exponential
///   back-off with jitter, without user action.
/// - On exit, every pending request fails with `errc::closed`.
gateway_actor spawn_gateway(caf::actor_system& sys, const redis_options& opts,
                            gateway_role role = gateway_role::pipelined);

/// A gateway's direct entry for blocking callers (`pulse::client`): while
/// the gateway is connected, a call writes its command to the connection
/// from the caller's thread (under the gateway's lock, in FIFO order with
/// every other request) and waits for the reader thread to hand the reply
/// back, without a message hop through the gateway's mailbox; while that
/// thread is idle, the caller reads the reply itself
/// (`redis_options::reply_lead`, `reader_crew::lead`). When the
/// gateway is not connected, closing or gone, the call returns `none` and
/// the caller uses the ordinary messages, which queue and reconnect.
/// Timeouts, disconnects and shutdown answer direct calls like any other.
class gateway_direct {
public:
  /// The shared state behind the handle (`gateway_direct.cpp`).
  struct impl;

  /// Wraps `x`; use `direct_atom` on a gateway to get one.
  explicit gateway_direct(std::shared_ptr<impl> x) : impl_(std::move(x)) {
    // nop
  }

  /// Runs one command. `none` means "not taken" and leaves `cmd` intact.
  caf::optional<caf::expected<resp::value>> call(command& cmd,
                                                 caf::duration timeout);

  /// Runs a batch. `none` leaves `cmds` intact.
  caf::optional<caf::expected<std::vector<resp::value>>>
  batch(std::vector<command>& cmds, caf::duration timeout);

  /// Runs a script. `none` leaves `keys` and `args` intact.
  caf::optional<caf::expected<resp::value>>
  eval(const script& scr, std::vector<std::string>& keys,
       std::vector<std::string>& args, caf::duration timeout);

  /// Runs one command without waiting: `fn` runs once with the reply or the
  /// error, on the gateway's reader thread (same rules as `eval_async`).
  /// Returns false ("not taken", `cmd` intact) while not connected.
  bool call_async(command& cmd,
                  std::function<void(caf::expected<resp::value>)> fn);

  /// Runs a script without waiting: `fn` runs once with the reply or the
  /// error (timeout, disconnect, closed), on the gateway's reader thread
  /// (keep it short, and never wait on this gateway from it). Returns false
  /// ("not taken", `keys` and `args` intact) while the gateway is not
  /// connected.
  bool eval_async(const script& scr, std::vector<std::string>& keys,
                  std::vector<std::string>& args,
                  std::function<void(caf::expected<resp::value>)> fn);

private:
  std::shared_ptr<impl> impl_;
};

} // namespace pulse
