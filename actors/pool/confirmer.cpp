#include "pulse/actors/pool/confirmer.hpp"

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "pulse/actors/pool/scripts.hpp"
#include "pulse/actors/redis/services.hpp"
#include "pulse/runtime/errors.hpp"

namespace pulse {

namespace {

/// At most this many workers' confirms per `confirm_many` call.
constexpr size_t max_groups = 256;
/// A confirm with more arguments goes alone (Lua's `unpack` limit).
constexpr size_t max_group_args = 4000;

/// State of a node's confirmer.
struct confirmer_state {
  /// A worker's confirm waiting for its call.
  struct pending {
    std::vector<std::string> args;
    caf::typed_response_promise<resp::value> rp;
  };
  /// The node's shared state (key prefix).
  pool_core_ptr core;
  /// The runtime's shared gateway.
  gateway_actor gateway;
  /// Confirms waiting for the call in flight to end.
  std::vector<pending> queue;
  /// Whether a call is in flight.
  bool in_flight = false;
};

using confirmer_ptr = pool_confirmer_actor::stateful_pointer<confirmer_state>;

/// Sends the waiting confirms (one call) unless a call is in flight.
void flush(confirmer_ptr self) {
  auto& st = self->state;
  if (st.in_flight || st.queue.empty())
    return;
  auto batch = std::make_shared<std::vector<confirmer_state::pending>>();
  size_t n = 0;
  while (n < st.queue.size() && n < max_groups
         && (n == 0 || st.queue[n].args.size() <= max_group_args))
    ++n;
  if (n > 1 && st.queue[0].args.size() > max_group_args)
    n = 1;
  batch->assign(std::make_move_iterator(st.queue.begin()),
                std::make_move_iterator(st.queue.begin()
                                        + static_cast<ptrdiff_t>(n)));
  st.queue.erase(st.queue.begin(),
                 st.queue.begin() + static_cast<ptrdiff_t>(n));
  st.in_flight = true;
  auto fail_all = [self, batch](caf::error& err) {
    for (auto& p : *batch)
      p.rp.deliver(err);
    self->state.in_flight = false;
    flush(self);
  };
  if (batch->size() == 1) {
    self
      ->request(st.gateway, caf::infinite, eval_atom::value,
                pool_scripts::confirm(),
                st.core->script_keys,
                std::move(batch->front().args))
      .then(
        [self, batch](resp::value& v) {
          batch->front().rp.deliver(std::move(v));
          self->state.in_flight = false;
          flush(self);
        },
        fail_all);
    return;
  }
  std::vector<std::string> args;
  for (auto& p : *batch) {
    args.push_back(std::to_string(p.args.size()));
    for (auto& a : p.args)
      args.push_back(std::move(a));
  }
  self
    ->request(st.gateway, caf::infinite, eval_atom::value,
              pool_scripts::confirm_many(),
              st.core->script_keys, std::move(args))
    .then(
      [self, batch, fail_all](resp::value& v) mutable {
        if (!v.is_array() || v.elements.size() != batch->size()) {
          auto err = make_error(errc::redis_error,
                                "malformed reply of confirm_many");
          return fail_all(err);
        }
        for (size_t i = 0; i < batch->size(); ++i)
          (*batch)[i].rp.deliver(std::move(v.elements[i]));
        self->state.in_flight = false;
        flush(self);
      },
      fail_all);
}

pool_confirmer_actor::behavior_type confirmer_impl(confirmer_ptr self,
                                                   services* rt,
                                                   pool_core_ptr core) {
  self->state.core = std::move(core);
  self->state.gateway = rt->gateway();
  return {
    [self](pcf_confirm_atom, std::vector<std::string>& args)
      -> caf::result<resp::value> {
      auto rp = self->make_response_promise<resp::value>();
      self->state.queue.push_back({std::move(args), rp});
      flush(self);
      return rp;
    },
  };
}

} // namespace

pool_confirmer_actor spawn_pool_confirmer(services& rt, pool_core_ptr core) {
  return rt.system().spawn(confirmer_impl, &rt, std::move(core));
}

} // namespace pulse
