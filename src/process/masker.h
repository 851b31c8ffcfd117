// Masker: the mask stage, operators in the spirit of Presidio's anonymizer
// applied to the flat columns of an event: keyed pseudonym (HMAC-SHA256),
// hash, redact, replace, partial mask, age generalisation, time truncation,
// IP truncation, location coarsening, drop, and RE2 detection of PII in free
// text. Create resolves the rules against the flat columns and computes the
// curated column types. One Masker per worker thread (it caches pseudonyms).
#pragma once

#include <absl/container/flat_hash_map.h>
#include <re2/re2.h>

#include <array>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/sha256.h"
#include "common/status.h"
#include "process/flat_row.h"
#include "process/process_config.h"

namespace inlet::process {

inline constexpr double kEarthRadiusMeters =
    6371008.8;  // mean radius (IUGG), also used by the oracle

// Operators as functions, for tests and for the Masker.
// The first `hex_chars` hex digits of HMAC-SHA256(key, value): a pseudonym.
std::string HmacSha256Hex(std::string_view key, std::string_view value, size_t hex_chars = 32);
using ::inlet::Sha256Hex;

// A bounded memo of a pure function of a string, for the keyed pseudonym and
// the hash: the same values come back event after event (a person's id, their
// e-mail). Two generations of at most `capacity` entries each: when the
// current one is full it becomes the old one, and a value found in the old
// one moves back, so the values in use stay while memory stays bounded.
template <class V>
class BoundedMemo {
 public:
  explicit BoundedMemo(size_t capacity) : capacity_(capacity) {}
  template <class F>
  V Get(std::string_view key, F&& compute) {
    const absl::string_view k(key.data(), key.size());  // absl's, for the maps' lookups
    if (auto it = now_.find(k); it != now_.end()) return it->second;
    auto old = old_.find(k);
    const V value = old != old_.end() ? old->second : compute(key);
    if (now_.size() >= capacity_) {
      old_ = std::move(now_);
      now_ = {};
      now_.reserve(capacity_);  // it will fill again: no rehash on the way
    }
    now_.emplace(std::string(key), value);
    return value;
  }
  // Starts fetching the memory that Get(key) reads first: with many distinct
  // keys each lookup is a cache miss, which a prefetch a few rows ahead hides.
  void Prefetch(std::string_view key) const {
    now_.prefetch(absl::string_view(key.data(), key.size()));
  }

 private:
  size_t capacity_;
  absl::flat_hash_map<std::string, V> now_, old_;
};
// Keeps the first `first` and last `last` characters (UTF-8 code points), '*'
// for the others; a value of at most first+last characters is masked whole.
std::string PartialMask(std::string_view value, uint32_t first, uint32_t last);
// "192.168.7.9" -> "192.168.7.0" (/24); IPv6 /48; nullopt when not an address.
std::optional<std::string> TruncateIp(std::string_view ip, uint32_t v4_prefix, uint32_t v6_prefix);
// Microseconds truncated to "second", "minute", "hour" or "day".
int64_t TruncateTime(int64_t micros, std::string_view unit);
// The centre of the grid cell of about `grid_m` metres holding (lat, lon).
void CoarsenLocation(double grid_m, double* lat, double* lon);
bool LuhnValid(std::string_view digits);
bool IbanValid(std::string_view iban);

// Finds e-mail addresses, IBANs, card numbers (Luhn-checked) and phone
// numbers in free text and replaces each with <EMAIL>, <IBAN>, <CARD>, <PHONE>.
class PiiDetector {
 public:
  PiiDetector();
  // Returns the number of replacements made in *text.
  int Redact(std::string* text) const;

 private:
  RE2 email_, iban_, card_, phone_;
};

// Reads the pseudonym key from a file (bytes, trailing newline trimmed) or an
// environment variable.
Result<std::string> LoadPseudonymKey(const MaskingConfig& config);

class Masker {
 public:
  // `key` is the pseudonym key bytes ("" when no rule needs it).
  static Result<std::unique_ptr<Masker>> Create(const MaskingConfig& config,
                                                const std::vector<FlatColumn>& flat_columns,
                                                const std::vector<int>& age_bands, std::string key);

  // The curated columns after masking (dropped columns removed, types
  // changed by the operators), then `_key_id` when a pseudonym is used.
  const std::vector<FlatColumn>& output_columns() const { return output_columns_; }
  // For each output column (except `_key_id`), its index in the flat row.
  const std::vector<int>& output_sources() const { return output_sources_; }
  bool records_key_id() const { return records_key_id_; }
  const std::string& key_id() const { return key_id_; }

  // Applies every rule, in order, to *row (flat column indexes).
  void Apply(FlatRow* row);
  // Prefetches what Apply(row) will look up in the pseudonym and hash memos:
  // call it a few rows ahead of Apply.
  void Prefetch(const FlatRow& row) const;

 private:
  struct Rule {
    MaskRule rule;
    int column = -1;
    int lon_column = -1;
    FlatType input_type = FlatType::kString;
  };
  Masker() = default;
  // The pseudonym / hash of `value` as hex into *out, which may hold `value`.
  void Pseudonym(std::string_view value, std::string* out);
  void Hash(std::string_view value, std::string* out);

  std::vector<Rule> rules_;
  std::vector<FlatColumn> output_columns_;
  std::vector<int> output_sources_;
  bool records_key_id_ = false;
  std::string key_id_;
  AgeBands bands_{{}};
  std::unique_ptr<PiiDetector> pii_;
  std::optional<HmacSha256> hmac_;  // the pseudonym key, its pads hashed once
  // Digests rather than their hex, to keep the memos small. The capacities
  // are 7/8 of a power of two, absl's largest load: a full generation fills
  // 64Ki slots of 49 bytes (pseudonyms) or 32Ki slots of 65 bytes (hashes),
  // so the four tables take about 11 MB per worker, plus the ids and e-mails
  // longer than 15 bytes (about 48 bytes each: up to about 8 MB more).
  BoundedMemo<std::array<uint8_t, 16>> pseudonyms_{57344};
  BoundedMemo<Sha256Digest> hashes_{28672};
};

}  // namespace inlet::process
