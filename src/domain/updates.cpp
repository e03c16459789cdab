#include "domain/updates.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <unordered_set>

#include "common/text.hpp"
#include "domain/embedded_lists.hpp"

namespace mailsift::domain {

namespace {

bool domain_entry(std::string_view e) {
  if (e.size() < 3 || e.size() > 253 || e.find('.') == std::string_view::npos) return false;
  std::size_t label = 0;
  for (std::size_t i = 0; i < e.size(); ++i) {
    const char c = e[i];
    if (c == '.') {
      if (label == 0 || e[i - 1] == '-') return false;
      label = 0;
      continue;
    }
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
    if (!ok || (c == '-' && label == 0) || ++label > 63) return false;
  }
  return label > 0 && e.back() != '-';
}

bool local_part_entry(std::string_view e) {
  if (e.empty() || e.size() > 64) return false;
  for (const char c : e)
    if (static_cast<unsigned char>(c) <= 0x20 || static_cast<unsigned char>(c) >= 0x7f || c == '@' || c == '"') return false;
  return true;
}

void write_synced(const std::string& path, const std::string& data) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0) throw std::runtime_error("cannot write " + path + ": " + std::strerror(errno));
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int e = errno;
      ::close(fd);
      throw std::runtime_error("cannot write " + path + ": " + std::strerror(e));
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) throw std::runtime_error("cannot write " + path + ": " + std::strerror(errno));
}

}  // namespace

CheckedList check_list(std::string_view name, std::string_view body, const std::vector<std::string>& allow) {
  const bool local = name == "role";
  const std::string what = "list '" + std::string(name) + "'";
  for (const char c : body)
    if (c == '\0') throw std::invalid_argument(what + ": binary content, not a list");
  CheckedList out;
  std::unordered_set<std::string> seen;
  const std::unordered_set<std::string> veto(allow.begin(), allow.end());
  std::size_t lines = 0;
  for (std::size_t pos = 0; pos < body.size();) {
    const std::size_t end = std::min(body.find('\n', pos), body.size());
    std::string_view l = text::trim_blanks(body.substr(pos, end - pos));
    pos = end + 1;
    if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
    if (l.empty() || l.front() == '#') continue;
    ++lines;
    std::string e = text::to_lower_ascii(l);
    if (!(local ? local_part_entry(e) : domain_entry(e))) {
      ++out.malformed;
      continue;
    }
    if (name == "disposable" && veto.contains(e)) {
      ++out.vetoed;
      continue;
    }
    if (seen.insert(e).second) out.entries.push_back(std::move(e));
  }
  if (out.entries.empty()) throw std::invalid_argument(what + ": no entry");
  if (out.malformed * 100 > lines)
    throw std::invalid_argument(what + ": " + std::to_string(out.malformed) + " of " + std::to_string(lines) +
                                " lines are not " + (local ? "local parts" : "domain names") + " (more than 1%): not a list");
  return out;
}

std::optional<InstalledList> installed_list(const std::string& dir, std::string_view name) {
  std::ifstream in(dir + "/" + std::string(name) + ".json");
  if (!in) return std::nullopt;
  std::stringstream ss;
  ss << in.rdbuf();
  boost::system::error_code ec;
  const boost::json::value v = boost::json::parse(ss.str(), ec);
  if (ec || !v.is_object()) return std::nullopt;
  const auto& o = v.as_object();
  InstalledList r;
  auto str = [&o](const char* k) {
    const auto* p = o.if_contains(k);
    return p && p->is_string() ? std::string(p->as_string()) : std::string();
  };
  r.source = str("source");
  r.fetched_at = str("fetched_at");
  r.sha256 = str("sha256");
  if (const auto* n = o.if_contains("entries"); n && n->is_int64()) r.entries = static_cast<std::size_t>(n->as_int64());
  return r;
}

void install_list(const std::string& dir, std::string_view name, const CheckedList& list, const InstalledList& record) {
  std::filesystem::create_directories(dir);
  const std::string base = dir + "/" + std::string(name);
  std::string text;
  for (const std::string& e : list.entries) {
    text += e;
    text += '\n';
  }
  boost::json::object meta;
  meta["source"] = record.source;
  meta["fetched_at"] = record.fetched_at;
  meta["sha256"] = record.sha256;
  meta["entries"] = static_cast<std::int64_t>(list.entries.size());
  meta["vetoed"] = static_cast<std::int64_t>(list.vetoed);
  meta["malformed"] = static_cast<std::int64_t>(list.malformed);
  write_synced(base + ".txt.new", text);
  write_synced(base + ".json.new", boost::json::serialize(meta) + "\n");
  if (std::rename((base + ".txt.new").c_str(), (base + ".txt").c_str()) != 0 ||
      std::rename((base + ".json.new").c_str(), (base + ".json").c_str()) != 0)
    throw std::runtime_error("cannot install " + base + ".txt: " + std::strerror(errno));
  // The renames themselves survive a crash once the directory is synced.
  const int d = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (d >= 0) {
    (void)::fsync(d);
    ::close(d);
  }
}

std::size_t builtin_entries(std::string_view name) {
  std::string_view data;
  if (name == "disposable") data = embedded::disposable_blocklist;
  else if (name == "allow") data = embedded::disposable_allowlist;
  else if (name == "free") data = embedded::free_providers;
  else if (name == "role") return text::list_lines(embedded::role_local_parts, true).size();
  else return 0;
  return text::list_lines(data, false).size();
}

}  // namespace mailsift::domain
