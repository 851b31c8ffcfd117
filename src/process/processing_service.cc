#include "process/processing_service.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "common/thread_name.h"
#include "process/autoscaler.h"
#include "process/event_processor.h"

namespace inlet::process {
namespace {

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

constexpr std::chrono::milliseconds kRetryDelay{1000};
constexpr std::chrono::milliseconds kControlTick{100};

}  // namespace

struct ProcessingService::Pool {
  struct WorkerThread {
    std::atomic<bool> stop{false};
    std::thread thread;
  };
  ProcessorConfig config;
  std::unique_ptr<EventProcessor> processor;
  std::unique_ptr<bus::Consumer> owned_consumer;  // the partition consumer, when partitioned
  bus::Consumer* consumer = nullptr;
  std::unique_ptr<Autoscaler> autoscaler;
  std::vector<std::unique_ptr<WorkerThread>> workers;  // running, oldest first
  std::vector<std::unique_ptr<WorkerThread>> retired;  // stopping, joined by the control loop
  int64_t last_eval_ms = 0;
  std::atomic<uint64_t> backlog{0}, scale_outs{0}, scale_ins{0}, batches{0};
  Gauge* workers_gauge = nullptr;
  Gauge* backlog_gauge = nullptr;
  Gauge* desired_gauge = nullptr;
  Counter* scale_out_counter = nullptr;
  Counter* scale_in_counter = nullptr;
  Counter* failures = nullptr;

  void RunWorker(WorkerThread* self) {
    auto worker = processor->NewWorker();
    if (!worker.ok()) {
      spdlog::error("processor {}: cannot start a worker: {}", config.name,
                    worker.status().ToString());
      return;
    }
    bus::FetchOptions fetch;
    fetch.max_messages = config.fetch_max_messages;
    fetch.wait = config.fetch_wait;
    std::vector<const bus::Message*> messages;
    std::vector<bus::Receipt> receipts;
    std::vector<bus::Delivery> held;
    while (!self->stop.load()) {
      auto batch = consumer->Fetch(fetch);
      if (!batch.ok()) {
        spdlog::warn("processor {}: fetch failed: {}", config.name, batch.status().ToString());
        std::this_thread::sleep_for(kRetryDelay);
        continue;
      }
      if (batch->empty()) continue;
      held = std::move(*batch);
      // Fill the batch for up to batch_linger: a batch is one commit and one
      // curated events file, so parallel workers taking what is there one
      // ingest request at a time would make many small ones.
      const auto linger_until = std::chrono::steady_clock::now() + config.batch_linger;
      while (held.size() < config.fetch_max_messages && !self->stop.load()) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            linger_until - std::chrono::steady_clock::now());
        if (left.count() <= 0) break;
        bus::FetchOptions more = fetch;
        more.max_messages = config.fetch_max_messages - held.size();
        more.wait = std::min(left, config.fetch_wait);
        auto next = consumer->Fetch(more);
        if (!next.ok()) break;  // process what is held; the next fetch reports the error
        if (next->empty()) continue;
        for (auto& d : *next) held.push_back(std::move(d));
      }
      messages.clear();
      receipts.clear();
      for (const auto& d : held) {
        messages.push_back(&d.message);
        receipts.push_back(d.receipt);
      }
      auto r = processor->ProcessBatch(worker->get(), messages);
      // A partition is read in order by one worker: a failed batch is retried
      // in place, never returned behind newer messages.
      while (!r.ok() && config.partition && !self->stop.load()) {
        failures->Inc();
        spdlog::error("processor {} partition {}: batch of {} failed, retried in {} ms: {}",
                      config.name, *config.partition, messages.size(), kRetryDelay.count(),
                      r.status().ToString());
        std::this_thread::sleep_for(kRetryDelay);
        r = processor->ProcessBatch(worker->get(), messages);
      }
      if (!r.ok() && config.partition) break;  // stopping: the next owner reads it again
      if (!r.ok()) {
        failures->Inc();
        spdlog::error("processor {}: batch of {} failed, retried after {} ms: {}", config.name,
                      messages.size(), kRetryDelay.count(), r.status().ToString());
        (void)consumer->Nack(receipts, kRetryDelay);
        continue;
      }
      Status st = consumer->Ack(receipts);
      if (!st.ok()) spdlog::warn("processor {}: ack failed: {}", config.name, st.ToString());
      batches.fetch_add(1);
    }
  }

  void Resize(uint32_t n) {
    while (workers.size() < n) {
      auto w = std::make_unique<WorkerThread>();
      WorkerThread* raw = w.get();
      w->thread = std::thread([this, raw, n = workers.size()] {
        SetThreadName("proc-" + std::to_string(n) + ":" + config.name);
        RunWorker(raw);
      });
      workers.push_back(std::move(w));
    }
    while (workers.size() > n) {
      workers.back()->stop.store(true);
      retired.push_back(std::move(workers.back()));
      workers.pop_back();
    }
    workers_gauge->Set(static_cast<double>(workers.size()));
    // Join the retired workers that finished their batch.
    for (auto it = retired.begin(); it != retired.end();) {
      (*it)->thread.join();
      it = retired.erase(it);
    }
  }
};

