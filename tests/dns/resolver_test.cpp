// The resolver and the mail-domain lookup against a scripted fake DNS server on 127.0.0.1:0
// (tests/dns/fake_dns.hpp). No test sends a packet anywhere else: every Resolver here gets
// --dns-server 127.0.0.1:PORT of its fake, never the system configuration.
#include <gtest/gtest.h>

// The scripted replies are aggregates written with (designated) initializers that leave the
// defaulted members out on purpose; GCC 12 flags that even for designated initializers.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <set>

#include "dns/mail.hpp"
#include "dns/resolver.hpp"
#include "fake_dns.hpp"

namespace mailsift::dns {
namespace {

using namespace mailsift::testing;
using Clock = std::chrono::steady_clock;

class DnsTest : public ::testing::Test {
 protected:
  asio::io_context io;
  FakeDns fake{io};
  Clock::time_point now = Clock::now();

  std::unique_ptr<Resolver> resolver(ResolverOptions o = {}) {
    o.servers = {fake.server()};
    if (o.timeout == std::chrono::milliseconds(2000)) o.timeout = std::chrono::milliseconds(200);
    o.clock = [this] { return now; };
    return std::make_unique<Resolver>(io, std::move(o));
  }

  // Runs the loop until `done` holds; every wait is bounded (5 s).
  template <typename F>
  void run_until(F done) {
    const auto deadline = Clock::now() + std::chrono::seconds(5);
    while (!done() && Clock::now() < deadline) io.run_one_for(std::chrono::milliseconds(20));
    ASSERT_TRUE(done()) << "timed out";
  }

  AnswerPtr ask(Resolver& r, const std::string& name, Type t) {
    AnswerPtr got;
    r.query(name, t, [&](const AnswerPtr& a) { got = a; });
    run_until([&] { return got != nullptr; });
    return got;
  }

