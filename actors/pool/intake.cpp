#include "pulse/actors/pool/intake.hpp"

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/send.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "pulse/actors/pool/scripts.hpp"
#include "pulse/actors/redis/backoff.hpp"
#include "pulse/actors/redis/services.hpp"
#include "pulse/runtime/errors.hpp"
#include "pulse/runtime/log.hpp"

namespace pulse {

namespace {

/// Returns `d` in seconds with three decimals (a `BLMPOP` timeout).
std::string intake_seconds(caf::timespan d) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.3f",
                std::chrono::duration<double>(d).count());
  return buf;
}

/// State of a node's intake (see `spawn_pool_intake`).
struct intake_state {
  /// The call in flight on `blocking`, if any.
  enum class call { none, block, drain };

  intake_state(pool_intake_impl_actor::pointer self, services& rt,
               pool_core_ptr core)
    : self(self),
      rt(rt),
      core(std::move(core)),
      blocking(rt.spawn_gateway(gateway_role::blocking)),
      wake_key(pool_scripts::intake_wake_key(this->core->pool,
                                             this->core->node)),
      command_timeout(rt.redis().command_timeout),
      retry(std::chrono::milliseconds{50}, std::chrono::seconds{2}) {
    // nop
  }

  /// The intake actor.
  pool_intake_impl_actor::pointer self;
  /// The runtime's services (the shared gateway for wake-ups).
  services& rt;
  /// The node's shared state (prefix, node ID, options).
  pool_core_ptr core;
  /// The intake's own gateway (role `blocking`): `BLMPOP` and drains.
  gateway_actor blocking;
  /// `<prefix>intake:<node>`: a token here ends a blocked `BLMPOP`.
  std::string wake_key;
  /// The gateway's command timeout, added to a call's block duration.
  caf::timespan command_timeout;
  /// Queues waiting for the next call, by key.
  std::map<std::string, pool_intake_client_actor> wanting;
  /// Queues covered by the call in flight, by key.
  std::map<std::string, pool_intake_client_actor> asked;
  /// The call in flight.
  call in_flight = call::none;
  /// Whether the call in flight was woken already.
  bool woken = false;
  /// Whether the next call drains (the last one returned entries).
  bool drain_next = false;
  /// Whether the retry timer is pending.
  bool retry_armed = false;
  /// Rotates the key order by one queue per call.
  size_t rotation = 0;
  /// Back-off of the retries after failed calls.
  backoff retry;

  /// The wanting keys, rotated by `rotation`; moves them to `asked`.
  std::vector<std::string> take_wanting() {
    std::vector<std::string> keys;
    keys.reserve(wanting.size());
    for (auto& kv : wanting)
      keys.push_back(kv.first);
    std::rotate(keys.begin(),
                keys.begin() + static_cast<ptrdiff_t>(rotation % keys.size()),
                keys.end());
    ++rotation;
    asked = std::move(wanting);
    wanting.clear();
    return keys;
  }

  /// Sends the next call unless one is in flight, nothing is wanted or a
  /// retry is pending: a drain after entries, else a `BLMPOP`.
  void arm() {
    if (in_flight != call::none || wanting.empty() || retry_armed)
      return;
    auto keys = take_wanting();
    woken = false;
    if (drain_next) {
      in_flight = call::drain;
      self
        ->request(blocking, caf::infinite, eval_atom::value,
                  pool_scripts::intake_drain(), std::move(keys),
                  std::vector<std::string>{
                    std::to_string(core->opts.max_batch)})
        .then([this](resp::value& v) { on_drain(v); },
              [this](caf::error& err) { on_error(err); });
      return;
    }
    auto block = core->opts.job_sink_block_duration;
    command cmd;
    cmd.args.reserve(keys.size() + 8);
    cmd.args.push_back("BLMPOP");
    cmd.args.push_back(intake_seconds(block));
    cmd.args.push_back(std::to_string(keys.size() + 1));
    cmd.args.push_back(wake_key);
    for (auto& k : keys)
      cmd.args.push_back(std::move(k));
    cmd.args.push_back("LEFT");
    cmd.args.push_back("COUNT");
    cmd.args.push_back(std::to_string(core->opts.max_batch));
    cmd.timeout = block + command_timeout;
    in_flight = call::block;
    self->request(blocking, caf::infinite, cmd_atom::value, std::move(cmd))
      .then([this](resp::value& v) { on_block(v); },
            [this](caf::error& err) { on_error(err); });
  }

