#include "pulse/actors/pool/worker_state.hpp"

#include <algorithm>
#include <map>

#include <caf/send.hpp>

#include "pulse/actors/pool/scripts.hpp"
#include "pulse/actors/redis/backoff.hpp"
#include "pulse/runtime/errors.hpp"
#include "pulse/runtime/log.hpp"

namespace pulse::worker_detail {

namespace ps = pool_scripts;

void worker_state::stop_local(const std::string& key) {
  auto err = guarded("stop", key, [&] { return handler->stop(key); });
  if (err)
    log::warn("pool handler stop failed worker={} key={} error=\"{}\"", id,
              key, render(err));
  if (running.erase(key) > 0)
    core->running.fetch_sub(1, std::memory_order_relaxed);
  core->stops.fetch_add(1, std::memory_order_relaxed);
}

void worker_state::stop_all_local() {
  std::vector<key_epoch> all(running.begin(), running.end());
  for (auto& [key, epoch] : all) {
    stop_local(key);
    handoff.emplace_back(key, epoch);
  }
}

void worker_state::start_batch(
  std::shared_ptr<std::vector<queue_entry>> items, int attempt, cont k) {
  if (items->empty())
    return k();
  if (attempt == 4 || !core->lease_valid()) {
    defer(*items);
    return k();
  }
  auto m = core->members();
  if (m->has(id))
    return start_batch_with(std::move(items), attempt, std::move(m), k);
  refresh([this, items, attempt, k] {
    auto m = core->members();
    if (!m->has(id)) {
      defer(*items);
      return k();
    }
    start_batch_with(items, attempt, std::move(m), k);
  });
}

void worker_state::start_batch_with(
  std::shared_ptr<std::vector<queue_entry>> items, int attempt,
  std::shared_ptr<const pool_membership> m, cont k) {
  std::vector<std::string> move_args{id, std::to_string(m->rev),
                                     retry_policy(core->opts)};
  auto here = std::make_shared<std::vector<bool>>(items->size());
  for (size_t i = 0; i < items->size(); ++i) {
    auto& x = (*items)[i];
    auto t = m->target(x.key);
    (*here)[i] = t == id;
    if (!(*here)[i]) {
      move_args.push_back(x.key);
      move_args.push_back(std::to_string(x.epoch));
      move_args.push_back(t);
    }
  }
  auto run_mine = [this, items, here, k] {
    std::vector<queue_entry> mine;
    for (size_t i = 0; i < items->size(); ++i)
      if ((*here)[i])
        mine.push_back(std::move((*items)[i]));
    run_starts(mine, k);
  };
  if (move_args.size() <= 3)
    return run_mine();
  eval(ps::move(), std::move(move_args),
       [this, items, attempt, k, run_mine](caf::expected<resp::value> r) {
         if (!r) {
           log::warn("pool worker cannot move jobs worker={} error=\"{}\"",
                     id, render(r.error()));
           defer(*items);
           arm_retry();
           return k();
         }
         if (script_status(*r) != "ok") {
           // Stale membership: recompute every target.
           refresh([this, items, attempt, k] {
             start_batch(items, attempt + 1, k);
           });
           return;
         }
         run_mine();
       });
}

std::string worker_state::wire_text(std::string text) {
  for (auto& c : text)
    if (c == '\x1e' || c == '\x1f')
      c = '?';
  return text;
}

void worker_state::run_starts(std::vector<queue_entry>& items, cont k) {
  if (items.empty())
    return k();
  std::vector<std::string> args{id, ms_arg(core->opts.result_retention),
                                retry_policy(core->opts)};
  auto* task = dynamic_cast<task_handler*>(handler.get());
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
    j.attempt = e.attempt;
    auto limit = timeout_of(e);
    auto t0 = std::chrono::steady_clock::now();
    std::string result;
    auto err = guarded("start", j.key, [&] {
      if (!task)
        return handler->start(j);
      auto r = task->run(j);
      if (!r)
        return std::move(r.error());
      result = std::move(*r);
      return caf::error{};
    });
    if (!err && task && limit.count() > 0
        && std::chrono::steady_clock::now() - t0 > limit)
      err = make_error(errc::timeout, "job ran longer than its timeout of "
                                        + ms_arg(limit) + " ms");
    if (!err && task) {
      core->starts.fetch_add(1, std::memory_order_relaxed);
      add(e, "done", std::move(result)); // finished: never running here
    } else if (!err) {
      running[j.key] = j.epoch;
      core->starts.fetch_add(1, std::memory_order_relaxed);
      core->running.fetch_add(1, std::memory_order_relaxed);
      if (limit.count() > 0 && me)
        caf::delayed_anon_send(me, limit, pw_timeout_atom::value, j.key,
                               j.epoch);
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
  if (args.size() <= 2)
    return k();
  confirm(std::move(args), [k](bool) { k(); });
}

void worker_state::confirm(std::vector<std::string> args, ok_fn k) {
  auto saved = std::make_shared<std::vector<std::string>>(args);
  eval(ps::confirm(), std::move(args),
       [this, saved, k](caf::expected<resp::value> r) {
         if (!r) {
           log::warn("pool worker cannot confirm starts worker={} "
                     "error=\"{}\"",
                     id, render(r.error()));
           unconfirmed.push_back(std::move(*saved));
           arm_retry();
           return k(false);
         }
         for (size_t j = 0; j + 1 < r->elements.size(); j += 2) {
           auto& key = r->elements[j].str;
           auto epoch = pool_routing::parse_i64(r->elements[j + 1].str);
           auto i = running.find(key);
           if (i != running.end() && epoch
               && i->second == static_cast<uint64_t>(*epoch)) {
             log::info("pool worker stops a job it no longer owns "
                       "worker={} key={}",
                       id, key);
             stop_local(key);
           }
         }
         k(true);
       });
}

caf::timespan worker_state::timeout_of(const queue_entry& e) const {
  if (e.timeout_ms >= 0)
    return std::chrono::milliseconds{e.timeout_ms};
  return core->opts.job_timeout;
}

void worker_state::on_timeout(const std::string& key, uint64_t epoch,
                              cont k) {
  auto i = running.find(key);
  if (i == running.end() || i->second != epoch)
    return k(); // finished, stopped or restarted meanwhile
  log::info("pool job timed out worker={} key={} epoch={}", id, key, epoch);
  stop_local(key);
  timed_out.emplace_back(key, epoch,
                         render(make_error(errc::timeout,
                                           "job timed out")));
  flush_timed_out([this, k](bool ok) {
    if (!ok)
      arm_retry();
    k();
  });
}

void worker_state::flush_timed_out(ok_fn k) {
  if (timed_out.empty())
    return k(true);
  auto [key, epoch, text] = timed_out.back();
  eval(ps::complete(),
       {id, key, std::to_string(epoch), "0", wire_text(text),
        ms_arg(core->opts.result_retention), retry_policy(core->opts), "0"},
       [this, key = key, k](caf::expected<resp::value> r) {
         if (!r) {
           log::warn("pool worker cannot fail a timed-out job worker={} "
                     "key={} error=\"{}\"",
                     id, key, render(r.error()));
           return k(false);
         }
         if (!timed_out.empty())
           timed_out.pop_back(); // `stale`: stopped or moved meanwhile
         flush_timed_out(k);
       });
}

void worker_state::on_stop(const queue_entry& e) {
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

void worker_state::on_notify(const queue_entry& e) {
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

void worker_state::arm_requeue() {
  if (requeue_armed || !me)
    return;
  requeue_armed = true;
  caf::delayed_anon_send(me, core->opts.requeue_delay, pw_requeue_atom::value);
}

void worker_state::flush_handoff(ok_fn k) {
  if (handoff.empty())
    return k(true);
  auto jobs
    = std::make_shared<std::vector<std::pair<std::string, std::string>>>();
  for (auto& [key, epoch] : handoff)
    jobs->emplace_back(key, std::to_string(epoch));
  move_to_targets_async(
    *this, core, id, std::move(jobs), true,
    [this, k](caf::expected<size_t> moved) {
      if (!moved) {
        log::warn("pool worker cannot hand jobs over worker={} jobs={} "
                  "error=\"{}\"",
                  id, handoff.size(), render(moved.error()));
        return k(false);
      }
      handoff.clear();
      k(true);
    });
}

void worker_state::hand_over_owned(caf::timespan budget, cont k) {
  // Failures in a row (Redis unreachable) end the attempt after
  // close_timeout; the waits between failed attempts double from
  // requeue_delay / 20 up to requeue_delay.
  auto h = std::make_shared<handover>(handover{
    handover::clock::now() + budget, handover::clock::time_point{},
    backoff{core->opts.requeue_delay / 20, core->opts.requeue_delay},
    std::move(k)});
  hand_over_attempt(std::move(h));
}

void worker_state::hand_over_attempt(std::shared_ptr<handover> h) {
  using clock = handover::clock;
  move_owned_async(*this, core, id, true,
                   [this, h](caf::expected<size_t> moved) {
    if (moved && *moved == 0)
      return h->k(); // nothing (left) to hand over
    auto now = clock::now();
    if (moved) {
      h->failing_since = {};
      h->delay.reset();
    } else if (h->failing_since == clock::time_point{}) {
      h->failing_since = now;
    }
    auto unreachable = h->failing_since != clock::time_point{}
                       && now - h->failing_since >= core->opts.close_timeout;
    if (now >= h->deadline || unreachable) {
      log::warn("pool worker could not hand its jobs over worker={} "
                "reason={} error=\"{}\"; a cleaner will recover them",
                id, unreachable ? "close-timeout" : "worker-shutdown-ttl",
                moved ? std::string{"jobs left"} : render(moved.error()));
      return h->k();
    }
    if (moved)
      return hand_over_attempt(h);
    // Wait (a timer, not a sleep), then try again.
    handover_next = [this, h] { hand_over_attempt(h); };
    caf::delayed_anon_send(me,
                           std::chrono::duration_cast<caf::timespan>(
                             std::min<clock::duration>(h->delay.next(),
                                                       h->deadline - now)),
                           pw_handover_atom::value);
  });
}

void worker_state::rebalance(cont k) {
  auto m = core->members();
  if (!m->has(id))
    return k();
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
  resume(k);
}

void worker_state::resume(cont k) {
  if (!unconfirmed.empty()) {
    auto args = std::move(unconfirmed.back());
    unconfirmed.pop_back();
    confirm(std::move(args), [this, k](bool ok) {
      if (!ok)
        return k();
      resume(k);
    });
    return;
  }
  auto rest = [this, k](bool ok) {
    if (!ok)
      arm_retry();
    if (deferred.empty())
      return k();
    auto items = std::make_shared<std::vector<queue_entry>>(
      std::move(deferred));
    deferred.clear();
    start_batch(std::move(items), 0, k);
  };
  flush_handoff([this, rest](bool ok) {
    if (!ok)
      return rest(false);
    flush_timed_out(rest);
  });
}

void worker_state::stop_everything() {
  std::vector<std::string> keys;
  for (auto& kv : running)
    keys.push_back(kv.first);
  for (auto& k : keys)
    stop_local(k);
  handoff.clear();
  deferred.clear();
  requeue.clear();
  unconfirmed.clear();
  timed_out.clear();
}

void worker_state::rejoin(cont k) {
  stop_everything();
  eval(ps::add_worker(), add_member_args(*core, id, created_ns),
       [this, k](caf::expected<resp::value> r) {
         if (!r || script_status(*r) != "ok")
           log::warn("pool worker cannot rejoin worker={} error=\"{}\"", id,
                     r ? script_status(*r) : render(r.error()));
         else
           log::info("pool worker rejoined worker={}", id);
         refresh(k);
       });
}

void worker_state::close(bool shutdown, cont k) {
  closed = true;
  intake->drop(queue_key);
  stop_everything();
  if (shutdown)
    return k();
  hand_over_owned(core->opts.worker_shutdown_ttl, std::move(k));
}

} // namespace pulse::worker_detail
