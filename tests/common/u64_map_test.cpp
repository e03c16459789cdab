#include "common/u64_map.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <unordered_map>

namespace mailsift {
namespace {

// Through many doublings (16 slots to 2^18; the later tables are large enough to be aligned for
// huge pages), with values: every key finds its last value, absent keys are absent.
TEST(U64Map, AgreesWithUnorderedMapThroughGrowth) {
  U64Map m(/*values=*/true, 16);
  std::unordered_map<std::uint64_t, std::uint64_t> ref;
  std::mt19937_64 rng(42);
  for (int i = 0; i < 100'000; ++i) {
    const std::uint64_t k = rng() % 200'000 + 2;  // repeats, so overwrites happen too
    const std::uint64_t v = rng();
    EXPECT_EQ(m.put(k, v), ref.find(k) == ref.end()) << k;
    ref[k] = v;
  }
  EXPECT_EQ(m.size(), ref.size());
  EXPECT_GE(m.capacity(), 2 * m.size());  // load stays at most 1/2
  for (const auto& [k, v] : ref) {
    m.prefetch(k);
    const auto got = m.find(k);
    ASSERT_TRUE(got.has_value()) << k;
    EXPECT_EQ(*got, v) << k;
  }
  for (std::uint64_t k = 200'002; k < 201'000; ++k) EXPECT_FALSE(m.contains(k)) << k;
}

TEST(U64Map, KeysOnly) {
  U64Map m(/*values=*/false);
  EXPECT_TRUE(m.put(7, 99));  // the value is not kept
  EXPECT_FALSE(m.put(7));
  EXPECT_EQ(m.find(7), std::optional<std::uint64_t>(0));
  EXPECT_FALSE(m.contains(8));
  for (std::uint64_t k = 1; k <= 300'000; ++k) m.put(k * 0x9E3779B97F4A7C15ULL);
  EXPECT_EQ(m.size(), 300'001u);  // 7 and 300,000 others (none of them is 7)
  for (std::uint64_t k = 1; k <= 300'000; ++k) ASSERT_TRUE(m.contains(k * 0x9E3779B97F4A7C15ULL)) << k;
}

// 0 marks an empty slot, so key 0 is stored as 1: the two are one key (callers store hashes).
TEST(U64Map, KeyZeroIsKeyOne) {
  U64Map m(/*values=*/true);
  EXPECT_FALSE(m.contains(0));
  EXPECT_TRUE(m.put(0, 5));
  EXPECT_EQ(m.find(0), std::optional<std::uint64_t>(5));
  EXPECT_EQ(m.find(1), std::optional<std::uint64_t>(5));
  EXPECT_FALSE(m.put(1, 6));
  EXPECT_EQ(m.find(0), std::optional<std::uint64_t>(6));
  EXPECT_EQ(m.size(), 1u);
}

}  // namespace
}  // namespace mailsift