  DomainDnsPtr mail(MailLookup& m, const std::string& domain, const std::string& registrable = "") {
    DomainDnsPtr got;
    m.lookup(domain, registrable.empty() ? domain : registrable, [&](DomainDnsPtr p) { got = std::move(p); });
    run_until([&] { return got != nullptr; });
    return got;
  }
};

std::vector<std::string> hosts(const DomainDns& d) {
  std::vector<std::string> h;
  for (const MxHost& m : d.mx) h.push_back(m.host);
  return h;
}

// RFC 5321 §5.1: ascending preference; equal preferences in random order, reproducible by seed.
TEST_F(DnsTest, MxOrderedByPreferenceEqualOnesShuffledBySeed) {
  fake.set(
      "x.test", kMx,
      Reply{0,
            {MX(30, "c.x.test"), MX(10, "a1.x.test"), MX(20, "b.x.test"), MX(10, "a2.x.test"), MX(10, "a3.x.test")}});
  for (const char* h : {"a1", "a2", "a3", "b", "c"})
    fake.set(std::string(h) + ".x.test", kA, Reply{0, {A("192.0.2.1")}});
  auto r = resolver();
  std::set<std::vector<std::string>> orders;
  for (std::uint64_t seed = 1; seed <= 12; ++seed) {
    MailLookup m(*r, MailOptions{.allow_private_targets = true, .seed = seed});
    auto d = mail(m, "x.test");
    const auto h = hosts(*d);
    ASSERT_EQ(h.size(), 5u);
    EXPECT_EQ(h[3], "b.x.test");
    EXPECT_EQ(h[4], "c.x.test");
    EXPECT_EQ(std::set<std::string>(h.begin(), h.begin() + 3),
              (std::set<std::string>{"a1.x.test", "a2.x.test", "a3.x.test"}));
    orders.insert(h);
    MailLookup again(*r, MailOptions{.allow_private_targets = true, .seed = seed});
    EXPECT_EQ(hosts(*mail(again, "x.test")), h) << "same seed, same order";
  }
  EXPECT_GT(orders.size(), 1u) << "equal preferences must be shuffled";
  EXPECT_EQ(fake.count("x.test", kMx), 1) << "the rest came from the cache";
}

// RFC 5321 §5.1: no MX → the domain's own A/AAAA, preference 0.
TEST_F(DnsTest, ImplicitMx) {
  fake.set("imp.test", kA, Reply{0, {A("192.0.2.7")}});
  fake.set("imp.test", kAaaa, Reply{0, {AAAA("2001:db8::7")}});
  auto r = resolver();
  MailLookup m(*r, MailOptions{.allow_private_targets = true});
  auto d = mail(m, "imp.test");
  EXPECT_TRUE(d->implicit_mx);
  ASSERT_EQ(d->mx.size(), 1u);
  EXPECT_EQ(d->mx[0].addresses, (std::vector<std::string>{"192.0.2.7", "2001:db8::7"}));
  EXPECT_EQ(d->reason, Reason::mx_found);
}

// RFC 7505 §3: "MX 0 ." means no mail; nothing else is looked up.
TEST_F(DnsTest, NullMx) {
  fake.set("null.test", kMx, Reply{0, {MX(0, ".")}});
  auto r = resolver();
  MailLookup m(*r, {});
  auto d = mail(m, "null.test");
  EXPECT_TRUE(d->null_mx);
  EXPECT_EQ(d->reason, Reason::null_mx);
  EXPECT_EQ(fake.count("null.test", kA), 0);
}

// RFC 2308: NXDOMAIN is a fact about the domain; SERVFAIL, REFUSED and timeouts are not.
TEST_F(DnsTest, NxdomainServfailRefusedTimeoutKeptApart) {
  fake.set("sf.test", kMx, Reply{.rcode = 2});
  fake.set("ref.test", kMx, Reply{.rcode = 5});
  fake.set("slow.test", kMx, Reply{.drop = true});
  ResolverOptions o;
  o.timeout = std::chrono::milliseconds(100);
  o.tries = 1;
  auto r = resolver(o);
  EXPECT_EQ(ask(*r, "nx.test", Type::mx)->status, Status::nxdomain);
  EXPECT_EQ(ask(*r, "sf.test", Type::mx)->status, Status::servfail);
  EXPECT_EQ(ask(*r, "ref.test", Type::mx)->status, Status::refused);
  EXPECT_EQ(ask(*r, "slow.test", Type::mx)->status, Status::timeout);
  MailLookup m(*r, {});
  struct Case {
    const char* domain;
    Reason want;
    Status error;
  } cases[] = {{"nx.test", Reason::no_domain, Status::nxdomain},
               {"sf.test", Reason::dns_error, Status::servfail},
               {"ref.test", Reason::dns_error, Status::refused},
               {"slow.test", Reason::dns_error, Status::timeout}};
  for (const Case& c : cases) {
    auto d = mail(m, c.domain);
    EXPECT_EQ(code(d->reason), code(c.want)) << c.domain;
    ASSERT_TRUE(d->error.has_value()) << c.domain;
    EXPECT_EQ(name(*d->error), name(c.error)) << c.domain;
  }
}

TEST_F(DnsTest, NoMxNoAddressIsNoMailServer) {
  fake.set("bare.test", kTxt, Reply{0, {TXT("exists")}});
  auto r = resolver();
  MailLookup m(*r, {});
  auto d = mail(m, "bare.test");
  EXPECT_EQ(d->reason, Reason::no_mail_server);
  EXPECT_EQ(d->mx[0].status, Status::nodata);
}

TEST_F(DnsTest, ExchangesWithoutAddress) {
  fake.set("noaddr.test", kMx, Reply{0, {MX(10, "host.noaddr.test"), MX(20, "gone.noaddr.test"), MX(30, "10.0.0.5")}});
  fake.set("host.noaddr.test", kTxt, Reply{0, {TXT("no address")}});
  auto r = resolver();
  MailLookup m(*r, {});
  auto d = mail(m, "noaddr.test");
  EXPECT_EQ(d->reason, Reason::no_mail_server);
  ASSERT_EQ(d->mx.size(), 3u);
  EXPECT_EQ(d->mx[0].status, Status::nodata);
  EXPECT_EQ(d->mx[1].status, Status::nxdomain);
  EXPECT_TRUE(d->mx[2].ip_literal_name);
  EXPECT_EQ(fake.count("10.0.0.5", kA), 0) << "an IP written as a name is not resolved";
}

TEST_F(DnsTest, ExchangeTransientErrorIsDnsErrorNotInvalid) {
  fake.set("half.test", kMx, Reply{0, {MX(10, "mx.half.test")}});
  fake.set("mx.half.test", kA, Reply{.rcode = 2});
  fake.set("mx.half.test", kAaaa, Reply{.rcode = 2});
  auto r = resolver();
  MailLookup m(*r, {});
  auto d = mail(m, "half.test");
  EXPECT_EQ(d->reason, Reason::dns_error);
  EXPECT_EQ(d->error, Status::servfail);
}

// RFC 2181 §10.3 forbids an MX naming a CNAME, but it is seen in the wild: c-ares follows the
// CNAME in the answer section.
TEST_F(DnsTest, CnameExchangeIsFollowed) {
  fake.set("cn.test", kMx, Reply{0, {MX(10, "alias.cn.test")}});
  fake.set("alias.cn.test", kA, Reply{0, {CNAME("real.cn.test"), A("192.0.2.9", 300, "real.cn.test")}});
  auto r = resolver();
  MailLookup m(*r, MailOptions{.allow_private_targets = true});
  auto d = mail(m, "cn.test");
  EXPECT_EQ(d->reason, Reason::mx_found);
  EXPECT_EQ(d->mx[0].addresses, std::vector<std::string>{"192.0.2.9"});
}

TEST_F(DnsTest, PositiveCacheByTtl) {
  fake.set("c.test", kA, Reply{0, {A("192.0.2.1", 60), A("192.0.2.2", 30)}});
  auto r = resolver();
  EXPECT_EQ(ask(*r, "c.test", Type::a)->ttl, 30u) << "smallest TTL of the RRset";
  EXPECT_EQ(ask(*r, "C.Test", Type::a)->addrs.size(), 2u);
  EXPECT_EQ(fake.count("c.test", kA), 1) << "second lookup (any case) is a cache hit";
  EXPECT_EQ(r->stats().cache_hits, 1u);
  now += std::chrono::seconds(31);
  ask(*r, "c.test", Type::a);
  EXPECT_EQ(fake.count("c.test", kA), 2) << "expired after its TTL";
}

// RFC 2308 §5: negative answers cached for min(SOA TTL, SOA MINIMUM), capped by negative_ttl.
TEST_F(DnsTest, NegativeCachePerRfc2308) {
  fake.set("neg.test", kMx, Reply{.rcode = 3, .soa = std::make_pair(120u, 45u)});
  fake.set("capped.test", kMx, Reply{.rcode = 3, .soa = std::make_pair(86400u, 86400u)});
  fake.set("nosoa.test", kMx, Reply{.rcode = 3});
  auto r = resolver();
  EXPECT_EQ(ask(*r, "neg.test", Type::mx)->ttl, 45u);
  EXPECT_EQ(ask(*r, "capped.test", Type::mx)->ttl, 300u);
  EXPECT_EQ(ask(*r, "nosoa.test", Type::mx)->ttl, 300u);
  ask(*r, "neg.test", Type::mx);
  EXPECT_EQ(fake.count("neg.test", kMx), 1);
  now += std::chrono::seconds(46);
  ask(*r, "neg.test", Type::mx);
  EXPECT_EQ(fake.count("neg.test", kMx), 2);
}

TEST_F(DnsTest, TransientErrorsAreNotCached) {
  fake.set("sf.test", kA, Reply{.rcode = 2});
  auto r = resolver();
  ask(*r, "sf.test", Type::a);
  ask(*r, "sf.test", Type::a);
  EXPECT_EQ(fake.count("sf.test", kA), 2);
}

TEST_F(DnsTest, ConcurrentLookupsOfOneNameShareOneQuery) {
  fake.set("co.test", kA, Reply{.answers = {A("192.0.2.1")}, .delay_ms = 50});
  auto r = resolver();
  int done = 0;
  for (int i = 0; i < 100; ++i)
    r->query("co.test", Type::a, [&](const AnswerPtr& a) { done += a->status == Status::ok; });
  run_until([&] { return done == 100; });
  EXPECT_EQ(fake.count("co.test", kA), 1);
  EXPECT_EQ(r->stats().coalesced, 99u);
}

TEST_F(DnsTest, CacheIsBounded) {
  ResolverOptions o;
  o.cache_entries = 3;
  auto r = resolver(o);
  for (int i = 0; i < 10; ++i) {
    const std::string n = "n" + std::to_string(i) + ".test";
    fake.set(n, kA, Reply{0, {A("192.0.2.1")}});
    ask(*r, n, Type::a);
    EXPECT_LE(r->cache_size(), 3u);
  }
  ask(*r, "n9.test", Type::a);  // most recent: still cached (LRU)
  EXPECT_EQ(fake.count("n9.test", kA), 1);
  ask(*r, "n0.test", Type::a);  // evicted long ago
  EXPECT_EQ(fake.count("n0.test", kA), 2);
}

TEST_F(DnsTest, UnsafeTargetsRefusedUnlessAllowed) {
  fake.set("evil.test", kMx, Reply{0, {MX(10, "mx.evil.test")}});
  fake.set("mx.evil.test", kA, Reply{0, {A("127.0.0.1")}});
  fake.set("mx.evil.test", kAaaa, Reply{0, {AAAA("::1")}});
  auto r = resolver();
  MailLookup strict(*r, {});
  auto d = mail(strict, "evil.test");
  EXPECT_EQ(d->reason, Reason::unsafe_target);
  ASSERT_EQ(d->mx[0].refused.size(), 2u);
  EXPECT_EQ(d->mx[0].refused[0].why, "loopback");
  MailLookup lab(*r, MailOptions{.allow_private_targets = true});
  EXPECT_EQ(mail(lab, "evil.test")->reason, Reason::mx_found);
  EXPECT_EQ(strict.literal("[10.1.2.3]")->reason, Reason::unsafe_target);
  EXPECT_EQ(strict.literal("[IPv6:2001:4860::8888]")->reason, Reason::mx_found);
}

// IPv6 forms that carry an IPv4 address (NAT64, 6to4, Teredo, mapped) get that address's verdict,
// in MX answers and in address literals alike (issue 14).
TEST_F(DnsTest, EmbeddedIpv4DecidesForNat64And6to4Targets) {
  fake.set("evil6.test", kMx, Reply{0, {MX(10, "mx.evil6.test")}});
  fake.set("mx.evil6.test", kA, Reply{0, {}});
  fake.set("mx.evil6.test", kAaaa, Reply{0, {AAAA("64:ff9b::7f00:1"), AAAA("2002:7f00:1::1")}});
  fake.set("nat64.test", kMx, Reply{0, {MX(10, "mx.nat64.test")}});
  fake.set("mx.nat64.test", kA, Reply{0, {}});
  fake.set("mx.nat64.test", kAaaa, Reply{0, {AAAA("64:ff9b::808:808")}});
  auto r = resolver();
  MailLookup strict(*r, {});
  auto d = mail(strict, "evil6.test");
  EXPECT_EQ(d->reason, Reason::unsafe_target);
  ASSERT_EQ(d->mx[0].refused.size(), 2u);
  EXPECT_EQ(d->mx[0].refused[0].why, "nat64_loopback");
  EXPECT_EQ(d->mx[0].refused[1].why, "6to4_loopback");
  EXPECT_TRUE(d->mx[0].addresses.empty());
  auto ok = mail(strict, "nat64.test");
  EXPECT_EQ(ok->reason, Reason::mx_found);
  EXPECT_EQ(ok->mx[0].addresses, std::vector<std::string>{"64:ff9b::808:808"});
  for (const char* lit : {"[IPv6:64:ff9b::7f00:1]", "[IPv6:2002:7f00:1::1]", "[IPv6:::ffff:127.0.0.1]",
                          "[IPv6:2001:0:4136:e378:8000:63bf:80ff:fffe]"}) {
    EXPECT_EQ(strict.literal(lit)->reason, Reason::unsafe_target) << lit;
  }
  EXPECT_EQ(strict.literal("[IPv6:64:ff9b::7f00:1]")->mx[0].refused[0].why, "nat64_loopback");
  EXPECT_EQ(strict.literal("[IPv6:64:ff9b::808:808]")->reason, Reason::mx_found);
}

TEST_F(DnsTest, SpfDmarcAndProviderGathered) {
  fake.set("corp.test", kMx, Reply{0, {MX(1, "aspmx.l.google.com")}});
  fake.set("aspmx.l.google.com", kA, Reply{0, {A("142.250.1.27")}});
  fake.set("corp.test", kTxt,
           Reply{0, {TXT("google-site-verification=x"), TXT("v=spf1 include:_spf.google.com ~all")}});
  fake.set("_dmarc.corp.test", kTxt, Reply{0, {TXT("v=DMARC1; p=quarantine; pct=100")}});
  auto r = resolver();
  MailLookup m(*r, {});
  auto d = mail(m, "corp.test");
  EXPECT_EQ(d->reason, Reason::mx_found);
  ASSERT_TRUE(d->spf);
  EXPECT_EQ(d->spf->all, '~');
  ASSERT_TRUE(d->dmarc);
  EXPECT_EQ(d->dmarc->policy, "quarantine");
  EXPECT_EQ(d->provider, "google");
}

// RFC 7489 §6.6.3: no record at _dmarc.<domain> → the organizational domain's, with its sp=
// policy (§6.3); asked once for every subdomain (cache), never for the organizational domain itself.
TEST_F(DnsTest, DmarcFallsBackToOrganizationalDomain) {
  fake.set("_dmarc.org.test", kTxt, Reply{0, {TXT("v=DMARC1; p=none; sp=reject")}});
  fake.set("_dmarc.own.org.test", kTxt, Reply{0, {TXT("v=DMARC1; p=quarantine")}});
  fake.set("_dmarc.other.org.test", kTxt, Reply{0, {TXT("some-verification=1")}});  // no v=DMARC1
  for (const char* d : {"org.test", "a.org.test", "b.c.org.test", "own.org.test", "other.org.test"})
    fake.set(d, kMx, Reply{0, {MX(10, "mx.org.test")}});
  fake.set("mx.org.test", kA, Reply{0, {A("192.0.2.1")}});
  auto r = resolver();
  MailLookup m(*r, MailOptions{.allow_private_targets = true});

  auto org = mail(m, "org.test");  // the organizational domain itself: its own record, p= applies
  ASSERT_TRUE(org->dmarc);
  EXPECT_FALSE(org->dmarc->inherited);
  EXPECT_EQ(org->dmarc->domain, "org.test");
  EXPECT_EQ(org->dmarc->policy, "none");
  EXPECT_EQ(org->dmarc->subdomain_policy, "reject");

  for (const char* sub : {"a.org.test", "b.c.org.test", "other.org.test"}) {  // NXDOMAIN, NXDOMAIN, no DMARC TXT
    auto d = mail(m, sub, "org.test");
    ASSERT_TRUE(d->dmarc) << sub;
    EXPECT_TRUE(d->dmarc->inherited) << sub;
    EXPECT_EQ(d->dmarc->domain, "org.test") << sub;
    EXPECT_EQ(d->dmarc->policy, "reject") << sub << ": sp= applies to a subdomain";
    EXPECT_EQ(d->dmarc->record, "v=DMARC1; p=none; sp=reject") << sub;
    EXPECT_EQ(d->reason, Reason::mx_found) << sub;
    EXPECT_EQ(fake.count(std::string("_dmarc.") + sub, kTxt), 1) << sub;
  }
  EXPECT_EQ(fake.count("_dmarc.c.org.test", kTxt), 0) << "no walk up the tree: straight to the organizational domain";
  EXPECT_EQ(fake.count("_dmarc.org.test", kTxt), 1) << "the organizational domain's record came from the cache";

  auto own = mail(m, "own.org.test", "org.test");  // a record of its own: no fallback
  ASSERT_TRUE(own->dmarc);
  EXPECT_FALSE(own->dmarc->inherited);
  EXPECT_EQ(own->dmarc->domain, "own.org.test");
  EXPECT_EQ(own->dmarc->policy, "quarantine");
}

// No fallback when the domain's own answer is inconclusive (SERVFAIL: it may have a record) or when
// it has several records (RFC 7489 §6.6.3 step 5: none applies); nothing when neither has one.
TEST_F(DnsTest, DmarcFallbackOnlyWhenTheDomainHasNoRecord) {
  fake.set("_dmarc.org.test", kTxt, Reply{0, {TXT("v=DMARC1; p=reject")}});
  fake.set("_dmarc.sf.org.test", kTxt, Reply{.rcode = 2});
  fake.set("_dmarc.two.org.test", kTxt, Reply{0, {TXT("v=DMARC1; p=none"), TXT("v=DMARC1; p=reject")}});
  for (const char* d : {"sf.org.test", "two.org.test", "x.bare.test"})
    fake.set(d, kMx, Reply{0, {MX(10, "mx.org.test")}});
  fake.set("mx.org.test", kA, Reply{0, {A("192.0.2.1")}});
  auto r = resolver();
  MailLookup m(*r, MailOptions{.allow_private_targets = true});
  auto sf = mail(m, "sf.org.test", "org.test");
  EXPECT_FALSE(sf->dmarc);
  auto two = mail(m, "two.org.test", "org.test");
  ASSERT_TRUE(two->dmarc);
  EXPECT_TRUE(two->dmarc->multiple);
  EXPECT_FALSE(two->dmarc->inherited);
  EXPECT_EQ(two->dmarc->policy, "");
  EXPECT_EQ(fake.count("_dmarc.org.test", kTxt), 0);
  auto bare = mail(m, "x.bare.test", "bare.test");
  EXPECT_FALSE(bare->dmarc);
  EXPECT_EQ(fake.count("_dmarc.bare.test", kTxt), 1);
  EXPECT_EQ(bare->queries, 6u) << "MX, TXT, its _dmarc TXT, the organizational _dmarc TXT, the exchange's A and AAAA";
}

// Implicit MX plus "v=spf1 -all": a parked domain (risky, not invalid).
TEST_F(DnsTest, ParkedDomain) {
  fake.set("parked.test", kA, Reply{0, {A("192.0.2.31")}});
  fake.set("parked.test", kTxt, Reply{0, {TXT("v=spf1 -all")}});
  auto r = resolver();
  MailLookup m(*r, MailOptions{.allow_private_targets = true});
  EXPECT_EQ(mail(m, "parked.test")->reason, Reason::parked_domain);
}

// RFC 5782 §2.1: listed = A in 127/8; 127.0.0.1 and 127.255.255.x are list errors, not listings.
TEST_F(DnsTest, DomainBlocklist) {
  for (const char* d : {"bad.test", "ok.test", "err.test"}) {
    fake.set(d, kMx, Reply{0, {MX(10, "mx.corp.test")}});
  }
  fake.set("mx.corp.test", kA, Reply{0, {A("192.0.2.1")}});
  fake.set("bad.test.rhsbl.test", kA, Reply{0, {A("127.0.0.2")}});
  fake.set("bad.test.rhsbl.test", kTxt, Reply{0, {TXT("spam source")}});
  fake.set("err.test.rhsbl.test", kA, Reply{0, {A("127.255.255.254")}});
  auto r = resolver();
  MailLookup m(*r, MailOptions{.allow_private_targets = true, .blocklist_zones = {"rhsbl.test"}});
  auto bad = mail(m, "bad.test");
  EXPECT_EQ(bad->reason, Reason::domain_blocklisted);
  ASSERT_EQ(bad->blocklists.size(), 1u);
  EXPECT_EQ(bad->blocklists[0].answer, "127.0.0.2");
  EXPECT_EQ(bad->blocklists[0].text, "spam source");
  EXPECT_EQ(mail(m, "ok.test")->reason, Reason::mx_found);
  EXPECT_EQ(mail(m, "err.test")->reason, Reason::mx_found);
}

// The coroutine-friendly API: any Asio completion token, here use_awaitable.
TEST_F(DnsTest, AwaitableApi) {
  fake.set("aw.test", kMx, Reply{0, {MX(10, "mx.aw.test")}});
  fake.set("mx.aw.test", kA, Reply{0, {A("192.0.2.1")}});
  auto r = resolver();
  MailLookup m(*r, MailOptions{.allow_private_targets = true});
  Status st = Status::error;
  Reason reason = Reason::dns_error;
  bool done = false;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        AnswerPtr a = co_await r->async_query("aw.test", Type::mx, asio::use_awaitable);
        st = a->status;
        DomainDnsPtr d = co_await m.async_lookup("aw.test", "aw.test", asio::use_awaitable);
        reason = d->reason;
        done = true;
      },
      asio::detached);
  run_until([&] { return done; });
  EXPECT_EQ(st, Status::ok);
  EXPECT_EQ(reason, Reason::mx_found);
}

