// Counters of one delivery stream, as a plain snapshot the metrics exporter
// reads (DeliveryStream::Metrics copies it under a lock).
#pragma once

#include <cstdint>
#include <map>
#include <string>

namespace inlet::delivery {

struct DeliveryMetrics {
  // Output.
  uint64_t files_written = 0;  // data and error files
  uint64_t error_files_written = 0;
  uint64_t bytes_written = 0;       // Parquet bytes
  uint64_t rows_written = 0;        // data rows
  uint64_t error_rows_written = 0;  // records sent to the error prefix
  uint64_t last_file_rows = 0;      // rows per file: rows_written / files and the last one
  uint64_t max_file_rows = 0;
  uint64_t flushes = 0;
  std::map<std::string, uint64_t>
      flushes_by_reason;  // size, interval, idle, limit, shutdown, replay
  uint64_t flush_failures = 0;
  // Input.
  uint64_t events_received = 0;     // deliveries, redeliveries included
  uint64_t duplicates_ignored = 0;  // redeliveries of a buffered or committed event
  uint64_t bytes_received = 0;      // payload bytes of distinct events
  // Buffers (gauges).
  uint64_t buffered_bytes = 0;
  uint64_t buffered_events = 0;
  uint64_t open_partitions = 0;
  // Delivery latency: arrival of the oldest event of a flush to its commit.
  double last_delivery_latency_s = 0;
  double max_delivery_latency_s = 0;
  double sum_delivery_latency_s = 0;  // over flushes; mean = sum / flushes
  // Records that went to the error prefix, by error code (type_mismatch, ...).
  std::map<std::string, uint64_t> errors_by_type;
  uint64_t committed_seq = 0;
  std::string last_error;  // last failed flush or fetch, "" when none
};

}  // namespace inlet::delivery
