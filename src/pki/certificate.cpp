#include "pki/certificate.hpp"

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <limits>

#include "crypto/digest.hpp"
#include "crypto/openssl.hpp"

namespace sigil::pki {

namespace {

using crypto::internal::BnPtr;
using crypto::internal::bytes;
using crypto::internal::Deleter;
using crypto::internal::openssl_error;
using X509Ptr = std::unique_ptr<X509, Deleter<X509_free>>;
using BioPtr = std::unique_ptr<BIO, Deleter<BIO_free>>;
using NamePtr = std::unique_ptr<X509_NAME, Deleter<X509_NAME_free>>;
using ExtPtr = std::unique_ptr<X509_EXTENSION, Deleter<X509_EXTENSION_free>>;
using GeneralNamesPtr = std::unique_ptr<GENERAL_NAMES, Deleter<GENERAL_NAMES_free>>;
using GeneralNamePtr = std::unique_ptr<GENERAL_NAME, Deleter<GENERAL_NAME_free>>;
using Asn1IntPtr = std::unique_ptr<ASN1_INTEGER, Deleter<ASN1_INTEGER_free>>;
using Asn1TimePtr = std::unique_ptr<ASN1_TIME, Deleter<ASN1_TIME_free>>;

Error invalid(std::string_view what) {
  ERR_clear_error();
  return Error::invalid_argument(std::string(what));
}

// A mismatch between what was asked for and what was signed: a bug, never the input.
Error mismatch(std::string_view what) {
  ERR_clear_error();
  return Error::internal("issued certificate check failed: " + std::string(what));
}

BioPtr mem_bio(std::string_view s) {
  return BioPtr(BIO_new_mem_buf(s.data(), static_cast<int>(std::min<std::size_t>(
                                              s.size(), std::numeric_limits<int>::max()))));
}

std::string bio_text(BIO* bio) {
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  return len > 0 ? std::string(data, static_cast<std::size_t>(len)) : std::string();
}

TimePoint to_time_point(const ASN1_TIME* t) {
  std::tm tm{};
  if (ASN1_TIME_to_tm(t, &tm) != 1) return TimePoint{};
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

std::time_t to_time_t(TimePoint t) {
  return std::chrono::system_clock::to_time_t(std::chrono::floor<std::chrono::seconds>(t));
}

std::string name_text(const X509_NAME* name) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio || X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253) < 0) return {};
  return bio_text(bio.get());
}

std::vector<std::string> sans_of_type(X509* x, int type) {
  std::vector<std::string> out;
  GeneralNamesPtr names(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(x, NID_subject_alt_name, nullptr, nullptr)));
  if (!names) return out;
  for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* gen = sk_GENERAL_NAME_value(names.get(), i);
    if (gen->type != type) continue;
    const ASN1_IA5STRING* s = type == GEN_URI ? gen->d.uniformResourceIdentifier : gen->d.dNSName;
    out.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                     static_cast<std::size_t>(ASN1_STRING_length(s)));
  }
  return out;
}

int san_count(X509* x) {
  GeneralNamesPtr names(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(x, NID_subject_alt_name, nullptr, nullptr)));
  return names ? sk_GENERAL_NAME_num(names.get()) : 0;
}

bool is_critical(X509* x, int nid) {
  int idx = X509_get_ext_by_NID(x, nid, -1);
  return idx >= 0 && X509_EXTENSION_get_critical(X509_get_ext(x, idx)) == 1;
}

// RFC 1035 §2.3.1 preferred name syntax, lowercase only (certificates compare DNS names
// case-insensitively, so one spelling is kept): labels of letters, digits and hyphens,
// not starting or ending with a hyphen, at most 63 bytes; the name at most 253 bytes.
bool valid_dns_name(std::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  std::size_t pos = 0;
  while (true) {
    std::size_t end = name.find('.', pos);
    std::string_view label =
        name.substr(pos, end == std::string_view::npos ? std::string_view::npos : end - pos);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') {
      return false;
    }
    for (char c : label) {
      if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
    }
    if (end == std::string_view::npos) return true;
    pos = end + 1;
  }
}

