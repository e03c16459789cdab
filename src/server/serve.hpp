#pragma once
// `mailsift serve`: builds the server (database, verifier, jobs, API, HTTP) on one io_context and
// runs it until SIGINT/SIGTERM. Entry point: server::serve.
#include "server/options.hpp"

namespace mailsift::server {

/// Runs the server; returns the exit code. Throws std::invalid_argument for bad options and
/// std::runtime_error / std::system_error when the database or the address cannot be used.
int serve(const ServeOptions& o);

/// True for 127.0.0.0/8 and ::1 (and "localhost").
[[nodiscard]] bool loopback_listen(const std::string& listen);

}  // namespace mailsift::server
