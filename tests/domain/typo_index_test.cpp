// The indexed typo Suggester (issue 15) against the one it replaced, kept as a test-only reference
// (typo_reference.hpp): both are built from the embedded lists in Knowledge's order and must give
// the same answer for every input, with the TLD known and unknown. Inputs: every one-edit variant of
// every target (domain, TLD, first label), seeded random two-edit variants, and seeded random
// company-like domains. The index itself: a query finds every entry within one edit.
#include <gtest/gtest.h>

#include <random>
#include <set>
#include <string>
#include <vector>

#include "common/text.hpp"
#include "domain/embedded_lists.hpp"
#include "domain/typo.hpp"
#include "typo_reference.hpp"

namespace mailsift::domain::typo {
namespace {

constexpr std::string_view kAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789.-";

struct Pair {
  Suggester fast;
  ReferenceSuggester ref;
  std::vector<std::string_view> targets;  // every string the suggester knows

  Pair() {
    for (std::string_view d : text::list_lines(embedded::popular_domains, false)) add_domain(d);
    for (std::string_view d : text::list_lines(embedded::typo_domains, true)) add_domain(d);
    for (std::string_view t : text::list_lines(embedded::typo_tlds, false)) {
      fast.add_tld(t);
      ref.add_tld(t);
      targets.push_back(t);
    }
    for (std::string_view s : text::list_lines(embedded::typo_slds, false)) {
      fast.add_sld(s);
      ref.add_sld(s);
      targets.push_back(s);
    }
  }
  void add_domain(std::string_view d) {
    fast.add_domain(d);
    ref.add_domain(d);
    targets.push_back(d);
  }
};

const Pair& pair() {
  static const Pair p;
  return p;
}

// Every string one deletion, insertion, substitution or adjacent transposition away from s.
std::vector<std::string> one_edit(std::string_view s) {
  std::vector<std::string> out;
  const std::string base(s);
  for (std::size_t i = 0; i <= base.size(); ++i) {
    for (char c : kAlphabet) out.push_back(base.substr(0, i) + c + base.substr(i));
    if (i == base.size()) break;
    out.push_back(base.substr(0, i) + base.substr(i + 1));
    for (char c : kAlphabet) {
      if (c == base[i]) continue;
      std::string t = base;
      t[i] = c;
      out.push_back(std::move(t));
    }
    if (i + 1 < base.size()) {
      std::string t = base;
      std::swap(t[i], t[i + 1]);
      out.push_back(std::move(t));
    }
  }
  return out;
}

std::string random_edit(std::string s, std::mt19937_64& rng) {
  const auto pick = [&](std::size_t n) { return static_cast<std::size_t>(rng() % n); };
  const char c = kAlphabet[pick(kAlphabet.size())];
  switch (pick(4)) {
    case 0: s.insert(s.begin() + static_cast<std::ptrdiff_t>(pick(s.size() + 1)), c); break;
    case 1:
      if (!s.empty()) s.erase(pick(s.size()), 1);
      break;
    case 2:
      if (!s.empty()) s[pick(s.size())] = c;
      break;
    default:
      if (s.size() > 1) {
        const std::size_t i = pick(s.size() - 1);
        std::swap(s[i], s[i + 1]);
      }
  }
  return s;
}

void expect_same(const Pair& p, const std::string& input, std::size_t& compared) {
  for (const bool tld_exists : {true, false}) {
    ASSERT_EQ(p.fast.suggest(input, tld_exists), p.ref.suggest(input, tld_exists))
        << "input \"" << input << "\", tld_exists " << tld_exists;
  }
  ++compared;
}

TEST(TypoIndex, SameAsReferenceOnEveryOneEditVariantOfEveryTarget) {
  const Pair& p = pair();
  std::size_t compared = 0;
  std::set<std::string> seen;
  for (std::string_view t : p.targets) {
    expect_same(p, std::string(t), compared);
    for (std::string& v : one_edit(t))
      if (seen.insert(v).second) expect_same(p, v, compared);
  }
  EXPECT_GT(compared, 100'000u);
}

TEST(TypoIndex, SameAsReferenceOnRandomTwoEditVariants) {
  const Pair& p = pair();
  std::mt19937_64 rng(15);
  std::size_t compared = 0;
  for (int i = 0; i < 100'000; ++i) {
    const std::string_view t = p.targets[rng() % p.targets.size()];
    expect_same(p, random_edit(random_edit(std::string(t), rng), rng), compared);
  }
}

TEST(TypoIndex, SameAsReferenceOnRandomCompanyDomains) {
  const Pair& p = pair();
  constexpr std::array<std::string_view, 12> kSyllables = {"ma", "il",  "ho", "t",  "ya", "hoo",
                                                           "gm", "out", "lo", "ok", "ra", "ne"};
  constexpr std::array<std::string_view, 10> kSuffixes = {"com", "co.uk", "de", "net", "cmo",
                                                          "con", "org",   "fr", "xyz", "co"};
  std::mt19937_64 rng(1515);
  std::size_t compared = 0;
  for (int i = 0; i < 50'000; ++i) {
    std::string d;
    if (rng() % 4 == 0) d = std::string(kSyllables[rng() % kSyllables.size()]) + ".";
    for (std::size_t k = 1 + rng() % 4; k > 0; --k) d += kSyllables[rng() % kSyllables.size()];
    d += '.';
    d += kSuffixes[rng() % kSuffixes.size()];
    expect_same(p, d, compared);
  }
}

TEST(NeighbourIndex, FindsEveryEntryWithinOneEdit) {
  NeighbourIndex index;
  const std::vector<std::string> entries = {"gmail", "hotmail", "aa", "a", "yahoo", "outlook", "mail"};
  for (std::size_t i = 0; i < entries.size(); ++i) index.add(entries[i], static_cast<std::uint32_t>(i));
  std::vector<std::string> queries = {"", "b", "gmial", "yaho", "aaa"};
  for (const std::string& e : entries)
    for (std::string& v : one_edit(e)) queries.push_back(std::move(v));
  for (const std::string& q : queries) {
    std::set<std::uint32_t> found;
    index.for_each_near(q, [&](std::uint32_t id) { found.insert(id); });
    for (std::size_t i = 0; i < entries.size(); ++i) {
      if (osa_distance(q, entries[i], 1) <= 1) {
        EXPECT_TRUE(found.count(static_cast<std::uint32_t>(i))) << "query \"" << q << "\" missed " << entries[i];
      }
    }
  }
}

// The same over many entries of a three-letter alphabet, so that most queries are near several:
// every entry within one edit is handed out (for_each_near skips keys by their hashes, computed
// in O(1) from prefix and suffix sums; a wrong hash would drop a key here).
TEST(NeighbourIndex, FindsEveryNearEntryAmongMany) {
  std::mt19937_64 rng(2026);
  const auto random_string = [&](std::size_t len) {
    std::string s;
    for (std::size_t i = 0; i < len; ++i) s += static_cast<char>('a' + rng() % 3);
    return s;
  };
  NeighbourIndex index;
  std::vector<std::string> entries;
  for (std::uint32_t i = 0; i < 3000; ++i) {
    entries.push_back(random_string(1 + rng() % 12));
    index.add(entries.back(), i);
  }
  std::size_t near_pairs = 0;
  for (int q = 0; q < 1500; ++q) {
    const std::string query = q % 2 == 0 ? random_string(rng() % 14) : random_edit(entries[rng() % entries.size()], rng);
    std::set<std::uint32_t> found;
    index.for_each_near(query, [&](std::uint32_t id) { found.insert(id); });
    for (std::size_t i = 0; i < entries.size(); ++i) {
      if (osa_distance(query, entries[i], 1) > 1) continue;
      ++near_pairs;
      EXPECT_TRUE(found.count(static_cast<std::uint32_t>(i))) << "query \"" << query << "\" missed " << entries[i];
    }
  }
  EXPECT_GT(near_pairs, 3000U);  // the alphabet makes neighbours common: the test has cases
}

}  // namespace
}  // namespace mailsift::domain::typo
