// JWS signing and verification, and full JWT validation of an RFC 9068 access token.
// Compare with `openssl speed ecdsap256 ed25519 rsa2048` on the same core.
#include <benchmark/benchmark.h>

#include <boost/json/serialize.hpp>

#include <cstdlib>

#include "jose/jws.hpp"
#include "jose/jwt.hpp"

namespace {

using sigil::jose::Algorithm;

constexpr std::int64_t kNow = 1'700'000'000;

// A typical RFC 9068 access token payload.
std::string access_token_claims() {
  boost::json::object c{{"iss", "https://sigil.example.com"},
                        {"sub", "spiffe://example.com/ns/prod/sa/orders"},
                        {"aud", "https://billing.example.com"},
                        {"exp", kNow + 300},
                        {"iat", kNow},
                        {"nbf", kNow},
                        {"jti", "2f6b1c0e-8a3d-4e59-9b7a-0c1d2e3f4a5b"},
                        {"client_id", "orders"},
                        {"scope", "billing:read billing:write"}};
  return boost::json::serialize(c);
}

struct Setup {
  explicit Setup(Algorithm alg)
      : key(must(sigil::jose::Jwk::generate(alg))),
        signer(must(sigil::jose::Signer::create(key, "at+jwt"))),
        keys({key.public_key()}),
        payload(access_token_claims()),
        token(must(signer.sign(payload))) {}

  template <typename T>
  static T must(sigil::Result<T> r) {
    if (!r) std::abort();
    return std::move(*r);
  }

  sigil::jose::Jwk key;
  sigil::jose::Signer signer;
  sigil::jose::JwkSet keys;
  std::string payload;
  std::string token;
};

const Algorithm kAlgs[] = {Algorithm::kES256, Algorithm::kEdDSA, Algorithm::kRS256,
                           Algorithm::kPS256};

void BM_Sign(benchmark::State& state) {
  Algorithm alg = kAlgs[state.range(0)];
  Setup s(alg);
  for (auto _ : state) benchmark::DoNotOptimize(s.signer.sign(s.payload));
  state.SetLabel(std::string(sigil::jose::to_string(alg)));
}
BENCHMARK(BM_Sign)->DenseRange(0, 3);

void BM_VerifyJws(benchmark::State& state) {
  Algorithm alg = kAlgs[state.range(0)];
  Setup s(alg);
  std::vector<Algorithm> allowed{alg};
  if (!sigil::jose::verify_jws(s.token, s.keys, allowed)) std::abort();
  for (auto _ : state) benchmark::DoNotOptimize(sigil::jose::verify_jws(s.token, s.keys, allowed));
  state.SetLabel(std::string(sigil::jose::to_string(alg)));
}
BENCHMARK(BM_VerifyJws)->DenseRange(0, 3);

void BM_VerifyJwtAccessTokenES256(benchmark::State& state) {
  Setup s(Algorithm::kES256);
  sigil::jose::Expectations want{.algorithms = {Algorithm::kES256},
                                 .issuer = "https://sigil.example.com",
                                 .audience = "https://billing.example.com",
                                 .typ = "at+jwt"};
  auto now = sigil::from_unix(kNow + 10);
  if (!sigil::jose::verify_jwt(s.token, s.keys, want, now)) std::abort();
  for (auto _ : state)
    benchmark::DoNotOptimize(sigil::jose::verify_jwt(s.token, s.keys, want, now));
}
BENCHMARK(BM_VerifyJwtAccessTokenES256);

}  // namespace
