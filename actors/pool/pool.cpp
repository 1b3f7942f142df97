#include "actors/pool/pool.hpp"

#include <condition_variable>
#include <deque>
#include <thread>
#include <unordered_map>

#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>

#include "actors/pool/ticker.hpp"
#include "actors/redis/client.hpp"
#include "runtime/errors.hpp"
#include "actors/pool/scripts.hpp"
#include "actors/redis/services.hpp"

namespace pulse {

namespace ps = pool_scripts;

caf::expected<std::unique_ptr<pool_node>>
pool_node::add_node(services& rt, const std::string& pool, pool_options opts) {
  auto h = spawn_pool_node(rt, pool, opts);
  if (!h)
    return h.error();
  return std::unique_ptr<pool_node>{new pool_node(rt, std::move(*h))};
}

pool_node::pool_node(services& rt, pool_node_handle h)
  : rt_(rt),
    actor_(std::move(h.actor)),
    core_(std::move(h.core)),
    dispatcher_(std::make_shared<dispatcher>(rt, core_)) {
  // nop
}

pool_node::~pool_node() {
  close();
}

template <class R, class... Ts>
caf::expected<R> pool_node::call(Ts&&... xs) {
  caf::scoped_actor self{rt_.system()};
  caf::expected<R> result{R{}};
  self->request(actor_, caf::infinite, std::forward<Ts>(xs)...)
    .receive([&](R& x) { result = std::move(x); },
             [&](caf::error& err) {
               result = err == caf::exit_reason::user_shutdown
                            || err == caf::sec::request_receiver_down
                          ? make_error(errc::closed, "pool node is closed")
                          : std::move(err);
             });
  return result;
}

caf::expected<std::string> pool_node::add_worker(job_handler_ptr handler) {
  return call<std::string>(add_worker_atom::value, std::move(handler));
}

caf::expected<std::string> pool_node::add_worker(job_actor hdl) {
  return call<std::string>(add_worker_atom::value, std::move(hdl));
}

caf::error pool_node::remove_worker(const std::string& id) {
  auto r = call<bool>(remove_worker_atom::value, id);
  return r ? caf::error{} : r.error();
}

namespace {

caf::error result_error(std::string text) {
  if (text.empty())
    return caf::none;
  return make_error(errc::handler_failed, std::move(text));
}

} // namespace

/// Group commit of dispatches: a blocking caller that finds no batch in
/// flight sends its own at once (no thread hop at light load); dispatches
/// arriving meanwhile, and every async one, queue up and go out as one
/// `dispatch_many` per batch from the flusher thread. Async timeouts are
/// checked by the same thread.
struct pool_node::dispatcher {
  struct item {
    std::string key;
    std::string payload;
    uint64_t did = 0;
    bool async = false;
  };

  dispatcher(services& rt, pool_core_ptr core)
    : rt(rt), core(std::move(core)), cli(rt.system(), rt.gateway()),
      cli2(rt.system(), rt.gateway()),
      leader_cli(rt.system(), rt.gateway()) {
    caf::scoped_actor self{rt.system()};
    self->request(rt.gateway(), caf::infinite, direct_atom::value)
      .receive([&](gateway_direct_ptr& p) { direct = std::move(p); },
               [](caf::error&) {});
    threads.emplace_back([this] { run(cli); });
    threads.emplace_back([this] { run(cli2); });
  }

  ~dispatcher() {
    {
      std::unique_lock<std::mutex> guard{mtx};
      stopping = true;
      // A leader's batch in flight calls back into this object.
      cv.wait(guard, [this] { return !leading; });
    }
    cv.notify_all();
    for (auto& t : threads)
      t.join();
    // Fail what never went out.
    for (auto& x : queue)
      if (core->remove_waiter(x.did))
        fail_waiter(x.did, make_error(errc::closed, "pool node is closed"));
  }

