// `mailsift lists update` and `mailsift lists status` (docs/lists.md): fresh list files from their
// publishers, checked (domain/updates.hpp) and installed where `--lists-dir` reads them.
#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <map>
#include <stdexcept>

#include <boost/json.hpp>

#include "cli/commands.hpp"
#include "common/digest.hpp"
#include "common/https.hpp"
#include "common/text.hpp"
#include "domain/embedded_lists.hpp"
#include "domain/updates.hpp"

namespace mailsift::cli {

namespace {

std::string utc_now() {
  const std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char b[32];
  std::strftime(b, sizeof b, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return b;
}

bool updatable(std::string_view name) {
  for (const std::string_view n : domain::kUpdatableLists)
    if (n == name) return true;
  return false;
}

}  // namespace

CLI::App* add_lists_command(CLI::App& app, ListsOptions& o) {
  CLI::App* l = app.add_subcommand("lists", "Fetch fresh disposable and other lists, and show what is installed (docs/lists.md)");
  l->require_subcommand(1);
  CLI::App* u = l->add_subcommand("update", "Fetch the configured lists over HTTPS, check them and install them in --dir");
  u->add_option("--dir", o.dir, "Where the lists are installed (read by --lists-dir)")->capture_default_str();
  u->add_option("--source", o.sources,
                "NAME=https://URL of a list to fetch (repeatable; NAME: disposable, allow, free or role); "
                "default: disposable from disposable-email-domains on GitHub");
  u->add_option("--ca-file", o.ca_file, "Trust this CA file (PEM) instead of the system's");
  u->add_option("--timeout", o.timeout, "Seconds one fetch may take")->check(CLI::Range(1.0, 3600.0))->capture_default_str();
  u->add_option("--max-bytes", o.max_bytes, "Largest list file accepted")
      ->check(CLI::Range(std::size_t{1024}, std::size_t{1} << 30))
      ->capture_default_str();
  u->add_flag("--force", o.force, "Install a list even when it shrank by more than half");
  CLI::App* s = l->add_subcommand("status", "Show the lists in --dir: source, date, entries (and the built-in ones)");
  s->add_option("--dir", o.dir, "Where the lists are installed")->capture_default_str();
  s->add_option("--format", o.format, "text or json")->check(CLI::IsMember({"text", "json"}))->capture_default_str();
  return l;
}

int lists_update(const ListsOptions& o) {
  std::vector<std::pair<std::string, std::string>> sources;
  const std::vector<std::string> given =
      o.sources.empty() ? std::vector<std::string>{"disposable=" + std::string(kDefaultDisposableSource)} : o.sources;
  for (const std::string& s : given) {
    const std::size_t eq = s.find('=');
    if (eq == std::string::npos || !updatable(s.substr(0, eq)))
      throw std::invalid_argument("--source " + s + ": expected NAME=https://URL with NAME disposable, allow, free or role");
    sources.emplace_back(s.substr(0, eq), s.substr(eq + 1));
  }
  // The allowlist that vetoes disposable entries: the built-in one and an installed allow list.
  std::vector<std::string> allow;
  for (const std::string_view d : text::list_lines(domain::embedded::disposable_allowlist, false)) allow.emplace_back(d);
  if (std::ifstream in(o.dir + "/allow.txt"); in)
    for (std::string line; std::getline(in, line);)
      if (!line.empty()) allow.push_back(std::move(line));
  int failed = 0;
  for (const auto& [name, url] : sources) {
    try {
      const std::string body = https_get(url, HttpsOptions{o.ca_file, std::chrono::milliseconds(static_cast<std::int64_t>(o.timeout * 1000)), o.max_bytes});
      domain::CheckedList list = domain::check_list(name, body, allow);
      const auto old = domain::installed_list(o.dir, name);
      const std::size_t before = old ? old->entries : domain::builtin_entries(name);
      if (!o.force && list.entries.size() * 2 < before)
        throw std::runtime_error("it shrank by more than half (" + std::to_string(before) + " → " +
                                 std::to_string(list.entries.size()) + " entries): kept the old one; --force installs it");
      domain::InstalledList rec{url, utc_now(), sha256_hex(body), list.entries.size()};
      domain::install_list(o.dir, name, list, rec);
      std::printf("%s: installed %zu entries from %s (%zu vetoed by the allowlist, %zu malformed lines skipped; before: %zu)\n",
                  name.c_str(), list.entries.size(), url.c_str(), list.vetoed, list.malformed, before);
    } catch (const std::exception& e) {
      ++failed;
      std::fprintf(stderr, "mailsift: lists update: %s: %s; the installed list is unchanged\n", name.c_str(), e.what());
    }
  }
  std::fflush(stdout);
  return failed == 0 ? 0 : 1;
}

int lists_status(const ListsOptions& o) {
  boost::json::array rows;
  for (const std::string_view name : domain::kUpdatableLists) {
    boost::json::object r;
    r["name"] = name;
    r["builtin_entries"] = static_cast<std::int64_t>(domain::builtin_entries(name));
    if (const auto got = domain::installed_list(o.dir, name)) {
      r["installed"] = true;
      r["source"] = got->source;
      r["fetched_at"] = got->fetched_at;
      r["entries"] = static_cast<std::int64_t>(got->entries);
      r["sha256"] = got->sha256;
    } else {
      r["installed"] = false;
    }
    rows.push_back(std::move(r));
  }
  if (o.format == "json") {
    boost::json::object out;
    out["dir"] = o.dir;
    out["lists"] = rows;
    std::printf("%s\n", boost::json::serialize(out).c_str());
    return 0;
  }
  std::printf("lists in %s (added to the built-in ones by --lists-dir %s):\n", o.dir.c_str(), o.dir.c_str());
  for (const auto& v : rows) {
    const auto& r = v.as_object();
    if (r.at("installed").as_bool())
      std::printf("  %-10s %7lld entries from %s, fetched %s (built in: %lld)\n", r.at("name").as_string().c_str(),
                  static_cast<long long>(r.at("entries").as_int64()), r.at("source").as_string().c_str(),
                  r.at("fetched_at").as_string().c_str(), static_cast<long long>(r.at("builtin_entries").as_int64()));
    else
      std::printf("  %-10s not installed (built in: %lld)\n", r.at("name").as_string().c_str(),
                  static_cast<long long>(r.at("builtin_entries").as_int64()));
  }
  return 0;
}

}  // namespace mailsift::cli
