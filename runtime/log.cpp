#include "pulse/runtime/log.hpp"

#include <mutex>

#include <pthread.h>

#include <spdlog/sinks/dist_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>

namespace pulse::log {

namespace {

// Every record goes through this sink, so sinks can be added and removed
// while other threads log (a logger's own sink list is not thread-safe).
std::shared_ptr<spdlog::sinks::dist_sink_mt> fan() {
  static auto instance = [] {
    auto d = std::make_shared<spdlog::sinks::dist_sink_mt>();
    d->add_sink(std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
    return d;
  }();
  return instance;
}

} // namespace

void add_sink(spdlog::sink_ptr sink) {
  fan()->add_sink(std::move(sink));
}

void remove_sink(const spdlog::sink_ptr& sink) {
  fan()->remove_sink(sink);
}

std::shared_ptr<spdlog::logger> logger() {
  static std::shared_ptr<spdlog::logger> instance = [] {
    auto existing = spdlog::get("pulse");
    if (existing)
      return existing;
    auto result = std::make_shared<spdlog::logger>("pulse", fan());
    result->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %n %v");
    result->set_level(spdlog::level::info);
    spdlog::register_logger(result);
    return result;
  }();
  return instance;
}

caf::error set_level(const std::string& name) {
  auto lvl = spdlog::level::from_str(name);
  // from_str maps unknown names to `off`: only accept "off" spelled out.
  if (lvl == spdlog::level::off && name != "off")
    return make_error(errc::invalid_config,
                      "pulse.log.level: unknown level \"" + name
                        + "\" (trace, debug, info, warn, error, critical, off)");
  logger()->set_level(lvl);
  return caf::none;
}

void name_thread(const std::string& name) {
  // Linux allows 16 bytes including the terminating zero.
  auto cut = name.substr(0, 15);
  pthread_setname_np(pthread_self(), cut.c_str());
}

} // namespace pulse::log
