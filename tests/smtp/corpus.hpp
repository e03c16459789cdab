#pragma once
// The real-reply corpus (tests/smtp/corpus/replies.tsv, README.md beside it), read once for the
// table test (corpus_test.cpp) and the end-to-end run through the fake SMTP server.
#include <fstream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "smtp/classify.hpp"

namespace mailsift::test {

struct CorpusRow {
  std::string id, source, vendor, stage_name, reply_field, status, reason, cls, note;
  smtp::Stage stage = smtp::Stage::rcpt_to;
  std::string wire;  // the reply as on the wire: each `\n` of the field a CRLF, a CRLF at the end
  int line = 0;      // in replies.tsv, 1-based
};

namespace corpus_detail {

inline std::vector<std::string> split_tabs(const std::string& line) {
  std::vector<std::string> f;
  std::size_t start = 0;
  for (;;) {
    const std::size_t tab = line.find('\t', start);
    f.push_back(line.substr(start, tab - start));
    if (tab == std::string::npos) return f;
    start = tab + 1;
  }
}

// Lines of a TSV file under tests/smtp/corpus/, header and '#' lines skipped, with line numbers.
inline std::vector<std::pair<int, std::vector<std::string>>> read_tsv(const std::string& file, std::size_t columns) {
  const std::string path = std::string(MAILSIFT_TEST_DATA) + "/smtp/corpus/" + file;
  std::ifstream in(path);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::vector<std::pair<int, std::vector<std::string>>> out;
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    if (++n == 1 || line.empty() || line[0] == '#') continue;
    auto f = split_tabs(line);
    if (f.size() != columns)
      throw std::runtime_error(path + ":" + std::to_string(n) + ": " + std::to_string(f.size()) + " columns, want " +
                               std::to_string(columns));
    out.emplace_back(n, std::move(f));
  }
  return out;
}

}  // namespace corpus_detail

/// Every row of replies.tsv (throws std::runtime_error on a malformed file: a test defect).
inline const std::vector<CorpusRow>& corpus() {
  static const std::vector<CorpusRow> rows = [] {
    std::vector<CorpusRow> out;
    for (auto& [n, f] : corpus_detail::read_tsv("replies.tsv", 9)) {
      CorpusRow r{f[0], f[1], f[2], f[3], f[4], f[5], f[6], f[7], f[8], smtp::Stage::rcpt_to, {}, 0};
      r.line = n;
      bool known = false;
      for (const smtp::Stage s : {smtp::Stage::banner, smtp::Stage::ehlo, smtp::Stage::mail_from, smtp::Stage::rcpt_to})
        if (smtp::name(s) == r.stage_name) {
          r.stage = s;
          known = true;
        }
      if (!known) throw std::runtime_error("replies.tsv:" + std::to_string(n) + ": unknown stage " + r.stage_name);
      for (std::size_t i = 0; i < r.reply_field.size(); ++i) {
        if (r.reply_field.compare(i, 2, "\\n") == 0) {
          r.wire += "\r\n";
          ++i;
        } else {
          r.wire += r.reply_field[i];
        }
      }
      r.wire += "\r\n";
      out.push_back(std::move(r));
    }
    return out;
  }();
  return rows;
}

/// The deliberate disagreements (corpus/deliberate.tsv): id → why the classifier answers
/// differently from the row's expected reason, and what it answers.
struct Deliberate {
  std::string id, got, why;
};
inline const std::vector<Deliberate>& deliberate() {
  static const std::vector<Deliberate> rows = [] {
    std::vector<Deliberate> out;
    for (auto& [n, f] : corpus_detail::read_tsv("deliberate.tsv", 3)) out.push_back({f[0], f[1], f[2]});
    return out;
  }();
  return rows;
}

}  // namespace mailsift::test
