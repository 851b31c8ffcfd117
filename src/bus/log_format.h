// On-disk format of the embedded bus log (see docs/log-format.md).
//
// A topic is a folder of segment files named <base_seq, 20 digits>.log. Each
// segment starts with a 24-byte header, then records back to back:
//
//   segment header: magic "INLETLOG" (8) | version u32 | reserved u32 | base_seq u64
//   record:         body_len u32 | crc32c(body) u32 | body
//   body:           seq u64 | arrival_us i64 | key_len u16 | attr_len u32 |
//                   key bytes | attribute bytes | payload bytes (the rest)
//
// Integers are little-endian. Sequence ids are consecutive across segments.
// Invariants: a reader never returns a record whose CRC does not match or
// whose seq is not the expected next one; recovery truncates the last segment
// at the first such record (a torn tail). The sparse index (seq, offset) every
// kIndexIntervalBytes is kept in memory and rebuilt by a scan at open.
#pragma once

#include <cstddef>
#include <cstdint>

namespace inlet::bus::log_format {

inline constexpr char kMagic[8] = {'I', 'N', 'L', 'E', 'T', 'L', 'O', 'G'};
inline constexpr uint32_t kVersion = 1;
inline constexpr size_t kSegmentHeaderSize = 24;
inline constexpr size_t kRecordHeaderSize = 8;           // body_len + crc
inline constexpr size_t kBodyFixedSize = 8 + 8 + 2 + 4;  // seq, arrival, key_len, attr_len
inline constexpr uint32_t kMaxBodySize = 64u << 20;      // far above any event limit
inline constexpr uint64_t kIndexIntervalBytes = 64 << 10;
inline constexpr const char* kSegmentSuffix = ".log";

}  // namespace inlet::bus::log_format
