#include "pulse/actors/pool/intake.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <caf/actor_cast.hpp>
#include <caf/actor_system.hpp>
#include <caf/send.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "pulse/actors/pool/scripts.hpp"
#include "pulse/actors/redis/backoff.hpp"
#include "pulse/actors/redis/gateway.hpp"
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

/// How long a `BLMPOP` must have blocked, per key it covers, before a want
/// may wake it (`intake_core::wake_locked`): Redis spends O(keys) on each
/// call (it registers and unregisters the client on every key; about
/// 1-2 µs per key, 10-20 ms for 10,000 keys), so with many queues waking
/// at once per want would keep Redis re-arming calls; paced, at most about
/// half of Redis's time goes to them: 2 ms for 1,000 queues, 20 ms for
/// 10,000; under `wake_pace_min` (100 queues) at once.
constexpr auto wake_pace_per_key = std::chrono::microseconds{2};

/// A paced wake-up due sooner than this goes out at once.
constexpr auto wake_pace_min = std::chrono::microseconds{200};

/// A node's intake (see `pool_intake`). Every member below `mtx` is
/// guarded by it; sinks and actors are called with it released.
class intake_core final : public pool_intake,
                          public std::enable_shared_from_this<intake_core> {
public:
  /// The intake actor (retries, and calls while not connected).
  using self_ptr = pool_intake_actor::pointer;

  /// The call in flight on `blocking`, if any.
  enum class call { none, block, drain };

  /// A worker's queue: where its batches go.
  struct client {
    pool_intake_client_actor hdl;
    sink fn;
  };

  intake_core(services& rt, pool_core_ptr core)
    : rt_(rt),
      core_(std::move(core)),
      blocking_(rt.spawn_gateway(gateway_role::blocking)),
      wake_key_(pool_scripts::intake_wake_key(core_->pool, core_->node)),
      command_timeout_(rt.redis().command_timeout),
      retry_(std::chrono::milliseconds{50}, std::chrono::seconds{2}) {
    // nop
  }

  // -- pool_intake ------------------------------------------------------------

  void enroll(const std::string& key, pool_intake_client_actor worker,
              sink fn) override {
    std::lock_guard<std::mutex> guard{mtx_};
    if (!closed_)
      clients_[key] = client{std::move(worker), std::move(fn)};
  }

  void want(const std::string& key) override {
    std::lock_guard<std::mutex> guard{mtx_};
    if (closed_ || clients_.count(key) == 0)
      return;
    wanting_.insert(key);
    if (in_flight_ == call::block)
      wake_locked();
    else
      arm_locked(nullptr);
  }

  void drop(const std::string& key) override {
    // A call in flight may still pop it (its entries are ignored): no
    // wake-up, so a closing node leaves no wake token behind.
    std::lock_guard<std::mutex> guard{mtx_};
    clients_.erase(key);
    wanting_.erase(key);
    asked_.erase(key);
  }

  caf::actor actor() const override {
    std::lock_guard<std::mutex> guard{mtx_};
    return caf::actor_cast<caf::actor>(me_);
  }

  // -- actor side -------------------------------------------------------------

  /// The intake's gateway (role `blocking`).
  const gateway_actor& blocking() const {
    return blocking_;
  }

  /// Sets the intake's actor (once, before the intake is shared).
  void set_actor(pool_intake_actor me) {
    std::lock_guard<std::mutex> guard{mtx_};
    me_ = std::move(me);
  }

  /// The gateway's direct entry arrived: later calls skip the actor.
  void set_direct(gateway_direct_ptr p, self_ptr self) {
    std::lock_guard<std::mutex> guard{mtx_};
    direct_ = std::move(p);
    arm_locked(self);
  }

  /// The retry timer fired (or a call could not go direct).
  void on_arm(self_ptr self) {
    std::lock_guard<std::mutex> guard{mtx_};
    retry_armed_ = false;
    arm_locked(self);
  }

  /// The actor exits: no more calls or deliveries; exits the gateway.
  void close() {
    {
      std::lock_guard<std::mutex> guard{mtx_};
      closed_ = true;
      clients_.clear();
      wanting_.clear();
      asked_.clear();
      direct_ = nullptr;
    }
    caf::anon_send_exit(blocking_, caf::exit_reason::user_shutdown);
  }

private:
  /// Sends the next call unless one is in flight, nothing is wanted or a
  /// retry is pending: a drain after entries, else a `BLMPOP`. Goes through
  /// the gateway's direct entry (replies on its reader thread); if it is
  /// not connected, through the actor (`self`, when called there) or a
  /// `pi_arm_atom` to it.
  void arm_locked(self_ptr self) {
    if (closed_ || in_flight_ != call::none || wanting_.empty()
        || retry_armed_ || delivering_)
      return;
    std::vector<std::string> keys(wanting_.begin(), wanting_.end());
    std::rotate(keys.begin(),
                keys.begin()
                  + static_cast<ptrdiff_t>(rotation_ % keys.size()),
                keys.end());
    ++rotation_;
    auto w = weak_from_this();
    auto drain = drain_next_;
    auto on_direct = [w, drain](caf::expected<resp::value> r) {
      if (auto st = w.lock())
        st->on_reply(drain, std::move(r));
    };
    auto on_value = [w, drain](resp::value& v) {
      if (auto st = w.lock())
        st->on_reply(drain, std::move(v));
    };
    auto on_error = [w, drain](caf::error& err) {
      if (auto st = w.lock())
        st->on_reply(drain, std::move(err));
    };
    if (drain) {
      std::vector<std::string> args{std::to_string(core_->opts.max_batch)};
      const auto& scr = pool_scripts::intake_drain();
      if (direct_ && direct_->eval_async(scr, keys, args, on_direct))
        return started(call::drain);
      if (self) {
        self
          ->request(blocking_, caf::infinite, eval_atom::value, scr,
                    std::move(keys), std::move(args))
          .then(on_value, on_error);
        return started(call::drain);
      }
    } else {
      auto block = core_->opts.job_sink_block_duration;
      command cmd;
      cmd.args.reserve(keys.size() + 8);
      cmd.args.push_back("BLMPOP");
      cmd.args.push_back(intake_seconds(block));
      cmd.args.push_back(std::to_string(keys.size() + 1));
      cmd.args.push_back(wake_key_);
      for (auto& k : keys)
        cmd.args.push_back(std::move(k));
      cmd.args.push_back("LEFT");
      cmd.args.push_back("COUNT");
      cmd.args.push_back(std::to_string(core_->opts.max_batch));
      cmd.timeout = block + command_timeout_;
      call_keys_ = keys.size() + 1;
      if (direct_ && direct_->call_async(cmd, on_direct))
        return started(call::block);
      if (self) {
        self->request(blocking_, caf::infinite, cmd_atom::value, std::move(cmd))
          .then(on_value, on_error);
        return started(call::block);
      }
    }
    // Not connected, and not on the actor: it sends the call.
    retry_armed_ = true;
    caf::anon_send(me_, pi_arm_atom::value);
  }

  /// A call covering the wanting queues is in flight.
  void started(call c) {
    in_flight_ = c;
    woken_ = false;
    call_started_ = std::chrono::steady_clock::now();
    move_keys(wanting_, asked_);
  }

  /// Moves every key of `from` into `to` (an exchange when `to` is empty:
  /// with 10,000 queues, copying and re-sorting the keys on every call
  /// showed in an idle node's profile).
  static void move_keys(std::set<std::string>& from,
                        std::set<std::string>& to) {
    if (to.empty())
      to.swap(from);
    else
      to.merge(from);
    from.clear();
  }

  /// A call ended: hands its entries to the workers (their sinks first, on
  /// this thread), or tells the workers it covered that it failed; then
  /// sends the next call.
  void on_reply(bool drain, caf::expected<resp::value> r) {
    std::vector<std::pair<client, std::vector<resp::value>>> out;
    std::vector<pool_intake_client_actor> lost;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      in_flight_ = call::none;
      drain_next_ = false;
      if (closed_)
        return;
      if (!r) {
        fail_locked(r.error(), lost);
      } else {
        retry_.reset();
        auto take = [&](const std::string& key, resp::value& entries) {
          if (key == wake_key_ || !entries.is_array())
            return;
          auto c = clients_.find(key);
          if (asked_.erase(key) == 0 || c == clients_.end()) {
            log::debug("pool intake drops entries of a closed worker "
                       "queue={} entries={}",
                       key, entries.elements.size());
            return;
          }
          out.emplace_back(c->second, std::move(entries.elements));
          drain_next_ = true;
        };
        auto& v = *r;
        if (!drain && v.is_array() && v.elements.size() == 2)
          take(v.elements[0].str, v.elements[1]);
        else if (drain && v.is_array())
          for (size_t i = 0; i + 1 < v.elements.size(); i += 2)
            take(v.elements[i].str, v.elements[i + 1]);
        // The call's other queues are wanted again.
        move_keys(asked_, wanting_);
      }
      delivering_ = !out.empty();
    }
    if (!r)
      for (auto& hdl : lost)
        caf::anon_send(hdl, pw_lost_atom::value, r.error());
    for (auto& [c, entries] : out)
      if (!c.fn || !c.fn(entries))
        caf::anon_send(c.hdl, pw_batch_atom::value, std::move(entries));
    std::lock_guard<std::mutex> guard{mtx_};
    delivering_ = false;
    arm_locked(nullptr);
  }

  /// A call failed: the workers it covered resync (`lost`), the rest is
  /// retried after a back-off.
  void fail_locked(const caf::error& err,
                   std::vector<pool_intake_client_actor>& lost) {
    if (code_of(err) != errc::canceled && code_of(err) != errc::closed)
      log::warn("pool intake poll failed pool={} node={} queues={} "
                "error=\"{}\"",
                core_->pool, core_->node, asked_.size(), render(err));
    for (auto& k : asked_) {
      auto c = clients_.find(k);
      if (c != clients_.end())
        lost.push_back(c->second.hdl);
    }
    asked_.clear();
    if (!retry_armed_) {
      retry_armed_ = true;
      caf::delayed_anon_send(me_, retry_.next(), pi_arm_atom::value);
    }
  }

  /// Ends a blocked `BLMPOP` (once per call) so the next call covers the
  /// changed set of queues. Redis: `LPUSH wake 1`, `PEXPIRE wake 60000`.
  /// Paced: not before the call is `wake_pace_per_key` times its key count
  /// old (a delayed send to the gateway), so the wants of that time share
  /// one re-arm. A token left after the call ended anyway only makes the
  /// next call return at once (one extra call).
  void wake_locked() {
    if (in_flight_ != call::block || woken_)
      return;
    woken_ = true;
    std::vector<command> cmds{make_command("LPUSH", wake_key_, "1"),
                              make_command("PEXPIRE", wake_key_, "60000")};
    auto age = std::chrono::steady_clock::now() - call_started_;
    auto pace = wake_pace_per_key * static_cast<int64_t>(call_keys_);
    // A delayed send takes the clock's thread (tens of µs): short waits
    // are not worth it (a few queues wake at once, as before).
    if (age + wake_pace_min >= pace)
      caf::anon_send(rt_.gateway(), batch_atom::value, std::move(cmds));
    else
      caf::delayed_anon_send(rt_.gateway(),
                             std::chrono::duration_cast<caf::timespan>(pace
                                                                       - age),
                             batch_atom::value, std::move(cmds));
  }

  /// The runtime's services (the shared gateway for wake-ups).
  services& rt_;
  /// The node's shared state (prefix, node ID, options).
  pool_core_ptr core_;
  /// The intake's own gateway (role `blocking`): `BLMPOP` and drains.
  gateway_actor blocking_;
  /// `<prefix>intake:<node>`: a token here ends a blocked `BLMPOP`.
  std::string wake_key_;
  /// The gateway's command timeout, added to a call's block duration.
  caf::timespan command_timeout_;

  mutable std::mutex mtx_;
  /// The intake actor.
  pool_intake_actor me_;
  /// The gateway's direct entry, once it answered.
  gateway_direct_ptr direct_;
  /// Every enrolled queue, by key.
  std::map<std::string, client> clients_;
  /// Queues waiting for the next call.
  std::set<std::string> wanting_;
  /// Queues covered by the call in flight.
  std::set<std::string> asked_;
  /// The call in flight.
  call in_flight_ = call::none;
  /// Whether the call in flight was woken already.
  bool woken_ = false;
  /// When the call in flight was sent.
  std::chrono::steady_clock::time_point call_started_;
  /// How many keys the last `BLMPOP` covered (its wake key included).
  size_t call_keys_ = 0;
  /// Whether the next call drains (the last one returned entries).
  bool drain_next_ = false;
  /// Whether the retry timer (or a `pi_arm_atom`) is pending.
  bool retry_armed_ = false;
  /// While `on_reply` hands entries over (a sink may run a worker's
  /// handler on this reader thread): no call is sent, since its reply could
  /// not be read before they are done, and a slow handler would time it
  /// out; `on_reply` sends the next call afterwards.
  bool delivering_ = false;
  /// Set when the actor exits.
  bool closed_ = false;
  /// Rotates the key order by one queue per call.
  size_t rotation_ = 0;
  /// Back-off of the retries after failed calls.
  backoff retry_;
};

pool_intake_actor::behavior_type
intake_actor_impl(pool_intake_actor::pointer self,
                  std::shared_ptr<intake_core> st) {
  self->attach_functor([st](const caf::error&) { st->close(); });
  self->request(st->blocking(), caf::infinite, direct_atom::value)
    .then([st, self](gateway_direct_ptr& p) { st->set_direct(p, self); },
          [](caf::error&) {
            // The actor path keeps working.
          });
  return {
    [st, self](pi_arm_atom) { st->on_arm(self); },
  };
}

} // namespace

pool_intake_ptr spawn_pool_intake(services& rt, pool_core_ptr core) {
  auto st = std::make_shared<intake_core>(rt, std::move(core));
  st->set_actor(rt.system().spawn(intake_actor_impl, st));
  return st;
}

} // namespace pulse
