#include "server/api.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>
#include <boost/url/parse.hpp>
// Boost.URL is header-only here (Debian packages no libboost_url): this is the one translation
// unit that compiles it.
#include <boost/url/src.hpp>
#include <charconv>
#include <cmath>
#include <map>
#include <optional>

#include "ingest/reader.hpp"
#include "mailsift/version.hpp"
#include "server/assets.hpp"
#include "server/job_body.hpp"
#include "server/json.hpp"
#include "verdict/render.hpp"
#include "verdict/stored.hpp"

namespace mailsift::server {

namespace asio = boost::asio;
namespace http = boost::beast::http;

namespace {

// The longest address the API takes: far beyond RFC 5321's 254 octets, so the verifier (not the
// transport) explains what is wrong with a long one, yet bounded.
constexpr std::size_t kMaxEmail = 4096;
// The largest POST /v1/verify body: one address and a few parameters.
constexpr std::size_t kMaxVerifyBody = 64 * 1024;
// Results streamed per piece: about 500 × 1 KiB.
constexpr std::size_t kResultsPage = 500;
// A job body is read in slices of this many bytes (JSON) or rows (CSV, text), the event loop
// running between them: a 64 MiB body never holds up other requests for more than a few ms.
constexpr std::size_t kJsonSlice = 512 * 1024;
constexpr std::size_t kRowSlice = 20'000;
// Wrong API keys a client address may send at once, and how fast it earns another try.
constexpr double kAuthFailureBurst = 10, kAuthFailureRate = 0.2;
constexpr const char* kPageCsp =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

enum class Route { page, app_js, app_css, healthz, openapi, metrics, verify, jobs, job, job_results, domain, none };

struct RouteInfo {
  Route route = Route::none;
  bool open = false;       // no key needed
  const char* allow = "";  // the methods allowed, for 405 and its Allow header
};

RouteInfo route_of(std::string_view path) {
  if (path == "/") return {Route::page, true, "GET, HEAD"};
  if (path == "/app.js") return {Route::app_js, true, "GET, HEAD"};
  if (path == "/app.css") return {Route::app_css, true, "GET, HEAD"};
  if (path == "/healthz") return {Route::healthz, true, "GET, HEAD"};
  if (path == "/v1/openapi.json") return {Route::openapi, true, "GET, HEAD"};
  if (path == "/metrics") return {Route::metrics, false, "GET, HEAD"};
  if (path == "/v1/verify") return {Route::verify, false, "GET, HEAD, POST"};
  if (path == "/v1/jobs") return {Route::jobs, false, "POST"};
  if (path.starts_with("/v1/domains/")) {
    const std::string_view rest = path.substr(12);
    if (rest.empty() || rest.size() > 1024 || rest.find('/') != std::string_view::npos) return {};
    return {Route::domain, false, "GET, HEAD"};
  }
  if (path.starts_with("/v1/jobs/")) {
    std::string_view rest = path.substr(9);
    const bool results = rest.ends_with("/results");
    if (results) rest.remove_suffix(8);
    if (rest.empty() || rest.size() > 64 || rest.find('/') != std::string_view::npos) return {};
    return results ? RouteInfo{Route::job_results, false, "GET, HEAD"}
                   : RouteInfo{Route::job, false, "GET, HEAD, DELETE"};
  }
  return {};
}

bool allowed(const RouteInfo& r, http::verb v) {
  const std::string_view allow = r.allow;
  const std::string_view m = http::to_string(v);
  for (std::size_t at = 0; at < allow.size();) {
    std::size_t end = allow.find(',', at);
    if (end == std::string_view::npos) end = allow.size();
    if (allow.substr(at, end - at) == m) return true;
    at = end + 2;
  }
  return false;
}

std::string_view path_of(const HttpRequest& req) {
  const std::string_view target = req.target();
  return target.substr(0, target.find('?'));
}

struct BadRequest {
  unsigned status;
  std::string code;
  std::string message;
};

Params query_params(std::string_view query) {
  Params p;
  if (!boost::urls::parse_query(query)) throw BadRequest{400, "bad_parameter", "the query string is malformed"};
  // '+' stays a plus sign (RFC 3986), not a space as in HTML form encoding: plus-addresses
  // (jane+news@example.org) are common, and a space is never part of an address anyway.
  boost::urls::encoding_opts opts;
  opts.space_as_plus = false;
  for (auto param : boost::urls::params_view(query, opts)) {  // percent-decoded
    if (param.key.size() > 64 || param.value.size() > 8192)
      throw BadRequest{400, "bad_parameter", "a query parameter is too long"};
    p[std::string(param.key)] = std::string(param.value);
  }
  return p;
}

std::optional<Level> parse_level(std::string_view s) {
  if (s == "syntax") return Level::syntax;
  if (s == "dns") return Level::dns;
  if (s == "smtp") return Level::smtp;
  return std::nullopt;
}

Level level_param(const Params& p, const std::string& fallback) {
  auto it = p.find("level");
  const std::string_view s = it == p.end() ? std::string_view(fallback) : std::string_view(it->second);
  auto l = parse_level(s);
  if (!l) throw BadRequest{400, "bad_parameter", "level must be syntax, dns or smtp"};
  return *l;
}

// A JSON body with bounded nesting; malformed → 400 malformed_json.
boost::json::value parse_json(std::string_view body) {
  boost::json::parse_options po;
  po.max_depth = 32;
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(body, ec, {}, po);
  if (ec) throw BadRequest{400, "malformed_json", "the body is not valid JSON: " + ec.message()};
  return v;
}

// Copies the scalar members of a JSON object into `p` (strings as they are, numbers and booleans
// as text); other members are left to the caller.
void json_params(const boost::json::object& o, Params& p) {
  for (const auto& [k, v] : o) {
    if (v.is_string())
      p[std::string(k)] = std::string(v.get_string());
    else if (v.is_int64())
      p[std::string(k)] = std::to_string(v.get_int64());
    else if (v.is_uint64())
      p[std::string(k)] = std::to_string(v.get_uint64());
    else if (v.is_double())
      p[std::string(k)] = std::to_string(v.get_double());
    else if (v.is_bool())
      p[std::string(k)] = v.get_bool() ? "true" : "false";
    else if (v.is_null())
      continue;
    else if (k != "emails")
      throw BadRequest{400, "malformed_json", "member '" + std::string(k) + "' must be a string or a number"};
  }
}

std::string_view content_type(const HttpRequest& req) {
  std::string_view ct = req[http::field::content_type];
  const std::size_t semi = ct.find(';');
  if (semi != std::string_view::npos) ct = ct.substr(0, semi);
  while (!ct.empty() && ct.back() == ' ') ct.remove_suffix(1);
  return ct;
}

Reply json_reply(unsigned status, std::string body) {
  Reply r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

}  // namespace

Api::Api(const ServeOptions& o, Verifier& verifier, JobRunner& jobs, Metrics& metrics, const Keys& keys, const Log& log)
    : opt_(o),
      verifier_(verifier),
      jobs_(jobs),
      metrics_(metrics),
      keys_(keys),
      log_(log),
      limiter_(o.rate_limit, o.rate_burst),
      auth_failures_(kAuthFailureRate, kAuthFailureBurst) {}

Reply Api::error(unsigned status, std::string_view code, std::string_view message) {
  Reply r = json_reply(status, error_json(code, message));
  if (status == 401) r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"mailsift\"");
  return r;
}

std::optional<Reply> Api::admit(const HttpRequest& header, const std::string& client, Caller& who) {
  const RouteInfo r = route_of(path_of(header));
  if (r.route == Route::none) return error(404, "not_found", "no such endpoint: see /v1/openapi.json");
  if (!allowed(r, header.method())) {
    Reply e = error(405, "method_not_allowed",
                    std::string(to_string(header.method())) + " is not allowed here; use " + r.allow);
    e.headers.emplace_back("Allow", r.allow);
    return e;
  }
  if (r.route == Route::verify) {
    // One address needs no more: a large body is refused before it is read.
    const std::string_view len = header[http::field::content_length];
    std::uint64_t n = 0;
    const auto [end, ec] = std::from_chars(len.data(), len.data() + len.size(), n);
    if (!len.empty() && (ec != std::errc() || n > kMaxVerifyBody))
      return error(413, "body_too_large", "a /v1/verify body is at most 64 KiB");
  }
  if (r.open) return std::nullopt;
  // Keys, then the rate limit (per key, or per client address without keys). Wrong keys are
  // counted per client address: past a few, that address waits before it may try again.
  const auto now = std::chrono::steady_clock::now();
  if (!keys_.empty()) {
    if (const std::int64_t wait = auth_failures_.peek(client, now)) {
      Reply e =
          error(429, "too_many_auth_failures",
                "too many requests with a wrong API key from this address: retry after " + std::to_string(wait) + " s");
      e.headers.emplace_back("Retry-After", std::to_string(wait));
      return e;
    }
    who.key = keys_.check(header[http::field::authorization]);
    if (who.key == nullptr) {
      (void)auth_failures_.take(client, now);
      return error(401, "unauthorized", "a valid API key is needed: Authorization: Bearer KEY");
    }
    who.owner = who.key->id;
  }
  if (const std::int64_t wait = limiter_.take(who.key ? who.key->id : client, now, who.key ? who.key->rate : 0)) {
    Reply e = error(429, "rate_limited", "too many requests: retry after " + std::to_string(wait) + " s");
    e.headers.emplace_back("Retry-After", std::to_string(wait));
    return e;
  }
  if (shutting_down_) return error(503, "shutting_down", "the server is stopping");
  return std::nullopt;
}

asio::awaitable<Reply> Api::handle(const HttpRequest& req, const std::string& client, const Caller& who) {
  (void)client;
  try {
    const std::string_view target = req.target();
    const std::size_t q = target.find('?');
    const std::string_view path = target.substr(0, q);
    const std::string query(q == std::string_view::npos ? std::string_view() : target.substr(q + 1));
    const http::verb method = req.method();
    const RouteInfo route = route_of(path);
    switch (route.route) {
      case Route::page: {
        Reply r;
        r.content_type = "text/html; charset=utf-8";
        r.body = assets::page_html();
        r.headers.emplace_back("Content-Security-Policy", kPageCsp);
        co_return r;
      }
      case Route::app_js: {
        Reply r;
        r.content_type = "text/javascript; charset=utf-8";
        r.body = assets::app_js();
        co_return r;
      }
      case Route::app_css: {
        Reply r;
        r.content_type = "text/css; charset=utf-8";
        r.body = assets::app_css();
        co_return r;
      }
      case Route::healthz: co_return healthz();
      case Route::openapi: co_return json_reply(200, std::string(assets::openapi_json()));
      case Route::metrics: co_return metrics();
      case Route::verify: co_return co_await verify(req, query);
      case Route::jobs: co_return co_await create_job(req, query, who);
      case Route::job:
      case Route::job_results: {
        std::string_view rest = path.substr(9);
        if (route.route == Route::job_results) rest.remove_suffix(8);
        const std::string id(rest);
        auto job = jobs_.get(id, who.owner);
        if (!job) co_return error(404, "not_found", "no job " + id);
        if (route.route == Route::job_results) co_return job_results(*job, query);
        if (method == http::verb::delete_) {
          jobs_.remove(id, who.owner);
          log_.line("job " + id + " deleted");
          co_return json_reply(200, "{\"id\":\"" + id + "\",\"deleted\":true}");
        }
        co_return json_reply(200, job_json(*job));
      }
      case Route::domain: {
        // --history (docs/history.md): what this server's checks saw of the domain.
        if (!verifier_.keeps_history())
          co_return error(404, "not_found", "this server keeps no history: start it with --history FILE");
        boost::urls::pct_string_view encoded;
        try {
          encoded = boost::urls::pct_string_view(path.substr(12));
        } catch (const std::exception&) {
          co_return error(400, "bad_parameter", "the domain in the path is not well percent-encoded");
        }
        const std::string domain = encoded.decode();
        try {
          co_return json_reply(200, verifier_.domain_history(domain));
        } catch (const std::invalid_argument&) {
          co_return error(400, "bad_parameter", "not a domain name: " + domain);
        }
      }
      case Route::none: break;
    }
    co_return error(404, "not_found", "no such endpoint: see /v1/openapi.json");
  } catch (const BadRequest& e) {
    co_return error(e.status, e.code, e.message);
  } catch (const JobRefused& e) {
    Reply r = error(e.status, e.code, e.message);
    if (e.status == 429 || e.status == 503 || e.status == 507) r.headers.emplace_back("Retry-After", "60");
    co_return r;
  }
}

Reply Api::healthz() {
  const auto up = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started_).count();
  return json_reply(200, std::string("{\"status\":\"ok\",\"version\":\"") + kVersion + "\",\"uptime_seconds\":" +
                             std::to_string(up) + ",\"jobs_active\":" + std::to_string(jobs_.active()) + "}");
}

