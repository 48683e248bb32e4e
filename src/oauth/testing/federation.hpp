// Test doubles for federation: external issuers that mint tokens with their own keys
// (GitHub Actions-, Kubernetes- and ID-token-shaped), and a KeySource that serves their
// key sets like server::KeyFetcher does (a cache, refresh on demand, the last good set
// kept while the source is down). For the oauth unit tests only.
#pragma once

#include <gtest/gtest.h>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include <map>
#include <memory>
#include <string>
#include <utility>

#include "base/base64url.hpp"
#include "base/clock.hpp"
#include "jose/jwk.hpp"
#include "jose/jws.hpp"
#include "oauth/key_source.hpp"
#include "policy/policy.hpp"

namespace sigil::oauth::testing {

// An external OpenID provider: its signing key and what it mints.
class FakeIssuer {
 public:
  FakeIssuer(std::string iss, jose::Algorithm alg) : iss_(std::move(iss)) {
    auto key = jose::Jwk::generate(alg);
    EXPECT_TRUE(key.has_value());
    key_ = std::make_unique<jose::Jwk>(std::move(*key));
  }

  const std::string& iss() const { return iss_; }
  const jose::Jwk& key() const { return *key_; }

  // Its public key set, as a JwkSet and as JSON text.
  std::shared_ptr<const jose::JwkSet> jwks() const {
    return std::make_shared<const jose::JwkSet>(std::vector<jose::Jwk>{key_->public_key()});
  }
  std::string jwks_json() const { return jwks()->to_json(); }

  // Signs `claims` with this issuer's key (header alg, kid, typ "JWT").
  std::string mint(const boost::json::object& claims) const { return sign_with(*key_, claims); }

  static std::string sign_with(const jose::Jwk& key, const boost::json::object& claims) {
    auto signer = jose::Signer::create(key, "JWT");
    EXPECT_TRUE(signer.has_value());
    auto compact = signer->sign(boost::json::serialize(claims));
    EXPECT_TRUE(compact.has_value());
    return compact.value_or("");
  }

  // A token with a header of our choosing and a made-up signature ("alg":"none", HS256).
  static std::string unsigned_token(const boost::json::object& header,
                                    const boost::json::object& claims, std::string signature) {
    return base64url_encode(boost::json::serialize(header)) + "." +
           base64url_encode(boost::json::serialize(claims)) + "." + base64url_encode(signature);
  }

 private:
  std::string iss_;
  std::unique_ptr<jose::Jwk> key_;
};

// A KeySource over a map of what each URL (a jwks_uri, or an issuer for discovery) serves.
// Like server::KeyFetcher: a fetched set is kept and served without asking again; refresh
// fetches again; when the source is down, the last good set is served, and without one the
// answer is kUnavailable.
class FakeKeySource final : public KeySource {
 public:
  // What the URL serves from now on (not what is cached).
  void publish(const std::string& url, std::shared_ptr<const jose::JwkSet> keys) {
    published_[url] = std::move(keys);
  }
  void set_down(bool down) { down_ = down; }
  void forget() { cached_.clear(); }

  int fetches() const { return fetches_; }
  int refreshes() const { return refreshes_; }

  Result<std::shared_ptr<const jose::JwkSet>> keys_at(std::string_view jwks_uri,
                                                      bool refresh) override {
    return get(std::string(jwks_uri), refresh);
  }
  Result<std::shared_ptr<const jose::JwkSet>> keys_of_issuer(std::string_view issuer,
                                                             bool refresh) override {
    return get(std::string(issuer), refresh);
  }

 private:
  Result<std::shared_ptr<const jose::JwkSet>> get(const std::string& url, bool refresh) {
    if (refresh) ++refreshes_;
    auto cached = cached_.find(url);
    if (cached != cached_.end() && !refresh) return cached->second;
    ++fetches_;
    auto published = published_.find(url);
    if (down_ || published == published_.end()) {
      if (cached != cached_.end()) return cached->second;
      return std::unexpected(Error::unavailable("cannot fetch " + url));
    }
    cached_[url] = published->second;
    return published->second;
  }

