#pragma once
// Drives the SMTP probe (smtp/session.hpp) on a test-local io_context against the fakes of
// fake_smtp.hpp / fake_socks.hpp. Shared by session_test.cpp, politeness_test.cpp, prober_test.cpp.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "smtp/session.hpp"

namespace mailsift::test {

using namespace std::chrono_literals;

// Only a guard against a hung test (a bug must fail the test, not stall the suite); never a
// statement about how fast the code is.
inline constexpr std::chrono::seconds kGuard{30};

/// Options for a probe of a fake on `port`: fixed HELO and sender, generous timeouts (a test that
/// is about a timeout sets its own, short one).
inline smtp::ProbeOptions probe_options(std::uint16_t port) {
  smtp::ProbeOptions o;
  o.helo = "probe.test";
  o.mail_from = "verify@probe.test";
  o.port = port;
  o.timeouts = {5000ms, 5000ms, 5000ms, 20'000ms};
  return o;
}

/// No rate limit (tests that are about it set one), the default concurrency and back-off.
inline smtp::PolitenessOptions polite_options() {
  smtp::PolitenessOptions p;
  p.host_rate = 0;
  return p;
}

inline smtp::SessionRequest request(std::vector<std::string> recipients, bool test_catch_all = true,
                                    std::vector<smtp::Target> targets = {{"", "127.0.0.1"}}) {
  smtp::SessionRequest r;
  r.targets = std::move(targets);
  r.domain = "example.test";
  r.recipients = std::move(recipients);
  r.test_catch_all = test_catch_all;
  return r;
}

/// One SessionContext on its own io_context.
struct Harness {
  explicit Harness(smtp::ProbeOptions o, smtp::PolitenessOptions p = polite_options(), std::size_t max_sessions = 100,
                   std::shared_ptr<smtp::TlsClient> tls = nullptr)
      : ctx(std::move(o), p, max_sessions, nullptr, std::move(tls)) {}

  /// Runs the sessions concurrently, to the end; their reports in the order given.
  std::vector<smtp::SessionReport> run_all(std::vector<smtp::SessionRequest> reqs) {
    std::vector<std::optional<smtp::SessionReport>> out(reqs.size());
    std::exception_ptr error;
    for (std::size_t i = 0; i < reqs.size(); ++i) {
      boost::asio::co_spawn(io, smtp::run_session(ctx, std::move(reqs[i])),
                            [&out, &error, i](std::exception_ptr e, smtp::SessionReport r) {
                              if (e) error = e;
                              else out[i] = std::move(r);
                            });
    }
    io.restart();
    io.run_for(kGuard);
    if (error) std::rethrow_exception(error);
    std::vector<smtp::SessionReport> reports;
    for (auto& r : out) {
      if (!r) throw std::runtime_error("a session did not finish within the guard time");
      reports.push_back(std::move(*r));
    }
    return reports;
  }
  smtp::SessionReport run(smtp::SessionRequest req) {
    std::vector<smtp::SessionRequest> v;
    v.push_back(std::move(req));
    return std::move(run_all(std::move(v)).front());
  }

  boost::asio::io_context io;
  smtp::SessionContext ctx;
};

}  // namespace mailsift::test
