#include "actors/redis/gateway.hpp"

#include <algorithm>
#include <chrono>
#include <deque>
#include <memory>
#include <unordered_set>

#include <caf/actor_system.hpp>
#include <caf/io/broker.hpp>
#include <caf/io/middleman.hpp>
#include <caf/response_promise.hpp>

#include "actors/redis/link.hpp"
#include "runtime/errors.hpp"
#include "runtime/log.hpp"

namespace pulse {

namespace {

using clock_type = std::chrono::steady_clock;

using gw_tick_atom = caf::atom_constant<caf::atom("gw_tick")>;

/// One request waiting for its replies.
struct request {
  enum class type : uint8_t { single, batch, eval };
  type kind = type::single;
  caf::response_promise rp;
  clock_type::time_point deadline;
  caf::timespan timeout{0};
  /// Commands to write (single: one; batch: many; eval: built on send).
  std::vector<command> cmds;
  /// Eval only: the script, keys and args (kept to re-send on NOSCRIPT).
  script scr;
  std::vector<std::string> keys;
  std::vector<std::string> args;
  /// Replies still owed by Redis, and the ones collected so far (batch).
  size_t owed = 0;
  std::vector<resp::value> replies;
};

struct gateway_state {
  gateway_state(caf::io::broker* self, const redis_options& opts,
                gateway_role role)
    : self(self),
      opts(opts),
      role(role),
      conn(self, opts,
           role == gateway_role::blocking ? "blocking" : "pipelined") {
    // nop
  }

  caf::io::broker* self;
  redis_options opts;
  gateway_role role;
  detail::link conn;
  /// Written to Redis, waiting for replies (FIFO).
  std::deque<request> in_flight;
  /// Waiting for a connection.
  std::deque<request> queued;
  /// Scripts already sent on this connection (EVALSHA from now on).
  std::unordered_set<std::string> scripts;
  gateway_stats stats;
  bool timer_armed = false;
  bool closing = false;

  caf::timespan tick_interval() const {
    auto t = opts.command_timeout / 10;
    return std::clamp(t, caf::timespan{std::chrono::milliseconds{1}},
                      caf::timespan{std::chrono::milliseconds{100}});
  }

  void arm_timer() {
    if (timer_armed || (in_flight.empty() && queued.empty()))
      return;
    timer_armed = true;
    self->delayed_send(self, tick_interval(), gw_tick_atom::value);
  }

  void fail(request& req, const caf::error& err) {
    ++stats.errors;
    if (code_of(err) == errc::timeout)
      ++stats.timeouts;
    req.rp.deliver(err);
  }

  void submit(request req) {
    if (closing) {
      fail(req, make_error(errc::closed, "gateway is shutting down"));
      return;
    }
    auto timeout = req.timeout.count() > 0 ? req.timeout
                                           : opts.command_timeout;
    req.timeout = timeout;
    req.deadline = clock_type::now() + timeout;
    if (conn.connected()) {
      send(std::move(req));
      conn.flush();
    } else if (queued.size() >= opts.max_queued) {
      fail(req, make_error(errc::overloaded,
                           "redis unreachable and "
                             + std::to_string(queued.size())
                             + " requests already queued"));
      return;
    } else {
      queued.emplace_back(std::move(req));
      conn.connect();
    }
    arm_timer();
  }

  // Writes `req` to the connection and moves it to `in_flight`.
  void send(request req) {
    switch (req.kind) {
      case request::type::single:
      case request::type::batch:
        for (auto& cmd : req.cmds)
          conn.write(cmd.args);
        req.owed = req.cmds.size();
        break;
      case request::type::eval: {
        std::vector<std::string> args;
        args.reserve(3 + req.keys.size() + req.args.size());
        if (scripts.count(req.scr.sha1) > 0) {
          args.emplace_back("EVALSHA");
          args.emplace_back(req.scr.sha1);
        } else {
          args.emplace_back("EVAL");
          args.emplace_back(req.scr.source);
          scripts.insert(req.scr.sha1);
        }
        args.emplace_back(std::to_string(req.keys.size()));
        args.insert(args.end(), req.keys.begin(), req.keys.end());
        args.insert(args.end(), req.args.begin(), req.args.end());
        conn.write(args);
        req.owed = 1;
        break;
      }
    }
    stats.sent += req.owed;
    in_flight.emplace_back(std::move(req));
  }

  void on_reply(resp::value&& reply) {
    ++stats.replies;
    if (in_flight.empty()) {
      conn.reset(make_error(errc::protocol_error,
                            "reply without a request: " + reply.render()));
      return;
    }
    auto& req = in_flight.front();
    switch (req.kind) {
      case request::type::single:
        if (reply.is_error())
          fail(req, make_error(errc::redis_error, std::move(reply.str)));
        else
          req.rp.deliver(std::move(reply));
        in_flight.pop_front();
        return;
      case request::type::batch:
        req.replies.emplace_back(std::move(reply));
        if (--req.owed == 0) {
          req.rp.deliver(std::move(req.replies));
          in_flight.pop_front();
        }
        return;
      case request::type::eval:
        if (reply.is_error() && reply.str.compare(0, 8, "NOSCRIPT") == 0) {
          // The script cache was flushed: re-send the source.
          ++stats.script_reloads;
          scripts.erase(req.scr.sha1);
          auto retry = std::move(req);
          in_flight.pop_front();
          send(std::move(retry));
          conn.flush();
          return;
        }
        if (reply.is_error())
          fail(req, make_error(errc::redis_error, std::move(reply.str)));
        else
          req.rp.deliver(std::move(reply));
        in_flight.pop_front();
        return;
    }
  }

