// Pure tables of the DNS stage: target safety (RFC 6890 registries), the provider table, SPF and
// DMARC record parsing, and decide_dns precedence.
#include <gtest/gtest.h>

#include "dns/mail.hpp"
#include "dns/policy.hpp"
#include "dns/provider.hpp"
#include "dns/target.hpp"

namespace mailsift::dns {
namespace {

TEST(TargetSafety, Table) {
  struct Case {
    const char* ip;
    const char* want;  // "" = may be probed
    const char* rfc;
  } cases[] = {
      {"0.0.0.0", "this_network", "RFC 1122 §3.2.1.3"},
      {"0.255.1.2", "this_network", "RFC 1122 §3.2.1.3"},
      {"10.0.0.1", "private", "RFC 1918"},
      {"10.255.255.255", "private", "RFC 1918"},
      {"172.16.0.1", "private", "RFC 1918"},
      {"172.31.255.254", "private", "RFC 1918"},
      {"172.32.0.1", "", "outside 172.16/12"},
      {"172.15.255.255", "", "outside 172.16/12"},
      {"192.168.1.1", "private", "RFC 1918"},
      {"100.64.0.1", "shared_address", "RFC 6598"},
      {"100.127.255.255", "shared_address", "RFC 6598"},
      {"100.128.0.1", "", "outside 100.64/10"},
      {"127.0.0.1", "loopback", "RFC 1122"},
      {"127.8.9.10", "loopback", "RFC 1122"},
      {"169.254.1.1", "link_local", "RFC 3927"},
      {"192.0.0.8", "ietf_protocol", "RFC 6890"},
      {"192.0.2.1", "documentation", "RFC 5737"},
      {"198.51.100.7", "documentation", "RFC 5737"},
      {"203.0.113.200", "documentation", "RFC 5737"},
      {"192.88.99.1", "reserved", "RFC 7526"},
      {"198.18.0.1", "benchmarking", "RFC 2544"},
      {"198.19.255.255", "benchmarking", "RFC 2544"},
      {"198.20.0.1", "", "outside 198.18/15"},
      {"224.0.0.1", "multicast", "RFC 5771"},
      {"239.255.255.255", "multicast", "RFC 5771"},
      {"240.0.0.1", "reserved", "RFC 1112 §4"},
      {"255.255.255.255", "broadcast", "RFC 919"},
      {"8.8.8.8", "", "public"},
      {"142.250.1.27", "", "public"},
      {"::", "unspecified", "RFC 4291 §2.5.2"},
      {"::1", "loopback", "RFC 4291 §2.5.3"},
      // Mapped and compatible: always refused, with the embedded address's code when it has one.
      {"::ffff:8.8.8.8", "ipv4_mapped", "RFC 4291 §2.5.5.2"},
      {"::ffff:127.0.0.1", "ipv4_mapped_loopback", "RFC 4291 §2.5.5.2"},
      {"::ffff:7f00:1", "ipv4_mapped_loopback", "RFC 4291 §2.5.5.2, hex spelling"},
      {"::ffff:169.254.169.254", "ipv4_mapped_link_local", "RFC 4291 §2.5.5.2"},
      {"::8.8.8.8", "ipv4_compatible", "RFC 4291 §2.5.5.1"},
      {"::10.0.0.1", "ipv4_compatible_private", "RFC 4291 §2.5.5.1"},
      {"::127.0.0.2", "ipv4_compatible_loopback", "RFC 4291 §2.5.5.1"},
      // NAT64 well-known prefix: the embedded IPv4 address decides (RFC 6052 §2.1, §3.1).
      {"64:ff9b::7f00:1", "nat64_loopback", "RFC 6052"},
      {"64:ff9b::127.0.0.1", "nat64_loopback", "RFC 6052"},
      {"64:ff9b::10.1.2.3", "nat64_private", "RFC 6052"},
      {"64:ff9b::a9fe:a9fe", "nat64_link_local", "RFC 6052, 169.254.169.254"},
      {"64:ff9b::c0a8:1", "nat64_private", "RFC 6052, 192.168.0.1"},
      {"64:ff9b::808:808", "", "RFC 6052, 8.8.8.8: NAT64 networks are real"},
      {"64:ff9b::142.250.1.27", "", "RFC 6052, public"},
      {"64:ff9b:0:0:1::7f00:1", "", "outside 64:ff9b::/96 (and 64:ff9b:1::/48)"},
      // 6to4: the IPv4 address is bits 16..47 (RFC 3056 §2).
      {"2002:7f00:1::1", "6to4_loopback", "RFC 3056"},
      {"2002:a00:1::1", "6to4_private", "RFC 3056, 10.0.0.1"},
      {"2002:a9fe:a9fe::1", "6to4_link_local", "RFC 3056, 169.254.169.254"},
      {"2002::1", "6to4_this_network", "RFC 3056, 0.0.0.0"},
      {"2002:808:808::1", "", "RFC 3056, 8.8.8.8"},
      // Teredo: server IPv4 in bits 32..63, client IPv4 inverted in the last 32 (RFC 4380 §4).
      {"2001:0:7f00:1::f7f7:f7f7", "teredo_loopback", "RFC 4380, server 127.0.0.1, client 8.8.8.8"},
      {"2001:0:4136:e378:8000:63bf:f5ff:fffe", "teredo_private", "RFC 4380, server 65.54.227.120, client 10.0.0.1"},
      {"2001:0:4136:e378:8000:63bf:80ff:fffe", "teredo_loopback", "RFC 4380, server 65.54.227.120, client 127.0.0.1"},
      {"2001:0:4136:e378:8000:63bf:3fff:fdd2", "teredo_documentation", "RFC 4380 §4's example: client 192.0.2.45"},
      {"2001:0:4136:e378:8000:63bf:f7f7:f7f7", "", "RFC 4380, server 65.54.227.120, client 8.8.8.8"},
      {"2001:1::1", "", "outside 2001::/32"},
      {"64:ff9b:1::1", "nat64_local", "RFC 8215"},
      {"100::1", "discard", "RFC 6666"},
      {"2001:db8::1", "documentation", "RFC 3849"},
      {"3fff::1", "documentation", "RFC 9637"},
      {"2001:2::1", "benchmarking", "RFC 5180"},
      {"fc00::1", "unique_local", "RFC 4193"},
      {"fd00:25::10", "unique_local", "RFC 4193"},
      {"fe80::1", "link_local", "RFC 4291 §2.5.6"},
      {"febf::1", "link_local", "RFC 4291 §2.5.6"},
      {"fec0::1", "site_local", "RFC 3879"},
      {"ff02::1", "multicast", "RFC 4291 §2.7"},
      {"2001:4860:4860::8888", "", "public"},
      {"2a00:1450::1", "", "public"},
      {"not-an-ip", "not_an_address", ""},
      {"", "not_an_address", ""},
  };
  for (const Case& c : cases) EXPECT_EQ(unsafe_reason(c.ip), c.want) << c.ip << " (" << c.rfc << ")";
}

TEST(TargetSafety, LiteralIp) {
  EXPECT_EQ(literal_ip("[192.0.2.1]"), "192.0.2.1");
  EXPECT_EQ(literal_ip("[IPv6:2001:db8::1]"), "2001:db8::1");
  EXPECT_EQ(literal_ip("example.org"), "");
}

TEST(Provider, Table) {
  struct Case {
    std::vector<std::string> mx;
    const char* registrable;
    const char* want;
  } cases[] = {
      {{"aspmx.l.google.com", "alt1.aspmx.l.google.com"}, "corp.com", "google"},
      {{"gmail-smtp-in.l.google.com"}, "gmail.com", "google"},
      {{"corp-com.mail.protection.outlook.com"}, "corp.com", "microsoft"},
      {{"hotmail-com.olc.protection.outlook.com"}, "hotmail.com", "microsoft"},
      {{"mta5.am0.yahoodns.net"}, "yahoo.com", "yahoo"},
      {{"mx.zoho.eu"}, "corp.eu", "zoho"},
      {{"mx0a-001.pphosted.com"}, "corp.com", "proofpoint"},
      {{"eu-smtp-inbound-1.mimecast.com"}, "corp.com", "mimecast"},
      {{"d1.ess.barracudanetworks.com"}, "corp.com", "barracuda"},
      {{"mx01.mail.icloud.com"}, "icloud.com", "icloud"},
      {{"in1-smtp.messagingengine.com"}, "fastmail.com", "fastmail"},
      {{"mx.yandex.net"}, "yandex.ru", "yandex"},
      {{"mxs.mail.ru"}, "mail.ru", "mailru"},
      {{"mx00.emig.gmx.net"}, "gmx.de", "gmx"},
      {{"mx-ha02.web.de"}, "web.de", "gmx"},
      {{"mail.protonmail.ch"}, "proton.me", "proton"},
      {{"mx.corp.com"}, "corp.com", "self_hosted"},
      {{"mail.other-isp.net"}, "corp.com", "unknown"},
      {{"notgoogle.com"}, "corp.com", "unknown"},  // suffix must end on a label boundary
      {{"mx.corp.com", "aspmx.l.google.com"}, "corp.com", "google"},
  };
  for (const Case& c : cases) EXPECT_EQ(identify_provider(c.mx, c.registrable), c.want) << c.mx[0];
}

TEST(Spf, Parsing) {
  struct Case {
    std::vector<std::string> txt;
    bool found;
    char all;
    bool multiple;
  } cases[] = {
      {{"v=spf1 -all"}, true, '-', false},                              // RFC 7208 §5.1
      {{"v=spf1 ip4:192.0.2.0/24 ~all"}, true, '~', false},
      {{"v=spf1 include:x ?all"}, true, '?', false},
      {{"v=spf1 mx all"}, true, '+', false},                             // no qualifier means '+'
      {{"v=spf1 mx +all"}, true, '+', false},
      {{"V=SPF1 MX -ALL"}, true, '-', false},
      {{"v=spf1 redirect=_spf.example.net"}, true, 0, false},
      {{"v=spf1"}, true, 0, false},
      {{"v=spf10 -all"}, false, 0, false},                               // RFC 7208 §4.5: "v=spf1" then SP or end
      {{"spf1 -all", "google-site-verification=x"}, false, 0, false},
      {{"v=spf1 -all", "v=spf1 ~all"}, true, '-', true},                 // RFC 7208 §4.5: permerror
      {{}, false, 0, false},
  };
  for (const Case& c : cases) {
    const auto s = find_spf(c.txt);
    ASSERT_EQ(s.has_value(), c.found) << (c.txt.empty() ? "" : c.txt[0]);
    if (!s) continue;
    EXPECT_EQ(s->all, c.all) << c.txt[0];
    EXPECT_EQ(s->multiple, c.multiple) << c.txt[0];
  }
}

TEST(Dmarc, Parsing) {
  struct Case {
    std::vector<std::string> txt;
    bool found;
    const char* policy;
  } cases[] = {
      {{"v=DMARC1; p=reject; rua=mailto:x@y"}, true, "reject"},          // RFC 7489 §6.3
      {{"v=DMARC1; p=none"}, true, "none"},
      {{"v=DMARC1;p=Quarantine"}, true, "quarantine"},
      {{"v = DMARC1 ; p = reject"}, true, "reject"},
      {{"v=DMARC1; rua=mailto:x@y"}, true, ""},
      {{"p=reject; v=DMARC1"}, false, ""},                               // RFC 7489 §6.4: v= comes first
      {{"v=spf1 -all"}, false, ""},
      {{"v=DMARC1; p=reject", "v=DMARC1; p=none"}, true, ""},           // RFC 7489 §6.6.3: several → none
  };
  for (const Case& c : cases) {
    const auto d = find_dmarc(c.txt);
    ASSERT_EQ(d.has_value(), c.found) << c.txt[0];
    if (d) {
      EXPECT_EQ(d->policy, c.policy) << c.txt[0];
      EXPECT_FALSE(d->inherited) << c.txt[0];
    }
  }
}

// RFC 7489 §6.3: sp= is the policy for subdomains; it applies only to an inherited record.
TEST(Dmarc, SubdomainPolicy) {
  struct Case {
    std::vector<std::string> txt;
    const char* p;
    const char* sp;
    const char* inherited_policy;
  } cases[] = {
      {{"v=DMARC1; p=none; sp=reject"}, "none", "reject", "reject"},
      {{"v=DMARC1; sp = Quarantine ;p=reject"}, "reject", "quarantine", "quarantine"},
      {{"v=DMARC1; p=quarantine"}, "quarantine", "", "quarantine"},     // no sp=: p= applies
      {{"v=DMARC1; sp=reject"}, "", "reject", "reject"},
      {{"v=DMARC1; p=none; sp=reject; sp=none"}, "none", "reject", "reject"},  // the first one counts
      {{"v=DMARC1; p=none; sp=reject", "v=DMARC1; p=reject"}, "", "", ""},   // several: none applies
  };
  for (const Case& c : cases) {
    auto d = find_dmarc(c.txt);
    ASSERT_TRUE(d) << c.txt[0];
    EXPECT_EQ(d->policy, c.p) << c.txt[0];
    EXPECT_EQ(d->subdomain_policy, c.sp) << c.txt[0];
    EXPECT_TRUE(d->domain.empty());
    inherit_dmarc(*d, "org.test");
    EXPECT_TRUE(d->inherited);
    EXPECT_EQ(d->domain, "org.test");
    EXPECT_EQ(d->policy, c.inherited_policy) << c.txt[0];
    EXPECT_EQ(d->subdomain_policy, c.sp) << c.txt[0];
  }
}

// decide_dns: written precedence, first match wins.
TEST(DecideDns, Precedence) {
  auto host = [](std::vector<std::string> ok, std::vector<std::string> refused, Status s) {
    MxHost h;
    h.host = "mx.test";
    h.addresses = std::move(ok);
    for (auto& r : refused) h.refused.push_back(Refused{r, "loopback"});
    h.status = s;
    return h;
  };
  struct Case {
    const char* name;
    DomainDns d;
    Reason want;
  };
  std::vector<Case> cases;
  {
    DomainDns d;
    d.error = Status::nxdomain;
    cases.push_back({"nxdomain", d, Reason::no_domain});
  }
  {
    DomainDns d;
    d.error = Status::timeout;
    cases.push_back({"timeout", d, Reason::dns_error});
  }
  {
    DomainDns d;
    d.null_mx = true;
    cases.push_back({"null mx", d, Reason::null_mx});
  }
  {
    DomainDns d;
    d.mx = {host({}, {}, Status::nxdomain), host({}, {}, Status::nodata)};
    cases.push_back({"no address anywhere", d, Reason::no_mail_server});
  }
  {
    DomainDns d;
    d.mx = {host({}, {}, Status::nxdomain), host({}, {}, Status::servfail)};
    cases.push_back({"one host unresolvable now", d, Reason::dns_error});
  }
  {
    DomainDns d;
    d.mx = {host({}, {"127.0.0.1"}, Status::ok)};
    cases.push_back({"all refused", d, Reason::unsafe_target});
  }
  {
    DomainDns d;
    d.mx = {host({}, {"127.0.0.1"}, Status::ok), host({"192.0.2.1"}, {}, Status::ok)};
    d.blocklists.push_back(BlocklistHit{"z", "127.0.0.2", ""});
    cases.push_back({"blocklisted", d, Reason::domain_blocklisted});
  }
  {
    DomainDns d;
    d.implicit_mx = true;
    d.mx = {host({"192.0.2.1"}, {}, Status::ok)};
    d.spf = Spf{"v=spf1 -all", '-', false};
    cases.push_back({"parked", d, Reason::parked_domain});
  }
  {
    DomainDns d;
    d.mx = {host({"192.0.2.1"}, {}, Status::ok)};
    d.spf = Spf{"v=spf1 -all", '-', false};
    cases.push_back({"explicit mx with -all is fine", d, Reason::mx_found});
  }
  for (Case& c : cases) {
    decide_dns(c.d);
    EXPECT_EQ(code(c.d.reason), code(c.want)) << c.name;
  }
}

}  // namespace
}  // namespace mailsift::dns
