#include "pulse/actors/redis/wire.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <utility>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "pulse/actors/redis/tls.hpp"
#include "pulse/runtime/errors.hpp"

namespace pulse::detail {

namespace {

io_result hard(std::string what) {
  io_result r;
  r.error = make_error(errc::disconnected, std::move(what));
  return r;
}

io_result moved(size_t n) {
  io_result r;
  r.n = n;
  return r;
}

io_result again(short& want, short dir) {
  io_result r;
  r.again = true;
  want = dir;
  return r;
}

// Waits for `events` on `fd` until `until`; false on timeout.
bool wait_for(int fd, short events, wire::deadline until) {
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                  until - std::chrono::steady_clock::now())
                  .count();
    if (left <= 0)
      return false;
    pollfd p{fd, events, 0};
    auto n = ::poll(&p, 1, static_cast<int>(std::min<long long>(left, 1000)));
    if (n > 0)
      return true; // readable, writable, or an error the next call reports
    if (n < 0 && errno != EINTR)
      return true;
  }
}

} // namespace

wire::wire(int fd, ssl_st* ssl, std::string where)
  : fd_(fd), ssl_(ssl), where_(std::move(where)) {
  // nop
}

wire::~wire() {
  if (ssl_ != nullptr)
    SSL_free(ssl_);
  if (fd_ >= 0)
    ::close(fd_);
}

io_result wire::tls_failure(int ret, int code, const char* what) {
  failed_ = true;
  if (code == SSL_ERROR_ZERO_RETURN) {
    io_result r;
    r.closed = true;
    return r;
  }
  auto cause = tls_error_text(ssl_, ret, code);
  return hard(std::string{"TLS "} + what + " on " + where_ + ": " + cause);
}

io_result wire::plain_read(char* buf, size_t size, int flags, short& want) {
  auto n = ::recv(fd_, buf, size, flags);
  if (n > 0)
    return moved(static_cast<size_t>(n));
  if (n == 0) {
    io_result r;
    r.closed = true;
    return r;
  }
  if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
    return again(want, POLLIN);
  return hard("recv on " + where_ + ": " + std::strerror(errno));
}

// Pre: `mtx_` held. Reads records until `size` bytes or nothing is left
// that OpenSSL could decrypt without waiting.
io_result wire::tls_read_locked(char* buf, size_t size, short& want) {
  size_t got = 0;
  while (got < size) {
    ERR_clear_error();
    auto chunk = static_cast<int>(std::min<size_t>(size - got, INT_MAX));
    int n = SSL_read(ssl_, buf + got, chunk);
    if (n > 0) {
      got += static_cast<size_t>(n);
      continue;
    }
    int code = SSL_get_error(ssl_, n);
    if (code == SSL_ERROR_WANT_READ || code == SSL_ERROR_WANT_WRITE) {
      if (got > 0)
        break;
      return again(want, code == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT);
    }
    auto failure = tls_failure(n, code, "read");
    if (got == 0)
      return failure;
    deferred_ = std::move(failure); // hand out the bytes first
    break;
  }
  return moved(got);
}

io_result wire::read(char* buf, size_t size) {
  if (ssl_ == nullptr) {
    for (;;) {
      // A blocking receive: one syscall per wake-up; `shut` ends it.
      short want = 0;
      auto r = plain_read(buf, size, 0, want);
      if (!r.again)
        return r;
    }
  }
  for (;;) {
    short want = 0;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      if (deferred_.error || deferred_.closed)
        return std::exchange(deferred_, io_result{});
      auto r = tls_read_locked(buf, size, want);
      if (!r.again)
        return r;
    }
    // Everything OpenSSL had is consumed: now the kernel must have more.
    pollfd p{fd_, want, 0};
    if (::poll(&p, 1, -1) < 0 && errno != EINTR)
      return hard("poll on " + where_ + ": " + std::strerror(errno));
  }
}

