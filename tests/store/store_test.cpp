// The --state and --cache files (src/store/): round trips, persistence, crash safety under SIGKILL,
// the run fingerprint, the lock against a second process, the cache's TTL and expiry.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "store/cache.hpp"
#include "store/sqlite.hpp"
#include "store/state.hpp"
#include "store/table.hpp"
#include "store/test_dir.hpp"

namespace mailsift::store {
namespace {

using namespace std::chrono_literals;
using mailsift::testing::TestDir;

std::string key_of(int i) {
  return "user" + std::to_string(i) + "@example.com";
}
std::string value_of(int i) {
  return "{\"n\":" + std::to_string(i) + ",\"status\":\"valid\"}" + std::string(200, 'v');
}

// The message of the std::runtime_error `f` throws ("" when it throws none).
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}

std::string integrity_check(const std::string& path) {
  sqlite::Db db("test", path);
  return db.query_text("PRAGMA integrity_check", "checking");
}

// 1 MiB of every byte value, NULs included.
std::string binary_mib() {
  std::string s(std::size_t{1} << 20, '\0');
  for (std::size_t i = 0; i < s.size(); ++i) s[i] = static_cast<char>((i * 7 + i / 256) & 0xff);
  return s;
}

// Runs `f` in a child process and returns the message of the std::runtime_error it throws ("" when
// none; "child failed" when it died otherwise).
template <class F>
std::string error_in_child(F&& f) {
  int fds[2];
  if (pipe(fds) != 0) return "pipe failed";
  const pid_t pid = fork();
  if (pid < 0) return "fork failed";
  if (pid == 0) {
    close(fds[0]);
    const std::string err = error_of(f);
    const ssize_t n = write(fds[1], err.data(), err.size());
    _exit(n == static_cast<ssize_t>(err.size()) ? 0 : 1);
  }
  close(fds[1]);
  std::string err;
  char buf[512];
  for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) > 0;) err.append(buf, static_cast<std::size_t>(n));
  close(fds[0]);
  int status = 0;
  if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) return "child failed";
  return err;
}

// Reads everything the child writes to `fd` until it is closed or `want` bytes came.
std::string read_some(int fd, std::size_t want) {
  std::string got;
  char buf[256];
  while (got.size() < want) {
    const ssize_t n = read(fd, buf, std::min(sizeof buf, want - got.size()));
    if (n <= 0) break;
    got.append(buf, static_cast<std::size_t>(n));
  }
  return got;
}

// ---- State ----

TEST(StoreState, RoundTrip) {
  TestDir dir;
  State s(dir.file("run.state"), "fp");
  EXPECT_EQ(s.size(), 0u);
  EXPECT_EQ(s.get("a@example.com"), std::nullopt);
  s.put("a@example.com", "valid");
  s.put("b@example.com", "invalid");
  s.put("empty@example.com", std::string_view{});  // an empty value is a value, not a miss
  EXPECT_EQ(s.get("a@example.com"), "valid");      // visible before commit
  EXPECT_EQ(s.get("b@example.com"), "invalid");
  EXPECT_EQ(s.get("empty@example.com"), "");
  EXPECT_EQ(s.get("c@example.com"), std::nullopt);
  EXPECT_EQ(s.size(), 3u);
  s.put("a@example.com", "risky");  // replaces, does not add
  EXPECT_EQ(s.get("a@example.com"), "risky");
  EXPECT_EQ(s.size(), 3u);
  s.commit();
  s.commit();  // nothing open: no-op
  EXPECT_EQ(s.get("a@example.com"), "risky");
  EXPECT_EQ(s.size(), 3u);
}

