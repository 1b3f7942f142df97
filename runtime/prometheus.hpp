#pragma once

/// The Prometheus text exposition format 0.0.4: a writer that keeps the
/// samples of each metric family together, escapes label values and HELP
/// texts, writes histograms with cumulative buckets and the `+Inf` bucket,
/// and drops a repeated series. Pure code, no I/O (unit-tested in
/// `tests/runtime/prometheus_test.cpp`).

#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pulse::prometheus {

/// `Content-Type` of the exposition.
constexpr const char* content_type = "text/plain; version=0.0.4; charset=utf-8";

/// Label names and values of one series, in order.
using labels = std::vector<std::pair<std::string, std::string>>;

/// Returns `x` escaped for a label value: `\` -> `\\`, `"` -> `\"`,
/// newline -> `\n`.
std::string escape_label(std::string_view x);

/// Returns `x` escaped for a HELP text: `\` -> `\\`, newline -> `\n`.
std::string escape_help(std::string_view x);

/// Returns `x` as a sample value or `le` bound: the shortest decimal that
/// reads back as `x` (integers without a fraction), `NaN`, `+Inf`, `-Inf`.
std::string format_value(double x);

/// Returns whether `x` is a valid metric name (`[a-zA-Z_:][a-zA-Z0-9_:]*`).
bool valid_metric_name(std::string_view x);

/// Returns whether `x` is a valid label name (`[a-zA-Z_][a-zA-Z0-9_]*`,
/// not starting with `__`).
bool valid_label_name(std::string_view x);

/// Builds one exposition. Families are written in the order they were first
/// named; samples of a family stay together whatever order they come in.
class writer {
public:
  /// The metric types.
  enum class type { counter, gauge, histogram };

  /// Adds a sample `value` of `name` with `lbls` to the family `name`
  /// (created with `help` and `t` on first use). Returns false, writing
  /// nothing, for an invalid name or label name, a type differing from the
  /// family's, or a series (name and labels) already written.
  bool sample(const std::string& name, type t, const std::string& help,
              const labels& lbls, double value);

  /// Adds one histogram series of family `name`: `name_bucket` with `le` for
  /// each of `bounds` (ascending) holding the cumulative sum of `counts`
  /// (per bucket, not cumulative; missing entries count as 0) and
  /// `le="+Inf"` holding `count`, then `name_sum` and `name_count`. Returns
  /// false like `sample`.
  bool histogram(const std::string& name, const std::string& help,
                 const labels& lbls, const std::vector<double>& bounds,
                 const std::vector<uint64_t>& counts, double sum,
                 uint64_t count);

  /// Series refused so far (invalid, duplicate or type clash).
  size_t refused() const noexcept { return refused_; }

  /// Returns the exposition text: per family `# HELP`, `# TYPE`, samples;
  /// every line ends in `\n`.
  std::string str() const;

private:
  struct family {
    std::string name;
    type t;
    std::string help;
    std::string lines;
    std::set<std::string> series;
  };
  family* find_or_add(const std::string& name, type t,
                      const std::string& help);
  static std::string render_labels(const labels& lbls);
  std::vector<family> families_;
  size_t refused_ = 0;
};

} // namespace pulse::prometheus
