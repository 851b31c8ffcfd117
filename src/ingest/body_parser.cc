#include "ingest/body_parser.h"

#include <simdjson.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "common/crc32c.h"

namespace inlet::ingest {
namespace {

constexpr size_t kMaxDepth = 128;

bool Blank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && Blank(s.front())) s.remove_prefix(1);
  while (!s.empty() && Blank(s.back())) s.remove_suffix(1);
  return s;
}

std::string LowerNoParams(std::string_view v) {
  std::string s(v.substr(0, v.find(';')));
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return std::string(Trim(s));
}

const char* Category(simdjson::error_code e) {
  switch (e) {
    case simdjson::UTF8_ERROR:
      return "invalid_utf8";
    case simdjson::DEPTH_ERROR:
      return "too_deep";
    default:
      return "malformed_json";
  }
}

// A JSON syntax check (RFC 8259) without number range limits, for documents
// simdjson refuses only because a number does not fit 64 bits or a double.
// Returns true when `s` is one well-formed JSON value.
bool ValidJsonSyntax(std::string_view s, size_t max_depth) {
  size_t i = 0;
  auto ws = [&] {
    while (i < s.size() && Blank(s[i])) ++i;
  };
  auto number = [&] {
    if (i < s.size() && s[i] == '-') ++i;
    if (i >= s.size()) return false;
    if (s[i] == '0') {
      ++i;
    } else if (s[i] >= '1' && s[i] <= '9') {
      while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
    } else {
      return false;
    }
    if (i < s.size() && s[i] == '.') {
      ++i;
      if (i >= s.size() || !std::isdigit(static_cast<unsigned char>(s[i]))) return false;
      while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
    }
    if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
      ++i;
      if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
      if (i >= s.size() || !std::isdigit(static_cast<unsigned char>(s[i]))) return false;
      while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
    }
    return true;
  };
  auto string = [&] {  // UTF-8 was checked by simdjson before the number error
    ++i;
    while (i < s.size() && s[i] != '"') {
      if (static_cast<unsigned char>(s[i]) < 0x20) return false;
      if (s[i] == '\\') {
        ++i;
        if (i >= s.size()) return false;
        if (s[i] == 'u') {
          for (int k = 0; k < 4; ++k) {
            if (++i >= s.size() || !std::isxdigit(static_cast<unsigned char>(s[i]))) return false;
          }
        } else if (std::string_view("\"\\/bfnrt").find(s[i]) == std::string_view::npos) {
          return false;
        }
      }
      ++i;
    }
    if (i >= s.size()) return false;
    ++i;
    return true;
  };
  std::vector<char> stack;  // '{' or '['
  ws();
  for (;;) {
    // A value.
    if (i >= s.size()) return false;
    const char c = s[i];
    if (c == '{' || c == '[') {
      if (stack.size() >= max_depth) return false;
      stack.push_back(c);
      ++i;
      ws();
      if (i < s.size() && s[i] == (c == '{' ? '}' : ']')) {
        stack.pop_back();
        ++i;
      } else if (c == '{') {
        if (i >= s.size() || s[i] != '"' || !string()) return false;
        ws();
        if (i >= s.size() || s[i++] != ':') return false;
        ws();
        continue;
      } else {
        continue;
      }
    } else if (c == '"') {
      if (!string()) return false;
    } else if (c == 't' || c == 'f' || c == 'n') {
      std::string_view lit = c == 't' ? "true" : c == 'f' ? "false" : "null";
      if (s.substr(i, lit.size()) != lit) return false;
      i += lit.size();
    } else if (!number()) {
      return false;
    }
    // After a value: close containers or continue with a comma.
    for (;;) {
      ws();
      if (stack.empty()) return i == s.size();
      if (i >= s.size()) return false;
      const char close = stack.back() == '{' ? '}' : ']';
      if (s[i] == close) {
        stack.pop_back();
        ++i;
        continue;
      }
      if (s[i] != ',') return false;
      ++i;
      ws();
      if (stack.back() == '{') {
        if (i >= s.size() || s[i] != '"' || !string()) return false;
        ws();
        if (i >= s.size() || s[i++] != ':') return false;
        ws();
      }
      break;
    }
  }
}

}  // namespace

// Bodies up to this size are checked in one parse_many batch (NDJSON).
constexpr size_t kStreamBatch = 1 << 20;  // the parser's initial capacity

