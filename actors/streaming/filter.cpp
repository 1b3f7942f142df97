#include "pulse/actors/streaming/filter.hpp"

#include "pulse/runtime/errors.hpp"

namespace pulse {

caf::expected<topic_filter>
topic_filter::make(const stream_read_options& opts) {
  topic_filter result;
  result.topic_ = opts.topic;
  if (opts.topic.empty() && !opts.topic_pattern.empty()) {
    try {
      result.pattern_.emplace(opts.topic_pattern, std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
      return make_error(errc::invalid_argument,
                        std::string{"topic pattern must be a valid regex: "}
                          + e.what());
    }
  }
  return result;
}

bool topic_filter::passes(const event& ev) const {
  if (!topic_.empty())
    return ev.topic == topic_;
  if (pattern_) {
    // libstdc++'s regex engine recurses once per character: a long topic
    // written by another client would overflow the stack. Topics are short
    // names; longer ones never match a pattern.
    if (ev.topic.size() > max_pattern_topic)
      return false;
    return std::regex_search(ev.topic, *pattern_);
  }
  return true;
}

} // namespace pulse
