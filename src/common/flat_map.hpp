#pragma once
// Open-addressing hash map keyed by short strings (domains, local parts): the per-address lookups
// of the offline level run tens of millions of times a second, and std::unordered_map's node
// chasing and prime modulus cost more than everything else together. Linear probing over a
// power-of-two table of (hash, key, value) slots; the stored hash rejects almost every mismatch
// without touching the key bytes. Insert-only (clear() to start over), which is all we need.
#include <cstdint>
#include <cstring>
#include <string_view>
#include <utility>
#include <vector>

namespace mailsift {

/// Fast hash for short strings: 8 bytes per step, multiply-xorshift mixing.
[[nodiscard]] inline std::uint64_t fast_hash(std::string_view s) noexcept {
  constexpr std::uint64_t kMul = 0x9E3779B97F4A7C15ULL;
  std::uint64_t h = 0x243F6A8885A308D3ULL ^ (s.size() * kMul);
  const char* p = s.data();
  std::size_t n = s.size();
  while (n >= 8) {
    std::uint64_t v;
    std::memcpy(&v, p, 8);
    h = (h ^ v) * kMul;
    h ^= h >> 29;
    p += 8;
    n -= 8;
  }
  if (n > 0) {
    std::uint64_t v = 0;
    std::memcpy(&v, p, n);
    h = (h ^ v) * kMul;
  }
  h ^= h >> 32;
  h *= 0xD6E8FEB86659FD93ULL;
  h ^= h >> 32;
  return h;
}

/// a == b for short strings, inline: FlatMap confirms every hash match with it (almost always a
/// match, so the whole key is read) and a libc memcmp call costs more than the compare itself.
[[nodiscard]] inline bool same_bytes(std::string_view a, std::string_view b) noexcept {
  const std::size_t n = a.size();
  if (n != b.size()) return false;
  if (n < 8) {
    for (std::size_t i = 0; i < n; ++i)
      if (a[i] != b[i]) return false;
    return true;
  }
  const auto word = [](const char* p) {
    std::uint64_t v;
    std::memcpy(&v, p, 8);
    return v;
  };
  for (std::size_t i = 0; i + 8 < n; i += 8)
    if (word(a.data() + i) != word(b.data() + i)) return false;
  return word(a.data() + n - 8) == word(b.data() + n - 8);  // the last 8 bytes, overlapping
}

/// fast_hash for the standard unordered containers (heterogeneous lookup by string_view).
struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept { return static_cast<std::size_t>(fast_hash(s)); }
};

/// Key type K must be constructible from std::string_view and convertible to it (std::string for
/// owned keys, std::string_view for keys that live elsewhere, e.g. embedded lists).
template <typename K, typename V>
class FlatMap {
 public:
  explicit FlatMap(std::size_t expected = 16) { rehash(capacity_for(expected)); }

  [[nodiscard]] const V* find(std::string_view key) const noexcept {
    const std::uint64_t h = fast_hash(key);
    for (std::size_t i = h & mask_;; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (!s.used) return nullptr;
      if (s.hash == h && same_bytes(s.key, key)) return &s.value;
    }
  }
  [[nodiscard]] V* find(std::string_view key) noexcept {
    return const_cast<V*>(static_cast<const FlatMap&>(*this).find(key));
  }
  [[nodiscard]] bool contains(std::string_view key) const noexcept { return find(key) != nullptr; }

  /// Inserts if absent; returns the stored value either way.
  V& insert(std::string_view key, V value) {
    if ((size_ + 1) * 4 > slots_.size() * 3) rehash(slots_.size() * 2);
    const std::uint64_t h = fast_hash(key);
    for (std::size_t i = h & mask_;; i = (i + 1) & mask_) {
      Slot& s = slots_[i];
      if (!s.used) {
        s = Slot{h, K(key), std::move(value), true};
        ++size_;
        return s.value;
      }
      if (s.hash == h && same_bytes(s.key, key)) return s.value;
    }
  }

  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  /// Calls f(key, value) for every entry, in no particular order.
  template <typename F>
  void for_each(F&& f) const {
    for (const Slot& s : slots_)
      if (s.used) f(std::string_view(s.key), s.value);
  }
  void clear() {
    slots_.assign(slots_.size(), Slot{});
    size_ = 0;
  }

 private:
  struct Slot {
    std::uint64_t hash = 0;
    K key{};
    V value{};
    bool used = false;
  };
  static std::size_t capacity_for(std::size_t n) {
    std::size_t c = 16;
    while (c * 3 < n * 4) c *= 2;
    return c;
  }
  void rehash(std::size_t capacity) {
    std::vector<Slot> old = std::move(slots_);
    slots_.assign(capacity, Slot{});
    mask_ = capacity - 1;
    size_ = 0;
    for (Slot& s : old)
      if (s.used) insert(std::string_view(s.key), std::move(s.value));
  }
  std::vector<Slot> slots_;
  std::size_t mask_ = 0;
  std::size_t size_ = 0;
};

/// A set is a map to nothing.
template <typename K>
class FlatSet {
 public:
  explicit FlatSet(std::size_t expected = 16) : map_(expected) {}
  [[nodiscard]] bool contains(std::string_view key) const noexcept { return map_.contains(key); }
  void insert(std::string_view key) { map_.insert(key, Empty{}); }
  [[nodiscard]] std::size_t size() const noexcept { return map_.size(); }

 private:
  struct Empty {};
  FlatMap<K, Empty> map_;
};

}  // namespace mailsift
