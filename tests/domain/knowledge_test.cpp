// Domain knowledge: reserved names, public suffixes, disposable/free lists, roles, the cache.
#include "domain/knowledge.hpp"

#include <gtest/gtest.h>
#include <libpsl.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "domain/lists.hpp"
#include "test_knowledge.hpp"

namespace mailsift::domain {
namespace {

using testing::defaults;
using testing::options;

const Knowledge& extended() {
  static const Knowledge k(options([&](ListOptions& o) { o.extended_disposable = true; }));
  return k;
}

// A file in the test's temporary directory, removed at the end of the scope.
class TempFile {
 public:
  explicit TempFile(const std::string& content) {
    static int counter = 0;
    path_ = std::filesystem::temp_directory_path() /
            ("mailsift_domain_" + std::to_string(::getpid()) + "_" + std::to_string(counter++) + ".txt");
    std::ofstream(path_, std::ios::binary) << content;
  }
  ~TempFile() { std::filesystem::remove(path_); }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  [[nodiscard]] std::string path() const { return path_.string(); }

 private:
  std::filesystem::path path_;
};

// --- Reserved and special-use names -------------------------------------------------------------

struct ReservedCase {
  const char* domain;
  const char* rfc;
};

TEST(Reserved, SpecialUseNamesAndTheirSubdomains) {
  const ReservedCase cases[] = {
      {"example", "RFC 2606 §2"},
      {"foo.example", "RFC 2606 §2"},
      {"example.com", "RFC 2606 §3"},
      {"mail.example.com", "RFC 2606 §3"},
      {"example.net", "RFC 2606 §3"},
      {"a.b.example.org", "RFC 2606 §3"},
      {"test", "RFC 2606 §2, RFC 6761 §6.2"},
      {"qa.test", "RFC 6761 §6.2"},
      {"invalid", "RFC 6761 §6.4"},
      {"x.invalid", "RFC 6761 §6.4"},
      {"localhost", "RFC 6761 §6.3"},
      {"mail.localhost", "RFC 6761 §6.3"},
      {"local", "RFC 6762 §3"},
      {"printer.local", "RFC 6762 §3"},
      {"onion", "RFC 7686 §2"},
      {"duckduckgogg42xjoc72x3sjasowoarfbgcmvfimaftt6twagswzczad.onion", "RFC 7686 §2"},
      {"arpa", "RFC 3172"},
      {"1.0.0.127.in-addr.arpa", "RFC 3172"},
      {"router.home.arpa", "RFC 8375"},
      {"alt", "RFC 9476 §2"},
      {"gns.alt", "RFC 9476 §2"},
      {"internal", "ICANN 2024.07.29.06"},
      {"corp.internal", "ICANN 2024.07.29.06"},
      {"MAIL.Example.COM", "RFC 2606 §3, upper case input"},
  };
  for (const auto& c : cases) {
    const DomainFacts f = defaults().lookup(c.domain);
    EXPECT_EQ(f.reason, Reason::reserved_domain) << c.domain << " (" << c.rfc << "): got " << code(f.reason);
    EXPECT_FALSE(f.disposable) << c.domain;
    EXPECT_TRUE(f.suggestion.empty()) << c.domain << " got suggestion " << f.suggestion;
  }
}

TEST(Reserved, LookAlikesAreOrdinaryDomains) {
  // Only the exact labels are reserved: RFC 2606 reserves example.com, not example.co.uk.
  for (const char* d : {"test.com", "testing.org", "myexample.com", "example.com.au", "localhost.net", "onion.io",
                        "local.ch", "alt.de", "internal.ai", "arpa.org", "notexample.com"}) {
    const DomainFacts f = defaults().lookup(d);
    EXPECT_EQ(f.reason, Reason::well_formed) << d << ": got " << code(f.reason);
  }
}

TEST(Reserved, ComesBeforeUnknownTld) {
  // "test" and "localhost" are not in the public suffix list either; the precise reason wins.
  EXPECT_EQ(defaults().lookup("foo.test").reason, Reason::reserved_domain);
  EXPECT_EQ(defaults().lookup("foo.localhost").reason, Reason::reserved_domain);
}

TEST(Reserved, ReportsRegistrableDomain) {
  EXPECT_EQ(defaults().lookup("mail.example.com").registrable, "example.com");
}

// --- Public suffix list ---------------------------------------------------------------------------

TEST(PublicSuffix, UnknownTld) {
  for (const char* d : {"foo.invalidtld123", "a.notatld", "gmail.con", "x.y.cmo"}) {
    const DomainFacts f = defaults().lookup(d);
    EXPECT_EQ(f.reason, Reason::unknown_tld) << d;
    EXPECT_EQ(f.registrable, "") << d << ": the implicit '*' rule must not invent a registrable domain";
  }
}

TEST(PublicSuffix, ExistingTlds) {
  // gTLD, ccTLD, a 2014+ gTLD, and an IDN ccTLD as A-label (.рф).
  for (const char* d : {"gmail.com", "web.de", "foo.app", "bar.dev", "xn--80aswg.xn--p1ai", "x.co", "x.cm"}) {
    EXPECT_EQ(defaults().lookup(d).reason, Reason::well_formed) << d;
  }
}

TEST(PublicSuffix, RegistrableDomain) {
  const std::pair<const char*, const char*> cases[] = {
      {"a.b.bbc.co.uk", "bbc.co.uk"},
      {"mail.google.com", "google.com"},
      {"gmail.com", "gmail.com"},
      {"someone.github.io", "someone.github.io"},  // private section: github.io is a suffix
      {"xn--80aswg.xn--p1ai", "xn--80aswg.xn--p1ai"},
      {"co.uk", ""},  // a bare public suffix has no registrable domain
  };
  for (const auto& [domain, want] : cases) {
    EXPECT_EQ(defaults().lookup(domain).registrable, want) << domain;
  }
}

// Knowledge remembers libpsl's answers for parents (issue 15): the registrable domain must still be
// exactly psl_registrable_domain's, whatever was looked up before on the thread. Tricky rules:
// exceptions (!city.kawasaki.jp), wildcards (*.ck, *.compute.amazonaws.com), a rule under a
// non-rule ("forgot.his.name" with "name"), private-section suffixes, IDN suffixes.
TEST(PublicSuffix, RegistrableDomainAsLibpsl) {
  const std::unique_ptr<psl_ctx_t, void (*)(psl_ctx_t*)> psl(psl_latest(nullptr), psl_free);
  ASSERT_NE(psl, nullptr);
  const std::vector<std::string> bases = {"forgot.his.name",
                                          "city.kawasaki.jp",
                                          "www.ck",
                                          "x.compute.amazonaws.com",
                                          "s3.amazonaws.com",
                                          "someone.github.io",
                                          "bbc.co.uk",
                                          "example.com",
                                          "blogspot.com",
                                          "x.blogspot.co.uk",
                                          "xn--80aswg.xn--p1ai",
                                          "a.b.xn--fiqs8s",
                                          "k12.ak.us",
                                          "pvt.k12.ma.us",
                                          "gov.uk",
                                          "sch.uk",
                                          "kyoto.jp",
                                          "nom.br",
                                          "uk.com"};
  std::vector<std::string> domains;
  for (const std::string& b : bases) {
    for (const char* prefix : {"", "a.", "mail.a.", "x.y.mail.a."}) {
      std::string d = std::string(prefix) + b;
      // Every suffix too, so parents are met both before and after their children.
      for (std::string_view v = d;; v.remove_prefix(v.find('.') + 1)) {
        domains.emplace_back(v);
        if (v.find('.') == std::string_view::npos) break;
      }
    }
  }
  const Knowledge k;
  for (int round = 0; round < 2; ++round) {
    for (const std::string& d : domains) {
      const DomainFacts f = k.lookup(d);
      if (f.reason == Reason::unknown_tld) continue;  // not reported: the implicit '*' rule's answer
      const char* want = psl_registrable_domain(psl.get(), d.c_str());
      EXPECT_EQ(f.registrable, want != nullptr ? std::string(want) : std::string()) << d << " round " << round;
    }
    std::reverse(domains.begin(), domains.end());
  }
}

// --- Disposable -----------------------------------------------------------------------------------

TEST(Disposable, CuratedBlocklist) {
  EXPECT_TRUE(defaults().lookup("mailinator.com").disposable);
  EXPECT_TRUE(defaults().lookup("guerrillamail.com").disposable);
  EXPECT_FALSE(defaults().lookup("gmail.com").disposable);
  EXPECT_FALSE(defaults().lookup("acme.com").disposable);
}

TEST(Disposable, SubdomainOfDisposableIsDisposable) {
  EXPECT_TRUE(defaults().lookup("inbox.guerrillamail.com").disposable);
  EXPECT_TRUE(defaults().lookup("a.b.c.guerrillamail.com").disposable);
  // Entries match as parent domains only, never as a substring elsewhere in the name.
  EXPECT_FALSE(defaults().lookup("guerrillamail.com.example.co.uk").disposable);
}

TEST(Disposable, ParentWalkStopsAtTheRegistrableDomain) {
  // The blocklist has "0-mailer.dynv6.net"; dynv6.net is a public suffix (private section), so its
  // other registrants are unrelated.
  EXPECT_TRUE(defaults().lookup("0-mailer.dynv6.net").disposable);
  EXPECT_TRUE(defaults().lookup("x.0-mailer.dynv6.net").disposable);
  EXPECT_FALSE(defaults().lookup("myhome.dynv6.net").disposable);
  // A run-time entry that is a bare public suffix only matches itself.
  const Knowledge k(options([&](ListOptions& o) {
    o.builtin = false;
    o.disposable_domains = {"github.io"};
  }));
  EXPECT_FALSE(k.lookup("someone.github.io").disposable);
  EXPECT_TRUE(k.lookup("github.io").disposable);
}

TEST(Disposable, WildcardMatchesDomainAndEverySubdomain) {
  // 33mail.com is only in the wildcard list, not in the curated blocklist.
  EXPECT_TRUE(defaults().lookup("33mail.com").disposable);
  EXPECT_TRUE(defaults().lookup("john.33mail.com").disposable);
  EXPECT_TRUE(defaults().lookup("a.b.33mail.com").disposable);
  EXPECT_FALSE(defaults().lookup("33mail.co").disposable);
}

TEST(Disposable, ExtendedListsOnlyWhenAskedFor) {
  // 0-180.com: only in disposable_extended; 0-attorney.com: only in disposable_mailchecker.
  for (const char* d : {"0-180.com", "0-attorney.com", "x.0-180.com"}) {
    EXPECT_FALSE(defaults().lookup(d).disposable) << d;
    EXPECT_TRUE(extended().lookup(d).disposable) << d;
  }
}

TEST(Disposable, ExtendedUlabelEntriesAreConvertedToAlabels) {
  // The extended list writes "lándwirt.com"; parsed addresses carry the A-label.
  ASSERT_EQ(lists::to_a_label("lándwirt.com").value_or(""), "xn--lndwirt-hwa.com");
  EXPECT_TRUE(extended().lookup("xn--lndwirt-hwa.com").disposable);
  EXPECT_FALSE(defaults().lookup("xn--lndwirt-hwa.com").disposable);
  // Entries libidn2 rejects are skipped: invalid UTF-8, a bare ZWJ (RFC 5892 CONTEXTJ), U+2488.
  EXPECT_FALSE(lists::to_a_label("\xff.com").has_value());
  EXPECT_FALSE(lists::to_a_label("a\xe2\x80\x8d"
                                 "b.com")
                   .has_value());
  EXPECT_FALSE(lists::to_a_label("\xe2\x92\x88.com").has_value());
}

TEST(Disposable, BuiltinAllowlistVetoesExtendedLists) {
  // antichef.com and kennedy808.com are in the extended list but on the upstream allowlist.
  for (const char* d : {"antichef.com", "kennedy808.com", "mail.antichef.com"}) {
    EXPECT_FALSE(extended().lookup(d).disposable) << d;
  }
}

TEST(Disposable, AllowDomainsVeto) {
  const Knowledge k(options([&](ListOptions& o) { o.allow_domains = {"Mailinator.com", "33mail.com"}; }));
  EXPECT_FALSE(k.lookup("mailinator.com").disposable);
  EXPECT_FALSE(k.lookup("sub.mailinator.com").disposable);
  EXPECT_FALSE(k.lookup("john.33mail.com").disposable);  // the allowlist also wins over wildcards
  EXPECT_TRUE(k.lookup("guerrillamail.com").disposable);
}

TEST(Disposable, AllowFileVeto) {
  const TempFile f("# domains we trust\n\n  GuerrillaMail.COM  \r\nsharklasers.com\n");
  const Knowledge k(options([&](ListOptions& o) { o.allow_files = {f.path()}; }));
  EXPECT_FALSE(k.lookup("guerrillamail.com").disposable);
  EXPECT_FALSE(k.lookup("sharklasers.com").disposable);
  EXPECT_TRUE(k.lookup("mailinator.com").disposable);
}

TEST(Disposable, RunTimeDomainsAndFiles) {
  const TempFile f("burner.io\n#comment.io\nBurner2.IO.\n");
  const Knowledge k(options([&](ListOptions& o) {
    o.disposable_files = {f.path()};
    o.disposable_domains = {"throwaway.acme-corp.com"};
  }));
  EXPECT_TRUE(k.lookup("burner.io").disposable);
  EXPECT_TRUE(k.lookup("x.burner.io").disposable);
  EXPECT_TRUE(k.lookup("burner2.io").disposable);  // lower-cased, root dot dropped
  EXPECT_FALSE(k.lookup("comment.io").disposable);
  EXPECT_TRUE(k.lookup("throwaway.acme-corp.com").disposable);
  EXPECT_TRUE(k.lookup("a.throwaway.acme-corp.com").disposable);
  EXPECT_FALSE(k.lookup("acme-corp.com").disposable);
  EXPECT_TRUE(k.lookup("mailinator.com").disposable);  // built-in lists still apply
}

TEST(Disposable, BuiltinFalseUsesOnlyTheOptions) {
  const Knowledge k(options([&](ListOptions& o) {
    o.builtin = false;
    o.disposable_domains = {"burner.io"};
  }));
  EXPECT_FALSE(k.lookup("mailinator.com").disposable);
  EXPECT_TRUE(k.lookup("burner.io").disposable);
  EXPECT_FALSE(k.lookup("gmail.com").free);
  EXPECT_FALSE(k.is_role("info"));
  // Reserved names and the public suffix list do not depend on the lists.
  EXPECT_EQ(k.lookup("example.com").reason, Reason::reserved_domain);
  EXPECT_EQ(k.lookup("a.notatld").reason, Reason::unknown_tld);
}

TEST(ListFiles, UnreadableFileThrowsWithItsName) {
  const auto message = [](const ListOptions& opt) -> std::string {
    try {
      const Knowledge k(opt);
    } catch (const std::runtime_error& e) {
      return e.what();
    }
    return "no exception";
  };
  EXPECT_EQ(message(options([&](ListOptions& o) { o.disposable_files = {"/nonexistent/dir/list.txt"}; })),
            "cannot read disposable list /nonexistent/dir/list.txt: No such file or directory");
  EXPECT_EQ(message(options([&](ListOptions& o) { o.allow_files = {"/nonexistent/allow.txt"}; })),
            "cannot read allow list /nonexistent/allow.txt: No such file or directory");
  const std::string dir = std::filesystem::temp_directory_path().string();
  EXPECT_EQ(message(options([&](ListOptions& o) { o.role_files = {dir}; })),
            "cannot read role list " + dir + ": Is a directory");
}

// --- Free providers ---------------------------------------------------------------------------------

TEST(Free, ProvidersAreFreeNotDisposable) {
  for (const char* d : {"gmail.com", "yahoo.co.uk", "gmx.de", "web.de", "hey.com", "tutanota.com", "qq.com"}) {
    const DomainFacts f = defaults().lookup(d);
    EXPECT_TRUE(f.free) << d;
    EXPECT_FALSE(f.disposable) << d;
    EXPECT_TRUE(f.suggestion.empty()) << d << " -> " << f.suggestion;
  }
}

TEST(Free, NotFree) {
  for (const char* d : {"acme.com", "mailinator.com", "mail.gmail.com", "gmial.com"}) {
    EXPECT_FALSE(defaults().lookup(d).free) << d;
  }
}

TEST(Free, BothWhenListedInBoth) {
  // 33mail.com is a free-provider entry and a wildcard disposable entry: both are reported.
  const DomainFacts f = defaults().lookup("33mail.com");
  EXPECT_TRUE(f.free);
  EXPECT_TRUE(f.disposable);
}

TEST(Free, RunTimeFile) {
  const TempFile f("MyIsp.net\n");
  const Knowledge k(options([&](ListOptions& o) { o.free_files = {f.path()}; }));
  EXPECT_TRUE(k.lookup("myisp.net").free);
  EXPECT_FALSE(defaults().lookup("myisp.net").free);
}

// --- Roles ----------------------------------------------------------------------------------------

TEST(Role, KnownRoles) {
  for (const char* l : {"info", "Sales", "SALES", "postmaster", "postmaster+x", "abuse", "noreply", "support+eu+1"}) {
    EXPECT_TRUE(defaults().is_role(l)) << l;
  }
}

TEST(Role, NotRoles) {
  // All-digit entries of the upstream list (123, 2015 ...) are skipped: personal accounts.
  for (const char* l : {"john", "john.smith", "", "+info", "123", "2015", "info.smith", "infos_x"}) {
    EXPECT_FALSE(defaults().is_role(l)) << l;
  }
  EXPECT_FALSE(defaults().is_role(std::string(65, 'a')));
}

TEST(Role, RunTimeFile) {
  const TempFile f("# our shared mailboxes\nHelpdesk-EU\n");
  const Knowledge k(options([&](ListOptions& o) { o.role_files = {f.path()}; }));
  EXPECT_TRUE(k.is_role("helpdesk-eu"));
  EXPECT_TRUE(k.is_role("HELPDESK-EU+ticket42"));
  EXPECT_TRUE(k.is_role("info"));
  EXPECT_FALSE(defaults().is_role("helpdesk-eu"));
}

// --- Cache ----------------------------------------------------------------------------------------

TEST(FactsCache, AnswersAsKnowledge) {
  const Knowledge& k = defaults();
  FactsCache cache(k);
  for (int pass = 0; pass < 2; ++pass) {  // a miss, then a hit
    for (std::string_view d : {"mailinator.com", "gmail.com", "gmial.com", "x.example.com", "shop.acme.co.uk",
                               "foo.notatld", "xn--mnchen-3ya.de",
                               // longer than a slot holds; not lower-case (registrable not a suffix)
                               "mail.a-rather-long-company-name.example.co.uk", "Shop.ACME.co.uk",
                               "a-rather-long-company-name.gmial.com"}) {
      const DomainFacts want = k.lookup(d);
      const FactsView got = cache.get(d);
      EXPECT_EQ(got.reason, want.reason) << d;
      EXPECT_EQ(got.disposable, want.disposable) << d;
      EXPECT_EQ(got.free, want.free) << d;
      EXPECT_EQ(got.registrable, want.registrable) << d;
      EXPECT_EQ(got.suggestion, want.suggestion) << d;
    }
  }
  EXPECT_TRUE(cache.get("mailinator.com").disposable);
  EXPECT_EQ(cache.get("gmial.com").suggestion, "gmail.com");
}

TEST(FactsCache, StartsOverWhenFull) {
  FactsCache cache(defaults(), 2);
  EXPECT_EQ(cache.get("a.com").registrable, "a.com");
  EXPECT_EQ(cache.get("b.com").registrable, "b.com");
  EXPECT_EQ(cache.get("a.com").registrable, "a.com");
  EXPECT_EQ(cache.get("c.com").registrable, "c.com");  // full: started over before c was added
  EXPECT_EQ(cache.get("a.com").registrable, "a.com");
  EXPECT_EQ(cache.get("b.com").registrable, "b.com");
  // Many more domains than entries: every answer is still the domain's own.
  for (int i = 0; i < 1000; ++i) {
    const std::string d = "d" + std::to_string(i) + ".org";
    EXPECT_EQ(cache.get(d).registrable, d);
  }
}

TEST(FactsCache, OverlongKeyIsAnsweredUncached) {
  FactsCache cache(defaults());
  const std::string long_domain = std::string(2000, 'a') + ".com";
  EXPECT_EQ(cache.get(long_domain).reason, defaults().lookup(long_domain).reason);
  EXPECT_EQ(cache.get("gmail.com").registrable, "gmail.com");
}

}  // namespace
}  // namespace mailsift::domain
