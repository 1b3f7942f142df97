#include "pulse/actors/redis/url.hpp"

#include <cctype>
#include <charconv>

#include "pulse/runtime/errors.hpp"

namespace pulse {

namespace {

// Every message starts with the option's key. None contains the password:
// user-info text is never echoed.
caf::error bad(const std::string& what) {
  return make_error(errc::invalid_config, "pulse.redis.url: " + what);
}

int hex_value(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

// Percent-decodes `x` into `out`; returns false on a malformed escape.
bool percent_decode(std::string_view x, std::string& out) {
  out.clear();
  for (size_t i = 0; i < x.size(); ++i) {
    if (x[i] != '%') {
      out += x[i];
      continue;
    }
    if (i + 2 >= x.size())
      return false;
    auto hi = hex_value(x[i + 1]);
    auto lo = hex_value(x[i + 2]);
    if (hi < 0 || lo < 0)
      return false;
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return true;
}

// Parses a database index: decimal digits only.
std::optional<int64_t> parse_db(std::string_view x) {
  if (x.empty())
    return std::nullopt;
  for (auto c : x)
    if (c < '0' || c > '9')
      return std::nullopt;
  int64_t v = 0;
  auto [ptr, ec] = std::from_chars(x.data(), x.data() + x.size(), v);
  if (ec != std::errc{} || ptr != x.data() + x.size())
    return std::nullopt;
  return v;
}

// `user:password` or `:password`.
caf::error parse_userinfo(std::string_view info, redis_url& out) {
  auto colon = info.find(':');
  if (colon == std::string_view::npos)
    return bad("the part before '@' has no ':' (write user:password@ or, "
               "for a password alone, :password@)");
  std::string user;
  if (!percent_decode(info.substr(0, colon), user))
    return bad("bad percent-escape in the user name (write %XX with two hex "
               "digits)");
  std::string password;
  if (!percent_decode(info.substr(colon + 1), password))
    return bad("bad percent-escape in the password (write %XX with two hex "
               "digits)");
  if (password.empty())
    return bad("the password after ':' is empty");
  out.username = std::move(user);
  out.password = std::move(password);
  return caf::none;
}

// `db=N`, the only parameter.
caf::error parse_query(std::string_view query, redis_url& out) {
  while (!query.empty()) {
    auto amp = query.find('&');
    auto item = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{}
                                          : query.substr(amp + 1);
    if (item.empty())
      continue;
    auto eq = item.find('=');
    auto key = item.substr(0, eq);
    auto raw = eq == std::string_view::npos ? std::string_view{}
                                            : item.substr(eq + 1);
    if (key != "db")
      return bad("unknown query parameter \"" + std::string{key}
                 + "\" (only db is supported)");
    std::string value;
    auto db = percent_decode(raw, value) ? parse_db(value) : std::nullopt;
    if (!db)
      return bad("db \"" + std::string{raw}
                 + "\" in the query is not a number >= 0");
    if (out.db)
      return bad("sets db twice (in the path and in the query)");
    out.db = *db;
  }
  return caf::none;
}

bool valid_host_char(char c, bool ipv6) {
  if (std::isalnum(static_cast<unsigned char>(c)))
    return true;
  if (ipv6)
    return c == ':' || c == '.';
  return c == '-' || c == '.' || c == '_';
}

// `host`, `host:port`, `[v6]` or `[v6]:port` into `host` and `port` (left
// as it is without one); returns what is wrong, or "".
std::string parse_host_port(std::string_view x, std::string& host_out,
                            uint16_t& port_out) {
  if (x.empty())
    return "names no host";
  std::string_view host;
  std::string_view rest;
  bool ipv6 = x.front() == '[';
  if (ipv6) {
    auto close = x.find(']');
    if (close == std::string_view::npos)
      return "the IPv6 host has no closing ']'";
    host = x.substr(1, close - 1);
    rest = x.substr(close + 1);
    if (!rest.empty() && rest.front() != ':')
      return "unexpected text after the IPv6 host's ']'";
  } else {
    auto colon = x.find(':');
    host = x.substr(0, colon);
    rest = colon == std::string_view::npos ? std::string_view{}
                                           : x.substr(colon);
  }
  if (host.empty())
    return "names no host";
  for (auto c : host)
    if (!valid_host_char(c, ipv6))
      return "host \"" + std::string{host}
             + "\" contains a character not allowed in a host name";
  host_out = std::string{host};
  if (rest.empty())
    return {};
  auto port = rest.substr(1);
  if (port.empty())
    return "the port after ':' is empty";
  auto v = parse_db(port); // the same digits-only rule
  if (!v || *v < 1 || *v > 65535)
    return "port \"" + std::string{port} + "\" is not a number in 1..65535";
  port_out = static_cast<uint16_t>(*v);
  return {};
}

// Splits `rest` at '?' into itself and `query`; rejects fragments.
caf::error split_query(std::string_view& rest, std::string_view& query) {
  if (rest.find('#') != std::string_view::npos)
    return bad("has a fragment ('#'), which Redis URLs do not use");
  auto q = rest.find('?');
  if (q != std::string_view::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  return caf::none;
}

// Takes the user info (up to the last '@', so a password may hold
// unencoded '/', '?', '#' or ':'; only '%' must start a valid escape) into
// `out` and the query (after '?') into `query` off `rest`.
caf::error split_authority(std::string_view& rest, std::string_view& query,
                           redis_url& out) {
  if (auto at = rest.rfind('@'); at != std::string_view::npos) {
    if (auto err = parse_userinfo(rest.substr(0, at), out))
      return err;
    rest = rest.substr(at + 1);
  }
  return split_query(rest, query);
}

// The db in a URL's path (`text`, after its '/'); empty names none.
caf::error parse_path_db(std::string_view text, redis_url& out) {
  if (text.empty())
    return caf::none;
  auto db = parse_db(text);
  if (!db)
    return bad("db \"" + std::string{text}
               + "\" in the path is not a number >= 0");
  out.db = *db;
  return caf::none;
}

caf::expected<redis_url> parse_tcp(std::string_view rest) {
  redis_url out;
  std::string_view query;
  if (auto err = split_authority(rest, query, out))
    return err;
  auto slash = rest.find('/');
  if (auto why = parse_host_port(rest.substr(0, slash), out.host, out.port);
      !why.empty())
    return bad(why == "names no host"
                 ? why + " (write redis://host[:port][/db])"
                 : why);
  if (slash != std::string_view::npos)
    if (auto err = parse_path_db(rest.substr(slash + 1), out))
      return err;
  if (auto err = parse_query(query, out))
    return err;
  return out;
}

// `[user:password@]host:port[,host:port...]/master-name[/db][?db=N]`, after
// `redis+sentinel://`; a sentinel's port defaults to 26379.
caf::expected<redis_url> parse_sentinel_url(std::string_view rest) {
  constexpr const char* form
    = " (write redis+sentinel://host:port[,host:port...]/master-name[/db])";
  redis_url out;
  std::string_view query;
  if (auto err = split_authority(rest, query, out))
    return err;
  auto slash = rest.find('/');
  auto hosts = rest.substr(0, slash);
  if (hosts.empty())
    return bad(std::string{"names no sentinel"} + form);
  while (true) {
    auto comma = hosts.find(',');
    auto item = hosts.substr(0, comma);
    if (item.empty())
      return bad("has an empty sentinel address in its list (a stray ',')");
    std::string host;
    uint16_t port = 26379;
    if (auto why = parse_host_port(item, host, port); !why.empty())
      return bad("sentinel \"" + std::string{item} + "\": " + why);
    out.sentinels.push_back(host.find(':') != std::string::npos
                              ? "[" + host + "]:" + std::to_string(port)
                              : host + ":" + std::to_string(port));
    if (comma == std::string_view::npos)
      break;
    hosts = hosts.substr(comma + 1);
  }
  auto path = slash == std::string_view::npos ? std::string_view{}
                                              : rest.substr(slash + 1);
  auto next = path.find('/');
  if (!percent_decode(path.substr(0, next), out.master_name))
    return bad("bad percent-escape in the master name");
  if (out.master_name.empty())
    return bad(std::string{"names no master name"} + form);
  if (next != std::string_view::npos)
    if (auto err = parse_path_db(path.substr(next + 1), out))
      return err;
  if (auto err = parse_query(query, out))
    return err;
  return out;
}

// `rest` follows `unix:`; `authority` tells whether `//` preceded it.
caf::expected<redis_url> parse_unix(std::string_view rest, bool authority) {
  redis_url out;
  if (rest.empty())
    return bad("names no socket path (write unix:///path/to/redis.sock)");
  if (authority && rest.front() != '/') {
    // Only user info may precede the path: unix://:password@/path.
    auto at = rest.find("@/");
    if (at == std::string_view::npos)
      return bad("a unix:// URL names no host: write "
                 "unix:///path/to/redis.sock");
    if (auto err = parse_userinfo(rest.substr(0, at), out))
      return err;
    rest = rest.substr(at + 1);
  }
  std::string_view query;
  if (auto err = split_query(rest, query))
    return err;
  if (rest.empty() || rest.front() != '/')
    return bad("the socket path must be absolute (unix:/path or "
               "unix:///path)");
  std::string path;
  if (!percent_decode(rest, path))
    return bad("bad percent-escape in the socket path");
  if (path.find_first_not_of('/') == std::string::npos)
    return bad("names no socket path (write unix:///path/to/redis.sock)");
  out.unix_socket = std::move(path);
  if (auto err = parse_query(query, out))
    return err;
  return out;
}

bool valid_scheme(std::string_view x) {
  if (x.empty())
    return false;
  for (auto c : x)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '-'
        && c != '.')
      return false;
  return true;
}

} // namespace

caf::expected<redis_url> parse_redis_url(std::string_view url) {
  if (url.empty())
    return bad("is empty");
  auto colon = url.find(':');
  auto raw_scheme = url.substr(0, colon);
  if (colon == std::string_view::npos || !valid_scheme(raw_scheme))
    return bad("has no scheme (write redis://host:port/db or "
               "unix:///path/to/redis.sock)");
  std::string scheme;
  for (auto c : raw_scheme)
    scheme += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  auto rest = url.substr(colon + 1);
  bool slashes = rest.compare(0, 2, "//") == 0;
  if (slashes)
    rest.remove_prefix(2);
  if (scheme == "redis" || scheme == "rediss") {
    if (!slashes)
      return bad("write " + scheme + "://host, with two slashes");
    auto out = parse_tcp(rest);
    if (out)
      out->tls = scheme == "rediss";
    return out;
  }
  if (scheme == "redis+sentinel" || scheme == "rediss+sentinel") {
    if (!slashes)
      return bad("write " + scheme + "://host:port/master-name, with two "
                                     "slashes");
    auto out = parse_sentinel_url(rest);
    if (out)
      out->tls = scheme == "rediss+sentinel";
    return out;
  }
  if (scheme == "unix")
    return parse_unix(rest, slashes);
  return bad("unknown scheme \"" + scheme
             + "\" (use redis://, rediss://, redis+sentinel://, "
               "rediss+sentinel://, unix:// or unix:)");
}

caf::error apply_redis_url(redis_options& opts) {
  if (opts.url.empty())
    return caf::none;
  auto u = parse_redis_url(opts.url);
  if (!u)
    return u.error();
  if (!u->sentinels.empty()) {
    opts.sentinels = std::move(u->sentinels);
    opts.master_name = std::move(u->master_name);
    opts.unix_socket.clear();
    if (u->tls)
      opts.tls = true;
  } else if (!u->unix_socket.empty()) {
    opts.unix_socket = std::move(u->unix_socket);
    opts.host.clear();
  } else {
    opts.host = std::move(u->host);
    opts.port = u->port;
    opts.unix_socket.clear();
    if (u->tls)
      opts.tls = true;
  }
  if (u->db)
    opts.db = *u->db;
  if (u->username)
    opts.username = std::move(*u->username);
  if (u->password)
    opts.password = std::move(*u->password);
  opts.url.clear();
  return caf::none;
}

} // namespace pulse
