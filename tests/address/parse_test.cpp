// Address syntax rules, one table per RFC section they pin. "got X, want Y" on failure.
#include <gtest/gtest.h>
#include <idn2.h>

#include <string>
#include <thread>
#include <vector>

#include "address/address.hpp"

namespace mailsift::address {
namespace {

struct Case {
  std::string input;
  Reason want;
  std::string normalized = {};  // checked when want == well_formed and non-empty
};

void run_table(const std::vector<Case>& cases) {
  for (const Case& c : cases) {
    Address a;
    const Reason got = parse(c.input, a);
    EXPECT_EQ(code(got), code(c.want)) << "input: " << c.input;
    if (got == Reason::well_formed && !c.normalized.empty()) {
      EXPECT_EQ(a.normalized(), c.normalized) << "input: " << c.input;
    }
  }
}

using enum Reason;

// RFC 5321 §4.1.2: Mailbox = Local-part "@" ( Domain / address-literal ); Dot-string.
TEST(AddressRfc5321_4_1_2, DotStringLocalParts) {
  run_table({
      {"john@gmail.com", well_formed, "john@gmail.com"},
      {"John.Doe@Gmail.COM", well_formed, "John.Doe@gmail.com"},  // local case kept, domain lowered
      {"a+tag@x.org", well_formed},
      {"!#$%&'*+-/=?^_`{|}~@x.org", well_formed},
      {".john@x.org", syntax_leading_dot},
      {"john.@x.org", syntax_trailing_dot},
      {"jo..hn@x.org", syntax_consecutive_dots},
      {"jo,hn@x.org", syntax_invalid_character},
      {"jo;hn@x.org", syntax_invalid_character},
      {"jo[hn@x.org", syntax_invalid_character},
      {"jo\\hn@x.org", syntax_invalid_character},
      {"jo hn@x.org", syntax_whitespace},
      {"@x.org", syntax_empty_local},
      {"john@", syntax_empty_domain},
      {"john", syntax_missing_at},
      {"", syntax_empty},
      {"a@b@x.org", syntax_multiple_at},
  });
}

// RFC 5321 §4.1.2 Quoted-string / QcontentSMTP / quoted-pairSMTP.
TEST(AddressRfc5321_4_1_2, QuotedLocalParts) {
  run_table({
      {"\"john doe\"@x.org", well_formed, "\"john doe\"@x.org"},
      {"\"john.doe\"@x.org", well_formed, "john.doe@x.org"},  // needless quotes dropped on the wire
      {"\"a@b\"@x.org", well_formed, "\"a@b\"@x.org"},
      {"\"a\\\"b\"@x.org", well_formed, "\"a\\\"b\"@x.org"},
      {"\"a\\b\"@x.org", well_formed, "ab@x.org"},  // needless escape dropped
      {"\"\"@x.org", well_formed, "\"\"@x.org"},
      // Issue 13 class 7: normalized() is what goes in RCPT TO:<...> (RFC 5321 Mailbox). A local
      // part that is not a Dot-string is sent as a Quoted-string, '"' and '\\' escaped, nothing
      // else: space, '@', '<', '>' and ',' are plain qtextSMTP inside the quotes.
      {"\"a<b>\"@x.org", well_formed, "\"a<b>\"@x.org"},
      {"\"a\\\\b\"@x.org", well_formed, "\"a\\\\b\"@x.org"},
      {"\"a,b\"@x.org", well_formed, "\"a,b\"@x.org"},
      {"\"x> NOTIFY=NEVER\"@x.org", well_formed, "\"x> NOTIFY=NEVER\"@x.org"},
      {"\".john\"@x.org", well_formed, "\".john\"@x.org"},                      // not a Dot-string: stays quoted
      {"\"jos\xC3\xA9 doe\"@x.org", well_formed, "\"jos\xC3\xA9 doe\"@x.org"},  // RFC 6531 qtext
      {"\"john@x.org", syntax_unterminated_quote},
      {"\"john\"doe@x.org", syntax_bad_quoted_string},
      {"john\"doe\"@x.org", syntax_bad_quoted_string},
  });
  Address a;
  ASSERT_EQ(parse("\"john doe\"@x.org", a), well_formed);
  EXPECT_TRUE(a.quoted_local);
  ASSERT_EQ(parse("john@x.org", a), well_formed);
  EXPECT_FALSE(a.quoted_local);
}

// RFC 5321 §4.1.3 address literals.
TEST(AddressRfc5321_4_1_3, AddressLiterals) {
  run_table({
      {"a@[192.0.2.1]", well_formed, "a@[192.0.2.1]"},
      {"a@[IPv6:2001:DB8::1]", well_formed, "a@[IPv6:2001:db8::1]"},
      {"a@[ipv6:2001:db8::1]", well_formed, "a@[IPv6:2001:db8::1]"},
      {"a@[IPv6:::ffff:192.0.2.1]", well_formed},
      {"a@[256.0.0.1]", syntax_bad_address_literal},
      {"a@[192.0.2]", syntax_bad_address_literal},
      {"a@[192.0.2.1.5]", syntax_bad_address_literal},
      {"a@[2001:db8::1]", syntax_bad_address_literal},  // IPv6 needs its tag
      {"a@[IPv6:2001:db8::g]", syntax_bad_address_literal},
      {"a@[x:foo]", syntax_bad_address_literal},
      {"a@[192.0.2.1", syntax_bad_address_literal},
  });
  Address a;
  ASSERT_EQ(parse("a@[192.0.2.1]", a), well_formed);
  EXPECT_EQ(a.literal, Literal::ipv4);
  ASSERT_EQ(parse("a@[IPv6:2001:db8::1]", a), well_formed);
  EXPECT_EQ(a.literal, Literal::ipv6);
}

// RFC 1034 §3.5 LDH labels; RFC 3696 §2 (TLD not all-numeric); at least two labels.
TEST(AddressRfc1034_3_5, DomainLabels) {
  run_table({
      {"a@sub.x-y.org", well_formed},
      {"a@x.org.", syntax_domain_trailing_dot},
      {"a@.x.org", syntax_domain_leading_dot},
      {"a@x..org", syntax_consecutive_dots},
      {"a@-x.org", syntax_label_hyphen},
      {"a@x-.org", syntax_label_hyphen},
      {"a@x_y.org", syntax_invalid_domain_character},
      {"a@x y.org", syntax_whitespace},
      {"a@localhost", syntax_single_label_domain},
      {"a@x.123", syntax_numeric_tld},
      {"a@192.168.0.1", syntax_numeric_tld},
      {"a@x.c0m", well_formed},  // syntax only: whether the TLD exists is domain knowledge
  });
}

// RFC 5890 §2.3.1 / RFC 5891 §4.2.3.1: "--" in positions 3-4 is a reserved LDH label; of those
// only valid A-labels ("xn--", else bad_idn) may be used. Hyphens elsewhere are plain LDH.
TEST(AddressRfc5890_2_3_1, ReservedLdhLabels) {
  run_table({
      {"a@ab--cd.example.com", syntax_reserved_label},
      {"a@AB--CD.example.com", syntax_reserved_label},
      {"a@mail.ab--cd.com", syntax_reserved_label},
      {"a@example.ab--cd", syntax_reserved_label},  // the TLD too
      {"a@x.ab--", syntax_label_hyphen},            // a trailing hyphen says more
      {"a@xn--zz.de", syntax_bad_idn},              // an XN-label that is no A-label
      {"a@xn--bcher-kva.de", well_formed, "a@xn--bcher-kva.de"},
      {"a@a--b.example.com", well_formed},    // "--" in positions 2-3
      {"a@abc--d.example.com", well_formed},  // positions 4-5
      {"a@ab-cd.example.com", well_formed},
      {"a@ab---cd.example.com", syntax_reserved_label},
      {"ab--cd@example.com", well_formed},  // the local part is not a host name
      // U-label domains: libidn2 refuses a "--" label in the domain, given or after UTS #46 mapping.
      {"a@ab--cd.\xC3\xA9t\xC3\xA9.de", syntax_reserved_label},  // ab--cd.été.de
      {"a@ab--c\xC3\xA9.de", syntax_reserved_label},
      {"a@\xEF\xBD\x81\xEF\xBD\x82--\xEF\xBD\x83\xEF\xBD\x84.com", syntax_reserved_label},  // full-width "ab--cd"
      {"a@\xC3\xA9--x.example.com", well_formed, "a@xn----x-9la.example.com"},              // U-label "é--x"
  });
}

// RFC 5321 §4.5.3.1.1-3 and RFC 3696 erratum 1690: 64 / 253 / 63 / 254 octets.
TEST(AddressRfc5321_4_5_3_1, Lengths) {
  const std::string l64(64, 'a');
  const std::string label63(63, 'b');
  const std::string d253 = label63 + "." + label63 + "." + label63 + "." + std::string(61, 'c');
  ASSERT_EQ(d253.size(), 253u);
  run_table({
      {l64 + "@x.org", well_formed},
      {l64 + "a@x.org", syntax_local_too_long},
      {"a@" + label63 + ".org", well_formed},
      {"a@" + label63 + "b.org", syntax_label_too_long},
      {"a@" + d253 + "c", syntax_domain_too_long},
      {l64 + "@" + std::string(63, 'x') + "." + std::string(63, 'y') + "." + std::string(57, 'z') + ".org",
       well_formed},  // exactly 254
      {l64 + "@" + std::string(63, 'x') + "." + std::string(63, 'y') + "." + std::string(58, 'z') + ".org",
       syntax_address_too_long},
      {std::string(5000, 'a') + "@x.org", syntax_address_too_long},
  });
}

TEST(AddressRfc5321_4_5_3_1, PathLimitCountsWhatIsSent) {
  // "a@" + 253 = 255 octets: over the 254 limit even though each part is in range.
  const std::string label63(63, 'b');
  const std::string d253 = label63 + "." + label63 + "." + label63 + "." + std::string(61, 'c');
  Address a;
  EXPECT_EQ(code(parse("a@" + d253, a)), code(syntax_address_too_long));
  EXPECT_EQ(code(parse("a@" + d253.substr(1), a)), code(well_formed));
  // A quoted local part that is really a dot-string is measured without its quotes.
  EXPECT_EQ(code(parse("\"" + std::string(64, 'a') + "\"@x.org", a)), code(well_formed));
}

// Control characters must never reach an SMTP command, quoted or not (RFC 5321 §4.1.2 excludes
// them from qtextSMTP; CR/LF would inject commands).
TEST(AddressSafety, ControlCharacters) {
  run_table({
      {std::string("a\r\nRCPT TO:<b@x.org>@x.org"), syntax_control_character},
      {std::string("a@x.org\r\nDATA"), syntax_control_character},
      {std::string("a\0b@x.org", 9), syntax_control_character},
      {"\"a\rb\"@x.org", syntax_control_character},
      {"a\x7f@x.org", syntax_control_character},
      {"a\tb@x.org", syntax_whitespace},
      {"a\xc2\x85@x.org", syntax_control_character},  // U+0085 NEL, a C1 control
  });
}

// RFC 6531 §3.3: UTF-8 in local parts; unsafe code points refused.
TEST(AddressRfc6531_3_3, Utf8LocalParts) {
  Address a;
  ASSERT_EQ(parse("jos\xC3\xA9@x.org", a), well_formed);
  EXPECT_TRUE(a.smtputf8);
  ASSERT_EQ(parse("jose@x.org", a), well_formed);
  EXPECT_FALSE(a.smtputf8);
  // Checks run on the NFC form: U+037E GREEK QUESTION MARK normalizes to ';' (found by the fuzzer),
  // and U+212A KELVIN SIGN to 'K', which makes a quoted local part a plain dot-string.
  EXPECT_EQ(code(parse("me.\xCD\xBE@x.org", a)), code(syntax_invalid_character));
  ASSERT_EQ(parse("\"\xE2\x84\xAA\"@x.org", a), well_formed);
  EXPECT_EQ(a.normalized(), "K@x.org");
  // NFC: "e" + U+0301 COMBINING ACUTE becomes U+00E9.
  ASSERT_EQ(parse("jose\xCC\x81@x.org", a), well_formed);
  EXPECT_EQ(a.local(), "jos\xC3\xA9");
  run_table({
      {"\xE7\x94\xA8\xE6\x88\xB7@x.org", well_formed},               // 用户
      {"a\xE2\x80\xAE" "b@x.org", syntax_unsafe_unicode},             // U+202E RIGHT-TO-LEFT OVERRIDE
      {"a\xE2\x80\x8B" "b@x.org", syntax_unsafe_unicode},             // U+200B ZERO WIDTH SPACE
      {"a\xEE\x80\x80" "b@x.org", syntax_unsafe_unicode},             // U+E000 private use
      {"a\xF3\xA0\x80\x80" "b@x.org", syntax_unsafe_unicode},         // U+E0000 unassigned
      {"\xCC\x81" "a@x.org", syntax_unsafe_unicode},                  // starts with a combining mark
      {"a\xC2\xA0" "b@x.org", syntax_whitespace},                     // U+00A0 NO-BREAK SPACE
      {"a\xE3\x80\x80" "b@x.org", syntax_whitespace},                 // U+3000 IDEOGRAPHIC SPACE
      {"a\xC3@x.org", syntax_invalid_utf8},                           // truncated sequence
      {"a\xC0\xAF@x.org", syntax_invalid_utf8},                       // overlong '/'
      {"a\xED\xA0\x80@x.org", syntax_invalid_utf8},                   // surrogate
      {"a\xFF@x.org", syntax_invalid_utf8},
  });
}

// IDNA2008 + UTS #46 (RFC 5891, UTS #46 §4): U-labels become A-labels; invalid IDNs refused.
TEST(AddressIdna2008, Domains) {
  run_table({
      {"a@b\xC3\xBC" "cher.de", well_formed, "a@xn--bcher-kva.de"},     // bücher.de
      {"a@B\xC3\x9C" "CHER.DE", well_formed, "a@xn--bcher-kva.de"},     // UTS #46 maps case
      {"a@xn--bcher-kva.de", well_formed, "a@xn--bcher-kva.de"},
      {"a@XN--BCHER-KVA.DE", well_formed, "a@xn--bcher-kva.de"},
      {"a@\xE4\xBE\x8B\xE5\xAD\x90.\xE4\xB8\xAD\xE5\x9B\xBD", well_formed},  // 例子.中国
      {"a@b\xC3\xBC" "cher\xE3\x80\x82" "de", well_formed, "a@xn--bcher-kva.de"},  // U+3002 as dot
      {"a@xn--zz.de", syntax_bad_idn},                                  // bad punycode
      {"a@xn--a.de", syntax_bad_idn},
      {"a@b\xE2\x80\xAE" "c.de", syntax_bad_idn},                       // bidi control in a domain
      {"a@\xE2\x98\x83.de", syntax_bad_idn},                            // U+2603 SNOWMAN: not in IDNA2008
  });
}

// parse() remembers IDN conversions per thread (libidn2 is slow): an answer from that cache must be
// the answer libidn2 gives, for U-labels and A-labels, valid and not, for keys and answers too long
// to be kept, and after the cache was emptied or overwritten by 40,000 other domains (more than
// its slots, so every slot is reused).
TEST(AddressIdna2008, CachedAnswersAreLibidn2s) {
  std::string long_u;  // a U-label domain longer than the cache keeps (66 octets: 33 x "ü")
  for (int i = 0; i < 33; ++i) long_u += "\xC3\xBC";
  const std::vector<std::string> inputs = {
      "a@b\xC3\xBC" "cher.de", "a@B\xC3\x9C" "CHER.DE", "a@xn--bcher-kva.de", "a@xn--zz.de",
      "a@\xE2\x98\x83.de", "a@" + long_u + ".de", "a@\xE4\xBE\x8B\xE5\xAD\x90.\xE4\xB8\xAD\xE5\x9B\xBD"};
  auto answers = [&] {
    std::vector<std::string> out;
    for (const std::string& in : inputs) {
      Address a;
      const Reason r = parse(in, a);
      out.push_back(std::string(code(r)) + " " + (r == Reason::well_formed ? std::string(a.normalized()) : ""));
    }
    return out;
  };
  forget_idn_cache();
  const std::vector<std::string> uncached = answers();
  EXPECT_EQ(uncached[0], "well_formed a@xn--bcher-kva.de");
  EXPECT_EQ(uncached[3], std::string(code(syntax_bad_idn)) + " ");
  EXPECT_TRUE(uncached[5].starts_with("well_formed a@xn--")) << uncached[5];
  EXPECT_EQ(answers(), uncached);  // from the cache
  Address a;
  for (int i = 0; i < 40000; ++i) (void)parse("x@d\xC3\xBC" + std::to_string(i) + ".de", a);
  EXPECT_EQ(answers(), uncached);  // their slots taken by others meanwhile
  forget_idn_cache();
  EXPECT_EQ(answers(), uncached);
}

// The process-wide cache of IDN conversions, filled by several threads at once, answers each of
// them as libidn2 does (ThreadSanitizer runs this: scripts/test.sh).
TEST(AddressIdna2008, ThreadsShareCachedAnswers) {
  std::vector<std::string> inputs;
  for (int i = 0; i < 1500; ++i) {
    inputs.push_back("u@m\xC3\xBC" "nchen" + std::to_string(i) + ".de");  // münchenN.de
    if (i % 10 == 0) inputs.push_back("u@xn--mnchen" + std::to_string(i) + "-xyz.de");  // A-labels, some bad
  }
  inputs.push_back("u@\xE2\x98\x83.de");  // U+2603: bad
  auto answer = [](const std::string& in) {
    Address a;
    const Reason r = parse(in, a);
    return std::string(code(r)) + " " + (r == Reason::well_formed ? std::string(a.normalized()) : "");
  };
  forget_idn_cache();
  std::vector<std::string> want;
  for (const std::string& in : inputs) want.push_back(answer(in));  // libidn2's, cached by this thread
  forget_idn_cache();  // the workers below fill the shared cache themselves
  constexpr int kThreads = 4;
  std::vector<int> wrong(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int pass = 0; pass < 2; ++pass) {
        for (std::size_t k = 0; k < inputs.size(); ++k) {
          const std::size_t i = (k * 7 + static_cast<std::size_t>(t) * 131) % inputs.size();  // own order
          if (answer(inputs[i]) != want[i]) ++wrong[static_cast<std::size_t>(t)];
        }
      }
    });
  }
  for (std::thread& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(wrong[static_cast<std::size_t>(t)], 0) << "thread " << t;
  EXPECT_EQ(want[0], "well_formed u@xn--mnchen0-n2a.de");  // Python: "münchen0.de".encode("idna")
}

