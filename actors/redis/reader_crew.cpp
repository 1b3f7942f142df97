#include "pulse/actors/redis/reader_crew.hpp"

#include <algorithm>
#include <system_error>
#include <thread>

#include <caf/actor_system.hpp>
#include <caf/scheduler/abstract_coordinator.hpp>
#include <caf/send.hpp>

#include "pulse/actors/redis/inline_unit.hpp"
#include "pulse/runtime/errors.hpp"
#include "pulse/runtime/log.hpp"

namespace pulse::detail {

namespace {

std::atomic<uint64_t> takeover_count{0};

std::atomic<uint64_t> lead_count{0};

/// The crew whose woken actors this thread runs now, if any.
thread_local const reader_crew* running_crew = nullptr;

/// Watches the crews of the process while any of them runs actors, and
/// makes a crew whose runs outlast `stall_bound` start another reader.
/// Asleep while no crew ran actors for `quiet_ticks` ticks, so an idle
/// process has no timer wake-ups. One thread per process, never stopped.
class crew_watch {
public:
  static constexpr auto tick = std::chrono::milliseconds{1};
  static constexpr int quiet_ticks = 100;

  void add(std::weak_ptr<reader_crew> crew) {
    std::lock_guard<std::mutex> guard{mtx_};
    start_locked();
    crews_.push_back(std::move(crew));
  }

  /// A crew started running actors.
  void note_runs() {
    phases_.fetch_add(1);
    if (sleeping_.load()) {
      std::lock_guard<std::mutex> guard{mtx_};
      if (sleeping_.load()) {
        sleeping_.store(false);
        cv_.notify_one();
      }
    }
  }

private:
  void start_locked() {
    if (started_)
      return;
    try {
      std::thread{[this] { loop(); }}.detach();
      started_ = true;
    } catch (const std::system_error& e) {
      // Reading works without the watch (no takeovers); the next crew
      // tries again.
      log::warn("cannot start the reader watch thread error=\"{}\"",
                e.what());
    }
  }

  void loop() {
    log::name_thread("pulse.watch");
    uint64_t last = 0;
    int quiet = 0;
    std::unique_lock<std::mutex> lk{mtx_};
    for (;;) {
      cv_.wait(lk, [this] { return !sleeping_.load(); });
      lk.unlock();
      std::this_thread::sleep_for(tick);
      lk.lock();
      auto now = reader_crew::clock_type::now();
      bool busy = false;
      for (auto i = crews_.begin(); i != crews_.end();) {
        if (auto crew = i->lock()) {
          busy = crew->check(now) || busy;
          ++i;
        } else {
          i = crews_.erase(i);
        }
      }
      auto phases = phases_.load();
      if (busy || phases != last) {
        last = phases;
        quiet = 0;
      } else if (++quiet >= quiet_ticks) {
        quiet = 0;
        sleeping_.store(true);
        if (phases_.load() != last) // a crew began runs meanwhile
          sleeping_.store(false);
      }
    }
  }

  std::mutex mtx_;
  std::condition_variable cv_;
  std::vector<std::weak_ptr<reader_crew>> crews_;
  std::atomic<uint64_t> phases_{0};
  std::atomic<bool> sleeping_{true};
  bool started_ = false;
};

crew_watch& watch() {
  static auto* w = new crew_watch; // leaked: its thread never ends
  return *w;
}

} // namespace

reader_crew::reader_crew(wire_ptr conn, uint64_t epoch,
                         const caf::actor& owner, std::string endpoint,
                         link::reader_fn handler, bool leadable)
  : conn_(std::move(conn)),
    epoch_(epoch),
    owner_(owner.address()),
    sys_(&owner.home_system()),
    endpoint_(std::move(endpoint)),
    handler_(std::move(handler)),
    buf_(256 * 1024),
    leadable_(leadable && !conn_->tls()) {
  // nop
}

uint64_t reader_crew::takeovers() noexcept {
  return takeover_count.load();
}

uint64_t reader_crew::leads() noexcept {
  return lead_count.load();
}

bool reader_crew::lead(const std::atomic<bool>& done,
                       std::chrono::nanoseconds spin,
                       clock_type::time_point until) {
  if (!leadable_)
    return false;
  auto start = clock_type::now();
  last_lead_try_.store(start.time_since_epoch().count(),
                       std::memory_order_relaxed);
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (!polling_ || led_ || stopped_ || reason_)
      return false;
    led_ = true;
  }
  ++lead_count;
  until = std::min(until, start + lead_bound);
  auto spin_until = std::min(until, start + spin);
  while (!done.load(std::memory_order_acquire)) {
    auto now = clock_type::now();
    auto left = std::chrono::duration_cast<std::chrono::microseconds>(until
                                                                      - now);
    if (left.count() <= 0)
      break;
    // Polls the socket while spinning (keeps this core awake: waking a
    // sleeping thread costs tens of µs on virtual machines), then sleeps in
    // `poll`.
    bool spinning = now < spin_until;
    if (!spinning && !conn_->wait_readable(left))
      break;
    auto got = conn_->read_now(buf_.data(), buf_.size());
    if (got.again) {
      if (spinning)
        std::this_thread::yield();
      continue;
    }
    if (!take_read(std::move(got), nullptr)) {
      // The reader thread reports `reason_` (`link_down`) once it has the
      // role back; shutting the socket wakes it.
      conn_->shut();
      break;
    }
  }
  std::lock_guard<std::mutex> guard{mtx_};
  led_ = false;
  if (reader_waits_)
    cv_.notify_all();
  return true;
}

