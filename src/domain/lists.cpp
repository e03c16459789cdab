#include "domain/lists.hpp"

#include <idn2.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <stdexcept>

namespace mailsift::domain::lists {
namespace {

struct FileCloser {
  void operator()(std::FILE* f) const noexcept { std::fclose(f); }
};
struct Idn2Free {
  void operator()(char* p) const noexcept { idn2_free(p); }
};

bool is_ascii(std::string_view s) noexcept {
  for (unsigned char c : s)
    if (c >= 0x80) return false;
  return true;
}

// `line` must outlive `set` (embedded literal or Storage).
void add_line(ViewSet& set, std::string_view line, Kind kind, Storage& store) {
  if (line.empty() || line.front() == '#') return;
  if (kind == Kind::domain) {
    if (line.back() == '.') line.remove_suffix(1);  // "example.net." is the same domain
    if (line.empty()) return;
    if (!is_ascii(line)) {
      // Community lists carry a few IDNs as U-labels; addresses reach us as A-labels. An entry
      // libidn2 rejects could never match a parsed address, so dropping it loses nothing.
      if (auto a = to_a_label(line)) set.insert(store.keep(std::move(*a)));
      return;
    }
  }
  set.insert(line);
}

}  // namespace

std::optional<std::string> to_a_label(std::string_view domain) {
  if (domain.size() > 1024) return std::nullopt;  // far beyond any valid domain; keeps idn2 bounded
  const std::string in(domain);
  char* out = nullptr;
  if (idn2_to_ascii_8z(in.c_str(), &out, IDN2_NONTRANSITIONAL | IDN2_NFC_INPUT) != IDN2_OK) return std::nullopt;
  const std::unique_ptr<char, Idn2Free> guard(out);
  return text::to_lower_ascii(out);
}

void add_entry(ViewSet& set, std::string_view entry, Kind kind, Storage& store) {
  add_line(set, store.keep(text::to_lower_ascii(text::trim_blanks(entry))), kind, store);
}

void add_embedded(ViewSet& set, std::string_view data, bool csv_first_column, Kind kind, Storage& store) {
  for (std::string_view line : text::list_lines(data, csv_first_column)) add_line(set, line, kind, store);
}

void add_file(ViewSet& set, const std::string& path, std::string_view what, Kind kind, Storage& store) {
  auto fail = [&](int err) {
    throw std::runtime_error("cannot read " + std::string(what) + " list " + path + ": " + std::strerror(err));
  };
  errno = 0;
  const std::unique_ptr<std::FILE, FileCloser> f(std::fopen(path.c_str(), "rb"));
  if (!f) fail(errno);
  std::string content;
  char chunk[1 << 16];
  std::size_t n = 0;
  while ((n = std::fread(chunk, 1, sizeof chunk, f.get())) > 0) content.append(chunk, n);
  // A directory opens fine and only fails here (EISDIR).
  if (std::ferror(f.get())) fail(errno != 0 ? errno : EIO);
  for (char& c : content) c = text::ascii_lower(c);
  // One owned buffer per file; the set holds views into it.
  const std::string_view text = store.keep(std::move(content));
  for (std::string_view line : text::list_lines(text, /*csv_first_column=*/false)) add_line(set, line, kind, store);
}

}  // namespace mailsift::domain::lists
