#include "bench/process_stats.hpp"

#include <atomic>
#include <chrono>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include "bench/common.hpp"
#include "tests/support/threads.hpp"

namespace pulse::bench {

size_t thread_count() {
  return test::thread_count();
}

double rss_kb() {
  std::ifstream in{"/proc/self/status"};
  for (std::string line; std::getline(in, line);)
    if (line.rfind("VmRSS:", 0) == 0)
      return std::stod(line.substr(6));
  return 0;
}

double cpu_seconds() {
  std::ifstream in{"/proc/self/stat"};
  std::string all((std::istreambuf_iterator<char>(in)),
                  std::istreambuf_iterator<char>());
  // Fields after the command name (which is in parentheses).
  std::istringstream rest{all.substr(all.rfind(')') + 2)};
  std::vector<std::string> f;
  for (std::string x; rest >> x;)
    f.push_back(x);
  // rest starts at field 3 (state); utime is field 14, stime field 15.
  auto ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  return (std::stod(f[11]) + std::stod(f[12])) / ticks;
}

size_t redis_clients(redisContext* c) {
  auto r = static_cast<redisReply*>(redisCommand(c, "CLIENT LIST"));
  size_t n = 0;
  if (r && r->type == REDIS_REPLY_STRING)
    for (size_t i = 0; i < r->len; ++i)
      n += r->str[i] == '\n' ? 1 : 0;
  freeReplyObject(r);
  return n > 0 ? n - 1 : 0; // minus this connection
}

double load_average() {
  std::ifstream in{"/proc/loadavg"};
  double x = 0;
  in >> x;
  return x;
}

double raw_stream_hop_p50(uint16_t port, size_t n) {
  using namespace std::chrono_literals;
  std::string key = "pulse:stream:bench-rawlat";
  auto c = connect_raw(port);
  freeReplyObject(redisCommand(c, "DEL %s", key.c_str()));
  freeReplyObject(
    redisCommand(c, "XGROUP CREATE %s g $ MKSTREAM", key.c_str()));
  std::atomic<size_t> seen{0};
  std::atomic<bool> stop{false};
  std::thread reader{[&] {
    auto r = connect_raw(port);
    while (!stop) {
      auto rep = static_cast<redisReply*>(redisCommand(
        r, "XREADGROUP GROUP g c COUNT 10 BLOCK 100 STREAMS %s >",
        key.c_str()));
      if (rep && rep->type == REDIS_REPLY_ARRAY) {
        auto entries = rep->element[0]->element[1];
        for (size_t i = 0; i < entries->elements; ++i)
          freeReplyObject(redisCommand(r, "XACK %s g %s", key.c_str(),
                                       entries->element[i]->element[0]->str));
        seen += entries->elements;
      }
      if (rep)
        freeReplyObject(rep);
    }
    redisFree(r);
  }};
  std::this_thread::sleep_for(50ms);
  std::vector<double> us;
  for (size_t i = 0; i < n; ++i) {
    auto before = seen.load();
    auto t0 = clock_type::now();
    auto payload = std::to_string(i);
    freeReplyObject(redisCommand(c, "XADD %s * n ev p %s", key.c_str(),
                                 payload.c_str()));
    auto deadline = t0 + 5s;
    while (seen.load() == before && clock_type::now() < deadline)
      std::this_thread::yield();
    if (seen.load() == before)
      break; // lost: reported as missing samples rather than a hang
    us.push_back(
      std::chrono::duration<double, std::micro>(clock_type::now() - t0)
        .count());
  }
  stop = true;
  reader.join();
  freeReplyObject(redisCommand(c, "DEL %s", key.c_str()));
  redisFree(c);
  return us.empty() ? -1 : quantile(us, 0.5);
}

} // namespace pulse::bench
