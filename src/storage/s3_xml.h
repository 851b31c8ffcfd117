// The few S3 XML documents the S3 object store reads and writes: the
// ListObjectsV2 result, the error body, the multipart-upload replies and the
// CompleteMultipartUpload request. A small, strict reader of S3's flat XML
// (no DTDs, no CDATA, one namespace), with entity decoding. Pure functions,
// thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/status.h"

namespace inlet::storage::s3xml {

// Decodes &amp; &lt; &gt; &quot; &apos; and numeric references (&#NN;
// &#xHH;, written as UTF-8). An unknown or malformed entity is an error.
Result<std::string> DecodeEntities(std::string_view text);
// Escapes & < > " ' for element text.
std::string EscapeText(std::string_view text);

// The raw (undecoded) text of the first element named `name` at or after
// `*pos`; advances `*pos` past its end tag. Matches "<name>" and
// "<name attr=...>"; "<name/>" gives "". nullopt when there is none.
std::optional<std::string_view> NextElement(std::string_view xml, std::string_view name,
                                            size_t* pos);

struct ListPage {
  struct Entry {
    std::string key;  // decoded
    uint64_t size = 0;
  };
  std::vector<Entry> entries;
  bool truncated = false;
  std::string next_continuation_token;  // decoded; set when truncated
};
// Parses a ListBucketResult of ListObjectsV2.
Result<ListPage> ParseListObjectsV2(std::string_view xml);

struct ErrorBody {
  std::string code;        // "NoSuchKey", "SignatureDoesNotMatch", ...
  std::string message;     // may be empty (radosgw often leaves it empty)
  std::string request_id;  // may be empty
};
// The <Error> document of a failed request, or nullopt when `xml` is not one
// (an empty body of a HEAD, an HTML page from a proxy).
std::optional<ErrorBody> ParseError(std::string_view xml);

// The UploadId of an InitiateMultipartUploadResult.
Result<std::string> ParseUploadId(std::string_view xml);

// The body of CompleteMultipartUpload for parts 1..n with these ETags.
std::string CompleteMultipartBody(const std::vector<std::string>& etags);

}  // namespace inlet::storage::s3xml
