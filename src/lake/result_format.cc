#include "lake/result_format.h"

#include <algorithm>
#include <cstdio>

#include "common/json_escape.h"

namespace inlet::lake {
namespace {

// Display width of UTF-8 text (code points; good enough for a terminal table).
size_t Width(std::string_view s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

std::string Shown(const Cell& c, size_t max_width) {
  if (c.kind == CellKind::kNull) return "NULL";
  std::string s;
  for (char ch : c.text) s += (ch == '\n' || ch == '\t' || ch == '\r') ? ' ' : ch;
  if (max_width && Width(s) > max_width) {
    size_t cut = 0, w = 0;
    while (cut < s.size() && w < max_width - 3) {
      ++cut;
      while (cut < s.size() && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) ++cut;
      ++w;
    }
    s = s.substr(0, cut) + "...";
  }
  return s;
}

bool RightAligned(const Cell& c) { return c.kind == CellKind::kInt || c.kind == CellKind::kDouble; }

}  // namespace

Result<OutputFormat> ParseOutputFormat(std::string_view text) {
  if (text == "table") return OutputFormat::kTable;
  if (text == "csv") return OutputFormat::kCsv;
  if (text == "json") return OutputFormat::kJson;
  if (text == "ndjson") return OutputFormat::kNdjson;
  if (text == "parquet") return OutputFormat::kParquet;
  return Status::InvalidArgument("unknown format '" + std::string(text) +
                                 "' (expected table, csv, json, ndjson or parquet)");
}

std::string JsonString(std::string_view s) { return "\"" + JsonEscape(s) + "\""; }

std::string CellJson(const Cell& c) {
  switch (c.kind) {
    case CellKind::kNull:
      return "null";
    case CellKind::kBool:
    case CellKind::kInt:
    case CellKind::kDouble:
    case CellKind::kJson:
      return c.text;
    case CellKind::kString:
      return JsonString(c.text);
  }
  return "null";
}

std::string FormatTable(const QueryResult& r, size_t max_width) {
  size_t n = r.columns.size();
  std::vector<size_t> width(n);
  std::vector<std::vector<std::string>> shown;
  for (size_t c = 0; c < n; ++c)
    width[c] = std::max(Width(r.columns[c].name), Width(r.columns[c].type));
  for (const auto& row : r.rows) {
    shown.emplace_back();
    for (size_t c = 0; c < n; ++c) {
      shown.back().push_back(Shown(row[c], max_width));
      width[c] = std::max(width[c], Width(shown.back().back()));
    }
  }
  auto rule = [&](const char* left, const char* mid, const char* right) {
    std::string s = left;
    for (size_t c = 0; c < n; ++c) {
      for (size_t i = 0; i < width[c] + 2; ++i) s += "─";
      s += c + 1 < n ? mid : right;
    }
    return s + "\n";
  };
  auto cell = [&](const std::string& text, size_t c, bool right) {
    std::string pad(width[c] - Width(text), ' ');
    return " " + (right ? pad + text : text + pad) + " │";
  };
  std::string out = rule("┌", "┬", "┐");
  std::string names = "│", types = "│";
  for (size_t c = 0; c < n; ++c) {
    names += cell(r.columns[c].name, c, false);
    types += cell(r.columns[c].type, c, false);
  }
  out += names + "\n" + types + "\n" + rule("├", "┼", "┤");
  for (size_t i = 0; i < r.rows.size(); ++i) {
    std::string line = "│";
    for (size_t c = 0; c < n; ++c) line += cell(shown[i][c], c, RightAligned(r.rows[i][c]));
    out += line + "\n";
  }
  out += rule("└", "┴", "┘");
  out += std::to_string(r.rows.size()) + (r.rows.size() == 1 ? " row" : " rows");
  if (r.truncated) out += " (truncated: more rows exist; raise --max-rows)";
  char buf[96];
  snprintf(buf, sizeof(buf), ", %.1f ms, %llu bytes scanned\n", r.elapsed_ms,
           static_cast<unsigned long long>(r.bytes_scanned));
  return out + buf;
}

std::string FormatCsv(const QueryResult& r) {
  auto field = [](const std::string& s) {
    if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
    std::string out = "\"";
    for (char c : s) {
      if (c == '"') out += '"';
      out += c;
    }
    return out + "\"";
  };
  std::string out;
  for (size_t c = 0; c < r.columns.size(); ++c) out += (c ? "," : "") + field(r.columns[c].name);
  out += "\n";
  for (const auto& row : r.rows) {
    for (size_t c = 0; c < row.size(); ++c) {
      out += (c ? "," : "") + (row[c].kind == CellKind::kNull ? std::string() : field(row[c].text));
    }
    out += "\n";
  }
  return out;
}

std::string FormatNdjson(const QueryResult& r) {
  std::string out;
  for (const auto& row : r.rows) {
    out += "{";
    for (size_t c = 0; c < row.size(); ++c) {
      out += (c ? "," : "") + JsonString(r.columns[c].name) + ":" + CellJson(row[c]);
    }
    out += "}\n";
  }
  return out;
}

std::string FormatJson(const QueryResult& r) {
  std::string out = "{\"columns\":[";
  for (size_t c = 0; c < r.columns.size(); ++c) {
    out += (c ? "," : "") + std::string("{\"name\":") + JsonString(r.columns[c].name) +
           ",\"type\":" + JsonString(r.columns[c].type) + "}";
  }
  out += "],\"rows\":[";
  for (size_t i = 0; i < r.rows.size(); ++i) {
    out += i ? ",[" : "[";
    for (size_t c = 0; c < r.rows[i].size(); ++c) out += (c ? "," : "") + CellJson(r.rows[i][c]);
    out += "]";
  }
  char buf[160];
  snprintf(buf, sizeof(buf),
           "],\"row_count\":%zu,\"truncated\":%s,\"bytes_scanned\":%llu,\"elapsed_ms\":%.3f}",
           r.rows.size(), r.truncated ? "true" : "false",
           static_cast<unsigned long long>(r.bytes_scanned), r.elapsed_ms);
  return out + buf;
}

}  // namespace inlet::lake
