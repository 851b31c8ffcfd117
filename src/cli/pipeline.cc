#include "cli/pipeline.h"

#include <spdlog/spdlog.h>

#include <mutex>

#include "cli/backends.h"
#include "cli/lake_commands.h"
#include "cluster/partition_assigner.h"
#include "common/metrics.h"
#include "delivery/delivery_stream.h"
#include "http/api_keys.h"
#include "http/http_server.h"
#include "ingest/ingest_service.h"
#include "lake/lake_mirror.h"
#include "lake/lake_routes.h"
#include "lake/lake_service.h"
#include "notify/notification_service.h"
#include "process/processing_service.h"
#include "web/dashboard_routes.h"
#include "web/status_api.h"

namespace inlet::cli {

// One running delivery stream: the whole subscription, or one partition of
// it (then it owns its partition consumer).
struct RunningStream {
  std::unique_ptr<bus::Consumer> consumer;  // null when unpartitioned
  std::unique_ptr<delivery::DeliveryStream> stream;
};

namespace {

// A lake on local disk (LocalObjectStore) as opposed to a remote one (S3).
bool IsLocal(const storage::ObjectStore& store) { return store.LocalPath("_").has_value(); }

}  // namespace

struct Pipeline::Impl {
  config::Config config;
  PipelineOptions options;
  MetricsRegistry metrics;
  std::unique_ptr<bus::Bus> bus;
  std::unique_ptr<http::ApiKeys> keys;
  std::unique_ptr<http::HttpServer> server;
  std::unique_ptr<ingest::IngestService> ingest;
  std::unique_ptr<storage::ObjectStore> lake;
  std::unique_ptr<lake::LakeMirror> mirror;

  mutable std::mutex streams_mu;                 // guards streams (partitions come and go)
  std::map<std::string, RunningStream> streams;  // by StateName()
  // Partitioned processors, by ProcessorConfig::StateName().
  std::mutex processing_mu;
  std::map<std::string, std::unique_ptr<process::ProcessingService>> partitioned_processing;
  std::unique_ptr<process::ProcessingService> processing;  // unpartitioned
  std::vector<std::unique_ptr<cluster::PartitionAssigner>> assigners;

  std::unique_ptr<notify::NotificationService> notify;
  std::unique_ptr<lake::LakeService> lake_service;

