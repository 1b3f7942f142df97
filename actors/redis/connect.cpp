#include "pulse/actors/redis/connect.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>
#include <vector>

#include <caf/message.hpp>
#include <hiredis/hiredis.h>

#include "pulse/actors/redis/backoff.hpp"
#include "pulse/actors/redis/resp.hpp"
#include "pulse/actors/redis/sentinel.hpp"
#include "pulse/actors/redis/tls.hpp"
#include "pulse/actors/redis/url.hpp"
#include "pulse/runtime/errors.hpp"
#include "pulse/runtime/log.hpp"

namespace pulse {

namespace {

/// While `wait_for_redis` waits, it logs at most this often.
constexpr auto wait_log_period = std::chrono::seconds{5};

timeval to_timeval(caf::timespan d) {
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(d).count();
  timeval tv;
  tv.tv_sec = static_cast<time_t>(us / 1000000);
  tv.tv_usec = static_cast<suseconds_t>(us % 1000000);
  return tv;
}

long long to_ms(caf::timespan d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

// The context text of one of our errors (render() less its code prefix).
std::string what_of(const caf::error& err) {
  if (err.context().match_elements<std::string>())
    return err.context().get_as<std::string>(0);
  return render(err);
}

// Sets SO_KEEPALIVE and its timing on a TCP socket (see connect.hpp).
void set_keepalive(int fd, caf::timespan idle, const std::string& where) {
  int on = idle.count() > 0 ? 1 : 0;
  bool ok = ::setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on)) == 0;
  if (on != 0 && ok) {
    auto ns = idle.count();
    int secs = static_cast<int>(
      std::min<int64_t>((ns + 999999999) / 1000000000, 32767));
    int intvl = std::max(1, secs / 3);
    int cnt = 3;
    ok = ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &secs, sizeof(secs)) == 0
         && ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl,
                         sizeof(intvl))
              == 0
         && ::setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt))
              == 0;
  }
  if (!ok) // not fatal: the connection works without it
    log::warn("redis tcp-keepalive not set endpoint={} error=\"{}\"", where,
              std::strerror(errno));
}

// Runs the handshake commands over a connected wire, sharing the connect
// deadline.
class handshake {
public:
  handshake(detail::wire& w, const redis_options& opts, std::string where,
            std::chrono::steady_clock::time_point until)
    : w_(w), opts_(opts), where_(std::move(where)), until_(until) {
    // nop
  }

  // Runs `args`; an error reply becomes `code` (NOAUTH: auth_failed; a
  // server refusing the connection at `maxclients`: connect_failed).
  caf::expected<int64_t> run(const std::vector<std::string>& args, errc code,
                             const std::string& what) {
    auto r = call(args);
    if (!r)
      return io_failure(what, r.error());
    first_ = false;
    if (r->is_error()) {
      if (r->str.compare(0, 6, "NOAUTH") == 0)
        code = errc::auth_failed;
      else if (r->str.find("max number of clients reached")
               != std::string::npos)
        code = errc::connect_failed;
      return make_error(code, what + " rejected by " + where_ + ": " + r->str);
    }
    return r->type == resp::kind::integer ? r->integer : 0;
  }

  // Runs `args` and returns the raw reply (`ROLE`); a failed exchange is
  // an error as in `run`.
  caf::expected<resp::value> raw(const std::vector<std::string>& args,
                                 const std::string& what) {
    auto r = call(args);
    if (!r)
      return io_failure(what, r.error());
    first_ = false;
    return r;
  }

private:
  caf::expected<resp::value> call(const std::vector<std::string>& args) {
    return detail::sync_call(w_, dec_, args, until_);
  }

  // A failed exchange. Right after a TLS handshake, a server that drops
  // the connection rejected the client (TLS 1.3 reports a missing client
  // certificate only at the first read or write).
  caf::error io_failure(const std::string& what, const caf::error& err) {
    auto cause = what_of(err);
    if (code_of(err) == errc::timeout)
      return make_error(errc::connect_failed,
                        what + " on " + where_ + " failed: timed out after "
                          + std::to_string(to_ms(opts_.connect_timeout))
                          + "ms (pulse.redis.connect-timeout)");
    if (first_ && w_.tls() && code_of(err) == errc::disconnected)
      return make_error(
        errc::tls_failed,
        "TLS: " + where_ + " closed the connection after the handshake ("
          + cause + "); "
          + (opts_.tls_cert_file.empty()
               ? "the server may require a client certificate (set "
                 "pulse.redis.tls-cert-file and pulse.redis.tls-key-file)"
               : "the server may not accept the client certificate "
                 "pulse.redis.tls-cert-file (signed by a CA it trusts?)"));
    return make_error(errc::connect_failed,
                      what + " on " + where_ + " failed: " + cause);
  }

