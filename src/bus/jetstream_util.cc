// Small helpers of the JetStream bus: error mapping, names, header escaping.
#include <spdlog/spdlog.h>

#include <cctype>
#include <charconv>
#include <cstring>
#include <thread>

#include "bus/jetstream_internal.h"

namespace inlet::bus::js {

Status NatsError(natsStatus s, int jerr, const std::string& what) {
  std::string text = natsStatus_GetText(s);
  // The thread's last error has the details, if it is about this failure.
  natsStatus last_status = NATS_OK;
  const char* last = nats_GetLastError(&last_status);
  if (last != nullptr && *last != '\0' && last_status == s) text = last;
  std::string msg = what + ": " + text;
  if (jerr != 0) msg += " (JetStream error " + std::to_string(static_cast<int>(jerr)) + ")";
  if (jerr == JSInsufficientResourcesErr || jerr == JSStreamStoreFailedErr)
    return Status::ResourceExhausted(msg);
  if (jerr == JSStreamNotFoundErr || jerr == JSConsumerNotFoundErr || jerr == JSNoMessageFoundErr)
    return Status::NotFound(msg);
  // The cluster is (re)forming: no meta leader or not enough peers yet.
  if (jerr == JSClusterNoPeersErr || jerr == JSClusterNotAvailErr || jerr == JSClusterNotLeaderErr)
    return Status::Unavailable(msg);
  // Any other refusal by the JetStream API is about what we asked for.
  if (jerr != 0) return Status::InvalidArgument(msg);
  switch (s) {
    case NATS_TIMEOUT:
      return Status(StatusCode::kTimeout, msg);
    case NATS_NOT_FOUND:
      return Status::NotFound(msg);
    case NATS_INVALID_ARG:
    case NATS_INVALID_SUBJECT:
      return Status::InvalidArgument(msg);
    case NATS_NOT_PERMITTED:
      return Status(StatusCode::kPermissionDenied, msg);
    default:
      return Status::Unavailable(msg);
  }
}

void DrainAndDestroy(natsSubscription* sub) {
  if (sub == nullptr) return;
  if (natsSubscription_Drain(sub) == NATS_OK) {
    natsSubscription_WaitForDrainCompletion(sub, 5000);
  } else {
    natsSubscription_Unsubscribe(sub);
  }
  natsSubscription_Destroy(sub);
}

std::string Sanitize(std::string_view name) {
  std::string out;
  out.reserve(name.size());
  for (char c : name) {
    const bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-';
    out += ok ? c : '_';
  }
  return out;
}

std::string Upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::string EscapeHeader(std::string_view value) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(value.size());
  for (size_t i = 0; i < value.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(value[i]);
    const bool outer_blank = (c == ' ' || c == '\t') && (i == 0 || i + 1 == value.size());
    if (c == '%' || c < 0x20 || c == 0x7f || outer_blank) {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

std::string UnescapeHeader(std::string_view value) {
  if (value.find('%') == std::string_view::npos) return std::string(value);
  std::string out;
  out.reserve(value.size());
  for (size_t i = 0; i < value.size(); ++i) {
    if (value[i] == '%' && i + 2 < value.size()) {
      unsigned v = 0;
      auto r = std::from_chars(value.data() + i + 1, value.data() + i + 3, v, 16);
      if (r.ec == std::errc() && r.ptr == value.data() + i + 3) {
        out += static_cast<char>(v);
        i += 2;
        continue;
      }
    }
    out += value[i];
  }
  return out;
}

Message MessageFromNats(natsMsg* msg, uint64_t seq) {
  Message m;
  m.seq = seq;
  const char* v = nullptr;
  if (natsMsgHeader_Get(msg, kHeaderArrival, &v) == NATS_OK && v != nullptr) {
    std::from_chars(v, v + std::strlen(v), m.arrival_us);
  }
  if (natsMsgHeader_Get(msg, kHeaderKeyId, &v) == NATS_OK && v != nullptr)
    m.key_id = UnescapeHeader(v);
  if (natsMsgHeader_Get(msg, kHeaderAttributes, &v) == NATS_OK && v != nullptr)
    m.attributes = UnescapeHeader(v);
  const char* data = natsMsg_GetData(msg);
  const int len = natsMsg_GetDataLength(msg);
  if (data != nullptr && len > 0) m.payload.assign(data, static_cast<size_t>(len));
  return m;
}

Status RetryWhileUnavailable(const JetStreamConfig& config, const std::string& what,
                             const std::function<Status()>& step) {
  const auto until =
      std::chrono::steady_clock::now() + std::max(config.api_timeout * 3, Millis(15000));
  bool warned = false;
  for (;;) {
    Status st = step();
    const bool transient =
        st.code() == StatusCode::kUnavailable || st.code() == StatusCode::kTimeout;
    if (!transient || std::chrono::steady_clock::now() >= until) return st;
    if (!warned) {
      spdlog::warn("JetStream: {}: {}; retrying", what, st.message());
      warned = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
}

}  // namespace inlet::bus::js
