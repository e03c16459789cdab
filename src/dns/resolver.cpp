#include "dns/resolver.hpp"

#include "dns/batched_io.hpp"

#include <arpa/inet.h>
#include <ares.h>
#include <netinet/in.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/unordered/unordered_flat_map.hpp>
#include <boost/system/system_error.hpp>
#include <cctype>
#include <deque>
#include <list>
#include <stdexcept>
#include <unordered_map>

namespace mailsift::dns {
namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

std::string_view name(Status s) noexcept {
  switch (s) {
    case Status::ok: return "NOERROR";
    case Status::nodata: return "NODATA";
    case Status::nxdomain: return "NXDOMAIN";
    case Status::servfail: return "SERVFAIL";
    case Status::refused: return "REFUSED";
    case Status::timeout: return "TIMEOUT";
    case Status::error: return "ERROR";
  }
  return "ERROR";
}

// ---- raw message reading (RFC 1035 §4.1), only what the cache needs ------------------------------
namespace {

struct WireReader {
  const unsigned char* p;
  std::size_t len;
  std::size_t pos = 0;
  bool ok = true;

  std::uint16_t u16() {
    if (pos + 2 > len) return fail16();
    const auto v = static_cast<std::uint16_t>((p[pos] << 8) | p[pos + 1]);
    pos += 2;
    return v;
  }
  std::uint32_t u32() {
    const std::uint32_t hi = u16();
    return (hi << 16) | u16();
  }
  // Skips a (possibly compressed, RFC 1035 §4.1.4) name. Bounded by the message length.
  void skip_name() {
    while (ok) {
      if (pos >= len) {
        ok = false;
        return;
      }
      const unsigned char c = p[pos];
      if ((c & 0xC0) == 0xC0) {
        pos += 2;
        return;
      }
      if (c == 0) {
        ++pos;
        return;
      }
      pos += 1 + c;
    }
  }
  void skip(std::size_t n) {
    if (pos + n > len) ok = false;
    else pos += n;
  }
  std::uint16_t fail16() {
    ok = false;
    pos = len;
    return 0;
  }
};

}  // namespace

WireTtls wire_ttls(const unsigned char* msg, std::size_t len) noexcept {
  WireTtls out;
  if (msg == nullptr || len < 12) return out;
  WireReader r{msg, len};
  r.skip(4);
  const std::uint16_t qd = r.u16(), an = r.u16(), ns = r.u16();
  r.u16();
  for (unsigned i = 0; i < qd && r.ok; ++i) {
    r.skip_name();
    r.skip(4);
  }
  for (unsigned i = 0; i < an && r.ok; ++i) {
    r.skip_name();
    r.skip(4);  // type, class
    const std::uint32_t ttl = r.u32();
    const std::uint16_t rdlen = r.u16();
    r.skip(rdlen);
    if (!r.ok) break;
    out.answer_ttl = out.has_answer_ttl ? std::min(out.answer_ttl, ttl) : ttl;
    out.has_answer_ttl = true;
  }
  for (unsigned i = 0; i < ns && r.ok; ++i) {
    r.skip_name();
    const std::uint16_t type = r.u16();
    r.skip(2);
    const std::uint32_t ttl = r.u32();
    const std::uint16_t rdlen = r.u16();
    const std::size_t end = r.pos + rdlen;
    if (type == 6 && r.ok) {  // SOA: MNAME RNAME SERIAL REFRESH RETRY EXPIRE MINIMUM
      r.skip_name();
      r.skip_name();
      r.skip(16);
      const std::uint32_t minimum = r.u32();
      if (r.ok && r.pos <= end) {
        out.has_negative_ttl = true;
        out.negative_ttl = std::min(ttl, minimum);  // RFC 2308 §5
        return out;
      }
    }
    r.pos = end;
    if (r.pos > len) break;
  }
  return out;
}

// ---- the resolver ---------------------------------------------------------------------------------

struct Resolver::Impl {
  // One watched c-ares socket. Handlers hold a shared_ptr, so a socket c-ares closed while a wait
  // was pending is simply marked closed; the descriptor is released, never closed by us (c-ares
  // owns the fd).
  struct Watch {
    Watch(asio::io_context& ctx, int socket) : sd(ctx, socket), fd(socket) {}
    asio::posix::stream_descriptor sd;
    int fd;
    bool want_read = false, want_write = false;
    bool reading = false, writing = false;
    bool closed = false;
  };

  struct Pending {
    Impl* self;
    std::string key;
    bool bulk;  // counted in bulk_on_wire
  };

