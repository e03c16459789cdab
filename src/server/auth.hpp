#pragma once
// Who may call the API and how often: API keys (kept as SHA-256 hashes, compared in constant time)
// and a token bucket per key, or per client address when no keys are configured. Pure logic, no
// I/O besides reading the keys file; the HTTP layer asks. Entry points: Keys, RateLimiter.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/digest.hpp"

namespace mailsift::server {

struct Key {
  std::string id;      // a short public id: the first 12 hex digits of the hash (jobs are owned by it)
  std::string name;    // from the keys file (name=…), for logs; defaults to the id
  std::string sha256;  // 64 lower-case hex digits
  double rate = 0;     // requests per second for this key; 0: the server's --rate-limit
};

using mailsift::sha256_hex;  // common/digest.hpp

class Keys {
 public:
  /// Adds a key given in the clear (--api-key).
  void add_plain(std::string_view key);
  /// Reads a keys file: per line `HEX [name=NAME] [rate=N]`, blank lines and `#` comments ignored.
  /// Throws std::invalid_argument naming the file and line for anything else.
  void load_file(const std::string& path);
  /// Parses one keys-file line (empty optional for a blank or comment line); throws
  /// std::invalid_argument with `what` for a malformed one.
  static std::optional<Key> parse_line(std::string_view line, const std::string& where);

  [[nodiscard]] bool empty() const noexcept { return keys_.empty(); }
  [[nodiscard]] std::size_t size() const noexcept { return keys_.size(); }
  /// The key for an `Authorization` header value (`Bearer KEY`), or null. Every configured key's
  /// hash is compared, whatever matches, so the time taken does not depend on which one does.
  [[nodiscard]] const Key* check(std::string_view authorization) const;

 private:
  std::vector<Key> keys_;
};

/// Token buckets: each client gets `burst` tokens, refilled at `rate` per second; a request takes
/// one. Buckets idle long enough to be full again are forgotten (memory stays bounded by the
/// clients active in the last burst/rate seconds).
class RateLimiter {
 public:
  using Clock = std::chrono::steady_clock;
  RateLimiter(double rate, double burst) : rate_(rate), burst_(burst < 1 ? 1 : burst) {}

  /// Takes a token for `client` at `now` (at `rate` if > 0, else the default rate). Returns 0 when
  /// allowed, else the seconds to wait before a token is there (for Retry-After, rounded up, ≥ 1).
  [[nodiscard]] std::int64_t take(const std::string& client, Clock::time_point now, double rate = 0);
  /// What take() would answer, without taking a token.
  [[nodiscard]] std::int64_t peek(const std::string& client, Clock::time_point now);
  [[nodiscard]] bool unlimited() const noexcept { return rate_ <= 0; }
  [[nodiscard]] std::size_t clients() const noexcept { return buckets_.size(); }

 private:
  struct Bucket {
    double tokens;
    Clock::time_point at;
    double rate;
  };
  void sweep(Clock::time_point now);
  double rate_, burst_;
  std::unordered_map<std::string, Bucket> buckets_;
  Clock::time_point next_sweep_{};
};

}  // namespace mailsift::server