Result<void> check_serial(std::string_view serial) {
  // RFC 5280 §4.1.2.2: "The serial number MUST be a positive integer assigned by the CA
  // to each certificate." Unsigned bytes are never negative; all zero would be 0.
  if (serial.size() != kSerialBytes) {
    return std::unexpected(invalid("the serial must be 16 random bytes"));
  }
  if (std::all_of(serial.begin(), serial.end(), [](char c) { return c == '\0'; })) {
    return std::unexpected(invalid("the serial is zero"));
  }
  return Ok();
}

Result<void> check_validity(TimePoint not_before, TimePoint not_after) {
  if (to_time_t(not_after) <= to_time_t(not_before)) {
    return std::unexpected(invalid("notAfter must be later than notBefore"));
  }
  return Ok();
}

Result<const EVP_MD*> signing_digest(const crypto::Key& key) {
  if (!key.is_private()) return std::unexpected(invalid("the CA key is not a private key"));
  // RFC 5758 §3.2: ecdsa-with-SHA256 for P-256 and ecdsa-with-SHA384 for P-384.
  switch (key.type()) {
    case crypto::KeyType::kEcP256:
      return EVP_sha256();
    case crypto::KeyType::kEcP384:
      return EVP_sha384();
    default:
      return std::unexpected(invalid("a CA key must be EC P-256 or P-384"));
  }
}

// Everything one certificate says, for building it and for checking what was built.
struct Spec {
  std::string common_name;
  std::string organization;
  const crypto::Key* subject_key = nullptr;
  std::string serial;
  TimePoint not_before;
  TimePoint not_after;
  bool ca = false;
  std::optional<int> path_length;
  std::optional<std::string> uri;
  std::vector<std::string> dns_names;
};

Result<void> add_ext(X509* x, X509V3_CTX* ctx, int nid, const char* value) {
  ExtPtr ext(X509V3_EXT_conf_nid(nullptr, ctx, nid, value));
  if (!ext || X509_add_ext(x, ext.get(), -1) != 1) {
    return std::unexpected(openssl_error("certificate extension"));
  }
  return Ok();
}

Result<void> add_name_entry(X509_NAME* name, const char* field, const std::string& value) {
  if (value.empty()) return Ok();
  if (X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8, bytes(value),
                                 static_cast<int>(value.size()), -1, 0) != 1) {
    return std::unexpected(invalid("a subject name attribute is too long or not UTF-8"));
  }
  return Ok();
}

Result<void> add_san(X509* x, const Spec& spec) {
  GeneralNamesPtr names(sk_GENERAL_NAME_new_null());
  if (!names) return std::unexpected(openssl_error("GENERAL_NAMES"));
  auto push = [&](int type, const std::string& value) -> Result<void> {
    ASN1_IA5STRING* s = ASN1_IA5STRING_new();
    GeneralNamePtr gen(GENERAL_NAME_new());
    if (s == nullptr || !gen ||
        ASN1_STRING_set(s, value.data(), static_cast<int>(value.size())) != 1) {
      ASN1_IA5STRING_free(s);
      return std::unexpected(openssl_error("GENERAL_NAME"));
    }
    GENERAL_NAME_set0_value(gen.get(), type, s);
    if (sk_GENERAL_NAME_push(names.get(), gen.get()) == 0) {
      return std::unexpected(openssl_error("GENERAL_NAMES push"));
    }
    gen.release();
    return Ok();
  };
  if (spec.uri) SIGIL_CHECK(push(GEN_URI, *spec.uri));
  for (const auto& dns : spec.dns_names) SIGIL_CHECK(push(GEN_DNS, dns));
  if (sk_GENERAL_NAME_num(names.get()) == 0) return Ok();
  if (X509_add1_ext_i2d(x, NID_subject_alt_name, names.get(), 0, X509V3_ADD_DEFAULT) != 1) {
    return std::unexpected(openssl_error("subjectAltName"));
  }
  return Ok();
}

