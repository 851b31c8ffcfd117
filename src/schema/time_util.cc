#include "schema/time_util.h"

#include <cmath>
#include <limits>

namespace inlet::schema {
namespace {

bool Digits(std::string_view s, size_t pos, size_t n, int* out) {
  if (pos + n > s.size()) return false;
  int v = 0;
  for (size_t i = 0; i < n; ++i) {
    char c = s[pos + i];
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  *out = v;
  return true;
}

bool IsLeap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int DaysInMonth(int64_t y, int m) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && IsLeap(y) ? 29 : kDays[m - 1];
}

int64_t FloorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

// Parses "YYYY-MM-DD" at the start of text; returns days or nullopt.
std::optional<int64_t> ParseDatePart(std::string_view text) {
  int y, m, d;
  if (!Digits(text, 0, 4, &y) || text.size() < 10 || text[4] != '-' || !Digits(text, 5, 2, &m) ||
      text[7] != '-' || !Digits(text, 8, 2, &d)) {
    return std::nullopt;
  }
  if (m < 1 || m > 12 || d < 1 || d > DaysInMonth(y, m)) return std::nullopt;
  return DaysFromCivil(y, m, d);
}

}  // namespace

int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

CivilTime CivilFromMicros(int64_t micros_utc) {
  CivilTime t;
  int64_t days = FloorDiv(micros_utc, kMicrosPerDay);
  int64_t rem = micros_utc - days * kMicrosPerDay;
  t.micros = static_cast<int>(rem % kMicrosPerSecond);
  int64_t secs = rem / kMicrosPerSecond;
  t.hour = static_cast<int>(secs / 3600);
  t.minute = static_cast<int>((secs / 60) % 60);
  t.second = static_cast<int>(secs % 60);
  int64_t z = days + 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t y = static_cast<int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  t.year = y + (m <= 2);
  t.month = static_cast<int>(m);
  t.day = static_cast<int>(d);
  t.day_of_year = static_cast<int>(days - DaysFromCivil(t.year, 1, 1)) + 1;
  return t;
}

std::optional<int64_t> ParseTimestampMicros(std::string_view s) {
  auto days = ParseDatePart(s);
  if (!days) return std::nullopt;
  int64_t micros = *days * kMicrosPerDay;
  if (s.size() == 10) return micros;
  char sep = s[10];
  if (sep != 'T' && sep != 't' && sep != ' ') return std::nullopt;
  int hh, mm, ss;
  if (!Digits(s, 11, 2, &hh) || s.size() < 19 || s[13] != ':' || !Digits(s, 14, 2, &mm) ||
      s[16] != ':' || !Digits(s, 17, 2, &ss)) {
    return std::nullopt;
  }
  if (hh > 23 || mm > 59 || ss > 60) return std::nullopt;  // 60: a leap second, folded below
  micros += (hh * 3600LL + mm * 60LL + ss) * kMicrosPerSecond;
  size_t pos = 19;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    int64_t frac = 0;
    int digits = 0;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (digits < 6) {
        frac = frac * 10 + (s[pos] - '0');
        ++digits;
      }
      ++pos;
    }
    if (digits == 0) return std::nullopt;
    for (int i = digits; i < 6; ++i) frac *= 10;
    micros += frac;
  }
  if (pos == s.size()) return micros;
  if ((s[pos] == 'Z' || s[pos] == 'z') && pos + 1 == s.size()) return micros;
  if (s[pos] == '+' || s[pos] == '-') {
    int oh, om;
    if (pos + 6 != s.size() || !Digits(s, pos + 1, 2, &oh) || s[pos + 3] != ':' ||
        !Digits(s, pos + 4, 2, &om) || oh > 23 || om > 59) {
      return std::nullopt;
    }
    int64_t offset = (oh * 3600LL + om * 60LL) * kMicrosPerSecond;
    return s[pos] == '+' ? micros - offset : micros + offset;
  }
  return std::nullopt;
}

std::optional<int32_t> ParseDateDays(std::string_view text) {
  if (text.size() != 10) return std::nullopt;
  auto days = ParseDatePart(text);
  if (!days) return std::nullopt;
  return static_cast<int32_t>(*days);
}

std::optional<int64_t> EpochNumberToMicros(double v) {
  if (!std::isfinite(v)) return std::nullopt;
  double a = std::fabs(v);
  double micros;
  if (a < kEpochMillisThreshold) {
    micros = v * kMicrosPerSecond;
  } else if (a < kEpochMicrosThreshold) {
    micros = v * 1000.0;
  } else {
    micros = v;
  }
  if (std::fabs(micros) >= 9.2e18) return std::nullopt;
  return static_cast<int64_t>(std::llround(micros));
}

std::optional<int64_t> EpochIntegerToMicros(int64_t v) {
  uint64_t a = v < 0 ? 0 - static_cast<uint64_t>(v) : static_cast<uint64_t>(v);
  if (a < static_cast<uint64_t>(kEpochMillisThreshold)) return v * kMicrosPerSecond;
  if (a < static_cast<uint64_t>(kEpochMicrosThreshold)) return v * 1000;
  return v;
}

}  // namespace inlet::schema
