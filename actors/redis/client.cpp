#include "pulse/actors/redis/client.hpp"

#include <caf/actor_system.hpp>

namespace pulse {

client::client(caf::actor_system& sys, gateway_actor gw, caf::duration timeout)
  : self_(sys), gw_(std::move(gw)), timeout_(timeout) {
  if (gw_)
    self_->request(gw_, std::chrono::seconds{5}, direct_atom::value)
      .receive([this](gateway_direct_ptr& x) { direct_ = std::move(x); },
               [](caf::error&) {});
}

client::client(caf::actor_system& sys, gateway_actor gw, caf::timespan timeout)
  : client(sys, std::move(gw), caf::duration{timeout}) {
  // nop
}

namespace {

template <class T, class... Ts>
caf::expected<T> blocking_request(caf::scoped_actor& self,
                                  const gateway_actor& gw,
                                  caf::duration timeout, Ts&&... xs) {
  caf::expected<T> result{T{}};
  self->request(gw, timeout, std::forward<Ts>(xs)...)
    .receive([&](T& x) { result = std::move(x); },
             [&](caf::error& err) { result = std::move(err); });
  return result;
}

} // namespace

caf::expected<resp::value> client::call(command cmd) {
  if (direct_)
    if (auto r = direct_->call(cmd, timeout_))
      return std::move(*r);
  return blocking_request<resp::value>(self_, gw_, timeout_, cmd_atom::value,
                                       std::move(cmd));
}

caf::expected<std::vector<resp::value>>
client::batch(std::vector<command> cmds) {
  if (direct_)
    if (auto r = direct_->batch(cmds, timeout_))
      return std::move(*r);
  return blocking_request<std::vector<resp::value>>(self_, gw_, timeout_,
                                                    batch_atom::value,
                                                    std::move(cmds));
}

caf::expected<resp::value> client::eval(const script& scr,
                                        std::vector<std::string> keys,
                                        std::vector<std::string> args) {
  if (direct_)
    if (auto r = direct_->eval(scr, keys, args, timeout_))
      return std::move(*r);
  return blocking_request<resp::value>(self_, gw_, timeout_, eval_atom::value,
                                       scr, std::move(keys), std::move(args));
}

caf::expected<std::vector<resp::value>> client::each_master(command cmd) {
  return blocking_request<std::vector<resp::value>>(
    self_, gw_, timeout_, each_master_atom::value, std::move(cmd));
}

caf::expected<scan_result> client::scan(scan_query q) {
  return blocking_request<scan_result>(self_, gw_, timeout_,
                                       scan_keys_atom::value, std::move(q));
}

caf::expected<gateway_stats> client::stats() {
  return blocking_request<gateway_stats>(self_, gw_, timeout_,
                                         stats_atom::value);
}

} // namespace pulse
