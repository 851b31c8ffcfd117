// Messages as stored on a topic and handed to consumers. A message owns its
// bytes; the payload is the producer's JSON exactly as it was sent.
#pragma once

#include <cstdint>
#include <string>

namespace inlet::bus {

// An event as the producer sent it, before it has a sequence id.
struct OutgoingEvent {
  std::string payload;  // one JSON object, byte for byte as received
  std::string
      attributes;      // SNS MessageAttributes JSON ({"k":{"DataType":..,"StringValue":..}}) or ""
  std::string key_id;  // id of the API key that published it ("" when auth is off)
  // Optional publisher-side id for deduplication of retried publishes (used by
  // the JetStream bus as Nats-Msg-Id); empty when none.
  std::string dedup_id;
  // Partition of the topic (0 .. partitions-1), chosen at ingest from the
  // topic's partition key; the embedded bus has one partition and ignores it.
  uint32_t partition = 0;
};

// A stored event: what every subscription of the topic receives.
struct Message {
  uint64_t seq = 0;        // sequence id in its topic, from 1, gap-free
  int64_t arrival_us = 0;  // arrival time at ingest, microseconds since the epoch
  std::string key_id;
  std::string attributes;
  std::string payload;
};

}  // namespace inlet::bus
