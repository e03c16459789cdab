#pragma once
// A Redis connection for threads that are not event loops (a worker's main loop, a coordinator's
// collector): commands block the caller until their reply, bounded by the connection's timeouts.
// The connection lives on a thread of its own. Entry point: Link::run.
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "broker/redis.hpp"

namespace mailsift::broker {

class Link {
 public:
  Link(RedisUrl url, RedisOptions o);
  ~Link();
  Link(const Link&) = delete;
  Link& operator=(const Link&) = delete;

  /// One command's reply (an error reply is a Reply). Throws BrokerError when the connection
  /// fails or times out; the next command reconnects.
  Reply run(std::vector<std::string> args);
  /// Several commands, in order, in one hand-over to the connection's thread.
  std::vector<Reply> run_all(std::vector<std::vector<std::string>> commands);
  [[nodiscard]] const RedisUrl& url() const noexcept { return redis_->url(); }

 private:
  boost::asio::awaitable<std::vector<Reply>> each(std::vector<std::vector<std::string>> commands);

  boost::asio::io_context loop_{1};
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> guard_;
  std::unique_ptr<Redis> redis_;  // used on loop_ only
  std::thread thread_;
};

}  // namespace mailsift::broker
