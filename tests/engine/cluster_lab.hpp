#pragma once
// The cluster tests' lab (tests/engine/cluster_test.cpp, tests/server/cluster_test.cpp): 40 domains
// whose MX is one scripted SMTP server, the fake DNS server, and `mailsift worker`s on threads of
// this process, each with its own engine and broker connections, as a process.
#include <atomic>
#include <chrono>
#include <future>
#include <string>
#include <vector>

#include "engine/fakes.hpp"
#include "engine/worker.hpp"
#include "smtp/fake_smtp.hpp"

// The scripted replies are aggregates that leave defaulted members out on purpose.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace mailsift::test {

using namespace mailsift::testing;

// 40 domains whose MX is the one fake server; 3 addresses each, and rows that never reach the
// network (bad syntax, a domain that does not exist).
inline std::vector<std::string> cluster_inputs() {
  std::vector<std::string> in;
  for (int d = 0; d < 40; ++d) {
    const std::string dom = "d" + std::to_string(d) + ".mailsift-fake.net";
    in.push_back("alice@" + dom);
    in.push_back("nobody@" + dom);
    in.push_back("carol@" + dom);
    if (d % 10 == 0) in.push_back("not an address " + std::to_string(d));
    if (d % 13 == 0) in.push_back("x@nx" + std::to_string(d) + ".mailsift-fake.net");
  }
  return in;
}

struct ClusterLab {
  FakeSmtpServer smtp;
  DnsThread dt;
  ClusterLab() {
    smtp.on("RCPT TO:<nobody@", "550 5.1.1 <nobody>: Recipient address rejected: User unknown\r\n");
    smtp.on("RCPT TO:<alice@", {"250 2.1.5 Ok\r\n", std::chrono::milliseconds(20)});  // sessions overlap
    smtp.on("RCPT TO:<carol@", {"250 2.1.5 Ok\r\n", std::chrono::milliseconds(20)});
    for (int d = 0; d < 40; ++d)
      dt.dns().set("d" + std::to_string(d) + ".mailsift-fake.net", kMx, Reply{0, {MX(10, "mx.mailsift-fake.net")}});
    dt.dns().set("mx.mailsift-fake.net", kA, Reply{0, {A("127.0.0.1")}});
    dt.start();
  }
  [[nodiscard]] cli::VerifyOptions options() {
    cli::VerifyOptions o;
    o.level = "smtp";
    o.threads = 1;
    o.dns_servers = {dt.dns().server()};
    o.dns_timeout_ms = 500;
    o.allow_private_targets = true;
    o.smtp_port = smtp.port();
    o.host_concurrency = 2;
    o.host_rate = 0;
    o.rcpts_per_session = 1;  // many sessions, so the workers compete for the one server
    o.no_catch_all = true;
    o.no_starttls = true;
    o.helo = "probe.mailsift-fake.net";
    o.lease = 1;  // a dead worker's chunks go to another after 1 s
    o.broker_timeout = 20;
    return o;
  }
};

// Workers on threads of this process (each its own engine and broker connections, as a process).
class Workers {
 public:
  Workers(const cli::VerifyOptions& o, int n) {
    for (int i = 0; i < n; ++i) {
      engine::WorkerOptions w;
      w.verify = o;
      w.name = "w" + std::to_string(i);
      w.chunks = 4;
      options_.push_back(w);
    }
    for (std::size_t i = 0; i < options_.size(); ++i)
      done_.push_back(std::async(std::launch::async, [this, i] { return engine::run_worker(options_[i], stop_); }));
  }
  ~Workers() { stop(); }
  std::size_t stop() {
    stop_ = true;
    std::size_t chunks = 0;
    for (auto& d : done_)
      if (d.valid()) chunks += d.get();
    return chunks;
  }

 private:
  std::vector<engine::WorkerOptions> options_;
  std::atomic<bool> stop_{false};
  std::vector<std::future<std::size_t>> done_;
};

}  // namespace mailsift::test
