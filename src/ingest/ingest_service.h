// IngestService: the producer and consumer HTTP API over a Bus.
//   POST /v1/topics/{topic}/events          publish (JSON object, array, NDJSON)
//   POST /v1/subscriptions/{name}/receive   pull with long poll (SQS-like)
//   POST /v1/subscriptions/{name}/ack       acknowledge receipt handles
//   POST /v1/subscriptions/{name}/nack      make visible again after a delay
//   GET  /v1/subscriptions/{name}           backlog, in flight, dead-lettered
//   POST /v1/policies/test                  try a filter policy on a message
// A publish is answered only after its accepted events are durable.
// The bus, keys and metrics must outlive the service. Thread-safe.
#pragma once

#include <memory>

#include "bus/bus.h"
#include "common/blocking_pool.h"
#include "common/metrics.h"
#include "config/config.h"
#include "http/api_keys.h"
#include "http/http_server.h"

namespace inlet::ingest {

class IngestService {
 public:
  IngestService(bus::Bus* bus, const config::Config& config, const http::ApiKeys* keys,
                MetricsRegistry* metrics);
  ~IngestService();

  void RegisterRoutes(http::HttpServer* server);

 private:
  struct TopicMetrics;
  void Publish(http::Request&& req, http::Responder respond);
  void Receive(http::Request&& req, http::Responder respond);
  void Ack(http::Request&& req, http::Responder respond, bool nack);
  void Describe(http::Request&& req, http::Responder respond);
  void TestPolicy(http::Request&& req, http::Responder respond);
  bus::Consumer* Subscription(const http::Request& req, http::Responder& respond);

  bus::Bus* bus_;
  const config::Config& config_;
  const http::ApiKeys* keys_;
  std::map<std::string, std::unique_ptr<TopicMetrics>, std::less<>> topic_metrics_;
  BlockingPool receive_pool_;
};

}  // namespace inlet::ingest
