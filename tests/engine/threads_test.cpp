// --threads at the network levels (engine/engine.hpp): N event loops give the results of one, in
// input order, and the per-MX-address cap holds across the loops, counted by the server. Against
// the scripted fake DNS server (tests/dns/fake_dns.hpp) and fake SMTP server (tests/smtp/
// fake_smtp.hpp) on 127.0.0.1: nothing is sent anywhere else. Also run under ThreadSanitizer (the
// tsan preset in CI).
#include <gtest/gtest.h>

// The scripted replies are aggregates that leave defaulted members out on purpose.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#include <boost/asio/executor_work_guard.hpp>
#include <chrono>
#include <string_view>
#include <string>
#include <thread>
#include <vector>

#include "dns/fake_dns.hpp"
#include "engine/fakes.hpp"
#include "engine/engine.hpp"
#include "smtp/fake_smtp.hpp"
#include "verdict/render.hpp"

namespace mailsift::engine {
namespace {

using namespace mailsift::testing;
using mailsift::test::FakeReply;
using mailsift::test::FakeSmtpServer;

using mailsift::test::DnsThread;
using mailsift::test::without_times;

// 40 domains whose MX is the one fake server; 3 addresses each (one unknown, one repeated), and
// some that never reach the network (bad syntax, a domain that does not exist).
std::vector<std::string> inputs() {
  std::vector<std::string> in;
  for (int d = 0; d < 40; ++d) {
    const std::string dom = "d" + std::to_string(d) + ".mailsift-fake.net";
    in.push_back("alice@" + dom);
    in.push_back("nobody@" + dom);
    in.push_back("Alice@" + dom);
    if (d % 10 == 0) in.push_back("not an address " + std::to_string(d));
    if (d % 13 == 0) in.push_back("x@nx" + std::to_string(d) + ".mailsift-fake.net");
  }
  return in;
}

// The rendered results, in the order the engine delivered them, without the times that differ
// between any two runs.
std::string run(const std::vector<std::string>& in, std::size_t threads, const std::string& dns_server,
                std::uint16_t smtp_port) {
  cli::VerifyOptions o;
  o.level = "smtp";
  o.threads = threads;
  o.dns_servers = {dns_server};
  o.dns_timeout_ms = 500;
  o.allow_private_targets = true;
  o.smtp_port = smtp_port;
  o.host_concurrency = 2;
  o.host_rate = 0;
  o.rcpts_per_session = 1;  // many sessions, so the loops compete for the one server
  o.no_catch_all = true;
  o.no_starttls = true;
  o.helo = "probe.mailsift-fake.net";
  Engine e(o);
  std::string out;
  for (const std::string& a : in) {
    e.add(a);
    if (e.pending() == 17) e.submit();  // several batches in flight
  }
  e.run([&out](std::size_t, Result& r) {
    render::append_json(r, out);
    out += '\n';
  });
  return without_times(out);
}

TEST(EngineThreads, FourLoopsGiveTheResultsOfOneAndShareTheHostCap) {
  FakeSmtpServer smtp;
  smtp.on("RCPT TO:<nobody@", "550 5.1.1 <nobody>: Recipient address rejected: User unknown\r\n");
  smtp.on("RCPT TO:<alice@", {"250 2.1.5 Ok\r\n", std::chrono::milliseconds(15)});  // sessions overlap
  DnsThread dt;
  for (int d = 0; d < 40; ++d)
    dt.dns().set("d" + std::to_string(d) + ".mailsift-fake.net", kMx, Reply{0, {MX(10, "mx.mailsift-fake.net")}});
  dt.dns().set("mx.mailsift-fake.net", kA, Reply{0, {A("127.0.0.1")}});
  dt.start();
  const std::vector<std::string> in = inputs();

  const std::string one = run(in, 1, dt.dns().server(), smtp.port());
  const int one_peak = smtp.max_concurrent();
  const std::string four = run(in, 4, dt.dns().server(), smtp.port());
  EXPECT_EQ(four, one);
  EXPECT_EQ(std::count(one.begin(), one.end(), '\n'), static_cast<long>(in.size()));
  EXPECT_NE(one.find(R"("reason":"mailbox_exists")"), std::string::npos);
  EXPECT_NE(one.find(R"("reason":"mailbox_not_found")"), std::string::npos);
  EXPECT_NE(one.find(R"("reason":"no_domain")"), std::string::npos);
  // Counted at the server: 40 domains on 4 loops, each domain's queue alone allowing 2 sessions;
  // only the shared gate keeps the server at 2.
  EXPECT_EQ(one_peak, 2);
  EXPECT_EQ(smtp.max_concurrent(), 2);
}

}  // namespace
}  // namespace mailsift::engine
