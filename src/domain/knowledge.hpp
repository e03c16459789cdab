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

#include "common/text.hpp"
#include "verdict/reason.hpp"

namespace mailsift::domain {

/// Run-time extensions to the built-in lists. Files hold one entry per line ('#' comments and
/// blank lines ignored). The allowlist wins over every disposable source.
struct ListOptions {
  bool builtin = true;               // false: use only what the options below give
  bool extended_disposable = false;  // also the large community lists (more false positives)
  std::vector<std::string> disposable_files, allow_files, free_files, role_files;
  std::vector<std::string> disposable_domains, allow_domains;
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
/// Flat (issue 15): each domain's key and facts are one record in a byte arena, found through an
/// open-addressing table of 8-byte slots (hash tag, record offset). A hit costs the slot and the
/// record (usually one cache line each) and no allocation; a miss appends a record. A table of
/// std::string keys and shared_ptr facts cost three cache misses per long-tail domain and an
/// allocation per new one.
class FactsCache {
 public:
  explicit FactsCache(const Knowledge& k, std::size_t max_entries = 1 << 18);
  /// The facts for `domain`; the views are valid until the next call.
  [[nodiscard]] FactsView get(std::string_view domain);

 private:
  struct Slot {
    std::uint32_t tag = 0;  // the hash's high half
    std::uint32_t at = 0;   // 1 + the record's offset in arena_; 0: empty
  };
  // Longer keys are answered from uncached_ (valid domains have at most 253 octets); records are
  // then at most 8 + 3 * kMaxKey bytes, and the arena starts over past kMaxArena: offsets fit 32 bits.
  static constexpr std::size_t kMaxKey = 1024;
  static constexpr std::size_t kMaxArena = std::size_t{1} << 31;
  [[nodiscard]] FactsView view(std::uint32_t at) const noexcept;
  void clear();

  const Knowledge& k_;
  std::size_t max_;
  std::size_t size_ = 0;
  std::size_t mask_ = 0;
  std::vector<Slot> slots_;
  std::vector<char> arena_;
  DomainFacts uncached_;
};

}  // namespace mailsift::domain
