#include "crypto/aead.hpp"

#include <climits>

#include "base/secrets.hpp"
#include "crypto/gcm.hpp"
#include "crypto/openssl.hpp"

namespace sigil::crypto {
namespace internal {
namespace {

const EVP_CIPHER* aes_256_gcm() {
  static const CipherPtr cipher(EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr));
  return cipher.get();
}

Result<void> check_sizes(std::string_view key, std::string_view iv, std::size_t a, std::size_t b) {
  if (key.size() != kMasterKeyBytes) {
    return std::unexpected(Error::invalid_argument("AES-256-GCM key must be 32 bytes"));
  }
  if (iv.size() != kGcmIvBytes) {
    return std::unexpected(Error::invalid_argument("AES-GCM IV must be 12 bytes"));
  }
  if (a > INT_MAX / 2 || b > INT_MAX / 2) {
    return std::unexpected(Error::invalid_argument("AES-GCM input too large"));
  }
  if (aes_256_gcm() == nullptr) return std::unexpected(openssl_error("AES-256-GCM unavailable"));
  return Ok();
}

}  // namespace

Result<std::string> gcm_encrypt(std::string_view key, std::string_view iv,
                                std::string_view plaintext, std::string_view aad) {
  SIGIL_CHECK(check_sizes(key, iv, plaintext.size(), aad.size()));
  CipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  if (!ctx) return std::unexpected(openssl_error("EVP_CIPHER_CTX_new"));
  if (EVP_EncryptInit_ex2(ctx.get(), aes_256_gcm(), bytes(key), bytes(iv), nullptr) != 1) {
    return std::unexpected(openssl_error("AES-GCM encrypt init"));
  }
  int len = 0;
  if (!aad.empty() &&
      EVP_EncryptUpdate(ctx.get(), nullptr, &len, bytes(aad), static_cast<int>(aad.size())) != 1) {
    return std::unexpected(openssl_error("AES-GCM aad"));
  }
  std::string out(plaintext.size() + kGcmTagBytes, '\0');
  int written = 0;
  if (!plaintext.empty()) {
    if (EVP_EncryptUpdate(ctx.get(), bytes(out), &len, bytes(plaintext),
                          static_cast<int>(plaintext.size())) != 1) {
      return std::unexpected(openssl_error("AES-GCM encrypt"));
    }
    written = len;
  }
  if (EVP_EncryptFinal_ex(ctx.get(), bytes(out) + written, &len) != 1) {
    return std::unexpected(openssl_error("AES-GCM encrypt final"));
  }
  written += len;
  if (static_cast<std::size_t>(written) != plaintext.size() ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kGcmTagBytes, bytes(out) + written) !=
          1) {
    return std::unexpected(openssl_error("AES-GCM tag"));
  }
  return out;
}

Result<std::string> gcm_decrypt(std::string_view key, std::string_view iv,
                                std::string_view ciphertext_and_tag, std::string_view aad) {
  if (ciphertext_and_tag.size() < kGcmTagBytes) {
    return std::unexpected(Error::unauthenticated("sealed data too short"));
  }
  SIGIL_CHECK(check_sizes(key, iv, ciphertext_and_tag.size(), aad.size()));
  std::string_view ciphertext =
      ciphertext_and_tag.substr(0, ciphertext_and_tag.size() - kGcmTagBytes);
  std::string tag(ciphertext_and_tag.substr(ciphertext.size()));
  CipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  if (!ctx) return std::unexpected(openssl_error("EVP_CIPHER_CTX_new"));
  if (EVP_DecryptInit_ex2(ctx.get(), aes_256_gcm(), bytes(key), bytes(iv), nullptr) != 1) {
    return std::unexpected(openssl_error("AES-GCM decrypt init"));
  }
  int len = 0;
  if (!aad.empty() &&
      EVP_DecryptUpdate(ctx.get(), nullptr, &len, bytes(aad), static_cast<int>(aad.size())) != 1) {
    return std::unexpected(openssl_error("AES-GCM aad"));
  }
  std::string out(ciphertext.size(), '\0');
  int written = 0;
  if (!ciphertext.empty()) {
    if (EVP_DecryptUpdate(ctx.get(), bytes(out), &len, bytes(ciphertext),
                          static_cast<int>(ciphertext.size())) != 1) {
      return std::unexpected(openssl_error("AES-GCM decrypt"));
    }
    written = len;
  }
  if (EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kGcmTagBytes, tag.data()) != 1) {
    return std::unexpected(openssl_error("AES-GCM set tag"));
  }
  if (EVP_DecryptFinal_ex(ctx.get(), bytes(out) + written, &len) != 1) {
    wipe(out);
    return std::unexpected(input_error(Code::kUnauthenticated, "AES-GCM tag does not verify"));
  }
  out.resize(static_cast<std::size_t>(written + len));
  return out;
}

}  // namespace internal

Result<std::string> seal(std::string_view key, std::string_view plaintext, std::string_view aad) {
  std::string iv = random_bytes(internal::kGcmIvBytes);
  SIGIL_TRY(body, internal::gcm_encrypt(key, iv, plaintext, aad));
  return iv + body;
}

Result<std::string> open(std::string_view key, std::string_view sealed, std::string_view aad) {
  if (key.size() != kMasterKeyBytes) {
    return std::unexpected(Error::invalid_argument("AES-256-GCM key must be 32 bytes"));
  }
  if (sealed.size() < internal::kGcmIvBytes + internal::kGcmTagBytes) {
    return std::unexpected(Error::unauthenticated("sealed data too short"));
  }
  return internal::gcm_decrypt(key, sealed.substr(0, internal::kGcmIvBytes),
                               sealed.substr(internal::kGcmIvBytes), aad);
}

}  // namespace sigil::crypto
