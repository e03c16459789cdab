#pragma once
// A scripted fake DNS server for unit tests: UDP on 127.0.0.1:0, on the test's own io_context.
// Answers from a table keyed by (name, type): an RCODE, answer records, an optional SOA in the
// authority section (RFC 2308 negative caching), a delay, or no answer at all. Names with no entry
// get NXDOMAIN, or NODATA when the name has an entry for another type. Counts every query it gets.
// TCP on the same port (2-octet length prefix, RFC 1035 §4.2.2) for replies truncated over UDP.
// Messages are built by hand (RFC 1035 §4.1): no compression, one question.
#include <arpa/inet.h>

#include <array>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <cctype>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace mailsift::testing {

namespace asio = boost::asio;

enum : std::uint16_t { kA = 1, kCname = 5, kSoa = 6, kMx = 15, kTxt = 16, kAaaa = 28 };

struct Rr {
  std::string name;  // owner; empty: the queried name
  std::uint16_t type;
  std::uint32_t ttl;
  std::vector<std::uint8_t> rdata;
};

struct Reply {
  int rcode = 0;
  std::vector<Rr> answers;
  std::optional<std::pair<std::uint32_t, std::uint32_t>> soa;  // (SOA TTL, MINIMUM) in authority
  int delay_ms = 0;
  bool drop = false;  // never answer
  // Over UDP, answer with TC set and no records: the client must ask again over TCP (RFC 7766),
  // where the full reply is served.
  bool truncate_udp = false;
};

inline void put_name(std::vector<std::uint8_t>& out, std::string_view name) {
  while (!name.empty()) {
    const std::size_t dot = name.find('.');
    const std::string_view label = name.substr(0, dot);
    out.push_back(static_cast<std::uint8_t>(label.size()));
    out.insert(out.end(), label.begin(), label.end());
    name = dot == std::string_view::npos ? std::string_view{} : name.substr(dot + 1);
  }
  out.push_back(0);
}
inline void put16(std::vector<std::uint8_t>& o, unsigned v) {
  o.push_back(static_cast<std::uint8_t>(v >> 8));
  o.push_back(static_cast<std::uint8_t>(v));
}
inline void put32(std::vector<std::uint8_t>& o, std::uint32_t v) {
  put16(o, v >> 16);
  put16(o, v & 0xFFFF);
}

inline Rr A(std::string_view ip, std::uint32_t ttl = 300, std::string owner = {}) {
  Rr r{std::move(owner), kA, ttl, std::vector<std::uint8_t>(4)};
  inet_pton(AF_INET, std::string(ip).c_str(), r.rdata.data());
  return r;
}
inline Rr AAAA(std::string_view ip, std::uint32_t ttl = 300, std::string owner = {}) {
  Rr r{std::move(owner), kAaaa, ttl, std::vector<std::uint8_t>(16)};
  inet_pton(AF_INET6, std::string(ip).c_str(), r.rdata.data());
  return r;
}
inline Rr MX(unsigned pref, std::string_view host, std::uint32_t ttl = 300) {
  Rr r{{}, kMx, ttl, {}};
  put16(r.rdata, pref);
  put_name(r.rdata, host == "." ? std::string_view{} : host);
  return r;
}
inline Rr TXT(std::string_view text, std::uint32_t ttl = 300) {
  Rr r{{}, kTxt, ttl, {}};
  while (true) {  // character-strings of at most 255 octets (RFC 1035 §3.3.14)
    const std::string_view chunk = text.substr(0, 255);
    r.rdata.push_back(static_cast<std::uint8_t>(chunk.size()));
    r.rdata.insert(r.rdata.end(), chunk.begin(), chunk.end());
    text.remove_prefix(chunk.size());
    if (text.empty()) break;
  }
  return r;
}
inline Rr CNAME(std::string_view target, std::uint32_t ttl = 300) {
  Rr r{{}, kCname, ttl, {}};
  put_name(r.rdata, target);
  return r;
}

class FakeDns {
 public:
  explicit FakeDns(asio::io_context& io) : io_(io), sock_(io), tcp_(io) {
    // The kernel picks a free UDP port; the same TCP port may be taken by another process (tests
    // run in parallel): then pick again, a bounded number of times.
    const auto lo = asio::ip::make_address("127.0.0.1");
    for (int tries = 0;; ++tries) {
      sock_ = asio::ip::udp::socket(io, asio::ip::udp::endpoint(lo, 0));
      boost::system::error_code ec;
      tcp_.open(asio::ip::tcp::v4());
      tcp_.bind(asio::ip::tcp::endpoint(lo, sock_.local_endpoint().port()), ec);
      if (!ec) break;
      tcp_.close();
      sock_.close();
      if (tries == 100) throw boost::system::system_error(ec, "FakeDns: no port free for both UDP and TCP");
    }
    tcp_.listen();
    receive();
    accept();
  }
  [[nodiscard]] std::string server() const { return "127.0.0.1:" + std::to_string(sock_.local_endpoint().port()); }

  void set(const std::string& name, std::uint16_t type, Reply r) { table_[{lower(name), type}] = std::move(r); }
  [[nodiscard]] int count(const std::string& name, std::uint16_t type) const {
    auto it = counts_.find({lower(name), type});
    return it == counts_.end() ? 0 : it->second;
  }
  [[nodiscard]] int total() const { return total_; }
  [[nodiscard]] int tcp_total() const { return tcp_total_; }

 private:
  using Key = std::pair<std::string, std::uint16_t>;

  static std::string lower(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  }

