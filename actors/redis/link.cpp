#include "pulse/actors/redis/link.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include <caf/actor_system.hpp>
#include <caf/blocking_actor.hpp>
#include <caf/send.hpp>

#include "pulse/actors/redis/connect.hpp"
#include "pulse/actors/redis/reader_crew.hpp"
#include "pulse/actors/redis/sentinel.hpp"
#include "pulse/actors/redis/url.hpp"
#include "pulse/runtime/errors.hpp"
#include "pulse/runtime/log.hpp"

namespace pulse::detail {

namespace {

// Repeated connect failures are logged as warnings at most this often.
constexpr auto fail_warn_period = std::chrono::seconds{10};

/// A larger emptied output buffer is freed instead of kept as the spare.
constexpr size_t max_spare_capacity = 4 * 1024 * 1024;

} // namespace

link::link(caf::event_based_actor* self, redis_options opts, std::string role)
  : self_(self),
    opts_(std::move(opts)),
    role_(std::move(role)),
    backoff_(opts_.reconnect_min, opts_.reconnect_max) {
  owner_ = self->address();
  // Options passed in code may still hold a URL: apply it here so logs name
  // the real endpoint. A malformed one stays and fails every connect
  // attempt with its invalid_config error.
  (void) apply_redis_url(opts_);
  endpoint_ = opts_.endpoint();
}

link::~link() {
  {
    auto guard = lock_guard_mutex();
    stopped_ = true;
    connected_ = false;
  }
  close_socket_and_join();
}

std::unique_lock<std::mutex> link::lock_guard_mutex() {
  return guard_ != nullptr ? std::unique_lock<std::mutex>{*guard_}
                           : std::unique_lock<std::mutex>{};
}

void link::callbacks(reply_fn on_reply, up_fn on_up, down_fn on_down) {
  on_reply_ = std::move(on_reply);
  on_up_ = std::move(on_up);
  on_down_ = std::move(on_down);
}

void link::connect() {
  // While a back-off delay runs, a request must not cut it short (a caller
  // retrying every few ms would otherwise reconnect every few ms).
  if (connected_ || connecting_ || stopped_ || retry_pending_)
    return;
  connecting_ = true;
  auto epoch = ++epoch_;
  auto owner = caf::actor_cast<caf::actor>(self_);
  auto opts = opts_;
  std::string hint;
  {
    std::lock_guard<std::mutex> guard{hint_->mtx};
    hint.swap(hint_->addr);
  }
  std::vector<std::string> known;
  if (opts_.cluster) {
    // Cluster mode (the pub/sub connection): any node will do; the one
    // lost last is tried last.
    known = cluster_nodes_;
    hint = connects_ > 0 ? endpoint_ : std::string{};
  }
  // connect_redis blocks: run it on a detached helper, never on the owner.
  // Spawn arguments, not captures: CAF 0.17 dereferences a null tuple
  // pointer for a functor spawned without any (undefined behavior, reported
  // by UBSan and only suppressed as CAF's, at a cost on every reconnect).
  self_->system().spawn<caf::detached>(
    [](caf::blocking_actor* helper, caf::actor owner, redis_options opts,
       uint64_t epoch, std::string hint, std::vector<std::string> known) {
      auto res = connect_redis(opts, hint, known);
      if (!res) {
        caf::anon_send(owner, link_fail_atom::value, epoch, res.error());
        return;
      }
      helper->request(owner, caf::infinite, link_up_atom::value, epoch,
                      std::move(res->conn), res->client_id,
                      std::move(res->watch), std::move(res->endpoint),
                      std::move(res->cluster_nodes))
        // Not accepted (or the owner is gone): dropping the last
        // reference closes the connection.
        .receive([](bool) {}, [](caf::error&) {});
    },
    std::move(owner), std::move(opts), epoch, std::move(hint),
    std::move(known));
}

caf::message_handler link::handlers() {
  return {
    [this](link_up_atom, uint64_t epoch, wire_ptr& conn, int64_t client_id,
           wire_ptr& watch, std::string& endpoint,
           std::vector<std::string>& nodes) {
      auto guard = lock_guard_mutex();
      if (epoch != epoch_ || stopped_ || connected_ || !conn) {
        if (watch)
          watch->shut();
        return false;
      }
      if (!endpoint.empty())
        endpoint_ = std::move(endpoint);
      if (!nodes.empty())
        cluster_nodes_ = std::move(nodes);
      connecting_ = false;
      conn_ = conn;
      out_.clear();
      out_pos_ = 0;
      connected_ = true;
      guard = {}; // the reader thread and on_up take the mutex themselves
      client_id_ = client_id;
      ++connects_;
      backoff_.reset();
      crew_ = std::make_shared<reader_crew>(
        std::move(conn), epoch, caf::actor_cast<caf::actor>(self_),
        endpoint_, reader_fn_, leadable_);
      crew_->start();
      if (leadable_)
        std::atomic_store(&lead_crew_, crew_);
      if (watch) {
        // A failover announced by the sentinels drops this connection (the
        // epoch keeps a late notice from dropping the next one).
        auto owner = caf::actor_cast<caf::actor>(self_);
        watch_ = std::make_unique<sentinel_watch>(
          std::move(watch), opts_, endpoint_,
          [owner, epoch, box = hint_](caf::error reason, std::string to) {
            {
              std::lock_guard<std::mutex> guard{box->mtx};
              box->addr = std::move(to);
            }
            caf::anon_send(owner, link_down_atom::value, epoch,
                           std::move(reason));
          });
      }
      log::info("redis connected role={} endpoint={} tls={} client_id={}",
                role_, endpoint_, opts_.tls, client_id);
      if (on_up_)
        on_up_();
      return true;
    },
    [this](link_fail_atom, uint64_t epoch, const caf::error& err) {
      if (epoch != epoch_ || stopped_)
        return;
      connecting_ = false;
      // Identical failures repeat every reconnect-max while Redis is down:
      // warn on the first and then every fail_warn_period, with a count.
      auto now = std::chrono::steady_clock::now();
      if (backoff_.attempts() == 0
          || now - last_fail_warn_ >= fail_warn_period) {
        log::warn("redis connect failed role={} endpoint={} attempt={} "
                  "failures_since_last_warning={} error=\"{}\"",
                  role_, endpoint_, backoff_.attempts() + 1,
                  failures_unlogged_, err);
        last_fail_warn_ = now;
        failures_unlogged_ = 0;
      } else {
        ++failures_unlogged_;
        log::debug("redis connect failed role={} endpoint={} attempt={} "
                   "error=\"{}\"",
                   role_, endpoint_, backoff_.attempts() + 1,
                   err);
      }
      if (on_down_)
        on_down_(err);
      schedule_retry(false);
    },
    [this](link_retry_atom, uint64_t epoch) {
      if (epoch != epoch_)
        return;
      retry_pending_ = false;
      connect();
    },
    [this](link_flush_atom) {
      caf::error failure;
      {
        auto guard = lock_guard_mutex();
        flush_scheduled_ = false;
        failure = send_pending(guard, true);
      }
      // Drop outside the lock: drop() takes it itself.
      if (failure)
        drop(failure, true);
    },
    [this](link_data_atom, uint64_t epoch, std::vector<resp::value>& xs) {
      if (epoch != epoch_ || !connected_)
        return;
      for (auto& x : xs) {
        on_reply_(std::move(x));
        // The callback may have reset the connection.
        if (!connected_ || epoch != epoch_)
          return;
      }
    },
    [this](link_down_atom, uint64_t epoch, const caf::error& reason) {
      bool current = false;
      {
        auto guard = lock_guard_mutex();
        current = epoch == epoch_ && connected_;
      }
      if (current)
        drop(reason, true);
    },
  };
}

void link::write(const std::vector<std::string>& args) {
  resp::encode(out_, args);
}

void link::flush_later() {
  // Owner thread only: it is the only writer of `connected_`, so no lock is
  // needed to read it here.
  if (!connected_ || flush_scheduled_.exchange(true))
    return;
  self_->send(self_, link_flush_atom::value);
}


caf::error link::send_pending(std::unique_lock<std::mutex>& lk,
                               bool from_owner) {
  if (before_send_ && connected_)
    before_send_();
  if (sending_)
    return caf::none; // the active sender picks our bytes up
  sending_ = true;
  caf::error failure;
  bool again = false;
  while (connected_ && out_pos_ < out_.size() && !failure && !again) {
    // Bytes appended by other threads while the lock was released.
    if (before_send_)
      before_send_();
    // Swap the filled buffer out for the spare one, so writers keep
    // appending into a buffer that already has capacity.
    std::vector<char> buf = std::move(spare_);
    spare_ = {};
    buf.clear();
    buf.swap(out_);
    auto pos = out_pos_;
    out_pos_ = 0;
    // Only the active sender and the reader thread use the wire; closing
    // waits for the sender (see close_socket_and_join).
    auto* conn = conn_.get();
    if (guard_ != nullptr)
      lk.unlock();
    while (pos < buf.size()) {
      // A retry after `again` starts with the same unsent bytes (TLS needs
      // that); bytes appended meanwhile follow them.
      auto r = conn->write(buf.data() + pos, buf.size() - pos);
      if (r.error || r.closed) {
        failure = r.error ? std::move(r.error)
                          : make_error(errc::disconnected,
                                       "connection to " + endpoint_
                                         + " closed");
        break;
      }
      if (r.again) {
        again = true;
        break;
      }
      pos += r.n;
    }
    if (guard_ != nullptr)
      lk.lock();
    if (pos < buf.size() && !failure) {
      // Unsent rest first, then what was appended meanwhile.
      buf.erase(buf.begin(), buf.begin() + static_cast<ptrdiff_t>(pos));
      buf.insert(buf.end(), out_.begin() + static_cast<ptrdiff_t>(out_pos_),
                 out_.end());
      out_.swap(buf);
      out_pos_ = 0;
    }
    buf.clear();
    if (buf.capacity() <= max_spare_capacity)
      spare_ = std::move(buf);
  }
  sending_ = false;
  if (again && !flush_scheduled_.exchange(true)) {
    // Socket buffer full: retry shortly, never block anyone.
    if (from_owner)
      self_->delayed_send(self_, std::chrono::milliseconds{1},
                          link_flush_atom::value);
    else if (auto hdl = caf::actor_cast<caf::actor>(owner_))
      caf::anon_send(hdl, link_flush_atom::value);
  }
  return failure;
}

// Pre: `connected_` is false, so no new sender picks up `conn_`.
// The guard mutex is not held: the reader thread may need it to finish.
void link::close_socket_and_join() {
  if (watch_)
    watch_.reset(); // stops and joins the sentinel watch
  if (conn_)
    conn_->shut(); // wakes the reader thread
  if (crew_) {
    std::atomic_store(&lead_crew_, std::shared_ptr<reader_crew>{});
    crew_->stop();
    crew_.reset();
  }
  auto guard = lock_guard_mutex();
  // A sender outside the lock may still use the descriptor: closing it now
  // could hand its number to the next connection mid-send.
  while (sending_) {
    if (guard_ != nullptr)
      guard.unlock();
    std::this_thread::yield();
    if (guard_ != nullptr)
      guard.lock();
  }
  conn_.reset(); // the last reference: frees the TLS session, closes
}

void link::drop(const caf::error& reason, bool retry_now) {
  {
    auto guard = lock_guard_mutex();
    if (!connected_)
      return;
    connected_ = false;
    ++epoch_;
  }
  close_socket_and_join();
  {
    auto guard = lock_guard_mutex();
    out_.clear();
    out_pos_ = 0;
  }
  if (code_of(reason) == errc::canceled) // on purpose: not a problem
    log::debug("redis connection reset role={} endpoint={} reason=\"{}\"",
               role_, endpoint_, reason);
  else
    log::warn("redis connection lost role={} endpoint={} reason=\"{}\"",
              role_, endpoint_, reason);
  if (on_down_)
    on_down_(reason);
  schedule_retry(retry_now);
}

void link::reset(const caf::error& reason) {
  drop(reason, true);
}

void link::schedule_retry(bool now) {
  if (stopped_)
    return;
  ++epoch_;
  if (now) {
    retry_pending_ = false;
    connect();
    return;
  }
  retry_pending_ = true;
  self_->delayed_send(self_, backoff_.next(), link_retry_atom::value, epoch_);
}

void link::shutdown() {
  {
    auto guard = lock_guard_mutex();
    stopped_ = true;
    ++epoch_;
    connected_ = false;
  }
  close_socket_and_join();
}

} // namespace pulse::detail
