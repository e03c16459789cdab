// Every row of the real-reply corpus (tests/smtp/corpus/) end to end: a fake SMTP server on
// loopback answers the row's stage with the row's reply, a real probe session runs against it, and
// the address must end with the row's reason (or the one deliberate.tsv lists). This checks what the
// classifier table test cannot: that the session turns each reply at each stage into that reason
// (a 421 mid-session, a refused MAIL FROM, a HELO fallback, an odd code no longer a protocol error).
#include <gtest/gtest.h>

#include <iostream>
#include <map>
#include <optional>

#include "smtp/corpus.hpp"
#include "smtp/fake_smtp.hpp"
#include "smtp/session_harness.hpp"

namespace mailsift::smtp {
namespace {

using test::corpus;
using test::CorpusRow;
using test::FakeSmtpServer;
using namespace std::chrono_literals;

TEST(SmtpCorpusEndToEnd, EveryRowThroughAFakeServer) {
  std::map<std::string, std::string> listed;
  for (const test::Deliberate& d : test::deliberate()) listed[d.id] = d.got;
  FakeSmtpServer server;
  auto o = test::probe_options(server.port());
  o.timeouts = {2000ms, 2000ms, 2000ms, 10'000ms};
  // A 421 backs the server's address off (RFC 5321 §3.8): a row after one gets a fresh context.
  std::optional<test::Harness> h;
  int agree = 0;
  std::string unexpected;
  for (const CorpusRow& r : corpus()) {
    server.clear_rules();
    server.banner("220 fake.test ESMTP\r\n");
    switch (r.stage) {
      case Stage::banner: server.banner(r.wire); break;
      case Stage::ehlo:  // a refused EHLO is followed by HELO (RFC 5321 §4.1.1.1): the server refuses both
        server.on("EHLO", r.wire);
        server.on("HELO", r.wire);
        break;
      case Stage::mail_from: server.on("MAIL", r.wire); break;
      default: server.on("RCPT", r.wire); break;
    }
    if (!h) h.emplace(o);
    const SessionReport rep = h->run(test::request({"someone@example.test"}, false));
    if (r.wire.starts_with("421")) h.reset();
    ASSERT_EQ(rep.recipients.size(), 1U) << r.id;
    const std::string got(code(rep.recipients[0].reason));
    const auto it = listed.find(r.id);
    const std::string& want = it == listed.end() ? r.reason : it->second;
    if (got == r.reason) ++agree;
    if (got != want) {
      const Attempt* a = rep.last();
      unexpected += "\n  " + r.id + " (" + r.stage_name + "): want " + want + ", got " + got +
                    (a != nullptr && !a->detail.empty() ? " [" + a->detail + "]" : "") + "\n    " +
                    r.reply_field.substr(0, 160);
    }
  }
  std::cout << "corpus end to end: " << agree << "/" << corpus().size() << " agree with the expected reason ("
            << listed.size() << " deliberate disagreements listed)\n";
  EXPECT_TRUE(unexpected.empty()) << "rows whose session ends otherwise:" << unexpected;
}

}  // namespace
}  // namespace mailsift::smtp
