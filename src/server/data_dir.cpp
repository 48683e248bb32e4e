#include "server/data_dir.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "base/base64url.hpp"
#include "crypto/aead.hpp"

namespace sigil::server {
namespace {

Result<SecretString> decode_key(std::string_view text, std::string_view where) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) {
    text.remove_suffix(1);
  }
  auto raw = base64url_decode(text);
  if (!raw || raw->size() != crypto::kMasterKeyBytes) {
    if (raw) wipe(*raw);
    return std::unexpected(Error::failed_precondition(
        std::string(where) + " must hold 32 bytes in base64url (43 characters)"));
  }
  return SecretString(std::move(*raw));
}

}  // namespace

DataPaths data_paths(const std::string& dir) {
  return {dir, dir + "/sigil.db", dir + "/master.key", dir + "/audit.log"};
}

Result<SecretString> load_master_key(const DataPaths& paths) {
  if (const char* env = std::getenv("SIGIL_MASTER_KEY"); env != nullptr && *env != '\0') {
    return decode_key(env, "SIGIL_MASTER_KEY");
  }
  const int fd = ::open(paths.master_key.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    return std::unexpected(Error::failed_precondition(
        "cannot open the master key " + paths.master_key + " (" + std::strerror(errno) +
        "); set SIGIL_MASTER_KEY or run `sigil init --data " + paths.dir + "`"));
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || (st.st_mode & 077) != 0) {
    ::close(fd);
    return std::unexpected(Error::failed_precondition(
        "the master key " + paths.master_key + " is readable by group or others; chmod 600 it"));
  }
  std::string text(256, '\0');
  const ssize_t n = ::read(fd, text.data(), text.size());
  ::close(fd);
  if (n < 0) return std::unexpected(Error::internal("cannot read " + paths.master_key));
  text.resize(static_cast<std::size_t>(n));
  auto key = decode_key(text, paths.master_key);
  wipe(text);
  return key;
}

Result<SecretString> create_master_key(const DataPaths& paths) {
  if (const char* env = std::getenv("SIGIL_MASTER_KEY"); env != nullptr && *env != '\0') {
    return decode_key(env, "SIGIL_MASTER_KEY");
  }
  std::string raw = random_bytes(crypto::kMasterKeyBytes);
  std::string text = base64url_encode(raw) + "\n";
  const int fd = ::open(paths.master_key.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    wipe(raw);
    wipe(text);
    return std::unexpected(Error::failed_precondition("cannot create " + paths.master_key + ": " +
                                                      std::strerror(errno)));
  }
  const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
                  ::fsync(fd) == 0;
  ::close(fd);
  wipe(text);
  if (!ok) {
    wipe(raw);
    return std::unexpected(Error::internal("cannot write " + paths.master_key));
  }
  return SecretString(std::move(raw));
}

}  // namespace sigil::server
