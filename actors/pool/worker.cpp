#include "actors/pool/worker.hpp"

#include <algorithm>
#include <cstdio>
#include <map>
#include <unordered_map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <caf/send.hpp>

#include "actors/redis/backoff.hpp"
#include "actors/redis/client.hpp"
#include "runtime/errors.hpp"
#include "runtime/log.hpp"
#include "actors/pool/scripts.hpp"
#include "actors/redis/services.hpp"

namespace pulse {

namespace {

using poll_atom = caf::atom_constant<caf::atom("pw_poll")>;
using requeue_atom = caf::atom_constant<caf::atom("pw_requeue")>;
using retry_atom = caf::atom_constant<caf::atom("pw_retry")>;

namespace ps = pool_scripts;

using key_epoch = std::pair<std::string, uint64_t>;

std::string seconds_arg(caf::timespan d) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.3f",
                std::chrono::duration<double>(d).count());
  return buf;
}

struct worker_state {
  worker_state(caf::event_based_actor* self, services& rt, pool_core_ptr core,
               std::string id, int64_t created_ns, job_handler_ptr handler)
    : self(self),
      core(std::move(core)),
      id(std::move(id)),
      created_ns(created_ns),
      handler(std::move(handler)),
      blocking(rt.spawn_gateway(gateway_role::blocking)),
      cli(rt.system(), rt.gateway()),
      command_timeout(rt.redis().command_timeout),
      queue_key(this->core->prefix + "q:" + this->id),
      retry(std::chrono::milliseconds{50}, std::chrono::seconds{2}) {
    // nop
  }

  caf::event_based_actor* self;
  /// Guards everything below: the actor's handlers and the poll callbacks
  /// (which run on the blocking gateway's reader thread) take turns.
  std::mutex mtx;
  /// This actor (for messages to itself from any thread).
  caf::actor me;
  /// The thread running the actor's handlers.
  std::thread::id actor_thread;
  /// The blocking gateway's direct entry: poll replies are handled right on
  /// its reader thread, without a hop through this actor's mailbox.
  gateway_direct_ptr direct;
  std::weak_ptr<worker_state> weak;
  pool_core_ptr core;
  std::string id;
  int64_t created_ns;
  job_handler_ptr handler;
  gateway_actor blocking;
  client cli;
  caf::timespan command_timeout;
  std::string queue_key;
  backoff retry;
  /// Jobs running here: key -> epoch.
  std::unordered_map<std::string, uint64_t> running;
  /// Starts not yet startable (lease or membership in doubt).
  std::vector<queue_entry> deferred;
  /// `confirm` calls that failed (Redis away), retried later.
  std::vector<std::vector<std::string>> unconfirmed;
  /// Jobs stopped here that must be moved to their owner.
  std::vector<key_epoch> handoff;
  /// Starts refused with errc::requeue, moved after requeue_delay.
  std::vector<key_epoch> requeue;
  bool requeue_armed = false;
  bool retry_armed = false;
  /// A poll failed: entries it popped may be lost, rebuild the queue.
  bool needs_resync = false;
  /// Whether to ask for the next batch before handling one: only while
  /// handlers are quick (a reply left unread past the poll's timeout would
  /// reset the connection).
  bool poll_ahead = true;
  bool polling = false;
  bool closed = false;

  // -- Redis helpers ----------------------------------------------------------

  caf::expected<resp::value> eval(const script& s,
                                  std::vector<std::string> args) {
    return cli.eval(s, {core->prefix}, std::move(args));
  }

  std::shared_ptr<const pool_membership> refresh() {
    if (auto err = reload_members(cli, *core))
      log::warn("pool worker cannot read membership pool={} worker={} "
                "error=\"{}\"",
                core->pool, id, render(err));
    return core->members();
  }

  // -- handler calls ----------------------------------------------------------

  template <class F>
  caf::error guarded(const char* what, const std::string& key, F f) {
    try {
      return f();
    } catch (const std::exception& e) {
      log::error("pool handler threw call={} key={} error=\"{}\"", what, key,
                 e.what());
      return make_error(errc::handler_failed, e.what());
    } catch (...) {
      log::error("pool handler threw call={} key={}", what, key);
      return make_error(errc::handler_failed, "unknown exception");
    }
  }

