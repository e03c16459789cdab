#include "domain/rdap.hpp"

#include <boost/json.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <stdexcept>

#include "common/https.hpp"
#include "common/text.hpp"
#include "domain/lists.hpp"
#include "store/cache.hpp"

namespace mailsift::domain {
namespace json = boost::json;

namespace {

// RDAP answers nest entities in entities (registrar, its abuse contact, vCards): 5-8 levels in
// practice. Deeper is hostile or broken.
constexpr std::size_t kMaxDepth = 32;
// A domain has a handful of status values; far more is not an answer we act on.
constexpr std::size_t kMaxStatus = 32;
constexpr std::size_t kMaxStatusLength = 64;
// The cache holds this many domains at most; past it, answers no one waits for are dropped.
constexpr std::size_t kMaxCacheEntries = 1'000'000;
// A lookup that waited its whole --rdap-timeout for a slot: nothing was learnt, so nothing is cached.
constexpr std::string_view kNotAsked =
    "not asked: --rdap-timeout passed while waiting for a free lookup slot or the server's turn (--rdap-rate)";

json::value parse_json(std::string_view text, std::size_t max_bytes, const char* what) {
  if (text.size() > max_bytes)
    throw std::runtime_error(std::string(what) + " larger than " + std::to_string(max_bytes) + " bytes");
  json::parse_options po;
  po.max_depth = kMaxDepth;
  boost::system::error_code ec;
  json::value v = json::parse(text, ec, json::storage_ptr(), po);
  if (ec) throw std::runtime_error(std::string(what) + " is not valid JSON: " + ec.message());
  return v;
}

bool is_leap(std::int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

// Days from 1970-01-01 to y-m-d (proleptic Gregorian; Howard Hinnant's days_from_civil).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2 ? 1 : 0;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

void civil_from_days(std::int64_t z, std::int64_t& y, unsigned& m, unsigned& d) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  y = static_cast<std::int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y += m <= 2 ? 1 : 0;
}

std::string format_utc(std::int64_t t) {
  std::int64_t days = t / 86400, rem = t % 86400;
  if (rem < 0) {
    rem += 86400;
    --days;
  }
  std::int64_t y = 0;
  unsigned m = 0, d = 0;
  civil_from_days(days, y, m, d);
  char buf[40];
  std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02lld:%02lld:%02lldZ", static_cast<long long>(y), m, d,
                static_cast<long long>(rem / 3600), static_cast<long long>(rem / 60 % 60),
                static_cast<long long>(rem % 60));
  return buf;
}

bool digits(std::string_view s, std::size_t pos, std::size_t n, unsigned& out) {
  if (pos + n > s.size()) return false;
  out = 0;
  for (std::size_t i = pos; i < pos + n; ++i) {
    if (!text::is_ascii_digit(s[i])) return false;
    out = out * 10 + static_cast<unsigned>(s[i] - '0');
  }
  return true;
}

// A status value as kept: short, printable ASCII (it goes into every result at the domain).
bool status_ok(std::string_view s) {
  if (s.size() > kMaxStatusLength) return false;
  for (const char c : s)
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) return false;
  return true;
}

struct FileCloser {
  void operator()(std::FILE* f) const noexcept { std::fclose(f); }
};

}  // namespace

bool Registration::not_active() const noexcept {
  for (const std::string& s : status) {
    // RFC 8056 §2 spells them with blanks ("client hold"); EPP (RFC 5731) in camel case
    // ("clientHold"), which some servers echo: compare without blanks, case-insensitively.
    std::string k;
    for (const char c : s)
      if (c != ' ') k.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c);
    if (k == "clienthold" || k == "serverhold" || k == "redemptionperiod" || k == "pendingdelete") return true;
  }
  return false;
}