  services& rt;
  pool_core_ptr core;
  client cli;        // the flusher threads'
  client cli2;
  client leader_cli; // a caller's, when it leads and the direct entry is down
  gateway_direct_ptr direct;
  /// A caller's batch is in flight (sent without waiting).
  bool leading = false;
  std::mutex mtx;
  std::condition_variable cv;
  std::deque<item> queue;
  std::deque<std::pair<std::chrono::steady_clock::time_point, uint64_t>>
    deadlines;
  std::unordered_map<uint64_t, std::function<void(caf::error)>> on_fail;
  /// Batches being sent right now (at most `max_flushing`).
  size_t flushing = 0;
  static constexpr size_t max_flushing = 2;
  bool stopping = false;
  std::vector<std::thread> threads;

  /// Queues a dispatch whose waiter is registered; `fail` runs if the
  /// script refuses it (the waiter is removed first).
  void submit(item x, std::function<void(caf::error)> fail, bool async) {
    x.async = async;
    std::unique_lock<std::mutex> guard{mtx};
    on_fail.emplace(x.did, std::move(fail));
    if (async)
      deadlines.emplace_back(std::chrono::steady_clock::now()
                               + core->opts.dispatch_timeout(),
                             x.did);
    queue.push_back(std::move(x));
    if (async || flushing > 0) {
      // A flusher thread takes it (up to two batches in flight); async
      // callers never wait for a round trip here.
      if (flushing < max_flushing)
        cv.notify_one();
      return;
    }
    if (leading) {
      cv.notify_one(); // a flusher takes it
      return;
    }
    // Lead: send this batch from the caller's thread at once, without
    // waiting for the script's reply (it is handled on the gateway's reader
    // thread); the caller only waits for the worker's result.
    leading = true;
    auto batch = std::make_shared<std::vector<item>>(take());
    guard.unlock();
    if (send_async(batch))
      return;
    send(leader_cli, *batch); // not connected: the blocking path
    guard.lock();
    leading = false;
    cv.notify_all();
  }

  /// Sends a batch through the gateway's direct entry without waiting;
  /// false if the entry is not available.
  bool send_async(std::shared_ptr<std::vector<item>> batch) {
    if (!direct)
      return false;
    auto m = core->members();
    std::vector<std::string> keys{core->prefix};
    auto args = batch_args(*batch, *m);
    return direct->eval_async(
      pool_scripts::dispatch_many(), keys, args,
      [this, batch](caf::expected<resp::value> r) {
        if (r && script_status(*r) == "stale") {
          // Refreshing needs a round trip: hand the batch to a flusher.
          std::lock_guard<std::mutex> guard{mtx};
          for (auto i = batch->rbegin(); i != batch->rend(); ++i)
            queue.push_front(std::move(*i));
        } else {
          settle(*batch, r);
        }
        std::lock_guard<std::mutex> guard{mtx};
        leading = false;
        cv.notify_all();
      });
  }

  std::vector<item> take() {
    std::vector<item> batch;
    auto n = std::min<size_t>(queue.size(), 512);
    for (size_t i = 0; i < n; ++i) {
      batch.push_back(std::move(queue.front()));
      queue.pop_front();
    }
    return batch;
  }

  void fail_waiter(uint64_t did, caf::error err) {
    std::function<void(caf::error)> fn;
    {
      std::lock_guard<std::mutex> guard{mtx};
      auto i = on_fail.find(did);
      if (i == on_fail.end())
        return;
      fn = std::move(i->second);
      on_fail.erase(i);
    }
    fn(std::move(err));
  }

  /// Drops the failure callbacks of a sent batch; async ones stay until
  /// their result or their deadline (the timeout needs them).
  void forget(const std::vector<item>& batch) {
    std::lock_guard<std::mutex> guard{mtx};
    for (auto& x : batch)
      if (!x.async)
        on_fail.erase(x.did);
  }

  /// An async dispatch got its result.
  void resolved(uint64_t did) {
    std::lock_guard<std::mutex> guard{mtx};
    on_fail.erase(did);
  }

