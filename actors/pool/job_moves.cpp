#include "pulse/actors/pool/job_moves.hpp"

#include "pulse/actors/pool/routing.hpp"
#include "pulse/actors/pool/scripts.hpp"
#include "pulse/runtime/errors.hpp"

namespace pulse {

namespace {

using moved_fn = std::function<void(caf::expected<size_t>)>;

void move_attempt(pool_io& io, pool_core_ptr core, std::string from,
                  job_moves jobs, bool allow_unrouted, int attempt,
                  moved_fn k) {
  if (attempt == 4)
    return k(make_error(errc::redis_error,
                        "pool membership kept changing while moving jobs"));
  auto m = core->members();
  if (m->active.empty() && !allow_unrouted)
    return k(size_t{0}); // nobody to give them to yet
  auto args = move_args(*core, *m, from, *jobs);
  io.eval(pool_scripts::move(), std::move(args),
          [&io, core, from = std::move(from), jobs, allow_unrouted, attempt,
           k](caf::expected<resp::value> r) mutable {
            if (!r)
              return k(std::move(r.error()));
            if (script_status(*r) == "ok" && r->elements.size() > 1)
              return k(static_cast<size_t>(
                pool_routing::parse_i64(r->elements[1].str).value_or(0)));
            // A stale membership: reload it and compute the move again.
            auto again = [&io, core, from = std::move(from), jobs,
                          allow_unrouted, attempt,
                          k](caf::error err) mutable {
              if (err) // stale membership and no fresh one
                return k(std::move(err));
              move_attempt(io, core, std::move(from), jobs, allow_unrouted,
                           attempt + 1, std::move(k));
            };
            reload_members_async(io, core, std::move(again));
          });
}

} // namespace

void reload_members_async(pool_io& io, pool_core_ptr core,
                          std::function<void(caf::error)> k) {
  io.eval(pool_scripts::members(), {},
          [core, k](caf::expected<resp::value> v) {
            if (!v)
              return k(std::move(v.error()));
            core->install(pool_membership::parse(*v));
            k(caf::none);
          });
}

void move_to_targets_async(pool_io& io, pool_core_ptr core, std::string from,
                           job_moves jobs, bool allow_unrouted, moved_fn k) {
  move_attempt(io, std::move(core), std::move(from), std::move(jobs),
               allow_unrouted, 0, std::move(k));
}

void move_owned_async(pool_io& io, pool_core_ptr core, std::string from,
                      bool allow_unrouted, moved_fn k) {
  auto key = core->prefix + "owned:" + from;
  io.call(make_command("SMEMBERS", std::move(key)),
          [&io, core, from = std::move(from), allow_unrouted,
           k](caf::expected<resp::value> keys) mutable {
            if (!keys)
              return k(std::move(keys.error()));
            if (!keys->is_array() || keys->elements.empty())
              return k(size_t{0});
            auto xs = std::make_shared<
              std::vector<std::pair<std::string, std::string>>>();
            for (auto& x : keys->elements)
              xs->emplace_back(std::move(x.str), "*");
            auto go = [&io, core, from = std::move(from), xs, allow_unrouted,
                       k](caf::error err) mutable {
              if (err)
                return k(std::move(err));
              move_attempt(io, core, std::move(from), std::move(xs),
                           allow_unrouted, 0, std::move(k));
            };
            reload_members_async(io, core, std::move(go));
          });
}

} // namespace pulse
