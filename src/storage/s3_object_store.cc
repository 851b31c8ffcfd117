#include "storage/s3_object_store.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <thread>

#include "storage/s3_xml.h"
#include "storage/sigv4.h"

namespace inlet::storage {

namespace fs = std::filesystem;

namespace {

constexpr uint64_t kMinPartSize = 5ull << 20;  // S3's minimum for all parts but the last
constexpr uint64_t kMaxParts = 10000;          // S3's maximum parts per upload
constexpr size_t kIdleHandles = 8;

void GlobalInit() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

std::string Trim(std::string_view s) {
  size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) return "";
  size_t e = s.find_last_not_of(" \t\r\n");
  return std::string(s.substr(b, e - b + 1));
}

std::string LowerAscii(std::string s) {
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return s;
}

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

struct HttpRequest {
  std::string op;      // for messages: "PUT", "GET", "LIST", "UploadPart", ...
  std::string method;  // "GET", "PUT", "POST", "DELETE", "HEAD"
  std::string key;     // full key (store prefix included); "" for the bucket itself
  sigv4::Params query;
  std::string_view body;
};

struct HttpResponse {
  long status = 0;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // names lowercase
  int attempts = 0;

  std::string Header(std::string_view name) const {
    for (const auto& [n, v] : headers) {
      if (n == name) return v;
    }
    return "";
  }
};

size_t OnBody(char* data, size_t size, size_t n, void* user) {
  static_cast<std::string*>(user)->append(data, size * n);
  return size * n;
}

size_t OnHeader(char* data, size_t size, size_t n, void* user) {
  auto* headers = static_cast<std::vector<std::pair<std::string, std::string>>*>(user);
  std::string_view line(data, size * n);
  if (line.starts_with("HTTP/")) {
    headers->clear();  // a new response (after "100 Continue" or a retry)
  } else if (size_t colon = line.find(':'); colon != std::string_view::npos) {
    headers->emplace_back(LowerAscii(Trim(line.substr(0, colon))), Trim(line.substr(colon + 1)));
  }
  return size * n;
}

struct UploadCursor {
  std::string_view data;
  size_t offset = 0;
};

size_t OnRead(char* buffer, size_t size, size_t n, void* user) {
  auto* up = static_cast<UploadCursor*>(user);
  size_t len = std::min(size * n, up->data.size() - up->offset);
  std::memcpy(buffer, up->data.data() + up->offset, len);
  up->offset += len;
  return len;
}

int OnSeek(void* user, curl_off_t offset, int origin) {
  auto* up = static_cast<UploadCursor*>(user);
  if (origin != SEEK_SET || offset < 0 || static_cast<size_t>(offset) > up->data.size()) {
    return CURL_SEEKFUNC_CANTSEEK;
  }
  up->offset = static_cast<size_t>(offset);
  return CURL_SEEKFUNC_OK;
}

bool RetryableCurl(CURLcode code) {
  switch (code) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
      return true;
    default:
      return false;
  }
}

bool RetryableHttp(const HttpResponse& r) {
  if (r.status >= 500 || r.status == 429) return true;
  if (r.status == 400) {
    auto err = s3xml::ParseError(r.body);
    return err && (err->code == "RequestTimeout" || err->code == "SlowDown");
  }
  return false;
}

// An S3 "Endpoint" split into scheme and authority ("host[:port]").
struct Endpoint {
  std::string scheme;
  std::string authority;
};

