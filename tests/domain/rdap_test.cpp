// RDAP (domain/rdap.hpp): bootstrap files, query URLs, domain answers, and the verdict it leads to.
// The lookups themselves run against a server in tests/domain/rdap_lab_test.py.
#include "domain/rdap.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <string>

#include "verdict/classify.hpp"
#include "verdict/render.hpp"
#include "verdict/reputation.hpp"
#include "verdict/stored.hpp"
#include "domain/knowledge.hpp"

namespace mailsift::domain {
namespace {

constexpr const char* kBootstrap = R"({
  "version": "1.0", "publication": "2026-11-01T00:00:00Z", "description": "lab",
  "services": [
    [["com", "net"], ["http://rdap.plain.invalid/", "https://rdap.verisign.lab/v1"]],
    [["org"], ["http://only-http.lab/"]],
    [["co.uk"], ["https://rdap.co-uk.lab/"]],
    [["uk"], ["https://rdap.uk.lab/"]],
    [["XN--P1AI"], ["https://rdap.rf.lab/"]]
  ]
})";

TEST(RdapBootstrap, PicksHttpsAndTheLongestSuffix) {
  const Bootstrap b = parse_bootstrap(kBootstrap);
  EXPECT_EQ(b.base_for("newco-mailsift.com"), "https://rdap.verisign.lab/v1/");  // '/' added
  EXPECT_EQ(b.base_for("mail.newco-mailsift.NET"), "https://rdap.verisign.lab/v1/");
  EXPECT_EQ(b.base_for("acme.co.uk"), "https://rdap.co-uk.lab/");
  EXPECT_EQ(b.base_for("acme.org.uk"), "https://rdap.uk.lab/");
  EXPECT_EQ(b.base_for("xn--80aswg.xn--p1ai"), "https://rdap.rf.lab/");  // entries compared lower-case
  EXPECT_EQ(b.base_for("acme.org"), "");                                  // http only: not used
  EXPECT_EQ(b.base_for("acme.de"), "");
  EXPECT_EQ(b.base_for("com"), "https://rdap.verisign.lab/v1/");
  EXPECT_EQ(b.base_for("xcom"), "");  // whole labels only
}