// The files hold addresses: created 0640 less the umask (SQLite's own default is 0644), and the
// -wal and -shm files SQLite makes next to them take the same mode. An existing file keeps its own.
TEST(StoreFiles, NewStateAndCacheFilesAreNotWorldReadable) {
  TestDir dir;
  const mode_t old = ::umask(022);
  const auto mode = [](const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return ~0u;
    return static_cast<unsigned>(st.st_mode & 07777);
  };
  {
    State s(dir.file("run.state"), "fp");
    s.put("a@example.com", "valid");
    s.commit();
    Cache c(dir.file("run.cache"));
    c.put_address("a@example.com", "valid");
    c.commit();
    EXPECT_EQ(mode(dir.file("run.state")), 0640u);
    EXPECT_EQ(mode(dir.file("run.state-wal")), 0640u);
    EXPECT_EQ(mode(dir.file("run.cache")), 0640u);
    EXPECT_EQ(mode(dir.file("run.cache-wal")), 0640u);
  }
  ::umask(077);
  { State s(dir.file("strict.state"), "fp"); }
  EXPECT_EQ(mode(dir.file("strict.state")), 0600u);  // the umask still applies
  ::umask(022);
  ASSERT_EQ(::chmod(dir.file("run.state").c_str(), 0644), 0);
  { State s(dir.file("run.state"), "fp"); }
  EXPECT_EQ(mode(dir.file("run.state")), 0644u);  // the user's own choice is kept
  ::umask(old);
}

TEST(StoreState, PersistsAcrossReopenAndDropsUncommitted) {
  TestDir dir;
  const std::string path = dir.file("run.state");
  {
    State s(path, "fp");
    for (int i = 0; i < 1000; ++i) s.put(key_of(i), value_of(i));
    s.commit();
    s.put("uncommitted@example.com", "x");  // rolled back by the destructor
  }
  State s(path, "fp");
  EXPECT_EQ(s.size(), 1000u);
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(s.get(key_of(i)), value_of(i)) << i;
  EXPECT_EQ(s.get("uncommitted@example.com"), std::nullopt);
  EXPECT_FALSE(s.complete());
}

TEST(StoreState, CompleteFlagPersists) {
  TestDir dir;
  const std::string path = dir.file("run.state");
  {
    State s(path, "fp");
    EXPECT_FALSE(s.complete());
    s.put("a", "1");
    s.set_complete(true);  // commits the results with it
    EXPECT_TRUE(s.complete());
  }
  {
    State s(path, "fp");
    EXPECT_TRUE(s.complete());
    EXPECT_EQ(s.get("a"), "1");
    s.set_complete(false);
  }
  State s(path, "fp");
  EXPECT_FALSE(s.complete());
}

TEST(StoreState, MebibyteBinaryValueAndKeyWithNul) {
  TestDir dir;
  const std::string path = dir.file("run.state");
  const std::string big = binary_mib();
  const std::string key("k\0ey\xff", 5);
  {
    State s(path, "fp");
    s.put(key, big);
    s.put(std::string("k\0other", 7), "other");  // differs from `key` only after the NUL
    EXPECT_EQ(s.get(key), big);
    s.commit();
  }
  State s(path, "fp");
  EXPECT_EQ(s.get(key), big);
  EXPECT_EQ(s.get(std::string("k\0other", 7)), "other");
  EXPECT_EQ(s.get("k"), std::nullopt);
  EXPECT_EQ(s.size(), 2u);
}

// Rows are found through a 64-bit hash of the key (store/table.hpp). A collision is planted by
// hand: a row of another key with the same hash. Both keys keep their own values.
TEST(StoreState, HashCollisionKeepsKeysApart) {
  TestDir dir;
  const std::string path = dir.file("run.state");
  {
    State s(path, "fp");
    s.put("a@example.com", "mine");
    s.commit();
  }
  {
    sqlite::Db db("test", path);
    sqlite::Stmt insert(db, "INSERT INTO results(hash, key, value) VALUES(?1, ?2, ?3)");
    insert.bind_int(1, key_hash("a@example.com"));
    insert.bind_blob(2, "impostor@example.com");
    insert.bind_blob(3, "theirs");
    insert.step("planting a collision");
  }
  State s(path, "fp");
  EXPECT_EQ(s.get("a@example.com"), "mine");
  s.put("a@example.com", "mine, updated");  // updates its own row, not the impostor's
  EXPECT_EQ(s.get("a@example.com"), "mine, updated");
  EXPECT_EQ(s.size(), 2u);
  // The planted row is found by its key too only through its own hash: under its hash it is absent.
  EXPECT_EQ(s.get("impostor@example.com"), std::nullopt);
  EXPECT_NE(key_hash("a@example.com"), key_hash("impostor@example.com"));
}

