#include "pki/spiffe.hpp"

namespace sigil::pki {

namespace {

constexpr std::string_view kScheme = "spiffe://";

Error invalid(std::string_view what) {
  return Error::invalid_argument("invalid SPIFFE ID: " + std::string(what));
}

bool is_lower_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

bool is_segment_char(char c) {
  return is_lower_alnum(c) || (c >= 'A' && c <= 'Z') || c == '.' || c == '-' || c == '_';
}

// SPIFFE-ID §2.1: "The userinfo and port parts of the authority component MUST NOT be
// set, and the `:` delimiter MUST NOT be present." Trust domain names contain only
// lowercase letters, numbers, dots, dashes and underscores; uppercase is refused
// rather than folded, so every accepted name is already canonical.
Result<void> check_trust_domain(std::string_view name) {
  if (name.empty()) return std::unexpected(invalid("the trust domain is empty"));
  if (name.size() > kMaxTrustDomainBytes) {
    return std::unexpected(invalid("the trust domain is longer than 255 bytes"));
  }
  for (char c : name) {
    if (c == ':') return std::unexpected(invalid("the trust domain has a port"));
    if (c == '@') return std::unexpected(invalid("the trust domain has userinfo"));
    if (c == '%') return std::unexpected(invalid("percent-encoding is not allowed"));
    if (c >= 'A' && c <= 'Z') return std::unexpected(invalid("the trust domain is not lowercase"));
    if (!is_lower_alnum(c) && c != '.' && c != '-' && c != '_') {
      return std::unexpected(invalid("the trust domain has a character outside [a-z0-9.-_]"));
    }
  }
  return Ok();
}

// SPIFFE-ID §2.2: path segments are letters, numbers, dots, dashes and underscores; a
// segment may not be empty (so no "//" and no trailing "/"), "." or "..".
Result<void> check_path(std::string_view path) {
  if (path.empty()) return Ok();
  if (path.front() != '/') return std::unexpected(invalid("the path must start with '/'"));
  std::size_t pos = 1;
  while (true) {
    std::size_t end = path.find('/', pos);
    std::string_view segment =
        path.substr(pos, end == std::string_view::npos ? std::string_view::npos : end - pos);
    if (segment.empty()) {
      return std::unexpected(invalid(end == std::string_view::npos
                                         ? "the path ends with '/'"
                                         : "the path has an empty segment"));
    }
    if (segment == "." || segment == "..") {
      return std::unexpected(invalid("the path has a '.' or '..' segment"));
    }
    for (char c : segment) {
      if (c == '?') return std::unexpected(invalid("a query is not allowed"));
      if (c == '#') return std::unexpected(invalid("a fragment is not allowed"));
      if (c == '%') return std::unexpected(invalid("percent-encoding is not allowed"));
      if (!is_segment_char(c)) {
        return std::unexpected(invalid("the path has a character outside [A-Za-z0-9.-_]"));
      }
    }
    if (end == std::string_view::npos) return Ok();
    pos = end + 1;
  }
}

}  // namespace

Result<TrustDomain> TrustDomain::parse(std::string_view name_or_id) {
  if (name_or_id.find("://") != std::string_view::npos) {
    SIGIL_TRY(id, SpiffeId::parse(name_or_id));
    if (!id.is_trust_domain_id()) {
      return std::unexpected(invalid("a trust domain ID has no path"));
    }
    return id.trust_domain();
  }
  SIGIL_CHECK(check_trust_domain(name_or_id));
  return TrustDomain(std::string(name_or_id));
}

std::string TrustDomain::id_string() const {
  return std::string(kScheme) + name_;
}

Result<SpiffeId> TrustDomain::id(std::string_view path) const {
  SIGIL_CHECK(check_path(path));
  if (kScheme.size() + name_.size() + path.size() > kMaxSpiffeIdBytes) {
    return std::unexpected(invalid("longer than 2048 bytes"));
  }
  return SpiffeId(*this, std::string(path));
}

Result<SpiffeId> SpiffeId::parse(std::string_view uri) {
  // SPIFFE-ID §2.3: "SPIFFE implementations MUST support SPIFFE URIs up to 2048 bytes in
  // length and SHOULD NOT generate URIs of length greater than 2048 bytes."
  if (uri.size() > kMaxSpiffeIdBytes) return std::unexpected(invalid("longer than 2048 bytes"));
  // SPIFFE-ID §2: "Valid SPIFFE IDs MUST use the `spiffe` scheme, include a non-zero trust
  // domain name, and MUST NOT include a query or fragment component."
  if (!uri.starts_with(kScheme)) {
    return std::unexpected(invalid("the scheme must be \"spiffe://\" (lowercase)"));
  }
  uri.remove_prefix(kScheme.size());
  std::size_t slash = uri.find('/');
  std::string_view authority = uri.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? "" : uri.substr(slash);
  // A query or fragment directly after the trust domain ends the authority too.
  if (std::size_t q = authority.find_first_of("?#"); q != std::string_view::npos) {
    return std::unexpected(
        invalid(authority[q] == '?' ? "a query is not allowed" : "a fragment is not allowed"));
  }
  SIGIL_CHECK(check_trust_domain(authority));
  SIGIL_CHECK(check_path(path));
  return SpiffeId(TrustDomain(std::string(authority)), std::string(path));
}

std::string SpiffeId::str() const {
  return trust_domain_.id_string() + path_;
}

}  // namespace sigil::pki
