#include "runtime/log.hpp"

#include <mutex>

#include <spdlog/sinks/stdout_color_sinks.h>

namespace pulse::log {

std::shared_ptr<spdlog::logger> logger() {
  static std::shared_ptr<spdlog::logger> instance = [] {
    auto existing = spdlog::get("pulse");
    if (existing)
      return existing;
    auto sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
    auto result = std::make_shared<spdlog::logger>("pulse", std::move(sink));
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

} // namespace pulse::log