TEST(RdapBootstrap, RejectsWhatIsNotOne) {
  EXPECT_THROW((void)parse_bootstrap(""), std::runtime_error);
  EXPECT_THROW((void)parse_bootstrap("[]"), std::runtime_error);
  EXPECT_THROW((void)parse_bootstrap(R"({"services": {}})"), std::runtime_error);
  EXPECT_THROW((void)parse_bootstrap(R"({"services": [["com"]]})"), std::runtime_error);
  EXPECT_THROW((void)parse_bootstrap(R"({"services": [[[1], ["https://a/"]]]})"), std::runtime_error);
  EXPECT_THROW((void)parse_bootstrap(R"({"services": [[["com"], [7]]]})"), std::runtime_error);
  EXPECT_EQ(parse_bootstrap(R"({"services": []})").size(), 0u);
  EXPECT_THROW((void)load_bootstrap("/nonexistent/dns.json"), std::runtime_error);
}

TEST(RdapQuery, BuildsTheRfc9082Url) {
  EXPECT_EQ(query_url("https://rdap.lab/v1/", "NewCo-Mailsift.com"), "https://rdap.lab/v1/domain/newco-mailsift.com");
  EXPECT_EQ(query_url("https://rdap.lab", "newco-mailsift.com."), "https://rdap.lab/domain/newco-mailsift.com");
  // IDN: the A-label goes on the wire (RFC 9082 §3.1.3 allows either; A-labels are what every server takes).
  EXPECT_EQ(query_url("https://rdap.lab/", "bücher.de"), "https://rdap.lab/domain/xn--bcher-kva.de");
  EXPECT_EQ(query_url("https://rdap.lab/", "xn--bcher-kva.de"), "https://rdap.lab/domain/xn--bcher-kva.de");
  EXPECT_THROW((void)query_url("https://rdap.lab/", "a/b.com"), std::invalid_argument);
  EXPECT_THROW((void)query_url("https://rdap.lab/", "a b.com"), std::invalid_argument);
  EXPECT_THROW((void)query_url("https://rdap.lab/", "a?x=1.com"), std::invalid_argument);
  EXPECT_THROW((void)query_url("https://rdap.lab/", ""), std::invalid_argument);
}

TEST(RdapDate, ParsesRfc3339) {
  std::int64_t t = 0;
  ASSERT_TRUE(parse_rfc3339("1970-01-01T00:00:00Z", t));
  EXPECT_EQ(t, 0);
  ASSERT_TRUE(parse_rfc3339("2026-11-20T00:00:00Z", t));
  EXPECT_EQ(t, 1795132800);
  ASSERT_TRUE(parse_rfc3339("2026-11-20T02:00:00.123+02:00", t));
  EXPECT_EQ(t, 1795132800);
  ASSERT_TRUE(parse_rfc3339("2024-02-29t12:00:00z", t));
  EXPECT_FALSE(parse_rfc3339("2023-02-29T12:00:00Z", t));
  EXPECT_FALSE(parse_rfc3339("2026-11-20", t));
  EXPECT_FALSE(parse_rfc3339("2026-11-20T00:00:00", t));  // no offset
  EXPECT_FALSE(parse_rfc3339("2026-13-20T00:00:00Z", t));
  EXPECT_FALSE(parse_rfc3339("2026-11-20T00:00:00Zjunk", t));
  EXPECT_FALSE(parse_rfc3339("yesterday", t));
}

std::string answer(const std::string& created, const std::string& status) {
  return R"({"objectClassName": "domain", "ldhName": "NEWCO-MAILSIFT.COM", "rdapConformance": ["rdap_level_0"],
    "entities": [{"objectClassName": "entity", "roles": ["registrar"], "vcardArray": ["vcard", [["fn", {}, "text", "Lab Registrar"]]]}],
    "events": [{"eventAction": "last changed", "eventDate": "2026-12-01T00:00:00Z"},
               {"eventAction": "registration", "eventDate": ")" + created + R"("},
               {"eventAction": "expiration", "eventDate": "2027-11-20T00:00:00Z"}],
    "status": [)" + status + "]}";
}

TEST(RdapAnswer, Registered) {
  Registration r;
  parse_answer(answer("1997-09-15T04:00:00Z", R"("client delete prohibited", "client transfer prohibited")"), r);
  EXPECT_TRUE(r.found);
  EXPECT_EQ(r.created, "1997-09-15T04:00:00Z");
  EXPECT_EQ(r.status, (std::vector<std::string>{"client delete prohibited", "client transfer prohibited"}));
  EXPECT_FALSE(r.not_active());
  r.age_days = 10'000;
  EXPECT_FALSE(r.new_domain());
}

TEST(RdapAnswer, NormalizesTheDateAndKeepsTheEarliest) {
  Registration r;
  parse_answer(R"({"objectClassName":"domain","events":[
      {"eventAction":"registration","eventDate":"2026-11-20T01:30:00+01:00"},
      {"eventAction":"registration","eventDate":"2027-01-01T00:00:00Z"}]})",
               r);
  EXPECT_EQ(r.created, "2026-11-20T00:30:00Z");
  EXPECT_TRUE(r.status.empty());
}

TEST(RdapAnswer, NewDomain) {
  Registration r;
  parse_answer(answer("2026-11-20T00:00:00Z", R"("active")"), r);
  r.age_days = 16;
  EXPECT_TRUE(r.new_domain());
  r.age_days = kNewDomainDays;
  EXPECT_FALSE(r.new_domain());
}

