#include "pulse/actors/redis/sentinel.hpp"

#include <algorithm>
#include <cstdlib>
#include <optional>
#include <sstream>
#include <vector>

#include <caf/message.hpp>

#include "pulse/actors/redis/backoff.hpp"
#include "pulse/actors/redis/resp.hpp"
#include "pulse/actors/redis/url.hpp"
#include "pulse/runtime/errors.hpp"
#include "pulse/runtime/log.hpp"

namespace pulse::detail {

namespace {

using clock_type = std::chrono::steady_clock;

/// Pause between asking the sentinels again while the named master does
/// not say `ROLE master` yet (or is not reachable).
constexpr auto role_retry = std::chrono::milliseconds{100};

/// Least time one sentinel gets to answer.
constexpr auto min_per_sentinel = std::chrono::milliseconds{200};


// The deadline of one sentinel's turn: a share of the time left.
clock_type::time_point turn_deadline(const redis_options& opts,
                                     clock_type::time_point until) {
  auto now = clock_type::now();
  auto share = (until - now) / static_cast<int>(opts.sentinels.size());
  return std::min(until, now + std::max<clock_type::duration>(
                                 share, min_per_sentinel));
}

// A connection to one sentinel, authenticated when a password is set.
struct sentinel_conn {
  wire_ptr w;
  resp::decoder dec;
};

caf::error open_sentinel(const redis_options& opts, const host_port& s,
                         clock_type::time_point until, sentinel_conn& out) {
  auto where = "sentinel " + s.text();
  auto w = open_wire(opts, s.host, s.port, where, until);
  if (!w)
    return w.error();
  out.w = std::move(*w);
  if (!opts.sentinel_password.empty()) {
    auto r = sync_call(*out.w, out.dec, {"AUTH", opts.sentinel_password},
                       until);
    if (!r)
      return r.error();
    if (r->is_error())
      return make_error(errc::auth_failed,
                        "AUTH rejected by " + where
                          + " (pulse.redis.sentinel-password): " + r->str);
  }
  return caf::none;
}

std::vector<host_port> sentinel_list(const redis_options& opts) {
  std::vector<host_port> result;
  for (auto& x : opts.sentinels)
    if (auto s = parse_sentinel(x))
      result.push_back(std::move(*s));
  return result;
}

} // namespace

caf::expected<host_port> ask_master(const redis_options& opts,
                                    clock_type::time_point until) {
  if (auto err = check_sentinel_options(opts))
    return err;
  std::string causes;
  bool known_nowhere = false;
  // Every reachable sentinel is asked: right after a failover, a sentinel
  // that did not hear of it yet still names the old master (which keeps
  // saying ROLE master for 10+ s). The answer with the highest
  // config-epoch wins (ties: the first).
  std::optional<host_port> best;
  int64_t best_epoch = -1;
  for (auto& s : sentinel_list(opts)) {
    auto note = [&](const std::string& what) {
      causes += (causes.empty() ? "" : "; ") + s.text() + ": " + what;
    };
    sentinel_conn c;
    auto turn = turn_deadline(opts, until);
    if (auto err = open_sentinel(opts, s, turn, c)) {
      if (code_of(err) == errc::auth_failed)
        return err;
      note(error_text(err));
      continue;
    }
    auto r = sync_call(*c.w, c.dec,
                       {"SENTINEL", "GET-MASTER-ADDR-BY-NAME",
                        opts.master_name},
                       turn);
    if (!r) {
      note(error_text(r.error()));
      continue;
    }
    if (r->is_error()) {
      note(r->str);
      continue;
    }
    if (r->is_nil() || (r->is_array() && r->elements.empty())) {
      known_nowhere = true;
      note("does not know master \"" + opts.master_name + "\"");
      continue;
    }
    auto port = r->is_array() && r->elements.size() == 2
                  ? r->elements[1].as_integer()
                  : caf::optional<int64_t>{};
    if (!port || *port <= 0 || *port > 65535) {
      note("unexpected reply " + r->render());
      continue;
    }
    host_port addr{r->elements[0].str, static_cast<uint16_t>(*port)};
    // The epoch of that answer (`SENTINEL MASTER`: a flat key/value list).
    int64_t epoch = 0;
    auto m = sync_call(*c.w, c.dec, {"SENTINEL", "MASTER", opts.master_name},
                       turn);
    if (m && m->is_array())
      for (size_t i = 0; i + 1 < m->elements.size(); i += 2)
        if (m->elements[i].str == "config-epoch")
          if (auto e = m->elements[i + 1].as_integer())
            epoch = *e;
    if (!best || epoch > best_epoch) {
      best = std::move(addr);
      best_epoch = epoch;
    }
  }
  if (best)
    return std::move(*best);
  if (known_nowhere)
    return make_error(errc::no_master,
                      "no sentinel names a master \"" + opts.master_name
                        + "\" (pulse.redis.master-name): " + causes);
  return make_error(errc::connect_failed,
                    "no sentinel reachable for master \"" + opts.master_name
                      + "\" (pulse.redis.sentinels): " + causes);
}

caf::expected<wire_ptr>
subscribe_switch_master(const redis_options& opts,
                        clock_type::time_point until) {
  if (auto err = check_sentinel_options(opts))
    return err;
  std::string causes;
  for (auto& s : sentinel_list(opts)) {
    sentinel_conn c;
    auto turn = turn_deadline(opts, until);
    caf::error err = open_sentinel(opts, s, turn, c);
    if (!err) {
      auto r = sync_call(*c.w, c.dec, {"SUBSCRIBE", "+switch-master"}, turn);
      if (r && r->is_array() && !r->elements.empty()
          && r->elements[0].str == "subscribe")
        return std::move(c.w);
      err = r ? make_error(errc::protocol_error,
                           "SUBSCRIBE +switch-master answered "
                             + r->render())
              : r.error();
    }
    if (code_of(err) == errc::auth_failed)
      return err;
    causes += (causes.empty() ? "" : "; ") + s.text() + ": " + error_text(err);
  }
  return make_error(errc::connect_failed,
                    "no sentinel reachable for master \"" + opts.master_name
                      + "\" (pulse.redis.sentinels): " + causes);
}

caf::expected<connected_socket>
connect_via_sentinels(const redis_options& opts, const std::string& hint) {
  auto until = clock_type::now() + opts.connect_timeout;
  auto sub = subscribe_switch_master(opts, until);
  if (!sub)
    return sub.error();
  if (!hint.empty()) {
    if (auto h = parse_sentinel(hint)) {
      auto node = opts;
      node.sentinels.clear();
      node.unix_socket.clear();
      node.host = h->host;
      node.port = h->port;
      auto c = connect_node(node, true, until);
      if (c) {
        c->watch = std::move(*sub);
        return c;
      }
      log::debug("redis sentinel hint not usable hint={} error=\"{}\"", hint,
                 c.error());
    }
  }
  for (;;) {
    auto m = ask_master(opts, until);
    if (!m)
      return m.error();
    auto node = opts;
    node.sentinels.clear();
    node.unix_socket.clear();
    node.host = m->host;
    node.port = m->port;
    auto c = connect_node(node, true, until);
    if (c) {
      c->watch = std::move(*sub);
      return c;
    }
    auto code = code_of(c.error());
    if (code != errc::no_master && code != errc::connect_failed)
      return c.error();
    if (clock_type::now() + role_retry >= until)
      return make_error(code,
                        "the sentinels name " + m->text() + " as master \""
                          + opts.master_name + "\", but "
                          + error_text(c.error())
                          + " (until pulse.redis.connect-timeout)");
    std::this_thread::sleep_for(role_retry);
  }
}

sentinel_watch::sentinel_watch(
  wire_ptr sub, redis_options opts, std::string master,
  std::function<void(caf::error, std::string)> on_switch)
  : opts_(std::move(opts)),
    master_(std::move(master)),
    on_switch_(std::move(on_switch)),
    conn_(std::move(sub)) {
  thread_ = std::thread{[this] { run(); }};
}

sentinel_watch::~sentinel_watch() {
  stop();
}

void sentinel_watch::stop() {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    stopped_ = true;
    if (conn_)
      conn_->shut();
  }
  cv_.notify_all();
  if (thread_.joinable())
    thread_.join();
}

