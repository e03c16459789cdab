// The size of a --history file (issue 17: 1,000,000 domains in at most 200 MB) and the time to
// write it, through the real store (store/history.hpp), in the batches the engine writes (20,000
// domains a transaction). Usage: mailsift_history_size FILE [DOMAINS] [HOSTS] [hash]
// The records look like a real list's: names of 6–30 characters (word-word, digits, hyphens,
// subdomains for 10%, IDN A-labels for 3%) under 40 TLDs; 1 to 4 reasons each with counts up to
// thousands; an MX set hash; dates over a year; catch-all answers on 15%, greylisting on 5%,
// refusals on 2%. The hosts table: one MX host per 10 domains.
#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "store/history.hpp"

namespace {

const char* const kWords[] = {"acme",   "north", "blue",  "data",  "tech", "green", "global", "smart", "cloud", "river",
                              "stone",  "bright", "metro", "alpha", "nova", "prime", "urban",  "pixel", "solar", "delta",
                              "harbor", "maple", "atlas", "vista", "crest", "swift", "orbit",  "zen",   "peak",  "forge"};
const char* const kTlds[] = {"com", "net", "org", "de", "co.uk", "fr", "io", "nl", "com.au", "it", "es", "ch", "se", "at",
                             "be", "dk", "pl", "ca", "jp", "com.br", "in", "ru", "us", "info", "biz", "eu", "cz", "no",
                             "fi", "pt", "ie", "nz", "co", "mx", "ar", "gr", "hu", "ro", "sk", "tv"};

std::uint64_t file_bytes(const std::string& path) {
  struct stat st {};
  std::uint64_t n = 0;
  for (const std::string& p : {path, path + "-wal"})
    if (stat(p.c_str(), &st) == 0) n += static_cast<std::uint64_t>(st.st_size);
  return n;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s FILE [DOMAINS] [HOSTS] [hash]\n", argv[0]);
    return 2;
  }
  const std::string path = argv[1];
  const std::size_t domains = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 1'000'000;
  const std::size_t hosts = argc > 3 ? std::strtoull(argv[3], nullptr, 10) : domains / 10;
  std::remove(path.c_str());
  std::mt19937_64 rng(42);
  auto pick = [&rng](std::size_t n) { return static_cast<std::size_t>(rng() % n); };
  constexpr std::int64_t kNow = 1'796'000'000;
  const auto start = std::chrono::steady_clock::now();
  std::size_t names = 0;
  {
    mailsift::store::HistoryOptions o;
    o.hash_keys = argc > 4 && std::string(argv[4]) == "hash";  // --hash-keys: 32-character keys
    mailsift::store::History h(path, o, [] { return kNow; });
    std::vector<std::pair<std::string, mailsift::store::DomainRecord>> batch;
    for (std::size_t i = 0; i < domains; ++i) {
      std::string name;
      if (pick(10) == 0) name += std::string(kWords[pick(30)]) + ".";  // a subdomain
      if (pick(33) == 0) name += "xn--" + std::to_string(rng() % 100000) + "b-ab";  // an A-label
      name += kWords[pick(30)];
      if (pick(2) == 0) name += std::string("-") + kWords[pick(30)];
      name += std::to_string(i);  // distinct
      name += ".";
      name += kTlds[pick(40)];
      names += name.size();
      mailsift::store::DomainRecord d;
      d.first_seen = kNow - static_cast<std::int64_t>(pick(365 * 86400));
      d.last_seen = d.first_seen + static_cast<std::int64_t>(pick(30 * 86400));
      d.valid = pick(50);
      d.invalid = pick(20);
      d.unknown = pick(4);
      d.checked = d.valid + d.invalid + d.unknown;
      if (d.valid) d.count_reason(2, d.valid);
      if (d.invalid) d.count_reason(17, d.invalid);
      if (d.unknown) d.count_reason(static_cast<std::uint8_t>(22 + pick(8)), d.unknown);
      if (pick(7) == 0) {
        d.catch_all_yes = pick(5);
        d.catch_all_at = d.last_seen;
        d.catch_all_last = true;
      }
      if (pick(20) == 0) {
        d.greylisted = 1;
        d.greylisted_at = d.last_seen;
      }
      if (pick(50) == 0) {
        d.refused = 1;
        d.refused_at = d.last_seen;
      }
      d.mx_hash = rng();
      batch.emplace_back(std::move(name), std::move(d));
      if (batch.size() == 20'000 || i + 1 == domains) {
        h.merge(batch, {});
        batch.clear();
      }
    }
    std::vector<std::pair<std::string, mailsift::store::MxRecord>> hb;
    for (std::size_t i = 0; i < hosts; ++i) {
      mailsift::store::MxRecord m;
      m.first_seen = kNow - static_cast<std::int64_t>(pick(365 * 86400));
      m.last_seen = kNow;
      m.probes = pick(100000);
      hb.emplace_back("mx" + std::to_string(pick(3)) + ".mail-host" + std::to_string(i) + ".com", m);
      if (hb.size() == 20'000 || i + 1 == hosts) {
        h.merge({}, hb);
        hb.clear();
      }
    }
    std::printf("domains %zu (mean name %.1f bytes), MX hosts %zu\n", h.domain_count(),
                static_cast<double>(names) / static_cast<double>(domains), static_cast<std::size_t>(h.mx_count()));
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const std::uint64_t bytes = file_bytes(path);
  std::printf("file %.1f MB (%.0f bytes per domain), written in %.1f s (%.0f domains/s)\n",
              static_cast<double>(bytes) / 1e6, static_cast<double>(bytes) / static_cast<double>(domains), secs,
              static_cast<double>(domains) / secs);
  return 0;
}
