#pragma once
// Socket I/O for c-ares, batched (ares_set_socket_functions). Entry point: BatchedIo.
//
// Why: at tens of thousands of queries per second, half of the resolver's CPU went to one
// sendto() and one recvfrom() system call per query, and every lone datagram woke the DNS
// server's worker for just that one question. Here the UDP datagrams c-ares writes during one
// event-loop turn are queued and leave in one sendmmsg() (flush()), and a readable UDP socket is
// drained with recvmmsg() into a ring that c-ares' recvfrom calls are then served from.
//
// TCP (a truncated answer retried over TCP) goes straight to the system calls. Errors keep c-ares'
// semantics: a datagram the kernel refuses (ECONNREFUSED after an ICMP port unreachable, ...)
// has its error handed to c-ares at its next read of that socket (the `kick` callback asks the
// owner to make c-ares read it), so the query fails over or ends as before. Not thread-safe, like
// the resolver that owns it.
#include <ares.h>
#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <unordered_map>
#include <vector>

namespace mailsift::dns {

class BatchedIo {
 public:
  /// `queued`: the first datagram is waiting to be sent; the owner must call flush() soon (from
  /// outside c-ares, e.g. a posted handler). `kick(fd)`: a send on fd failed; the owner must make
  /// c-ares read fd (ares_process_fd) so that it sees the error.
  BatchedIo(std::function<void()> queued, std::function<void(int)> kick, int receive_buffer);
  ~BatchedIo();
  BatchedIo(const BatchedIo&) = delete;
  BatchedIo& operator=(const BatchedIo&) = delete;

  /// Hand this to ares_set_socket_functions with `this` as user data.
  [[nodiscard]] static const ares_socket_functions* functions() noexcept;

  /// Sends every queued datagram (sendmmsg, a call per socket and 1,024 datagrams).
  void flush();
  /// True while fd has received datagrams c-ares has not read yet: call ares_process_fd again
  /// (newer c-ares versions read one datagram per call when the application owns the sockets).
  [[nodiscard]] bool buffered(int fd) const;

  struct Stats {
    std::uint64_t send_calls = 0, datagrams_sent = 0;
    std::uint64_t receive_calls = 0, datagrams_received = 0;
    std::uint64_t send_dropped = 0;  // refused by a full socket buffer: c-ares retransmits them
    std::uint64_t reads = 0;         // c-ares' recvfrom calls on UDP sockets
  };
  [[nodiscard]] const Stats& stats() const noexcept { return stats_; }

 private:
  struct Socket;
  static ares_socket_t open(int domain, int type, int protocol, void* self);
  static int close(ares_socket_t fd, void* self);
  static int connect(ares_socket_t fd, const sockaddr* addr, ares_socklen_t len, void* self);
  static ares_ssize_t recvfrom(ares_socket_t fd, void* buf, std::size_t len, int flags, sockaddr* from,
                               ares_socklen_t* fromlen, void* self);
  static ares_ssize_t sendv(ares_socket_t fd, const iovec* iov, int iovcnt, void* self);
  void flush(int fd, Socket& s);

  std::function<void()> queued_;
  std::function<void(int)> kick_;
  int receive_buffer_;
  std::unordered_map<int, std::unique_ptr<Socket>> sockets_;
  // c-ares closes its UDP socket whenever no query is left in flight and opens a fresh one (a new
  // source port) for the next: closed sockets' buffers are kept for reuse, not freed and faulted
  // in again.
  std::vector<std::unique_ptr<Socket>> spare_;
  bool anything_queued_ = false;
  Stats stats_;
};

}  // namespace mailsift::dns
