#pragma once

/// Internal: the connection lifecycle shared by the gateway and pub/sub
/// brokers. Not part of the public API.

#include <cstdint>
#include <functional>
#include <string>

#include <caf/atom.hpp>
#include <caf/error.hpp>
#include <caf/io/broker.hpp>
#include <caf/io/connection_handle.hpp>
#include <caf/message_handler.hpp>

#include "runtime/backoff.hpp"
#include "runtime/config.hpp"
#include "runtime/resp.hpp"

namespace pulse::detail {

using link_up_atom = caf::atom_constant<caf::atom("link_up")>;
using link_fail_atom = caf::atom_constant<caf::atom("link_fail")>;
using link_retry_atom = caf::atom_constant<caf::atom("link_retry")>;

/// One Redis connection owned by a broker. Connects from a detached helper
/// actor (`connect_redis` blocks), adopts the socket as a scribe, decodes
/// replies and reconnects with exponential back-off and jitter.
class link {
public:
  using reply_fn = std::function<void(resp::value&&)>;
  using up_fn = std::function<void()>;
  using down_fn = std::function<void(const caf::error&)>;

  link(caf::io::broker* self, redis_options opts, std::string role);

  /// Installs the callbacks: a decoded reply, the connection came up, the
  /// connection went down (or a connect attempt failed) with a reason.
  void callbacks(reply_fn on_reply, up_fn on_up, down_fn on_down);

  /// Starts connecting unless connected or already connecting.
  void connect();

  /// Closes the connection on purpose (e.g. after a timeout) and reconnects
  /// at once. Calls `on_down(reason)`.
  void reset(const caf::error& reason);

  /// Closes the connection for good (actor shutting down).
  void shutdown();

  /// Appends `args` to the write buffer and flushes. Pre: `connected()`.
  void write(const std::vector<std::string>& args);

  /// Flushes the write buffer.
  void flush();

  bool connected() const noexcept { return connected_; }
  int64_t client_id() const noexcept { return client_id_; }
  uint64_t connects() const noexcept { return connects_; }
  const redis_options& opts() const noexcept { return opts_; }

  /// Message handlers for the link's own messages; add them to the broker's
  /// behavior with `.or_else(link.handlers())`.
  caf::message_handler handlers();

private:
  void on_data(const std::vector<char>& buf);
  void drop(const caf::error& reason, bool retry_now);
  void schedule_retry(bool now);

  caf::io::broker* self_;
  redis_options opts_;
  std::string role_;
  reply_fn on_reply_;
  up_fn on_up_;
  down_fn on_down_;
  resp::decoder decoder_;
  backoff backoff_;
  caf::io::connection_handle hdl_;
  bool connected_ = false;
  bool connecting_ = false;
  bool stopped_ = false;
  uint64_t epoch_ = 0;
  uint64_t connects_ = 0;
  int64_t client_id_ = 0;
};

} // namespace pulse::detail
