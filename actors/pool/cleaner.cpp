#include "pulse/actors/pool/cleaner.hpp"

#include <caf/actor_system.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "pulse/actors/pool/job_moves.hpp"
#include "pulse/actors/pool/scripts.hpp"
#include "pulse/actors/redis/services.hpp"
#include "pulse/runtime/errors.hpp"
#include "pulse/runtime/log.hpp"

namespace pulse {

namespace {

namespace ps = pool_scripts;

/// A cleaner's state: its Redis calls are awaited requests of its actor to
/// the shared gateway, so a pass holds back the next tick or poke until it
/// is done, and no thread blocks.
struct cleaner_state : pool_io {
  cleaner_state(pool_cleaner_impl_actor::pointer self, services& rt,
                pool_core_ptr core)
    : self(self), gateway(rt.gateway()), core(std::move(core)) {
    // nop
  }

  pool_cleaner_impl_actor::pointer self;
  gateway_actor gateway;
  pool_core_ptr core;

  void eval(const script& s, std::vector<std::string> args,
            reply_fn k) override {
    self
      ->request(gateway, caf::infinite, eval_atom::value, s,
                core->script_keys, std::move(args))
      .await([k](resp::value& v) { k(std::move(v)); },
             [k](caf::error& err) { k(std::move(err)); });
  }

  void call(command cmd, reply_fn k) override {
    self->request(gateway, caf::infinite, cmd_atom::value, std::move(cmd))
      .await([k](resp::value& v) { k(std::move(v)); },
             [k](caf::error& err) { k(std::move(err)); });
  }

  /// One pass: `reap` under the pool-wide lease, then the jobs of every
  /// member it removed (and the unrouted ones) are moved.
  void pass(std::shared_ptr<cleaner_state> st) {
    eval(ps::reap(), {core->node, ms_arg(core->opts.cleanup_period() * 2)},
         [st](caf::expected<resp::value> r) {
           if (!r) {
             log::warn("pool cleaner pass failed pool={} error=\"{}\"",
                       st->core->pool, render(r.error()));
             return;
           }
           if (script_status(*r) != "ok")
             return; // another node holds the lease
           auto from = std::make_shared<std::vector<std::string>>();
           for (size_t i = 2; i < r->elements.size(); ++i)
             from->push_back(std::move(r->elements[i].str));
           st->recover(st, from, 0);
         });
  }

  /// Moves every job owned by `(*from)[i]` (a dead or removed worker, or
  /// "" for jobs dispatched while there was no worker), then goes on with
  /// the next one: one move at a time, as the pass found them.
  void recover(std::shared_ptr<cleaner_state> st,
               std::shared_ptr<std::vector<std::string>> from, size_t i) {
    if (i >= from->size())
      return;
    move_owned_async(
      *this, core, (*from)[i], false,
      [st, from, i](caf::expected<size_t> moved) {
        auto& who = (*from)[i];
        if (!moved) {
          log::warn("pool cleaner cannot move jobs from={} error=\"{}\"",
                    who, render(moved.error()));
        } else if (*moved > 0) {
          st->core->failovers.fetch_add(*moved, std::memory_order_relaxed);
          log::info("pool cleaner recovered jobs pool={} from={} moved={}",
                    st->core->pool, who.empty() ? "(unrouted)" : who,
                    *moved);
        }
        st->recover(st, from, i + 1);
      });
  }
};

pool_cleaner_impl_actor::behavior_type
cleaner_impl(pool_cleaner_impl_actor::pointer self, services* rt,
             pool_core_ptr core) {
  auto st = std::make_shared<cleaner_state>(self, *rt, std::move(core));
  self->send(self, pc_tick_atom::value);
  return {
    [self, st](pc_tick_atom) {
      st->pass(st);
      self->delayed_send(self, st->core->opts.cleanup_period(),
                         pc_tick_atom::value);
    },
    [st](cleanup_atom) { st->pass(st); },
  };
}

} // namespace

pool_cleaner_actor spawn_pool_cleaner(services& rt, pool_core_ptr core) {
  return pool_cleaner_actor{
    rt.system().spawn(cleaner_impl, &rt, std::move(core))};
}

} // namespace pulse
