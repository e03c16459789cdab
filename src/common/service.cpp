#include "common/service.hpp"

#include <sys/stat.h>
#include <systemd/sd-daemon.h>

#include <cstdio>
#include <cstdlib>
#include <string>

namespace mailsift::service {

namespace {
void notify(std::string_view state, std::string_view status) {
  std::string msg(state);
  if (!status.empty()) {
    msg += "\nSTATUS=";
    for (const char c : status) msg.push_back(c == '\n' ? ' ' : c);  // one line
  }
  (void)sd_notify(0, msg.c_str());  // < 0: not under systemd, or it went away: nothing to do
}
}  // namespace

void ready(std::string_view status) { notify("READY=1", status); }
void stopping(std::string_view status) { notify("STOPPING=1", status); }
void reloading() { notify("RELOADING=1", ""); }
void reloaded(std::string_view status) { notify("READY=1", status); }

bool logging_to_journal() noexcept {
  // "DEVICE:INODE" of the journal's stream, set by systemd when stderr is connected to it; it counts
  // only while our stderr is still that stream (not redirected by a shell in between).
  const char* js = std::getenv("JOURNAL_STREAM");
  if (js == nullptr) return false;
  struct stat st {};
  if (::fstat(2, &st) != 0) return false;
  unsigned long long dev = 0, ino = 0;
  if (std::sscanf(js, "%llu:%llu", &dev, &ino) != 2) return false;
  return dev == static_cast<unsigned long long>(st.st_dev) && ino == static_cast<unsigned long long>(st.st_ino);
}

}  // namespace mailsift::service