// A U-label domain's A-label form from libidn2 is checked again for typed XN-labels ("xn--" typed
// as such, which libidn2 did not make from a U-label) only when the input holds two code points
// that UTS #46 maps to '-': detail::may_hold_given_alabel. That rests on libidn2's table having no
// other such code point than U+002D, U+FE63 and U+FF0D; every code point is tried here, so a
// libidn2 with another one fails this test rather than let a typed XN-label skip the check. The
// code point sits inside a label ("abc" CP "def"): a mapping with '-' at positions 3-4 or at a
// label's end would fail the conversion with a hyphen error, which counts as a hit too.
TEST(AddressIdna2008, OnlyThreeCodePointsMapToHyphen) {
  auto utf8 = [](char32_t cp) {
    std::string s;
    if (cp < 0x800) {
      s += static_cast<char>(0xC0 | (cp >> 6));
    } else if (cp < 0x10000) {
      s += static_cast<char>(0xE0 | (cp >> 12));
      s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    } else {
      s += static_cast<char>(0xF0 | (cp >> 18));
      s += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    }
    if (cp >= 0x80) s += static_cast<char>(0x80 | (cp & 0x3F));
    return s;
  };
  std::vector<char32_t> hyphens;
  for (char32_t cp = 0x80; cp < 0x110000; ++cp) {
    if (cp >= 0xD800 && cp < 0xE000) continue;  // surrogates are not UTF-8
    const std::string in = "abc" + utf8(cp) + "def.de";
    char* out = nullptr;
    const int rc = idn2_lookup_u8(reinterpret_cast<const std::uint8_t*>(in.c_str()),
                                  reinterpret_cast<std::uint8_t**>(&out), IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL);
    // A code point mapped to ASCII leaves an ASCII label; to anything else, an A-label whose
    // basic code points (before its last '-') are the mapped label's ASCII ones.
    if (rc == IDN2_2HYPHEN || rc == IDN2_HYPHEN_STARTEND) {
      hyphens.push_back(cp);
    } else if (rc == IDN2_OK) {
      const std::string_view label = std::string_view(out).substr(0, std::string_view(out).find('.'));
      const std::string_view basic =
          label.starts_with("xn--") ? label.substr(4, label.rfind('-') == 3 ? 0 : label.rfind('-') - 4) : label;
      if (basic.find('-') != std::string_view::npos) hyphens.push_back(cp);
    }
    idn2_free(out);
  }
  EXPECT_EQ(hyphens, (std::vector<char32_t>{0xFE63, 0xFF0D}));
}

