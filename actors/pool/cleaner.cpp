#include "pulse/actors/pool/cleaner.hpp"

#include <caf/actor_system.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "pulse/actors/redis/client.hpp"
#include "pulse/runtime/errors.hpp"
#include "pulse/runtime/log.hpp"
#include "pulse/actors/pool/scripts.hpp"
#include "pulse/actors/redis/services.hpp"

namespace pulse {

namespace {


namespace ps = pool_scripts;

struct cleaner_state {
  cleaner_state(services& rt, pool_core_ptr core)
    : core(std::move(core)), cli(rt.system(), rt.gateway()) {
    // nop
  }

  pool_core_ptr core;
  client cli;

  caf::expected<resp::value> eval(const script& s,
                                  std::vector<std::string> args) {
    return cli.eval(s, {core->prefix}, std::move(args));
  }

  void pass() {
    auto r = eval(ps::reap(),
                  {core->node, ms_arg(core->opts.cleanup_period() * 2)});
    if (!r) {
      log::warn("pool cleaner pass failed pool={} error=\"{}\"", core->pool,
                render(r.error()));
      return;
    }
    if (script_status(*r) != "ok")
      return; // another node holds the lease
    for (size_t i = 2; i < r->elements.size(); ++i)
      recover(r->elements[i].str);
  }

  /// Moves every job owned by `from` (a dead or removed worker, or "" for
  /// jobs dispatched while there was no worker).
  void recover(const std::string& from) {
    auto moved = move_owned(cli, *core, from, false);
    if (!moved)
      log::warn("pool cleaner cannot move jobs from={} error=\"{}\"", from,
                render(moved.error()));
    else if (*moved > 0)
      core->failovers.fetch_add(*moved, std::memory_order_relaxed);
    if (moved && *moved > 0)
      log::info("pool cleaner recovered jobs pool={} from={} moved={}",
                core->pool, from.empty() ? "(unrouted)" : from, *moved);
  }
};

pool_cleaner_impl_actor::behavior_type
cleaner_impl(pool_cleaner_impl_actor::pointer self, services* rt,
             pool_core_ptr core) {
  auto st = std::make_shared<cleaner_state>(*rt, std::move(core));
  self->send(self, pc_tick_atom::value);
  return {
    [self, st](pc_tick_atom) {
      st->pass();
      self->delayed_send(self, st->core->opts.cleanup_period(),
                         pc_tick_atom::value);
    },
    [st](cleanup_atom) { st->pass(); },
  };
}

} // namespace

pool_cleaner_actor spawn_pool_cleaner(services& rt, pool_core_ptr core) {
  return pool_cleaner_actor{
    rt.system().spawn<caf::detached>(cleaner_impl, &rt, std::move(core))};
}

} // namespace pulse