TEST(RdapAnswer, StatusesThatMeanNotActive) {
  for (const char* s : {"client hold", "server hold", "redemption period", "pending delete", "Client Hold",
                        "clientHold", "serverHold", "redemptionPeriod", "pendingDelete"}) {
    Registration r;
    parse_answer(answer("2001-01-01T00:00:00Z", std::string("\"active\", \"") + s + "\""), r);
    EXPECT_TRUE(r.not_active()) << s;
  }
  for (const char* s : {"active", "client transfer prohibited", "server update prohibited", "pending transfer",
                        "inactive", "client renew prohibited"}) {
    Registration r;
    parse_answer(answer("2001-01-01T00:00:00Z", std::string("\"") + s + "\""), r);
    EXPECT_FALSE(r.not_active()) << s;
  }
}

TEST(RdapAnswer, MissingEventsOrStatusIsNoData) {
  Registration r;
  parse_answer(R"({"objectClassName": "domain", "ldhName": "newco-mailsift.com"})", r);
  EXPECT_TRUE(r.found);
  EXPECT_TRUE(r.created.empty());
  EXPECT_FALSE(r.new_domain());  // unknown age is not a risk signal
  parse_answer(R"({"objectClassName": "domain", "events": [{"eventAction": "expiration", "eventDate": "x"}]})", r);
  EXPECT_TRUE(r.created.empty());
}

TEST(RdapAnswer, RejectsMalformedAnswers) {
  Registration r;
  for (const std::string& bad : {
           std::string(""),
           std::string("<html>rate limited</html>"),
           std::string("{\"objectClassName\": \"domain\""),  // truncated
           std::string("[]"),
           std::string(R"({"errorCode": 404, "title": "not found"})"),  // an error object in a 200
           std::string(R"({"objectClassName": "entity"})"),
           std::string(R"({"objectClassName": "domain", "events": {}})"),
           std::string(R"({"objectClassName": "domain", "events": [1]})"),
           std::string(R"({"objectClassName": "domain", "events": [{"eventAction": "registration"}]})"),
           std::string(R"({"objectClassName": "domain", "events": [{"eventAction": "registration", "eventDate": "last week"}]})"),
           std::string(R"({"objectClassName": "domain", "status": "active"})"),
           std::string(R"({"objectClassName": "domain", "status": [1]})"),
           std::string(R"({"objectClassName": "domain", "status": ["a\u0000b"]})"),
       })
    EXPECT_THROW(parse_answer(bad, r), std::runtime_error) << bad;
}

TEST(RdapAnswer, RejectsOversizedAndDeepAnswers) {
  Registration r;
  std::string big = R"({"objectClassName": "domain", "remarks": [")" + std::string(kMaxRdapAnswer, 'x') + R"("]})";
  EXPECT_THROW(parse_answer(big, r), std::runtime_error);
  std::string deep = R"({"objectClassName": "domain", "entities": )";
  for (int i = 0; i < 100; ++i) deep += "[";
  for (int i = 0; i < 100; ++i) deep += "]";
  deep += "}";
  EXPECT_THROW(parse_answer(deep, r), std::runtime_error);
  std::string many = R"({"objectClassName": "domain", "status": [)";
  for (int i = 0; i < 40; ++i) many += std::string(i ? "," : "") + "\"active\"";
  EXPECT_THROW(parse_answer(many + "]}", r), std::runtime_error);
}

TEST(RdapAnswer, StoredFormRoundTrips) {
  Registration r;
  r.domain = "newco-mailsift.com";
  parse_answer(answer("2026-11-20T00:00:00Z", R"("active", "client hold")"), r);
  r.source = "https://rdap.lab/domain/newco-mailsift.com";
  Registration back;
  back.domain = "newco-mailsift.com";
  ASSERT_TRUE(parse_registration(serialize_registration(r), back));
  EXPECT_EQ(back.found, r.found);
  EXPECT_EQ(back.created, r.created);
  EXPECT_EQ(back.created_unix, r.created_unix);
  EXPECT_EQ(back.status, r.status);
  EXPECT_EQ(back.source, r.source);
  EXPECT_EQ(back.domain, "newco-mailsift.com");
  for (const char* bad : {"", "[]", "{}", R"({"found":1,"created":"","status":[],"source":""})",
                          R"({"found":true,"created":"soon","status":[],"source":""})",
                          R"({"found":true,"created":"","status":[1],"source":""})",
                          // found by fuzz/rdap_fuzz.cpp: a cache file gets the bounds an answer gets
                          R"({"found":true,"created":"","status":["aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"],"source":""})"})
    EXPECT_FALSE(parse_registration(bad, back)) << bad;
}

