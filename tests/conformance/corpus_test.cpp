// Conformance: runs every address of the syntax corpora (tests/conformance/data/address_corpus.csv,
// copied from shared/data/syntax with its licences in data/licenses) through the offline verifier
// and compares with each upstream project's verdict. Every disagreement must be listed, with its
// reason category, in disagreements.tsv (documented in docs/syntax.md); a listed row that no longer
// disagrees fails too, so the list cannot go stale.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "domain/knowledge.hpp"
#include "verdict/classify.hpp"

namespace mailsift {
namespace {

const std::string kDir = std::string(MAILSIFT_TEST_DATA) + "/conformance/";

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  EXPECT_TRUE(f.good()) << "cannot open " << path;
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// RFC 4180 records: quoted fields may hold commas, quotes ("") and line breaks. Test-only reader.
std::vector<std::vector<std::string>> parse_csv(const std::string& data) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> row;
  std::string field;
  bool quoted = false;
  for (std::size_t i = 0; i < data.size(); ++i) {
    const char c = data[i];
    if (quoted) {
      if (c == '"' && i + 1 < data.size() && data[i + 1] == '"') {
        field.push_back('"');
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        field.push_back(c);
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      row.push_back(std::move(field));
      field.clear();
    } else if (c == '\r' && i + 1 < data.size() && data[i + 1] == '\n') {
      // record separator CRLF: handled at '\n'
    } else if (c == '\n') {
      row.push_back(std::move(field));
      field.clear();
      rows.push_back(std::move(row));
      row.clear();
    } else {
      field.push_back(c);
    }
  }
  if (!field.empty() || !row.empty()) {
    row.push_back(std::move(field));
    rows.push_back(std::move(row));
  }
  return rows;
}

struct Row {
  std::string address, escaped, source, options;
  bool expected = false;
};

std::vector<Row> load_corpus() {
  const auto rows = parse_csv(slurp(kDir + "data/address_corpus.csv"));
  EXPECT_GT(rows.size(), 1000u);
  std::map<std::string, std::size_t> col;
  for (std::size_t i = 0; i < rows[0].size(); ++i) col[rows[0][i]] = i;
  std::vector<Row> out;
  for (std::size_t r = 1; r < rows.size(); ++r) {
    const auto& f = rows[r];
    EXPECT_EQ(f.size(), rows[0].size()) << "row " << r;
    if (f.size() != rows[0].size()) continue;
    out.push_back({f[col["address"]], f[col["address_escaped"]], f[col["source"]], f[col["options"]],
                   f[col["expected_valid"]] == "true"});
  }
  return out;
}

// Upstream options that express an application's policy (which hosts or characters it bans), not
// address syntax: those rows say nothing about us.
bool is_policy_row(const Row& r) {
  return r.options.find("host_blacklist") != std::string::npos ||
         r.options.find("host_whitelist") != std::string::npos ||
         r.options.find("blacklisted_chars") != std::string::npos;
}

std::string key(const std::string& source, const std::string& options, const std::string& escaped) {
  return source + "\t" + options + "\t" + escaped;
}

TEST(SyntaxConformance, EveryDisagreementIsListedWithItsReason) {
  // disagreements.tsv: source <TAB> options <TAB> address_escaped <TAB> upstream verdict <TAB> category
  std::map<std::string, std::string> listed;
  std::istringstream list(slurp(kDir + "disagreements.tsv"));
  std::string line;
  std::set<std::string> categories;
  while (std::getline(list, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> f;
    std::size_t start = 0;
    for (std::size_t tab; (tab = line.find('\t', start)) != std::string::npos; start = tab + 1)
      f.push_back(line.substr(start, tab - start));
    f.push_back(line.substr(start));
    ASSERT_EQ(f.size(), 5u) << line;
    listed[key(f[0], f[1], f[2])] = f[4];
    categories.insert(f[4]);
  }

  const std::string docs = slurp(std::string(MAILSIFT_SOURCE_DIR) + "/docs/syntax.md");
  for (const std::string& c : categories) EXPECT_NE(docs.find("`" + c + "`"), std::string::npos) << "category " << c << " is not documented in docs/syntax.md";

  domain::Knowledge knowledge;
  Classifier classifier(knowledge);
  Result result;
  std::size_t checked = 0, agree = 0;
  std::set<std::string> seen;
  // To review the disagreements after a parser change: MAILSIFT_DUMP_DISAGREEMENTS=FILE writes
  // them in the list's format with the reason we gave in place of the category.
  const char* dump_path = std::getenv("MAILSIFT_DUMP_DISAGREEMENTS");
  std::ofstream dump;
  if (dump_path != nullptr) dump.open(dump_path);
  for (const Row& r : load_corpus()) {
    if (is_policy_row(r)) continue;
    ++checked;
    classifier.classify(r.address, result);
    const bool ours = result.status != Status::invalid;
    const std::string k = key(r.source, r.options, r.escaped);
    if (ours == r.expected) {
      ++agree;
      EXPECT_EQ(listed.count(k), 0u) << "listed as a disagreement but now agrees: " << k;
      continue;
    }
    seen.insert(k);
    if (dump.is_open())
      dump << r.source << '\t' << r.options << '\t' << r.escaped << '\t' << (r.expected ? "valid" : "invalid") << '\t'
           << code(result.reason) << '\n';
    EXPECT_EQ(listed.count(k), 1u) << "unlisted disagreement: " << r.source << " [" << r.options << "] "
                                   << r.escaped << " upstream=" << (r.expected ? "valid" : "invalid")
                                   << " ours=" << code(result.reason);
  }
  for (const auto& [k, cat] : listed) EXPECT_EQ(seen.count(k), 1u) << "stale entry (" << cat << "): " << k;
  EXPECT_GT(checked, 1100u);
  std::printf("conformance: %zu rows checked, %zu agree, %zu listed disagreements\n", checked, agree, seen.size());
}

}  // namespace
}  // namespace mailsift
