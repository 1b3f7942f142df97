#pragma once

/// Internal: one connected socket to Redis, plain or TLS, as the link and
/// the connect handshake use it. Not part of the public API.

#include <chrono>
#include <cstddef>
#include <memory>
#include <mutex>
#include <string>

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/error.hpp>
#include <caf/expected.hpp>

struct ssl_st; // OpenSSL's SSL

namespace pulse::detail {

/// The outcome of one non-blocking read or write.
struct io_result {
  /// Bytes moved (0 when `again`, `closed` or `error`).
  size_t n = 0;
  /// Nothing moved now; try again later (socket buffer full or empty, or
  /// TLS needs the other direction first).
  bool again = false;
  /// The peer closed the connection (EOF or TLS close_notify).
  bool closed = false;
  /// A hard error (`errc::disconnected`), its text naming the endpoint.
  caf::error error;
};

/// One connected socket: a plain file descriptor, or one with a TLS session
/// (an OpenSSL `SSL*`) on top. Owns both: the destructor frees the session
/// and closes the descriptor.
///
/// Threads: `read` runs on one reader thread while any thread may `write`
/// (one at a time: the link's `sending_` flag). A TLS session must never be
/// used by two threads at once, so every `SSL_read`/`SSL_write` runs under
/// the wire's own mutex; waiting for the socket (`poll`) runs without it.
/// A plain socket stays blocking (the reader waits in `recv`, writers send
/// with MSG_DONTWAIT); a TLS socket is non-blocking. Writes never raise
/// SIGPIPE (MSG_NOSIGNAL, also below OpenSSL).
class wire {
public:
  using deadline = std::chrono::steady_clock::time_point;

  /// Takes `fd` (connected) and `ssl` (a finished TLS session on `fd`, or
  /// null for plain text). `where` names the endpoint in errors.
  wire(int fd, ssl_st* ssl, std::string where);
  ~wire();

  wire(const wire&) = delete;
  wire& operator=(const wire&) = delete;

  /// The socket.
  int fd() const noexcept { return fd_; }

  /// Returns whether the connection is TLS.
  bool tls() const noexcept { return ssl_ != nullptr; }

  /// Reader thread: waits until bytes arrive and reads up to `size` of them
  /// into `buf`. With TLS, decrypts every record already received (also the
  /// ones `poll` cannot see: OpenSSL buffers whole records) before waiting
  /// again. Never `again`.
  io_result read(char* buf, size_t size);

  /// Plain sockets only: waits up to `timeout` (negative: no limit) until
  /// bytes can be read or the connection ended (`shut` included). Returns
  /// false when the time ran out. A following `read_now` tells which.
  bool wait_readable(std::chrono::microseconds timeout);
  /// Plain sockets only: reads what the socket holds, up to `size` bytes,
  /// without waiting (`again` when it holds nothing).
  io_result read_now(char* buf, size_t size);
  /// Any thread: sends up to `size` bytes without blocking. With TLS a
  /// retry after `again` must pass the same bytes first (more may follow).
  io_result write(const char* buf, size_t size);

  /// Wakes a waiting `read` and ends the connection for both directions
  /// (TLS: sends close_notify first unless the session failed).
  void shut();

  /// Handshake helper: sends all `size` bytes by `until`. Errors:
  /// `errc::disconnected` (with the cause) or `errc::timeout`.
  caf::error write_all(const char* buf, size_t size, deadline until);

  /// Handshake helper: reads some bytes by `until` (at least one). Errors:
  /// `errc::disconnected` (closed, reset) or `errc::timeout`.
  caf::expected<size_t> read_some(char* buf, size_t size, deadline until);

private:
  io_result tls_read_locked(char* buf, size_t size, short& want);
  io_result tls_write_locked(const char* buf, size_t size, short& want);
  io_result plain_read(char* buf, size_t size, int flags, short& want);
  io_result tls_failure(int ret, int code, const char* what);

  int fd_;
  ssl_st* ssl_;
  std::string where_;
  /// Guards `ssl_` (every OpenSSL call on it) and `failed_`.
  std::mutex mtx_;
  /// The session had a fatal error: no close_notify any more.
  bool failed_ = false;
  /// An error met after bytes were read, reported by the next `read`.
  io_result deferred_;
};

/// Shared ownership of a wire: the link, its reader thread and the connect
/// helper that hands it over hold it.
using wire_ptr = std::shared_ptr<wire>;

} // namespace pulse::detail

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(pulse::detail::wire_ptr)
