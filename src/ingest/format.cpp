#include "ingest/format.hpp"

#include "common/text.hpp"

namespace mailsift::ingest {
namespace {

bool ends_with_ci(std::string_view s, std::string_view suffix) noexcept {
  return s.size() >= suffix.size() && text::iequals_ascii(s.substr(s.size() - suffix.size()), suffix);
}

}  // namespace

FileKind kind_of(std::string_view path) noexcept {
  FileKind k;
  if (path == "-") return k;
  if (ends_with_ci(path, ".gz")) {
    k.gzip = true;
    path.remove_suffix(3);
  }
  if (ends_with_ci(path, ".csv")) k.format = Format::csv;
  else if (ends_with_ci(path, ".jsonl") || ends_with_ci(path, ".ndjson")) k.format = Format::jsonl;
  return k;
}

std::optional<Format> parse_format(std::string_view n) noexcept {
  if (text::iequals_ascii(n, "txt")) return Format::txt;
  if (text::iequals_ascii(n, "csv")) return Format::csv;
  if (text::iequals_ascii(n, "jsonl") || text::iequals_ascii(n, "ndjson")) return Format::jsonl;
  return std::nullopt;
}

std::string_view name(Format f) noexcept {
  switch (f) {
    case Format::txt: return "txt";
    case Format::csv: return "csv";
    case Format::jsonl: return "jsonl";
  }
  return "txt";
}

}  // namespace mailsift::ingest
