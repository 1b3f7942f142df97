#pragma once

/// Messages of the runtime actor (`runtime/runtime_actor.hpp`): what an
/// event-based actor sends to spawn readers, sinks, replicas and pool nodes
/// and to add stream events, without blocking any scheduler thread.

#include <string>
#include <vector>

#include <caf/atom.hpp>
#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "pulse/messages/pool.hpp"
#include "pulse/messages/rmap.hpp"
#include "pulse/messages/streaming.hpp"

namespace pulse {

// -- atoms --------------------------------------------------------------------

/// `(spawn_reader_atom, streams[, reader_options]) -> reader_actor`.
/// Every request of the runtime actor exists with and without its options;
/// without, the configured section applies (`[pulse.streaming]` for
/// readers, sinks and stream adds, `[pulse.pool]` for pool nodes).
using spawn_reader_atom = caf::atom_constant<caf::atom("spawn_rdr")>;

/// `(spawn_sink_atom, name, streams[, sink_options]) -> sink_actor`.
using spawn_sink_atom = caf::atom_constant<caf::atom("spawn_sink")>;

/// `(spawn_map_atom, name[, map_options]) -> replica_actor`, answered once the
/// replica joined (subscribed and loaded the hash).
using spawn_map_atom = caf::atom_constant<caf::atom("spawn_map")>;

/// `(spawn_pool_atom, pool[, pool_options]) -> pool_node_actor`.
using spawn_pool_atom = caf::atom_constant<caf::atom("spawn_pool")>;

/// `(stream_add_atom, stream, event, payload, topic[, stream_options]) ->
/// std::string`: adds one event (`XADD`, with `MULTI`/`PEXPIRE`/`EXEC` when
/// the options set a TTL; in `trim_mode::safe` one `EVALSHA` of
/// `safe_add_script`) and answers with its entry ID.
using stream_add_atom = caf::atom_constant<caf::atom("stream_add")>;

/// `(stream_add_id_atom, stream, id, event, payload, topic[, stream_options])
/// -> std::string`: adds one event under the producer's entry ID `id`
/// (`<ms>-<seq>`, above the stream's last entry), idempotently like
/// `stream::add_with_id`: when Redis refuses the ID as not above the last
/// entry, `XRANGE key id id` is asked, and a retry that finds its own event
/// (same name, payload and topic) answers with `id`. Errors:
/// `errc::invalid_argument` (a bad name or option, or `id` is taken by
/// another event or below the last entry), `errc::redis_error` (e.g. an
/// invalid ID), gateway errors.
using stream_add_id_atom = caf::atom_constant<caf::atom("stream_aid")>;

// -- actor interface ----------------------------------------------------------

/// The runtime actor: the message form of everything the blocking spawn
/// functions and facades do. Spawns run their Redis round trips on a
/// short-lived helper thread, so the requester's thread never blocks; the
/// reply comes when the actor is ready (for a map: joined). Spawned actors
/// are registered with the runtime, which exits them on shutdown; the
/// requester may exit them earlier. Errors are those of the spawn
/// functions (`errc::invalid_argument` for names and options, Redis
/// errors, `errc::timeout` for a map join).
using runtime_actor = caf::typed_actor<
  caf::replies_to<spawn_reader_atom, std::vector<std::string>,
                  reader_options>::with<reader_actor>,
  caf::replies_to<spawn_reader_atom, std::vector<std::string>>::with<
    reader_actor>,
  caf::replies_to<spawn_sink_atom, std::string, std::vector<std::string>,
                  sink_options>::with<sink_actor>,
  caf::replies_to<spawn_sink_atom, std::string,
                  std::vector<std::string>>::with<sink_actor>,
  caf::replies_to<spawn_map_atom, std::string, map_options>::with<
    replica_actor>,
  caf::replies_to<spawn_map_atom, std::string>::with<replica_actor>,
  caf::replies_to<spawn_pool_atom, std::string, pool_options>::with<
    pool_node_actor>,
  caf::replies_to<spawn_pool_atom, std::string>::with<pool_node_actor>,
  caf::replies_to<stream_add_atom, std::string, std::string, std::string,
                  std::string, stream_options>::with<std::string>,
  caf::replies_to<stream_add_atom, std::string, std::string, std::string,
                  std::string>::with<std::string>,
  caf::replies_to<stream_add_id_atom, std::string, std::string, std::string,
                  std::string, std::string, stream_options>::with<std::string>,
  caf::replies_to<stream_add_id_atom, std::string, std::string, std::string,
                  std::string, std::string>::with<std::string>>;


// -- internal atoms (between a package's own actors) -------------------------

/// `(rt_run_atom)`: the runtime actor's one-shot helper runs its spawn.
using rt_run_atom = caf::atom_constant<caf::atom("run")>;

} // namespace pulse
