#include "http/api_keys.h"

#include <algorithm>

namespace inlet::http {

ApiKeys::ApiKeys(std::vector<ApiKey> keys, bool enabled) : enabled_(enabled) {
  for (auto& k : keys) by_hash_.emplace(k.sha256_hex, std::move(k));
}

namespace {
bool Allows(const std::vector<std::string>& list, std::string_view name) {
  return std::any_of(list.begin(), list.end(),
                     [&](const std::string& s) { return s == "*" || s == name; });
}
const char* PermissionName(Permission p) {
  switch (p) {
    case Permission::kPublish:
      return "publish";
    case Permission::kConsume:
      return "consume";
    case Permission::kQuery:
      return "query";
    case Permission::kAdmin:
      return "admin";
    case Permission::kAuthenticated:
      return "any";
  }
  return "?";
}
}  // namespace

bool ApiKeys::Authorize(const Request& req, Permission permission, std::string_view resource,
                        std::string* key_id, Response* denied) const {
  if (!enabled_) {
    key_id->clear();
    return true;
  }
  std::string secret;
  const std::string& auth = req.Header("authorization");
  if (auth.size() > 7 &&
      (auth.compare(0, 7, "Bearer ") == 0 || auth.compare(0, 7, "bearer ") == 0)) {
    secret = auth.substr(7);
  } else {
    secret = req.Header("x-api-key");
  }
  if (secret.empty()) {
    *denied =
        ErrorResponse(401, "unauthenticated",
                      "missing API key: send 'Authorization: Bearer <key>' or 'X-Api-Key: <key>'");
    denied->headers.emplace_back("WWW-Authenticate", "Bearer realm=\"inlet\"");
    return false;
  }
  auto it = by_hash_.find(Sha256Hex(secret));
  if (it == by_hash_.end()) {
    *denied = ErrorResponse(401, "unauthenticated", "invalid API key");
    denied->headers.emplace_back("WWW-Authenticate",
                                 "Bearer realm=\"inlet\" error=\"invalid_token\"");
    return false;
  }
  const ApiKey& k = it->second;
  bool ok = false;
  switch (permission) {
    case Permission::kPublish:
      ok = k.admin || Allows(k.publish_topics, resource);
      break;
    case Permission::kConsume:
      ok = k.admin || Allows(k.consume_subscriptions, resource);
      break;
    case Permission::kQuery:
      ok = k.admin || k.query;
      break;
    case Permission::kAdmin:
      ok = k.admin;
      break;
    case Permission::kAuthenticated:
      ok = true;
      break;
  }
  if (!ok) {
    std::string what = std::string(PermissionName(permission));
    if (!resource.empty() &&
        (permission == Permission::kPublish || permission == Permission::kConsume)) {
      what += ":" + std::string(resource);
    }
    *denied = ErrorResponse(403, "forbidden", "API key '" + k.id + "' lacks the scope " + what);
    return false;
  }
  *key_id = k.id;
  return true;
}

}  // namespace inlet::http
