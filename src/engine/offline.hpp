#pragma once
// The offline level (--level syntax) on several threads (--threads N, issue 15): the owner thread
// reads blocks of rows and writes them in input order; N - 1 workers and the owner, while it waits,
// parse, classify and render each block into its own output bytes. Each of the N threads has its
// own Classifier (the PSL memo is thread_local) over one shared Knowledge, which is immutable after
// construction, and one domain::SharedFacts for them all, so a domain is looked up once however
// many threads meet it
// (IDN conversions are shared the same way, in address::parse). The output is the same bytes as
// one thread's: tests/cli/threads_test.py.
// Entry points: resolve_threads, make_offline_pool.
#include <cstddef>
#include <functional>
#include <memory>
#include <vector>

#include "domain/knowledge.hpp"
#include "engine/ordered.hpp"
#include "verdict/classify.hpp"

namespace mailsift::engine {

/// --threads: 0 means the machine's cores (std::thread::hardware_concurrency(), at least 1).
[[nodiscard]] std::size_t resolve_threads(std::size_t requested) noexcept;

/// Rows per block: enough that the per-block hand-over (a lock, a wake-up) costs nothing next to
/// the rows' work, few enough that the first results appear at once and blocks in flight stay
/// small (a block is about 2 MiB with its Results and rendered rows).
constexpr std::size_t kOfflineBlockRows = 2048;
/// Input bytes per block (CSV records handed over undecoded, Reader::next_raw): a block is
/// submitted once it holds this many, whatever its rows, so that long records (up to 1 MiB each,
/// ingest::InputOptions::max_record_bytes) cannot make a block of 2048 of them.
constexpr std::size_t kOfflineBlockBytes = std::size_t{1} << 20;
/// Blocks submitted and not yet written: two per thread keeps every worker busy while the owner
/// reads, writes or runs a block of its own; it bounds memory.
[[nodiscard]] constexpr std::size_t offline_blocks_in_flight(std::size_t threads) noexcept {
  return 2 * threads + 2;
}

/// An OrderedPool for `threads` threads (at least 2) whose work function gets its thread's own
/// Classifier over `k` (which must outlive the pool). The owner is one of them (OrderedPool's
/// `owner_works`): `threads - 1` workers are started, and the owner classifies blocks while it
/// waits for the next to write, so --threads 2 is two threads on two cores, not three.
template <class Block>
std::unique_ptr<OrderedPool<Block>> make_offline_pool(const domain::Knowledge& k, std::size_t threads,
                                                      std::function<void(Classifier&, Block&)> work) {
  struct Workers {
    domain::SharedFacts facts;  // first: the classifiers point into it
    std::vector<std::unique_ptr<Classifier>> classifiers;
  };
  const std::size_t started = threads > 2 ? threads - 1 : 1;
  auto workers = std::make_shared<Workers>();
  for (std::size_t w = 0; w <= started; ++w)  // the last one is the owner's
    workers->classifiers.push_back(std::make_unique<Classifier>(k, &workers->facts));
  return std::make_unique<OrderedPool<Block>>(
      started, offline_blocks_in_flight(threads),
      [workers, work = std::move(work)](std::size_t w, Block& b) { work(*workers->classifiers[w], b); },
      /*owner_works=*/true);
}

}  // namespace mailsift::engine