// At most max_inflight network queries at once, the rest queued in order; every answer reaches its
// own caller, also for queries started from inside a completion.
TEST_F(DnsTest, InflightBoundQueuesAndChainsFromCompletions) {
  constexpr int kNames = 30;
  for (int i = 0; i < kNames; ++i) {
    fake.set("n" + std::to_string(i) + ".test", kA,
             Reply{.answers = {A("192.0.2." + std::to_string(i + 1))}, .delay_ms = i % 3 * 5});
    fake.set("n" + std::to_string(i) + ".test", kAaaa, Reply{.answers = {AAAA("2001:db8::" + std::to_string(i + 1))}});
  }
  ResolverOptions o;
  o.max_inflight = 3;
  auto r = resolver(o);
  std::vector<std::string> v4(kNames), v6(kNames);
  int done = 0;
  for (int i = 0; i < kNames; ++i) {
    r->query("n" + std::to_string(i) + ".test", Type::a, [&, i](const AnswerPtr& a) {
      v4[i] = a->addrs.empty() ? "-" : a->addrs[0];
      r->query("n" + std::to_string(i) + ".test", Type::aaaa, [&, i](const AnswerPtr& b) {
        v6[i] = b->addrs.empty() ? "-" : b->addrs[0];
        ++done;
      });
    });
  }
  run_until([&] { return done == kNames; });
  for (int i = 0; i < kNames; ++i) {
    EXPECT_EQ(v4[i], "192.0.2." + std::to_string(i + 1));
    EXPECT_EQ(v6[i], "2001:db8::" + std::to_string(i + 1));
  }
  EXPECT_EQ(r->stats().queries_sent, 2u * kNames);
  EXPECT_GE(r->stats().queued, static_cast<std::uint64_t>(kNames - 3));
  EXPECT_EQ(fake.total(), 2 * kNames);
}

