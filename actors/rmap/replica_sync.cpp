#include "pulse/actors/rmap/replica_state.hpp"

#include <algorithm>
#include <array>

#include "pulse/actors/rmap/scripts.hpp"
#include "pulse/runtime/errors.hpp"
#include "pulse/runtime/log.hpp"

namespace pulse::replica_detail {

void replica_state::start() {
  auto c = core;
  auto fast = std::make_shared<std::function<bool(const pubsub_message&)>>(
    [c](const pubsub_message& msg) { return c->fast_path(msg); });
  self
    ->request(ps, caf::infinite, sub_atom::value, channel,
              pubsub_subscriber_actor{self},
              direct_handler{fast})
    .then(
      [this](bool) {
        subscribed = true;
        resync();
      },
      [this](caf::error& err) {
        log::warn("map subscribe failed map={} error=\"{}\"", name, err);
        self->delayed_send(self, retry.next(), rp_retry_atom::value);
      });
}

void replica_state::resync() {
  {
    std::lock_guard<std::mutex> guard{core->mtx};
    if (core->syncing) {
      resync_again = true;
      return;
    }
    core->syncing = true;
  }
  // A big map's snapshot may take longer than command-timeout (1M small
  // entries take seconds on a loaded machine): it gets join-timeout, the
  // time a join waits for it anyway.
  auto cmd = make_command("HGETALL", content_key);
  cmd.timeout = opts.join_timeout;
  self->request(gw, caf::infinite, cmd_atom::value, std::move(cmd))
    .then([this](resp::value& v) { on_snapshot(v); },
          [this](caf::error& err) {
            bool joined;
            {
              std::lock_guard<std::mutex> guard{core->mtx};
              core->syncing = false;
              joined = core->joined;
            }
            log::warn("map resync failed map={} error=\"{}\"", name, err);
            // A key of another type (WRONGTYPE) or a missing permission
            // will not heal by waiting: fail the join at once instead of
            // after join_timeout (the joiner then stops this replica).
            if (!joined && is_permanent(err)) {
              auto e = make_error(errc::redis_error,
                                  "pulse map: cannot load " + content_key
                                    + ": " + render(err));
              for (auto& kvp : waiters)
                kvp.second.deliver(e);
              waiters.clear();
            }
            self->delayed_send(self, retry.next(), rp_retry_atom::value);
          });
}

uint64_t replica_state::current_rev() {
  std::lock_guard<std::mutex> guard{core->mtx};
  return core->rev;
}

void replica_state::on_snapshot(resp::value& v) {
  retry.reset();
  ++stats.resyncs;
  // Built straight from the reply's strings into one arena per shard, no
  // intermediate map. Sized from the first pairs (a shortfall only adds
  // arena blocks); each key's hash is computed a few pairs ahead and its
  // index slot prefetched, so the cache misses of a big map overlap.
  auto& xs = v.elements;
  size_t pairs = xs.size() / 2;
  size_t sample = std::min<size_t>(pairs, 1024);
  size_t sample_bytes = 0;
  for (size_t i = 0; i < 2 * sample; ++i)
    sample_bytes += xs[i].str.size();
  size_t bytes = sample == 0 ? 0
                             : sample_bytes * pairs / sample
                                 + sample_bytes * pairs / sample / 16;
  rmap_store::image fresh{pairs, bytes};
  constexpr size_t ahead = 32;
  std::array<size_t, ahead> hashes{};
  for (size_t p = 0; p < std::min(pairs, ahead); ++p) {
    hashes[p] = rmap_store::image::hash(xs[2 * p].str);
    fresh.prefetch(hashes[p]);
  }
  uint64_t snap_rev = 0;
  std::string kind;
  for (size_t p = 0; p < pairs; ++p) {
    auto h = hashes[p % ahead];
    if (p + ahead < pairs) {
      auto next = rmap_store::image::hash(xs[2 * (p + ahead)].str);
      hashes[p % ahead] = next;
      fresh.prefetch(next);
    }
    auto& k = xs[2 * p].str;
    auto& val = xs[2 * p + 1].str;
    if (k.size() > 1 && k[0] == '=' && (k == "=rev" || k == "=kind")) {
      if (k == "=rev") {
        auto r = resp::value::make_bulk(val).as_integer();
        snap_rev = r && *r > 0 ? static_cast<uint64_t>(*r) : 0;
      } else {
        kind = val;
      }
    } else {
      fresh.set(k, val, h);
    }
  }
  // Free the reply (2 values per entry) before the join completes, so a
  // joined map holds only its store.
  v = resp::value{};
  // The strongest kind this resync stands for.
  auto ev = kind == "del"                           ? map_event_kind::del
            : kind == "reset" || kind == "destroy" ? map_event_kind::reset
                                                    : map_event_kind::change;
  std::vector<map_change> changes;
  bool first = false;
  {
    std::lock_guard<std::mutex> guard{core->mtx};
    if (core->joined && snap_rev <= core->rev)
      ev = map_event_kind::change;
    if (!detailed.empty()) {
      // Diff for detailed subscribers (the store only changes under
      // `core->mtx`, which this thread holds).
      fresh.for_each([&](std::string_view k, std::string_view val) {
        auto old = store->get(k);
        if (!old)
          changes.push_back({map_event_kind::change, std::string{k}, {},
                             std::string{val}, false, snap_rev});
        else if (*old != val)
          changes.push_back({map_event_kind::change, std::string{k},
                             std::move(*old), std::string{val}, true,
                             snap_rev});
      });
      store->for_each([&](std::string_view k, std::string_view val) {
        if (!fresh.contains(k))
          changes.push_back({map_event_kind::del, std::string{k},
                             std::string{val}, {}, true, snap_rev});
      });
    }
    store->replace(std::move(fresh));
    core->rev = snap_rev; // adopted even when lower (data loss, expiry)
    store->rev(snap_rev);
    first = !core->joined;
    core->joined = true;
    core->syncing = false;
  }
  for (auto& c : changes)
    notify_detailed(c);
  if (!first)
    notify_coarse(ev);
  // Messages that arrived during the resync.
  auto pending = std::move(buffer);
  buffer.clear();
  for (auto& n : pending) {
    if (is_syncing()) {
      buffer.push_back(std::move(n));
      continue;
    }
    if (n.rev <= current_rev()) {
      ++stats.ignored;
      continue;
    }
    apply(n);
  }
  auto rev = current_rev();
  release_waiters(rev);
  for (auto& rp : resync_waiters)
    rp.deliver(rev);
  resync_waiters.clear();
  if (resync_again) {
    resync_again = false;
    resync();
  }
}

bool replica_state::is_syncing() {
  std::lock_guard<std::mutex> guard{core->mtx};
  return core->syncing;
}

void replica_state::on_message(const pubsub_message& msg) {
  if (msg.channel != channel)
    return;
  bool buffer_it = false;
  {
    std::lock_guard<std::mutex> guard{core->mtx};
    if (core->forwarded > 0)
      --core->forwarded;
    buffer_it = !core->joined || core->syncing;
  }
  auto n = decode_notification(msg.payload);
  if (!n) {
    ++stats.malformed;
    log::warn("map dropped malformed notification map={} error=\"{}\"",
              name, n.error());
    return;
  }
  if (buffer_it) {
    buffer.push_back(std::move(*n));
    return;
  }
  apply(*n);
}

void replica_state::apply(map_notification& n) {
  std::unique_lock<std::mutex> guard{core->mtx};
  if (n.rev != core->rev + 1) {
    auto local = core->rev;
    guard.unlock();
    if (n.rev == local) {
      ++stats.ignored; // duplicate
      return;
    }
    // A gap (missed messages) or a regression (expiry, data loss).
    ++stats.gaps;
    log::info("map revision gap, resyncing map={} local={} got={}", name,
              local, n.rev);
    buffer.push_back(std::move(n));
    resync();
    return;
  }
  auto change = core->apply_locked(n);
  guard.unlock();
  after_apply(change);
}

void replica_state::after_apply(const map_change& change) {
  ++stats.applied;
  notify_coarse(change.kind);
  if (!detailed.empty())
    notify_detailed(change);
  release_waiters(change.rev);
}

void replica_state::release_waiters(uint64_t rev) {
  auto end = waiters.upper_bound(rev);
  if (end == waiters.begin())
    return;
  for (auto i = waiters.begin(); i != end; ++i)
    i->second.deliver(rev);
  waiters.erase(waiters.begin(), end);
  update_listeners();
}

} // namespace pulse::replica_detail