struct BodyParser::Impl {
  std::string decoded;
  simdjson::dom::parser dom{1ull << 30};
  bool dom_failed = false;
  bool one_pass = true;
  std::vector<std::string_view> lines;  // an NDJSON body's non-blank lines
  std::vector<uint32_t> hashes;

  Impl() {
    if (dom.allocate(1 << 20, kMaxDepth)) dom_failed = true;
    // parse_many must not hand a batch to its stage-1 thread: it swaps that
    // thread's parser into `dom` afterwards, with simdjson's default depth
    // limit instead of kMaxDepth (a body ending in a partial document does).
    dom.threaded = false;
  }

  // Checks one event; empty category when it is a well-formed object.
  bool CheckEvent(std::string_view ev, size_t index, const BodyLimits& limits, ParsedBody* out) {
    if (ev.size() > limits.max_event_bytes) {
      out->rejected.push_back({index, "too_large",
                               "event of " + std::to_string(ev.size()) +
                                   " bytes exceeds the limit of " +
                                   std::to_string(limits.max_event_bytes) + " bytes"});
      return false;
    }
    if (dom.capacity() < ev.size() && dom.allocate(ev.size(), kMaxDepth)) {
      out->rejected.push_back({index, "too_large", "out of memory for an event of this size"});
      return false;
    }
    simdjson::dom::element el;
    // parse() copies into its padded buffer when the view is not padded.
    auto err = dom.parse(ev.data(), ev.size(), true).get(el);
    if (err == simdjson::NUMBER_ERROR && ev.front() == '{' && ValidJsonSyntax(ev, kMaxDepth)) {
      // Valid JSON with a number beyond 64 bits: stored as sent.
      if (!limits.partition_pointer.empty())
        out->partition_hashes.push_back(Crc32c(ev.data(), ev.size()));
      return true;
    }
    if (err) {
      out->rejected.push_back(
          {index, Category(err), std::string("not valid JSON: ") + simdjson::error_message(err)});
      return false;
    }
    if (!el.is_object()) {
      out->rejected.push_back({index, "not_an_object", "an event must be a JSON object"});
      return false;
    }
    if (!limits.partition_pointer.empty())
      out->partition_hashes.push_back(PartitionHash(el, ev, limits));
    return true;
  }

  // NDJSON in one pass: simdjson's parse_many indexes the whole body at
  // once instead of once per event (most of the cost of checking a small
  // event). Taken only when every line (`lines`: the body's non-blank lines,
  // trimmed) holds exactly one JSON object within the limits; returns false,
  // with *out untouched, for any other body, which is then checked line by
  // line. REQUIRES: SIMDJSON_PADDING readable bytes after `all` (Parse
  // reserves them).
  bool CheckNdjsonAtOnce(std::string_view all, const BodyLimits& limits, ParsedBody* out) {
    if (all.size() + simdjson::SIMDJSON_PADDING > kStreamBatch) return false;  // one batch only
    for (std::string_view line : lines) {
      if (line.size() > limits.max_event_bytes) return false;
    }
    simdjson::dom::document_stream docs;
    if (dom.parse_many(all.data(), all.size(), kStreamBatch).get(docs)) return false;
    size_t k = 0;
    hashes.clear();
    for (auto it = docs.begin(); it != docs.end(); ++it, ++k) {
      simdjson::dom::element el;
      if (k >= lines.size() || (*it).get(el) || !el.is_object() ||
          all.data() + it.current_index() != lines[k].data()) {
        return false;  // an error, not an object, or not one document per line
      }
      if (!limits.partition_pointer.empty()) hashes.push_back(PartitionHash(el, lines[k], limits));
    }
    if (k != lines.size() || docs.truncated_bytes() != 0) return false;
    for (size_t i = 0; i < lines.size(); ++i) {
      out->events.push_back(lines[i]);
      out->indexes.push_back(i);
    }
    out->partition_hashes = hashes;
    return true;
  }

  static uint32_t PartitionHash(simdjson::dom::element event, std::string_view text,
                                const BodyLimits& limits) {
    simdjson::dom::element v;
    if (event.at_pointer(limits.partition_pointer).get(v) != simdjson::SUCCESS || v.is_null())
      return Crc32c(text.data(), text.size());
    std::string_view s;
    if (v.get_string().get(s) == simdjson::SUCCESS) return Crc32c(s.data(), s.size());
    const std::string json = simdjson::minify(v);
    return Crc32c(json.data(), json.size());
  }
};

BodyParser::BodyParser() : impl_(new Impl) {}
BodyParser::~BodyParser() = default;

