#include "process/event_validator.h"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>

#include "schema/time_util.h"

namespace inlet::process {
namespace {

using schema::ConversionErrorCode;
using schema::TypeKind;

ErrorCategory CategoryOf(ConversionErrorCode code) {
  switch (code) {
    case ConversionErrorCode::kMalformedJson:
    case ConversionErrorCode::kNotAnObject:
      return ErrorCategory::kMalformedJson;
    case ConversionErrorCode::kMissingField:
      return ErrorCategory::kMissingField;
    case ConversionErrorCode::kTypeMismatch:
      return ErrorCategory::kTypeMismatch;
    case ConversionErrorCode::kOutOfRange:
      return ErrorCategory::kOutOfRange;
    case ConversionErrorCode::kInvalidFormat:
    case ConversionErrorCode::kDuplicateField:
      return ErrorCategory::kInvalidValue;
  }
  return ErrorCategory::kInvalidValue;
}

std::string FormatNumber(double v) {
  char buf[32];
  snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

bool IsHex(char c) { return isxdigit(static_cast<unsigned char>(c)) != 0; }

}  // namespace

bool IsRfc3339(std::string_view s) {
  // A full date-time with 'T' (or space) and a time; ParseTimestampMicros checks the calendar.
  return s.size() >= 19 && (s[10] == 'T' || s[10] == 't' || s[10] == ' ') &&
         schema::ParseTimestampMicros(s).has_value();
}

bool ParseIpv4(std::string_view s, uint8_t out[4]) {
  const char* p = s.data();
  const char* const end = p + s.size();
  auto digit = [&](unsigned* d) {
    if (p == end || static_cast<unsigned>(*p - '0') > 9) return false;
    *d = static_cast<unsigned>(*p++ - '0');
    return true;
  };
  for (int octet = 0; octet < 4; ++octet) {
    if (octet > 0 && (p == end || *p++ != '.')) return false;
    unsigned v, d;
    if (!digit(&v)) return false;
    if (digit(&d)) {
      if (v == 0) return false;  // a leading zero
      v = v * 10 + d;
      if (digit(&d) && (v = v * 10 + d) > 255) return false;
    }
    out[octet] = static_cast<uint8_t>(v);
  }
  return p == end;
}

bool IsIpAddress(std::string_view s) {
  uint8_t v4[4];
  if (ParseIpv4(s, v4)) return true;
  if (s.empty() || s.size() >= INET6_ADDRSTRLEN) return false;
  char buf[INET6_ADDRSTRLEN];
  memcpy(buf, s.data(), s.size());
  buf[s.size()] = 0;
  unsigned char out[16];
  return inet_pton(AF_INET, buf, out) == 1 || inet_pton(AF_INET6, buf, out) == 1;
}

bool IsEmailAddress(std::string_view s) {
  // local@domain: printable, no spaces, one '@', a dot inside the domain, RFC 5321 lengths.
  static constexpr std::array<bool, 256> kRefused = [] {
    std::array<bool, 256> t{};
    for (int c = 0; c <= 0x20; ++c) t[c] = true;
    t[0x7f] = true;
    for (char c : std::string_view("\"(),:;<>[]\\")) t[static_cast<unsigned char>(c)] = true;
    return t;
  }();
  if (s.size() < 3 || s.size() > 254) return false;
  size_t at = std::string_view::npos;
  for (size_t i = 0; i < s.size(); ++i) {  // one pass: characters and the '@'
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (kRefused[c]) return false;
    if (c == '@') {
      if (at != std::string_view::npos) return false;
      at = i;
    }
  }
  if (at == 0 || at == std::string_view::npos || at > 64) return false;
  std::string_view domain = s.substr(at + 1);
  size_t dot = domain.rfind('.');
  if (domain.empty() || dot == std::string_view::npos || dot == 0 || dot + 2 > domain.size())
    return false;
  return domain.find("..") == std::string_view::npos && domain.front() != '-';
}

bool IsUuid(std::string_view s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? s[i] != '-' : !IsHex(s[i])) return false;
  }
  return true;
}

EventValidator::EventValidator(const schema::TableSchema* table, uint64_t max_event_bytes)
    : table_(table), max_event_bytes_(max_event_bytes), converter_(table) {
  for (size_t i = 0; i < table->columns.size(); ++i) {
    const auto& c = table->columns[i];
    if (c.min || c.max || !c.enum_values.empty() || c.format != schema::StringFormat::kNone ||
        c.max_length) {
      constrained_.push_back(i);
    }
  }
}