Result<Endpoint> ParseEndpoint(std::string_view endpoint) {
  Endpoint e;
  size_t sep = endpoint.find("://");
  if (sep == std::string_view::npos) {
    return Status::InvalidArgument("S3 endpoint '" + std::string(endpoint) +
                                   "' must start with http:// or https://");
  }
  e.scheme = LowerAscii(std::string(endpoint.substr(0, sep)));
  if (e.scheme != "http" && e.scheme != "https") {
    return Status::InvalidArgument("S3 endpoint '" + std::string(endpoint) +
                                   "' must start with http:// or https://");
  }
  std::string_view rest = endpoint.substr(sep + 3);
  while (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  if (rest.empty() || rest.find_first_of("/?#@ ") != std::string_view::npos) {
    return Status::InvalidArgument("S3 endpoint '" + std::string(endpoint) +
                                   "' must be scheme://host[:port] without a path");
  }
  e.authority = LowerAscii(std::string(rest));
  // The default port is left out of Host, as curl does.
  if (e.scheme == "http" && e.authority.ends_with(":80"))
    e.authority.resize(e.authority.size() - 3);
  if (e.scheme == "https" && e.authority.ends_with(":443")) {
    e.authority.resize(e.authority.size() - 4);
  }
  return e;
}

std::string NormalizePrefix(std::string_view prefix) {
  while (!prefix.empty() && prefix.front() == '/') prefix.remove_prefix(1);
  while (!prefix.empty() && prefix.back() == '/') prefix.remove_suffix(1);
  return prefix.empty() ? "" : std::string(prefix) + "/";
}

StatusCode CodeFor(long http_status, const std::string& s3_code) {
  if (s3_code == "SignatureDoesNotMatch" || s3_code == "InvalidAccessKeyId" ||
      s3_code == "ExpiredToken" || s3_code == "InvalidToken" ||
      s3_code == "AuthorizationHeaderMalformed" || http_status == 401) {
    return StatusCode::kUnauthenticated;
  }
  if (http_status == 404) return StatusCode::kNotFound;
  if (http_status == 403) return StatusCode::kPermissionDenied;
  if (http_status == 400) return StatusCode::kInvalidArgument;
  if (http_status == 409 && s3_code.starts_with("BucketAlready")) {
    return StatusCode::kAlreadyExists;
  }
  if (http_status == 429 || http_status >= 500) return StatusCode::kUnavailable;
  return StatusCode::kIoError;
}

std::string HintFor(const std::string& s3_code) {
  if (s3_code == "SignatureDoesNotMatch") return " (check secret_access_key and region)";
  if (s3_code == "InvalidAccessKeyId") return " (check access_key_id)";
  if (s3_code == "NoSuchBucket") return " (create the bucket or check the bucket name)";
  return "";
}

// Delay before attempt `attempt + 1`: exponential, capped, with jitter in
// [delay/2, delay] so that clients retrying together spread out.
std::chrono::milliseconds Backoff(const S3Options& o, int attempt) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  double delay = static_cast<double>(o.retry_base_delay.count());
  for (int i = 1; i < attempt && delay < static_cast<double>(o.retry_max_delay.count()); ++i) {
    delay *= 2;
  }
  delay = std::min(delay, static_cast<double>(o.retry_max_delay.count()));
  std::uniform_real_distribution<double> jitter(0.5, 1.0);
  return std::chrono::milliseconds(static_cast<int64_t>(delay * jitter(rng)));
}

// Reads the INI-style AWS credentials file; fills the keys of `profile`.
Status ReadCredentialsFile(const fs::path& path, const std::string& profile, S3Options* o) {
  std::ifstream in(path);
  if (!in) return Status::NotFound("cannot read " + path.string());
  std::string line;
  bool in_profile = false;
  bool found = false;
  std::string key_id;
  std::string secret;
  std::string token;
  while (std::getline(in, line)) {
    std::string t = Trim(line);
    if (t.empty() || t[0] == '#' || t[0] == ';') continue;
    if (t.front() == '[' && t.back() == ']') {
      std::string name = Trim(std::string_view(t).substr(1, t.size() - 2));
      in_profile = name == profile;
      found = found || in_profile;
      continue;
    }
    if (!in_profile) continue;
    size_t eq = t.find('=');
    if (eq == std::string::npos) continue;
    std::string name = LowerAscii(Trim(std::string_view(t).substr(0, eq)));
    std::string value = Trim(std::string_view(t).substr(eq + 1));
    if (name == "aws_access_key_id") key_id = value;
    if (name == "aws_secret_access_key") secret = value;
    if (name == "aws_session_token") token = value;
  }
  if (!found) return Status::NotFound("no profile [" + profile + "] in " + path.string());
  if (key_id.empty() || secret.empty()) {
    return Status::InvalidArgument("profile [" + profile + "] in " + path.string() +
                                   " lacks aws_access_key_id or aws_secret_access_key");
  }
  o->access_key_id = key_id;
  o->secret_access_key = secret;
  o->session_token = token;
  return Status::Ok();
}

