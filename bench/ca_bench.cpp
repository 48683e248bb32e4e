// The certificate authority in process: issuing a workload certificate (P-256 CA, P-256
// subject key), parsing a CSR, both together as POST /v1/certificates does them, and the
// raw P-256 signature and verification they are made of. Compare with
// `openssl speed ecdsap256` on the same core (bench/ca-vs-openssl.sh).
//
// An issuance signs once (the certificate) and verifies once (the CA checks what it signed
// before returning it); parsing a CSR verifies once more (its self-signature).
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <memory>
#include <string>

#include "ca/authority.hpp"
#include "ca/testing/memory_ca_store.hpp"
#include "crypto/key.hpp"
#include "pki/certificate.hpp"
#include "pki/csr.hpp"
#include "pki/spiffe.hpp"

namespace {

using sigil::crypto::Key;
using sigil::crypto::KeyType;
using sigil::crypto::SignatureScheme;

// 2026-01-01T00:00:00Z.
const sigil::TimePoint kNow = sigil::from_unix(1'767'225'600);
const std::string kMasterKey(32, '\x42');

template <typename T>
T must(sigil::Result<T> r) {
  if (!r) std::abort();
  return std::move(*r);
}

// A ready CA over the in-memory store (a root and an active intermediate, both P-256), and
// a workload's CSR made by the project's own CSR writer.
struct Setup {
  Setup() {
    ca = must(sigil::ca::CertificateAuthority::load(store, store, kMasterKey));
    if (!ca->initialise(must(sigil::pki::TrustDomain::parse("example.org")), {}, kNow)) {
      std::abort();
    }
    Key workload = must(Key::generate(KeyType::kEcP256));
    csr_der = must(sigil::pki::make_csr_der(workload, "payments"));
  }

  sigil::ca::testing::MemoryCaStore store;
  std::unique_ptr<sigil::ca::CertificateAuthority> ca;
  std::string csr_der;
  const sigil::ca::IssueRequest request{.subject = "payments",
                                        .spiffe_path = "/ns/prod/sa/payments",
                                        .dns_names = {"payments.prod.svc"}};
};

// CertificateAuthority::issue: template, sign, re-parse and check (including verifying the
// signature with the CA key), record in the memory store. The store keeps every record, as
// a real one would; its map grows by one entry per iteration.
void BM_IssueCertificate(benchmark::State& state) {
  Setup s;
  auto csr = must(sigil::pki::CertificateRequest::parse(s.csr_der));
  for (auto _ : state) {
    auto issued = s.ca->issue(csr.public_key(), s.request, kNow);
    if (!issued) state.SkipWithError("issue failed");
    benchmark::DoNotOptimize(issued);
  }
  state.counters["certs/s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_IssueCertificate);

// CertificateRequest::parse of a P-256 CSR in DER: decode, key strength, self-signature.
void BM_ParseCsr(benchmark::State& state) {
  Setup s;
  for (auto _ : state) {
    auto csr = sigil::pki::CertificateRequest::parse(s.csr_der);
    if (!csr) state.SkipWithError("parse failed");
    benchmark::DoNotOptimize(csr);
  }
}
BENCHMARK(BM_ParseCsr);

// What the endpoint does with a CSR once the caller is authorised: parse it, then issue.
void BM_IssueEndToEnd(benchmark::State& state) {
  Setup s;
  for (auto _ : state) {
    auto csr = sigil::pki::CertificateRequest::parse(s.csr_der);
    if (!csr) state.SkipWithError("parse failed");
    auto issued = s.ca->issue(csr->public_key(), s.request, kNow);
    if (!issued) state.SkipWithError("issue failed");
    benchmark::DoNotOptimize(issued);
  }
  state.counters["certs/s"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_IssueEndToEnd);

// crypto::Key::sign with ES256 of a 32-byte message (SHA-256 of it, then ECDSA P-256): the
// project's raw signing rate, next to `openssl speed ecdsap256` sign.
void BM_EcdsaP256Sign(benchmark::State& state) {
  Key key = must(Key::generate(KeyType::kEcP256));
  const std::string message(32, '\x5a');
  for (auto _ : state) {
    benchmark::DoNotOptimize(key.sign(SignatureScheme::kEcdsaP256Sha256, message));
  }
}
BENCHMARK(BM_EcdsaP256Sign);

// crypto::Key::verify of the same: next to `openssl speed ecdsap256` verify.
void BM_EcdsaP256Verify(benchmark::State& state) {
  Key key = must(Key::generate(KeyType::kEcP256));
  const std::string message(32, '\x5a');
  const std::string signature = must(key.sign(SignatureScheme::kEcdsaP256Sha256, message));
  for (auto _ : state) {
    auto ok = key.verify(SignatureScheme::kEcdsaP256Sha256, message, signature);
    if (!ok) state.SkipWithError("verify failed");
    benchmark::DoNotOptimize(ok);
  }
}
BENCHMARK(BM_EcdsaP256Verify);

// Two parts of the above, to show where the time goes: decoding a workload certificate
// (the post-sign check re-parses what was signed) and a P-256 SubjectPublicKeyInfo (as
// parsing a CSR does), with OpenSSL's decoders.
void BM_CertificateFromDer(benchmark::State& state) {
  Setup s;
  auto csr = must(sigil::pki::CertificateRequest::parse(s.csr_der));
  const std::string der = must(s.ca->issue(csr.public_key(), s.request, kNow)).certificate.der();
  for (auto _ : state) {
    auto cert = sigil::pki::Certificate::from_der(der);
    if (!cert) state.SkipWithError("from_der failed");
    benchmark::DoNotOptimize(cert);
  }
}
BENCHMARK(BM_CertificateFromDer);

void BM_KeyFromSpkiDer(benchmark::State& state) {
  const std::string spki = must(must(Key::generate(KeyType::kEcP256)).spki_der());
  for (auto _ : state) {
    auto key = Key::from_spki_der(spki);
    if (!key) state.SkipWithError("from_spki_der failed");
    benchmark::DoNotOptimize(key);
  }
}
BENCHMARK(BM_KeyFromSpkiDer);

}  // namespace
