// apikeys_seed: fills a sigil data folder with N API keys for the HTTP benchmark
// (bench/http/keys.sh), far faster than N calls of POST /v1/keys.
//
//   apikeys_seed DATA_DIR KEY_SPACE PREFIX N KEYS_FILE
//
// Opens DATA_DIR/sigil.db (made by `sigil init`), creates key space KEY_SPACE with PREFIX
// if it is missing, and inserts N active keys (scopes "read" and "write", no expiry, no
// credits, no rate limit: the common case, answered from the cache) in one transaction,
// in chunks so that a million keys do not sit in memory at once. The key texts go to
// KEYS_FILE, one a line, created with mode 0600; they exist nowhere else. The server must
// not be running: it loads its key cache when it starts.
//
// Exit status 0 on success, 1 on any failure (nothing is inserted then), 2 on bad usage.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <charconv>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include "apikeys/key_format.hpp"
#include "apikeys/model.hpp"
#include "base/clock.hpp"
#include "base/error.hpp"
#include "base/secrets.hpp"
#include "crypto/digest.hpp"
#include "store/sqlite/sqlite_store.hpp"

namespace sigil {
namespace {

constexpr std::size_t kChunk = 50'000;
constexpr std::size_t kMaxKeys = 10'000'000;

// The service's id format (apikeys/service.cpp): "key_" + 20 base32 characters.
std::string key_id() {
  static constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz234567";
  const std::string raw = random_bytes(20);
  std::string id = "key_";
  for (char c : raw) id += kAlphabet[static_cast<unsigned char>(c) % 32];  // 256 % 32 == 0
  return id;
}

// Writes all of `text` to `fd`.
bool write_all(int fd, std::string_view text) {
  while (!text.empty()) {
    const ssize_t n = ::write(fd, text.data(), text.size());
    if (n < 0) return false;
    text.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

Result<void> seed(const std::string& data_dir, const std::string& space_id,
                  const std::string& prefix, std::size_t n, int keys_fd) {
  SIGIL_TRY(store, store::sqlite::SqliteStore::open(data_dir + "/sigil.db"));
  const TimePoint now = SystemClock().now();
  auto space = store->get_key_space(space_id);
  if (!space) {
    if (space.error().code != Code::kNotFound) return std::unexpected(std::move(space).error());
    SIGIL_CHECK(store->create_key_space({space_id, prefix, space_id, now}));
  } else if (space->prefix != prefix) {
    return std::unexpected(Error::invalid_argument(
        "key space \"" + space_id + "\" exists with prefix \"" + space->prefix + "\""));
  }
  return store->transaction([&]() -> Result<void> {
    std::vector<apikeys::ApiKey> chunk;
    std::string lines;
    for (std::size_t done = 0; done < n;) {
      const std::size_t count = std::min(kChunk, n - done);
      chunk.clear();
      chunk.reserve(count);
      lines.clear();
      for (std::size_t i = 0; i < count; ++i) {
        std::string text = apikeys::generate_key(prefix);
        apikeys::ApiKey key;
        key.id = key_id();
        key.key_space = space_id;
        key.digest = crypto::sha256(text);
        key.start = apikeys::key_start(text);
        key.owner = "customer-" + std::to_string((done + i) % 10'000);
        key.name = "bench";
        key.scopes = {"read", "write"};
        key.metadata = R"({"plan":"pro"})";
        key.created_at = now;
        key.updated_at = now;
        chunk.push_back(std::move(key));
        lines += text;
        lines += '\n';
        wipe(text);
      }
      SIGIL_CHECK(store->insert_api_keys(chunk));
      const bool written = write_all(keys_fd, lines);
      wipe(lines);
      if (!written) return std::unexpected(Error::internal("cannot write the keys file"));
      done += count;
    }
    return Ok();
  });
}

}  // namespace
}  // namespace sigil

int main(int argc, char** argv) {
  if (argc != 6) {
    std::cerr << "usage: apikeys_seed DATA_DIR KEY_SPACE PREFIX N KEYS_FILE\n";
    return 2;
  }
  const std::string_view count_text = argv[4];
  std::size_t n = 0;
  const auto parsed = std::from_chars(count_text.data(), count_text.data() + count_text.size(), n);
  if (parsed.ec != std::errc() || parsed.ptr != count_text.data() + count_text.size() || n == 0 ||
      n > sigil::kMaxKeys) {
    std::cerr << "apikeys_seed: N must be 1.." << sigil::kMaxKeys << "\n";
    return 2;
  }
  if (!sigil::apikeys::is_valid_prefix(argv[3])) {
    std::cerr << "apikeys_seed: invalid key prefix\n";
    return 2;
  }
  // 0600 from the start: the file holds live keys.
  const int fd = ::open(argv[5], O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0 || ::fchmod(fd, 0600) != 0) {
    std::perror("apikeys_seed: keys file");
    return 1;
  }
  const auto start = std::chrono::steady_clock::now();
  auto seeded = sigil::seed(argv[1], argv[2], argv[3], n, fd);
  const bool closed = ::close(fd) == 0;
  if (!seeded || !closed) {
    ::unlink(argv[5]);
    std::cerr << "apikeys_seed: "
              << (seeded ? std::string("cannot close the keys file") : seeded.error().message)
              << "\n";
    return 1;
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("seeded %zu keys into key space %s in %.1f s\n", n, argv[2], seconds);
  return 0;
}
