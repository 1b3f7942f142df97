#include "bench/set_load.hpp"

#include <functional>
#include <vector>

#include <caf/all.hpp>

#include "bench/common.hpp"

namespace pulse::bench {

caf::behavior set_load_actor(caf::event_based_actor* self, gateway_actor gw,
                             size_t n, size_t window, std::string prefix,
                             std::shared_ptr<const std::string> value,
                             size_t batch_size) {
  struct st {
    size_t sent = 0;
    size_t done = 0;
    bool finished = false;
    caf::response_promise rp;
    std::function<void()> fire;
  };
  auto s = std::make_shared<st>();
  auto finish = [s](bool ok) {
    if (s->finished)
      return;
    s->finished = true;
    s->rp.deliver(ok);
    s->fire = nullptr; // breaks the self-reference
  };
  auto replied = [s, n, finish](bool ok) {
    if (!ok) {
      finish(false);
    } else if (++s->done == n) {
      finish(true);
    } else if (s->sent < n && s->fire) {
      s->fire();
    }
  };
  auto set_of = [=](size_t i) {
    return make_command("SET", prefix + std::to_string(i % 1000), *value);
  };
  s->fire = [=] {
    auto i = s->sent++;
    if (batch_size == 0) {
      self->request(gw, caf::infinite, cmd_atom::value, set_of(i))
        .then([=](const resp::value& v) { replied(!v.is_error()); },
              [=](caf::error&) { finish(false); });
      return;
    }
    std::vector<command> cmds;
    cmds.reserve(batch_size);
    for (size_t j = 0; j < batch_size; ++j)
      cmds.push_back(set_of(j));
    self->request(gw, caf::infinite, batch_atom::value, std::move(cmds))
      .then(
        [=](const std::vector<resp::value>& vs) {
          bool ok = true;
          for (auto& v : vs)
            ok = ok && !v.is_error();
          replied(ok);
        },
        [=](caf::error&) { finish(false); });
  };
  return {
    [=](load_go_atom) {
      s->rp = self->make_response_promise();
      for (size_t i = 0; i < window && i < n && s->fire; ++i)
        s->fire();
    },
  };
}

double set_load(caf::actor_system& sys, const gateway_actor& gw,
                size_t total, size_t actors, size_t window,
                size_t value_bytes, size_t batch_size, caf::timespan stall) {
  auto value = std::make_shared<const std::string>(value_bytes, 'v');
  auto per_request = batch_size > 0 ? batch_size : 1;
  auto per_actor = total / actors / per_request;
  std::vector<caf::actor> loaders;
  for (size_t i = 0; i < actors; ++i)
    loaders.push_back(sys.spawn(set_load_actor, gw, per_actor, window,
                                "k" + std::to_string(i) + ":", value,
                                batch_size));
  auto secs = run_loaders(sys, loaders, caf::make_message(load_go_atom::value),
                          stall);
  if (secs < 0)
    return -1;
  return static_cast<double>(per_actor * actors * per_request) / secs;
}

} // namespace pulse::bench
