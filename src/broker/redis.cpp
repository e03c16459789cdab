#include "broker/redis.hpp"

#include <hiredis/hiredis.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <charconv>
#include <optional>

#include "common/text.hpp"
#include "smtp/politeness.hpp"

namespace mailsift::broker {

namespace asio = boost::asio;
using asio::ip::tcp;
using Clock = std::chrono::steady_clock;

std::string RedisUrl::redacted() const {
  std::string s = tls ? "rediss://" : "redis://";
  if (!user.empty() || !password.empty()) s += user + (password.empty() ? "" : ":***") + "@";
  s += host.find(':') != std::string::npos ? "[" + host + "]" : host;
  s += ":" + std::to_string(port) + "/" + std::to_string(db);
  return s;
}

std::string random_id() {
  unsigned char b[8];
  if (RAND_bytes(b, sizeof b) != 1) throw std::runtime_error("RAND_bytes failed");
  std::string hex;
  static constexpr char kDigits[] = "0123456789abcdef";
  for (const unsigned char c : b) {
    hex.push_back(kDigits[c >> 4]);
    hex.push_back(kDigits[c & 15]);
  }
  return hex;
}

namespace {

std::string percent_decode(std::string_view s, const char* what) {
  auto out = text::percent_decode(s);
  if (!out) throw std::invalid_argument(std::string("--broker: bad percent-encoding in the ") + what);
  return std::move(*out);
}

}  // namespace

RedisUrl parse_redis_url(std::string_view url) {
  RedisUrl u;
  std::string_view rest;
  if (url.starts_with("redis://")) {
    rest = url.substr(8);
  } else if (url.starts_with("rediss://")) {
    u.tls = true;
    rest = url.substr(9);
  } else {
    throw std::invalid_argument("--broker: expected redis://[user:password@]host[:port][/db] or rediss://…");
  }
  if (const std::size_t at = rest.rfind('@'); at != std::string_view::npos) {
    const std::string_view cred = rest.substr(0, at);
    rest = rest.substr(at + 1);
    const std::size_t colon = cred.find(':');
    u.user = percent_decode(cred.substr(0, colon), "user name");
    if (colon != std::string_view::npos) u.password = percent_decode(cred.substr(colon + 1), "password");
  }
  std::string_view hostport = rest;
  if (const std::size_t slash = rest.find('/'); slash != std::string_view::npos) {
    hostport = rest.substr(0, slash);
    const std::string_view db = rest.substr(slash + 1);
    if (!db.empty()) {
      const auto [p, ec] = std::from_chars(db.data(), db.data() + db.size(), u.db);
      if (ec != std::errc() || p != db.data() + db.size() || u.db < 0 || u.db > 15)
        throw std::invalid_argument("--broker: the database must be a number from 0 to 15");
    }
  }
  std::string_view port;
  if (hostport.starts_with('[')) {
    const std::size_t close = hostport.find(']');
    if (close == std::string_view::npos) throw std::invalid_argument("--broker: unclosed '[' in the host");
    u.host = hostport.substr(1, close - 1);
    const std::string_view after = hostport.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') throw std::invalid_argument("--broker: expected ':' after ']'");
      port = after.substr(1);
    }
  } else {
    const std::size_t colon = hostport.rfind(':');
    u.host = hostport.substr(0, colon);
    if (colon != std::string_view::npos) port = hostport.substr(colon + 1);
  }
  if (u.host.empty()) throw std::invalid_argument("--broker: no host");
  for (const char c : u.host)
    if (static_cast<unsigned char>(c) <= 0x20 || c == '/' || c == '@')
      throw std::invalid_argument("--broker: bad character in the host");
  if (!port.empty()) {
    unsigned p = 0;
    const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), p);
    if (ec != std::errc() || end != port.data() + port.size() || p == 0 || p > 65535)
      throw std::invalid_argument("--broker: the port must be a number from 1 to 65535");
    u.port = static_cast<std::uint16_t>(p);
  }
  return u;
}

namespace {

Reply copy_reply(const redisReply* r) {
  Reply out;
  switch (r->type) {
    case REDIS_REPLY_STRING: out.type = Reply::Type::string; break;
    case REDIS_REPLY_STATUS: out.type = Reply::Type::status; break;
    case REDIS_REPLY_ERROR: out.type = Reply::Type::error; break;
    case REDIS_REPLY_INTEGER: out.type = Reply::Type::integer; break;
    case REDIS_REPLY_ARRAY: out.type = Reply::Type::array; break;
    default: out.type = Reply::Type::nil; break;
  }
  if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS || r->type == REDIS_REPLY_ERROR)
    out.str.assign(r->str, r->len);
  if (r->type == REDIS_REPLY_INTEGER) out.integer = r->integer;
  if (r->type == REDIS_REPLY_ARRAY) {
    out.elements.reserve(r->elements);
    for (std::size_t i = 0; i < r->elements; ++i) out.elements.push_back(copy_reply(r->element[i]));
  }
  return out;
}

}  // namespace

