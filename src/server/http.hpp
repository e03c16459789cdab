#pragma once
// The HTTP/1.1 transport of `mailsift serve` (Boost.Beast, C++20 coroutines on the server's one
// io_context): accepts connections, plain or TLS, reads requests under size and time limits,
// hands them to a RequestHandler (server/handler.hpp: the Api) and writes the replies (chunked
// when streamed). Keep-alive.
//
// What a client can cost us before it has shown a key is bounded (issue 14's review):
// - connections: --max-connections in all, --max-connections-per-client per client address (an
//   IPv6 client by its /64); when the server is full, a newcomer from a client with fewer
//   connections takes the place of an idle one of the client holding the most (fair accept);
// - time: a request header must arrive within --header-timeout of its first byte (a trickle cannot
//   extend it), a body within --read-timeout, the next request within --idle-timeout;
// - memory: one read buffer of 16 KiB per connection holds the header, a chunk line or the
//   trailers (all bounded by it); chunk extensions at most 16 KiB per request; trailers are
//   ignored; the body is read only once the handler admitted the request (key and rate checked),
//   and bodies being read share one budget, --max-body-total, beyond which a request gets 503.
// No exception from a connection ends the server: each connection coroutine has its own catch,
// and run_event_loop resumes the loop after one thrown from inside an I/O operation.
// Entry points: HttpServer::start, run_event_loop.
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "server/handler.hpp"
#include "server/log.hpp"
#include "server/metrics.hpp"
#include "server/options.hpp"

namespace mailsift::server {

/// "HOST:PORT", "[IPV6]:PORT" → endpoint (HOST must be an IP address). Throws std::invalid_argument.
[[nodiscard]] boost::asio::ip::tcp::endpoint parse_listen(const std::string& s);

/// The group a client address counts in for per-client limits: an IPv4 address (IPv4-mapped IPv6
/// too) as it is, an IPv6 address by its /64 (one host usually has a whole /64 to pick from).
[[nodiscard]] std::string client_group(const boost::asio::ip::address& a);

/// Runs `io` until it has no more work or is stopped. An exception that escapes a handler (a bug,
/// or a library throwing inside an I/O operation) is logged and the loop goes on; the operation
/// that threw is abandoned (its connection is closed). Returns how many were caught.
std::size_t run_event_loop(boost::asio::io_context& io, const Log& log);

/// Bytes of request bodies being read at once, across connections (--max-body-total).
class BodyBudget {
 public:
  explicit BodyBudget(std::size_t limit) : limit_(limit) {}
  [[nodiscard]] bool take(std::size_t n) noexcept {
    if (n > limit_ - used_) return false;
    used_ += n;
    return true;
  }
  void give(std::size_t n) noexcept { used_ -= n; }
  [[nodiscard]] std::size_t used() const noexcept { return used_; }

 private:
  std::size_t limit_;
  std::size_t used_ = 0;
};

class HttpServer {
 public:
  /// Throws std::invalid_argument for a bad --listen / TLS files, std::system_error when the
  /// address cannot be bound.
  HttpServer(boost::asio::io_context& io, const ServeOptions& o, RequestHandler& handler, Metrics& metrics,
             const Log& log);
  ~HttpServer();
  void start();
  /// Stops accepting; connections end after their current request.
  void stop();
  [[nodiscard]] boost::asio::ip::tcp::endpoint local_endpoint() const { return acceptor_.local_endpoint(); }
  [[nodiscard]] bool tls() const noexcept { return tls_ != nullptr; }
  /// SIGHUP: reads --tls-cert and --tls-key again for the connections accepted from now on (open
  /// ones keep theirs). Throws std::invalid_argument, keeping the old ones, when they do not load.
  /// SIGTERM: stops accepting, closes idle connections; the requests being answered go on (their
  /// connections close after the reply). busy() counts them.
  void drain();
  [[nodiscard]] std::size_t busy() const;
  void reload_tls();
  [[nodiscard]] std::size_t connections() const noexcept { return connections_; }
  [[nodiscard]] std::size_t body_bytes() const noexcept { return bodies_.used(); }

 private:
  struct Conn;
  boost::asio::awaitable<void> accept_loop();
  boost::asio::awaitable<void> connection(boost::asio::ip::tcp::socket socket, std::string group);
  template <class Stream>
  boost::asio::awaitable<void> serve(Stream& stream, Conn& conn);
  // Server full: frees a place for a newcomer from `group` by closing an idle connection of the
  // client holding the most, if that client holds more than the newcomer would. False: no place.
  bool evict_for(const std::string& group);

  boost::asio::io_context& io_;
  const ServeOptions& opt_;
  RequestHandler& handler_;
  Metrics& metrics_;
  const Log& log_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::shared_ptr<boost::asio::ssl::context> tls_;  // swapped by reload_tls; connections hold theirs
  std::size_t connections_ = 0;
  std::unordered_map<std::string, std::vector<Conn*>> by_client_;  // open connections, oldest first
  BodyBudget bodies_;
  bool stopping_ = false;
};

}  // namespace mailsift::server
