// engine::Inputs (engine/batch.hpp): a batch's inputs end to end in one buffer. Each comes back
// as it was added, empty ones and ones with bytes an address never has included, after the
// buffer has grown, after a move into a batch and after clear().
#include "engine/batch.hpp"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace {

using mailsift::engine::Inputs;

TEST(Inputs, EachInputComesBackAsAdded) {
  std::vector<std::string> given = {
      "", "a@b.c", "", std::string("nul\0inside@x.y", 14), "   spaced  ", "\xC3\xA9@\xC3\xA9.fr"};
  for (int i = 0; i < 5000; ++i)
    given.push_back(std::string(static_cast<std::size_t>(i % 300), 'a' + static_cast<char>(i % 26)) + "@d" +
                    std::to_string(i) + ".example");
  Inputs in;
  EXPECT_TRUE(in.empty());
  for (const std::string& s : given) in.push_back(s);
  ASSERT_EQ(in.size(), given.size());
  EXPECT_FALSE(in.empty());
  for (std::size_t i = 0; i < given.size(); ++i) ASSERT_EQ(in[i], given[i]) << "input " << i;

  // Moved into a batch, as Engine::submit does; the next batch starts empty with the same room.
  mailsift::engine::Batch b;
  b.inputs = std::move(in);
  in = Inputs();
  in.reserve_like(b.inputs);
  EXPECT_TRUE(in.empty());
  ASSERT_EQ(b.inputs.size(), given.size());
  EXPECT_EQ(b.inputs[3], given[3]);
  EXPECT_EQ(b.inputs[given.size() - 1], given.back());
  in.push_back("x@y.z");
  ASSERT_EQ(in.size(), 1U);
  EXPECT_EQ(in[0], "x@y.z");

  // Cleared for reuse, as a block of `verify --threads N` is: empty, then filled anew.
  b.inputs.clear();
  EXPECT_TRUE(b.inputs.empty());
  b.inputs.push_back("");
  b.inputs.push_back("p@q.r");
  ASSERT_EQ(b.inputs.size(), 2U);
  EXPECT_EQ(b.inputs[0], "");
  EXPECT_EQ(b.inputs[1], "p@q.r");
}

}  // namespace
