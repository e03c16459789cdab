// Reader throughput on a bulk file: rows/s and MB/s of ingest::Reader (no verification).
// Usage: mailsift_ingest_bench FILE [FORMAT]   (compare with `wc -l FILE` on the same file)
#include <chrono>
#include <cstdio>
#include <string>

#include "ingest/reader.hpp"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s FILE [txt|csv|jsonl]\n", argv[0]);
    return 2;
  }
  mailsift::ingest::InputOptions o;
  if (argc > 2) o.format = mailsift::ingest::parse_format(argv[2]);
  const auto t0 = std::chrono::steady_clock::now();
  auto r = mailsift::ingest::Reader::open(argv[1], o);
  mailsift::ingest::Record rec;
  std::uint64_t rows = 0, with_email = 0;
  while (r->next(rec)) {
    ++rows;
    with_email += !rec.email.empty();
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("%llu rows (%llu with an address) in %.3f s: %.0f rows/s, %.0f MB/s\n",
              static_cast<unsigned long long>(rows), static_cast<unsigned long long>(with_email), s, rows / s,
              static_cast<double>(r->bytes_read()) / s / 1e6);
  return 0;
}