io_result reader_crew::wait_and_read() {
  for (;;) {
    // Bytes already there (a busy connection) cost one syscall, as with a
    // blocking `recv`; only an empty socket is waited for in `poll`.
    auto got = conn_->read_now(buf_.data(), buf_.size());
    if (!got.again)
      return got;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      polling_ = true;
    }
    conn_->wait_readable(std::chrono::microseconds{-1});
    {
      std::unique_lock<std::mutex> lk{mtx_};
      polling_ = false;
      if (led_) {
        reader_waits_ = true;
        cv_.wait(lk, [this] { return !led_; });
        reader_waits_ = false;
      }
    }
    if (reason_) { // found by a caller that led
      io_result r;
      r.error = reason_;
      return r;
    }
  }
}

void reader_crew::start() {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    reading_ = true;
  }
  watch().add(weak_from_this());
  try {
    std::thread{[self = shared_from_this()] { self->read_role(0); }}.detach();
  } catch (const std::system_error& e) {
    // No thread to read with: the connection goes down like a failed
    // connect, and the owner retries with back-off.
    {
      std::lock_guard<std::mutex> guard{mtx_};
      reading_ = false;
      cv_.notify_all();
    }
    log::warn("cannot start a redis reader thread endpoint={} error=\"{}\"",
              endpoint_, e.what());
    if (auto owner = caf::actor_cast<caf::actor>(owner_))
      caf::anon_send(owner, link_down_atom::value, epoch_,
                     make_error(errc::disconnected,
                                "cannot start a reader thread for "
                                  + endpoint_ + ": " + e.what()));
  }
}

void reader_crew::stop() {
  std::unique_lock<std::mutex> lk{mtx_};
  stopped_ = true;
  cv_.wait(lk, [this] { return !reading_; });
  // Called from a run on one of this crew's threads (an actor woken here
  // closes this connection: its owner, say, woken by a chained run): that
  // run cannot end while it waits here, so it does not count.
  int own = running_crew == this ? 1 : 0;
  if (!cv_.wait_for(lk, stop_wait, [this, own] { return running_ <= own; }))
    log::warn("redis connection closed while a handler still runs on its "
              "reader thread endpoint={} waited_ms={}",
              endpoint_,
              std::chrono::duration_cast<std::chrono::milliseconds>(stop_wait)
                .count());
}

bool reader_crew::check(clock_type::time_point now) {
  std::lock_guard<std::mutex> guard{mtx_};
  if (reading_ || stopped_ || runs_since_ == clock_type::time_point{})
    return false;
  if (now - runs_since_ < stall_bound)
    return true;
  auto gen = gen_ + 1;
  // Counted before the thread starts: its first reply may reach a caller
  // that reads the count before this thread runs again.
  ++takeover_count;
  try {
    // Holds the lock: the new thread reads at once, and takes the lock
    // only after its first runs.
    std::thread{[self = shared_from_this(), gen] { self->read_role(gen); }}
      .detach();
  } catch (const std::system_error& e) {
    --takeover_count;
    // No thread to spare: the running thread keeps the role and reads
    // again after its runs; the next check tries again.
    if (!spawn_failed_)
      log::warn("redis reader thread runs a handler longer than {} ms and "
                "no new thread could start endpoint={} error=\"{}\"",
                stall_bound.count(), endpoint_, e.what());
    spawn_failed_ = true;
    return true;
  }
  gen_ = gen;
  reading_ = true;
  runs_since_ = {};
  for (auto* job : pending_)
    sys_->scheduler().enqueue(job);
  auto handed = pending_.size();
  pending_.clear();
  log::debug("redis reader thread runs a handler longer than {} ms: a new "
             "thread reads endpoint={} handed_to_scheduler={}",
             stall_bound.count(), endpoint_, handed);
  return false;
}