TEST(StoreState, KeyHashIsStable) {
  // Part of the file format: a change would make every stored key unfindable. The expected values
  // come from an independent implementation (Python) of FNV-1a 64 + the splitmix64 finalizer.
  EXPECT_EQ(key_hash(""), static_cast<std::int64_t>(0xf52a15e9a9b5e89bull));
  EXPECT_EQ(key_hash("a@example.com"), static_cast<std::int64_t>(0x0ddfff0d956507cbull));
}

TEST(StoreState, FingerprintMismatchIsRefusedAndLeavesTheFileAlone) {
  TestDir dir;
  const std::string path = dir.file("run.state");
  {
    State s(path, "input=a.csv:123:456;level=smtp");
    s.put("a", "1");
    s.commit();
  }
  const std::string err = error_of([&] { State s(path, "input=a.csv:123:456;level=dns"); });
  EXPECT_NE(err.find("state file \"" + path +
                     "\" belongs to another run (input or options differ); remove it or use another"),
            std::string::npos)
      << err;
  State s(path, "input=a.csv:123:456;level=smtp");
  EXPECT_EQ(s.get("a"), "1");
  EXPECT_EQ(s.size(), 1u);
}

TEST(StoreState, SecondOpenerInThisProcessGetsTheLockedError) {
  TestDir dir;
  const std::string path = dir.file("run.state");
  State first(path, "fp");
  first.put("a", "1");
  first.commit();
  const std::string err = error_of([&] { State second(path, "fp"); });
  EXPECT_NE(err.find("state file \"" + path + "\" is locked by another running process"), std::string::npos) << err;
  // The first goes on working, and once it is closed the file opens again.
  first.put("b", "2");
  first.commit();
  EXPECT_EQ(first.size(), 2u);
  { State gone = std::move(first); }
  State again(path, "fp");
  EXPECT_EQ(again.size(), 2u);
}

// The other process holds the file (the fork happens before this process opens it: SQLite
// connections must not cross a fork, and this way the lock met is the kernel's fcntl lock).
TEST(StoreState, SecondOpenerInAnotherProcessGetsTheLockedError) {
  TestDir dir;
  const std::string path = dir.file("run.state");
  int ready[2];
  int release[2];
  ASSERT_EQ(pipe(ready), 0);
  ASSERT_EQ(pipe(release), 0);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    close(ready[0]);
    close(release[1]);
    try {
      State first(path, "fp");
      first.put("a", "1");
      first.commit();
      if (write(ready[1], "x", 1) != 1) _exit(3);
      char c = 0;
      if (read(release[0], &c, 1) < 0) _exit(3);  // until the parent closes its end
      first.put("b", "2");                        // the holder was not disturbed
      first.commit();
    } catch (...) {
      _exit(2);
    }
    _exit(0);
  }
  close(ready[1]);
  close(release[0]);
  ASSERT_EQ(read_some(ready[0], 1), "x");
  close(ready[0]);
  const auto t0 = std::chrono::steady_clock::now();
  const std::string err = error_of([&] { State second(path, "fp"); });
  const auto waited = std::chrono::steady_clock::now() - t0;
  close(release[1]);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
  EXPECT_NE(err.find("state file \"" + path + "\" is locked by another running process"), std::string::npos) << err;
  EXPECT_GE(waited, std::chrono::milliseconds(sqlite::kBusyTimeoutMs) - 50ms);  // it waited the busy timeout
  State s(path, "fp");  // the holder exited: the file opens, with both of its results
  EXPECT_EQ(s.size(), 2u);
}

TEST(StoreState, NotAStateFileIsRefusedWithPathAndSqliteMessage) {
  TestDir dir;
  const std::string garbage = dir.file("garbage.state");
  std::ofstream(garbage) << std::string(8192, 'x');
  std::string err = error_of([&] { State s(garbage, "fp"); });
  EXPECT_NE(err.find("state file \"" + garbage + "\""), std::string::npos) << err;
  EXPECT_NE(err.find("file is not a database"), std::string::npos) << err;

  const std::string cache = dir.file("run.cache");
  { Cache c(cache); }
  err = error_of([&] { State s(cache, "fp"); });
  EXPECT_NE(err.find("is a mailsift cache file, not a state file"), std::string::npos) << err;

  err = error_of([&] { State s(dir.file("no/such/dir/run.state"), "fp"); });
  EXPECT_NE(err.find("no/such/dir/run.state"), std::string::npos) << err;
  EXPECT_NE(err.find("unable to open database file"), std::string::npos) << err;
}

