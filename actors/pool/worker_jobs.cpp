#include "pulse/actors/pool/worker_state.hpp"

#include <algorithm>
#include <map>
#include <thread>

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

void worker_state::start_batch(std::vector<queue_entry> items) {
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
    std::vector<std::string> move_args{id, std::to_string(m->rev),
                                       retry_policy(core->opts)};
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
    if (move_args.size() > 3) {
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

std::string worker_state::wire_text(std::string text) {
  for (auto& c : text)
    if (c == '\x1e' || c == '\x1f')
      c = '?';
  return text;
}

void worker_state::run_starts(std::vector<queue_entry>& items) {
  if (items.empty())
    return;
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
  if (args.size() > 2)
    confirm(std::move(args));
}

bool worker_state::confirm(std::vector<std::string> args) {
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

caf::timespan worker_state::timeout_of(const queue_entry& e) const {
  if (e.timeout_ms >= 0)
    return std::chrono::milliseconds{e.timeout_ms};
  return core->opts.job_timeout;
}

void worker_state::on_timeout(const std::string& key, uint64_t epoch) {
  auto i = running.find(key);
  if (i == running.end() || i->second != epoch)
    return; // finished, stopped or restarted meanwhile
  log::info("pool job timed out worker={} key={} epoch={}", id, key, epoch);
  stop_local(key);
  timed_out.emplace_back(key, epoch,
                         render(make_error(errc::timeout,
                                           "job timed out")));
  if (!flush_timed_out())
    arm_retry();
}

bool worker_state::flush_timed_out() {
  while (!timed_out.empty()) {
    auto& [key, epoch, text] = timed_out.back();
    auto r = eval(ps::complete(),
                  {id, key, std::to_string(epoch), "0", wire_text(text),
                   ms_arg(core->opts.result_retention),
                   retry_policy(core->opts)});
    if (!r) {
      log::warn("pool worker cannot fail a timed-out job worker={} key={} "
                "error=\"{}\"",
                id, key, render(r.error()));
      return false;
    }
    timed_out.pop_back(); // `stale`: stopped or moved meanwhile
  }
  return true;
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

bool worker_state::flush_handoff() {
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

void worker_state::hand_over_owned(caf::timespan budget) {
  using clock = std::chrono::steady_clock;
  auto now = clock::now();
  auto deadline = now + budget;
  // Failures in a row (Redis unreachable) end the attempt after
  // close_timeout; the waits between failed attempts double from
  // requeue_delay / 20 up to requeue_delay.
  auto failing_since = clock::time_point{};
  backoff delay{core->opts.requeue_delay / 20, core->opts.requeue_delay};
  for (;;) {
    auto moved = move_owned(cli, *core, id, true);
    if (moved && *moved == 0)
      return; // nothing (left) to hand over
    now = clock::now();
    if (moved) {
      failing_since = {};
      delay.reset();
    } else if (failing_since == clock::time_point{}) {
      failing_since = now;
    }
    auto unreachable = failing_since != clock::time_point{}
                       && now - failing_since >= core->opts.close_timeout;
    if (now >= deadline || unreachable) {
      log::warn("pool worker could not hand its jobs over worker={} "
                "reason={} error=\"{}\"; a cleaner will recover them",
                id, unreachable ? "close-timeout" : "worker-shutdown-ttl",
                moved ? std::string{"jobs left"} : render(moved.error()));
      return;
    }
    if (!moved)
      std::this_thread::sleep_for(
        std::min<clock::duration>(delay.next(), deadline - now));
  }
}

void worker_state::rebalance() {
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

void worker_state::resume() {
  while (!unconfirmed.empty()) {
    auto args = std::move(unconfirmed.back());
    unconfirmed.pop_back();
    if (!confirm(std::move(args)))
      return;
  }
  if (!flush_handoff() || !flush_timed_out())
    arm_retry();
  if (!deferred.empty()) {
    auto items = std::move(deferred);
    deferred.clear();
    start_batch(std::move(items));
  }
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

void worker_state::rejoin() {
  stop_everything();
  auto r = add_member(cli, *core, id, created_ns);
  if (!r || script_status(*r) != "ok")
    log::warn("pool worker cannot rejoin worker={} error=\"{}\"", id,
              r ? script_status(*r) : render(r.error()));
  else
    log::info("pool worker rejoined worker={}", id);
  refresh();
}

void worker_state::close(bool shutdown) {
  closed = true;
  intake->drop(queue_key);
  stop_everything();
  if (!shutdown)
    hand_over_owned(core->opts.worker_shutdown_ttl);
}

} // namespace pulse::worker_detail
