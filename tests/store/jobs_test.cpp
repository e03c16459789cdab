// The server database (store/jobs.hpp): jobs and items survive reopening, pending/finished reads in
// position order, recount, removal with purging in steps, retention queries, the file lock.
#include <gtest/gtest.h>

#include "store/jobs.hpp"
#include "test_dir.hpp"

namespace mailsift::store {
namespace {

JobRecord job(const std::string& id, std::int64_t created = 100) {
  JobRecord j;
  j.id = id;
  j.owner = "k1";
  j.level = "smtp";
  j.state = "queued";
  j.created = created;
  return j;
}

TEST(JobStore, CreateFinishRecountReopen) {
  testing::TestDir dir;
  const std::string path = dir.file("jobs.db");
  {
    JobStore s(path);
    s.create(job("j1"), {"a@x.org", "b@x.org", "c@x.org", std::string("n\0ul", 4)});
    auto p = s.pending("j1", 0, 10);
    ASSERT_EQ(p.size(), 4u);
    EXPECT_EQ(p[0].pos, 1);
    EXPECT_EQ(p[3].input, std::string("n\0ul", 4));
    s.finish_item("j1", 2, 1, "v2");
    s.finish_item("j1", 4, 0, "v4");
    EXPECT_EQ(s.pending("j1", 0, 10).size(), 2u);
    EXPECT_EQ(s.pending("j1", 1, 10).size(), 1u);  // after position 1: only 3 is left
    std::vector<std::int64_t> seen;
    const std::int64_t last = s.finished_items("j1", 0, 10, [&](std::int64_t pos, std::string_view, std::string_view v) {
      seen.push_back(pos);
      EXPECT_EQ(v, "v" + std::to_string(pos));
    });
    EXPECT_EQ(seen, (std::vector<std::int64_t>{2, 4}));
    EXPECT_EQ(last, 4);
    JobRecord r = *s.get("j1");
    EXPECT_EQ(r.total, 4u);
    s.recount(r);
    EXPECT_EQ(r.done, 2u);
    EXPECT_EQ(r.counts[0], 1u);
    EXPECT_EQ(r.counts[1], 1u);
    r.state = "running";
    r.started = 101;
    s.update(r);
    s.commit();
    EXPECT_THROW(JobStore{path}, std::runtime_error);  // locked while open
  }
  JobStore s(path);
  auto r = s.get("j1");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->state, "running");
  EXPECT_EQ(r->owner, "k1");
  EXPECT_EQ(s.unfinished().size(), 1u);
  EXPECT_EQ(s.pending("j1", 0, 10).size(), 2u);
  EXPECT_FALSE(s.get("nope"));
}

TEST(JobStore, RemovePurgesInSteps) {
  testing::TestDir dir;
  JobStore s(dir.file("jobs.db"));
  std::vector<std::string> many(25, "a@b.c");
  s.create(job("big"), many);
  s.create(job("small"), {"x@y.z"});
  s.remove("big");
  EXPECT_FALSE(s.get("big"));
  EXPECT_EQ(s.purge(10), 10u);
  EXPECT_EQ(s.purge(10), 10u);
  EXPECT_EQ(s.purge(10), 5u);
  EXPECT_EQ(s.purge(10), 0u);
  EXPECT_EQ(s.pending("small", 0, 10).size(), 1u);  // another job untouched
}

TEST(JobStore, RetentionAndCounts) {
  testing::TestDir dir;
  JobStore s(dir.file("jobs.db"));
  s.create(job("old", 1), {"a@b.c"});
  s.create(job("new", 2), {"a@b.c"});
  s.create(job("live", 3), {"a@b.c"});
  JobRecord o = *s.get("old");
  o.state = "finished";
  o.finished = 1000;
  s.update(o);
  JobRecord n = *s.get("new");
  n.state = "finished";
  n.finished = 5000;
  n.callback_url = "http://h/";
  n.callback_state = "pending";
  s.update(n);
  EXPECT_EQ(s.finished_before(2000), (std::vector<std::string>{"old"}));
  EXPECT_EQ(s.count_by_state(), (std::array<std::uint64_t, 3>{1, 0, 2}));
  EXPECT_EQ(s.unfinished().size(), 1u);
  EXPECT_EQ(s.callbacks_pending().size(), 1u);
}

TEST(JobStore, RefusesOtherFiles) {
  testing::TestDir dir;
  const std::string path = dir.file("x.db");
  { std::FILE* f = std::fopen(path.c_str(), "w"); std::fputs("not sqlite at all, just text", f); std::fclose(f); }
  EXPECT_THROW(JobStore{path}, std::runtime_error);
}

}  // namespace
}  // namespace mailsift::store
