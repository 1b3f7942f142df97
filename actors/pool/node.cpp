#include "pulse/actors/pool/node.hpp"

#include <algorithm>
#include <memory>

#include <caf/actor_system.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/scoped_actor.hpp>

#include "pulse/actors/pool/cleaner.hpp"
#include "pulse/actors/pool/node_state.hpp"
#include "pulse/actors/pool/scripts.hpp"
#include "pulse/actors/pool/scheduler.hpp"
#include "pulse/actors/pool/ticker.hpp"
#include "pulse/messages/pubsub.hpp"
#include "pulse/runtime/errors.hpp"
#include "pulse/runtime/log.hpp"
#include "pulse/runtime/names.hpp"

namespace pulse {

namespace {

using namespace node_detail;
namespace ps = pool_scripts;

pool_node_impl_actor::behavior_type
node_impl(pool_node_impl_actor::pointer self, services* rt, pool_core_ptr core,
          dispatcher_ptr disp) {
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
    if (st->intake)
      caf::anon_send_exit(st->intake->actor(), caf::exit_reason::user_shutdown);
    if (st->confirmer)
      caf::anon_send_exit(st->confirmer, caf::exit_reason::user_shutdown);
    for (auto& kv : st->workers)
      caf::anon_send_exit(kv.second.hdl, caf::exit_reason::user_shutdown);
  });
  st->lease_deadline = steady_clock::now() + core->opts.worker_ttl
                       - core->opts.worker_ttl / 10;
  core->set_lease_deadline(st->lease_deadline);
  self->delayed_send(self, core->opts.keepalive_period(),
                     pn_keep_atom::value);
  self->send(self, pn_delay_atom::value, st->delay_gen); // first pass
  return {
    // -- public interface --
    [st](dispatch_atom, std::string& key, std::string& payload) {
      auto rp = st->self->make_response_promise();
      st->dispatch(std::move(key), std::move(payload), rp);
      return caf::delegated<bool>{};
    },
    [st](dispatch_atom, std::string& key, std::string& payload,
         const dispatch_options& opts) {
      auto rp = st->self->make_response_promise();
      st->dispatch(std::move(key), std::move(payload), rp, opts);
      return caf::delegated<bool>{};
    },
    [st](dead_jobs_atom, uint64_t limit) { return st->dead_jobs(limit); },
    [st](redrive_atom, const std::vector<std::string>& keys) {
      return st->redrive(keys);
    },
    [st](purge_dead_atom, const std::vector<std::string>& keys) {
      return st->purge_dead(keys);
    },
    [st](dispatch_at_atom, const std::string& key, const std::string& payload,
         int64_t at_ms) {
      return st->dispatch_later(key, payload, std::max<int64_t>(at_ms, 0),
                                caf::timespan{0});
    },
    [st](dispatch_in_atom, const std::string& key, const std::string& payload,
         caf::timespan delay) {
      return st->dispatch_later(key, payload, -1, delay);
    },
    [st](dispatch_wait_atom, std::string& key, std::string& payload,
         caf::timespan timeout) {
      auto rp = st->self->make_response_promise();
      st->dispatch_wait(std::move(key), std::move(payload), timeout, rp);
      return caf::delegated<std::string>{};
    },
    [st](job_complete_atom, const job& j, bool ok, std::string& value) {
      return st->complete_job(j, ok, std::move(value));
    },
    [st](job_result_atom, const std::string& key) {
      return st->job_result(key);
    },
    // Requests that only run a script or a command answer when its reply
    // arrives: the node handles other messages meanwhile.
    [st](cancel_delayed_atom, const std::string& key) {
      auto rp = st->self->make_response_promise<bool>();
      st->eval_answer(ps::cancel_delayed(), {key}, rp,
                      [key](const std::string& status) {
                        return status == "missing"
                                 ? make_error(errc::not_found,
                                              "no delayed job " + key)
                                 : caf::error{};
                      });
      return rp;
    },
    [st](job_stop_atom, const std::string& key) {
      auto rp = st->self->make_response_promise<bool>();
      st->eval_answer(ps::stop(), {key}, rp, [key](const std::string& status) {
        return status == "missing" ? make_error(errc::not_found, "no job " + key)
                                   : caf::error{};
      });
      return rp;
    },
    [st](job_notify_atom, const std::string& key,
         const std::string& payload) {
      auto rp = st->self->make_response_promise<bool>();
      st->eval_answer(ps::notify(), {key, payload}, rp,
                      [key](const std::string& status) {
                        if (status == "missing")
                          return make_error(errc::not_found, "no job " + key);
                        if (status == "unowned")
                          return make_error(errc::not_found,
                                            "job " + key
                                              + " has no worker yet");
                        return caf::error{};
                      });
      return rp;
    },
    [st](pn_refresh_atom) {
      if (st->refresh_pending && !st->closed)
        st->refresh();
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
      // Answered once the membership is reloaded.
      auto rp = st->self->make_response_promise<std::vector<worker_info>>();
      st->refresh([st, rp]() mutable {
        auto m = st->core->members();
        std::vector<worker_info> out;
        for (auto& w : m->active)
          out.push_back(worker_info{w.id, w.created_at, m->nodes.at(w.id)});
        rp.deliver(std::move(out));
      });
      return rp;
    },
    [st](job_keys_atom) {
      auto rp = st->self->make_response_promise<std::vector<std::string>>();
      st->call(make_command("HKEYS", st->core->prefix + "jobs"),
                    [rp](caf::expected<resp::value> r) mutable {
                      if (!r) {
                        rp.deliver(std::move(r.error()));
                        return;
                      }
                      std::vector<std::string> out;
                      for (auto& x : r->elements)
                        out.push_back(std::move(x.str));
                      rp.deliver(std::move(out));
                    });
      return rp;
    },
    [st](job_payload_atom, const std::string& key) {
      auto rp
        = st->self->make_response_promise<caf::optional<std::string>>();
      st->call(make_command("HGET", st->core->prefix + "payloads", key),
                    [rp](caf::expected<resp::value> r) mutable {
                      if (!r)
                        rp.deliver(std::move(r.error()));
                      else if (r->is_nil())
                        rp.deliver(caf::optional<std::string>{});
                      else
                        rp.deliver(
                          caf::optional<std::string>{std::move(r->str)});
                    });
      return rp;
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
    [st](new_ticker_atom, std::string& name, caf::timespan period,
         tick_receiver_actor& receiver) -> caf::result<ticker_actor> {
      if (st->core->opts.client_only)
        return make_error(errc::invalid_argument,
                          "pool ticker: not on a client-only node");
      auto t = spawn_ticker(st->rt, st->core, std::move(name), period,
                            std::move(receiver));
      if (!t)
        return t.error();
      return std::move(*t);
    },
    [st](schedule_atom, job_producer_ptr& producer, caf::timespan interval)
      -> caf::result<scheduler_actor> {
      auto node = pool_node_handle{caf::actor_cast<pool_node_actor>(st->self),
                                   st->core, st->disp};
      auto s = spawn_scheduler(st->rt, std::move(node), std::move(producer),
                               interval);
      if (!s)
        return s.error();
      return std::move(*s);
    },
    [st](stats_atom) {
      auto& c = *st->core;
      pool_stats r;
      r.pool = c.pool;
      r.node = c.node;
      r.dispatches = c.dispatches.load();
      r.dispatch_errors = c.dispatch_errors.load();
      r.starts = c.starts.load();
      r.stops = c.stops.load();
      r.failovers = c.failovers.load();
      r.running = static_cast<uint64_t>(std::max<int64_t>(0, c.running.load()));
      r.workers = st->workers.size();
      r.pending_dispatches = c.waiters();
      r.dispatch_latency = c.dispatch_latency();
      // Queue depth: one LLEN per local worker queue, in one batch,
      // answered when it returns (without it if it fails).
      std::vector<command> cmds;
      for (auto& kv : st->workers)
        cmds.push_back(make_command("LLEN", c.prefix + "q:" + kv.first));
      auto rp = st->self->make_response_promise<pool_stats>();
      if (cmds.empty()) {
        rp.deliver(std::move(r));
        return rp;
      }
      st->self
        ->request(st->rt.gateway(), caf::infinite, batch_atom::value,
                  std::move(cmds))
        .then(
          [rp, r](const std::vector<resp::value>& lens) mutable {
            for (auto& x : lens)
              if (auto n = x.as_integer(); n && *n > 0)
                r.queued += static_cast<uint64_t>(*n);
            rp.deliver(std::move(r));
          },
          [rp, r](caf::error&) mutable { rp.deliver(std::move(r)); });
      return rp;
    },
    [st](shutdown_atom) -> caf::result<bool> {
      if (st->shutting_down)
        return true; // shutting down already (asked here, or told)
      if (st->closed)
        return make_error(errc::closed,
                          "pool shutdown: node " + st->core->node
                            + " of pool " + st->core->pool
                            + " was closed first; shut the pool down from "
                              "a node still in it");
      st->shutting_down = true;
      st->shutdown_promise = st->self->make_response_promise<bool>();
      auto rp = st->shutdown_promise;
      // Writes the shutdown flag (the other nodes stop their jobs), then
      // stops this node's and waits for the others to leave.
      st->eval(ps::begin_shutdown(), {st->core->node},
               [st](caf::expected<resp::value> r) {
                 if (!r)
                   log::warn("pool shutdown flag not written pool={} "
                             "error=\"{}\"",
                             st->core->pool, render(r.error()));
                 st->shutdown_deadline = steady_clock::now()
                                         + st->core->opts.worker_ttl
                                         + std::chrono::seconds{1};
                 st->close_all(true, [st] { st->wait_nodes(); });
               });
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
    [st](pn_result_atom, uint64_t id, std::string& result) {
      st->finished(id, std::move(result));
    },
    [st](pn_delay_atom, uint64_t gen) {
      if (gen == st->delay_gen)
        st->promote_due();
    },
    [st](const pubsub_message& msg) {
      if (msg.payload == "s") {
        st->local_shutdown();
      } else if (!msg.payload.empty() && msg.payload[0] == 'd') {
        st->delay_notice();
      } else if (!msg.payload.empty() && msg.payload[0] == 'm') {
        auto rev = pool_routing::parse_i64(msg.payload.substr(1)).value_or(0);
        // Throttled like adds: a burst of changes (here or on other
        // nodes) costs one reload and rebalance round per period.
        if (rev != st->seen_rev)
          st->refresh_soon();
      } else {
        st->core->deliver(msg.payload);
      }
    },
    [st](resub_atom, const std::string&) {
      st->core->last_resub_ns = std::chrono::duration_cast<
                                  std::chrono::nanoseconds>(
                                  std::chrono::steady_clock::now()
                                    .time_since_epoch())
                                  .count();
      // A failover may have lost the newest membership changes: renew at
      // once (workers that are no members rejoin) and take the membership
      // as it is now, even at an older revision.
      st->keepalive();
      st->refresh({}, true);
      st->recover_outcomes();
      st->recheck_dispatches();
      st->promote_due();
    },
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
      || opts.max_queued_jobs < 0 || opts.rate_limit < 0
      || (opts.rate_limit > 0 && opts.rate_period.count() <= 0)
      || opts.name.find('|') != std::string::npos)
    return make_error(errc::invalid_argument,
                      "pool options: durations and max-batch must be "
                      "positive, max-queued-jobs and rate-limit not "
                      "negative, the name without '|'");
  auto core = std::make_shared<pool_core>(pool, make_ulid(), opts);
  client cli{rt.system(), rt.gateway()};
  auto r = cli.eval(ps::join_node(), core->script_keys,
                    {core->node, ms_arg(opts.worker_ttl), core->info()});
  if (!r)
    return r.error();
  if (script_status(*r) == "shutdown")
    return make_error(errc::shutting_down,
                      "pool \"" + pool + "\" is shutting down");
  if (auto err = reload_members(cli, *core))
    return err;
  auto disp = std::make_shared<dispatcher>(rt, core);
  auto hdl = rt.system().spawn<caf::detached>(node_impl, &rt, core, disp);
  rt.track(caf::actor_cast<caf::actor>(hdl));
  caf::scoped_actor self{rt.system()};
  caf::error err;
  auto direct = std::make_shared<std::function<bool(const pubsub_message&)>>(
    [core](const pubsub_message& msg) {
      core->deliver(msg.payload);
      return true;
    });
  pubsub_subscriber_actor sub = hdl;
  for (int i = 0; i < 2 && !err; ++i) {
    auto req = i == 0
                 ? self->request(rt.pubsub(), opts.worker_ttl, sub_atom::value,
                                 ps::control_channel(pool), sub)
                 : self->request(rt.pubsub(), opts.worker_ttl, sub_atom::value,
                                 ps::node_channel(pool, core->node), sub,
                                 direct_handler{direct});
    req.receive([](bool) {}, [&](caf::error& e) { err = std::move(e); });
  }
  if (err) {
    self->send_exit(hdl, caf::exit_reason::user_shutdown);
    return err;
  }
  rt.announce(metrics_source{metrics_kind::pool_node, pool, {}, hdl.address()});
  log::info("pool node joined pool={} node={} name={} client_only={}", pool,
            core->node, core->name, opts.client_only);
  return pool_node_handle{hdl, core, std::move(disp)};
}

} // namespace pulse
