#include "common/flat_map.hpp"

#include <gtest/gtest.h>

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