// Builds and signs the certificate of spec. issuer is nullptr for a self-signed one.
Result<std::string> build(const Spec& spec, X509* issuer, const crypto::Key& issuer_key) {
  SIGIL_TRY(md, signing_digest(issuer_key));
  X509Ptr x(X509_new());
  if (!x) return std::unexpected(openssl_error("X509_new"));
  // RFC 5280 §4.1.2.1: "When extensions are used, as expected in this profile, version
  // MUST be 3 (value is 2)."
  if (X509_set_version(x.get(), X509_VERSION_3) != 1) {
    return std::unexpected(openssl_error("version"));
  }
  BnPtr bn(BN_bin2bn(bytes(spec.serial), static_cast<int>(spec.serial.size()), nullptr));
  Asn1IntPtr serial(bn ? BN_to_ASN1_INTEGER(bn.get(), nullptr) : nullptr);
  if (!serial || X509_set_serialNumber(x.get(), serial.get()) != 1) {
    return std::unexpected(openssl_error("serial"));
  }
  NamePtr subject(X509_NAME_new());
  if (!subject) return std::unexpected(openssl_error("X509_NAME_new"));
  SIGIL_CHECK(add_name_entry(subject.get(), "O", spec.organization));
  SIGIL_CHECK(add_name_entry(subject.get(), "CN", spec.common_name));
  if (X509_set_subject_name(x.get(), subject.get()) != 1 ||
      X509_set_issuer_name(x.get(), issuer ? X509_get_subject_name(issuer) : subject.get()) != 1) {
    return std::unexpected(openssl_error("names"));
  }
  if (ASN1_TIME_set(X509_getm_notBefore(x.get()), to_time_t(spec.not_before)) == nullptr ||
      ASN1_TIME_set(X509_getm_notAfter(x.get()), to_time_t(spec.not_after)) == nullptr) {
    return std::unexpected(openssl_error("validity"));
  }
  if (X509_set_pubkey(x.get(), spec.subject_key->evp_pkey()) != 1) {
    return std::unexpected(openssl_error("public key"));
  }

  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer ? issuer : x.get(), x.get(), nullptr, nullptr, 0);
  if (spec.ca) {
    // X509-SVID §4.1: "Signing certificates MUST set the `cA` field to `true`"; §4.3:
    // "SVID signing certificates MUST set `keyCertSign`. They MAY set `cRLSign`."
    std::string bc = "critical,CA:TRUE";
    if (spec.path_length) bc += ",pathlen:" + std::to_string(*spec.path_length);
    SIGIL_CHECK(add_ext(x.get(), &ctx, NID_basic_constraints, bc.c_str()));
    SIGIL_CHECK(add_ext(x.get(), &ctx, NID_key_usage, "critical,keyCertSign,cRLSign"));
  } else {
    // X509-SVID §4.1: "leaf certificates MUST set the `cA` field to `false`."
    SIGIL_CHECK(add_ext(x.get(), &ctx, NID_basic_constraints, "critical,CA:FALSE"));
    // X509-SVID §4.3: "The key usage extension MUST be set on all SVIDs, and MUST be
    // marked critical." "Leaf SVIDs MUST set `digitalSignature`." "Leaf SVIDs MUST NOT
    // set `keyCertSign` or `cRLSign`."
    SIGIL_CHECK(add_ext(x.get(), &ctx, NID_key_usage, "critical,digitalSignature"));
    // X509-SVID §4.4: "Leaf SVIDs SHOULD include this extension [...] When included,
    // fields `id-kp-serverAuth` and `id-kp-clientAuth` MUST be set."
    SIGIL_CHECK(add_ext(x.get(), &ctx, NID_ext_key_usage, "serverAuth,clientAuth"));
  }
  // RFC 5280 §4.2.1.2 (SKI from the SHA-1 of the key's BIT STRING) and §4.2.1.1 (AKI: the
  // issuer's SKI); for a self-signed root the AKI names the root's own key.
  SIGIL_CHECK(add_ext(x.get(), &ctx, NID_subject_key_identifier, "hash"));
  SIGIL_CHECK(add_ext(x.get(), &ctx, NID_authority_key_identifier, "keyid:always"));
  SIGIL_CHECK(add_san(x.get(), spec));

  if (X509_sign(x.get(), issuer_key.evp_pkey(), md) <= 0) {
    return std::unexpected(openssl_error("X509_sign"));
  }
  int len = i2d_X509(x.get(), nullptr);
  if (len <= 0) return std::unexpected(openssl_error("i2d_X509"));
  std::string der(static_cast<std::size_t>(len), '\0');
  auto* out = reinterpret_cast<unsigned char*>(der.data());
  if (i2d_X509(x.get(), &out) != len) return std::unexpected(openssl_error("i2d_X509"));
  return der;
}

