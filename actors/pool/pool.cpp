#include "pulse/actors/pool/pool.hpp"

#include <condition_variable>
#include <type_traits>

#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>

#include "pulse/actors/pool/ticker.hpp"
#include "pulse/actors/redis/client.hpp"
#include "pulse/runtime/errors.hpp"
#include "pulse/actors/pool/scripts.hpp"
#include "pulse/actors/redis/services.hpp"

namespace pulse {

namespace ps = pool_scripts;

namespace {

/// Whether a request failed because the node actor is gone (it closed, or
/// was told of a shutdown) rather than with an answer of its own.
bool pool_node_gone(const caf::error& err) {
  return err == caf::exit_reason::user_shutdown
         || err == caf::sec::request_receiver_down;
}

} // namespace

caf::expected<std::unique_ptr<pool_node>>
pool_node::add_node(services& rt, const std::string& pool) {
  return add_node(rt, pool, pool_options::from(rt.opts().pool));
}

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
    disp_(std::move(h.disp)) {
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
               result = pool_node_gone(err)
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

caf::expected<std::vector<std::string>>
pool_node::add_workers(job_handler_ptr handler, size_t n) {
  caf::scoped_actor self{rt_.system()};
  using handle = decltype(self->request(actor_, caf::infinite,
                                        add_worker_atom::value, handler));
  std::vector<handle> pending;
  pending.reserve(n);
  for (size_t i = 0; i < n; ++i)
    pending.push_back(
      self->request(actor_, caf::infinite, add_worker_atom::value, handler));
  std::vector<std::string> ids;
  ids.reserve(n);
  caf::error err;
  for (auto& h : pending)
    h.receive([&](std::string& id) { ids.push_back(std::move(id)); },
              [&](caf::error& e) {
                if (!err)
                  err = pool_node_gone(e)
                          ? make_error(errc::closed, "pool node is closed")
                          : std::move(e);
              });
  if (!err)
    return ids;
  for (auto& id : ids)
    remove_worker(id);
  return err;
}

caf::error pool_node::remove_worker(const std::string& id) {
  auto r = call<bool>(remove_worker_atom::value, id);
  return r ? caf::error{} : r.error();
}

caf::expected<int64_t>
pool_node::dispatch_at(const std::string& key, const std::string& payload,
                       std::chrono::system_clock::time_point at) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
    at.time_since_epoch());
  return call<int64_t>(dispatch_at_atom::value, key, payload,
                       static_cast<int64_t>(ms.count()));
}

caf::expected<int64_t> pool_node::dispatch_in(const std::string& key,
                                              const std::string& payload,
                                              caf::timespan delay) {
  return call<int64_t>(dispatch_in_atom::value, key, payload, delay);
}

caf::expected<std::string>
pool_node::dispatch_and_wait(const std::string& key, const std::string& payload,
                             caf::timespan timeout,
                             const dispatch_options& opts) {
  struct waiter {
    std::mutex mtx;
    std::condition_variable cv;
    bool done = false;
    caf::expected<std::string> result{std::string{}};
  };
  auto w = std::make_shared<waiter>();
  disp_->dispatch_for_result(
    key, payload, timeout,
    [w](caf::expected<std::string> r) {
      std::lock_guard<std::mutex> guard{w->mtx};
      w->result = std::move(r);
      w->done = true;
      w->cv.notify_one();
    },
    dispatcher::mode::lead_blocking, opts);
  // The registry answers every waiter, at the latest at `timeout`.
  std::unique_lock<std::mutex> guard{w->mtx};
  w->cv.wait(guard, [&] { return w->done; });
  return std::move(w->result);
}

void pool_node::dispatch_for_result(
  const std::string& key, const std::string& payload, caf::timespan timeout,
  std::function<void(caf::expected<std::string>)> done,
  const dispatch_options& opts) {
  disp_->dispatch_for_result(key, payload, timeout, std::move(done),
                             dispatcher::mode::queue, opts);
}

caf::expected<std::vector<dead_job>> pool_node::dead_jobs(uint64_t limit) {
  return call<std::vector<dead_job>>(dead_jobs_atom::value, limit);
}

caf::expected<uint64_t>
pool_node::redrive(const std::vector<std::string>& keys) {
  return call<uint64_t>(redrive_atom::value, keys);
}

caf::expected<uint64_t>
pool_node::purge_dead(const std::vector<std::string>& keys) {
  return call<uint64_t>(purge_dead_atom::value, keys);
}

caf::error pool_node::complete_job(const job& j, const std::string& result) {
  auto r = call<bool>(job_complete_atom::value, j, true, result);
  return r ? caf::error{} : r.error();
}

caf::error pool_node::fail_job(const job& j, const std::string& error) {
  auto r = call<bool>(job_complete_atom::value, j, false, error);
  return r ? caf::error{} : r.error();
}

caf::expected<caf::optional<job_outcome>>
pool_node::job_result(const std::string& key) {
  return call<caf::optional<job_outcome>>(job_result_atom::value, key);
}

caf::error pool_node::cancel_delayed(const std::string& key) {
  auto r = call<bool>(cancel_delayed_atom::value, key);
  return r ? caf::error{} : r.error();
}

void pool_node::dispatch_async(const std::string& key,
                               const std::string& payload,
                               std::function<void(caf::error)> done,
                               const dispatch_options& opts) {
  disp_->dispatch(key, payload, std::move(done), dispatcher::mode::queue,
                  opts);
}

caf::error pool_node::dispatch(const std::string& key,
                               const std::string& payload,
                               const dispatch_options& opts) {
  struct waiter {
    std::mutex mtx;
    std::condition_variable cv;
    bool done = false;
    caf::error err;
  };
  auto w = std::make_shared<waiter>();
  disp_->dispatch(
    key, payload,
    [w](caf::error err) {
      std::lock_guard<std::mutex> guard{w->mtx};
      w->err = std::move(err);
      w->done = true;
      w->cv.notify_one();
    },
    dispatcher::mode::lead_blocking, opts);
  // The dispatcher completes every dispatch, at the latest with
  // `errc::timeout` after the dispatch timeout.
  std::unique_lock<std::mutex> guard{w->mtx};
  w->cv.wait(guard, [&] { return w->done; });
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
  auto t = call<ticker_actor>(new_ticker_atom::value, name, period,
                              std::move(receiver));
  if (!t)
    return t.error();
  return caf::actor_cast<caf::actor>(*t);
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

caf::expected<scheduler_actor>
pool_node::schedule(job_producer_ptr producer, caf::timespan interval) {
  return call<scheduler_actor>(schedule_atom::value, std::move(producer),
                               interval);
}

template <class Atom>
caf::error pool_node::finish(Atom what) {
  constexpr bool shut = std::is_same<Atom, shutdown_atom>::value;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (closed_ && shut)
      return make_error(errc::closed,
                        "pool shutdown: this node was closed first; shut "
                        "the pool down from a node still in it");
    if (closed_ || shut_down_)
      return caf::none;
    (shut ? shut_down_ : closed_) = true;
  }
  caf::scoped_actor self{rt_.system()};
  caf::error result;
  self->request(actor_, caf::infinite, what)
    .receive([](bool) {},
             [&](caf::error& err) {
               // A node already gone (closed, or told of a shutdown) is
               // done; a refusal (shutdown after a close) is returned.
               if (!pool_node_gone(err))
                 result = std::move(err);
             });
  return result;
}

caf::error pool_node::close() {
  return finish(close_atom::value);
}

caf::error pool_node::shutdown() {
  return finish(shutdown_atom::value);
}

} // namespace pulse
