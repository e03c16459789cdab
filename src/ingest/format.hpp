#pragma once
// Bulk file formats (docs/bulk.md): which format a path names, and the names of the formats for
// --input-format / --output-format.
#include <cstdint>
#include <optional>
#include <string_view>

namespace mailsift::ingest {

enum class Format : std::uint8_t { txt, csv, jsonl };

struct FileKind {
  Format format = Format::txt;
  bool gzip = false;
};

/// By extension, ASCII case-insensitive: .txt .csv .jsonl .ndjson, each optionally followed by .gz
/// (a bare .gz is gzip-compressed TXT). `.json` is not accepted as JSONL (a JSON array is not a
/// stream of lines): like any unknown extension it means TXT. "-" (a standard stream) is TXT.
[[nodiscard]] FileKind kind_of(std::string_view path) noexcept;

/// "txt" | "csv" | "jsonl" (also "ndjson"), ASCII case-insensitive; nullopt for anything else.
[[nodiscard]] std::optional<Format> parse_format(std::string_view name) noexcept;

[[nodiscard]] std::string_view name(Format f) noexcept;

}  // namespace mailsift::ingest