Status ValidateOptions(const S3Options& o) {
  auto bad = [](const std::string& what) { return Status::InvalidArgument("S3 options: " + what); };
  if (o.bucket.empty()) return bad("bucket is empty");
  if (o.bucket.find_first_of("/ ?#") != std::string::npos) {
    return bad("bucket '" + o.bucket + "' is not a bucket name");
  }
  if (o.region.empty()) return bad("region is empty");
  if (o.access_key_id.empty() || o.secret_access_key.empty()) {
    return bad(
        "no credentials (set access_key_id/secret_access_key, AWS_ACCESS_KEY_ID/"
        "AWS_SECRET_ACCESS_KEY, or a profile in ~/.aws/credentials)");
  }
  if (o.part_size < kMinPartSize) return bad("part_size must be at least 5 MiB (an S3 rule)");
  if (o.multipart_threshold == 0) return bad("multipart_threshold must be positive");
  if (o.max_attempts < 1) return bad("max_attempts must be at least 1");
  if (o.connect_timeout.count() <= 0 || o.request_timeout.count() <= 0) {
    return bad("connect_timeout and request_timeout must be positive");
  }
  if (o.list_page_size < 1 || o.list_page_size > 1000) {
    return bad("list_page_size must be within 1..1000");
  }
  return Status::Ok();
}

}  // namespace

Status ResolveCredentials(S3Options* options) {
  if (!options->access_key_id.empty() && !options->secret_access_key.empty()) return Status::Ok();
  std::string env_id = Env("AWS_ACCESS_KEY_ID");
  std::string env_secret = Env("AWS_SECRET_ACCESS_KEY");
  if (!env_id.empty() && !env_secret.empty()) {
    options->access_key_id = env_id;
    options->secret_access_key = env_secret;
    options->session_token = Env("AWS_SESSION_TOKEN");
    return Status::Ok();
  }
  std::string profile = Env("AWS_PROFILE");
  if (profile.empty()) profile = "default";
  fs::path file = Env("AWS_SHARED_CREDENTIALS_FILE");
  if (file.empty()) {
    std::string home = Env("HOME");
    if (home.empty()) {
      return Status(StatusCode::kUnauthenticated,
                    "no S3 credentials: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY are not set and "
                    "HOME is not set to find ~/.aws/credentials");
    }
    file = fs::path(home) / ".aws" / "credentials";
  }
  Status st = ReadCredentialsFile(file, profile, options);
  if (!st.ok()) {
    return Status(StatusCode::kUnauthenticated,
                  "no S3 credentials: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY are not set and " +
                      st.message());
  }
  return Status::Ok();
}

// The libcurl side: a pool of easy handles, request signing, retries.
struct S3ObjectStore::Http {
  const S3Options& o;
  Endpoint endpoint;
  std::string key_prefix;  // normalized: "" or "a/b/"
  std::mutex mu;
  std::vector<CURL*> idle;

  Http(const S3Options& options, Endpoint e)
      : o(options), endpoint(std::move(e)), key_prefix(NormalizePrefix(options.prefix)) {}
  ~Http() {
    for (CURL* h : idle) curl_easy_cleanup(h);
  }

