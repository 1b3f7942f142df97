#include "pulse/actors/pool/scheduler.hpp"

#include <set>

#include <caf/actor_system.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "pulse/actors/pool/ticker.hpp"
#include "pulse/actors/redis/client.hpp"
#include "pulse/runtime/errors.hpp"
#include "pulse/runtime/log.hpp"
#include "pulse/runtime/names.hpp"
#include "pulse/actors/pool/scripts.hpp"
#include "pulse/actors/redis/services.hpp"

namespace pulse {

namespace {

namespace ps = pool_scripts;

struct scheduler_state {
  scheduler_state(services& rt, pool_node_handle node, job_producer_ptr p)
    : rt(rt),
      node(std::move(node)),
      producer(std::move(p)),
      name(producer->name()),
      record(this->node.core->prefix + "sched:" + name),
      cli(rt.system(), rt.gateway()) {
    // nop
  }

  services& rt;
  pool_node_handle node;
  job_producer_ptr producer;
  std::string name;
  std::string record;
  client cli;
  ticker_actor ticker;

  /// One reconciliation round; returns false to stop the schedule.
  bool round() {
    auto plan = [&]() -> caf::expected<job_plan> {
      try {
        return producer->plan();
      } catch (const std::exception& e) {
        return make_error(errc::handler_failed, e.what());
      }
    }();
    if (!plan) {
      if (code_of(plan.error()) == errc::canceled) {
        log::info("pool schedule stopped by its producer name={}", name);
        return false;
      }
      log::warn("pool schedule plan failed name={} error=\"{}\"", name,
                render(plan.error()));
      return true;
    }
    // Start: dispatch everything at once, then collect every reply.
    std::set<std::string> wanted;
    std::vector<std::string> started;
    caf::scoped_actor waiter{rt.system()};
    using handle = decltype(waiter->request(node.actor, caf::infinite,
                                            dispatch_atom::value,
                                            std::string{}, std::string{}));
    std::vector<std::pair<std::string, handle>> replies;
    for (auto& [key, payload] : plan->start) {
      wanted.insert(key);
      replies.emplace_back(key, waiter->request(node.actor, caf::infinite,
                                                dispatch_atom::value, key,
                                                payload));
    }
    for (auto& [key, h] : replies)
      h.receive([&, k = key](bool) { started.push_back(k); },
                [&, k = key](caf::error& err) {
                  if (code_of(err) == errc::job_exists)
                    started.push_back(k); // already running: satisfied
                  else
                    log::warn("pool schedule cannot start job name={} key={} "
                              "error=\"{}\"",
                              name, k, render(err));
                });
    auto now = std::to_string(unix_ms());
    if (!started.empty()) {
      std::vector<command> cmds;
      for (auto& k : started)
        cmds.push_back(make_command("HSET", record, k, now));
      cmds.push_back(
        make_command("SADD", node.core->prefix + "schedules", name));
      cli.batch(std::move(cmds));
    }
    // Stop.
    std::vector<std::string> stops;
    if (plan->stop_all) {
      if (auto keys = cli("HKEYS", record))
        for (auto& k : keys->elements)
          if (!wanted.count(k.str))
            stops.push_back(k.str);
    } else {
      stops = plan->stop;
    }
    for (auto& k : stops) {
      cli.eval(ps::stop(), node.core->script_keys, {k});
      cli("HDEL", record, k);
    }
    return true;
  }
};

scheduler_actor::behavior_type
scheduler_impl(scheduler_actor::pointer self,
               std::shared_ptr<scheduler_state> st, caf::timespan interval) {
  auto t = spawn_ticker(st->rt, st->node.core, "schedule:" + st->name,
                        interval, scheduler_actor{self}, caf::timespan{0});
  if (!t) {
    log::error("pool schedule cannot start its ticker name={} error=\"{}\"",
               st->name, render(t.error()));
    self->quit(t.error()); // ends once this init returns
  } else {
    st->ticker = *t;
    self->link_to(st->ticker);
  }
  return {
    [self, st](tick_atom, const std::string&, int64_t) {
      if (!st->round()) {
        self->send(st->ticker, ticker_stop_atom::value);
      }
      return true;
    },
  };
}

} // namespace

caf::expected<scheduler_actor>
spawn_scheduler(services& rt, pool_node_handle node, job_producer_ptr producer,
                caf::timespan interval) {
  if (!producer)
    return make_error(errc::invalid_argument, "pool schedule: no producer");
  if (auto err = validate_name(producer->name(), "pool schedule"))
    return err;
  if (interval.count() <= 0)
    return make_error(errc::invalid_argument,
                      "pool schedule: interval must be positive");
  auto st = std::make_shared<scheduler_state>(rt, std::move(node),
                                              std::move(producer));
  auto hdl = rt.system().spawn<caf::detached>(scheduler_impl, st, interval);
  rt.track(caf::actor_cast<caf::actor>(hdl));
  return hdl;
}

} // namespace pulse
