#pragma once
// Internal: bounded line splitting shared by the TXT and JSONL readers, and the JSONL reader's
// factory (it lives in jsonl.cpp, the one translation unit that compiles Boost.JSON).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "ingest/reader.hpp"
#include "ingest/source.hpp"

namespace mailsift::ingest::detail {

/// The next line into `out` (without LF / CRLF); false at the end of input. A line longer than
/// `max` bytes is not stored: `over` is set, `out` left empty, and the line is consumed to its end.
bool read_line(Input& in, std::string& out, std::size_t max, bool& over);

std::unique_ptr<Reader> make_jsonl_reader(std::unique_ptr<Input> in, const InputOptions& o);

[[nodiscard]] inline std::string over_message(std::size_t max) {
  return "record over " + std::to_string(max) + " bytes";
}

}  // namespace mailsift::ingest::detail