struct ProcessingService::Control {
  std::mutex mu;
  std::condition_variable cv;
  bool stop = false;
  bool started = false;
  std::thread thread;
  Gauge dummy_gauge;
  Counter dummy_counter;
};

ProcessingService::~ProcessingService() { Stop(); }

Result<std::unique_ptr<ProcessingService>> ProcessingService::Create(
    const ProcessConfig& config, const std::map<std::string, schema::TableSchema>& tables,
    bus::Bus* bus, storage::ObjectStore* lake, MetricsRegistry* metrics) {
  auto service = std::unique_ptr<ProcessingService>(new ProcessingService());
  service->metrics_ = metrics;
  service->control_ = std::make_unique<Control>();
  for (const ProcessorConfig& pc : config.processors) {
    auto pool = std::make_unique<Pool>();
    pool->config = pc;
    auto table = tables.find(pc.table);
    if (table == tables.end()) {
      return Status::InvalidArgument("processor '" + pc.name + "': no table '" + pc.table + "'");
    }
    if (pc.partition) {
      auto owned = bus->OpenPartition(pc.subscription, *pc.partition);
      if (!owned.ok())
        return Status(owned.status().code(),
                      "processor '" + pc.name + "': " + owned.status().message());
      pool->owned_consumer = std::move(*owned);
      pool->consumer = pool->owned_consumer.get();
    } else {
      pool->consumer = bus->FindSubscription(pc.subscription);
    }
    if (!pool->consumer) {
      return Status::InvalidArgument("processor '" + pc.name + "': no subscription '" +
                                     pc.subscription + "'");
    }
    bus::Topic* errors_topic = nullptr;
    if (!pc.errors_topic.empty()) {
      errors_topic = bus->FindTopic(pc.errors_topic);
      if (!errors_topic) {
        return Status::InvalidArgument("processor '" + pc.name + "': no topic '" + pc.errors_topic +
                                       "'");
      }
    }
    auto p = EventProcessor::Create(pc, table->second, lake, errors_topic, metrics);
    if (!p.ok()) return p.status();
    pool->processor = std::move(*p);
    if (pc.partition) {
      // The partition's position is the processor's own last commit.
      INLET_RETURN_IF_ERROR(pool->consumer->StartAfter(pool->processor->ResumeAfter()));
    }
    pool->autoscaler = std::make_unique<Autoscaler>(pc.autoscale);
    Control& c = *service->control_;
    if (metrics) {
      std::string l = "processor=\"" + pc.name + "\"";
      if (pc.partition) l += ",partition=\"" + std::to_string(*pc.partition) + "\"";
      pool->workers_gauge = &metrics->GetGauge("inlet_process_workers", "Workers running", l);
      pool->desired_gauge = &metrics->GetGauge("inlet_process_desired_workers",
                                               "Workers wanted by the autoscaler", l);
      pool->backlog_gauge = &metrics->GetGauge("inlet_process_backlog",
                                               "Unacknowledged messages of the subscription", l);
      pool->scale_out_counter = &metrics->GetCounter("inlet_process_scaling_total",
                                                     "Scaling decisions", l + ",direction=\"out\"");
      pool->scale_in_counter = &metrics->GetCounter("inlet_process_scaling_total",
                                                    "Scaling decisions", l + ",direction=\"in\"");
      pool->failures =
          &metrics->GetCounter("inlet_process_batch_failures_total",
                               "Batches that failed and were returned to the queue", l);
    } else {
      pool->workers_gauge = pool->desired_gauge = pool->backlog_gauge = &c.dummy_gauge;
      pool->scale_out_counter = pool->scale_in_counter = pool->failures = &c.dummy_counter;
    }
    service->pools_.push_back(std::move(pool));
  }
  return service;
}

