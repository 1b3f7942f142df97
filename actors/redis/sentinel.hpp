#pragma once

/// Internal: Redis Sentinel support for the connect helper and the link
/// (`pulse.redis.sentinels`, `master-name`, `sentinel-password`). Not part
/// of the public API.
///
/// Every connection made while sentinels are configured:
/// 1. subscribes to `+switch-master` on the first sentinel that answers
///    (`SUBSCRIBE +switch-master`), so no failover after step 2 is missed;
/// 2. asks the sentinels `SENTINEL GET-MASTER-ADDR-BY-NAME <name>` and
///    takes the answer with the highest config epoch (`ask_master`);
/// 3. connects to that address and requires `ROLE` to say `master`
///    (`connect_node`), asking again every 100 ms within the connect timeout.
/// While connected, a `sentinel_watch` reads the subscription: a
/// `+switch-master` for our master name (or, after losing the sentinel, a
/// different master named by the sentinels) makes the link reconnect, which
/// runs the steps above again.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include <caf/error.hpp>
#include <caf/expected.hpp>

#include "pulse/actors/redis/connect.hpp"
#include "pulse/actors/redis/wire.hpp"
#include "pulse/messages/options.hpp"

namespace pulse::detail {

/// A TCP endpoint named by the configuration or a sentinel.
struct host_port {
  /// Host name or address (IPv6 without brackets).
  std::string host;
  /// TCP port.
  uint16_t port = 0;

  /// Returns `host:port` (`[v6]:port`), as `redis_options::endpoint`.
  std::string text() const;
};

/// The text of `err` without its code: its context string if it has one,
/// else the rendered error.
std::string error_text(const caf::error& err);

/// Parses one `pulse.redis.sentinels` entry: `host:port` or `[v6]:port`.
/// Errors: `errc::invalid_config` naming the entry.
caf::expected<host_port> parse_sentinel(const std::string& x);

/// Checks the Sentinel options: every entry parses, `master-name` is set
/// when sentinels are, `wait-timeout` is at least 1 ms. Errors:
/// `errc::invalid_config` naming the option.
caf::error check_sentinel_options(const redis_options& opts);

/// Asks every sentinel in order (each within a share of the time left, at
/// least 200 ms) `SENTINEL GET-MASTER-ADDR-BY-NAME <master-name>` and
/// `SENTINEL MASTER <master-name>` (for its `config-epoch`), after
/// `AUTH <sentinel-password>` when set, and returns the address named with
/// the highest epoch (right after a failover, a sentinel that has not heard
/// of it yet still names the old master). Errors: `errc::no_master` when
/// the sentinels that answered do not know the name;
/// `errc::connect_failed` when none answered (each named with its cause);
/// `errc::auth_failed` when AUTH was refused.
caf::expected<host_port>
ask_master(const redis_options& opts,
           std::chrono::steady_clock::time_point until);

/// Opens a connection to the first sentinel that answers and subscribes it
/// to `+switch-master`. Errors: `errc::connect_failed` naming each
/// sentinel's cause.
caf::expected<wire_ptr>
subscribe_switch_master(const redis_options& opts,
                        std::chrono::steady_clock::time_point until);

/// `connect_redis` with sentinels (see the steps above), within
/// `opts.connect_timeout`. The result holds the subscription in `watch`.
/// A `hint` (`host:port`, the new master a `+switch-master` named) is
/// tried first, with the ROLE check: right after a failover, sentinels
/// that have not heard of it yet still name the old master, which keeps
/// saying ROLE master for 10+ s.
caf::expected<connected_socket>
connect_via_sentinels(const redis_options& opts, const std::string& hint = {});

/// Watches a `+switch-master` subscription on its own thread for one
/// connection. Calls `on_switch` once (from that thread) when the master
/// named `opts.master_name` moved: a `+switch-master` message for it, or,
/// after the sentinel connection was lost and a new subscription made, the
/// sentinels naming another address than `master`. Lost sentinel
/// connections are re-made with back-off (`reconnect_min` to
/// `reconnect_max`) until stopped; meanwhile the data connection stays.
class sentinel_watch {
public:
  /// Starts the thread on the subscribed connection `sub`.
  /// `on_switch` gets the reason and the new master's `host:port`.
  sentinel_watch(wire_ptr sub, redis_options opts, std::string master,
                 std::function<void(caf::error, std::string)> on_switch);

  /// Stops and joins the thread (`stop`).
  ~sentinel_watch();

  sentinel_watch(const sentinel_watch&) = delete;
  sentinel_watch& operator=(const sentinel_watch&) = delete;

  /// Ends the subscription and joins the thread; `on_switch` is not called
  /// after it returns.
  void stop();

private:
  void run();
  bool resubscribe();

  redis_options opts_;
  std::string master_;
  std::function<void(caf::error, std::string)> on_switch_;
  /// Guards `conn_` and `stopped_`.
  std::mutex mtx_;
  std::condition_variable cv_;
  bool stopped_ = false;
  wire_ptr conn_;
  std::thread thread_;
};

} // namespace pulse::detail
