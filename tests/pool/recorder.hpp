#pragma once

/// A job handler for tests: records every start and stop (with the worker
/// and a steady timestamp) in a shared journal, so tests can check which
/// worker ran which key and that no key ever ran on two workers at once.

#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "pulse/runtime/errors.hpp"
#include "pulse/actors/pool/handler.hpp"

namespace pulse::test {

struct journal {
  struct entry {
    char kind; // 's' start, 'x' stop, 'n' notification
    std::string worker;
    std::string key;
    std::string payload;
  };

  std::mutex mtx;
  std::vector<entry> entries;
  /// key -> worker currently running it.
  std::map<std::string, std::string> running;
  /// Overlaps seen: a start of a key already running elsewhere.
  std::vector<std::string> overlaps;

  void add(entry e) {
    std::lock_guard<std::mutex> guard{mtx};
    if (e.kind == 's') {
      auto i = running.find(e.key);
      if (i != running.end() && i->second != e.worker)
        overlaps.push_back(e.key + " on " + i->second + " and " + e.worker);
      running[e.key] = e.worker;
    } else if (e.kind == 'x') {
      auto i = running.find(e.key);
      if (i != running.end() && i->second == e.worker)
        running.erase(i);
    }
    entries.push_back(std::move(e));
  }

  size_t count(char kind, const std::string& key = {}) {
    std::lock_guard<std::mutex> guard{mtx};
    size_t n = 0;
    for (auto& e : entries)
      if (e.kind == kind && (key.empty() || e.key == key))
        ++n;
    return n;
  }

  std::string owner(const std::string& key) {
    std::lock_guard<std::mutex> guard{mtx};
    auto i = running.find(key);
    return i == running.end() ? std::string{} : i->second;
  }

  std::map<std::string, std::string> snapshot() {
    std::lock_guard<std::mutex> guard{mtx};
    return running;
  }
};

class recorder : public job_handler {
public:
  recorder(std::shared_ptr<journal> j) : j_(std::move(j)) {}

  /// Keys whose start fails (with text "boom") or asks for a requeue once.
  std::set<std::string> fail_keys;
  std::set<std::string> requeue_once;
  /// How long each stop takes.
  std::chrono::milliseconds stop_delay{0};

  caf::error start(const job& x) override {
    if (fail_keys.count(x.key))
      return make_error(errc::invalid_argument, "boom");
    {
      std::lock_guard<std::mutex> guard{mtx_};
      if (requeue_once.erase(x.key))
        return make_error(errc::requeue);
    }
    j_->add({'s', x.worker, x.key, x.payload});
    std::lock_guard<std::mutex> guard{mtx_};
    mine_[x.key] = x.worker;
    return caf::none;
  }

  caf::error stop(const std::string& key) override {
    if (stop_delay.count() > 0)
      std::this_thread::sleep_for(stop_delay);
    std::string w;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      w = mine_[key];
      mine_.erase(key);
    }
    j_->add({'x', w, key, {}});
    return caf::none;
  }

  caf::error handle_notification(const std::string& key,
                                 const std::string& payload) override {
    std::string w;
    {
      std::lock_guard<std::mutex> guard{mtx_};
      w = mine_[key];
    }
    j_->add({'n', w, key, payload});
    return caf::none;
  }

private:
  std::shared_ptr<journal> j_;
  std::mutex mtx_;
  std::map<std::string, std::string> mine_;
};

/// A recorder that also keeps every job it started, so a test can end
/// it later (`complete_job`, `fail_job`).
struct job_holder : recorder {
  using recorder::recorder;

  caf::error start(const job& j) override {
    { // kept before the journal sees the start (tests wait on either)
      std::lock_guard<std::mutex> guard{jobs_mtx};
      jobs[j.key] = j;
    }
    return recorder::start(j);
  }

  /// The job started with `key`, if any.
  caf::optional<job> get(const std::string& key) {
    std::lock_guard<std::mutex> guard{jobs_mtx};
    auto i = jobs.find(key);
    if (i == jobs.end())
      return caf::none;
    return i->second;
  }

  std::mutex jobs_mtx;
  std::map<std::string, job> jobs;
};

} // namespace pulse::test
