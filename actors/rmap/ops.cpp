#include "pulse/actors/rmap/ops.hpp"

#include <chrono>

#include "pulse/actors/rmap/encoding.hpp"
#include "pulse/actors/rmap/scripts.hpp"
#include "pulse/runtime/errors.hpp"
#include "pulse/runtime/names.hpp"

namespace pulse {

const char* to_string(map_op x) {
  switch (x) {
    case map_op::set: return "set";
    case map_op::set_if_not_exists: return "set_if_not_exists";
    case map_op::test_and_set: return "test_and_set";
    case map_op::inc: return "inc";
    case map_op::append_values: return "append_values";
    case map_op::append_unique_values: return "append_unique_values";
    case map_op::remove_values: return "remove_values";
    case map_op::del: return "delete";
    case map_op::test_and_delete: return "test_and_delete";
    case map_op::reset: return "reset";
    case map_op::destroy: return "destroy";
    case map_op::test_and_reset: return "test_and_reset";
  }
  return "?";
}

namespace rmap_ops {

namespace {

// Number of arguments `op` takes, or -1 for "any".
int arity(map_op op) {
  switch (op) {
    case map_op::set:
    case map_op::set_if_not_exists:
    case map_op::inc:
    case map_op::test_and_delete:
      return 1;
    case map_op::test_and_set:
      return 2;
    case map_op::del:
    case map_op::reset:
    case map_op::destroy:
      return 0;
    default:
      return -1;
  }
}

bool keyless(map_op op) {
  return op == map_op::reset || op == map_op::destroy
         || op == map_op::test_and_reset;
}

caf::optional<std::string> opt_str(const resp::value& v) {
  if (v.is_nil())
    return caf::none;
  return v.str;
}

caf::error bad_reply(const map_write& w, const resp::value& r) {
  return make_error(errc::protocol_error,
                    std::string{to_string(w.op)} + ": " + r.render());
}

} // namespace

const script& script_of(map_op op) {
  switch (op) {
    case map_op::set: return rmap_scripts::set();
    case map_op::set_if_not_exists: return rmap_scripts::set_if_not_exists();
    case map_op::test_and_set: return rmap_scripts::test_and_set();
    case map_op::inc: return rmap_scripts::incr();
    case map_op::append_values: return rmap_scripts::append();
    case map_op::append_unique_values: return rmap_scripts::append_unique();
    case map_op::remove_values: return rmap_scripts::remove();
    case map_op::del: return rmap_scripts::del();
    case map_op::test_and_delete: return rmap_scripts::test_and_delete();
    case map_op::reset: return rmap_scripts::reset();
    case map_op::destroy: return rmap_scripts::destroy();
    case map_op::test_and_reset: return rmap_scripts::test_and_reset();
  }
  return rmap_scripts::set();
}

std::vector<std::string> keys_of(const std::string& name) {
  return {rmap_scripts::content_key(name)};
}

caf::expected<std::vector<std::string>> args_of(const map_write& w,
                                                const map_options& opts) {
  auto op = to_string(w.op);
  auto invalid = [&](const std::string& what) {
    return make_error(errc::invalid_argument,
                      "pulse map: " + what + " in \"" + op + "\"");
  };
  auto n = arity(w.op);
  if (n >= 0 && w.args.size() != static_cast<size_t>(n))
    return invalid("expected " + std::to_string(n) + " arguments, got "
                   + std::to_string(w.args.size()));
  std::vector<std::string> args;
  std::string mode;
  int64_t ttl_ms = 0;
  if (opts.ttl.count() > 0) {
    mode = opts.sliding_ttl ? "slide" : "abs";
    ttl_ms = std::chrono::duration_cast<std::chrono::milliseconds>(opts.ttl)
               .count();
  }
  args.reserve(w.args.size() + 4);
  args.push_back(std::move(mode));
  args.push_back(std::to_string(ttl_ms));
  if (w.op == map_op::test_and_reset) {
    if (w.args.size() % 2 != 0)
      return make_error(errc::invalid_argument,
                        "pulse map: test_and_reset needs as many tests as "
                        "keys");
    auto half = w.args.size() / 2;
    for (size_t i = 0; i < half; ++i)
      if (auto err = validate_key(w.args[i], "pulse map", op))
        return err;
    args.push_back(std::to_string(half));
  } else if (!keyless(w.op)) {
    if (auto err = validate_key(w.key, "pulse map", op))
      return err;
    args.push_back(w.key);
  }
  if (w.op == map_op::inc) {
    auto& d = w.args[0];
    auto digits = d.size() > 0 && d[0] == '-' ? d.substr(1) : d;
    if (digits.empty()
        || digits.find_first_not_of("0123456789") != std::string::npos)
      return invalid("delta is not a decimal integer");
  }
  args.insert(args.end(), w.args.begin(), w.args.end());
  return args;
}

caf::expected<map_write_result> decode(const map_write& w,
                                       const resp::value& r) {
  map_write_result result;
  switch (w.op) {
    case map_op::set:
      if (!r.is_array() || r.elements.size() != 3)
        return bad_reply(w, r);
      if (r.elements[0].integer == 1)
        result.prev = r.elements[1].str;
      result.rev
        = static_cast<uint64_t>(r.elements[2].as_integer().value_or(0));
      result.done = true;
      break;
    case map_op::set_if_not_exists:
    case map_op::test_and_reset:
      result.done = r.integer == 1;
      break;
    case map_op::test_and_set:
    case map_op::test_and_delete:
      result.prev = opt_str(r);
      result.done = result.prev && *result.prev == w.args[0];
      break;
    case map_op::inc: {
      auto v = r.as_integer();
      if (!v)
        return bad_reply(w, r);
      result.number = *v;
      result.done = true;
      break;
    }
    case map_op::append_values:
    case map_op::append_unique_values:
      result.present = !r.is_nil();
      if (result.present)
        result.values = decode_list(r.str);
      result.done = true;
      break;
    case map_op::remove_values: {
      if (!r.is_array() || r.elements.size() != 2)
        return bad_reply(w, r);
      result.done = r.elements[1].integer == 1;
      auto& v = r.elements[0];
      if (!v.is_nil() && !(result.done && v.str.empty())) {
        result.present = true;
        result.values = decode_list(v.str);
      }
      break;
    }
    case map_op::del:
      result.prev = opt_str(r);
      result.done = static_cast<bool>(result.prev);
      break;
    case map_op::reset:
    case map_op::destroy:
      result.done = true;
      break;
  }
  return result;
}

} // namespace rmap_ops

} // namespace pulse