bool EventValidator::Validate(std::string_view payload, schema::ColumnBatch* batch,
                              Rejection* rejection) {
  if (payload.size() > max_event_bytes_) {
    *rejection = {ErrorCategory::kTooLarge, "$",
                  "the event has " + std::to_string(payload.size()) +
                      " bytes, more than the limit of " + std::to_string(max_event_bytes_)};
    return false;
  }
  schema::ConversionError error;
  const size_t row = batch->rows();
  if (!converter_.Convert(payload, batch, nullptr, &error)) {
    *rejection = {CategoryOf(error.code), error.path, error.message};
    return false;
  }
  if (!CheckRow(*batch, row, rejection)) {
    batch->Truncate(row);
    return false;
  }
  return true;
}

bool EventValidator::CheckRow(const schema::ColumnBatch& batch, size_t row,
                              Rejection* rejection) const {
  for (size_t i : constrained_) {
    const schema::Column& col = table_->columns[i];
    const schema::ColumnVector& v = *batch.column(i);
    if (!v.IsValid(row)) continue;
    auto path = [&col] { return "$." + col.name; };  // built only for a rejection
    std::optional<double> number;
    switch (v.kind()) {
      case TypeKind::kBigint:
        number = static_cast<double>(v.int64_data()[row]);
        break;
      case TypeKind::kInt:
        number = v.int32_data()[row];
        break;
      case TypeKind::kDouble:
        number = v.double_data()[row];
        break;
      default:
        break;
    }
    if (number) {
      if (!std::isfinite(*number)) {
        *rejection = {ErrorCategory::kInvalidValue, path(), "not a finite number"};
        return false;
      }
      if ((col.min && *number < *col.min) || (col.max && *number > *col.max)) {
        *rejection = {ErrorCategory::kOutOfRange, path(),
                      FormatNumber(*number) + " is outside [" +
                          (col.min ? FormatNumber(*col.min) : "-inf") + ", " +
                          (col.max ? FormatNumber(*col.max) : "inf") + "]"};
        return false;
      }
    }
    if (v.kind() == TypeKind::kString) {
      std::string_view s = v.StringAt(row);
      if (col.max_length && s.size() > *col.max_length) {
        *rejection = {ErrorCategory::kTooLarge, path(),
                      std::to_string(s.size()) + " bytes, more than max_length " +
                          std::to_string(*col.max_length)};
        return false;
      }
      if (!col.enum_values.empty() &&
          std::find(col.enum_values.begin(), col.enum_values.end(), s) == col.enum_values.end()) {
        std::string allowed;
        for (const auto& e : col.enum_values) allowed += (allowed.empty() ? "" : ", ") + e;
        *rejection = {ErrorCategory::kInvalidValue, path(),
                      "'" + std::string(s.substr(0, 100)) + "' is not one of " + allowed};
        return false;
      }
      bool ok = true;
      const char* what = "";
      switch (col.format) {
        case schema::StringFormat::kNone:
          break;
        case schema::StringFormat::kRfc3339:
          ok = IsRfc3339(s), what = "an RFC 3339 timestamp";
          break;
        case schema::StringFormat::kIpAddress:
          ok = IsIpAddress(s), what = "an IPv4 or IPv6 address";
          break;
        case schema::StringFormat::kEmail:
          ok = IsEmailAddress(s), what = "an e-mail address";
          break;
        case schema::StringFormat::kUuid:
          ok = IsUuid(s), what = "a UUID";
          break;
      }
      if (!ok) {
        *rejection = {ErrorCategory::kInvalidValue, path(),
                      "'" + std::string(s.substr(0, 100)) + "' is not " + what};
        return false;
      }
    }
    if ((v.kind() == TypeKind::kArray || v.kind() == TypeKind::kMap) && col.max_length &&
        v.ListEnd(row) - v.ListBegin(row) > *col.max_length) {
      *rejection = {ErrorCategory::kTooLarge, path(),
                    std::to_string(v.ListEnd(row) - v.ListBegin(row)) +
                        " elements, more than max_length " + std::to_string(*col.max_length)};
      return false;
    }
  }
  return true;
}

}  // namespace inlet::process
