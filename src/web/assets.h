// The dashboard's static files (web/ and the ECharts bundle), embedded into
// the binary at build time by assets_embed_main.cc (see CMakeLists.txt), so
// that inlet serves its UI with no file outside the binary and no network.
// Immutable data with static storage duration; thread-safe.
#pragma once

#include <span>
#include <string_view>

namespace inlet::web {

struct EmbeddedAsset {
  std::string_view path;  // URL path below /ui/, e.g. "js/main.js", "vendor/echarts.min.js"
  std::string_view data;  // the file's bytes
  std::string_view etag;  // strong validator, a content hash: "\"<16 hex>\""
};

// Every embedded file, sorted by path. Defined in the generated assets_data.cc.
std::span<const EmbeddedAsset> EmbeddedAssets();

}  // namespace inlet::web