  CURL* Acquire() {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (!idle.empty()) {
        CURL* h = idle.back();
        idle.pop_back();
        return h;
      }
    }
    return curl_easy_init();
  }
  void Release(CURL* h) {
    std::lock_guard<std::mutex> lock(mu);
    if (idle.size() < kIdleHandles) {
      idle.push_back(h);
    } else {
      curl_easy_cleanup(h);
    }
  }

  std::string Location(const std::string& key) const {
    return "s3://" + o.bucket + (key.empty() ? "" : "/" + key);
  }

  // One attempt. Returns the curl code; `error` gets curl's message.
  CURLcode PerformOnce(const HttpRequest& req, HttpResponse* resp, std::string* error) {
    CURL* h = Acquire();
    if (h == nullptr) {
      *error = "curl_easy_init failed";
      return CURLE_FAILED_INIT;
    }
    curl_easy_reset(h);
    std::string host = o.path_style ? endpoint.authority : o.bucket + "." + endpoint.authority;
    std::string path = o.path_style ? "/" + o.bucket : "";
    if (!req.key.empty()) path += "/" + sigv4::UriEncode(req.key, true);
    if (path.empty()) path = "/";
    std::string query = sigv4::CanonicalQueryString(req.query);
    std::string url = endpoint.scheme + "://" + host + path + (query.empty() ? "" : "?" + query);

    std::string amz_date = sigv4::AmzDate(std::time(nullptr));
    std::string payload_hash = sigv4::Sha256Hex(req.body);
    sigv4::Request sreq;
    sreq.method = req.method;
    sreq.canonical_uri = path;
    sreq.query = req.query;
    sreq.headers = {
        {"host", host}, {"x-amz-content-sha256", payload_hash}, {"x-amz-date", amz_date}};
    if (!o.session_token.empty())
      sreq.headers.emplace_back("x-amz-security-token", o.session_token);
    sreq.payload_sha256 = payload_hash;
    std::string auth = sigv4::Authorization(sreq, {o.access_key_id, o.secret_access_key},
                                            {amz_date, o.region, "s3"});

    curl_slist* headers = nullptr;
    std::vector<std::string> lines = {"Host: " + host, "x-amz-content-sha256: " + payload_hash,
                                      "x-amz-date: " + amz_date, "Authorization: " + auth,
                                      "Expect:"};
    if (!o.session_token.empty()) lines.push_back("x-amz-security-token: " + o.session_token);
    if (req.method == "POST") lines.push_back("Content-Type: application/xml");
    for (const std::string& l : lines) headers = curl_slist_append(headers, l.c_str());

    char errbuf[CURL_ERROR_SIZE] = {0};
    UploadCursor cursor{req.body, 0};
    resp->body.clear();
    resp->headers.clear();
    resp->status = 0;
    curl_easy_setopt(h, CURLOPT_URL, url.c_str());
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(o.connect_timeout.count()));
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(o.request_timeout.count()));
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, OnBody);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &resp->body);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, OnHeader);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &resp->headers);
    if (req.method == "HEAD") {
      curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (req.method == "PUT") {
      curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
      curl_easy_setopt(h, CURLOPT_READFUNCTION, OnRead);
      curl_easy_setopt(h, CURLOPT_READDATA, &cursor);
      curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, OnSeek);
      curl_easy_setopt(h, CURLOPT_SEEKDATA, &cursor);
      curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
    } else if (req.method == "POST") {
      curl_easy_setopt(h, CURLOPT_POST, 1L);
      // Never NULL: curl would then read the body from stdin.
      curl_easy_setopt(h, CURLOPT_POSTFIELDS, req.body.empty() ? "" : req.body.data());
      curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
    } else if (req.method != "GET") {
      curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req.method.c_str());
    }
    CURLcode code = curl_easy_perform(h);
    if (code == CURLE_OK) {
      curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
    } else {
      *error = errbuf[0] ? errbuf : curl_easy_strerror(code);
    }
    curl_slist_free_all(headers);
    // A handle that failed may hold a broken connection: do not keep it.
    if (code == CURLE_OK) {
      Release(h);
    } else {
      curl_easy_cleanup(h);
    }
    // CompleteMultipartUpload can fail after "200 OK" with an <Error> body.
    if (code == CURLE_OK && resp->status == 200 && req.method == "POST" &&
        s3xml::ParseError(resp->body)) {
      resp->status = 500;
    }
    return code;
  }

  // The request with retries. A response (of any status) or, when the server
  // could not be reached, kUnavailable/kTimeout.
  Result<HttpResponse> Send(const HttpRequest& req) {
    HttpResponse resp;
    for (int attempt = 1;; ++attempt) {
      std::string error;
      CURLcode code = PerformOnce(req, &resp, &error);
      resp.attempts = attempt;
      bool retry = code == CURLE_OK ? RetryableHttp(resp) : RetryableCurl(code);
      if (!retry || attempt >= o.max_attempts) {
        if (code == CURLE_OK) return resp;
        std::string msg = "s3 " + req.op + " " + Location(req.key) + ": cannot reach " +
                          endpoint.scheme + "://" + endpoint.authority + ": " + error;
        if (attempt > 1) msg += " (after " + std::to_string(attempt) + " attempts)";
        return Status(
            code == CURLE_OPERATION_TIMEDOUT ? StatusCode::kTimeout : StatusCode::kUnavailable,
            msg);
      }
      std::this_thread::sleep_for(Backoff(o, attempt));
    }
  }

  // The Status for a response S3 did not accept.
  Status Error(const HttpRequest& req, const HttpResponse& resp) const {
    std::string msg = "s3 " + req.op + " " + Location(req.key) + " at " + endpoint.scheme + "://" +
                      endpoint.authority + ": HTTP " + std::to_string(resp.status);
    std::string s3_code;
    if (auto err = s3xml::ParseError(resp.body)) {
      s3_code = err->code;
      if (!err->code.empty()) msg += " " + err->code;
      if (!err->message.empty()) msg += ": " + err->message;
      msg += HintFor(err->code);
      if (!err->request_id.empty()) msg += " [request id " + err->request_id + "]";
    } else if (resp.status == 404) {
      msg += " (not found)";
    }
    if (resp.attempts > 1) msg += " (after " + std::to_string(resp.attempts) + " attempts)";
    return Status(CodeFor(resp.status, s3_code), msg);
  }

  // Send, then turn any non-2xx reply into an error.
  Result<HttpResponse> SendOk(const HttpRequest& req) {
    auto resp = Send(req);
    if (!resp.ok()) return resp.status();
    if (resp->status / 100 != 2) return Error(req, *resp);
    return resp;
  }
};

