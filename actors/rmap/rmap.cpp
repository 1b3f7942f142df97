#include "pulse/actors/rmap/rmap.hpp"

#include <caf/all.hpp>

#include "pulse/actors/rmap/replica.hpp"
#include "pulse/actors/redis/client.hpp"
#include "pulse/actors/rmap/encoding.hpp"
#include "pulse/actors/rmap/ops.hpp"
#include "pulse/runtime/errors.hpp"
#include "pulse/actors/rmap/scripts.hpp"
#include "pulse/actors/redis/services.hpp"

namespace pulse::rmap {

map::map(services& rt, std::string name, options opts)
  : rt_(rt),
    name_(std::move(name)),
    opts_(opts),
    store_(std::make_shared<rmap_store>()),
    probe_(std::make_shared<propagation_probe>()),
    keys_(rmap_ops::keys_of(name_)) {
  // nop
}

caf::expected<std::shared_ptr<map>>
map::join(services& rt, const std::string& name) {
  return join(rt, name, map_options::from(rt.opts().rmap));
}

caf::expected<std::shared_ptr<map>>
map::join(services& rt, const std::string& name, options opts) {
  std::shared_ptr<map> result{new map(rt, name, opts)};
  auto replica = join_replica(rt, name, result->store_, opts,
                              result->probe_);
  if (!replica)
    return replica.error();
  result->replica_ = std::move(*replica);
  return result;
}

map::~map() {
  close();
}

void map::close() {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (closed_)
      return;
    closed_ = true;
  }
  // Wait until the replica stopped: its exit freezes the local copy, and a
  // notification must not change it after close() returned (the fast path
  // applies notifications without going through the replica's mailbox).
  caf::scoped_actor self{rt_.system()};
  self->send_exit(replica_, caf::exit_reason::user_shutdown);
  self->wait_for(replica_);
}

bool map::closed() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return closed_;
}

caf::optional<std::vector<std::string>>
map::get_values(const std::string& key) const {
  auto v = store_->get(key);
  if (!v)
    return caf::none;
  return decode_list(*v);
}

caf::expected<map_write_result> map::write(const map_write& w) {
  auto args = rmap_ops::args_of(w, opts_);
  if (!args)
    return args.error();
  std::unique_ptr<client> c;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (closed_ && w.op != map_op::reset && w.op != map_op::destroy)
      return make_error(errc::closed, "pulse map: " + name_ + " is stopped");
    if (!idle_clients_.empty()) {
      c = std::move(idle_clients_.back());
      idle_clients_.pop_back();
    }
  }
  if (!c)
    c = std::make_unique<client>(rt_.system(), rt_.gateway());
  // Only a `set` reply names its revision: time it to the replica's apply.
  bool timed = w.op == map_op::set;
  auto sent = timed ? probe_->sent() : propagation_probe::clock::time_point{};
  auto res = c->eval(rmap_ops::script_of(w.op), keys_, std::move(*args));
  {
    std::lock_guard<std::mutex> guard{mtx_};
    idle_clients_.push_back(std::move(c));
  }
  if (!res)
    return res.error();
  auto r = rmap_ops::decode(w, *res);
  if (r && timed)
    probe_->answered(r->rev, sent);
  return r;
}

caf::expected<map::set_result> map::set_ex(const std::string& key,
                                           const std::string& value) {
  auto r = write({map_op::set, key, {value}});
  if (!r)
    return r.error();
  return set_result{std::move(r->prev), r->rev};
}

caf::expected<caf::optional<std::string>>
map::set(const std::string& key, const std::string& value) {
  auto r = set_ex(key, value);
  if (!r)
    return r.error();
  return std::move(r->prev);
}

caf::expected<caf::optional<std::string>>
map::set_and_wait(const std::string& key, const std::string& value) {
  auto r = set_ex(key, value);
  if (!r)
    return r.error();
  if (store_->rev() < r->rev) {
    caf::scoped_actor self{rt_.system()};
    caf::error err;
    self->request(replica_, caf::infinite, wait_rev_atom::value, r->rev)
      .receive([](uint64_t) {}, [&](caf::error& e) { err = std::move(e); });
    if (err)
      return err;
  }
  return std::move(r->prev);
}

caf::expected<bool> map::set_if_not_exists(const std::string& key,
                                           const std::string& value) {
  auto r = write({map_op::set_if_not_exists, key, {value}});
  if (!r)
    return r.error();
  return r->done;
}

caf::expected<map::test_result>
map::test_and_set_ex(const std::string& key, const std::string& test,
                     const std::string& value) {
  auto r = write({map_op::test_and_set, key, {test, value}});
  if (!r)
    return r.error();
  return test_result{std::move(r->prev), r->done};
}

caf::expected<caf::optional<std::string>>
map::test_and_set(const std::string& key, const std::string& test,
                  const std::string& value) {
  auto r = test_and_set_ex(key, test, value);
  if (!r)
    return r.error();
  return std::move(r->prev);
}

caf::expected<int64_t> map::inc(const std::string& key, int64_t delta) {
  auto r = write({map_op::inc, key, {std::to_string(delta)}});
  if (!r)
    return r.error();
  return r->number;
}

caf::expected<std::vector<std::string>>
map::append_values(const std::string& key,
                   const std::vector<std::string>& items) {
  auto r = write({map_op::append_values, key, items});
  if (!r)
    return r.error();
  return std::move(r->values);
}

caf::expected<std::vector<std::string>>
map::append_unique_values(const std::string& key,
                          const std::vector<std::string>& items) {
  auto r = write({map_op::append_unique_values, key, items});
  if (!r)
    return r.error();
  return std::move(r->values);
}

caf::expected<map::remove_result>
map::remove_values(const std::string& key,
                   const std::vector<std::string>& items) {
  auto r = write({map_op::remove_values, key, items});
  if (!r)
    return r.error();
  remove_result result;
  result.removed = r->done;
  if (r->present)
    result.remaining = std::move(r->values);
  return result;
}

caf::expected<map::test_result> map::delete_ex(const std::string& key) {
  auto r = write({map_op::del, key, {}});
  if (!r)
    return r.error();
  return test_result{std::move(r->prev), r->done};
}

caf::expected<caf::optional<std::string>> map::del(const std::string& key) {
  auto r = delete_ex(key);
  if (!r)
    return r.error();
  return std::move(r->prev);
}

caf::expected<map::test_result>
map::test_and_delete_ex(const std::string& key, const std::string& test) {
  auto r = write({map_op::test_and_delete, key, {test}});
  if (!r)
    return r.error();
  return test_result{std::move(r->prev), r->done};
}

caf::expected<caf::optional<std::string>>
map::test_and_delete(const std::string& key, const std::string& test) {
  auto r = test_and_delete_ex(key, test);
  if (!r)
    return r.error();
  return std::move(r->prev);
}

caf::error map::reset() {
  auto r = write({map_op::reset, {}, {}});
  return r ? caf::error{} : r.error();
}

caf::error map::destroy() {
  auto r = write({map_op::destroy, {}, {}});
  return r ? caf::error{} : r.error();
}

caf::expected<bool> map::test_and_reset(const std::vector<std::string>& keys,
                                        const std::vector<std::string>& tests) {
  if (keys.size() != tests.size())
    return make_error(errc::invalid_argument,
                      "pulse map: test_and_reset needs as many tests as keys");
  std::vector<std::string> args{keys};
  args.insert(args.end(), tests.begin(), tests.end());
  auto r = write({map_op::test_and_reset, {}, std::move(args)});
  if (!r)
    return r.error();
  return r->done;
}

} // namespace pulse::rmap
