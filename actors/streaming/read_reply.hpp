#pragma once

/// Internal: walking XREAD/XREADGROUP replies and building dead-letter
/// entries. Not part of the public API.

#include <string>

#include "pulse/messages/redis.hpp"

namespace pulse::detail {

/// Calls `f(key, entry)` for every entry of an `XREAD`/`XREADGROUP` reply
/// (`[[key, [entry...]]...]`, or nil on timeout).
template <class F>
void for_each_entry(resp::value& reply, F f) {
  if (!reply.is_array())
    return;
  for (auto& per_stream : reply.elements) {
    if (!per_stream.is_array() || per_stream.elements.size() != 2
        || !per_stream.elements[1].is_array())
      continue;
    for (auto& entry : per_stream.elements[1].elements)
      f(per_stream.elements[0].str, entry);
  }
}

/// `XADD <dlq_key> MAXLEN ~ 10000 * n <n> p <p> [t <t>] id <id> stream <s>
/// sink <k> deliveries <d> error <e>`: a copy of `entry` (fields `n` and
/// `p` always present, empty when the original lacked them) with the
/// reason it was dead-lettered.
command dead_letter_command(const resp::value& entry, const std::string& dlq_key,
                            const std::string& stream, const std::string& sink,
                            uint64_t deliveries, const std::string& error);

} // namespace pulse::detail
