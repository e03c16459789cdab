// Golden file for the parser (STYLE.md §8): tests/address/golden/inputs.txt holds raw inputs,
// expected.tsv the parse of each (reason, normalized form, flags). A diff of expected.tsv shows every
// behaviour change in review. After an intended change: MAILSIFT_UPDATE_GOLDEN=1 mailsift_tests
// --gtest_filter='AddressGolden*' rewrites it.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "address/address.hpp"

namespace mailsift::address {
namespace {

const std::string kDir = std::string(MAILSIFT_TEST_DATA) + "/address/golden/";

// "\xHH" is a byte, "\\" a backslash, "\r" "\n" "\t" what they say; everything else is literal.
std::string unescape(const std::string& s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\' || i + 1 == s.size()) {
      out.push_back(s[i]);
      continue;
    }
    const char n = s[++i];
    if (n == 'x' && i + 2 < s.size()) {
      out.push_back(static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16)));
      i += 2;
    } else if (n == 'r') {
      out.push_back('\r');
    } else if (n == 'n') {
      out.push_back('\n');
    } else if (n == 't') {
      out.push_back('\t');
    } else {
      out.push_back(n);
    }
  }
  return out;
}

std::string describe(const std::string& input) {
  Address a;
  const Reason r = parse(input, a);
  std::string line(code(r));
  if (r != Reason::well_formed) return line;
  line += '\t';
  line += a.normalized();
  if (a.smtputf8) line += "\tsmtputf8";
  if (a.quoted_local) line += "\tquoted_local";
  if (a.literal == Literal::ipv4) line += "\tipv4";
  if (a.literal == Literal::ipv6) line += "\tipv6";
  return line;
}

TEST(AddressGolden, InputsParseAsRecorded) {
  std::ifstream in(kDir + "inputs.txt");
  ASSERT_TRUE(in.good());
  std::vector<std::string> inputs, got;
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    inputs.push_back(line);
    got.push_back(line + "\t" + describe(unescape(line)));
  }
  if (std::getenv("MAILSIFT_UPDATE_GOLDEN") != nullptr) {
    std::ofstream out(kDir + "expected.tsv");
    for (const std::string& g : got) out << g << '\n';
    GTEST_SKIP() << "rewrote expected.tsv";
  }
  std::ifstream exp(kDir + "expected.tsv");
  ASSERT_TRUE(exp.good()) << "missing expected.tsv: run with MAILSIFT_UPDATE_GOLDEN=1";
  std::vector<std::string> want;
  for (std::string line; std::getline(exp, line);) want.push_back(line);
  ASSERT_EQ(want.size(), got.size()) << "inputs.txt and expected.tsv differ in length";
  for (std::size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i], want[i]) << "input: " << inputs[i];
}

}  // namespace
}  // namespace mailsift::address
