#pragma once
// Domain knowledge: what we know about a domain or a local part without touching the network.
// Entry point: domain::Knowledge (immutable after construction, safe to share between threads)
// and domain::FactsCache (per worker, bounded) in front of it.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/flat_map.hpp"
#include "common/huge_pages.hpp"
#include "common/text.hpp"
#include "domain/shared_facts.hpp"
#include "verdict/reason.hpp"

namespace mailsift::domain {

/// Run-time extensions to the built-in lists. Files hold one entry per line ('#' comments and
/// blank lines ignored). The allowlist wins over every disposable source.
struct ListOptions {
  bool builtin = true;               // false: use only what the options below give
  bool extended_disposable = false;  // also the large community lists (more false positives)
  std::vector<std::string> disposable_files, allow_files, free_files, role_files;
  std::vector<std::string> disposable_domains, allow_domains;
  // --lists-dir: the lists `mailsift lists update` installed (DIR/disposable.txt, allow.txt,
  // free.txt, role.txt; those present), added like the files above.
  std::string lists_dir;
};

/// Facts about one domain (lower-case A-label, as address::Address::domain() gives it).
struct DomainFacts {
  Reason reason = Reason::well_formed;  // well_formed, reserved_domain or unknown_tld
  std::string registrable;              // eTLD+1 per the public suffix list; empty if none
  bool disposable = false;
  bool free = false;
  std::string suggestion;  // corrected domain for a likely typo, else empty
};

class Knowledge {
 public:
  /// Loads built-in lists plus the files named in `opt`. Throws std::runtime_error with the file
  /// name when a file cannot be read (a start-up error, not a per-address one).
  explicit Knowledge(const ListOptions& opt = {});
  ~Knowledge();
  Knowledge(const Knowledge&) = delete;
  Knowledge& operator=(const Knowledge&) = delete;

  /// Uncached lookup. `domain` must be a syntactically valid lower-case A-label domain.
  [[nodiscard]] DomainFacts lookup(std::string_view domain) const;
  /// The same into `out`, whose registrable domain keeps its room from one call to the next: the
  /// facts cache looks up every new domain into one scratch record, without an allocation each.
  /// `domain` must not point into `out`, which is cleared first.
  void lookup(std::string_view domain, DomainFacts& out) const;
  /// Role account (info@, sales@, postmaster@ ...). Case-insensitive; a "+tag" is ignored.
  [[nodiscard]] bool is_role(std::string_view local) const noexcept;
  /// Keyboard walks, test-like names, long random-looking strings: a flag, never a verdict.
  [[nodiscard]] bool is_suspicious(std::string_view local) const noexcept;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

/// FactsCache's answer: the facts of one domain, as views into the cache.
struct FactsView {
  Reason reason = Reason::well_formed;
  bool disposable = false;
  bool free = false;
  std::string_view registrable;
  std::string_view suggestion;
};

/// Per-worker cache of Knowledge::lookup. Not thread-safe: one per thread. Bounded: when full it
/// starts over, which keeps memory flat on lists with millions of distinct domains. 2^18 entries:
/// a B2B list of 1,000,000 addresses has about 200,000 distinct domains, and with 2^16 entries it
/// started over so often that each was looked up twice (docs/benchmarks.md, issue 15).
///
/// Flat (issue 15): an open-addressing table of 32-byte slots that grows with the domains seen (a
/// list of few domains keeps it in cache). A slot holds a short domain itself (the common case),
/// its facts, and its registrable domain as a suffix of it, so a look-up reads one cache line; a
/// long domain, a suggestion or a registrable domain that is not a suffix go to a byte arena. No
/// allocation per address, none per domain but the arena's growth.
class FactsCache {
 public:
  explicit FactsCache(const Knowledge& k, std::size_t max_entries = 1 << 18);
  /// The same in front of `shared` (one for all the workers of a run; it must outlive this cache):
  /// a domain is looked up in it first, and what Knowledge::lookup answers is kept there; this
  /// cache keeps only what `shared` no longer takes when it is full.
  FactsCache(const Knowledge& k, SharedFacts* shared);
  /// The facts for `domain`; the views are valid until the next call.
  [[nodiscard]] FactsView get(std::string_view domain) { return get(domain, fast_hash(domain)); }
  /// The same, with `hash` = fast_hash(domain) computed by the caller, who may have called
  /// prefetch(hash) first: a domain of a list's long tail is a cache miss on a table of megabytes
  /// (docs/benchmarks.md), which the caller's other work can then overlap.
  [[nodiscard]] FactsView get(std::string_view domain, std::uint64_t hash);
  /// Starts loading the slot where get(domain, hash) begins its probe. Changes nothing.
  void prefetch(std::uint64_t hash) const noexcept {
    if (shared_ != nullptr) shared_->prefetch(hash);
    // With `shared`, this cache holds only what `shared` no longer took (a list of more than 2^18
    // domains): from then on most new domains are looked up here too.
    if (shared_ == nullptr || size_ != 0) __builtin_prefetch(&slots_[hash & (slots_.size() - 1)]);
  }

 private:
  static constexpr std::size_t kInline = 20;  // longer domains are kept in the arena
  struct Slot {
    std::uint32_t tag = 0;          // the hash's high half
    std::uint32_t at = 0;           // 1 + the offset of the slot's arena record; 0: none
    std::uint8_t key_len = 0;       // 0: empty slot
    std::uint8_t registrable_len = 0;
    Reason reason = Reason::well_formed;
    std::uint8_t bits = 0;          // kDisposable, kFree, kRegistrableInArena
    char key[kInline] = {};
  };
  static_assert(sizeof(Slot) == 32);
  // Longer (or empty) keys are answered from uncached_, not kept: valid domains have 1 to 253
  // octets. The arena starts over past kMaxArena, so offsets fit 32 bits.
  static constexpr std::size_t kMaxKey = 255;
  static constexpr std::size_t kMaxArena = std::size_t{1} << 31;
  [[nodiscard]] std::string_view key(const Slot& s) const noexcept;
  [[nodiscard]] FactsView view(const Slot& s) const noexcept;
  void put(Slot& s, std::string_view domain, const DomainFacts& f);
  void grow();
  void clear();

  const Knowledge& k_;
  std::size_t max_;
  std::size_t size_ = 0;
  std::vector<Slot, HugePageAllocator<Slot>> slots_;  // 16 MiB at 2^18 entries: read at random
  std::vector<char> arena_;
  DomainFacts uncached_;
  DomainFacts scratch_;  // a new domain's facts on their way into the cache (Knowledge::lookup)
  SharedFacts* shared_ = nullptr;
};

}  // namespace mailsift::domain
