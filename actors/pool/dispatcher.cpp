#include "pulse/actors/pool/dispatcher.hpp"

#include <algorithm>

#include <caf/scoped_actor.hpp>

#include "pulse/actors/pool/scripts.hpp"
#include "pulse/runtime/errors.hpp"
#include "pulse/runtime/log.hpp"

namespace pulse {

dispatcher::dispatcher(services& svc, pool_core_ptr core)
  : core_(std::move(core)),
    cli_(svc.system(), svc.gateway()),
    cli2_(svc.system(), svc.gateway()),
    leader_cli_(svc.system(), svc.gateway()) {
  expire_period_ = std::clamp<std::chrono::steady_clock::duration>(
    core_->opts.dispatch_timeout() / 10, std::chrono::milliseconds{5},
    std::chrono::milliseconds{100});
  caf::scoped_actor self{svc.system()};
  self->request(svc.gateway(), caf::infinite, direct_atom::value)
    .receive([&](gateway_direct_ptr& p) { direct_ = std::move(p); },
             [](caf::error&) {});
  threads_.emplace_back([this] { run(cli_, true); });
  threads_.emplace_back([this] { run(cli2_, false); });
}

dispatcher::~dispatcher() {
  {
    std::unique_lock<std::mutex> guard{mtx_};
    stopping_ = true;
    // A leader's batch in flight calls back into this object.
    cv_.wait(guard, [this] { return !leading_; });
  }
  cv_.notify_all();
  for (auto& t : threads_)
    t.join();
  close();
}

void dispatcher::close() {
  auto err = make_error(errc::closed, "pool node is closed");
  core_->complete_all(err);
  core_->results.fail_all(err);
}

void dispatcher::dispatch_for_result(std::string key, std::string payload,
                                     caf::timespan timeout,
                                     result_registry::result_fn fn, mode m,
                                     const dispatch_options& opts) {
  core_->dispatches.fetch_add(1, std::memory_order_relaxed);
  if (auto err = core_->check_dispatch(key)) {
    core_->observe_dispatch(caf::timespan{0}, true);
    fn(std::move(err));
    return;
  }
  auto did = core_->next_dispatch_id();
  core_->results.add(did, std::move(fn),
                     std::chrono::steady_clock::now() + timeout);
  auto core = core_;
  // Kept a second past the wait's deadline, should the completion record
  // miss the node's pub/sub connection (`node_state::recover_outcomes`).
  auto keep = std::chrono::duration_cast<std::chrono::milliseconds>(timeout)
                .count()
              + 1000;
  enqueue(std::move(key), std::move(payload), did,
          [core, did](caf::error err) {
            // Started: the outcome comes later. Not started: that is it.
            if (err)
              core->results.complete(did, std::move(err));
          },
          m, dispatch_opts_arg(opts), keep);
}

void dispatcher::dispatch(std::string key, std::string payload, done_fn done,
                          mode m, const dispatch_options& opts) {
  core_->dispatches.fetch_add(1, std::memory_order_relaxed);
  if (auto err = core_->check_dispatch(key)) {
    core_->observe_dispatch(caf::timespan{0}, true);
    done(std::move(err));
    return;
  }
  enqueue(std::move(key), std::move(payload), core_->next_dispatch_id(),
          std::move(done), m, dispatch_opts_arg(opts));
}

void dispatcher::enqueue(std::string key, std::string payload, uint64_t did,
                         done_fn done, mode m, std::string opts,
                         int64_t keep_ms) {
  // The completion also counts the dispatch's latency (`pool_stats`).
  done = [core = core_, t0 = std::chrono::steady_clock::now(),
          f = std::move(done)](caf::error err) {
    core->observe_dispatch(std::chrono::steady_clock::now() - t0,
                           static_cast<bool>(err));
    f(std::move(err));
  };
  core_->add_waiter(did, key, std::move(done),
                    std::chrono::steady_clock::now()
                      + core_->opts.dispatch_timeout());
  std::unique_lock<std::mutex> guard{mtx_};
  queue_.push_back(
    item{std::move(key), std::move(payload), did, std::move(opts), keep_ms});
  if (m == mode::queue || flushing_ > 0 || leading_ || stopping_) {
    // A flusher takes it (up to two batches in flight).
    if (flushing_ < max_flushing)
      cv_.notify_one();
    return;
  }
  // Lead: send this batch from the caller's thread at once, without
  // waiting for the script's reply (it is handled on the gateway's reader
  // thread); the caller only waits for the worker's result.
  leading_ = true;
  auto batch = std::make_shared<std::vector<item>>(take());
  guard.unlock();
  if (send_async(batch))
    return;
  if (m == mode::lead_blocking) {
    send(leader_cli_, *batch); // not connected: the blocking path
    guard.lock();
  } else {
    guard.lock(); // may not block: a flusher sends it
    for (auto i = batch->rbegin(); i != batch->rend(); ++i)
      queue_.push_front(std::move(*i));
  }
  leading_ = false;
  cv_.notify_all();
}

bool dispatcher::send_async(std::shared_ptr<std::vector<item>> batch) {
  if (!direct_)
    return false;
  auto m = core_->members();
  auto keys = core_->script_keys;
  auto args = batch_args(*batch, *m);
  return direct_->eval_async(
    pool_scripts::dispatch_many(), keys, args,
    [this, batch](caf::expected<resp::value> r) {
      if (r && script_status(*r) == "stale") {
        // Refreshing needs a round trip: hand the batch to a flusher.
        std::lock_guard<std::mutex> guard{mtx_};
        for (auto i = batch->rbegin(); i != batch->rend(); ++i)
          queue_.push_front(std::move(*i));
      } else {
        settle(*batch, r);
      }
      std::lock_guard<std::mutex> guard{mtx_};
      leading_ = false;
      // Only the destructor waits for the lead to end; flushers wait for
      // queued items (a batch put back above). Waking both flushers on
      // every reply cost two thread wake-ups per light-load dispatch.
      if (stopping_ || !queue_.empty())
        cv_.notify_all();
    });
}

std::vector<dispatcher::item> dispatcher::take() {
  std::vector<item> batch;
  auto n = std::min<size_t>(queue_.size(), 512);
  batch.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    batch.push_back(std::move(queue_.front()));
    queue_.pop_front();
  }
  return batch;
}

