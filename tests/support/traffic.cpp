#include "tests/support/traffic.hpp"

#include <algorithm>

#include "pulse/actors/pool/pool.hpp"
#include "pulse/actors/redis/client.hpp"
#include "pulse/actors/redis/cluster_slot.hpp"
#include "pulse/actors/rmap/rmap.hpp"
#include "pulse/actors/streaming/sink.hpp"
#include "pulse/actors/streaming/stream.hpp"
#include "pulse/actors/streaming/subscription.hpp"
#include "pulse/runtime/errors.hpp"
#include "tests/support/fixtures.hpp"

namespace pulse::test {

std::string name_in_slot(
  const std::string& prefix,
  const std::function<std::string(const std::string&)>& key_of,
  const std::function<bool(uint16_t)>& wanted) {
  for (int n = 0;; ++n) {
    auto name = prefix + std::to_string(n);
    if (wanted(cluster::key_slot(key_of(name))))
      return name;
  }
}

long long ms_between(traffic_clock::time_point a,
                     traffic_clock::time_point b) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(b - a).count();
}

// -- op_log -------------------------------------------------------------------

op_log::op_log(std::string what) : what_(std::move(what)) {
  // nop
}

void op_log::ok(int seq, traffic_clock::time_point issued) {
  std::lock_guard<std::mutex> guard{mtx_};
  acked_.push_back(ack{seq, issued, traffic_clock::now()});
}

void op_log::failed(const caf::error& err) {
  std::lock_guard<std::mutex> guard{mtx_};
  ++codes_[to_string(code_of(err))];
  if (errors_++ == 0)
    first_error_ = render(err);
}

size_t op_log::count() {
  std::lock_guard<std::mutex> guard{mtx_};
  return acked_.size();
}

std::set<int> op_log::acked_seqs() {
  std::lock_guard<std::mutex> guard{mtx_};
  std::set<int> result;
  for (auto& x : acked_)
    result.insert(x.seq);
  return result;
}

size_t op_log::acked_after(traffic_clock::time_point t) {
  std::lock_guard<std::mutex> guard{mtx_};
  return static_cast<size_t>(
    std::count_if(acked_.begin(), acked_.end(),
                  [t](const ack& x) { return x.issued >= t; }));
}

bool op_log::wait_more(size_t more, std::chrono::milliseconds within) {
  auto at = count();
  return wait_until([&] { return count() >= at + more; }, within);
}

uint64_t op_log::errors() {
  std::lock_guard<std::mutex> guard{mtx_};
  return errors_;
}

std::string op_log::first_error() {
  std::lock_guard<std::mutex> guard{mtx_};
  return first_error_;
}

std::map<std::string, uint64_t> op_log::codes() {
  std::lock_guard<std::mutex> guard{mtx_};
  return codes_;
}

std::string op_log::codes_text() {
  std::string result;
  for (auto& [code, n] : codes())
    result += (result.empty() ? "" : " ") + code + "=" + std::to_string(n);
  return result;
}

long long op_log::rate(traffic_clock::time_point from,
                       traffic_clock::time_point to) {
  std::lock_guard<std::mutex> guard{mtx_};
  uint64_t n = 0;
  for (auto& x : acked_)
    if (x.acked >= from && x.acked < to)
      ++n;
  auto ms = std::max<long long>(1, ms_between(from, to));
  return static_cast<long long>(n * 1000 / ms);
}

long long op_log::max_gap_ms(traffic_clock::time_point from) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto prev = from;
  long long gap = 0;
  for (auto& x : acked_)
    if (x.acked >= from) {
      gap = std::max(gap, ms_between(prev, x.acked));
      prev = x.acked;
    }
  return gap;
}

long long op_log::recovery_ms(traffic_clock::time_point trigger,
                              traffic_clock::time_point switched) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto best = traffic_clock::time_point::max();
  for (auto& x : acked_)
    if (x.issued >= switched)
      best = std::min(best, x.acked);
  return best == traffic_clock::time_point::max() ? -1
                                                  : ms_between(trigger, best);
}

// -- payload_set --------------------------------------------------------------

void payload_set::insert(const std::string& payload) {
  std::lock_guard<std::mutex> guard{mtx_};
  payloads_.insert(payload);
}

size_t payload_set::size() {
  std::lock_guard<std::mutex> guard{mtx_};
  return payloads_.size();
}

bool payload_set::has_all(const std::set<std::string>& payloads) {
  std::lock_guard<std::mutex> guard{mtx_};
  return std::all_of(payloads.begin(), payloads.end(),
                     [&](const std::string& p) {
                       return payloads_.count(p) > 0;
                     });
}