  detail::wire& w_;
  const redis_options& opts_;
  std::string where_;
  std::chrono::steady_clock::time_point until_;
  resp::decoder dec_;
  bool first_ = true;
};

} // namespace

namespace detail {

caf::expected<resp::value> sync_call(wire& w, resp::decoder& dec,
                                     const std::vector<std::string>& args,
                                     std::chrono::steady_clock::time_point
                                       until) {
  std::vector<char> out;
  resp::encode(out, args);
  if (auto err = w.write_all(out.data(), out.size(), until))
    return err;
  resp::value reply;
  char buf[4096];
  for (;;) {
    auto got = dec.next(reply);
    if (!got)
      return got.error();
    if (*got)
      return reply;
    auto n = w.read_some(buf, sizeof(buf), until);
    if (!n)
      return n.error();
    if (auto err = dec.feed(buf, *n))
      return err;
  }
}

caf::expected<wire_ptr> open_wire(const redis_options& opts,
                                  const std::string& host_in, uint16_t port,
                                  const std::string& where,
                                  std::chrono::steady_clock::time_point
                                    until) {
  bool tcp = !host_in.empty() || opts.unix_socket.empty();
  auto left = std::max<std::chrono::steady_clock::duration>(
    until - std::chrono::steady_clock::now(), std::chrono::milliseconds{1});
  auto tv = to_timeval(std::chrono::duration_cast<caf::timespan>(left));
  auto host = host_in.empty() ? std::string{"127.0.0.1"} : host_in;
  redisContext* c = tcp ? redisConnectWithTimeout(host.c_str(), port, tv)
                        : redisConnectUnixWithTimeout(
                          opts.unix_socket.c_str(), tv);
  if (c == nullptr)
    return make_error(errc::connect_failed,
                      "cannot allocate a connection to " + where);
  if (c->err != 0) {
    auto msg = "cannot connect to " + where + ": " + c->errstr;
    redisFree(c);
    return make_error(errc::connect_failed, std::move(msg));
  }
  // hiredis only connects: the socket is ours from here on.
  int fd = redisFreeKeepFd(c);
  // No socket timeouts (the handshake polls with the deadline), no Nagle.
  timeval zero{0, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &zero, sizeof(zero));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &zero, sizeof(zero));
  if (tcp) {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    set_keepalive(fd, opts.tcp_keepalive, where);
  }
  ssl_st* ssl = nullptr;
  if (opts.tls && tcp) {
    auto s = detail::tls_connect(fd, opts, host, where, until);
    if (!s) {
      ::close(fd);
      return s.error();
    }
    ssl = *s;
  } else {
    // Plain sockets stay blocking: the reader thread waits in `recv`
    // itself (one syscall per wake-up), and writers send with
    // MSG_DONTWAIT. TLS sockets are non-blocking (see wire).
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL, 0) & ~O_NONBLOCK);
  }
  return std::make_shared<detail::wire>(fd, ssl, where);
}

