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
#include "common/golden.hpp"

namespace mailsift::address {
namespace {

const std::string kDir = std::string(MAILSIFT_TEST_DATA) + "/address/golden/";

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
  testing::check_golden(kDir, "inputs.txt", "\t", [](const std::string& line) { return describe(testing::unescape(line)); });
}

}  // namespace
}  // namespace mailsift::address
