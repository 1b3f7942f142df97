#include "runtime/pool.hpp"

#include <condition_variable>

#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>

#include "actors/pool/ticker.hpp"
#include "runtime/client.hpp"
#include "runtime/errors.hpp"
#include "runtime/names.hpp"
#include "runtime/pool_scripts.hpp"
#include "runtime/runtime.hpp"

namespace pulse {

namespace ps = pool_scripts;

caf::expected<std::unique_ptr<pool_node>>
pool_node::add_node(runtime& rt, const std::string& pool, pool_options opts) {
  auto h = spawn_pool_node(rt, pool, opts);
  if (!h)
    return h.error();
  return std::unique_ptr<pool_node>{new pool_node(rt, std::move(*h))};
}

pool_node::pool_node(runtime& rt, pool_node_handle h)
  : rt_(rt), actor_(std::move(h.actor)), core_(std::move(h.core)) {
  // nop
}

pool_node::~pool_node() {
  close();
}

std::unique_ptr<client> pool_node::take_client() {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (!clients_.empty()) {
      auto c = std::move(clients_.back());
      clients_.pop_back();
      return c;
    }
  }
  return std::make_unique<client>(rt_.system(), rt_.gateway());
}

void pool_node::give_client(std::unique_ptr<client> c) {
  std::lock_guard<std::mutex> guard{mtx_};
  if (clients_.size() < 64)
    clients_.push_back(std::move(c));
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

struct waiter {
  std::mutex mtx;
  std::condition_variable cv;
  bool done = false;
  std::string err;
};

caf::error dispatch_status(const std::string& st, const std::string& key) {
  if (st == "exists")
    return make_error(errc::job_exists, "job " + key + " already exists");
  if (st == "overloaded")
    return make_error(errc::overloaded,
                      "pool has too many queued jobs (max-queued-jobs)");
  if (st == "shutdown")
    return make_error(errc::shutting_down, "pool is shutting down");
  return make_error(errc::redis_error, "unexpected dispatch reply " + st);
}

} // namespace

caf::error pool_node::dispatch(const std::string& key,
                               const std::string& payload) {
  if (core_->closing)
    return make_error(errc::closed, "pool node is closed");
  if (auto err = validate_key(key, "pool", "dispatch"))
    return err;
  auto did = core_->next_dispatch_id();
  auto w = std::make_shared<waiter>();
  core_->add_waiter(did, [w](std::string err) {
    std::lock_guard<std::mutex> guard{w->mtx};
    w->err = std::move(err);
    w->done = true;
    w->cv.notify_one();
  });
  auto cli = take_client();
  caf::error failure;
  for (int attempt = 0;; ++attempt) {
    auto m = core_->members();
    auto r = cli->eval(ps::dispatch(), {core_->prefix},
                       {key, payload, core_->node, did, m->target(key),
                        std::to_string(m->rev),
                        std::to_string(core_->opts.max_queued_jobs)});
    if (!r) {
      failure = r.error();
      break;
    }
    auto& st = r->is_array() && !r->elements.empty() ? r->elements[0].str
                                                     : r->str;
    if (st == "ok")
      break;
    if (st == "stale" && attempt < 8) {
      if (auto v = cli->eval(ps::members(), {core_->prefix}, {}))
        core_->install(pool_membership::parse(*v));
      continue;
    }
    failure = dispatch_status(st, key);
    break;
  }
  give_client(std::move(cli));
  if (failure) {
    core_->remove_waiter(did);
    return failure;
  }
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
  if (w->err.empty())
    return caf::none;
  return make_error(errc::handler_failed, w->err);
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

caf::error pool_node::close() {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (done_)
      return caf::none;
    done_ = true;
  }
  auto r = call<bool>(close_atom::value);
  if (!r && code_of(r.error()) != errc::closed)
    return r.error();
  return caf::none;
}

caf::error pool_node::shutdown() {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (done_)
      return caf::none;
    done_ = true;
  }
  auto r = call<bool>(shutdown_atom::value);
  if (!r && code_of(r.error()) != errc::closed)
    return r.error();
  return caf::none;
}

} // namespace pulse