S3ObjectStore::S3ObjectStore(S3Options options) : options_(std::move(options)) {}

S3ObjectStore::~S3ObjectStore() = default;

Result<std::unique_ptr<S3ObjectStore>> S3ObjectStore::OpenUnchecked(S3Options options) {
  INLET_RETURN_IF_ERROR(ValidateOptions(options));
  auto endpoint = ParseEndpoint(options.endpoint);
  if (!endpoint.ok()) return endpoint.status();
  GlobalInit();
  std::unique_ptr<S3ObjectStore> store(new S3ObjectStore(std::move(options)));
  store->http_ = std::make_unique<Http>(store->options_, std::move(*endpoint));
  return store;
}

Result<std::unique_ptr<S3ObjectStore>> S3ObjectStore::Open(S3Options options) {
  auto store = OpenUnchecked(std::move(options));
  if (!store.ok()) return store.status();
  INLET_RETURN_IF_ERROR((*store)->CheckBucket());
  return store;
}

std::string S3ObjectStore::Describe() const {
  std::string prefix = http_->key_prefix;
  if (!prefix.empty()) prefix.pop_back();
  return "s3://" + options_.bucket + (prefix.empty() ? "" : "/" + prefix);
}

Status S3ObjectStore::CheckBucket() {
  HttpRequest head{"HEAD bucket", "HEAD", "", {}, {}};
  auto resp = http_->Send(head);
  if (!resp.ok()) return resp.status();
  if (resp->status / 100 == 2) return Status::Ok();
  // HEAD replies have no body: ask again with a request whose error names
  // the reason (NoSuchBucket, SignatureDoesNotMatch, ...).
  HttpRequest list{"open bucket", "GET", "", {{"list-type", "2"}, {"max-keys", "1"}}, {}};
  auto detail = http_->Send(list);
  if (!detail.ok()) return detail.status();
  if (detail->status / 100 == 2) return Status::Ok();
  return http_->Error(list, *detail);
}

Status S3ObjectStore::CreateBucket() {
  std::string body;
  if (options_.region != "us-east-1") {
    body = "<CreateBucketConfiguration><LocationConstraint>" + s3xml::EscapeText(options_.region) +
           "</LocationConstraint></CreateBucketConfiguration>";
  }
  HttpRequest req{"create bucket", "PUT", "", {}, body};
  auto resp = http_->Send(req);
  if (!resp.ok()) return resp.status();
  if (resp->status / 100 == 2) return Status::Ok();
  auto err = s3xml::ParseError(resp->body);
  if (resp->status == 409 && err && err->code == "BucketAlreadyOwnedByYou") return Status::Ok();
  return http_->Error(req, *resp);
}

