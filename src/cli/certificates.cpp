#include "cli/certificates.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>

#include "base/hex.hpp"
#include "base/secrets.hpp"
#include "cli/context.hpp"
#include "pki/spiffe.hpp"

namespace sigil::cli {
namespace {

namespace json = boost::json;

Error invalid(std::string message) {
  return Error::invalid_argument(std::move(message));
}

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string string_member(const json::object& object, std::string_view key) {
  const json::value* v = object.if_contains(key);
  return (v != nullptr && v->is_string()) ? std::string(v->get_string()) : std::string();
}

bool is_dns_name(std::string_view name) {
  if (name.empty() || name.size() > 253 || name.front() == '.' || name.back() == '.') return false;
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.')) return false;
  }
  return name.find("..") == std::string_view::npos;
}

Result<std::string> public_spki(const crypto::Key& key) {
  if (!key.is_private()) return key.spki_der();
  SIGIL_TRY(pub, key.public_key());
  return pub.spki_der();
}

std::string errno_text() {
  return std::strerror(errno);
}

Result<void> write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return std::unexpected(Error::internal(errno_text()));
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return Ok();
}

}  // namespace

Result<crypto::KeyType> parse_key_type(std::string_view text, bool allow_ed25519) {
  const std::string name = lower(text);
  if (name == "p-256") return crypto::KeyType::kEcP256;
  if (name == "p-384") return crypto::KeyType::kEcP384;
  if (allow_ed25519 && name == "ed25519") return crypto::KeyType::kEd25519;
  return std::unexpected(invalid("--key-type '" + sanitize(text) + "': expected P-256, P-384" +
                                 (allow_ed25519 ? " or Ed25519" : "")));
}

std::string key_type_name(crypto::KeyType type) {
  switch (type) {
    case crypto::KeyType::kEcP256:
      return "P-256";
    case crypto::KeyType::kEcP384:
      return "P-384";
    case crypto::KeyType::kEd25519:
      return "Ed25519";
    case crypto::KeyType::kRsa:
      return "RSA";
  }
  return "unknown";
}

Result<std::chrono::seconds> parse_lifetime(std::string_view text) {
  const std::string message = "--lifetime '" + sanitize(text) +
                              "': expected seconds, or minutes or hours as 30m or 2h, "
                              "from 1m to 24h";
  std::string_view digits = text;
  std::int64_t unit = 1;
  if (!digits.empty()) {
    switch (digits.back()) {
      case 's':
        digits.remove_suffix(1);
        break;
      case 'm':
        unit = 60;
        digits.remove_suffix(1);
        break;
      case 'h':
        unit = 3600;
        digits.remove_suffix(1);
        break;
      default:
        break;
    }
  }
  // Nine digits at most: no overflow below, and far beyond any lifetime allowed.
  if (digits.empty() || digits.size() > 9 ||
      !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::unexpected(invalid(message));
  }
  std::int64_t value = 0;
  std::from_chars(digits.data(), digits.data() + digits.size(), value);
  const std::chrono::seconds lifetime{value * unit};
  if (lifetime < kMinRequestedLifetime || lifetime > kMaxRequestedLifetime) {
    return std::unexpected(invalid(message));
  }
  return lifetime;
}

Result<CertificateFiles> certificate_files(std::string_view out_dir, std::string_view key,
                                           std::string_view chain, std::string_view bundle) {
  const std::filesystem::path dir(out_dir.empty() ? std::string_view(".") : out_dir);
  auto pick = [&](std::string_view given, const char* name) {
    return given.empty() ? (dir / name).string() : std::string(given);
  };
  CertificateFiles files{pick(key, "svid.key"), pick(chain, "svid.pem"),
                         pick(bundle, "bundle.pem")};
  auto same = [](const std::string& a, const std::string& b) {
    return std::filesystem::path(a).lexically_normal() ==
           std::filesystem::path(b).lexically_normal();
  };
  if (same(files.key, files.chain) || same(files.key, files.bundle) ||
      same(files.chain, files.bundle)) {
    return std::unexpected(invalid("--key, --cert and --bundle must name three different files"));
  }
  return files;
}

Result<json::object> certificate_request_body(std::string_view csr_pem,
                                              const std::vector<std::string>& dns_names,
                                              std::optional<std::chrono::seconds> lifetime) {
  if (csr_pem.empty()) return std::unexpected(invalid("the CSR is empty"));
  if (dns_names.size() > pki::kMaxDnsNames) {
    return std::unexpected(
        invalid("--dns: at most " + std::to_string(pki::kMaxDnsNames) + " names"));
  }
  json::object body{{"csr", csr_pem}};
  if (!dns_names.empty()) {
    json::array names;
    for (const auto& name : dns_names) {
      if (!is_dns_name(name)) {
        return std::unexpected(invalid("--dns '" + sanitize(name) +
                                       "': expected a DNS name of lowercase letters, digits, "
                                       "'-' and '.'"));
      }
      names.emplace_back(name);
    }
    body["dns_names"] = std::move(names);
  }
  if (lifetime) body["lifetime"] = lifetime->count();
  return body;
}

