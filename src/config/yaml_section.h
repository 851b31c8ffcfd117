// Reading one YAML mapping of the configuration: typed getters that record
// every problem with file, line, column and key path, and a check that no
// undeclared key is present. Used by the loader of each section (config.cc,
// and the sections of other components). Not thread-safe (one load at a time).
#pragma once

#include <yaml-cpp/yaml.h>

#include <charconv>
#include <chrono>
#include <cmath>
#include <functional>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "common/status.h"

namespace inlet::config {

Result<uint64_t> ParseSize(std::string_view text);
Result<std::chrono::milliseconds> ParseDuration(std::string_view text);

// Collects every problem found; each names the file, position and key path.
class Errors {
 public:
  explicit Errors(std::string file) : file_(std::move(file)) {}
  void Add(const YAML::Mark& mark, const std::string& key, const std::string& message) {
    std::ostringstream os;
    os << file_;
    if (mark.line >= 0) os << ":" << mark.line + 1 << ":" << mark.column + 1;
    os << ": " << key << ": " << message;
    lines_.push_back(os.str());
  }
  bool empty() const { return lines_.empty(); }
  std::string Join() const {
    std::string out;
    for (const auto& l : lines_) out += l + "\n";
    if (!out.empty()) out.pop_back();
    return out;
  }

 private:
  std::string file_;
  std::vector<std::string> lines_;
};

inline std::string Join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

// A mapping node being read: typed getters that record errors, and a check
// that no key outside the declared ones is present.
class Section {
 public:
  Section(YAML::Node node, std::string path, Errors* errors)
      : node_(std::move(node)), path_(std::move(path)), errors_(errors) {
    if (node_ && !node_.IsNull() && !node_.IsMap()) {
      errors_->Add(node_.Mark(), path_, "expected a mapping of keys to values");
      valid_ = false;
    }
  }
  ~Section() { CheckUnknown(); }

  bool Has(const std::string& key) {
    seen_.insert(key);
    return valid_ && node_ && node_[key] && !node_[key].IsNull();
  }
  YAML::Node Raw(const std::string& key) {
    seen_.insert(key);
    return valid_ && node_ ? node_[key] : YAML::Node();
  }
  std::string KeyPath(const std::string& key) const {
    return path_.empty() ? key : path_ + "." + key;
  }
  Errors* errors() { return errors_; }
  const YAML::Node& node() const { return node_; }
  void Error(const std::string& key, const std::string& message) {
    YAML::Node n = valid_ && node_ && node_[key] ? node_[key] : node_;
    errors_->Add(n ? n.Mark() : YAML::Mark::null_mark(), KeyPath(key), message);
  }

  void String(const std::string& key, std::string* out) {
    if (!Has(key)) return;
    YAML::Node n = node_[key];
    if (!n.IsScalar()) return Error(key, "expected a string");
    *out = n.Scalar();
  }
  void Bool(const std::string& key, bool* out) {
    if (!Has(key)) return;
    YAML::Node n = node_[key];
    const std::string& s = n.IsScalar() ? n.Scalar() : "";
    if (s == "true" || s == "yes" || s == "on") {
      *out = true;
    } else if (s == "false" || s == "no" || s == "off") {
      *out = false;
    } else {
      Error(key, "expected true or false, got '" + s + "'");
    }
  }
  template <typename Int>
  void Integer(const std::string& key, Int* out, uint64_t min, uint64_t max) {
    if (!Has(key)) return;
    YAML::Node n = node_[key];
    const std::string s = n.IsScalar() ? n.Scalar() : "";
    uint64_t v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || p != s.data() + s.size() || s.empty()) {
      return Error(key, "expected a whole number, got '" + s + "'");
    }
    if (v < min || v > max) {
      return Error(key, "must be between " + std::to_string(min) + " and " + std::to_string(max) +
                            ", got " + s);
    }
    *out = static_cast<Int>(v);
  }
  void Double(const std::string& key, std::optional<double>* out) {
    if (!Has(key)) return;
    YAML::Node n = node_[key];
    const std::string s = n.IsScalar() ? n.Scalar() : "";
    double v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || p != s.data() + s.size() || s.empty() || !std::isfinite(v)) {
      return Error(key, "expected a number, got '" + s + "'");
    }
    *out = v;
  }
  void Size(const std::string& key, uint64_t* out, uint64_t min, uint64_t max) {
    if (!Has(key)) return;
    YAML::Node n = node_[key];
    auto v = ParseSize(n.IsScalar() ? n.Scalar() : "");
    if (!v.ok()) return Error(key, v.status().message());
    if (*v < min || *v > max) {
      return Error(key, "must be between " + std::to_string(min) + " and " + std::to_string(max) +
                            " bytes, got " + n.Scalar());
    }
    *out = *v;
  }
  template <typename Dur>
  void Duration(const std::string& key, Dur* out, std::chrono::milliseconds min,
                std::chrono::milliseconds max) {
    if (!Has(key)) return;
    YAML::Node n = node_[key];
    auto v = ParseDuration(n.IsScalar() ? n.Scalar() : "");
    if (!v.ok()) return Error(key, v.status().message());
    if (*v < min || *v > max) {
      return Error(key, "must be between " + std::to_string(min.count()) + "ms and " +
                            std::to_string(max.count()) + "ms, got " + n.Scalar());
    }
    *out = std::chrono::duration_cast<Dur>(*v);
  }
  void StringList(const std::string& key, std::vector<std::string>* out) {
    if (!Has(key)) return;
    YAML::Node n = node_[key];
    if (!n.IsSequence()) return Error(key, "expected a list of strings");
    for (const auto& item : n) {
      if (!item.IsScalar()) return Error(key, "expected a list of strings");
      out->push_back(item.Scalar());
    }
  }
  // Iterates a mapping of name -> section.
  void ForEachEntry(const std::string& key,
                    const std::function<void(const std::string&, Section&)>& fn) {
    if (!Has(key)) return;
    YAML::Node n = node_[key];
    if (!n.IsMap()) return Error(key, "expected a mapping of names to settings");
    for (const auto& kv : n) {
      const std::string name = kv.first.Scalar();
      Section child(kv.second, KeyPath(key) + "." + name, errors_);
      child.name_mark_ = kv.first.Mark();
      fn(name, child);
    }
  }
  YAML::Mark name_mark() const { return name_mark_; }

 private:
  void CheckUnknown() {
    if (!valid_ || !node_ || !node_.IsMap()) return;
    for (const auto& kv : node_) {
      const std::string k = kv.first.Scalar();
      if (!seen_.count(k)) {
        std::vector<std::string> allowed(seen_.begin(), seen_.end());
        errors_->Add(kv.first.Mark(), KeyPath(k),
                     "unknown key (allowed here: " + Join(allowed) + ")");
      }
    }
  }

  YAML::Node node_;
  std::string path_;
  Errors* errors_;
  bool valid_ = true;
  std::set<std::string> seen_;
  YAML::Mark name_mark_ = YAML::Mark::null_mark();
};

// YAML (a filter policy or JSON value written inline) to JSON text. Plain
// scalars that read as numbers, booleans or null keep that type.
std::string YamlToJson(const YAML::Node& node);

}  // namespace inlet::config