Reply Api::metrics() {
  Gauges g;
  verifier_.gauges(g);
  g.jobs = jobs_.count_by_state();
  g.job_addresses_pending = jobs_.pending_addresses();
  g.http_connections = connections_ ? connections_() : 0;
  g.storage_ok = jobs_.storage_ok();
  Reply r;
  r.content_type = "text/plain; version=0.0.4; charset=utf-8";
  r.body = metrics_.render(g);
  return r;
}

asio::awaitable<Reply> Api::verify(const HttpRequest& req, const std::string& query) {
  Params p = query_params(query);
  if (req.method() == http::verb::post) {
    if (content_type(req) != "application/json")
      co_return error(415, "unsupported_media_type",
                      "POST /v1/verify takes a JSON body (Content-Type: application/json)");
    if (req.body().size() > kMaxVerifyBody)
      co_return error(413, "body_too_large", "a /v1/verify body is at most 64 KiB");
    const boost::json::value v = parse_json(req.body());
    if (!v.is_object()) co_return error(400, "malformed_json", "the body must be a JSON object like {\"email\":\"…\"}");
    json_params(v.get_object(), p);
  }
  auto e = p.find("email");
  if (e == p.end() || e->second.empty()) co_return error(400, "missing_email", "the email parameter is missing");
  if (e->second.size() > kMaxEmail) co_return error(400, "bad_parameter", "email is longer than 4,096 bytes");
  const std::string email = e->second;
  const Level level = level_param(p, opt_.engine.level);
  double timeout = opt_.verify_timeout;
  if (auto t = p.find("timeout"); t != p.end()) {
    char* end = nullptr;
    timeout = std::strtod(t->second.c_str(), &end);
    if (t->second.empty() || end != t->second.c_str() + t->second.size() || !std::isfinite(timeout) || timeout < 0.1 ||
        timeout > opt_.max_timeout)
      co_return error(
          400, "bad_parameter",
          "timeout must be a number of seconds from 0.1 to " + std::to_string(static_cast<int>(opt_.max_timeout)));
  }

  // Wait for the answer or the timeout, whichever comes first; the check goes on either way.
  struct Wait {
    explicit Wait(asio::any_io_executor ex) : timer(std::move(ex)) {}
    asio::steady_timer timer;
    std::shared_ptr<const Result> result;
  };
  auto w = std::make_shared<Wait>(co_await asio::this_coro::executor);
  w->timer.expires_after(std::chrono::milliseconds(static_cast<std::int64_t>(timeout * 1000)));
  const auto start = std::chrono::steady_clock::now();
  verifier_.verify(email, level, true, [w](const std::shared_ptr<const Result>& r) {
    w->result = r;
    w->timer.cancel();
  });
  co_await w->timer.async_wait(asio::as_tuple(asio::use_awaitable));
  std::string body;
  std::string outcome;
  if (w->result) {
    render::append_json(*w->result, body);
    outcome = std::string(name(w->result->status)) + " " + std::string(code(w->result->reason));
  } else {
    Result r;
    verifier_.classify_offline(email, r);
    r.status = Status::unknown;
    r.reason = Reason::check_pending;
    render::append_json(r, body);
    outcome = "unknown check_pending";
  }
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
  log_.line("verify " + log_.address(email) + " " + std::string(name(level)) + " -> " + outcome + " in " +
            std::to_string(ms) + " ms");
  co_return json_reply(200, std::move(body));
}