bool parse_rfc3339(std::string_view s, std::int64_t& unix_seconds) {
  // full-date "T" partial-time time-offset (RFC 3339 §5.6); a lower-case t/z and a blank for T
  // are allowed by its note. YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)
  unsigned y = 0, mo = 0, d = 0, h = 0, mi = 0, se = 0;
  if (s.size() < 20 || !digits(s, 0, 4, y) || s[4] != '-' || !digits(s, 5, 2, mo) || s[7] != '-' ||
      !digits(s, 8, 2, d) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || !digits(s, 11, 2, h) || s[13] != ':' ||
      !digits(s, 14, 2, mi) || s[16] != ':' || !digits(s, 17, 2, se))
    return false;
  static constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (mo < 1 || mo > 12 || d < 1 || d > kDays[mo - 1] + (mo == 2 && is_leap(y) ? 1 : 0) || h > 23 || mi > 59 ||
      se > 60)
    return false;
  std::size_t i = 19;
  if (i < s.size() && s[i] == '.') {
    ++i;
    const std::size_t start = i;
    while (i < s.size() && text::is_ascii_digit(s[i]) && i - start < 12) ++i;
    if (i == start) return false;
  }
  std::int64_t offset = 0;
  if (i < s.size() && (s[i] == 'Z' || s[i] == 'z')) {
    ++i;
  } else if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
    unsigned oh = 0, om = 0;
    if (!digits(s, i + 1, 2, oh) || i + 3 >= s.size() || s[i + 3] != ':' || !digits(s, i + 4, 2, om) || oh > 23 ||
        om > 59)
      return false;
    offset = (s[i] == '+' ? 1 : -1) * static_cast<std::int64_t>(oh * 3600 + om * 60);
    i += 6;
  } else {
    return false;
  }
  if (i != s.size()) return false;
  unix_seconds = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + std::min(se, 59u) - offset;
  return true;
}

std::string Bootstrap::base_for(std::string_view domain) const {
  // Longest match first: the whole name, then without its first label, and so on to the TLD.
  std::string name = text::to_lower_ascii(domain);
  while (!name.empty() && name.back() == '.') name.pop_back();
  std::string_view rest = name;
  while (!rest.empty()) {
    if (auto it = bases_.find(std::string(rest)); it != bases_.end()) return it->second;
    const std::size_t dot = rest.find('.');
    if (dot == std::string_view::npos) break;
    rest.remove_prefix(dot + 1);
  }
  return {};
}

Bootstrap parse_bootstrap(std::string_view text_) {
  const json::value v = parse_json(text_, kMaxBootstrap, "RDAP bootstrap file");
  const json::object* top = v.if_object();
  const json::value* services = top ? top->if_contains("services") : nullptr;
  if (!services || !services->is_array())
    throw std::runtime_error("RDAP bootstrap file: no \"services\" array (RFC 9224 §4)");
  Bootstrap b;
  for (const json::value& service : services->get_array()) {
    // [ [entries...], [base URLs...] ] (a third member, for a service's contact, is ignored).
    const json::array* pair = service.if_array();
    if (!pair || pair->size() < 2 || !(*pair)[0].is_array() || !(*pair)[1].is_array())
      throw std::runtime_error("RDAP bootstrap file: a service is not [[entries], [URLs]]");
    std::string base;
    for (const json::value& u : (*pair)[1].get_array()) {
      const json::string* s = u.if_string();
      if (!s) throw std::runtime_error("RDAP bootstrap file: a URL is not a string");
      // RFC 9224 §3: an https URL is preferred when both are given; we only ever use https.
      if (s->size() > 8 && s->size() < 2048 && std::string_view(*s).substr(0, 8) == "https://") {
        base = std::string(*s);
        break;
      }
    }
    if (base.empty()) continue;  // http only: not used (certificate checks stay on)
    if (base.back() != '/') base.push_back('/');
    for (const json::value& e : (*pair)[0].get_array()) {
      const json::string* s = e.if_string();
      if (!s) throw std::runtime_error("RDAP bootstrap file: an entry is not a string");
      std::string key = text::to_lower_ascii(std::string_view(*s));
      while (!key.empty() && key.back() == '.') key.pop_back();
      if (!key.empty() && key.size() <= 253) b.bases_.try_emplace(std::move(key), base);
    }
  }
  return b;
}

Bootstrap load_bootstrap(const std::string& path) {
  errno = 0;
  const std::unique_ptr<std::FILE, FileCloser> f(std::fopen(path.c_str(), "rb"));
  if (!f) throw std::runtime_error("cannot read the RDAP bootstrap file " + path + ": " + std::strerror(errno));
  std::string content;
  char chunk[1 << 16];
  std::size_t n = 0;
  while ((n = std::fread(chunk, 1, sizeof chunk, f.get())) > 0) {
    content.append(chunk, n);
    if (content.size() > kMaxBootstrap)
      throw std::runtime_error("the RDAP bootstrap file " + path + " is larger than " +
                               std::to_string(kMaxBootstrap) + " bytes");
  }
  if (std::ferror(f.get())) throw std::runtime_error("cannot read the RDAP bootstrap file " + path);
  try {
    return parse_bootstrap(content);
  } catch (const std::runtime_error& e) {
    throw std::runtime_error(path + ": " + e.what());
  }
}

