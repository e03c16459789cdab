// `mailsift worker` (docs/cluster.md): the DNS and SMTP stages of a cluster, fed by a broker.
#include <csignal>
#include <cstdio>

#include "cli/commands.hpp"
#include "engine/worker.hpp"

namespace mailsift::cli {

namespace {
std::atomic<bool> g_stop{false};
extern "C" void on_stop(int) { g_stop.store(true); }
}  // namespace

void add_broker_options(CLI::App* app, VerifyOptions& o, bool required) {
  auto* b = app->add_option("--broker", o.broker,
                            "Run the DNS and SMTP levels on a cluster: redis://[user:password@]host[:port][/db] or "
                            "rediss:// (TLS); see docs/cluster.md");
  if (required) b->required();
  app->add_option("--broker-ca", o.broker_ca, "rediss://: trust this CA file (PEM) instead of the system's");
  app->add_option("--broker-prefix", o.broker_prefix, "Prefix of the key names in Redis (clusters sharing one Redis)")
      ->capture_default_str();
  app->add_option("--lease", o.lease,
                  "Seconds a chunk or a connection slot stays held without renewal: a worker that dies frees "
                  "what it held after this")
      ->check(CLI::Range(1.0, 3600.0))
      ->capture_default_str();
  app->add_option("--broker-timeout", o.broker_timeout,
                  "Seconds the broker may stay unreachable (retried with back-off) before the run fails")
      ->check(CLI::Range(1.0, 86400.0))
      ->capture_default_str();
}

CLI::App* add_worker_command(CLI::App& app, engine::WorkerOptions& o) {
  CLI::App* w = app.add_subcommand("worker", "Run the DNS and SMTP checks of a cluster's runs (docs/cluster.md)");
  add_engine_options(w, o.verify);
  w->remove_option(w->get_option("--level"));  // each chunk says its level
  add_broker_options(w, o.verify, false);  // required, checked after --config (cli/verify.cpp)
  w->add_option("--name", o.name, "This worker's name in the cluster (default: host-pid-random)");
  w->add_option("--chunks", o.chunks, "Chunks (one domain's addresses each, up to 200) worked on at once")
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  return w;
}

int worker(const engine::WorkerOptions& o) {
  struct sigaction sa{};
  sa.sa_handler = on_stop;
  sa.sa_flags = SA_RESETHAND;  // a second signal kills at once
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  (void)engine::run_worker(o, g_stop);
  return 0;
}

}  // namespace mailsift::cli
