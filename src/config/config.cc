#include "config/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <fstream>
#include <functional>
#include <regex>
#include <set>
#include <sstream>

#include "common/json_escape.h"
#include "config/filter_binding.h"
#include "config/sections.h"
#include "config/yaml_section.h"

namespace inlet::config {
namespace {

bool ValidName(const std::string& name) {
  static const std::regex re("^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$");
  return std::regex_match(name, re) && name.find("..") == std::string::npos;
}

void CheckName(Section& s, const std::string& what, const std::string& name) {
  if (!ValidName(name)) {
    s.errors()->Add(s.name_mark(), s.KeyPath(""),
                    what + " name '" + name +
                        "' must be 1-128 letters, digits, '_', '-' or '.', starting with a letter "
                        "or digit");
  }
}

void ReadServer(Section s, ServerConfig* out) {
  std::string listen;
  s.String("listen", &listen);
  if (!listen.empty()) {
    size_t colon = listen.rfind(':');
    uint32_t port = 0;
    std::string host = colon == std::string::npos ? "" : listen.substr(0, colon);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']')
      host = host.substr(1, host.size() - 2);
    auto [p, ec] =
        colon == std::string::npos
            ? std::from_chars_result{nullptr, std::errc::invalid_argument}
            : std::from_chars(listen.data() + colon + 1, listen.data() + listen.size(), port);
    if (host.empty() || ec != std::errc() || p != listen.data() + listen.size() || port > 65535) {
      s.Error("listen", "expected HOST:PORT such as 127.0.0.1:8080, got '" + listen + "'");
    } else {
      out->host = host;
      out->port = static_cast<uint16_t>(port);
    }
  }
  s.Integer("io_threads", &out->io_threads, 1, 64);
  s.Bool("auth", &out->auth);
  s.Duration("idle_timeout", &out->idle_timeout, std::chrono::seconds(1), std::chrono::hours(24));
  s.Duration("request_timeout", &out->request_timeout, std::chrono::seconds(1),
             std::chrono::hours(1));
  s.Integer("max_connections", &out->max_connections, 1, 1'000'000);
}

bool ValidPartitionKey(const std::string& key) {
  static const std::regex path(R"(^(\$\.)?[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z_][A-Za-z0-9_-]*)*$)");
  return std::regex_match(key, path);
}

void ReadS3(Section s, S3Config* out) {
  out->enabled = true;
  s.String("endpoint", &out->endpoint);
  s.String("region", &out->region);
  s.String("bucket", &out->bucket);
  s.String("prefix", &out->prefix);
  s.Bool("path_style", &out->path_style);
  s.Size("multipart_threshold", &out->multipart_threshold, 5ull << 20, 5ull << 30);
  s.Size("part_size", &out->part_size, 5ull << 20, 5ull << 30);
  s.Integer("max_attempts", &out->max_attempts, 1, 100);
  s.Duration("request_timeout", &out->request_timeout, std::chrono::seconds(1),
             std::chrono::hours(1));
  s.Bool("create_bucket", &out->create_bucket);
  s.Duration("mirror_interval", &out->mirror_interval, std::chrono::milliseconds(200),
             std::chrono::hours(1));
  if (out->endpoint.rfind("http://", 0) != 0 && out->endpoint.rfind("https://", 0) != 0)
    s.Error("endpoint", "expected http(s)://host[:port], got '" + out->endpoint + "'");
  static const std::regex bucket("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$");
  if (!std::regex_match(out->bucket, bucket))
    s.Error("bucket",
            "expected an S3 bucket name (3-63 of a-z 0-9 . -), got '" + out->bucket + "'");
  while (!out->prefix.empty() && out->prefix.back() == '/') out->prefix.pop_back();
  if (out->part_size > out->multipart_threshold)
    s.Error("part_size", "must not exceed multipart_threshold");
}

void ReadBus(Section s, BusSettings* out) {
  std::string type = "embedded";
  s.String("type", &type);
  if (type == "embedded") {
    out->type = BusSettings::Type::kEmbedded;
  } else if (type == "jetstream") {
    out->type = BusSettings::Type::kJetStream;
  } else {
    s.Error("type", "expected embedded or jetstream, got '" + type + "'");
  }
  if (!s.Has("jetstream")) {
    if (out->type == BusSettings::Type::kJetStream)
      s.Error("jetstream", "bus.type jetstream needs a jetstream: section with its servers");
    return;
  }
  Section j(s.Raw("jetstream"), "bus.jetstream", s.errors());
  JetStreamSettings& js = out->jetstream;
  j.StringList("servers", &js.servers);
  if (js.servers.empty()) j.Error("servers", "list at least one nats://host:port");
  for (const auto& url : js.servers) {
    if (url.rfind("nats://", 0) != 0 && url.rfind("tls://", 0) != 0)
      j.Error("servers", "expected nats://host:port or tls://host:port, got '" + url + "'");
  }
  j.String("stream_prefix", &js.stream_prefix);
  static const std::regex prefix("^[A-Za-z][A-Za-z0-9_-]{0,31}$");
  if (!std::regex_match(js.stream_prefix, prefix))
    j.Error("stream_prefix",
            "expected a letter then up to 31 of A-Z a-z 0-9 _ -, got '" + js.stream_prefix + "'");
  j.Integer("replicas", &js.replicas, 1, 5);
  j.Duration("publish_timeout", &js.publish_timeout, std::chrono::milliseconds(100),
             std::chrono::minutes(5));
  j.Duration("api_timeout", &js.api_timeout, std::chrono::milliseconds(100),
             std::chrono::minutes(5));
  j.Integer("publish_retries", &js.publish_retries, 0, 100);
  j.Duration("lease_ttl", &js.lease_ttl, std::chrono::seconds(2), std::chrono::minutes(10));
  j.String("credentials_file", &js.credentials_file);
}

bool IsLoopback(const std::string& host) {
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

void ReadTable(const std::string& qualified, Section& s, Errors* errors,
               std::map<std::string, schema::TableSchema>* tables) {
  schema::TableSchema t;
  size_t dot = qualified.find('.');
  if (dot == std::string::npos || dot == 0 || dot + 1 == qualified.size() ||
      qualified.find('.', dot + 1) != std::string::npos) {
    errors->Add(s.name_mark(), s.KeyPath(""),
                "table names are qualified by their database, like raw.events or curated.visits");
    return;
  }
  t.database = qualified.substr(0, dot);
  t.name = qualified.substr(dot + 1);
  s.String("description", &t.description);
  YAML::Node cols = s.Raw("columns");
  if (!cols || !cols.IsSequence() || cols.size() == 0) {
    s.Error("columns", "a table needs a non-empty list of columns");
    return;
  }
  std::set<std::string> names;
  for (size_t i = 0; i < cols.size(); ++i) {
    Section c(cols[i], s.KeyPath("columns") + "[" + std::to_string(i) + "]", errors);
    schema::Column col;
    std::string type;
    c.String("name", &col.name);
    c.String("type", &type);
    c.Bool("required", &col.required);
    c.Double("min", &col.min);
    c.Double("max", &col.max);
    c.StringList("enum", &col.enum_values);
    std::string format;
    c.String("format", &format);
    uint64_t max_length = 0;
    c.Integer("max_length", &max_length, 1, UINT32_MAX);
    if (max_length) col.max_length = max_length;
    c.String("description", &col.description);
    if (col.name.empty()) {
      c.Error("name", "every column needs a name");
      continue;
    }
    if (!names.insert(col.name).second) c.Error("name", "duplicate column '" + col.name + "'");
    if (type.empty()) {
      c.Error("type",
              "every column needs a type (string, bigint, int, double, boolean, timestamp, "
              "date, decimal(p,s), struct<...>, array<...>, map<...>)");
      continue;
    }
    auto parsed = schema::ParseType(type);
    if (!parsed.ok()) {
      c.Error("type", parsed.status().message());
      continue;
    }
    col.type = parsed.value();
    if (!format.empty()) {
      auto f = schema::ParseStringFormat(format);
      if (!f.ok())
        c.Error("format", f.status().message());
      else
        col.format = f.value();
    }
    if (col.min && col.max && *col.min > *col.max) c.Error("min", "min is greater than max");
    t.columns.push_back(std::move(col));
  }
  (*tables)[qualified] = std::move(t);
}

}  // namespace

std::string YamlToJson(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Null:
      return "null";
    case YAML::NodeType::Scalar: {
      const std::string& s = n.Scalar();
      if (n.Tag() != "!") {
        if (s == "true" || s == "false" || s == "null") return s;
        double d;
        auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), d);
        if (ec == std::errc() && p == s.data() + s.size() && !s.empty()) return s;
      }
      return "\"" + JsonEscape(s) + "\"";
    }
    case YAML::NodeType::Sequence: {
      std::string out = "[";
      for (size_t i = 0; i < n.size(); ++i) out += (i ? "," : "") + YamlToJson(n[i]);
      return out + "]";
    }
    case YAML::NodeType::Map: {
      std::string out = "{";
      bool first = true;
      for (const auto& kv : n) {
        out += (first ? "" : ",") + YamlToJson(YAML::Node(kv.first.Scalar())) + ":" +
               YamlToJson(kv.second);
        first = false;
      }
      return out + "}";
    }
    default:
      return "null";
  }
}

