#include "pulse/runtime/redis_server.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include <hiredis/hiredis.h>

#include "pulse/runtime/errors.hpp"
#include "pulse/runtime/log.hpp"

namespace pulse {

uint16_t free_loopback_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0)
    return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  uint16_t result = 0;
  socklen_t len = sizeof(addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0
      && ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0)
    result = ntohs(addr.sin_port);
  ::close(fd);
  return result;
}

namespace {

std::string log_tail(const std::string& dir) {
  std::ifstream in{dir + "/redis.log"};
  std::string line;
  std::vector<std::string> lines;
  while (std::getline(in, line))
    lines.push_back(line);
  std::string result;
  auto first = lines.size() > 5 ? lines.size() - 5 : 0;
  for (auto i = first; i < lines.size(); ++i)
    result += "\n  " + lines[i];
  return result;
}

// Returns true once the server answers PING with PONG (not LOADING).
bool ping(uint16_t port, const std::string& password) {
  timeval tv{0, 200000};
  auto c = redisConnectWithTimeout("127.0.0.1", port, tv);
  if (c == nullptr)
    return false;
  bool ok = false;
  if (c->err == 0) {
    redisSetTimeout(c, tv);
    if (!password.empty()) {
      auto r = static_cast<redisReply*>(
        redisCommand(c, "AUTH %s", password.c_str()));
      if (r != nullptr)
        freeReplyObject(r);
    }
    auto r = static_cast<redisReply*>(redisCommand(c, "PING"));
    if (r != nullptr) {
      ok = r->type == REDIS_REPLY_STATUS && std::string{r->str} == "PONG";
      freeReplyObject(r);
    }
  }
  redisFree(c);
  return ok;
}

} // namespace

redis_server::redis_server(server_options opts) : opts_(std::move(opts)) {
  // nop
}

caf::expected<std::unique_ptr<redis_server>>
redis_server::start(server_options opts) {
  if (opts.port == 0)
    opts.port = free_loopback_port();
  if (opts.port == 0)
    return make_error(errc::server_failed, "no free loopback port");
  std::unique_ptr<redis_server> result{new redis_server(std::move(opts))};
  char tmpl[] = "/tmp/pulse-redis-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr)
    return make_error(errc::server_failed, "mkdtemp failed");
  result->dir_ = tmpl;
  if (auto err = result->spawn())
    return err;
  return result;
}

caf::error redis_server::spawn() {
  std::vector<std::string> args{opts_.binary,
                                "--port",
                                std::to_string(opts_.port),
                                "--bind",
                                "127.0.0.1",
                                "--dir",
                                dir_,
                                "--save",
                                "",
                                "--daemonize",
                                "no",
                                "--protected-mode",
                                "no",
                                "--logfile",
                                dir_ + "/redis.log",
                                "--appendonly",
                                opts_.aof ? "yes" : "no"};
  if (opts_.aof) {
    args.insert(args.end(), {"--appendfsync", "always"});
  }
  if (!opts_.password.empty())
    args.insert(args.end(), {"--requirepass", opts_.password});
  args.insert(args.end(), opts_.extra_args.begin(), opts_.extra_args.end());
  // Everything the child needs is built before fork: after fork only
  // async-signal-safe calls are allowed (another thread may hold malloc's
  // lock at that moment).
  std::vector<char*> argv;
  for (auto& a : args)
    argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  auto parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0)
    return make_error(errc::server_failed, "fork failed");
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent)
      ::_exit(127);
    int devnull = ::open("/dev/null", O_RDWR);
    if (devnull >= 0) {
      ::dup2(devnull, 0);
      ::dup2(devnull, 1);
      ::dup2(devnull, 2);
    }
    ::execvp(argv[0], argv.data());
    ::_exit(127);
  }
  pid_ = pid;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{10};
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return make_error(errc::server_failed,
                        "redis-server exited at start-up (binary \""
                          + opts_.binary + "\", port "
                          + std::to_string(opts_.port) + ")" + log_tail(dir_));
    }
    if (ping(opts_.port, opts_.password)) {
      log::debug("redis-server started pid={} port={} dir={} aof={}", pid_,
                 opts_.port, dir_, opts_.aof);
      return caf::none;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds{10});
  }
  kill();
  return make_error(errc::server_failed,
                    "redis-server did not answer PING within 10s on port "
                      + std::to_string(opts_.port) + log_tail(dir_));
}

void redis_server::reap(int signal, int grace_ms) {
  if (pid_ <= 0)
    return;
  ::kill(pid_, signal);
  auto deadline = std::chrono::steady_clock::now()
                  + std::chrono::milliseconds{grace_ms};
  int status = 0;
  while (::waitpid(pid_, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds{2});
  }
  pid_ = -1;
}

void redis_server::stop() {
  reap(SIGTERM, 5000);
}

void redis_server::kill() {
  reap(SIGKILL, 5000);
}

caf::error redis_server::restart() {
  if (running())
    stop();
  return spawn();
}

redis_server::~redis_server() {
  stop();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

} // namespace pulse
