#include "tests/support/sentinel_fixture.hpp"

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <thread>

#include "pulse/actors/redis/connect.hpp"
#include "pulse/runtime/errors.hpp"
#include "tests/support/fixtures.hpp"

namespace pulse::test {

namespace {

using clock_type = std::chrono::steady_clock;

// The value of `field:` in an INFO reply, or "".
std::string info_field(const std::string& info, const std::string& field) {
  auto at = info.find(field + ":");
  if (at == std::string::npos)
    return {};
  auto start = at + field.size() + 1;
  auto end = info.find_first_of("\r\n", start);
  return info.substr(start, end - start);
}

// The value after `key` in a flat key/value array (SENTINEL MASTER).
std::string flat_field(const resp::value& xs, const std::string& key) {
  for (size_t i = 0; i + 1 < xs.elements.size(); i += 2)
    if (xs.elements[i].str == key)
      return xs.elements[i + 1].str;
  return {};
}

} // namespace

caf::expected<resp::value> command_on(uint16_t port,
                                      std::vector<std::string> args,
                                      std::chrono::milliseconds timeout) {
  redis_options opts;
  auto until = clock_type::now() + timeout;
  auto where = "127.0.0.1:" + std::to_string(port);
  auto w = detail::open_wire(opts, "127.0.0.1", port, where, until);
  if (!w)
    return w.error();
  resp::decoder dec;
  return detail::sync_call(**w, dec, args, until);
}

caf::expected<std::unique_ptr<sentinel_process>>
sentinel_process::start(const std::string& name, uint16_t master,
                        std::vector<uint16_t> replicas) {
  std::unique_ptr<sentinel_process> result{new sentinel_process};
  result->port_ = free_loopback_port();
  char tmpl[] = "/tmp/pulse-sentinel-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr)
    return make_error(errc::server_failed, "mkdtemp failed");
  result->dir_ = tmpl;
  auto conf = result->dir_ + "/sentinel.conf";
  {
    std::ofstream out{conf};
    out << "bind 127.0.0.1\n"
        << "port " << result->port_ << "\n"
        << "dir " << result->dir_ << "\n"
        << "logfile " << result->dir_ << "/sentinel.log\n"
        << "sentinel monitor " << name << " 127.0.0.1 " << master << " 2\n"
        << "sentinel down-after-milliseconds " << name << " 1000\n"
        << "sentinel failover-timeout " << name << " 5000\n"
        << "sentinel parallel-syncs " << name << " 1\n";
    for (auto replica : replicas)
      out << "sentinel known-replica " << name << " 127.0.0.1 " << replica
          << "\n";
  }
  std::string binary = "redis-sentinel";
  std::vector<char*> argv{binary.data(), conf.data(), nullptr};
  auto parent = ::getpid();
  pid_t pid = ::fork();
  if (pid < 0)
    return make_error(errc::server_failed, "fork failed");
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent)
      ::_exit(127);
    ::execvp(argv[0], argv.data());
    ::_exit(127);
  }
  result->pid_ = pid;
  auto deadline = clock_type::now() + std::chrono::seconds{10};
  while (clock_type::now() < deadline) {
    auto pong = command_on(result->port_, {"PING"},
                           std::chrono::milliseconds{200});
    if (pong && pong->str == "PONG")
      return result;
    std::this_thread::sleep_for(std::chrono::milliseconds{10});
  }
  return make_error(errc::server_failed,
                    "redis-sentinel did not answer PING on port "
                      + std::to_string(result->port_) + " (dir "
                      + result->dir_ + ")");
}

sentinel_process::~sentinel_process() {
  stop();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

void sentinel_process::stop() {
  if (pid_ <= 0)
    return;
  ::kill(pid_, SIGTERM);
  auto deadline = clock_type::now() + std::chrono::seconds{5};
  int status = 0;
  while (::waitpid(pid_, &status, WNOHANG) == 0) {
    if (clock_type::now() > deadline) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &status, 0);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds{2});
  }
  pid_ = -1;
}

bool sentinel_fixture::is_replica_port(uint16_t port) const {
  if (port == replica->port())
    return true;
  for (auto& r : more_replicas)
    if (port == r->port())
      return true;
  return false;
}

sentinel_fixture::sentinel_fixture(int replicas) {
  auto m = redis_server::start(server_options{});
  if (!m)
    throw std::runtime_error("cannot start the master: " + render(m.error()));
  master = std::move(*m);
  server_options ro;
  ro.extra_args = {"--replicaof", "127.0.0.1",
                   std::to_string(master->port())};
  auto r = redis_server::start(ro);
  if (!r)
    throw std::runtime_error("cannot start the replica: "
                             + render(r.error()));
  replica = std::move(*r);
  std::vector<uint16_t> ports{replica->port()};
  for (int i = 1; i < replicas; ++i) {
    auto more = redis_server::start(ro);
    if (!more)
      throw std::runtime_error("cannot start a replica: "
                               + render(more.error()));
    ports.push_back((*more)->port());
    more_replicas.push_back(std::move(*more));
  }
  for (int i = 0; i < 3; ++i) {
    auto s = sentinel_process::start(name, master->port(), ports);
    if (!s)
      throw std::runtime_error("cannot start a sentinel: "
                               + render(s.error()));
    sentinels.push_back(std::move(*s));
  }
}

sentinel_fixture::~sentinel_fixture() {
  // Sentinels first: they would start a failover while the master stops.
  sentinels.clear();
  more_replicas.clear();
  replica.reset();
  master.reset();
}

redis_options sentinel_fixture::redis_opts() const {
  auto r = test_redis_options(master->port());
  r.host.clear();
  for (auto& s : sentinels)
    r.sentinels.push_back("127.0.0.1:" + std::to_string(s->port()));
  r.master_name = name;
  return r;
}

bool sentinel_fixture::wait_ready(std::chrono::milliseconds timeout) {
  return wait_until(
    [&] {
      std::vector<redis_server*> nodes{master.get(), replica.get()};
      for (auto& x : more_replicas)
        nodes.push_back(x.get());
      auto replica_count = std::to_string(nodes.size() - 1);
      for (auto* node : nodes) {
        auto info = command_on(node->port(), {"INFO", "replication"});
        if (!info)
          return false;
        auto role = info_field(info->str, "role");
        if (role == "slave"
            && info_field(info->str, "master_link_status") != "up")
          return false;
      }
      for (auto& s : sentinels) {
        auto m = command_on(s->port(), {"SENTINEL", "MASTER", name});
        if (!m || flat_field(*m, "num-other-sentinels") != "2"
            || flat_field(*m, "num-slaves") != replica_count)
          return false;
        auto q = command_on(s->port(), {"SENTINEL", "CKQUORUM", name});
        if (!q || q->is_error())
          return false;
      }
      return true;
    },
    timeout);
}

uint16_t sentinel_fixture::master_port() {
  for (auto& s : sentinels) {
    auto r = command_on(s->port(),
                        {"SENTINEL", "GET-MASTER-ADDR-BY-NAME", name});
    if (r && r->is_array() && r->elements.size() == 2)
      if (auto p = r->elements[1].as_integer())
        return static_cast<uint16_t>(*p);
  }
  return 0;
}

std::string sentinel_fixture::failover() {
  auto r = command_on(sentinels.front()->port(),
                      {"SENTINEL", "FAILOVER", name});
  if (!r)
    return render(r.error());
  return r->str;
}

} // namespace pulse::test