  std::vector<std::string> batch_args(const std::vector<item>& batch,
                                      const pool_membership& m) {
    std::vector<std::string> args{core->node, std::to_string(m.rev),
                                  std::to_string(core->opts.max_queued_jobs)};
    args.reserve(3 + 4 * batch.size());
    for (auto& x : batch) {
      args.push_back(x.key);
      args.push_back(x.payload);
      args.push_back(std::to_string(x.did));
      args.push_back(m.target(x.key));
    }
    return args;
  }

  /// Fails the items the script refused (or all on an error reply).
  void settle(const std::vector<item>& batch,
              const caf::expected<resp::value>& r) {
    if (!r || script_status(*r) != "ok") {
      auto err = !r ? r.error()
                    : dispatch_refusal(script_status(*r).empty()
                                         ? r->str
                                         : script_status(*r),
                                       "");
      for (auto& x : batch)
        if (core->remove_waiter(x.did))
          fail_waiter(x.did, err);
    } else {
      for (size_t i = 0; i < batch.size(); ++i) {
        std::string st = i + 1 < r->elements.size() ? r->elements[i + 1].str
                                                     : "missing";
        if (st != "ok" && core->remove_waiter(batch[i].did))
          fail_waiter(batch[i].did, dispatch_refusal(st, batch[i].key));
      }
    }
    forget(batch);
  }

  void send(client& c, std::vector<item>& batch) {
    for (int attempt = 0;; ++attempt) {
      auto m = core->members();
      auto r = c.eval(pool_scripts::dispatch_many(), {core->prefix},
                      batch_args(batch, *m));
      if (r && script_status(*r) == "stale" && attempt < 8) {
        reload_members(c, *core); // an error fails the next attempt
        continue;
      }
      settle(batch, r);
      return;
    }
  }