Result<IssuedFiles> check_issued(const json::value& answer, const crypto::Key& key) {
  if (!answer.is_object()) return std::unexpected(invalid("the answer is not a JSON object"));
  const json::object& object = answer.get_object();
  const std::string chain_text = string_member(object, "chain");
  const std::string bundle_text = string_member(object, "bundle");
  const std::string spiffe_id = string_member(object, "spiffe_id");
  if (chain_text.empty() || bundle_text.empty() || spiffe_id.empty()) {
    return std::unexpected(invalid("the answer lacks chain, bundle or spiffe_id"));
  }
  auto id = pki::SpiffeId::parse(spiffe_id);
  if (!id || id->is_trust_domain_id()) {
    return std::unexpected(invalid("the answer's spiffe_id is not a workload's SPIFFE ID"));
  }
  auto chain = pki::Certificate::chain_from_pem(chain_text);
  if (!chain) return std::unexpected(invalid("the chain is not PEM certificates"));
  const pki::Certificate& leaf = chain->front();
  if (leaf.is_ca()) return std::unexpected(invalid("the chain's first certificate is a CA"));
  auto leaf_key = leaf.public_key();
  SIGIL_TRY(own_spki, public_spki(key));
  if (!leaf_key || leaf_key->spki_der() != own_spki) {
    return std::unexpected(invalid("the certificate does not hold the key generated for it"));
  }
  const std::vector<std::string> uris = leaf.uri_sans();
  if (uris.size() != 1 || uris.front() != spiffe_id) {
    return std::unexpected(invalid("the certificate's URI SAN is not the answer's spiffe_id"));
  }
  IssuedFiles issued{leaf, leaf.pem(), {}, spiffe_id};
  for (std::size_t i = 1; i < chain->size(); ++i) {
    if (!(*chain)[i].is_ca()) {
      return std::unexpected(invalid("the chain holds a certificate after the leaf that is no CA"));
    }
    issued.chain_pem += (*chain)[i].pem();
  }
  auto roots = pki::Certificate::chain_from_pem(bundle_text);
  if (!roots) return std::unexpected(invalid("the bundle is not PEM certificates"));
  for (const auto& root : *roots) {
    if (!root.is_ca())
      return std::unexpected(invalid("the bundle holds a certificate that is no CA"));
    issued.bundle_pem += root.pem();
  }
  return issued;
}

TimePoint renewal_time(TimePoint not_before, TimePoint not_after) {
  const auto lifetime = std::chrono::duration_cast<std::chrono::seconds>(not_after - not_before);
  if (lifetime <= std::chrono::seconds::zero()) return not_before;
  return not_before + lifetime * 2 / 3;
}

std::chrono::seconds retry_delay(int failures, std::chrono::seconds lifetime) {
  constexpr std::chrono::seconds kMaxDelay{30};
  const int doublings = std::clamp(failures - 1, 0, 5);
  const std::chrono::seconds backoff = std::min(std::chrono::seconds(1LL << doublings), kMaxDelay);
  const std::chrono::seconds tenth = std::max(std::chrono::seconds(1), lifetime / 10);
  return std::min(backoff, tenth);
}

Result<void> write_file_atomically(const std::string& path, std::string_view content, mode_t mode) {
  return write_files_atomically({{path, content, mode}});
}

Result<void> write_files_atomically(const std::vector<FileContent>& files) {
  std::vector<std::string> temporaries;
  auto remove_temporaries = [&] {
    for (const auto& t : temporaries) ::unlink(t.c_str());
  };
  std::vector<std::filesystem::path> dirs;
  for (const auto& file : files) {
    std::filesystem::path dir = std::filesystem::path(file.path).parent_path();
    if (dir.empty()) dir = ".";
    std::error_code ec;
    if (!std::filesystem::is_directory(dir, ec)) {
      remove_temporaries();
      return std::unexpected(invalid(sanitize(file.path) + ": the folder " +
                                     sanitize(dir.string()) + " does not exist"));
    }
    dirs.push_back(dir);
    const std::string temporary = file.path + ".tmp-" + hex_encode(random_bytes(6));
    // O_EXCL with O_NOFOLLOW: the name is new and random, so nothing planted there is
    // followed or reused; the mode applies from creation on.
    const int fd =
        ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, file.mode);
    if (fd < 0) {
      const std::string why = errno_text();
      remove_temporaries();
      return std::unexpected(
          Error::internal("cannot create a file beside " + sanitize(file.path) + ": " + why));
    }
    temporaries.push_back(temporary);
    Result<void> written = Ok();
    // The umask may have taken bits away; public files are meant to be readable.
    if (::fchmod(fd, file.mode) != 0) {
      written = std::unexpected(Error::internal(errno_text()));
    } else if (written = write_all(fd, file.content); written && ::fsync(fd) != 0) {
      written = std::unexpected(Error::internal(errno_text()));
    }
    if (::close(fd) != 0 && written) written = std::unexpected(Error::internal(errno_text()));
    if (!written) {
      remove_temporaries();
      return std::unexpected(
          Error::internal("cannot write " + sanitize(file.path) + ": " + written.error().message));
    }
  }
  for (std::size_t i = 0; i < files.size(); ++i) {
    if (::rename(temporaries[i].c_str(), files[i].path.c_str()) != 0) {
      const std::string why = errno_text();
      for (std::size_t j = i; j < temporaries.size(); ++j) ::unlink(temporaries[j].c_str());
      return std::unexpected(
          Error::internal("cannot replace " + sanitize(files[i].path) + ": " + why));
    }
  }
  std::sort(dirs.begin(), dirs.end());
  dirs.erase(std::unique(dirs.begin(), dirs.end()), dirs.end());
  for (const auto& dir : dirs) {
    const int dir_fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir_fd >= 0) {
      ::fsync(dir_fd);
      ::close(dir_fd);
    }
  }
  return Ok();
}

