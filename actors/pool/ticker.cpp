#include "pulse/actors/pool/ticker.hpp"

#include <caf/actor_system.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "pulse/runtime/errors.hpp"
#include "pulse/runtime/log.hpp"
#include "pulse/runtime/names.hpp"
#include "pulse/actors/pool/scripts.hpp"
#include "pulse/actors/redis/services.hpp"

namespace pulse {

namespace {


namespace ps = pool_scripts;

struct ticker_state {
  ticker_impl_actor::pointer self = nullptr;
  services* rt;
  pool_core_ptr core;
  std::string name;
  int64_t period_ms;
  int64_t first_ms;
  tick_receiver_actor receiver;
  std::string next; // expected next tick (ms, as stored)
  bool delivering = false;
  bool pending = false;
  uint64_t timer = 0; // ignores stale timers after a re-arm

  caf::timespan retry_delay() const {
    return std::min<caf::timespan>(std::chrono::milliseconds{period_ms},
                                   std::chrono::seconds{1});
  }

  void eval(const script& s, std::vector<std::string> args,
            std::function<void(resp::value&)> f) {
    self
      ->request(rt->gateway(), caf::infinite, eval_atom::value, s,
                core->script_keys, std::move(args))
      .then([f](resp::value& v) { f(v); },
            [this](caf::error& err) {
              log::warn("pool ticker Redis error name={} error=\"{}\"", name,
                        render(err));
              self->delayed_send(self, retry_delay(), tk_join_atom::value);
            });
  }

  void arm(const std::string& nx, const std::string& now) {
    next = nx;
    auto delay = pool_routing::parse_i64(nx).value_or(0)
                 - pool_routing::parse_i64(now).value_or(0);
    self->delayed_send(self, std::chrono::milliseconds{std::max<int64_t>(delay, 0)},
                       tk_fire_atom::value, ++timer);
  }

  void join() {
    eval(ps::ticker_join(),
         {name, std::to_string(period_ms), std::to_string(first_ms)},
         [this](resp::value& v) {
           if (v.is_array() && v.elements.size() == 2)
             arm(v.elements[0].str, v.elements[1].str);
         });
  }

  void fire() {
    eval(ps::ticker_fire(), {name, next}, [this](resp::value& v) {
      if (!v.is_array() || v.elements.empty())
        return;
      auto& st = v.elements[0].str;
      if (st == "stopped") {
        log::info("pool ticker stopped name={}", name);
        self->quit();
        return;
      }
      if (v.elements.size() < 3)
        return;
      arm(v.elements[1].str, v.elements[2].str);
      if (st == "won")
        deliver(pool_routing::parse_i64(v.elements[2].str).value_or(0));
    });
  }

  void deliver(int64_t now_ms) {
    if (delivering) {
      pending = true; // coalesce
      return;
    }
    delivering = true;
    self->request(receiver, caf::infinite, tick_atom::value, name, now_ms)
      .then(
        [this](bool) {
          delivering = false;
          if (pending) {
            pending = false;
            deliver(unix_ms());
          }
        },
        [this](caf::error& err) {
          delivering = false;
          log::warn("pool ticker receiver failed name={} error=\"{}\"", name,
                    render(err));
          if (err == caf::sec::request_receiver_down)
            self->quit();
        });
  }
};

ticker_impl_actor::behavior_type
ticker_impl(ticker_impl_actor::pointer self, std::shared_ptr<ticker_state> st) {
  st->self = self;
  st->join();
  return {
    [st](tk_fire_atom, uint64_t timer) {
      if (timer == st->timer)
        st->fire();
    },
    [st](tk_join_atom) { st->join(); },
    [self, st](ticker_stop_atom) {
      self->request(st->rt->gateway(), caf::infinite, cmd_atom::value,
                    make_command("HDEL", st->core->prefix + "tickers",
                                 st->name))
        .then([self](resp::value&) { self->quit(); },
              [self](caf::error&) { self->quit(); });
    },
  };
}

} // namespace

caf::expected<ticker_actor> spawn_ticker(services& rt, pool_core_ptr core,
                                       std::string name, caf::timespan period,
                                       tick_receiver_actor receiver,
                                       caf::timespan first_tick) {
  if (auto err = validate_name(name, "pool ticker"))
    return err;
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(period)
              .count();
  if (ms <= 0)
    return make_error(errc::invalid_argument,
                      "pool ticker: period must be at least 1 ms");
  if (!receiver)
    return make_error(errc::invalid_argument, "pool ticker: no receiver");
  auto st = std::make_shared<ticker_state>();
  st->rt = &rt;
  st->core = std::move(core);
  st->name = std::move(name);
  st->period_ms = ms;
  st->first_ms = first_tick.count() < 0
                   ? ms
                   : std::chrono::duration_cast<std::chrono::milliseconds>(
                       first_tick)
                       .count();
  st->receiver = std::move(receiver);
  auto hdl = rt.system().spawn(ticker_impl, st);
  rt.track(caf::actor_cast<caf::actor>(hdl));
  return ticker_actor{hdl};
}

} // namespace pulse
