// Redriving a dead-letter stream (`dead_letters::redrive` and its steps):
// one atomic script run per batch on a single node, or, in Redis Cluster,
// XRANGE, XADD to each source stream, then XDEL, per batch of entries.

#include <algorithm>
#include <optional>

#include "pulse/actors/redis/client.hpp"
#include "pulse/actors/streaming/dead_letters.hpp"
#include "pulse/runtime/errors.hpp"
#include "pulse/runtime/log.hpp"
#include "pulse/runtime/names.hpp"

namespace pulse {

namespace {

/// Entries per script run or per-entry batch: bounds the time one run
/// blocks Redis and the size of one request.
constexpr size_t redrive_batch = 500;

/// Whether `s` cannot name a Pulse stream: the redrive script's
/// `bad_name` (empty, longer than 2048 bytes, blanks or glob characters).
bool redrive_bad_name(const std::string& s) {
  return s.empty() || s.size() > 2048
         || s.find_first_of(" \t\n\v\f\r*?[]") != std::string::npos;
}

} // namespace

namespace dead_letters {

redrive_mode redrive_mode_for(const redis_options& opts) {
  return opts.cluster ? redrive_mode::per_entry : redrive_mode::script;
}

redrive_steps::redrive_steps(std::string name, dead_letter_selection which,
                             uint64_t max_len, redrive_mode mode)
  : name_(std::move(name)),
    which_(std::move(which)),
    max_len_(max_len),
    mode_(mode) {
  if (mode_ == redrive_mode::per_entry && which_.ids.empty() && !which_.every)
    phase_ = phase::time;
}

caf::error redrive_steps::check() const {
  if (auto err = validate_name(name_, "dead-letter stream"))
    return err;
  if (!which_.every && which_.ids.empty() && which_.age.count() <= 0)
    return make_error(errc::invalid_argument,
                      "dead letters: select all, some IDs or an age");
  return caf::none;
}

std::string redrive_steps::key() const {
  return dead_letters::key(name_);
}

std::optional<redrive_request> redrive_steps::next() {
  if (done_)
    return std::nullopt;
  redrive_request req;
  if (mode_ == redrive_mode::per_entry) {
    switch (phase_) {
      case phase::time:
        // The keyless TIME joins the node of the batch's keyed XLEN.
        req.cmds = {make_command("XLEN", key()), make_command("TIME")};
        return req;
      case phase::select:
        if (!which_.ids.empty()) {
          if (next_id_ >= which_.ids.size())
            return std::nullopt;
          auto end = std::min(which_.ids.size(), next_id_ + redrive_batch);
          for (auto i = next_id_; i < end; ++i)
            req.cmds.push_back(make_command("XRANGE", key(), which_.ids[i],
                                            which_.ids[i], "COUNT", "1"));
          next_id_ = end;
          return req;
        }
        req.cmds.push_back(make_command(
          "XRANGE", key(), from_,
          cutoff_ms_ < 0 ? std::string{"+"}
                         : "(" + std::to_string(cutoff_ms_) + "-0",
          "COUNT", std::to_string(redrive_batch)));
        return req;
      case phase::add:
        for (auto& d : selected_) {
          command cmd = make_command("XADD", dead_letters::key(d.stream));
          if (max_len_ > 0) {
            cmd.args.emplace_back("MAXLEN");
            cmd.args.emplace_back("~");
            cmd.args.push_back(std::to_string(max_len_));
          }
          cmd.args.insert(cmd.args.end(), {"*", "n", d.name, "p", d.payload});
          if (!d.topic.empty()) {
            cmd.args.emplace_back("t");
            cmd.args.push_back(d.topic);
          }
          req.cmds.push_back(std::move(cmd));
        }
        return req;
      case phase::del: {
        command cmd = make_command("XDEL", key());
        cmd.args.insert(cmd.args.end(), added_.begin(), added_.end());
        req.cmds.push_back(std::move(cmd));
        return req;
      }
    }
  }
  std::vector<std::string> args{std::to_string(max_len_),
                                std::to_string(redrive_batch)};
  if (!which_.ids.empty()) {
    if (next_id_ >= which_.ids.size())
      return std::nullopt;
    args.emplace_back("ids");
    auto end = std::min(which_.ids.size(), next_id_ + redrive_batch);
    args.insert(args.end(), which_.ids.begin() + next_id_,
                which_.ids.begin() + end);
    next_id_ = end;
    req.args = std::move(args);
    return req;
  }
  args.emplace_back("range");
  args.emplace_back(from_);
  args.emplace_back(which_.every ? std::string{"-1"}
                                 : std::to_string(which_.age.count()));
  req.args = std::move(args);
  return req;
}

void redrive_steps::skip(const std::string& id, const std::string& reason) {
  ++total_.skipped;
  log::warn("dead letter left in place dlq={} id={} reason=\"{}\"", name_, id,
            reason);
}

caf::error redrive_steps::add(const resp::value& reply) {
  auto& xs = reply.elements;
  if (!reply.is_array() || xs.size() < 4 || (xs.size() - 4) % 2 != 0)
    return make_error(errc::protocol_error,
                      "dead-letter redrive: unexpected reply "
                        + reply.render());
  total_.moved += static_cast<uint64_t>(xs[0].integer);
  total_.missing += static_cast<uint64_t>(xs[1].integer);
  for (size_t i = 4; i + 1 < xs.size(); i += 2)
    skip(xs[i].str, xs[i + 1].str);
  if (which_.ids.empty()) {
    // Range mode: go on past the last entry looked at (skipped entries
    // stay) while the batch was full.
    auto& last = xs[3].str;
    if (xs[2].integer != 1 || last.empty())
      done_ = true;
    else
      from_ = "(" + last;
  }
  return caf::none;
}

void redrive_steps::after_batch() {
  selected_.clear();
  added_.clear();
  phase_ = phase::select;
  if (which_.ids.empty()) {
    if (!more_)
      done_ = true;
  }
}

caf::error redrive_steps::add(const std::vector<resp::value>& rs) {
  auto bad = [&] {
    return make_error(errc::protocol_error,
                      "dead-letter redrive: unexpected replies to "
                        + std::to_string(rs.size()) + " commands");
  };
  switch (phase_) {
    case phase::time: {
      if (rs.size() != 2)
        return bad();
      if (rs[0].is_error())
        return make_error(errc::redis_error, rs[0].str);
      auto& t = rs[1];
      if (!t.is_array() || t.elements.size() != 2)
        return bad();
      auto secs = t.elements[0].as_integer();
      auto micros = t.elements[1].as_integer();
      if (!secs || !micros)
        return bad();
      cutoff_ms_ = std::max<int64_t>(0, *secs * 1000 + *micros / 1000
                                          - which_.age.count());
      phase_ = phase::select;
      return caf::none;
    }
    case phase::select: {
      std::vector<dead_letter> found;
      if (!which_.ids.empty()) {
        for (auto& r : rs) {
          if (r.is_error()) {
            if (r.str.find("WRONGTYPE") != std::string::npos)
              return make_error(errc::redis_error, r.str);
            ++total_.missing; // not a valid ID: not there
          } else if (!r.is_array() || r.elements.empty()) {
            ++total_.missing;
          } else {
            auto d = parse(r.elements[0]);
            // An ID named twice moves once (the script finds it gone).
            bool twice = std::any_of(found.begin(), found.end(),
                                     [&](const dead_letter& x) {
                                       return x.id == d.id;
                                     });
            if (twice)
              ++total_.missing;
            else
              found.push_back(std::move(d));
          }
        }
        more_ = false;
      } else {
        if (rs.size() != 1)
          return bad();
        if (rs[0].is_error())
          return make_error(errc::redis_error, rs[0].str);
        if (!rs[0].is_array())
          return bad();
        for (auto& e : rs[0].elements)
          found.push_back(parse(e));
        more_ = found.size() == redrive_batch && !found.back().id.empty();
        if (more_)
          from_ = "(" + found.back().id;
      }
      for (auto& d : found) {
        if (redrive_bad_name(d.stream))
          skip(d.id, "no valid source stream");
        else
          selected_.push_back(std::move(d));
      }
      if (selected_.empty())
        after_batch();
      else
        phase_ = phase::add;
      return caf::none;
    }
    case phase::add: {
      if (rs.size() != selected_.size())
        return bad();
      for (size_t i = 0; i < rs.size(); ++i) {
        if (rs[i].is_error())
          skip(selected_[i].id, rs[i].str);
        else
          added_.push_back(selected_[i].id);
      }
      if (added_.empty())
        after_batch();
      else
        phase_ = phase::del;
      return caf::none;
    }
    case phase::del: {
      if (rs.size() != 1)
        return bad();
      if (rs[0].is_error())
        return make_error(errc::redis_error,
                          "dead-letter redrive: " + std::to_string(added_.size())
                            + " entries added to their streams but not "
                              "deleted: "
                            + rs[0].str);
      // Counted as moved even when another redrive deleted them first:
      // each was added again here.
      total_.moved += added_.size();
      after_batch();
      return caf::none;
    }
  }
  return bad();
}

caf::expected<redrive_result> redrive(client& c, const std::string& name,
                                      const dead_letter_selection& which,
                                      uint64_t max_len, redrive_mode mode) {
  redrive_steps steps{name, which, max_len, mode};
  if (auto err = steps.check())
    return err;
  while (auto req = steps.next()) {
    if (req->is_batch()) {
      auto rs = c.batch(std::move(req->cmds));
      if (!rs)
        return rs.error();
      if (auto err = steps.add(*rs))
        return err;
      continue;
    }
    auto r = c.eval(redrive_script(), {steps.key()}, std::move(req->args));
    if (!r)
      return r.error();
    if (auto err = steps.add(*r))
      return err;
  }
  return steps.result();
}

} // namespace dead_letters

} // namespace pulse
