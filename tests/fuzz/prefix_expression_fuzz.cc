// libFuzzer target for Firehose prefix expressions: parse any text, and
// evaluate what parses, with hostile key values. It must never crash.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "delivery/prefix_expression.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 4096) return 0;
  using namespace inlet::delivery;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto expr = PrefixExpression::Parse(text, (size & 1) ? PrefixRole::kError : PrefixRole::kData,
                                      {"os", "region"});
  if (!expr.ok()) return 0;
  static const std::vector<std::string> keys = {"and/../roid", ""};
  PrefixValues values;
  values.time_us = 1764201600123456LL;
  values.keys = &keys;
  values.error_output_type = "format-conversion-failed";
  values.random_string = "abcdefghij";
  std::string out;
  expr->Evaluate(values, &out);
  (void)out;
  return 0;
}
