// Status and Result<T>: errors that callers handle are values, cheap when OK.
// A Status carries a code from a small enum and a message for humans; the
// message names what failed and where. Thread-compatible (plain values).
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <utility>

namespace inlet {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,  // the caller's input is wrong (bad JSON, bad config)
  kNotFound,
  kAlreadyExists,
  kCorruption,         // stored data failed a checksum or framing check
  kIoError,            // the operating system refused (disk full, permissions)
  kResourceExhausted,  // a limit was reached; retry later (back-pressure)
  kNoSpace,            // the disk (or the configured disk budget) is full; retry later
  kUnavailable,        // shutting down or not ready
  kPermissionDenied,
  kUnauthenticated,
  kTooLarge,
  kUnsupported,
  kTimeout,
  kInternal,
};

const char* StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }
  static Status InvalidArgument(std::string m) {
    return {StatusCode::kInvalidArgument, std::move(m)};
  }
  static Status NotFound(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
  static Status Corruption(std::string m) { return {StatusCode::kCorruption, std::move(m)}; }
  static Status IoError(std::string m) { return {StatusCode::kIoError, std::move(m)}; }
  static Status ResourceExhausted(std::string m) {
    return {StatusCode::kResourceExhausted, std::move(m)};
  }
  static Status NoSpace(std::string m) { return {StatusCode::kNoSpace, std::move(m)}; }
  static Status Unavailable(std::string m) { return {StatusCode::kUnavailable, std::move(m)}; }
  static Status Internal(std::string m) { return {StatusCode::kInternal, std::move(m)}; }
  static Status Unsupported(std::string m) { return {StatusCode::kUnsupported, std::move(m)}; }
  // An IoError from errno, naming the operation and the path.
  static Status FromErrno(int err, const std::string& what);

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  std::string ToString() const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

// Either a value or a non-OK Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) { assert(!status_.ok()); }  // NOLINT

  bool ok() const { return value_.has_value(); }
  const Status& status() const { return status_; }
  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }
  T& operator*() { return *value_; }

 private:
  std::optional<T> value_;
  Status status_;
};

#define INLET_RETURN_IF_ERROR(expr) \
  do {                              \
    ::inlet::Status _st = (expr);   \
    if (!_st.ok()) return _st;      \
  } while (0)

}  // namespace inlet
