// Unit tests of the server's pure parts: API keys and rate limits, metrics text, callback URLs,
// --listen parsing, address masking, the job and error JSON.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <chrono>
#include <exception>
#include <string>
#include <vector>

#include "server/answers.hpp"
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

// check_at_submit resolves a host name as the send path does: `localhost` comes from /etc/hosts
// (no query leaves the machine) and is loopback, so it is refused at job creation unless private
// callbacks are allowed. IP literals are decided without resolving.
TEST(CallbackUrl, HostNameResolvingToLoopbackRefusedAtSubmit) {
  namespace asio = boost::asio;
  asio::io_context io;
  CallbackSender strict(io, CallbackOptions{});
  CallbackOptions lab;
  lab.allow_private = true;
  CallbackSender open(io, lab);
  CallbackOptions busy;
  busy.max_submit_resolves = 0;  // every resolution slot taken
  CallbackSender full(io, busy);
  std::vector<std::string> got;
  bool finished = false;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        got.push_back(co_await strict.check_at_submit("http://localhost:9/hook"));
        got.push_back(co_await open.check_at_submit("http://localhost:9/hook"));
        got.push_back(co_await strict.check_at_submit("http://127.0.0.1/x"));
        got.push_back(co_await strict.check_at_submit("http://8.8.8.8/x"));  // a literal: nothing resolved
        got.push_back(co_await strict.check_at_submit("ftp://localhost/x"));
        got.push_back(co_await full.check_at_submit("http://localhost:9/hook"));
        finished = true;
      },
      [](const std::exception_ptr& e) {
        if (e) std::rethrow_exception(e);
      });
  io.run_for(std::chrono::seconds(30));  // a guard only: each resolution is bounded by 5 s
  ASSERT_TRUE(finished);
  ASSERT_EQ(got.size(), 6u);
  EXPECT_NE(got[0].find("resolves to a loopback address"), std::string::npos) << got[0];
  EXPECT_EQ(got[1], "");
  EXPECT_NE(got[2].find("loopback"), std::string::npos) << got[2];
  EXPECT_EQ(got[3], "");
  EXPECT_NE(got[4].find("http://"), std::string::npos) << got[4];
  EXPECT_NE(got[5].find("too many"), std::string::npos) << got[5];
}

std::shared_ptr<const Result> answer_for(std::string email) {
  auto r = std::make_shared<Result>();
  r->email = std::move(email);
  return r;
}

// Issue 14: the single-check answers were bounded by entries only, and an entry's size is the
// client's (220,000 checks of 4 KB "addresses": 2.6 GiB). The byte bound keeps the newest answers
// that fit, the oldest go first.
TEST(AnswerCache, BoundedByBytesOldestFirst) {
  const auto t0 = AnswerCache::Clock::now();
  const std::string big(4096, 'a');
  auto key = [&](int i) { return "1" + std::to_string(100 + i) + big; };  // all the same length
  const std::size_t one = estimated_bytes(key(0), *answer_for(big));
  EXPECT_GE(one, 3 * big.size());  // the key twice and the input: the client's bytes are counted
  AnswerCache cache({std::chrono::seconds(600), 1'000'000, 10 * one + one / 2});
  for (int i = 0; i < 100; ++i) cache.put(key(i), answer_for(big), t0 + std::chrono::milliseconds(i));
  EXPECT_EQ(cache.size(), 10u);
  EXPECT_LE(cache.bytes(), 10 * one + one / 2);
  const auto later = t0 + std::chrono::seconds(1);
  EXPECT_EQ(cache.find(key(89), later), nullptr);
  for (int i = 90; i < 100; ++i) EXPECT_NE(cache.find(key(i), later), nullptr) << i;

  // An answer larger than the whole budget is not kept, and pushes nothing out.
  cache.put("huge", answer_for(std::string(20 * one, 'b')), later);
  EXPECT_EQ(cache.find("huge", later), nullptr);
  EXPECT_EQ(cache.size(), 10u);
}

TEST(AnswerCache, EntryBoundTtlAndReplacement) {
  const auto t0 = AnswerCache::Clock::now();
  AnswerCache cache({std::chrono::seconds(10), 3, std::size_t{64} << 20});
  for (int i = 0; i < 5; ++i) cache.put("k" + std::to_string(i), answer_for("a@b" + std::to_string(i)), t0);
  EXPECT_EQ(cache.size(), 3u);
  EXPECT_EQ(cache.find("k1", t0), nullptr);
  ASSERT_NE(cache.find("k4", t0), nullptr);
  EXPECT_EQ(cache.find("k4", t0)->email, "a@b4");
  // Replaced: the newer answer is found; the older one's bytes go when its turn comes.
  cache.put("k4", answer_for("new"), t0 + std::chrono::seconds(1));
  EXPECT_EQ(cache.find("k4", t0 + std::chrono::seconds(1))->email, "new");
  // Stale after the TTL, and put() drops what is stale.
  EXPECT_EQ(cache.find("k3", t0 + std::chrono::seconds(10)), nullptr);
  cache.put("k9", answer_for("x"), t0 + std::chrono::seconds(10));
  EXPECT_EQ(cache.size(), 2u);  // k4 (the newer one) and k9
  const std::size_t two = cache.bytes();
  cache.put("k10", answer_for("y"), t0 + std::chrono::seconds(30));
  EXPECT_EQ(cache.size(), 1u);
  EXPECT_LT(cache.bytes(), two);
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
