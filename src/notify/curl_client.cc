#include "notify/curl_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <cstring>
#include <mutex>

namespace inlet::notify {
namespace {

constexpr size_t kMaxReplyBytes = 4096;

void GlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

size_t CollectReply(char* data, size_t size, size_t n, void* user) {
  auto* out = static_cast<std::string*>(user);
  size_t bytes = size * n;
  if (out->size() < kMaxReplyBytes)
    out->append(data, std::min(bytes, kMaxReplyBytes - out->size()));
  return bytes;
}

Status CurlError(CURLcode code, const char* errbuf, const std::string& what) {
  std::string reason = errbuf[0] ? errbuf : curl_easy_strerror(code);
  if (code == CURLE_OPERATION_TIMEDOUT) return Status(StatusCode::kTimeout, what + ": " + reason);
  return Status::Unavailable(what + ": " + reason);
}

struct Upload {
  const std::string* data;
  size_t offset = 0;
};

size_t ReadUpload(char* buffer, size_t size, size_t n, void* user) {
  auto* up = static_cast<Upload*>(user);
  size_t len = std::min(size * n, up->data->size() - up->offset);
  std::memcpy(buffer, up->data->data() + up->offset, len);
  up->offset += len;
  return len;
}

}  // namespace

HttpPoster::HttpPoster() {
  GlobalInit();
  curl_ = curl_easy_init();
}

HttpPoster::~HttpPoster() { curl_easy_cleanup(static_cast<CURL*>(curl_)); }

Result<HttpReply> HttpPoster::Post(const std::string& url, const std::string& body,
                                   const std::vector<std::pair<std::string, std::string>>& headers,
                                   Millis timeout, Millis connect_timeout) {
  CURL* c = static_cast<CURL*>(curl_);
  if (c == nullptr) return Status::Internal("curl_easy_init failed");
  curl_easy_reset(c);
  char errbuf[CURL_ERROR_SIZE] = {0};
  HttpReply reply;
  curl_slist* list = nullptr;
  for (const auto& [k, v] : headers) list = curl_slist_append(list, (k + ": " + v).c_str());
  list = curl_slist_append(list, "Expect:");  // no 100-continue round trip
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_POST, 1L);
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(connect_timeout.count()));
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_USERAGENT, "inlet-notify/1");
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, CollectReply);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &reply.body);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  CURLcode code = curl_easy_perform(c);
  curl_slist_free_all(list);
  if (code != CURLE_OK) return CurlError(code, errbuf, "POST " + url);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &reply.status);
  return reply;
}

SmtpClient::SmtpClient(SmtpOptions options) : options_(std::move(options)) {
  GlobalInit();
  curl_ = curl_easy_init();
}

SmtpClient::~SmtpClient() { curl_easy_cleanup(static_cast<CURL*>(curl_)); }

Status SmtpClient::Send(const std::string& from, const std::vector<std::string>& to,
                        const std::string& message) {
  CURL* c = static_cast<CURL*>(curl_);
  if (c == nullptr) return Status::Internal("curl_easy_init failed");
  curl_easy_reset(c);
  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_slist* rcpt = nullptr;
  for (const auto& address : to) rcpt = curl_slist_append(rcpt, ("<" + address + ">").c_str());
  Upload upload{&message, 0};
  curl_easy_setopt(c, CURLOPT_URL, options_.url.c_str());
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
  curl_easy_setopt(c, CURLOPT_MAIL_FROM, ("<" + from + ">").c_str());
  curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpt);
  curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(c, CURLOPT_READFUNCTION, ReadUpload);
  curl_easy_setopt(c, CURLOPT_READDATA, &upload);
  curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(message.size()));
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(options_.timeout.count()));
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(std::min<int64_t>(options_.timeout.count(), 10000)));
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  if (options_.starttls) curl_easy_setopt(c, CURLOPT_USE_SSL, static_cast<long>(CURLUSESSL_ALL));
  if (options_.insecure_skip_verify) {
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  if (!options_.username.empty()) {
    curl_easy_setopt(c, CURLOPT_USERNAME, options_.username.c_str());
    curl_easy_setopt(c, CURLOPT_PASSWORD, options_.password.c_str());
  }
  CURLcode code = curl_easy_perform(c);
  curl_slist_free_all(rcpt);
  if (code != CURLE_OK) return CurlError(code, errbuf, "SMTP " + options_.url);
  return Status::Ok();
}

}  // namespace inlet::notify
