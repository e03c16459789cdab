#pragma once
// Golden files for parsers (STYLE.md §8): a file of raw inputs, one per line ('#' lines and blank
// lines skipped), and expected.tsv beside it holding "input SEP description" per input. A diff of
// expected.tsv shows every behaviour change in review. After an intended change, run the test with
// MAILSIFT_UPDATE_GOLDEN=1 to rewrite expected.tsv.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

namespace mailsift::testing {

/// Input-file escapes: "\xHH" is a byte, "\r" "\n" "\t" what they say, "\\" a backslash.
inline std::string unescape(const std::string& s) {
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

/// Compares describe(line) for every line of dir/inputs with dir/expected.tsv.
inline void check_golden(const std::string& dir, const std::string& inputs, const std::string& separator,
                         const std::function<std::string(const std::string&)>& describe) {
  std::ifstream in(dir + inputs);
  ASSERT_TRUE(in.good()) << "cannot open " << dir + inputs;
  std::vector<std::string> lines, got;
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    lines.push_back(line);
    got.push_back(line + separator + describe(line));
  }
  if (std::getenv("MAILSIFT_UPDATE_GOLDEN") != nullptr) {
    std::ofstream out(dir + "expected.tsv");
    for (const std::string& g : got) out << g << '\n';
    GTEST_SKIP() << "rewrote expected.tsv";
  }
  std::ifstream exp(dir + "expected.tsv");
  ASSERT_TRUE(exp.good()) << "missing expected.tsv: run with MAILSIFT_UPDATE_GOLDEN=1";
  std::vector<std::string> want;
  for (std::string line; std::getline(exp, line);) want.push_back(line);
  ASSERT_EQ(want.size(), got.size()) << inputs << " and expected.tsv differ in length";
  for (std::size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i], want[i]) << "input: " << lines[i];
}

}  // namespace mailsift::testing