asio::awaitable<Reply> Api::create_job(const HttpRequest& req, const std::string& query, const Caller& who) {
  Params p = query_params(query);
  std::vector<std::string> inputs;
  const std::string_view ct = content_type(req);
  const std::string_view body = req.body();
  auto yield = [&]() -> asio::awaitable<void> {
    co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
  };
  if (ct == "application/json") {
    JobJsonReader reader(inputs, p, opt_.max_job_size);
    for (std::size_t at = 0;;) {
      const std::size_t n = std::min(kJsonSlice, body.size() - at);
      const bool last = at + n == body.size();
      if (!reader.write(body.substr(at, n), last)) throw BadRequest{reader.status(), reader.code(), reader.message()};
      if (last) break;
      at += n;
      co_await yield();
    }
  } else if (ct == "text/csv" || ct == "text/plain") {
    ingest::InputOptions io;
    if (auto c = p.find("column"); c != p.end()) io.column = c->second;
    std::unique_ptr<ingest::Reader> reader;
    try {
      reader = ingest::Reader::from_memory(std::string(body),
                                           ct == "text/csv" ? ingest::Format::csv : ingest::Format::txt, io);
    } catch (const std::invalid_argument& e) {
      throw BadRequest{400, "bad_parameter", e.what()};
    }
    ingest::Record rec;
    while (reader->next(rec)) {
      if (inputs.size() >= opt_.max_job_size)
        throw BadRequest{413, "body_too_large",
                         "a job holds at most " + std::to_string(opt_.max_job_size) + " addresses"};
      // A row without an address still becomes an item (its result says so): nothing is dropped.
      inputs.push_back(rec.error.empty() ? rec.email : std::string());
      if (inputs.size() % kRowSlice == 0) co_await yield();
    }
    // A text body's final line end does not start one more (empty) address.
    if (ct == "text/plain" && !inputs.empty() && inputs.back().empty() && !body.empty() && body.back() == '\n')
      inputs.pop_back();
  } else {
    throw BadRequest{415, "unsupported_media_type",
                     "a job body must be application/json, text/csv or text/plain (send a file as the body)"};
  }
  if (inputs.empty()) throw BadRequest{400, "empty_job", "the job has no address"};
  store::JobRecord job;
  job.owner = who.owner;
  job.level = std::string(name(level_param(p, opt_.engine.level)));
  if (auto n = p.find("name"); n != p.end()) {
    if (n->second.size() > 200) throw BadRequest{400, "bad_parameter", "name is longer than 200 bytes"};
    job.name = n->second;
  }
  if (auto c = p.find("callback_url"); c != p.end() && !c->second.empty()) {
    // The URL, and every address its host resolves to, against the target-safety rule (checked
    // again at send time: DNS can change between now and then).
    const std::string why = co_await jobs_.callbacks().check_at_submit(c->second);
    if (!why.empty()) throw BadRequest{400, "bad_parameter", why};
    job.callback_url = c->second;
  }
  job = co_await jobs_.create(std::move(job), std::move(inputs));
  log_.line("job " + job.id + " created: " + std::to_string(job.total) + " addresses, level " + job.level);
  Reply r = json_reply(202, job_json(job));
  r.headers.emplace_back("Location", "/v1/jobs/" + job.id);
  co_return r;
}

