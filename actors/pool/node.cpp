#include "actors/pool/node.hpp"

#include <map>
#include <set>
#include <memory>
#include <unordered_map>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>

#include "actors/pool/cleaner.hpp"
#include "actors/pool/worker.hpp"
#include "messages/pubsub.hpp"
#include "actors/redis/client.hpp"
#include "runtime/errors.hpp"
#include "runtime/log.hpp"
#include "runtime/names.hpp"
#include "actors/pool/handler.hpp"
#include "actors/pool/scripts.hpp"
#include "actors/redis/services.hpp"

namespace pulse {

namespace {


namespace ps = pool_scripts;
using std::chrono::steady_clock;

struct local_worker {
  pool_worker_actor hdl;
  int64_t created_ns;
};

struct node_state {
  node_state(caf::event_based_actor* self, services& rt, pool_core_ptr core)
    : self(self), rt(rt), core(std::move(core)), cli(rt.system(), rt.gateway()) {
    // nop
  }

  caf::event_based_actor* self;
  services& rt;
  pool_core_ptr core;
  client cli;
  std::map<std::string, local_worker> workers;
  pool_cleaner_actor cleaner;
  dispatcher_ptr disp;
  /// Dispatch requests of actors waiting for their completion.
  std::unordered_map<uint64_t, caf::response_promise> requests;
  uint64_t last_request = 0;
  steady_clock::time_point lease_deadline;
  bool fenced = false;
  bool closed = false;
  /// Set once the node left the pool (no more keep-alives).
  bool left = false;
  /// Workers removed from the membership that are still handing over.
  std::set<std::string> leaving;
  /// Membership revision the workers were last told about.
  int64_t seen_rev = -1;
  /// Requests waiting for close/shutdown to finish.
  std::vector<caf::response_promise> close_waiters;
  caf::response_promise shutdown_promise;
  steady_clock::time_point shutdown_deadline;

  caf::expected<resp::value> eval(const script& s,
                                  std::vector<std::string> args) {
    return cli.eval(s, {core->prefix}, std::move(args));
  }

  void refresh() {
    if (auto err = reload_members(cli, *core)) {
      log::warn("pool node cannot read membership pool={} error=\"{}\"",
                core->pool, render(err));
      return;
    }
    auto cur = core->members()->rev;
    if (cur != seen_rev) {
      seen_rev = cur;
      for (auto& kv : workers)
        self->send(kv.second.hdl, rebalance_atom::value);
      if (cleaner)
        self->send(cleaner, cleanup_atom::value);
    }
  }

  // -- keep-alive and fencing -------------------------------------------------

  void keepalive() {
    if (left)
      return;
    auto sent = steady_clock::now();
    std::vector<std::string> args{core->node,
                                  ms_arg(core->opts.worker_ttl)};
    for (auto& kv : workers)
      args.push_back(kv.first);
    for (auto& id : leaving)
      args.push_back(id);
    auto r = eval(ps::keepalive(), std::move(args));
    if (!r) {
      log::warn("pool node keep-alive failed pool={} node={} error=\"{}\"",
                core->pool, core->node, render(r.error()));
      return;
    }
    auto& st = script_status(*r);
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
    if (r->elements.size() > 1) {
      auto rev = pool_routing::parse_i64(r->elements[1].str).value_or(0);
      if (rev != seen_rev)
        refresh();
    }
    for (size_t i = 2; i < r->elements.size(); ++i) {
      auto i_w = workers.find(r->elements[i].str);
      if (i_w != workers.end()) {
        log::warn("pool worker was declared dead, rejoining worker={}",
                  i_w->first);
        self->send(i_w->second.hdl, rejoin_atom::value);
      }
    }
  }

  void fence_check() {
    if (closed || fenced || steady_clock::now() < lease_deadline)
      return;
    fenced = true;
    log::warn("pool node lease expired before renewal, fencing workers "
              "node={}",
              core->node);
    for (auto& kv : workers)
      self->send(kv.second.hdl, fence_atom::value);
  }

  // -- dispatch (actor API) ---------------------------------------------------