std::string query_url(std::string_view base, std::string_view domain) {
  std::string name;
  bool ascii = true;
  for (const char c : domain) ascii = ascii && static_cast<unsigned char>(c) < 0x80;
  if (ascii) {
    name = text::to_lower_ascii(domain);
  } else {
    auto a = lists::to_a_label(domain);
    if (!a) throw std::invalid_argument("no A-label form for the domain " + std::string(domain));
    name = std::move(*a);
  }
  while (!name.empty() && name.back() == '.') name.pop_back();
  if (name.empty() || name.size() > 253) throw std::invalid_argument("not a domain name: " + std::string(domain));
  // Only LDH and dots go into the path: nothing to escape, nothing to smuggle.
  for (const char c : name)
    if (!(text::is_ascii_digit(c) || (c >= 'a' && c <= 'z') || c == '-' || c == '.'))
      throw std::invalid_argument("not a domain name: " + std::string(domain));
  std::string url(base);
  if (url.empty() || url.back() != '/') url.push_back('/');
  url += "domain/";
  url += name;
  return url;
}

void parse_answer(std::string_view body, Registration& out) {
  const json::value v = parse_json(body, kMaxRdapAnswer, "RDAP answer");
  const json::object* o = v.if_object();
  if (!o) throw std::runtime_error("RDAP answer is not a JSON object");
  // RFC 9083 §5.3: a domain object says so. An error object (§6) in a 200 is malformed too.
  const json::value* cls = o->if_contains("objectClassName");
  if (!cls || !cls->is_string() || cls->get_string() != "domain")
    throw std::runtime_error("RDAP answer is not a domain object (objectClassName)");
  out.found = true;
  out.created.clear();
  out.created_unix = 0;
  out.status.clear();
  if (const json::value* ev = o->if_contains("events")) {
    const json::array* events = ev->if_array();
    if (!events) throw std::runtime_error("RDAP answer: \"events\" is not an array");
    for (const json::value& e : *events) {
      const json::object* eo = e.if_object();
      if (!eo) throw std::runtime_error("RDAP answer: an event is not an object");
      const json::value* action = eo->if_contains("eventAction");
      if (!action || !action->is_string() || action->get_string() != "registration") continue;
      const json::value* date = eo->if_contains("eventDate");
      std::int64_t t = 0;
      if (!date || !date->is_string() || !parse_rfc3339(date->get_string(), t))
        throw std::runtime_error("RDAP answer: the registration event has no RFC 3339 eventDate");
      // The earliest, should a server list several (a re-registration keeps the first too).
      if (out.created.empty() || t < out.created_unix) {
        out.created_unix = t;
        out.created = format_utc(t);
      }
    }
  }
  if (const json::value* st = o->if_contains("status")) {
    const json::array* status = st->if_array();
    if (!status) throw std::runtime_error("RDAP answer: \"status\" is not an array");
    if (status->size() > kMaxStatus) throw std::runtime_error("RDAP answer: more than 32 status values");
    for (const json::value& s : *status) {
      const json::string* str = s.if_string();
      if (!str || str->size() > kMaxStatusLength)
        throw std::runtime_error("RDAP answer: a status value is not a short string");
      std::string value = text::to_lower_ascii(std::string_view(*str));
      if (!status_ok(value))
        throw std::runtime_error("RDAP answer: a status value holds a control or non-ASCII character");
      out.status.push_back(std::move(value));
    }
  }
}

std::string serialize_registration(const Registration& r) {
  json::object o;
  o["found"] = r.found;
  o["created"] = r.created;
  json::array st;
  for (const std::string& s : r.status) st.emplace_back(s);
  o["status"] = std::move(st);
  o["source"] = r.source;
  return json::serialize(o);
}