struct Redis::Impl {
  Impl(asio::any_io_executor e, RedisOptions o) : ex(std::move(e)), opt(std::move(o)), one(1), timer(ex) {}
  ~Impl() {
    if (reader != nullptr) redisReaderFree(reader);
  }

  asio::any_io_executor ex;
  RedisOptions opt;
  smtp::Semaphore one;  // one command at a time on the connection
  std::optional<tcp::socket> sock;
  std::optional<asio::ssl::context> tls_ctx;
  std::optional<asio::ssl::stream<tcp::socket&>> tls;
  redisReader* reader = nullptr;
  bool up = false;
  bool shut = false;
  asio::steady_timer timer;
  std::optional<tcp::resolver> resolver;
  bool expired = false;

  void reset() noexcept {
    up = false;
    tls.reset();
    if (sock) {
      boost::system::error_code ignored;
      sock->close(ignored);
      sock.reset();
    }
    if (reader != nullptr) {
      redisReaderFree(reader);
      reader = nullptr;
    }
  }

  // Bounds the operations of one step by a deadline: when it passes, the socket's (and the
  // resolver's) operations are cancelled and the step reports "timed out".
  struct Deadline {
    Impl& m;
    Deadline(Impl& impl, Clock::time_point at) : m(impl) {
      m.expired = false;
      m.timer.expires_at(at);
      m.timer.async_wait([&im = m](const boost::system::error_code& ec) {
        if (ec) return;  // cancelled (the step ended first) or the timer is gone: touch nothing
        im.expired = true;
        boost::system::error_code ignored;
        if (im.sock) im.sock->cancel(ignored);
        if (im.resolver) im.resolver->cancel();
      });
    }
    ~Deadline() { m.timer.cancel(); }
  };
  [[nodiscard]] std::string failure(const std::string& what, const boost::system::error_code& ec) const {
    return what + ": " + (expired ? std::string("timed out") : ec.message());
  }

  asio::awaitable<std::size_t> write_all(const char* data, std::size_t n) {
    if (!sock) throw BrokerError("broker: connection closed");
    if (tls) co_return co_await asio::async_write(*tls, asio::buffer(data, n), asio::use_awaitable);
    co_return co_await asio::async_write(*sock, asio::buffer(data, n), asio::use_awaitable);
  }
  asio::awaitable<std::size_t> read_some(char* data, std::size_t n) {
    if (!sock) throw BrokerError("broker: connection closed");
    if (tls) co_return co_await tls->async_read_some(asio::buffer(data, n), asio::use_awaitable);
    co_return co_await sock->async_read_some(asio::buffer(data, n), asio::use_awaitable);
  }

  // Writes one formatted command and reads its reply.
  asio::awaitable<Reply> round_trip(const std::vector<std::string>& args, Clock::time_point deadline,
                                    const std::string& what) {
    std::vector<const char*> argv;
    std::vector<std::size_t> lens;
    for (const std::string& a : args) {
      argv.push_back(a.data());
      lens.push_back(a.size());
    }
    char* cmd = nullptr;
    const int len = redisFormatCommandArgv(&cmd, static_cast<int>(args.size()), argv.data(), lens.data());
    if (len < 0 || cmd == nullptr) throw BrokerError("cannot format a Redis command (out of memory)");
    const std::unique_ptr<char, void (*)(char*)> owned(cmd, redisFreeCommand);
    const Deadline bound(*this, deadline);
    try {
      co_await write_all(cmd, static_cast<std::size_t>(len));
      std::size_t fed = 0;
      std::vector<char> buf(16384);  // not an array: GCC 12 cannot keep one in a coroutine frame
      for (;;) {
        // The connection may have been closed (shut_down) while this command waited.
        if (reader == nullptr || !sock) throw BrokerError(what + ": connection closed");
        void* raw = nullptr;
        if (redisReaderGetReply(reader, &raw) != REDIS_OK) throw BrokerError(what + ": protocol error from Redis");
        if (raw != nullptr) {
          const std::unique_ptr<redisReply, void (*)(void*)> reply(static_cast<redisReply*>(raw), freeReplyObject);
          co_return copy_reply(reply.get());
        }
        const std::size_t n = co_await read_some(buf.data(), buf.size());
        if (reader == nullptr) throw BrokerError(what + ": connection closed");
        fed += n;
        if (fed > opt.max_reply_bytes) throw BrokerError(what + ": reply larger than the limit");
        if (redisReaderFeed(reader, buf.data(), n) != REDIS_OK) throw BrokerError(what + ": protocol error from Redis");
      }
    } catch (const boost::system::system_error& e) {
      throw BrokerError(failure(what, e.code()));
    }
  }
};

