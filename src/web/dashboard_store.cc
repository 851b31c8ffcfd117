#include "web/dashboard_store.h"

#include <simdjson.h>

#include <algorithm>
#include <chrono>
#include <system_error>

#include "common/file_util.h"

namespace inlet::web {

namespace fs = std::filesystem;

namespace {

constexpr size_t kMaxNameLength = 64;
constexpr std::string_view kExtension = ".json";

struct Parsed {
  std::string title;
  size_t visuals = 0;
};

// Checks the document's shape; fills *out. "" when valid, else the reason.
std::string CheckDocument(std::string_view name, std::string_view json, size_t max_visuals,
                          Parsed* out) {
  simdjson::dom::parser parser;
  simdjson::padded_string padded(json);
  simdjson::dom::element root;
  if (parser.parse(padded).get(root) != simdjson::SUCCESS) return "the dashboard is not valid JSON";
  simdjson::dom::object obj;
  if (root.get_object().get(obj) != simdjson::SUCCESS) return "the dashboard must be a JSON object";
  simdjson::dom::element v;
  if (obj["name"].get(v) == simdjson::SUCCESS) {
    std::string_view n;
    if (v.get_string().get(n) != simdjson::SUCCESS || n != name) {
      return "\"name\" in the document must equal the dashboard name '" + std::string(name) + "'";
    }
  }
  if (obj["title"].get(v) == simdjson::SUCCESS) {
    std::string_view t;
    if (v.get_string().get(t) != simdjson::SUCCESS) return "\"title\" must be a string";
    out->title = std::string(t);
  }
  if (obj["visuals"].get(v) == simdjson::SUCCESS) {
    simdjson::dom::array visuals;
    if (v.get_array().get(visuals) != simdjson::SUCCESS) return "\"visuals\" must be an array";
    size_t i = 0;
    for (simdjson::dom::element visual : visuals) {
      const std::string where = "visuals[" + std::to_string(i) + "]";
      simdjson::dom::object vo;
      if (visual.get_object().get(vo) != simdjson::SUCCESS) return where + " must be an object";
      std::string_view s;
      if (vo["sql"].get_string().get(s) != simdjson::SUCCESS || s.empty()) {
        return where + ".sql must be a non-empty string";
      }
      if (vo["chart"].get(v) == simdjson::SUCCESS && !v.is_string())
        return where + ".chart must be a string";
      ++i;
    }
    if (i > max_visuals) {
      return "a dashboard holds at most " + std::to_string(max_visuals) + " visuals (got " +
             std::to_string(i) + ")";
    }
    out->visuals = i;
  }
  return "";
}

int64_t MtimeMs(const fs::path& p) {
  std::error_code ec;
  auto t = fs::last_write_time(p, ec);
  if (ec) return 0;
  auto sys = std::chrono::file_clock::to_sys(t);
  return std::chrono::duration_cast<std::chrono::milliseconds>(sys.time_since_epoch()).count();
}

}  // namespace

DashboardStore::DashboardStore(fs::path dir, DashboardLimits limits)
    : dir_(std::move(dir)), limits_(limits) {}

bool DashboardStore::ValidName(std::string_view name) {
  if (name.empty() || name.size() > kMaxNameLength) return false;
  auto alnum = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  };
  if (!alnum(name.front())) return false;
  return std::all_of(name.begin(), name.end(),
                     [&](char c) { return alnum(c) || c == '_' || c == '-' || c == '.'; });
}

fs::path DashboardStore::PathOf(std::string_view name) const {
  return dir_ / (std::string(name) + std::string(kExtension));
}

Result<std::vector<DashboardSummary>> DashboardStore::List() const {
  std::vector<DashboardSummary> out;
  std::error_code ec;
  if (!fs::exists(dir_, ec)) return out;
  for (fs::directory_iterator it(dir_, ec), end; !ec && it != end; it.increment(ec)) {
    const fs::path& p = it->path();
    if (p.extension() != kExtension || !it->is_regular_file()) continue;
    const std::string name = p.stem().string();
    if (!ValidName(name)) continue;
    auto content = ReadWholeFile(p);
    if (!content.ok()) continue;  // removed meanwhile
    DashboardSummary s;
    s.name = name;
    s.bytes = content->size();
    s.updated_ms = MtimeMs(p);
    Parsed parsed;
    CheckDocument(name, *content, limits_.max_visuals,
                  &parsed);  // stored documents were checked on save
    s.title = parsed.title;
    s.visuals = parsed.visuals;
    out.push_back(std::move(s));
  }
  if (ec) return Status::FromErrno(ec.value(), "list " + dir_.string());
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  return out;
}

Result<std::string> DashboardStore::Get(std::string_view name) const {
  if (!ValidName(name))
    return Status::InvalidArgument("invalid dashboard name '" + std::string(name) + "'");
  const fs::path p = PathOf(name);
  std::error_code ec;
  if (!fs::is_regular_file(p, ec))
    return Status::NotFound("no dashboard named '" + std::string(name) + "'");
  return ReadWholeFile(p);
}

Status DashboardStore::Validate(std::string_view name, std::string_view json) const {
  if (!ValidName(name)) {
    return Status::InvalidArgument(
        "invalid dashboard name '" + std::string(name) +
        "': use 1-64 letters, digits, '_', '-' or '.', starting with a letter or digit");
  }
  if (json.size() > limits_.max_bytes) {
    return Status(StatusCode::kTooLarge,
                  "a dashboard is at most " + std::to_string(limits_.max_bytes) + " bytes of JSON");
  }
  Parsed parsed;
  std::string why = CheckDocument(name, json, limits_.max_visuals, &parsed);
  if (!why.empty()) return Status::InvalidArgument(why);
  return Status::Ok();
}

Status DashboardStore::Put(std::string_view name, std::string_view json, bool must_be_new,
                           bool* created) {
  INLET_RETURN_IF_ERROR(Validate(name, json));
  std::lock_guard<std::mutex> lock(mu_);
  const fs::path p = PathOf(name);
  std::error_code ec;
  const bool exists = fs::is_regular_file(p, ec);
  if (exists && must_be_new) {
    return Status(StatusCode::kAlreadyExists,
                  "a dashboard named '" + std::string(name) + "' exists; use PUT to replace it");
  }
  if (!exists) {
    size_t count = 0;
    if (fs::exists(dir_, ec)) {
      for (fs::directory_iterator it(dir_, ec), end; !ec && it != end; it.increment(ec)) {
        if (it->path().extension() == kExtension) ++count;
      }
    }
    if (count >= limits_.max_dashboards) {
      return Status::ResourceExhausted("the dashboard limit (" +
                                       std::to_string(limits_.max_dashboards) +
                                       ") is reached; delete one first");
    }
    fs::create_directories(dir_, ec);
    if (ec) return Status::FromErrno(ec.value(), "create " + dir_.string());
  }
  INLET_RETURN_IF_ERROR(AtomicWriteFile(p, json));
  if (created) *created = !exists;
  return Status::Ok();
}

Status DashboardStore::Delete(std::string_view name) {
  if (!ValidName(name))
    return Status::InvalidArgument("invalid dashboard name '" + std::string(name) + "'");
  std::lock_guard<std::mutex> lock(mu_);
  const fs::path p = PathOf(name);
  std::error_code ec;
  if (!fs::remove(p, ec)) {
    if (ec) return Status::FromErrno(ec.value(), "delete " + p.string());
    return Status::NotFound("no dashboard named '" + std::string(name) + "'");
  }
  return FsyncDir(dir_);
}

}  // namespace inlet::web