  void stop_local(const std::string& key) {
    auto err = guarded("stop", key, [&] { return handler->stop(key); });
    if (err)
      log::warn("pool handler stop failed worker={} key={} error=\"{}\"", id,
                key, render(err));
    running.erase(key);
  }

  void stop_all_local() {
    std::vector<key_epoch> all(running.begin(), running.end());
    for (auto& [key, epoch] : all) {
      stop_local(key);
      handoff.emplace_back(key, epoch);
    }
  }

  // -- queue ------------------------------------------------------------------

  /// Asks for the next batch (`BLMPOP`). Called with `mtx` held, from the
  /// actor or from a poll callback.
  void poll() {
    if (closed || polling)
      return;
    auto block = core->opts.job_sink_block_duration;
    command cmd;
    cmd.args = {"BLMPOP", seconds_arg(block), "1", queue_key, "LEFT",
                "COUNT", std::to_string(core->opts.max_batch)};
    cmd.timeout = block + command_timeout;
    polling = true;
    auto w = weak;
    if (direct
        && direct->call_async(cmd, [w](caf::expected<resp::value> r) {
             if (auto st = w.lock())
               st->on_poll(std::move(r));
           }))
      return;
    if (std::this_thread::get_id() != actor_thread) {
      polling = false; // not connected: retry from the actor later
      arm_retry();
      return;
    }
    self->request(blocking, caf::infinite, cmd_atom::value, std::move(cmd))
      .then(
        [w](resp::value& v) {
          if (auto st = w.lock())
            st->on_poll(std::move(v));
        },
        [w](caf::error& err) {
          if (auto st = w.lock())
            st->on_poll(std::move(err));
        });
  }

  /// A poll reply (usually on the blocking gateway's reader thread).
  void on_poll(caf::expected<resp::value> r) {
    std::lock_guard<std::mutex> guard{mtx};
    polling = false;
    if (closed)
      return;
    if (!r) {
      if (code_of(r.error()) != errc::canceled)
        log::warn("pool worker poll failed worker={} error=\"{}\"", id,
                  render(r.error()));
      needs_resync = true;
      arm_retry();
      return;
    }
    retry.reset();
    auto& v = *r;
    auto* entries = v.is_array() && v.elements.size() == 2
                        && v.elements[1].is_array()
                      ? &v.elements[1].elements
                      : nullptr;
    // Under load, ask for the next batch first so Redis fills it while
    // this one starts and is confirmed (entries are still handled in
    // order); a lone entry starts first (latency).
    if (entries && entries->size() > 1 && poll_ahead) {
      poll();
      process(*entries);
    } else if (entries) {
      auto t0 = std::chrono::steady_clock::now();
      process(*entries);
      poll_ahead = std::chrono::steady_clock::now() - t0
                   < std::chrono::milliseconds{20};
      poll();
    } else {
      poll();
    }
  }

  /// Rebuilds the queue after a failed poll (see `pool_scripts::resync`).
  bool resync() {
    std::vector<std::string> args{id};
    for (auto& [key, epoch] : running) {
      args.push_back(key);
      args.push_back(std::to_string(epoch));
    }
    auto r = eval(ps::resync(), std::move(args));
    if (!r) {
      log::warn("pool worker cannot rebuild its queue worker={} error=\"{}\"",
                id, render(r.error()));
      return false;
    }
    needs_resync = false;
    deferred.clear(); // queued again
    if (script_status(*r) == "ok" && r->elements.size() > 1
        && r->elements[1].str != "0")
      log::info("pool worker re-queued pending starts worker={} jobs={}", id,
                r->elements[1].str);
    for (size_t j = 2; j + 1 < r->elements.size(); j += 2) {
      auto& key = r->elements[j].str;
      auto i = running.find(key);
      if (i != running.end()
          && std::to_string(i->second) == r->elements[j + 1].str) {
        log::info("pool worker stops a job it no longer owns worker={} "
                  "key={}",
                  id, key);
        stop_local(key);
      }
    }
    return true;
  }

