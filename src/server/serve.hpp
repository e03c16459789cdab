#pragma once
// `mailsift serve`: builds the server (database, verifier, jobs, API, HTTP) on one io_context and
// runs it until SIGINT/SIGTERM. Entry point: server::serve.
#include "server/options.hpp"

namespace mailsift::server {

/// Runs the server until SIGINT/SIGTERM, then exits the process with status 0 (it does not
/// return). Throws std::invalid_argument for bad options and
/// std::runtime_error / std::system_error when the database or the address cannot be used.
[[noreturn]] void serve(const ServeOptions& o);

/// True for 127.0.0.0/8 and ::1 (and "localhost").
[[nodiscard]] bool loopback_listen(const std::string& listen);

}  // namespace mailsift::server
