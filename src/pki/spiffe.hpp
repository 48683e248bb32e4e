// SPIFFE IDs and trust domains (SPIFFE-ID standard, §2).
//
// A SpiffeId is spiffe://<trust domain>/<path>: the trust domain is lowercase letters,
// digits, '.', '-' and '_'; the path is zero or more '/'-separated segments of letters,
// digits, '.', '-' and '_', none empty, "." or ".."; no userinfo, port, query, fragment
// or percent-encoding; at most 2048 bytes in all. Parsing is strict: nothing is
// normalised, so a value that parses is also its own canonical form and two IDs are the
// same identity exactly when their strings are equal.
//
// Values are immutable and cheap to copy.
//
//   auto td = pki::TrustDomain::parse("example.org");
//   auto id = td->id("/ns/prod/sa/payments");    // spiffe://example.org/ns/prod/sa/payments
//   auto same = pki::SpiffeId::parse(id->str());
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "base/error.hpp"

namespace sigil::pki {

inline constexpr std::size_t kMaxSpiffeIdBytes = 2048;
inline constexpr std::size_t kMaxTrustDomainBytes = 255;

class SpiffeId;

class TrustDomain {
 public:
  // A trust domain name ("example.org"), or a SPIFFE ID whose path is empty
  // ("spiffe://example.org"). kInvalidArgument naming what is wrong.
  static Result<TrustDomain> parse(std::string_view name_or_id);

  // "example.org".
  const std::string& name() const { return name_; }
  // "spiffe://example.org": the ID of the trust domain itself.
  std::string id_string() const;

  // The ID for path ("/a/b", or "" for the trust domain itself) in this trust domain.
  Result<SpiffeId> id(std::string_view path) const;

  friend bool operator==(const TrustDomain&, const TrustDomain&) = default;

 private:
  friend class SpiffeId;
  explicit TrustDomain(std::string name) : name_(std::move(name)) {}
  std::string name_;
};

class SpiffeId {
 public:
  // kInvalidArgument naming the first rule the text breaks.
  static Result<SpiffeId> parse(std::string_view uri);

  const TrustDomain& trust_domain() const { return trust_domain_; }
  // "" or "/seg/seg".
  const std::string& path() const { return path_; }
  // The whole URI, "spiffe://example.org/seg".
  std::string str() const;

  bool member_of(const TrustDomain& td) const { return trust_domain_ == td; }
  // True for the trust domain's own ID (empty path), which names no workload.
  bool is_trust_domain_id() const { return path_.empty(); }

  friend bool operator==(const SpiffeId&, const SpiffeId&) = default;

 private:
  friend class TrustDomain;
  SpiffeId(TrustDomain td, std::string path)
      : trust_domain_(std::move(td)), path_(std::move(path)) {}
  TrustDomain trust_domain_;
  std::string path_;
};

}  // namespace sigil::pki
