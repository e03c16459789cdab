// Throughput of the state and cache files with 1,000,000 entries. Disabled by default (it writes
// a few hundred MB and takes ~20 s); run it with
//   build/release/tests/mailsift_tests --gtest_also_run_disabled_tests --gtest_filter='StoreBench.*'
// MAILSIFT_STORE_BENCH_DIR picks the directory (default: the test temp dir), MAILSIFT_STORE_BENCH_N
// the entry count, MAILSIFT_STORE_BENCH_VALUE the value size in bytes (default 300), and
// MAILSIFT_STORE_BENCH_COMMIT the puts per commit (default 10,000).
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "store/cache.hpp"
#include "store/state.hpp"

namespace mailsift::store {
namespace {

std::size_t env_or(const char* name, std::size_t fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? static_cast<std::size_t>(std::strtoull(v, nullptr, 10)) : fallback;
}

struct Params {
  std::size_t n = env_or("MAILSIFT_STORE_BENCH_N", 1'000'000);
  std::size_t value_size = env_or("MAILSIFT_STORE_BENCH_VALUE", 300);
  std::size_t commit_every = env_or("MAILSIFT_STORE_BENCH_COMMIT", 10'000);
  std::filesystem::path dir = [] {
    const char* d = std::getenv("MAILSIFT_STORE_BENCH_DIR");
    return std::filesystem::path(d != nullptr && *d != '\0' ? d : ::testing::TempDir());
  }();
};

// Keys like the caller's: addresses across 10,000 domains, put in a shuffled order.
std::vector<std::string> make_keys(std::size_t n) {
  std::vector<std::string> keys;
  keys.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    keys.push_back("user" + std::to_string(i * 2654435761u % 100'000'000) + "@domain" + std::to_string(i % 10'000) +
                   ".example");
  }
  std::shuffle(keys.begin(), keys.end(), std::mt19937_64(42));
  return keys;
}

std::string make_value(std::size_t i, std::size_t size) {
  std::string v = "{\"n\":" + std::to_string(i) + ",\"status\":\"valid\",\"reason\":\"smtp.accepted\"";
  v.resize(std::max(size, v.size() + 1), 'x');
  v.back() = '}';
  return v;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// CPU seconds (user + system) of this process: on a busy shared machine the wall clock measures
// the neighbours too; both are reported.
double cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

struct Timer {
  std::chrono::steady_clock::time_point wall = std::chrono::steady_clock::now();
  double cpu = cpu_seconds();
};

long peak_rss_kib() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

void report(const char* what, std::size_t n, const Timer& t) {
  const double wall = seconds_since(t.wall);
  const double cpu = cpu_seconds() - t.cpu;
  std::printf("  %-44s %9.0f /s wall (%6.2f s)  %9.0f /s cpu (%6.2f s)\n", what, static_cast<double>(n) / wall, wall,
              static_cast<double>(n) / cpu, cpu);
}

TEST(StoreBench, DISABLED_State) {
  const Params p;
  const auto path = (p.dir / "bench.state").string();
  std::filesystem::remove(path);
  std::filesystem::remove(path + "-wal");
  const auto keys = make_keys(p.n);
  std::printf("State: %zu entries, %zu-byte values, commit every %zu puts, in %s\n", p.n, p.value_size, p.commit_every,
              p.dir.c_str());
  {
    State s(path, "bench");
    Timer t0;
    for (std::size_t i = 0; i < p.n; ++i) {
      s.put(keys[i], make_value(i, p.value_size));
      if ((i + 1) % p.commit_every == 0) s.commit();
    }
    s.commit();
    report("put (new keys, commits included)", p.n, t0);

    t0 = Timer{};
    const std::uint64_t size = s.size();
    std::printf("  size() of %llu rows: %.1f ms\n", static_cast<unsigned long long>(size),
                seconds_since(t0.wall) * 1000);
    ASSERT_EQ(size, p.n);
  }
  {
    Timer t0;
    State s(path, "bench");
    std::printf("  reopen: %.1f ms\n", seconds_since(t0.wall) * 1000);
    t0 = Timer{};
    std::size_t bytes = 0;
    for (std::size_t i = 0; i < p.n; ++i) {
      const auto v = s.get(keys[i]);
      ASSERT_TRUE(v.has_value());
      bytes += v->size();
    }
    report("get (hits, in put order: a resume, reopened)", p.n, t0);
    ASSERT_GE(bytes, p.n * p.value_size);
    std::vector<std::size_t> order(p.n);
    std::iota(order.begin(), order.end(), std::size_t{0});
    std::shuffle(order.begin(), order.end(), std::mt19937_64(7));
    t0 = Timer{};
    for (const std::size_t i : order) {
      const auto v = s.get(keys[i]);
      ASSERT_TRUE(v.has_value());
      bytes += v->size();
    }
    report("get (hits, random order)", p.n, t0);
    t0 = Timer{};
    for (std::size_t i = 0; i < p.n; ++i) ASSERT_FALSE(s.get("missing" + std::to_string(i) + "@example.com"));
    report("get (misses)", p.n, t0);
  }
  std::error_code ec;
  std::printf("  file: %.1f MiB; peak RSS of the test process: %.1f MiB\n",
              static_cast<double>(std::filesystem::file_size(path, ec)) / (1 << 20),
              static_cast<double>(peak_rss_kib()) / 1024);
  std::filesystem::remove(path);
  std::filesystem::remove(path + "-wal");
}

TEST(StoreBench, DISABLED_Cache) {
  const Params p;
  const auto path = (p.dir / "bench.cache").string();
  std::filesystem::remove(path);
  std::filesystem::remove(path + "-wal");
  const auto keys = make_keys(p.n);
  std::printf("Cache: %zu address entries, %zu-byte values, commit every %zu puts, in %s\n", p.n, p.value_size,
              p.commit_every, p.dir.c_str());
  std::int64_t now = 1'000'000;
  Cache c(path, [&] { return now; });
  Timer t0;
  for (std::size_t i = 0; i < p.n; ++i) {
    if (i == p.n / 2) now += 1000;  // half old, half new, for expire() below
    c.put_address(keys[i], make_value(i, p.value_size));
    if ((i + 1) % p.commit_every == 0) c.commit();
  }
  c.commit();
  report("put_address (new keys, commits included)", p.n, t0);
  t0 = Timer{};
  for (std::size_t i = 0; i < p.n; ++i) ASSERT_TRUE(c.get_address(keys[(i * 7919) % p.n], std::chrono::hours(1)));
  report("get_address (hits, random order)", p.n, t0);
  t0 = Timer{};
  const std::uint64_t expired = c.expire(std::chrono::seconds(500), Cache::kExpireLimit);
  c.commit();
  const double secs = seconds_since(t0.wall);
  std::printf("  expire(): %llu rows deleted in %.2f s (%.0f rows/s)\n", static_cast<unsigned long long>(expired), secs,
              static_cast<double>(expired) / secs);
  ASSERT_EQ(expired, std::min<std::uint64_t>(p.n / 2, Cache::kExpireLimit));
  std::printf("  peak RSS of the test process: %.1f MiB\n", static_cast<double>(peak_rss_kib()) / 1024);
  std::filesystem::remove(path);
  std::filesystem::remove(path + "-wal");
}

}  // namespace
}  // namespace mailsift::store
