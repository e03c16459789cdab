#pragma once
// Domain and local-part sets built from the embedded reference lists and from run-time files.
// Embedded entries are views into the compiled-in literals (zero copy); anything read at run time
// is owned by a Storage that must outlive the sets holding views into it.
#include <boost/unordered/unordered_flat_set.hpp>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "common/flat_map.hpp"
#include "common/text.hpp"

namespace mailsift::domain::lists {

/// Open addressing (Boost's SIMD-probed flat table): one cache line per look-up in the common case,
/// against a node chase per look-up for std::unordered_set.
using ViewSet = boost::unordered_flat_set<std::string_view, StringHash, std::equal_to<>>;

/// Stable home for run-time strings: std::deque never moves its elements on push_back.
class Storage {
 public:
  std::string_view keep(std::string s) { return strings_.emplace_back(std::move(s)); }

 private:
  std::deque<std::string> strings_;
};

enum class Kind : std::uint8_t {
  domain,      // converted to a lower-case A-label; entries that are not valid IDNA2008 are skipped
  local_part,  // ASCII lower-cased only: local parts have no IDNA form
};

/// Lower-case A-label for a domain written as U-labels (IDNA2008 with the UTS #46 non-transitional
/// mapping, so "ß" stays "ß"). std::nullopt when libidn2 rejects it.
[[nodiscard]] std::optional<std::string> to_a_label(std::string_view domain);

/// Adds one run-time entry (a flag value or a file line): trimmed, lower-cased, a trailing root
/// dot removed. Empty results are ignored.
void add_entry(ViewSet& set, std::string_view entry, Kind kind, Storage& store);

/// Adds every line of an embedded list. ASCII lines are added as views into `data`, so `data`
/// must be static; U-label lines (kind == domain) are converted and owned by `store`.
void add_embedded(ViewSet& set, std::string_view data, bool csv_first_column, Kind kind, Storage& store);

/// Adds a run-time list file: one entry per line, '#' comment lines and blank lines ignored.
/// Throws std::runtime_error("cannot read <what> list <path>: <reason>") if it cannot be read.
void add_file(ViewSet& set, const std::string& path, std::string_view what, Kind kind, Storage& store);

}  // namespace mailsift::domain::lists