bool parse_registration(std::string_view text, Registration& out) {
  try {
    const json::value v = parse_json(text, kMaxRdapAnswer, "stored RDAP answer");
    const json::object* o = v.if_object();
    if (!o) return false;
    const json::value* found = o->if_contains("found");
    const json::value* created = o->if_contains("created");
    const json::value* status = o->if_contains("status");
    const json::value* source = o->if_contains("source");
    if (!found || !found->is_bool() || !created || !created->is_string() || !status || !status->is_array() || !source ||
        !source->is_string())
      return false;
    Registration r;
    r.found = found->get_bool();
    r.created = std::string(created->get_string());
    if (!r.created.empty() && !parse_rfc3339(r.created, r.created_unix)) return false;
    // The same bounds as an answer's: a cache file is read, not trusted.
    if (status->get_array().size() > kMaxStatus) return false;
    for (const json::value& s : status->get_array()) {
      if (!s.is_string() || !status_ok(s.get_string())) return false;
      r.status.emplace_back(text::to_lower_ascii(std::string_view(s.get_string())));
    }
    r.source = std::string(source->get_string());
    r.domain = std::move(out.domain);
    out = std::move(r);
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

// --- RdapClient ------------------------------------------------------------------------------------

RdapClient::RdapClient(RdapOptions o) : RdapClient(o, load_bootstrap(o.bootstrap_file)) {}

RdapClient::RdapClient(RdapOptions o, Bootstrap b) : opt_(std::move(o)), bootstrap_(std::move(b)) {
  if (!opt_.cache_file.empty()) {
    disk_ = std::make_unique<store::Cache>(opt_.cache_file);
    (void)disk_->expire(std::chrono::duration_cast<std::chrono::seconds>(opt_.ttl));
    disk_->commit();
  }
  const std::size_t n = std::max<std::size_t>(1, opt_.concurrency);
  for (std::size_t i = 0; i < n; ++i) threads_.emplace_back([this] { run(); });
}

RdapClient::~RdapClient() {
  {
    const std::lock_guard lock(mu_);
    stopping_ = true;
    cv_.notify_all();
  }
  // Each thread ends its request in flight (bounded by --rdap-timeout) and stops.
  for (std::thread& t : threads_) t.join();
  if (disk_) {
    try {
      disk_->commit();
    } catch (const std::exception&) {
      // A cache that cannot be written loses answers, nothing else.
    }
  }
}

RdapClient::Stats RdapClient::stats() {
  const std::lock_guard lock(mu_);
  return stats_;
}

RegistrationPtr RdapClient::aged(const Registration& r) {
  auto a = std::make_shared<Registration>(r);
  if (!a->created.empty()) {
    const std::int64_t now =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    // A date in the future (a registry's clock, or ours) counts as registered today.
    a->age_days = std::max<std::int64_t>(0, (now - a->created_unix) / 86400);
  }
  return a;
}

void RdapClient::lookup(const std::string& registrable, Done done) {
  const auto now = std::chrono::steady_clock::now();
  std::shared_ptr<const Registration> ready;
  {
    const std::lock_guard lock(mu_);
    auto it = cache_.find(registrable);
    if (it != cache_.end() && it->second.answer && it->second.expires <= now) {
      cache_.erase(it);
      it = cache_.end();
    }
    if (it != cache_.end() && it->second.answer) {
      ++stats_.cache_hits;
      ready = it->second.answer;
    } else if (it != cache_.end()) {
      ++stats_.coalesced;
      it->second.waiters.push_back(std::move(done));
      return;
    } else if (auto stored = disk_ ? disk_get(registrable) : nullptr) {
      ++stats_.disk_hits;
      Entry& e = cache_[registrable];
      e.answer = stored;
      e.expires = now + std::chrono::duration_cast<std::chrono::steady_clock::duration>(opt_.ttl);
      ready = std::move(stored);
    } else {
      if (cache_.size() >= kMaxCacheEntries)
        std::erase_if(cache_, [](const auto& kv) { return kv.second.answer != nullptr; });
      Entry& e = cache_[registrable];
      e.waiters.push_back(std::move(done));
      ++stats_.queries;
      queue_.push_back(Job{registrable, now + opt_.timeout});
      cv_.notify_one();
      return;
    }
  }
  done(aged(*ready));
}

bool RdapClient::reserve(const std::string& base, std::chrono::steady_clock::time_point deadline,
                         std::chrono::steady_clock::time_point& when) {
  const auto now = std::chrono::steady_clock::now();
  const std::lock_guard lock(mu_);
  auto& next = next_send_[base];
  when = std::max(now, next);
  if (when >= deadline) return false;
  if (opt_.rate > 0)
    next = when + std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(1.0 / opt_.rate));
  return true;
}

Registration RdapClient::fetch(const std::string& domain, std::chrono::steady_clock::time_point deadline) {
  Registration r;
  r.domain = domain;
  try {
    const std::string base = bootstrap_.base_for(domain);
    if (base.empty()) {
      r.error = "no RDAP server for this top-level domain in the bootstrap file";
      return r;
    }
    r.source = query_url(base, domain);
    // Registries limit rates (and answer 429 past them): requests to one server are spaced by
    // --rdap-rate, and one whose turn comes after its deadline is not sent at all.
    std::chrono::steady_clock::time_point when{};
    if (!reserve(base, deadline, when)) {
      r.error = kNotAsked;
      return r;
    }
    std::this_thread::sleep_until(when);  // before the deadline: bounded
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left <= std::chrono::milliseconds(0)) {
      r.error = kNotAsked;
      return r;
    }
    HttpsOptions ho;
    ho.ca_file = opt_.ca_file;
    ho.timeout = left;
    ho.max_bytes = kMaxRdapAnswer;
    try {
      parse_answer(https_get(r.source, ho), r);
    } catch (const HttpsStatus& e) {
      // RFC 7480 §5.5: 429 is "slow down": leave the server alone for a while (every lookup for
      // it meanwhile is "not asked" and asked again by a later batch).
      if (e.status == 429) {
        const std::lock_guard lock(mu_);
        auto& next = next_send_[base];
        next = std::max(next, std::chrono::steady_clock::now() + opt_.backoff);
      }
      // RFC 9082 §6 / RFC 7480 §5.3: 404 is "no such object" — the registry does not know it.
      if (e.status != 404) throw;
      r.found = false;
    }
  } catch (const std::exception& e) {
    r.found = false;
    r.created.clear();
    r.status.clear();
    r.error = e.what();
  }
  return r;
}