// Disk full, simulated in a child process by a file size limit (RLIMIT_FSIZE): the commit that
// cannot be written fails with the path and SQLite's message, and the file keeps what was
// committed before, uncorrupted.
TEST(StoreState, DiskFullIsAnErrorAndKeepsEarlierCommits) {
  TestDir dir;
  const std::string path = dir.file("run.state");
  {
    State s(path, "fp");
    s.put("a", "1");
    s.commit();
  }
  const std::string err = error_in_child([&] {
    signal(SIGXFSZ, SIG_IGN);  // a write past the limit fails with EFBIG instead of killing us
    const rlimit limit{std::uint64_t{4} << 20, std::uint64_t{4} << 20};
    if (setrlimit(RLIMIT_FSIZE, &limit) != 0) throw std::runtime_error("setrlimit failed");
    State s(path, "fp");
    const std::string big(std::size_t{1} << 20, 'b');
    for (int i = 0; i < 8; ++i) s.put("big" + std::to_string(i), big);
    s.commit();
  });
  EXPECT_NE(err.find("state file \"" + path + "\": "), std::string::npos) << err;
  EXPECT_TRUE(err.find("database or disk is full") != std::string::npos ||
              err.find("disk I/O error") != std::string::npos)
      << err;
  EXPECT_EQ(integrity_check(path), "ok");
  State s(path, "fp");
  EXPECT_EQ(s.size(), 1u);
  EXPECT_EQ(s.get("a"), "1");
  EXPECT_EQ(s.get("big0"), std::nullopt);
}

// A child commits kCommitted results in five transactions, then overwrites half of them and adds
// more, uncommitted (several MiB: beyond the page cache, so uncommitted pages are spilled into the
// WAL), and is killed with SIGKILL while it goes on putting. The reopened file holds exactly the
// committed results, and is not corrupt. Several kill points.
TEST(StoreState, SigkillDuringUncommittedPutsKeepsExactlyTheCommittedResults) {
  constexpr int kCommitted = 5000;
  for (const int delay_ms : {0, 3, 30, 150}) {
    TestDir dir;
    const std::string path = dir.file("run.state");
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      close(fds[0]);
      try {
        State s(path, "fp");
        for (int i = 0; i < kCommitted; ++i) {
          s.put(key_of(i), value_of(i));
          if ((i + 1) % (kCommitted / 5) == 0) s.commit();
        }
        for (int i = 0; i < kCommitted; i += 2) s.put(key_of(i), "uncommitted overwrite");
        const std::string big(4096, 'u');
        int j = 0;
        for (; j < 6000; ++j) s.put("uncommitted" + std::to_string(j), big);  // 24 MiB
        if (write(fds[1], "x", 1) != 1) _exit(3);
        for (; j < 2'000'000; ++j) s.put("uncommitted" + std::to_string(j), big);
      } catch (...) {
        _exit(2);
      }
      _exit(4);  // never reached in time: the parent kills us
    }
    close(fds[1]);
    ASSERT_EQ(read_some(fds[0], 1), "x") << "the child died before its uncommitted puts";
    close(fds[0]);
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    ASSERT_EQ(kill(pid, SIGKILL), 0);
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "status " << status;

    EXPECT_EQ(integrity_check(path), "ok");  // replays the WAL, as any reopen does
    {
      State s(path, "fp");
      ASSERT_EQ(s.size(), static_cast<std::uint64_t>(kCommitted)) << "delay " << delay_ms;
      for (int i = 0; i < kCommitted; ++i) ASSERT_EQ(s.get(key_of(i)), value_of(i)) << i;
      EXPECT_EQ(s.get("uncommitted0"), std::nullopt);
      EXPECT_FALSE(s.complete());
      // The run continues where it stopped.
      for (int i = kCommitted; i < kCommitted + 100; ++i) s.put(key_of(i), value_of(i));
      s.set_complete(true);
    }
    State s(path, "fp");
    EXPECT_EQ(s.size(), static_cast<std::uint64_t>(kCommitted + 100));
    EXPECT_TRUE(s.complete());
  }
}