  void arm_retry() {
    if (retry_armed || !me)
      return;
    retry_armed = true;
    caf::delayed_anon_send(me, retry.next(), retry_atom::value);
  }

  void process(std::vector<resp::value>& entries) {
    std::vector<queue_entry> starts;
    for (auto& raw : entries) {
      auto e = parse_queue_entry(raw.str);
      switch (e.kind) {
        case 'S':
          starts.push_back(std::move(e));
          break;
        case 'T':
          start_batch(std::move(starts));
          starts.clear();
          on_stop(e);
          break;
        case 'N':
          start_batch(std::move(starts));
          starts.clear();
          on_notify(e);
          break;
        default:
          log::warn("pool worker skips malformed queue entry worker={} "
                    "size={}",
                    id, raw.str.size());
      }
    }
    start_batch(std::move(starts));
  }

  void defer(std::vector<queue_entry>& items) {
    for (auto& x : items)
      deferred.push_back(std::move(x));
    items.clear();
  }

  /// Starts a batch of start entries: keys that no longer hash here are
  /// moved (fenced by epoch and membership revision); the others start at
  /// once if this worker's lease is valid, and are confirmed afterwards.
  void start_batch(std::vector<queue_entry> items) {
    for (int attempt = 0; !items.empty(); ++attempt) {
      if (attempt == 4 || !core->lease_valid()) {
        defer(items);
        return;
      }
      auto m = core->members();
      if (!m->has(id)) {
        m = refresh();
        if (!m->has(id)) {
          defer(items);
          return;
        }
      }
      std::vector<std::string> move_args{id, std::to_string(m->rev)};
      std::vector<bool> here(items.size());
      for (size_t i = 0; i < items.size(); ++i) {
        auto t = m->target(items[i].key);
        here[i] = t == id;
        if (!here[i]) {
          move_args.push_back(items[i].key);
          move_args.push_back(std::to_string(items[i].epoch));
          move_args.push_back(t);
        }
      }
      if (move_args.size() > 2) {
        auto r = eval(ps::move(), std::move(move_args));
        if (!r) {
          log::warn("pool worker cannot move jobs worker={} error=\"{}\"",
                    id, render(r.error()));
          defer(items);
          arm_retry();
          return;
        }
        if (script_status(*r) != "ok") {
          refresh(); // stale membership: recompute every target
          continue;
        }
      }
      std::vector<queue_entry> mine;
      for (size_t i = 0; i < items.size(); ++i)
        if (here[i])
          mine.push_back(std::move(items[i]));
      run_starts(mine);
      return;
    }
  }

  static std::string wire_text(std::string text) {
    for (auto& c : text)
      if (c == '\x1e' || c == '\x1f')
        c = '?';
    return text;
  }

  void run_starts(std::vector<queue_entry>& items) {
    if (items.empty())
      return;
    std::vector<std::string> args{id};
    auto add = [&](const queue_entry& e, const char* outcome,
                   std::string err) {
      args.push_back(e.key);
      args.push_back(std::to_string(e.epoch));
      args.push_back(outcome);
      args.push_back(e.dispatch_id);
      args.push_back(e.node);
      args.push_back(std::move(err));
    };
    for (auto& e : items) {
      auto i = running.find(e.key);
      if (i != running.end()) {
        // Already running here (a start moved back to this worker):
        // adopt the newer epoch without restarting the handler.
        if (i->second != e.epoch) {
          i->second = std::max(i->second, e.epoch);
          add(e, "ok", {});
        }
        continue;
      }
      job j;
      j.key = e.key;
      j.payload = std::move(e.payload);
      j.node = e.node;
      j.worker = id;
      j.epoch = e.epoch;
      auto err = guarded("start", j.key, [&] { return handler->start(j); });
      if (!err) {
        running[j.key] = j.epoch;
        add(e, "ok", {});
      } else if (code_of(err) == errc::requeue) {
        requeue.emplace_back(j.key, j.epoch);
        arm_requeue();
      } else {
        auto text = render(err);
        log::info("pool job start failed worker={} key={} error=\"{}\"", id,
                  j.key, text);
        add(e, "fail", wire_text(std::move(text)));
      }
    }
    if (args.size() > 1)
      confirm(std::move(args));
  }

