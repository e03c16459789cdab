#pragma once
// Typo suggestions for mailbox domains, mailcheck-style but tuned for precision: a wrong
// suggestion on a real company domain costs more than a missed one (docs/typo-suggestions.md).
#include <array>
#include <boost/unordered/unordered_flat_map.hpp>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "domain/lists.hpp"

namespace mailsift::domain::typo {

/// Longest input the distance handles (RFC 1035 §2.3.4 domain limit, as written without the root).
inline constexpr std::size_t kMaxLen = 253;

/// Optimal string alignment distance (Damerau–Levenshtein where each substring is edited once):
/// insertions, deletions, substitutions and transpositions of adjacent characters all cost 1.
/// Returns min(distance, limit + 1); inputs longer than kMaxLen give limit + 1. Stack only, and
/// O(len * limit) with an early exit, because it runs against hundreds of candidates per domain.
[[nodiscard]] std::size_t osa_distance(std::string_view a, std::string_view b, std::size_t limit) noexcept;

/// Strings within one edit of a query, found without comparing the query to every entry: each
/// entry is filed under itself and under each string it gives with one character deleted, and a
/// query looks up itself and its own one-deletion strings (SymSpell's symmetric deletion
/// neighbourhood). Two strings at OSA distance <= 1 always share one of those keys (an insertion
/// or deletion: the shorter one; a substitution or an adjacent transposition: the same deletion
/// from both), so the ids found are a superset of the entries at distance <= 1; the caller checks
/// each with osa_distance. Costs |query| + 1 hash look-ups.
class NeighbourIndex {
 public:
  /// Files `s` under `id`. Entries longer than kMaxLen are never found.
  void add(std::string_view s, std::uint32_t id);
  /// Calls f(id) for every entry that may be within one edit of `s` (each at least once; an id
  /// can come more than once).
  template <typename F>
  void for_each_near(std::string_view s, F&& f) const {
    const std::size_t n = s.size();
    if (n > longest_ + 1 || n > kMaxLen) return;
    // Nearly every query (a new domain's first label) is near nothing: its n + 1 keys are first
    // tested against filter_, with hashes that come in O(1) each from prefix and suffix sums, and
    // only a key whose bit is set is built and looked up (issue 15: the look-ups were 18% of a new
    // domain's facts). hash(s without s[i]) = prefix[i] * B^(n-1-i) + suffix[i+1].
    const auto& power = kPowers;
    std::array<std::uint64_t, kMaxLen + 1> prefix, suffix;
    prefix[0] = 0;
    for (std::size_t i = 0; i < n; ++i) prefix[i + 1] = prefix[i] * kBase + static_cast<unsigned char>(s[i]);
    suffix[n] = 0;
    for (std::size_t i = n; i-- > 0;) suffix[i] = suffix[i + 1] + static_cast<unsigned char>(s[i]) * power[n - 1 - i];
    if (maybe_filed(prefix[n])) visit(s, f);
    char buf[kMaxLen];
    for (std::size_t i = 0; i < n; ++i) {
      if (i > 0 && s[i] == s[i - 1]) continue;  // deleting either of two equal neighbours: same key
      if (!maybe_filed(prefix[i] * power[n - 1 - i] + suffix[i + 1])) continue;
      s.copy(buf, i);
      s.copy(buf + i, n - i - 1, i + 1);
      visit(std::string_view(buf, n - 1), f);
    }
  }

 private:
  // A polynomial hash (mod 2^64) of every filed key, one bit each in filter_: 2^17 bits (16 KiB)
  // for the few thousand keys of the built-in targets.
  static constexpr std::uint64_t kBase = 0x100000001B3ULL;  // odd: powers never vanish mod 2^64
  static constexpr std::array<std::uint64_t, kMaxLen + 1> kPowers = [] {  // kPowers[i] = kBase^i
    std::array<std::uint64_t, kMaxLen + 1> p{};
    p[0] = 1;
    for (std::size_t i = 1; i < p.size(); ++i) p[i] = p[i - 1] * kBase;
    return p;
  }();
  static constexpr unsigned kFilterBits = 17;
  [[nodiscard]] static std::uint64_t poly(std::string_view s) noexcept {
    std::uint64_t h = 0;
    for (const char c : s) h = h * kBase + static_cast<unsigned char>(c);
    return h;
  }
  [[nodiscard]] static std::size_t filter_bit(std::uint64_t h) noexcept {
    return static_cast<std::size_t>((h * 0x9E3779B97F4A7C15ULL) >> (64 - kFilterBits));
  }
  [[nodiscard]] bool maybe_filed(std::uint64_t h) const noexcept {
    const std::size_t b = filter_bit(h);
    return ((filter_[b / 64] >> (b % 64)) & 1U) != 0;
  }
  template <typename F>
  void visit(std::string_view key, F& f) const {
    if (const auto it = map_.find(key); it != map_.end())
      for (const std::uint32_t id : it->second) f(id);
  }
  boost::unordered_flat_map<std::string, std::vector<std::uint32_t>, StringHash, std::equal_to<>> map_;
  std::vector<std::uint64_t> filter_ = std::vector<std::uint64_t>((std::size_t{1} << kFilterBits) / 64, 0);
  std::size_t longest_ = 0;
};

/// Candidate lists are kept as views: everything added must outlive the Suggester.
class Suggester {
 public:
  /// Whole-domain targets (major mailbox providers), in order of preference for ties.
  void add_domain(std::string_view domain);
  /// Public suffixes people mean to type ("com", "co.uk"), in order of preference for ties.
  void add_tld(std::string_view tld);
  /// First labels of big providers ("hotmail"), for mailcheck's SLD + TLD correction.
  void add_sld(std::string_view sld);

  /// The domain the user probably meant, or "" when none is close enough. `domain` is a
  /// lower-case A-label; `tld_exists` says whether its last label is in the public suffix list.
  /// The caller excludes domains that are known to be real (a target itself, a free provider ...).
  [[nodiscard]] std::string suggest(std::string_view domain, bool tld_exists) const;

 private:
  // Targets grouped by first label ("hotmail" -> hotmail.com, hotmail.fr ...): an accepted target's
  // first label is equal or one edit away, so most groups are ruled out by one cheap comparison.
  struct Group {
    std::string_view sld;
    std::vector<std::string_view> domains;  // in insertion order: earlier wins a tie
  };
  struct Tld {
    std::string_view text;
    std::size_t labels;
  };
  [[nodiscard]] std::string_view closest_domain(std::string_view domain, bool tld_exists) const;
  [[nodiscard]] std::string correct_sld(std::string_view domain) const;

  std::vector<Group> groups_;
  NeighbourIndex group_index_;  // group first labels -> index in groups_
  lists::ViewSet domain_set_;
  std::vector<Tld> tlds_;
  lists::ViewSet tld_set_;
  std::vector<std::string_view> slds_;
  lists::ViewSet sld_set_;
};

}  // namespace mailsift::domain::typo
