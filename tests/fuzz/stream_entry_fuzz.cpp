// Fuzz target: turning XREAD/XREADGROUP replies into events, the way the
// reader and the sink do (detail::for_each_entry in
// actors/streaming/read_reply.hpp, parse_entry in stream.cpp and, for
// malformed entries, detail::dead_letter_command in sink_group.cpp).
// Stream entries are written by any client, so the bytes are decoded as
// RESP (actors/redis/resp.cpp) and every decoded value is walked as a
// read reply. Checks: no crash or sanitizer report; parse_entry accepts
// exactly the entries shaped `[id, [field, value, ...]]` that have fields
// `n` and `p`, and then returns an event with the entry's ID, the stream
// name it was given and the value of an `n` and a `p` field, leaving the
// entry's shape alone; a rejected entry still gives a dead-letter XADD.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "pulse/actors/redis/resp.hpp"
#include "pulse/actors/streaming/read_reply.hpp"
#include "pulse/actors/streaming/stream.hpp"
#include "pulse/runtime/errors.hpp"
#include "check.hpp"

namespace {

using pulse::resp::value;

// Whether `fields` (name, value, ...) holds a field `name`.
bool has_field(const std::vector<value>& fields, const std::string& name) {
  for (size_t i = 0; i + 1 < fields.size(); i += 2)
    if (fields[i].str == name)
      return true;
  return false;
}

// Whether one of the fields `name` in `fields` has the value `expected`.
bool has_value(const std::vector<value>& fields, const std::string& name,
               const std::string& expected) {
  for (size_t i = 0; i + 1 < fields.size(); i += 2)
    if (fields[i].str == name && fields[i + 1].str == expected)
      return true;
  return false;
}

void check_entry(const std::string& key, value& entry) {
  auto before = entry; // parse_entry moves the payload out
  auto ev = pulse::parse_entry(entry, key);
  bool shaped = before.is_array() && before.elements.size() == 2
                && before.elements[0].is_string()
                && before.elements[1].is_array();
  bool complete = shaped && has_field(before.elements[1].elements, "n")
                  && has_field(before.elements[1].elements, "p");
  FUZZ_CHECK(static_cast<bool>(ev) == complete);
  if (!ev) {
    auto cmd = pulse::detail::dead_letter_command(entry, "pulse:stream:dlq",
                                                  key, "sink", 1,
                                                  pulse::render(ev.error()));
    FUZZ_CHECK(!cmd.args.empty() && cmd.args[0] == "XADD");
    return;
  }
  auto& fields = before.elements[1].elements;
  FUZZ_CHECK(ev->id == before.elements[0].str);
  FUZZ_CHECK(ev->stream == key);
  FUZZ_CHECK(has_value(fields, "n", ev->name));
  FUZZ_CHECK(has_value(fields, "p", ev->payload));
  FUZZ_CHECK(ev->topic.empty() || has_value(fields, "t", ev->topic));
  FUZZ_CHECK(entry.elements.size() == 2
             && entry.elements[0] == before.elements[0]
             && entry.elements[1].elements.size() == fields.size());
  (void) ev->created_at_ms();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  pulse::resp::decoder dec;
  if (dec.feed(reinterpret_cast<const char*>(data), size))
    return 0;
  for (;;) {
    value reply;
    auto got = dec.next(reply);
    if (!got || !*got)
      break;
    pulse::detail::for_each_entry(reply, check_entry);
  }
  return 0;
}