const SubscriptionDecl* Config::FindSubscription(std::string_view name) const {
  for (const auto& s : subscriptions) {
    if (s.bus.name == name) return &s;
  }
  return nullptr;
}

const TopicDecl* Config::FindTopic(std::string_view name) const {
  for (const auto& t : topics) {
    if (t.bus.name == name) return &t;
  }
  return nullptr;
}

bus::EmbeddedBusConfig Config::EmbeddedBus() const {
  bus::EmbeddedBusConfig c;
  c.log_dir = storage.log_dir;
  c.disk_budget_bytes = limits.disk_budget;
  c.max_pending_bytes = limits.max_pending_bytes;
  for (const auto& t : topics) c.topics.push_back(t.bus);
  for (const auto& s : subscriptions) c.subscriptions.push_back(s.bus);
  return c;
}

Result<uint64_t> ParseSize(std::string_view text) {
  static const std::pair<const char*, uint64_t> kUnits[] = {{"KiB", 1ull << 10},
                                                            {"MiB", 1ull << 20},
                                                            {"GiB", 1ull << 30},
                                                            {"TiB", 1ull << 40},
                                                            {"KB", 1000ull},
                                                            {"MB", 1000'000ull},
                                                            {"GB", 1000'000'000ull},
                                                            {"TB", 1000'000'000'000ull},
                                                            {"B", 1}};
  std::string s(text);
  uint64_t mult = 1;
  for (const auto& [unit, m] : kUnits) {
    size_t n = std::strlen(unit);
    if (s.size() > n && s.compare(s.size() - n, n, unit) == 0) {
      s = s.substr(0, s.size() - n);
      mult = m;
      break;
    }
  }
  while (!s.empty() && s.back() == ' ') s.pop_back();
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size() ||
      (v != 0 && mult > UINT64_MAX / v)) {
    return Status::InvalidArgument(
        "expected a size such as 512KiB, 16MiB, 1GB or a number of bytes, got '" +
        std::string(text) + "'");
  }
  return v * mult;
}

Result<std::chrono::milliseconds> ParseDuration(std::string_view text) {
  static const std::pair<const char*, int64_t> kUnits[] = {
      {"ms", 1}, {"s", 1000}, {"m", 60'000}, {"h", 3'600'000}, {"d", 86'400'000}};
  std::string s(text);
  for (const auto& [unit, m] : kUnits) {
    size_t n = std::strlen(unit);
    if (s.size() > n && s.compare(s.size() - n, n, unit) == 0) {
      std::string num = s.substr(0, s.size() - n);
      double v = 0;
      auto [p, ec] = std::from_chars(num.data(), num.data() + num.size(), v);
      if (ec == std::errc() && p == num.data() + num.size() && v >= 0 && v < 1e12) {
        return std::chrono::milliseconds(static_cast<int64_t>(std::llround(v * m)));
      }
      break;
    }
  }
  return Status::InvalidArgument("expected a duration such as 250ms, 30s, 5m, 24h or 7d, got '" +
                                 std::string(text) + "'");
}

Result<Config> ParseConfig(std::string_view yaml_text, const std::string& name) {
  Errors errors(name);
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml_text));
  } catch (const YAML::Exception& e) {
    errors.Add(e.mark, "(yaml)", e.msg);
    return Status::InvalidArgument(errors.Join());
  }
  Config cfg;
  cfg.file = name;
  {
    Section top(root, "", &errors);
    ReadServer(Section(top.Raw("server"), "server", &errors), &cfg.server);
    {
      Section s(top.Raw("storage"), "storage", &errors);
      std::string data_dir, log_dir, lake_dir;
      s.String("data_dir", &data_dir);
      s.String("log_dir", &log_dir);
      s.String("lake_dir", &lake_dir);
      if (!data_dir.empty()) cfg.storage.data_dir = data_dir;
      cfg.storage.log_dir =
          log_dir.empty() ? cfg.storage.data_dir / "log" : std::filesystem::path(log_dir);
      cfg.storage.lake_dir =
          lake_dir.empty() ? cfg.storage.data_dir / "lake" : std::filesystem::path(lake_dir);
      if (s.Has("s3")) ReadS3(Section(s.Raw("s3"), "storage.s3", &errors), &cfg.storage.s3);
    }
    ReadBus(Section(top.Raw("bus"), "bus", &errors), &cfg.bus);
    {
      Section s(top.Raw("limits"), "limits", &errors);
      LimitsConfig& l = cfg.limits;
      s.Size("max_event_bytes", &l.max_event_bytes, 64, 64ull << 20);
      s.Size("max_request_bytes", &l.max_request_bytes, 64, 1ull << 30);
      s.Integer("max_events_per_request", &l.max_events_per_request, 1, 1'000'000);
      s.Size("max_pending_bytes", &l.max_pending_bytes, 1 << 20, 64ull << 30);
      s.Size("disk_budget", &l.disk_budget, 0, UINT64_MAX);
      s.Duration("retry_after", &l.retry_after, std::chrono::seconds(1), std::chrono::hours(1));
      if (l.max_event_bytes > l.max_request_bytes) {
        s.Error("max_event_bytes", "is larger than max_request_bytes, so no event could ever fit");
      }
      if (l.max_request_bytes > l.max_pending_bytes) {
        s.Error("max_request_bytes",
                "is larger than max_pending_bytes, so such a request could never be queued");
      }
      if (l.disk_budget != 0 && l.disk_budget < (64ull << 20)) {
        s.Error("disk_budget", "must be 0 (unlimited) or at least 64MiB");
      }
    }
    top.ForEachEntry("tables", [&](const std::string& qualified, Section& s) {
      ReadTable(qualified, s, &errors, &cfg.tables);
    });
    top.ForEachEntry("topics", [&](const std::string& name, Section& s) {
      CheckName(s, "topic", name);
      TopicDecl t;
      t.bus.name = name;
      s.Size("segment_bytes", &t.bus.segment_bytes, 1 << 20, 4ull << 30);
      s.Duration("retention", &t.bus.retention, std::chrono::seconds(0),
                 std::chrono::hours(24 * 365));
      s.Integer("partitions", &t.partitions, 1, 1024);
      s.String("partition_key", &t.partition_key);
      if (!t.partition_key.empty() && !ValidPartitionKey(t.partition_key)) {
        s.Error("partition_key", "expected a field path such as user_id or $.user.id, got '" +
                                     t.partition_key + "'");
      }
      if (t.partitions > 1 && t.partition_key.empty()) {
        s.Error("partitions",
                "a topic with several partitions needs a partition_key (the field that identifies "
                "a person), so that one person's events stay in one partition");
      }
      s.String("table", &t.table);
      if (!t.table.empty() && !cfg.tables.count(t.table)) {
        s.Error("table", "no table '" + t.table + "' is declared under tables:");
      }
      cfg.topics.push_back(std::move(t));
    });
    top.ForEachEntry("subscriptions", [&](const std::string& name, Section& s) {
      CheckName(s, "subscription", name);
      SubscriptionDecl d;
      d.bus.name = name;
      s.String("topic", &d.bus.topic);
      if (d.bus.topic.empty())
        s.Error("topic", "every subscription names its topic");
      else if (!cfg.FindTopic(d.bus.topic))
        s.Error("topic", "no topic '" + d.bus.topic + "' is declared under topics:");
      s.Duration("visibility_timeout", &d.bus.visibility_timeout, std::chrono::milliseconds(10),
                 std::chrono::hours(12));
      s.Integer("max_receive_count", &d.bus.max_receive_count, 0, 1000);
      s.String("dead_letter_topic", &d.bus.dead_letter_topic);
      s.Integer("max_unacked", &d.bus.max_unacked, 1, 100'000'000);
      if (!d.bus.dead_letter_topic.empty()) {
        if (!cfg.FindTopic(d.bus.dead_letter_topic)) {
          s.Error("dead_letter_topic",
                  "no topic '" + d.bus.dead_letter_topic + "' is declared under topics:");
        } else if (d.bus.dead_letter_topic == d.bus.topic) {
          s.Error("dead_letter_topic", "must differ from the subscription's own topic");
        }
      }
      if (d.bus.max_receive_count > 0 && d.bus.dead_letter_topic.empty()) {
        s.Error("max_receive_count", "needs a dead_letter_topic to move messages to");
      }
      s.String("filter_policy_scope", &d.filter_policy_scope);
      if (s.Has("filter_policy")) {
        YAML::Node p = s.Raw("filter_policy");
        d.filter_policy_json = p.IsScalar() ? p.Scalar() : YamlToJson(p);
        auto filter = CompileFilter(d.filter_policy_json, d.filter_policy_scope);
        if (!filter.ok())
          s.Error("filter_policy", filter.status().message());
        else
          d.bus.filter_policy = std::move(filter).value();
      }
      cfg.subscriptions.push_back(std::move(d));
      ReadNotificationTarget(s, name, &cfg);
    });
    YAML::Node keys = top.Raw("api_keys");
    top.ForEachEntry("api_keys", [&](const std::string& id, Section& s) {
      CheckName(s, "API key", id);
      ApiKeyConfig k;
      k.id = id;
      s.String("sha256", &k.sha256_hex);
      static const std::regex hex("^[0-9a-f]{64}$");
      if (!std::regex_match(k.sha256_hex, hex)) {
        s.Error("sha256",
                "expected the SHA-256 of the key as 64 lowercase hex digits (see `inlet keygen`)");
      }
      std::vector<std::string> scopes;
      s.StringList("scopes", &scopes);
      if (scopes.empty()) s.Error("scopes", "an API key needs at least one scope");
      for (const auto& sc : scopes) {
        if (sc == "query")
          k.query = true;
        else if (sc == "admin")
          k.admin = true;
        else if (sc.rfind("publish:", 0) == 0) {
          std::string t = sc.substr(8);
          if (t != "*" && !cfg.FindTopic(t))
            s.Error("scopes", "scope '" + sc + "' names an unknown topic");
          k.publish_topics.push_back(t);
        } else if (sc.rfind("consume:", 0) == 0) {
          std::string sub = sc.substr(8);
          bool known = sub == "*" || std::any_of(cfg.subscriptions.begin(), cfg.subscriptions.end(),
                                                 [&](const auto& d) { return d.bus.name == sub; });
          if (!known) s.Error("scopes", "scope '" + sc + "' names an unknown subscription");
          k.consume_subscriptions.push_back(sub);
        } else {
          s.Error("scopes",
                  "unknown scope '" + sc +
                      "' (use publish:<topic|*>, consume:<subscription|*>, query, admin)");
        }
      }
      cfg.api_keys.push_back(std::move(k));
    });
    (void)keys;
    ReadDeliverySection(top, &cfg);
    ReadProcessSection(top, &cfg);
    ReadLakeSection(top, &cfg);
    if (cfg.topics.empty()) top.Error("topics", "declare at least one topic");
    if (!cfg.server.auth && !IsLoopback(cfg.server.host)) {
      errors.Add(
          root["server"] ? root["server"].Mark() : YAML::Mark::null_mark(), "server.auth",
          "authentication may be turned off only on a loopback listener (127.0.0.1, ::1), not "
          "on " +
              cfg.server.host);
    }
    if (cfg.server.auth && cfg.api_keys.empty()) {
      top.Error("api_keys",
                "server.auth is on but no API key is declared; add one (inlet keygen) "
                "or turn auth off on a loopback listener");
    }
  }
  if (!errors.empty()) return Status::InvalidArgument(errors.Join());
  return cfg;
}

Result<Config> LoadConfig(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound("cannot read configuration file " + path.string());
  std::stringstream ss;
  ss << in.rdbuf();
  return ParseConfig(ss.str(), path.string());
}

}  // namespace inlet::config
