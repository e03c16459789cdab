#pragma once
// Test-only: the typo Suggester as it was before issue 15 (a distance to every target group), kept
// verbatim as the reference that the indexed Suggester must agree with on every input
// (typo_index_test.cpp). Do not change it to make a test pass: change the Suggester.
#include <algorithm>
#include <array>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

#include "common/flat_map.hpp"
#include "domain/typo.hpp"

namespace mailsift::domain::typo {

namespace ref_detail {

// Thresholds, tuned on tests/domain/typo_test.cpp and the conformance cases. mailcheck accepts any
// candidate within sift3 distance 2; on its own that turns aon.com into aol.com, hotmart.com into
// hotmail.com and fastmail.fm into fastmail.com, so we add the per-part rules below.
inline constexpr std::size_t kMaxDistance = 2;
// Similarity 1 - d / max_len must be at least 0.8: one edit needs 5+ characters, two need 10+.
inline constexpr std::size_t kSimilarityDenominator = 5;
// A first label shorter than this is too easy to hit by accident (aon/aol, mi/me, mall/mail): such
// targets are only suggested for a mistyped TLD ("aol.con").
inline constexpr std::size_t kMinChangedSldLength = 5;
// When the input's TLD exists, it is only corrected towards these, and by one edit: "gmail.co" is
// a slip, while "hotmail.ch", "gmx.fr" or "fastmail.fm" are real mailbox domains.
inline constexpr std::array<std::string_view, 3> kGenericTlds = {"com", "net", "org"};

inline std::pair<std::string_view, std::string_view> split_first_label(std::string_view d) noexcept {
  const std::size_t dot = d.find('.');
  if (dot == std::string_view::npos) return {d, {}};
  return {d.substr(0, dot), d.substr(dot + 1)};
}

inline bool similar_enough(std::size_t dist, std::size_t a_len, std::size_t b_len) noexcept {
  return dist * kSimilarityDenominator <= std::max(a_len, b_len);
}

// The last `labels` labels of d (all of d when it has exactly that many), or "" when d has fewer.
inline std::string_view last_labels(std::string_view d, std::size_t labels) noexcept {
  std::size_t pos = d.size();
  for (std::size_t i = 0; i < labels; ++i) {
    if (pos == 0) return {};
    const std::size_t dot = d.rfind('.', pos - 1);
    if (dot == std::string_view::npos) return i + 1 == labels ? d : std::string_view{};
    pos = dot;
  }
  return d.substr(pos + 1);
}

inline std::size_t label_count(std::string_view d) noexcept {
  return static_cast<std::size_t>(std::count(d.begin(), d.end(), '.')) + 1;
}

}  // namespace ref_detail

class ReferenceSuggester {
 public:
  void add_domain(std::string_view domain);
  void add_tld(std::string_view tld);
  void add_sld(std::string_view sld);
  [[nodiscard]] std::string suggest(std::string_view domain, bool tld_exists) const;

 private:
  using ViewSet = std::unordered_set<std::string_view, StringHash, std::equal_to<>>;
  struct Group {
    std::string_view sld;
    std::vector<std::string_view> domains;
  };
  [[nodiscard]] std::string_view closest_domain(std::string_view domain, bool tld_exists) const;
  [[nodiscard]] std::string correct_sld(std::string_view domain) const;

