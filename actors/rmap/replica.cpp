#include "pulse/actors/rmap/replica.hpp"


#include <algorithm>
#include <map>
#include <memory>
#include <mutex>

#include <caf/actor_system.hpp>
#include <caf/typed_event_based_actor.hpp>
#include <caf/scoped_actor.hpp>

#include "pulse/actors/rmap/replica_state.hpp"
#include "pulse/actors/rmap/encoding.hpp"
#include "pulse/actors/rmap/ops.hpp"
#include "pulse/runtime/errors.hpp"
#include "pulse/runtime/log.hpp"
#include "pulse/runtime/names.hpp"
#include "pulse/actors/rmap/scripts.hpp"
#include "pulse/actors/redis/services.hpp"

namespace pulse {

namespace {

using namespace replica_detail;

replica_impl_actor::behavior_type
replica_impl(replica_impl_actor::pointer self, std::string name,
             std::shared_ptr<rmap_store> store, map_options opts,
             gateway_actor gw, pubsub_actor ps,
             std::shared_ptr<propagation_probe> probe) {
  auto st = std::make_shared<replica_state>(self, std::move(name),
                                            std::move(store), opts, gw, ps,
                                            std::move(probe));
  self->set_down_handler(
    [st](const caf::down_msg& msg) { st->on_down(msg.source); });
  self->set_exit_handler([self, st](const caf::exit_msg& msg) {
    st->close();
    self->quit(msg.reason);
  });
  st->start();
  return {
    [st](const pubsub_message& msg) { st->on_message(msg); },
    [st](resub_atom, const std::string&) {
      // The subscription was lost: messages may be missing.
      bool joined = false;
      {
        std::lock_guard<std::mutex> guard{st->core->mtx};
        joined = st->core->joined;
      }
      if (joined)
        st->resync();
    },
    [st](rp_applied_atom, map_change& change) { st->after_apply(change); },
    [st](rp_watch_atom) { st->watch(); },
    [self, st](wait_rev_atom, uint64_t target) {
      auto rp = self->make_response_promise();
      bool ready = false;
      uint64_t rev = 0;
      {
        // Same lock as the fast path: either it already applied `target`,
        // or it will see `listeners` and tell us when it does.
        std::lock_guard<std::mutex> guard{st->core->mtx};
        rev = st->core->rev;
        ready = st->core->joined && rev >= target && !st->core->syncing;
        if (!ready)
          st->core->listeners = true;
      }
      if (ready)
        rp.deliver(rev);
      else
        st->waiters.emplace(target, rp);
      return caf::delegated<uint64_t>{};
    },
    [st](sub_atom, const map_event_subscriber_actor& who) {
      return st->subscribe(caf::actor_cast<caf::actor>(who), false);
    },
    [st](sub_atom, const map_changes_subscriber_actor& who) {
      return st->subscribe(caf::actor_cast<caf::actor>(who), true);
    },
    [st](unsub_atom, const map_event_subscriber_actor& who) {
      return st->unsubscribe(caf::actor_cast<caf::actor>(who));
    },
    [st](unsub_atom, const map_changes_subscriber_actor& who) {
      return st->unsubscribe(caf::actor_cast<caf::actor>(who));
    },
    [self, st](map_write_atom, map_write& w) {
      // One write, asynchronously: the reply comes from the gateway.
      auto rp = self->make_response_promise();
      auto args = rmap_ops::args_of(w, st->opts);
      if (!args) {
        rp.deliver(std::move(args.error()));
        return caf::delegated<map_write_result>{};
      }
      // Only a `set` reply names its revision: time it to the apply.
      auto probe = w.op == map_op::set ? st->core->probe : nullptr;
      auto sent = probe ? probe->sent()
                        : propagation_probe::clock::time_point{};
      self
        ->request(st->gw, caf::infinite, eval_atom::value,
                  rmap_ops::script_of(w.op), rmap_ops::keys_of(st->name),
                  std::move(*args))
        .then(
          [rp, w, probe, sent](resp::value& v) mutable {
            auto r = rmap_ops::decode(w, v);
            if (r && probe)
              probe->answered(r->rev, sent);
            if (r)
              rp.deliver(std::move(*r));
            else
              rp.deliver(std::move(r.error()));
          },
          [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
      return caf::delegated<map_write_result>{};
    },
    [st](map_get_atom, const std::string& key)
      -> caf::result<caf::optional<std::string>> {
      return st->store->get(key);
    },
    [self, st](resync_atom) {
      auto rp = self->make_response_promise();
      st->resync_waiters.push_back(rp);
      st->resync();
      return caf::delegated<uint64_t>{};
    },
    [st](stats_atom) {
      auto r = st->stats;
      r.rev = st->current_rev();
      {
        std::lock_guard<std::mutex> guard{st->core->mtx};
        r.applied += st->core->silent_applied;
      }
      r.subscribers = st->coarse.size() + st->detailed.size();
      r.propagation = st->core->probe->delays();
      r.propagation_unmatched = st->core->probe->unmatched();
      return r;
    },
    [st](rp_retry_atom) {
      if (!st->subscribed)
        st->start();
      else
        st->resync();
    },
  };
}

} // namespace

caf::expected<replica_actor>
spawn_replica(services& rt, const std::string& name,
              std::shared_ptr<rmap_store> store, map_options opts,
              std::shared_ptr<propagation_probe> probe) {
  if (auto err = validate_name(name, "pulse map"))
    return err;
  if (!store)
    return make_error(errc::invalid_argument, "pulse map: no store");
  if (opts.ttl.count() < 0)
    return make_error(errc::invalid_argument,
                      "pulse map: TTL must not be negative");
  if (!probe)
    probe = std::make_shared<propagation_probe>();
  auto hdl = opts.dedicated_thread
               ? rt.system().spawn<caf::detached>(replica_impl, name,
                                                  std::move(store), opts,
                                                  rt.gateway(), rt.pubsub(),
                                                  std::move(probe))
               : rt.system().spawn(replica_impl, name, std::move(store), opts,
                                   rt.gateway(), rt.pubsub(),
                                   std::move(probe));
  rt.track(caf::actor_cast<caf::actor>(hdl));
  rt.announce(metrics_source{metrics_kind::replica, name, {}, hdl.address()});
  return replica_actor{hdl};
}

caf::expected<replica_actor>
join_replica(services& rt, const std::string& name,
             std::shared_ptr<rmap_store> store, map_options opts,
             std::shared_ptr<propagation_probe> probe) {
  auto hdl = spawn_replica(rt, name, std::move(store), opts, std::move(probe));
  if (!hdl)
    return hdl.error();
  caf::scoped_actor self{rt.system()};
  caf::error err;
  self->request(*hdl, opts.join_timeout, wait_rev_atom::value, uint64_t{0})
    .receive([](uint64_t) {}, [&](caf::error& e) { err = std::move(e); });
  if (!err)
    return hdl;
  self->send_exit(*hdl, caf::exit_reason::user_shutdown);
  if (err == caf::sec::request_timeout)
    return make_error(errc::timeout, "pulse map: join of " + name
                                       + " timed out");
  return err;
}

} // namespace pulse