TEST(AddressIdna2008, HyphenLikeCodePointsAreCounted) {
  using detail::may_hold_given_alabel;
  EXPECT_FALSE(may_hold_given_alabel("b\xC3\xBC" "cher.de"));
  EXPECT_FALSE(may_hold_given_alabel("m\xC3\xBCller-bau.de"));                       // one '-'
  EXPECT_TRUE(may_hold_given_alabel("xn--zz.b\xC3\xBC" "cher.de"));                  // typed "--"
  EXPECT_TRUE(may_hold_given_alabel("a-b.m\xC3\xBC" "ller-bau.de"));                 // two, apart: still counted
  EXPECT_TRUE(may_hold_given_alabel("xn\xEF\xBC\x8D\xEF\xBC\x8Dzz.b\xC3\xBC" "cher.de"));  // U+FF0D twice
  EXPECT_TRUE(may_hold_given_alabel("xn\xEF\xB9\xA3-zz.b\xC3\xBC" "cher.de"));     // U+FE63 and '-'
  EXPECT_TRUE(may_hold_given_alabel("xn-\xC2\xAD-zz.b\xC3\xBC" "cher.de"));         // U+00AD (ignored) between
  EXPECT_FALSE(may_hold_given_alabel("\xEF\xBC\x8D" "a.b\xC3\xBC" "cher.de"));     // U+FF0D once
  EXPECT_FALSE(may_hold_given_alabel("\xEF\xBC\x8C\xEF\xBC\x8C.de"));             // U+FF0C twice: not hyphens
  EXPECT_FALSE(may_hold_given_alabel("-\xEF\xBC"));                                  // a truncated sequence ends it
}

