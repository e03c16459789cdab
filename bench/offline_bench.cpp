// In-process throughput of the offline level on a corpus file (MAILSIFT_CORPUS, one address per
// line; bench/gen_corpus.py makes one). BM_LineScan is the reference measured in the same run:
// finding the line ends of the same bytes in memory, which is what `wc -l` does.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <unordered_set>
#include <vector>

#include "address/address.hpp"
#include "domain/knowledge.hpp"
#include "verdict/classify.hpp"
#include "verdict/render.hpp"

namespace {

struct Corpus {
  std::string bytes;
  std::vector<std::string_view> lines;
};

const Corpus& corpus() {
  static const Corpus c = [] {
    Corpus k;
    const char* path = std::getenv("MAILSIFT_CORPUS");
    if (path == nullptr) {
      std::fprintf(stderr, "set MAILSIFT_CORPUS to a corpus file (bench/gen_corpus.py N FILE)\n");
      std::exit(2);
    }
    std::ifstream f(path, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    k.bytes = ss.str();
    std::string_view rest = k.bytes;
    while (!rest.empty()) {
      const std::size_t nl = rest.find('\n');
      k.lines.push_back(rest.substr(0, nl));
      rest = nl == std::string_view::npos ? std::string_view{} : rest.substr(nl + 1);
    }
    return k;
  }();
  return c;
}

void BM_LineScan(benchmark::State& state) {
  const Corpus& c = corpus();
  for (auto _ : state) {
    std::size_t n = 0;
    const char* p = c.bytes.data();
    const char* end = p + c.bytes.size();
    while ((p = static_cast<const char*>(std::memchr(p, '\n', static_cast<std::size_t>(end - p)))) != nullptr) {
      ++n;
      ++p;
    }
    benchmark::DoNotOptimize(n);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * c.lines.size()));
}

void BM_Parse(benchmark::State& state) {
  const Corpus& c = corpus();
  mailsift::address::Address a;
  for (auto _ : state) {
    mailsift::address::forget_idn_cache();  // one pass of the command: nothing converted yet
    std::size_t ok = 0;
    for (std::string_view line : c.lines) ok += mailsift::address::parse(line, a) == mailsift::Reason::well_formed;
    benchmark::DoNotOptimize(ok);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * c.lines.size()));
}

// One pass over the corpus: every line classified into `r`; the valid ones counted so that the
// work cannot be optimized away.
std::size_t classify_pass(mailsift::Classifier& classifier, const Corpus& c, mailsift::Result& r) {
  std::size_t valid = 0;
  for (std::string_view line : c.lines) {
    classifier.classify(line, r);
    valid += r.status == mailsift::Status::valid;
  }
  return valid;
}

void BM_ParseClassify(benchmark::State& state) {
  const Corpus& c = corpus();
  static const mailsift::domain::Knowledge knowledge;
  mailsift::Result r;
  for (auto _ : state) {
    // A fresh classifier (and so a cold FactsCache) per pass: each iteration is one run of the
    // command over the corpus, not a replay against a cache that already holds every domain.
    mailsift::Classifier classifier(knowledge);
    mailsift::address::forget_idn_cache();
    benchmark::DoNotOptimize(classify_pass(classifier, c, r));
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * c.lines.size()));
}

// The per-address part alone: the same classifier for every pass, warmed by one untimed pass, so
// every domain's facts are a cache hit. Cold pass (BM_ParseClassify) = this per address + the new
// domains' Knowledge::lookup (BM_NewDomainFacts) + the cold cache's misses and growth.
void BM_ParseClassifyWarm(benchmark::State& state) {
  const Corpus& c = corpus();
  static const mailsift::domain::Knowledge knowledge;
  mailsift::Result r;
  mailsift::Classifier classifier(knowledge);
  benchmark::DoNotOptimize(classify_pass(classifier, c, r));  // the untimed warming pass
  for (auto _ : state) benchmark::DoNotOptimize(classify_pass(classifier, c, r));
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * c.lines.size()));
}

void BM_ParseClassifyJson(benchmark::State& state) {
  const Corpus& c = corpus();
  static const mailsift::domain::Knowledge knowledge;
  mailsift::Result r;
  std::string out;
  out.reserve(1 << 21);
  for (auto _ : state) {
    mailsift::Classifier classifier(knowledge);  // cold per pass, as above
    mailsift::address::forget_idn_cache();
    for (std::string_view line : c.lines) {
      classifier.classify(line, r);
      mailsift::render::append_json(r, out);
      out.push_back('\n');
      if (out.size() > (1 << 20)) out.clear();
    }
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * c.lines.size()));
}

// The offline facts of a new domain (public suffix list, disposable/free/known lists, typo
// suggestion): Knowledge::lookup, uncached, once per distinct valid domain of the corpus. This is
// the per-domain cost that a list with many distinct domains pays (issue 15: at most 1 µs). Into
// one DomainFacts, as FactsCache::get does.
void BM_NewDomainFacts(benchmark::State& state) {
  static const std::vector<std::string> domains = [] {
    std::unordered_set<std::string> seen;
    std::vector<std::string> v;
    mailsift::address::Address a;
    for (std::string_view line : corpus().lines)
      if (mailsift::address::parse(line, a) == mailsift::Reason::well_formed && seen.emplace(a.domain()).second)
        v.emplace_back(a.domain());
    return v;
  }();
  static const mailsift::domain::Knowledge knowledge;
  mailsift::domain::DomainFacts f;  // one record for them all, as the facts cache looks them up
  for (auto _ : state) {
    std::size_t suggested = 0;
    for (const std::string& d : domains) {
      knowledge.lookup(d, f);
      suggested += !f.suggestion.empty();
    }
    benchmark::DoNotOptimize(suggested);
  }
  state.counters["domains"] = static_cast<double>(domains.size());
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * domains.size()));
}

}  // namespace

BENCHMARK(BM_LineScan)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Parse)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ParseClassify)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ParseClassifyWarm)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ParseClassifyJson)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_NewDomainFacts)->Unit(benchmark::kMillisecond);
BENCHMARK_MAIN();
