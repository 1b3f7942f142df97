#include "pulse/actors/redis/cluster_router.hpp"

#include <algorithm>
#include <map>
#include <tuple>
#include <memory>
#include <optional>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>

#include "pulse/actors/redis/cluster_slot.hpp"
#include "pulse/actors/redis/cluster_router_state.hpp"
#include "pulse/actors/redis/cluster_topology.hpp"
#include "pulse/actors/redis/gateway.hpp"
#include "pulse/runtime/errors.hpp"
#include "pulse/runtime/log.hpp"

namespace pulse {

namespace {

using namespace cluster_detail;

/// Registers an open request: `done` becomes its outcome function
/// (answers at most once, also when the router exits first); returns the
/// promise for the handler to return.
template <class T>
caf::typed_response_promise<T>
open_request(router_ptr self, std::function<void(caf::expected<T>)>& done) {
  auto rp = std::make_shared<caf::typed_response_promise<T>>(
    self->template make_response_promise<T>());
  auto id = self->state.next_id++;
  self->state.open.emplace(id, [rp](caf::error err) {
    if (rp->pending())
      rp->deliver(std::move(err));
  });
  done = [self, rp, id](caf::expected<T> r) {
    self->state.open.erase(id);
    if (!rp->pending())
      return;
    if (r)
      rp->deliver(std::move(*r));
    else
      rp->deliver(std::move(r.error()));
  };
  return *rp;
}

/// Until when a request that starts now retries `TRYAGAIN`: its
/// `command_timeout`.
std::chrono::steady_clock::time_point tryagain_until(router_ptr self) {
  return std::chrono::steady_clock::now() + self->state.opts.command_timeout;
}

/// Sends `*p` as a command.
send_fn send_command(router_ptr self, std::shared_ptr<command> p) {
  return [self, p](const gateway_actor& gw,
                   std::function<void(resp::value&)> ok,
                   std::function<void(caf::error&)> err) {
    self->request(gw, caf::infinite, cmd_atom::value, *p)
      .then(std::move(ok), std::move(err));
  };
}

void route_command(router_ptr self, command cmd, routed_fn done) {
  auto slot = cluster::command_slot(cmd);
  auto p = std::make_shared<command>(std::move(cmd));
  run_routed(self, slot, p, send_command(self, p), std::move(done), 0,
             std::string{}, tryagain_until(self));
}

/// Names a script in errors: its first non-empty line and SHA-1.
std::string script_label(const script& scr) {
  size_t start = 0;
  while (start < scr.source.size()) {
    auto end = scr.source.find('\n', start);
    if (end == std::string::npos)
      end = scr.source.size();
    auto line = scr.source.substr(start, end - start);
    if (line.find_first_not_of(" \t\r") != std::string::npos)
      return "\"" + line.substr(0, 60) + "\" (sha1 " + scr.sha1 + ")";
    start = end + 1;
  }
  return "sha1 " + scr.sha1;
}

void route_eval(router_ptr self, script scr, std::vector<std::string> keys,
                std::vector<std::string> args, routed_fn done) {
  if (!cluster::same_slot(keys)) {
    std::string what;
    for (auto& k : keys)
      what += (what.empty() ? "" : ", ") + k + " (slot "
              + std::to_string(cluster::key_slot(k)) + ")";
    done(make_error(errc::invalid_argument,
                    "cluster: script " + script_label(scr)
                      + " has keys in different slots: " + what));
    return;
  }
  std::optional<uint16_t> slot;
  if (!keys.empty())
    slot = cluster::key_slot(keys.front());
  // The `EVAL` form, for `ASKING` + retry on another node.
  auto as_cmd = std::make_shared<command>();
  as_cmd->args = {"EVAL", scr.source, std::to_string(keys.size())};
  as_cmd->args.insert(as_cmd->args.end(), keys.begin(), keys.end());
  as_cmd->args.insert(as_cmd->args.end(), args.begin(), args.end());
  auto req = std::make_shared<std::tuple<script, std::vector<std::string>,
                                         std::vector<std::string>>>(
    std::move(scr), std::move(keys), std::move(args));
  send_fn send = [self, req](const gateway_actor& gw,
                             std::function<void(resp::value&)> ok,
                             std::function<void(caf::error&)> err) {
    self
      ->request(gw, caf::infinite, eval_atom::value, std::get<0>(*req),
                std::get<1>(*req), std::get<2>(*req))
      .then(std::move(ok), std::move(err));
  };
  run_routed(self, slot, as_cmd, std::move(send), std::move(done), 0,
             std::string{}, tryagain_until(self));
}

/// The replies of a batch split over nodes.
struct batch_job {
  std::vector<command> cmds;
  std::vector<resp::value> replies;
  size_t pending = 0;
  caf::error failed;
  std::function<void(caf::expected<std::vector<resp::value>>)> done;

