#include "pulse/runtime/runtime.hpp"

#include <algorithm>
#include <chrono>

#include <caf/actor_system.hpp>
#include <caf/scoped_actor.hpp>

#include "pulse/actors/redis/client.hpp"
#include "pulse/actors/redis/cluster_router.hpp"
#include "pulse/actors/redis/cluster_topology.hpp"
#include "pulse/actors/redis/connect.hpp"
#include "pulse/actors/redis/url.hpp"
#include "pulse/runtime/errors.hpp"
#include "pulse/runtime/log.hpp"
#include "pulse/runtime/metrics_server.hpp"
#include "pulse/runtime/runtime_actor.hpp"

namespace pulse {

runtime::runtime(caf::actor_system& sys, options opts)
  : sys_(sys), opts_(std::move(opts)) {
  // nop
}

caf::expected<std::unique_ptr<runtime>>
runtime::start(caf::actor_system& sys, const options& opts) {
  std::unique_ptr<runtime> rt{new runtime(sys, opts)};
  if (auto err = log::set_level(opts.log_level))
    return err;
  auto& r = rt->opts_.redis;
  // Options built in code may still carry a URL (read_config applied it).
  if (auto err = apply_redis_url(r))
    return err;
  if (auto err = detail::check_cluster_options(r))
    return err;
  if (r.cluster && r.embedded)
    return make_error(errc::invalid_config,
                      "pulse.redis.cluster needs a running cluster, not the "
                      "embedded redis-server");
  if (r.cluster && r.host.empty()) {
    // Seeds only in cluster-nodes: the first one names the runtime's
    // endpoint in logs (connects try every seed: cluster_connect.cpp).
    auto s = cluster::seeds(r);
    r.host = s->front().host;
    r.port = s->front().port;
  }
  if (r.use_embedded() && r.tls)
    return make_error(errc::invalid_config,
                      "pulse.redis.tls is on, but the embedded redis-server "
                      "speaks plain text only (set host or url to a TLS "
                      "server, or turn tls off)");
  if (r.use_embedded()) {
    server_options sopts;
    sopts.binary = r.server_binary;
    sopts.password = r.password;
    auto srv = redis_server::start(sopts);
    if (!srv)
      return srv.error();
    rt->server_ = std::move(*srv);
    r.host = "127.0.0.1";
    r.port = rt->server_->port();
    r.unix_socket.clear();
    // ACL users do not exist on a fresh server.
    r.username.clear();
    r.db = 0;
    log::info("embedded redis-server started port={} pid={}", r.port,
              rt->server_->pid());
  } else if (auto err = wait_for_redis(r)) {
    // The first connect, before any actor exists: waits up to connect-wait
    // for a Redis that is still starting, and reports refused connections,
    // bad credentials and a refused SELECT with their own codes.
    return err;
  }
  rt->gateway_ = r.cluster
                   ? spawn_cluster_gateway(sys, r, gateway_role::pipelined)
                   : pulse::spawn_gateway(sys, r, gateway_role::pipelined);
  rt->pubsub_ = spawn_pubsub(sys, r);
  rt->services_.push_back(caf::actor_cast<caf::actor>(rt->gateway_));
  rt->services_.push_back(caf::actor_cast<caf::actor>(rt->pubsub_));
  rt->gateways_.emplace_back(gateway_role::pipelined, rt->gateway_.address());
  rt->actor_ = spawn_runtime_actor(*rt);
  rt->users_.push_back(caf::actor_cast<caf::actor>(rt->actor_));
  client c{sys, rt->gateway_, r.connect_timeout + r.command_timeout};
  if (auto pong = c.call(make_command("PING")); !pong)
    return pong.error();
  if (rt->opts_.metrics.port != 0) {
    auto srv = metrics_server::start(*rt, rt->opts_.metrics);
    if (!srv)
      return srv.error();
    rt->metrics_ = std::move(*srv);
  }
  return rt;
}

namespace {

// Forgets actors that already terminated, so the list stays bounded.
void prune(std::vector<caf::actor>& xs) {
  xs.erase(std::remove_if(xs.begin(), xs.end(),
                          [](const caf::actor& a) {
                            return a->getf(
                              caf::abstract_actor::is_terminated_flag);
                          }),
           xs.end());
}

} // namespace

gateway_actor runtime::spawn_gateway(gateway_role role) {
  auto result = opts_.redis.cluster
                  ? spawn_cluster_gateway(sys_, opts_.redis, role)
                  : pulse::spawn_gateway(sys_, opts_.redis, role);
  std::lock_guard<std::mutex> guard{mtx_};
  if (stopped_) { // too late to be exited by shutdown: exit it now
    caf::anon_send_exit(result, caf::exit_reason::user_shutdown);
    return result;
  }
  prune(services_);
  services_.push_back(caf::actor_cast<caf::actor>(result));
  gateways_.erase(std::remove_if(gateways_.begin(), gateways_.end(),
                                 [](auto& g) { return !g.second; }),
                  gateways_.end());
  gateways_.emplace_back(role, result.address());
  return result;
}

void runtime::track(caf::actor hdl) {
  std::lock_guard<std::mutex> guard{mtx_};
  if (stopped_) {
    caf::anon_send_exit(hdl, caf::exit_reason::user_shutdown);
    return;
  }
  prune(users_);
  users_.push_back(std::move(hdl));
}

void runtime::announce(metrics_source src) {
  std::lock_guard<std::mutex> guard{mtx_};
  if (stopped_)
    return;
  // Forget terminated sources (an expired address casts to null).
  sources_.erase(std::remove_if(sources_.begin(), sources_.end(),
                                [](const metrics_source& s) {
                                  return !caf::actor_cast<caf::actor>(s.addr);
                                }),
                 sources_.end());
  sources_.push_back(std::move(src));
}

std::vector<metrics_source> runtime::sources() {
  std::lock_guard<std::mutex> guard{mtx_};
  std::vector<metrics_source> result;
  for (auto& s : sources_)
    if (auto hdl = caf::actor_cast<caf::actor>(s.addr);
        hdl && !hdl->getf(caf::abstract_actor::is_terminated_flag))
      result.push_back(s);
  return result;
}

std::vector<std::pair<gateway_role, gateway_actor>> runtime::gateways() {
  std::lock_guard<std::mutex> guard{mtx_};
  std::vector<std::pair<gateway_role, gateway_actor>> result;
  for (auto& [role, addr] : gateways_)
    if (auto hdl = caf::actor_cast<caf::actor>(addr);
        hdl && !hdl->getf(caf::abstract_actor::is_terminated_flag))
      result.emplace_back(role, caf::actor_cast<gateway_actor>(hdl));
  return result;
}

uint16_t runtime::metrics_port() const noexcept {
  return metrics_ ? metrics_->port() : 0;
}

namespace {

// Exits `actors` and waits (up to 5 s) until all of them terminated.
void exit_and_wait(caf::actor_system& sys, std::vector<caf::actor>& actors,
                   const char* what) {
  caf::scoped_actor self{sys};
  size_t alive = 0;
  for (auto& a : actors) {
    self->monitor(a);
    self->send_exit(a, caf::exit_reason::user_shutdown);
    ++alive;
  }
  bool timed_out = false;
  while (alive > 0 && !timed_out)
    self->receive([&](const caf::down_msg&) { --alive; },
                  caf::after(std::chrono::seconds{5}) >>
                    [&] { timed_out = true; });
  if (timed_out)
    log::error("runtime shutdown: {} {} did not stop within 5s", alive, what);
  actors.clear();
}

} // namespace

void runtime::shutdown() {
  // The endpoint first: no scrape runs while the actors go away (stopping
  // it waits for a scrape in progress, which is bounded by its timeout).
  if (metrics_) {
    metrics_->stop();
    metrics_.reset();
  }
  std::vector<caf::actor> users;
  std::vector<caf::actor> services;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (stopped_)
      return;
    stopped_ = true;
    users.swap(users_);
    services.swap(services_);
    sources_.clear();
    gateways_.clear();
  }
  // Users of the gateways first (they may still flush acks), then the
  // gateways and the pub/sub actor.
  exit_and_wait(sys_, users, "readers/sinks/replicas");
  exit_and_wait(sys_, services, "service actors");
  actor_ = nullptr;
  gateway_ = nullptr;
  pubsub_ = nullptr;
  if (server_) {
    server_->stop();
    server_.reset();
  }
}

runtime::~runtime() {
  shutdown();
}

} // namespace pulse