  /// Confirms starts (and publishes their results); stops the jobs Redis
  /// says this worker no longer owns.
  bool confirm(std::vector<std::string> args) {
    auto r = eval(ps::confirm(), args);
    if (!r) {
      log::warn("pool worker cannot confirm starts worker={} error=\"{}\"",
                id, render(r.error()));
      unconfirmed.push_back(std::move(args));
      arm_retry();
      return false;
    }
    for (size_t j = 0; j + 1 < r->elements.size(); j += 2) {
      auto& key = r->elements[j].str;
      auto epoch = pool_routing::parse_i64(r->elements[j + 1].str);
      auto i = running.find(key);
      if (i != running.end() && epoch
          && i->second == static_cast<uint64_t>(*epoch)) {
        log::info("pool worker stops a job it no longer owns worker={} "
                  "key={}",
                  id, key);
        stop_local(key);
      }
    }
    return true;
  }

  void on_stop(const queue_entry& e) {
    auto i = running.find(e.key);
    if (i != running.end() && i->second == e.epoch) {
      stop_local(e.key);
      return;
    }
    deferred.erase(std::remove_if(deferred.begin(), deferred.end(),
                                  [&](auto& x) { return x.key == e.key; }),
                   deferred.end());
    requeue.erase(std::remove_if(requeue.begin(), requeue.end(),
                                 [&](auto& x) { return x.first == e.key; }),
                  requeue.end());
  }

  void on_notify(const queue_entry& e) {
    auto i = running.find(e.key);
    if (i == running.end() || i->second != e.epoch) {
      log::warn("pool worker drops notification for a job it does not run "
                "worker={} key={}",
                id, e.key);
      return;
    }
    auto err = guarded("notify", e.key, [&] {
      return handler->handle_notification(e.key, e.payload);
    });
    if (err)
      log::warn("pool handler notification failed worker={} key={} "
                "error=\"{}\"",
                id, e.key, render(err));
  }

  // -- moves ------------------------------------------------------------------

  void arm_requeue() {
    if (requeue_armed || !me)
      return;
    requeue_armed = true;
    caf::delayed_anon_send(me, core->opts.requeue_delay, requeue_atom::value);
  }

  /// Moves every job in `handoff` to the worker its key hashes to now.
  bool flush_handoff() {
    if (handoff.empty())
      return true;
    std::vector<std::pair<std::string, std::string>> jobs;
    for (auto& [key, epoch] : handoff)
      jobs.emplace_back(key, std::to_string(epoch));
    auto moved = move_to_targets(cli, *core, id, jobs, true);
    if (!moved) {
      log::warn("pool worker cannot hand jobs over worker={} jobs={} "
                "error=\"{}\"",
                id, handoff.size(), render(moved.error()));
      return false;
    }
    handoff.clear();
    return true;
  }

  /// Moves every job this worker still owns in Redis (after it left the
  /// membership), until `deadline`.
  void hand_over_owned(caf::timespan budget) {
    auto deadline = std::chrono::steady_clock::now() + budget;
    for (;;) {
      auto moved = move_owned(cli, *core, id, true);
      if (moved && *moved == 0)
        return; // nothing (left) to hand over
      if (std::chrono::steady_clock::now() >= deadline) {
        log::warn("pool worker could not hand its jobs over worker={}; a "
                  "cleaner will recover them",
                  id);
        return;
      }
      if (!moved)
        std::this_thread::sleep_for(std::chrono::milliseconds{20});
    }
  }

  void rebalance() {
    auto m = core->members();
    if (!m->has(id))
      return;
    std::vector<std::string> moving;
    for (auto& [key, epoch] : running)
      if (m->target(key) != id)
        moving.push_back(key);
    for (auto& key : moving) {
      auto epoch = running[key];
      stop_local(key);
      handoff.emplace_back(key, epoch);
    }
    if (!moving.empty())
      log::debug("pool worker rebalances worker={} moved={}", id,
                 moving.size());
    resume();
  }

  void resume() {
    while (!unconfirmed.empty()) {
      auto args = std::move(unconfirmed.back());
      unconfirmed.pop_back();
      if (!confirm(std::move(args)))
        return;
    }
    if (!flush_handoff())
      arm_retry();
    if (!deferred.empty()) {
      auto items = std::move(deferred);
      deferred.clear();
      start_batch(std::move(items));
    }
  }

