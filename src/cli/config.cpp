#include "cli/config.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <stdexcept>
#include <vector>

#include "common/text.hpp"

namespace mailsift::cli {

namespace {

constexpr std::size_t kMaxBytes = std::size_t{1} << 20;  // a config file, not a list
// The subcommands a file may configure (`cluster status` takes two flags: not worth a section).
const std::set<std::string, std::less<>> kSections = {"verify", "serve", "worker"};

struct Entry {
  std::size_t line = 0;
  std::string section, key, value;
};

std::string at(const std::string& path, std::size_t line) { return path + ":" + std::to_string(line) + ": "; }

// A value as written: bare (trimmed) or in double quotes with \" and \\ escapes.
std::string unquote(std::string_view v, const std::string& where) {
  if (v.empty() || v.front() != '"') return std::string(v);
  if (v.size() < 2 || v.back() != '"') throw std::invalid_argument(where + "unterminated quoted value");
  std::string out;
  for (std::size_t i = 1; i + 1 < v.size(); ++i) {
    if (v[i] == '\\' && i + 2 < v.size() && (v[i + 1] == '"' || v[i + 1] == '\\')) ++i;
    else if (v[i] == '"') throw std::invalid_argument(where + "a '\"' inside a quoted value must be written \\\"");
    out.push_back(v[i]);
  }
  return out;
}

std::vector<Entry> read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("--config " + path + ": " + std::strerror(errno));
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (text.size() > kMaxBytes) throw std::invalid_argument("--config " + path + ": larger than 1 MiB");
  std::vector<Entry> out;
  std::string section;
  std::size_t line = 0;
  for (std::size_t pos = 0; pos <= text.size();) {
    const std::size_t end = std::min(text.find('\n', pos), text.size());
    std::string_view l(text.data() + pos, end - pos);
    pos = end + 1;
    ++line;
    if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
    l = text::trim_blanks(l);
    if (l.empty() || l.front() == '#' || l.front() == ';') continue;
    const std::string where = at(path, line);
    for (const char c : l)
      if (static_cast<unsigned char>(c) < 0x20 && c != '\t') throw std::invalid_argument(where + "a control character");
    if (l.front() == '[') {
      if (l.back() != ']') throw std::invalid_argument(where + "a section is written [name]");
      section = std::string(text::trim_blanks(l.substr(1, l.size() - 2)));
      if (!kSections.contains(section))
        throw std::invalid_argument(where + "unknown section [" + section + "] (sections: [verify], [serve], [worker])");
      continue;
    }
    const std::size_t eq = l.find('=');
    if (eq == std::string_view::npos) throw std::invalid_argument(where + "expected 'key = value'");
    if (section.empty())
      throw std::invalid_argument(where + "a key outside any section: put it under [verify], [serve] or [worker]");
    Entry e;
    e.line = line;
    e.section = section;
    e.key = std::string(text::trim_blanks(l.substr(0, eq)));
    e.value = unquote(text::trim_blanks(l.substr(eq + 1)), where);
    if (e.key.starts_with("--")) e.key.erase(0, 2);
    out.push_back(std::move(e));
  }
  return out;
}

bool is_flag(const CLI::Option* o) { return o->get_expected_max() == 0; }
bool repeatable(const CLI::Option* o) { return o->get_expected_max() > 1; }

// The option a key names in `sub`, or an error: a key that is not a long flag of the subcommand.
CLI::Option* option_of(CLI::App& sub, const Entry& e, const std::string& path) {
  const std::string where = at(path, e.line);
  if (e.key.empty()) throw std::invalid_argument(where + "an empty key");
  CLI::Option* o = sub.get_option_no_throw("--" + e.key);
  if (o == nullptr || e.key == "help" || e.key == "config" || e.key == "version" || o->get_lnames().empty())
    throw std::invalid_argument(where + "unknown key '" + e.key + "' in [" + e.section + "]: not a flag of mailsift " +
                                e.section + " (see mailsift " + e.section + " --help)");
  if (is_flag(o)) {
    static const std::set<std::string, std::less<>> kBool = {"true", "false", "yes", "no", "on", "off", "1", "0"};
    if (!kBool.contains(e.value))
      throw std::invalid_argument(where + "'" + e.key + "' is a flag: its value is true or false, not '" + e.value + "'");
  }
  return o;
}

}  // namespace

void add_config_option(CLI::App* sub, std::string& path) {
  sub->add_option("--config", path,
                  "Read flags from FILE ([" + sub->get_name() +
                      "] section, key = value; see docs/config.md); flags given here win");
}

void apply_config(const std::string& path, CLI::App& app, CLI::App& sub) {
  const std::vector<Entry> entries = read(path);
  // Every section checked against its subcommand, and single-valued keys given once.
  std::map<std::pair<std::string, std::string>, std::size_t> first;
  for (const Entry& e : entries) {
    CLI::App* s = nullptr;
    for (CLI::App* c : app.get_subcommands([](const CLI::App*) { return true; }))
      if (c->get_name() == e.section) s = c;
    if (s == nullptr) throw std::invalid_argument(at(path, e.line) + "unknown section [" + e.section + "]");
    const CLI::Option* o = option_of(*s, e, path);
    const auto [it, fresh] = first.try_emplace({e.section, o->get_name()}, e.line);
    if (!fresh && !repeatable(o))
      throw std::invalid_argument(at(path, e.line) + "'" + e.key + "' is already set on line " +
                                  std::to_string(it->second) + " (it takes one value)");
  }
  // The command line wins: an option it set keeps its values.
  std::set<CLI::Option*> given;
  for (const Entry& e : entries) {
    if (e.section != sub.get_name()) continue;
    CLI::Option* o = sub.get_option_no_throw("--" + e.key);
    if (o->count() > 0) given.insert(o);
  }
  std::map<CLI::Option*, std::size_t> touched;  // option → the line of its last value
  for (const Entry& e : entries) {
    if (e.section != sub.get_name()) continue;
    CLI::Option* o = sub.get_option_no_throw("--" + e.key);
    if (given.contains(o)) continue;
    o->add_result(e.value);
    touched[o] = e.line;
  }
  for (const auto& [o, line] : touched) {
    try {
      o->run_callback();
    } catch (const CLI::Error& err) {
      throw std::invalid_argument(at(path, line) + "'" + o->get_lnames().front() + "': " + err.what());
    }
  }
}

}  // namespace mailsift::cli