Result<BodyFormat> BodyParser::FormatOf(std::string_view content_type) {
  const std::string t = LowerNoParams(content_type);
  if (t.empty() || t == "application/json" || t == "text/json") return BodyFormat::kJson;
  if (t == "application/x-ndjson" || t == "application/ndjson" || t == "application/jsonl" ||
      t == "application/x-jsonlines" || t == "application/jsonlines") {
    return BodyFormat::kNdjson;
  }
  return Status::Unsupported("unsupported Content-Type '" + std::string(content_type) +
                             "': send application/json (an object or an array of objects) or "
                             "application/x-ndjson (one object per line)");
}

Status BodyParser::Decode(std::string&& body, std::string_view content_encoding,
                          const BodyLimits& limits, BodyError* error) {
  const std::string enc = LowerNoParams(content_encoding);
  std::string& out = impl_->decoded;
  out.clear();
  if (enc.empty() || enc == "identity") {
    out = std::move(body);
  } else if (enc == "gzip" || enc == "x-gzip" || enc == "deflate") {
    z_stream zs{};
    if (inflateInit2(&zs, enc == "deflate" ? 15 : 15 + 16) != Z_OK) {
      *error = BodyError::kBadEncoding;
      return Status::Internal("zlib init failed");
    }
    zs.next_in = reinterpret_cast<Bytef*>(body.data());
    zs.avail_in = static_cast<uInt>(body.size());
    int rc = Z_OK;
    char buf[65536];
    while (rc != Z_STREAM_END) {
      zs.next_out = reinterpret_cast<Bytef*>(buf);
      zs.avail_out = sizeof(buf);
      rc = inflate(&zs, Z_NO_FLUSH);
      if (rc != Z_OK && rc != Z_STREAM_END) break;
      out.append(buf, sizeof(buf) - zs.avail_out);
      if (out.size() > limits.max_body_bytes) {
        inflateEnd(&zs);
        *error = BodyError::kTooLarge;
        return Status::InvalidArgument("the decompressed body exceeds the limit of " +
                                       std::to_string(limits.max_body_bytes) + " bytes");
      }
      if (rc == Z_OK && zs.avail_in == 0 && zs.avail_out != 0) {
        rc = Z_DATA_ERROR;  // truncated stream
        break;
      }
    }
    inflateEnd(&zs);
    if (rc != Z_STREAM_END) {
      *error = BodyError::kBadEncoding;
      return Status::InvalidArgument("the body is not valid " + enc +
                                     " data (truncated or corrupt)");
    }
  } else if (enc == "zstd") {
    ZSTD_DStream* ds = ZSTD_createDStream();
    ZSTD_initDStream(ds);
    ZSTD_inBuffer in{body.data(), body.size(), 0};
    char buf[65536];
    size_t rc = 1;
    while (in.pos < in.size || rc != 0) {
      ZSTD_outBuffer o{buf, sizeof(buf), 0};
      rc = ZSTD_decompressStream(ds, &o, &in);
      if (ZSTD_isError(rc)) break;
      out.append(buf, o.pos);
      if (out.size() > limits.max_body_bytes) {
        ZSTD_freeDStream(ds);
        *error = BodyError::kTooLarge;
        return Status::InvalidArgument("the decompressed body exceeds the limit of " +
                                       std::to_string(limits.max_body_bytes) + " bytes");
      }
      if (in.pos == in.size && o.pos == 0 && rc != 0) break;  // truncated
    }
    ZSTD_freeDStream(ds);
    if (ZSTD_isError(rc) || rc != 0) {
      *error = BodyError::kBadEncoding;
      return Status::InvalidArgument("the body is not valid zstd data (truncated or corrupt)");
    }
  } else {
    *error = BodyError::kUnsupportedEncoding;
    return Status::Unsupported("unsupported Content-Encoding '" + std::string(content_encoding) +
                               "': use gzip, zstd or none");
  }
  if (out.size() > limits.max_body_bytes) {
    *error = BodyError::kTooLarge;
    return Status::InvalidArgument("the body exceeds the limit of " +
                                   std::to_string(limits.max_body_bytes) + " bytes");
  }
  return Status::Ok();
}

void BodyParser::set_ndjson_one_pass(bool on) { impl_->one_pass = on; }

