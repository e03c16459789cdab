#pragma once
// An ordered worker pool: one thread (the owner) fills blocks of work and submits them; N worker
// threads process them in parallel; the owner takes them back in submission order. At most
// `max_in_flight` blocks are submitted and not yet taken back, so memory stays bounded however
// long the input; taken-back blocks are recycled with their storage (strings, vectors) intact.
//
// Locking is per block (a mutex and two condition variables guard the queue), never per row: a
// block holds thousands of rows. The work function runs without the lock and gets its worker's
// index, so per-thread state (a Classifier, its caches) lives in the caller's vector indexed by it.
// An exception thrown by the work function is rethrown by take() when that block's turn comes.
// With `owner_works`, the owner runs queued blocks itself while it waits in take(), as one more
// worker: N threads in all do the work with N - 1 started, so on N cores N threads run, not N + 1
// taking turns (the CSV command with --threads 2: about 60 context switches a run, not 630).
// Entry points: OrderedPool::acquire, submit, take.
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

namespace mailsift::engine {

template <class Block>
class OrderedPool {
 public:
  using Work = std::function<void(std::size_t worker, Block& block)>;

  /// Starts `workers` threads (at least 1). `max_in_flight` (at least 1) bounds the blocks submitted
  /// and not taken back. With `owner_works`, take(true) runs blocks not yet started on the calling
  /// thread while it waits, with worker index `workers`: the work function then gets indices
  /// 0 to `workers` inclusive.
  OrderedPool(std::size_t workers, std::size_t max_in_flight, Work work, bool owner_works = false)
      : work_(std::move(work)), max_in_flight_(max_in_flight == 0 ? 1 : max_in_flight), owner_works_(owner_works) {
    if (workers == 0) workers = 1;
    threads_.reserve(workers);
    for (std::size_t w = 0; w < workers; ++w) threads_.emplace_back([this, w] { loop(w); });
  }
  OrderedPool(const OrderedPool&) = delete;
  OrderedPool& operator=(const OrderedPool&) = delete;
  /// Stops the workers once the blocks they are processing are done (blocks not started are
  /// dropped) and joins them.
  ~OrderedPool() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    work_cv_.notify_all();
    for (std::thread& t : threads_) t.join();
  }

  [[nodiscard]] std::size_t workers() const noexcept { return threads_.size(); }
  /// Blocks submitted and not yet taken back.
  [[nodiscard]] std::size_t in_flight() const noexcept { return flight_.size(); }
  /// True when the owner must take a block back (waiting) before it submits another.
  [[nodiscard]] bool full() const noexcept { return flight_.size() >= max_in_flight_; }

  /// A block to fill: one taken back earlier and released (its storage reused), else a new one.
  std::unique_ptr<Block> acquire() {
    if (spare_.empty()) return std::make_unique<Block>();
    std::unique_ptr<Block> b = std::move(spare_.back());
    spare_.pop_back();
    return b;
  }
  /// Hands a taken-back block back for reuse.
  void release(std::unique_ptr<Block> b) { spare_.push_back(std::move(b)); }

  /// Queues `b` for a worker. The caller must not submit while full() (a logic error: throws).
  void submit(std::unique_ptr<Block> b) {
    if (full()) throw std::logic_error("OrderedPool::submit while full");
    auto slot = std::make_shared<Slot>();
    slot->block = std::move(b);
    flight_.push_back(slot);
    {
      std::lock_guard<std::mutex> lock(mu_);
      queue_.push_back(std::move(slot));
    }
    work_cv_.notify_one();
  }

  /// The oldest submitted block once processed: with `wait`, waits for it (with `owner_works`,
  /// running the oldest blocks not yet started meanwhile: the one waited for first, when no worker
  /// has taken it); without, returns null when it is not done yet (or nothing is in flight).
  /// Rethrows the work function's exception.
  std::unique_ptr<Block> take(bool wait) {
    if (flight_.empty()) return nullptr;
    const std::shared_ptr<Slot>& front = flight_.front();
    {
      std::unique_lock<std::mutex> lock(mu_);
      while (!front->done) {
        if (!wait) return nullptr;
        if (owner_works_ && !queue_.empty()) {
          std::shared_ptr<Slot> slot = std::move(queue_.front());
          queue_.pop_front();
          lock.unlock();
          run(threads_.size(), *slot);
          lock.lock();
          continue;
        }
        // Only workers finish blocks now, and nothing is queued that the owner could run (only the
        // owner queues): wait for the front.
        done_cv_.wait(lock, [&front] { return front->done; });
      }
    }
    std::shared_ptr<Slot> slot = std::move(flight_.front());
    flight_.pop_front();
    if (slot->error) std::rethrow_exception(slot->error);
    return std::move(slot->block);
  }

 private:
  struct Slot {
    std::unique_ptr<Block> block;
    std::exception_ptr error;
    bool done = false;  // guarded by mu_
  };

  void loop(std::size_t w) {
    for (;;) {
      std::shared_ptr<Slot> slot;
      {
        std::unique_lock<std::mutex> lock(mu_);
        work_cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
        if (stop_) return;
        slot = std::move(queue_.front());
        queue_.pop_front();
      }
      run(w, *slot);
      done_cv_.notify_one();
    }
  }

  // Runs a block's work as worker `w` and marks it done; the lock must not be held.
  void run(std::size_t w, Slot& slot) {
    try {
      work_(w, *slot.block);
    } catch (...) {
      slot.error = std::current_exception();
    }
    std::lock_guard<std::mutex> lock(mu_);
    slot.done = true;
  }

  Work work_;
  std::size_t max_in_flight_;
  bool owner_works_;
  // The owner's side (one thread): blocks in submission order, and spare blocks.
  std::deque<std::shared_ptr<Slot>> flight_;
  std::vector<std::unique_ptr<Block>> spare_;
  // Shared with the workers, under mu_.
  std::mutex mu_;
  std::condition_variable work_cv_;
  std::condition_variable done_cv_;
  std::deque<std::shared_ptr<Slot>> queue_;
  bool stop_ = false;
  std::vector<std::thread> threads_;  // last: started after everything above exists
};

}  // namespace mailsift::engine
