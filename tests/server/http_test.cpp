// The HTTP transport with handlers injected through the RequestHandler seam (server/handler.hpp):
// an exception from a handler, from inside an I/O operation or of a non-standard type never ends
// the event loop, and the connection it happened on is the only one that pays; plus the pure
// helpers: per-client groups, the body budget, and the incremental job-body reader.
#include "server/http.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <stdexcept>
#include <thread>

#include "server/job_body.hpp"

namespace mailsift::server {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;

// Answers /ok with 200 and its body size; throws for /throw (std::runtime_error in handle),
// /throw-int (a non-std exception in handle) and /admit-throws (in admit).
class ThrowingHandler : public RequestHandler {
 public:
  std::optional<Reply> admit(const HttpRequest& h, const std::string&, Caller&) override {
    if (h.target() == "/admit-throws") throw std::runtime_error("admit failed");
    if (h.target() == "/secret") {
      Reply r;
      r.status = 401;
      r.body = "{}";
      return r;
    }
    return std::nullopt;
  }
  asio::awaitable<Reply> handle(const HttpRequest& req, const std::string&, const Caller&) override {
    if (req.target() == "/throw") throw std::runtime_error("handler failed");
    if (req.target() == "/throw-int") throw 42;  // NOLINT: a non-std exception on purpose
    Reply r;
    r.body = "size=" + std::to_string(req.body().size());
    co_return r;
  }
};

struct Fixture {
  asio::io_context io;
  ServeOptions opt;
  Metrics metrics;
  Log log{true, false};
  ThrowingHandler handler;
  std::unique_ptr<HttpServer> server;
  std::thread loop;
  std::size_t caught = 0;

