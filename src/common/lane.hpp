#pragma once
// Which kind of work a network request serves, so the shared limits (DNS queries in flight, SMTP
// sessions) can keep a person waiting on a real-time check from queueing behind a bulk job: a
// job of tarpit domains would otherwise hold every slot for a whole timeout each (issue 14, #8).
// The resolver (dns/resolver.hpp) and the SMTP semaphores (smtp/politeness.hpp) take it; each
// serves `realtime` first and keeps a configured reserve of its slots that `bulk` may not take.
#include <cstddef>
#include <cstdint>

namespace mailsift {

enum class Lane : std::uint8_t {
  bulk,      // files (mailsift verify) and jobs (POST /v1/jobs): throughput, nobody waits on one row
  realtime,  // GET /v1/verify: someone waits for this answer
};

/// How many of `limit` slots to keep for real-time work: `percent` of it, at least one when
/// `percent` > 0, and never all of them (bulk work always keeps one slot).
[[nodiscard]] constexpr std::size_t realtime_reserve(std::size_t limit, double percent) noexcept {
  if (percent <= 0 || limit <= 1) return 0;
  auto n = static_cast<std::size_t>(static_cast<double>(limit) * percent / 100.0);
  if (n == 0) n = 1;
  return n >= limit ? limit - 1 : n;
}

}  // namespace mailsift