bool reader_crew::read_once(inline_unit* unit) {
  // Waits for bytes in `poll` (so that callers may lead) only while callers
  // tried lately; otherwise in one blocking `recv` per wake-up, which is
  // cheaper (TLS: every buffered record first). `wire::shut` ends either.
  auto recent = [this] {
    auto last = clock_type::duration{
      last_lead_try_.load(std::memory_order_relaxed)};
    return clock_type::now().time_since_epoch() - last < lead_window;
  };
  return take_read(leadable_ && recent()
                     ? wait_and_read()
                     : conn_->read(buf_.data(), buf_.size()),
                   unit);
}

bool reader_crew::take_read(io_result got, inline_unit* unit) {
  if (got.closed) {
    reason_ = make_error(errc::disconnected,
                         "connection to " + endpoint_ + " closed");
    return false;
  }
  if (got.error) {
    reason_ = std::move(got.error);
    return false;
  }
  return hand_over(got.n, unit);
}

bool reader_crew::hand_over(size_t n, inline_unit* unit) {
  if (auto err = dec_.feed(buf_.data(), n)) {
    reason_ = std::move(err);
    return false;
  }
  resp::value reply;
  for (;;) {
    auto next = dec_.next(reply);
    if (!next) {
      reason_ = next.error();
      break;
    }
    if (!*next)
      break;
    replies_.emplace_back(std::move(reply));
  }
  if (!replies_.empty()) {
    if (handler_) {
      if (unit != nullptr)
        unit->collect();
      auto err = handler_(replies_);
      if (err && !reason_)
        reason_ = std::move(err);
    }
    if (!replies_.empty()) {
      if (auto owner = caf::actor_cast<caf::actor>(owner_))
        caf::anon_send(owner, link_data_atom::value, epoch_,
                       std::move(replies_));
      replies_ = {};
    }
  }
  return !reason_;
}

void reader_crew::read_role(uint64_t gen) {
  log::name_thread("pulse.reader");
  auto* unit = inline_unit::acquire(*sys_);
  for (;;) {
    // This thread holds the read role.
    auto more = read_once(unit);
    auto jobs = unit->take();
    if (!more) {
      for (auto* job : jobs) // woken by the last chunk: never left behind
        unit->schedule(job);
      if (auto owner = caf::actor_cast<caf::actor>(owner_))
        caf::anon_send(owner, link_down_atom::value, epoch_,
                       std::move(reason_));
      std::lock_guard<std::mutex> guard{mtx_};
      reading_ = false;
      cv_.notify_all();
      break;
    }
    if (jobs.empty())
      continue;
    {
      // Gives up the read role while the woken actors run here.
      std::lock_guard<std::mutex> guard{mtx_};
      reading_ = false;
      ++running_;
      pending_.insert(pending_.end(), jobs.begin(), jobs.end());
      runs_since_ = clock_type::now();
      if (stopped_)
        cv_.notify_all();
    }
    watch().note_runs();
    running_crew = this;
    for (size_t runs = 1;; ++runs) {
      caf::resumable* job = nullptr;
      {
        std::lock_guard<std::mutex> guard{mtx_};
        if (stopped_) {
          // Closing: the scheduler runs the rest, so `stop` waits only for
          // the run in progress.
          for (auto* x : pending_)
            unit->schedule(x);
          pending_.clear();
        }
        if (gen != gen_ || pending_.empty())
          break;
        job = pending_.front();
        pending_.pop_front();
      }
      // The actors a run wakes (a sink's subscriber, say) run here too, up
      // to `max_chained_runs` per chunk: each would otherwise cost a
      // scheduler worker's wake-up. The watch's stall bound covers them as
      // it covers the first ones.
      bool chain = runs < max_chained_runs;
      unit->run(job, chain);
      if (!chain)
        continue;
      auto woken = unit->take();
      if (woken.empty())
        continue;
      // Queued to run here (once the crew stopped, the loop's top hands
      // them to the scheduler), or to the scheduler at once when another
      // thread holds the read role now.
      std::lock_guard<std::mutex> guard{mtx_};
      if (gen != gen_) {
        for (auto* x : woken)
          unit->schedule(x);
      } else {
        pending_.insert(pending_.end(), woken.begin(), woken.end());
      }
    }
    running_crew = nullptr;
    std::lock_guard<std::mutex> guard{mtx_};
    --running_;
    if (stopped_)
      cv_.notify_all();
    if (gen != gen_ || stopped_) {
      // Another thread reads now (the watch found these runs too long; the
      // actors left are its own), or the connection is closing (none are
      // left): this thread ends.
      break;
    }
    runs_since_ = {};
    reading_ = true;
  }
  inline_unit::release(unit);
}

} // namespace pulse::detail