// A child that commits every 500 results is killed at arbitrary moments, commits included: the
// state holds whole batches only, at least every batch the child reported committed, keys
// 0..size-1 exactly, and passes the integrity check.
TEST(StoreState, SigkillAtArbitraryMomentsKeepsWholeBatches) {
  constexpr int kBatch = 500;
  for (const int delay_ms : {1, 7, 20, 60}) {
    TestDir dir;
    const std::string path = dir.file("run.state");
    int fds[2];
    ASSERT_EQ(pipe(fds), 0);
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      close(fds[0]);
      try {
        State s(path, "fp");
        for (int i = 0; i < 10'000'000; ++i) {
          s.put(key_of(i), value_of(i));
          if ((i + 1) % kBatch == 0) {
            s.commit();
            if (write(fds[1], "c", 1) != 1) _exit(3);  // one byte per committed batch
          }
        }
      } catch (...) {
        _exit(2);
      }
      _exit(4);
    }
    close(fds[1]);
    ASSERT_EQ(read_some(fds[0], 1), "c");
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    ASSERT_EQ(kill(pid, SIGKILL), 0);
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "status " << status;
    const std::size_t reported = 1 + read_some(fds[0], std::size_t{1} << 30).size();
    close(fds[0]);

    EXPECT_EQ(integrity_check(path), "ok");
    State s(path, "fp");
    const std::uint64_t n = s.size();
    EXPECT_EQ(n % kBatch, 0u) << n;
    EXPECT_GE(n, reported * kBatch);
    EXPECT_LE(n, (reported + 1) * kBatch);  // at most the batch being committed when killed
    for (int i = 0; i < static_cast<int>(n); ++i) ASSERT_EQ(s.get(key_of(i)), value_of(i)) << i;
    EXPECT_EQ(s.get(key_of(static_cast<int>(n))), std::nullopt);
  }
}

// ---- Cache ----

TEST(StoreCache, TtlWithInjectedClock) {
  TestDir dir;
  std::int64_t now = 1'000'000;
  Cache c(dir.file("run.cache"), [&] { return now; });
  c.put_address("a@example.com", "valid");
  EXPECT_EQ(c.get_address("a@example.com", 60s), "valid");
  now += 59;
  EXPECT_EQ(c.get_address("a@example.com", 60s), "valid");
  EXPECT_EQ(c.get_address("a@example.com", 59s), std::nullopt);  // the caller's TTL decides
  now += 1;                                                      // 60 s old: no longer younger than 60 s
  EXPECT_EQ(c.get_address("a@example.com", 60s), std::nullopt);
  EXPECT_EQ(c.get_address("a@example.com", 24h), "valid");
  c.put_address("a@example.com", "invalid");  // a fresh verdict replaces the stale one, and its age
  EXPECT_EQ(c.get_address("a@example.com", 60s), "invalid");
  EXPECT_EQ(c.get_address("a@example.com", 0s), std::nullopt);  // TTL 0: nothing is fresh
  now -= 3600;  // the clock went back: an entry from the future is not trusted
  EXPECT_EQ(c.get_address("a@example.com", 24h), std::nullopt);
  EXPECT_EQ(c.get_address("a@example.com", std::chrono::seconds::max()), std::nullopt);
  now += 3600;
  EXPECT_EQ(c.get_address("a@example.com", std::chrono::seconds::max()), "invalid");  // no overflow
  EXPECT_EQ(c.get_address("b@example.com", 24h), std::nullopt);
}

