// The identity: the default reverse-path and the start-up check of --mail-from's domain
// (engine::probe_options, engine::check_sender_domain; docs/smtp.md, "Who we say we are"), against the
// scripted fake DNS server on 127.0.0.1:0 (tests/dns/fake_dns.hpp). Nothing is sent anywhere else.
#include <gtest/gtest.h>

// The scripted replies are aggregates that leave defaulted members out on purpose.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#include <chrono>
#include <optional>
#include <stdexcept>
#include <string>

#include "engine/engine.hpp"
#include "dns/fake_dns.hpp"

namespace mailsift::engine {
namespace {

using namespace mailsift::testing;

TEST(Identity, DefaultIsTheNullReversePath) {
  VerifyOptions o;
  EXPECT_EQ(probe_options(o).mail_from, "");  // MAIL FROM:<>
  o.mail_from = "<>";
  EXPECT_EQ(probe_options(o).mail_from, "");
  o.mail_from = "Verify@Example.ORG";
  EXPECT_EQ(probe_options(o).mail_from, "Verify@example.org");  // normalized, as recipients are
  o.mail_from = "\"probe desk\"@example.org";
  EXPECT_EQ(probe_options(o).mail_from, "\"probe desk\"@example.org");
  o.mail_from = "no-at-sign";
  EXPECT_THROW((void)probe_options(o), std::invalid_argument);
}

class SenderCheck : public ::testing::Test {
 protected:
  asio::io_context io;
  FakeDns fake{io};
  std::unique_ptr<dns::Resolver> resolver;
  std::unique_ptr<dns::MailLookup> mail;

  void SetUp() override {
    dns::ResolverOptions o;
    o.servers = {fake.server()};
    o.timeout = std::chrono::milliseconds(200);
    resolver = std::make_unique<dns::Resolver>(io, std::move(o));
    mail = std::make_unique<dns::MailLookup>(*resolver, dns::MailOptions{});
  }

  // The warning for `mail_from`, or "" when none; every wait bounded (5 s).
  std::string warning(const std::string& mail_from) {
    std::optional<std::optional<std::string>> got;
    check_sender_domain(*mail, mail_from, [&](std::optional<std::string> w) { got = std::move(w); });
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!got && std::chrono::steady_clock::now() < deadline) io.run_one_for(std::chrono::milliseconds(20));
    if (!got) throw std::runtime_error("check_sender_domain did not answer");
    return got->value_or("");
  }
};

TEST_F(SenderCheck, NullPathAndLiteralsNeedNoLookup) {
  EXPECT_EQ(warning(""), "");
  EXPECT_EQ(warning("verify@[192.0.2.1]"), "");
  EXPECT_EQ(fake.total(), 0);
}

TEST_F(SenderCheck, ResolvingDomainsPass) {
  fake.set("mx.test", kMx, Reply{0, {MX(10, "mail.mx.test")}});
  fake.set("mail.mx.test", kA, Reply{0, {A("192.0.2.25")}});
  fake.set("a-only.test", kA, Reply{0, {A("192.0.2.26")}});  // implicit MX (RFC 5321 §5.1)
  EXPECT_EQ(warning("verify@mx.test"), "");
  EXPECT_EQ(warning("verify@a-only.test"), "");
  // Private addresses resolve too: a remote server's check only asks DNS.
  fake.set("private.test", kA, Reply{0, {A("10.1.2.3")}});
  EXPECT_EQ(warning("verify@private.test"), "");
}

TEST_F(SenderCheck, DomainsWithoutMxOrAddressAreWarnedAbout) {
  // No entry: NXDOMAIN.
  const std::string nx = warning("verify@nowhere.test");
  EXPECT_NE(nx.find("warning: --mail-from verify@nowhere.test: nowhere.test has no MX or address record (no_domain)"),
            std::string::npos)
      << nx;
  EXPECT_NE(nx.find("docs/smtp.md"), std::string::npos) << nx;
  fake.set("null.test", kMx, Reply{0, {MX(0, "")}});  // RFC 7505 null MX
  EXPECT_NE(warning("verify@null.test").find("(null_mx)"), std::string::npos);
  fake.set("txt-only.test", kTxt, Reply{0, {TXT("v=spf1 -all")}});
  EXPECT_NE(warning("verify@txt-only.test").find("(no_mail_server)"), std::string::npos);
  fake.set("broken.test", kMx, Reply{2, {}});  // SERVFAIL
  EXPECT_NE(warning("verify@broken.test").find("DNS error"), std::string::npos);
}

}  // namespace
}  // namespace mailsift::engine
