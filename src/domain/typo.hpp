#pragma once
// Typo suggestions for mailbox domains, mailcheck-style but tuned for precision: a wrong
// suggestion on a real company domain costs more than a missed one (docs/typo-suggestions.md).
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
  [[nodiscard]] std::string_view closest_domain(std::string_view domain, bool tld_exists) const;
  [[nodiscard]] std::string correct_sld(std::string_view domain) const;

  std::vector<Group> groups_;
  lists::ViewSet domain_set_;
  std::vector<std::string_view> tlds_;
  lists::ViewSet tld_set_;
  std::vector<std::string_view> slds_;
  lists::ViewSet sld_set_;
};

}  // namespace mailsift::domain::typo
