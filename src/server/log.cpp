#include "server/log.hpp"

#include <chrono>
#include <cstdio>
#include <ctime>

#include "common/service.hpp"
#include "verdict/render.hpp"

namespace mailsift::server {

std::string mask_address(std::string_view a) {
  const std::size_t at = a.rfind('@');
  if (at == std::string_view::npos || at == 0) return "***";
  std::string out(1, a.front());
  out += "***";
  out += a.substr(at);
  return out;
}

std::string Log::address(std::string_view a) const {
  return addresses_ ? std::string(a) : mask_address(a);
}

Log::Log(bool quiet, bool addresses, LogFormat format)
    : quiet_(quiet), addresses_(addresses), format_(format), journal_(service::logging_to_journal()) {}

void Log::line(std::string_view text) const {
  if (!quiet_) write(text);
}

void Log::always(std::string_view text) const { write(text); }

void Log::write(std::string_view text) const {
  const auto now = std::chrono::system_clock::now();
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
  // Escaped like a JSON string body: a client-chosen path or address never forges a log line.
  std::string safe;
  render::append_json_string(text, safe);
  if (format_ == LogFormat::json)
    std::fprintf(stderr, "{\"time\":\"%s\",\"level\":\"info\",\"message\":\"%s\"}\n", stamp, safe.c_str());
  else if (journal_)
    std::fprintf(stderr, "mailsift: %s\n", safe.c_str());
  else
    std::fprintf(stderr, "%s mailsift: %s\n", stamp, safe.c_str());
  std::fflush(stderr);
}

}  // namespace mailsift::server