// What that shortcut must not change: typed XN-labels in a domain that also has U-labels, with
// '-' or with the full-width hyphen, are refused when they are no A-labels and kept when they are.
// (libidn2 2.3 refuses the bad ones itself, before mailsift's own round trip.)
TEST(AddressIdna2008, GivenAlabelsBesideUlabels) {
  run_table({
      {"a@xn--zz.b\xC3\xBC" "cher.de", syntax_bad_idn},
      {"a@xn--n3h.b\xC3\xBC" "cher.de", syntax_bad_idn},  // U+2603 SNOWMAN as an A-label
      {"a@xn\xEF\xBC\x8D\xEF\xBC\x8Dn3h.b\xC3\xBC" "cher.de", syntax_bad_idn},  // with U+FF0D twice
      {"a@xn\xEF\xB9\xA3-n3h.b\xC3\xBC" "cher.de", syntax_bad_idn},  // U+FE63 and '-'
      {"a@xn--bcher-kva.b\xC3\xBC" "cher.de", well_formed, "a@xn--bcher-kva.xn--bcher-kva.de"},
      {"a@m\xC3\xBCller-bau.de", well_formed, "a@xn--mller-bau-q9a.de"},  // one hyphen: no round trip
  });
}

TEST(AddressInputMistakes, OwnReasons) {
  run_table({
      {"john\xEF\xBC\xA0gmail.com", syntax_fullwidth_at},  // U+FF20
      {"john\xEF\xB9\xAB gmail.com", syntax_fullwidth_at},  // U+FE6B
      {"John Doe <john@x.org>", syntax_display_name},
      {"<john@x.org>", syntax_display_name},
      {"john(comment)@x.org", syntax_comment},
      {"(comment)john@x.org", syntax_comment},
      {"john@x.org(comment)", syntax_comment},
      {" john@x.org", syntax_whitespace},
  });
}

TEST(AddressCanonical, ProviderRules) {
  const auto canon = [](std::string_view in) {
    Address a;
    EXPECT_EQ(parse(in, a), well_formed) << in;
    return canonical(a);
  };
  EXPECT_EQ(canon("J.O.H.N+news@gmail.com"), "john@gmail.com");
  EXPECT_EQ(canon("john.doe@googlemail.com"), "johndoe@gmail.com");
  EXPECT_EQ(canon("John+x@Outlook.com"), "john@outlook.com");
  EXPECT_EQ(canon("john.doe@outlook.com"), "john.doe@outlook.com");  // dots matter at Microsoft
  EXPECT_EQ(canon("j_o-h.n+a@proton.me"), "john@proton.me");
  EXPECT_EQ(canon("John+x@example-corp.com"), "john+x@example-corp.com");  // unknown provider: no tag rule
  EXPECT_EQ(canon("\"John Doe\"@gmail.com"), "\"John Doe\"@gmail.com");
}

}  // namespace
}  // namespace mailsift::address
