// A sink's dead letters redriven (`dl_redrive_atom`) or purged
// (`dl_purge_atom`) by message: the steps of `dead_letters::redrive` and
// the `dead_letters::purge` script, each run a non-blocking request to the
// shared gateway.

#include <algorithm>
#include <memory>
#include <optional>

#include <caf/event_based_actor.hpp>

#include "pulse/actors/streaming/dead_letters.hpp"
#include "pulse/actors/streaming/sink_state.hpp"
#include "pulse/runtime/errors.hpp"
#include "pulse/runtime/log.hpp"

namespace pulse::sink_detail {

namespace {

/// One redrive in progress: the dead-letter streams left, the current
/// one's steps and the sums so far. Owned by the pending request's
/// handlers (no cycle: it holds the actor by raw pointer).
struct redrive_run {
  caf::event_based_actor* self;
  gateway_actor gw;
  std::string sink;
  std::vector<std::string> dlqs;
  size_t index = 0;
  dead_letter_selection which;
  uint64_t max_len = 0;
  dead_letters::redrive_mode mode = dead_letters::redrive_mode::script;
  std::optional<dead_letters::redrive_steps> steps;
  redrive_result total;
  caf::typed_response_promise<redrive_result> rp;
};

void fold(redrive_result& acc, const redrive_result& x) {
  acc.moved += x.moved;
  acc.missing += x.missing;
  acc.skipped += x.skipped;
}

/// Sends the next script run, or delivers the sums when none is left.
void next_redrive_step(const std::shared_ptr<redrive_run>& run) {
  for (;;) {
    if (!run->steps) {
      if (run->index == run->dlqs.size()) {
        if (run->total.moved > 0)
          log::info("sink redrove dead letters sink={} moved={}", run->sink,
                    run->total.moved);
        run->rp.deliver(run->total);
        return;
      }
      run->steps.emplace(run->dlqs[run->index++], run->which, run->max_len,
                         run->mode);
      if (auto err = run->steps->check()) {
        run->rp.deliver(std::move(err));
        return;
      }
    }
    auto req = run->steps->next();
    if (!req) {
      fold(run->total, run->steps->result());
      run->steps.reset();
      continue;
    }
    if (req->is_batch()) {
      // Cluster mode: XRANGE, XADD, XDEL batches (redrive_mode::per_entry).
      run->self
        ->request(run->gw, caf::infinite, batch_atom::value,
                  std::move(req->cmds))
        .then(
          [run](std::vector<resp::value>& replies) {
            if (auto err = run->steps->add(replies)) {
              run->rp.deliver(std::move(err));
              return;
            }
            next_redrive_step(run);
          },
          [run](caf::error& err) { run->rp.deliver(std::move(err)); });
      return;
    }
    run->self
      ->request(run->gw, caf::infinite, eval_atom::value,
                dead_letters::redrive_script(),
                std::vector<std::string>{run->steps->key()},
                std::move(req->args))
      .then(
        [run](resp::value& reply) {
          if (auto err = run->steps->add(reply)) {
            run->rp.deliver(std::move(err));
            return;
          }
          next_redrive_step(run);
        },
        [run](caf::error& err) { run->rp.deliver(std::move(err)); });
    return;
  }
}

/// One purge in progress: the dead-letter streams left and the count so
/// far (held like `redrive_run`).
struct purge_run {
  caf::event_based_actor* self;
  gateway_actor gw;
  std::string sink;
  std::vector<std::string> dlqs;
  size_t index = 0;
  std::vector<std::string> args;
  uint64_t deleted = 0;
  caf::typed_response_promise<uint64_t> rp;
};

/// Purges the next dead-letter stream, or delivers the count when none is
/// left.
void next_purge_step(const std::shared_ptr<purge_run>& run) {
  if (run->index == run->dlqs.size()) {
    if (run->deleted > 0)
      log::info("sink purged dead letters sink={} deleted={}", run->sink,
                run->deleted);
    run->rp.deliver(run->deleted);
    return;
  }
  auto key = dead_letters::key(run->dlqs[run->index++]);
  run->self
    ->request(run->gw, caf::infinite, eval_atom::value,
              dead_letters::purge_script(), std::vector<std::string>{key},
              run->args)
    .then(
      [run](resp::value& reply) {
        if (reply.type != resp::kind::integer) {
          run->rp.deliver(make_error(errc::protocol_error,
                                     "dead-letter purge: unexpected reply "
                                       + reply.render()));
          return;
        }
        run->deleted += static_cast<uint64_t>(reply.integer);
        next_purge_step(run);
      },
      [run](caf::error& err) { run->rp.deliver(std::move(err)); });
}

/// The dead-letter streams sink `st` uses for `stream` (all its streams'
/// when empty, each once). Errors: `errc::invalid_argument` for a stream
/// the sink does not read.
caf::expected<std::vector<std::string>>
dead_letter_streams(const sink_state& st, const std::string& stream) {
  std::vector<std::string> dlqs;
  if (!stream.empty()) {
    if (std::find(st.streams.begin(), st.streams.end(), stream)
        == st.streams.end())
      return make_error(errc::invalid_argument,
                        "sink " + st.cfg.name + " does not read stream "
                          + stream);
    dlqs.push_back(st.cfg.dlq_name(stream));
    return dlqs;
  }
  for (auto& s : st.streams) {
    auto dlq = st.cfg.dlq_name(s);
    if (std::find(dlqs.begin(), dlqs.end(), dlq) == dlqs.end())
      dlqs.push_back(dlq);
  }
  return dlqs;
}

} // namespace

caf::result<redrive_result>
redrive_dead_letters(caf::event_based_actor* self, const sink_state& st,
                     const std::string& stream, dead_letter_selection which,
                     uint64_t max_len) {
  auto dlqs = dead_letter_streams(st, stream);
  if (!dlqs)
    return dlqs.error();
  auto run = std::make_shared<redrive_run>();
  run->self = self;
  run->gw = st.shared_gw;
  run->sink = st.cfg.name;
  run->dlqs = std::move(*dlqs);
  run->which = std::move(which);
  run->max_len = max_len;
  run->mode = st.cfg.redrive;
  run->rp = self->make_response_promise<redrive_result>();
  auto rp = run->rp;
  next_redrive_step(run);
  return rp;
}

caf::result<uint64_t> purge_dead_letters(caf::event_based_actor* self,
                                         const sink_state& st,
                                         const std::string& stream,
                                         dead_letter_selection which) {
  auto dlqs = dead_letter_streams(st, stream);
  if (!dlqs)
    return dlqs.error();
  auto args = dead_letters::purge_args(which);
  if (!args)
    return args.error();
  auto run = std::make_shared<purge_run>();
  run->self = self;
  run->gw = st.shared_gw;
  run->sink = st.cfg.name;
  run->dlqs = std::move(*dlqs);
  run->args = std::move(*args);
  run->rp = self->make_response_promise<uint64_t>();
  auto rp = run->rp;
  next_purge_step(run);
  return rp;
}

} // namespace pulse::sink_detail