// Parses der again and checks that it says exactly what spec asked for and that it was
// signed by issuer_key under issuer's name (issuer nullptr: self-signed).
Result<Certificate> check(const std::string& der, const Spec& spec, const Certificate* issuer,
                          const crypto::Key& issuer_key) {
  auto parsed = Certificate::from_der(der);
  if (!parsed) return std::unexpected(mismatch("does not parse: " + parsed.error().message));
  X509* x = parsed->x509();
  X509* issuer_x = issuer ? issuer->x509() : x;

  if (X509_get_version(x) != X509_VERSION_3) return std::unexpected(mismatch("version"));
  if (parsed->serial() !=
      std::string_view(spec.serial).substr(spec.serial.find_first_not_of('\0'))) {
    return std::unexpected(mismatch("serial"));
  }
  if (ASN1_TIME_cmp_time_t(X509_get0_notBefore(x), to_time_t(spec.not_before)) != 0 ||
      ASN1_TIME_cmp_time_t(X509_get0_notAfter(x), to_time_t(spec.not_after)) != 0) {
    return std::unexpected(mismatch("validity"));
  }
  if (EVP_PKEY_eq(X509_get0_pubkey(x), spec.subject_key->evp_pkey()) != 1) {
    return std::unexpected(mismatch("subject public key"));
  }
  if (X509_verify(x, issuer_key.evp_pkey()) != 1) {
    return std::unexpected(mismatch("signature does not verify with the CA key"));
  }
  // Issuer name equals the CA's subject, the AKI matches the CA's SKI, and the CA's key
  // usage allows certificate signing.
  if (X509_check_issued(issuer_x, x) != X509_V_OK) {
    return std::unexpected(mismatch("issuer name or key identifier"));
  }

  uint32_t flags = X509_get_extension_flags(x);
  if (!(flags & EXFLAG_BCONS) || !is_critical(x, NID_basic_constraints)) {
    return std::unexpected(mismatch("basicConstraints missing or not critical"));
  }
  if (!(flags & EXFLAG_KUSAGE) || !is_critical(x, NID_key_usage)) {
    return std::unexpected(mismatch("keyUsage missing or not critical"));
  }
  if (X509_get0_subject_key_id(x) == nullptr || X509_get0_authority_key_id(x) == nullptr) {
    return std::unexpected(mismatch("key identifiers"));
  }
  std::vector<std::string> uris = parsed->uri_sans();
  std::vector<std::string> want_uris;
  if (spec.uri) want_uris.push_back(*spec.uri);
  if (uris != want_uris) return std::unexpected(mismatch("URI SAN"));
  if (parsed->dns_sans() != spec.dns_names) return std::unexpected(mismatch("DNS SANs"));
  if (static_cast<std::size_t>(san_count(x)) != uris.size() + spec.dns_names.size()) {
    return std::unexpected(mismatch("unexpected SAN types"));
  }

  if (spec.ca) {
    if (!(flags & EXFLAG_CA)) return std::unexpected(mismatch("CA:TRUE"));
    long pathlen = X509_get_pathlen(x);
    if (pathlen != (spec.path_length ? *spec.path_length : -1)) {
      return std::unexpected(mismatch("pathLenConstraint"));
    }
    if (X509_get_key_usage(x) != (KU_KEY_CERT_SIGN | KU_CRL_SIGN)) {
      return std::unexpected(mismatch("keyUsage"));
    }
    if (flags & EXFLAG_XKUSAGE) return std::unexpected(mismatch("a CA carries no EKU"));
  } else {
    if (flags & EXFLAG_CA) return std::unexpected(mismatch("CA:FALSE"));
    if (X509_get_key_usage(x) != KU_DIGITAL_SIGNATURE) {
      return std::unexpected(mismatch("keyUsage"));
    }
    if (!(flags & EXFLAG_XKUSAGE) ||
        X509_get_extended_key_usage(x) != (XKU_SSL_SERVER | XKU_SSL_CLIENT)) {
      return std::unexpected(mismatch("extendedKeyUsage"));
    }
  }
  return std::move(*parsed);
}