  /// Hands `entries` of queue `key` to its worker (dropped queues: ignored).
  void deliver(const std::string& key, std::vector<resp::value>& entries) {
    auto i = asked.find(key);
    if (i == asked.end()) {
      log::debug("pool intake drops entries of a closed worker queue={} "
                 "entries={}",
                 key, entries.size());
      return;
    }
    self->send(i->second, pw_batch_atom::value, std::move(entries));
    asked.erase(i);
  }

  /// The call in flight ended: its other queues are wanted again.
  void finish() {
    in_flight = call::none;
    retry.reset();
    for (auto& kv : asked)
      wanting.emplace(kv.first, std::move(kv.second));
    asked.clear();
    arm();
  }

  void on_block(resp::value& v) {
    drain_next = false;
    if (v.is_array() && v.elements.size() == 2 && v.elements[1].is_array()) {
      auto& key = v.elements[0].str;
      if (key != wake_key) {
        deliver(key, v.elements[1].elements);
        drain_next = true;
      }
    }
    finish();
  }

  void on_drain(resp::value& v) {
    drain_next = false;
    if (v.is_array())
      for (size_t i = 0; i + 1 < v.elements.size(); i += 2)
        if (v.elements[i + 1].is_array()) {
          deliver(v.elements[i].str, v.elements[i + 1].elements);
          drain_next = true;
        }
    finish();
  }

  /// A call failed: the workers it covered resync, the rest is retried.
  void on_error(const caf::error& err) {
    in_flight = call::none;
    drain_next = false;
    if (code_of(err) != errc::canceled && code_of(err) != errc::closed)
      log::warn("pool intake poll failed pool={} node={} queues={} "
                "error=\"{}\"",
                core->pool, core->node, asked.size(), render(err));
    for (auto& kv : asked)
      self->send(kv.second, pw_lost_atom::value, err);
    asked.clear();
    if (!retry_armed) {
      retry_armed = true;
      self->delayed_send(self, retry.next(), pi_arm_atom::value);
    }
  }

  /// Ends a blocked `BLMPOP` (once per call) so the next call covers the
  /// changed set of queues. Redis: `LPUSH wake 1`, `PEXPIRE wake 60000`.
  void wake() {
    if (in_flight != call::block || woken)
      return;
    woken = true;
    caf::anon_send(rt.gateway(), batch_atom::value,
                   std::vector<command>{make_command("LPUSH", wake_key, "1"),
                                        make_command("PEXPIRE", wake_key,
                                                     "60000")});
  }
};

pool_intake_impl_actor::behavior_type
intake_impl(pool_intake_impl_actor::stateful_pointer<
              std::unique_ptr<intake_state>> self,
            services* rt, pool_core_ptr core) {
  self->state = std::make_unique<intake_state>(self, *rt, std::move(core));
  self->attach_functor(
    [blocking = self->state->blocking](const caf::error&) {
      caf::anon_send_exit(blocking, caf::exit_reason::user_shutdown);
    });
  auto* st = self->state.get();
  return {
    [st](pi_want_atom, std::string& key, pool_intake_client_actor& w) {
      st->wanting[std::move(key)] = std::move(w);
      if (st->in_flight == intake_state::call::block)
        st->wake();
      else
        st->arm();
    },
    [st](pi_drop_atom, const std::string& key) {
      // A call in flight may still pop it (its entries are ignored): no
      // wake-up, so a closing node leaves no wake token behind.
      st->wanting.erase(key);
      st->asked.erase(key);
    },
    [st](pi_arm_atom) {
      st->retry_armed = false;
      st->arm();
    },
  };
}

} // namespace

pool_intake_actor spawn_pool_intake(services& rt, pool_core_ptr core) {
  return rt.system().spawn(intake_impl, &rt, std::move(core));
}

} // namespace pulse
