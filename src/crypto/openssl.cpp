#include "crypto/openssl.hpp"

#include <openssl/err.h>

namespace sigil::crypto::internal {

std::string drain_errors() {
  std::string text;
  unsigned long code = 0;
  while ((code = ERR_get_error()) != 0) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof buf);
    if (!text.empty()) text += "; ";
    text += buf;
  }
  return text;
}

Error openssl_error(std::string_view what) {
  std::string details = drain_errors();
  std::string message(what);
  if (!details.empty()) message += ": " + details;
  return Error::internal(std::move(message));
}

Error input_error(Code code, std::string_view what) {
  ERR_clear_error();
  return Error{code, std::string(what)};
}

namespace {
EVP_MD* fetch_or_abort(const char* name) {
  EVP_MD* md = EVP_MD_fetch(nullptr, name, nullptr);
  // Without the default provider's digests nothing in sigil can work.
  if (md == nullptr) std::abort();
  return md;
}
}  // namespace

const EVP_MD* sha256_md() {
  static const MdPtr md(fetch_or_abort("SHA256"));
  return md.get();
}

const EVP_MD* sha384_md() {
  static const MdPtr md(fetch_or_abort("SHA384"));
  return md.get();
}

}  // namespace sigil::crypto::internal
