#pragma once
// The seam between the HTTP transport (server/http.hpp) and what answers requests (server/api.hpp).
// A request is handled in two steps so that nothing a client sends is buffered before we know who
// it is: `admit` sees the request line and header only and may answer at once (unknown path, wrong
// method, missing or wrong key, rate limit), in which case the body is never read; `handle` gets the
// whole request. Tests and the HTTP fuzz target plug their own handler in here.
#include <boost/asio/awaitable.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace mailsift::server {

using HttpRequest = boost::beast::http::request<boost::beast::http::string_body>;

struct Reply {
  unsigned status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  /// A body too large to build at once (job results): called until it returns false, each call
  /// appending the next piece to its argument; sent with chunked transfer encoding.
  std::function<bool(std::string&)> stream;
};

struct Key;

/// Who sent an admitted request.
struct Caller {
  const Key* key = nullptr;
  std::string owner;  // the key's id, or "" without keys
};

class RequestHandler {
 public:
  virtual ~RequestHandler() = default;
  /// Called once the header has arrived, before any of the body is read. A reply ends the request
  /// there (the body is not read and the connection is closed after the reply); nullopt admits it
  /// and fills `who`. `client` is the peer's address.
  virtual std::optional<Reply> admit(const HttpRequest& header, const std::string& client, Caller& who) = 0;
  /// The whole request, admitted. May throw: the transport answers 500 and goes on.
  virtual boost::asio::awaitable<Reply> handle(const HttpRequest& req, const std::string& client,
                                               const Caller& who) = 0;
};

}  // namespace mailsift::server
