// A self-signed P-256 certificate for localhost and 127.0.0.1, made with the openssl
// command in a directory of its own, removed afterwards. For tests only.
#pragma once

#include <cstdlib>
#include <string>

#include "base/testing/temp_dir.hpp"

namespace sigil::testing {

class TlsFiles {
 public:
  TlsFiles() : dir_("sigil-tls") {
    if (dir_.path().empty()) return;
    const std::string cmd =
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 "
        "-subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout " +
        key() + " -out " + cert() + " >/dev/null 2>&1";
    ok = std::system(cmd.c_str()) == 0;
  }
  std::string cert() const { return (dir_.path() / "cert.pem").string(); }
  std::string key() const { return (dir_.path() / "key.pem").string(); }
  bool ok = false;  // false when openssl failed

 private:
  TempDir dir_;
};

}  // namespace sigil::testing
