// sigil serve / sigil init settings. Each setting has a name used in the YAML config file
// (`--config FILE`), a `SIGIL_<NAME>` environment variable, and usually a flag;
// precedence is flag > variable > file > default.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "base/error.hpp"

namespace sigil::server {

struct Config {
  std::string data_dir = "var";              // data / SIGIL_DATA
  std::string listen = "127.0.0.1:8420";     // listen / SIGIL_LISTEN
  std::string issuer;                        // issuer / SIGIL_ISSUER (default: stored at init)
  unsigned threads = 0;                      // threads / SIGIL_THREADS (0 = one per core)
  std::int64_t token_lifetime = 300;         // token_lifetime / SIGIL_TOKEN_LIFETIME, seconds
  std::int64_t max_token_lifetime = 3600;    // max_token_lifetime
  std::int64_t leeway = 30;                  // leeway: clock skew allowed when checking tokens
  std::string signing_alg = "ES256";         // signing_alg: ES256 ES384 EdDSA RS256 PS256
  std::int64_t key_propagation_delay = 300;  // key_propagation_delay: new key signs after this
  std::string tls_cert;                      // tls_cert: PEM chain; with tls_key, serve HTTPS
  std::string tls_key;                       // tls_key
  std::size_t max_body_bytes = 64 * 1024;    // max_body_bytes
  std::size_t max_header_bytes = 8 * 1024;   // max_header_bytes
  std::int64_t idle_timeout = 30;            // idle_timeout, seconds
  std::string log_level = "info";            // log_level: trace debug info warn error off
  // policy / SIGIL_POLICY: a policy file (sigil.yaml) to enforce and reload on change or
  // SIGHUP; while set, the policy cannot be changed through the API.
  std::string policy_file;
  std::size_t max_policy_bytes = 16 * 1024 * 1024;  // max_policy_bytes: /v1/policy bodies
  // fetch_ca_file / SIGIL_FETCH_CA_FILE: PEM CAs trusted when fetching clients' jwks_uri and
  // external issuers' discovery documents and keys; empty: the system's trust store.
  std::string fetch_ca_file;
  // The mutual-TLS listener (docs/certificates.md). mtls_listen / SIGIL_MTLS_LISTEN:
  // HOST:PORT; empty: none. It needs the CA (`sigil ca init`).
  std::string mtls_listen;
  // mtls_dns_names: comma-separated DNS names of sigil's own certificate on that listener.
  std::string mtls_dns_names = "localhost";
  // mtls_allow_self_signed: also admit a lone self-signed client certificate
  // (self_signed_tls_client_auth, RFC 8705 §2.2).
  bool mtls_allow_self_signed = false;
  // mtls_url: the listener's base URL as clients reach it (metadata's
  // mtls_endpoint_aliases); default https://<first DNS name>:<port>.
  std::string mtls_url;
  // mtls_cert / mtls_key: the listener's own certificate and key (PEM files); by default
  // sigil issues itself one from its CA (spiffe://<trust domain>/sigil) and renews it.
  std::string mtls_cert;
  std::string mtls_key;
};

// Builds the configuration: defaults, then the YAML file (when `file` is non-empty; unknown
// keys are an error naming the key and line), then SIGIL_* variables from `environment`,
// then `flags` (setting name -> value as typed on the command line). Values are validated
// (numbers in range, known algorithm, listen as HOST:PORT, issuer an http(s) URL without
// query or fragment). kInvalidArgument says which setting and why.
Result<Config> load_config(const std::string& file,
                           const std::map<std::string, std::string>& environment,
                           const std::map<std::string, std::string>& flags);

// The process environment as a map (only SIGIL_* variables).
std::map<std::string, std::string> sigil_environment();

}  // namespace sigil::server