  bool Has(Role r) const { return (options.roles & r) != 0; }
  Status StartDelivery();
  void AddDeliveryCollectors();
  // `may_commit`: for a partition, whether its lease still allows a commit.
  Status StartStream(delivery::DeliveryStreamConfig d, std::function<bool()> may_commit = {});
  // `abandon`: the partition's lease was lost; write nothing more.
  void StopStream(const std::string& state_name, bool abandon = false);
  Status StartProcessing();
  std::filesystem::path StagingDir(const std::string& name) const {
    return config.storage.data_dir / "staging" / name;
  }
};

void Pipeline::Impl::AddDeliveryCollectors() {
  metrics.AddCollector([this](const MetricsRegistry::Emit& emit) {
    std::lock_guard lock(streams_mu);
    for (const auto& [state_name, running] : streams) {
      const auto& c = running.stream->config();
      const delivery::DeliveryMetrics m = running.stream->Metrics();
      std::string l = "stream=\"" + c.name + "\"";
      if (c.partition) l += ",partition=\"" + std::to_string(*c.partition) + "\"";
      emit("inlet_delivery_files_total", "Parquet files committed to the lake", "counter", l,
           double(m.files_written));
      emit("inlet_delivery_bytes_total", "Parquet bytes committed to the lake", "counter", l,
           double(m.bytes_written));
      emit("inlet_delivery_rows_total", "Rows committed to the lake", "counter", l,
           double(m.rows_written));
      emit("inlet_delivery_error_rows_total", "Records written to the error prefix", "counter", l,
           double(m.error_rows_written));
      emit("inlet_delivery_buffered_bytes", "Payload bytes buffered, not yet in a file", "gauge", l,
           double(m.buffered_bytes));
      emit("inlet_delivery_open_partitions", "Partitions with buffered events", "gauge", l,
           double(m.open_partitions));
      emit("inlet_delivery_last_latency_seconds",
           "Arrival of the oldest event of the last flush to its commit", "gauge", l,
           m.last_delivery_latency_s);
      emit("inlet_delivery_flush_failures_total", "Flushes that failed and were retried", "counter",
           l, double(m.flush_failures));
      emit("inlet_delivery_committed_seq", "Highest sequence id committed to the lake", "gauge", l,
           double(m.committed_seq));
      for (const auto& [type, n] : m.errors_by_type) {
        emit("inlet_delivery_errors_total", "Records sent to the error prefix, by error type",
             "counter", l + ",type=\"" + type + "\"", double(n));
      }
    }
  });
}

Status Pipeline::Impl::StartStream(delivery::DeliveryStreamConfig d,
                                   std::function<bool()> may_commit) {
  RunningStream running;
  bus::Consumer* consumer = nullptr;
  if (d.partition) {
    auto owned = bus->OpenPartition(d.subscription, *d.partition);
    if (!owned.ok()) return owned.status();
    running.consumer = std::move(*owned);
    consumer = running.consumer.get();
  } else {
    consumer = bus->FindSubscription(d.subscription);
  }
  delivery::DeliveryStreamOptions o;
  if (!IsLocal(*lake)) o.staging_dir = StagingDir("deliver-" + d.StateName());
  o.may_commit = std::move(may_commit);
  auto stream = delivery::DeliveryStream::Create(d, consumer, lake.get(), o);
  if (!stream.ok()) return stream.status();
  running.stream = std::move(*stream);
  running.stream->Start();
  std::lock_guard lock(streams_mu);
  streams[d.StateName()] = std::move(running);
  return Status::Ok();
}

void Pipeline::Impl::StopStream(const std::string& state_name, bool abandon) {
  RunningStream running;
  {
    std::lock_guard lock(streams_mu);
    auto it = streams.find(state_name);
    if (it == streams.end()) return;
    running = std::move(it->second);
    streams.erase(it);
  }
  if (abandon) {
    running.stream->Abandon();
    running.stream.reset();
    return;
  }
  Status st = running.stream->Stop();
  if (!st.ok())
    spdlog::error("delivery stream {}: final flush failed: {}", state_name, st.ToString());
  running.stream.reset();  // before its consumer
}

Status Pipeline::Impl::StartDelivery() {
  for (const auto& d : config.delivery_streams) {
    if (bus->Leases() == nullptr) {
      INLET_RETURN_IF_ERROR(StartStream(d));
      continue;
    }
    // Set once the assigner exists (before it starts): commits of a
    // partition stop as soon as its lease may have passed on.
    auto assigner = std::make_shared<cluster::PartitionAssigner*>(nullptr);
    cluster::AssignerCallbacks cb;
    cb.start = [this, d, assigner](uint32_t p) {
      delivery::DeliveryStreamConfig part = d;
      part.partition = p;
      return StartStream(std::move(part), [assigner, p] { return (*assigner)->HoldsLease(p); });
    };
    cb.stop = [this, d](uint32_t p) {
      delivery::DeliveryStreamConfig part = d;
      part.partition = p;
      StopStream(part.StateName());
    };
    cb.abandon = [this, d](uint32_t p) {
      delivery::DeliveryStreamConfig part = d;
      part.partition = p;
      StopStream(part.StateName(), /*abandon=*/true);
    };
    assigners.push_back(std::make_unique<cluster::PartitionAssigner>(
        bus->Leases(), "deliver." + d.name, bus->Partitions(d.subscription), options.worker_id,
        std::move(cb)));
    *assigner = assigners.back().get();
  }
  return Status::Ok();
}

Status Pipeline::Impl::StartProcessing() {
  if (bus->Leases() == nullptr) {
    process::ProcessConfig pc = config.process;
    if (!IsLocal(*lake)) {
      for (auto& p : pc.processors) p.staging_dir = StagingDir("process-" + p.StateName());
    }
    auto p = process::ProcessingService::Create(pc, config.tables, bus.get(), lake.get(), &metrics);
    if (!p.ok()) return p.status();
    processing = std::move(p).value();
    return processing->Start();
  }
  for (const auto& proc : config.process.processors) {
    auto assigner = std::make_shared<cluster::PartitionAssigner*>(nullptr);
    cluster::AssignerCallbacks cb;
    cb.start = [this, proc, assigner](uint32_t partition) -> Status {
      process::ProcessConfig pc;
      pc.processors.push_back(proc);
      auto& one = pc.processors.back();
      one.partition = partition;
      one.staging_dir = StagingDir("process-" + one.StateName());
      one.may_commit = [assigner, partition] { return (*assigner)->HoldsLease(partition); };
      // One worker per partition keeps its order; the role scales out by
      // partitions across processes instead.
      one.autoscale.min_workers = one.autoscale.max_workers = 1;
      auto p =
          process::ProcessingService::Create(pc, config.tables, bus.get(), lake.get(), &metrics);
      if (!p.ok()) return p.status();
      INLET_RETURN_IF_ERROR((*p)->Start());
      std::lock_guard lock(processing_mu);
      partitioned_processing[one.StateName()] = std::move(*p);
      return Status::Ok();
    };
    auto stop = [this, proc](uint32_t partition, bool abandon) {
      process::ProcessorConfig one = proc;
      one.partition = partition;
      std::unique_ptr<process::ProcessingService> service;
      {
        std::lock_guard lock(processing_mu);
        auto it = partitioned_processing.find(one.StateName());
        if (it == partitioned_processing.end()) return;
        service = std::move(it->second);
        partitioned_processing.erase(it);
      }
      if (abandon) {
        service->Abandon();
      } else {
        service->Stop();
      }
    };
    cb.stop = [stop](uint32_t p) { stop(p, false); };
    cb.abandon = [stop](uint32_t p) { stop(p, true); };
    assigners.push_back(std::make_unique<cluster::PartitionAssigner>(
        bus->Leases(), "process." + proc.name, bus->Partitions(proc.subscription),
        options.worker_id, std::move(cb)));
    *assigner = assigners.back().get();
  }
  return Status::Ok();
}

Pipeline::Pipeline(config::Config config, PipelineOptions options) : impl_(new Impl) {
  impl_->config = std::move(config);
  impl_->options = std::move(options);
  if (impl_->options.worker_id.empty()) impl_->options.worker_id = cluster::NewWorkerId();
}

Pipeline::~Pipeline() { Stop(); }

const config::Config& Pipeline::config() const { return impl_->config; }

uint16_t Pipeline::port() const { return impl_->server ? impl_->server->port() : 0; }

Status Pipeline::Start() {
  auto& c = impl_->config;
  auto bus = OpenBus(c);
  if (!bus.ok()) return bus.status();
  impl_->bus = std::move(bus).value();

  std::vector<http::ApiKey> keys;
  for (const auto& k : c.api_keys) {
    keys.push_back(http::ApiKey{k.id, k.sha256_hex, k.publish_topics, k.consume_subscriptions,
                                k.query, k.admin});
  }
  impl_->keys = std::make_unique<http::ApiKeys>(std::move(keys), c.server.auth);

  http::ServerOptions so;
  so.host = impl_->options.listen_host.value_or(c.server.host);
  so.port = impl_->options.listen_port.value_or(c.server.port);
  so.threads = c.server.io_threads;
  so.max_body_bytes = c.limits.max_request_bytes;
  so.request_timeout = c.server.request_timeout;
  so.idle_timeout = c.server.idle_timeout;
  so.max_connections = c.server.max_connections;
  impl_->server = std::make_unique<http::HttpServer>(so);
  if (impl_->Has(kRoleIngest)) {
    impl_->ingest = std::make_unique<ingest::IngestService>(impl_->bus.get(), c, impl_->keys.get(),
                                                            &impl_->metrics);
    impl_->ingest->RegisterRoutes(impl_->server.get());
  }
  web::AddBusCollectors(impl_->bus.get(), &impl_->metrics);

  const bool writes_lake = (impl_->Has(kRoleDeliver) && !c.delivery_streams.empty()) ||
                           (impl_->Has(kRoleProcess) && !c.process.processors.empty());
  if (writes_lake || impl_->Has(kRoleServe)) {
    auto store = OpenLake(c);
    if (!store.ok()) return store.status();
    impl_->lake = std::move(store).value();
  }
  if (impl_->Has(kRoleDeliver)) {
    INLET_RETURN_IF_ERROR(impl_->StartDelivery());
    impl_->AddDeliveryCollectors();
  }
  if (impl_->Has(kRoleProcess) && !c.process.processors.empty()) {
    INLET_RETURN_IF_ERROR(impl_->StartProcessing());
  }
  for (auto& a : impl_->assigners) a->Start();
  if (impl_->Has(kRoleServe) && !c.notify.targets.empty()) {
    auto n = notify::NotificationService::Create(c.notify, impl_->bus.get(), &impl_->metrics);
    if (!n.ok()) return n.status();
    impl_->notify = std::move(n).value();
    impl_->notify->Start();
  }
  web::RegisterStatusRoutes(impl_->server.get(), impl_->bus.get(), &impl_->metrics);
  if (impl_->Has(kRoleServe)) {
    // The lake on S3 is read through a local mirror of its data files.
    if (!IsLocal(*impl_->lake)) {
      impl_->mirror = std::make_unique<lake::LakeMirror>(impl_->lake.get(), c.storage.lake_dir);
      auto first = impl_->mirror->SyncOnce();
      if (!first.ok()) return first.status();
      impl_->mirror->Start(c.storage.s3.mirror_interval);
    }
    // Web dashboard: the UI at / and /ui/*, saved dashboards under <data_dir>/dashboards.
    web::RegisterDashboardRoutes(impl_->server.get(), impl_->keys.get(),
                                 c.storage.data_dir / "dashboards");
    // The catalog and SQL over the lake (tables of the config, scheduled crawlers).
    auto lake_service =
        lake::LakeService::Open(c.lake, c.storage.lake_dir, LakeTablesFromConfig(c));
    if (!lake_service.ok()) return lake_service.status();
    impl_->lake_service = std::move(lake_service).value();
    INLET_RETURN_IF_ERROR(impl_->lake_service->Start());
    lake::RegisterLakeRoutes(impl_->server.get(), impl_->lake_service.get(), impl_->keys.get());
  }
  INLET_RETURN_IF_ERROR(impl_->server->Start());
  spdlog::info("inlet {} listening on http://{}:{} (auth {}, bus {}, lake {})",
               RoleNames(impl_->options.roles), so.host, impl_->server->port(),
               c.server.auth ? "on" : "off",
               c.bus.type == config::BusSettings::Type::kJetStream ? "jetstream" : "embedded",
               impl_->lake ? impl_->lake->Describe() : "-");
  return Status::Ok();
}

PipelineStats Pipeline::Stats() const {
  PipelineStats st;
  if (!impl_->bus) return st;
  for (const auto& name : impl_->bus->SubscriptionNames()) {
    st.backlog[name] = impl_->bus->FindSubscription(name)->Stats().backlog;
  }
  for (const auto& t : impl_->config.topics) {
    const std::string l = "topic=\"" + t.bus.name + "\"";
    st.events_ingested += impl_->metrics.GetCounter("inlet_ingest_events_total", "", l).value();
    st.bytes_ingested += impl_->metrics.GetCounter("inlet_ingest_bytes_total", "", l).value();
  }
  impl_->metrics.ForEachCounter(
      "inlet_ingest_rejected_total", [&](const std::string& labels, uint64_t v) {
        const size_t p = labels.find("reason=\"");
        if (p != std::string::npos && v > 0) {
          st.rejected_at_ingest[labels.substr(p + 8, labels.find('"', p + 8) - p - 8)] += v;
        }
      });
  std::lock_guard lock(impl_->streams_mu);
  for (const auto& [name, running] : impl_->streams) {
    const delivery::DeliveryMetrics m = running.stream->Metrics();
    st.lake_files += m.files_written;
    st.lake_bytes += m.bytes_written;
    st.lake_rows += m.rows_written;
    st.lake_error_rows += m.error_rows_written;
  }
  return st;
}

void Pipeline::Stop() {
  if (impl_->server) impl_->server->Stop();
  if (impl_->notify) impl_->notify->Stop();
  // Stopping an assigner stops its partitions and releases their leases.
  for (auto& a : impl_->assigners) a->Stop();
  impl_->assigners.clear();
  if (impl_->processing) impl_->processing->Stop();
  if (impl_->mirror) impl_->mirror->Stop();
  if (impl_->lake_service) impl_->lake_service->Stop();
  std::vector<std::string> names;
  {
    std::lock_guard lock(impl_->streams_mu);
    for (const auto& [name, running] : impl_->streams) names.push_back(name);
  }
  for (const auto& name : names) impl_->StopStream(name);
  if (impl_->bus) impl_->bus->Close();
  impl_->ingest.reset();
  impl_->server.reset();
  impl_->notify.reset();
  impl_->processing.reset();
  impl_->partitioned_processing.clear();
  impl_->lake_service.reset();
  impl_->mirror.reset();
  impl_->bus.reset();
}

std::string RoleNames(unsigned roles) {
  if (roles == kAllRoles) return "(all roles)";
  std::string out;
  for (auto [bit, name] : {std::pair{kRoleIngest, "ingest"}, std::pair{kRoleDeliver, "deliver"},
                           std::pair{kRoleProcess, "process"}, std::pair{kRoleServe, "serve"}}) {
    if (roles & bit) out += out.empty() ? name : std::string(",") + name;
  }
  return out;
}

Result<unsigned> ParseRoles(std::string_view text) {
  unsigned roles = 0;
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    if (comma == std::string_view::npos) comma = text.size();
    const std::string_view r = text.substr(start, comma - start);
    if (r == "ingest")
      roles |= kRoleIngest;
    else if (r == "deliver")
      roles |= kRoleDeliver;
    else if (r == "process")
      roles |= kRoleProcess;
    else if (r == "serve")
      roles |= kRoleServe;
    else if (r == "all")
      roles |= kAllRoles;
    else
      return Status::InvalidArgument("unknown role '" + std::string(r) +
                                     "' (use ingest, deliver, process, serve or all)");
    start = comma + 1;
  }
  return roles;
}

}  // namespace inlet::cli
