// catalog:, query: and crawlers: (see docs/lake.md).
#include <algorithm>

#include "config/sections.h"
#include "lake/catalog.h"

namespace inlet::config {

void ReadLakeSection(Section& top, Config* cfg) {
  lake::LakeConfig& lc = cfg->lake;
  {
    Section s(top.Raw("catalog"), "catalog", top.errors());
    std::string path;
    s.String("path", &path);
    if (!path.empty()) lc.catalog.path = path;
    if (s.Has("databases")) {
      std::vector<std::string> dbs;
      s.StringList("databases", &dbs);
      for (const auto& d : dbs) {
        if (!lake::IsValidIdentifier(d)) {
          s.Error("databases", "database name '" + d + "' must be letters, digits and '_'");
        } else if (std::find(lc.catalog.databases.begin(), lc.catalog.databases.end(), d) ==
                   lc.catalog.databases.end()) {
          lc.catalog.databases.push_back(d);
        }
      }
    }
  }
  {
    Section s(top.Raw("query"), "query", top.errors());
    auto& q = lc.query;
    s.Duration("timeout", &q.timeout, std::chrono::milliseconds(100), std::chrono::hours(24));
    s.Integer("default_max_rows", &q.default_max_rows, 1, 10'000'000);
    s.Integer("max_rows", &q.max_rows, 1, 10'000'000);
    s.Size("memory_limit", &q.memory_limit, 64ull << 20, 1ull << 40);
    s.Integer("max_concurrent", &q.max_concurrent, 1, 256);
    s.Integer("threads", &q.threads, 1, 256);
    s.Duration("retry_after", &q.retry_after, std::chrono::seconds(1), std::chrono::hours(1));
    if (q.default_max_rows > q.max_rows) {
      s.Error("default_max_rows", "must not exceed max_rows (" + std::to_string(q.max_rows) + ")");
    }
  }
  top.ForEachEntry("crawlers", [&](const std::string& name, Section& s) {
    lake::CrawlerConfig c;
    c.name = name;
    s.String("table", &c.table);
    if (c.table.empty()) {
      s.Error("table", "every crawler names the catalog table it maintains, like raw.events");
    } else if (auto qn = lake::SplitQualifiedName(c.table); !qn.ok()) {
      s.Error("table", qn.status().message());
    }
    s.String("prefix", &c.prefix);
    if (c.prefix.find("..") != std::string::npos || (!c.prefix.empty() && c.prefix[0] == '/')) {
      s.Error("prefix", "must be a folder inside the lake, like raw/events/");
    }
    s.Duration("schedule", &c.schedule, std::chrono::seconds(0), std::chrono::hours(24 * 30));
    std::string v;
    s.String("recrawl", &v);
    if (v == "everything" || v.empty()) {
      c.recrawl = lake::RecrawlPolicy::kEverything;
    } else if (v == "new_folders_only") {
      c.recrawl = lake::RecrawlPolicy::kNewFoldersOnly;
    } else {
      s.Error("recrawl", "expected everything or new_folders_only, got '" + v + "'");
    }
    v.clear();
    s.String("update_behavior", &v);
    if (v == "update_in_catalog" || v.empty()) {
      c.update_behavior = lake::UpdateBehavior::kUpdateInCatalog;
    } else if (v == "log") {
      c.update_behavior = lake::UpdateBehavior::kLog;
    } else {
      s.Error("update_behavior", "expected log or update_in_catalog, got '" + v + "'");
    }
    v.clear();
    s.String("delete_behavior", &v);
    if (v == "deprecate_in_catalog" || v.empty()) {
      c.delete_behavior = lake::DeleteBehavior::kDeprecateInCatalog;
    } else if (v == "log") {
      c.delete_behavior = lake::DeleteBehavior::kLog;
    } else if (v == "delete_from_catalog") {
      c.delete_behavior = lake::DeleteBehavior::kDeleteFromCatalog;
    } else {
      s.Error("delete_behavior",
              "expected log, delete_from_catalog or deprecate_in_catalog, got '" + v + "'");
    }
    lc.crawlers.push_back(std::move(c));
  });
}

}  // namespace inlet::config
