#include "pulse/actors/pool/node_state.hpp"

#include <algorithm>

#include <caf/send.hpp>

#include "pulse/actors/pool/intake.hpp"
#include "pulse/actors/pool/worker.hpp"
#include "pulse/actors/pool/scripts.hpp"
#include "pulse/runtime/errors.hpp"
#include "pulse/runtime/log.hpp"
#include "pulse/runtime/names.hpp"

namespace pulse::node_detail {

namespace ps = pool_scripts;

void node_state::refresh(std::function<void()> then, bool after_resub) {
  last_refresh = steady_clock::now();
  refresh_pending = false;
  auto started = last_refresh;
  eval(ps::members(), {},
       [this, started, then, after_resub](caf::expected<resp::value> v) {
         if (!v) {
           log::warn("pool node cannot read membership pool={} error=\"{}\"",
                     core->pool, render(v.error()));
         } else {
           auto m = pool_membership::parse(*v);
           if (after_resub)
             core->replace(std::move(m));
           else
             core->install(std::move(m));
           auto cur = core->members()->rev;
           if (cur != seen_rev) {
             seen_rev = cur;
             for (auto& kv : workers)
               self->send(kv.second.hdl, rebalance_atom::value);
             if (cleaner)
               self->send(cleaner, cleanup_atom::value);
           }
         }
         refresh_cost = steady_clock::now() - started;
         if (then)
           then();
       });
}

void node_state::refresh_soon() {
  if (refresh_pending)
    return;
  auto now = steady_clock::now();
  auto next = last_refresh
              + std::max<steady_clock::duration>(refresh_throttle,
                                                 refresh_cost_factor
                                                   * refresh_cost);
  if (now >= next) {
    refresh();
    return;
  }
  refresh_pending = true;
  self->delayed_send(self, next - now, pn_refresh_atom::value);
}

void node_state::keepalive() {
  if (left || keepalive_busy)
    return;
  keepalive_busy = true;
  auto sent = steady_clock::now();
  std::vector<std::string> args{core->node,
                                ms_arg(core->opts.worker_ttl)};
  for (auto& kv : workers)
    args.push_back(kv.first);
  for (auto& id : leaving)
    args.push_back(id);
  eval(ps::keepalive(), std::move(args),
       [this, sent](caf::expected<resp::value> r) {
         keepalive_busy = false;
         if (left)
           return;
         if (!r) {
           log::warn("pool node keep-alive failed pool={} node={} "
                     "error=\"{}\"",
                     core->pool, core->node, render(r.error()));
           return;
         }
         renewed(sent, *r);
       });
}

void node_state::renewed(steady_clock::time_point sent,
                         const resp::value& r) {
  auto& st = script_status(r);
  if (st == "shutdown") {
    local_shutdown();
    return;
  }
  if (st != "ok")
    return;
  auto ttl = core->opts.worker_ttl;
  lease_deadline = sent + ttl - ttl / 10;
  core->set_lease_deadline(lease_deadline);
  self->delayed_send(self, lease_deadline - steady_clock::now(),
                     pn_fence_atom::value);
  if (fenced) {
    fenced = false;
    for (auto& kv : workers)
      self->send(kv.second.hdl, resume_atom::value);
  }
  if (r.elements.size() > 1) {
    auto rev = pool_routing::parse_i64(r.elements[1].str).value_or(0);
    if (rev != seen_rev)
      refresh();
  }
  for (size_t i = 2; i < r.elements.size(); ++i) {
    auto i_w = workers.find(r.elements[i].str);
    if (i_w != workers.end()) {
      log::warn("pool worker is no member (declared dead, or lost by a "
                "failover), rejoining worker={}",
                i_w->first);
      self->send(i_w->second.hdl, rejoin_atom::value);
    }
  }
}

void node_state::fence_check() {
  if (closed || fenced || steady_clock::now() < lease_deadline)
    return;
  fenced = true;
  log::warn("pool node lease expired before renewal, fencing workers "
            "node={}",
            core->node);
  for (auto& kv : workers)
    self->send(kv.second.hdl, fence_atom::value);
}

void node_state::dispatched(uint64_t id, caf::error err) {
  auto i = requests.find(id);
  if (i == requests.end())
    return;
  if (err)
    i->second.deliver(std::move(err));
  else
    i->second.deliver(true);
  requests.erase(i);
}

void node_state::fail_requests() {
  for (auto& kv : requests)
    kv.second.deliver(make_error(errc::closed, "pool node closed"));
  requests.clear();
}

caf::result<std::string> node_state::add_worker(job_handler_ptr handler) {
  if (core->opts.client_only)
    return make_error(errc::invalid_argument,
                      "cannot add a worker to a client-only node");
  if (core->closing)
    return make_error(errc::closed, "pool node is closed");
  if (!handler)
    return make_error(errc::invalid_argument, "null job handler");
  auto id = make_ulid();
  auto created = unix_ns();
  // Answered when the `add_worker` script returns: the node goes on
  // meanwhile, and adds from many requesters overlap.
  auto rp = self->make_response_promise<std::string>();
  eval(ps::add_worker(), add_member_args(*core, id, created),
            [this, rp, id, created,
             handler](caf::expected<resp::value> r) mutable {
              if (!r) {
                rp.deliver(std::move(r.error()));
                return;
              }
              if (script_status(*r) != "ok") {
                rp.deliver(dispatch_refusal(script_status(*r), ""));
                return;
              }
              if (core->closing) {
                // Closed while the script ran: leave the membership again.
                eval(ps::remove_workers(), {id},
                          [id](caf::expected<resp::value> x) {
                            if (!x)
                              log::warn("pool node cannot remove worker={} "
                                        "error=\"{}\"",
                                        id, render(x.error()));
                          });
                rp.deliver(make_error(errc::closed, "pool node is closed"));
                return;
              }
              start_worker(id, created, std::move(handler));
              rp.deliver(id);
            });
  return rp;
}

void node_state::start_worker(const std::string& id, int64_t created,
                              job_handler_ptr handler) {
  if (!intake) { // with the first worker: nodes without any need none
    intake = spawn_pool_intake(rt, core);
    confirmer = spawn_pool_confirmer(rt, core);
  }
  auto detached = core->opts.detached_workers || handler->blocks();
  auto hdl = spawn_pool_worker(rt, core, intake, confirmer, id, created,
                               std::move(handler), detached);
  workers.emplace(id, local_worker{hdl, created});
  refresh_soon();
  log::info("pool worker added pool={} node={} worker={} name={}",
            core->pool, core->node, id, core->worker_name(id));
}

caf::result<bool> node_state::remove_worker(const std::string& id) {
  auto i = workers.find(id);
  if (i == workers.end())
    return make_error(errc::not_found, "no local worker " + id);
  auto hdl = i->second.hdl;
  workers.erase(i);
  leaving.insert(id);
  // Leaves the membership, reloads it (the others rebalance), then closes
  // the worker, which hands its jobs over; the node goes on meanwhile.
  auto rp = self->make_response_promise<bool>();
  auto done = [this, rp, id]() mutable {
    leaving.erase(id);
    rp.deliver(true);
  };
  auto close_worker = [this, hdl, done] {
    self->request(hdl, caf::infinite, close_atom::value, false)
      .then([done](bool) mutable { done(); },
            [done](caf::error&) mutable { done(); });
  };
  eval(ps::remove_workers(), {id},
       [this, id, close_worker](caf::expected<resp::value> r) {
         if (!r)
           log::warn("pool node cannot remove worker={} error=\"{}\"", id,
                     render(r.error()));
         refresh(close_worker);
       });
  return rp;
}

void node_state::close_all(bool shutdown, std::function<void()> then) {
  core->closing = true;
  if (left) {
    then();
    return;
  }
  if (closed) { // a close is under way: `then` waits for it
    after_close.push_back(std::move(then));
    return;
  }
  closed = true;
  std::vector<std::string> ids;
  for (auto& kv : workers)
    ids.push_back(kv.first);
  if (!ids.empty() && !shutdown) {
    // Leaves the membership and reloads it (the other nodes' workers
    // rebalance) before the workers are closed.
    eval(ps::remove_workers(), ids,
         [this, then](caf::expected<resp::value> r) {
           if (!r)
             log::warn("pool node cannot leave the membership node={} "
                       "error=\"{}\"",
                       core->node, render(r.error()));
           refresh([this, then] { close_workers(false, then); });
         });
    return;
  }
  close_workers(shutdown, std::move(then));
}

void node_state::close_workers(bool shutdown, std::function<void()> then) {
  std::vector<std::string> ids;
  for (auto& kv : workers)
    ids.push_back(kv.first);
  if (cleaner) {
    self->send_exit(cleaner, caf::exit_reason::user_shutdown);
    cleaner = nullptr;
  }
  if (!shutdown)
    leaving.insert(ids.begin(), ids.end());
  auto pending = std::make_shared<size_t>(workers.size());
  auto finish = [this, then, pending] {
    if (--*pending > 0)
      return;
    leaving.clear();
    leave();
    then();
    auto waiting = std::move(after_close);
    after_close.clear();
    for (auto& f : waiting)
      f();
  };
  if (workers.empty()) {
    ++*pending;
    finish();
    return;
  }
  for (auto& kv : workers)
    self->request(kv.second.hdl, caf::infinite, close_atom::value, shutdown)
      .then([finish](bool) { finish(); },
            [finish](caf::error&) { finish(); });
  workers.clear();
}

void node_state::leave() {
  left = true;
  // Not blocking: with Redis down, close must not wait a command timeout
  // here (the gateway still sends it once Redis is back in time).
  caf::anon_send(rt.gateway(), batch_atom::value,
                 std::vector<command>{
                   make_command("ZREM", core->prefix + "alive",
                                "n:" + core->node),
                   make_command("HDEL", core->prefix + "info",
                                "n:" + core->node),
                   make_command("DEL", ps::intake_wake_key(core->pool,
                                                           core->node))});
  disp->close(); // no result can reach this node any more
  fail_requests();
  pubsub_subscriber_actor sub{self};
  caf::anon_send(rt.pubsub(), unsub_atom::value,
                 ps::control_channel(core->pool), sub);
  caf::anon_send(rt.pubsub(), unsub_atom::value,
                 ps::node_channel(core->pool, core->node), sub);
  log::info("pool node closed pool={} node={}", core->pool, core->node);
}

void node_state::local_shutdown() {
  shutting_down = true;
  if (closed)
    return;
  log::info("pool shutting down pool={} node={}", core->pool, core->node);
  close_all(true, [this] {
    if (!shutdown_promise.pending()) {
      fail_requests();
      self->quit();
    }
  });
}

void node_state::wait_nodes() {
  eval(ps::live_nodes(), {core->node}, [this](caf::expected<resp::value> r) {
    auto n = r ? pool_routing::parse_i64(script_status(*r)).value_or(1) : 1;
    if (n > 0 && steady_clock::now() < shutdown_deadline) {
      self->delayed_send(self, std::chrono::milliseconds{20},
                         pn_waitn_atom::value);
      return;
    }
    if (n > 0)
      log::warn("pool shutdown: {} node(s) did not leave in time, deleting "
                "the pool anyway pool={}",
                n, core->pool);
    eval(ps::purge(), {}, [this](caf::expected<resp::value> p) {
      if (!p)
        log::warn("pool shutdown cannot delete the pool's keys pool={} "
                  "error=\"{}\"",
                  core->pool, render(p.error()));
      shutdown_promise.deliver(true);
      fail_requests();
      self->quit();
    });
  });
}

} // namespace pulse::node_detail
