// Reputation signals and their thresholds (verdict/reputation.hpp) on synthetic histories, the
// penalty's cap, and what a finished result adds to a domain's record.
#include "verdict/reputation.hpp"

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "verdict/result.hpp"
#include "verdict/score.hpp"

namespace mailsift::reputation {
namespace {

constexpr std::int64_t kDay = 86400;
constexpr std::int64_t kNow = 1'790'000'000;

store::DomainRecord history(std::uint64_t valid, std::uint64_t invalid, std::uint64_t unknown = 0) {
  store::DomainRecord h;
  h.valid = valid;
  h.invalid = invalid;
  h.unknown = unknown;
  h.checked = valid + invalid + unknown;
  return h;
}

TEST(Reputation, HighInvalidRateNeedsTwentyDefiniteResultsAndHalfOfThemInvalid) {
  EXPECT_EQ(assess(history(10, 10), kNow), kSignalHighInvalidRate);       // 20 definite, 50%
  EXPECT_EQ(assess(history(9, 10), kNow), 0);                             // 19: not enough evidence
  EXPECT_EQ(assess(history(11, 10), kNow), 0);                            // 48%
  EXPECT_EQ(assess(history(0, 19, 100), kNow), 0);                        // unknown says nothing
  EXPECT_EQ(assess(history(2, 98), kNow), kSignalHighInvalidRate);
}

TEST(Reputation, CatchAllHistoryNeedsTwoAnswersMostlyAccepted) {
  store::DomainRecord h;
  h.catch_all_yes = 1;
  EXPECT_EQ(assess(h, kNow), 0);
  h.catch_all_yes = 2;
  EXPECT_EQ(assess(h, kNow), kSignalCatchAllHistory);
  h.catch_all_no = 2;
  EXPECT_EQ(assess(h, kNow), 0);
}

TEST(Reputation, UnstableMxNeedsThreeChangesTheLastOneRecent) {
  store::DomainRecord h;
  h.mx_changes = 2;
  h.mx_changed_at = kNow - kDay;
  EXPECT_EQ(assess(h, kNow), 0);
  h.mx_changes = 3;
  EXPECT_EQ(assess(h, kNow), kSignalUnstableMx);
  h.mx_changed_at = kNow - (kUnstableMxDays + 1) * kDay;  // settled since
  EXPECT_EQ(assess(h, kNow), 0);
}

TEST(Reputation, PenaltyIsATenthAtMostAndOnlyWhenRescored) {
  EXPECT_DOUBLE_EQ(penalty(0), 0.0);
  EXPECT_DOUBLE_EQ(penalty(kSignalCatchAllHistory), score::kCatchAllHistory);
  EXPECT_DOUBLE_EQ(penalty(kSignalHighInvalidRate | kSignalCatchAllHistory | kSignalUnstableMx), score::kReputation);

  auto rep = std::make_shared<Reputation>();
  rep->known = true;
  rep->signals = kSignalHighInvalidRate;
  Result r;
  r.status = Status::valid;
  r.score = 0.95;
  attach(r, rep, true);
  EXPECT_DOUBLE_EQ(r.score, 0.85);
  EXPECT_EQ(r.reputation, rep);
  Result stored;
  stored.status = Status::valid;
  stored.score = 0.95;
  attach(stored, rep, false);  // a stored verdict keeps the score it was stored with
  EXPECT_DOUBLE_EQ(stored.score, 0.95);
}

TEST(Reputation, OfflineResultsAreNotObserved) {
  Result r;
  r.has_facts = true;
  r.facts.registrable = "acme-mailsift.com";
  r.status = Status::valid;
  r.checks = kCheckSyntax | kCheckDomain;
  store::DomainRecord d;
  EXPECT_FALSE(observe(r, kNow, d));
  EXPECT_EQ(d.checked, 0u);
  r.checks |= kCheckDns;
  r.reason = Reason::mx_found;
  EXPECT_TRUE(observe(r, kNow, d));
  EXPECT_EQ(d.checked, 1u);
  EXPECT_EQ(d.valid, 1u);
  EXPECT_EQ(d.reason_count(static_cast<std::uint8_t>(Reason::mx_found)), 1u);
  r.status = Status::unknown;
  r.reason = Reason::blocked;
  EXPECT_TRUE(observe(r, kNow + 5, d));
  EXPECT_EQ(d.refused, 1u);
  EXPECT_EQ(d.refused_at, kNow + 5);
  EXPECT_EQ(d.first_seen, kNow);
}

TEST(Reputation, JsonNamesTheSignalsAndRatesOnlyDefiniteResults) {
  Reputation rep;
  rep.known = true;
  rep.history = history(1, 3, 4);
  rep.history.first_seen = kNow;
  rep.history.count_reason(static_cast<std::uint8_t>(Reason::mailbox_not_found), 3);
  rep.signals = kSignalHighInvalidRate | kSignalUnstableMx;
  std::string out;
  append_json(rep, out);
  EXPECT_NE(out.find(R"("observations":8)"), std::string::npos) << out;
  EXPECT_NE(out.find(R"("invalid_rate":0.75)"), std::string::npos) << out;
  EXPECT_NE(out.find(R"("reasons":{"mailbox_not_found":3})"), std::string::npos) << out;
  EXPECT_NE(out.find(R"("first_seen":"2026-09-21T)"), std::string::npos) << out;
  EXPECT_NE(out.find(R"("signals":["high_invalid_rate","unstable_mx"])"), std::string::npos) << out;
  Reputation unknown;
  out.clear();
  append_json(unknown, out);
  EXPECT_NE(out.find(R"("observations":0,"first_seen":null)"), std::string::npos) << out;
  EXPECT_NE(out.find(R"("invalid_rate":null)"), std::string::npos) << out;
}

}  // namespace
}  // namespace mailsift::reputation
