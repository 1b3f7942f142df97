#pragma once

#include <cstdint>
#include <string>

#include <caf/atom.hpp>
#include <caf/error.hpp>
#include <caf/fwd.hpp>

namespace pulse {

/// Project error codes, carried in `caf::error` values of category `pulse`.
/// Every error also carries a human-readable context string (see `render`).
enum class errc : uint8_t {
  /// Not an error.
  none = 0,
  /// The configuration is invalid (unknown option, wrong type, bad value,
  /// malformed `pulse.redis.url`), or Redis refused a configured value
  /// (`SELECT` of a database index it does not have).
  invalid_config,
  /// A connection to Redis (TCP or Unix socket) could not be established.
  connect_failed,
  /// Redis rejected AUTH (wrong password or ACL user), or a command of the
  /// handshake with NOAUTH (a password is needed).
  auth_failed,
  /// The connection to Redis was lost while the request was in flight.
  disconnected,
  /// The request did not complete within its command timeout.
  timeout,
  /// Redis answered the command with an error reply (`-ERR ...`).
  redis_error,
  /// Redis sent bytes that are not valid RESP2.
  protocol_error,
  /// The request was canceled on purpose (blocking gateway `cancel`).
  canceled,
  /// The actor or facade was closed or shut down.
  closed,
  /// An invalid argument (name, key, payload) was rejected before any I/O.
  invalid_argument,
  /// Too many requests are queued while Redis is unreachable.
  overloaded,
  /// Starting or stopping an embedded redis-server failed.
  server_failed,
  /// A pool job with this key is already pending or running.
  job_exists,
  /// No such job (or other named entity) exists.
  not_found,
  /// A worker's handler returned an error (its text is the context).
  handler_failed,
  /// Returned by a job handler's `start` to ask for redelivery later.
  requeue,
  /// The pool is shutting down or was shut down.
  shutting_down,
  /// `--help`, `--long-help` or `--dump-config` printed its text: the
  /// program should exit (status 0) without doing anything else.
  help_printed,
  /// A request is larger than `[pulse.redis] max-payload`; nothing was sent.
  too_large,
  /// A TLS connection to Redis could not be established: the handshake
  /// failed (certificate verification, host name check, protocol) or the
  /// server rejected the client right after it (e.g. a missing client
  /// certificate). The message names the cause, e.g. "certificate verify
  /// failed (certificate has expired)".
  tls_failed,
  /// Redis Sentinel could not name a usable master: the sentinels that
  /// answered do not know `pulse.redis.master-name`, or the address they
  /// gave does not say `ROLE master` within the connect timeout. (No
  /// sentinel reachable at all is `connect_failed`.)
  no_master,
  /// A write ran on the master, but `WAIT` saw fewer than
  /// `pulse.redis.wait-replicas` replicas acknowledge it within
  /// `wait-timeout`: a failover may lose it.
  not_replicated,
};

/// The error category atom of every `pulse::errc` error.
using pulse_category = caf::atom_constant<caf::atom("pulse")>;

/// Returns the name of `x`, e.g. `"timeout"`.
const char* to_string(errc x);

/// Builds a `caf::error` of category `pulse` with a context message.
caf::error make_error(errc x, std::string what = {});

/// Returns the code of `err` if it belongs to the `pulse` category, otherwise
/// `errc::none`.
errc code_of(const caf::error& err);

/// Returns whether `err` cannot go away by retrying the same request:
/// Redis error replies `WRONGTYPE`, `NOPERM`, `NOAUTH`, `WRONGPASS`,
/// unknown commands, and `errc::invalid_argument`, `errc::too_large`,
/// `errc::auth_failed`, `errc::invalid_config`, `errc::tls_failed`. Lost connections, timeouts,
/// `LOADING`, `BUSY`, `TRYAGAIN`, `MASTERDOWN` and the like are transient.
bool is_permanent(const caf::error& err);

/// Renders any error for humans: `pulse.timeout: GET k timed out after 1s`
/// for our errors, CAF's own text for the rest.
std::string render(const caf::error& err);

/// Renderer for `actor_system_config::add_error_category`.
std::string render_pulse_error(uint8_t code, caf::atom_value category,
                               const caf::message& context);

} // namespace pulse