Reply Api::job_results(const store::JobRecord& job, const std::string& query) {
  const Params p = query_params(query);
  bool csv = false;
  if (auto f = p.find("format"); f != p.end()) {
    if (f->second == "csv")
      csv = true;
    else if (f->second != "jsonl")
      throw BadRequest{400, "bad_parameter", "format must be csv or jsonl"};
  }
  // CSV cells neutralised against spreadsheet formulas unless raw=true (render::CsvCells).
  render::CsvCells cells = render::CsvCells::safe;
  if (auto f = p.find("raw"); f != p.end()) {
    if (f->second == "true")
      cells = render::CsvCells::raw;
    else if (f->second != "false")
      throw BadRequest{400, "bad_parameter", "raw must be true or false"};
  }
  Reply r;
  r.content_type = csv ? "text/csv; charset=utf-8" : "application/x-ndjson";
  r.headers.emplace_back("X-Job-State", job.state);
  r.headers.emplace_back("Content-Disposition",
                         "attachment; filename=\"mailsift-" + job.id + (csv ? ".csv\"" : ".jsonl\""));
  struct Cursor {
    std::int64_t after = 0;
    bool header = true;
    Result result;
  };
  auto cur = std::make_shared<Cursor>();
  cur->header = csv;
  r.stream = [this, cur, csv, cells, id = job.id](std::string& out) {
    if (cur->header) {
      out += "position,";
      render::append_csv_header(out);
      cur->header = false;
    }
    const std::int64_t before = cur->after;
    cur->after = jobs_.store().finished_items(id, cur->after, kResultsPage,
                                              [&](std::int64_t pos, std::string_view input, std::string_view value) {
                                                Result& res = cur->result;
                                                verifier_.classify_offline(input, res);
                                                (void)restore_verdict(value, res);
                                                if (csv) {
                                                  out += std::to_string(pos);
                                                  out.push_back(',');
                                                  render::append_csv(res, out, cells);
                                                } else {
                                                  out += "{\"position\":" + std::to_string(pos) + ",";
                                                  const std::size_t at = out.size();
                                                  render::append_json(res, out);
                                                  out.erase(at, 1);  // the object's own '{'
                                                  out.push_back('\n');
                                                }
                                              });
    return cur->after != before || !out.empty();
  };
  return r;
}

}  // namespace mailsift::server
