#pragma once

/// The cluster router's state and its node handling (topology refresh,
/// redirects, routing of one request), shared by `cluster_router.cpp`
/// (requests and the actor) and `cluster_router_nodes.cpp`. Internal.

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <caf/send.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "pulse/actors/redis/cluster_topology.hpp"
#include "pulse/actors/redis/gateway.hpp"
#include "pulse/messages/cluster.hpp"
#include "pulse/runtime/errors.hpp"

namespace pulse::cluster_detail {

/// Where a routed request's outcome goes.
using routed_fn = std::function<void(caf::expected<resp::value>)>;

/// Redirects one request may follow before it fails.
constexpr int max_redirects = 5;

/// The router's state (see `spawn_cluster_gateway`).
struct router_state {
  /// The configured options (cluster mode on).
  redis_options opts;
  /// The role of the node gateways (pipelined or blocking).
  gateway_role role = gateway_role::pipelined;
  /// Seeds, `host:port` each.
  std::vector<std::string> seeds;
  /// One gateway per node that was ever used, by `host:port`.
  std::map<std::string, gateway_actor> nodes;
  /// The slot table; valid once `have_table`.
  cluster::slot_table table;
  /// Whether a `CLUSTER SLOTS` reply was read.
  bool have_table = false;
  /// Where keyless commands go while it is a master of the table (empty:
  /// the table's first master); see `addr_for`.
  std::string keyless;
  /// Whether a refresh is running.
  bool refreshing = false;
  /// Whether another refresh was asked for while one ran.
  bool refresh_again = false;
  /// Requests waiting for the first table.
  std::vector<std::function<void(caf::error)>> waiting;
  /// Requests not answered yet: failed with `errc::closed` on exit.
  std::map<uint64_t, std::function<void(caf::error)>> open;
  /// The ID of the last open request.
  uint64_t next_id = 0;
  /// `MOVED` redirects followed.
  uint64_t moved = 0;
  /// `ASK` redirects followed.
  uint64_t asks = 0;
  /// Slot table refreshes made.
  uint64_t refreshes = 0;
  /// Refreshes in a row that found no node answering (0 after a success).
  uint64_t refresh_failures = 0;
  /// Refreshes that found no node answering, in all.
  uint64_t refresh_failures_total = 0;
  /// A refresh waits for its back-off after failed ones (`refresh_tick`).
  bool refresh_scheduled = false;
  /// After a failed refresh, none starts before this.
  std::chrono::steady_clock::time_point refresh_not_before;
  /// Node gateways closed (node gone from the topology, or a seed or
  /// replica that did not answer a refresh).
  uint64_t dropped = 0;
  /// Requests sent again after `TRYAGAIN` (a slot in migration).
  uint64_t tryagains = 0;
  /// Retries waiting for their delay (`retry_later`), by ID.
  std::map<uint64_t, std::function<void()>> later;
  /// The ID of the last delayed retry.
  uint64_t next_later = 0;

  /// Fails every waiting and open request with `errc::closed` and stops
  /// the node gateways.
  ~router_state() {
    auto err = make_error(errc::closed, "cluster gateway closed");
    for (auto& f : waiting)
      f(err);
    auto xs = std::move(open);
    for (auto& kv : xs)
      kv.second(err);
    for (auto& kv : nodes)
      caf::anon_send_exit(kv.second, caf::exit_reason::user_shutdown);
  }

