// One error model for all of sigil: recoverable failures return Result<T>, an
// std::expected carrying an Error with a canonical code and a message for people.
// Codes are for programs (the HTTP edge maps them to status and OAuth error values,
// in one place); messages are for logs and operators and never carry a secret.
#pragma once

#include <expected>
#include <string>
#include <string_view>
#include <utility>

namespace sigil {

enum class Code {
  // The caller's input is malformed or out of range (bad JSON, unknown field value).
  kInvalidArgument,
  // Who is calling could not be established (bad or missing credentials, bad token).
  kUnauthenticated,
  // The caller is known but not allowed to do this (scope, audience, disabled).
  kPermissionDenied,
  // The named thing does not exist.
  kNotFound,
  // The thing to create exists already.
  kAlreadyExists,
  // The system is not in a state that allows this (not initialised, no active key).
  kFailedPrecondition,
  // A limit was hit (body too large, rate limit, no credits left).
  kResourceExhausted,
  // A dependency cannot be reached right now; retrying later may work.
  kUnavailable,
  // A broken invariant or a failure of the platform (OpenSSL, SQLite, disk).
  kInternal,
};

std::string_view to_string(Code code);

struct Error {
  Code code = Code::kInternal;
  std::string message;

  static Error invalid_argument(std::string m) { return {Code::kInvalidArgument, std::move(m)}; }
  static Error unauthenticated(std::string m) { return {Code::kUnauthenticated, std::move(m)}; }
  static Error permission_denied(std::string m) { return {Code::kPermissionDenied, std::move(m)}; }
  static Error not_found(std::string m) { return {Code::kNotFound, std::move(m)}; }
  static Error already_exists(std::string m) { return {Code::kAlreadyExists, std::move(m)}; }
  static Error failed_precondition(std::string m) {
    return {Code::kFailedPrecondition, std::move(m)};
  }
  static Error resource_exhausted(std::string m) {
    return {Code::kResourceExhausted, std::move(m)};
  }
  static Error unavailable(std::string m) { return {Code::kUnavailable, std::move(m)}; }
  static Error internal(std::string m) { return {Code::kInternal, std::move(m)}; }
};

template <typename T>
using Result = std::expected<T, Error>;

// Ok() for Result<void>.
inline Result<void> Ok() {
  return {};
}

}  // namespace sigil

// SIGIL_TRY(var, expr): evaluates expr (a Result<T>); on error returns it from the
// enclosing function, otherwise moves the value into a new variable `var`.
#define SIGIL_CONCAT_INNER(a, b) a##b
#define SIGIL_CONCAT(a, b) SIGIL_CONCAT_INNER(a, b)
#define SIGIL_TRY(var, expr)                                                       \
  auto SIGIL_CONCAT(sigil_try_, __LINE__) = (expr);                                \
  if (!SIGIL_CONCAT(sigil_try_, __LINE__))                                         \
    return std::unexpected(std::move(SIGIL_CONCAT(sigil_try_, __LINE__)).error()); \
  auto var = std::move(*SIGIL_CONCAT(sigil_try_, __LINE__))

// SIGIL_CHECK(expr): for Result<void> (or any Result whose value is not needed).
#define SIGIL_CHECK(expr)                                                                   \
  do {                                                                                      \
    auto sigil_check_result = (expr);                                                       \
    if (!sigil_check_result) return std::unexpected(std::move(sigil_check_result).error()); \
  } while (false)
