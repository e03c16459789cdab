// The real-reply corpus (tests/smtp/corpus/): replies quoted from public sources, each with the
// outcome a correct verifier reaches about the mailbox. This file checks the corpus itself and
// runs every row through the classifier; the end-to-end run through the fake SMTP server is
// corpus_e2e_test.cpp. A disagreement fails the test unless corpus/deliberate.tsv lists it with
// a reason (and a listed row that agrees again fails too, so the list stays true).
#include "smtp/corpus.hpp"

#include <gtest/gtest.h>

#include <iostream>
#include <algorithm>
#include <map>
#include <set>

#include "smtp/reply.hpp"

namespace mailsift::smtp {
namespace {

using test::corpus;
using test::CorpusRow;

const ReasonInfo* reason_by_code(std::string_view c) {
  for (const ReasonInfo& i : all_reasons())
    if (i.code == c) return &i;
  return nullptr;
}

TEST(SmtpCorpus, RowsAreWellFormed) {
  ASSERT_GE(corpus().size(), 290U);
  std::set<std::string> ids;
  std::set<std::pair<std::string, std::string>> replies;
  for (const CorpusRow& r : corpus()) {
    SCOPED_TRACE("replies.tsv:" + std::to_string(r.line) + " " + r.id);
    EXPECT_TRUE(ids.insert(r.id).second) << "duplicate id";
    EXPECT_TRUE(replies.insert({r.stage_name, r.reply_field}).second) << "duplicate (stage, reply)";
    EXPECT_TRUE(r.source.starts_with("https://") || r.source.starts_with("http://")) << "source is not a URL";
    std::string err;
    const auto reply = parse_reply(r.wire, &err);
    EXPECT_TRUE(reply) << "not one well-formed reply: " << err;
    const ReasonInfo* info = reason_by_code(r.reason);
    ASSERT_NE(info, nullptr) << "unknown reason " << r.reason;
    EXPECT_EQ(name(info->status), r.status) << "status is not the one of reason " << r.reason;
    if (r.status != "unknown") {
      EXPECT_EQ(r.stage, Stage::rcpt_to) << "a mailbox verdict outside RCPT TO";
    }
    EXPECT_TRUE(r.cls == "-" || (r.cls.size() == 1 && r.cls[0] >= '1' && r.cls[0] <= '8')) << "class " << r.cls;
  }
}

TEST(SmtpCorpus, ClassifierAgrees) {
  std::map<std::string, const test::Deliberate*> listed;
  for (const test::Deliberate& d : test::deliberate()) listed[d.id] = &d;
  std::map<std::string, std::pair<int, int>> by_class;  // class → (agree, rows)
  int agree = 0;
  std::string unexpected;
  for (const CorpusRow& r : corpus()) {
    const auto reply = parse_reply(r.wire);
    if (!reply) continue;  // RowsAreWellFormed reports it
    const Classification c = classify(r.stage, *reply);
    const std::string got = c.reason ? std::string(code(*c.reason)) : "proceed";
    const bool ok = got == r.reason;
    auto& [a, n] = by_class[r.cls];
    ++n;
    if (ok) {
      ++a;
      ++agree;
    }
    const auto it = listed.find(r.id);
    if (it != listed.end()) {
      EXPECT_FALSE(ok) << r.id << " is listed in deliberate.tsv but agrees now: remove it";
      EXPECT_EQ(got, it->second->got) << r.id << ": deliberate.tsv says the classifier answers " << it->second->got;
      // A deliberate disagreement may choose another reason, never another status.
      const ReasonInfo* g = reason_by_code(got);
      EXPECT_TRUE(g != nullptr && name(g->status) == r.status) << r.id << ": " << got << " changes the status";
      continue;
    }
    if (!ok)
      unexpected += "\n  " + r.id + " (" + r.stage_name + ", class " + r.cls + "): want " + r.reason + ", got " + got +
                    " by row " + std::string(c.rule < rules().size() ? rules()[c.rule].id : "none") + "\n    " +
                    r.reply_field.substr(0, 200);
  }
  for (const auto& [id, d] : listed)
    EXPECT_TRUE(std::any_of(corpus().begin(), corpus().end(), [&](const CorpusRow& r) { return r.id == id; }))
        << "deliberate.tsv names " << id << ", which is not in the corpus";
  std::cout << "corpus agreement: " << agree << "/" << corpus().size() << "\n";
  for (const auto& [cls, an] : by_class)
    std::cout << "  class " << cls << ": " << an.first << "/" << an.second << "\n";
  EXPECT_TRUE(unexpected.empty()) << "rows the classifier disagrees with:" << unexpected;
}

}  // namespace
}  // namespace mailsift::smtp
