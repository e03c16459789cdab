#pragma once
// Shared helpers of the ingest tests: a temporary directory, whole-file I/O, reading every record.
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "domain/knowledge.hpp"
#include "ingest/reader.hpp"
#include "verdict/classify.hpp"

namespace mailsift::ingest::test {

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "mailsift-ingest-XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  [[nodiscard]] std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

inline void write_file(const std::string& path, const std::string& data) {
  std::ofstream f(path, std::ios::binary);
  f.write(data.data(), static_cast<std::streamsize>(data.size()));
}

inline std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

inline std::vector<Record> read_all(Reader& r) {
  std::vector<Record> out;
  Record rec;
  while (r.next(rec)) out.push_back(rec);
  return out;
}

inline std::vector<Record> parse(const std::string& data, Format f, const InputOptions& o = {}) {
  auto r = Reader::from_memory(data, f, o);
  return read_all(*r);
}

/// The offline verdict for one address (syntax + domain knowledge), as the CLI's syntax level gives.
inline Result verdict(std::string_view email) {
  static const domain::Knowledge k;
  static Classifier c(k);
  Result r;
  c.classify(email, r);
  return r;
}

}  // namespace mailsift::ingest::test
