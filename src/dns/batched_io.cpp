#include "dns/batched_io.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

namespace mailsift::dns {

namespace {
constexpr unsigned kSlots = 64;              // datagrams per recvmmsg
constexpr std::size_t kSlotSize = 4097;      // as large as c-ares' own UDP read buffer (MAXENDSSZ + 1)
constexpr std::size_t kMaxSendBatch = 1024;  // UIO_MAXIOV: the most sendmmsg takes in one call
constexpr std::size_t kMaxDatagram = 65535;
constexpr std::size_t kSpareSockets = 4;
}  // namespace

struct BatchedIo::Socket {
  bool udp = false;
  int pending_error = 0;  // errno of a failed send, reported by the next read

  // Outbound: datagrams back to back, with their lengths.
  std::vector<unsigned char> out;
  std::vector<std::uint32_t> out_len;

  // Inbound ring, allocated on the first read.
  std::vector<unsigned char> in;
  std::array<mmsghdr, kSlots> msgs{};
  std::array<iovec, kSlots> iovs{};
  std::array<sockaddr_storage, kSlots> from{};
  unsigned next = 0, count = 0;
  // The last recvmmsg filled every slot, so more may be waiting. When it did not, the socket was
  // empty at that moment and anything that arrives later raises a new readiness event (the
  // resolver's single event-loop thread re-arms its wait before it polls again), so the read
  // after the last buffered datagram can answer EAGAIN without asking the kernel.
  bool more = false;
};

BatchedIo::BatchedIo(std::function<void()> queued, std::function<void(int)> kick, int receive_buffer)
    : queued_(std::move(queued)), kick_(std::move(kick)), receive_buffer_(receive_buffer) {}

BatchedIo::~BatchedIo() = default;

const ares_socket_functions* BatchedIo::functions() noexcept {
  static const ares_socket_functions f{&BatchedIo::open, &BatchedIo::close, &BatchedIo::connect, &BatchedIo::recvfrom,
                                       &BatchedIo::sendv};
  return &f;
}

bool BatchedIo::buffered(int fd) const {
  const auto it = sockets_.find(fd);
  if (it == sockets_.end()) return false;
  const Socket& s = *it->second;
  return s.pending_error != 0 || s.next < s.count || (s.count > 0 && s.more);
}

// c-ares leaves sockets it did not create alone (no non-blocking mode, buffer sizes or
// TCP_NODELAY), so they are set here.
ares_socket_t BatchedIo::open(int domain, int type, int protocol, void* self) {
  auto& io = *static_cast<BatchedIo*>(self);
  const int fd = ::socket(domain, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
  if (fd < 0) return ARES_SOCKET_BAD;
  std::unique_ptr<Socket> s;
  if (type == SOCK_DGRAM && !io.spare_.empty()) {
    s = std::move(io.spare_.back());
    io.spare_.pop_back();
  } else {
    s = std::make_unique<Socket>();
  }
  s->udp = type == SOCK_DGRAM;
  if (s->udp && io.receive_buffer_ > 0) {
    // A burst of answers beyond the receive buffer is dropped by the kernel; the kernel caps the
    // size at net.core.rmem_max, which is fine.
    (void)::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &io.receive_buffer_, sizeof io.receive_buffer_);
  }
  if (!s->udp) {
    const int one = 1;  // one query, one answer: never wait to coalesce (Nagle)
    (void)::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  io.sockets_[fd] = std::move(s);
  return fd;
}

int BatchedIo::close(ares_socket_t fd, void* self) {
  auto& io = *static_cast<BatchedIo*>(self);
  if (const auto it = io.sockets_.find(fd); it != io.sockets_.end()) {
    std::unique_ptr<Socket> s = std::move(it->second);
    io.sockets_.erase(it);
    if (s->udp && io.spare_.size() < kSpareSockets) {
      // Queued datagrams die with their socket; the buffers stay.
      s->pending_error = 0;
      s->out.clear();
      s->out_len.clear();
      s->next = s->count = 0;
      s->more = false;
      io.spare_.push_back(std::move(s));
    }
  }
  return ::close(fd);
}

int BatchedIo::connect(ares_socket_t fd, const sockaddr* addr, ares_socklen_t len, void* /*self*/) {
  return ::connect(fd, addr, len);
}

ares_ssize_t BatchedIo::recvfrom(ares_socket_t fd, void* buf, std::size_t len, int flags, sockaddr* from,
                                 ares_socklen_t* fromlen, void* self) {
  auto& io = *static_cast<BatchedIo*>(self);
  const auto it = io.sockets_.find(fd);
  if (it == io.sockets_.end() || !it->second->udp) return ::recvfrom(fd, buf, len, flags, from, fromlen);
  Socket& s = *it->second;
  ++io.stats_.reads;
  if (s.pending_error != 0) {
    errno = s.pending_error;
    s.pending_error = 0;
    return -1;
  }
  if (s.next == s.count) {
    if (s.count > 0 && !s.more) {  // the last batch emptied the socket (see Socket::more)
      s.next = s.count = 0;
      errno = EAGAIN;
      return -1;
    }
    if (s.in.empty()) s.in.resize(kSlots * kSlotSize);
    for (unsigned i = 0; i < kSlots; ++i) {
      s.iovs[i] = iovec{s.in.data() + i * kSlotSize, kSlotSize};
      s.msgs[i].msg_hdr = msghdr{};
      s.msgs[i].msg_hdr.msg_name = &s.from[i];
      s.msgs[i].msg_hdr.msg_namelen = sizeof(sockaddr_storage);
      s.msgs[i].msg_hdr.msg_iov = &s.iovs[i];
      s.msgs[i].msg_hdr.msg_iovlen = 1;
      s.msgs[i].msg_len = 0;
    }
    ++io.stats_.receive_calls;
    const int n = ::recvmmsg(fd, s.msgs.data(), kSlots, MSG_DONTWAIT, nullptr);
    s.next = 0;
    if (n <= 0) {
      s.count = 0;
      s.more = false;
      if (n == 0) errno = EAGAIN;
      return -1;
    }
    s.count = static_cast<unsigned>(n);
    s.more = s.count == kSlots;
    io.stats_.datagrams_received += s.count;
  }
  const unsigned i = s.next++;
  const std::size_t n = std::min<std::size_t>(s.msgs[i].msg_len, len);
  std::memcpy(buf, s.in.data() + i * kSlotSize, n);
  if (from != nullptr && fromlen != nullptr) {
    const ares_socklen_t have = s.msgs[i].msg_hdr.msg_namelen;
    std::memcpy(from, &s.from[i], std::min(*fromlen, have));
    *fromlen = have;
  }
  return static_cast<ares_ssize_t>(n);
}

ares_ssize_t BatchedIo::sendv(ares_socket_t fd, const iovec* iov, int iovcnt, void* self) {
  auto& io = *static_cast<BatchedIo*>(self);
  const auto it = io.sockets_.find(fd);
  if (it == io.sockets_.end() || !it->second->udp) return ::writev(fd, iov, iovcnt);
  Socket& s = *it->second;
  std::size_t total = 0;
  for (int i = 0; i < iovcnt; ++i) total += iov[i].iov_len;
  if (total > kMaxDatagram) {
    errno = EMSGSIZE;
    return -1;
  }
  for (int i = 0; i < iovcnt; ++i) {
    const auto* p = static_cast<const unsigned char*>(iov[i].iov_base);
    s.out.insert(s.out.end(), p, p + iov[i].iov_len);
  }
  s.out_len.push_back(static_cast<std::uint32_t>(total));
  if (!io.anything_queued_) {
    io.anything_queued_ = true;
    io.queued_();
  }
  if (s.out_len.size() >= kMaxSendBatch) io.flush(fd, s);
  return static_cast<ares_ssize_t>(total);
}

void BatchedIo::flush() {
  anything_queued_ = false;
  for (auto& [fd, s] : sockets_)
    if (!s->out_len.empty()) flush(fd, *s);
}

void BatchedIo::flush(int fd, Socket& s) {
  const std::size_t n = s.out_len.size();
  std::vector<mmsghdr> msgs(n);
  std::vector<iovec> iovs(n);
  std::size_t offset = 0;
  for (std::size_t i = 0; i < n; ++i) {
    iovs[i] = iovec{s.out.data() + offset, s.out_len[i]};
    offset += s.out_len[i];
    msgs[i].msg_hdr.msg_iov = &iovs[i];
    msgs[i].msg_hdr.msg_iovlen = 1;  // connected socket: no address
  }
  std::size_t sent = 0;
  while (sent < n) {
    ++stats_.send_calls;
    const int r =
        ::sendmmsg(fd, msgs.data() + sent, static_cast<unsigned>(std::min(n - sent, kMaxSendBatch)), MSG_DONTWAIT);
    if (r > 0) {
      sent += static_cast<std::size_t>(r);
      stats_.datagrams_sent += static_cast<std::uint64_t>(r);
      continue;
    }
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOBUFS) {
      // What c-ares would have seen from its own send (e.g. ECONNREFUSED after an ICMP port
      // unreachable): it fails this server over on its next read of the socket.
      s.pending_error = errno;
      kick_(fd);
    }
    // A full buffer (or the error above): the rest is dropped, and c-ares retransmits each of
    // those queries when its timeout expires, as for a datagram lost on the way.
    stats_.send_dropped += n - sent;
    break;
  }
  s.out.clear();
  s.out_len.clear();
}

}  // namespace mailsift::dns
