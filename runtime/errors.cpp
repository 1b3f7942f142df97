#include "pulse/runtime/errors.hpp"

#include <caf/message.hpp>
#include <caf/sec.hpp>

namespace pulse {

const char* to_string(errc x) {
  switch (x) {
    case errc::none: return "none";
    case errc::invalid_config: return "invalid_config";
    case errc::connect_failed: return "connect_failed";
    case errc::auth_failed: return "auth_failed";
    case errc::disconnected: return "disconnected";
    case errc::timeout: return "timeout";
    case errc::redis_error: return "redis_error";
    case errc::protocol_error: return "protocol_error";
    case errc::canceled: return "canceled";
    case errc::closed: return "closed";
    case errc::invalid_argument: return "invalid_argument";
    case errc::overloaded: return "overloaded";
    case errc::server_failed: return "server_failed";
    case errc::job_exists: return "job_exists";
    case errc::not_found: return "not_found";
    case errc::handler_failed: return "handler_failed";
    case errc::requeue: return "requeue";
    case errc::shutting_down: return "shutting_down";
    case errc::help_printed: return "help_printed";
    case errc::too_large: return "too_large";
    case errc::tls_failed: return "tls_failed";
    case errc::no_master: return "no_master";
    case errc::not_replicated: return "not_replicated";
  }
  return "unknown";
}

caf::error make_error(errc x, std::string what) {
  return caf::error{static_cast<uint8_t>(x), pulse_category::value,
                    caf::make_message(std::move(what))};
}

errc code_of(const caf::error& err) {
  if (!err || err.category() != pulse_category::value)
    return errc::none;
  return static_cast<errc>(err.code());
}

std::string render_pulse_error(uint8_t code, caf::atom_value,
                               const caf::message& context) {
  std::string result = "pulse.";
  result += to_string(static_cast<errc>(code));
  if (context.match_elements<std::string>()) {
    auto& what = context.get_as<std::string>(0);
    if (!what.empty()) {
      result += ": ";
      result += what;
    }
  }
  return result;
}

std::string render(const caf::error& err) {
  if (!err)
    return "none";
  if (err.category() == pulse_category::value)
    return render_pulse_error(err.code(), err.category(), err.context());
  if (err.category() == caf::atom("system")) {
    std::string result = "caf.";
    result += caf::to_string(static_cast<caf::sec>(err.code()));
    if (!err.context().empty()) {
      result += ": ";
      result += caf::to_string(err.context());
    }
    return result;
  }
  return caf::to_string(err);
}

bool is_permanent(const caf::error& err) {
  switch (code_of(err)) {
    case errc::invalid_argument:
    case errc::too_large:
    case errc::auth_failed:
    case errc::invalid_config:
    case errc::tls_failed:
      return true;
    case errc::redis_error: {
      auto text = render(err);
      for (auto prefix : {"WRONGTYPE", "NOPERM", "NOAUTH", "WRONGPASS",
                          "ERR unknown command"})
        if (text.find(prefix) != std::string::npos)
          return true;
      return false;
    }
    default:
      return false;
  }
}

} // namespace pulse
