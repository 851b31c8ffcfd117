// API key authentication and scopes. Keys are configured by the SHA-256 of
// their secret; a request presents the secret as "Authorization: Bearer KEY"
// or "X-Api-Key: KEY". Immutable after construction; thread-safe.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/sha256.h"
#include "http/http_server.h"

namespace inlet::http {

struct ApiKey {
  std::string id;
  std::string sha256_hex;
  std::vector<std::string> publish_topics;         // "*" for all
  std::vector<std::string> consume_subscriptions;  // "*" for all
  bool query = false;
  bool admin = false;
};

// kAuthenticated: any valid key (for endpoints that read nothing stored).
enum class Permission { kPublish, kConsume, kQuery, kAdmin, kAuthenticated };

// Lowercase hex SHA-256 of `data` (configured keys are stored so).
using ::inlet::Sha256Hex;

class ApiKeys {
 public:
  // enabled=false lets every request through as key id "" (loopback only;
  // the configuration enforces that).
  ApiKeys(std::vector<ApiKey> keys, bool enabled);

  // Checks that the request carries a key allowed to do `permission` on
  // `resource` (topic or subscription name; ignored for query/admin). On
  // success returns the key id; otherwise fills *denied with a 401 or 403.
  bool Authorize(const Request& req, Permission permission, std::string_view resource,
                 std::string* key_id, Response* denied) const;
  bool enabled() const { return enabled_; }

 private:
  std::map<std::string, ApiKey, std::less<>> by_hash_;
  bool enabled_;
};

}  // namespace inlet::http