Redis::Redis(asio::any_io_executor ex, RedisUrl url, RedisOptions o)
    : impl_(std::make_unique<Impl>(std::move(ex), std::move(o))), url_(std::move(url)) {}

Redis::~Redis() { impl_->reset(); }

bool Redis::connected() const noexcept { return impl_->up; }

void Redis::close() noexcept { impl_->reset(); }

void Redis::shut_down() noexcept {
  impl_->shut = true;
  impl_->timer.cancel();
  impl_->reset();
}

asio::awaitable<void> Redis::connect() {
  Impl& m = *impl_;
  m.reset();
  const std::string where = "broker " + url_.redacted();
  const auto deadline = Clock::now() + m.opt.connect_timeout;
  try {
    std::optional<Impl::Deadline> bound;
    bound.emplace(m, deadline);
    m.resolver.emplace(m.ex);
    // A name is resolved by the system resolver (once per connect); an IP address needs no lookup.
    const auto endpoints = co_await m.resolver->async_resolve(url_.host, std::to_string(url_.port), asio::use_awaitable);
    m.sock.emplace(m.ex);
    co_await asio::async_connect(*m.sock, endpoints, asio::use_awaitable);
    m.sock->set_option(tcp::no_delay(true));
    if (url_.tls) {
      if (!m.tls_ctx) {
        m.tls_ctx.emplace(asio::ssl::context::tls_client);
        m.tls_ctx->set_options(asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1);
        if (m.opt.ca_file.empty())
          m.tls_ctx->set_default_verify_paths();
        else
          m.tls_ctx->load_verify_file(m.opt.ca_file);
        m.tls_ctx->set_verify_mode(asio::ssl::verify_peer);
      }
      m.tls.emplace(*m.sock, *m.tls_ctx);
      // SNI and the name (or IP address) the certificate must carry: checks stay on.
      SSL_set_tlsext_host_name(m.tls->native_handle(), url_.host.c_str());
      m.tls->set_verify_callback(asio::ssl::host_name_verification(url_.host));
      co_await m.tls->async_handshake(asio::ssl::stream_base::client, asio::use_awaitable);
    }
    bound.reset();  // AUTH and SELECT are bounded by round_trip
    m.reader = redisReaderCreate();
    if (m.reader == nullptr) throw BrokerError("cannot create a Redis reply reader (out of memory)");
    m.reader->maxbuf = 0;  // hiredis keeps no idle buffer beyond what a reply needs
    if (!url_.password.empty()) {
      std::vector<std::string> auth;
      auth.emplace_back("AUTH");
      if (!url_.user.empty()) auth.push_back(url_.user);
      auth.push_back(url_.password);
      const Reply r = co_await m.round_trip(auth, deadline, where + ": AUTH");
      // Redis's own text ("WRONGPASS invalid username-password pair…") never holds the password.
      if (r.error()) throw BrokerError(where + ": AUTH refused: " + r.str);
    }
    if (url_.db != 0) {
      // Not a braced list inside co_await: GCC 12 miscompiles initializer lists in coroutine frames.
      std::vector<std::string> select;
      select.emplace_back("SELECT");
      select.push_back(std::to_string(url_.db));
      const Reply r = co_await m.round_trip(select, deadline, where + ": SELECT");
      if (r.error()) throw BrokerError(where + ": SELECT " + std::to_string(url_.db) + " refused: " + r.str);
    }
  } catch (const boost::system::system_error& e) {
    const std::string message = m.failure(where, e.code());
    m.reset();
    throw BrokerError(message);
  } catch (const BrokerError&) {
    m.reset();
    throw;
  }
  m.up = true;
}

asio::awaitable<Reply> Redis::command(std::vector<std::string> args) {
  Impl& m = *impl_;
  co_await m.one.acquire();
  struct Release {
    smtp::Semaphore& s;
    ~Release() { s.release(); }
  } release{m.one};
  if (m.shut) throw BrokerError("broker " + url_.redacted() + ": shut down");
  if (!m.up) co_await connect();
  const std::string what = "broker " + url_.redacted() + ": " + (args.empty() ? std::string() : args[0]);
  try {
    co_return co_await m.round_trip(args, Clock::now() + m.opt.command_timeout, what);
  } catch (const BrokerError&) {
    // The connection's state is unknown (a reply may still come): start over next time.
    m.reset();
    throw;
  }
}

}  // namespace mailsift::broker
