// `sigil ca ...` (the certificate authority: init and import offline on the data folder;
// show, rotate and bundle through the API) and `sigil cert ...` (a workload's certificate:
// issue, renew, inspect), and the pieces of both that the tests drive directly: flag
// parsing, the renewal schedule, the issued answer's checks and the file writing.
//
// A workload's private key is generated here and never leaves the machine: only a CSR is
// sent. Files are replaced atomically (a temporary file in the same folder, then rename),
// and the key file is created with mode 0600, so it is never readable by others, not even
// for a moment.
#pragma once

#include <sys/types.h>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.hpp"
#include "base/error.hpp"
#include "crypto/key.hpp"
#include "pki/certificate.hpp"

namespace CLI {
class App;
}

namespace sigil::cli {

class Context;

// ca init|import|show|rotate|bundle
void add_ca_commands(CLI::App& app, Context& context);
// cert issue|renew|inspect
void add_cert_commands(CLI::App& app, Context& context);

// The scope a sigil token needs to ask for a certificate.
inline constexpr std::string_view kCertIssueScope = "cert:issue";
// Where `cert renew` reaches sigil's mutual-TLS listener unless told (SIGIL_MTLS_ADDR).
inline constexpr std::string_view kDefaultMtlsAddr = "https://localhost:8443";
// Certificate lifetimes a workload may ask for: the CA issues nothing shorter than a
// minute and nothing longer than a day (ca/authority.hpp).
inline constexpr std::chrono::seconds kMinRequestedLifetime{60};
inline constexpr std::chrono::seconds kMaxRequestedLifetime{86400};
// PEM files read by these commands (certificates, chains, bundles, keys) are small.
inline constexpr std::size_t kMaxPemFileBytes = 256 * 1024;

// ---- Flags ----

// "P-256", "P-384" and, when allow_ed25519, "Ed25519" (case-insensitive).
// kInvalidArgument naming the accepted values otherwise.
Result<crypto::KeyType> parse_key_type(std::string_view text, bool allow_ed25519);
std::string key_type_name(crypto::KeyType type);

// "90" or "90s", "30m", "2h": whole seconds, minutes or hours, within
// [kMinRequestedLifetime, kMaxRequestedLifetime]. kInvalidArgument otherwise.
Result<std::chrono::seconds> parse_lifetime(std::string_view text);

// Where issue and renew write: each of the three files as given, else in `out_dir` (or the
// current folder when empty) as svid.key, svid.pem (the chain) and bundle.pem.
// kInvalidArgument when two of them are the same path.
struct CertificateFiles {
  std::string key;
  std::string chain;
  std::string bundle;
};
Result<CertificateFiles> certificate_files(std::string_view out_dir, std::string_view key,
                                           std::string_view chain, std::string_view bundle);

// ---- The request and the answer ----

// The POST /v1/certificates body: {"csr", "dns_names" when any, "lifetime" (seconds) when
// given}. kInvalidArgument for an empty CSR, more than pki::kMaxDnsNames names, or a DNS
// name that is empty, over 253 bytes or holds anything but lowercase letters, digits, '-'
// and '.' (the server decides which names the caller may have).
Result<boost::json::object> certificate_request_body(std::string_view csr_pem,
                                                     const std::vector<std::string>& dns_names,
                                                     std::optional<std::chrono::seconds> lifetime);

// What a 201 answer to POST /v1/certificates gives a workload, checked.
struct IssuedFiles {
  pki::Certificate leaf;
  std::string chain_pem;   // the leaf, then the intermediates, re-encoded from the DER
  std::string bundle_pem;  // the roots, re-encoded from the DER
  std::string spiffe_id;
};

// Checks the answer before anything is written: "chain" parses and starts with a leaf that
// holds `key`'s public key, is not a CA and carries exactly one URI SAN, the answer's
// "spiffe_id"; "bundle" holds at least one certificate, each a CA. kInvalidArgument naming
// what is wrong (the server answered something that must not be installed).
Result<IssuedFiles> check_issued(const boost::json::value& answer, const crypto::Key& key);

// ---- Renewal schedule ----

// When a certificate valid over [not_before, not_after] is renewed: at two thirds of its
// lifetime, so that a third is left for retries.
TimePoint renewal_time(TimePoint not_before, TimePoint not_after);

// How long to wait after the n-th failed renewal in a row (n >= 1): 1 s doubling to at
// most 30 s, and never more than a tenth of the certificate's lifetime (but at least 1 s),
// so that a short-lived certificate gets several tries before it expires.
std::chrono::seconds retry_delay(int failures, std::chrono::seconds lifetime);

// ---- Files ----

// Replaces `path` with `content`: a new temporary file beside it (created exclusively with
// `mode`, so a key is never readable by others, not even briefly), written, flushed and
// renamed over `path`; the folder is then flushed so that the rename survives a crash.
// kInvalidArgument when the folder does not exist; kInternal for any other failure (the
// temporary file is removed). Never follows a symbolic link at the temporary name.
Result<void> write_file_atomically(const std::string& path, std::string_view content, mode_t mode);

// Several files replaced together, as write_file_atomically does one: every temporary file
// is written and flushed first (a failure there replaces nothing), then they are renamed in
// the order given, one right after the other, so that a reader sees a new key and its new
// certificate within microseconds of each other.
struct FileContent {
  std::string path;
  std::string_view content;
  mode_t mode;
};
Result<void> write_files_atomically(const std::vector<FileContent>& files);

// Reads a whole file of at most max_bytes. kInvalidArgument naming the file when it cannot
// be read or is larger.
Result<std::string> read_small_file(const std::string& path, std::size_t max_bytes);

// ---- inspect ----

// A certificate as `cert inspect` shows it: spiffe_id (empty when none), dns_names,
// serial (hex), not_before, not_after (unix seconds), fingerprint_sha256 (hex), subject,
// issuer, remaining_seconds (negative once expired), key_type, is_ca.
boost::json::object describe_certificate(const pki::Certificate& certificate, TimePoint now);
// "name: value" lines of describe_certificate's object, times also as UTC dates, the
// remaining lifetime as "1h 2m 3s" (or "expired 5m ago").
std::string render_certificate(const boost::json::object& described);
// "1h 2m 3s", "59s", "0s".
std::string format_duration(std::int64_t seconds);

}  // namespace sigil::cli
