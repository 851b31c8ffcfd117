// processors: one entry per processor (see docs/processing.md).
#include <algorithm>

#include "config/sections.h"

namespace inlet::config {
namespace {

// A relative file path is taken relative to the configuration file's folder.
std::string ResolvePath(const Config& cfg, const std::string& path) {
  if (path.empty()) return path;
  std::filesystem::path p(path);
  if (p.is_absolute()) return path;
  std::filesystem::path base = cfg.file.parent_path();
  if (base.empty() || !std::filesystem::exists(base)) return path;
  return (base / p).lexically_normal().string();
}

void ReadErrors(Section& s, process::ProcessorConfig* p, Config* cfg) {
  if (!s.Has("errors")) return;
  Section e(s.Raw("errors"), s.KeyPath("errors"), s.errors());
  e.String("topic", &p->errors_topic);
  if (!p->errors_topic.empty() && !cfg->FindTopic(p->errors_topic)) {
    e.Error("topic", "no topic '" + p->errors_topic + "' is declared under topics:");
  }
  e.String("location", &p->errors_location);
  if (e.Has("actions")) {
    YAML::Node actions = e.Raw("actions");
    if (!actions.IsMap()) {
      e.Error("actions", "expected a mapping of category to store, notify or both");
      return;
    }
    for (const auto& kv : actions) {
      auto cat = process::ParseErrorCategory(kv.first.Scalar());
      const std::string v = kv.second.IsScalar() ? kv.second.Scalar() : "";
      if (!cat.ok()) {
        e.Error("actions", cat.status().message());
        continue;
      }
      process::ErrorAction a;
      if (v == "store")
        a = {true, false};
      else if (v == "notify")
        a = {false, true};
      else if (v == "both")
        a = {true, true};
      else {
        e.Error("actions", "category " + kv.first.Scalar() +
                               ": expected store, notify or both, got '" + v + "'");
        continue;
      }
      p->error_actions[*cat] = a;
    }
  }
}

void ReadMapping(Section& s, process::ProcessorConfig* p) {
  if (!s.Has("mapping")) return;
  YAML::Node m = s.Raw("mapping");
  if (!m.IsMap())
    return s.Error("mapping", "expected a mapping of column names to JSON paths ($.device.os)");
  for (const auto& kv : m) {
    process::FieldMapping f;
    f.column = kv.first.Scalar();
    if (kv.second.IsScalar()) {
      f.path = kv.second.Scalar();
    } else {
      Section c(kv.second, s.KeyPath("mapping") + "." + f.column, s.errors());
      c.String("path", &f.path);
      c.String("birth_date", &f.birth_date);
      std::string derive;
      c.String("derive", &derive);
      if (derive == "age")
        f.derive = process::Derive::kAge;
      else if (derive == "gender")
        f.derive = process::Derive::kGender;
      else if (!derive.empty())
        c.Error("derive", "expected age or gender, got '" + derive + "'");
      if (!f.birth_date.empty() && f.derive != process::Derive::kAge) {
        c.Error("birth_date", "only for derive: age");
      }
    }
    p->mapping.push_back(std::move(f));
  }
}

void ReadMasking(Section& s, process::ProcessorConfig* p, const Config& cfg) {
  if (!s.Has("masking")) return;
  Section m(s.Raw("masking"), s.KeyPath("masking"), s.errors());
  m.String("key_file", &p->masking.key_file);
  p->masking.key_file = ResolvePath(cfg, p->masking.key_file);
  m.String("key_env", &p->masking.key_env);
  m.Bool("create_key", &p->masking.create_key);
  if (p->masking.create_key && p->masking.key_file.empty()) {
    m.Error("create_key", "create_key needs a key_file to create");
  }
  m.String("key_id", &p->masking.key_id);
  if (!m.Has("rules")) return;
  YAML::Node rules = m.Raw("rules");
  if (!rules.IsSequence()) return m.Error("rules", "expected a list of {column, op, ...}");
  size_t i = 0;
  for (const auto& node : rules) {
    Section r(node, m.KeyPath("rules") + "[" + std::to_string(i++) + "]", s.errors());
    process::MaskRule rule;
    r.String("column", &rule.column);
    std::string op;
    r.String("op", &op);
    auto parsed = process::ParseMaskOp(op);
    if (!parsed.ok())
      r.Error("op", parsed.status().message());
    else
      rule.op = *parsed;
    r.String("with", &rule.with);
    r.Integer("keep_first", &rule.keep_first, 0, 1000);
    r.Integer("keep_last", &rule.keep_last, 0, 1000);
    r.String("unit", &rule.unit);
    r.Integer("ipv4_prefix", &rule.ipv4_prefix, 0, 32);
    r.Integer("ipv6_prefix", &rule.ipv6_prefix, 0, 128);
    std::optional<double> grid;
    r.Double("grid_m", &grid);
    if (grid) rule.grid_m = *grid;
    r.String("lon_column", &rule.lon_column);
    p->masking.rules.push_back(std::move(rule));
  }
}

void ReadAggregate(Section& s, process::ProcessorConfig* p, const Config& cfg) {
  if (!s.Has("aggregate")) return;
  auto& a = p->aggregate;
  a.enabled = true;
  Section g(s.Raw("aggregate"), s.KeyPath("aggregate"), s.errors());
  g.String("poi_file", &a.poi_file);
  a.poi_file = ResolvePath(cfg, a.poi_file);
  std::optional<double> radius;
  g.Double("default_radius_m", &radius);
  if (radius) a.default_radius_m = *radius;
  g.Duration("window", &a.window, std::chrono::seconds(1), std::chrono::hours(24));
  g.Duration("allowed_lateness", &a.allowed_lateness, std::chrono::seconds(0),
             std::chrono::hours(24));
  g.Duration("idle_close", &a.idle_close, std::chrono::seconds(0), std::chrono::hours(24));
  if (g.Has("age_bands")) {
    std::vector<std::string> bands;
    g.StringList("age_bands", &bands);
    a.age_bands.clear();
    for (const auto& b : bands) {
      int v = 0;
      auto [ptr, ec] = std::from_chars(b.data(), b.data() + b.size(), v);
      if (ec != std::errc() || ptr != b.data() + b.size()) {
        g.Error("age_bands", "expected whole numbers (lower bounds of the bands), got '" + b + "'");
        break;
      }
      a.age_bands.push_back(v);
    }
  }
  g.String("time_column", &a.time_column);
  g.String("lat_column", &a.lat_column);
  g.String("lon_column", &a.lon_column);
  g.String("age_column", &a.age_column);
  g.String("gender_column", &a.gender_column);
  g.String("person_column", &a.person_column);
  g.Integer("max_open_windows", &a.max_open_windows, 1, 100'000);
  g.Integer("max_persons_per_window", &a.max_persons_per_window, 1, 1'000'000'000);
  g.String("location", &a.location);
  if (!a.poi_file.empty() && !std::filesystem::exists(a.poi_file)) {
    g.Error("poi_file", "no such file: " + a.poi_file);
  }
}

void ReadWorkers(Section& s, process::ProcessorConfig* p) {
  if (!s.Has("workers")) return;
  Section w(s.Raw("workers"), s.KeyPath("workers"), s.errors());
  auto& a = p->autoscale;
  w.Integer("min", &a.min_workers, 1, 256);
  w.Integer("max", &a.max_workers, 1, 256);
  w.Integer("target_backlog_per_worker", &a.target_backlog_per_worker, 1, 1'000'000'000);
  w.Duration("scale_out_cooldown", &a.scale_out_cooldown, std::chrono::seconds(0),
             std::chrono::hours(1));
  w.Duration("scale_in_cooldown", &a.scale_in_cooldown, std::chrono::seconds(0),
             std::chrono::hours(1));
  w.Duration("evaluation_interval", &a.evaluation_interval, std::chrono::milliseconds(100),
             std::chrono::minutes(10));
  w.Integer("fetch_max_messages", &p->fetch_max_messages, 1, 100'000);
  w.Duration("fetch_wait", &p->fetch_wait, std::chrono::milliseconds(0), std::chrono::seconds(20));
  w.Duration("batch_linger", &p->batch_linger, std::chrono::milliseconds(0),
             std::chrono::seconds(60));
}

}  // namespace

void ReadProcessSection(Section& top, Config* cfg) {
  top.ForEachEntry("processors", [&](const std::string& name, Section& s) {
    process::ProcessorConfig p;
    p.name = name;
    s.String("subscription", &p.subscription);
    if (p.subscription.empty()) {
      s.Error("subscription", "every processor names the subscription it consumes");
    } else if (!cfg->FindSubscription(p.subscription)) {
      s.Error("subscription",
              "no subscription '" + p.subscription + "' is declared under subscriptions:");
    } else if (std::any_of(cfg->delivery_streams.begin(), cfg->delivery_streams.end(),
                           [&](const auto& d) { return d.subscription == p.subscription; })) {
      s.Error("subscription", "subscription '" + p.subscription +
                                  "' feeds a delivery stream; give the processor its own");
    }
    s.String("table", &p.table);
    if (p.table.empty()) {
      s.Error("table", "every processor names the table (under tables:) it validates against");
    } else if (!cfg->tables.count(p.table)) {
      s.Error("table", "no table '" + p.table + "' is declared under tables:");
    }
    s.Size("max_event_bytes", &p.max_event_bytes, 16, 64ull << 20);
    ReadErrors(s, &p, cfg);
    ReadMapping(s, &p);
    ReadMasking(s, &p, *cfg);
    ReadAggregate(s, &p, *cfg);
    if (s.Has("outputs")) {
      Section o(s.Raw("outputs"), s.KeyPath("outputs"), s.errors());
      o.String("events", &p.events_location);
      if (p.events_location == "none")
        p.events_location = "curated/events/", p.write_events = false;
      o.String("poi_presence", &p.aggregate.location);
    }
    ReadWorkers(s, &p);
    for (const auto& other : cfg->process.processors) {
      if (other.subscription == p.subscription && !p.subscription.empty()) {
        s.Error("subscription", "subscription '" + p.subscription + "' already feeds processor '" +
                                    other.name + "'");
      }
    }
    if (!p.subscription.empty() && !p.table.empty()) {
      Status st = process::ValidateProcessorConfig(p);
      if (!st.ok()) s.errors()->Add(s.name_mark(), s.KeyPath(""), st.message());
    }
    cfg->process.processors.push_back(std::move(p));
  });
}

}  // namespace inlet::config
