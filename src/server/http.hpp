#pragma once
// The HTTP/1.1 transport of `mailsift serve` (Boost.Beast, C++20 coroutines on the server's one
// io_context): accepts connections, plain or TLS, reads requests under size and time limits,
// hands them to the Api and writes the replies (chunked when streamed). Keep-alive; a slow or
// broken client costs one coroutine and is cut off by the read and idle timeouts.
// Entry point: HttpServer::start.
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <memory>
#include <string>

#include "server/api.hpp"
#include "server/log.hpp"
#include "server/metrics.hpp"
#include "server/options.hpp"

namespace mailsift::server {

/// "HOST:PORT", "[IPV6]:PORT" → endpoint (HOST must be an IP address). Throws std::invalid_argument.
[[nodiscard]] boost::asio::ip::tcp::endpoint parse_listen(const std::string& s);

class HttpServer {
 public:
  /// Throws std::invalid_argument for a bad --listen / TLS files, std::system_error when the
  /// address cannot be bound.
  HttpServer(boost::asio::io_context& io, const ServeOptions& o, Api& api, Metrics& metrics, const Log& log);
  void start();
  /// Stops accepting; connections end after their current request.
  void stop();
  [[nodiscard]] boost::asio::ip::tcp::endpoint local_endpoint() const { return acceptor_.local_endpoint(); }
  [[nodiscard]] bool tls() const noexcept { return tls_ != nullptr; }

 private:
  boost::asio::awaitable<void> accept_loop();
  boost::asio::awaitable<void> connection(boost::asio::ip::tcp::socket socket);
  template <class Stream>
  boost::asio::awaitable<void> serve(Stream& stream, const std::string& client);

  boost::asio::io_context& io_;
  const ServeOptions& opt_;
  Api& api_;
  Metrics& metrics_;
  const Log& log_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::unique_ptr<boost::asio::ssl::context> tls_;
  std::size_t connections_ = 0;
  bool stopping_ = false;
};

}  // namespace mailsift::server