bool payload_set::has_all(const std::set<int>& seqs) {
  std::lock_guard<std::mutex> guard{mtx_};
  return std::all_of(seqs.begin(), seqs.end(), [&](int i) {
    return payloads_.count(std::to_string(i)) > 0;
  });
}

std::vector<int> payload_set::missing(const std::set<int>& seqs) {
  std::lock_guard<std::mutex> guard{mtx_};
  std::vector<int> out;
  for (auto i : seqs)
    if (payloads_.count(std::to_string(i)) == 0)
      out.push_back(i);
  return out;
}

// -- traffic_threads ----------------------------------------------------------

traffic_threads::~traffic_threads() {
  stop();
}

void traffic_threads::loop(std::function<void(int)> step,
                           std::chrono::milliseconds pause) {
  threads_.emplace_back([this, step = std::move(step), pause] {
    for (int i = 0; !stop_; ++i) {
      step(i);
      if (pause.count() > 0)
        std::this_thread::sleep_for(pause);
    }
  });
}

void traffic_threads::writer(op_log& log, std::function<caf::error(int)> op,
                             std::chrono::milliseconds pause) {
  loop(
    [&log, op = std::move(op)](int i) {
      auto issued = traffic_clock::now();
      if (auto err = op(i))
        log.failed(err);
      else
        log.ok(i, issued);
    },
    pause);
}

void traffic_threads::consumer(subscription& sub, payload_set& seen,
                               std::chrono::milliseconds poll, bool ack) {
  loop([&sub, &seen, poll, ack](int) {
    auto ev = sub.next(poll);
    if (!ev)
      return;
    seen.insert(ev->payload);
    if (ack)
      sub.ack(*ev);
  });
}

void traffic_threads::stop() {
  stop_ = true;
  for (auto& t : threads_)
    if (t.joinable())
      t.join();
}

// -- store_traffic ------------------------------------------------------------

store_traffic::store_traffic(const stream& s, client& c, rmap::map& m,
                             pool_node& n, options opts) {
  threads_.writer(adds, [&s, &c](int i) {
    auto id = s.add(c, "order", std::to_string(i));
    return id ? caf::error{} : id.error();
  }, opts.pause);
  threads_.writer(writes, [&m](int i) {
    auto prev = m.set("k" + std::to_string(i), std::to_string(i));
    return prev ? caf::error{} : prev.error();
  }, opts.pause);
  threads_.writer(jobs, [&n, f = std::move(opts.on_dispatch_error)](int i) {
    auto key = "job-" + std::to_string(i);
    auto err = n.dispatch(key, "x");
    if (err && f)
      f(key, err);
    return err;
  }, opts.pause);
}

store_traffic::store_traffic(const stream& s, client& c, rmap::map& m,
                             pool_node& n)
  : store_traffic(s, c, m, n, options{}) {
  // nop
}

bool store_traffic::wait_more(size_t more, size_t more_jobs,
                              std::chrono::milliseconds within) {
  return adds.wait_more(more, within) && writes.wait_more(more, within)
         && jobs.wait_more(more_jobs, within);
}

// -- set-up helpers -----------------------------------------------------------

caf::expected<fast_sink> attach_fast_sink(services& rt,
                                          caf::actor_system& sys,
                                          const std::string& group,
                                          std::vector<std::string> streams) {
  using namespace std::chrono_literals;
  sink_options so;
  so.block = 50ms;
  so.idle_check = 100ms;
  auto sink = spawn_sink(rt, group, std::move(streams), so);
  if (!sink)
    return std::move(sink.error());
  auto sub = subscription::attach(sys, *sink);
  if (!sub)
    return std::move(sub.error());
  return fast_sink{std::move(*sink), std::move(*sub)};
}

caf::expected<std::shared_ptr<counting_task>>
add_counting_worker(pool_node& n) {
  auto task = std::make_shared<counting_task>();
  auto id = n.add_worker(task);
  if (!id)
    return std::move(id.error());
  return task;
}

// -- counting_task ------------------------------------------------------------

caf::expected<std::string> counting_task::run(const job& j) {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    ++by_key_[j.key];
  }
  ++runs;
  return std::string{"done"};
}

int counting_task::runs_of(const std::string& key) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto i = by_key_.find(key);
  return i == by_key_.end() ? 0 : i->second;
}

uint64_t counting_task::keys_run_twice() {
  std::lock_guard<std::mutex> guard{mtx_};
  uint64_t n = 0;
  for (auto& kv : by_key_)
    if (kv.second > 1)
      ++n;
  return n;
}

} // namespace pulse::test
