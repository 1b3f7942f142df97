#include "pulse/actors/streaming/subscription.hpp"

#include <caf/all.hpp>

#include "pulse/runtime/errors.hpp"

namespace pulse {

struct subscription::shared_state {
  std::mutex mtx;
  std::condition_variable cv;
  std::deque<event> events;
  /// Reply of the batch being consumed; answered once `events` drained.
  caf::response_promise pending;
};

namespace {


caf::behavior facade_subscriber(caf::event_based_actor* self,
                                std::shared_ptr<subscription::shared_state> st) {
  return {
    [self, st](event_batch& batch) {
      auto rp = self->make_response_promise();
      std::lock_guard<std::mutex> guard{st->mtx};
      for (auto& ev : batch.events)
        st->events.push_back(std::move(ev));
      st->pending = rp;
      st->cv.notify_all();
    },
    [st](drained_atom) {
      caf::response_promise rp;
      {
        std::lock_guard<std::mutex> guard{st->mtx};
        rp = std::move(st->pending);
        st->pending = caf::response_promise{};
      }
      if (rp.pending())
        rp.deliver(true);
    },
  };
}

} // namespace

subscription::subscription(caf::actor_system& sys, caf::actor source)
  : sys_(sys),
    source_(std::move(source)),
    state_(std::make_shared<shared_state>()) {
  sub_ = sys.spawn(facade_subscriber, state_);
}

caf::error subscription::subscribe() {
  caf::scoped_actor self{sys_};
  caf::error result;
  self->request(source_, std::chrono::seconds{10}, sub_atom::value,
                caf::actor_cast<event_subscriber_actor>(sub_))
    .receive([](bool) {}, [&](caf::error& err) { result = std::move(err); });
  return result;
}

caf::expected<std::unique_ptr<subscription>>
subscription::attach(caf::actor_system& sys, const reader_actor& reader) {
  std::unique_ptr<subscription> result{
    new subscription(sys, caf::actor_cast<caf::actor>(reader))};
  if (auto err = result->subscribe())
    return err;
  return result;
}

caf::expected<std::unique_ptr<subscription>>
subscription::attach(caf::actor_system& sys, const sink_actor& sink) {
  std::unique_ptr<subscription> result{
    new subscription(sys, caf::actor_cast<caf::actor>(sink))};
  if (auto err = result->subscribe())
    return err;
  return result;
}

subscription::~subscription() {
  caf::anon_send(source_, unsub_atom::value,
                 caf::actor_cast<event_subscriber_actor>(sub_));
  caf::anon_send_exit(sub_, caf::exit_reason::user_shutdown);
}

caf::optional<event> subscription::next(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> guard{state_->mtx};
  if (!state_->cv.wait_for(guard, timeout,
                           [&] { return !state_->events.empty(); }))
    return caf::none;
  auto ev = std::move(state_->events.front());
  state_->events.pop_front();
  if (state_->events.empty())
    caf::anon_send(sub_, drained_atom::value);
  return ev;
}

void subscription::ack(const event& ev) {
  caf::anon_send(source_, ack_atom::value, ev.stream, ev.id);
}

void subscription::nack(const event& ev, std::string error) {
  caf::anon_send(source_, nack_atom::value, ev.stream, ev.id,
                 std::move(error));
}

} // namespace pulse
