#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>

#include "bus/jetstream_internal.h"

namespace inlet::bus::js {

namespace {

// KV keys: tokens of A-Z a-z 0-9 _ - / = separated by single dots, no dot at
// either end.
Status CheckKey(std::string_view key) {
  bool ok = !key.empty() && key.front() != '.' && key.back() != '.';
  for (size_t i = 0; ok && i < key.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(key[i]);
    if (c == '.') {
      ok = key[i - 1] != '.';
    } else {
      ok = std::isalnum(c) || c == '_' || c == '-' || c == '/' || c == '=';
    }
  }
  if (ok) return Status::Ok();
  return Status::InvalidArgument("lease key '" + std::string(key.substr(0, 200)) +
                                 "' is not a valid key: use tokens of A-Z a-z 0-9 _ - / = "
                                 "separated by single dots");
}

}  // namespace

Result<std::unique_ptr<JetStreamLeases>> JetStreamLeases::Open(JsContext* ctx) {
  std::unique_ptr<JetStreamLeases> l(new JetStreamLeases(ctx));
  const std::string bucket = Upper(Sanitize(ctx->config.stream_prefix)) + "_leases";
  const std::string stream = "KV_" + bucket;
  const std::string subjects_text = "$KV." + bucket + ".>";
  const char* subjects[] = {subjects_text.c_str()};
  // The bucket's stream is created here rather than by js_CreateKeyValue so
  // that its MaxAge (the lease TTL) is exact whatever unit the client
  // library version uses; it is the stream layout a KV bucket has.
  jsStreamConfig cfg;
  jsStreamConfig_Init(&cfg);
  cfg.Name = stream.c_str();
  cfg.Subjects = subjects;
  cfg.SubjectsLen = 1;
  cfg.MaxMsgsPerSubject = 1;
  cfg.MaxAge = static_cast<int64_t>(ctx->config.lease_ttl.count()) * kNanosPerMilli;
  cfg.MaxBytes = -1;
  cfg.MaxMsgSize = -1;
  cfg.Storage = js_FileStorage;
  cfg.Replicas = ctx->config.replicas;
  cfg.AllowRollup = true;
  cfg.DenyDelete = true;
  cfg.AllowDirect = true;
  cfg.Discard = js_DiscardNew;
  cfg.Duplicates = std::min<int64_t>(cfg.MaxAge, 120'000 * kNanosPerMilli);
  jsStreamInfo* si = nullptr;
  jsErrCode jerr = static_cast<jsErrCode>(0);
  natsStatus s = js_GetStreamInfo(&si, ctx->js, stream.c_str(), &ctx->api_options, &jerr);
  if (s == NATS_NOT_FOUND || jerr == JSStreamNotFoundErr) {
    jerr = static_cast<jsErrCode>(0);
    s = js_AddStream(&si, ctx->js, &cfg, &ctx->api_options, &jerr);
    if (s != NATS_OK) return NatsError(s, jerr, "cannot create lease bucket " + bucket);
  } else if (s != NATS_OK) {
    return NatsError(s, jerr, "cannot read lease bucket " + bucket);
  } else if (si->Config->MaxAge != cfg.MaxAge) {
    jsStreamInfo_Destroy(si);
    si = nullptr;
    jerr = static_cast<jsErrCode>(0);
    s = js_UpdateStream(&si, ctx->js, &cfg, &ctx->api_options, &jerr);
    if (s != NATS_OK) {
      Status st = NatsError(s, jerr, "cannot change the TTL of lease bucket " + bucket);
      spdlog::error("JetStream: {}", st.message());
    }
  }
  jsStreamInfo_Destroy(si);
  s = js_KeyValue(&l->kv_, ctx->js, bucket.c_str());
  if (s != NATS_OK) return NatsError(s, 0, "cannot open lease bucket " + bucket);
  return l;
}

JetStreamLeases::~JetStreamLeases() { kvStore_Destroy(kv_); }

Status JetStreamLeases::Probe(const std::string& key) {
  kvEntry* e = nullptr;
  natsStatus s = kvStore_Get(&e, kv_, key.c_str());
  kvEntry_Destroy(e);
  if (s == NATS_OK) return Status::Ok();
  if (s == NATS_NOT_FOUND) return Status::NotFound("lease " + key + " is absent or expired");
  return NatsError(s, 0, "cannot read lease " + key);
}

Result<uint64_t> JetStreamLeases::Create(std::string_view key_view, std::string_view value) {
  INLET_RETURN_IF_ERROR(CheckKey(key_view));
  const std::string key(key_view);
  uint64_t rev = 0;
  natsStatus s =
      kvStore_Create(&rev, kv_, key.c_str(), value.data(), static_cast<int>(value.size()));
  if (s == NATS_OK) return rev;
  Status error = NatsError(s, 0, "cannot create lease " + key);
  Status probe = Probe(key);
  if (probe.ok()) return Status(StatusCode::kAlreadyExists, "lease " + key + " is held");
  return error;
}

Result<uint64_t> JetStreamLeases::Update(std::string_view key_view, std::string_view value,
                                         uint64_t revision) {
  INLET_RETURN_IF_ERROR(CheckKey(key_view));
  const std::string key(key_view);
  uint64_t rev = 0;
  natsStatus s = kvStore_Update(&rev, kv_, key.c_str(), value.data(),
                                static_cast<int>(value.size()), revision);
  if (s == NATS_OK) return rev;
  Status error = NatsError(s, 0, "cannot update lease " + key);
  Status probe = Probe(key);
  if (probe.ok()) {
    return Status(StatusCode::kAlreadyExists,
                  "lease " + key + " was written since revision " + std::to_string(revision));
  }
  if (probe.code() == StatusCode::kNotFound) return probe;
  return error;
}

Status JetStreamLeases::Delete(std::string_view key_view) {
  INLET_RETURN_IF_ERROR(CheckKey(key_view));
  const std::string key(key_view);
  natsStatus s = kvStore_Delete(kv_, key.c_str());
  if (s == NATS_OK || s == NATS_NOT_FOUND) return Status::Ok();
  return NatsError(s, 0, "cannot delete lease " + key);
}

Result<std::vector<std::pair<std::string, std::string>>> JetStreamLeases::List(
    std::string_view prefix) {
  std::vector<std::pair<std::string, std::string>> out;
  kvKeysList keys;
  natsStatus s = kvStore_Keys(&keys, kv_, nullptr);
  if (s == NATS_NOT_FOUND) return out;
  if (s != NATS_OK) return NatsError(s, 0, "cannot list leases");
  for (int i = 0; i < keys.Count; ++i) {
    std::string_view k(keys.Keys[i]);
    if (k.substr(0, prefix.size()) != prefix) continue;
    kvEntry* e = nullptr;
    natsStatus g = kvStore_Get(&e, kv_, keys.Keys[i]);
    if (g == NATS_OK) {
      const char* v = static_cast<const char*>(kvEntry_Value(e));
      out.emplace_back(std::string(k), std::string(v == nullptr ? "" : v,
                                                   static_cast<size_t>(kvEntry_ValueLen(e))));
    }
    kvEntry_Destroy(e);
    if (g != NATS_OK && g != NATS_NOT_FOUND) {
      kvKeysList_Destroy(&keys);
      return NatsError(g, 0, "cannot read lease " + std::string(k));
    }
  }
  kvKeysList_Destroy(&keys);
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace inlet::bus::js
