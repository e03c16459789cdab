// --history through the engine (engine/history.hpp), against the scripted fake DNS and two fake
// SMTP servers on loopback: a first run records what the servers said; a second run shows it as
// each result's reputation, takes the signals' penalty off the score, and does not test a domain
// whose catch-all answer is recent again (counted at the server). Nothing leaves 127.0.0.0/8.
#include <gtest/gtest.h>

// The scripted replies are aggregates that leave defaulted members out on purpose.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#include <algorithm>
#include <string>
#include <vector>

#include "dns/fake_dns.hpp"
#include "engine/engine.hpp"
#include "engine/fakes.hpp"
#include "smtp/fake_smtp.hpp"
#include "store/history.hpp"
#include "store/test_dir.hpp"
#include "verdict/render.hpp"

namespace mailsift::engine {
namespace {

using namespace mailsift::testing;
using mailsift::test::DnsThread;
using mailsift::test::FakeSmtpServer;

struct Lab {
  FakeSmtpServer strict{"127.0.0.1"};                       // rejects unknown mailboxes
  FakeSmtpServer open{"127.0.0.2", strict.port()};          // accepts anything: a catch-all
  DnsThread dt;
  Lab() {
    strict.on("RCPT TO:<", "550 5.1.1 <x>: Recipient address rejected: User unknown\r\n");
    strict.on("RCPT TO:<alice@", "250 2.1.5 Ok\r\n");
    dt.dns().set("strict-mailsift.net", kMx, Reply{0, {MX(10, "mx.strict-mailsift.net")}});
    dt.dns().set("mx.strict-mailsift.net", kA, Reply{0, {A("127.0.0.1")}});
    dt.dns().set("open-mailsift.net", kMx, Reply{0, {MX(10, "mx.open-mailsift.net")}});
    dt.dns().set("mx.open-mailsift.net", kA, Reply{0, {A("127.0.0.2")}});
    dt.start();
  }
  cli::VerifyOptions options(const std::string& history) {
    cli::VerifyOptions o;
    o.level = "smtp";
    o.threads = 1;
    o.dns_servers = {dt.dns().server()};
    o.dns_timeout_ms = 500;
    o.allow_private_targets = true;
    o.smtp_port = strict.port();
    o.host_rate = 0;
    o.no_starttls = true;
    o.helo = "probe.mailsift-fake.net";
    o.history_file = history;
    return o;
  }
};

std::vector<std::string> run(const cli::VerifyOptions& o, const std::vector<std::string>& in) {
  Engine e(o);
  for (const std::string& a : in) e.add(a);
  std::vector<std::string> out;
  e.run([&out](std::size_t, Result& r) {
    std::string s;
    render::append_json(r, s);
    out.push_back(s);
  });
  e.flush_history();
  return out;
}

long rcpts(const FakeSmtpServer& s) {
  const std::vector<std::string> lines = s.lines();
  return std::count_if(lines.begin(), lines.end(), [](const std::string& l) { return l.starts_with("RCPT TO:"); });
}

TEST(EngineHistory, ASecondRunShowsTheFirstRunsReputationAndSkipsARecentCatchAllTest) {
  TestDir dir;
  const std::string file = dir.file("history.sqlite");
  Lab lab;
  std::vector<std::string> first;
  for (int i = 0; i < 20; ++i) first.push_back("nobody" + std::to_string(i) + "@strict-mailsift.net");
  first.push_back("alice@strict-mailsift.net");
  first.push_back("a@open-mailsift.net");
  first.push_back("b@open-mailsift.net");
  const std::vector<std::string> one = run(lab.options(file), first);
  ASSERT_EQ(one.size(), first.size());
  // The first run knew nothing: every reputation is empty.
  for (const std::string& r : one) EXPECT_NE(r.find(R"("reputation":{"observations":0,)"), std::string::npos) << r;
  const long open_rcpts_first = rcpts(lab.open);
  EXPECT_EQ(open_rcpts_first, 3);  // a, b and the random address

  const std::vector<std::string> two = run(lab.options(file), {"alice@strict-mailsift.net", "c@open-mailsift.net"});
  ASSERT_EQ(two.size(), 2u);
  // 20 of 21 definite results at strict-mailsift.net were invalid: the mark of a scraped list.
  EXPECT_NE(two[0].find(R"("status":"valid")"), std::string::npos) << two[0];
  EXPECT_NE(two[0].find(R"("observations":21,)"), std::string::npos) << two[0];
  EXPECT_NE(two[0].find(R"("signals":["high_invalid_rate"])"), std::string::npos) << two[0];
  EXPECT_NE(two[0].find(R"("score":0.85,)"), std::string::npos) << two[0];  // 0.95 - 0.10
  // open-mailsift.net: catch-all, from the history, with no random RCPT this time.
  EXPECT_NE(two[1].find(R"("reason":"catch_all")"), std::string::npos) << two[1];
  EXPECT_NE(two[1].find(R"("signals":["catch_all_history"])"), std::string::npos) << two[1];
  EXPECT_EQ(rcpts(lab.open) - open_rcpts_first, 1);

  store::History h(file, {});
  const auto strict = h.domain("strict-mailsift.net");
  ASSERT_TRUE(strict);
  EXPECT_EQ(strict->checked, 22u);
  EXPECT_EQ(strict->invalid, 20u);
  const auto open = h.domain("open-mailsift.net");
  ASSERT_TRUE(open);
  EXPECT_EQ(open->catch_all_yes, 2u);  // the second run's answer was reused, not a test: not counted
  const auto mx = h.mx("mx.strict-mailsift.net");
  ASSERT_TRUE(mx);
  EXPECT_EQ(mx->probes, 22u);
}

// Seeds a history file with one domain's record.
void seed(const std::string& file, const std::string& domain, store::DomainRecord d) {
  store::History h(file, {});
  d.first_seen = d.last_seen = store::History::system_clock_seconds();
  d.checked = 1;
  d.unknown = 1;
  const std::vector<std::pair<std::string, store::DomainRecord>> rows = {{domain, d}};
  h.merge(rows, {});
}

TEST(EngineHistory, ADomainThatRefusedUsIsHeldBackUntilTheBackOffPasses) {
  TestDir dir;
  const std::string file = dir.file("history.sqlite");
  store::DomainRecord d;
  d.refused = 1;
  d.refused_at = store::History::system_clock_seconds() - 60;  // a minute ago
  seed(file, "strict-mailsift.net", d);
  Lab lab;
  cli::VerifyOptions o = lab.options(file);
  const std::vector<std::string> held = run(o, {"alice@strict-mailsift.net", "a@open-mailsift.net"});
  ASSERT_EQ(held.size(), 2u);
  EXPECT_NE(held[0].find(R"("status":"unknown","reason":"held_back")"), std::string::npos) << held[0];
  EXPECT_NE(held[0].find(R"("smtp":null)"), std::string::npos) << held[0];
  EXPECT_EQ(lab.strict.connections(), 0);  // not asked at all
  EXPECT_NE(held[1].find(R"("reason":"catch_all")"), std::string::npos) << held[1];  // others are
  // Not an observation: the back-off does not renew itself.
  EXPECT_EQ(store::History(file, {}).domain("strict-mailsift.net")->checked, 1u);
  o.history_backoff = 30;  // the refusal is older than this: asked again
  const std::vector<std::string> asked = run(o, {"alice@strict-mailsift.net"});
  EXPECT_NE(asked[0].find(R"("reason":"mailbox_exists")"), std::string::npos) << asked[0];
  EXPECT_GT(lab.strict.connections(), 0);
}

// The domain of the first RCPT of the first connection the server accepted (one server thread
// accepts in the kernel's order, which is the order the client connected in).
std::string first_session_domain(const FakeSmtpServer& s) {
  for (const auto& session : s.sessions())
    for (const std::string& l : session)
      if (l.starts_with("RCPT TO:<")) return l.substr(l.find('@') + 1, l.find('>') - l.find('@') - 1);
  return "";
}

TEST(EngineHistory, ADomainThatGreylistsIsAskedFirst) {
  TestDir dir;
  const std::string file = dir.file("history.sqlite");
  store::DomainRecord d;
  d.greylisted = 1;
  d.greylisted_at = store::History::system_clock_seconds();
  seed(file, "grey-mailsift.net", d);
  for (const bool seeded : {true, false}) {
    Lab lab;  // grey-mailsift.net has the same MX as strict-mailsift.net: one server sees both
    lab.dt.dns().set("grey-mailsift.net", kMx, Reply{0, {MX(10, "mx.strict-mailsift.net")}});
    cli::VerifyOptions o = lab.options(seeded ? file : dir.file("empty.sqlite"));
    o.dns_concurrency = 1;  // lookups one at a time, in the batch's domain order
    o.no_catch_all = true;
    o.host_concurrency = 1;  // one session at a time: the second waits for the first to end
    const std::vector<std::string> out = run(o, {"alice@strict-mailsift.net", "alice@grey-mailsift.net"});
    ASSERT_EQ(out.size(), 2u);
    EXPECT_NE(out[0].find(R"("email":"alice@strict-mailsift.net")"), std::string::npos) << out[0];  // order kept
    // With the record the greylister's session is the first one made, though it comes last in the
    // input; without it the input's order holds.
    EXPECT_EQ(first_session_domain(lab.strict), seeded ? "grey-mailsift.net" : "strict-mailsift.net");
  }
}

TEST(EngineHistory, HistoryNeedsANetworkLevel) {
  TestDir dir;
  cli::VerifyOptions o;
  o.level = "syntax";
  o.history_file = dir.file("h.sqlite");
  EXPECT_THROW(Engine e(o), std::invalid_argument);
}

}  // namespace
}  // namespace mailsift::engine
