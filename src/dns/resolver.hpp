#pragma once
// The asynchronous DNS resolver: c-ares driven by a Boost.Asio io_context. Entry point:
// Resolver::query (callback) or Resolver::async_query (any Asio completion token, e.g.
// asio::use_awaitable), so the SMTP stage can share the same io_context.
//
// One event loop, many queries in flight, no thread per lookup: c-ares tells us (sock-state
// callback) which sockets to watch; we watch them with stream_descriptor::async_wait and drive
// c-ares' retransmissions with one steady_timer. Not thread-safe: use it from the io_context's
// (single) thread only.
//
// Outcomes are values (Status), never exceptions: NXDOMAIN, NODATA, SERVFAIL, REFUSED and a
// timeout are kept apart because the verdict treats them very differently (RFC 2308, RFC 5321 §5.1).
// Answers are cached (positive by TTL, negative per RFC 2308 §5, bounded LRU) and concurrent
// queries for the same (name, type) share one network query (coalescing).
#include <boost/asio/async_result.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/lane.hpp"

namespace mailsift::dns {

enum class Type : std::uint8_t { a, aaaa, mx, txt };

/// What a query came to. Only `ok` carries records.
enum class Status : std::uint8_t {
  ok,        // NOERROR with records of the asked type
  nodata,    // NOERROR, name exists, no records of that type (RFC 2308 §2.2)
  nxdomain,  // the name does not exist (RCODE 3, RFC 2308 §2.1)
  servfail,  // RCODE 2 from every server tried
  refused,   // RCODE 5 from every server tried
  timeout,   // no answer within the timeout and tries
  error,     // anything else (bad response, FORMERR, NOTIMP, connection refused, bad name...)
};
/// Upper-case name as in RFC 1035/2308 ("NXDOMAIN", "SERVFAIL", "TIMEOUT", ...).
[[nodiscard]] std::string_view name(Status s) noexcept;
/// True for the outcomes that say nothing about the domain (retry later): servfail, refused,
/// timeout, error.
[[nodiscard]] constexpr bool transient(Status s) noexcept {
  return s == Status::servfail || s == Status::refused || s == Status::timeout || s == Status::error;
}

struct Mx {
  std::uint16_t preference = 0;
  std::string exchange;  // "" for the root (a null MX, RFC 7505)
};

struct Answer {
  Status status = Status::error;
  std::vector<Mx> mx;               // Type::mx
  std::vector<std::string> addrs;   // Type::a / Type::aaaa, textual (inet_ntop)
  std::vector<std::string> txt;     // Type::txt, one string per record (its chunks joined, RFC 7208 §3.3)
  std::uint32_t ttl = 0;            // seconds the answer may be cached (0: not cached)
};
using AnswerPtr = std::shared_ptr<const Answer>;
using Callback = std::function<void(const AnswerPtr&)>;

struct ResolverOptions {
  /// "HOST[:PORT]" or "[IPV6]:PORT" each; empty: the system configuration (/etc/resolv.conf).
  std::vector<std::string> servers;
  std::chrono::milliseconds timeout{2000};  // per try (c-ares doubles it on each retry round)
  int tries = 2;
  std::size_t cache_entries = 200'000;      // LRU bound
  std::uint32_t max_ttl = 86'400;           // positive answers are kept at most this long
  // RFC 2308 §5: a negative answer is cached for min(SOA TTL, SOA MINIMUM) of its authority
  // section; without an SOA we use negative_ttl; either way at most negative_ttl (RFC 2308 §5
  // suggests 1-3 hours as a cap, we keep it short: a bulk run must see a freshly created domain).
  std::uint32_t negative_ttl = 300;
  // Network queries in flight at once (dnsperf's default too); more wait in a FIFO. c-ares sends them all from one UDP
  // socket per server, and a burst of answers beyond the socket's receive buffer (rmem_default is
  // 208 KiB: ~270 answers) is dropped by the kernel and costs a whole retransmission timeout.
  std::size_t max_inflight = 100;
  // Of max_inflight, the slots a Lane::bulk query may not take (at most max_inflight - 1), and
  // queued real-time queries leave before queued bulk ones: a bulk run at domains whose servers
  // never answer holds its slots a whole timeout each, and a real-time check must not wait for
  // that. 0 (the default, and what a run with no real-time work wants): bulk may use every slot.
  std::size_t realtime_reserve = 0;
  int socket_receive_buffer = 1 << 20;  // asked for; the kernel caps it at net.core.rmem_max
  /// Clock for cache expiry; tests substitute a fake one.
  std::function<std::chrono::steady_clock::time_point()> clock;
};

struct ResolverStats {
  std::uint64_t queries_sent = 0;  // network queries started (what a DNS benchmark counts)
  std::uint64_t cache_hits = 0;
  std::uint64_t coalesced = 0;     // queries that joined one already in flight
  std::uint64_t queued = 0;        // queries that waited for a free slot (max_inflight)
  std::uint64_t realtime_sent = 0;  // network queries sent for a Lane::realtime caller
  // UDP system calls (batched_io.hpp): many datagrams per call when queries are many.
  std::uint64_t udp_send_calls = 0;     // sendmmsg
  std::uint64_t udp_receive_calls = 0;  // recvmmsg
  std::uint64_t udp_send_dropped = 0;   // refused by a full socket buffer (c-ares retransmits)
  /// Sums the counts of several resolvers (one per event loop).
  ResolverStats& operator+=(const ResolverStats& o) noexcept {
    queries_sent += o.queries_sent;
    cache_hits += o.cache_hits;
    coalesced += o.coalesced;
    queued += o.queued;
    realtime_sent += o.realtime_sent;
    udp_send_calls += o.udp_send_calls;
    udp_receive_calls += o.udp_receive_calls;
    udp_send_dropped += o.udp_send_dropped;
    return *this;
  }
};

class Resolver {
 public:
  /// Throws std::runtime_error when c-ares cannot start or a server string is malformed.
  Resolver(boost::asio::io_context& io, ResolverOptions options);
  ~Resolver();
  Resolver(const Resolver&) = delete;
  Resolver& operator=(const Resolver&) = delete;