  void receive() {
    sock_.async_receive_from(asio::buffer(buf_), peer_, [this](boost::system::error_code ec, std::size_t n) {
      if (ec) return;
      handle(std::vector<std::uint8_t>(buf_.begin(), buf_.begin() + static_cast<long>(n)), peer_);
      receive();
    });
  }

  void handle(std::vector<std::uint8_t> q, asio::ip::udp::endpoint peer) {
    std::optional<Reply> r;
    auto out = respond(q, false, r);
    if (!out) return;
    auto msg = std::make_shared<std::vector<std::uint8_t>>(std::move(*out));
    auto send = [this, msg, peer] { sock_.send_to(asio::buffer(*msg), peer); };
    if (r->delay_ms == 0) return send();
    auto t = std::make_shared<asio::steady_timer>(io_, std::chrono::milliseconds(r->delay_ms));
    t->async_wait([t, send](boost::system::error_code ec) {
      if (!ec) send();
    });
  }

  void accept() {
    tcp_.async_accept([this](boost::system::error_code ec, asio::ip::tcp::socket s) {
      if (ec) return;
      serve(std::make_shared<asio::ip::tcp::socket>(std::move(s)));
      accept();
    });
  }

  // One TCP connection: length-prefixed queries, answered in order (no delays over TCP).
  void serve(std::shared_ptr<asio::ip::tcp::socket> s) {
    auto len = std::make_shared<std::array<std::uint8_t, 2>>();
    asio::async_read(*s, asio::buffer(*len), [this, s, len](boost::system::error_code ec, std::size_t) {
      if (ec) return;
      auto q = std::make_shared<std::vector<std::uint8_t>>(((*len)[0] << 8) | (*len)[1]);
      asio::async_read(*s, asio::buffer(*q), [this, s, q](boost::system::error_code ec2, std::size_t) {
        if (ec2) return;
        ++tcp_total_;
        std::optional<Reply> r;
        auto out = respond(*q, true, r);
        if (!out) return;
        auto msg = std::make_shared<std::vector<std::uint8_t>>();
        put16(*msg, static_cast<unsigned>(out->size()));
        msg->insert(msg->end(), out->begin(), out->end());
        asio::async_write(*s, asio::buffer(*msg), [this, s, msg](boost::system::error_code ec3, std::size_t) {
          if (!ec3) serve(s);
        });
      });
    });
  }

  // The reply to query q (nothing to send: nullopt); `used` gets the scripted reply.
  std::optional<std::vector<std::uint8_t>> respond(const std::vector<std::uint8_t>& q, bool tcp,
                                                   std::optional<Reply>& used) {
    if (q.size() < 17) return std::nullopt;
    std::size_t pos = 12;
    std::string qname;
    while (pos < q.size() && q[pos] != 0) {
      const std::size_t len = q[pos];
      if (!qname.empty()) qname.push_back('.');
      qname.append(reinterpret_cast<const char*>(&q[pos + 1]), std::min(len, q.size() - pos - 1));
      pos += len + 1;
    }
    const std::size_t qend = pos + 5;  // root label + QTYPE + QCLASS
    if (qend > q.size()) return std::nullopt;
    const auto qtype = static_cast<std::uint16_t>((q[pos + 1] << 8) | q[pos + 2]);
    ++total_;
    ++counts_[{lower(qname), qtype}];

    Reply r;
    if (auto it = table_.find({lower(qname), qtype}); it != table_.end()) {
      r = it->second;
    } else {
      bool exists = false;
      for (const auto& [k, v] : table_) exists |= k.first == lower(qname) && v.rcode == 0;
      r.rcode = exists ? 0 : 3;
      r.soa = std::make_pair(300u, 300u);
    }
    used = r;
    if (r.drop) return std::nullopt;
    const bool truncated = r.truncate_udp && !tcp;
    if (truncated) {
      r.answers.clear();
      r.soa.reset();
    }
    std::vector<std::uint8_t> out(q.begin(), q.begin() + 2);  // ID
    put16(out,
          0x8000 | 0x0400 | (truncated ? 0x0200 : 0) | (q[2] & 0x01) << 8 | 0x0080 | r.rcode);  // QR AA TC RD RA RCODE
    put16(out, 1);
    put16(out, static_cast<unsigned>(r.answers.size()));
    put16(out, r.soa ? 1 : 0);
    put16(out, 0);
    out.insert(out.end(), q.begin() + 12, q.begin() + static_cast<long>(qend));
    for (const Rr& rr : r.answers) {
      put_name(out, rr.name.empty() ? qname : rr.name);
      put16(out, rr.type);
      put16(out, 1);
      put32(out, rr.ttl);
      put16(out, static_cast<unsigned>(rr.rdata.size()));
      out.insert(out.end(), rr.rdata.begin(), rr.rdata.end());
    }
    if (r.soa) {
      std::vector<std::uint8_t> rd;
      put_name(rd, "ns.test");
      put_name(rd, "hostmaster.test");
      for (int i = 0; i < 4; ++i) put32(rd, 3600);
      put32(rd, r.soa->second);
      put_name(out, "test");
      put16(out, kSoa);
      put16(out, 1);
      put32(out, r.soa->first);
      put16(out, static_cast<unsigned>(rd.size()));
      out.insert(out.end(), rd.begin(), rd.end());
    }
    return out;
  }

  asio::io_context& io_;
  asio::ip::udp::socket sock_;
  asio::ip::tcp::acceptor tcp_;
  std::array<std::uint8_t, 512> buf_{};
  asio::ip::udp::endpoint peer_;
  std::map<Key, Reply> table_;
  std::map<Key, int> counts_;
  int total_ = 0;
  int tcp_total_ = 0;
};

}  // namespace mailsift::testing