Status ProcessingService::Start() {
  std::lock_guard lock(control_->mu);
  if (control_->started) return Status::Ok();
  control_->started = true;
  for (auto& pool : pools_) {
    pool->Resize(pool->config.autoscale.min_workers);
    spdlog::info("processor {}: started {} worker(s) on subscription {}", pool->config.name,
                 pool->workers.size(), pool->config.subscription);
  }
  control_->thread = std::thread([this] {
    SetThreadName("proc-control");
    ControlLoop();
  });
  return Status::Ok();
}

void ProcessingService::ControlLoop() {
  std::unique_lock lock(control_->mu);
  while (!control_->stop) {
    control_->cv.wait_for(lock, kControlTick, [&] { return control_->stop; });
    if (control_->stop) break;
    const int64_t now = NowMs();
    for (auto& pool : pools_) {
      auto emitted = pool->processor->EmitReady(false);
      if (!emitted.ok())
        spdlog::error("processor {}: writing windows: {}", pool->config.name,
                      emitted.status().ToString());
      if (now - pool->last_eval_ms < pool->config.autoscale.evaluation_interval.count()) continue;
      pool->last_eval_ms = now;
      const uint64_t backlog = pool->consumer->Stats().backlog;
      pool->backlog.store(backlog);
      pool->backlog_gauge->Set(static_cast<double>(backlog));
      const auto current = static_cast<uint32_t>(pool->workers.size());
      ScalingDecision d = pool->autoscaler->Evaluate(now, backlog, current);
      pool->desired_gauge->Set(d.desired);
      if (d.direction == 0) continue;
      spdlog::info("processor {}: {}", pool->config.name, d.reason);
      if (d.direction > 0) {
        pool->scale_outs.fetch_add(1);
        pool->scale_out_counter->Inc();
      } else {
        pool->scale_ins.fetch_add(1);
        pool->scale_in_counter->Inc();
      }
      pool->Resize(d.desired);
    }
  }
}

void ProcessingService::Stop() { Halt(true); }

void ProcessingService::Abandon() { Halt(false); }

void ProcessingService::Halt(bool emit_windows) {
  {
    std::lock_guard lock(control_->mu);
    if (!control_->started || control_->stop) return;
    control_->stop = true;
  }
  control_->cv.notify_all();
  if (control_->thread.joinable()) control_->thread.join();
  for (auto& pool : pools_) {
    pool->Resize(0);
    if (!emit_windows) {
      spdlog::info("processor {}: abandoned", pool->config.name);
      continue;
    }
    auto emitted = pool->processor->EmitReady(false);
    if (!emitted.ok())
      spdlog::error("processor {}: writing windows: {}", pool->config.name,
                    emitted.status().ToString());
    spdlog::info("processor {}: stopped", pool->config.name);
  }
}

std::vector<ProcessorStats> ProcessingService::Stats() const {
  std::vector<ProcessorStats> out;
  for (const auto& pool : pools_) {
    ProcessorStats s;
    s.name = pool->config.name;
    s.workers = static_cast<uint32_t>(pool->workers_gauge->value());
    s.backlog = pool->backlog.load();
    s.scale_outs = pool->scale_outs.load();
    s.scale_ins = pool->scale_ins.load();
    s.batches = pool->batches.load();
    out.push_back(s);
  }
  return out;
}

EventProcessor* ProcessingService::processor(const std::string& name) {
  for (auto& pool : pools_) {
    if (pool->config.name == name) return pool->processor.get();
  }
  return nullptr;
}

}  // namespace inlet::process
