#include "domain/typo.hpp"

#include <algorithm>
#include <array>
#include <utility>

namespace mailsift::domain::typo {
namespace {

// Thresholds, tuned on tests/domain/typo_test.cpp and the conformance cases. mailcheck accepts any
// candidate within sift3 distance 2; on its own that turns aon.com into aol.com, hotmart.com into
// hotmail.com and fastmail.fm into fastmail.com, so we add the per-part rules below.
constexpr std::size_t kMaxDistance = 2;
// Similarity 1 - d / max_len must be at least 0.8: one edit needs 5+ characters, two need 10+.
constexpr std::size_t kSimilarityDenominator = 5;
// A first label shorter than this is too easy to hit by accident (aon/aol, mi/me, mall/mail): such
// targets are only suggested for a mistyped TLD ("aol.con").
constexpr std::size_t kMinChangedSldLength = 5;
// When the input's TLD exists, it is only corrected towards these, and by one edit: "gmail.co" is
// a slip, while "hotmail.ch", "gmx.fr" or "fastmail.fm" are real mailbox domains.
constexpr std::array<std::string_view, 3> kGenericTlds = {"com", "net", "org"};

std::pair<std::string_view, std::string_view> split_first_label(std::string_view d) noexcept {
  const std::size_t dot = d.find('.');
  if (dot == std::string_view::npos) return {d, {}};
  return {d.substr(0, dot), d.substr(dot + 1)};
}

bool similar_enough(std::size_t dist, std::size_t a_len, std::size_t b_len) noexcept {
  return dist * kSimilarityDenominator <= std::max(a_len, b_len);
}

// The last `labels` labels of d (all of d when it has exactly that many), or "" when d has fewer.
std::string_view last_labels(std::string_view d, std::size_t labels) noexcept {
  std::size_t pos = d.size();
  for (std::size_t i = 0; i < labels; ++i) {
    if (pos == 0) return {};
    const std::size_t dot = d.rfind('.', pos - 1);
    if (dot == std::string_view::npos) return i + 1 == labels ? d : std::string_view{};
    pos = dot;
  }
  return d.substr(pos + 1);
}

std::size_t label_count(std::string_view d) noexcept {
  return static_cast<std::size_t>(std::count(d.begin(), d.end(), '.')) + 1;
}

}  // namespace

std::size_t osa_distance(std::string_view a, std::string_view b, std::size_t limit) noexcept {
  limit = std::min(limit, kMaxLen);
  const std::size_t over = limit + 1;
  if (a.size() > kMaxLen || b.size() > kMaxLen) return over;
  // Dropping a common prefix and suffix leaves the distance unchanged (the randomized test checks
  // this against the full table) and most of the work goes: a near-miss shares most of its text
  // with the target ("yahooo.cmo" / "yahoo.com" leaves "o.cmo" / ".com").
  while (!a.empty() && !b.empty() && a.front() == b.front()) {
    a.remove_prefix(1);
    b.remove_prefix(1);
  }
  while (!a.empty() && !b.empty() && a.back() == b.back()) {
    a.remove_suffix(1);
    b.remove_suffix(1);
  }
  const std::size_t n = a.size();
  const std::size_t m = b.size();
  if ((n > m ? n - m : m - n) > limit) return over;
  // Three rolling rows; cells outside the diagonal band |i - j| <= limit hold `over`.
  std::array<std::array<std::uint8_t, kMaxLen + 2>, 3> rows;
  const auto cap = [over](std::size_t v) { return static_cast<std::uint8_t>(std::min(v, over)); };
  // Row 0 only inside the band, plus one cell past it that row 1 reads.
  for (std::size_t j = 0; j <= std::min(m, limit + 1); ++j) rows[0][j] = cap(j);
  for (std::size_t i = 1; i <= n; ++i) {
    auto& cur = rows[i % 3];
    const auto& prev = rows[(i - 1) % 3];
    const auto& prev2 = rows[(i + 1) % 3];  // (i - 2) mod 3
    const std::size_t lo = i > limit ? i - limit : 1;
    const std::size_t hi = std::min(m, i + limit);
    cur[lo - 1] = lo == 1 ? cap(i) : static_cast<std::uint8_t>(over);
    std::size_t row_min = cur[lo - 1];
    for (std::size_t j = lo; j <= hi; ++j) {
      const std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      std::size_t v = std::min<std::size_t>({prev[j] + 1u, cur[j - 1] + 1u, prev[j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        v = std::min<std::size_t>(v, prev2[j - 2] + 1u);
      cur[j] = cap(v);
      row_min = std::min<std::size_t>(row_min, cur[j]);
    }
    if (hi < m) cur[hi + 1] = static_cast<std::uint8_t>(over);  // read as prev[j] by the next row
    if (row_min > limit) return over;
  }
  return rows[n % 3][m];
}

void NeighbourIndex::add(std::string_view s, std::uint32_t id) {
  if (s.size() > kMaxLen) return;
  longest_ = std::max(longest_, s.size());
  const auto file = [&](std::string key) {
    const std::size_t b = filter_bit(poly(key));
    filter_[b / 64] |= std::uint64_t{1} << (b % 64);
    std::vector<std::uint32_t>& ids = map_[std::move(key)];
    if (std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id);
  };
  file(std::string(s));
  for (std::size_t i = 0; i < s.size(); ++i) {
    std::string key(s.substr(0, i));
    key += s.substr(i + 1);
    file(std::move(key));
  }
}

void Suggester::add_domain(std::string_view domain) {
  if (!domain_set_.insert(domain).second) return;
  const std::string_view sld = split_first_label(domain).first;
  const auto it = std::find_if(groups_.begin(), groups_.end(), [&](const Group& g) { return g.sld == sld; });
  if (it != groups_.end()) {
    it->domains.push_back(domain);
  } else {
    group_index_.add(sld, static_cast<std::uint32_t>(groups_.size()));
    groups_.push_back(Group{sld, {domain}});
  }
}

void Suggester::add_tld(std::string_view tld) {
  if (tld_set_.insert(tld).second) tlds_.push_back(Tld{tld, label_count(tld)});
}

void Suggester::add_sld(std::string_view sld) {
  if (sld_set_.insert(sld).second) slds_.push_back(sld);
}

// Only groups whose first label is within one edit of the input's can hold an accepted target, so
// the index hands out those and nothing else. The answer is the accepted target with the smallest
// (distance, group, position in group): the order in which a scan of every group in insertion
// order would have kept it (the reference in tests/domain/typo_reference.hpp).
std::string_view Suggester::closest_domain(std::string_view domain, bool tld_exists) const {
  if (domain_set_.contains(domain)) return {};
  // Plain variables, not a structured binding: clang before 16 cannot capture those in a lambda.
  const auto parts = split_first_label(domain);
  const std::string_view sld = parts.first;
  const std::string_view rest = parts.second;
  const std::size_t n = domain.size();
  std::string_view best;
  std::size_t best_dist = kMaxDistance + 1;
  std::size_t best_group = groups_.size();
  std::size_t best_pos = 0;
  group_index_.for_each_near(sld, [&](std::uint32_t gi) {
    const Group& g = groups_[gi];
    // A short first label is too easy to hit by accident (aon/aol, mi/me, mall/mail).
    if (g.sld != sld && (g.sld.size() < kMinChangedSldLength || osa_distance(sld, g.sld, 1) > 1)) return;
    for (std::size_t pos = 0; pos < g.domains.size(); ++pos) {
      const std::string_view cand = g.domains[pos];
      // Cheaper than the distance and implied by it: a longer or shorter target needs that many edits.
      if ((n > cand.size() ? n - cand.size() : cand.size() - n) > kMaxDistance) continue;
      const std::size_t d = osa_distance(domain, cand, kMaxDistance);
      if (d > kMaxDistance || !similar_enough(d, n, cand.size())) continue;
      // Ties: the earlier group (the popular list is ordered by provider size), then list order.
      if (d > best_dist || (d == best_dist && (gi > best_group || (gi == best_group && pos >= best_pos)))) continue;
      const std::string_view cand_rest = split_first_label(cand).second;
      if (rest != cand_rest && tld_exists &&
          (std::find(kGenericTlds.begin(), kGenericTlds.end(), cand_rest) == kGenericTlds.end() ||
           osa_distance(rest, cand_rest, 1) > 1))
        continue;
      best = cand;
      best_dist = d;
      best_group = gi;
      best_pos = pos;
    }
  });
  return best;
}

std::string Suggester::correct_sld(std::string_view domain) const {
  const auto [sld, rest] = split_first_label(domain);
  if (rest.empty() || !tld_set_.contains(rest) || sld_set_.contains(sld)) return {};
  for (std::string_view cand : slds_) {
    // The length test is implied by the distance and rules out almost every entry for free.
    if (cand.size() >= kMinChangedSldLength && cand.size() + 1 >= sld.size() && sld.size() + 1 >= cand.size() &&
        osa_distance(sld, cand, 1) <= 1) {
      std::string out(cand);
      out += '.';
      out += rest;
      return out;
    }
  }
  return {};
}

std::string Suggester::suggest(std::string_view domain, bool tld_exists) const {
  if (domain.empty() || domain.size() > kMaxLen) return {};
  // 1. The whole domain is close to a big provider's.
  if (const std::string_view t = closest_domain(domain, tld_exists); !t.empty()) return std::string(t);

  // 2. A TLD that does not exist, one edit away from a common one ("acme.cmo"). A TLD that exists
  //    is left alone: "acme.co" and "acme.cm" are real registrations.
  std::string fixed;
  if (!tld_exists) {
    std::string_view best_suffix;
    std::string_view best_tld;
    for (const auto& [tld, labels] : tlds_) {
      const std::string_view suffix = last_labels(domain, labels);
      if (suffix.empty() || suffix.size() == domain.size()) continue;
      if (suffix.size() + 1 >= tld.size() && tld.size() + 1 >= suffix.size() && osa_distance(suffix, tld, 1) == 1) {
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
