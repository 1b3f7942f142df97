#include "tests/support/cluster_fixture.hpp"

#include <stdexcept>
#include <thread>

#include "pulse/actors/redis/cluster_slot.hpp"
#include "pulse/runtime/errors.hpp"
#include "tests/support/fixtures.hpp"
#include "tests/support/sentinel_fixture.hpp"

namespace pulse::test {

namespace {

// The slot ranges of masters 0..2.
constexpr uint16_t cluster_ranges[3][2] = {{0, 5460},
                                           {5461, 10922},
                                           {10923, 16383}};

// Runs a command on `port`; throws when it fails or Redis answers an error.
resp::value cluster_must(uint16_t port, std::vector<std::string> args) {
  auto r = command_on(port, args);
  if (!r)
    throw std::runtime_error("cluster fixture: " + args[0] + " on "
                             + std::to_string(port) + ": " + render(r.error()));
  if (r->is_error())
    throw std::runtime_error("cluster fixture: " + args[0] + " on "
                             + std::to_string(port) + ": " + r->str);
  return std::move(*r);
}

// The value of `field:` in an INFO-style reply, or "".
std::string cluster_info_field(const std::string& info,
                               const std::string& field) {
  auto at = info.find(field + ":");
  if (at == std::string::npos)
    return {};
  auto start = at + field.size() + 1;
  auto end = info.find_first_of("\r\n", start);
  return info.substr(start, end - start);
}

} // namespace

cluster_fixture::cluster_fixture() {
  std::vector<uint16_t> bus_ports;
  for (int i = 0; i < 6; ++i) {
    // The bus port is free when picked, but the server's own port (or
    // another test's server) may take it before this server binds it:
    // start again with new ports, a few times.
    caf::expected<std::unique_ptr<redis_server>> srv{caf::error{}};
    uint16_t bus = 0;
    for (int attempt = 0; attempt < 5; ++attempt) {
      server_options so;
      bus = free_loopback_port();
      so.extra_args = {"--cluster-enabled", "yes", "--cluster-port",
                       std::to_string(bus), "--cluster-config-file",
                       "nodes.conf", "--cluster-node-timeout", "2000"};
      srv = redis_server::start(so);
      if (srv)
        break;
    }
    if (!srv)
      throw std::runtime_error("cluster fixture: " + render(srv.error()));
    bus_ports.push_back(bus);
    nodes.push_back(std::move(*srv));
  }
  for (int i = 0; i < 3; ++i) {
    cluster_must(master_port(i),
                 {"CLUSTER", "ADDSLOTSRANGE",
                  std::to_string(cluster_ranges[i][0]),
                  std::to_string(cluster_ranges[i][1])});
  }
  for (int i = 0; i < 6; ++i)
    cluster_must(nodes[i]->port(),
                 {"CLUSTER", "SET-CONFIG-EPOCH", std::to_string(i + 1)});
  for (int i = 1; i < 6; ++i)
    cluster_must(master_port(0), {"CLUSTER", "MEET", "127.0.0.1",
                                  std::to_string(nodes[i]->port()),
                                  std::to_string(bus_ports[i])});
  // Every node knows all six (no handshake left) before replicas attach.
  auto all_known = wait_until(
    [&] {
      for (auto& n : nodes) {
        auto r = command_on(n->port(), {"CLUSTER", "INFO"});
        if (!r || cluster_info_field(r->str, "cluster_known_nodes") != "6")
          return false;
      }
      return true;
    },
    std::chrono::seconds{20});
  if (!all_known)
    throw std::runtime_error("cluster fixture: nodes did not meet");
  for (int i = 0; i < 3; ++i) {
    auto id = node_id(master_port(i));
    // The replica may not have the master's ID in its table yet: retry.
    bool ok = wait_until(
      [&] {
        auto r = command_on(nodes[3 + i]->port(), {"CLUSTER", "REPLICATE", id});
        return r && !r->is_error();
      },
      std::chrono::seconds{10});
    if (!ok)
      throw std::runtime_error("cluster fixture: REPLICATE failed");
  }
  auto ready = wait_until(
    [&] {
      for (auto& n : nodes) {
        auto r = command_on(n->port(), {"CLUSTER", "INFO"});
        if (!r || cluster_info_field(r->str, "cluster_state") != "ok")
          return false;
      }
      for (int i = 3; i < 6; ++i) {
        auto r = command_on(nodes[i]->port(), {"INFO", "replication"});
        if (!r || cluster_info_field(r->str, "master_link_status") != "up")
          return false;
      }
      return true;
    },
    std::chrono::seconds{30});
  if (!ready)
    throw std::runtime_error("cluster fixture: cluster_state not ok");
}

cluster_fixture::~cluster_fixture() {
  for (auto& n : nodes)
    if (n)
      n->stop();
}

std::string cluster_fixture::node_id(uint16_t port) const {
  auto r = command_on(port, {"CLUSTER", "MYID"});
  return r && !r->is_error() ? r->str : std::string{};
}

uint16_t cluster_fixture::owner_port(uint16_t slot, uint16_t ask_port) const {
  auto r = command_on(ask_port, {"CLUSTER", "SLOTS"});
  if (!r || !r->is_array())
    return 0;
  for (auto& range : r->elements) {
    if (range.elements.size() < 3)
      continue;
    auto lo = range.elements[0].as_integer();
    auto hi = range.elements[1].as_integer();
    if (lo && hi && *lo <= slot && slot <= *hi
        && range.elements[2].elements.size() >= 2)
      if (auto p = range.elements[2].elements[1].as_integer())
        return static_cast<uint16_t>(*p);
  }
  return 0;
}

std::string cluster_fixture::move_slot(uint16_t slot, uint16_t to,
                                       size_t keys_per_migrate,
                                       std::chrono::milliseconds pause) {
  try {
    auto from = owner_port(slot, to);
    if (from == 0)
      return "no owner";
    if (from == to)
      return {};
    auto s = std::to_string(slot);
    auto src_id = node_id(from);
    auto dst_id = node_id(to);
    cluster_must(to, {"CLUSTER", "SETSLOT", s, "IMPORTING", src_id});
    cluster_must(from, {"CLUSTER", "SETSLOT", s, "MIGRATING", dst_id});
    for (;;) {
      auto keys = cluster_must(from, {"CLUSTER", "GETKEYSINSLOT", s,
                                      std::to_string(keys_per_migrate)});
      if (keys.elements.empty())
        break;
      std::vector<std::string> args{"MIGRATE", "127.0.0.1",
                                    std::to_string(to), "", "0", "5000",
                                    "KEYS"};
      for (auto& k : keys.elements)
        args.push_back(k.str);
      cluster_must(from, args);
      if (pause.count() > 0)
        std::this_thread::sleep_for(pause);
    }
    cluster_must(to, {"CLUSTER", "SETSLOT", s, "NODE", dst_id});
    cluster_must(from, {"CLUSTER", "SETSLOT", s, "NODE", dst_id});
    for (int i = 0; i < 3; ++i)
      if (master_port(i) != from && master_port(i) != to)
        cluster_must(master_port(i), {"CLUSTER", "SETSLOT", s, "NODE", dst_id});
    return {};
  } catch (std::exception& e) {
    return e.what();
  }
}

bool cluster_fixture::wait_owner(uint16_t slot, uint16_t to,
                                 std::chrono::milliseconds timeout) const {
  return wait_until(
    [&] {
      for (int i = 0; i < 3; ++i)
        if (owner_port(slot, master_port(i)) != to)
          return false;
      return true;
    },
    timeout);
}

redis_options cluster_fixture::redis_opts() const {
  auto r = test_redis_options(master_port(0));
  r.cluster = true;
  return r;
}

std::string cluster_fixture::key_on(size_t i, const std::string& prefix) {
  for (int n = 0;; ++n) {
    auto k = prefix + std::to_string(n);
    auto s = cluster::key_slot(k);
    if (s >= cluster_ranges[i][0] && s <= cluster_ranges[i][1])
      return k;
  }
}

} // namespace pulse::test