  void on_up() {
    if (conn.connects() > 1)
      ++stats.reconnects;
    scripts.clear();
    stats.connected = true;
    while (!queued.empty()) {
      send(std::move(queued.front()));
      queued.pop_front();
    }
    conn.flush();
    arm_timer();
  }

  // The connection went down, or a connect attempt failed.
  void on_down(const caf::error& reason) {
    stats.connected = false;
    auto in_flight_err = reason;
    if (code_of(reason) == errc::disconnected
        || code_of(reason) == errc::protocol_error)
      in_flight_err = make_error(errc::disconnected,
                                 "connection lost before the reply ("
                                   + render(reason) + ")");
    for (auto& req : in_flight)
      fail(req, in_flight_err);
    in_flight.clear();
    // A failed connect attempt also fails what waited for it: callers get a
    // clear error now instead of a timeout later.
    auto code = code_of(reason);
    if (code == errc::connect_failed || code == errc::auth_failed) {
      for (auto& req : queued)
        fail(req, reason);
      queued.clear();
    }
  }

  void on_tick() {
    timer_armed = false;
    auto now = clock_type::now();
    if (!in_flight.empty() && in_flight.front().deadline <= now) {
      auto& req = in_flight.front();
      auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                  req.timeout)
                  .count();
      auto what = req.kind == request::type::eval
                    ? std::string{"EVALSHA"}
                    : (req.cmds.empty() || req.cmds.front().args.empty()
                         ? std::string{"request"}
                         : req.cmds.front().args.front());
      auto err = make_error(errc::timeout, what + ": no reply within "
                                             + std::to_string(ms) + "ms");
      // Fail the whole pipeline: later replies could not be matched.
      for (auto& r : in_flight)
        fail(r, err);
      in_flight.clear();
      conn.reset(err);
    }
    for (auto i = queued.begin(); i != queued.end();) {
      if (i->deadline <= now) {
        fail(*i, make_error(errc::timeout, "no connection to redis within "
                                             + std::to_string(
                                               std::chrono::duration_cast<
                                                 std::chrono::milliseconds>(
                                                 i->timeout)
                                                 .count())
                                             + "ms"));
        i = queued.erase(i);
      } else {
        ++i;
      }
    }
    arm_timer();
  }

  void cancel_all() {
    auto err = make_error(errc::canceled, "request canceled");
    for (auto& req : queued)
      fail(req, err);
    queued.clear();
    if (!in_flight.empty()) {
      for (auto& req : in_flight)
        fail(req, err);
      in_flight.clear();
      // Closing the socket unblocks a BLOCK read on the server side too.
      conn.reset(err);
    }
  }

  void close_all() {
    closing = true;
    auto err = make_error(errc::closed, "gateway is shutting down");
    for (auto& req : in_flight)
      fail(req, err);
    for (auto& req : queued)
      fail(req, err);
    in_flight.clear();
    queued.clear();
    conn.shutdown();
  }
};

caf::behavior gateway_impl(caf::io::broker* self, redis_options opts,
                           gateway_role role) {
  auto st = std::make_shared<gateway_state>(self, opts, role);
  // The link lives inside the state: its callbacks use a raw pointer (a
  // shared_ptr here would be a reference cycle).
  auto raw = st.get();
  st->conn.callbacks([raw](resp::value&& x) { raw->on_reply(std::move(x)); },
                     [raw] { raw->on_up(); },
                     [raw](const caf::error& e) { raw->on_down(e); });
  self->set_exit_handler([self, st](const caf::exit_msg& msg) {
    st->close_all();
    self->quit(msg.reason);
  });
  st->conn.connect();
  auto own = caf::message_handler{
    [self, st](cmd_atom, command& cmd) {
      request req;
      req.kind = request::type::single;
      req.rp = self->make_response_promise();
      req.timeout = cmd.timeout;
      req.cmds.emplace_back(std::move(cmd));
      st->submit(std::move(req));
    },
    [self, st](batch_atom, std::vector<command>& cmds) {
      auto rp = self->make_response_promise();
      if (cmds.empty()) {
        rp.deliver(std::vector<resp::value>{});
        return;
      }
      request req;
      req.kind = request::type::batch;
      req.rp = std::move(rp);
      for (auto& c : cmds)
        req.timeout = std::max(req.timeout, c.timeout);
      req.replies.reserve(cmds.size());
      req.cmds = std::move(cmds);
      st->submit(std::move(req));
    },
    [self, st](eval_atom, script& scr, std::vector<std::string>& keys,
               std::vector<std::string>& args) {
      request req;
      req.kind = request::type::eval;
      req.rp = self->make_response_promise();
      req.scr = std::move(scr);
      req.keys = std::move(keys);
      req.args = std::move(args);
      st->submit(std::move(req));
    },
    [st](cancel_atom) { st->cancel_all(); },
    [st](stats_atom) {
      auto result = st->stats;
      result.queued = st->queued.size();
      result.in_flight = 0;
      for (auto& req : st->in_flight)
        result.in_flight += req.owed;
      return result;
    },
    [st](gw_tick_atom) { st->on_tick(); },
  };
  return caf::behavior{own.or_else(st->conn.handlers())};
}

} // namespace

gateway_actor spawn_gateway(caf::actor_system& sys, const redis_options& opts,
                            gateway_role role) {
  auto hdl = sys.middleman().spawn_broker(gateway_impl, opts, role);
  return caf::actor_cast<gateway_actor>(hdl);
}

} // namespace pulse
