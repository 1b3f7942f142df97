// The cluster router's requests to every master: one keyless command on
// each (`each_master_atom`) and the `SCAN` walk over all of them
// (`scan_keys_atom`).

#include <memory>

#include "pulse/actors/redis/cluster_router_state.hpp"
#include "pulse/actors/redis/scan_walk.hpp"

namespace pulse::cluster_detail {

namespace {

/// Collects one result per master; answers once, with the first error if
/// any master failed.
template <class T>
struct each_job {
  std::vector<T> results;
  size_t pending = 0;
  caf::error failed;
  std::function<void(caf::expected<std::vector<T>>)> done;

  void finish_one() {
    if (--pending > 0)
      return;
    if (failed)
      done(std::move(failed));
    else
      done(std::move(results));
  }
};

/// Notes a node's failure: a lost connection refreshes the slot table
/// (the master may have failed over).
void each_failed(router_ptr self, const caf::error& err) {
  auto code = code_of(err);
  if (code == errc::disconnected || code == errc::connect_failed)
    refresh(self);
}

/// Runs `start(addr, i, finish)` for every serving master `addr` (index
/// `i`) once the table exists; `job` collects the outcomes.
template <class T, class F>
void for_each_master(router_ptr self, std::shared_ptr<each_job<T>> job,
                     F start) {
  when_ready(self, [self, job, start](caf::error err) {
    if (err) {
      job->done(std::move(err));
      return;
    }
    auto masters = self->state.table.serving();
    if (masters.empty()) {
      job->done(make_error(errc::no_master,
                           "cluster: no master serves any slot"));
      return;
    }
    job->results.resize(masters.size());
    job->pending = masters.size();
    for (size_t i = 0; i < masters.size(); ++i)
      start(masters[i], i);
  });
}

} // namespace

void route_each_master(
  router_ptr self, command cmd,
  std::function<void(caf::expected<std::vector<resp::value>>)> done) {
  auto job = std::make_shared<each_job<resp::value>>();
  job->done = std::move(done);
  auto p = std::make_shared<command>(std::move(cmd));
  for_each_master(self, job, [self, job, p](const std::string& addr,
                                            size_t i) {
    self
      ->request(node_gw(self, addr), caf::infinite, batch_atom::value,
                std::vector<command>{*p})
      .then(
        [job, i](std::vector<resp::value>& vs) {
          if (vs.size() == 1)
            job->results[i] = std::move(vs[0]);
          else if (!job->failed)
            job->failed = make_error(errc::protocol_error,
                                     "cluster: each-master reply");
          job->finish_one();
        },
        [self, job](caf::error& e) {
          each_failed(self, e);
          if (!job->failed)
            job->failed = std::move(e);
          job->finish_one();
        });
  });
}

void route_scan(router_ptr self, scan_query q,
                std::function<void(caf::expected<scan_result>)> done) {
  auto job = std::make_shared<each_job<scan_result>>();
  job->done = [done = std::move(done)](
                caf::expected<std::vector<scan_result>> rs) {
    if (!rs) {
      done(std::move(rs.error()));
      return;
    }
    scan_result all;
    for (auto& r : *rs) {
      all.keys.insert(all.keys.end(), r.keys.begin(), r.keys.end());
      all.complete = all.complete && r.complete;
    }
    detail::normalize(all);
    done(std::move(all));
  };
  for_each_master(self, job, [self, job, q](const std::string& addr,
                                            size_t i) {
    auto gw = node_gw(self, addr);
    detail::walk_scan(
      [self, gw](command cmd,
                 std::function<void(caf::expected<resp::value>)> k) {
        self->request(gw, caf::infinite, cmd_atom::value, std::move(cmd))
          .then([k](resp::value& v) { k(std::move(v)); },
                [self, k](caf::error& e) {
                  each_failed(self, e);
                  k(std::move(e));
                });
      },
      q, [job, i](caf::expected<scan_result> r) {
        if (r)
          job->results[i] = std::move(*r);
        else if (!job->failed)
          job->failed = std::move(r.error());
        job->finish_one();
      });
  });
}

} // namespace pulse::cluster_detail