// The UDP datagrams of one event-loop turn leave in one sendmmsg and answers are read with
// recvmmsg (batched_io.hpp): many queries, far fewer system calls, every answer to its own caller.
TEST_F(DnsTest, QueriesLeaveAndArriveInBatches) {
  constexpr int kNames = 300;
  for (int i = 0; i < kNames; ++i)
    fake.set("b" + std::to_string(i) + ".test", kA, Reply{.answers = {A("198.51.100." + std::to_string(i % 250 + 1))}});
  ResolverOptions o;
  o.max_inflight = 100;
  auto r = resolver(o);
  std::vector<std::string> got(kNames);
  int done = 0;
  for (int i = 0; i < kNames; ++i)
    r->query("b" + std::to_string(i) + ".test", Type::a, [&, i](const AnswerPtr& a) {
      got[i] = a->addrs.empty() ? "-" : a->addrs[0];
      ++done;
    });
  run_until([&] { return done == kNames; });
  for (int i = 0; i < kNames; ++i) EXPECT_EQ(got[i], "198.51.100." + std::to_string(i % 250 + 1)) << i;
  const ResolverStats st = r->stats();
  EXPECT_EQ(st.queries_sent, static_cast<std::uint64_t>(kNames));
  EXPECT_EQ(fake.total(), kNames);
  // The first 100 leave in one call. (The fake answers one query at a time on this same thread,
  // so the refills after it go out in small batches here; against a real server they do not.)
  EXPECT_GE(st.udp_send_calls, 3u);
  EXPECT_LE(st.udp_send_calls, static_cast<std::uint64_t>(kNames - 99));
  EXPECT_GE(st.udp_receive_calls, 1u);
  EXPECT_EQ(st.udp_send_dropped, 0u);
}