Status S3ObjectStore::PutBytes(std::string_view key, std::string_view data) {
  INLET_RETURN_IF_ERROR(ValidateObjectKey(key));
  std::string full = http_->key_prefix + std::string(key);
  if (data.size() >= options_.multipart_threshold && data.size() > options_.part_size) {
    return PutMultipart(
        full, data.size(),
        [data](uint64_t offset, uint64_t len, std::string*) -> Result<std::string_view> {
          return data.substr(offset, len);
        });
  }
  auto resp = http_->SendOk({"PUT", "PUT", full, {}, data});
  return resp.ok() ? Status::Ok() : resp.status();
}

Status S3ObjectStore::PutFile(std::string_view key, const fs::path& local_file) {
  struct Cleanup {
    const fs::path& path;
    int fd = -1;
    ~Cleanup() {
      if (fd >= 0) ::close(fd);
      std::error_code ec;
      fs::remove(path, ec);
    }
  } cleanup{local_file};
  INLET_RETURN_IF_ERROR(ValidateObjectKey(key));
  cleanup.fd = ::open(local_file.c_str(), O_RDONLY | O_CLOEXEC);
  if (cleanup.fd < 0) return Status::FromErrno(errno, "open " + local_file.string());
  struct stat st {};
  if (::fstat(cleanup.fd, &st) != 0) return Status::FromErrno(errno, "stat " + local_file.string());
  uint64_t size = static_cast<uint64_t>(st.st_size);
  int fd = cleanup.fd;
  auto read_range = [fd, &local_file](uint64_t offset, uint64_t len,
                                      std::string* buffer) -> Result<std::string_view> {
    buffer->resize(len);
    size_t done = 0;
    while (done < len) {
      ssize_t n = ::pread(fd, buffer->data() + done, len - done, static_cast<off_t>(offset + done));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return Status::FromErrno(errno, "read " + local_file.string());
      if (n == 0) return Status::IoError("read " + local_file.string() + ": file shrank");
      done += static_cast<size_t>(n);
    }
    return std::string_view(*buffer);
  };
  std::string full = http_->key_prefix + std::string(key);
  if (size >= options_.multipart_threshold && size > options_.part_size) {
    return PutMultipart(full, size, read_range);
  }
  std::string buffer;
  auto data = read_range(0, size, &buffer);
  if (!data.ok()) return data.status();
  auto resp = http_->SendOk({"PUT", "PUT", full, {}, *data});
  return resp.ok() ? Status::Ok() : resp.status();
}

Status S3ObjectStore::PutMultipart(
    const std::string& full_key, uint64_t size,
    const std::function<Result<std::string_view>(uint64_t, uint64_t, std::string*)>& read) {
  uint64_t part_size = std::max(options_.part_size, (size + kMaxParts - 1) / kMaxParts);
  auto init = http_->SendOk({"InitiateMultipartUpload", "POST", full_key, {{"uploads", ""}}, {}});
  if (!init.ok()) return init.status();
  auto upload_id = s3xml::ParseUploadId(init->body);
  if (!upload_id.ok()) return upload_id.status();

  auto upload_parts = [&]() -> Status {
    std::vector<std::string> etags;
    std::string buffer;
    for (uint64_t offset = 0, part = 1; offset < size; offset += part_size, ++part) {
      auto data = read(offset, std::min(part_size, size - offset), &buffer);
      if (!data.ok()) return data.status();
      HttpRequest req{"UploadPart " + std::to_string(part),
                      "PUT",
                      full_key,
                      {{"partNumber", std::to_string(part)}, {"uploadId", *upload_id}},
                      *data};
      auto resp = http_->SendOk(req);
      if (!resp.ok()) return resp.status();
      std::string etag = resp->Header("etag");
      if (etag.empty()) {
        return Status::IoError("s3 " + req.op + " " + http_->Location(full_key) +
                               ": the reply has no ETag");
      }
      etags.push_back(std::move(etag));
    }
    std::string body = s3xml::CompleteMultipartBody(etags);
    auto done = http_->SendOk(
        {"CompleteMultipartUpload", "POST", full_key, {{"uploadId", *upload_id}}, body});
    if (done.ok()) return Status::Ok();
    // A retried completion whose first try succeeded unseen finds the upload
    // gone: the object is there if it has the full size.
    if (done.status().code() == StatusCode::kNotFound &&
        done.status().message().find("NoSuchUpload") != std::string::npos &&
        done.status().message().find(" attempts)") != std::string::npos) {
      HttpRequest head{"HEAD", "HEAD", full_key, {}, {}};
      auto check = http_->Send(head);
      if (check.ok() && check->status == 200 &&
          check->Header("content-length") == std::to_string(size)) {
        return Status::Ok();
      }
    }
    return done.status();
  };
  Status st = upload_parts();
  if (!st.ok()) {
    // Parts of an unfinished upload cost storage until aborted.
    auto abort =
        http_->SendOk({"AbortMultipartUpload", "DELETE", full_key, {{"uploadId", *upload_id}}, {}});
    if (!abort.ok()) {
      return Status(st.code(),
                    st.message() + "; aborting the upload failed too: " + abort.status().message());
    }
  }
  return st;
}