void sentinel_watch::run() {
  log::name_thread("pulse.sentinel");
  resp::decoder dec;
  std::vector<char> buf(16 * 1024);
  wire_ptr conn;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    conn = conn_;
  }
  for (;;) {
    auto got = conn->read(buf.data(), buf.size());
    bool lost = got.closed || got.error
                || static_cast<bool>(dec.feed(buf.data(), got.n));
    resp::value msg;
    while (!lost) {
      auto next = dec.next(msg);
      if (!next) {
        lost = true;
        break;
      }
      if (!*next)
        break;
      // ["message", "+switch-master", "<name> <old ip> <old port> <new ip>
      // <new port>"]
      if (!msg.is_array() || msg.elements.size() != 3
          || msg.elements[0].str != "message"
          || msg.elements[1].str != "+switch-master")
        continue;
      std::istringstream in{msg.elements[2].str};
      std::string name, old_ip, old_port, new_ip, new_port;
      in >> name >> old_ip >> old_port >> new_ip >> new_port;
      if (name != opts_.master_name)
        continue;
      log::info("redis sentinel +switch-master master_name={} old={}:{} "
                "new={}:{} connected_to={}",
                name, old_ip, old_port, new_ip, new_port, master_);
      auto to = host_port{new_ip, 0};
      to.port = static_cast<uint16_t>(std::atoi(new_port.c_str()));
      on_switch_(make_error(errc::disconnected,
                            "+switch-master: master \"" + name
                              + "\" moved from " + old_ip + ":" + old_port
                              + " to " + new_ip + ":" + new_port),
                 to.text());
      return;
    }
    if (!lost)
      continue;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      if (stopped_)
        return;
    }
    log::warn("redis sentinel subscription lost master_name={} error=\"{}\"",
              opts_.master_name,
              got.error ? got.error : make_error(errc::disconnected, "closed"));
    if (!resubscribe())
      return;
    dec.reset();
    std::lock_guard<std::mutex> guard{mtx_};
    conn = conn_;
  }
}

bool sentinel_watch::resubscribe() {
  backoff delays{opts_.reconnect_min, opts_.reconnect_max};
  for (;;) {
    {
      std::unique_lock<std::mutex> guard{mtx_};
      if (cv_.wait_for(guard, delays.next(), [this] { return stopped_; }))
        return false;
    }
    auto until = clock_type::now() + opts_.connect_timeout;
    auto sub = subscribe_switch_master(opts_, until);
    if (!sub)
      continue;
    auto m = ask_master(opts_, until);
    {
      std::lock_guard<std::mutex> guard{mtx_};
      if (stopped_) {
        (*sub)->shut();
        return false;
      }
      conn_ = std::move(*sub);
    }
    if (m && m->text() != master_) {
      on_switch_(make_error(errc::disconnected,
                            "the sentinels now name " + m->text()
                              + " as master \"" + opts_.master_name
                              + "\" (connected to " + master_ + ")"),
                 m->text());
      return false;
    }
    return true;
  }
}

} // namespace pulse::detail