Status BodyParser::Parse(BodyFormat format, const BodyLimits& limits, ParsedBody* out,
                         BodyError* error) {
  out->events.clear();
  out->indexes.clear();
  out->rejected.clear();
  out->partition_hashes.clear();
  error_category_.clear();
  if (format == BodyFormat::kNdjson &&
      impl_->decoded.capacity() < impl_->decoded.size() + simdjson::SIMDJSON_PADDING) {
    impl_->decoded.reserve(impl_->decoded.size() + simdjson::SIMDJSON_PADDING);  // parse_many's
  }
  std::string_view body = Trim(impl_->decoded);
  if (body.empty()) {
    *error = BodyError::kEmpty;
    return Status::InvalidArgument(
        "the body is empty: send a JSON object, an array of objects or NDJSON");
  }
  auto too_many = [&](size_t n) {
    *error = BodyError::kTooManyEvents;
    return Status::InvalidArgument("the request holds " + std::to_string(n) +
                                   " or more events, above the limit of " +
                                   std::to_string(limits.max_events) + " per request");
  };
  if (format == BodyFormat::kNdjson) {
    const std::string_view all = impl_->decoded;
    std::vector<std::string_view>& lines = impl_->lines;
    lines.clear();
    for (size_t pos = 0; pos < all.size();) {
      size_t nl = all.find('\n', pos);
      if (nl == std::string_view::npos) nl = all.size();
      std::string_view line = Trim(all.substr(pos, nl - pos));
      pos = nl + 1;
      if (line.empty()) continue;  // blank lines separate nothing
      if (lines.size() >= limits.max_events) return too_many(lines.size() + 1);
      lines.push_back(line);
    }
    if (lines.empty()) {
      *error = BodyError::kEmpty;
      return Status::InvalidArgument("the NDJSON body holds no event");
    }
    if (impl_->one_pass && impl_->CheckNdjsonAtOnce(all, limits, out)) return Status::Ok();
    for (size_t index = 0; index < lines.size(); ++index) {
      if (impl_->CheckEvent(lines[index], index, limits, out)) {
        out->events.push_back(lines[index]);
        out->indexes.push_back(index);
      }
    }
    return Status::Ok();
  }
  if (body.front() == '[') {
    // Check the whole array, then slice each element's exact bytes.
    simdjson::dom::element root;
    auto err = impl_->dom.parse(body.data(), body.size(), true).get(root);
    if (err == simdjson::NUMBER_ERROR && ValidJsonSyntax(body, kMaxDepth + 1))
      err = simdjson::SUCCESS;
    if (err) {
      *error = BodyError::kNotJson;
      return Status::InvalidArgument(std::string("the body is not valid JSON: ") +
                                     simdjson::error_message(err));
    }
    std::vector<std::pair<size_t, size_t>> spans;  // offsets into `body`
    size_t pos = 1, depth = 0, start = std::string_view::npos;
    for (; pos + 1 < body.size(); ++pos) {
      const char c = body[pos];
      if (c == '"') {  // skip the string, escapes included
        if (start == std::string_view::npos) start = pos;
        for (++pos; pos < body.size() && body[pos] != '"'; ++pos) {
          if (body[pos] == '\\') ++pos;
        }
        continue;
      }
      if (Blank(c)) continue;
      if (c == ',' && depth == 0) {
        spans.emplace_back(start, pos - start);
        start = std::string_view::npos;
        continue;
      }
      if (start == std::string_view::npos) start = pos;
      if (c == '{' || c == '[') ++depth;
      if (c == '}' || c == ']') --depth;
    }
    if (start != std::string_view::npos) spans.emplace_back(start, pos - start);
    if (spans.size() > limits.max_events) return too_many(spans.size());
    for (auto& [off, len] : spans) {
      std::string_view t = Trim(body.substr(off, len));
      off = t.data() - body.data();
      len = t.size();
    }
    if (spans.empty()) {
      *error = BodyError::kEmpty;
      return Status::InvalidArgument("the JSON array holds no event");
    }
    for (size_t i = 0; i < spans.size(); ++i) {
      std::string_view ev = body.substr(spans[i].first, spans[i].second);
      if (impl_->CheckEvent(ev, i, limits, out)) {
        out->events.push_back(ev);
        out->indexes.push_back(i);
      }
    }
    return Status::Ok();
  }
  // One object.
  if (!impl_->CheckEvent(body, 0, limits, out)) {
    error_category_ = out->rejected.front().category;
    if (out->rejected.front().category == "too_large") {
      *error = BodyError::kTooLarge;
    } else {
      *error = BodyError::kNotJson;
    }
    Status st = Status::InvalidArgument(out->rejected.front().message);
    out->rejected.clear();
    return st;
  }
  out->events.push_back(body);
  out->indexes.push_back(0);
  return Status::Ok();
}

}  // namespace inlet::ingest
