#pragma once
// A Redis client for the broker (--broker redis://… / rediss://…): Asio owns the connection
// (plain TCP or TLS, with deadlines), hiredis 0.14 only formats commands and parses replies (RESP2).
// Debian's hiredis has no Asio adapter, no timeouts and no TLS, so its async layer is not used
// (../shared/design/scale-out-research.md §3, option B). Entry points: parse_redis_url, Redis.
//
// One Redis object is one connection, used from one event loop. Commands from several coroutines
// of that loop run one at a time in call order (RESP is FIFO per connection).
#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace mailsift::broker {

/// redis://[[user]:password@]host[:port][/db] or rediss:// (TLS). The host is an IP address or a
/// name resolved once at connect (the system resolver); IPv6 in brackets.
struct RedisUrl {
  bool tls = false;
  std::string host;
  std::uint16_t port = 6379;
  std::string user;      // ACL user ("" is the default user)
  std::string password;  // "" : no AUTH
  int db = 0;
  /// The URL without its password, for logs and errors.
  [[nodiscard]] std::string redacted() const;
};
/// Throws std::invalid_argument saying what is wrong (never echoing the password).
[[nodiscard]] RedisUrl parse_redis_url(std::string_view url);

/// 16 random hex digits (OpenSSL's RAND_bytes): process and run identities.
[[nodiscard]] std::string random_id();

/// A command's arguments. A function, not a braced list: GCC 12 mishandles initializer lists in
/// coroutine frames.
template <class... Parts>
std::vector<std::string> command_of(Parts&&... parts) {
  std::vector<std::string> v;
  v.reserve(sizeof...(parts));
  (v.emplace_back(std::forward<Parts>(parts)), ...);
  return v;
}

/// A reply, copied out of hiredis's reader (its own objects live only while it parses).
struct Reply {
  enum class Type : std::uint8_t { string, array, integer, nil, status, error };
  Type type = Type::nil;
  std::string str;  // string, status, error
  long long integer = 0;
  std::vector<Reply> elements;
  [[nodiscard]] bool error() const noexcept { return type == Type::error; }
};

/// The broker cannot be used: unreachable, timed out, refused our AUTH, broke the protocol.
class BrokerError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct RedisOptions {
  std::chrono::milliseconds connect_timeout{3000};  // TCP, TLS and AUTH/SELECT together
  std::chrono::milliseconds command_timeout{5000};  // one command's reply
  std::string ca_file;  // rediss://: trust this CA (PEM) instead of the system's
  std::size_t max_reply_bytes = std::size_t{64} << 20;  // a larger reply is a protocol error
};

class Redis {
 public:
  Redis(boost::asio::any_io_executor ex, RedisUrl url, RedisOptions o = {});
  ~Redis();
  Redis(const Redis&) = delete;
  Redis& operator=(const Redis&) = delete;

  /// Connects, sets up TLS, sends AUTH and SELECT. Throws BrokerError.
  boost::asio::awaitable<void> connect();
  /// Sends one command and returns its reply (an error reply is a Reply, not an exception).
  /// Connects first if needed. Throws BrokerError when the connection fails or times out; the
  /// connection is then closed and the next command reconnects.
  boost::asio::awaitable<Reply> command(std::vector<std::string> args);
  [[nodiscard]] bool connected() const noexcept;
  void close() noexcept;
  /// Closes the connection for good: commands in flight and later ones throw BrokerError at once
  /// (so that the loop's coroutines can all end before the loop is destroyed).
  void shut_down() noexcept;
  [[nodiscard]] const RedisUrl& url() const noexcept { return url_; }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  RedisUrl url_;
};

}  // namespace mailsift::broker
