#pragma once

/// Internal: TLS client sessions (OpenSSL) on connected sockets, for
/// `connect_redis`. Not part of the public API.

#include <chrono>
#include <cstdint>
#include <string>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "pulse/messages/options.hpp"

struct ssl_st; // OpenSSL's SSL

namespace pulse::detail {

/// Checks the TLS options before any I/O. Errors: `errc::invalid_config`
/// when `tls` is on for a Unix socket (Redis serves TLS on TCP only), or
/// when only one of `tls_cert_file` and `tls_key_file` is set.
caf::error check_tls_options(const redis_options& opts);

/// Runs a TLS client handshake on the connected socket `fd` by `until` and
/// returns the session (the caller owns it: `SSL_free`; it does not own
/// `fd`). The socket is made non-blocking. The context is built again
/// whenever a CA, certificate or key file changed (modification time or
/// size), so reconnects pick up rotated files: TLS 1.2 or
/// newer; with `tls_verify`, the server's chain is checked against
/// `tls_ca_file` (or the system store) and its name against
/// `tls_server_name` (default `host`; DNS names and IP addresses, no
/// partial wildcards); SNI is sent for DNS names only. `tls_cert_file` and
/// `tls_key_file` are presented when set. Writes use MSG_NOSIGNAL, so a
/// peer that went away never raises SIGPIPE. The handshake offers the last
/// session the server issued for the same endpoint and TLS options
/// (process-wide), so reconnects and further connections resume it (an
/// abbreviated handshake); a server that declines gets a full handshake,
/// and a failed handshake drops the cached session.
///
/// Errors (each naming `where` and the cause):
/// - `errc::invalid_config`: a CA, certificate or key file that cannot be
///   loaded, or a key that does not match the certificate;
/// - `errc::tls_failed`: the handshake failed, e.g. "certificate verify
///   failed (certificate has expired)", "(hostname mismatch)", "(unable to
///   get local issuer certificate)", a TLS alert from the server, or "wrong
///   version number" (no TLS on that port);
/// - `errc::connect_failed`: the connection was reset or closed during the
///   handshake, or it did not finish by `until`.
caf::expected<ssl_st*> tls_connect(int fd, const redis_options& opts,
                                   const std::string& host,
                                   const std::string& where,
                                   std::chrono::steady_clock::time_point until);

/// How many handshakes of this process resumed a cached session.
uint64_t tls_sessions_resumed();

/// Drops every cached session: the next handshake to each server is a full
/// one (benchmarks compare both).
void tls_forget_sessions();

/// Returns the cause of a failed `SSL_*` call (`ret` its result, `code` its
/// `SSL_get_error`) and clears OpenSSL's error queue: the reason of the
/// first queued error (with the certificate verification result after
/// "certificate verify failed"), else the `errno` text, else "unexpected
/// end of file".
std::string tls_error_text(ssl_st* ssl, int ret, int code);

} // namespace pulse::detail