  /// Looks `name` up (no search domains, RD set); `done` runs later on the io_context, never
  /// inside this call, with a non-null answer. `lane` decides its place in the queue and which
  /// slots it may use (ResolverOptions::realtime_reserve); a real-time query that joins a bulk one
  /// still queued moves it to the real-time queue.
  void query(std::string_view name, Type type, Callback done, Lane lane = Lane::bulk);

  /// Same, for any Asio completion token; the signature is void(AnswerPtr).
  template <typename Token>
  auto async_query(std::string_view name, Type type, Token&& token) {
    return boost::asio::async_initiate<Token, void(AnswerPtr)>(
        [this](auto handler, std::string n, Type t) {
          // Asio handlers are move-only; std::function needs a copyable callable.
          auto h = std::make_shared<decltype(handler)>(std::move(handler));
          query(n, t, [h](const AnswerPtr& a) { std::move(*h)(a); });
        },
        token, std::string(name), type);
  }

  [[nodiscard]] ResolverStats stats() const noexcept;
  [[nodiscard]] std::size_t cache_size() const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// TTLs of a raw DNS response (RFC 1035 §4.1), for the cache: the smallest TTL of the answer
/// section, and for a negative answer min(SOA TTL, SOA MINIMUM) from the authority section
/// (RFC 2308 §5). Tolerant: a malformed message gives what could be read. Exposed for tests.
struct WireTtls {
  bool has_answer_ttl = false;
  std::uint32_t answer_ttl = 0;
  bool has_negative_ttl = false;
  std::uint32_t negative_ttl = 0;
};
[[nodiscard]] WireTtls wire_ttls(const unsigned char* msg, std::size_t len) noexcept;

}  // namespace mailsift::dns
