#include "pulse/actors/redis/connect.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <chrono>

#include <hiredis/hiredis.h>

#include "pulse/runtime/errors.hpp"

namespace pulse {

namespace {

timeval to_timeval(caf::timespan d) {
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(d).count();
  timeval tv;
  tv.tv_sec = static_cast<time_t>(us / 1000000);
  tv.tv_usec = static_cast<suseconds_t>(us % 1000000);
  return tv;
}

std::string endpoint(const redis_options& opts) {
  return opts.host + ":" + std::to_string(opts.port);
}

} // namespace

caf::expected<connected_socket> connect_redis(const redis_options& opts) {
  auto tv = to_timeval(opts.connect_timeout);
  auto host = opts.host.empty() ? std::string{"127.0.0.1"} : opts.host;
  redisContext* c = redisConnectWithTimeout(host.c_str(), opts.port, tv);
  if (c == nullptr)
    return make_error(errc::connect_failed,
                      "cannot allocate a connection to " + endpoint(opts));
  if (c->err != 0) {
    auto msg = "cannot connect to " + endpoint(opts) + ": " + c->errstr;
    redisFree(c);
    return make_error(errc::connect_failed, std::move(msg));
  }
  // The handshake shares the connect deadline.
  redisSetTimeout(c, tv);
  auto run = [&](std::vector<std::string> args, errc code,
                 const char* what) -> caf::expected<int64_t> {
    std::vector<const char*> argv;
    std::vector<size_t> lens;
    for (auto& a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    auto r = static_cast<redisReply*>(
      redisCommandArgv(c, static_cast<int>(argv.size()), argv.data(),
                       lens.data()));
    if (r == nullptr)
      return make_error(errc::connect_failed, std::string{what} + " on "
                                                + endpoint(opts)
                                                + " failed: " + c->errstr);
    if (r->type == REDIS_REPLY_ERROR) {
      auto msg = std::string{what} + " rejected by " + endpoint(opts) + ": "
                 + std::string{r->str, r->len};
      freeReplyObject(r);
      return make_error(code, std::move(msg));
    }
    int64_t result = r->type == REDIS_REPLY_INTEGER ? r->integer : 0;
    freeReplyObject(r);
    return result;
  };
  if (!opts.password.empty()) {
    std::vector<std::string> args{"AUTH"};
    if (!opts.username.empty())
      args.push_back(opts.username);
    args.push_back(opts.password);
    if (auto res = run(std::move(args), errc::auth_failed, "AUTH"); !res) {
      redisFree(c);
      return res.error();
    }
  }
  if (opts.db != 0) {
    auto res = run({"SELECT", std::to_string(opts.db)}, errc::auth_failed,
                   "SELECT");
    if (!res) {
      redisFree(c);
      return res.error();
    }
  }
  // A server that needs a password answers the first command with NOAUTH:
  // CLIENT ID doubles as the check.
  auto id = run({"CLIENT", "ID"}, errc::auth_failed, "CLIENT ID");
  if (!id) {
    redisFree(c);
    return id.error();
  }
  int fd = redisFreeKeepFd(c);
  // Back to no socket timeouts, no Nagle. The socket stays blocking: the
  // reader thread waits in `recv` itself (one syscall per wake-up), and
  // writers send with MSG_DONTWAIT.
  timeval zero{0, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &zero, sizeof(zero));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &zero, sizeof(zero));
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL, 0) & ~O_NONBLOCK);
  return connected_socket{fd, *id};
}

void close_socket(int fd) {
  if (fd >= 0)
    ::close(fd);
}

} // namespace pulse