Result<std::string> read_small_file(const std::string& path, std::size_t max_bytes) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return std::unexpected(invalid(sanitize(path) + ": cannot be read (" + errno_text() + ")"));
  }
  std::string text(max_bytes + 1, '\0');
  std::size_t size = 0;
  while (size < text.size()) {
    const ssize_t n = ::read(fd, text.data() + size, text.size() - size);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const std::string why = errno_text();
      ::close(fd);
      wipe(text);
      return std::unexpected(invalid(sanitize(path) + ": cannot be read (" + why + ")"));
    }
    if (n == 0) break;
    size += static_cast<std::size_t>(n);
  }
  ::close(fd);
  if (size > max_bytes) {
    wipe(text);
    return std::unexpected(
        invalid(sanitize(path) + ": larger than " + std::to_string(max_bytes / 1024) + " KiB"));
  }
  text.resize(size);
  return text;
}

json::object describe_certificate(const pki::Certificate& certificate, TimePoint now) {
  std::string spiffe_id;
  for (const auto& uri : certificate.uri_sans()) {
    if (pki::SpiffeId::parse(uri)) {
      spiffe_id = uri;
      break;
    }
  }
  json::array dns_names;
  for (const auto& name : certificate.dns_sans()) dns_names.emplace_back(name);
  std::string key_type = "unknown";
  if (auto key = certificate.public_key()) {
    key_type = key_type_name(key->type());
    if (key->type() == crypto::KeyType::kRsa) {
      key_type += '-';
      key_type += std::to_string(key->bits());
    }
  }
  return json::object{
      {"spiffe_id", spiffe_id},
      {"dns_names", std::move(dns_names)},
      {"serial", hex_encode(certificate.serial())},
      {"not_before", to_unix(certificate.not_before())},
      {"not_after", to_unix(certificate.not_after())},
      {"remaining_seconds", to_unix(certificate.not_after()) - to_unix(now)},
      {"fingerprint_sha256", hex_encode(certificate.fingerprint_sha256())},
      {"subject", certificate.subject()},
      {"issuer", certificate.issuer()},
      {"key_type", key_type},
      {"is_ca", certificate.is_ca()},
  };
}

std::string format_duration(std::int64_t seconds) {
  if (seconds < 0) seconds = -seconds;
  const std::int64_t days = seconds / 86400;
  const std::int64_t hours = seconds % 86400 / 3600;
  const std::int64_t minutes = seconds % 3600 / 60;
  const std::int64_t rest = seconds % 60;
  std::string out;
  auto part = [&](std::int64_t value, const char* unit) {
    if (value == 0) return;
    if (!out.empty()) out.push_back(' ');
    out += std::to_string(value) + unit;
  };
  part(days, "d");
  part(hours, "h");
  part(minutes, "m");
  part(rest, "s");
  return out.empty() ? "0s" : out;
}

std::string render_certificate(const json::object& described) {
  auto time_field = [&](std::string_view key) {
    const json::value* v = described.if_contains(key);
    if (v == nullptr || !v->is_int64()) return display(v);
    return std::to_string(v->get_int64()) + " (" + format_unix_time(v->get_int64()) + ")";
  };
  std::string remaining = "-";
  if (const json::value* v = described.if_contains("remaining_seconds"); v && v->is_int64()) {
    const std::int64_t s = v->get_int64();
    remaining = s > 0 ? format_duration(s) : "expired " + format_duration(s) + " ago";
  }
  const std::string spiffe_id = display_field(described, "spiffe_id");
  const std::string dns = display_field(described, "dns_names");
  return render_fields({{"spiffe_id", spiffe_id.empty() ? "-" : spiffe_id},
                        {"dns_names", dns.empty() ? "-" : dns},
                        {"serial", display_field(described, "serial")},
                        {"not_before", time_field("not_before")},
                        {"not_after", time_field("not_after")},
                        {"remaining", remaining},
                        {"fingerprint_sha256", display_field(described, "fingerprint_sha256")},
                        {"subject", display_field(described, "subject")},
                        {"issuer", display_field(described, "issuer")},
                        {"key_type", display_field(described, "key_type")},
                        {"ca", display_field(described, "is_ca")}});
}

}  // namespace sigil::cli
