#include "actors/rmap/rmap.hpp"

#include <caf/all.hpp>

#include "actors/rmap/replica.hpp"
#include "actors/redis/client.hpp"
#include "actors/rmap/encoding.hpp"
#include "runtime/errors.hpp"
#include "runtime/names.hpp"
#include "actors/rmap/scripts.hpp"
#include "actors/redis/services.hpp"

namespace pulse::rmap {

map::map(services& rt, std::string name, options opts)
  : rt_(rt),
    name_(std::move(name)),
    opts_(opts),
    store_(std::make_shared<rmap_store>()),
    keys_{rmap_scripts::content_key(name_),
          rmap_scripts::updates_channel(name_)} {
  // nop
}

caf::expected<std::shared_ptr<map>>
map::join(services& rt, const std::string& name, options opts) {
  if (auto err = validate_name(name, "pulse map"))
    return err;
  if (opts.ttl.count() < 0)
    return make_error(errc::invalid_argument,
                      "pulse map: TTL must not be negative");
  std::shared_ptr<map> result{new map(rt, name, opts)};
  auto replica = spawn_replica(rt, name, result->store_,
                               opts.dedicated_thread);
  if (!replica)
    return replica.error();
  result->replica_ = *replica;
  caf::scoped_actor self{rt.system()};
  caf::error err;
  self->request(result->replica_, opts.join_timeout, wait_rev_atom::value,
                uint64_t{0})
    .receive([](uint64_t) {}, [&](caf::error& e) { err = std::move(e); });
  if (err) {
    self->send_exit(result->replica_, caf::exit_reason::user_shutdown);
    if (err == caf::sec::request_timeout)
      return make_error(errc::timeout, "pulse map: join of " + name
                                         + " timed out");
    return err;
  }
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

caf::expected<resp::value> map::run(const script& s, const char* op,
                                    const std::string* key,
                                    std::vector<std::string> args,
                                    bool allowed_when_closed) {
  if (key != nullptr)
    if (auto err = validate_key(*key, "pulse map", op))
      return err;
  std::unique_ptr<client> c;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (closed_ && !allowed_when_closed)
      return make_error(errc::closed, "pulse map: " + name_ + " is stopped");
    if (!idle_clients_.empty()) {
      c = std::move(idle_clients_.back());
      idle_clients_.pop_back();
    }
  }
  if (!c)
    c = std::make_unique<client>(rt_.system(), rt_.gateway());
  std::string mode;
  int64_t ttl_ms = 0;
  if (opts_.ttl.count() > 0) {
    mode = opts_.sliding_ttl ? "slide" : "abs";
    ttl_ms = std::chrono::duration_cast<std::chrono::milliseconds>(opts_.ttl)
               .count();
  }
  args.insert(args.begin(), {mode, std::to_string(ttl_ms)});
  auto res = c->eval(s, keys_, std::move(args));
  {
    std::lock_guard<std::mutex> guard{mtx_};
    idle_clients_.push_back(std::move(c));
  }
  return res;
}

namespace {

caf::optional<std::string> opt_str(const resp::value& v) {
  if (v.is_nil())
    return caf::none;
  return v.str;
}

} // namespace

caf::expected<map::set_result> map::set_ex(const std::string& key,
                                           const std::string& value) {
  auto r = run(rmap_scripts::set(), "set", &key, {key, value});
  if (!r)
    return r.error();
  if (!r->is_array() || r->elements.size() != 3)
    return make_error(errc::protocol_error, "set: " + r->render());
  set_result result;
  if (r->elements[0].integer == 1)
    result.prev = r->elements[1].str;
  result.rev = static_cast<uint64_t>(r->elements[2].as_integer().value_or(0));
  return result;
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
  auto r = run(rmap_scripts::set_if_not_exists(), "set_if_not_exists", &key,
               {key, value});
  if (!r)
    return r.error();
  return r->integer == 1;
}

caf::expected<map::test_result>
map::test_and_set_ex(const std::string& key, const std::string& test,
                     const std::string& value) {
  auto r = run(rmap_scripts::test_and_set(), "test_and_set", &key,
               {key, test, value});
  if (!r)
    return r.error();
  test_result result;
  result.prev = opt_str(*r);
  result.done = result.prev && *result.prev == test;
  return result;
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
  auto r = run(rmap_scripts::incr(), "inc", &key,
               {key, std::to_string(delta)});
  if (!r)
    return r.error();
  auto v = r->as_integer();
  if (!v)
    return make_error(errc::protocol_error, "inc: " + r->render());
  return *v;
}

caf::expected<std::vector<std::string>>
map::append_values(const std::string& key,
                   const std::vector<std::string>& items) {
  std::vector<std::string> args{key};
  args.insert(args.end(), items.begin(), items.end());
  auto r = run(rmap_scripts::append(), "append_values", &key, std::move(args));
  if (!r)
    return r.error();
  if (r->is_nil())
    return std::vector<std::string>{};
  return decode_list(r->str);
}

caf::expected<std::vector<std::string>>
map::append_unique_values(const std::string& key,
                          const std::vector<std::string>& items) {
  std::vector<std::string> args{key};
  args.insert(args.end(), items.begin(), items.end());
  auto r = run(rmap_scripts::append_unique(), "append_unique_values", &key,
               std::move(args));
  if (!r)
    return r.error();
  if (r->is_nil())
    return std::vector<std::string>{};
  return decode_list(r->str);
}

caf::expected<map::remove_result>
map::remove_values(const std::string& key,
                   const std::vector<std::string>& items) {
  std::vector<std::string> args{key};
  args.insert(args.end(), items.begin(), items.end());
  auto r = run(rmap_scripts::remove(), "remove_values", &key, std::move(args));
  if (!r)
    return r.error();
  if (!r->is_array() || r->elements.size() != 2)
    return make_error(errc::protocol_error, "remove: " + r->render());
  remove_result result;
  result.removed = r->elements[1].integer == 1;
  auto& v = r->elements[0];
  if (!v.is_nil() && !(result.removed && v.str.empty()))
    result.remaining = decode_list(v.str);
  return result;
}

caf::expected<map::test_result> map::delete_ex(const std::string& key) {
  auto r = run(rmap_scripts::del(), "delete", &key, {key});
  if (!r)
    return r.error();
  test_result result;
  result.prev = opt_str(*r);
  result.done = static_cast<bool>(result.prev);
  return result;
}

caf::expected<caf::optional<std::string>> map::del(const std::string& key) {
  auto r = delete_ex(key);
  if (!r)
    return r.error();
  return std::move(r->prev);
}

caf::expected<map::test_result>
map::test_and_delete_ex(const std::string& key, const std::string& test) {
  auto r = run(rmap_scripts::test_and_delete(), "test_and_delete", &key,
               {key, test});
  if (!r)
    return r.error();
  test_result result;
  result.prev = opt_str(*r);
  result.done = result.prev && *result.prev == test;
  return result;
}

caf::expected<caf::optional<std::string>>
map::test_and_delete(const std::string& key, const std::string& test) {
  auto r = test_and_delete_ex(key, test);
  if (!r)
    return r.error();
  return std::move(r->prev);
}

caf::error map::reset() {
  auto r = run(rmap_scripts::reset(), "reset", nullptr, {}, true);
  return r ? caf::error{} : r.error();
}

caf::error map::destroy() {
  auto r = run(rmap_scripts::destroy(), "destroy", nullptr, {}, true);
  return r ? caf::error{} : r.error();
}

caf::expected<bool> map::test_and_reset(const std::vector<std::string>& keys,
                                        const std::vector<std::string>& tests) {
  if (keys.size() != tests.size())
    return make_error(errc::invalid_argument,
                      "pulse map: test_and_reset needs as many tests as keys");
  for (auto& k : keys)
    if (auto err = validate_key(k, "pulse map", "test_and_reset"))
      return err;
  std::vector<std::string> args{std::to_string(keys.size())};
  args.insert(args.end(), keys.begin(), keys.end());
  args.insert(args.end(), tests.begin(), tests.end());
  auto r = run(rmap_scripts::test_and_reset(), "test_and_reset", nullptr,
               std::move(args));
  if (!r)
    return r.error();
  return r->integer == 1;
}

} // namespace pulse::rmap
