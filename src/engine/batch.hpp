#pragma once
// What the engine hands to its network stages: a batch of inputs with its distinct domains, and
// the Signal that wakes the caller's thread when a batch's last domain ends. Shared by the local
// stages (engine/local.hpp) and the broker's (engine/remote.hpp). Entry points: Batch, Signal.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <exception>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dns/evidence.hpp"
#include "dns/mail.hpp"
#include "smtp/probe.hpp"
#include "verdict/result.hpp"

namespace mailsift::engine {

constexpr std::size_t kNoSlot = ~std::size_t{0};

/// A batch's inputs end to end in one buffer, with where each ends: a few allocations per batch
/// where a std::string per input was one per address (most addresses are longer than the 15
/// bytes a string holds in place), the last allocation per address on the path of
/// `verify --threads 1` from standard input.
class Inputs {
 public:
  void push_back(std::string_view input) {
    text_.append(input);
    ends_.push_back(text_.size());
  }
  [[nodiscard]] std::size_t size() const noexcept { return ends_.size(); }
  [[nodiscard]] bool empty() const noexcept { return ends_.empty(); }
  [[nodiscard]] std::string_view operator[](std::size_t i) const noexcept {
    const std::size_t from = i == 0 ? 0 : ends_[i - 1];
    return std::string_view(text_).substr(from, ends_[i] - from);
  }
  /// Empty, keeping its room (a reused block of `verify --threads N` fills it again).
  void clear() noexcept {
    text_.clear();
    ends_.clear();
  }
  /// Room for as many inputs and bytes as `like` holds (the next batch is most likely its size).
  void reserve_like(const Inputs& like) {
    text_.reserve(like.text_.size());
    ends_.reserve(like.ends_.size());
  }

 private:
  std::string text_;
  std::vector<std::size_t> ends_;
};

struct Domain {
  std::string name;
  std::string registrable;
  bool literal = false;
  dns::DomainDnsPtr dns;          // local stages: the lookup's answer
  std::vector<std::size_t> rows;  // the batch rows at this domain
};

// One submitted batch: its inputs, their Results (classified offline by the caller's thread), its
// distinct domains. A domain's fields and its rows' network output are written by the stage that
// owns the domain; the caller's thread reads them once `open` is 0.
struct Batch {
  std::uint64_t id = 0;  // submission order, from 0
  Inputs inputs;
  std::vector<Result> results;
  std::vector<std::size_t> slot;  // row → its domain in `domains`, or kNoSlot
  std::vector<char> held;         // --history: row not asked (Reason::held_back); empty without history
  std::vector<Domain> domains;
  std::vector<std::optional<smtp::AddressProbe>> probes;  // local stages: the row's RCPT answer
  std::vector<std::string> verdicts;  // broker: the row's verdict from a worker (verdict/stored.hpp)
  // --rdap (engine/rdap.hpp): the registration per domain in `domains`, written by the RDAP stage
  std::vector<std::shared_ptr<const domain::Registration>> registration;
  std::atomic<std::size_t> open{0};  // units (domains, or chunks) whose work has not ended
  [[nodiscard]] bool done() const noexcept { return open.load(std::memory_order_acquire) == 0; }
};

/// Ctrl-C during a wait: once the flag is set, in-flight work gets `grace` more, then the wait
/// throws Interrupted.
struct Interrupt {
  const std::atomic<bool>* flag = nullptr;
  std::chrono::milliseconds grace{0};
  std::optional<std::chrono::steady_clock::time_point> stop_at;
  /// True when the grace time has run out.
  bool due() {
    if (flag == nullptr) return false;
    if (!stop_at && flag->load()) stop_at = std::chrono::steady_clock::now() + grace;
    return stop_at && std::chrono::steady_clock::now() >= *stop_at;
  }
};
struct Interrupted {};

/// Completion of batches across threads: the stages call unit_done from any thread; the caller's
/// thread sleeps in wait(). A stage that fails (a bug, or a broker that stays down) calls fail():
/// the caller's wait rethrows it.
class Signal {
 public:
  /// Called (on the stage's thread) each time a batch finishes, after the waiters are woken: for a
  /// caller that does not sleep in wait() but runs an event loop of its own (the HTTP server). Set
  /// before the first batch starts.
  std::function<void(Batch&)> on_finished;

  void unit_done(Batch& b) {
    if (b.open.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
    {
      const std::lock_guard lock(mu_);
      ++finished_;
      cv_.notify_all();
    }
    if (on_finished) on_finished(b);
  }
  void fail(std::exception_ptr e) {
    const std::lock_guard lock(mu_);
    if (!failure_) failure_ = std::move(e);
    cv_.notify_all();
  }
  /// Waits until `b` is done (rethrows a stage's failure; throws Interrupted).
  void wait(const Batch& b, Interrupt& in) {
    std::unique_lock lock(mu_);
    while (!b.done()) {
      if (failure_) std::rethrow_exception(failure_);
      if (in.due()) throw Interrupted{};
      cv_.wait_for(lock, std::chrono::milliseconds(200));
    }
  }
  /// Waits at most `for_at_most` for any batch to finish after `seen` (a count from finished()).
  void wait_any(std::uint64_t seen, std::chrono::milliseconds for_at_most) {
    std::unique_lock lock(mu_);
    if (failure_) std::rethrow_exception(failure_);
    cv_.wait_for(lock, for_at_most, [&] { return finished_ != seen || failure_; });
    if (failure_) std::rethrow_exception(failure_);
  }
  [[nodiscard]] std::uint64_t finished() {
    const std::lock_guard lock(mu_);
    return finished_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::exception_ptr failure_;
  std::uint64_t finished_ = 0;
};

}  // namespace mailsift::engine
