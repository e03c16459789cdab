#pragma once
// The finished single-check answers the server keeps for --result-ttl (server/verifier.hpp), so a
// repeated request costs the network nothing. Bounded three ways, oldest first out: by age, by
// entries (a map node per answer) and by an estimate of their bytes, since an entry's size is the
// client's choice (a 4 KB "address" is kept as a key and as the result's input: by entries alone,
// 220,000 of them took 2.6 GiB). Entry point: AnswerCache.
#include <chrono>
#include <cstddef>
#include <deque>
#include <memory>
#include <string>
#include <unordered_map>

#include "verdict/result.hpp"

namespace mailsift::server {

/// About how many bytes keeping `r` under `key` holds: the key (in the map and in the age order),
/// the Result and its own strings, the nodes around them, and a share of the evidence it shares
/// with other results (its domain's DNS answer, its SMTP session), by how many hold it now.
[[nodiscard]] std::size_t estimated_bytes(const std::string& key, const Result& r);

class AnswerCache {
 public:
  using Clock = std::chrono::steady_clock;
  struct Limits {
    std::chrono::seconds ttl{600};
    std::size_t entries = 200'000;
    std::size_t bytes = std::size_t{64} << 20;
  };
  explicit AnswerCache(Limits limits) : limits_(limits) {}

  /// The answer kept under `key` if younger than the TTL (a stale one is dropped), else null.
  [[nodiscard]] std::shared_ptr<const Result> find(const std::string& key, Clock::time_point now);
  /// Keeps `r` under `key` (replacing an older answer), after dropping stale answers and the oldest
  /// ones beyond the bounds. An answer larger than the whole byte budget is not kept.
  void put(const std::string& key, std::shared_ptr<const Result> r, Clock::time_point now);

  [[nodiscard]] std::size_t size() const noexcept { return map_.size(); }
  /// The estimate of the bytes held (replaced answers count until their place in the age order
  /// comes up: their key is still held there).
  [[nodiscard]] std::size_t bytes() const noexcept { return bytes_; }

 private:
  struct Entry {
    std::shared_ptr<const Result> result;
    Clock::time_point at;
  };
  struct Order {
    std::string key;
    Clock::time_point at;
    std::size_t bytes;
  };
  void pop_oldest();

  Limits limits_;
  std::unordered_map<std::string, Entry> map_;
  std::deque<Order> order_;  // oldest first
  std::size_t bytes_ = 0;
};

}  // namespace mailsift::server
