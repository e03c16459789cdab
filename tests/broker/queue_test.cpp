// The work queue's message shapes (src/broker/queue.hpp): what a coordinator writes, a worker
// reads back exactly; anything else is refused rather than guessed at.
#include <gtest/gtest.h>

#include "broker/queue.hpp"

namespace mailsift::broker {
namespace {

Reply fields_of(const std::vector<std::string>& f) {
  Reply r;
  r.type = Reply::Type::array;
  for (const std::string& s : f) {
    Reply e;
    e.type = Reply::Type::string;
    e.str = s;
    r.elements.push_back(e);
  }
  return r;
}

TEST(Queue, ItemsRoundTripAnyBytes) {
  const Items in{{0, "a@b.example"}, {7, std::string("x\0y\x1f{\"k\":\"v\"}\n 3:", 17)}, {18446744073709551615ull, ""}};
  const auto out = decode_items(encode_items(in), 10);
  ASSERT_TRUE(out);
  EXPECT_EQ(*out, in);
  EXPECT_EQ(decode_items("", 10)->size(), 0u);
}

TEST(Queue, MalformedItemsAreRefused) {
  for (const char* bad : {"1", "1 ", "1 5:abc", "x 1:a", "1 x:a", "1 -1:a", "1 1a", "01 1:a2 1:b 3"})
    EXPECT_FALSE(decode_items(bad, 10)) << bad;
  EXPECT_FALSE(decode_items(encode_items({{1, "a"}, {2, "b"}, {3, "c"}}), 2));  // more than the bound
}

TEST(Queue, ChunksRoundTripAndForeignEntriesAreRefused) {
  const Chunk c{"run1", 42, "smtp", "example.org", {{3, "Alice@Example.org"}, {9, "bob@example.org"}}};
  const auto back = parse_chunk(fields_of(chunk_fields(c)));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->run, "run1");
  EXPECT_EQ(back->number, 42u);
  EXPECT_EQ(back->level, "smtp");
  EXPECT_EQ(back->domain, "example.org");
  EXPECT_EQ(back->items, c.items);
  std::vector<std::string> f = chunk_fields(c);
  f[1] = "2";  // a newer version
  EXPECT_FALSE(parse_chunk(fields_of(f)));
  f = chunk_fields(c);
  f[7] = "syntax";  // no such level for a worker
  EXPECT_FALSE(parse_chunk(fields_of(f)));
  f = chunk_fields(c);
  f.resize(f.size() - 2);  // no items
  EXPECT_FALSE(parse_chunk(fields_of(f)));
  EXPECT_FALSE(parse_chunk(fields_of(chunk_fields(Chunk{"r", 1, "dns", "b.example",
                                                        {{0, std::string(kMaxChunkBytes, 'a')}}}))));  // oversized
  Items many;
  for (std::uint64_t i = 0; i <= kChunkItems; ++i) many.emplace_back(i, "a@b.example");
  EXPECT_FALSE(parse_chunk(fields_of(chunk_fields(Chunk{"r", 1, "dns", "b.example", many}))));
}

}  // namespace
}  // namespace mailsift::broker
