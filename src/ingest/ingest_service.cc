#include "ingest/ingest_service.h"

#include <simdjson.h>

#include <chrono>

#include "bus/filter_policy.h"
#include "bus/message_attributes.h"
#include "common/clock.h"
#include "ingest/body_parser.h"

namespace inlet::ingest {

using http::ErrorResponse;
using http::JsonEscape;
using http::Request;
using http::Responder;
using http::Response;

namespace {

// "user_id" or "$.user.id" -> "/user_id", "/user/id".
std::string PartitionKeyPointer(std::string_view key) {
  if (key.rfind("$.", 0) == 0) key.remove_prefix(2);
  std::string out = "/";
  for (char c : key) out += c == '.' ? '/' : c;
  return out;
}

}  // namespace

struct IngestService::TopicMetrics {
  Counter* events;
  Counter* bytes;
  Counter* requests;
  Histogram* ack_latency;
  MetricsRegistry* registry;
  std::string topic;
  uint32_t partitions = 1;
  std::string partition_pointer;  // JSON pointer of the partition key; "" with one partition
  void Reject(const std::string& reason, uint64_t n = 1) {
    registry
        ->GetCounter("inlet_ingest_rejected_total",
                     "Events or requests refused at ingest, by reason",
                     "topic=\"" + topic + "\",reason=\"" + reason + "\"")
        .Inc(n);
  }
};

IngestService::IngestService(bus::Bus* bus, const config::Config& config, const http::ApiKeys* keys,
                             MetricsRegistry* metrics)
    : bus_(bus), config_(config), keys_(keys), receive_pool_(16, 1024) {
  for (const auto& t : config.topics) {
    const std::string l = "topic=\"" + t.bus.name + "\"";
    auto m = std::make_unique<TopicMetrics>();
    m->events = &metrics->GetCounter("inlet_ingest_events_total", "Events accepted and durable", l);
    m->bytes = &metrics->GetCounter("inlet_ingest_bytes_total", "Bytes of accepted events", l);
    m->requests =
        &metrics->GetCounter("inlet_ingest_requests_total", "Publish requests answered", l);
    m->ack_latency = &metrics->GetHistogram("inlet_ingest_ack_latency_seconds",
                                            "Time from request to durable acknowledgement", l);
    m->registry = metrics;
    m->topic = t.bus.name;
    if (t.partitions > 1 && config.bus.type == config::BusSettings::Type::kJetStream) {
      m->partitions = t.partitions;
      m->partition_pointer = PartitionKeyPointer(t.partition_key);
    }
    topic_metrics_.emplace(t.bus.name, std::move(m));
  }
}

IngestService::~IngestService() = default;

void IngestService::RegisterRoutes(http::HttpServer* server) {
  server->Route("POST", "/v1/topics/{topic}/events",
                [this](Request&& r, Responder d) { Publish(std::move(r), std::move(d)); });
  server->Route("POST", "/v1/subscriptions/{name}/receive",
                [this](Request&& r, Responder d) { Receive(std::move(r), std::move(d)); });
  server->Route("POST", "/v1/subscriptions/{name}/ack",
                [this](Request&& r, Responder d) { Ack(std::move(r), std::move(d), false); });
  server->Route("POST", "/v1/subscriptions/{name}/nack",
                [this](Request&& r, Responder d) { Ack(std::move(r), std::move(d), true); });
  server->Route("POST", "/v1/policies/test",
                [this](Request&& r, Responder d) { TestPolicy(std::move(r), std::move(d)); });
  server->Route("GET", "/v1/subscriptions/{name}",
                [this](Request&& r, Responder d) { Describe(std::move(r), std::move(d)); });
}

namespace {

Response RetryLater(int status, std::string_view code, const std::string& message,
                    std::chrono::seconds after) {
  Response r = ErrorResponse(status, code, message);
  r.headers.emplace_back("Retry-After", std::to_string(after.count()));
  return r;
}

std::string RejectedJson(const std::vector<RejectedEvent>& rejected) {
  std::string out = "[";
  for (size_t i = 0; i < rejected.size(); ++i) {
    const auto& r = rejected[i];
    out += (i ? "," : "") + std::string("{\"index\":") + std::to_string(r.index) +
           ",\"category\":\"" + JsonEscape(r.category) + "\",\"message\":\"" +
           JsonEscape(r.message) + "\"}";
  }
  return out + "]";
}

}  // namespace

void IngestService::Publish(Request&& req, Responder respond) {
  const auto start = std::chrono::steady_clock::now();
  const std::string& topic_name = req.params["topic"];
  std::string key_id;
  Response denied;
  const bool allowed =
      keys_->Authorize(req, http::Permission::kPublish, topic_name, &key_id, &denied);
  if (!allowed && denied.status == 401) return respond(std::move(denied));
  bus::Topic* topic = bus_->FindTopic(topic_name);
  auto tm = topic_metrics_.find(topic_name);
  if (topic == nullptr || tm == topic_metrics_.end()) {
    return respond(ErrorResponse(404, "unknown_topic", "no topic named '" + topic_name + "'"));
  }
  if (!allowed) return respond(std::move(denied));
  TopicMetrics& m = *tm->second;

  auto format = BodyParser::FormatOf(req.Header("content-type"));
  if (!format.ok()) {
    m.Reject("unsupported_media_type");
    return respond(ErrorResponse(415, "unsupported_media_type", format.status().message()));
  }
  std::string attributes = req.Header("x-message-attributes");
  if (!attributes.empty()) {
    thread_local bus::MessageAttributesReader reader;
    std::vector<bus::MessageAttribute> parsed;
    Status st = reader.Read(attributes, true, &parsed);
    if (!st.ok()) {
      m.Reject("bad_attributes");
      return respond(ErrorResponse(400, "bad_attributes", "X-Message-Attributes: " + st.message()));
    }
  }

  const auto& limits = config_.limits;
  BodyLimits bl{limits.max_event_bytes, limits.max_request_bytes, limits.max_events_per_request,
                m.partition_pointer};
  thread_local BodyParser parser;
  thread_local ParsedBody parsed;
  BodyError error = BodyError::kNone;
  Status st = parser.Decode(std::move(req.body), req.Header("content-encoding"), bl, &error);
  if (st.ok()) st = parser.Parse(format.value(), bl, &parsed, &error);
  if (!st.ok()) {
    int status = 400;
    std::string code = "bad_request";
    switch (error) {
      case BodyError::kTooLarge:
        status = 413;
        code = "too_large";
        break;
      case BodyError::kTooManyEvents:
        status = 413;
        code = "too_many_events";
        break;
      case BodyError::kUnsupportedEncoding:
        status = 415;
        code = "unsupported_encoding";
        break;
      case BodyError::kBadEncoding:
        code = "bad_encoding";
        break;
      case BodyError::kNotJson:
        code = parser.error_category().empty() ? "malformed_json" : parser.error_category();
        break;
      case BodyError::kEmpty:
        code = "empty";
        break;
      case BodyError::kNone:
        break;
    }
    m.Reject(code);
    return respond(ErrorResponse(status, code, st.message()));
  }
  for (const auto& r : parsed.rejected) m.Reject(r.category);
  if (parsed.events.empty()) {
    Response r;
    r.status = 400;
    r.body =
        "{\"error\":{\"code\":\"all_rejected\",\"message\":\"every event of the request was "
        "rejected\"},"
        "\"accepted\":0,\"rejected\":" +
        RejectedJson(parsed.rejected) + "}";
    return respond(std::move(r));
  }
  std::vector<bus::OutgoingEvent> events;
  events.reserve(parsed.events.size());
  uint64_t bytes = 0;
  // A producer that retries a request with the same Idempotency-Key gets its
  // events deduplicated by a bus that can (JetStream: within its window).
  const std::string idempotency_key = req.Header("idempotency-key").substr(0, 200);
  for (size_t i = 0; i < parsed.events.size(); ++i) {
    std::string_view ev = parsed.events[i];
    const uint32_t partition = m.partitions > 1 ? parsed.partition_hashes[i] % m.partitions : 0;
    std::string dedup_id;
    if (!idempotency_key.empty())
      dedup_id = key_id + "/" + idempotency_key + "/" + std::to_string(parsed.indexes[i]);
    events.push_back(
        bus::OutgoingEvent{std::string(ev), attributes, key_id, std::move(dedup_id), partition});
    bytes += ev.size();
  }
  const size_t accepted = events.size();
  std::string rejected_json = parsed.rejected.empty() ? "" : RejectedJson(parsed.rejected);
  const auto retry_after = config_.limits.retry_after;
  topic->PublishAsync(std::move(events), [&m, respond = std::move(respond), accepted, bytes, start,
                                          rejected_json = std::move(rejected_json),
                                          retry_after](Result<bus::SeqRange> result) mutable {
    m.requests->Inc();
    if (!result.ok()) {
      const Status& s = result.status();
      switch (s.code()) {
        case StatusCode::kNoSpace:
          m.Reject("no_space", accepted);
          return respond(RetryLater(507, "insufficient_storage", s.message(), retry_after));
        case StatusCode::kResourceExhausted:
          m.Reject("back_pressure", accepted);
          return respond(RetryLater(503, "back_pressure", s.message(), retry_after));
        default:
          m.Reject("unavailable", accepted);
          return respond(
              RetryLater(503, "unavailable", "events not stored: " + s.message(), retry_after));
      }
    }
    m.events->Inc(accepted);
    m.bytes->Inc(bytes);
    m.ack_latency->Observe(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    Response r;
    r.body = "{\"accepted\":" + std::to_string(accepted) +
             ",\"first_seq\":" + std::to_string(result->first) +
             ",\"last_seq\":" + std::to_string(result->last);
    if (!rejected_json.empty()) r.body += ",\"rejected\":" + rejected_json;
    r.body += "}";
    respond(std::move(r));
  });
}

bus::Consumer* IngestService::Subscription(const Request& req, Responder& respond) {
  const std::string& name = req.params.at("name");
  std::string key_id;
  Response denied;
  const bool allowed = keys_->Authorize(req, http::Permission::kConsume, name, &key_id, &denied);
  if (!allowed && denied.status == 401) {
    respond(std::move(denied));
    return nullptr;
  }
  bus::Consumer* c = bus_->FindSubscription(name);
  if (c == nullptr) {
    respond(ErrorResponse(404, "unknown_subscription", "no subscription named '" + name + "'"));
    return nullptr;
  }
  if (!allowed) {
    respond(std::move(denied));
    return nullptr;
  }
  return c;
}

namespace {

// Reads an optional number field of a JSON request body; false on a type error.
bool NumberField(simdjson::dom::element& root, const char* key, double* out) {
  auto f = root[key];
  if (f.error() == simdjson::NO_SUCH_FIELD) return true;
  double v;
  if (f.get(v) == simdjson::SUCCESS) {
    *out = v;
    return true;
  }
  int64_t i;
  if (f.get(i) == simdjson::SUCCESS) {
    *out = static_cast<double>(i);
    return true;
  }
  return false;
}

}  // namespace

void IngestService::Receive(Request&& req, Responder respond) {
  bus::Consumer* c = Subscription(req, respond);
  if (c == nullptr) return;
  double max = 10, wait = 0, vis = -1;
  if (!req.body.empty()) {
    simdjson::dom::parser p;
    simdjson::dom::element root;
    if (p.parse(req.body).get(root) || !root.is_object() ||
        !NumberField(root, "max_messages", &max) ||
        !NumberField(root, "wait_time_seconds", &wait) ||
        !NumberField(root, "visibility_timeout_seconds", &vis)) {
      return respond(
          ErrorResponse(400, "bad_request",
                        "expected a JSON object with optional numbers max_messages (1-10000), "
                        "wait_time_seconds (0-20) and visibility_timeout_seconds"));
    }
  }
  if (max < 1 || max > 10000 || wait < 0 || wait > 20 || vis > 43200) {
    return respond(ErrorResponse(400, "bad_request",
                                 "max_messages must be 1-10000, wait_time_seconds 0-20, "
                                 "visibility_timeout_seconds 0-43200"));
  }
  bus::FetchOptions o;
  o.max_messages = static_cast<size_t>(max);
  o.wait = bus::Millis(static_cast<int64_t>(wait * 1000));
  o.visibility_timeout = bus::Millis(vis < 0 ? -1 : static_cast<int64_t>(vis * 1000));
  std::string name = c->name();
  auto shared_respond = std::make_shared<Responder>(std::move(respond));
  bool queued = receive_pool_.Submit([c, o, name, shared_respond] {
    auto fetched = c->Fetch(o);
    if (!fetched.ok()) {
      return (*shared_respond)(ErrorResponse(503, "unavailable", fetched.status().message()));
    }
    Response r;
    r.body = "{\"messages\":[";
    bool first = true;
    for (const auto& d : fetched.value()) {
      r.body += first ? "" : ",";
      first = false;
      r.body += "{\"seq\":" + std::to_string(d.message.seq) + ",\"receipt_handle\":\"" +
                JsonEscape(d.receipt.Encode(name)) +
                "\",\"receive_count\":" + std::to_string(d.receipt.attempt) +
                ",\"arrival_time\":\"" + FormatRfc3339Micros(d.message.arrival_us) +
                "\",\"key_id\":\"" + JsonEscape(d.message.key_id) + "\",\"attributes\":" +
                (d.message.attributes.empty() ? "{}" : d.message.attributes) +
                ",\"body\":" + d.message.payload + "}";
    }
    r.body += "]}";
    (*shared_respond)(std::move(r));
  });
  if (!queued) {
    Response r = ErrorResponse(503, "busy", "too many receive requests are waiting; retry later");
    r.headers.emplace_back("Retry-After", "1");
    (*shared_respond)(std::move(r));
  }
}

void IngestService::Ack(Request&& req, Responder respond, bool nack) {
  bus::Consumer* c = Subscription(req, respond);
  if (c == nullptr) return;
  simdjson::dom::parser p;
  simdjson::dom::element root;
  simdjson::dom::array handles;
  double delay = 0;
  if (p.parse(req.body).get(root) || root["receipt_handles"].get(handles) ||
      (nack && !NumberField(root, "delay_seconds", &delay)) || delay < 0 || delay > 43200) {
    return respond(ErrorResponse(400, "bad_request",
                                 std::string("expected {\"receipt_handles\": [\"...\"]") +
                                     (nack ? ", \"delay_seconds\": 0-43200}" : "}")));
  }
  std::vector<bus::Receipt> receipts;
  for (auto h : handles) {
    std::string_view s;
    if (h.get(s)) return respond(ErrorResponse(400, "bad_request", "receipt handles are strings"));
    auto r = bus::Receipt::Decode(s, c->name());
    if (!r.ok()) return respond(ErrorResponse(400, "bad_receipt", r.status().message()));
    receipts.push_back(r.value());
  }
  Status st =
      nack ? c->Nack(receipts, bus::Millis(static_cast<int64_t>(delay * 1000))) : c->Ack(receipts);
  if (!st.ok()) return respond(ErrorResponse(503, "unavailable", st.message()));
  Response r;
  r.body = std::string("{\"") + (nack ? "nacked" : "acked") +
           "\":" + std::to_string(receipts.size()) + "}";
  respond(std::move(r));
}

void IngestService::Describe(Request&& req, Responder respond) {
  bus::Consumer* c = Subscription(req, respond);
  if (c == nullptr) return;
  const bus::SubscriptionStats s = c->Stats();
  Response r;
  char age[32];
  std::snprintf(age, sizeof(age), "%.3f", s.oldest_unacked_age_s);
  r.body = "{\"name\":\"" + JsonEscape(c->name()) + "\",\"backlog\":" + std::to_string(s.backlog) +
           ",\"in_flight\":" + std::to_string(s.in_flight) +
           ",\"dead_lettered\":" + std::to_string(s.dead_lettered) +
           ",\"delivered\":" + std::to_string(s.delivered) +
           ",\"acked\":" + std::to_string(s.acked) + ",\"oldest_unacked_age_seconds\":" + age + "}";
  respond(std::move(r));
}

// Body: {"policy": {...}, "scope": "MessageBody"|"MessageAttributes",
// "message": {...} | "attributes": {...}}. The policy may also be a string.
void IngestService::TestPolicy(Request&& req, Responder respond) {
  std::string key_id;
  Response denied;
  // Any valid key may test a policy: it reads nothing stored.
  if (!keys_->Authorize(req, http::Permission::kAuthenticated, "", &key_id, &denied)) {
    return respond(std::move(denied));
  }
  simdjson::dom::parser p;
  simdjson::dom::element root;
  auto usage = [&](const std::string& why) {
    respond(ErrorResponse(400, "bad_request",
                          why + "; expected {\"policy\": {...}, \"scope\": \"MessageAttributes\" | "
                                "\"MessageBody\", \"message\": {...} or \"attributes\": {...}}"));
  };
  if (p.parse(req.body).get(root) || !root.is_object())
    return usage("the body is not a JSON object");
  simdjson::dom::element policy, message;
  if (root["policy"].get(policy)) return usage("missing \"policy\"");
  std::string policy_json;
  if (policy.is_string())
    policy_json = std::string(std::string_view(policy));
  else
    policy_json = simdjson::minify(policy);
  std::string_view scope_text =
      root["scope"].is_string() ? std::string_view(root["scope"]) : std::string_view();
  const bool has_attrs = !root["attributes"].get(message);
  if (!has_attrs && root["message"].get(message))
    return usage("missing \"message\" or \"attributes\"");
  if (scope_text.empty()) scope_text = has_attrs ? "MessageAttributes" : "MessageBody";
  auto scope = bus::ParsePolicyScope(scope_text);
  if (!scope.ok()) return usage(scope.status().message());
  const std::string subject =
      message.is_string() ? std::string(std::string_view(message)) : simdjson::minify(message);
  auto result = bus::TestPolicy(policy_json, scope.value(), subject);
  if (!result.ok()) return respond(ErrorResponse(400, "invalid_policy", result.status().message()));
  Response r;
  r.body = std::string("{\"match\":") + (result.value() ? "true" : "false") + "}";
  respond(std::move(r));
}

}  // namespace inlet::ingest
