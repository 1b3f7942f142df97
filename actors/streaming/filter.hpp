#pragma once

#include <optional>
#include <regex>
#include <string>

#include <caf/expected.hpp>

#include "pulse/messages/streaming.hpp"

namespace pulse {

/// The topic filter that readers and sinks share
/// (`stream_read_options::topic` and `topic_pattern`).
class topic_filter {
public:
  /// Passes every event.
  topic_filter() = default;

  /// Builds the filter of `opts`: an exact topic if set, else an
  /// ECMAScript pattern searched anywhere in the topic, else none.
  /// Errors: `errc::invalid_argument` ("topic pattern must be a valid
  /// regex: ...").
  static caf::expected<topic_filter> make(const stream_read_options& opts);

  /// Returns whether `ev` passes. Topics longer than `max_pattern_topic`
  /// bytes never match a pattern (an exact topic still compares).
  bool passes(const event& ev) const;

  /// The longest topic a pattern is searched in (regex matching recurses
  /// per character).
  static constexpr size_t max_pattern_topic = 1024;

private:
  std::string topic_;
  std::optional<std::regex> pattern_;
};

} // namespace pulse
