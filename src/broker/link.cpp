#include "broker/link.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_future.hpp>

namespace mailsift::broker {

namespace asio = boost::asio;

Link::Link(RedisUrl url, RedisOptions o) {
  redis_ = std::make_unique<Redis>(loop_.get_executor(), std::move(url), std::move(o));
  guard_.emplace(loop_.get_executor());
  thread_ = std::thread([this] { loop_.run(); });
}

Link::~Link() {
  // The command in flight (if any) ends at once; then the loop runs out of work.
  asio::post(loop_, [this] { redis_->shut_down(); });
  guard_.reset();
  if (thread_.joinable()) thread_.join();
}

asio::awaitable<std::vector<Reply>> Link::each(std::vector<std::vector<std::string>> commands) {
  std::vector<Reply> replies;
  replies.reserve(commands.size());
  for (std::vector<std::string>& c : commands) replies.push_back(co_await redis_->command(std::move(c)));
  co_return replies;
}

std::vector<Reply> Link::run_all(std::vector<std::vector<std::string>> commands) {
  return asio::co_spawn(loop_, each(std::move(commands)), asio::use_future).get();
}

Reply Link::run(std::vector<std::string> args) {
  std::vector<std::vector<std::string>> one;
  one.push_back(std::move(args));
  return std::move(run_all(std::move(one)).front());
}

}  // namespace mailsift::broker
