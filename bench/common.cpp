#include "bench/common.hpp"

#include "pulse/runtime/errors.hpp"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include <fmt/format.h>

#include <caf/scoped_actor.hpp>

namespace pulse::bench {

double median(std::vector<double> xs) {
  return quantile(std::move(xs), 0.5);
}

double quantile(std::vector<double> xs, double q) {
  if (xs.empty())
    return 0;
  std::sort(xs.begin(), xs.end());
  auto idx = static_cast<size_t>(q * static_cast<double>(xs.size() - 1) + 0.5);
  return xs[std::min(idx, xs.size() - 1)];
}

void report(const std::string& bench, const std::string& metric, double value,
            const std::string& baseline_metric, double baseline,
            bool higher_is_better, const std::string& extra) {
  double ratio = 0;
  if (value > 0 && baseline > 0)
    ratio = higher_is_better ? value / baseline : baseline / value;
  fmt::print("{{\"bench\":\"{}\",\"metric\":\"{}\",\"value\":{:.3f},"
             "\"baseline_metric\":\"{}\",\"baseline\":{:.3f},\"ratio\":{:.3f}"
             "{}}}\n",
             bench, metric, value, baseline_metric, baseline, ratio,
             extra.empty() ? "" : "," + extra);
  std::fflush(stdout);
}

void report_medians(const std::string& bench, const std::string& metric,
                    const std::vector<double>& values,
                    const std::string& baseline_metric,
                    const std::vector<double>& baselines,
                    bool higher_is_better, const std::string& extra) {
  if (values.empty() || baselines.empty())
    return;
  report(bench, metric, median(values), baseline_metric, median(baselines),
         higher_is_better, extra);
}

target::target(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.rfind("--port=", 0) == 0)
      port = static_cast<uint16_t>(std::stoi(arg.substr(7)));
    else if (arg.rfind("--runs=", 0) == 0)
      runs = std::max(1, std::stoi(arg.substr(7)));
    else if (arg.rfind("--scale=", 0) == 0)
      scale = std::stod(arg.substr(8));
    else if (arg.rfind("--pulse.", 0) == 0)
      pulse_args.push_back(arg);
    else if (arg.rfind("--only=", 0) == 0) {
      std::istringstream in{arg.substr(7)};
      for (std::string x; std::getline(in, x, ',');)
        if (!x.empty())
          only.push_back(x);
    }
  }
  if (port == 0) {
    auto srv = redis_server::start({});
    if (!srv) {
      std::fprintf(stderr, "cannot start redis-server\n");
      std::exit(1);
    }
    server = std::move(*srv);
    port = server->port();
  }
}

bool target::wants(const std::string& name) const {
  return only.empty() || std::find(only.begin(), only.end(), name) != only.end();
}

std::vector<std::string> config_args(int argc, char** argv) {
  std::vector<std::string> out{"--pulse.log.level=warn"};
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.rfind("--work-stealing.", 0) == 0
        || arg.rfind("--scheduler.", 0) == 0)
      out.push_back(std::move(arg));
  }
  return out;
}

pulse::options target::runtime_options() const {
  // Warn-level logging unless the arguments name a level (reading a
  // configuration also sets the process's log level).
  std::vector<std::string> args{"--pulse.log.level=warn"};
  args.insert(args.end(), pulse_args.begin(), pulse_args.end());
  pulse::config cfg;
  auto err = cfg.read(args);
  auto o = err ? caf::expected<pulse::options>{err} : options_from(cfg.content);
  if (!o) {
    std::fprintf(stderr, "bench: %s\n", render(o.error()).c_str());
    std::exit(pulse::exit_status(o.error()));
  }
  o->redis.host = "127.0.0.1";
  o->redis.port = port;
  return std::move(*o);
}

void read_config(pulse::config& cfg, int argc, char** argv) {
  if (auto err = cfg.read(config_args(argc, argv)))
    std::exit(pulse::exit_status(err));
}

redisContext* connect_raw(uint16_t port) {
  auto c = redisConnect("127.0.0.1", port);
  if (c == nullptr || c->err != 0) {
    std::fprintf(stderr, "cannot connect to 127.0.0.1:%u\n", port);
    std::exit(1);
  }
  return c;
}

void append_raw(redisContext* c, const std::vector<std::string>& args) {
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  for (auto& a : args) {
    argv.push_back(a.data());
    lens.push_back(a.size());
  }
  redisAppendCommandArgv(c, static_cast<int>(argv.size()), argv.data(),
                         lens.data());
}

redisReply* command_raw(redisContext* c, const std::vector<std::string>& args) {
  append_raw(c, args);
  void* r = nullptr;
  if (redisGetReply(c, &r) != REDIS_OK)
    return nullptr;
  return static_cast<redisReply*>(r);
}

double redis_benchmark(uint16_t port, const std::string& args,
                       const std::string& test, const std::string& column) {
  auto cmd = fmt::format("redis-benchmark -h 127.0.0.1 -p {} --csv {} 2>/dev/null",
                         port, args);
  auto pipe = ::popen(cmd.c_str(), "r");
  if (pipe == nullptr)
    return -1;
  std::string out;
  char buf[4096];
  while (auto n = std::fread(buf, 1, sizeof(buf), pipe))
    out.append(buf, n);
  ::pclose(pipe);
  // CSV: header line with quoted column names, then one row per test.
  std::istringstream in{out};
  std::string line;
  std::vector<std::string> header;
  auto split = [](const std::string& l) {
    std::vector<std::string> cells;
    std::string cell;
    bool quoted = false;
    for (char ch : l) {
      if (ch == '"')
        quoted = !quoted;
      else if (ch == ',' && !quoted) {
        cells.push_back(cell);
        cell.clear();
      } else
        cell.push_back(ch);
    }
    cells.push_back(cell);
    return cells;
  };
  while (std::getline(in, line)) {
    auto cells = split(line);
    if (cells.empty())
      continue;
    if (cells[0] == "test") {
      header = cells;
      continue;
    }
    if (!test.empty() && cells[0] != test)
      continue;
    for (size_t i = 0; i < header.size() && i < cells.size(); ++i)
      if (header[i] == column)
        return std::atof(cells[i].c_str());
  }
  return -1;
}

double run_loaders(caf::actor_system& sys,
                   const std::vector<caf::actor>& loaders,
                   const caf::message& go, caf::timespan stall) {
  caf::scoped_actor self{sys};
  auto t0 = clock_type::now();
  for (auto& l : loaders)
    self->send(l, go);
  size_t ok = 0;
  bool timed_out = false;
  for (size_t answered = 0; answered < loaders.size() && !timed_out;)
    self->receive(
      [&](bool b) {
        ++answered;
        ok += b ? 1 : 0;
      },
      caf::after(stall) >> [&] { timed_out = true; });
  auto secs = std::chrono::duration<double>(clock_type::now() - t0).count();
  for (auto& l : loaders)
    self->send_exit(l, caf::exit_reason::user_shutdown);
  return ok == loaders.size() ? secs : -1;
}

} // namespace pulse::bench
