// Randomness and secret handling. Random bytes come from OpenSSL's RAND_bytes;
// comparisons of secrets are constant-time; buffers holding secrets are wiped.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace sigil {

// n cryptographically random bytes. Aborts if the platform RNG fails: there is no
// safe way to continue without randomness.
std::string random_bytes(std::size_t n);

// 256 random bits, base64url: the form of every machine-generated secret.
std::string random_secret();

// Constant-time for equal lengths; unequal lengths compare false without early exit
// on content.
bool constant_time_equal(std::string_view a, std::string_view b);

// Overwrites the string's bytes in a way the compiler cannot elide, then clears it.
void wipe(std::string& s);

// A string that is wiped when destroyed.
class SecretString {
 public:
  SecretString() = default;
  explicit SecretString(std::string value) : value_(std::move(value)) {}
  SecretString(const SecretString&) = delete;
  SecretString& operator=(const SecretString&) = delete;
  SecretString(SecretString&& other) noexcept : value_(std::move(other.value_)) {
    other.value_.clear();
  }
  SecretString& operator=(SecretString&& other) noexcept {
    if (this != &other) {
      wipe(value_);
      value_ = std::move(other.value_);
      other.value_.clear();
    }
    return *this;
  }
  ~SecretString() { wipe(value_); }
  const std::string& reveal() const { return value_; }
  bool empty() const { return value_.empty(); }

 private:
  std::string value_;
};

}  // namespace sigil
