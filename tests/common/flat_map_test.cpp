#include "common/flat_map.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <unordered_map>

namespace mailsift {
namespace {

TEST(FlatMap, AgreesWithUnorderedMapThroughGrowth) {
  FlatMap<std::string, int> m(4);
  std::unordered_map<std::string, int> ref;
  for (int i = 0; i < 5000; ++i) {
    const std::string k = "d" + std::to_string(i * 7919 % 10007) + ".example";
    m.insert(k, i);
    ref.emplace(k, i);  // first insert wins in both
  }
  EXPECT_EQ(m.size(), ref.size());
  for (const auto& [k, v] : ref) {
    const int* got = m.find(k);
    ASSERT_NE(got, nullptr) << k;
    EXPECT_EQ(*got, v) << k;
  }
  EXPECT_EQ(m.find("absent.example"), nullptr);
  EXPECT_EQ(m.find(""), nullptr);
  m.clear();
  EXPECT_EQ(m.size(), 0u);
  EXPECT_EQ(m.find(ref.begin()->first), nullptr);
}

// Counting in place (the bulk summary's top domains) and visiting every entry once.
TEST(FlatMap, CountsInPlaceAndVisitsEveryEntry) {
  FlatMap<std::string, std::uint64_t> m(4);
  for (int i = 0; i < 3000; ++i) {
    const std::string d = "d" + std::to_string(i % 700) + ".example";
    if (std::uint64_t* n = m.find(d)) ++*n;
    else m.insert(d, 1);
  }
  std::unordered_map<std::string, std::uint64_t> seen;
  m.for_each([&](std::string_view k, std::uint64_t v) { EXPECT_TRUE(seen.emplace(k, v).second) << k; });
  ASSERT_EQ(seen.size(), 700u);
  for (int i = 0; i < 700; ++i) EXPECT_EQ(seen["d" + std::to_string(i) + ".example"], i < 200 ? 5u : 4u) << i;
}

// The inline compare reads 8 bytes at a time with an overlapping last word: a difference at any
// position of any length around the word size is seen.
TEST(FlatMap, SameBytesSeesEveryDifference) {
  for (std::size_t n = 0; n <= 33; ++n) {
    const std::string a(n, 'x');
    EXPECT_TRUE(same_bytes(a, std::string(n, 'x'))) << n;
    EXPECT_FALSE(same_bytes(a, std::string(n + 1, 'x'))) << n;
    for (std::size_t at = 0; at < n; ++at) {
      std::string b = a;
      b[at] = 'y';
      EXPECT_FALSE(same_bytes(a, b)) << n << " " << at;
    }
  }
}

TEST(FlatMap, HashSeparatesLengthsAndTails) {
  // Keys that differ only in length or in the tail bytes must not collide systematically.
  EXPECT_NE(fast_hash("abc"), fast_hash(std::string_view("abc\0", 4)));
  EXPECT_NE(fast_hash("abcdefgh1"), fast_hash("abcdefgh2"));
  FlatSet<std::string_view> s;
  s.insert("info");
  s.insert("sales");
  EXPECT_TRUE(s.contains("info"));
  EXPECT_FALSE(s.contains("inf"));
  EXPECT_FALSE(s.contains("infos"));
}

}  // namespace
}  // namespace mailsift
