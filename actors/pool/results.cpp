#include "pulse/actors/pool/results.hpp"

#include <charconv>
#include <vector>

#include "pulse/runtime/errors.hpp"

namespace pulse {

void result_registry::add(uint64_t id, result_fn fn,
                          std::chrono::steady_clock::time_point deadline) {
  std::lock_guard<std::mutex> guard{mtx_};
  waiters_[id] = waiter{std::move(fn), deadline};
}

bool result_registry::complete(uint64_t id, caf::expected<std::string> r) {
  result_fn fn;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    auto i = waiters_.find(id);
    if (i == waiters_.end())
      return false;
    fn = std::move(i->second.fn);
    waiters_.erase(i);
  }
  fn(std::move(r));
  return true;
}

void result_registry::expire(std::chrono::steady_clock::time_point now) {
  std::vector<result_fn> expired;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    for (auto i = waiters_.begin(); i != waiters_.end();) {
      if (i->second.deadline <= now) {
        expired.push_back(std::move(i->second.fn));
        i = waiters_.erase(i);
      } else {
        ++i;
      }
    }
  }
  for (auto& fn : expired)
    fn(make_error(errc::timeout, "no job outcome within the wait's timeout"));
}

void result_registry::fail_all(const caf::error& err) {
  std::unordered_map<uint64_t, waiter> xs;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    xs.swap(waiters_);
  }
  for (auto& kv : xs)
    kv.second.fn(err);
}

size_t result_registry::size() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return waiters_.size();
}

std::vector<uint64_t> result_registry::ids() const {
  std::lock_guard<std::mutex> guard{mtx_};
  std::vector<uint64_t> out;
  out.reserve(waiters_.size());
  for (auto& kv : waiters_)
    out.push_back(kv.first);
  return out;
}

bool result_registry::complete_kept(uint64_t id, const std::string& rec) {
  if (rec.empty() || (rec[0] != '0' && rec[0] != '1'))
    return false;
  if (rec[0] == '1')
    return complete(id, rec.substr(1));
  return complete(id, make_error(errc::handler_failed, rec.substr(1)));
}

size_t result_registry::deliver_record(const std::string& msg, size_t pos) {
  auto npos = std::string::npos;
  auto sep = msg.find('\x1f', pos);
  if (msg[pos] != 'c' || sep == npos || sep + 2 > msg.size())
    return npos;
  uint64_t id = 0;
  auto p = std::from_chars(msg.data() + pos + 1, msg.data() + sep, id);
  if (p.ec != std::errc{} || p.ptr != msg.data() + sep)
    return npos;
  auto ok = msg[sep + 1];
  auto sep2 = msg.find('\x1f', sep + 2);
  size_t len = 0;
  if ((ok != '0' && ok != '1') || sep2 == npos)
    return npos;
  auto q = std::from_chars(msg.data() + sep + 2, msg.data() + sep2, len);
  if (q.ec != std::errc{} || q.ptr != msg.data() + sep2
      || len > msg.size() - sep2 - 1)
    return npos;
  auto text = msg.substr(sep2 + 1, len);
  auto end = sep2 + 1 + len;
  if (end < msg.size() && msg[end] == '\x1e')
    ++end;
  if (ok == '1')
    complete(id, std::move(text));
  else
    complete(id, make_error(errc::handler_failed, std::move(text)));
  return end;
}

} // namespace pulse
