#pragma once
// Telling the service manager how we are (sd_notify(3), libsystemd): `Type=notify` units start
// `mailsift serve` and `mailsift worker` and consider them started when they say READY=1 (the
// server listens; the worker has its broker), and see STOPPING=1 when they drain. Outside systemd
// ($NOTIFY_SOCKET unset) every call does nothing.
#include <string_view>

namespace mailsift::service {

/// READY=1, with a STATUS= line for `systemctl status`.
void ready(std::string_view status);
/// STOPPING=1, with a STATUS= line.
void stopping(std::string_view status);
/// RELOADING=1 before a reload, READY=1 after it (with STATUS=).
void reloading();
void reloaded(std::string_view status);
/// True when $JOURNAL_STREAM says standard error goes to the journal (which stamps lines itself).
[[nodiscard]] bool logging_to_journal() noexcept;

}  // namespace mailsift::service
