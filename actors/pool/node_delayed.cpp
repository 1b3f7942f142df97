// Delayed jobs of a pool node: `dispatch_at` / `dispatch_in` store them in
// the pool's `delayed` sorted set; every full node keeps a timer for the
// earliest one and promotes what is due (see pool_scripts::promote).

#include <algorithm>
#include <cmath>

#include "pulse/actors/pool/node_state.hpp"
#include "pulse/actors/pool/scripts.hpp"
#include "pulse/runtime/errors.hpp"
#include "pulse/runtime/log.hpp"

namespace pulse::node_detail {

namespace ps = pool_scripts;

namespace {

/// Most keys one `promote` call takes.
constexpr size_t promote_batch = 256;

/// Parses a time or score as Redis writes it (an integer, or a
/// double for scores); none if not a finite number.
caf::optional<int64_t> parse_number(const std::string& s) {
  if (auto v = pool_routing::parse_i64(s))
    return *v;
  char* end = nullptr;
  auto d = std::strtod(s.c_str(), &end);
  if (s.empty() || end != s.c_str() + s.size() || !std::isfinite(d))
    return caf::none;
  return static_cast<int64_t>(d);
}

} // namespace

caf::result<int64_t> node_state::dispatch_later(const std::string& key,
                                                const std::string& payload,
                                                int64_t at_ms,
                                                caf::timespan in) {
  if (auto err = core->check_dispatch(key))
    return err;
  if (at_ms < 0 && in.count() < 0)
    return make_error(errc::invalid_argument,
                      "dispatch_in: negative delay for job " + key);
  auto in_ms = std::chrono::duration_cast<std::chrono::milliseconds>(in);
  auto rp = self->make_response_promise<int64_t>();
  eval(ps::schedule_job(),
       {key, payload, std::to_string(at_ms), std::to_string(in_ms.count())},
       [this, rp, key](caf::expected<resp::value> r) mutable {
         deliver(rp, scheduled(key, r));
       });
  return rp;
}

caf::expected<int64_t>
node_state::scheduled(const std::string& key,
                      const caf::expected<resp::value>& r) {
  if (!r)
    return r.error();
  auto st = script_status(*r);
  if (st == "exists")
    return make_error(errc::job_exists,
                      "job " + key + " is already delayed");
  if (st != "ok" || r->elements.size() < 3)
    return dispatch_refusal(st.empty() ? r->str : st, key);
  auto due = parse_number(r->elements[1].str);
  if (!due)
    return make_error(errc::redis_error, "schedule_job: bad due time");
  log::debug("pool job delayed pool={} key={} due_ms={}", core->pool, key,
             *due);
  // This node may be the only one: it promotes too (the notice it
  // published also arrives, so full nodes need nothing more here).
  return *due;
}

void node_state::arm_delay(caf::timespan wait) {
  wait = std::max(caf::timespan{0},
                  std::min<caf::timespan>(wait, core->opts.keepalive_period()));
  auto at = steady_clock::now() + wait;
  if (at >= delay_due && delay_due > steady_clock::now())
    return; // an earlier timer is armed
  delay_due = at;
  self->delayed_send(self, wait, pn_delay_atom::value, ++delay_gen);
}

void node_state::promote_due() {
  if (closed || left || core->opts.client_only)
    return;
  if (promoting) {
    promote_again = true; // the running pass goes on with another
    return;
  }
  promoting = true;
  promote_again = false;
  delay_due = steady_clock::time_point::max(); // this pass re-arms
  promote_round(0);
}

void node_state::promote_end(caf::optional<caf::timespan> wait) {
  promoting = false;
  if (promote_again && !closed && !left) {
    promote_due();
    return;
  }
  if (wait)
    arm_delay(*wait);
}

void node_state::promote_round(int round) {
  if (round >= 16) { // more than 16 full batches due
    promote_end(caf::timespan{std::chrono::milliseconds{1}});
    return;
  }
  eval(ps::due_jobs(), {std::to_string(promote_batch)},
       [this, round](caf::expected<resp::value> r) {
         auto retry = core->opts.requeue_delay;
         if (closed || left) {
           promote_end(caf::none);
           return;
         }
         if (!r || !r->is_array() || r->elements.size() < 2) {
           log::warn("pool delayed jobs not read pool={} node={} error=\"{}\"",
                     core->pool, core->node,
                     r ? "bad due_jobs reply" : render(r.error()));
           promote_end(caf::timespan{retry});
           return;
         }
         auto now_us = parse_number(r->elements[0].str); // an integer: µs
         auto next = parse_number(r->elements[1].str);
         if (!now_us || !next) {
           promote_end(caf::timespan{retry});
           return;
         }
         if (r->elements.size() == 2) {
           // Not due yet (or none: the keep-alive period bounds the wait,
           // so a notice lost with a connection costs no more than that).
           promote_end(
             *next < 0 ? caf::timespan{core->opts.keepalive_period()}
                       : caf::timespan{std::chrono::microseconds{
                         std::max<int64_t>(*next * 1000 - *now_us, 1)}});
           return;
         }
         auto m = core->members();
         std::vector<std::string> args{core->node, std::to_string(m->rev),
                                       admission_arg(core->opts),
                                       ms_arg(retry)};
         for (size_t i = 2; i < r->elements.size(); ++i) {
           auto& key = r->elements[i].str;
           args.push_back(key);
           args.push_back(m->target(key));
         }
         eval(ps::promote(), std::move(args),
              [this, round](caf::expected<resp::value> p) {
                promoted(round, p);
              });
       });
}

void node_state::promoted(int round, const caf::expected<resp::value>& p) {
  auto retry = core->opts.requeue_delay;
  auto st = p ? script_status(*p) : std::string{};
  if (st == "stale") {
    // The membership changed: reload it, then try again.
    refresh([this, round] { promote_round(round + 1); });
    return;
  }
  if (st == "shutdown") {
    promote_end(caf::none);
    return;
  }
  if (st != "ok") {
    log::warn("pool delayed jobs not promoted pool={} node={} error=\"{}\"",
              core->pool, core->node, p ? st : render(p.error()));
    promote_end(caf::timespan{retry});
    return;
  }
  size_t promoted = 0;
  size_t deferred = 0; // waiting for a start slot now (rate limit)
  for (size_t i = 1; i < p->elements.size(); ++i) {
    if (p->elements[i].str == "ok")
      ++promoted;
    else if (p->elements[i].str == "deferred")
      ++deferred;
  }
  if (promoted > 0)
    log::debug("pool delayed jobs promoted pool={} node={} count={}",
               core->pool, core->node, promoted);
  // Keys left due (overloaded, or their key still running and retried
  // later): look again after the requeue delay, not in a busy loop.
  if (promoted + deferred == 0) {
    promote_end(caf::timespan{retry});
    return;
  }
  promote_round(round + 1);
}

} // namespace pulse::node_detail
