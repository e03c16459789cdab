#include "server/json.hpp"

#include <ctime>

#include "common/text.hpp"
#include "verdict/render.hpp"

namespace mailsift::server {

namespace {

void str(std::string& o, std::string_view s) {
  o.push_back('"');
  render::append_json_string(s, o);
  o.push_back('"');
}

void time_or_null(std::string& o, std::int64_t t) {
  if (t == 0)
    o += "null";
  else
    str(o, text::iso8601(t));
}

}  // namespace

std::string job_json(const store::JobRecord& j) {
  std::string o = "{\"id\":";
  str(o, j.id);
  o += ",\"name\":";
  str(o, j.name);
  o += ",\"state\":";
  str(o, j.state);
  o += ",\"level\":";
  str(o, j.level);
  o += ",\"created\":";
  time_or_null(o, j.created);
  o += ",\"started\":";
  time_or_null(o, j.started);
  o += ",\"finished\":";
  time_or_null(o, j.finished);
  o += ",\"total\":" + std::to_string(j.total) + ",\"done\":" + std::to_string(j.done);
  char p[32];
  std::snprintf(p, sizeof p, "%.4f", j.total == 0 ? 1.0 : static_cast<double>(j.done) / static_cast<double>(j.total));
  o += ",\"progress\":";
  o += p;
  o += ",\"counts\":{\"valid\":" + std::to_string(j.counts[0]) + ",\"invalid\":" + std::to_string(j.counts[1]) +
       ",\"risky\":" + std::to_string(j.counts[2]) + ",\"unknown\":" + std::to_string(j.counts[3]) + "}";
  o += ",\"callback_url\":";
  if (j.callback_url.empty())
    o += "null";
  else
    str(o, j.callback_url);
  o += ",\"callback\":";
  if (j.callback_url.empty()) {
    o += "null";
  } else {
    o += "{\"state\":";
    str(o, j.callback_state);
    o += ",\"attempts\":" + std::to_string(j.callback_attempts) + ",\"error\":";
    if (j.callback_error.empty())
      o += "null";
    else
      str(o, j.callback_error);
    o += "}";
  }
  o += ",\"results\":";
  str(o, "/v1/jobs/" + j.id + "/results");
  o += "}";
  return o;
}

std::string error_json(std::string_view code, std::string_view message) {
  std::string o = "{\"error\":{\"code\":";
  str(o, code);
  o += ",\"message\":";
  str(o, message);
  o += "}}";
  return o;
}

}  // namespace mailsift::server
