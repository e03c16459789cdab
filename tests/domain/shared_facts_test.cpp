#include "domain/shared_facts.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "common/flat_map.hpp"
#include "domain/knowledge.hpp"
#include "test_knowledge.hpp"

namespace mailsift::domain {
namespace {

using testing::defaults;

void expect_same(const FactsView& got, const DomainFacts& want, std::string_view d) {
  EXPECT_EQ(got.reason, want.reason) << d;
  EXPECT_EQ(got.disposable, want.disposable) << d;
  EXPECT_EQ(got.free, want.free) << d;
  EXPECT_EQ(got.registrable, want.registrable) << d;
  EXPECT_EQ(got.suggestion, want.suggestion) << d;
}

// Short and long keys (inline up to 20 octets, in the arena beyond, and past the 126 octets the head
// word can count), suggestions, and a registrable domain that is not a suffix of the key.
std::vector<std::string> sample_domains() {
  return {"mailinator.com",
          "gmail.com",
          "gmial.com",
          "x.example.com",
          "shop.acme.co.uk",
          "foo.notatld",
          "xn--mnchen-3ya.de",
          "mail.a-rather-long-company-name.example.co.uk",
          "Shop.ACME.co.uk",
          "a-rather-long-company-name.gmial.com",
          std::string(63, 'a') + "." + std::string(62, 'b') + ".com",
          std::string(63, 'c') + "." + std::string(63, 'd') + "." + std::string(63, 'e') + ".org",
          "twenty-octets.abc.de",
          "twenty-one-octets.com"};
}

TEST(SharedFacts, AnswersAsKnowledge) {
  const Knowledge& k = defaults();
  SharedFacts shared;
  for (const std::string& d : sample_domains()) {
    FactsView v;
    EXPECT_FALSE(shared.find(d, fast_hash(d), v)) << d;
    ASSERT_TRUE(shared.insert(d, fast_hash(d), k.lookup(d), v)) << d;
    expect_same(v, k.lookup(d), d);
  }
  for (const std::string& d : sample_domains()) {
    FactsView v;
    ASSERT_TRUE(shared.find(d, fast_hash(d), v)) << d;
    expect_same(v, k.lookup(d), d);
    // A second insert of a cached domain answers with the entry already there.
    ASSERT_TRUE(shared.insert(d, fast_hash(d), k.lookup(d), v)) << d;
    expect_same(v, k.lookup(d), d);
  }
  EXPECT_EQ(shared.size(), sample_domains().size());
  // Neither an empty key nor one longer than a domain can be is kept.
  FactsView v;
  EXPECT_FALSE(shared.insert("", fast_hash(""), k.lookup("a.com"), v));
  const std::string overlong(300, 'a');
  EXPECT_FALSE(shared.insert(overlong, fast_hash(overlong), k.lookup("a.com"), v));
}

TEST(SharedFacts, WhenFullTheWorkersOwnCacheKeepsTheRest) {
  const Knowledge& k = defaults();
  SharedFacts shared(2);
  FactsView v;
  EXPECT_TRUE(shared.insert("a.com", fast_hash("a.com"), k.lookup("a.com"), v));
  EXPECT_TRUE(shared.insert("b.com", fast_hash("b.com"), k.lookup("b.com"), v));
  EXPECT_FALSE(shared.insert("c.com", fast_hash("c.com"), k.lookup("c.com"), v));
  EXPECT_FALSE(shared.find("c.com", fast_hash("c.com"), v));
  EXPECT_EQ(shared.size(), 2U);

  FactsCache cache(k, &shared);
  for (int pass = 0; pass < 2; ++pass) {
    for (const std::string& d : sample_domains()) expect_same(cache.get(d), k.lookup(d), d);
    for (int i = 0; i < 300; ++i) {
      const std::string d = "d" + std::to_string(i) + ".org";
      EXPECT_EQ(cache.get(d).registrable, d);
    }
  }
}

TEST(SharedFacts, FullArenaRefusesWhatNeedsIt) {
  const Knowledge& k = defaults();
  SharedFacts shared(100, 16);  // room for no long key
  const std::string long_key = "a-rather-long-company-name.example.com";
  FactsView v;
  EXPECT_FALSE(shared.insert(long_key, fast_hash(long_key), k.lookup(long_key), v));
  EXPECT_TRUE(shared.insert("short.com", fast_hash("short.com"), k.lookup("short.com"), v));  // inline
  FactsCache cache(k, &shared);
  expect_same(cache.get(long_key), k.lookup(long_key), long_key);
}

// Keys that collide completely (one hash for all: same slot, same tag, same length in the head) are
// told apart by their bytes, including keys over 126 octets (their head cannot hold the length)
// that differ only in the last octet, and a 255-octet key.
TEST(SharedFacts, CollidingKeysAreToldApartByTheirBytes) {
  constexpr std::uint64_t kHash = 0x1234567800000042ULL;
  std::vector<std::string> keys = {"aaaa.com", "bbbb.com", "cccc.com"};
  for (char last : {'x', 'y', 'z'}) keys.push_back(std::string(150, 'l') + ".co" + last);
  keys.push_back(std::string(251, 'm') + ".com");  // 255 octets
  keys.push_back(std::string(127, 'n'));           // exactly the head's length mark
  keys.push_back(std::string(126, 'n'));
  SharedFacts shared;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    DomainFacts f;
    f.registrable = keys[i];  // a suffix of the key: kept as its length
    f.suggestion = "s" + std::to_string(i);
    f.free = i % 2 == 0;
    FactsView v;
    ASSERT_TRUE(shared.insert(keys[i], kHash, f, v)) << i;
    EXPECT_EQ(v.suggestion, f.suggestion) << i;
  }
  for (std::size_t i = 0; i < keys.size(); ++i) {
    FactsView v;
    ASSERT_TRUE(shared.find(keys[i], kHash, v)) << i;
    EXPECT_EQ(v.suggestion, "s" + std::to_string(i)) << i;
    EXPECT_EQ(v.registrable, keys[i]) << i;
    EXPECT_EQ(v.free, i % 2 == 0) << i;
  }
  FactsView v;
  EXPECT_FALSE(shared.find(std::string(150, 'l') + ".cow", kHash, v));  // same length, not cached
  EXPECT_FALSE(shared.find("dddd.com", kHash, v));
}

// Workers meeting the same domains in different orders, as the offline pool's do: every answer is
// Knowledge's, whichever worker cached it (ThreadSanitizer runs this: scripts/test.sh).
TEST(SharedFacts, WorkersOnManyThreadsAgree) {
  const Knowledge& k = defaults();
  std::vector<std::string> domains = sample_domains();
  for (int i = 0; i < 3000; ++i) {
    domains.push_back("company" + std::to_string(i) + (i % 3 == 0 ? ".co.uk" : ".com"));
    if (i % 50 == 0) domains.push_back("mail.a-long-subsidiary-name-" + std::to_string(i) + ".example.org");
  }
  std::vector<DomainFacts> want;
  want.reserve(domains.size());
  for (const std::string& d : domains) want.push_back(k.lookup(d));

  SharedFacts shared;
  constexpr int kWorkers = 4;
  std::vector<int> wrong(kWorkers, 0);
  std::vector<std::thread> workers;
  for (int w = 0; w < kWorkers; ++w) {
    workers.emplace_back([&, w] {
      FactsCache cache(k, &shared);
      std::vector<std::size_t> order(domains.size());
      for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
      std::shuffle(order.begin(), order.end(), std::mt19937(static_cast<unsigned>(w) + 1));
      for (int pass = 0; pass < 2; ++pass) {
        for (std::size_t i : order) {
          const FactsView got = cache.get(domains[i]);
          const DomainFacts& e = want[i];
          if (got.reason != e.reason || got.disposable != e.disposable || got.free != e.free ||
              got.registrable != e.registrable || got.suggestion != e.suggestion)
            ++wrong[static_cast<std::size_t>(w)];
        }
      }
    });
  }
  for (std::thread& t : workers) t.join();
  for (int w = 0; w < kWorkers; ++w) EXPECT_EQ(wrong[static_cast<std::size_t>(w)], 0) << "worker " << w;
  for (const std::string& d : domains) {
    FactsView v;
    EXPECT_TRUE(shared.find(d, fast_hash(d), v)) << d;
  }
  // Each domain once, give or take the rare one two workers cached at the same moment.
  EXPECT_GE(shared.size(), domains.size());
  EXPECT_LE(shared.size(), domains.size() + domains.size() / 10);
}

}  // namespace
}  // namespace mailsift::domain
