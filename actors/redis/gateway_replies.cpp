// The gateway's replies: matching them to requests in order, re-sending
// scripts after `NOSCRIPT` and requests Redis refused without running them.

#include "pulse/actors/redis/gateway_state.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstring>
#include <string_view>

#include "pulse/actors/redis/resp.hpp"
#include "pulse/runtime/errors.hpp"
#include "pulse/runtime/log.hpp"

namespace pulse::gateway_detail {

caf::error gateway_state::on_replies(std::vector<resp::value>& xs) {
  // Under the lock only the bookkeeping: match replies FIFO and move the
  // finished requests out. Deliveries (allocations, enqueues, wake-ups)
  // happen after releasing it, so writers are not held up; they stay in
  // order because only this thread delivers replies.
  auto& done = finished_;
  std::vector<request_ptr> retries;
  std::vector<request_ptr> refused;
  caf::error result;
  {
    std::unique_lock<std::mutex> guard{mtx};
    // One clock read per chunk of replies: the latency of each request
    // answered in it.
    auto now = clock_type::now();
    for (auto& reply : xs) {
      ++replies;
      if (in_flight.empty()) {
        result = make_error(errc::protocol_error,
                            "reply without a request: " + reply.render());
        break;
      }
      auto& req = in_flight.front();
      auto finish = [&](caf::message msg) {
        latency.observe(now - req.sent_at);
        done.push_back(finished{std::move(req.to), std::move(msg), {}, false});
        in_flight.pop_front();
      };
      auto finish_value = [&](resp::value&& x) {
        latency.observe(now - req.sent_at);
        done.push_back(finished{std::move(req.to), {}, std::move(x), true});
        in_flight.pop_front();
      };
      auto redis_err = [&](std::string text) {
        ++errors;
        return caf::make_message(
          make_error(errc::redis_error, std::move(text)));
      };
      // A replica refuses writes: with Sentinel after a failover, the
      // connection went to a demoted master. Reconnect (through the
      // sentinels); the request itself is retried below.
      if (reply.is_error() && reply.str.compare(0, 8, "READONLY") == 0
          && !result)
        result = make_error(errc::disconnected,
                            conn.endpoint() + " answered READONLY (a "
                              "replica): reconnecting");
      // Refused before running (loading, busy script, failover): send it
      // again later, within its deadline; safe for any command. Batches
      // are not retried (part of one may have run).
      if (reply.is_error() && req.kind != request::type::batch
          && req.kind != request::type::wait
          && refused_before_running(reply.str)
          && coarse_now() + opts.reconnect_min < req.deadline) {
        ++refused_retries;
        refused.push_back(std::make_shared<request>(std::move(req)));
        in_flight.pop_front();
        continue;
      }
      // `wait-replicas`: a write that succeeded waits for the next WAIT.
      auto hold = [&](resp::value* x) {
        if (x != nullptr)
          req.b().held = std::move(*x);
        awaiting.emplace_back(std::move(req));
        in_flight.pop_front();
      };
      switch (req.kind) {
        case request::type::eval:
          if (reply.is_error()
              && reply.str.compare(0, 8, "NOSCRIPT") == 0) {
            // The script cache was flushed: the gateway re-sends it.
            ++script_reloads;
            retries.push_back(std::make_shared<request>(std::move(req)));
            in_flight.pop_front();
            break;
          }
          [[fallthrough]]; // otherwise a reply like any other
        case request::type::single:
          if (reply.is_error())
            finish(redis_err(std::move(reply.str)));
          else if (req.waits)
            hold(&reply);
          else
            finish_value(std::move(reply));
          break;
        case request::type::batch:
          req.body->replies.emplace_back(std::move(reply));
          if (--req.owed == 0) {
            if (req.waits)
              hold(nullptr);
            else
              finish(caf::make_message(std::move(req.body->replies)));
          }
          break;
        case request::type::wait: {
          // The number of replicas that have every write sent before it.
          wait_in_flight = false;
          auto acked = reply.as_integer();
          caf::error short_of;
          if (!acked || *acked < opts.wait_replicas)
            short_of = make_error(
              errc::not_replicated,
              "the write ran on " + conn.endpoint() + ", but WAIT saw "
                + (acked ? std::to_string(*acked) : reply.render())
                + " of " + std::to_string(opts.wait_replicas)
                + " replicas (pulse.redis.wait-replicas) acknowledge it "
                  "within pulse.redis.wait-timeout");
          for (auto& w : awaiting) {
            latency.observe(now - w.sent_at);
            if (short_of) {
              ++errors;
              done.push_back(
                finished{std::move(w.to), caf::make_message(short_of), {},
                         false});
            } else if (w.kind == request::type::batch) {
              done.push_back(finished{
                std::move(w.to),
                caf::make_message(std::move(w.body->replies)), {}, false});
            } else {
              done.push_back(
                finished{std::move(w.to), {}, std::move(w.body->held), true});
            }
          }
          awaiting.clear();
          in_flight.pop_front();
          break;
        }
      }
    }
    // Send what was held back while these requests were in flight (see
    // `enqueue_locked`), before the deliveries.
    conn.send_pending(guard, false);
  }
  for (auto& f : done) {
    if (f.has_value)
      f.to.deliver_value(std::move(f.value));
    else
      f.to.deliver(std::move(f.msg));
  }
  done.clear();
  if (!retries.empty() || !refused.empty())
    if (auto hdl = caf::actor_cast<caf::actor>(self_addr)) {
      for (auto& r : retries)
        // Through the gateway (direct callers have no `to.self`).
        caf::anon_send(hdl, gw_resend_atom::value, std::move(r));
      for (auto& r : refused)
        caf::delayed_anon_send(hdl, opts.reconnect_min,
                               gw_retry_atom::value, std::move(r));
    }
  xs.clear();
  return result;
}

bool gateway_state::refused_before_running(const std::string& text) {
  for (auto prefix :
       {"LOADING", "BUSY", "TRYAGAIN", "MASTERDOWN", "READONLY"})
    if (text.compare(0, std::strlen(prefix), prefix) == 0)
      return true;
  return false;
}

bool gateway_state::read_only_command(const std::vector<std::string>& args) {
  // Commands without side effects (sorted, upper case): sent twice, they
  // answer alike. XREADGROUP is not among them (it moves the group).
  static constexpr std::array<const char*, 41> names{{
    "DBSIZE",    "ECHO",      "EXISTS",   "GET",     "GETRANGE", "HEXISTS",
    "HGET",      "HGETALL",   "HKEYS",    "HLEN",    "HMGET",    "HSCAN",
    "HSTRLEN",   "HVALS",     "LINDEX",   "LLEN",    "LRANGE",   "MGET",
    "PING",      "PTTL",      "SCAN",     "SCARD",   "SISMEMBER", "SMEMBERS",
    "SSCAN",     "STRLEN",    "TIME",     "TTL",     "TYPE",     "XINFO",
    "XLEN",      "XPENDING",  "XRANGE",   "XREAD",   "XREVRANGE", "ZCARD",
    "ZCOUNT",    "ZRANGE",    "ZRANGEBYSCORE", "ZRANK", "ZSCORE",
  }};
  if (args.empty() || args.front().size() > 16)
    return false;
  std::string name = args.front();
  for (auto& ch : name)
    ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  return std::binary_search(names.begin(), names.end(), name,
                            [](const auto& x, const auto& y) {
                              return std::string_view{x} < std::string_view{y};
                            });
}

bool gateway_state::retry_safe_after_loss(const request& req) {
  switch (req.kind) {
    case request::type::single:
      return read_only_command(req.single.args);
    case request::type::batch:
      return req.body && !req.body->cmds.empty()
             && std::all_of(req.body->cmds.begin(), req.body->cmds.end(),
                            [](const command& c) {
                              return read_only_command(c.args);
                            });
    case request::type::eval:
    case request::type::wait:
      return false;
  }
  return false;
}

void gateway_state::retry_refused(request req) {
  if (closing) {
    fail(req, make_error(errc::closed, "gateway is shutting down"));
  } else if (coarse_now() >= req.deadline) {
    fail(req, make_error(errc::timeout, "Redis kept refusing the request "
                                        "(loading, busy or failing over)"));
  } else if (usable()) {
    send(std::move(req));
    conn.flush_later();
  } else {
    queued.emplace_front(std::move(req));
  }
}

void gateway_state::resend(request req) {
  {
    std::lock_guard<std::mutex> guard{mtx};
    scripts.erase(req.body->scr.sha1);
  }
  if (closing) {
    fail(req, make_error(errc::closed, "gateway is shutting down"));
  } else if (usable()) {
    send(std::move(req));
    conn.flush_later(); // rare: always flush
  } else {
    queued.emplace_front(std::move(req));
  }
}

} // namespace pulse::gateway_detail
