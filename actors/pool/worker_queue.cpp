#include "pulse/actors/pool/worker_state.hpp"

#include <algorithm>
#include <map>

#include <caf/send.hpp>

#include "pulse/actors/pool/scripts.hpp"
#include "pulse/runtime/errors.hpp"
#include "pulse/runtime/log.hpp"

namespace pulse::worker_detail {

namespace ps = pool_scripts;

std::shared_ptr<const pool_membership> worker_state::refresh() {
  if (auto err = reload_members(cli, *core))
    log::warn("pool worker cannot read membership pool={} worker={} "
              "error=\"{}\"",
              core->pool, id, render(err));
  return core->members();
}

void worker_state::poll() {
  if (closed || polling || !me)
    return;
  polling = true;
  intake->want(queue_key);
}

void worker_state::on_lost(const caf::error& err) {
  polling = false;
  if (closed)
    return;
  if (code_of(err) != errc::canceled)
    log::warn("pool worker poll failed worker={} error=\"{}\"", id,
              render(err));
  needs_resync = true;
  arm_retry();
}

void worker_state::on_batch(std::vector<resp::value>& entries) {
  polling = false;
  if (closed)
    return;
  retry.reset();
  // Under load, ask for the next batch first so Redis fills it while
  // this one starts and is confirmed (entries are still handled in
  // order: the intake answers one want at a time); a lone entry starts
  // first (latency).
  auto t0 = std::chrono::steady_clock::now();
  if (entries.size() > 1 && poll_ahead) {
    poll();
    process(entries);
  } else {
    process(entries);
    poll_ahead = std::chrono::steady_clock::now() - t0
                 < std::chrono::milliseconds{20};
    poll();
  }
  inline_ok = std::chrono::steady_clock::now() - t0 < inline_budget;
}

bool worker_state::take_inline(const std::weak_ptr<worker_state>& w,
                               std::vector<resp::value>& entries) {
  auto st = w.lock();
  if (!st)
    return true; // the worker is gone: nothing to deliver
  if (entries.size() != 1)
    return false;
  std::unique_lock<std::mutex> guard{st->mtx, std::try_to_lock};
  if (!guard.owns_lock() || !st->inline_ok)
    return false;
  st->on_batch(entries);
  return true;
}

bool worker_state::resync() {
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

void worker_state::arm_retry() {
  if (retry_armed || !me)
    return;
  retry_armed = true;
  caf::delayed_anon_send(me, retry.next(), pw_retry_atom::value);
}

void worker_state::process(std::vector<resp::value>& entries) {
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
      case 'C': {
        // Completed (`complete` script): forget it, no stop call.
        auto i = running.find(e.key);
        if (i != running.end() && i->second == e.epoch) {
          running.erase(i);
          core->running.fetch_sub(1, std::memory_order_relaxed);
        }
        break;
      }
      default:
        log::warn("pool worker skips malformed queue entry worker={} "
                  "size={}",
                  id, raw.str.size());
    }
  }
  start_batch(std::move(starts));
}

void worker_state::defer(std::vector<queue_entry>& items) {
  for (auto& x : items)
    deferred.push_back(std::move(x));
  items.clear();
}

} // namespace pulse::worker_detail
