#include "runtime/pool_core.hpp"

#include <algorithm>

#include "runtime/pool_scripts.hpp"

namespace pulse {

std::string pool_membership::target(const std::string& key) const {
  auto w = pool_routing::owner(active, key);
  return w ? w->id : std::string{};
}

std::shared_ptr<const pool_membership>
pool_membership::parse(const resp::value& v) {
  if (!v.is_array() || v.elements.empty())
    return nullptr;
  auto rev = pool_routing::parse_i64(v.elements[0].str);
  if (!rev)
    return nullptr;
  auto m = std::make_shared<pool_membership>();
  m->rev = *rev;
  for (size_t i = 1; i + 1 < v.elements.size(); i += 2) {
    auto& id = v.elements[i].str;
    auto& val = v.elements[i + 1].str;
    auto bar = val.find('|');
    auto created = pool_routing::parse_i64(val.substr(0, bar));
    if (!created)
      continue; // not ours: skip, as Go Pulse skips unparseable entries
    m->active.push_back(pool_routing::worker{id, *created});
    m->nodes[id] = bar == std::string::npos ? std::string{} : val.substr(bar + 1);
  }
  std::sort(m->active.begin(), m->active.end(),
            [](const auto& x, const auto& y) {
              return x.created_at != y.created_at ? x.created_at < y.created_at
                                                  : x.id < y.id;
            });
  return m;
}

pool_core::pool_core(std::string pool, std::string node, pool_options opts)
  : pool(std::move(pool)),
    node(std::move(node)),
    prefix(pool_scripts::pool_prefix(this->pool)),
    opts(opts),
    members_(std::make_shared<pool_membership>()) {
  // nop
}

std::shared_ptr<const pool_membership> pool_core::members() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return members_;
}

bool pool_core::install(std::shared_ptr<const pool_membership> m) {
  if (!m)
    return false;
  std::lock_guard<std::mutex> guard{mtx_};
  if (m->rev < members_->rev)
    return false;
  members_ = std::move(m);
  return true;
}

void pool_core::set_lease_deadline(std::chrono::steady_clock::time_point t) {
  lease_deadline_ = t.time_since_epoch().count();
}

bool pool_core::lease_valid() const {
  return std::chrono::steady_clock::now().time_since_epoch().count()
         < lease_deadline_.load();
}

std::string pool_core::next_dispatch_id() {
  return node + ":" + std::to_string(++next_id_);
}

void pool_core::add_waiter(const std::string& id,
                           std::function<void(std::string)> fn) {
  std::lock_guard<std::mutex> guard{mtx_};
  waiters_[id] = std::move(fn);
}

bool pool_core::remove_waiter(const std::string& id) {
  std::lock_guard<std::mutex> guard{mtx_};
  return waiters_.erase(id) > 0;
}

bool pool_core::deliver(const std::string& msg) {
  auto [id, err] = parse_result(msg);
  std::function<void(std::string)> fn;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    auto i = waiters_.find(id);
    if (i == waiters_.end())
      return false;
    fn = std::move(i->second);
    waiters_.erase(i);
  }
  fn(std::move(err));
  return true;
}

size_t pool_core::waiters() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return waiters_.size();
}

std::pair<std::string, std::string> parse_result(const std::string& msg) {
  auto nl = msg.find('\n');
  if (nl == std::string::npos)
    return {msg, {}};
  return {msg.substr(0, nl), msg.substr(nl + 1)};
}

queue_entry parse_queue_entry(const std::string& raw) {
  queue_entry e;
  if (raw.size() < 3 || (raw[0] != 'S' && raw[0] != 'T' && raw[0] != 'N'))
    return e;
  auto sp = raw.find(' ');
  if (sp == std::string::npos || sp < 2)
    return e;
  auto epoch = pool_routing::parse_i64(raw.substr(1, sp - 1));
  if (!epoch || *epoch <= 0)
    return e;
  if (raw[0] == 'N') {
    auto sp2 = raw.find(' ', sp + 1);
    if (sp2 == std::string::npos)
      return e;
    auto len = pool_routing::parse_i64(raw.substr(sp + 1, sp2 - sp - 1));
    if (!len || *len <= 0 || static_cast<size_t>(*len) > raw.size() - sp2 - 1)
      return e;
    e.key = raw.substr(sp2 + 1, static_cast<size_t>(*len));
    e.payload = raw.substr(sp2 + 1 + static_cast<size_t>(*len));
  } else {
    e.key = raw.substr(sp + 1);
    if (e.key.empty())
      return e;
  }
  e.epoch = static_cast<uint64_t>(*epoch);
  e.kind = raw[0];
  return e;
}

} // namespace pulse