  /// Dispatches through the node's dispatcher (the one dispatch path and
  /// registry); the completion comes back as `(pn_done_atom, request, error)`
  /// and answers the requester's promise, kept here so that none is left
  /// unanswered when the node closes or exits.
  void dispatch(std::string key, std::string payload,
                caf::response_promise rp) {
    auto id = ++last_request;
    requests.emplace(id, std::move(rp));
    auto addr = self->address();
    disp->dispatch(
      std::move(key), std::move(payload),
      [addr, id](caf::error err) {
        if (auto hdl = caf::actor_cast<caf::actor>(addr))
          caf::anon_send(hdl, pn_done_atom::value, id, std::move(err));
      },
      dispatcher::mode::lead);
  }

  void dispatched(uint64_t id, caf::error err) {
    auto i = requests.find(id);
    if (i == requests.end())
      return;
    if (err)
      i->second.deliver(std::move(err));
    else
      i->second.deliver(true);
    requests.erase(i);
  }

  /// Answers every dispatch request still waiting with `errc::closed`.
  void fail_requests() {
    for (auto& kv : requests)
      kv.second.deliver(make_error(errc::closed, "pool node closed"));
    requests.clear();
  }

  // -- workers ----------------------------------------------------------------

  caf::result<std::string> add_worker(job_handler_ptr handler) {
    if (core->opts.client_only)
      return make_error(errc::invalid_argument,
                        "cannot add a worker to a client-only node");
    if (core->closing)
      return make_error(errc::closed, "pool node is closed");
    if (!handler)
      return make_error(errc::invalid_argument, "null job handler");
    auto id = make_ulid();
    auto created = unix_ns();
    auto r = add_member(cli, *core, id, created);
    if (!r)
      return r.error();
    if (script_status(*r) != "ok")
      return dispatch_refusal(script_status(*r), "");
    auto hdl = spawn_pool_worker(rt, core, id, created, std::move(handler));
    workers.emplace(id, local_worker{hdl, created});
    refresh();
    log::info("pool worker added pool={} node={} worker={}", core->pool,
              core->node, id);
    return id;
  }

  caf::result<bool> remove_worker(const std::string& id) {
    auto i = workers.find(id);
    if (i == workers.end())
      return make_error(errc::not_found, "no local worker " + id);
    auto hdl = i->second.hdl;
    workers.erase(i);
    leaving.insert(id);
    auto r = eval(ps::remove_workers(), {id});
    if (!r)
      log::warn("pool node cannot remove worker={} error=\"{}\"", id,
                render(r.error()));
    refresh();
    auto rp = self->make_response_promise<bool>();
    auto done = [this, rp, id]() mutable {
      leaving.erase(id);
      rp.deliver(true);
    };
    self->request(hdl, caf::infinite, close_atom::value, false)
      .then([done](bool) mutable { done(); },
            [done](caf::error&) mutable { done(); });
    return rp;
  }

  // -- close and shutdown -----------------------------------------------------