  // One (name, type) asked or waiting to be asked, and everyone waiting for its answer.
  struct Flight {
    std::vector<Callback> waiters;
    bool realtime = false;  // in the real-time queue (or sent from it)
    bool sent = false;
  };

  struct CacheEntry {
    std::string key;
    AnswerPtr answer;
    Clock::time_point expires;
  };

  asio::io_context& io;
  ResolverOptions opt;
  ares_channel channel = nullptr;
  asio::steady_timer timer;
  bool timer_armed = false;
  Clock::time_point timer_deadline{};
  std::uint64_t timer_generation = 0;
  std::unordered_map<int, std::shared_ptr<Watch>> watches;
  // Open addressing (one probe of a metadata group, then usually one key compare): at tens of
  // thousands of queries per second the node-based maps' pointer chasing showed as 10% of the
  // profile.
  boost::unordered_flat_map<std::string, Flight> inflight;  // asked or waiting, by key
  // Keys not yet sent (no free slot for their lane), oldest first. A key lifted from the bulk to
  // the real-time queue stays in the bulk one too; send_waiting() skips keys already sent.
  std::deque<std::string> waiting_realtime, waiting_bulk;
  std::size_t on_wire = 0;       // keys sent to c-ares and not answered yet
  std::size_t bulk_on_wire = 0;  // of which sent for bulk callers only
  std::list<CacheEntry> lru;  // most recently used first
  boost::unordered_flat_map<std::string_view, std::list<CacheEntry>::iterator> cache;
  ResolverStats stats;
  std::shared_ptr<bool> alive = std::make_shared<bool>(true);
  // c-ares' socket I/O: datagrams queued while c-ares and our handlers run leave together in one
  // flush, posted once per event-loop turn (batched_io.hpp says why).
  BatchedIo sockets;
  bool flush_posted = false;

  Impl(asio::io_context& ctx, ResolverOptions o)
      : io(ctx),
        opt(std::move(o)),
        timer(ctx),
        sockets([this] { schedule_flush(); }, [this](int fd) { kick(fd); }, opt.socket_receive_buffer) {
    if (!opt.clock) opt.clock = [] { return Clock::now(); };
    if (const int rc = ares_library_init(ARES_LIB_INIT_ALL); rc != ARES_SUCCESS)
      throw std::runtime_error(std::string("c-ares: ") + ares_strerror(rc));
    ares_options o2{};
    // NOSEARCH: a mail domain is always fully qualified; never try it with search suffixes.
    // NOALIASES: HOSTALIASES must not redirect a lookup.
    // NOCHECKRESP: without it c-ares 1.18 treats SERVFAIL/REFUSED as "try the next server" and,
    // once every server has said so, reports ARES_ECONNREFUSED: the RCODE is lost. With it the
    // response reaches ares_query's callback, which maps it to ARES_ESERVFAIL / ARES_EREFUSED.
    // Cost: a SERVFAIL from the first of several servers is not retried on the next one.
    o2.flags = ARES_FLAG_NOSEARCH | ARES_FLAG_NOALIASES | ARES_FLAG_NOCHECKRESP;
    o2.timeout = static_cast<int>(opt.timeout.count());
    o2.tries = opt.tries;
    o2.sock_state_cb = &Impl::sock_state;
    o2.sock_state_cb_data = this;
    const int mask = ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_SOCK_STATE_CB;
    if (const int rc = ares_init_options(&channel, &o2, mask); rc != ARES_SUCCESS) {
      ares_library_cleanup();
      throw std::runtime_error(std::string("c-ares: cannot initialise: ") + ares_strerror(rc));
    }
    // The receive buffer size is set by BatchedIo: c-ares configures no socket it did not open.
    ares_set_socket_functions(channel, BatchedIo::functions(), &sockets);
    if (!opt.servers.empty()) {
      std::string csv;
      for (const std::string& s : opt.servers) {
        if (!csv.empty()) csv.push_back(',');
        csv += s;
      }
      if (const int rc = ares_set_servers_ports_csv(channel, csv.c_str()); rc != ARES_SUCCESS) {
        ares_destroy(channel);
        ares_library_cleanup();
        throw std::runtime_error("bad --dns-server value '" + csv + "': " + ares_strerror(rc));
      }
    }
  }

  ~Impl() {
    *alive = false;
    try {
      timer.cancel();
    } catch (const boost::system::system_error&) {  // nothing to cancel then; a destructor must not throw
    }
    // ares_destroy completes pending queries with ARES_EDESTRUCTION (their callbacks see
    // `alive` false and do nothing) and closes its sockets through sock_state.
    ares_destroy(channel);
    for (auto& [fd, w] : watches) release(*w);
    watches.clear();
    ares_library_cleanup();
  }

