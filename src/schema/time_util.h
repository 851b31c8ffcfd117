// Calendar arithmetic and timestamp parsing shared by the JSON converter and
// the delivery prefixes: RFC 3339 text and epoch numbers to microseconds UTC,
// and microseconds back to civil fields. Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace inlet::schema {

constexpr int64_t kMicrosPerSecond = 1'000'000;
constexpr int64_t kMicrosPerDay = 86'400 * kMicrosPerSecond;

// Epoch numbers: below kEpochMillisThreshold they are seconds, below
// kEpochMicrosThreshold milliseconds, above that microseconds (1e11 s is the
// year 5138, so real seconds never reach it).
constexpr double kEpochMillisThreshold = 1e11;
constexpr double kEpochMicrosThreshold = 1e14;

// Days since 1970-01-01 of a proleptic Gregorian date (no range checks).
int64_t DaysFromCivil(int64_t year, unsigned month, unsigned day);

struct CivilTime {
  int64_t year = 1970;
  int month = 1;  // 1..12
  int day = 1;    // 1..31
  int hour = 0;
  int minute = 0;
  int second = 0;
  int micros = 0;       // 0..999999
  int day_of_year = 1;  // 1..366
};
CivilTime CivilFromMicros(int64_t micros_utc);

// "YYYY-MM-DD[(T|t| )HH:MM:SS[.fraction][Z|z|(+|-)HH:MM]]"; without an offset
// the time is taken as UTC. Returns nullopt for anything else (including
// impossible dates such as 2023-02-30).
std::optional<int64_t> ParseTimestampMicros(std::string_view text);
// "YYYY-MM-DD" to days since the epoch.
std::optional<int32_t> ParseDateDays(std::string_view text);
// An epoch number in seconds, milliseconds or microseconds (see thresholds).
std::optional<int64_t> EpochNumberToMicros(double value);
std::optional<int64_t> EpochIntegerToMicros(int64_t value);

}  // namespace inlet::schema