Result<Spec> ca_spec(const crypto::Key& subject_key, const CaProfile& profile) {
  if (profile.common_name.empty()) return std::unexpected(invalid("a CA needs a common name"));
  if (profile.path_length && *profile.path_length < 0) {
    return std::unexpected(invalid("the path length must not be negative"));
  }
  if (subject_key.type() != crypto::KeyType::kEcP256 &&
      subject_key.type() != crypto::KeyType::kEcP384) {
    return std::unexpected(invalid("a CA key must be EC P-256 or P-384"));
  }
  SIGIL_CHECK(check_serial(profile.serial));
  SIGIL_CHECK(check_validity(profile.not_before, profile.not_after));
  Spec spec;
  spec.common_name = profile.common_name;
  spec.organization = profile.organization;
  spec.subject_key = &subject_key;
  spec.serial = profile.serial;
  spec.not_before = profile.not_before;
  spec.not_after = profile.not_after;
  spec.ca = true;
  spec.path_length = profile.path_length;
  if (profile.trust_domain) spec.uri = profile.trust_domain->id_string();
  return spec;
}

}  // namespace

std::string pem_encode(std::string_view label, std::string_view der) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  std::string name(label);
  if (!bio ||
      PEM_write_bio(bio.get(), name.c_str(), "", bytes(der), static_cast<long>(der.size())) <= 0) {
    ERR_clear_error();
    return {};
  }
  return bio_text(bio.get());
}

struct Certificate::Impl {
  X509Ptr x509;
  std::string der;
};

