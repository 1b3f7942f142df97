#include "actors/pool/worker.hpp"

#include <algorithm>
#include <cstdio>
#include <map>
#include <memory>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>

#include "runtime/backoff.hpp"
#include "runtime/client.hpp"
#include "runtime/errors.hpp"
#include "runtime/log.hpp"
#include "runtime/pool_scripts.hpp"
#include "runtime/runtime.hpp"

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
  worker_state(caf::event_based_actor* self, runtime& rt, pool_core_ptr core,
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
  std::map<std::string, uint64_t> running;
  /// Starts not yet claimable (lease or membership in doubt).
  std::vector<key_epoch> deferred;
  /// Jobs stopped here that must be moved to their owner.
  std::vector<key_epoch> handoff;
  /// Starts refused with errc::requeue, moved after requeue_delay.
  std::vector<key_epoch> requeue;
  bool requeue_armed = false;
  bool retry_armed = false;
  bool polling = false;
  bool closed = false;

  // -- Redis helpers ----------------------------------------------------------

  caf::expected<resp::value> eval(const script& s,
                                  std::vector<std::string> args) {
    return cli.eval(s, {core->prefix}, std::move(args));
  }

  std::shared_ptr<const pool_membership> refresh() {
    auto v = eval(ps::members(), {});
    if (v) {
      if (auto m = pool_membership::parse(*v))
        core->install(m);
    } else {
      log::warn("pool worker cannot read membership pool={} worker={} "
                "error=\"{}\"",
                core->pool, id, render(v.error()));
    }
    return core->members();
  }

  static const std::string& status(const resp::value& v) {
    static const std::string none;
    return v.is_array() && !v.elements.empty() ? v.elements[0].str : none;
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

  void poll() {
    if (closed || polling)
      return;
    auto block = core->opts.job_sink_block_duration;
    command cmd;
    cmd.args = {"BLMPOP", seconds_arg(block), "1", queue_key, "LEFT",
                "COUNT", std::to_string(core->opts.max_batch)};
    cmd.timeout = block + command_timeout;
    polling = true;
    self->request(blocking, caf::infinite, cmd_atom::value, std::move(cmd))
      .then(
        [this](resp::value& v) {
          polling = false;
          retry.reset();
          if (closed)
            return;
          if (v.is_array() && v.elements.size() == 2
              && v.elements[1].is_array())
            process(v.elements[1].elements);
          poll();
        },
        [this](caf::error& err) {
          polling = false;
          if (closed)
            return;
          if (code_of(err) != errc::canceled)
            log::warn("pool worker poll failed worker={} error=\"{}\"", id,
                      render(err));
          arm_retry();
        });
  }

  void arm_retry() {
    if (retry_armed)
      return;
    retry_armed = true;
    self->delayed_send(self, retry.next(), retry_atom::value);
  }

  void process(std::vector<resp::value>& entries) {
    std::vector<key_epoch> starts;
    for (auto& raw : entries) {
      auto e = parse_queue_entry(raw.str);
      switch (e.kind) {
        case 'S':
          starts.emplace_back(std::move(e.key), e.epoch);
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

  void defer(std::vector<key_epoch>& items) {
    deferred.insert(deferred.end(), items.begin(), items.end());
    items.clear();
  }

  void start_batch(std::vector<key_epoch> items) {
    for (int attempt = 0; !items.empty() && attempt < 4; ++attempt) {
      if (!core->lease_valid()) {
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
      std::vector<std::string> claim_args{id, std::to_string(m->rev)};
      std::vector<key_epoch> mine;
      for (auto& [key, epoch] : items) {
        auto t = m->target(key);
        if (t == id) {
          claim_args.push_back(key);
          claim_args.push_back(std::to_string(epoch));
          mine.emplace_back(key, epoch);
        } else {
          move_args.push_back(key);
          move_args.push_back(std::to_string(epoch));
          move_args.push_back(t);
        }
      }
      if (move_args.size() > 2) {
        auto r = eval(ps::move(), std::move(move_args));
        if (!r) {
          log::warn("pool worker cannot move jobs worker={} error=\"{}\"", id,
                    render(r.error()));
          defer(items);
          arm_retry();
          return;
        }
        if (status(*r) == "stale") {
          refresh();
          continue; // recompute every target
        }
      }
      items = std::move(mine);
      if (items.empty())
        return;
      auto r = eval(ps::claim(), std::move(claim_args));
      if (!r) {
        log::warn("pool worker cannot claim jobs worker={} error=\"{}\"", id,
                  render(r.error()));
        defer(items);
        arm_retry();
        return;
      }
      auto& st = status(*r);
      if (st == "stale") {
        refresh();
        continue;
      }
      if (st != "ok") { // lost: our lease ended; the node rejoins us
        log::warn("pool worker cannot claim jobs worker={} status={}", id, st);
        defer(items);
        return;
      }
      run_starts(r->elements);
      return;
    }
    defer(items);
  }

  void run_starts(std::vector<resp::value>& xs) {
    std::vector<command> results;
    for (size_t i = 1; i + 4 < xs.size(); i += 5) {
      job j;
      j.key = std::move(xs[i].str);
      j.payload = std::move(xs[i + 1].str);
      j.node = std::move(xs[i + 2].str);
      j.worker = id;
      auto did = std::move(xs[i + 3].str);
      j.epoch = static_cast<uint64_t>(
        pool_routing::parse_i64(xs[i + 4].str).value_or(0));
      auto err = guarded("start", j.key, [&] { return handler->start(j); });
      if (!err) {
        running[j.key] = j.epoch;
        if (!did.empty())
          results.push_back(make_command(
            "PUBLISH", ps::node_channel(core->pool, j.node), did + "\n"));
        continue;
      }
      if (code_of(err) == errc::requeue) {
        requeue.emplace_back(j.key, j.epoch);
        arm_requeue();
        continue;
      }
      auto text = render(err);
      log::info("pool job start failed worker={} key={} error=\"{}\"", id,
                j.key, text);
      auto r = eval(ps::fail(), {id, j.key, std::to_string(j.epoch)});
      if (!r)
        log::warn("pool worker cannot drop failed job key={} error=\"{}\"",
                  j.key, render(r.error()));
      if (!did.empty())
        results.push_back(make_command(
          "PUBLISH", ps::node_channel(core->pool, j.node), did + "\n" + text));
    }
    if (!results.empty()) {
      auto r = cli.batch(std::move(results));
      if (!r)
        log::warn("pool worker cannot publish start results worker={} "
                  "error=\"{}\"",
                  id, render(r.error()));
    }
  }

  void on_stop(const queue_entry& e) {
    auto i = running.find(e.key);
    if (i != running.end() && i->second == e.epoch) {
      stop_local(e.key);
      return;
    }
    auto drop = [&](std::vector<key_epoch>& xs) {
      xs.erase(std::remove_if(xs.begin(), xs.end(),
                              [&](auto& x) { return x.first == e.key; }),
               xs.end());
    };
    drop(deferred);
    drop(requeue);
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
    if (requeue_armed)
      return;
    requeue_armed = true;
    self->delayed_send(self, core->opts.requeue_delay, requeue_atom::value);
  }

  /// Moves every job in `handoff` to the worker its key hashes to now.
  bool flush_handoff() {
    for (int attempt = 0; !handoff.empty() && attempt < 4; ++attempt) {
      auto m = core->members();
      std::vector<std::string> args{id, std::to_string(m->rev)};
      for (auto& [key, epoch] : handoff) {
        args.push_back(key);
        args.push_back(std::to_string(epoch));
        args.push_back(m->target(key));
      }
      auto r = eval(ps::move(), std::move(args));
      if (!r) {
        log::warn("pool worker cannot hand jobs over worker={} jobs={} "
                  "error=\"{}\"",
                  id, handoff.size(), render(r.error()));
        return false;
      }
      if (status(*r) == "ok") {
        handoff.clear();
        return true;
      }
      refresh();
    }
    return handoff.empty();
  }

  /// Moves every job this worker still owns in Redis (after it left the
  /// membership), until `deadline`.
  void hand_over_owned(caf::timespan budget) {
    auto deadline = std::chrono::steady_clock::now() + budget;
    for (;;) {
      auto keys = cli("SMEMBERS", core->prefix + "owned:" + id);
      if (keys && keys->is_array()) {
        if (keys->elements.empty())
          return;
        auto m = refresh();
        std::vector<std::string> args{id, std::to_string(m->rev)};
        for (auto& k : keys->elements) {
          args.push_back(k.str);
          args.push_back("*");
          args.push_back(m->target(k.str));
        }
        auto r = eval(ps::move(), std::move(args));
        if (r && status(*r) == "ok")
          continue; // re-read: the set should be empty now
      }
      if (std::chrono::steady_clock::now() >= deadline) {
        log::warn("pool worker could not hand its jobs over worker={}; a "
                  "cleaner will recover them",
                  id);
        return;
      }
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
    if (!flush_handoff())
      arm_retry();
    if (!deferred.empty()) {
      auto items = std::move(deferred);
      deferred.clear();
      start_batch(std::move(items));
    }
  }

  void rejoin() {
    std::vector<std::string> keys;
    for (auto& kv : running)
      keys.push_back(kv.first);
    for (auto& k : keys)
      stop_local(k);
    handoff.clear();
    deferred.clear();
    requeue.clear();
    auto r = eval(ps::add_worker(),
                  {core->node, id, std::to_string(created_ns),
                   std::to_string(std::chrono::duration_cast<
                                    std::chrono::milliseconds>(
                                    core->opts.worker_ttl)
                                    .count())});
    if (!r || status(*r) != "ok")
      log::warn("pool worker cannot rejoin worker={} error=\"{}\"", id,
                r ? status(*r) : render(r.error()));
    else
      log::info("pool worker rejoined worker={}", id);
    refresh();
  }

  void close(bool shutdown) {
    closed = true;
    self->send(blocking, cancel_atom::value);
    std::vector<std::string> keys;
    for (auto& kv : running)
      keys.push_back(kv.first);
    for (auto& k : keys)
      stop_local(k);
    handoff.clear();
    deferred.clear();
    requeue.clear();
    if (!shutdown)
      hand_over_owned(core->opts.worker_shutdown_ttl);
  }
};

caf::behavior worker_impl(caf::event_based_actor* self, runtime* rt,
                          pool_core_ptr core, std::string id,
                          int64_t created_ns, job_handler_ptr handler) {
  auto st = std::make_shared<worker_state>(self, *rt, std::move(core),
                                           std::move(id), created_ns,
                                           std::move(handler));
  self->attach_functor([blocking = st->blocking](const caf::error&) {
    caf::anon_send_exit(blocking, caf::exit_reason::user_shutdown);
  });
  st->poll();
  return {
    [st](rebalance_atom) {
      if (!st->closed)
        st->rebalance();
    },
    [st](fence_atom) {
      if (st->closed || st->running.empty())
        return;
      log::warn("pool worker lost its lease, stopping jobs worker={} jobs={}",
                st->id, st->running.size());
      st->stop_all_local();
    },
    [st](resume_atom) {
      if (!st->closed)
        st->resume();
    },
    [st](rejoin_atom) {
      if (!st->closed)
        st->rejoin();
    },
    [st](retry_atom) {
      st->retry_armed = false;
      if (st->closed)
        return;
      st->resume();
      st->poll();
    },
    [st](requeue_atom) {
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
      if (!st->closed)
        st->close(shutdown);
      self->quit();
      return true;
    },
  };
}

} // namespace

caf::actor spawn_pool_worker(runtime& rt, pool_core_ptr core, std::string id,
                             int64_t created_ns, job_handler_ptr handler) {
  return rt.system().spawn<caf::detached>(worker_impl, &rt, std::move(core),
                                          std::move(id), created_ns,
                                          std::move(handler));
}

} // namespace pulse