bool wire::wait_readable(std::chrono::microseconds timeout) {
  pollfd p{fd_, POLLIN, 0};
  timespec ts{};
  timespec* limit = nullptr;
  if (timeout.count() >= 0) {
    ts.tv_sec = static_cast<time_t>(timeout.count() / 1000000);
    ts.tv_nsec = static_cast<long>(timeout.count() % 1000000) * 1000;
    limit = &ts;
  }
  // EINTR and errors count as "readable": `read_now` tells what happened.
  return ::ppoll(&p, 1, limit, nullptr) != 0;
}

io_result wire::read_now(char* buf, size_t size) {
  short want = 0;
  return plain_read(buf, size, MSG_DONTWAIT, want);
}

io_result wire::tls_write_locked(const char* buf, size_t size, short& want) {
  ERR_clear_error();
  int n = SSL_write(ssl_, buf, static_cast<int>(std::min<size_t>(size,
                                                                 INT_MAX)));
  if (n > 0)
    return moved(static_cast<size_t>(n));
  int code = SSL_get_error(ssl_, n);
  if (code == SSL_ERROR_WANT_WRITE)
    return again(want, POLLOUT);
  if (code == SSL_ERROR_WANT_READ)
    return again(want, POLLIN);
  return tls_failure(n, code, "write");
}

io_result wire::write(const char* buf, size_t size) {
  if (size == 0)
    return {};
  short want = 0;
  if (ssl_ != nullptr) {
    std::lock_guard<std::mutex> guard{mtx_};
    if (failed_)
      return hard("TLS write on " + where_ + ": the session failed");
    return tls_write_locked(buf, size, want);
  }
  for (;;) {
    auto n = ::send(fd_, buf, size, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n >= 0)
      return moved(static_cast<size_t>(n));
    if (errno == EINTR)
      continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK)
      return again(want, POLLOUT);
    return hard("send to " + where_ + ": " + std::strerror(errno));
  }
}

void wire::shut() {
  if (ssl_ != nullptr) {
    std::lock_guard<std::mutex> guard{mtx_};
    if (!failed_) {
      // One non-blocking close_notify; its result does not matter.
      ERR_clear_error();
      SSL_shutdown(ssl_);
      ERR_clear_error();
    }
    failed_ = true; // no more TLS writes after this
  }
  ::shutdown(fd_, SHUT_RDWR);
}

caf::error wire::write_all(const char* buf, size_t size, deadline until) {
  size_t pos = 0;
  while (pos < size) {
    short want = POLLOUT;
    io_result r;
    if (ssl_ != nullptr) {
      std::lock_guard<std::mutex> guard{mtx_};
      r = tls_write_locked(buf + pos, size - pos, want);
    } else {
      r = write(buf + pos, size - pos);
    }
    if (r.error)
      return r.error;
    if (r.closed)
      return make_error(errc::disconnected,
                        "connection to " + where_ + " closed");
    pos += r.n;
    if (r.again && !wait_for(fd_, want, until))
      return make_error(errc::timeout, "timed out");
  }
  return caf::none;
}

caf::expected<size_t> wire::read_some(char* buf, size_t size,
                                      deadline until) {
  for (;;) {
    short want = POLLIN;
    io_result r;
    if (ssl_ != nullptr) {
      std::lock_guard<std::mutex> guard{mtx_};
      r = deferred_.error || deferred_.closed
            ? std::exchange(deferred_, io_result{})
            : tls_read_locked(buf, size, want);
    } else {
      r = plain_read(buf, size, MSG_DONTWAIT, want);
    }
    if (r.error)
      return r.error;
    if (r.closed)
      return make_error(errc::disconnected,
                        "connection to " + where_ + " closed");
    if (r.n > 0)
      return r.n;
    if (!wait_for(fd_, want, until))
      return make_error(errc::timeout, "timed out");
  }
}

} // namespace pulse::detail