// A reply truncated over UDP (TC) is asked again over TCP, through the same socket functions.
TEST_F(DnsTest, TruncatedUdpAnswerIsRetriedOverTcp) {
  Reply big{.answers = {MX(10, "mx1.big.test"), MX(20, "mx2.big.test")}};
  big.truncate_udp = true;
  fake.set("big.test", kMx, big);
  auto r = resolver();
  const AnswerPtr a = ask(*r, "big.test", Type::mx);
  ASSERT_EQ(a->status, Status::ok);
  ASSERT_EQ(a->mx.size(), 2u);
  EXPECT_EQ(a->mx[0].exchange, "mx1.big.test");
  EXPECT_EQ(a->mx[1].exchange, "mx2.big.test");
  EXPECT_EQ(fake.tcp_total(), 1);
}

// Nothing listens on the server's port: the ICMP port-unreachable error reaches c-ares through
// the batched socket (an error, not a timeout after every retransmission).
TEST_F(DnsTest, ClosedPortIsAnErrorNotATimeout) {
  std::uint16_t port = 0;
  {
    asio::ip::udp::socket probe(io, asio::ip::udp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    port = probe.local_endpoint().port();
  }  // closed: the port is free again and nothing answers on it
  ResolverOptions o;
  o.servers = {"127.0.0.1:" + std::to_string(port)};
  o.timeout = std::chrono::milliseconds(1000);
  o.tries = 2;
  o.clock = [this] { return now; };
  Resolver r(io, o);
  AnswerPtr got;
  r.query("nobody.test", Type::a, [&](const AnswerPtr& a) { got = a; });
  run_until([&] { return got != nullptr; });
  EXPECT_EQ(got->status, Status::error);
}

// Lanes (issue 14, #8): a bulk run at domains whose DNS servers never answer holds its slots a
// whole timeout each. With a reserve, bulk queries take at most max_inflight - reserve slots, so a
// real-time lookup's queries leave at once and its whole DNS stage finishes while every bulk
// query is still unanswered (the tarpit's timeout, 10 s, is far beyond this test's life).
TEST_F(DnsTest, RealtimeLookupFinishesWhileBulkQueriesAtATarpitWait) {
  constexpr int kTarpits = 50;
  for (int i = 0; i < kTarpits; ++i) {
    const std::string d = "tarpit" + std::to_string(i) + ".test";
    fake.set(d, kMx, Reply{.drop = true});
    fake.set(d, kTxt, Reply{.drop = true});
    fake.set("_dmarc." + d, kTxt, Reply{.drop = true});
  }
  fake.set("live.test", kMx, Reply{0, {MX(10, "mx.live.test")}});
  fake.set("mx.live.test", kA, Reply{0, {A("192.0.2.25")}});
  ResolverOptions o;
  o.max_inflight = 8;
  o.realtime_reserve = 2;
  o.timeout = std::chrono::milliseconds(10'000);
  o.tries = 1;
  auto r = resolver(o);
  MailLookup m(*r, MailOptions{.allow_private_targets = true});
  int bulk_done = 0;
  for (int i = 0; i < kTarpits; ++i)
    m.lookup("tarpit" + std::to_string(i) + ".test", "", [&](const DomainDnsPtr&) { ++bulk_done; });
  DomainDnsPtr live;
  m.lookup(
      "live.test", "live.test", [&](DomainDnsPtr d) { live = std::move(d); }, Lane::realtime);
  run_until([&] { return live != nullptr; });
  EXPECT_EQ(live->reason, Reason::mx_found);
  ASSERT_EQ(live->mx.size(), 1u);
  EXPECT_EQ(live->mx[0].addresses, std::vector<std::string>{"192.0.2.25"});
  EXPECT_EQ(bulk_done, 0);
  // Bulk kept to its 6 slots: the other 144 tarpit queries never left.
  int tarpit_asked = 0;
  for (int i = 0; i < kTarpits; ++i) {
    const std::string d = "tarpit" + std::to_string(i) + ".test";
    tarpit_asked += fake.count(d, kMx) + fake.count(d, kTxt) + fake.count("_dmarc." + d, kTxt);
  }
  EXPECT_EQ(tarpit_asked, 6);
  const ResolverStats st = r->stats();
  EXPECT_EQ(st.queries_sent, 6u + st.realtime_sent);
  EXPECT_GE(st.realtime_sent, 4u);  // MX, TXT, _dmarc TXT, A (AAAA too)
}

// Without a reserve (a run with no real-time work) bulk may take every slot, and a real-time
// query still leaves first once one is free: ahead of every bulk query that was queued before it.
TEST_F(DnsTest, RealtimeQueryGoesAheadOfQueuedBulkOnesWithoutAReserve) {
  constexpr int kBulk = 6;
  for (int i = 0; i < kBulk; ++i) fake.set("slow" + std::to_string(i) + ".test", kA, Reply{.drop = true});
  fake.set("live.test", kA, Reply{0, {A("192.0.2.26")}});
  ResolverOptions o;
  o.max_inflight = 2;
  o.timeout = std::chrono::milliseconds(300);
  o.tries = 1;
  auto r = resolver(o);
  std::vector<std::string> order;
  for (int i = 0; i < kBulk; ++i) {
    std::string n = "slow" + std::to_string(i) + ".test";
    r->query(n, Type::a, [&order, n](const AnswerPtr& a) {
      EXPECT_EQ(a->status, Status::timeout);
      order.push_back(n);
    });
  }
  r->query(
      "live.test", Type::a,
      [&](const AnswerPtr& a) {
        EXPECT_EQ(a->status, Status::ok);
        order.emplace_back("live.test");
      },
      Lane::realtime);
  run_until([&] { return order.size() == kBulk + 1; });
  // The two bulk queries on the wire end first (their timeout); the real-time one takes the first
  // free slot, before the four bulk ones queued ahead of it.
  ASSERT_EQ(order.size(), kBulk + 1u);
  EXPECT_EQ(order[2], "live.test");
  EXPECT_EQ(std::set<std::string>(order.begin(), order.begin() + 2),
            (std::set<std::string>{"slow0.test", "slow1.test"}));
}

// A real-time caller asking for a name a bulk caller already queued lifts that query to the
// real-time queue; both callers get the one answer, and it is asked once.
TEST_F(DnsTest, RealtimeCallerLiftsAQueuedBulkQuery) {
  fake.set("slow.test", kA, Reply{.drop = true});
  for (const char* n : {"b1.test", "b2.test", "shared.test"}) fake.set(n, kA, Reply{0, {A("192.0.2.27")}});
  ResolverOptions o;
  o.max_inflight = 1;
  o.timeout = std::chrono::milliseconds(300);
  o.tries = 1;
  auto r = resolver(o);
  std::vector<std::string> order;
  auto note = [&order](std::string n) { return [&order, n](const AnswerPtr&) { order.push_back(n); }; };
  r->query("slow.test", Type::a, note("slow"));
  r->query("b1.test", Type::a, note("b1"));
  r->query("shared.test", Type::a, note("shared/bulk"));
  r->query("b2.test", Type::a, note("b2"));
  r->query("shared.test", Type::a, note("shared/realtime"), Lane::realtime);
  run_until([&] { return order.size() == 5; });
  EXPECT_EQ(order, (std::vector<std::string>{"slow", "shared/bulk", "shared/realtime", "b1", "b2"}));
  EXPECT_EQ(fake.count("shared.test", kA), 1);
  EXPECT_EQ(r->stats().coalesced, 1u);
}

// A reserve as large as the bound leaves bulk one slot: it still finishes.
TEST_F(DnsTest, ReserveNeverTakesBulkWorksLastSlot) {
  for (int i = 0; i < 4; ++i) fake.set("n" + std::to_string(i) + ".test", kA, Reply{0, {A("192.0.2.28")}});
  ResolverOptions o;
  o.max_inflight = 2;
  o.realtime_reserve = 5;
  auto r = resolver(o);
  int done = 0;
  for (int i = 0; i < 4; ++i)
    r->query("n" + std::to_string(i) + ".test", Type::a, [&](const AnswerPtr& a) { done += a->status == Status::ok; });
  run_until([&] { return done == 4; });
  EXPECT_EQ(r->stats().queued, 3u);
}

TEST(RealtimeReserve, IsAShareOfTheLimitNeverAllOfIt) {
  EXPECT_EQ(realtime_reserve(100, 10), 10u);
  EXPECT_EQ(realtime_reserve(256, 10), 25u);
  EXPECT_EQ(realtime_reserve(5, 10), 1u);  // at least one when asked for
  EXPECT_EQ(realtime_reserve(100, 0), 0u);
  EXPECT_EQ(realtime_reserve(4, 100), 3u);  // bulk keeps one
  EXPECT_EQ(realtime_reserve(1, 50), 0u);
}

TEST(WireTtls, ToleratesTruncatedMessages) {
  const unsigned char junk[] = {0, 1, 0x81, 0x80, 0, 1, 0, 5, 0, 0, 0, 0, 3, 'a', 'b'};
  for (std::size_t n = 0; n <= sizeof junk; ++n) {
    const WireTtls t = wire_ttls(junk, n);
    EXPECT_FALSE(t.has_negative_ttl);
  }
}

TEST(ResolverOptionsTest, BadServerIsRejected) {
  asio::io_context io;
  ResolverOptions o;
  o.servers = {"not an address"};
  EXPECT_THROW(Resolver(io, o), std::runtime_error);
}

}  // namespace
}  // namespace mailsift::dns