TEST(StoreCache, DomainAndAddressEntriesAreSeparate) {
  TestDir dir;
  std::int64_t now = 5000;
  Cache c(dir.file("run.cache"), [&] { return now; });
  c.put_address("example.com", "address verdict");
  c.put_domain("example.com", "mx=mx.example.com;catch_all=0");
  c.put_domain("only-domain.example", "greylisting=1");
  EXPECT_EQ(c.get_address("example.com", 1h), "address verdict");
  EXPECT_EQ(c.get_domain("example.com", 1h), "mx=mx.example.com;catch_all=0");
  EXPECT_EQ(c.get_address("only-domain.example", 1h), std::nullopt);
  EXPECT_EQ(c.get_domain("only-domain.example", 1h), "greylisting=1");
  EXPECT_EQ(c.address_count(), 1u);
  EXPECT_EQ(c.domain_count(), 2u);
}

TEST(StoreCache, PersistsAcrossReopenAndDropsUncommitted) {
  TestDir dir;
  const std::string path = dir.file("run.cache");
  std::int64_t now = 5000;
  const std::string big = binary_mib();
  {
    Cache c(path, [&] { return now; });
    c.put_address("a@example.com", big);
    c.put_domain("example.com", std::string("\0mx\0", 4));
    c.commit();
    c.put_address("uncommitted@example.com", "x");
  }
  now += 100;
  Cache c(path, [&] { return now; });
  EXPECT_EQ(c.get_address("a@example.com", 1h), big);
  EXPECT_EQ(c.get_domain("example.com", 1h), std::string("\0mx\0", 4));
  EXPECT_EQ(c.get_domain("example.com", 100s), std::nullopt);  // its age survived the reopen
  EXPECT_EQ(c.get_address("uncommitted@example.com", 1h), std::nullopt);
}

TEST(StoreCache, ExpireRemovesOldRowsOnly) {
  TestDir dir;
  const std::string path = dir.file("run.cache");
  std::int64_t now = 10'000;
  {
    Cache c(path, [&] { return now; });
    c.put_address("old@example.com", "1");
    c.put_domain("old.example", "1");
    now = 10'500;
    c.put_address("new@example.com", "2");
    c.put_domain("new.example", "2");
    now = 11'000;
    EXPECT_EQ(c.expire(1000s), 2u);  // the two stored at 10,000: exactly 1000 s old
    EXPECT_EQ(c.expire(1000s), 0u);
    c.commit();
  }
  Cache c(path, [&] { return now; });
  // Gone from the file, not just stale: even an unlimited TTL does not find them.
  EXPECT_EQ(c.get_address("old@example.com", std::chrono::seconds::max()), std::nullopt);
  EXPECT_EQ(c.get_domain("old.example", std::chrono::seconds::max()), std::nullopt);
  EXPECT_EQ(c.get_address("new@example.com", 1000s), "2");
  EXPECT_EQ(c.get_domain("new.example", 1000s), "2");
  EXPECT_EQ(c.address_count(), 1u);
  EXPECT_EQ(c.domain_count(), 1u);
}

TEST(StoreCache, ExpireIsBoundedAndOldestFirst) {
  TestDir dir;
  std::int64_t now = 0;
  Cache c(dir.file("run.cache"), [&] { return now; });
  for (int i = 0; i < 10; ++i) {
    now = 100 + i;  // address i stored at 100 + i
    c.put_address(key_of(i), "v");
  }
  now = 1000;
  EXPECT_EQ(c.expire(100s, 4), 4u);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(c.get_address(key_of(i), std::chrono::seconds::max()), std::nullopt) << i;
  EXPECT_EQ(c.get_address(key_of(4), std::chrono::seconds::max()), "v");
  EXPECT_EQ(c.expire(100s, 4), 4u);
  EXPECT_EQ(c.expire(100s, 4), 2u);
  EXPECT_EQ(c.expire(100s, 4), 0u);
  EXPECT_EQ(c.address_count(), 0u);
}

TEST(StoreCache, SecondOpenerGetsTheLockedErrorAndStateIsRefused) {
  TestDir dir;
  const std::string path = dir.file("run.cache");
  Cache first(path);
  const std::string err = error_of([&] { Cache second(path); });
  EXPECT_NE(err.find("cache file \"" + path + "\" is locked by another running process"), std::string::npos) << err;

  const std::string state = dir.file("run.state");
  { State s(state, "fp"); }
  EXPECT_NE(error_of([&] { Cache c(state); }).find("is a mailsift state file, not a cache file"), std::string::npos);
}

}  // namespace
}  // namespace mailsift::store
