#include "pulse/actors/pool/worker_state.hpp"

#include <algorithm>
#include <map>

#include <caf/send.hpp>

#include "pulse/actors/pool/scripts.hpp"
#include "pulse/runtime/errors.hpp"
#include "pulse/runtime/log.hpp"

namespace pulse::worker_detail {

namespace ps = pool_scripts;

namespace {

/// Awaits the reply to request `h` and passes it (or the error) to `k`
/// with the worker's mutex held (`keep` keeps the state alive meanwhile,
/// `hold` is released once the handlers are gone, answered or not).
template <class Handle>
void await_locked(Handle&& h, std::shared_ptr<worker_state> keep,
                  reply_fn k, std::shared_ptr<void> hold = nullptr) {
  h.await(
    [keep, k, hold](resp::value& v) {
      std::lock_guard<std::mutex> guard{keep->mtx};
      k(std::move(v));
    },
    [keep, k, hold](caf::error& err) {
      std::lock_guard<std::mutex> guard{keep->mtx};
      k(std::move(err));
    });
}

/// Confirms go straight to the gateway while fewer than this many of the
/// node's are unanswered (a few workers: no extra hop, as before the
/// confirmer), through the node's confirmer beyond (many workers).
constexpr int confirm_direct_max = 4;

} // namespace

void worker_state::eval(const script& s, std::vector<std::string> args,
                        reply_fn k) {
  if (on_reader) {
    // Not on the actor: it sends the call (the step waits meanwhile).
    parked = parked_call{&s, std::move(args), std::move(k)};
    if (me)
      caf::anon_send(me, pw_call_atom::value);
    return;
  }
  auto is_confirm = &s == &ps::confirm();
  if (is_confirm && confirmer
      && core->direct_confirms.load() >= confirm_direct_max) {
    await_locked(self->request(confirmer, caf::infinite,
                               pcf_confirm_atom::value, std::move(args)),
                 weak.lock(), std::move(k));
    return;
  }
  // A confirm alone goes straight to the gateway (counted until its
  // handlers are gone, answered or not).
  std::shared_ptr<void> direct;
  if (is_confirm) {
    core->direct_confirms.fetch_add(1);
    direct = std::shared_ptr<void>(nullptr, [c = core](void*) {
      c->direct_confirms.fetch_sub(1);
    });
  }
  await_locked(self->request(gateway, caf::infinite, eval_atom::value, s,
                             core->script_keys,
                             std::move(args)),
               weak.lock(), std::move(k), std::move(direct));
}

void worker_state::send_parked() {
  if (!parked)
    return;
  auto x = std::move(*parked);
  parked.reset();
  eval(*x.scr, std::move(x.args), std::move(x.k));
}

void worker_state::call(command cmd, reply_fn k) {
  await_locked(self->request(gateway, caf::infinite, cmd_atom::value,
                             std::move(cmd)),
               weak.lock(), std::move(k));
}

void worker_state::refresh(cont k) {
  reload([this, k](caf::error err) {
    if (err)
      log::warn("pool worker cannot read membership pool={} worker={} "
                "error=\"{}\"",
                core->pool, id, render(err));
    k();
  });
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

void worker_state::on_batch(std::vector<resp::value>& entries, cont k) {
  polling = false;
  if (closed)
    return k();
  retry.reset();
  // Under load, ask for the next batch first so Redis fills it while
  // this one starts and is confirmed (entries are still handled in
  // order: the intake answers one want at a time, and the steps run one
  // at a time); a lone entry starts first (latency).
  auto t0 = std::chrono::steady_clock::now();
  auto ahead = entries.size() > 1 && poll_ahead;
  if (ahead)
    poll();
  auto xs = process(entries);
  xs.push_back([this, t0, ahead](cont next) {
    auto took = std::chrono::steady_clock::now() - t0;
    if (!ahead) {
      poll_ahead = took < std::chrono::milliseconds{20};
      poll();
    }
    inline_ok = took < inline_budget;
    next();
  });
  run_first(std::move(xs));
  k();
}

bool worker_state::take_inline(const std::weak_ptr<worker_state>& w,
                               std::vector<resp::value>& entries) {
  auto st = w.lock();
  if (!st)
    return true; // the worker is gone: nothing to deliver
  if (entries.size() != 1)
    return false;
  std::unique_lock<std::mutex> guard{st->mtx, std::try_to_lock};
  if (!guard.owns_lock() || !st->inline_ok || !st->idle() || !st->me)
    return false;
  // Runs the batch's steps here up to the first Redis call (usually the
  // `confirm` after the start), which the actor sends (`pw_call_atom`).
  st->on_reader = true;
  st->submit([&st, &entries](cont k) { st->on_batch(entries, k); });
  st->on_reader = false;
  return true;
}

void worker_state::resync(ok_fn k) {
  std::vector<std::string> args{id};
  for (auto& [key, epoch] : running) {
    args.push_back(key);
    args.push_back(std::to_string(epoch));
  }
  eval(ps::resync(), std::move(args), [this, k](caf::expected<resp::value> r) {
    if (!r) {
      log::warn("pool worker cannot rebuild its queue worker={} "
                "error=\"{}\"",
                id, render(r.error()));
      return k(false);
    }
    needs_resync = false;
    deferred.clear(); // queued again
    if (script_status(*r) == "ok" && r->elements.size() > 1
        && r->elements[1].str != "0")
      log::info("pool worker re-queued pending starts worker={} jobs={}", id,
                r->elements[1].str);
    for (size_t j = 2; j + 1 < r->elements.size(); j += 2) {
      auto& key = r->elements[j].str;
      auto& epoch = r->elements[j + 1].str;
      auto i = running.find(key);
      if (i == running.end())
        continue;
      if (!epoch.empty() && epoch[0] == 'C') {
        // Completed, its `C` entry deleted with the queue (or popped by
        // the failed poll: `done:<key>`): no stop.
        if (std::to_string(i->second) == epoch.substr(1))
          forget(key, i->second);
      } else if (std::to_string(i->second) == epoch) {
        log::info("pool worker stops a job it no longer owns worker={} "
                  "key={}",
                  id, key);
        stop_local(key);
      }
    }
    k(true);
  });
}

void worker_state::arm_retry() {
  if (retry_armed || !me)
    return;
  retry_armed = true;
  caf::delayed_anon_send(me, retry.next(), pw_retry_atom::value);
}

std::vector<step> worker_state::process(std::vector<resp::value>& entries) {
  std::vector<step> xs;
  auto starts = std::make_shared<std::vector<queue_entry>>();
  auto flush = [&] {
    if (starts->empty())
      return;
    xs.push_back([this, starts](cont k) { start_batch(starts, 0, k); });
    starts = std::make_shared<std::vector<queue_entry>>();
  };
  for (auto& raw : entries) {
    auto e = parse_queue_entry(raw.str);
    switch (e.kind) {
      case 'S':
        starts->push_back(std::move(e));
        break;
      case 'T':
        flush();
        xs.push_back([this, e = std::move(e)](cont k) {
          on_stop(e);
          k();
        });
        break;
      case 'N':
        flush();
        xs.push_back([this, e = std::move(e)](cont k) {
          on_notify(e);
          k();
        });
        break;
      case 'C':
        // Completed (`complete` script): forget it, no stop call.
        xs.push_back([this, e = std::move(e)](cont k) {
          forget(e.key, e.epoch);
          k();
        });
        break;
      default:
        log::warn("pool worker skips malformed queue entry worker={} "
                  "size={}",
                  id, raw.str.size());
    }
  }
  flush();
  return xs;
}

void worker_state::forget(const std::string& key, uint64_t epoch) {
  auto i = running.find(key);
  if (i != running.end() && i->second == epoch) {
    running.erase(i);
    core->running.fetch_sub(1, std::memory_order_relaxed);
  }
}

void worker_state::defer(std::vector<queue_entry>& items) {
  for (auto& x : items)
    deferred.push_back(std::move(x));
  items.clear();
}

} // namespace pulse::worker_detail