  static void release(Watch& w) {
    w.closed = true;
    boost::system::error_code ec;
    w.sd.cancel(ec);
    (void)w.sd.release();
  }

  static void sock_state(void* data, ares_socket_t fd, int readable, int writable) {
    auto* self = static_cast<Impl*>(data);
    auto it = self->watches.find(fd);
    if (!readable && !writable) {
      if (it != self->watches.end()) {
        release(*it->second);
        self->watches.erase(it);
      }
      return;
    }
    if (it == self->watches.end()) it = self->watches.emplace(fd, std::make_shared<Watch>(self->io, fd)).first;
    const std::shared_ptr<Watch> w = it->second;
    w->want_read = readable != 0;
    w->want_write = writable != 0;
    self->arm(w);
  }

  void arm(const std::shared_ptr<Watch>& w) {
    if (w->closed) return;
    if (w->want_read && !w->reading) {
      w->reading = true;
      w->sd.async_wait(asio::posix::stream_descriptor::wait_read, [this, w, a = alive](boost::system::error_code ec) {
        w->reading = false;
        if (!*a || w->closed || ec) return;
        read(w->fd);
        arm(w);
        arm_timer();
      });
    }
    if (w->want_write && !w->writing) {
      w->writing = true;
      w->sd.async_wait(asio::posix::stream_descriptor::wait_write, [this, w, a = alive](boost::system::error_code ec) {
        w->writing = false;
        if (!*a || w->closed || ec) return;
        ares_process_fd(channel, ARES_SOCKET_BAD, w->fd);
        arm(w);
        arm_timer();
      });
    }
  }

  // Lets c-ares read everything received on fd. c-ares 1.18 reads until EAGAIN in one call; later
  // versions read one datagram per call when the application owns the sockets, hence the loop.
  // Bounded: a socket still full after that many rounds is read again from a posted handler.
  // A round in which c-ares read nothing ends the loop too (a socket it no longer reads must not
  // make us spin).
  void read(int fd) {
    for (int round = 0; round < 4096; ++round) {
      const std::uint64_t before = sockets.stats().reads;
      ares_process_fd(channel, fd, ARES_SOCKET_BAD);
      if (!sockets.buffered(fd) || sockets.stats().reads == before) return;
    }
    kick(fd);
  }

  void kick(int fd) {
    asio::post(io, [this, fd, a = alive] {
      if (!*a) return;
      read(fd);
      arm_timer();
    });
  }

  void schedule_flush() {
    if (flush_posted) return;
    flush_posted = true;
    asio::post(io, [this, a = alive] {
      if (!*a) return;
      flush_posted = false;
      sockets.flush();
    });
  }

  // One timer for c-ares' retransmissions and timeouts. It is only moved earlier, never pushed
  // back on every event: ares_timeout() is cheap but cancelling a timer per packet is not.
  void arm_timer() {
    timeval tv{};
    if (ares_timeout(channel, nullptr, &tv) == nullptr) return;  // nothing in flight
    const auto deadline = Clock::now() + std::chrono::seconds(tv.tv_sec) + std::chrono::microseconds(tv.tv_usec);
    if (timer_armed && timer_deadline <= deadline) return;
    timer_armed = true;
    timer_deadline = deadline;
    const std::uint64_t gen = ++timer_generation;
    timer.expires_at(deadline);
    timer.async_wait([this, gen, a = alive](boost::system::error_code ec) {
      if (!*a || ec || gen != timer_generation) return;
      timer_armed = false;
      ares_process_fd(channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);  // processes timeouts
      arm_timer();
    });
  }

  static std::string make_key(std::string_view name, Type type) {
    std::string k;
    k.reserve(name.size() + 1);
    k.push_back(static_cast<char>('0' + static_cast<int>(type)));
    for (char c : name) k.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    return k;
  }

  AnswerPtr cache_get(const std::string& key) {
    auto it = cache.find(key);
    if (it == cache.end()) return nullptr;
    if (opt.clock() >= it->second->expires) {
      lru.erase(it->second);
      cache.erase(it);
      return nullptr;
    }
    lru.splice(lru.begin(), lru, it->second);
    return it->second->answer;
  }

  void cache_put(const std::string& key, const AnswerPtr& a) {
    if (a->ttl == 0 || opt.cache_entries == 0) return;
    if (auto it = cache.find(key); it != cache.end()) {
      lru.erase(it->second);
      cache.erase(it);
    }
    while (cache.size() >= opt.cache_entries) {
      cache.erase(lru.back().key);
      lru.pop_back();
    }
    lru.push_front(CacheEntry{key, a, opt.clock() + std::chrono::seconds(a->ttl)});
    cache.emplace(lru.front().key, lru.begin());
  }

