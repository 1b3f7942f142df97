#pragma once

/// Captures the project logger's records while in scope, for tests that
/// check a warning was logged.

#include <mutex>
#include <string>
#include <vector>

#include <spdlog/sinks/base_sink.h>

#include "pulse/runtime/log.hpp"

namespace pulse::test {

class log_capture {
public:
  log_capture() : sink_(std::make_shared<sink>()) {
    log::add_sink(sink_);
  }

  ~log_capture() {
    log::remove_sink(sink_);
  }

  /// Returns whether a record containing `text` was logged.
  bool contains(const std::string& text) const {
    return sink_->count(text) > 0;
  }

  /// Returns how many records containing `text` were logged.
  size_t count(const std::string& text) const {
    return sink_->count(text);
  }

private:
  class sink : public spdlog::sinks::base_sink<std::mutex> {
  public:
    size_t count(const std::string& text) {
      std::lock_guard<std::mutex> guard{mutex_};
      size_t n = 0;
      for (auto& x : lines_)
        if (x.find(text) != std::string::npos)
          ++n;
      return n;
    }

  protected:
    void sink_it_(const spdlog::details::log_msg& msg) override {
      lines_.emplace_back(msg.payload.data(), msg.payload.size());
    }
    void flush_() override {
      // nop
    }

  private:
    std::vector<std::string> lines_;
  };

  std::shared_ptr<sink> sink_;
};

} // namespace pulse::test
