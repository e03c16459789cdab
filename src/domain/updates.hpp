#pragma once
// `mailsift lists update` (docs/lists.md): list files fetched from their publishers are checked
// and installed in a directory that `--lists-dir` adds to the built-in lists. A list is installed
// only when it reads as a list (one entry a line, nearly all well formed), when the allowlist's
// veto has been applied (a real provider is never called disposable) and when it did not shrink
// by more than half (a truncated or emptied upstream file), unless forced; the file and its
// record (source, date, SHA-256, entries) are replaced atomically. Entry points: check_list,
// install_list, installed_list.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mailsift::domain {

/// The lists that can be updated, and the file names they install as (NAME.txt, NAME.json).
inline constexpr std::string_view kUpdatableLists[] = {"disposable", "allow", "free", "role"};

struct CheckedList {
  std::vector<std::string> entries;  // lower case, deduplicated, in the file's order
  std::size_t vetoed = 0;            // disposable entries dropped because the allowlist has them
  std::size_t malformed = 0;         // lines that are not an entry (skipped)
};

/// Parses `body` as list `name` ('#' comments and blank lines ignored). `allow` holds the domains
/// that veto a disposable entry. Throws std::invalid_argument when it is not a list: binary
/// content, no entry, or more than 1% of its lines malformed.
[[nodiscard]] CheckedList check_list(std::string_view name, std::string_view body, const std::vector<std::string>& allow);

struct InstalledList {
  std::string source, fetched_at, sha256;
  std::size_t entries = 0;
};
/// What `dir` holds for `name` (nullopt when nothing was installed, or its record is unreadable).
[[nodiscard]] std::optional<InstalledList> installed_list(const std::string& dir, std::string_view name);
/// Writes DIR/NAME.txt and DIR/NAME.json through temporary files renamed into place (fsync'd), so
/// a reader sees the old list or the new one, never part of one.
void install_list(const std::string& dir, std::string_view name, const CheckedList& list, const InstalledList& record);

/// Entries of the built-in version of `name` (what a first update is compared with).
[[nodiscard]] std::size_t builtin_entries(std::string_view name);

}  // namespace mailsift::domain
