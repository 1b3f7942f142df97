#include "pulse/runtime/prometheus.hpp"

#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace pulse::prometheus {

std::string escape_label(std::string_view x) {
  std::string out;
  out.reserve(x.size());
  for (char c : x) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '"': out += "\\\""; break;
      case '\n': out += "\\n"; break;
      default: out += c;
    }
  }
  return out;
}

std::string escape_help(std::string_view x) {
  std::string out;
  out.reserve(x.size());
  for (char c : x) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      default: out += c;
    }
  }
  return out;
}

std::string format_value(double x) {
  if (std::isnan(x))
    return "NaN";
  if (std::isinf(x))
    return x > 0 ? "+Inf" : "-Inf";
  char buf[40];
  if (x == std::floor(x) && std::fabs(x) < 9007199254740992.0) {
    std::snprintf(buf, sizeof(buf), "%.0f", x);
    return buf;
  }
  // The shortest %g form that reads back exactly.
  for (int prec = 1; prec <= 17; ++prec) {
    std::snprintf(buf, sizeof(buf), "%.*g", prec, x);
    if (std::strtod(buf, nullptr) == x)
      break;
  }
  return buf;
}

namespace {

bool name_char(char c, bool first, bool colon) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_')
    return true;
  if (colon && c == ':')
    return true;
  return !first && c >= '0' && c <= '9';
}

bool valid_name(std::string_view x, bool colon) {
  if (x.empty())
    return false;
  for (size_t i = 0; i < x.size(); ++i)
    if (!name_char(x[i], i == 0, colon))
      return false;
  return true;
}

const char* type_text(writer::type t) {
  switch (t) {
    case writer::type::counter: return "counter";
    case writer::type::gauge: return "gauge";
    case writer::type::histogram: return "histogram";
  }
  return "untyped";
}

} // namespace

bool valid_metric_name(std::string_view x) {
  return valid_name(x, true);
}

bool valid_label_name(std::string_view x) {
  return valid_name(x, false) && x.substr(0, 2) != "__";
}

std::string writer::render_labels(const labels& lbls) {
  if (lbls.empty())
    return {};
  std::string out = "{";
  for (size_t i = 0; i < lbls.size(); ++i) {
    if (i > 0)
      out += ',';
    out += lbls[i].first;
    out += "=\"";
    out += escape_label(lbls[i].second);
    out += '"';
  }
  out += '}';
  return out;
}

writer::family* writer::find_or_add(const std::string& name, type t,
                                    const std::string& help) {
  if (!valid_metric_name(name))
    return nullptr;
  for (auto& f : families_)
    if (f.name == name)
      return f.t == t ? &f : nullptr;
  families_.push_back(family{name, t, help, {}, {}});
  return &families_.back();
}

bool writer::sample(const std::string& name, type t, const std::string& help,
                    const labels& lbls, double value) {
  auto* f = t == type::histogram ? nullptr : find_or_add(name, t, help);
  bool ok = f != nullptr;
  for (auto& l : lbls)
    ok = ok && valid_label_name(l.first);
  auto rendered = render_labels(lbls);
  if (!ok || !f->series.insert(rendered).second) {
    ++refused_;
    return false;
  }
  f->lines += name + rendered + ' ' + format_value(value) + '\n';
  return true;
}

bool writer::histogram(const std::string& name, const std::string& help,
                       const labels& lbls, const std::vector<double>& bounds,
                       const std::vector<uint64_t>& counts, double sum,
                       uint64_t count) {
  auto* f = find_or_add(name, type::histogram, help);
  bool ok = f != nullptr;
  for (auto& l : lbls)
    ok = ok && valid_label_name(l.first) && l.first != "le";
  auto rendered = render_labels(lbls);
  if (!ok || !f->series.insert(rendered).second) {
    ++refused_;
    return false;
  }
  auto with_le = [&](const std::string& le) {
    auto l = lbls;
    l.emplace_back("le", le);
    return render_labels(l);
  };
  uint64_t cumulative = 0;
  for (size_t i = 0; i < bounds.size(); ++i) {
    if (i < counts.size())
      cumulative += counts[i];
    f->lines += name + "_bucket" + with_le(format_value(bounds[i])) + ' '
                + format_value(static_cast<double>(cumulative)) + '\n';
  }
  f->lines += name + "_bucket" + with_le("+Inf") + ' '
              + format_value(static_cast<double>(count)) + '\n';
  f->lines += name + "_sum" + rendered + ' ' + format_value(sum) + '\n';
  f->lines += name + "_count" + rendered + ' '
              + format_value(static_cast<double>(count)) + '\n';
  return true;
}

std::string writer::str() const {
  std::string out;
  for (auto& f : families_) {
    out += "# HELP " + f.name + ' ' + escape_help(f.help) + '\n';
    out += "# TYPE " + f.name + ' ' + type_text(f.t) + '\n';
    out += f.lines;
  }
  return out;
}

} // namespace pulse::prometheus