  /// The actor's name in CAF's logs.
  static inline const char* name = "pulse.cluster_router";
};

/// The router actor.
using router_ptr = cluster_router_actor::stateful_pointer<router_state>;

/// Sends the request to a node's gateway, answering `ok` or `err`.
using send_fn = std::function<void(const gateway_actor&,
                                   std::function<void(resp::value&)>,
                                   std::function<void(caf::error&)>)>;

/// The host part of `host:port` (brackets of an IPv6 host removed).
std::string router_host_of(const std::string& addr);

/// The gateway of node `addr` (`host:port`), spawned on first use.
gateway_actor node_gw(router_ptr self, const std::string& addr);

/// Runs `f` on the router after `delay` (a message to itself).
void retry_later(router_ptr self, caf::timespan delay,
                 std::function<void()> f);

/// Runs and forgets the delayed retry `id` (`cluster_later_atom`).
void run_later(router_ptr self, uint64_t id);

/// Reads `CLUSTER SLOTS` from the known masters, then the seeds, until one
/// answers; one refresh at a time (a request for another while one runs
/// starts one more afterwards). After a refresh that found no node
/// answering, the next one waits a back-off (`reconnect_min` doubling up
/// to `reconnect_max`; `cluster_rtick_atom`). A successful refresh closes
/// the gateways of nodes no longer in the table; one that fails closes
/// those of seeds and replicas that did not answer (tried again by the
/// next refresh), so no connection to a dead node retries forever.
void refresh(router_ptr self);

/// Starts the refresh scheduled after a back-off (`cluster_rtick_atom`,
/// `messages/cluster.hpp`).
void refresh_tick(router_ptr self);

/// Closes the gateway of node `addr` (`errc::closed` for what it still
/// holds) and forgets it; logged at info level, or at debug level when
/// `per_attempt` (a seed closed after every failed refresh).
void drop_node(router_ptr self, const std::string& addr, const char* why,
               bool per_attempt = false);

/// Runs `f` once a slot table exists (at once, or after the first refresh;
/// with its error when no node answered).
void when_ready(router_ptr self, std::function<void(caf::error)> f);

/// The master owning `slot`; for none, the keyless node (`keyless` while
/// it is a master of the table, else the first master: always the same one
/// while it works, so a `SCAN` cursor stays on the node that made it).
std::string addr_for(router_state& st, std::optional<uint16_t> slot);

/// Sends a routed request again: to `ask` after `ASKING` (empty: to the
/// slot's owner), as redirect number `hops`.
using retry_fn = std::function<void(std::string ask, int hops)>;

/// Handles a failed request from node `from`: follows `MOVED` (table
/// update, refresh, `retry("", hops + 1)`) and `ASK` (`retry(addr, hops +
/// 1)`) up to `max_redirects`; after `TRYAGAIN` (a multi-key request while
/// its slot migrates: the importing node lacks some of its keys) sends it
/// again to the slot's owner after `reconnect_min` (`retry("", 0)`: each
/// try meets `ASK` first), up to `until`; refreshes after lost
/// connections and `CLUSTERDOWN`; else `done(err)`.
void on_failure(router_ptr self, const caf::error& err,
                const std::string& from, int hops,
                std::chrono::steady_clock::time_point until,
                const routed_fn& done, const retry_fn& retry);

/// Sends a request (by `send`: a command or a script) to the node owning
/// `slot`, or `as_cmd` after `ASKING` to `ask`, and follows redirects;
/// `TRYAGAIN` is retried until `until` (see `on_failure`).
void run_routed(router_ptr self, std::optional<uint16_t> slot,
                std::shared_ptr<command> as_cmd, send_fn make_request,
                routed_fn done, int hops, std::string ask,
                std::chrono::steady_clock::time_point until);

/// Answers `(each_master_atom, cmd)`: sends `cmd` (as a batch of one, so
/// a Redis error reply stays a reply) to every master serving slots, in
/// parallel, and calls `done` with the replies in `slot_table::serving`
/// order, or with the first failure (a lost connection also refreshes the
/// table). `cluster_router_each.cpp`.
void route_each_master(
  router_ptr self, command cmd,
  std::function<void(caf::expected<std::vector<resp::value>>)> done);

/// Answers `(scan_keys_atom, q)`: walks every serving master's `SCAN`
/// cursor in parallel (`detail::walk_scan`) and calls `done` with all keys
/// (sorted, each once; `complete` only when every walk reached cursor 0),
/// or with the first failure. `cluster_router_each.cpp`.
void route_scan(router_ptr self, scan_query q,
                std::function<void(caf::expected<scan_result>)> done);

} // namespace pulse::cluster_detail
