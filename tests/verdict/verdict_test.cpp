// Verdict precedence, score ordering, the reason table and the output formats.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <fstream>
#include <sstream>
#include <string>

#include "verdict/classify.hpp"
#include "verdict/reason.hpp"
#include "verdict/render.hpp"

namespace mailsift {
namespace {

std::string slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

TEST(Reasons, EveryReasonIsDocumented) {
  const std::string doc = slurp(std::string(MAILSIFT_SOURCE_DIR) + "/docs/reasons.md");
  ASSERT_FALSE(doc.empty());
  for (const ReasonInfo& r : all_reasons()) {
    EXPECT_NE(doc.find("`" + std::string(r.code) + "`"), std::string::npos) << r.code << " is not in docs/reasons.md";
    EXPECT_FALSE(r.message.empty()) << r.code;
  }
}

TEST(Reasons, SyntaxCodesAreInvalidAndNamespaced) {
  for (const ReasonInfo& r : all_reasons()) {
    if (r.code.starts_with("syntax.")) {
      EXPECT_EQ(r.status, Status::invalid) << r.code;
    }
  }
}

// decide(): written precedence, first match wins. Each row sets facts and says what must win.
struct PrecedenceCase {
  const char* name;
  bool literal, disposable, typo;
  Reason domain_reason;
  Reason want;
};

TEST(Decide, PrecedenceTable) {
  const PrecedenceCase cases[] = {
      {"plain", false, false, false, Reason::well_formed, Reason::well_formed},
      {"typo", false, false, true, Reason::well_formed, Reason::possible_typo},
      {"disposable beats typo", false, true, true, Reason::well_formed, Reason::disposable},
      {"unknown tld beats disposable", false, true, true, Reason::unknown_tld, Reason::unknown_tld},
      {"reserved beats everything", false, true, true, Reason::reserved_domain, Reason::reserved_domain},
      {"literal", true, false, false, Reason::well_formed, Reason::address_literal},
  };
  for (const auto& c : cases) {
    Result r;
    r.parsed = true;
    r.checks = kCheckSyntax;
    r.flags.address_literal = c.literal;
    r.flags.disposable = c.disposable;
    if (!c.literal) {
      r.has_facts = true;
      r.facts.reason = c.domain_reason;
      r.facts.disposable = c.disposable;
      if (c.typo) r.facts.suggestion = "gmail.com";
      r.checks |= kCheckDomain;
    }
    decide(r);
    EXPECT_EQ(code(r.reason), code(c.want)) << c.name;
    EXPECT_EQ(r.status, info(c.want).status) << c.name;
    if (r.status == Status::invalid) EXPECT_EQ(r.score, 0.0) << c.name;
    else EXPECT_GT(r.score, 0.0) << c.name;
  }
}

class ClassifierTest : public ::testing::Test {
 protected:
  static const domain::Knowledge& knowledge() {
    static const domain::Knowledge k;
    return k;
  }
  Result classify(std::string_view in) {
    Result r;
    classifier_.classify(in, r);
    return r;
  }
  Classifier classifier_{knowledge()};
};

TEST_F(ClassifierTest, OfflineValidScoresBelowHalf) {
  const Result r = classify("john.smith@gmail.com");
  EXPECT_EQ(r.status, Status::valid);
  EXPECT_GT(r.score, 0.4);
  EXPECT_LT(r.score, 0.5);  // the network levels bring the rest
}

TEST_F(ClassifierTest, RiskSignalsLowerTheScore) {
  const double plain = classify("john.smith@gmail.com").score;
  EXPECT_LT(classify("info@gmail.com").score, plain);     // role
  EXPECT_LT(classify("asdfgh@gmail.com").score, plain);   // suspicious
  EXPECT_LT(classify("john@mailinator.com").score, plain);
  EXPECT_LT(classify("john@gmial.com").score, plain);
  EXPECT_EQ(classify("john@@gmail.com").score, 0.0);
}

TEST_F(ClassifierTest, ReusedResultIsReset) {
  Result r;
  classifier_.classify("info@mailinator.com", r);
  EXPECT_TRUE(r.flags.disposable);
  classifier_.classify("bad@", r);
  EXPECT_FALSE(r.flags.disposable);
  EXPECT_FALSE(r.flags.role);
  EXPECT_FALSE(r.has_facts);
  EXPECT_EQ(r.registrable_domain(), "");
  classifier_.classify("a@[192.0.2.1]", r);
  EXPECT_EQ(r.reason, Reason::address_literal);
  EXPECT_TRUE(r.flags.address_literal);
  EXPECT_EQ(r.checks, static_cast<std::uint32_t>(kCheckSyntax));
}

TEST_F(ClassifierTest, JsonIsEscapedAndComplete) {
  Result r;
  classifier_.classify("\"a\\\"b\"@gmail.com", r);
  std::string out;
  render::append_json(r, out);
  EXPECT_NE(out.find("\"normalized\":\"\\\"a\\\\\\\"b\\\"@gmail.com\""), std::string::npos) << out;
  out.clear();
  classifier_.classify(std::string_view("x\0\xff@y", 5), r);
  render::append_json(r, out);
  EXPECT_NE(out.find("\"email\":\"x\\u0000\xEF\xBF\xBD@y\""), std::string::npos) << out;
  EXPECT_NE(out.find("\"normalized\":null"), std::string::npos) << out;
}

// docs/schema.md, SMTP evidence: `retry_after_ms` is the delay this address's greylisting reply
// stated, right after `rule`; null when it stated none.
TEST_F(ClassifierTest, SmtpEvidenceHoldsTheStatedGreylistingDelay) {
  for (const bool hinted : {true, false}) {
    auto session = std::make_shared<smtp::SessionReport>();
    smtp::RecipientOutcome& o = session->recipients.emplace_back();
    o.reason = Reason::greylisted;
    o.reply = smtp::parse_reply("450 4.2.0 Greylisted for 300 seconds\r\n");
    o.rule = "greylisted";
    o.retry = smtp::Retry::greylisting;
    if (hinted) o.retry_after = std::chrono::seconds(300);
    Result r;
    classifier_.classify("someone@example.com", r);
    apply_smtp(r, smtp::AddressProbe{session, 0, std::nullopt, 1, {}});
    std::string out;
    render::append_json(r, out);
    const std::string want =
        hinted ? "\"rule\":\"greylisted\",\"retry_after_ms\":300000," : "\"rule\":\"greylisted\",\"retry_after_ms\":null,";
    EXPECT_NE(out.find(want), std::string::npos) << out;
  }
}

// docs/schema.md, SMTP evidence: `earlier_tries` holds the answers of the earlier sessions that
// asked the address and why it was asked again, oldest first; `[]` after one try.
TEST_F(ClassifierTest, SmtpEvidenceKeepsTheEarlierTries) {
  auto session = std::make_shared<smtp::SessionReport>();
  smtp::RecipientOutcome& o = session->recipients.emplace_back();
  o.reason = Reason::mailbox_exists;
  o.reply = smtp::parse_reply("250 2.1.5 Ok\r\n");
  o.rule = "rcpt_accepted";
  smtp::RecipientOutcome deferred;
  deferred.reason = Reason::temporary_failure;
  deferred.reply = smtp::parse_reply("450 4.3.2 Service currently unavailable\r\n");
  deferred.rule = "temporary";
  deferred.retry = smtp::Retry::greylisting;
  smtp::RecipientOutcome broken;
  broken.reason = Reason::temporary_failure;
  broken.retry = smtp::Retry::reconnect;
  for (const bool retried : {false, true}) {
    Result r;
    classifier_.classify("someone@example.com", r);
    smtp::AddressProbe p{session, 0, std::nullopt, retried ? 3 : 1, {}};
    if (retried) p.earlier = {deferred, broken};
    apply_smtp(r, p);
    std::string out;
    render::append_json(r, out);
    const std::string want =
        retried ? "\"tries\":3,\"earlier_tries\":[{\"reason\":\"temporary_failure\",\"reply\":{\"stage\":\"rcpt_to\","
                  "\"code\":450,\"enhanced\":\"4.3.2\",\"lines\":[\"Service currently unavailable\"]},"
                  "\"rule\":\"temporary\",\"retry_after_ms\":null,\"retried_as\":\"greylisting\"},"
                  "{\"reason\":\"temporary_failure\",\"reply\":null,\"rule\":null,\"retry_after_ms\":null,"
                  "\"retried_as\":\"reconnect\"}],"
                : "\"tries\":1,\"earlier_tries\":[],";
    EXPECT_NE(out.find(want), std::string::npos) << out;
  }
}

// OWASP "CSV Injection": every text column (the suggestion too) that starts like a formula.
TEST_F(ClassifierTest, CsvNeutralisesFormulaStartsInEveryTextColumn) {
  Result r;
  classifier_.classify("-x@gmial.com", r);
  ASSERT_EQ(r.address.normalized(), "-x@gmial.com");
  std::string safe, raw;
  render::append_csv(r, safe);
  render::append_csv(r, raw, render::CsvCells::raw);
  EXPECT_TRUE(safe.starts_with("\"'-x@gmial.com\",\"'-x@gmial.com\",\"'-x@gmial.com\",")) << safe;
  EXPECT_TRUE(raw.starts_with("-x@gmial.com,-x@gmial.com,-x@gmial.com,")) << raw;
  EXPECT_NE(safe.find(",\"'-x@gmail.com\","), std::string::npos) << safe;  // the suggestion
  EXPECT_NE(raw.find(",-x@gmail.com,"), std::string::npos) << raw;
}

TEST_F(ClassifierTest, CsvQuotesFieldsPerRfc4180) {
  Result r;
  classifier_.classify("\"a,b\"@gmail.com", r);
  std::string out;
  render::append_csv(r, out);
  EXPECT_TRUE(out.starts_with("\"\"\"a,b\"\"@gmail.com\",\"\"\"a,b\"\"@gmail.com\",")) << out;
  std::string header;
  render::append_csv_header(header);
  EXPECT_EQ(std::count(header.begin(), header.end(), ','), std::count(out.begin(), out.end(), ',') - 3) << out;
}

}  // namespace
}  // namespace mailsift
