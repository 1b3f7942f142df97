#pragma once

/// Internal to pool nodes: the dispatches waiting for their job's outcome
/// (`dispatch_and_wait` and its async and message forms), by dispatch ID.
/// The completion records that end them arrive on the node's channel.

#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include <caf/expected.hpp>

namespace pulse {

/// Waiters for job outcomes. Thread-safe.
class result_registry {
public:
  /// Receives the job's result, or `errc::handler_failed` with the
  /// failure's text, `errc::timeout`, `errc::closed`, a dispatch error.
  using result_fn = std::function<void(caf::expected<std::string>)>;

  /// Registers `fn` for dispatch `id` until `deadline`.
  void add(uint64_t id, result_fn fn,
           std::chrono::steady_clock::time_point deadline);

  /// Runs and removes the waiter of `id` with `r`; false if none.
  bool complete(uint64_t id, caf::expected<std::string> r);

  /// Fails the waiters whose deadline passed with `errc::timeout`.
  void expire(std::chrono::steady_clock::time_point now);

  /// Fails every waiter with `err`.
  void fail_all(const caf::error& err);

  /// Number of waiters.
  size_t size() const;

  /// The dispatch IDs of the waiters right now.
  std::vector<uint64_t> ids() const;

  /// Completes the waiter of `id` with a kept outcome `<1|0><text>` (as the
  /// completion scripts store it when their record reached no subscriber);
  /// false if none or `rec` is empty.
  bool complete_kept(uint64_t id, const std::string& rec);

  /// Parses the completion record at `msg[pos]`
  /// (`c<id>\x1f<1|0><len>\x1f<text>` then `\x1e`) and completes its
  /// waiter; returns the position after the record, or `npos` if it is
  /// malformed (the rest of the message is skipped).
  size_t deliver_record(const std::string& msg, size_t pos);

private:
  struct waiter {
    result_fn fn;
    std::chrono::steady_clock::time_point deadline;
  };
  mutable std::mutex mtx_;
  std::unordered_map<uint64_t, waiter> waiters_;
};

} // namespace pulse
