// Fuzzes the HTTP transport of `mailsift serve` (server/http.hpp) in-process: the input is sent as
// raw bytes on a loopback connection to a real HttpServer, whose handler (plugged in through the
// RequestHandler seam) answers /ok, refuses /secret from the header and throws for /throw.
// Properties: no crash, no UB, no leak (sanitizers); no exception leaves the event loop
// (run_event_loop would count it); every answer starts with "HTTP/1.1 " and is bounded; the
// connection always ends.
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>

#include "server/http.hpp"

namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using namespace mailsift::server;

class Handler : public RequestHandler {
 public:
  std::optional<Reply> admit(const HttpRequest& h, const std::string&, Caller&) override {
    if (h.target().starts_with("/secret")) {
      Reply r;
      r.status = 401;
      r.body = "{}";
      return r;
    }
    return std::nullopt;
  }
  asio::awaitable<Reply> handle(const HttpRequest& req, const std::string&, const Caller&) override {
    if (req.target().starts_with("/throw")) throw std::runtime_error("injected");
    Reply r;
    r.body = std::to_string(req.body().size());
    if (req.target().starts_with("/stream")) {
      auto left = std::make_shared<int>(3);
      r.stream = [left](std::string& out) {
        out += "piece";
        return --*left >= 0;
      };
    }
    co_return r;
  }
};

struct World {
  asio::io_context io;
  ServeOptions opt;
  Metrics metrics;
  Log log{true, false};
  Handler handler;
  std::unique_ptr<HttpServer> server;
  World() {
    opt.listen = "127.0.0.1:0";
    opt.header_timeout = 1;
    opt.read_timeout = 1;
    opt.idle_timeout = 1;
    opt.max_body = 4096;
    opt.max_body_total = 8192;
    server = std::make_unique<HttpServer>(io, opt, handler, metrics, log);
    server->start();
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static World* w = new World();  // one server for the whole run
  tcp::socket s(w->io);
  boost::system::error_code ec;
  // A failed connect is the machine's (e.g. loopback ports in TIME_WAIT), not the server's.
  s.connect(w->server->local_endpoint(), ec);
  if (ec) return 0;
  // Closed with a reset at the end: no TIME_WAIT is left behind for each of a million runs.
  s.set_option(asio::socket_base::linger(true, 0), ec);
  asio::write(s, asio::buffer(data, size), ec);
  s.shutdown(tcp::socket::shutdown_send, ec);
  std::string out;
  bool done = false;
  asio::async_read(s, asio::dynamic_buffer(out, 1 << 20), [&](boost::system::error_code, std::size_t) { done = true; });
  w->io.restart();
  for (int turns = 0; !done && turns < 100000; ++turns) {
    try {
      w->io.run_one_for(std::chrono::milliseconds(50));
    } catch (...) {
      __builtin_trap();  // an exception left the event loop
    }
  }
  if (!done) __builtin_trap();  // the connection did not end
  if (!out.empty() && !out.starts_with("HTTP/1.1 ")) __builtin_trap();
  return 0;
}
