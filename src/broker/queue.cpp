#include "broker/queue.hpp"

#include <charconv>

namespace mailsift::broker {

namespace {
constexpr std::string_view kVersion = "1";

std::optional<std::uint64_t> number(std::string_view s) {
  std::uint64_t v = 0;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}
}  // namespace

std::vector<std::string> chunk_fields(const Chunk& c) {
  return command_of("v", kVersion, "run", c.run, "chunk", std::to_string(c.number), "level", c.level, "domain",
                    c.domain, "items", encode_items(c.items));
}

std::optional<std::string_view> field_of(const Reply& fields, std::string_view field) {
  if (fields.type != Reply::Type::array) return std::nullopt;
  for (std::size_t i = 0; i + 1 < fields.elements.size(); i += 2)
    if (fields.elements[i].str == field) return std::string_view(fields.elements[i + 1].str);
  return std::nullopt;
}

std::optional<Chunk> parse_chunk(const Reply& fields) {
  const auto v = field_of(fields, "v");
  const auto run = field_of(fields, "run");
  const auto chunk = field_of(fields, "chunk");
  const auto level = field_of(fields, "level");
  const auto domain = field_of(fields, "domain");
  const auto items = field_of(fields, "items");
  if (!v || *v != kVersion || !run || !chunk || !level || !domain || !items) return std::nullopt;
  if (items->size() > kMaxChunkBytes || domain->size() > 255 || run->size() > 64) return std::nullopt;
  if (*level != "dns" && *level != "smtp") return std::nullopt;
  Chunk c;
  const auto n = number(*chunk);
  auto decoded = decode_items(*items, kChunkItems);
  if (!n || !decoded || run->empty() || domain->empty()) return std::nullopt;
  c.run = *run;
  c.number = *n;
  c.level = *level;
  c.domain = *domain;
  c.items = std::move(*decoded);
  return c;
}

std::string encode_items(const Items& items) {
  std::string s;
  for (const auto& [row, value] : items) {
    s += std::to_string(row);
    s += ' ';
    s += std::to_string(value.size());
    s += ':';
    s += value;
  }
  return s;
}

std::optional<Items> decode_items(std::string_view s, std::size_t max_items) {
  Items out;
  while (!s.empty()) {
    if (out.size() == max_items) return std::nullopt;
    const std::size_t sp = s.find(' ');
    if (sp == std::string_view::npos) return std::nullopt;
    const auto row = number(s.substr(0, sp));
    s.remove_prefix(sp + 1);
    const std::size_t colon = s.find(':');
    if (colon == std::string_view::npos) return std::nullopt;
    const auto len = number(s.substr(0, colon));
    s.remove_prefix(colon + 1);
    if (!row || !len || *len > s.size()) return std::nullopt;
    out.emplace_back(*row, std::string(s.substr(0, *len)));
    s.remove_prefix(*len);
  }
  return out;
}

std::string_view queue_library() {
  return R"lua(#!lua name=mailsift_queue_v1
-- KEYS: work, results. ARGV: group, entry id, chunk, worker, items, results_ttl_ms.
-- The verdicts go to the run's results even when the entry was acknowledged already (another
-- worker finished it, or the broker restarted empty): the coordinator keeps the first.
redis.register_function('ms_complete', function(keys, args)
  local acked = redis.call('XACK', keys[1], args[1], args[2])
  redis.call('XADD', keys[2], '*', 'chunk', args[3], 'worker', args[4], 'items', args[5])
  redis.call('PEXPIRE', keys[2], tonumber(args[6]))
  return acked
end)

-- KEYS: workers, worker. ARGV: name, ttl_ms, then field-value pairs of the worker's hash.
-- Returns the broker's time in ms.
redis.register_function('ms_heartbeat', function(keys, args)
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  redis.call('ZADD', keys[1], now, args[1])
  redis.call('ZREMRANGEBYSCORE', keys[1], '-inf', now - 86400000)
  local fields = {}
  for i = 3, #args do fields[#fields + 1] = args[i] end
  if #fields > 0 then redis.call('HSET', keys[2], unpack(fields)) end
  redis.call('PEXPIRE', keys[2], tonumber(args[2]))
  return now
end)
)lua";
}

std::vector<std::string> create_group(const std::string& stream, const char* group) {
  return command_of("XGROUP", "CREATE", stream, group, "0", "MKSTREAM");
}

bool group_exists(const Reply& r) { return r.error() && r.str.starts_with("BUSYGROUP"); }

}  // namespace mailsift::broker
