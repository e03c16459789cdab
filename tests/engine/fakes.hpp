#pragma once
// Pieces the engine's tests share: the fake DNS server on a thread of its own, and rendered
// results without the times that differ between any two runs.
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <string>
#include <string_view>
#include <thread>

#include "dns/fake_dns.hpp"

namespace mailsift::test {

// The fake DNS server on its own thread: the engine's loops run on theirs.
class DnsThread {
 public:
  DnsThread() : guard_(io_.get_executor()), dns_(io_) {}
  ~DnsThread() {
    guard_.reset();
    io_.stop();
    if (thread_.joinable()) thread_.join();
  }
  DnsThread(const DnsThread&) = delete;
  DnsThread& operator=(const DnsThread&) = delete;
  testing::FakeDns& dns() { return dns_; }
  void start() {
    thread_ = std::thread([this] { io_.run(); });
  }

 private:
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard_;
  testing::FakeDns dns_;
  std::thread thread_;
};

// `"elapsed_ms":123`, `"connect_ms":4` and `"ms":5` with their numbers as 0: times differ between
// any two runs. (No std::regex: GCC 12's -Wmaybe-uninitialized trips on it in the asan build.)
inline std::string without_times(const std::string& in) {
  std::string out;
  out.reserve(in.size());
  std::size_t i = 0;
  while (i < in.size()) {
    bool hit = false;
    for (const std::string_view key : {"\"elapsed_ms\":", "\"connect_ms\":", "\"ms\":"}) {
      if (in.compare(i, key.size(), key) == 0) {
        out.append(key);
        i += key.size();
        while (i < in.size() && in[i] >= '0' && in[i] <= '9') ++i;
        out.push_back('0');
        hit = true;
        break;
      }
    }
    if (!hit) out.push_back(in[i++]);
  }
  return out;
}

}  // namespace mailsift::test
