#pragma once

/// Process and Redis figures for the scaling benchmarks: threads, resident
/// memory, CPU time, Redis client connections, load average; and the raw
/// stream hop baseline (`XADD` -> a thread blocked in `XREADGROUP`).

#include <cstddef>
#include <cstdint>

#include <hiredis/hiredis.h>

namespace pulse::bench {

/// Threads of this process (entries of `/proc/self/task`).
size_t thread_count();

/// Resident memory of this process in KiB (`VmRSS` of `/proc/self/status`).
double rss_kb();

/// utime + stime of this process, in seconds (`/proc/self/stat`).
double cpu_seconds();

/// Client connections Redis has, minus `c` itself (`CLIENT LIST` lines).
size_t redis_clients(redisContext* c);

/// The 1-minute load average (`/proc/loadavg`).
double load_average();

/// Raw baseline: a thread blocks in `XREADGROUP ... BLOCK` (and `XACK`s
/// what it gets) while this one `XADD`s one entry at a time and waits
/// until the reader saw it; `n` samples. Returns the p50 in µs.
double raw_stream_hop_p50(uint16_t port, size_t n);

} // namespace pulse::bench
