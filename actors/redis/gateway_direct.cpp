#include "pulse/actors/redis/gateway.hpp"

#include <algorithm>
#include <atomic>
#include <thread>

#include "pulse/actors/redis/gateway_state.hpp"
#include "pulse/actors/redis/reader_crew.hpp"
#include "pulse/runtime/errors.hpp"

namespace pulse::gateway_detail {

namespace {

/// Callers polling for their reply right now (see `wait_slot`).
std::atomic<unsigned> polling_callers{0};

/// At most this many callers poll at once; the others sleep at once, so
/// many blocking threads do not take the CPU from the reader threads and
/// Redis (measured with 8 threads on 2 cores: -16 % without this limit).
unsigned max_polling_callers() {
  static const unsigned n = std::max(1u, std::thread::hardware_concurrency()
                                           / 2);
  return n;
}

// Waits for a direct call's reply: polls for up to `spin` (yielding the
// CPU) unless enough other callers are polling, then sleeps on the slot's
// condition variable. A finite `timeout` bounds the wait on top of the
// gateway's own command timeout.
caf::message wait_slot(direct_slot& slot, caf::timespan spin,
                       caf::duration timeout) {
  if (spin.count() > 0) {
    if (polling_callers.fetch_add(1, std::memory_order_relaxed)
        < max_polling_callers()) {
      auto until = clock_type::now() + spin;
      while (!slot.ready.load(std::memory_order_acquire)
             && clock_type::now() < until)
        std::this_thread::yield();
    }
    polling_callers.fetch_sub(1, std::memory_order_relaxed);
  }
  std::unique_lock<std::mutex> guard{slot.mtx};
  if (timeout.is_zero() || !timeout.valid()) {
    slot.cv.wait(guard, [&] { return slot.done; });
  } else {
    auto d = std::chrono::nanoseconds{timeout.count};
    switch (timeout.unit) {
      case caf::time_unit::seconds: d = std::chrono::seconds{timeout.count}; break;
      case caf::time_unit::milliseconds: d = std::chrono::milliseconds{timeout.count}; break;
      case caf::time_unit::microseconds: d = std::chrono::microseconds{timeout.count}; break;
      default: break;
    }
    if (!slot.cv.wait_for(guard, d, [&] { return slot.done; }))
      return caf::make_message(
        make_error(errc::timeout, "no reply from the gateway in time"));
  }
  return std::move(slot.result);
}

template <class T>
caf::expected<T> unpack(caf::message msg) {
  if (msg.match_elements<T>())
    return std::move(msg.get_mutable_as<T>(0));
  if (msg.match_elements<caf::error>())
    return std::move(msg.get_mutable_as<caf::error>(0));
  return make_error(errc::protocol_error, "unexpected direct reply");
}

} // namespace

} // namespace pulse::gateway_detail

namespace pulse {

using namespace gateway_detail;

struct gateway_direct::impl {
  std::weak_ptr<gateway_state> state;