  [[nodiscard]] std::size_t limit() const noexcept { return std::max<std::size_t>(1, opt.max_inflight); }
  // Bulk queries may hold this many slots; the rest are kept for real-time ones.
  [[nodiscard]] std::size_t bulk_limit() const noexcept {
    return limit() - std::min(opt.realtime_reserve, limit() - 1);
  }

  void start(std::string_view qname, Type type, Callback done, Lane lane) {
    std::string key = make_key(qname, type);
    if (AnswerPtr hit = cache_get(key)) {
      ++stats.cache_hits;
      asio::post(io, [done = std::move(done), hit] { done(hit); });
      return;
    }
    auto [it, fresh] = inflight.try_emplace(key);
    Flight& f = it->second;
    f.waiters.push_back(std::move(done));
    if (!fresh) {
      ++stats.coalesced;
      if (lane == Lane::realtime && !f.sent && !f.realtime) {
        // Someone waits for a name a bulk caller queued: it leaves with the real-time queue.
        f.realtime = true;
        waiting_realtime.push_back(std::move(key));
        send_waiting();
        arm_timer();
      }
      return;
    }
    f.realtime = lane == Lane::realtime;
    std::deque<std::string>& q = f.realtime ? waiting_realtime : waiting_bulk;
    // Counted before sending: c-ares may complete a query inside ares_query (a bad name), which
    // erases its entry. (A key lifted to the other queue may make this count one too many.)
    if (!q.empty() || !has_room(!f.realtime)) ++stats.queued;
    q.push_back(std::move(key));
    send_waiting();
    arm_timer();
  }

  [[nodiscard]] bool has_room(bool bulk) const noexcept {
    return on_wire < limit() && (!bulk || bulk_on_wire < bulk_limit());
  }

  // Sends waiting queries while their lane has a free slot: real-time ones first, oldest first in
  // each queue.
  void send_waiting() {
    send_from(waiting_realtime);
    send_from(waiting_bulk);
  }

  void send_from(std::deque<std::string>& q) {
    while (!q.empty()) {
      const auto it = inflight.find(q.front());
      if (it == inflight.end() || it->second.sent) {  // lifted to the real-time queue and sent from there
        q.pop_front();
        continue;
      }
      const bool bulk = !it->second.realtime;
      if (!has_room(bulk)) return;
      it->second.sent = true;
      std::string key = std::move(q.front());
      q.pop_front();
      send(std::move(key), bulk);
    }
  }

  void send(std::string key, bool bulk) {
    static constexpr int kTypes[] = {1 /*A*/, 28 /*AAAA*/, 15 /*MX*/, 16 /*TXT*/};
    ++stats.queries_sent;
    ++on_wire;
    if (bulk) ++bulk_on_wire;
    else ++stats.realtime_sent;
    const int type = kTypes[key[0] - '0'];
    auto* p = new Pending{this, std::move(key), bulk};
    // ares_query (not ares_search): the name is used as given, with RD set, no search list.
    ares_query(channel, p->key.c_str() + 1, 1 /*IN*/, type, &Impl::on_answer, p);
  }

  static Status status_of(int rc) {
    switch (rc) {
      case ARES_SUCCESS: return Status::ok;
      case ARES_ENODATA: return Status::nodata;
      case ARES_ENOTFOUND: return Status::nxdomain;
      case ARES_ESERVFAIL: return Status::servfail;
      case ARES_EREFUSED: return Status::refused;
      case ARES_ETIMEOUT: return Status::timeout;
      default: return Status::error;
    }
  }