  Fixture() {
    opt.listen = "127.0.0.1:0";
    server = std::make_unique<HttpServer>(io, opt, handler, metrics, log);
    server->start();
  }
  void run() {
    loop = std::thread([this] { caught = run_event_loop(io, log); });
  }
  // Stops accepting and lets the loop run out: every connection ends (the clients have closed
  // theirs) before the server goes, since their coroutines point into it.
  ~Fixture() {
    asio::post(io, [this] { server->stop(); });
    if (loop.joinable()) loop.join();
  }
  // One request on its own connection; returns the whole answer (the server closes after it).
  std::string ask(const std::string& raw) {
    asio::io_context client;
    tcp::socket s(client);
    s.connect(server->local_endpoint());
    asio::write(s, asio::buffer(raw));
    std::string out;
    boost::system::error_code ec;
    asio::read(s, asio::dynamic_buffer(out), ec);
    return out;
  }
};

TEST(HttpServer, HandlerExceptionsNeverEndTheLoop) {
  Fixture f;
  f.run();
  EXPECT_NE(f.ask("GET /throw HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").find(" 500 "), std::string::npos);
  EXPECT_NE(f.ask("GET /admit-throws HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").find(" 500 "),
            std::string::npos);
  // A non-std exception leaves the connection coroutine: the connection closes without an answer
  // and its completion handler logs it.
  EXPECT_EQ(f.ask("GET /throw-int HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"), "");
  const std::string ok = f.ask("POST /ok HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc");
  EXPECT_NE(ok.find(" 200 "), std::string::npos) << ok;
  EXPECT_NE(ok.find("size=3"), std::string::npos) << ok;
}

TEST(HttpServer, RefusedFromTheHeaderWithoutReadingTheBody) {
  Fixture f;
  f.run();
  const std::string out =
      f.ask("POST /secret HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n" + std::string(10, 'x'));
  EXPECT_NE(out.find(" 401 "), std::string::npos) << out;
  EXPECT_NE(out.find("Connection: close"), std::string::npos) << out;
}

TEST(HttpServer, TrailersAreBoundedAndIgnored) {
  Fixture f;
  f.run();
  // Beast's field storage throws past 65,534 bytes: the read buffer stops the trailer long before.
  const std::string huge =
      f.ask("POST /ok HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: " + std::string(65534, 'a') +
            "\r\n\r\n");
  EXPECT_NE(huge.find(" 431 "), std::string::npos) << huge.substr(0, 200);
  const std::string small = f.ask(
      "POST /ok HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n0\r\nX-T: "
      "1\r\n\r\n");
  EXPECT_NE(small.find("size=3"), std::string::npos) << small;
  EXPECT_EQ(f.caught, 0u);
}

TEST(HttpServer, HeadGivesTheHeaderWithoutTheBody) {
  Fixture f;
  f.run();
  const std::string out = f.ask("HEAD /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_NE(out.find(" 200 "), std::string::npos) << out;
  EXPECT_NE(out.find("Content-Length: 6"), std::string::npos) << out;  // "size=0"
  EXPECT_EQ(out.substr(out.find("\r\n\r\n") + 4), "");
}

TEST(RunEventLoop, AnExceptionFromAHandlerIsLoggedAndTheLoopGoesOn) {
  asio::io_context io;
  Log log(true, false);
  bool after = false;
  asio::post(io, [] { throw std::runtime_error("inside an I/O operation"); });
  asio::post(io, [] { throw 7; });  // NOLINT: non-std on purpose
  asio::post(io, [&] { after = true; });
  EXPECT_EQ(run_event_loop(io, log), 2u);
  EXPECT_TRUE(after);
}

TEST(ClientGroup, Ipv4AsItIsIpv6ByItsSlash64) {
  EXPECT_EQ(client_group(asio::ip::make_address("192.0.2.7")), "192.0.2.7");
  EXPECT_EQ(client_group(asio::ip::make_address("::ffff:192.0.2.7")), "192.0.2.7");
  EXPECT_EQ(client_group(asio::ip::make_address("2001:db8:1:2:aaaa::1")), "2001:db8:1:2::/64");
  EXPECT_EQ(client_group(asio::ip::make_address("2001:db8:1:2:bbbb::9")), "2001:db8:1:2::/64");
}

TEST(BodyBudget, TakesWithinTheLimitOnly) {
  BodyBudget b(100);
  EXPECT_TRUE(b.take(60));
  EXPECT_FALSE(b.take(41));
  EXPECT_TRUE(b.take(40));
  b.give(60);
  EXPECT_EQ(b.used(), 40u);
}

struct JsonCase {
  std::string body;
  std::size_t slice;
  bool ok;
  std::vector<std::string> want;
  std::string code;
};

TEST(JobJsonReader, ShapesTypesAndSlices) {
  const std::vector<JsonCase> cases = {
      {R"(["a@b.c", "d@e.f"])", 3, true, {"a@b.c", "d@e.f"}, ""},
      {R"({"emails": ["a@b.c"], "name": "n", "level": "dns", "n": 5, "x": null})", 1, true, {"a@b.c"}, ""},
      {R"(["a@b.c", 1])", 64, false, {}, "malformed_json"},
      {R"(["a@b.c", ["x"]])", 64, false, {}, "malformed_json"},
      {R"({"name": "n"})", 64, false, {}, "malformed_json"},
      {R"({"emails": "a@b.c"})", 64, false, {}, "malformed_json"},
      {R"({"emails": [], "meta": {"a": 1}})", 64, false, {}, "malformed_json"},
      {R"("a@b.c")", 64, false, {}, "malformed_json"},
      {R"(["a@b.c"] x)", 64, false, {}, "malformed_json"},
      {R"(["a@b.c")", 4, false, {}, "malformed_json"},
      {R"(["a", "b", "c", "d"])", 64, false, {}, "body_too_large"},
      {"[\"a\\u00e9@b.c\"]  \n", 2, true, {"a\xc3\xa9@b.c"}, ""},
  };
  for (const JsonCase& c : cases) {
    std::vector<std::string> out;
    Params p;
    JobJsonReader r(out, p, 3);
    bool ok = true;
    for (std::size_t at = 0; ok;) {
      const std::size_t n = std::min(c.slice, c.body.size() - at);
      const bool last = at + n == c.body.size();
      ok = r.write(std::string_view(c.body).substr(at, n), last);
      if (last) break;
      at += n;
    }
    EXPECT_EQ(ok, c.ok) << c.body << ": " << r.message();
    if (c.ok)
      EXPECT_EQ(out, c.want) << c.body;
    else
      EXPECT_EQ(r.code(), c.code) << c.body << ": " << r.message();
  }
  std::vector<std::string> out;
  Params p;
  JobJsonReader r(out, p, 10);
  ASSERT_TRUE(r.write(R"({"emails":["x@y.z"],"name":"list","n":5,"b":true})", true));
  EXPECT_EQ(p["name"], "list");
  EXPECT_EQ(p["n"], "5");
  EXPECT_EQ(p["b"], "true");
}

TEST(JobJsonReader, ANumberIsRefusedAtItsFirstDigits) {
  // The first slice of a huge array of numbers already fails: nothing more is read or kept.
  std::vector<std::string> out;
  Params p;
  JobJsonReader r(out, p, 1000);
  const std::string slice = "[1" + std::string(4096, '1');
  EXPECT_FALSE(r.write(slice, false));
  EXPECT_EQ(r.code(), "malformed_json");
}

}  // namespace
}  // namespace mailsift::server