Result<std::string> S3ObjectStore::Get(std::string_view key) {
  INLET_RETURN_IF_ERROR(ValidateObjectKey(key));
  auto resp = http_->SendOk({"GET", "GET", http_->key_prefix + std::string(key), {}, {}});
  if (!resp.ok()) return resp.status();
  return std::move(resp->body);
}

Result<std::vector<ObjectInfo>> S3ObjectStore::List(std::string_view prefix) {
  const std::string& store_prefix = http_->key_prefix;
  std::string full_prefix = store_prefix + std::string(prefix);
  std::vector<ObjectInfo> out;
  std::string token;
  do {
    HttpRequest req{"LIST",
                    "GET",
                    "",
                    {{"list-type", "2"},
                     {"prefix", full_prefix},
                     {"max-keys", std::to_string(options_.list_page_size)}},
                    {}};
    if (!token.empty()) req.query.emplace_back("continuation-token", token);
    auto resp = http_->SendOk(req);
    if (!resp.ok()) return resp.status();
    auto page = s3xml::ParseListObjectsV2(resp->body);
    if (!page.ok()) {
      return Status::Corruption("s3 LIST " + http_->Location(full_prefix) + ": " +
                                page.status().message());
    }
    for (auto& e : page->entries) {
      if (!e.key.starts_with(full_prefix)) continue;  // a server ignoring the prefix
      out.push_back({e.key.substr(store_prefix.size()), e.size});
    }
    if (page->truncated && page->next_continuation_token == token) {
      return Status::Corruption("s3 LIST " + http_->Location(full_prefix) +
                                ": the server repeats the same continuation token");
    }
    token = page->truncated ? page->next_continuation_token : "";
  } while (!token.empty());
  std::sort(out.begin(), out.end(),
            [](const ObjectInfo& a, const ObjectInfo& b) { return a.key < b.key; });
  return out;
}

Status S3ObjectStore::Delete(std::string_view key) {
  INLET_RETURN_IF_ERROR(ValidateObjectKey(key));
  HttpRequest req{"DELETE", "DELETE", http_->key_prefix + std::string(key), {}, {}};
  auto resp = http_->Send(req);
  if (!resp.ok()) return resp.status();
  if (resp->status / 100 == 2 || resp->status == 404) {
    auto err = s3xml::ParseError(resp->body);
    if (resp->status == 404 && err && err->code == "NoSuchBucket") return http_->Error(req, *resp);
    return Status::Ok();
  }
  return http_->Error(req, *resp);
}

Result<bool> S3ObjectStore::Exists(std::string_view key) {
  INLET_RETURN_IF_ERROR(ValidateObjectKey(key));
  HttpRequest req{"HEAD", "HEAD", http_->key_prefix + std::string(key), {}, {}};
  auto resp = http_->Send(req);
  if (!resp.ok()) return resp.status();
  if (resp->status / 100 == 2) return true;
  if (resp->status == 404) return false;
  return http_->Error(req, *resp);
}

}  // namespace inlet::storage
