// `mailsift cluster status --broker URL` (docs/cluster.md): what a cluster's broker says about its
// workers (alive, identity, load), its queue (chunks waiting and held), its runs and the per-MX
// connection slots and refused asks. Read-only: it changes nothing on the broker.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "broker/link.hpp"
#include "broker/queue.hpp"
#include "cli/commands.hpp"

namespace mailsift::cli {

namespace {
using broker::command_of;
using broker::Reply;
namespace json = boost::json;

constexpr int kMaxScans = 1000;         // SCAN calls per pattern at most (bounded on a huge Redis)
constexpr std::size_t kTopAddresses = 10;

std::map<std::string, std::string> pairs(const Reply& r) {
  std::map<std::string, std::string> m;
  for (std::size_t i = 0; i + 1 < r.elements.size(); i += 2) {
    const Reply& v = r.elements[i + 1];
    m[r.elements[i].str] = v.type == Reply::Type::integer ? std::to_string(v.integer) : v.str;
  }
  return m;
}

std::vector<std::string> scan(broker::Link& link, const std::string& pattern) {
  std::vector<std::string> keys;
  std::string cursor = "0";
  for (int i = 0; i < kMaxScans; ++i) {
    const Reply r = link.run(command_of("SCAN", cursor, "MATCH", pattern, "COUNT", "1000"));
    if (r.error()) throw broker::BrokerError("broker: SCAN: " + r.str);
    if (r.elements.size() != 2) break;
    for (const Reply& k : r.elements[1].elements) keys.push_back(k.str);
    cursor = r.elements[0].str;
    if (cursor == "0") break;
  }
  return keys;
}

std::string info_field(const std::string& info, const std::string& field) {
  const std::size_t at = info.find(field + ":");
  if (at == std::string::npos) return {};
  const std::size_t from = at + field.size() + 1;
  return info.substr(from, info.find_first_of("\r\n", from) - from);
}
}  // namespace

CLI::App* add_cluster_command(CLI::App& app, ClusterOptions& o) {
  CLI::App* c = app.add_subcommand("cluster", "Look at a cluster (docs/cluster.md)");
  c->require_subcommand(1);
  CLI::App* s = c->add_subcommand("status", "Workers alive, their identity and load, the queue, runs, per-MX slots");
  s->add_option("--broker", o.broker, "The cluster's Redis: redis://… or rediss://…")->required();
  s->add_option("--broker-ca", o.broker_ca, "rediss://: trust this CA file (PEM) instead of the system's");
  s->add_option("--broker-prefix", o.prefix, "Prefix of the key names in Redis")->capture_default_str();
  s->add_option("--format", o.format, "text or json")->check(CLI::IsMember({"text", "json"}))->capture_default_str();
  return c;
}

int cluster_status(const ClusterOptions& o) {
  broker::Link link(broker::parse_redis_url(o.broker), broker::RedisOptions{.ca_file = o.broker_ca});
  const broker::Keys keys{o.prefix};
  std::vector<std::vector<std::string>> q;
  q.push_back(command_of("INFO", "server"));
  q.push_back(command_of("TIME"));
  q.push_back(command_of("ZRANGE", keys.workers(), "0", "-1", "WITHSCORES"));
  q.push_back(command_of("XINFO", "GROUPS", keys.work()));
  q.push_back(command_of("XLEN", keys.work()));
  q.push_back(command_of("HGETALL", keys.prefix + "waits"));
  q.push_back(command_of("XLEN", keys.prefix + "dead"));
  const std::vector<Reply> r = link.run_all(std::move(q));
  if (r[0].error()) throw broker::BrokerError("broker " + link.url().redacted() + ": " + r[0].str);
  const long long now = r[1].elements.size() == 2
                            ? std::atoll(r[1].elements[0].str.c_str()) * 1000 + std::atoll(r[1].elements[1].str.c_str()) / 1000
                            : 0;

  json::object out;
  out["broker"] = link.url().redacted();
  out["prefix"] = o.prefix;
  out["redis_version"] = info_field(r[0].str, "redis_version");
  // Workers: alive while their hash lives (it expires 3 leases after the last heartbeat).
  json::array workers;
  std::size_t alive = 0;
  for (std::size_t i = 0; i + 1 < r[2].elements.size(); i += 2) {
    const std::string& name = r[2].elements[i].str;
    const long long seen = std::atoll(r[2].elements[i + 1].str.c_str());
    const auto h = pairs(link.run(command_of("HGETALL", keys.worker(name))));
    json::object w;
    w["name"] = name;
    w["alive"] = !h.empty();
    w["last_seen_ms_ago"] = now - seen;
    for (const char* f : {"host", "pid", "chunks", "rows", "finished", "reclaimed", "source_ips", "helo"})
      if (h.contains(f)) w[f] = h.at(f);
    alive += h.empty() ? 0 : 1;
    workers.push_back(std::move(w));
  }
  out["workers"] = std::move(workers);
  out["workers_alive"] = alive;
  // The queue: entries not yet delivered (lag) and held by workers (pending).
  json::object queue;
  queue["entries"] = r[4].type == Reply::Type::integer ? r[4].integer : 0;
  queue["dead_letters"] = r[6].type == Reply::Type::integer ? r[6].integer : 0;
  for (const Reply& g : r[3].elements) {
    const auto m = pairs(g);
    if (m.contains("name") && m.at("name") == broker::kWorkGroup) {
      queue["waiting"] = m.contains("lag") ? std::atoll(m.at("lag").c_str()) : 0;
      queue["held"] = m.contains("pending") ? std::atoll(m.at("pending").c_str()) : 0;
      queue["consumers"] = m.contains("consumers") ? std::atoll(m.at("consumers").c_str()) : 0;
    }
  }
  out["queue"] = std::move(queue);
  json::array runs;
  for (const std::string& k : scan(link, keys.prefix + "run:*")) {
    const std::string id = k.substr(keys.prefix.size() + 4);
    const Reply level = link.run(command_of("GET", k));
    const Reply results = link.run(command_of("XLEN", keys.results(id)));
    json::object run;
    run["run"] = id;
    run["level"] = level.str;
    run["results_unread"] = results.integer;
    runs.push_back(std::move(run));
  }
  out["runs"] = std::move(runs);
  // Per MX address: connection slots held now, asks refused (cap full or rate spacing).
  std::map<std::string, std::pair<long long, long long>> mx;
  for (const std::string& k : scan(link, keys.prefix + "slots:*")) {
    const Reply held = link.run(command_of("ZCOUNT", k, std::to_string(now), "+inf"));
    mx[k.substr(keys.prefix.size() + 6)].first = held.integer;
  }
  for (const auto& [address, n] : pairs(r[5])) mx[address].second = std::atoll(n.c_str());
  std::vector<std::pair<std::string, std::pair<long long, long long>>> top(mx.begin(), mx.end());
  std::sort(top.begin(), top.end(), [](const auto& a, const auto& b) {
    return a.second.second != b.second.second ? a.second.second > b.second.second : a.second.first > b.second.first;
  });
  json::array hosts;
  for (std::size_t i = 0; i < top.size() && i < kTopAddresses; ++i) {
    json::object h;
    h["address"] = top[i].first;
    h["connections"] = top[i].second.first;
    h["refused_asks"] = top[i].second.second;
    hosts.push_back(std::move(h));
  }
  out["mx_addresses"] = mx.size();
  out["busiest_mx"] = std::move(hosts);

  if (o.format == "json") {
    std::printf("%s\n", json::serialize(out).c_str());
    return 0;
  }
  std::printf("broker %s (prefix %s), Redis %s\n", link.url().redacted().c_str(), o.prefix.c_str(),
              json::value_to<std::string>(out["redis_version"]).c_str());
  std::printf("workers: %zu alive, %zu gone\n", alive, out["workers"].as_array().size() - alive);
  for (const json::value& v : out["workers"].as_array()) {
    const json::object& w = v.as_object();
    auto s = [&w](const char* f) { return w.contains(f) ? std::string(w.at(f).as_string()) : std::string("-"); };
    std::printf("  %-28s %-5s seen %6.1f s ago  host %s pid %s  chunks %s rows %s  finished %s reclaimed %s  source %s\n",
                json::value_to<std::string>(w.at("name")).c_str(), w.at("alive").as_bool() ? "alive" : "gone",
                static_cast<double>(w.at("last_seen_ms_ago").as_int64()) / 1000.0, s("host").c_str(), s("pid").c_str(),
                s("chunks").c_str(), s("rows").c_str(), s("finished").c_str(), s("reclaimed").c_str(),
                s("source_ips").empty() ? "default" : s("source_ips").c_str());
  }
  const json::object& qo = out["queue"].as_object();
  auto qn = [&qo](const char* f) { return qo.contains(f) ? qo.at(f).as_int64() : 0; };
  std::printf("queue: %lld chunks waiting, %lld held by workers, %lld entries in the stream, %lld dead-lettered\n",
              static_cast<long long>(qn("waiting")), static_cast<long long>(qn("held")), static_cast<long long>(qn("entries")),
              static_cast<long long>(qn("dead_letters")));
  std::printf("runs: %zu active\n", out["runs"].as_array().size());
  for (const json::value& v : out["runs"].as_array())
    std::printf("  %s  level %s  %lld results unread\n", json::value_to<std::string>(v.at("run")).c_str(),
                json::value_to<std::string>(v.at("level")).c_str(), static_cast<long long>(v.at("results_unread").as_int64()));
  std::printf("MX addresses with slots or waits: %zu; busiest:\n", mx.size());
  for (const json::value& v : out["busiest_mx"].as_array())
    std::printf("  %-40s %lld connections, %lld asks refused\n", json::value_to<std::string>(v.at("address")).c_str(),
                static_cast<long long>(v.at("connections").as_int64()), static_cast<long long>(v.at("refused_asks").as_int64()));
  return 0;
}

}  // namespace mailsift::cli
