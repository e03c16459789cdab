// Suspicious local parts: a hint, so the tests pin both directions (real names must stay clean).
#include "domain/suspicious.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "domain/knowledge.hpp"

namespace mailsift::domain::suspicious {
namespace {

const char* name(Kind k) {
  switch (k) {
    case Kind::none: return "none";
    case Kind::placeholder: return "placeholder";
    case Kind::keyboard_walk: return "keyboard_walk";
    case Kind::random: return "random";
  }
  return "?";
}

TEST(Suspicious, Placeholders) {
  for (const char* l :
       {"test",    "Test",    "test123",   "testing",    "tester",   "fake",      "asdf",   "sample",    "example",
        "noemail", "none",    "nobody",    "null",       "abc",      "xxx",       "foo",    "bar",       "foobar",
        "dummy",   "foo.bar", "test.user", "fake_email", "test-123", "test+shop", "nospam", "TEST.TEST", "asdf1234"}) {
    EXPECT_EQ(classify(l), Kind::placeholder) << l << ": got " << name(classify(l));
  }
}

TEST(Suspicious, KeyboardWalks) {
  for (const char* l :
       {"qwerty", "qwerty123", "asdfgh", "zxcvbn", "qwertz", "azerty", "123456", "1234567890", "987654", "abcdef",
        "ytrewq", "aaaa", "11111111", "a1234567", "poiuytrewq", "wxcvbn", "qsdfghjklm", "123456789012345"}) {
    EXPECT_EQ(classify(l), Kind::keyboard_walk) << l << ": got " << name(classify(l));
  }
}

TEST(Suspicious, RandomLooking) {
  for (const char* l : {"xk7q9zt2mw8rpl4v", "d41d8cd98f00b204e9800998ecf8427e", "a8f3k2m9x7q1w5z3", "kxzqvbnmtrplwdghs",
                        "u7gh3k9s1lq0pz2b"}) {
    EXPECT_EQ(classify(l), Kind::random) << l << ": got " << name(classify(l));
  }
}

TEST(Suspicious, RealLocalPartsAreNotSuspicious) {
  for (const char* l : {"john.smith1987",
                        "alexandra.konstantinopoulou",
                        "j.doe+newsletter",
                        "john",
                        "robert",
                        "stuart",
                        "sasa",
                        "anna1234",
                        "john123",
                        "mschwarzkopf1985",
                        "christopher.schwarzkopf",
                        "grzegorz.brzeczyszczykiewicz",
                        "alexandrakonstantinopoulou",
                        "info",
                        "bar.refaeli",
                        "abcott",
                        "testa.maria",
                        "tester.john",
                        "defne",
                        "user",
                        "my.email",
                        "4915112345678",
                        "86139057123",
                        "j.nietzsche",
                        "sales+test",
                        "anonymous",
                        "ertugrul",
                        "xi.wang",
                        "lynn.wyszynski",
                        "m.deutschmann",
                        "wertheimer",
                        "2000",
                        "zhang.wei2001",
                        "nguyen.thi.thanh.huong",
                        "b.qwiat"}) {
    EXPECT_EQ(classify(l), Kind::none) << l << ": got " << name(classify(l));
  }
}

TEST(Suspicious, Limits) {
  EXPECT_EQ(classify(""), Kind::none);
  EXPECT_EQ(classify("+test"), Kind::none);               // nothing before the tag
  EXPECT_EQ(classify(std::string(65, 'a')), Kind::none);  // over RFC 5321's 64 octets
  EXPECT_EQ(classify(std::string(64, 'a')), Kind::keyboard_walk);
  EXPECT_EQ(classify("t\xc3\xa9st"), Kind::none);  // UTF-8 "tést": never a placeholder
}

TEST(Suspicious, KnowledgeForwards) {
  const Knowledge k(ListOptions{});
  EXPECT_TRUE(k.is_suspicious("qwerty123"));
  EXPECT_FALSE(k.is_suspicious("john.smith1987"));
}

// Not a benchmark, a guard against an accidental O(n^2) or allocation: bench/ has the real numbers.
TEST(Suspicious, CheapEnoughForEveryAddress) {
  const char* inputs[] = {"john.smith1987", "alexandra.konstantinopoulou", "qwerty123", "info", "xk7q9zt2mw8rpl4v"};
  constexpr int kRounds = 200'000;
  std::size_t hits = 0;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < kRounds; ++i)
    for (const char* in : inputs) hits += is_suspicious(in) ? 1 : 0;
  const auto ns = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(hits, 2u * kRounds);
  // Generous (sanitizer and debug builds run here too); the optimized target is < 30 ns.
  EXPECT_LT(ns / (kRounds * 5.0), 2000.0);
}

}  // namespace
}  // namespace mailsift::domain::suspicious
