#include "cli/verify.hpp"

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdio>
#include <exception>
#include <map>
#include <string>
#include <system_error>
#include <vector>

#include "common/line_reader.hpp"
#include "common/text.hpp"
#include "domain/knowledge.hpp"
#include "mailsift/version.hpp"
#include "verdict/classify.hpp"
#include "verdict/render.hpp"

namespace mailsift::cli {
namespace {

// Lines longer than this cannot be addresses; their head is kept for the record, the rest skipped.
constexpr std::size_t kMaxLine = 4096;
// Output is written in blocks of about this size: large enough that syscalls cost nothing.
constexpr std::size_t kFlushAt = 1 << 20;

class Output {
 public:
  explicit Output(int fd) : fd_(fd) { buf_.reserve(kFlushAt + 64 * 1024); }
  std::string& buf() { return buf_; }
  void maybe_flush() {
    if (buf_.size() >= kFlushAt) flush();
  }
  void flush() {
    std::size_t off = 0;
    while (off < buf_.size()) {
      const ssize_t n = ::write(fd_, buf_.data() + off, buf_.size() - off);
      if (n < 0) {
        if (errno == EINTR) continue;
        throw std::system_error(errno, std::generic_category(), "write");
      }
      off += static_cast<std::size_t>(n);
    }
    buf_.clear();
  }

 private:
  int fd_;
  std::string buf_;
};

struct VerifyOptions {
  std::vector<std::string> addresses;
  std::string level = "syntax";
  std::string format;
  domain::ListOptions lists;
  bool no_builtin = false;
  bool strict = false;
};

class Run {
 public:
  Run(const VerifyOptions& o, render::Format f)
      : knowledge_(o.lists), classifier_(knowledge_), format_(f), out_(1), strict_(o.strict) {}

  void begin() {
    if (format_ == render::Format::csv) render::append_csv_header(out_.buf());
    if (format_ == render::Format::table) render::append_table_header(out_.buf());
    if (format_ == render::Format::json) out_.buf() += "[";
  }

  void one(std::string_view input) {
    classifier_.classify(text::trim_blanks(input), result_);
    all_valid_ &= result_.status == Status::valid;
    std::string& b = out_.buf();
    switch (format_) {
      case render::Format::jsonl:
        render::append_json(result_, b);
        b.push_back('\n');
        break;
      case render::Format::json:
        b += count_ == 0 ? "\n" : ",\n";
        render::append_json(result_, b);
        break;
      case render::Format::csv: render::append_csv(result_, b); break;
      case render::Format::table: render::append_table(result_, b); break;
    }
    ++count_;
    out_.maybe_flush();
  }

  int end() {
    if (format_ == render::Format::json) out_.buf() += count_ == 0 ? "]\n" : "\n]\n";
    out_.flush();
    return (strict_ && !all_valid_) ? kSomeNotValid : kOk;
  }

 private:
  domain::Knowledge knowledge_;
  Classifier classifier_;
  render::Format format_;
  Output out_;
  bool strict_;
  Result result_;
  std::size_t count_ = 0;
  bool all_valid_ = true;
};

int verify(const VerifyOptions& o) {
  static const std::map<std::string, render::Format> kFormats = {
      {"jsonl", render::Format::jsonl}, {"json", render::Format::json},
      {"csv", render::Format::csv},     {"table", render::Format::table}};
  render::Format format = ::isatty(1) ? render::Format::table : render::Format::jsonl;
  if (!o.format.empty()) format = kFormats.at(o.format);

  domain::ListOptions lists = o.lists;
  lists.builtin = !o.no_builtin;
  VerifyOptions effective = o;
  effective.lists = lists;
  Run run(effective, format);
  run.begin();
  const bool from_stdin = o.addresses.empty() || (o.addresses.size() == 1 && o.addresses[0] == "-");
  if (from_stdin) {
    LineReader reader(0, kMaxLine);
    LineReader::Line line;
    while (reader.next(line)) run.one(line.text);
  } else {
    for (const std::string& a : o.addresses) run.one(a);
  }
  return run.end();
}

}  // namespace

int run(int argc, char** argv) {
  CLI::App app{"mailsift: tells whether mail to an address would be delivered, without sending any"};
  app.set_version_flag("--version", std::string("mailsift ") + kVersion);
  app.require_subcommand(1);

  VerifyOptions o;
  CLI::App* v = app.add_subcommand("verify", "Verify addresses given as arguments, or one per line on standard input");
  v->add_option("addresses", o.addresses, "Addresses to verify; none or '-' reads standard input, one per line");
  v->add_option("--level", o.level, "How far to go: syntax (offline: syntax and domain knowledge)")
      ->check(CLI::IsMember({"syntax"}))
      ->capture_default_str();
  v->add_option("--format", o.format, "Output format: jsonl, json, csv or table (default: table on a terminal, else jsonl)")
      ->check(CLI::IsMember({"jsonl", "json", "csv", "table"}));
  v->add_option("--disposable-file", o.lists.disposable_files, "Extra disposable domains, one per line (repeatable)")
      ->allow_extra_args(false);
  v->add_option("--disposable-domain", o.lists.disposable_domains, "An extra disposable domain (repeatable)")
      ->allow_extra_args(false);
  v->add_option("--allow-file", o.lists.allow_files, "Domains never treated as disposable, one per line (repeatable)")
      ->allow_extra_args(false);
  v->add_option("--allow-domain", o.lists.allow_domains, "A domain never treated as disposable (repeatable)")
      ->allow_extra_args(false);
  v->add_option("--free-file", o.lists.free_files, "Extra free-provider domains, one per line (repeatable)")
      ->allow_extra_args(false);
  v->add_option("--role-file", o.lists.role_files, "Extra role-account local parts, one per line (repeatable)")
      ->allow_extra_args(false);
  v->add_flag("--extended-disposable", o.lists.extended_disposable,
              "Also use the large community disposable lists (more coverage, more false positives)");
  v->add_flag("--strict", o.strict, "Exit with status 1 unless every result is valid (for scripts checking one address)");
  v->add_flag("--no-builtin-lists", o.no_builtin, "Use only the list files and domains given on the command line");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? kOk : kUsage;
  }
  try {
    return verify(o);
  } catch (const std::system_error& e) {
    std::fprintf(stderr, "mailsift: %s\n", e.what());
    return kIoError;
  } catch (const std::runtime_error& e) {
    std::fprintf(stderr, "mailsift: %s\n", e.what());
    return kIoError;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mailsift: internal error: %s\n", e.what());
    return kInternal;
  }
}

}  // namespace mailsift::cli