  // Tries to hand `req` to the gateway directly; on success waits for and
  // returns the reply. `none` means "not taken, use messages" (and `req` is
  // intact).
  caf::optional<caf::message> run(request& req, caf::duration timeout) {
    auto st = state.lock();
    if (!st)
      return caf::none;
    auto slot = std::make_shared<direct_slot>();
    req.to.slot = slot;
    if (!st->try_direct(req)) {
      req.to.slot = nullptr;
      return caf::none;
    }
    auto spin = st->opts.reply_spin;
    auto crew = st->conn.lead_crew();
    st.reset(); // do not keep the gateway's state alive while waiting
    // Reads the reply on this thread when the reader thread is idle,
    // polling for it while few other callers poll (see `wait_slot`).
    if (crew) {
      auto lead_spin = spin;
      if (lead_spin.count() > 0
          && polling_callers.fetch_add(1, std::memory_order_relaxed)
               >= max_polling_callers())
        lead_spin = caf::timespan{0};
      crew->lead(slot->ready, lead_spin,
                 detail::reader_crew::clock_type::now()
                   + detail::reader_crew::lead_bound);
      if (spin.count() > 0)
        polling_callers.fetch_sub(1, std::memory_order_relaxed);
      crew.reset();
    }
    return wait_slot(*slot, spin, timeout);
  }
};

namespace {

/// Hands `req` to the gateway without waiting; `fn` gets the reply.
bool run_async(const std::weak_ptr<gateway_state>& state, request& req,
               std::function<void(caf::expected<resp::value>)> fn) {
  auto st = state.lock();
  if (!st)
    return false;
  auto slot = std::make_shared<direct_slot>();
  slot->callback = [fn = std::move(fn)](caf::message msg) {
    fn(unpack<resp::value>(std::move(msg)));
  };
  req.to.slot = slot;
  if (st->try_direct(req))
    return true;
  req.to.slot = nullptr;
  return false;
}

} // namespace

bool gateway_direct::call_async(
  command& cmd, std::function<void(caf::expected<resp::value>)> fn) {
  request req;
  req.kind = request::type::single;
  req.timeout = cmd.timeout;
  req.single = std::move(cmd);
  if (run_async(impl_->state, req, std::move(fn)))
    return true;
  cmd = std::move(req.single);
  return false;
}

bool gateway_direct::eval_async(
  const script& scr, std::vector<std::string>& keys,
  std::vector<std::string>& args,
  std::function<void(caf::expected<resp::value>)> fn) {
  request req;
  req.kind = request::type::eval;
  req.b().scr = scr;
  req.b().keys = std::move(keys);
  req.b().args = std::move(args);
  if (run_async(impl_->state, req, std::move(fn)))
    return true;
  keys = std::move(req.body->keys);
  args = std::move(req.body->args);
  return false;
}

caf::optional<caf::expected<resp::value>>
gateway_direct::call(command& cmd, caf::duration timeout) {
  request req;
  req.kind = request::type::single;
  req.timeout = cmd.timeout;
  req.single = std::move(cmd);
  auto msg = impl_->run(req, timeout);
  if (!msg) {
    cmd = std::move(req.single);
    return caf::none;
  }
  return unpack<resp::value>(std::move(*msg));
}

caf::optional<caf::expected<std::vector<resp::value>>>
gateway_direct::batch(std::vector<command>& cmds, caf::duration timeout) {
  if (cmds.empty())
    return caf::expected<std::vector<resp::value>>{std::vector<resp::value>{}};
  request req;
  req.kind = request::type::batch;
  for (auto& c : cmds)
    req.timeout = std::max(req.timeout, c.timeout);
  req.b().replies.reserve(cmds.size());
  req.b().cmds = std::move(cmds);
  auto msg = impl_->run(req, timeout);
  if (!msg) {
    cmds = std::move(req.body->cmds);
    return caf::none;
  }
  return unpack<std::vector<resp::value>>(std::move(*msg));
}

caf::optional<caf::expected<resp::value>>
gateway_direct::eval(const script& scr, std::vector<std::string>& keys,
                     std::vector<std::string>& args, caf::duration timeout) {
  request req;
  req.kind = request::type::eval;
  req.b().scr = scr;
  req.b().keys = std::move(keys);
  req.b().args = std::move(args);
  auto msg = impl_->run(req, timeout);
  if (!msg) {
    keys = std::move(req.body->keys);
    args = std::move(req.body->args);
    return caf::none;
  }
  return unpack<resp::value>(std::move(*msg));
}

namespace gateway_detail {

gateway_direct_ptr make_direct(std::weak_ptr<gateway_state> state) {
  auto x = std::make_shared<gateway_direct::impl>();
  x->state = std::move(state);
  return std::make_shared<gateway_direct>(std::move(x));
}

} // namespace gateway_detail

} // namespace pulse
