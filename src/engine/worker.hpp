#pragma once
// `mailsift worker` (docs/cluster.md): takes chunks from the broker's work stream, looks their
// domain up and probes it with the local network stages (engine/local.hpp, the per-MX politeness
// gate on the broker), and sends each row's verdict back to the chunk's coordinator. A held chunk
// is renewed every --lease/3 (a greylisting wait can outlast the lease); a worker that stops
// renewing (killed, frozen) loses its chunks to the others after --lease. Entry point: run_worker.
#include <atomic>
#include <chrono>
#include <cstddef>
#include <string>

#include "cli/options.hpp"

namespace mailsift::engine {

struct WorkerOptions {
  cli::VerifyOptions verify;  // the DNS and SMTP settings, --broker, --lease; each chunk says its level
  std::string name;           // --name: unique in the cluster ("" = host-pid-random)
  std::size_t chunks = 16;    // --chunks: chunks in flight at once
  std::chrono::milliseconds grace{30'000};  // at SIGTERM: time to finish the chunks in flight
};

/// Runs until `*stop` is set (then finishes what it holds within `grace`) or the broker stays
/// unreachable for --broker-timeout (throws broker::BrokerError). Returns the chunks finished.
std::size_t run_worker(const WorkerOptions& o, const std::atomic<bool>& stop);

}  // namespace mailsift::engine
