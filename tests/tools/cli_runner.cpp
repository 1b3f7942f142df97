#include "tests/tools/cli_runner.hpp"

#include <csignal>
#include <cstdlib>
#include <fcntl.h>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace pulse::test {

namespace {

std::string slurp(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

} // namespace

cli_process::cli_process(const std::vector<std::string>& args)
  : start_(std::chrono::steady_clock::now()) {
  char tmpl[] = "/tmp/pulse-cli-test-XXXXXX";
  if (mkdtemp(tmpl) == nullptr)
    throw std::runtime_error("mkdtemp failed");
  dir_ = tmpl;
  std::vector<std::string> argv_s{PULSE_CLI};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_s)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  auto out = dir_ + "/stdout";
  auto err = dir_ + "/stderr";
  pid_ = fork();
  if (pid_ < 0)
    throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    int o = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int e = open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (o < 0 || e < 0 || chdir(dir_.c_str()) != 0)
      _exit(127);
    dup2(o, STDOUT_FILENO);
    dup2(e, STDERR_FILENO);
    execv(argv[0], argv.data());
    _exit(127);
  }
}

cli_process::~cli_process() {
  if (!done()) {
    kill(pid_, SIGKILL);
    waitpid(pid_, &status_, 0);
  }
  std::remove((dir_ + "/stdout").c_str());
  std::remove((dir_ + "/stderr").c_str());
  rmdir(dir_.c_str());
}

bool cli_process::done() {
  if (reaped_)
    return true;
  if (waitpid(pid_, &status_, WNOHANG) == pid_)
    reaped_ = true;
  return reaped_;
}

std::string cli_process::out() const {
  return slurp(dir_ + "/stdout");
}

cli_result cli_process::wait(std::chrono::milliseconds timeout) {
  auto deadline = start_ + timeout;
  while (!done() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds{5});
  cli_result r;
  if (!done()) {
    kill(pid_, SIGKILL);
    waitpid(pid_, &status_, 0);
    reaped_ = true;
    r.rc = -1;
  } else {
    r.rc = WIFEXITED(status_) ? WEXITSTATUS(status_) : -1;
  }
  r.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
    std::chrono::steady_clock::now() - start_);
  r.out = slurp(dir_ + "/stdout");
  r.err = slurp(dir_ + "/stderr");
  return r;
}

cli_result run_cli(const std::vector<std::string>& args,
                   std::chrono::milliseconds timeout) {
  cli_process p{args};
  return p.wait(timeout);
}

} // namespace pulse::test
