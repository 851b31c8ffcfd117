#include "storage/s3_xml.h"

#include <charconv>

namespace inlet::storage::s3xml {

namespace {

void AppendUtf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

Result<std::string> DecodedElement(std::string_view xml, std::string_view name) {
  size_t pos = 0;
  auto raw = NextElement(xml, name, &pos);
  if (!raw) return Status::NotFound("no <" + std::string(name) + "> element");
  return DecodeEntities(*raw);
}

}  // namespace

Result<std::string> DecodeEntities(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    char c = text[i];
    if (c != '&') {
      out.push_back(c);
      ++i;
      continue;
    }
    size_t end = text.find(';', i);
    if (end == std::string_view::npos || end - i > 12) {
      return Status::Corruption("malformed XML entity in '" + std::string(text) + "'");
    }
    std::string_view entity = text.substr(i + 1, end - i - 1);
    if (entity == "amp") {
      out.push_back('&');
    } else if (entity == "lt") {
      out.push_back('<');
    } else if (entity == "gt") {
      out.push_back('>');
    } else if (entity == "quot") {
      out.push_back('"');
    } else if (entity == "apos") {
      out.push_back('\'');
    } else if (entity.size() >= 2 && entity[0] == '#') {
      bool hex = entity[1] == 'x' || entity[1] == 'X';
      std::string_view digits = entity.substr(hex ? 2 : 1);
      uint32_t cp = 0;
      auto [ptr, ec] =
          std::from_chars(digits.data(), digits.data() + digits.size(), cp, hex ? 16 : 10);
      if (digits.empty() || ec != std::errc() || ptr != digits.data() + digits.size() || cp == 0 ||
          cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
        return Status::Corruption("bad XML character reference &" + std::string(entity) + ";");
      }
      AppendUtf8(cp, &out);
    } else {
      return Status::Corruption("unknown XML entity &" + std::string(entity) + ";");
    }
    i = end + 1;
  }
  return out;
}

std::string EscapeText(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

std::optional<std::string_view> NextElement(std::string_view xml, std::string_view name,
                                            size_t* pos) {
  size_t at = *pos;
  while (true) {
    at = xml.find('<', at);
    if (at == std::string_view::npos) return std::nullopt;
    size_t after = at + 1 + name.size();
    if (xml.compare(at + 1, name.size(), name) != 0 || after >= xml.size()) {
      ++at;
      continue;
    }
    char next = xml[after];
    if (next != '>' && next != ' ' && next != '/' && next != '\t' && next != '\n' && next != '\r') {
      ++at;  // a longer name with the same beginning ("<KeyCount>" for "Key")
      continue;
    }
    size_t open_end = xml.find('>', after);
    if (open_end == std::string_view::npos) return std::nullopt;
    if (xml[open_end - 1] == '/') {  // <name/>
      *pos = open_end + 1;
      return std::string_view();
    }
    std::string close = "</" + std::string(name) + ">";
    size_t close_at = xml.find(close, open_end + 1);
    if (close_at == std::string_view::npos) return std::nullopt;
    *pos = close_at + close.size();
    return xml.substr(open_end + 1, close_at - open_end - 1);
  }
}

Result<ListPage> ParseListObjectsV2(std::string_view xml) {
  size_t root = 0;
  if (!NextElement(xml, "ListBucketResult", &root)) {
    return Status::Corruption("S3 list reply is not a ListBucketResult: " +
                              std::string(xml.substr(0, 200)));
  }
  ListPage page;
  size_t pos = 0;
  while (auto contents = NextElement(xml, "Contents", &pos)) {
    size_t p = 0;
    auto key = NextElement(*contents, "Key", &p);
    if (!key) return Status::Corruption("S3 list reply has a <Contents> without <Key>");
    auto decoded = DecodeEntities(*key);
    if (!decoded.ok()) return decoded.status();
    ListPage::Entry entry{std::move(*decoded), 0};
    p = 0;
    if (auto size = NextElement(*contents, "Size", &p)) {
      auto [ptr, ec] = std::from_chars(size->data(), size->data() + size->size(), entry.size);
      if (ec != std::errc() || ptr != size->data() + size->size()) {
        return Status::Corruption("S3 list reply has a bad <Size> '" + std::string(*size) + "'");
      }
    }
    page.entries.push_back(std::move(entry));
  }
  // IsTruncated and NextContinuationToken are children of the root; keys
  // cannot contain them unescaped, so a plain search is exact.
  size_t p = 0;
  auto truncated = NextElement(xml, "IsTruncated", &p);
  page.truncated = truncated && *truncated == "true";
  if (page.truncated) {
    auto token = DecodedElement(xml, "NextContinuationToken");
    if (!token.ok() || token->empty()) {
      return Status::Corruption("S3 list reply is truncated but has no NextContinuationToken");
    }
    page.next_continuation_token = std::move(*token);
  }
  return page;
}

std::optional<ErrorBody> ParseError(std::string_view xml) {
  size_t pos = 0;
  auto error = NextElement(xml, "Error", &pos);
  if (!error) return std::nullopt;
  ErrorBody body;
  auto code = DecodedElement(*error, "Code");
  if (code.ok()) body.code = std::move(*code);
  auto message = DecodedElement(*error, "Message");
  if (message.ok()) body.message = std::move(*message);
  auto request_id = DecodedElement(*error, "RequestId");
  if (request_id.ok()) body.request_id = std::move(*request_id);
  return body;
}

Result<std::string> ParseUploadId(std::string_view xml) {
  auto id = DecodedElement(xml, "UploadId");
  if (!id.ok() || id->empty()) {
    return Status::Corruption("S3 InitiateMultipartUpload reply has no UploadId: " +
                              std::string(xml.substr(0, 200)));
  }
  return id;
}

std::string CompleteMultipartBody(const std::vector<std::string>& etags) {
  std::string out = "<CompleteMultipartUpload>";
  for (size_t i = 0; i < etags.size(); ++i) {
    out += "<Part><PartNumber>" + std::to_string(i + 1) + "</PartNumber><ETag>" +
           EscapeText(etags[i]) + "</ETag></Part>";
  }
  out += "</CompleteMultipartUpload>";
  return out;
}

}  // namespace inlet::storage::s3xml
