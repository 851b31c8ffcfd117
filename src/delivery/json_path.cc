#include "delivery/json_path.h"

#include <cctype>

namespace inlet::delivery {

std::string JsonPath::ToString() const {
  std::string out = "$";
  for (const std::string& k : keys) {
    bool plain = !k.empty();
    for (char c : k)
      plain = plain && (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-');
    out += plain ? "." + k : "['" + k + "']";
  }
  return out;
}

Result<JsonPath> ParseJsonPath(std::string_view text) {
  auto bad = [&](const std::string& why) {
    return Status::InvalidArgument("JSON path '" + std::string(text) + "': " + why);
  };
  JsonPath path;
  size_t i = 0;
  if (!text.empty() && text[0] == '$') ++i;
  bool need_separator = i > 0;
  if (i == 0 && !text.empty() && text[0] != '.' && text[0] != '[') {
    need_separator = false;  // "device.os"
  } else if (i == 0 && !text.empty()) {
    need_separator = true;
  }
  bool first = true;
  while (i < text.size()) {
    if (text[i] == '[') {
      if (i + 1 >= text.size() || (text[i + 1] != '\'' && text[i + 1] != '"')) {
        return bad("only quoted keys are supported in brackets (no array indexes)");
      }
      char q = text[i + 1];
      size_t end = text.find(q, i + 2);
      if (end == std::string_view::npos || end + 1 >= text.size() || text[end + 1] != ']') {
        return bad("unterminated ['key']");
      }
      path.keys.emplace_back(text.substr(i + 2, end - i - 2));
      i = end + 2;
    } else {
      if (text[i] == '.') {
        ++i;
      } else if (need_separator || !first) {
        return bad("expected '.' or '[' at position " + std::to_string(i));
      }
      size_t start = i;
      while (i < text.size() && text[i] != '.' && text[i] != '[') ++i;
      if (i == start) return bad("empty key at position " + std::to_string(start));
      path.keys.emplace_back(text.substr(start, i - start));
    }
    first = false;
  }
  if (path.keys.empty()) return bad("names no field");
  for (const std::string& k : path.keys) {
    if (k.empty()) return bad("empty key");
  }
  return path;
}

}  // namespace inlet::delivery
