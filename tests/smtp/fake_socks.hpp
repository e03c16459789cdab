#pragma once
// An in-process SOCKS5 proxy for the SMTP probe's unit tests: TCP on 127.0.0.1, ephemeral port,
// its own io_context on its own thread (like FakeSmtpServer). RFC 1928 CONNECT with IPv4, IPv6 and
// domain-name targets; RFC 1929 username/password authentication when built with credentials,
// "no authentication" otherwise. Relays bytes both ways, half-closes included.
//
// Tests never leave the machine: only loopback targets are connected to. A domain name is only
// accepted as "localhost" or after alias(); anything else is refused with REP 0x02 (connection
// not allowed by ruleset), as is a non-loopback address.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace mailsift::test {

class FakeSocks5Proxy {
 public:
  FakeSocks5Proxy();                                            // method 0x00, no authentication
  FakeSocks5Proxy(std::string username, std::string password);  // method 0x02 required (RFC 1929)
  ~FakeSocks5Proxy();                                           // stops even with relays open
  FakeSocks5Proxy(const FakeSocks5Proxy&) = delete;
  FakeSocks5Proxy& operator=(const FakeSocks5Proxy&) = delete;

  [[nodiscard]] std::uint16_t port() const;
  [[nodiscard]] static std::string host() { return "127.0.0.1"; }

  /// CONNECT to domain `name` goes to `loopback_ip` ("127.0.0.1", "::1"), as if the proxy had
  /// resolved it (a socks5h client sends MX host names, not addresses).
  void alias(std::string name, std::string loopback_ip);

  // --- failure modes, for every connection from now on ---
  /// Answer every CONNECT with REP `code` (e.g. 0x05 connection refused, 0x01 general failure) and
  /// close; 0x00 restores normal operation.
  void fail_connect(std::uint8_t code);
  /// Close right after reading the client's greeting, without answering it.
  void close_after_greeting(bool on = true);

  // --- records ---
  [[nodiscard]] int connections() const;                   // accepted so far
  [[nodiscard]] std::vector<std::string> targets() const;  // CONNECT requests: "127.0.0.1:25", "[::1]:25", "mx.test:25"
  [[nodiscard]] std::vector<std::string> usernames() const;  // RFC 1929 usernames received, right or wrong
  [[nodiscard]] int failed_auths() const;                    // wrong credentials, or method 0x02 not offered

 private:
  struct Impl;  // in the .cpp: keeps Asio out of the tests that include this
  std::unique_ptr<Impl> impl_;
};

}  // namespace mailsift::test
