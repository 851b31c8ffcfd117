#include "notify/secret_source.h"

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace inlet::notify {

Result<std::string> ReadSecret(const SecretSource& source, const std::string& what) {
  std::string value;
  if (!source.env.empty()) {
    const char* v = std::getenv(source.env.c_str());
    if (v == nullptr)
      return Status::NotFound(what + ": environment variable " + source.env + " is not set");
    value = v;
  } else if (!source.file.empty()) {
    std::ifstream in(source.file, std::ios::binary);
    if (!in) return Status::NotFound(what + ": cannot read " + source.file);
    std::stringstream ss;
    ss << in.rdbuf();
    value = ss.str();
    while (!value.empty() && (value.back() == '\n' || value.back() == '\r')) value.pop_back();
  }
  if (value.empty()) return Status::InvalidArgument(what + " is empty");
  return value;
}

}  // namespace inlet::notify
