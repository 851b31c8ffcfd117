#include "schema/time_util.h"

#include <gtest/gtest.h>

namespace inlet::schema {
namespace {

TEST(TimeUtilTest, ParsesRfc3339) {
  EXPECT_EQ(*ParseTimestampMicros("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(*ParseTimestampMicros("2024-02-29T12:34:56.789Z"), 1709210096789000);
  EXPECT_EQ(*ParseTimestampMicros("2024-02-29T14:34:56.789+02:00"), 1709210096789000);
  EXPECT_EQ(*ParseTimestampMicros("2024-02-29 12:34:56.7891239z"), 1709210096789123);
  EXPECT_EQ(*ParseTimestampMicros("2024-02-29"), 1709164800000000);
  EXPECT_EQ(*ParseTimestampMicros("1969-12-31T23:59:59Z"), -1000000);
  EXPECT_FALSE(ParseTimestampMicros("2023-02-29T00:00:00Z"));
  EXPECT_FALSE(ParseTimestampMicros("2024-13-01T00:00:00Z"));
  EXPECT_FALSE(ParseTimestampMicros("2024-01-01T25:00:00Z"));
  EXPECT_FALSE(ParseTimestampMicros("yesterday"));
  EXPECT_FALSE(ParseTimestampMicros("2024-01-01T00:00:00+0200"));
  EXPECT_FALSE(ParseTimestampMicros("2024-01-01T00:00:00."));
}

TEST(TimeUtilTest, EpochNumbers) {
  EXPECT_EQ(*EpochIntegerToMicros(1700000000), 1700000000000000);        // seconds
  EXPECT_EQ(*EpochIntegerToMicros(1700000000123), 1700000000123000);     // millis
  EXPECT_EQ(*EpochIntegerToMicros(1700000000123456), 1700000000123456);  // micros
  EXPECT_EQ(*EpochNumberToMicros(1700000000.5), 1700000000500000);
  EXPECT_FALSE(EpochNumberToMicros(1e300));
}

TEST(TimeUtilTest, CivilRoundTrip) {
  for (int64_t us :
       {int64_t{0}, int64_t{1709210096789123}, int64_t{-1}, int64_t{951782400000000}}) {
    CivilTime t = CivilFromMicros(us);
    int64_t back = DaysFromCivil(t.year, t.month, t.day) * kMicrosPerDay +
                   ((t.hour * 60 + t.minute) * 60 + t.second) * kMicrosPerSecond + t.micros;
    EXPECT_EQ(back, us);
  }
  CivilTime t = CivilFromMicros(1709210096789123);
  EXPECT_EQ(t.year, 2024);
  EXPECT_EQ(t.month, 2);
  EXPECT_EQ(t.day, 29);
  EXPECT_EQ(t.hour, 12);
  EXPECT_EQ(t.day_of_year, 60);
  EXPECT_EQ(*ParseDateDays("2000-03-01"), 11017);
}

}  // namespace
}  // namespace inlet::schema