  std::vector<Group> groups_;
  ViewSet domain_set_;
  std::vector<std::string_view> tlds_;
  ViewSet tld_set_;
  std::vector<std::string_view> slds_;
  ViewSet sld_set_;
};

using namespace ref_detail;  // NOLINT: test-only header, kept close to the original text

inline void ReferenceSuggester::add_domain(std::string_view domain) {
  if (!domain_set_.insert(domain).second) return;
  const std::string_view sld = split_first_label(domain).first;
  const auto it = std::find_if(groups_.begin(), groups_.end(), [&](const Group& g) { return g.sld == sld; });
  if (it != groups_.end()) {
    it->domains.push_back(domain);
  } else {
    groups_.push_back(Group{sld, {domain}});
  }
}

inline void ReferenceSuggester::add_tld(std::string_view tld) {
  if (tld_set_.insert(tld).second) tlds_.push_back(tld);
}

inline void ReferenceSuggester::add_sld(std::string_view sld) {
  if (sld_set_.insert(sld).second) slds_.push_back(sld);
}

inline std::string_view ReferenceSuggester::closest_domain(std::string_view domain, bool tld_exists) const {
  if (domain_set_.contains(domain)) return {};
  const auto [sld, rest] = split_first_label(domain);
  const std::size_t n = domain.size();
  std::string_view best;
  std::size_t best_dist = kMaxDistance + 1;
  std::size_t best_group = 0;
  for (std::size_t gi = 0; gi < groups_.size(); ++gi) {
    const Group& g = groups_[gi];
    // A short first label is too easy to hit by accident (aon/aol, mi/me, mall/mail).
    if (g.sld != sld && (g.sld.size() < kMinChangedSldLength || osa_distance(sld, g.sld, 1) > 1)) continue;
    for (const std::string_view cand : g.domains) {
      const std::size_t d = osa_distance(domain, cand, kMaxDistance);
      if (d > kMaxDistance || !similar_enough(d, n, cand.size())) continue;
      // Ties: the earlier group (the popular list is ordered by provider size), then list order.
      if (d > best_dist || (d == best_dist && gi >= best_group)) continue;
      const std::string_view cand_rest = split_first_label(cand).second;
      if (rest != cand_rest && tld_exists &&
          (std::find(kGenericTlds.begin(), kGenericTlds.end(), cand_rest) == kGenericTlds.end() ||
           osa_distance(rest, cand_rest, 1) > 1))
        continue;
      best = cand;
      best_dist = d;
      best_group = gi;
    }
  }
  return best;
}

inline std::string ReferenceSuggester::correct_sld(std::string_view domain) const {
  const auto [sld, rest] = split_first_label(domain);
  if (rest.empty() || !tld_set_.contains(rest) || sld_set_.contains(sld)) return {};
  for (std::string_view cand : slds_) {
    if (cand.size() >= kMinChangedSldLength && osa_distance(sld, cand, 1) <= 1) {
      std::string out(cand);
      out += '.';
      out += rest;
      return out;
    }
  }
  return {};
}

inline std::string ReferenceSuggester::suggest(std::string_view domain, bool tld_exists) const {
  if (domain.empty() || domain.size() > kMaxLen) return {};
  // 1. The whole domain is close to a big provider's.
  if (const std::string_view t = closest_domain(domain, tld_exists); !t.empty()) return std::string(t);

  // 2. A TLD that does not exist, one edit away from a common one ("acme.cmo"). A TLD that exists
  //    is left alone: "acme.co" and "acme.cm" are real registrations.
  std::string fixed;
  if (!tld_exists) {
    std::string_view best_suffix;
    std::string_view best_tld;
    for (std::string_view tld : tlds_) {
      const std::string_view suffix = last_labels(domain, label_count(tld));
      if (suffix.empty() || suffix.size() == domain.size()) continue;
      if (osa_distance(suffix, tld, 1) == 1) {
        best_suffix = suffix;
        best_tld = tld;
        break;  // tlds_ is in order of preference and every hit is at distance 1
      }
    }
    if (!best_tld.empty()) {
      fixed.assign(domain.substr(0, domain.size() - best_suffix.size()));
      fixed += best_tld;
      // "yahooo.cmo" -> "yahooo.com" -> "yahoo.com": never suggest what would itself get a suggestion.
      if (const std::string_view t = closest_domain(fixed, true); !t.empty()) return std::string(t);
    }
  }

  // 3. mailcheck's SLD step: a big provider's first label mistyped under a common TLD.
  std::string sld_fixed = correct_sld(fixed.empty() ? domain : std::string_view(fixed));
  if (!sld_fixed.empty()) return sld_fixed;
  return fixed;
}

}  // namespace mailsift::domain::typo