  void run(client& c) {
    std::unique_lock<std::mutex> guard{mtx};
    for (;;) {
      auto now = std::chrono::steady_clock::now();
      // Async timeouts (deadlines are in submission order).
      while (!deadlines.empty() && deadlines.front().first <= now) {
        auto did = deadlines.front().second;
        deadlines.pop_front();
        guard.unlock();
        if (core->remove_waiter(did))
          fail_waiter(did, make_error(errc::timeout,
                                      "dispatch timed out waiting for the "
                                      "worker's start"));
        else
          resolved(did);
        guard.lock();
      }
      if (stopping)
        return;
      if (!queue.empty() && flushing < max_flushing) {
        ++flushing;
        auto batch = take();
        if (!queue.empty() && flushing < max_flushing)
          cv.notify_one(); // the other flusher takes the rest
        guard.unlock();
        send(c, batch);
        guard.lock();
        --flushing;
        continue;
      }
      if (deadlines.empty())
        cv.wait(guard);
      else
        cv.wait_until(guard, deadlines.front().first);
    }
  }
};

void pool_node::dispatch_async(const std::string& key,
                               const std::string& payload,
                               std::function<void(caf::error)> done) {
  if (auto err = core_->check_dispatch(key)) {
    done(std::move(err));
    return;
  }
  auto did = core_->next_dispatch_id();
  auto shared = std::make_shared<std::function<void(caf::error)>>(
    std::move(done));
  std::weak_ptr<dispatcher> disp = dispatcher_;
  core_->add_waiter(did, [shared, disp, did](std::string err) {
    if (auto d = disp.lock())
      d->resolved(did);
    (*shared)(result_error(std::move(err)));
  });
  dispatcher_->submit({key, payload, did},
                      [shared](caf::error err) { (*shared)(std::move(err)); },
                      true);
}

caf::error pool_node::dispatch(const std::string& key,
                               const std::string& payload) {
  if (auto err = core_->check_dispatch(key))
    return err;
  struct waiter {
    std::mutex mtx;
    std::condition_variable cv;
    bool done = false;
    caf::error err;
  };
  auto w = std::make_shared<waiter>();
  auto finish = [w](caf::error err) {
    std::lock_guard<std::mutex> guard{w->mtx};
    if (w->done)
      return;
    w->err = std::move(err);
    w->done = true;
    w->cv.notify_one();
  };
  auto did = core_->next_dispatch_id();
  core_->add_waiter(did, [finish](std::string err) {
    finish(result_error(std::move(err)));
  });
  dispatcher_->submit({key, payload, did}, finish, false);
  std::unique_lock<std::mutex> guard{w->mtx};
  if (!w->cv.wait_for(guard, core_->opts.dispatch_timeout(),
                      [&] { return w->done; })) {
    guard.unlock();
    if (core_->remove_waiter(did))
      return make_error(errc::timeout, "dispatch of job " + key
                                         + " timed out waiting for its start");
    guard.lock();
    w->cv.wait(guard, [&] { return w->done; });
  }
  return std::move(w->err);
}

caf::error pool_node::stop_job(const std::string& key) {
  auto r = call<bool>(job_stop_atom::value, key);
  return r ? caf::error{} : r.error();
}

caf::error pool_node::notify_worker(const std::string& key,
                                    const std::string& payload) {
  auto r = call<bool>(job_notify_atom::value, key, payload);
  return r ? caf::error{} : r.error();
}

caf::expected<std::vector<std::string>> pool_node::job_keys() {
  return call<std::vector<std::string>>(job_keys_atom::value);
}

caf::expected<caf::optional<std::string>>
pool_node::job_payload(const std::string& key) {
  return call<caf::optional<std::string>>(job_payload_atom::value, key);
}

caf::expected<std::vector<worker_info>> pool_node::workers() {
  return call<std::vector<worker_info>>(workers_atom::value);
}

caf::expected<std::vector<worker_info>> pool_node::pool_workers() {
  return call<std::vector<worker_info>>(pool_workers_atom::value);
}

caf::expected<caf::actor> pool_node::new_ticker(const std::string& name,
                                                caf::timespan period,
                                                tick_receiver_actor receiver) {
  if (core_->opts.client_only)
    return make_error(errc::invalid_argument,
                      "pool ticker: not on a client-only node");
  return spawn_ticker(rt_, core_, name, period, std::move(receiver));
}

caf::expected<caf::actor>
pool_node::new_ticker(const std::string& name, caf::timespan period,
                      std::function<void(int64_t)> fn) {
  if (!fn)
    return make_error(errc::invalid_argument, "pool ticker: no callback");
  auto recv = rt_.system().spawn(
    [fn](caf::event_based_actor*) -> caf::behavior {
      return {[fn](tick_atom, const std::string&, int64_t ms) {
        fn(ms);
        return true;
      }};
    });
  auto t = new_ticker(name, period,
                      caf::actor_cast<tick_receiver_actor>(recv));
  if (!t) {
    caf::anon_send_exit(recv, caf::exit_reason::user_shutdown);
    return t;
  }
  // The callback actor lives as long as the ticker.
  auto tick = *t;
  tick->attach_functor([recv](const caf::error&) {
    caf::anon_send_exit(recv, caf::exit_reason::user_shutdown);
  });
  return tick;
}

caf::expected<caf::actor> pool_node::schedule(job_producer_ptr producer,
                                              caf::timespan interval) {
  return spawn_scheduler(rt_, pool_node_handle{actor_, core_},
                         std::move(producer), interval);
}

template <class Atom>
caf::error pool_node::finish(Atom what) {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (done_)
      return caf::none;
    done_ = true;
  }
  auto r = call<bool>(what);
  if (!r && code_of(r.error()) != errc::closed)
    return r.error();
  return caf::none;
}

caf::error pool_node::close() {
  return finish(close_atom::value);
}

caf::error pool_node::shutdown() {
  return finish(shutdown_atom::value);
}

} // namespace pulse