  /// Stops every local worker (handing jobs over unless `shutdown`), then
  /// leaves the pool and quits; `then` runs once all workers are done.
  void close_all(bool shutdown, std::function<void()> then) {
    core->closing = true;
    if (closed) {
      then();
      return;
    }
    closed = true;
    std::vector<std::string> ids;
    for (auto& kv : workers)
      ids.push_back(kv.first);
    if (!ids.empty() && !shutdown) {
      auto r = eval(ps::remove_workers(), ids);
      if (!r)
        log::warn("pool node cannot leave the membership node={} "
                  "error=\"{}\"",
                  core->node, render(r.error()));
      refresh();
    }
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

  void leave() {
    left = true;
    cli("ZREM", core->prefix + "alive", "n:" + core->node);
    disp->close(); // no result can reach this node any more
    fail_requests();
    caf::anon_send(rt.pubsub(), unsub_atom::value,
                   ps::control_channel(core->pool), caf::actor{self});
    caf::anon_send(rt.pubsub(), unsub_atom::value,
                   ps::node_channel(core->pool, core->node), caf::actor{self});
    log::info("pool node closed pool={} node={}", core->pool, core->node);
  }

  void local_shutdown() {
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

  void wait_nodes() {
    auto r = eval(ps::live_nodes(), {core->node});
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
    auto p = eval(ps::purge(), {});
    if (!p)
      log::warn("pool shutdown cannot delete the pool's keys pool={} "
                "error=\"{}\"",
                core->pool, render(p.error()));
    shutdown_promise.deliver(true);
    fail_requests();
    self->quit();
  }
};

caf::behavior node_impl(caf::event_based_actor* self, services* rt,
                        pool_core_ptr core, dispatcher_ptr disp) {
  auto st = std::make_shared<node_state>(self, *rt, core);
  st->disp = std::move(disp);
  // No dispatch request is left unanswered when the node is exited.
  self->set_exit_handler([st](const caf::exit_msg& msg) {
    st->fail_requests();
    st->self->quit(msg.reason);
  });
  if (!core->opts.client_only)
    st->cleaner = spawn_pool_cleaner(*rt, core);
  self->attach_functor([st](const caf::error&) {
    if (st->cleaner)
      caf::anon_send_exit(st->cleaner, caf::exit_reason::user_shutdown);
    for (auto& kv : st->workers)
      caf::anon_send_exit(kv.second.hdl, caf::exit_reason::user_shutdown);
  });
  st->lease_deadline = steady_clock::now() + core->opts.worker_ttl
                       - core->opts.worker_ttl / 10;
  core->set_lease_deadline(st->lease_deadline);
  self->delayed_send(self, core->opts.keepalive_period(),
                     pn_keep_atom::value);
  return {
    // -- public interface --
    [st](dispatch_atom, std::string& key, std::string& payload) {
      auto rp = st->self->make_response_promise();
      st->dispatch(std::move(key), std::move(payload), rp);
      return caf::delegated<bool>{};
    },
    [st](job_stop_atom, const std::string& key) -> caf::result<bool> {
      auto r = st->eval(ps::stop(), {key});
      if (!r)
        return r.error();
      if (script_status(*r) == "missing")
        return make_error(errc::not_found, "no job " + key);
      return true;
    },
    [st](job_notify_atom, const std::string& key,
         const std::string& payload) -> caf::result<bool> {
      auto r = st->eval(ps::notify(), {key, payload});
      if (!r)
        return r.error();
      if (script_status(*r) == "missing")
        return make_error(errc::not_found, "no job " + key);
      if (script_status(*r) == "unowned")
        return make_error(errc::not_found,
                          "job " + key + " has no worker yet");
      return true;
    },
    [st](add_worker_atom, job_handler_ptr& h) {
      return st->add_worker(std::move(h));
    },
    [st](add_worker_atom, job_actor& a) {
      return st->add_worker(make_actor_handler(
        st->rt.system(), std::move(a), st->core->opts.worker_shutdown_ttl));
    },
    [st](remove_worker_atom, const std::string& id) {
      return st->remove_worker(id);
    },
    [st](workers_atom) {
      std::vector<worker_info> out;
      for (auto& kv : st->workers)
        out.push_back(worker_info{kv.first, kv.second.created_ns,
                                  st->core->node});
      return out;
    },
    [st](pool_workers_atom) {
      st->refresh();
      auto m = st->core->members();
      std::vector<worker_info> out;
      for (auto& w : m->active)
        out.push_back(worker_info{w.id, w.created_at, m->nodes.at(w.id)});
      return out;
    },
    [st](job_keys_atom) -> caf::result<std::vector<std::string>> {
      auto r = st->cli("HKEYS", st->core->prefix + "jobs");
      if (!r)
        return r.error();
      std::vector<std::string> out;
      for (auto& x : r->elements)
        out.push_back(std::move(x.str));
      return out;
    },
    [st](job_payload_atom, const std::string& key)
      -> caf::result<caf::optional<std::string>> {
      auto r = st->cli("HGET", st->core->prefix + "payloads", key);
      if (!r)
        return r.error();
      if (r->is_nil())
        return caf::optional<std::string>{};
      return caf::optional<std::string>{std::move(r->str)};
    },
    [st](close_atom) {
      auto rp = st->self->make_response_promise<bool>();
      st->close_all(false, [st, rp]() mutable {
        rp.deliver(true);
        st->fail_requests();
        st->self->quit();
      });
      return rp;
    },
    [st](shutdown_atom) -> caf::result<bool> {
      if (st->closed)
        return true;
      auto r = st->eval(ps::begin_shutdown(), {st->core->node});
      if (!r)
        log::warn("pool shutdown flag not written pool={} error=\"{}\"",
                  st->core->pool, render(r.error()));
      st->shutdown_promise = st->self->make_response_promise<bool>();
      st->shutdown_deadline = steady_clock::now() + st->core->opts.worker_ttl
                              + std::chrono::seconds{1};
      auto rp = st->shutdown_promise;
      st->close_all(true, [st] { st->wait_nodes(); });
      return rp;
    },
    // -- internal --
    [st](pn_keep_atom) {
      if (st->left)
        return;
      st->keepalive();
      st->self->delayed_send(st->self, st->core->opts.keepalive_period(),
                             pn_keep_atom::value);
    },
    [st](pn_fence_atom) { st->fence_check(); },
    [st](pn_done_atom, uint64_t id, caf::error& err) {
      st->dispatched(id, std::move(err));
    },
    [st](pn_waitn_atom) { st->wait_nodes(); },
    [st](const pubsub_message& msg) {
      if (msg.payload == "s") {
        st->local_shutdown();
      } else if (!msg.payload.empty() && msg.payload[0] == 'm') {
        auto rev = pool_routing::parse_i64(msg.payload.substr(1)).value_or(0);
        if (rev != st->seen_rev)
          st->refresh();
      } else {
        st->core->deliver(msg.payload);
      }
    },
    [st](resub_atom, const std::string&) { st->refresh(); },
  };
}

} // namespace

caf::expected<pool_node_handle> spawn_pool_node(services& rt,
                                                const std::string& pool,
                                                pool_options opts) {
  if (auto err = validate_name(pool, "pool"))
    return err;
  if (opts.worker_ttl.count() <= 0 || opts.ack_grace_period.count() <= 0
      || opts.job_sink_block_duration.count() <= 0 || opts.max_batch == 0
      || opts.max_queued_jobs < 0)
    return make_error(errc::invalid_argument,
                      "pool options: durations and max-batch must be "
                      "positive, max-queued-jobs not negative");
  auto core = std::make_shared<pool_core>(pool, make_ulid(), opts);
  client cli{rt.system(), rt.gateway()};
  auto r = cli.eval(ps::join_node(), {core->prefix},
                    {core->node, ms_arg(opts.worker_ttl)});
  if (!r)
    return r.error();
  if (script_status(*r) == "shutdown")
    return make_error(errc::shutting_down,
                      "pool \"" + pool + "\" is shutting down");
  if (auto err = reload_members(cli, *core))
    return err;
  auto disp = std::make_shared<dispatcher>(rt, core);
  auto hdl = rt.system().spawn<caf::detached>(node_impl, &rt, core, disp);
  rt.track(hdl);
  caf::scoped_actor self{rt.system()};
  caf::error err;
  auto direct = std::make_shared<std::function<bool(const pubsub_message&)>>(
    [core](const pubsub_message& msg) {
      core->deliver(msg.payload);
      return true;
    });
  for (int i = 0; i < 2 && !err; ++i) {
    auto req = i == 0
                 ? self->request(rt.pubsub(), opts.worker_ttl, sub_atom::value,
                                 ps::control_channel(pool), hdl)
                 : self->request(rt.pubsub(), opts.worker_ttl, sub_atom::value,
                                 ps::node_channel(pool, core->node), hdl,
                                 direct_handler{direct});
    req.receive([](bool) {}, [&](caf::error& e) { err = std::move(e); });
  }
  if (err) {
    self->send_exit(hdl, caf::exit_reason::user_shutdown);
    return err;
  }
  log::info("pool node joined pool={} node={} client_only={}", pool,
            core->node, opts.client_only);
  return pool_node_handle{caf::actor_cast<pool_node_actor>(hdl), core,
                          std::move(disp)};
}

} // namespace pulse