  /// Stops every local job and forgets every pending list (their jobs stay
  /// owned in Redis: rejoin re-queues them, close hands them over).
  void stop_everything() {
    std::vector<std::string> keys;
    for (auto& kv : running)
      keys.push_back(kv.first);
    for (auto& k : keys)
      stop_local(k);
    handoff.clear();
    deferred.clear();
    requeue.clear();
    unconfirmed.clear();
  }

  void rejoin() {
    stop_everything();
    auto r = add_member(cli, *core, id, created_ns);
    if (!r || script_status(*r) != "ok")
      log::warn("pool worker cannot rejoin worker={} error=\"{}\"", id,
                r ? script_status(*r) : render(r.error()));
    else
      log::info("pool worker rejoined worker={}", id);
    refresh();
  }

  void close(bool shutdown) {
    closed = true;
    caf::anon_send(blocking, cancel_atom::value);
    stop_everything();
    if (!shutdown)
      hand_over_owned(core->opts.worker_shutdown_ttl);
  }
};

caf::behavior worker_impl(caf::event_based_actor* self, services* rt,
                          pool_core_ptr core, std::string id,
                          int64_t created_ns, job_handler_ptr handler) {
  auto st = std::make_shared<worker_state>(self, *rt, std::move(core),
                                           std::move(id), created_ns,
                                           std::move(handler));
  st->weak = st;
  st->me = caf::actor{self};
  st->actor_thread = std::this_thread::get_id();
  {
    caf::scoped_actor tmp{self->system()};
    tmp->request(st->blocking, std::chrono::seconds{5}, direct_atom::value)
      .receive([&](gateway_direct_ptr& p) { st->direct = std::move(p); },
               [](caf::error&) {});
  }
  self->attach_functor([st](const caf::error&) {
    caf::anon_send_exit(st->blocking, caf::exit_reason::user_shutdown);
    std::lock_guard<std::mutex> guard{st->mtx};
    st->closed = true; // late poll callbacks do nothing
    st->me = nullptr;  // no self-reference after termination
  });
  {
    std::lock_guard<std::mutex> guard{st->mtx};
    st->poll();
  }
  using guard_t = std::lock_guard<std::mutex>;
  return {
    [st](rebalance_atom) {
      guard_t guard{st->mtx};
      if (!st->closed)
        st->rebalance();
    },
    [st](fence_atom) {
      guard_t guard{st->mtx};
      if (st->closed || st->running.empty())
        return;
      log::warn("pool worker lost its lease, stopping jobs worker={} jobs={}",
                st->id, st->running.size());
      st->stop_all_local();
    },
    [st](resume_atom) {
      guard_t guard{st->mtx};
      if (!st->closed)
        st->resume();
    },
    [st](rejoin_atom) {
      guard_t guard{st->mtx};
      if (!st->closed)
        st->rejoin();
    },
    [st](retry_atom) {
      guard_t guard{st->mtx};
      st->retry_armed = false;
      if (st->closed)
        return;
      if (st->needs_resync && !st->resync()) {
        st->arm_retry();
        return;
      }
      st->resume();
      st->poll();
    },
    [st](requeue_atom) {
      guard_t guard{st->mtx};
      st->requeue_armed = false;
      if (st->closed)
        return;
      st->handoff.insert(st->handoff.end(), st->requeue.begin(),
                         st->requeue.end());
      st->requeue.clear();
      if (!st->flush_handoff())
        st->arm_retry();
    },
    [self, st](close_atom, bool shutdown) {
      {
        guard_t guard{st->mtx};
        if (!st->closed)
          st->close(shutdown);
      }
      self->quit();
      return true;
    },
  };
}

} // namespace

caf::actor spawn_pool_worker(services& rt, pool_core_ptr core, std::string id,
                             int64_t created_ns, job_handler_ptr handler) {
  return rt.system().spawn<caf::detached>(worker_impl, &rt, std::move(core),
                                          std::move(id), created_ns,
                                          std::move(handler));
}

} // namespace pulse