std::vector<std::string>
dispatcher::batch_args(const std::vector<item>& batch,
                       const pool_membership& m) {
  std::vector<std::string> args{core_->node, std::to_string(m.rev),
                                admission_arg(core_->opts)};
  args.reserve(3 + 5 * batch.size());
  for (auto& x : batch) {
    args.push_back(x.key);
    args.push_back(x.payload);
    if (x.keep_ms > 0)
      args.push_back(std::to_string(x.did) + '.' + std::to_string(x.keep_ms));
    else
      args.push_back(std::to_string(x.did));
    args.push_back(m.target(x.key));
    args.push_back(x.opts);
  }
  return args;
}

void dispatcher::settle(const std::vector<item>& batch,
                        const caf::expected<resp::value>& r) {
  if (!r || script_status(*r) != "ok") {
    // The whole call was refused (or failed): fail every dispatch in it.
    auto err = !r ? r.error()
                  : dispatch_refusal(script_status(*r).empty()
                                       ? r->str
                                       : script_status(*r),
                                     "");
    for (auto& x : batch)
      core_->complete(x.did, err);
    return;
  }
  for (size_t i = 0; i < batch.size(); ++i) {
    std::string st = i + 1 < r->elements.size() ? r->elements[i + 1].str
                                                 : "missing";
    if (st == "ok")
      core_->mark_stored(batch[i].did); // waits for the worker's start
    else if (st == "deferred") // over the rate limit: accepted, starts later
      core_->complete(batch[i].did, caf::error{});
    else
      core_->complete(batch[i].did, dispatch_refusal(st, batch[i].key));
  }
}

void dispatcher::send(client& c, std::vector<item>& batch) {
  for (int attempt = 0;; ++attempt) {
    auto m = core_->members();
    auto r = c.eval(pool_scripts::dispatch_many(), core_->script_keys,
                    batch_args(batch, *m));
    if (r && script_status(*r) == "stale" && attempt < 8) {
      reload_members(c, *core_); // an error fails the next attempt
      continue;
    }
    settle(batch, r);
    return;
  }
}

void dispatcher::fail_expired(client& c,
                              std::vector<pool_core::expired_dispatch>& xs) {
  using std::chrono::steady_clock;
  steady_clock::time_point resub{
    std::chrono::nanoseconds{core_->last_resub_ns.load()}};
  for (auto& x : xs) {
    // Sent on the same gateway after the dispatch script, so the answer
    // reflects whether that script stored the job: unless the connection
    // moved to another master in between (a Sentinel failover). The node's
    // pub/sub connection is lost at the same switch; a re-subscription
    // since shortly before the dispatch means "maybe moved".
    auto sent = x.deadline - core_->opts.dispatch_timeout();
    bool moved = resub.time_since_epoch().count() != 0
                 && resub >= sent - std::chrono::seconds{1};
    auto r = c("HEXISTS", core_->prefix + "jobs", x.key);
    std::string what = "dispatch of " + x.key
                       + " timed out waiting for the worker's start; ";
    if (!r)
      what += "whether the job exists is unknown (" + render(r.error())
              + ")";
    else if (r->integer == 1)
      what += "the job exists and starts when a worker takes it "
              "(stop_job cancels it)";
    else if (moved)
      what += "the outcome is unknown: the job is not stored now, but the "
              "node's Redis connection was re-established since the "
              "dispatch (failover or restart), which may have discarded a "
              "stored job, started or not";
    else
      what += "the job was not stored (dispatching again is safe)";
    x.fn(make_error(errc::timeout, std::move(what)));
  }
}

void dispatcher::run(client& c, bool expires) {
  log::name_thread("pulse.dispatch");
  std::unique_lock<std::mutex> guard{mtx_};
  auto next_expire = std::chrono::steady_clock::now() + expire_period_;
  for (;;) {
    auto now = std::chrono::steady_clock::now();
    if (expires && now >= next_expire) {
      next_expire = now + expire_period_;
      core_->results.expire(now);
      auto expired = core_->expire(now);
      if (!expired.empty()) {
        // Not sent yet: drop them, so "not stored" below stays true.
        queue_.erase(std::remove_if(queue_.begin(), queue_.end(),
                                    [&](const item& x) {
                                      for (auto& e : expired)
                                        if (e.id == x.did)
                                          return true;
                                      return false;
                                    }),
                     queue_.end());
        guard.unlock();
        fail_expired(c, expired);
        guard.lock();
      }
    }
    if (stopping_)
      return;
    if (!queue_.empty() && flushing_ < max_flushing) {
      ++flushing_;
      auto batch = take();
      if (!queue_.empty() && flushing_ < max_flushing)
        cv_.notify_one(); // the other flusher takes the rest
      guard.unlock();
      send(c, batch);
      guard.lock();
      --flushing_;
      continue;
    }
    if (expires)
      cv_.wait_until(guard, next_expire);
    else
      cv_.wait(guard);
  }
}

} // namespace pulse
