// Jobs that finish, on a pool node: dispatches that wait for the outcome,
// completions sent by handlers and job actors, and kept outcomes.

#include "pulse/actors/pool/node_state.hpp"
#include "pulse/actors/pool/scripts.hpp"
#include "pulse/runtime/errors.hpp"
#include "pulse/runtime/log.hpp"

namespace pulse::node_detail {

namespace ps = pool_scripts;

void node_state::dispatch_wait(std::string key, std::string payload,
                               caf::timespan timeout,
                               caf::response_promise rp) {
  auto id = ++last_request;
  requests.emplace(id, std::move(rp));
  auto addr = self->address();
  disp->dispatch_for_result(
    std::move(key), std::move(payload), timeout,
    [addr, id](caf::expected<std::string> r) {
      auto hdl = caf::actor_cast<pool_node_impl_actor>(addr);
      if (!hdl)
        return;
      if (r)
        caf::anon_send(hdl, pn_result_atom::value, id, std::move(*r));
      else
        caf::anon_send(hdl, pn_done_atom::value, id, std::move(r.error()));
    },
    dispatcher::mode::lead);
}

void node_state::finished(uint64_t id, std::string result) {
  auto i = requests.find(id);
  if (i == requests.end())
    return;
  i->second.deliver(std::move(result));
  requests.erase(i);
}

caf::result<bool> node_state::complete_job(const job& j, bool ok,
                                           std::string value) {
  // Answered when the script returns: completions of many workers overlap.
  auto rp = self->make_response_promise<bool>();
  // A worker on another node learns of it only from its queue: the script
  // also leaves a marker for its resync (`done:<key>`), kept until the
  // worker would have lost its membership anyway.
  bool local = workers.count(j.worker) != 0;
  eval(ps::complete(),
       {j.worker, j.key, std::to_string(j.epoch), ok ? "1" : "0",
        std::move(value), ms_arg(core->opts.result_retention),
        retry_policy(core->opts),
        local ? std::string{"0"} : ms_arg(2 * core->opts.worker_ttl)},
       [this, j, rp](caf::expected<resp::value> r) mutable {
         if (!r) {
           rp.deliver(std::move(r.error()));
           return;
         }
         if (script_status(*r) == "stale") {
           rp.deliver(make_error(errc::not_found,
                                 "job " + j.key + " (epoch "
                                   + std::to_string(j.epoch)
                                   + ") is no longer running on worker "
                                   + j.worker));
           return;
         }
         // A local worker forgets the job before the caller hears back, so
         // a `close` that follows never stops it (messages from this actor
         // arrive in order); its `C` entry may still be on its way.
         auto w = workers.find(j.worker);
         if (w != workers.end())
           self->send(w->second.hdl, pw_completed_atom::value, j.key, j.epoch);
         rp.deliver(true);
       });
  return rp;
}

caf::result<caf::optional<job_outcome>>
node_state::job_result(const std::string& key) {
  auto rp = self->make_response_promise<caf::optional<job_outcome>>();
  call(make_command("GET", core->prefix + "result:" + key),
            [rp](caf::expected<resp::value> r) mutable {
              if (!r)
                rp.deliver(std::move(r.error()));
              else if (r->is_nil() || r->str.empty())
                rp.deliver(caf::optional<job_outcome>{});
              else
                rp.deliver(caf::optional<job_outcome>{
                  job_outcome{r->str[0] == '1', r->str.substr(1)}});
            });
  return rp;
}

} // namespace pulse::node_detail