// A client whose bootstrap serves no TLD: every lookup ends at once with an error, never a throw,
// and the answer is cached (one query per domain).
TEST(RdapClient, NoServerIsAnErrorNotAFailure) {
  RdapOptions o;
  o.concurrency = 2;
  RdapClient c(o, parse_bootstrap(R"({"services": []})"));
  std::mutex mu;
  std::condition_variable cv;
  int answers = 0;
  RegistrationPtr last;
  for (int i = 0; i < 3; ++i) {
    c.lookup("newco-mailsift.com", [&](RegistrationPtr r) {
      const std::lock_guard lock(mu);
      last = std::move(r);
      ++answers;
      cv.notify_all();
    });
  }
  std::unique_lock lock(mu);
  ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(30), [&] { return answers == 3; }));
  ASSERT_TRUE(last);
  EXPECT_FALSE(last->found);
  EXPECT_EQ(last->domain, "newco-mailsift.com");
  EXPECT_NE(last->error.find("no RDAP server"), std::string::npos);
  lock.unlock();
  EXPECT_EQ(c.stats().queries, 1u);
}

}  // namespace
}  // namespace mailsift::domain

namespace mailsift {
namespace {

Result classified(const char* email) {
  static const domain::Knowledge k;
  Classifier c(k);
  Result r;
  c.classify(email, r);
  return r;
}

std::shared_ptr<domain::Registration> reg(std::int64_t age, std::vector<std::string> status) {
  auto g = std::make_shared<domain::Registration>();
  g->domain = "newco-mailsift.com";
  g->source = "https://rdap.lab/domain/newco-mailsift.com";
  g->found = true;
  g->created = "2026-11-20T00:00:00Z";
  g->age_days = age;
  g->status = std::move(status);
  return g;
}

TEST(RdapVerdict, NewDomainIsAPenaltyAndAFlag) {
  Result r = classified("jane@newco-mailsift.com");
  const double before = r.score;
  apply_registration(r, reg(16, {"active"}));
  EXPECT_TRUE(r.flags.new_domain);
  EXPECT_EQ(r.reason, Reason::well_formed);
  EXPECT_LT(r.score, before);
  std::string json;
  render::append_json(r, json);
  EXPECT_NE(json.find(R"("new_domain":true)"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("registration":{"domain":"newco-mailsift.com","found":true,"created":"2026-11-20T00:00:00Z","age_days":16,"status":["active"],"source":"https://rdap.lab/domain/newco-mailsift.com","error":null})"),
            std::string::npos)
      << json;
}

TEST(RdapVerdict, OnHoldIsDomainNotActive) {
  Result r = classified("jane@newco-mailsift.com");
  apply_registration(r, reg(4000, {"client hold"}));
  EXPECT_EQ(r.reason, Reason::domain_not_active);
  EXPECT_EQ(r.status, Status::risky);
  EXPECT_FALSE(r.flags.new_domain);
  EXPECT_EQ(code(r.reason), "domain_not_active");
  // An invalid verdict stays invalid.
  Result bad = classified("jane@newco-mailsift.invalid");
  apply_registration(bad, reg(4000, {"client hold"}));
  EXPECT_EQ(bad.status, Status::invalid);
}

// A cluster's coordinator applies the registration to a verdict restored from a worker (its DNS
// evidence is JSON text, not an object to decide from again): adjusted in place, same rules.
TEST(RdapVerdict, RestoredVerdictIsAdjustedInPlace) {
  Result r = classified("jane@newco-mailsift.com");
  r.checks |= kCheckDns;  // as restore_verdict leaves it: the dns level ran, r.dns is not kept
  r.reason = Reason::mx_found;
  r.status = Status::valid;
  r.score = 0.65;
  r.restored_dns = std::make_shared<const std::string>("{}");
  apply_registration(r, reg(16, {"server hold"}));
  EXPECT_EQ(r.reason, Reason::domain_not_active);
  EXPECT_EQ(r.status, Status::risky);
  EXPECT_TRUE(r.flags.new_domain);
  EXPECT_NEAR(r.score, 0.65 - 0.30 - 0.15, 1e-9);
  EXPECT_TRUE(r.restored_dns);  // the evidence is kept as it was
}

TEST(RdapVerdict, NotLookedUpIsNull) {
  Result r = classified("jane@newco-mailsift.com");
  std::string json;
  render::append_json(r, json);
  EXPECT_NE(json.find(R"("registration":null})"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("new_domain":false)"), std::string::npos) << json;
}

// --history's reputation (the fourth field) and the registration (the fifth) together.
TEST(RdapVerdict, StoredWithAReputationToo) {
  Result r = classified("jane@newco-mailsift.com");
  apply_registration(r, reg(16, {"active"}));
  auto rep = std::make_shared<reputation::Reputation>();
  rep->known = true;
  r.reputation = rep;
  const std::string v = serialize_verdict(r);
  Result back = classified("jane@newco-mailsift.com");
  ASSERT_TRUE(restore_verdict(v, back));
  ASSERT_TRUE(back.restored_reputation);
  ASSERT_TRUE(back.restored_registration);
  std::string a, b;
  reputation::append_json(*rep, a);
  render::append_registration_json(r, b);
  EXPECT_EQ(*back.restored_reputation, a);
  EXPECT_EQ(*back.restored_registration, b);
  // A reputation alone is written as --history writes it: four fields.
  Result only = classified("jane@newco-mailsift.com");
  only.reputation = rep;
  const std::string ov = serialize_verdict(only);
  EXPECT_EQ(std::count(ov.begin(), ov.end(), '\x1f'), 4);
}

TEST(RdapVerdict, SurvivesTheStoredRoundTrip) {
  Result r = classified("jane@newco-mailsift.com");
  apply_registration(r, reg(16, {"active"}));
  const std::string v = serialize_verdict(r);
  // The fifth field, after a "null" reputation (--history's fourth field; none here).
  EXPECT_EQ(std::count(v.begin(), v.end(), '\x1f'), 5);
  EXPECT_NE(v.find("\x1fnull\x1f{\"domain\""), std::string::npos);
  Result back = classified("jane@newco-mailsift.com");
  ASSERT_TRUE(restore_verdict(v, back));
  EXPECT_FALSE(back.restored_reputation);
  EXPECT_TRUE(back.flags.new_domain);
  EXPECT_NEAR(back.score, r.score, 0.005);  // stored to 2 decimals
  std::string a, b;
  render::append_registration_json(r, a);
  render::append_registration_json(back, b);
  EXPECT_EQ(a, b);
  EXPECT_EQ(a.front(), '{');
  // A value without a registration (an older version's, or no --rdap) has none, and reads as before.
  Result plain = classified("jane@newco-mailsift.com");
  const std::string pv = serialize_verdict(plain);
  EXPECT_EQ(std::count(pv.begin(), pv.end(), '\x1f'), 3);
  Result pb = classified("jane@newco-mailsift.com");
  ASSERT_TRUE(restore_verdict(pv, pb));
  EXPECT_FALSE(pb.restored_registration);
  EXPECT_FALSE(pb.flags.new_domain);
}

}  // namespace
}  // namespace mailsift
