#pragma once

/// Internal to pool workers and node cleaners: moving jobs to the worker
/// their key hashes to, without blocking. Each routine is a chain of
/// requests made through a `pool_io` (an actor's awaited requests to the
/// gateway), so an event-based actor on the scheduler runs it between
/// messages.

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "pulse/actors/pool/core.hpp"
#include "pulse/messages/resp.hpp"
#include "pulse/messages/script.hpp"

namespace pulse {

/// Where the asynchronous pool routines send their Redis calls. An
/// implementation runs each call as a request of its actor and passes the
/// reply, or the error (any gateway error, `errc::redis_error`, ...), to
/// the continuation on that actor, one call at a time.
class pool_io {
public:
  /// Receives a call's reply or error.
  using reply_fn = std::function<void(caf::expected<resp::value>)>;

  virtual ~pool_io() = default;

  /// Runs pool script `s` (`EVALSHA`) with the pool's key prefix as its
  /// only key.
  virtual void eval(const script& s, std::vector<std::string> args,
                    reply_fn k)
    = 0;

  /// Runs one command.
  virtual void call(command cmd, reply_fn k) = 0;
};

/// Jobs to move: (key, epoch or "*") pairs.
using job_moves = std::shared_ptr<
  const std::vector<std::pair<std::string, std::string>>>;

/// Reloads the membership (`members` script) into `core`, then runs `k`
/// with the error, if any (Redis errors).
void reload_members_async(pool_io& io, pool_core_ptr core,
                          std::function<void(caf::error)> k);

/// Moves `jobs`, owned by `from`, to the worker each key hashes to now
/// (`move` script, fenced by the membership revision; on a stale
/// membership it reloads it and tries again, up to 4 times). With no
/// worker at all the jobs go to the unrouted set if `allow_unrouted`, else
/// nothing moves. `k` gets the number moved, or a Redis error, or
/// `errc::redis_error` if the membership kept changing.
void move_to_targets_async(pool_io& io, pool_core_ptr core, std::string from,
                           job_moves jobs, bool allow_unrouted,
                           std::function<void(caf::expected<size_t>)> k);

/// Moves every job `from` owns (`SMEMBERS owned:<from>`), reloading the
/// membership first (`members`), then as `move_to_targets_async`. `k` gets
/// the number moved (0 if `from` owns none) or the error.
void move_owned_async(pool_io& io, pool_core_ptr core, std::string from,
                      bool allow_unrouted,
                      std::function<void(caf::expected<size_t>)> k);

} // namespace pulse