  std::map<std::string, std::shared_ptr<const jose::JwkSet>> published_;
  std::map<std::string, std::shared_ptr<const jose::JwkSet>> cached_;
  bool down_ = false;
  int fetches_ = 0;
  int refreshes_ = 0;
};

inline const std::string kGitHubIssuer = "https://token.actions.githubusercontent.com";
inline const std::string kClusterIssuer = "https://k8s.example.com";
inline const std::string kClusterJwksUri = "https://k8s.example.com/openid/v1/jwks";
inline const std::string kLoginIssuer = "https://login.example.com";

// A jti no other test token has.
inline std::string next_jti() {
  static int n = 0;
  return "jti-" + std::to_string(++n);
}

// A GitHub Actions job's OIDC token: a push to main of acme/web, deploying to production.
inline boost::json::object github_claims(TimePoint now, const std::string& audience) {
  const std::int64_t t = to_unix(now);
  return {{"iss", kGitHubIssuer},
          {"aud", audience},
          {"sub", "repo:acme/web:environment:production"},
          {"repository", "acme/web"},
          {"repository_owner", "acme"},
          {"ref", "refs/heads/main"},
          {"ref_protected", true},
          {"environment", "production"},
          {"event_name", "push"},
          {"job_workflow_ref", "acme/web/.github/workflows/deploy.yml@refs/heads/main"},
          {"run_id", 4242},
          {"jti", next_jti()},
          {"iat", t},
          {"nbf", t},
          {"exp", t + 300}};
}

// A Kubernetes projected service account token of namespace/name.
inline boost::json::object kubernetes_claims(TimePoint now, const std::string& audience,
                                             const std::string& ns, const std::string& name) {
  const std::int64_t t = to_unix(now);
  return {{"iss", kClusterIssuer},
          {"aud", boost::json::array{audience}},
          {"sub", "system:serviceaccount:" + ns + ":" + name},
          {"kubernetes.io",
           boost::json::object{
               {"namespace", ns},
               {"serviceaccount", boost::json::object{{"name", name}, {"uid", "6b1c-sa"}}},
               {"pod", boost::json::object{{"name", name + "-7d9f"}, {"uid", "0a2e-pod"}}}}},
          {"jti", next_jti()},
          {"iat", t},
          {"nbf", t},
          {"exp", t + 3600}};
}

// A person's ID token from the company's identity provider.
inline boost::json::object id_token_claims(TimePoint now, const std::string& audience,
                                           const std::string& sub) {
  const std::int64_t t = to_unix(now);
  return {{"iss", kLoginIssuer},
          {"aud", audience},
          {"sub", sub},
          {"email", sub + "@example.com"},
          {"groups", boost::json::array{"staff", "engineering"}},
          {"iat", t},
          {"exp", t + 600}};
}

inline policy::ClaimMatch claim(std::string name, std::vector<std::string> patterns) {
  return policy::ClaimMatch{std::move(name), std::move(patterns)};
}

// GitHub Actions, keys discovered from its OpenID configuration: main of acme/web deploying
// to production is the service web-deployer.
inline policy::TrustedIssuer github_issuer(const std::string& audience) {
  policy::TrustedIssuer t;
  t.name = "github";
  t.issuer = kGitHubIssuer;
  t.audience = audience;
  t.algorithms = {"RS256"};
  policy::IssuerRule deploy;
  deploy.name = "deploy-main";
  deploy.claims = {claim("repository", {"acme/web"}), claim("ref", {"refs/heads/main"}),
                   claim("environment", {"production"})};
  deploy.service = "web-deployer";
  t.rules = {deploy};
  return t;
}

// A Kubernetes cluster, keys at its jwks_uri: service account ledger of namespace payments is
// the service ledger.
inline policy::TrustedIssuer cluster_issuer(const std::string& audience) {
  policy::TrustedIssuer t;
  t.name = "cluster";
  t.issuer = kClusterIssuer;
  t.audience = audience;
  t.jwks_uri = kClusterJwksUri;
  policy::IssuerRule ledger;
  ledger.name = "ledger-pods";
  ledger.claims = {claim("kubernetes.io/namespace", {"payments"}),
                   claim("kubernetes.io/serviceaccount/name", {"ledger"})};
  ledger.service = "ledger";
  t.rules = {ledger};
  return t;
}

// The identity provider, keys given inline: its staff are people (user rule).
inline policy::TrustedIssuer login_issuer(const std::string& audience, std::string jwks) {
  policy::TrustedIssuer t;
  t.name = "login";
  t.issuer = kLoginIssuer;
  t.audience = audience;
  t.jwks = std::move(jwks);
  policy::IssuerRule staff;
  staff.name = "staff";
  staff.claims = {claim("groups", {"staff"})};
  staff.user = true;
  t.rules = {staff};
  return t;
}

}  // namespace sigil::oauth::testing
