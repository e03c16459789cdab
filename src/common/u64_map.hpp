#pragma once
// A hash table from 64-bit keys (already hashes: fast_hash of a dedupe key) to 64-bit values, for
// the bulk run's deduplication: one lookup per input row, tens of millions of them, in a table much
// larger than the CPU caches, so the cost that matters is memory traffic, not instructions.
//
// - Open addressing, linear probing, load at most 1/2: a lookup is one cache line almost always.
// - Keys only (`values = false`, the offline level: 8 bytes a slot) or key and value side by side
//   (16 bytes a slot, one cache line for both).
// - The slots are an anonymous mapping, not a std::vector: the kernel hands out zeroed pages on
//   first touch, so there is no memset of the whole table; on Linux the mapping is also asked for
//   as transparent huge pages (random probes over hundreds of MiB otherwise miss the TLB on almost
//   every row).
// - The table starts small and doubles: memory follows the number of distinct keys, not a guess
//   from the file size (a guess too large is paid in page faults on every one of its pages).
// - prefetch(): a caller that knows the next key early can hide the cache miss behind other work.
//
// Key 0 marks an empty slot; it is stored as 1 (so keys 0 and 1 are the same key: callers store
// hashes, where that is one more collision among 2^64).
#include <cstddef>
#include <cstdint>
#include <optional>

namespace mailsift {

class U64Map {
 public:
  /// `values`: keep a value per key (else find() gives 0 for every present key). `initial`: the
  /// starting number of slots (rounded up to a power of two, at least 16).
  explicit U64Map(bool values, std::size_t initial = std::size_t{1} << 16);
  ~U64Map();
  U64Map(const U64Map&) = delete;
  U64Map& operator=(const U64Map&) = delete;

  [[nodiscard]] std::optional<std::uint64_t> find(std::uint64_t key) const noexcept {
    key = key == 0 ? 1 : key;
    for (std::size_t i = key & mask_;; i = (i + 1) & mask_) {
      const std::uint64_t* s = slots_ + i * stride_;
      if (s[0] == 0) return std::nullopt;
      if (s[0] == key) return stride_ == 2 ? s[1] : 0;
    }
  }
  [[nodiscard]] bool contains(std::uint64_t key) const noexcept { return find(key).has_value(); }

  /// Inserts `key` (with `value`), or overwrites the value of a present key. True when it was new.
  /// Throws std::bad_alloc when the table cannot grow.
  bool put(std::uint64_t key, std::uint64_t value = 0) {
    key = key == 0 ? 1 : key;
    if ((size_ + 1) * 2 > mask_ + 1) grow();
    for (std::size_t i = key & mask_;; i = (i + 1) & mask_) {
      std::uint64_t* s = slots_ + i * stride_;
      if (s[0] == 0) {
        s[0] = key;
        if (stride_ == 2) s[1] = value;
        ++size_;
        return true;
      }
      if (s[0] == key) {
        if (stride_ == 2) s[1] = value;
        return false;
      }
    }
  }

  /// A hint: find/put of `key` comes soon; start loading its slot now.
  void prefetch(std::uint64_t key) const noexcept {
    key = key == 0 ? 1 : key;
    __builtin_prefetch(slots_ + (key & mask_) * stride_, 1);  // for writing: new keys are stored
  }

  [[nodiscard]] std::size_t size() const noexcept { return size_; }
  [[nodiscard]] std::size_t capacity() const noexcept { return mask_ + 1; }

 private:
  void grow();
  void map(std::size_t slots);  // a fresh, zeroed table of `slots` slots

  std::uint64_t* slots_ = nullptr;
  void* mapping_ = nullptr;  // what munmap gets back (slots_ may be aligned inside it)
  std::size_t mapping_bytes_ = 0;
  std::size_t mask_ = 0;
  std::size_t size_ = 0;
  std::size_t stride_ = 1;
};

}  // namespace mailsift
