#include "pulse/actors/redis/gateway.hpp"

#include <algorithm>
#include <memory>
#include <mutex>

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>

#include "pulse/actors/redis/gateway_state.hpp"
#include "pulse/actors/redis/scan_walk.hpp"
#include "pulse/runtime/errors.hpp"

namespace pulse {

namespace {

using namespace gateway_detail;

/// The gateway actor. Its `enqueue` takes request messages (`cmd`, `batch`,
/// `eval`) straight from the sender's thread while the connection is up:
/// the request is encoded into the output buffer under the gateway's lock,
/// without a hop through the mailbox and the gateway's thread. Everything
/// else (and every request while disconnected or closing) goes through the
/// mailbox as usual.
/// The gateway's request type (inside the actor class, `request` names
/// the actor's own `request` member).
using pending = request;
using pending_ptr = request_ptr;

class gateway_impl : public caf::event_based_actor {
public:
  using super = caf::event_based_actor;

  gateway_impl(caf::actor_config& cfg, redis_options opts, gateway_role role)
    : super(cfg) {
    st_ = std::make_shared<gateway_state>(this, opts, role);
    // The link lives inside the state: its callbacks use a raw pointer (a
    // shared_ptr here would be a reference cycle).
    auto raw = st_.get();
    st_->conn.callbacks([](resp::value&&) {}, [raw] { raw->on_up(); },
                        [raw](const caf::error& e) { raw->on_down(e); });
    st_->conn.on_reader_thread(
      [raw](std::vector<resp::value>& xs) { return raw->on_replies(xs); });
    st_->conn.leadable(opts.reply_lead && role == gateway_role::pipelined);
    if (opts.wait_replicas > 0 && role == gateway_role::pipelined)
      st_->conn.before_send([raw] { raw->append_wait_locked(); });
  }

  void enqueue(caf::mailbox_element_ptr ptr, caf::execution_unit* eu) override {
    if (ptr != nullptr && st_->try_take(*ptr))
      return;
    super::enqueue(std::move(ptr), eu);
  }

  caf::behavior make_behavior() override {
    auto st = st_;
    set_exit_handler([this, st](const caf::exit_msg& msg) {
      st->close_all();
      quit(msg.reason);
    });
    st->conn.connect();
    auto own = caf::message_handler{
      [this, st](cmd_atom, command& cmd) {
        pending req;
        req.kind = pending::type::single;
        req.counted = true;
        req.to = reply_target::from(this);
        req.timeout = cmd.timeout;
        req.single = std::move(cmd);
        st->submit(std::move(req));
      },
      [this, st](batch_atom, std::vector<command>& cmds) {
        auto to = reply_target::from(this);
        pending req;
        req.counted = true;
        if (cmds.empty()) {
          {
            std::lock_guard<std::mutex> guard{st->mtx};
            st->settle(req);
          }
          to.deliver(caf::make_message(std::vector<resp::value>{}));
          return;
        }
        req.kind = pending::type::batch;
        req.to = std::move(to);
        for (auto& c : cmds)
          req.timeout = std::max(req.timeout, c.timeout);
        req.b().replies.reserve(cmds.size());
        req.b().cmds = std::move(cmds);
        st->submit(std::move(req));
      },
      [this, st](eval_atom, script& scr, std::vector<std::string>& keys,
                 std::vector<std::string>& args) {
        pending req;
        req.kind = pending::type::eval;
        req.counted = true;
        req.to = reply_target::from(this);
        req.b().scr = std::move(scr);
        req.b().keys = std::move(keys);
        req.b().args = std::move(args);
        st->submit(std::move(req));
      },
      [st](gw_resend_atom, pending_ptr& req) {
        if (req)
          st->resend(std::move(*req));
      },
      [st](gw_retry_atom, pending_ptr& req) {
        if (req)
          st->retry_refused(std::move(*req));
      },
      [st](cancel_atom) {
        st->cancel_all();
        std::lock_guard<std::mutex> guard{st->mtx};
        --st->slow_requests; // counted by `try_take`
      },
      [this, st](each_master_atom, command& cmd) {
        // One master here: the batch path with one command, whose reply is
        // the vector of one reply (Redis errors stay in it).
        pending req;
        req.kind = pending::type::batch;
        req.counted = true;
        req.to = reply_target::from(this);
        req.timeout = cmd.timeout;
        req.b().replies.reserve(1);
        req.b().cmds.push_back(std::move(cmd));
        st->submit(std::move(req));
      },
      [this](scan_keys_atom, scan_query& q) {
        // Walks this connection's cursor with requests to itself.
        auto rp = make_response_promise<scan_result>();
        detail::walk_scan(
          [this](command cmd,
                 std::function<void(caf::expected<resp::value>)> k) {
            request(caf::actor_cast<caf::actor>(this), caf::infinite,
                    cmd_atom::value, std::move(cmd))
              .then([k](resp::value& v) { k(std::move(v)); },
                    [k](caf::error& e) { k(std::move(e)); });
          },
          std::move(q), [rp](caf::expected<scan_result> r) mutable {
            if (r) {
              detail::normalize(*r);
              rp.deliver(std::move(*r));
            } else {
              rp.deliver(std::move(r.error()));
            }
          });
        return rp;
      },
      [st](stats_atom) { return st->snapshot(); },
      [st](direct_atom) { return make_direct(st); },
      [st](gw_tick_atom) { st->on_tick(); },
    };
    return caf::behavior{own.or_else(st->conn.handlers())};
  }

  /// Runs on the gateway's thread whatever ended it (also `kill`, which
  /// skips the exit handler): answer everything and join the reader thread
  /// here, so no requester waits forever and the state never ends on
  /// another thread with a live connection.
  void on_exit() override {
    if (!st_->closing)
      st_->close_all();
  }

private:
  std::shared_ptr<gateway_state> st_;
};

} // namespace

gateway_actor spawn_gateway(caf::actor_system& sys, const redis_options& opts,
                            gateway_role role) {
  // The shared pipelined gateway is detached: its own thread wakes on a
  // condition variable, which keeps connects, timeouts and flushes off the
  // work-stealing idle back-off. Requests themselves mostly skip it (see
  // `gateway_impl`). A blocking gateway serves one reader, sink or intake
  // whose next read waits for the last reply anyway: it runs on the
  // scheduler, so its only thread of its own is its connection's reader.
  auto hdl = role == gateway_role::blocking
               ? sys.spawn<gateway_impl>(opts, role)
               : sys.spawn<gateway_impl, caf::detached>(opts, role);
  return caf::actor_cast<gateway_actor>(hdl);
}

} // namespace pulse
