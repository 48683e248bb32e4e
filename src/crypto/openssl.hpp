// Owning handles for OpenSSL objects and the error-queue helpers, for crypto/ and the one
// other library that works with OpenSSL objects directly, pki/ (X.509 and CSRs); http/
// uses OpenSSL only through Asio's TLS.
#pragma once

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include <memory>
#include <string>
#include <string_view>

#include "base/error.hpp"

namespace sigil::crypto::internal {

template <auto Free>
struct Deleter {
  template <typename T>
  void operator()(T* p) const {
    Free(p);
  }
};

using PkeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY_free>>;
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, Deleter<EVP_PKEY_CTX_free>>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, Deleter<EVP_MD_CTX_free>>;
using MdPtr = std::unique_ptr<EVP_MD, Deleter<EVP_MD_free>>;
using CipherCtxPtr = std::unique_ptr<EVP_CIPHER_CTX, Deleter<EVP_CIPHER_CTX_free>>;
using CipherPtr = std::unique_ptr<EVP_CIPHER, Deleter<EVP_CIPHER_free>>;
using BnPtr = std::unique_ptr<BIGNUM, Deleter<BN_free>>;
using SecretBnPtr = std::unique_ptr<BIGNUM, Deleter<BN_clear_free>>;
using BnCtxPtr = std::unique_ptr<BN_CTX, Deleter<BN_CTX_free>>;
using ParamBldPtr = std::unique_ptr<OSSL_PARAM_BLD, Deleter<OSSL_PARAM_BLD_free>>;
using ParamPtr = std::unique_ptr<OSSL_PARAM, Deleter<OSSL_PARAM_free>>;
using EcdsaSigPtr = std::unique_ptr<ECDSA_SIG, Deleter<ECDSA_SIG_free>>;

// Drains the thread's OpenSSL error queue into text (and so clears it).
std::string drain_errors();

// Error::internal("<what>: <queue text>"), with the queue cleared.
Error openssl_error(std::string_view what);

// Error of the given code with the queue cleared (for failures caused by the input).
Error input_error(Code code, std::string_view what);

// Digests fetched once per process (EVP_MD_fetch is costly on the hot path).
const EVP_MD* sha256_md();
const EVP_MD* sha384_md();

inline const unsigned char* bytes(std::string_view s) {
  return reinterpret_cast<const unsigned char*>(s.data());
}
inline unsigned char* bytes(std::string& s) {
  return reinterpret_cast<unsigned char*>(s.data());
}

}  // namespace sigil::crypto::internal
