#include "web/status_api.h"

namespace inlet::web {

namespace {

void AddLogCollectors(bus::EmbeddedBus* bus, MetricsRegistry* metrics) {
  for (const auto& name : bus->TopicNames()) {
    bus->FindEmbeddedTopic(name)->log().set_fsync_histogram(&metrics->GetHistogram(
        "inlet_log_fsync_seconds", "Duration of each group commit (write + fdatasync)",
        "topic=\"" + name + "\""));
  }
  metrics->AddCollector([bus](const MetricsRegistry::Emit& emit) {
    for (const auto& name : bus->TopicNames()) {
      auto* t = bus->FindEmbeddedTopic(name);
      const bus::LogStats st = t->log().Stats();
      const std::string l = "topic=\"" + name + "\"";
      emit("inlet_log_bytes", "Bytes of retained log on disk", "gauge", l, double(st.bytes));
      emit("inlet_log_segments", "Segments of retained log", "gauge", l, double(st.segments));
      emit("inlet_log_last_seq", "Highest durable sequence id", "gauge", l, double(t->LastSeq()));
      emit("inlet_log_fsyncs_total", "Group commits (one fsync each)", "counter", l,
           double(st.fsyncs));
      emit("inlet_log_fsync_last_seconds", "Duration of the last write+fsync", "gauge", l,
           st.last_fsync_seconds);
    }
    emit("inlet_log_disk_budget_bytes", "Configured log disk budget (0: none)", "gauge", "",
         double(bus->budget().limit()));
  });
}

}  // namespace

void AddBusCollectors(bus::Bus* bus, MetricsRegistry* metrics) {
  if (auto* embedded = dynamic_cast<bus::EmbeddedBus*>(bus)) AddLogCollectors(embedded, metrics);
  metrics->AddCollector([bus](const MetricsRegistry::Emit& emit) {
    for (const auto& name : bus->SubscriptionNames()) {
      const bus::SubscriptionStats s = bus->FindSubscription(name)->Stats();
      const std::string l = "subscription=\"" + name + "\"";
      emit("inlet_subscription_backlog", "Messages not yet acknowledged", "gauge", l,
           double(s.backlog));
      emit("inlet_subscription_in_flight", "Messages delivered and not acknowledged", "gauge", l,
           double(s.in_flight));
      emit("inlet_subscription_oldest_unacked_age_seconds",
           "Age of the oldest unacknowledged message", "gauge", l, s.oldest_unacked_age_s);
      emit("inlet_subscription_dead_lettered_total", "Messages moved to the dead-letter topic",
           "counter", l, double(s.dead_lettered));
      emit("inlet_subscription_delivered_total", "Deliveries, redeliveries included", "counter", l,
           double(s.delivered));
      emit("inlet_subscription_acked_total", "Acknowledgements", "counter", l, double(s.acked));
    }
  });
}

void RegisterStatusRoutes(http::HttpServer* server, bus::Bus* bus, MetricsRegistry* metrics) {
  server->Route("GET", "/healthz", [](http::Request&&, http::Responder respond) {
    http::Response r;
    r.body = "{\"status\":\"ok\"}";
    respond(std::move(r));
  });
  auto* embedded = dynamic_cast<bus::EmbeddedBus*>(bus);
  server->Route("GET", "/readyz", [embedded](http::Request&&, http::Responder respond) {
    if (embedded && embedded->budget().Exceeded()) {
      http::Response r =
          http::ErrorResponse(503, "disk_budget",
                              "the log disk budget is used up; producers get 507 until "
                              "subscriptions acknowledge older data");
      return respond(std::move(r));
    }
    http::Response r;
    r.body = "{\"status\":\"ready\"}";
    respond(std::move(r));
  });
  server->Route("GET", "/metrics", [metrics](http::Request&&, http::Responder respond) {
    http::Response r;
    r.content_type = "text/plain; version=0.0.4";
    r.body = metrics->Render();
    respond(std::move(r));
  });
}

}  // namespace inlet::web
