#pragma once
// A real redis-server for tests: 127.0.0.1:<free port>, its own directory, AOF on (fsync every
// second), extra arguments as given (e.g. --requirepass). Stopped with SIGKILL when destroyed.
// kill() and start() again model a crash and a restart: on the same files (AOF) or, after wipe(),
// empty. Fails, never skips, when redis-server is missing: scripts/install-deps.sh installs it.
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace mailsift::test {

inline std::uint16_t free_tcp_port() {
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor a(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
  return a.local_endpoint().port();
}

class RedisServer {
 public:
  explicit RedisServer(std::vector<std::string> extra = {}) : port_(free_tcp_port()), extra_(std::move(extra)) {
    char tmpl[] = "/tmp/mailsift-redis-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp");
    dir_ = tmpl;
    start();
  }
  ~RedisServer() {
    kill();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  /// kill -9: what was not yet written to the AOF (at most about a second) is lost.
  void kill() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  /// Removes the data files: the next start() is an empty broker.
  void wipe() {
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(dir_, ec))
      if (e.path().filename() != "redis.log") std::filesystem::remove_all(e.path(), ec);
  }
  void start() {
    std::vector<std::string> args{"redis-server", "--port", std::to_string(port_), "--bind", "127.0.0.1",
                                  "--dir", dir_, "--appendonly", "yes", "--save", "", "--daemonize", "no",
                                  "--loglevel", "warning", "--logfile", dir_ + "/redis.log"};
    args.insert(args.end(), extra_.begin(), extra_.end());
    pid_ = ::fork();
    if (pid_ < 0) throw std::runtime_error("fork");
    if (pid_ == 0) {
      // Dies with the test (a crashed test leaves no server behind), and keeps off the test's
      // output pipes (ctest reads them to the end).
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      const int null = ::open("/dev/null", O_RDWR);
      if (null >= 0) {
        ::dup2(null, 0);
        ::dup2(null, 1);
        ::dup2(null, 2);
      }
      std::vector<char*> argv;
      for (std::string& s : args) argv.push_back(s.data());
      argv.push_back(nullptr);
      ::execvp("redis-server", argv.data());
      ::_exit(127);
    }
    // Ready when it accepts a connection (bounded: 5 s).
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (std::chrono::steady_clock::now() < until) {
      boost::asio::io_context io;
      boost::asio::ip::tcp::socket s(io);
      boost::system::error_code ec;
      s.connect({boost::asio::ip::make_address("127.0.0.1"), port_}, ec);
      if (!ec) return;
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        throw std::runtime_error("redis-server did not start (is it installed? scripts/install-deps.sh)");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    throw std::runtime_error("redis-server did not accept connections within 5 s");
  }
  [[nodiscard]] std::uint16_t port() const { return port_; }
  [[nodiscard]] std::string url(const std::string& cred = "", int db = 0) const {
    return "redis://" + cred + "127.0.0.1:" + std::to_string(port_) + "/" + std::to_string(db);
  }

 private:
  std::uint16_t port_;
  std::vector<std::string> extra_;
  std::string dir_;
  pid_t pid_ = -1;
};

}  // namespace mailsift::test