caf::expected<connected_socket>
connect_node(const redis_options& opts, bool check_role,
             std::chrono::steady_clock::time_point until) {
  auto where = opts.endpoint();
  auto host = opts.unix_socket.empty()
                ? (opts.host.empty() ? std::string{"127.0.0.1"} : opts.host)
                : std::string{};
  auto w = open_wire(opts, host, opts.port, where, until);
  if (!w)
    return w.error();
  handshake hs{**w, opts, where, until};
  if (!opts.password.empty()) {
    std::vector<std::string> args{"AUTH"};
    if (!opts.username.empty())
      args.push_back(opts.username);
    args.push_back(opts.password);
    if (auto res = hs.run(args, errc::auth_failed, "AUTH"); !res)
      return res.error();
  }
  if (opts.db != 0) {
    // A refused SELECT is a configuration problem ("ERR DB index is out of
    // range"), not a credential one; NOAUTH stays auth_failed.
    auto res = hs.run({"SELECT", std::to_string(opts.db)},
                      errc::invalid_config,
                      "pulse.redis.db = " + std::to_string(opts.db)
                        + ": SELECT");
    if (!res)
      return res.error();
  }
  // A server that needs a password answers the first command with NOAUTH:
  // CLIENT ID doubles as the check. Its reply is also the proof that the
  // connection works ("connected" means a reply was parsed).
  auto id = hs.run({"CLIENT", "ID"}, errc::auth_failed, "CLIENT ID");
  if (!id)
    return id.error();
  if (check_role) {
    // Sentinel: the address may be stale (a demoted master keeps saying
    // master until a sentinel reconfigures it, a promoted replica may not
    // be promoted yet): only `ROLE master` counts.
    auto role = hs.raw({"ROLE"}, "ROLE");
    if (!role)
      return role.error();
    std::string name = role->is_array() && !role->elements.empty()
                         ? role->elements.front().str
                         : role->render();
    if (name != "master")
      return make_error(errc::no_master,
                        where + " says ROLE " + name + ", not master");
  }
  return connected_socket{std::move(*w), *id, where, nullptr, {}};
}

} // namespace detail

caf::expected<connected_socket> connect_redis(const redis_options& in) {
  return connect_redis(in, std::string{});
}

caf::expected<connected_socket> connect_redis(const redis_options& in,
                                              const std::string& hint) {
  return connect_redis(in, hint, std::vector<std::string>{});
}

caf::expected<connected_socket>
connect_redis(const redis_options& in, const std::string& hint,
              const std::vector<std::string>& cluster_known) {
  auto opts = in;
  if (auto err = apply_redis_url(opts))
    return err;
  if (auto err = detail::check_tls_options(opts))
    return err;
  if (opts.cluster)
    return detail::connect_via_cluster(opts, cluster_known, hint);
  if (opts.use_sentinel())
    return detail::connect_via_sentinels(opts, hint);
  return detail::connect_node(
    opts, false, std::chrono::steady_clock::now() + opts.connect_timeout);
}

caf::error wait_for_redis(const redis_options& in) {
  auto opts = in;
  if (auto err = apply_redis_url(opts))
    return err;
  using clock = std::chrono::steady_clock;
  auto start = clock::now();
  auto deadline = start + opts.connect_wait;
  backoff delays{opts.reconnect_min, opts.reconnect_max};
  auto last_log = start;
  uint64_t attempts = 0;
  for (;;) {
    auto attempt = opts;
    auto left = deadline - clock::now();
    if (opts.connect_wait.count() > 0)
      attempt.connect_timeout = std::min<caf::timespan>(
        opts.connect_timeout,
        std::max<caf::timespan>(
          std::chrono::duration_cast<caf::timespan>(left),
          std::chrono::milliseconds{100}));
    ++attempts;
    auto res = connect_redis(attempt);
    if (res) {
      res->conn.reset(); // closes the socket
      if (attempts > 1)
        log::info("redis reachable endpoint={} waited_ms={} attempts={}",
                  opts.endpoint(), to_ms(clock::now() - start), attempts);
      return caf::none;
    }
    // Sentinels without a master yet (failover under way) count as "not
    // up yet" too.
    if ((code_of(res.error()) != errc::connect_failed
         && code_of(res.error()) != errc::no_master)
        || opts.connect_wait.count() <= 0)
      return res.error();
    auto now = clock::now();
    if (now >= deadline)
      return make_error(errc::connect_failed,
                        opts.endpoint() + " not reachable within "
                          "pulse.redis.connect-wait ("
                          + std::to_string(to_ms(opts.connect_wait))
                          + "ms, " + std::to_string(attempts)
                          + " attempts): " + what_of(res.error()));
    if (attempts == 1 || now - last_log >= wait_log_period) {
      log::info("waiting for redis endpoint={} waited_ms={} "
                "connect_wait_ms={} attempts={} error=\"{}\"",
                opts.endpoint(), to_ms(now - start),
                to_ms(opts.connect_wait), attempts, res.error());
      last_log = now;
    }
    auto pause = std::min<clock::duration>(delays.next(), deadline - now);
    std::this_thread::sleep_for(pause);
  }
}

} // namespace pulse
