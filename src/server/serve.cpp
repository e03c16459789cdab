#include "server/serve.hpp"

#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <csignal>
#include <functional>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>

#include "common/service.hpp"
#include "server/api.hpp"
#include "server/auth.hpp"
#include "server/http.hpp"
#include "server/jobs.hpp"
#include "server/log.hpp"
#include "server/metrics.hpp"
#include "server/verifier.hpp"
#include "store/jobs.hpp"

namespace mailsift::server {

bool loopback_listen(const std::string& listen) {
  return parse_listen(listen).address().is_loopback();
}

namespace {
Keys load_keys(const ServeOptions& o) {
  Keys keys;
  for (const std::string& k : o.api_keys) keys.add_plain(k);
  if (!o.api_keys_file.empty()) keys.load_file(o.api_keys_file);
  if (keys.empty() && !loopback_listen(o.listen))
    throw std::invalid_argument("--listen " + o.listen +
                                ": a non-loopback address needs API keys (--api-key or --api-keys-file)");
  return keys;
}
}  // namespace

void serve(const ServeOptions& o) {
  Keys keys = load_keys(o);
  // A client that goes away mid-response must not kill the server.
  std::signal(SIGPIPE, SIG_IGN);

  boost::asio::io_context io{1};
  Log log(o.quiet, o.log_addresses, o.log_format == "json" ? LogFormat::json : LogFormat::text);
  Metrics metrics;
  store::JobStore db(o.db);
  VerifierOptions vo;
  vo.result_ttl = std::chrono::seconds(static_cast<std::int64_t>(o.result_ttl));
  vo.hash_keys = o.hash_keys;
  vo.cache_file = o.cache_file;
  vo.cache_ttl = std::chrono::seconds(static_cast<std::int64_t>(o.cache_ttl));
  vo.realtime_reserve = o.realtime_reserve;
  vo.result_cache_bytes = o.result_cache_bytes;
  Verifier verifier(io, o.engine, vo, metrics);
  JobOptions jo;
  jo.concurrency = o.job_concurrency;
  jo.max_running = o.max_running_jobs;
  jo.retention = std::chrono::seconds(static_cast<std::int64_t>(o.job_retention));
  jo.max_pending_per_key = o.max_pending_per_key;
  jo.callbacks.allow_private = o.allow_private_callbacks;
  JobRunner jobs(io, db, verifier, jo, log);
  Api api(o, verifier, jobs, metrics, keys, log);
  HttpServer http(io, o, api, metrics, log);
  api.connections_gauge([&http] { return http.connections(); });

  // SIGINT/SIGTERM: drain. No new connection or request; the requests being answered (a
  // real-time check waiting for its mail server) get up to --drain-timeout; then the jobs stop,
  // their finished results committed, unfinished ones resumed at the next start (docs/service.md).
  boost::asio::signal_set signals(io, SIGINT, SIGTERM);
  boost::asio::steady_timer drain_timer(io);
  std::chrono::steady_clock::time_point drain_until{};
  std::function<void()> drain_step = [&] {
    if (http.busy() > 0 && std::chrono::steady_clock::now() < drain_until) {
      drain_timer.expires_after(std::chrono::milliseconds(50));
      drain_timer.async_wait([&](boost::system::error_code ec) {
        if (!ec) drain_step();
      });
      return;
    }
    const std::size_t left = http.busy();
    if (left > 0) log.line("drain: " + std::to_string(left) + " requests still open at --drain-timeout: closed");
    jobs.stop();
    try {
      verifier.commit(true);
    } catch (const std::exception& e) {
      log.line(std::string("at exit, the --cache or --history file could not be written: ") + e.what());
    }
    io.stop();
  };
  signals.async_wait([&](boost::system::error_code ec, int sig) {
    if (ec) return;
    log.line(std::string("stopping (") + (sig == SIGINT ? "SIGINT" : "SIGTERM") + "): draining " +
             std::to_string(http.busy()) + " requests in progress; unfinished jobs resume at the next start");
    service::stopping("draining: unfinished jobs resume at the next start");
    api.shutting_down();
    http.drain();
    drain_until = std::chrono::steady_clock::now() +
                  std::chrono::milliseconds(static_cast<std::int64_t>(o.drain_timeout * 1000));
    drain_step();
  });

  // SIGHUP: the keys file, the lists and the TLS certificate read again, each kept as it was when
  // its new version does not load; connections, checks and jobs go on (docs/service.md).
  boost::asio::signal_set hup(io, SIGHUP);
  std::function<void()> on_hup = [&] {
    hup.async_wait([&](boost::system::error_code ec, int) {
      if (ec) return;
      service::reloading();
      std::string done, failed;
      auto attempt = [&](const char* what, const std::function<void()>& f) {
        try {
          f();
          done += done.empty() ? what : std::string(", ") + what;
        } catch (const std::exception& e) {
          failed += std::string("; ") + what + " kept: " + e.what();
        }
      };
      attempt("API keys", [&] {
        Keys fresh = load_keys(o);
        keys = std::move(fresh);
      });
      attempt("lists", [&] { verifier.reload_lists(); });
      if (http.tls()) attempt("TLS certificate", [&] { http.reload_tls(); });
      const std::string status = "reloaded (SIGHUP): " + (done.empty() ? std::string("nothing") : done) + failed;
      log.always(status);
      service::reloaded(status);
      on_hup();
    });
  };
  on_hup();

  jobs.start();
  http.start();
  const auto ep = http.local_endpoint();
  const std::string host = ep.address().is_v6() ? "[" + ep.address().to_string() + "]" : ep.address().to_string();
  // Always printed (tests and scripts read the port of --listen HOST:0 from it).
  const std::string listening = std::string("listening on ") + (http.tls() ? "https" : "http") + "://" + host + ":" +
                                std::to_string(ep.port()) + " (" + std::to_string(keys.size()) + " API key" +
                                (keys.size() == 1 ? "" : "s") + ", database " + o.db + ")";
  if (o.log_format == "json")
    log.always(listening);
  else
    std::fprintf(stderr, "mailsift: %s\n", listening.c_str());
  std::fflush(stderr);
  // systemd (Type=notify): started now that the socket listens.
  service::ready(listening);
  // An exception escaping a handler is logged and the loop goes on (server/http.hpp).
  run_event_loop(io, log);
  // Stopped by a signal: everything finished is committed (jobs.stop, verifier.commit above).
  // Leave without unwinding: the io_context would destroy the suspended coroutines (connections,
  // probes) after the objects they point into, and nothing is left to release that the kernel
  // does not (sockets, the database lock; SQLite's WAL is consistent at every commit).
  db.commit();
  std::fflush(stderr);
  std::_Exit(0);
}

}  // namespace mailsift::server
