#include "delivery/delivery_stream.h"

#include <simdjson.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <unordered_map>

#include "common/thread_name.h"
#include "delivery/json_path.h"
#include "delivery/parquet_writer.h"
#include "delivery/prefix_expression.h"
#include "schema/json_converter.h"
#include "schema/time_util.h"

namespace inlet::delivery {

using schema::ColumnBatch;
using schema::ColumnVector;
using schema::DataType;
using schema::TypeKind;

namespace {

constexpr char kFileTimePattern[] = "yyyy-MM-dd-HH-mm-ss";
constexpr char kFormatConversionFailed[] = "format-conversion-failed";
constexpr char kPartitioningFailed[] = "partitioning-failed";
constexpr char kMissingPartitionKey[] = "missing_partition_key";
constexpr char kTimeSourceEvent[] = "event";
constexpr char kTimeSourceArrival[] = "arrival";
constexpr size_t kRandomStringLength = 11;
// The subscription must not redeliver what is buffered: fetch with a
// visibility timeout beyond the longest a range can stay open.
constexpr std::chrono::seconds kVisibilityMargin{300};

const DataType kBigintType{.kind = TypeKind::kBigint};
const DataType kTimestampType{.kind = TypeKind::kTimestamp};
const DataType kStringType{.kind = TypeKind::kString};

int64_t SystemClockMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

uint64_t Fnv1a64(std::string_view s, uint64_t h = 1469598103934665603ull) {
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

// Deterministic per range, so that a replay expands !{firehose:random-string}
// to the same keys.
std::string RandomStringFor(std::string_view stream, uint64_t first_seq) {
  static constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  uint64_t h = Fnv1a64(std::to_string(first_seq), Fnv1a64(stream));
  std::string out;
  for (size_t i = 0; i < kRandomStringLength; ++i) {
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 29;
    out.push_back(kAlphabet[h % (sizeof(kAlphabet) - 1)]);
  }
  return out;
}

std::string Base64(std::string_view in) {
  static constexpr char kTable[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out.push_back(kTable[(v >> s) & 63]);
  }
  if (i < in.size()) {
    uint32_t v = uint8_t(in[i]) << 16;
    if (i + 1 < in.size()) v |= uint8_t(in[i + 1]) << 8;
    out.push_back(kTable[(v >> 18) & 63]);
    out.push_back(kTable[(v >> 12) & 63]);
    out.push_back(i + 1 < in.size() ? kTable[(v >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

std::string JsonPointer(const JsonPath& path) {
  std::string out;
  for (const std::string& k : path.keys) {
    out.push_back('/');
    for (char c : k) {
      if (c == '~')
        out += "~0";
      else if (c == '/')
        out += "~1";
      else
        out.push_back(c);
    }
  }
  return out;
}

// A value read from the payload for a partition key or the event time.
struct FieldValue {
  bool present = false;
  bool is_string = false;
  std::string text;               // string value, or the JSON text of a number / boolean
  std::optional<int64_t> micros;  // when it is a timestamp (schema column) already
};

// Where a JSON path is found: a column of the converted row (walking struct
// fields), or, for paths outside the schema, a second look at the payload.
struct FieldRef {
  JsonPath path;
  std::vector<size_t> indexes;  // top column, then struct field indexes; empty: outside the schema
};

FieldRef ResolvePath(const JsonPath& path, const schema::TableSchema& table) {
  FieldRef ref{path, {}};
  const DataType* type = nullptr;
  for (size_t level = 0; level < path.keys.size(); ++level) {
    const std::string& key = path.keys[level];
    bool found = false;
    if (level == 0) {
      for (size_t i = 0; i < table.columns.size(); ++i) {
        if (table.columns[i].name == key) {
          ref.indexes.push_back(i);
          type = table.columns[i].type.get();
          found = true;
          break;
        }
      }
    } else if (type->kind == TypeKind::kStruct) {
      for (size_t i = 0; i < type->fields.size(); ++i) {
        if (type->fields[i].name == key) {
          ref.indexes.push_back(i);
          type = type->fields[i].type.get();
          found = true;
          break;
        }
      }
    }
    if (!found) {
      ref.indexes.clear();
      return ref;
    }
  }
  // Only scalar leaves can name a partition value or a time.
  if (type->kind == TypeKind::kStruct || type->kind == TypeKind::kArray ||
      type->kind == TypeKind::kMap) {
    ref.indexes.clear();
  }
  return ref;
}

std::string FormatDecimal(schema::Int128 v, int scale) {
  bool neg = v < 0;
  if (neg) v = -v;
  std::string digits;
  do {
    digits.push_back(static_cast<char>('0' + static_cast<int>(v % 10)));
    v /= 10;
  } while (v > 0);
  while (static_cast<int>(digits.size()) <= scale) digits.push_back('0');
  std::reverse(digits.begin(), digits.end());
  if (scale > 0) digits.insert(digits.end() - scale, '.');
  return neg ? "-" + digits : digits;
}

FieldValue ReadColumnValue(const ColumnVector& col, size_t row) {
  FieldValue v;
  if (!col.IsValid(row)) return v;
  v.present = true;
  char buf[64];
  switch (col.kind()) {
    case TypeKind::kString:
      v.is_string = true;
      v.text = std::string(col.StringAt(row));
      break;
    case TypeKind::kBigint:
      v.text = std::to_string(col.int64_data()[row]);
      break;
    case TypeKind::kInt:
      v.text = std::to_string(col.int32_data()[row]);
      break;
    case TypeKind::kDouble:
      std::snprintf(buf, sizeof(buf), "%.17g", col.double_data()[row]);
      v.text = buf;
      break;
    case TypeKind::kBoolean:
      v.text = col.bool_data()[row] ? "true" : "false";
      break;
    case TypeKind::kTimestamp:
      v.micros = col.int64_data()[row];
      v.text = FormatTimestamp("yyyy-MM-dd'T'HH:mm:ss.SSSSSS'Z'", *v.micros);
      break;
    case TypeKind::kDate:
      v.micros = int64_t{col.int32_data()[row]} * schema::kMicrosPerDay;
      v.text = FormatTimestamp("yyyy-MM-dd", *v.micros);
      break;
    case TypeKind::kDecimal:
      v.text = FormatDecimal(col.decimal_data()[row], col.type().scale);
      break;
    default:
      v.present = false;
      break;
  }
  return v;
}

std::optional<int64_t> ValueToMicros(const FieldValue& v) {
  if (!v.present) return std::nullopt;
  if (v.micros) return v.micros;
  if (v.is_string) return schema::ParseTimestampMicros(v.text);
  double d = 0;
  if (v.text.empty() || std::sscanf(v.text.c_str(), "%lf", &d) != 1) return std::nullopt;
  int64_t i = 0;
  if (v.text.find_first_of(".eE") == std::string::npos &&
      std::sscanf(v.text.c_str(), "%ld", &i) == 1) {
    return schema::EpochIntegerToMicros(i);
  }
  return schema::EpochNumberToMicros(d);
}

}  // namespace

struct DeliveryStream::Impl {
  struct Partition {
    std::string key_prefix;  // full prefix of the object keys, ending where the file name starts
    bool error = false;
    std::vector<uint32_t> rows;
    uint64_t bytes = 0;
  };

  // Everything fetched since the last commit: one contiguous range of seq space.
  struct Range {
    explicit Range(const schema::TableSchema* table)
        : data(table),
          extra(&kStringType),
          seq(&kBigintType),
          arrival(&kTimestampType),
          time_source(&kStringType),
          err_seq(&kBigintType),
          err_arrival(&kTimestampType),
          err_stream(&kStringType),
          err_type(&kStringType),
          err_code(&kStringType),
          err_message(&kStringType),
          err_path(&kStringType),
          err_raw(&kStringType) {}
    uint64_t first = 0;
    uint64_t last = 0;
    int64_t opened_at_us = 0;
    int64_t last_event_at_us = 0;
    int64_t oldest_arrival_us = 0;
    uint64_t bytes = 0;
    uint64_t max_partition_bytes = 0;
    std::string random_string;
    ColumnBatch data;
    ColumnVector extra;
    ColumnVector seq, arrival, time_source;
    std::vector<uint64_t> row_bytes;
    ColumnVector err_seq, err_arrival, err_stream, err_type, err_code, err_message, err_path,
        err_raw;
    std::vector<uint64_t> err_row_bytes;
    std::unordered_map<std::string, size_t> partition_index;
    std::vector<Partition> partitions;
    std::vector<bus::Receipt> receipts;  // sorted by seq
    int64_t cached_second = 0;
    int64_t cached_partition = -1;
    size_t events() const { return receipts.size(); }

    // Empties the range but keeps its buffers' capacity for the next one.
    void Reset() {
      first = last = 0;
      bytes = max_partition_bytes = 0;
      data.Truncate(0);
      for (ColumnVector* v :
           {&extra, &seq, &arrival, &time_source, &err_seq, &err_arrival, &err_stream, &err_type,
            &err_code, &err_message, &err_path, &err_raw}) {
        v->Clear();
      }
      row_bytes.clear();
      err_row_bytes.clear();
      partition_index.clear();
      partitions.clear();
      receipts.clear();
      cached_partition = -1;
    }
  };

  DeliveryStreamConfig config;
  bus::Consumer* consumer = nullptr;
  storage::ObjectStore* store = nullptr;
  DeliveryStreamOptions options;
  std::string location;
  std::unique_ptr<PrefixExpression> prefix;
  std::unique_ptr<PrefixExpression> error_prefix;
  std::vector<FieldRef> key_refs;
  std::optional<FieldRef> time_ref;
  std::unique_ptr<schema::RecordConverter> converter;
  std::unique_ptr<ParquetWriter> writer;
  simdjson::ondemand::parser lookup_parser;
  std::string lookup_buffer;

  StreamState state;
  std::optional<StreamIntent> replay;  // a range to re-assemble exactly after a restart
  std::unique_ptr<Range> range;
  std::unique_ptr<Range> spare_range;  // a committed range kept for its buffers
  std::deque<bus::Delivery> pending;   // fetched, not yet handled (in order)
  std::vector<bus::Receipt> acks;      // receipts of already-committed events

  mutable std::mutex metrics_mu;
  DeliveryMetrics metrics;

  std::thread thread;
  std::atomic<bool> stop{false};
  bool abandoned = false;  // Abandon(): nothing more is written
  std::mutex wake_mu;
  std::condition_variable wake;

  int64_t Now() const { return options.clock_us(); }

  void SetError(const Status& st) {
    std::lock_guard<std::mutex> lock(metrics_mu);
    metrics.last_error = st.ToString();
  }

  // Input counters kept without the lock on the hot path, published by UpdateGauges.
  uint64_t received_ = 0, duplicates_ = 0, received_bytes_ = 0;

  void UpdateGauges() {
    std::lock_guard<std::mutex> lock(metrics_mu);
    metrics.events_received = received_;
    metrics.duplicates_ignored = duplicates_;
    metrics.bytes_received = received_bytes_;
    metrics.buffered_bytes = range ? range->bytes : 0;
    metrics.buffered_events = range ? range->events() : 0;
    metrics.open_partitions = range ? range->partitions.size() : 0;
    metrics.committed_seq = state.committed;
  }

  // Looks up a path outside the schema in the raw payload.
  FieldValue LookupInPayload(const FieldRef& ref, std::string_view payload) {
    FieldValue v;
    lookup_buffer.resize(payload.size() + simdjson::SIMDJSON_PADDING);
    std::memcpy(lookup_buffer.data(), payload.data(), payload.size());
    simdjson::ondemand::document doc;
    if (lookup_parser.iterate(lookup_buffer.data(), payload.size(), lookup_buffer.size()).get(doc))
      return v;
    simdjson::ondemand::value value;
    if (doc.at_pointer(JsonPointer(ref.path)).get(value)) return v;
    simdjson::ondemand::json_type t;
    if (value.type().get(t)) return v;
    switch (t) {
      case simdjson::ondemand::json_type::string: {
        std::string_view s;
        if (value.get_string().get(s)) return v;
        v.is_string = true;
        v.text = std::string(s);
        v.present = true;
        break;
      }
      case simdjson::ondemand::json_type::number:
      case simdjson::ondemand::json_type::boolean: {
        std::string_view raw = value.raw_json_token();
        while (!raw.empty() && (raw.back() == ' ' || raw.back() == '\n' || raw.back() == '\r' ||
                                raw.back() == '\t')) {
          raw.remove_suffix(1);
        }
        v.text = std::string(raw);
        v.present = true;
        break;
      }
      default:
        break;
    }
    return v;
  }

  // The column of a field of the table schema (REQUIRES: !ref.indexes.empty()).
  const ColumnVector* ColumnOf(const FieldRef& ref) const {
    const ColumnVector* col = range->data.column(ref.indexes[0]);
    for (size_t i = 1; i < ref.indexes.size(); ++i) col = col->child(ref.indexes[i]);
    return col;
  }

  FieldValue ReadField(const FieldRef& ref, size_t row, std::string_view payload) {
    if (ref.indexes.empty()) return LookupInPayload(ref, payload);
    return ReadColumnValue(*ColumnOf(ref), row);
  }

  // The partition time of a row: a timestamp or date column is read as it
  // is (no text formatted and parsed back per event); anything else is
  // parsed from its text.
  std::optional<int64_t> ReadTime(const FieldRef& ref, size_t row, std::string_view payload) {
    if (!ref.indexes.empty()) {
      const ColumnVector* col = ColumnOf(ref);
      if (col->kind() == TypeKind::kTimestamp || col->kind() == TypeKind::kDate) {
        if (!col->IsValid(row)) return std::nullopt;
        return col->kind() == TypeKind::kTimestamp
                   ? col->int64_data()[row]
                   : int64_t{col->int32_data()[row]} * schema::kMicrosPerDay;
      }
    }
    return ValueToMicros(ReadField(ref, row, payload));
  }

  void OpenRange(uint64_t seq) {
    if (spare_range) {
      range = std::move(spare_range);
      range->Reset();
    } else {
      range = std::make_unique<Range>(&config.table);
    }
    range->first = seq;
    range->last = seq;
    range->opened_at_us = Now();
    range->random_string = RandomStringFor(config.StateName(), replay ? replay->first : seq);
  }

  // The data partition of an event. Without partition keys or sub-second
  // letters the prefix only changes with the second, so the last one is reused.
  Partition& DataPartition(int64_t time_us, const std::vector<std::string>& key_values) {
    const bool cacheable = !prefix->uses_partition_keys() && !prefix->uses_subsecond();
    const int64_t second =
        time_us / schema::kMicrosPerSecond - (time_us % schema::kMicrosPerSecond < 0 ? 1 : 0);
    if (cacheable && range->cached_partition >= 0 && range->cached_second == second) {
      return range->partitions[static_cast<size_t>(range->cached_partition)];
    }
    std::string key_prefix = location;
    prefix->Evaluate(PrefixValues{time_us, &key_values, range->random_string, {}}, &key_prefix);
    Partition& p = FindPartition(key_prefix, false);
    if (cacheable) {
      range->cached_second = second;
      range->cached_partition = static_cast<int64_t>(&p - range->partitions.data());
    }
    return p;
  }

  Partition& FindPartition(const std::string& key_prefix, bool error) {
    auto [it, inserted] = range->partition_index.try_emplace(key_prefix, range->partitions.size());
    if (inserted) range->partitions.push_back(Partition{key_prefix, error, {}, 0});
    return range->partitions[it->second];
  }

  void AddError(const bus::Message& m, const char* output_type, const std::string& code,
                const std::string& message, const std::string& path) {
    Range& r = *range;
    uint32_t row = static_cast<uint32_t>(r.err_seq.size());
    r.err_seq.AppendInt64(static_cast<int64_t>(m.seq));
    r.err_arrival.AppendInt64(m.arrival_us);
    r.err_stream.AppendString(config.name);
    r.err_type.AppendString(output_type);
    r.err_code.AppendString(code);
    r.err_path.AppendString(path);
    if (simdjson::validate_utf8(m.payload.data(), m.payload.size())) {
      r.err_message.AppendString(message);
      r.err_raw.AppendString(m.payload);
    } else {
      r.err_message.AppendString(message + " (raw_payload is base64: the bytes are not UTF-8)");
      r.err_raw.AppendString(Base64(m.payload));
    }
    r.err_row_bytes.push_back(m.payload.size());
    std::string key_prefix;
    error_prefix->Evaluate(PrefixValues{m.arrival_us, nullptr, r.random_string, output_type},
                           &key_prefix);
    Partition& p = FindPartition(key_prefix, true);
    p.rows.push_back(row);
    p.bytes += m.payload.size();
    r.max_partition_bytes = std::max(r.max_partition_bytes, p.bytes);
    std::lock_guard<std::mutex> lock(metrics_mu);
    ++metrics.errors_by_type[code];
  }

  // Converts one new event into the range.
  void AddEvent(const bus::Message& m) {
    Range& r = *range;
    const size_t row = r.data.rows();
    schema::ConversionError error;
    ColumnVector* extra = config.keep_unknown_fields ? &r.extra : nullptr;
    if (!converter->Convert(m.payload, &r.data, extra, &error)) {
      AddError(m, kFormatConversionFailed, schema::ConversionErrorCodeName(error.code),
               error.message, error.path);
      return;
    }
    std::vector<std::string> key_values;
    key_values.reserve(key_refs.size());
    for (size_t k = 0; k < key_refs.size(); ++k) {
      FieldValue v = ReadField(key_refs[k], row, m.payload);
      if (!v.present || v.text.empty()) {
        r.data.Truncate(row);
        if (extra) extra->Truncate(row);
        AddError(m, kPartitioningFailed, kMissingPartitionKey,
                 "partition key '" + config.partition_keys[k].name + "' has no scalar value",
                 key_refs[k].path.ToString());
        return;
      }
      key_values.push_back(std::move(v.text));
    }
    int64_t partition_time = m.arrival_us;
    const char* source = kTimeSourceArrival;
    if (time_ref) {
      if (auto t = ReadTime(*time_ref, row, m.payload)) {
        partition_time = *t;
        source = kTimeSourceEvent;
      }
    }
    r.seq.AppendInt64(static_cast<int64_t>(m.seq));
    r.arrival.AppendInt64(m.arrival_us);
    r.time_source.AppendString(source);
    r.row_bytes.push_back(m.payload.size());
    Partition& p = DataPartition(partition_time, key_values);
    p.rows.push_back(static_cast<uint32_t>(row));
    p.bytes += m.payload.size();
    r.max_partition_bytes = std::max(r.max_partition_bytes, p.bytes);
  }

  enum class Handled { kDone, kBlocked };

  // Handles one delivery in seq order. kBlocked: a flush it needed failed;
  // the delivery stays pending.
  Handled Handle(const bus::Delivery& d, Status* status) {
    const bus::Message& m = d.message;
    ++received_;
    if (m.seq <= state.committed) {
      acks.push_back(d.receipt);
      ++duplicates_;
      return Handled::kDone;
    }
    // Events mostly come in sequence order: one past the range's last needs
    // no search for a redelivery nor for its place.
    if (range && !range->receipts.empty() && range->receipts.back().seq >= m.seq) {
      auto it = std::lower_bound(range->receipts.begin(), range->receipts.end(), m.seq,
                                 [](const bus::Receipt& r, uint64_t s) { return r.seq < s; });
      if (it != range->receipts.end() && it->seq == m.seq) {
        *it = d.receipt;  // a redelivery: only its newest receipt can be acknowledged
        ++duplicates_;
        return Handled::kDone;
      }
    }
    if (replay && m.seq > replay->last) {
      // The range of the intent is complete (its last event may have been dead-lettered).
      *status = CommitRange("replay");
      if (!status->ok()) return Handled::kBlocked;
    }
    if (!replay && range) {
      const bool too_many_partitions = range->partitions.size() >= config.max_open_partitions;
      const bool too_many_bytes = range->bytes + m.payload.size() > config.max_buffered_bytes;
      if (too_many_partitions || too_many_bytes) {
        *status = CommitRange("limit");
        if (!status->ok()) return Handled::kBlocked;
      }
    }
    if (!range) OpenRange(m.seq);
    Range& r = *range;
    AddEvent(m);
    if (r.receipts.empty() || r.receipts.back().seq < m.seq) {
      r.receipts.push_back(d.receipt);
    } else {
      auto pos = std::lower_bound(r.receipts.begin(), r.receipts.end(), m.seq,
                                  [](const bus::Receipt& x, uint64_t s) { return x.seq < s; });
      r.receipts.insert(pos, d.receipt);
    }
    r.first = std::min(r.first, m.seq);
    r.last = std::max(r.last, m.seq);
    r.bytes += m.payload.size();
    r.last_event_at_us = Now();
    r.oldest_arrival_us =
        r.events() == 1 ? m.arrival_us : std::min(r.oldest_arrival_us, m.arrival_us);
    received_bytes_ += m.payload.size();
    if (replay) {
      if (m.seq >= replay->last) {
        *status = CommitRange("replay");
        // The event is in the range either way; a failed commit is retried.
      }
      return Handled::kDone;
    }
    if (r.max_partition_bytes >= config.buffer_size_bytes) *status = CommitRange("size");
    return Handled::kDone;
  }

  Status WriteState(const StreamState& s) {
    return store->PutBytes(StreamStateKey(config.StateName()),
                           EncodeStreamState(config.StateName(), s));
  }

  std::string FileName(const Partition& p, uint64_t first_seq, uint64_t last_seq,
                       int64_t first_arrival) const {
    std::string name = config.StateName() + "-" + std::to_string(config.version) + "-" +
                       FormatTimestamp(kFileTimePattern, first_arrival) + "-" +
                       std::to_string(first_seq) + "-" + std::to_string(last_seq);
    if (!p.error && prefix->uses_partition_keys()) {
      char hash[17];
      std::snprintf(hash, sizeof(hash), "%08x", static_cast<uint32_t>(Fnv1a64(p.key_prefix)));
      name += "-" + std::string(hash);
    }
    return name + ".parquet";
  }

  Status WritePartition(const Partition& p, uint64_t* files, uint64_t* bytes, uint64_t* rows_out) {
    Range& r = *range;
    std::vector<WriteColumn> columns;
    const ColumnVector* seq_col;
    const ColumnVector* arrival_col;
    const std::vector<uint64_t>* row_bytes;
    if (p.error) {
      columns = {{"_seq", &r.err_seq},        {"_arrival_time", &r.err_arrival},
                 {"stream", &r.err_stream},   {"error_output_type", &r.err_type},
                 {"error_code", &r.err_code}, {"error_message", &r.err_message},
                 {"error_path", &r.err_path}, {"raw_payload", &r.err_raw}};
      seq_col = &r.err_seq;
      arrival_col = &r.err_arrival;
      row_bytes = &r.err_row_bytes;
    } else {
      for (size_t i = 0; i < config.table.columns.size(); ++i) {
        columns.push_back({config.table.columns[i].name, r.data.column(i)});
      }
      if (config.keep_unknown_fields) columns.push_back({"_extra", &r.extra, true});
      columns.push_back({"_seq", &r.seq});
      columns.push_back({"_arrival_time", &r.arrival});
      columns.push_back({"_time_source", &r.time_source});
      seq_col = &r.seq;
      arrival_col = &r.arrival;
      row_bytes = &r.row_bytes;
    }
    // Rows are in seq order within a partition: split into files of at most
    // max_file_bytes of input, deterministically.
    size_t begin = 0;
    while (begin < p.rows.size()) {
      size_t end = begin;
      uint64_t piece_bytes = 0;
      while (end < p.rows.size() &&
             (end == begin || piece_bytes + (*row_bytes)[p.rows[end]] <= config.max_file_bytes)) {
        piece_bytes += (*row_bytes)[p.rows[end]];
        ++end;
      }
      std::span<const uint32_t> rows(p.rows.data() + begin, end - begin);
      uint64_t first_seq = static_cast<uint64_t>(seq_col->int64_data()[rows.front()]);
      uint64_t last_seq = static_cast<uint64_t>(seq_col->int64_data()[rows.back()]);
      std::string name = FileName(p, first_seq, last_seq, arrival_col->int64_data()[rows.front()]);
      std::filesystem::path staged = options.staging_dir / name;
      auto size = writer->Write(
          columns, rows,
          ParquetOptions{config.compression, config.compression_level, config.row_group_rows},
          staged);
      if (!size.ok()) {
        std::filesystem::remove(staged);
        return size.status();
      }
      Status st = store->PutFile(p.key_prefix + name, staged);
      if (!st.ok()) {
        std::error_code ec;
        std::filesystem::remove(staged, ec);
        return st;
      }
      ++*files;
      *bytes += *size;
      *rows_out = rows.size();
      std::lock_guard<std::mutex> lock(metrics_mu);
      ++metrics.files_written;
      if (p.error) {
        ++metrics.error_files_written;
        metrics.error_rows_written += rows.size();
      } else {
        metrics.rows_written += rows.size();
      }
      metrics.bytes_written += *size;
      metrics.last_file_rows = rows.size();
      metrics.max_file_rows = std::max<uint64_t>(metrics.max_file_rows, rows.size());
      begin = end;
    }
    return Status::Ok();
  }

  // Writes every partition of the range, commits the state, then acks.
  Status CommitRange(const char* reason) {
    if (!range && !replay) return Status::Ok();
    StreamIntent intent = replay ? *replay : StreamIntent{range->first, range->last};
    if (!range) {
      // Nothing of the intent's range came back (dead-lettered): just commit it.
      if (options.may_commit && !options.may_commit())
        return Status::Unavailable("not committing: the partition's lease may have passed on");
      StreamState next{intent.last, std::nullopt};
      INLET_RETURN_IF_ERROR(WriteState(next));
      state = next;
      replay.reset();
      return Status::Ok();
    }
    Status st = [&]() -> Status {
      if (options.may_commit && !options.may_commit())
        return Status::Unavailable("not committing: the partition's lease may have passed on");
      if (!state.intent || !(*state.intent == intent)) {
        StreamState with_intent{state.committed, intent};
        INLET_RETURN_IF_ERROR(WriteState(with_intent));
        state = with_intent;
      }
      uint64_t files = 0, bytes = 0, rows = 0;
      for (const Partition& p : range->partitions) {
        INLET_RETURN_IF_ERROR(WritePartition(p, &files, &bytes, &rows));
      }
      if (options.may_commit && !options.may_commit())
        return Status::Unavailable("not committing: the partition's lease may have passed on");
      StreamState committed{std::max(state.committed, intent.last), std::nullopt};
      INLET_RETURN_IF_ERROR(WriteState(committed));
      state = committed;
      return Status::Ok();
    }();
    if (!st.ok()) {
      std::lock_guard<std::mutex> lock(metrics_mu);
      ++metrics.flush_failures;
      metrics.last_error = "flush of seq " + std::to_string(intent.first) + ".." +
                           std::to_string(intent.last) + " failed: " + st.ToString();
      return st;
    }
    // Committed: acknowledging is now safe; a lost ack only means a redelivery
    // that is skipped as seq <= committed.
    Status ack = consumer->Ack(range->receipts);
    double latency =
        static_cast<double>(Now() - range->oldest_arrival_us) / schema::kMicrosPerSecond;
    {
      std::lock_guard<std::mutex> lock(metrics_mu);
      ++metrics.flushes;
      ++metrics.flushes_by_reason[reason];
      metrics.last_delivery_latency_s = latency;
      metrics.max_delivery_latency_s = std::max(metrics.max_delivery_latency_s, latency);
      metrics.sum_delivery_latency_s += latency;
      if (!ack.ok())
        metrics.last_error =
            "ack after commit failed (events will be skipped on redelivery): " + ack.ToString();
    }
    spare_range = std::move(range);
    replay.reset();
    UpdateGauges();
    return Status::Ok();
  }

  Status FlushAcks() {
    if (acks.empty()) return Status::Ok();
    Status st = consumer->Ack(acks);
    acks.clear();
    return st;
  }

  Status CheckTimers() {
    if (!range || replay) return Status::Ok();
    const int64_t now = Now();
    const int64_t interval_us = config.buffer_interval.count() * schema::kMicrosPerSecond;
    if (now - range->opened_at_us >= interval_us) return CommitRange("interval");
    if (config.idle_flush.count() > 0 &&
        now - range->last_event_at_us >= config.idle_flush.count() * schema::kMicrosPerSecond) {
      return CommitRange("idle");
    }
    return Status::Ok();
  }

  Status HandlePending() {
    while (!pending.empty()) {
      Status st;
      if (Handle(pending.front(), &st) == Handled::kBlocked) return st;
      pending.pop_front();
      if (!st.ok()) return st;  // the event is buffered; its flush is retried on the next poll
    }
    return Status::Ok();
  }

  Status Poll() {
    Status st = HandlePending();
    if (st.ok() && pending.empty()) {
      bus::FetchOptions fetch;
      fetch.max_messages = config.fetch_max_messages;
      fetch.wait = options.fetch_wait;
      fetch.visibility_timeout = std::chrono::duration_cast<bus::Millis>(
          config.buffer_interval + std::max(config.idle_flush, std::chrono::seconds{0}) +
          kVisibilityMargin);
      auto batch = consumer->Fetch(fetch);
      if (!batch.ok()) {
        st = batch.status();
      } else {
        for (bus::Delivery& d : *batch) pending.push_back(std::move(d));
        st = HandlePending();
      }
    }
    Status timers = st.ok() ? CheckTimers() : Status::Ok();
    Status acked = FlushAcks();
    UpdateGauges();
    if (!st.ok()) return st;
    if (!timers.ok()) return timers;
    return acked;
  }
};

DeliveryStream::DeliveryStream(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

DeliveryStream::~DeliveryStream() { (void)Stop(); }

Result<std::unique_ptr<DeliveryStream>> DeliveryStream::Create(DeliveryStreamConfig config,
                                                               bus::Consumer* consumer,
                                                               storage::ObjectStore* store,
                                                               DeliveryStreamOptions options) {
  INLET_RETURN_IF_ERROR(ValidateDeliveryStreamConfig(config));
  if (consumer == nullptr || store == nullptr) {
    return Status::InvalidArgument("delivery stream '" + config.name +
                                   "': consumer and store are required");
  }
  auto impl = std::make_unique<Impl>();
  impl->config = std::move(config);
  const DeliveryStreamConfig& c = impl->config;
  impl->consumer = consumer;
  impl->store = store;
  impl->options = std::move(options);
  if (!impl->options.clock_us) impl->options.clock_us = SystemClockMicros;
  impl->location = EffectiveLocation(c);
  std::vector<std::string> key_names;
  for (const PartitionKey& k : c.partition_keys) {
    key_names.push_back(k.name);
    impl->key_refs.push_back(ResolvePath(*ParseJsonPath(k.json_path), c.table));
  }
  impl->prefix = std::make_unique<PrefixExpression>(
      *PrefixExpression::Parse(c.prefix, PrefixRole::kData, key_names));
  impl->error_prefix = std::make_unique<PrefixExpression>(
      *PrefixExpression::Parse(c.error_prefix, PrefixRole::kError, key_names));
  if (!c.time_field.empty()) impl->time_ref = ResolvePath(*ParseJsonPath(c.time_field), c.table);
  impl->converter = std::make_unique<schema::RecordConverter>(
      &impl->config.table, schema::ConverterOptions{.keep_unknown_fields = c.keep_unknown_fields});
  auto writer = ParquetWriter::Create(impl->options.duckdb_threads);
  if (!writer.ok()) return writer.status();
  impl->writer = std::move(*writer);

  if (impl->options.staging_dir.empty()) {
    auto local = store->LocalPath("_staging/" + c.StateName());
    impl->options.staging_dir =
        local ? *local
              : std::filesystem::temp_directory_path() /
                    ("inlet-staging-" + std::to_string(getpid()) + "-" + c.StateName());
  }
  std::error_code ec;
  std::filesystem::create_directories(impl->options.staging_dir, ec);
  if (ec)
    return Status::IoError("cannot create staging directory " + impl->options.staging_dir.string() +
                           ": " + ec.message());
  // Files staged by a previous process are incomplete or already committed.
  for (auto& entry : std::filesystem::directory_iterator(impl->options.staging_dir, ec)) {
    std::filesystem::remove(entry.path(), ec);
  }

  auto raw = store->Get(StreamStateKey(c.StateName()));
  if (raw.ok()) {
    auto decoded = DecodeStreamState(*raw);
    if (!decoded.ok())
      return Status::Corruption(StreamStateKey(c.StateName()) + ": " + decoded.status().message());
    impl->state = *decoded;
    impl->replay = impl->state.intent;
  } else if (raw.status().code() != StatusCode::kNotFound) {
    return raw.status();
  }
  // A partition reader resumes after the last commit (an intent's range
  // starts right after it).
  INLET_RETURN_IF_ERROR(consumer->StartAfter(impl->state.committed));
  impl->UpdateGauges();
  return std::unique_ptr<DeliveryStream>(new DeliveryStream(std::move(impl)));
}

void DeliveryStream::Start() {
  if (impl_->thread.joinable()) return;
  impl_->stop = false;
  impl_->thread = std::thread([impl = impl_.get()] {
    SetThreadName("deliver:" + impl->config.name);
    std::string logged;  // the last error logged, again at most every 10 s
    auto logged_at = std::chrono::steady_clock::time_point{};
    while (!impl->stop) {
      Status st = impl->Poll();
      if (!st.ok()) {
        impl->SetError(st);
        const auto now = std::chrono::steady_clock::now();
        if (st.ToString() != logged || now - logged_at >= std::chrono::seconds(10)) {
          logged = st.ToString();
          logged_at = now;
          spdlog::warn("delivery stream {}: {}; retrying every {} ms", impl->config.StateName(),
                       logged, impl->options.retry_backoff.count());
        }
        std::unique_lock<std::mutex> lock(impl->wake_mu);
        impl->wake.wait_for(lock, impl->options.retry_backoff,
                            [impl] { return impl->stop.load(); });
      }
    }
  });
}

void DeliveryStream::Abandon() {
  impl_->abandoned = true;
  StopThread();
}

void DeliveryStream::StopThread() {
  if (impl_->thread.joinable()) {
    {
      std::lock_guard<std::mutex> lock(impl_->wake_mu);
      impl_->stop = true;
    }
    impl_->wake.notify_all();
    impl_->thread.join();
  }
}

Status DeliveryStream::Stop() {
  StopThread();
  return Flush();
}

Status DeliveryStream::PollOnce() { return impl_->Poll(); }

Status DeliveryStream::Flush() {
  if (impl_->replay || impl_->abandoned) return Status::Ok();
  Status st = impl_->CommitRange("shutdown");
  Status acked = impl_->FlushAcks();
  return st.ok() ? acked : st;
}

DeliveryMetrics DeliveryStream::Metrics() const {
  std::lock_guard<std::mutex> lock(impl_->metrics_mu);
  return impl_->metrics;
}

const DeliveryStreamConfig& DeliveryStream::config() const { return impl_->config; }

StreamState DeliveryStream::state() const { return impl_->state; }

}  // namespace inlet::delivery