  void finish_one() {
    if (--pending > 0)
      return;
    if (failed)
      done(failed);
    else
      done(std::move(replies));
  }
};

void route_batch(router_ptr self, std::vector<command> cmds,
                 std::function<void(caf::expected<std::vector<resp::value>>)>
                   done) {
  auto job = std::make_shared<batch_job>();
  job->cmds = std::move(cmds);
  job->done = std::move(done);
  job->replies.resize(job->cmds.size());
  when_ready(self, [self, job](caf::error err) {
    if (err) {
      job->done(std::move(err));
      return;
    }
    auto& st = self->state;
    // Keyless commands join the node of the first keyed command.
    std::optional<uint16_t> anchor;
    for (auto& c : job->cmds)
      if ((anchor = cluster::command_slot(c)))
        break;
    auto anchor_addr = addr_for(st, anchor);
    std::map<std::string, std::vector<size_t>> groups;
    for (size_t i = 0; i < job->cmds.size(); ++i) {
      auto s = cluster::command_slot(job->cmds[i]);
      groups[s ? addr_for(st, s) : anchor_addr].push_back(i);
    }
    job->pending = groups.size();
    for (auto& [addr, idx] : groups) {
      std::vector<command> part;
      part.reserve(idx.size());
      for (auto i : idx)
        part.push_back(job->cmds[i]);
      auto from = addr;
      auto positions = idx;
      self->request(node_gw(self, addr), caf::infinite, batch_atom::value,
                    std::move(part))
        .then(
          [self, job, from, positions](std::vector<resp::value>& vs) {
            for (size_t j = 0; j < positions.size() && j < vs.size(); ++j) {
              auto i = positions[j];
              auto redirect = vs[j].is_error()
                                ? cluster::parse_redirect(vs[j].str,
                                                          router_host_of(from))
                                : std::nullopt;
              if (!redirect) {
                job->replies[i] = std::move(vs[j]);
                continue;
              }
              // Sent again alone, following the redirect.
              ++job->pending;
              routed_fn store = [job, i](caf::expected<resp::value> r) {
                job->replies[i] = r ? std::move(*r)
                                    : resp::value::make_error(
                                      detail::error_text(r.error()));
                job->finish_one();
              };
              auto p = std::make_shared<command>(job->cmds[i]);
              auto slot = cluster::command_slot(*p);
              auto until = tryagain_until(self);
              on_failure(self, make_error(errc::redis_error, vs[j].str), from,
                         0, until, store, [=](std::string ask, int hops) {
                           run_routed(self, slot, p, send_command(self, p),
                                      store, hops, std::move(ask), until);
                         });
            }
            job->finish_one();
          },
          [self, job, from](caf::error& e) {
            auto code = code_of(e);
            if (code == errc::disconnected || code == errc::connect_failed)
              refresh(self);
            if (!job->failed)
              job->failed = std::move(e);
            job->finish_one();
          });
    }
  });
}

cluster_router_actor::behavior_type
cluster_router(router_ptr self, redis_options opts, gateway_role role) {
  auto& st = self->state;
  st.role = role;
  if (auto s = cluster::seeds(opts))
    for (auto& x : *s)
      st.seeds.push_back(x.text());
  st.opts = std::move(opts);
  refresh(self);
  return {
    [self](cmd_atom, command& cmd) -> caf::result<resp::value> {
      routed_fn done;
      auto rp = open_request(self, done);
      route_command(self, std::move(cmd), std::move(done));
      return rp;
    },
    [self](batch_atom,
           std::vector<command>& cmds) -> caf::result<std::vector<resp::value>> {
      std::function<void(caf::expected<std::vector<resp::value>>)> done;
      auto rp = open_request(self, done);
      route_batch(self, std::move(cmds), std::move(done));
      return rp;
    },
    [self](eval_atom, script& scr, std::vector<std::string>& keys,
           std::vector<std::string>& args) -> caf::result<resp::value> {
      routed_fn done;
      auto rp = open_request(self, done);
      route_eval(self, std::move(scr), std::move(keys), std::move(args),
                 std::move(done));
      return rp;
    },
    [self](each_master_atom,
           command& cmd) -> caf::result<std::vector<resp::value>> {
      std::function<void(caf::expected<std::vector<resp::value>>)> done;
      auto rp = open_request(self, done);
      route_each_master(self, std::move(cmd), std::move(done));
      return rp;
    },
    [self](scan_keys_atom, scan_query& q) -> caf::result<scan_result> {
      std::function<void(caf::expected<scan_result>)> done;
      auto rp = open_request(self, done);
      route_scan(self, std::move(q), std::move(done));
      return rp;
    },
    [self](cluster_rtick_atom) { refresh_tick(self); },
    [self](cluster_later_atom, uint64_t id) { run_later(self, id); },
    [self](cancel_atom) {
      for (auto& kv : self->state.nodes)
        caf::anon_send(kv.second, cancel_atom::value);
    },
    [self](stats_atom) -> caf::result<gateway_stats> {
      auto rp = self->make_response_promise<gateway_stats>();
      auto& st = self->state;
      // The node gateways' counters added up, plus the router's own.
      gateway_stats own;
      own.moved_redirects = st.moved;
      own.ask_redirects = st.asks;
      own.refused_retries = st.tryagains;
      own.cluster_nodes = st.nodes.size();
      own.cluster_nodes_dropped = st.dropped;
      own.cluster_refresh_failures = st.refresh_failures_total;
      if (st.nodes.empty()) {
        rp.deliver(own);
        return rp;
      }
      struct acc_t {
        gateway_stats sum;
        size_t pending = 0;
        bool all_up = true;
      };
      auto acc = std::make_shared<acc_t>();
      acc->sum = own;
      acc->pending = st.nodes.size();
      for (auto& kv : st.nodes) {
        bool is_master = std::find(st.table.masters.begin(),
                                   st.table.masters.end(), kv.first)
                         != st.table.masters.end();
        auto finish = [acc, rp]() mutable {
          if (--acc->pending == 0) {
            acc->sum.connected = acc->all_up;
            rp.deliver(acc->sum);
          }
        };
        self->request(kv.second, std::chrono::seconds{5}, stats_atom::value)
          .then(
            [acc, finish, is_master](gateway_stats& x) mutable {
              merge(acc->sum, x);
              if (is_master && !x.connected)
                acc->all_up = false;
              finish();
            },
            [acc, finish, is_master](caf::error&) mutable {
              if (is_master)
                acc->all_up = false;
              finish();
            });
      }
      return rp;
    },
    [](direct_atom) { return gateway_direct_ptr{}; },
  };
}

} // namespace

gateway_actor spawn_cluster_gateway(caf::actor_system& sys,
                                    const redis_options& opts,
                                    gateway_role role) {
  // The router's interface holds the gateway's: the handle converts.
  return sys.spawn<caf::detached>(cluster_router, opts, role);
}

} // namespace pulse
