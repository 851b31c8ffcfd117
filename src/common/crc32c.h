// CRC32C (Castagnoli), the checksum of every record of the on-disk log.
// Uses the SSE4.2 instruction when the CPU has it, a table otherwise.
// Thread-safe (pure functions).
#pragma once

#include <cstddef>
#include <cstdint>

namespace inlet {

// Returns the CRC32C of data[0, n) continuing from `crc` (0 to start).
uint32_t Crc32c(uint32_t crc, const void* data, size_t n);

inline uint32_t Crc32c(const void* data, size_t n) { return Crc32c(0, data, n); }

}  // namespace inlet
