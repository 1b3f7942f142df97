#include "tests/metrics/metrics_support.hpp"

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <fstream>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <sstream>
#include <thread>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <httplib.h>

namespace pulse::test {

namespace {

http_reply to_reply(const httplib::Result& r) {
  http_reply out;
  if (!r)
    return out;
  out.status = r->status;
  out.body = r->body;
  out.content_type = r->get_header_value("Content-Type");
  return out;
}

httplib::Client make_client(uint16_t port, std::chrono::seconds timeout) {
  httplib::Client c{"127.0.0.1", port};
  c.set_connection_timeout(timeout);
  c.set_read_timeout(timeout);
  c.set_keep_alive(false);
  return c;
}

} // namespace

http_reply http_get(uint16_t port, const std::string& path,
                    std::chrono::seconds timeout) {
  auto c = make_client(port, timeout);
  return to_reply(c.Get(path.c_str()));
}

http_reply http_post(uint16_t port, const std::string& path,
                     std::chrono::seconds timeout) {
  auto c = make_client(port, timeout);
  return to_reply(c.Post(path.c_str(), "", "text/plain"));
}

std::string url_encode(const std::string& x) {
  std::string out;
  char buf[4];
  for (unsigned char c : x) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      std::snprintf(buf, sizeof(buf), "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

std::string find_program(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::stringstream dirs{path ? path : "/usr/bin:/bin"};
  for (std::string dir; std::getline(dirs, dir, ':');) {
    auto p = dir + "/" + name;
    if (::access(p.c_str(), X_OK) == 0)
      return p;
  }
  return {};
}

namespace {

pid_t spawn(const std::vector<std::string>& argv, int in_fd, int out_fd) {
  pid_t pid = ::fork();
  if (pid != 0)
    return pid;
  if (in_fd >= 0)
    ::dup2(in_fd, 0);
  else
    ::close(0);
  ::dup2(out_fd, 1);
  ::dup2(out_fd, 2);
  for (int fd = 3; fd < 1024; ++fd)
    ::close(fd);
  std::vector<char*> args;
  for (auto& a : argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  ::execvp(args[0], args.data());
  ::_exit(127);
}

bool wait_pid(pid_t pid, std::chrono::milliseconds timeout, int* status) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto r = ::waitpid(pid, status, WNOHANG);
    if (r == pid || (r < 0 && errno != EINTR))
      return true;
    if (std::chrono::steady_clock::now() > deadline)
      return false;
    std::this_thread::sleep_for(std::chrono::milliseconds{10});
  }
}

} // namespace

int run_program(const std::vector<std::string>& argv, const std::string& input,
                std::string& output, std::chrono::seconds timeout) {
  char in_path[] = "/tmp/pulse-metrics-in-XXXXXX";
  char out_path[] = "/tmp/pulse-metrics-out-XXXXXX";
  int in_fd = ::mkstemp(in_path);
  int out_fd = ::mkstemp(out_path);
  if (in_fd < 0 || out_fd < 0)
    return -1;
  if (::write(in_fd, input.data(), input.size())
      != static_cast<ssize_t>(input.size()))
    return -1;
  ::lseek(in_fd, 0, SEEK_SET);
  auto pid = spawn(argv, in_fd, out_fd);
  ::close(in_fd);
  ::close(out_fd);
  int status = 0;
  int rc = -1;
  if (pid > 0) {
    if (wait_pid(pid, timeout, &status)) {
      rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    } else {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
    }
  }
  std::ifstream in{out_path};
  std::stringstream buf;
  buf << in.rdbuf();
  output = buf.str();
  ::unlink(in_path);
  ::unlink(out_path);
  return rc;
}

child_process::child_process(const std::vector<std::string>& argv,
                             const std::string& log_file) {
  int fd = ::open(log_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0)
    return;
  pid_ = spawn(argv, -1, fd);
  ::close(fd);
}

bool child_process::running() {
  if (pid_ <= 0)
    return false;
  int status = 0;
  auto r = ::waitpid(pid_, &status, WNOHANG);
  if (r == pid_) {
    pid_ = -1;
    return false;
  }
  return true;
}

bool child_process::wait_exit(std::chrono::milliseconds timeout) {
  if (pid_ <= 0)
    return true;
  int status = 0;
  if (wait_pid(pid_, timeout, &status)) {
    pid_ = -1;
    return true;
  }
  return false;
}

child_process::~child_process() {
  if (pid_ <= 0)
    return;
  ::kill(pid_, SIGTERM);
  if (!wait_exit(std::chrono::seconds{5})) {
    ::kill(pid_, SIGKILL);
    wait_exit(std::chrono::seconds{5});
  }
}

std::optional<std::string> single_value(const std::string& json) {
  if (json.find("\"status\":\"success\"") == std::string::npos)
    return std::nullopt;
  auto v = json.find("\"value\":[");
  if (v == std::string::npos)
    return std::nullopt;
  auto comma = json.find(',', v);
  auto open = json.find('"', comma);
  auto close = json.find('"', open + 1);
  if (comma == std::string::npos || open == std::string::npos
      || close == std::string::npos)
    return std::nullopt;
  return json.substr(open + 1, close - open - 1);
}

std::optional<std::string> sample_value(const std::string& exposition,
                                        const std::string& series) {
  std::stringstream in{exposition};
  for (std::string line; std::getline(in, line);)
    if (line.size() > series.size() + 1 && line.compare(0, series.size(), series) == 0
        && line[series.size()] == ' ')
      return line.substr(series.size() + 1);
  return std::nullopt;
}

} // namespace pulse::test
