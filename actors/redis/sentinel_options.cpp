// Sentinel options: parsing `pulse.redis.sentinels` entries and checking
// the Sentinel options (no I/O; also linked by the config fuzz target).

#include "pulse/actors/redis/sentinel.hpp"

#include <caf/message.hpp>

#include "pulse/actors/redis/url.hpp"
#include "pulse/runtime/errors.hpp"

namespace pulse::detail {

std::string error_text(const caf::error& err) {
  if (err.context().match_elements<std::string>())
    return err.context().get_as<std::string>(0);
  return render(err);
}

std::string host_port::text() const {
  if (host.find(':') != std::string::npos)
    return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

caf::expected<host_port> parse_sentinel(const std::string& x) {
  auto bad = [&](const std::string& why) {
    return make_error(errc::invalid_config, "pulse.redis.sentinels: \"" + x
                                              + "\" " + why);
  };
  if (x.find_first_of("/@?#") != std::string::npos)
    return bad("is not host:port");
  auto url = parse_redis_url("redis://" + x);
  if (!url)
    return bad("is not host:port (" + error_text(url.error()) + ")");
  host_port result{url->host, url->port};
  auto suffix = ":" + std::to_string(result.port);
  if (x.size() < suffix.size()
      || x.compare(x.size() - suffix.size(), suffix.size(), suffix) != 0)
    return bad("has no port (write host:port, e.g. 10.0.0.1:26379)");
  return result;
}

caf::error check_sentinel_options(const redis_options& opts) {
  if (!opts.use_sentinel())
    return caf::none;
  for (auto& x : opts.sentinels)
    if (auto s = parse_sentinel(x); !s)
      return s.error();
  if (opts.master_name.empty())
    return make_error(errc::invalid_config,
                      "pulse.redis.master-name must be set with "
                      "pulse.redis.sentinels");
  return caf::none;
}

} // namespace pulse::detail