Result<Certificate> Certificate::from_der(std::string_view der) {
  const unsigned char* p = bytes(der);
  X509Ptr x(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
  if (!x) return std::unexpected(invalid("not a DER X.509 certificate"));
  if (p != bytes(der) + der.size()) {
    return std::unexpected(invalid("trailing bytes after the certificate"));
  }
  // Computes and caches the extension flags; a malformed extension sets EXFLAG_INVALID.
  X509_check_purpose(x.get(), -1, 0);
  if (X509_get_extension_flags(x.get()) & EXFLAG_INVALID) {
    return std::unexpected(invalid("the certificate has a malformed extension"));
  }
  auto impl = std::make_shared<Impl>();
  impl->x509 = std::move(x);
  impl->der = std::string(der);
  return Certificate(std::move(impl));
}

Result<std::vector<Certificate>> Certificate::chain_from_pem(std::string_view pem) {
  BioPtr bio = mem_bio(pem);
  if (!bio) return std::unexpected(openssl_error("BIO_new_mem_buf"));
  std::vector<Certificate> out;
  while (true) {
    X509Ptr x(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (!x) break;
    int len = i2d_X509(x.get(), nullptr);
    if (len <= 0) return std::unexpected(openssl_error("i2d_X509"));
    std::string der(static_cast<std::size_t>(len), '\0');
    auto* o = reinterpret_cast<unsigned char*>(der.data());
    i2d_X509(x.get(), &o);
    SIGIL_TRY(cert, from_der(der));
    out.push_back(std::move(cert));
  }
  ERR_clear_error();
  if (out.empty()) return std::unexpected(invalid("no PEM CERTIFICATE block"));
  return out;
}

Result<Certificate> Certificate::from_pem(std::string_view pem) {
  SIGIL_TRY(chain, chain_from_pem(pem));
  return std::move(chain.front());
}

const std::string& Certificate::der() const {
  return impl_->der;
}

std::string Certificate::pem() const {
  return pem_encode("CERTIFICATE", impl_->der);
}

std::string Certificate::fingerprint_sha256() const {
  return crypto::sha256(impl_->der);
}

std::string Certificate::serial() const {
  BnPtr bn(ASN1_INTEGER_to_BN(X509_get0_serialNumber(impl_->x509.get()), nullptr));
  if (!bn) return {};
  std::string out(static_cast<std::size_t>(BN_num_bytes(bn.get())), '\0');
  BN_bn2bin(bn.get(), reinterpret_cast<unsigned char*>(out.data()));
  return out;
}

TimePoint Certificate::not_before() const {
  return to_time_point(X509_get0_notBefore(impl_->x509.get()));
}

TimePoint Certificate::not_after() const {
  return to_time_point(X509_get0_notAfter(impl_->x509.get()));
}

std::string Certificate::subject() const {
  return name_text(X509_get_subject_name(impl_->x509.get()));
}

std::string Certificate::issuer() const {
  return name_text(X509_get_issuer_name(impl_->x509.get()));
}

bool Certificate::is_ca() const {
  return (X509_get_extension_flags(impl_->x509.get()) & EXFLAG_CA) != 0;
}

std::vector<std::string> Certificate::uri_sans() const {
  return sans_of_type(impl_->x509.get(), GEN_URI);
}

std::vector<std::string> Certificate::dns_sans() const {
  return sans_of_type(impl_->x509.get(), GEN_DNS);
}

bool Certificate::has_key_cert_sign() const {
  X509* x = impl_->x509.get();
  return (X509_get_extension_flags(x) & EXFLAG_KUSAGE) != 0 &&
         (X509_get_key_usage(x) & KU_KEY_CERT_SIGN) != 0;
}

std::optional<int> Certificate::path_length() const {
  if (!is_ca()) return std::nullopt;
  long pathlen = X509_get_pathlen(impl_->x509.get());
  if (pathlen < 0 || pathlen > std::numeric_limits<int>::max()) return std::nullopt;
  return static_cast<int>(pathlen);
}

Result<void> Certificate::verify_signed_by(const Certificate& issuer) const {
  X509* x = impl_->x509.get();
  X509* issuer_x = issuer.x509();
  // Names, key identifiers and the issuer's keyCertSign, in OpenSSL's own order.
  const int issued = X509_check_issued(issuer_x, x);
  if (issued != X509_V_OK) {
    return std::unexpected(
        invalid(std::string("not issued by that CA: ") + X509_verify_cert_error_string(issued)));
  }
  // X509_check_issued accepts a CA without basicConstraints (a v1 certificate); sigil
  // does not (RFC 5280 §4.2.1.9).
  if (!issuer.is_ca()) return std::unexpected(invalid("the issuer is not a CA"));
  EVP_PKEY* issuer_key = X509_get0_pubkey(issuer_x);
  if (issuer_key == nullptr || X509_verify(x, issuer_key) != 1) {
    return std::unexpected(invalid("the signature does not verify with the issuer's key"));
  }
  return Ok();
}

Result<crypto::Key> Certificate::public_key() const {
  EVP_PKEY* pkey = X509_get0_pubkey(impl_->x509.get());
  if (pkey == nullptr) return std::unexpected(invalid("no usable public key"));
  return crypto::Key::from_public_evp_pkey(pkey);
}

x509_st* Certificate::x509() const {
  return impl_->x509.get();
}

Result<Issuer> Issuer::create(Certificate certificate, crypto::Key key) {
  SIGIL_TRY(md, signing_digest(key));
  (void)md;
  X509* x = certificate.x509();
  // RFC 5280 §4.2.1.9: "If the basic constraints extension is not present in a version 3
  // certificate, or the extension is present but the cA boolean is not asserted, then
  // the certified public key MUST NOT be used to verify certificate signatures."
  if (!certificate.is_ca()) return std::unexpected(invalid("the certificate is not a CA"));
  // RFC 5280 §4.2.1.3: keyCertSign must be set when the key verifies certificate
  // signatures.
  if ((X509_get_extension_flags(x) & EXFLAG_KUSAGE) &&
      !(X509_get_key_usage(x) & KU_KEY_CERT_SIGN)) {
    return std::unexpected(invalid("the CA certificate does not allow keyCertSign"));
  }
  if (EVP_PKEY_eq(X509_get0_pubkey(x), key.evp_pkey()) != 1) {
    ERR_clear_error();
    return std::unexpected(invalid("the key does not match the CA certificate"));
  }
  return Issuer(std::move(certificate), std::move(key));
}

Result<IssuedCertificate> Issuer::self_signed_root(const crypto::Key& key,
                                                   const CaProfile& profile) {
  SIGIL_TRY(spec, ca_spec(key, profile));
  SIGIL_TRY(der, build(spec, nullptr, key));
  SIGIL_TRY(cert, check(der, spec, nullptr, key));
  return IssuedCertificate(std::move(cert));
}

Result<IssuedCertificate> Issuer::issue_intermediate(const crypto::Key& subject_key,
                                                     const CaProfile& profile) const {
  SIGIL_TRY(spec, ca_spec(subject_key, profile));
  // RFC 5280 §4.2.1.9: pathLenConstraint "gives the maximum number of non-self-issued
  // intermediate certificates that may follow this certificate in a valid
  // certification path."
  long issuer_path = X509_get_pathlen(certificate_.x509());
  if (issuer_path >= 0 && (!spec.path_length || *spec.path_length >= issuer_path)) {
    return std::unexpected(invalid("the issuing CA's path length allows no such CA below it"));
  }
  if (to_time_t(spec.not_after) > to_time_t(certificate_.not_after())) {
    return std::unexpected(invalid("the certificate would outlive the issuing CA"));
  }
  SIGIL_TRY(der, build(spec, certificate_.x509(), key_));
  SIGIL_TRY(cert, check(der, spec, &certificate_, key_));
  return IssuedCertificate(std::move(cert));
}

Result<IssuedCertificate> Issuer::issue_svid(const crypto::Key& subject_key,
                                             const SvidProfile& profile) const {
  // X509-SVID §3.1: "Leaf certificate SPIFFE IDs MUST have a non-root path component."
  if (profile.id.is_trust_domain_id()) {
    return std::unexpected(invalid("a workload SPIFFE ID needs a path"));
  }
  // X509-SVID §3.2: the SPIFFE ID of a signing certificate "SHOULD reside in the trust
  // domain of any leaf SVIDs it issues"; sigil makes that a rule for its own CAs.
  for (const auto& uri : certificate_.uri_sans()) {
    auto ca_id = SpiffeId::parse(uri);
    if (ca_id && !profile.id.member_of(ca_id->trust_domain())) {
      return std::unexpected(invalid("the SPIFFE ID is outside this CA's trust domain"));
    }
  }
  if (profile.dns_names.size() > kMaxDnsNames) {
    return std::unexpected(invalid("too many DNS names"));
  }
  for (const auto& name : profile.dns_names) {
    if (!valid_dns_name(name)) return std::unexpected(invalid("invalid DNS name: " + name));
  }
  SIGIL_CHECK(check_serial(profile.serial));
  SIGIL_CHECK(check_validity(profile.not_before, profile.not_after));
  if (to_time_t(profile.not_after) > to_time_t(certificate_.not_after())) {
    return std::unexpected(invalid("the certificate would outlive the issuing CA"));
  }
  Spec spec;
  spec.organization = "sigil";
  spec.subject_key = &subject_key;
  spec.serial = profile.serial;
  spec.not_before = profile.not_before;
  spec.not_after = profile.not_after;
  // X509-SVID §2: "An X.509 SVID MUST contain exactly one URI SAN, and by extension,
  // exactly one SPIFFE ID."
  spec.uri = profile.id.str();
  spec.dns_names = profile.dns_names;
  SIGIL_TRY(der, build(spec, certificate_.x509(), key_));
  SIGIL_TRY(cert, check(der, spec, &certificate_, key_));
  return IssuedCertificate(std::move(cert));
}

}  // namespace sigil::pki