// The cache's key: the domain under a prefix of its own (a file could hold other facts one day).
std::shared_ptr<const Registration> RdapClient::disk_get(const std::string& domain) {
  try {
    auto v = disk_->get_domain("rdap:" + domain, std::chrono::duration_cast<std::chrono::seconds>(opt_.ttl));
    if (!v) return nullptr;
    Registration r;
    r.domain = domain;
    if (!parse_registration(*v, r)) return nullptr;
    return std::make_shared<const Registration>(std::move(r));
  } catch (const std::exception&) {
    return nullptr;  // an unreadable cache is a miss, never a failed verdict
  }
}

void RdapClient::disk_put(const Registration& r) {
  try {
    disk_->put_domain("rdap:" + r.domain, serialize_registration(r));
    disk_->commit();  // a lookup is a network round trip; one commit each costs little beside it
  } catch (const std::exception&) {
  }
}

void RdapClient::run() {
  for (;;) {
    Job job;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping
      job = std::move(queue_.front());
      queue_.pop_front();
      if (stopping_) job.deadline = std::chrono::steady_clock::now();  // fail fast: the run is ending
    }
    const Registration r = fetch(job.domain, job.deadline);
    std::vector<Done> waiters;
    const auto answer = std::make_shared<const Registration>(r);
    {
      const std::lock_guard lock(mu_);
      if (!r.error.empty()) ++stats_.errors;
      if (disk_ && r.error.empty()) disk_put(r);
      Entry& e = cache_[job.domain];
      waiters.swap(e.waiters);
      e.answer = answer;
      e.expires = std::chrono::steady_clock::now() +
                  (r.error.empty() ? std::chrono::duration_cast<std::chrono::steady_clock::duration>(opt_.ttl)
                                   : std::chrono::duration_cast<std::chrono::steady_clock::duration>(opt_.error_ttl));
      if (r.error == kNotAsked) cache_.erase(job.domain);  // nothing learnt: a later batch asks again
    }
    for (Done& w : waiters) w(aged(*answer));
  }
}

}  // namespace mailsift::domain
