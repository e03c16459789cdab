#pragma once
// One cache of Knowledge::lookup for all the workers of an offline run (--threads N, issue 15).
//
// Why: with only a FactsCache per worker, each worker looked up every domain it met. A domain's
// rows are spread over the workers' blocks, so on the realistic corpus (1,000,000 addresses,
// 199,648 distinct domains) two workers made 43% more look-ups than one thread, and N workers on a
// many-core server up to N times as many. Here the first worker that meets a domain looks it up
// and every worker reads the answer.
//
// How: insert-only and lock-free. A slot is claimed by a compare-and-swap of its head word from
// empty, filled, then published by a release store of the head (hash tag, lengths, reason, flags);
// a reader that loads a published head (acquire) reads a slot that is never written again. Long
// keys, suggestions and registrable domains that are not a suffix of the key go to one arena,
// reserved up front (its pages are touched only as it fills) and taken with an atomic add. Nothing
// moves and nothing is freed while the cache lives, so its views stay valid as long as it does.
// When it is full (max_entries, or the arena) it takes no more domains: insert() says so and each
// worker's own FactsCache keeps them instead (domain::FactsCache).
// Entry points: SharedFacts::find, insert, prefetch.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

namespace mailsift::domain {

struct DomainFacts;
struct FactsView;

class SharedFacts {
 public:
  /// `max_entries` domains at most (the table has twice as many slots: short probe runs), and at
  /// most `arena_bytes` of long keys, suggestions and registrable domains.
  explicit SharedFacts(std::size_t max_entries = std::size_t{1} << 18, std::size_t arena_bytes = std::size_t{32} << 20);
  ~SharedFacts();
  SharedFacts(const SharedFacts&) = delete;
  SharedFacts& operator=(const SharedFacts&) = delete;

  /// The cached facts of `domain` (hash = fast_hash(domain)) into `out`; false when not cached.
  [[nodiscard]] bool find(std::string_view domain, std::uint64_t hash, FactsView& out) const noexcept;
  /// Caches `f` for `domain` and sets `out` to the cached view (another worker's, when it cached the
  /// same domain first). False, with `out` untouched, when the cache is full or `domain` is not
  /// one it keeps (empty, or longer than a domain can be).
  bool insert(std::string_view domain, std::uint64_t hash, const DomainFacts& f, FactsView& out) noexcept;
  /// Starts loading the slot where find(domain, hash) begins. Changes nothing.
  void prefetch(std::uint64_t hash) const noexcept { __builtin_prefetch(&slots_[hash & mask_]); }

  /// Domains cached (tests, metrics).
  [[nodiscard]] std::size_t size() const noexcept;

 private:
  static constexpr std::size_t kInline = 20;  // longer keys are kept in the arena
  // The head word is read and written only through std::atomic_ref; the rest of the slot only by
  // the thread that claimed it, before it publishes the head.
  struct Slot {
    std::uint64_t head;  // 0: empty; kClaimed: being filled; else published (see pack())
    std::uint32_t at;    // 1 + the offset of the slot's arena record; 0: none
    char key[kInline];
  };
  static_assert(sizeof(Slot) == 32);

  [[nodiscard]] std::string_view key(const Slot& s, std::uint64_t head) const noexcept;
  [[nodiscard]] FactsView view(const Slot& s, std::uint64_t head) const noexcept;

  std::size_t max_;
  std::size_t mask_;
  Slot* slots_;  // mask_ + 1 slots, zero-filled memory (huge_pages::allocate)
  std::size_t arena_cap_;
  std::unique_ptr<char[]> arena_;  // not initialised: written before it is published
  // Written at each insert: each on a cache line of its own, away from the fields above that every
  // find() reads (sharing a line with them cost a transfer between cores at each look-up).
  alignas(64) std::atomic<std::size_t> size_{0};
  alignas(64) std::atomic<std::size_t> arena_used_{0};  // the class's alignment pads the line's rest
};

}  // namespace mailsift::domain
