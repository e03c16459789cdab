// The history file (store/history.hpp): records merge, survive closing and reopening, stay within
// the retention and the bound, and with hashed keys name no domain.
#include "store/history.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

#include "store/test_dir.hpp"

namespace mailsift::store {
namespace {

using mailsift::testing::TestDir;

constexpr std::int64_t kDay = 86400;
constexpr std::int64_t kT0 = 1'790'000'000;  // 2026-09-21

DomainRecord seen(std::int64_t at, std::uint64_t valid, std::uint64_t invalid) {
  DomainRecord d;
  d.first_seen = d.last_seen = at;
  d.checked = valid + invalid;
  d.valid = valid;
  d.invalid = invalid;
  if (valid) d.count_reason(2, valid);      // mailbox_exists
  if (invalid) d.count_reason(17, invalid);  // mailbox_not_found
  return d;
}

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}

TEST(History, MergeAddsCountsKeepsNewestDatesAndCountsMxChanges) {
  DomainRecord s = seen(kT0, 3, 1);
  s.mx_hash = 11;
  DomainRecord d = seen(kT0 + kDay, 1, 2);
  d.mx_hash = 22;
  d.catch_all_yes = 2;
  d.catch_all_at = kT0 + kDay;
  d.catch_all_last = true;
  merge_into(s, d);
  EXPECT_EQ(s.first_seen, kT0);
  EXPECT_EQ(s.last_seen, kT0 + kDay);
  EXPECT_EQ(s.checked, 7u);
  EXPECT_EQ(s.valid, 4u);
  EXPECT_EQ(s.invalid, 3u);
  EXPECT_EQ(s.reason_count(2), 4u);
  EXPECT_EQ(s.reason_count(17), 3u);
  EXPECT_EQ(s.mx_changes, 1u);
  EXPECT_EQ(s.mx_changed_at, kT0 + kDay);
  EXPECT_EQ(s.mx_hash, 22u);
  EXPECT_TRUE(s.catch_all_last);
  // The same MX set again is no change; an older catch-all answer does not replace a newer one.
  DomainRecord again = seen(kT0 + 2 * kDay, 1, 0);
  again.mx_hash = 22;
  again.catch_all_no = 1;
  again.catch_all_at = kT0;
  again.catch_all_last = false;
  merge_into(s, again);
  EXPECT_EQ(s.mx_changes, 1u);
  EXPECT_TRUE(s.catch_all_last);
  EXPECT_EQ(s.catch_all_at, kT0 + kDay);
}

TEST(History, ReasonsRoundTripAndBadBytesAreRefused) {
  DomainRecord d;
  d.count_reason(0, 1);
  d.count_reason(200, 300);
  d.count_reason(17, ~std::uint64_t{0});
  DomainRecord back;
  ASSERT_TRUE(History::decode_reasons(History::encode_reasons(d), back));
  EXPECT_EQ(back.reasons, d.reasons);
  EXPECT_FALSE(History::decode_reasons(std::string("\x11\x80", 2), back));  // truncated count
  EXPECT_FALSE(History::decode_reasons(std::string(12, '\xff'), back));     // more than 64 bits
}

TEST(History, RecordsSurviveReopeningAndMergeAcrossRuns) {
  TestDir dir;
  const std::string path = dir.file("h.sqlite");
  std::int64_t now = kT0;
  const auto clock = [&now] { return now; };
  {
    History h(path, {}, clock);
    const std::vector<std::pair<std::string, DomainRecord>> d = {{"acme-mailsift.com", seen(now, 5, 0)}};
    MxRecord m;
    m.first_seen = m.last_seen = now;
    m.probes = 5;
    const std::vector<std::pair<std::string, MxRecord>> hosts = {{"mx.acme-mailsift.com", m}};
    h.merge(d, hosts);
  }
  now += kDay;
  History h(path, {}, clock);
  ASSERT_TRUE(h.domain("acme-mailsift.com"));
  EXPECT_EQ(h.domain("acme-mailsift.com")->valid, 5u);
  EXPECT_EQ(h.mx("mx.acme-mailsift.com")->probes, 5u);
  EXPECT_FALSE(h.domain("other-mailsift.com"));
  const std::vector<std::pair<std::string, DomainRecord>> d = {{"acme-mailsift.com", seen(now, 0, 4)}};
  h.merge(d, {});
  const DomainRecord r = *h.domain("acme-mailsift.com");
  EXPECT_EQ(r.checked, 9u);
  EXPECT_EQ(r.invalid, 4u);
  EXPECT_EQ(r.first_seen, kT0);
  EXPECT_EQ(r.last_seen, kT0 + kDay);
}

TEST(History, RetentionAndTheBoundDropTheLeastRecentlySeen) {
  TestDir dir;
  const std::string path = dir.file("h.sqlite");
  std::int64_t now = kT0;
  const auto clock = [&now] { return now; };
  {
    History h(path, {}, clock);
    std::vector<std::pair<std::string, DomainRecord>> d;
    for (int i = 0; i < 10; ++i) d.emplace_back("d" + std::to_string(i) + ".mailsift.net", seen(kT0 + i * kDay, 1, 0));
    h.merge(d, {});
    EXPECT_EQ(h.domain_count(), 10u);
  }
  now = kT0 + 9 * kDay;
  HistoryOptions o;
  o.retention_days = 5;  // keeps those last seen on day 4 and later
  {
    History h(path, o, clock);
    EXPECT_EQ(h.domain_count(), 6u);
    EXPECT_FALSE(h.domain("d3.mailsift.net"));
    EXPECT_TRUE(h.domain("d4.mailsift.net"));
  }
  o.max_domains = 4;  // down to 90% of it: 3 left, the most recent
  History h(path, o, clock);
  EXPECT_EQ(h.domain_count(), 3u);
  EXPECT_TRUE(h.domain("d9.mailsift.net"));
  EXPECT_TRUE(h.domain("d7.mailsift.net"));
  EXPECT_FALSE(h.domain("d6.mailsift.net"));
}

TEST(History, HashedKeysNameNoDomainAndTheModeIsKeptWithTheFile) {
  TestDir dir;
  const std::string path = dir.file("h.sqlite");
  HistoryOptions o;
  o.hash_keys = true;
  {
    History h(path, o);
    const std::vector<std::pair<std::string, DomainRecord>> d = {{"secret-customer-mailsift.com", seen(kT0, 1, 0)}};
    MxRecord m;
    m.probes = 1;
    const std::vector<std::pair<std::string, MxRecord>> hosts = {{"mx.secret-customer-mailsift.com", m}};
    h.merge(d, hosts);
    EXPECT_EQ(h.domain("secret-customer-mailsift.com")->valid, 1u);
  }
  std::string bytes = read_file(path);
  for (const std::string& wal : {path + "-wal"}) bytes += read_file(wal);
  EXPECT_EQ(bytes.find("secret-customer"), std::string::npos);
  EXPECT_THROW(History(path, HistoryOptions{}), std::runtime_error);  // a name-keyed open refuses it
}

}  // namespace
}  // namespace mailsift::store
