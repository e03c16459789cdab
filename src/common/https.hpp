#pragma once
// One HTTPS GET, bounded: the certificate and host name verified (the system's CAs or --ca-file),
// one deadline for the whole exchange, the body refused past a size. For `mailsift lists update`,
// which fetches list files from their publishers. Entry point: https_get.
#include <chrono>
#include <cstddef>
#include <stdexcept>
#include <string>

namespace mailsift {

struct HttpsOptions {
  std::string ca_file;  // PEM; empty: the system's trust store
  std::chrono::milliseconds timeout{60'000};
  std::size_t max_bytes = std::size_t{32} << 20;
};

/// A complete answer whose status is not 200 (callers such as RDAP tell 404 from failures).
struct HttpsStatus : std::runtime_error {
  HttpsStatus(const std::string& what, int code) : std::runtime_error(what), status(code) {}
  int status;
};

/// The body of a 200 answer to GET `url` (https:// only; no redirects followed). Throws
/// std::runtime_error saying what went wrong (address, TLS, size, time); HttpsStatus for another status.
[[nodiscard]] std::string https_get(const std::string& url, const HttpsOptions& o);

}  // namespace mailsift
