// delivery_streams: one entry per delivery stream (see docs/delivery.md).
#include <algorithm>

#include "config/sections.h"

namespace inlet::config {

void ReadDeliverySection(Section& top, Config* cfg) {
  top.ForEachEntry("delivery_streams", [&](const std::string& name, Section& s) {
    delivery::DeliveryStreamConfig d;
    d.name = name;
    s.String("subscription", &d.subscription);
    if (d.subscription.empty()) {
      s.Error("subscription", "every delivery stream names the subscription it consumes");
    } else if (!cfg->FindSubscription(d.subscription)) {
      s.Error("subscription",
              "no subscription '" + d.subscription + "' is declared under subscriptions:");
    } else {
      const auto* sub = cfg->FindSubscription(d.subscription);
      if (sub->bus.max_receive_count > 0) {
        s.Error(
            "subscription",
            "the subscription of a delivery stream must not dead-letter (max_receive_count: 0), "
            "or the lake could miss events");
      }
      if (std::any_of(cfg->delivery_streams.begin(), cfg->delivery_streams.end(),
                      [&](const auto& o) { return o.subscription == d.subscription; })) {
        s.Error("subscription",
                "subscription '" + d.subscription + "' already feeds another delivery stream");
      }
    }
    std::string table;
    s.String("table", &table);
    if (table.empty()) {
      s.Error("table", "every delivery stream names its table (declared under tables:)");
    } else if (!cfg->tables.count(table)) {
      s.Error("table", "no table '" + table + "' is declared under tables:");
    } else {
      d.table = cfg->tables.at(table);
    }
    s.Integer("version", &d.version, 1, 1'000'000);
    s.String("location", &d.location);
    s.Duration("buffer_interval", &d.buffer_interval, std::chrono::seconds(0),
               delivery::kMaxBufferInterval);
    s.Size("buffer_size", &d.buffer_size_bytes, delivery::kMinBufferBytes,
           delivery::kMaxBufferBytes);
    s.Duration("idle_flush", &d.idle_flush, std::chrono::seconds(0), std::chrono::hours(1));
    std::string compression;
    s.String("compression", &compression);
    if (!compression.empty()) {
      auto c = delivery::ParseCompression(compression);
      if (!c.ok())
        s.Error("compression", c.status().message());
      else
        d.compression = c.value();
    }
    s.Integer("compression_level", &d.compression_level, 0, 22);
    s.Integer("row_group_rows", &d.row_group_rows, 2048, 100'000'000);
    s.Size("max_file_size", &d.max_file_bytes, 1 << 20, 4ull << 30);
    s.String("prefix", &d.prefix);
    s.String("error_prefix", &d.error_prefix);
    if (s.Has("partition_keys")) {
      YAML::Node keys = s.Raw("partition_keys");
      if (!keys.IsMap()) {
        s.Error("partition_keys",
                "expected a mapping of key names to JSON paths, like os: $.device.os");
      } else {
        for (const auto& kv : keys) {
          d.partition_keys.push_back(
              {kv.first.Scalar(), kv.second.IsScalar() ? kv.second.Scalar() : ""});
        }
      }
    }
    s.String("time_field", &d.time_field);
    if (d.time_field == "arrival") d.time_field.clear();
    s.Bool("keep_unknown_fields", &d.keep_unknown_fields);
    s.Size("max_buffered_bytes", &d.max_buffered_bytes, 1 << 20, 64ull << 30);
    s.Integer("max_open_partitions", &d.max_open_partitions, 1, 100'000);
    s.Integer("fetch_max_messages", &d.fetch_max_messages, 1, 100'000);
    if (!d.table.columns.empty() && !d.subscription.empty()) {
      Status st = delivery::ValidateDeliveryStreamConfig(d);
      if (!st.ok()) s.errors()->Add(s.name_mark(), s.KeyPath(""), st.message());
    }
    cfg->delivery_streams.push_back(std::move(d));
  });
}

}  // namespace inlet::config
