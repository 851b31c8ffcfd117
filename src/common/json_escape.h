// Escaping of text for JSON string literals, shared by every component that
// writes JSON by hand (HTTP responses, query results). Pure functions.
#pragma once

#include <string>
#include <string_view>

namespace inlet {

// `s` escaped for use between JSON double quotes (quotes, backslash, control
// characters); bytes >= 0x20 are copied as they are.
std::string JsonEscape(std::string_view s);

}  // namespace inlet
