#include "pulse/actors/redis/gateway_state.hpp"

#include <algorithm>

#include "pulse/actors/redis/resp.hpp"
#include "pulse/runtime/errors.hpp"
#include "pulse/runtime/log.hpp"

namespace pulse::gateway_detail {

caf::timespan gateway_state::tick_interval() const {
  auto t = opts.command_timeout / 10;
  return std::clamp(t, caf::timespan{std::chrono::milliseconds{1}},
                    caf::timespan{std::chrono::milliseconds{100}});
}

void gateway_state::arm_timer() {
  if (timer_armed)
    return;
  bool busy = !queued.empty();
  if (!busy) {
    std::lock_guard<std::mutex> guard{mtx};
    busy = !in_flight.empty();
  }
  if (!busy)
    return;
  timer_armed = true;
  self->delayed_send(self, tick_interval(), gw_tick_atom::value);
}

void gateway_state::arm_timer_from_outside() {
  if (!timer_armed.exchange(true))
    if (auto hdl = caf::actor_cast<caf::actor>(self_addr))
      caf::anon_send(hdl, gw_tick_atom::value);
}

void gateway_state::fail(request& req, const caf::error& err) {
  if (req.counted) {
    std::lock_guard<std::mutex> guard{mtx};
    settle(req);
  }
  ++errors;
  if (code_of(err) == errc::timeout)
    ++stats.timeouts;
  req.to.deliver(caf::make_message(err));
}

void gateway_state::submit(request req) {
  if (closing) {
    fail(req, make_error(errc::closed, "gateway is shutting down"));
    return;
  }
  req.bytes = request_bytes(req);
  if (oversized(req.bytes)) {
    fail(req, make_error(errc::too_large,
                         "request of " + std::to_string(req.bytes)
                           + " bytes exceeds pulse.redis.max-payload ("
                           + std::to_string(opts.max_payload) + ")"));
    return;
  }
  apply_timeout(req);
  if (usable()) {
    if (send(std::move(req)))
      conn.flush_later();
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

void gateway_state::apply_timeout(request& req) {
  if (req.timeout.count() <= 0)
    req.timeout = opts.command_timeout;
  req.deadline = coarse_now() + req.timeout;
  // Large requests take longer to send and for Redis to copy: one more
  // second per 16 MiB (about 60 ns per byte).
  if (req.bytes >= large_request)
    req.deadline += std::chrono::nanoseconds{req.bytes * 60};
}

bool gateway_state::oversized(size_t bytes) const noexcept {
  return opts.max_payload > 0 && bytes > opts.max_payload;
}

bool gateway_state::enqueue_locked(request req) {
  bool idle = in_flight.size() <= send_at_once_up_to;
  req.sent_at = clock_type::now();
  auto& out = conn.output();
  switch (req.kind) {
    case request::type::single:
      resp::encode(out, req.single.args);
      req.owed = 1;
      break;
    case request::type::batch:
      for (auto& cmd : req.body->cmds)
        resp::encode(out, cmd.args);
      req.owed = req.body->cmds.size();
      break;
    case request::type::eval: {
      auto& b = *req.body;
      auto nkeys = std::to_string(b.keys.size());
      if (scripts.count(b.scr.sha1) > 0) {
        resp::encode(out, {"EVALSHA", b.scr.sha1, nkeys}, {&b.keys, &b.args});
      } else {
        resp::encode(out, {"EVAL", b.scr.source, nkeys}, {&b.keys, &b.args});
        scripts.insert(b.scr.sha1);
      }
      req.owed = 1;
      break;
    }
    case request::type::wait: // only `append_wait_locked` makes these
      break;
  }
  if (opts.wait_replicas > 0 && role == gateway_role::pipelined
      && !retry_safe_after_loss(req)) {
    // A write that must survive a failover: one WAIT goes out after the
    // writes of each send (`append_wait_locked`); the reply is held until
    // WAIT answered.
    req.waits = true;
    ++unwaited_writes;
  }
  sent_commands += req.owed;
  in_flight.emplace_back(std::move(req));
  return idle;
}

void gateway_state::append_wait_locked() {
  // One WAIT in flight at a time: writes sent meanwhile get the next one,
  // sent when this one answers (`on_replies` flushes then), so a burst of
  // writes shares one WAIT and a slow WAIT (replicas behind or missing)
  // costs one wait-timeout per round, not one per write.
  if (unwaited_writes == 0 || wait_in_flight)
    return;
  unwaited_writes = 0;
  wait_in_flight = true;
  auto ms = std::max<int64_t>(
    1, std::chrono::duration_cast<std::chrono::milliseconds>(
         opts.wait_timeout)
         .count());
  resp::encode(conn.output(), {"WAIT", std::to_string(opts.wait_replicas),
                               std::to_string(ms)});
  request marker;
  marker.kind = request::type::wait;
  marker.owed = 1;
  marker.timeout = opts.wait_timeout + opts.command_timeout;
  marker.sent_at = clock_type::now();
  marker.deadline = marker.sent_at + marker.timeout;
  ++sent_commands;
  in_flight.emplace_back(std::move(marker));
}

void gateway_state::take_in_flight_locked(std::deque<request>& dead) {
  for (auto& r : awaiting)
    dead.emplace_back(std::move(r));
  awaiting.clear();
  for (auto& r : in_flight)
    if (r.kind != request::type::wait)
      dead.emplace_back(std::move(r));
  in_flight.clear();
  unwaited_writes = 0;
  wait_in_flight = false;
}

bool gateway_state::fail_in_flight(const caf::error& err, bool mark_broken) {
  std::deque<request> dead;
  {
    std::lock_guard<std::mutex> guard{mtx};
    take_in_flight_locked(dead);
    if (mark_broken && !dead.empty())
      broken = true;
  }
  for (auto& req : dead)
    fail(req, err);
  return !dead.empty();
}

void gateway_state::settle(request& req) {
  if (req.counted) {
    req.counted = false;
    --slow_requests;
  }
}

bool gateway_state::usable() {
  std::lock_guard<std::mutex> guard{mtx};
  return conn.connected() && !broken;
}

bool gateway_state::send(request req) {
  std::lock_guard<std::mutex> guard{mtx};
  settle(req);
  return enqueue_locked(std::move(req));
}

bool gateway_state::direct_ok_locked() const {
  return !closing && !broken && conn.connected() && slow_requests == 0;
}

void gateway_state::put_direct(request req, std::unique_lock<std::mutex>& guard) {
  apply_timeout(req);
  if (enqueue_locked(std::move(req)))
    conn.send_pending(guard, false);
}

bool gateway_state::try_direct(request& req) {
  // Oversized requests take the message path, where `submit` fails them.
  req.bytes = request_bytes(req);
  if (oversized(req.bytes))
    return false;
  {
    std::unique_lock<std::mutex> guard{mtx};
    if (!direct_ok_locked())
      return false;
    put_direct(std::move(req), guard);
  }
  arm_timer_from_outside();
  return true;
}

bool gateway_state::try_take(caf::mailbox_element& elem) {
  auto& xs = elem.content();
  request::type kind;
  bool takeable = true;
  if (xs.match_elements<cmd_atom, command>()) {
    kind = request::type::single;
  } else if (xs.match_elements<batch_atom, std::vector<command>>()) {
    kind = request::type::batch;
    takeable = !xs.get_as<std::vector<command>>(1).empty();
  } else if (xs.match_elements<eval_atom, script, std::vector<std::string>,
                               std::vector<std::string>>()) {
    kind = request::type::eval;
  } else if (xs.match_elements<each_master_atom, command>()) {
    // Runs as a batch from the mailbox (`gateway.cpp`), in order with the
    // sender's other requests.
    std::lock_guard<std::mutex> guard{mtx};
    ++slow_requests;
    return false;
  } else if (xs.match_elements<cancel_atom>()) {
    // A barrier: requests sent after a cancel must not be canceled by it.
    std::lock_guard<std::mutex> guard{mtx};
    ++slow_requests;
    return false;
  } else {
    return false;
  }
  // Oversized requests take the message path, where `submit` fails them.
  size_t bytes = 0;
  if (kind == request::type::single)
    bytes = bytes_of(xs.get_as<command>(1).args);
  else if (kind == request::type::batch)
    for (auto& c : xs.get_as<std::vector<command>>(1))
      bytes += bytes_of(c.args);
  else
    bytes = bytes_of(xs.get_as<std::vector<std::string>>(2))
            + bytes_of(xs.get_as<std::vector<std::string>>(3));
  takeable = takeable && !oversized(bytes);
  {
    std::unique_lock<std::mutex> guard{mtx};
    if (!takeable || !direct_ok_locked()) {
      ++slow_requests;
      return false;
    }
    request req;
    req.kind = kind;
    switch (kind) {
      case request::type::single:
        req.single = xs.move_if_unshared<command>(1);
        req.timeout = req.single.timeout;
        break;
      case request::type::batch: {
        auto& b = req.b();
        b.cmds = xs.move_if_unshared<std::vector<command>>(1);
        for (auto& c : b.cmds)
          req.timeout = std::max(req.timeout, c.timeout);
        b.replies.reserve(b.cmds.size());
        break;
      }
      case request::type::eval: {
        auto& b = req.b();
        b.scr = xs.move_if_unshared<script>(1);
        b.keys = xs.move_if_unshared<std::vector<std::string>>(2);
        b.args = xs.move_if_unshared<std::vector<std::string>>(3);
        break;
      }
      case request::type::wait: // never a message
        break;
    }
    req.to.self = caf::actor_cast<caf::strong_actor_ptr>(self);
    req.to.source = std::move(elem.sender);
    req.to.stages = std::move(elem.stages);
    req.to.id = elem.mid;
    req.bytes = bytes;
    put_direct(std::move(req), guard);
  }
  arm_timer_from_outside();
  return true;
}

void gateway_state::on_up() {
  if (conn.connects() > 1)
    ++stats.reconnects;
  {
    std::lock_guard<std::mutex> guard{mtx};
    scripts.clear();
    broken = false;
    unwaited_writes = 0;
    wait_in_flight = false;
  }
  stats.connected = true;
  while (!queued.empty()) {
    send(std::move(queued.front()));
    queued.pop_front();
  }
  conn.flush_later();
  arm_timer();
}

void gateway_state::on_down(const caf::error& reason) {
  stats.connected = false;
  auto lost = code_of(reason) == errc::disconnected
              || code_of(reason) == errc::protocol_error;
  if (lost) {
    // Reads in flight go out again after the reconnect (ahead of what
    // waits for it, in their order), within their deadlines; everything
    // else fails: a write may or may not have run.
    auto err = make_error(errc::disconnected, "connection lost before the "
                                              "reply ("
                                                + render(reason) + ")");
    std::deque<request> dead;
    {
      std::lock_guard<std::mutex> guard{mtx};
      take_in_flight_locked(dead);
    }
    std::deque<request> again;
    auto now = coarse_now();
    for (auto& req : dead) {
      if (!closing && retry_safe_after_loss(req)
          && now + opts.reconnect_min < req.deadline) {
        ++stats.lost_retries;
        if (req.body)
          req.body->replies.clear();
        again.emplace_back(std::move(req));
      } else {
        fail(req, err);
      }
    }
    queued.insert(queued.begin(), std::make_move_iterator(again.begin()),
                  std::make_move_iterator(again.end()));
  } else {
    fail_in_flight(reason);
  }
  // A failed connect attempt also fails what waited for it: callers get a
  // clear error now instead of a timeout later.
  auto code = code_of(reason);
  if (code == errc::connect_failed || code == errc::auth_failed
      || code == errc::tls_failed || code == errc::invalid_config) {
    for (auto& req : queued)
      fail(req, reason);
    queued.clear();
  }
}

void gateway_state::on_tick() {
  timer_armed = false;
  auto now = clock_type::now();
  caf::error expired;
  std::deque<request> dead;
  {
    std::lock_guard<std::mutex> guard{mtx};
    if (!in_flight.empty() && in_flight.front().deadline <= now) {
      auto& req = in_flight.front();
      auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                  req.timeout)
                  .count();
      auto what = std::string{"request"};
      if (req.kind == request::type::eval)
        what = "EVALSHA";
      else if (req.kind == request::type::wait)
        what = "WAIT (pulse.redis.wait-replicas)";
      else if (req.kind == request::type::single
               && !req.single.args.empty())
        what = req.single.args.front();
      else if (req.body && !req.body->cmds.empty()
               && !req.body->cmds.front().args.empty())
        what = req.body->cmds.front().args.front();
      expired = make_error(errc::timeout, what + ": no reply within "
                                            + std::to_string(ms) + "ms");
      // Fail the whole pipeline (later replies could not be matched), and
      // write nothing more to this connection.
      take_in_flight_locked(dead);
      broken = true;
    }
  }
  for (auto& r : dead)
    fail(r, expired);
  if (expired)
    conn.reset(expired);
  for (auto i = queued.begin(); i != queued.end();) {
    if (i->deadline <= now) {
      auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                  i->timeout)
                  .count();
      fail(*i, make_error(errc::timeout, "no connection to redis within "
                                           + std::to_string(ms) + "ms"));
      i = queued.erase(i);
    } else {
      ++i;
    }
  }
  arm_timer();
}

void gateway_state::cancel_all() {
  auto err = make_error(errc::canceled, "request canceled");
  for (auto& req : queued)
    fail(req, err);
  queued.clear();
  // Closing the socket also ends a BLOCK read on the server side.
  if (fail_in_flight(err, true))
    conn.reset(err);
}

void gateway_state::close_all() {
  {
    std::lock_guard<std::mutex> guard{mtx};
    closing = true;
  }
  conn.shutdown(); // joins the reader thread first
  auto err = make_error(errc::closed, "gateway is shutting down");
  fail_in_flight(err);
  for (auto& req : queued)
    fail(req, err);
  queued.clear();
}

gateway_stats gateway_state::snapshot() {
  auto result = stats;
  result.sent = sent_commands;
  result.replies = replies;
  result.errors = errors;
  result.script_reloads = script_reloads;
  result.refused_retries = refused_retries;
  result.queued = queued.size();
  result.in_flight = 0;
  std::lock_guard<std::mutex> guard{mtx};
  for (auto& req : in_flight)
    result.in_flight += req.owed;
  result.latency = latency;
  return result;
}

} // namespace pulse::gateway_detail