  static void parse(Type type, const unsigned char* abuf, int alen, Answer& a) {
    int rc = ARES_SUCCESS;
    switch (type) {
      case Type::mx: {
        ares_mx_reply* mx = nullptr;
        rc = ares_parse_mx_reply(abuf, alen, &mx);
        for (ares_mx_reply* m = mx; m; m = m->next) {
          std::string host = m->host ? m->host : "";
          if (host == ".") host.clear();
          a.mx.push_back(Mx{m->priority, std::move(host)});
        }
        if (mx) ares_free_data(mx);
        break;
      }
      case Type::a: {
        ares_addrttl ttls[64];
        int n = 64;
        rc = ares_parse_a_reply(abuf, alen, nullptr, ttls, &n);
        char buf[INET_ADDRSTRLEN];
        for (int i = 0; rc == ARES_SUCCESS && i < n; ++i)
          if (inet_ntop(AF_INET, &ttls[i].ipaddr, buf, sizeof buf)) a.addrs.emplace_back(buf);
        break;
      }
      case Type::aaaa: {
        ares_addr6ttl ttls[64];
        int n = 64;
        rc = ares_parse_aaaa_reply(abuf, alen, nullptr, ttls, &n);
        char buf[INET6_ADDRSTRLEN];
        for (int i = 0; rc == ARES_SUCCESS && i < n; ++i)
          if (inet_ntop(AF_INET6, &ttls[i].ip6addr, buf, sizeof buf)) a.addrs.emplace_back(buf);
        break;
      }
      case Type::txt: {
        ares_txt_ext* txt = nullptr;
        rc = ares_parse_txt_reply_ext(abuf, alen, &txt);
        for (ares_txt_ext* t = txt; t; t = t->next) {
          if (t->record_start || a.txt.empty()) a.txt.emplace_back();
          a.txt.back().append(reinterpret_cast<const char*>(t->txt), t->length);
        }
        if (txt) ares_free_data(txt);
        break;
      }
    }
    const bool empty = a.mx.empty() && a.addrs.empty() && a.txt.empty();
    if (rc == ARES_ENODATA || (rc == ARES_SUCCESS && empty)) a.status = Status::nodata;  // e.g. only a CNAME
    else if (rc != ARES_SUCCESS) a.status = Status::error;
  }

  static void on_answer(void* arg, int rc, int /*timeouts*/, unsigned char* abuf, int alen) {
    std::unique_ptr<Pending> p(static_cast<Pending*>(arg));
    if (rc == ARES_EDESTRUCTION || rc == ARES_ECANCELLED) return;  // resolver going away
    Impl& self = *p->self;
    --self.on_wire;
    if (p->bulk) --self.bulk_on_wire;
    const Type type = static_cast<Type>(p->key[0] - '0');
    auto answer = std::make_shared<Answer>();
    answer->status = status_of(rc);
    if (answer->status == Status::ok) parse(type, abuf, alen, *answer);
    const WireTtls t = (abuf && alen > 0) ? wire_ttls(abuf, static_cast<std::size_t>(alen)) : WireTtls{};
    if (answer->status == Status::ok) {
      answer->ttl = t.has_answer_ttl ? std::min(t.answer_ttl, self.opt.max_ttl) : 0;
    } else if (answer->status == Status::nodata || answer->status == Status::nxdomain) {
      answer->ttl = t.has_negative_ttl ? std::min(t.negative_ttl, self.opt.negative_ttl) : self.opt.negative_ttl;
    }  // transient errors are not cached: the next lookup asks again
    self.cache_put(p->key, answer);
    auto it = self.inflight.find(p->key);
    if (it == self.inflight.end()) return;
    std::vector<Callback> waiters = std::move(it->second.waiters);
    self.inflight.erase(it);
    // A slot is free: send the oldest waiting queries now. c-ares allows new queries from inside
    // its callbacks (its own ares_search does it); nothing leaves before the posted flush, so the
    // refills of one event-loop turn go out together.
    self.send_waiting();
    // Nothing on the wire after send_waiting() means nothing valid was left waiting either.
    if (self.on_wire == 0 && self.timer_armed) {
      // Nothing left in flight: drop the retransmission timer so that io_context::run() can
      // return when the caller's work is done.
      self.timer_armed = false;
      ++self.timer_generation;
      self.timer.cancel();
    }
    // Callbacks may start new queries (which may re-enter c-ares): run them from the io_context,
    // outside ares_process_fd.
    AnswerPtr shared = std::move(answer);
    asio::post(self.io, [waiters = std::move(waiters), shared] {
      for (const Callback& cb : waiters) cb(shared);
    });
  }
};

Resolver::Resolver(asio::io_context& io, ResolverOptions options)
    : impl_(std::make_unique<Impl>(io, std::move(options))) {}

Resolver::~Resolver() = default;

void Resolver::query(std::string_view name, Type type, Callback done, Lane lane) {
  impl_->start(name, type, std::move(done), lane);
}

ResolverStats Resolver::stats() const noexcept {
  ResolverStats s = impl_->stats;
  const BatchedIo::Stats& io = impl_->sockets.stats();
  s.udp_send_calls = io.send_calls;
  s.udp_receive_calls = io.receive_calls;
  s.udp_send_dropped = io.send_dropped;
  return s;
}

std::size_t Resolver::cache_size() const noexcept { return impl_->cache.size(); }

}  // namespace mailsift::dns
