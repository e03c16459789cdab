// Unit tests of the server's pure parts: API keys and rate limits, metrics text, callback URLs,
// --listen parsing, address masking, the job and error JSON.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>

#include "server/auth.hpp"
#include "server/callback.hpp"
#include "server/http.hpp"
#include "server/json.hpp"
#include "server/log.hpp"
#include "server/metrics.hpp"

namespace mailsift::server {
namespace {

TEST(Keys, Sha256KnownVector) {
  // FIPS 180-2 test vector "abc".
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Keys, PlainKeyAcceptedWithBearerOnly) {
  Keys k;
  k.add_plain("s3cret");
  ASSERT_NE(k.check("Bearer s3cret"), nullptr);
  EXPECT_NE(k.check("bearer s3cret"), nullptr);  // RFC 6750: the scheme is case-insensitive
  EXPECT_EQ(k.check("Bearer s3cret")->id, sha256_hex("s3cret").substr(0, 12));
  EXPECT_EQ(k.check("Bearer s3cre"), nullptr);
  EXPECT_EQ(k.check("Basic s3cret"), nullptr);
  EXPECT_EQ(k.check("s3cret"), nullptr);
  EXPECT_EQ(k.check("Bearer "), nullptr);
  EXPECT_EQ(k.check(""), nullptr);
  EXPECT_THROW(k.add_plain(""), std::invalid_argument);
}

TEST(Keys, FileLines) {
  const std::string h = sha256_hex("k");
  EXPECT_FALSE(Keys::parse_line("", "f:1"));
  EXPECT_FALSE(Keys::parse_line("   # comment", "f:1"));
  auto k = Keys::parse_line(h + " name=ci rate=2.5\r", "f:1");
  ASSERT_TRUE(k);
  EXPECT_EQ(k->name, "ci");
  EXPECT_DOUBLE_EQ(k->rate, 2.5);
  EXPECT_EQ(k->sha256, h);
  std::string upper = h;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  EXPECT_EQ(Keys::parse_line(upper, "f:1")->sha256, h);  // hex digits in either case
  EXPECT_THROW((void)Keys::parse_line("not-a-hash", "f:1"), std::invalid_argument);
  EXPECT_THROW((void)Keys::parse_line(h + " rate=0", "f:1"), std::invalid_argument);
  EXPECT_THROW((void)Keys::parse_line(h + " rate=x", "f:1"), std::invalid_argument);
  EXPECT_THROW((void)Keys::parse_line(h + " colour=red", "f:1"), std::invalid_argument);
}

TEST(RateLimiter, BurstThenRefill) {
  RateLimiter r(2.0, 3.0);
  const auto t0 = RateLimiter::Clock::time_point{} + std::chrono::hours(1);
  EXPECT_EQ(r.take("a", t0), 0);
  EXPECT_EQ(r.take("a", t0), 0);
  EXPECT_EQ(r.take("a", t0), 0);
  EXPECT_EQ(r.take("a", t0), 1);  // empty: one token comes in 0.5 s → Retry-After rounds up to 1
  EXPECT_EQ(r.take("b", t0), 0);  // another client has its own bucket
  EXPECT_EQ(r.take("a", t0 + std::chrono::milliseconds(500)), 0);
  EXPECT_EQ(r.take("a", t0 + std::chrono::milliseconds(500)), 1);
  // A per-key rate: 0.1/s → 10 s for the next token.
  RateLimiter slow(2.0, 1.0);
  EXPECT_EQ(slow.take("k", t0, 0.1), 0);
  EXPECT_EQ(slow.take("k", t0, 0.1), 10);
  RateLimiter none(0, 1);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(none.take("x", t0), 0);
}

TEST(RateLimiter, IdleBucketsForgotten) {
  RateLimiter r(10.0, 10.0);
  auto t = RateLimiter::Clock::time_point{} + std::chrono::hours(1);
  for (int i = 0; i < 100; ++i) (void)r.take("c" + std::to_string(i), t);
  EXPECT_EQ(r.clients(), 100u);
  (void)r.take("late", t + std::chrono::seconds(60));
  EXPECT_EQ(r.clients(), 1u);
}

TEST(Metrics, ExpositionFormat) {
  Metrics m;
  m.verification(Level::smtp, Reason::mailbox_not_found, 0.3);
  m.verification(Level::smtp, Reason::mailbox_exists, 70);
  m.http_request(200);
  m.http_request(200);
  m.http_request(429);
  Gauges g;
  g.sessions_in_flight = 3;
  g.hosts.push_back(HostGauge{"10.0.0.1", 2, 5});
  g.hosts.push_back(HostGauge{"we\"ird\\h\nost", 1, 0});
  g.dns_queries = 30;
  g.dns_cache_hits = 10;
  g.jobs = {1, 2, 3};
  const std::string t = m.render(g);
  EXPECT_NE(t.find("mailsift_verifications_total{level=\"smtp\",status=\"invalid\",reason=\"mailbox_not_found\"} 1\n"), std::string::npos);
  EXPECT_NE(t.find("mailsift_verification_duration_seconds_bucket{level=\"smtp\",le=\"0.25\"} 0\n"), std::string::npos);
  EXPECT_NE(t.find("mailsift_verification_duration_seconds_bucket{level=\"smtp\",le=\"0.5\"} 1\n"), std::string::npos);
  EXPECT_NE(t.find("mailsift_verification_duration_seconds_bucket{level=\"smtp\",le=\"60\"} 1\n"), std::string::npos);
  EXPECT_NE(t.find("mailsift_verification_duration_seconds_bucket{level=\"smtp\",le=\"+Inf\"} 2\n"), std::string::npos);
  EXPECT_NE(t.find("mailsift_verification_duration_seconds_count{level=\"smtp\"} 2\n"), std::string::npos);
  EXPECT_NE(t.find("mailsift_http_requests_total{code=\"200\"} 2\n"), std::string::npos);
  EXPECT_NE(t.find("mailsift_smtp_host_queue_depth{host=\"10.0.0.1\"} 5\n"), std::string::npos);
  EXPECT_NE(t.find("mailsift_smtp_host_connections{host=\"we\\\"ird\\\\h\\nost\"} 1\n"), std::string::npos);
  EXPECT_NE(t.find("mailsift_dns_cache_hit_ratio 0.25\n"), std::string::npos);
  EXPECT_NE(t.find("mailsift_jobs{state=\"running\"} 2\n"), std::string::npos);
  EXPECT_EQ(m.verifications(), 2u);
  // Every sample line belongs to a metric declared with # TYPE.
  std::size_t pos = 0;
  while (pos < t.size()) {
    const std::size_t end = t.find('\n', pos);
    const std::string line = t.substr(pos, end - pos);
    pos = end + 1;
    if (line.starts_with("#")) continue;
    const std::string metric = line.substr(0, line.find_first_of("{ "));
    std::string base = metric;
    for (const char* suffix : {"_bucket", "_sum", "_count"})
      if (base.ends_with(suffix) && base.starts_with("mailsift_verification_duration")) base.resize(base.size() - std::strlen(suffix));
    EXPECT_NE(t.find("# TYPE " + base + " "), std::string::npos) << line;
  }
}

TEST(CallbackUrl, Parse) {
  std::string e;
  auto u = parse_url("https://hooks.example.com/a/b?x=1", e);
  ASSERT_TRUE(u) << e;
  EXPECT_TRUE(u->tls);
  EXPECT_EQ(u->host, "hooks.example.com");
  EXPECT_EQ(u->port, "443");
  EXPECT_EQ(u->target, "/a/b?x=1");
  u = parse_url("http://[2001:db8::1]:8080", e);
  ASSERT_TRUE(u) << e;
  EXPECT_EQ(u->host, "2001:db8::1");
  EXPECT_EQ(u->port, "8080");
  EXPECT_EQ(u->target, "/");
  u = parse_url("http://h?q", e);
  ASSERT_TRUE(u);
  EXPECT_EQ(u->target, "/?q");
  for (const char* bad : {"ftp://h/", "http://", "http://user:pw@h/", "http://h:0/", "http://h:70000/", "http://h/#frag",
                          "http://h/ a", "http://h/\r\nX: y", "http://[::1/", "javascript:alert(1)"}) {
    EXPECT_FALSE(parse_url(bad, e)) << bad;
  }
  EXPECT_FALSE(parse_url("http://h/" + std::string(3000, 'a'), e));
}

TEST(CallbackUrl, TargetSafetyAtCreation) {
  boost::asio::io_context io;
  CallbackSender strict(io, CallbackOptions{});
  EXPECT_NE(strict.check("http://127.0.0.1/x"), "");
  EXPECT_NE(strict.check("http://10.1.2.3/x"), "");
  EXPECT_NE(strict.check("http://[::1]/x"), "");
  EXPECT_NE(strict.check("http://169.254.169.254/latest/meta-data"), "");  // cloud metadata
  EXPECT_EQ(strict.check("https://hooks.example.com/x"), "");  // names are checked when called
  EXPECT_EQ(strict.check("http://8.8.8.8/x"), "");
  // IPv6 forms that reach an IPv4 host get that host's verdict (the same rule as MX targets).
  EXPECT_THAT(strict.check("http://[64:ff9b::7f00:1]/x"), ::testing::HasSubstr("nat64_loopback"));
  EXPECT_THAT(strict.check("http://[2002:7f00:1::1]/x"), ::testing::HasSubstr("6to4_loopback"));
  EXPECT_THAT(strict.check("http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/x"), ::testing::HasSubstr("teredo_loopback"));
  EXPECT_THAT(strict.check("http://[::ffff:169.254.169.254]/x"), ::testing::HasSubstr("ipv4_mapped_link_local"));
  EXPECT_EQ(strict.check("http://[64:ff9b::808:808]/x"), "");  // NAT64 to a public address
  CallbackOptions lab;
  lab.allow_private = true;
  CallbackSender open(io, lab);
  EXPECT_EQ(open.check("http://127.0.0.1:9/x"), "");
}

TEST(Listen, Parse) {
  EXPECT_EQ(parse_listen("127.0.0.1:8080").port(), 8080);
  EXPECT_TRUE(parse_listen("localhost:1").address().is_loopback());
  EXPECT_TRUE(parse_listen("[::1]:80").address().is_v6());
  EXPECT_EQ(parse_listen("0.0.0.0:0").port(), 0);
  for (const char* bad : {"8080", "host:80", "1.2.3.4:", "1.2.3.4:65536", "1.2.3.4:x", "[::1]80", "::1:80x"}) {
    EXPECT_THROW((void)parse_listen(bad), std::invalid_argument) << bad;
  }
}

TEST(Log, MasksAddresses) {
  EXPECT_EQ(mask_address("alice@example.com"), "a***@example.com");
  EXPECT_EQ(mask_address("x@y"), "x***@y");
  EXPECT_EQ(mask_address("no-at"), "***");
  EXPECT_EQ(mask_address("@example.com"), "***");
  Log plain(true, true), masked(true, false);
  EXPECT_EQ(plain.address("bob@b.org"), "bob@b.org");
  EXPECT_EQ(masked.address("bob@b.org"), "b***@b.org");
}

TEST(Json, JobAndError) {
  store::JobRecord j;
  j.id = "abc";
  j.name = "li\"st";
  j.state = "running";
  j.level = "smtp";
  j.created = 1795435200;  // 2026-11-23T12:00:00Z
  j.total = 4;
  j.done = 1;
  j.counts = {1, 0, 0, 0};
  const std::string s = job_json(j);
  EXPECT_NE(s.find("\"name\":\"li\\\"st\""), std::string::npos) << s;
  EXPECT_NE(s.find("\"created\":\"2026-11-23T12:00:00Z\",\"started\":null"), std::string::npos) << s;
  EXPECT_NE(s.find("\"progress\":0.2500"), std::string::npos) << s;
  EXPECT_NE(s.find("\"callback_url\":null,\"callback\":null"), std::string::npos) << s;
  EXPECT_NE(s.find("\"results\":\"/v1/jobs/abc/results\""), std::string::npos) << s;
  EXPECT_EQ(error_json("not_found", "no job \"x\""), R"({"error":{"code":"not_found","message":"no job \"x\""}})");
}

}  // namespace
}  // namespace mailsift::server
