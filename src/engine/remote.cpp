#include "engine/remote.hpp"

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <optional>
#include <cstdio>

#include "engine/engine.hpp"
#include "verdict/stored.hpp"

namespace mailsift::engine {

namespace {
using broker::BrokerError;
using broker::command_of;
using broker::Reply;

constexpr auto kTend = std::chrono::seconds(2);          // keep-alive and audit period
constexpr auto kRecheck = std::chrono::seconds(5);       // a chunk's entry is looked for at most this often
constexpr std::size_t kAuditPerTend = 512;               // entries looked for per period, at most
constexpr auto kNoWorkerWarning = std::chrono::seconds(10);

bool nil_or_empty(const Reply& r) {
  return r.type == Reply::Type::nil || (r.type == Reply::Type::array && r.elements.empty());
}
}  // namespace

RemoteNetwork::RemoteNetwork(const cli::VerifyOptions& o, Signal& signal, Outage outage)
    : signal_(signal),
      outage_(outage),
      options_(o),
      keys_{o.broker_prefix},
      run_(broker::random_id()),
      level_(o.level),
      lease_(seconds_to_ms(o.lease)),
      give_up_(seconds_to_ms(o.broker_timeout)),
      pub_(broker::parse_redis_url(o.broker), broker::RedisOptions{.ca_file = o.broker_ca}),
      col_(broker::parse_redis_url(o.broker), broker::RedisOptions{.ca_file = o.broker_ca}) {
  // A broker that cannot be used is a start-up error, said at once.
  std::vector<std::vector<std::string>> setup;
  setup.push_back(broker::create_group(keys_.work(), broker::kWorkGroup));
  setup.push_back(broker::create_group(keys_.results(run_), broker::kResultGroup));
  setup.push_back(command_of("SET", keys_.run(run_), level_, "PX", std::to_string(run_ttl().count())));
  for (const Reply& r : pub_.run_all(std::move(setup)))
    if (r.error() && !broker::group_exists(r))
      throw BrokerError("broker " + pub_.url().redacted() + ": " + r.str);
  collector_ = std::thread([this] { collect(); });
}

RemoteNetwork::~RemoteNetwork() {
  stop_ = true;
  if (collector_.joinable()) collector_.join();
  // Workers skip the chunks of a run whose key is gone (an interrupted run leaves some).
  try {
    std::vector<std::vector<std::string>> bye;
    bye.push_back(command_of("DEL", keys_.run(run_), keys_.results(run_)));
    {
      const std::lock_guard lock(mu_);
      for (const auto& [n, out] : out_)
        if (!out.entry.empty()) bye.push_back(command_of("XDEL", keys_.work(), out.entry));
    }
    (void)pub_.run_all(std::move(bye));
  } catch (const BrokerError&) {
    // The keys expire on their own.
  }
}

void RemoteNetwork::start(Batch& b) { publish(prepare(b)); }

void RemoteNetwork::start_all(const std::vector<Batch*>& batches) {
  std::vector<std::uint64_t> numbers;
  for (Batch* b : batches) {
    std::vector<std::uint64_t> more = prepare(*b);
    numbers.insert(numbers.end(), more.begin(), more.end());
  }
  publish(std::move(numbers));
}

std::vector<std::uint64_t> RemoteNetwork::prepare(Batch& b) {
  b.verdicts.assign(b.inputs.size(), std::string());
  std::vector<std::uint64_t> numbers;
  const std::lock_guard lock(mu_);
  std::size_t extra = 0;
  for (const Domain& d : b.domains) {
    const std::size_t chunks = (d.rows.size() + broker::kChunkItems - 1) / broker::kChunkItems;
    extra += chunks - 1;
    for (std::size_t c = 0; c < chunks; ++c) {
      broker::Chunk chunk{run_, next_chunk_++, level_, d.name, {}};
      Out out;
      out.batch = &b;
      const std::size_t from = c * broker::kChunkItems;
      const std::size_t to = std::min(d.rows.size(), from + broker::kChunkItems);
      for (std::size_t j = from; j < to; ++j) {
        out.rows.push_back(d.rows[j]);
        chunk.items.emplace_back(d.rows[j], b.inputs[d.rows[j]]);
      }
      out.fields = broker::chunk_fields(chunk);
      out.published = Clock::now();
      numbers.push_back(chunk.number);
      out_.emplace(chunk.number, std::move(out));
    }
  }
  // A domain split in several chunks ends with its last chunk.
  b.open.fetch_add(extra, std::memory_order_acq_rel);
  return numbers;
}

std::vector<std::vector<std::string>> RemoteNetwork::adds_for(const std::vector<std::uint64_t>& numbers) {
  std::vector<std::vector<std::string>> adds;
  adds.reserve(numbers.size());
  for (const std::uint64_t n : numbers) {
    std::vector<std::string> add = command_of("XADD", keys_.work(), "*");
    const Out& out = out_.at(n);
    add.insert(add.end(), out.fields.begin(), out.fields.end());
    adds.push_back(std::move(add));
  }
  return adds;
}

std::size_t RemoteNetwork::chunks_out() {
  const std::lock_guard lock(mu_);
  return out_.size();
}

RemoteNetwork::Counts RemoteNetwork::counts() {
  const std::lock_guard lock(mu_);
  return Counts{published_, republished_, duplicates_, malformed_, up_.load()};
}

// XADDs the chunks. A failure leaves them unpublished: the collector's audit publishes them once the
// broker answers again (or fails the run after --broker-timeout).
void RemoteNetwork::publish(std::vector<std::uint64_t> numbers) {
  if (numbers.empty()) return;
  std::vector<std::vector<std::string>> adds;
  {
    const std::lock_guard lock(mu_);
    adds = adds_for(numbers);
  }
  std::vector<Reply> ids;
  try {
    ids = pub_.run_all(std::move(adds));
  } catch (const BrokerError& e) {
    std::fprintf(stderr, "mailsift: %s; will publish again\n", e.what());
    return;
  }
  std::vector<std::string> finished;  // chunks whose verdicts came before their id did
  {
    const std::lock_guard lock(mu_);
    for (std::size_t i = 0; i < numbers.size(); ++i) {
      if (ids[i].type != Reply::Type::string) continue;
      ++published_;
      const auto it = out_.find(numbers[i]);
      if (it == out_.end())
        finished.push_back(ids[i].str);
      else
        it->second.entry = ids[i].str;
    }
  }
  if (finished.empty()) return;
  std::vector<std::string> del = command_of("XDEL", keys_.work());
  del.insert(del.end(), finished.begin(), finished.end());
  try {
    (void)pub_.run(std::move(del));
  } catch (const BrokerError&) {
    // Workers skip a finished run's leftovers.
  }
}

void RemoteNetwork::sleep_for(std::chrono::milliseconds d) {
  const auto until = Clock::now() + d;
  while (!stop_ && Clock::now() < until) std::this_thread::sleep_for(std::chrono::milliseconds(20));
}

void RemoteNetwork::collect() {
  std::chrono::milliseconds backoff(100);
  // A time and a flag, not an optional: GCC 12 warns (-Wmaybe-uninitialized) on the optional.
  Clock::time_point down_since{};
  bool down = false;
  Clock::time_point next_tend = Clock::now();
  while (!stop_) {
    try {
      const auto now = Clock::now();
      if (now >= next_tend) {
        tend(now);
        next_tend = now + kTend;
      }
      const Reply r = col_.run(command_of("XREADGROUP", "GROUP", broker::kResultGroup, "coordinator", "COUNT", "256",
                                          "BLOCK", "500", "STREAMS", keys_.results(run_), ">"));
      if (r.error()) {
        // The broker lost the stream and its group (restarted empty): make them again.
        if (!r.str.starts_with("NOGROUP")) throw BrokerError("broker " + col_.url().redacted() + ": " + r.str);
        (void)col_.run(broker::create_group(keys_.results(run_), broker::kResultGroup));
        next_tend = Clock::now();
        continue;
      }
      std::vector<std::string> ids;
      if (r.type == Reply::Type::array)
        for (const Reply& stream : r.elements)
          if (stream.elements.size() == 2)
            for (const Reply& entry : stream.elements[1].elements) {
              take(entry);
              if (!entry.elements.empty()) ids.push_back(entry.elements[0].str);
            }
      std::vector<std::vector<std::string>> done;
      if (!ids.empty()) {
        std::vector<std::string> ack = command_of("XACK", keys_.results(run_), broker::kResultGroup);
        std::vector<std::string> del = command_of("XDEL", keys_.results(run_));
        ack.insert(ack.end(), ids.begin(), ids.end());
        del.insert(del.end(), ids.begin(), ids.end());
        done.push_back(std::move(ack));
        done.push_back(std::move(del));
        (void)col_.run_all(std::move(done));
      }
      down = false;
      up_ = true;
      backoff = std::chrono::milliseconds(100);
    } catch (const BrokerError& e) {
      const auto now = Clock::now();
      if (!down) {
        down = true;
        down_since = now;
        std::fprintf(stderr, "mailsift: %s; retrying for up to %lld s (--broker-timeout)\n", e.what(),
                     static_cast<long long>(give_up_.count() / 1000));
      }
      up_ = false;
      if (now - down_since > give_up_) {
        if (outage_ == Outage::fail) {
          signal_.fail(std::make_exception_ptr(BrokerError(std::string(e.what()) + " (gave up after --broker-timeout)")));
          return;
        }
        std::fprintf(stderr, "mailsift: %s; still unreachable after %lld s, the work sent to the cluster waits for it\n",
                     e.what(), static_cast<long long>(give_up_.count() / 1000));
        down_since = now;
      }
      sleep_for(backoff);
      backoff = std::min<std::chrono::milliseconds>(backoff * 2, std::chrono::seconds(2));
    }
  }
}

// One result entry: [id, [chunk N worker W items I]]. The first verdict of a chunk wins.
void RemoteNetwork::take(const Reply& entry) {
  if (entry.elements.size() != 2) return;
  const Reply& fields = entry.elements[1];
  const auto chunk = broker::field_of(fields, "chunk");
  const auto items = broker::field_of(fields, "items");
  std::uint64_t n = 0;
  if (!chunk || std::from_chars(chunk->data(), chunk->data() + chunk->size(), n).ec != std::errc()) {
    const std::lock_guard lock(mu_);
    ++malformed_;
    return;
  }
  std::string work_entry;
  Batch* b = nullptr;
  {
    const std::lock_guard lock(mu_);
    const auto it = out_.find(n);
    if (it == out_.end()) {
      ++duplicates_;
      return;
    }
    Out& out = it->second;
    auto decoded = items ? broker::decode_items(*items, broker::kChunkItems) : std::nullopt;
    // Every row of the chunk, each once, and nothing else: else the chunk is published again.
    bool whole = decoded && decoded->size() == out.rows.size();
    if (whole)
      for (const auto& [row, verdict] : *decoded)
        if (std::find(out.rows.begin(), out.rows.end(), row) == out.rows.end() || verdict.empty() ||
            !out.batch->verdicts[row].empty())
          whole = false;
    if (!whole) {
      ++malformed_;
      if (decoded)
        for (const auto& [row, verdict] : *decoded)
          if (row < out.batch->verdicts.size()) out.batch->verdicts[row].clear();
      out.entry.clear();  // the audit publishes it again
      out.published = Clock::time_point{};
      return;
    }
    for (auto& [row, verdict] : *decoded) out.batch->verdicts[row] = std::move(verdict);
    b = out.batch;
    work_entry = std::move(out.entry);
    out_.erase(it);
  }
  if (!work_entry.empty()) {
    try {
      (void)col_.run(command_of("XDEL", keys_.work(), work_entry));
    } catch (const BrokerError&) {
      // A leftover entry is only looked at by workers, which skip a finished run's chunks.
    }
  }
  signal_.unit_done(*b);
}

// Every two seconds: the run's key kept alive (a missing key means the broker lost its data: every
// chunk out is published again), unpublished and lost chunks published, a warning when no worker
// is alive.
void RemoteNetwork::tend(Clock::time_point now) {
  const std::string px = std::to_string(run_ttl().count());
  const Reply alive = col_.run(command_of("SET", keys_.run(run_), level_, "XX", "PX", px));
  if (alive.type == Reply::Type::nil) {
    std::vector<std::vector<std::string>> again;
    again.push_back(command_of("SET", keys_.run(run_), level_, "PX", px));
    again.push_back(broker::create_group(keys_.work(), broker::kWorkGroup));
    again.push_back(broker::create_group(keys_.results(run_), broker::kResultGroup));
    (void)col_.run_all(std::move(again));
    const std::lock_guard lock(mu_);
    std::fprintf(stderr, "mailsift: the broker lost this run's data (restarted empty?): publishing the %zu chunks still out again\n",
                 out_.size());
    for (auto& [n, out] : out_) {
      out.entry.clear();
      out.published = Clock::time_point{};
    }
  }
  // Which chunks to publish again or look for.
  std::vector<std::uint64_t> unpublished;
  std::vector<std::pair<std::uint64_t, std::string>> look;
  {
    const std::lock_guard lock(mu_);
    for (auto& [n, out] : out_) {
      if (out.entry.empty()) {
        if (now - out.published >= std::chrono::seconds(1)) unpublished.push_back(n);
      } else if (now - out.published >= kRecheck && look.size() < kAuditPerTend) {
        look.emplace_back(n, out.entry);
        out.published = now;  // looked for now; again in kRecheck
      }
    }
  }
  if (!look.empty()) {
    std::vector<std::vector<std::string>> ranges;
    for (const auto& [n, id] : look) ranges.push_back(command_of("XRANGE", keys_.work(), id, id));
    const std::vector<Reply> found = col_.run_all(std::move(ranges));
    const std::lock_guard lock(mu_);
    for (std::size_t i = 0; i < look.size(); ++i) {
      if (!nil_or_empty(found[i])) continue;
      const auto it = out_.find(look[i].first);
      if (it == out_.end() || it->second.entry != look[i].second) continue;
      it->second.entry.clear();  // lost (the broker restarted from an older file): publish again
      unpublished.push_back(look[i].first);
    }
  }
  if (!unpublished.empty()) {
    std::vector<std::vector<std::string>> adds;
    {
      const std::lock_guard lock(mu_);
      adds = adds_for(unpublished);
    }
    const std::vector<Reply> ids = col_.run_all(std::move(adds));
    const std::lock_guard lock(mu_);
    for (std::size_t i = 0; i < unpublished.size(); ++i) {
      const auto it = out_.find(unpublished[i]);
      if (it == out_.end() || ids[i].type != Reply::Type::string) continue;
      it->second.entry = ids[i].str;
      it->second.published = now;
      ++republished_;
    }
  }
  // No live worker: say so (once after kNoWorkerWarning, then every minute), never hang silently.
  const Reply t = col_.run(command_of("TIME"));
  long long broker_ms = 0;
  if (t.elements.size() == 2) broker_ms = std::atoll(t.elements[0].str.c_str()) * 1000 + std::atoll(t.elements[1].str.c_str()) / 1000;
  // Workers' heartbeats are on the broker's clock (ms_heartbeat): alive while younger than 3 leases.
  const Reply w = col_.run(command_of("ZCOUNT", keys_.workers(), std::to_string(broker_ms - 3 * lease_.count()), "+inf"));
  workers_alive_ = w.type == Reply::Type::integer && w.integer > 0 ? static_cast<std::size_t>(w.integer) : 0;
  const bool live = workers_alive_ > 0;
  bool idle = false;
  {
    const std::lock_guard lock(mu_);
    idle = out_.empty();
  }
  if (live || idle) {
    alone_since_.reset();
  } else {
    if (!alone_since_) alone_since_ = now;
    if (now - *alone_since_ >= kNoWorkerWarning && now - warned_ >= std::chrono::minutes(1)) {
      std::fprintf(stderr, "mailsift: no worker is alive on broker %s: start `mailsift worker --broker URL` (docs/cluster.md)\n",
                   col_.url().redacted().c_str());
      warned_ = now;
    }
  }
}

void RemoteNetwork::finish(Batch& b, std::size_t i, Result& r) {
  if (b.verdicts[i].empty()) return;  // no domain to ask (syntax or list verdict)
  if (!restore_verdict(b.verdicts[i], r)) {
    const std::lock_guard lock(mu_);
    ++malformed_;
    return;
  }
  if (r.flags.catch_all && r.parsed) {
    const std::lock_guard lock(mu_);
    answers_[std::string(r.address.domain())] = *r.flags.catch_all;
  }
}

void RemoteNetwork::remember_catch_all(const std::string& domain, bool catch_all) {
  // Shared with every worker: the domain's catch-all test is not run again while it lasts.
  try {
    (void)pub_.run(command_of("SET", keys_.catch_all(run_, domain), catch_all ? "1" : "0", "NX", "EX",
                              std::to_string(broker::kCatchAllTtl.count())));
  } catch (const BrokerError&) {
    // A cache: the test runs again.
  }
}

std::unordered_map<std::string, bool> RemoteNetwork::catch_all_answers() {
  const std::lock_guard lock(mu_);
  return answers_;
}

std::string RemoteNetwork::dns_stats() {
  const std::lock_guard lock(mu_);
  char line[256];
  std::snprintf(line, sizeof line,
                "mailsift: cluster: %llu chunks published, %llu published again, %llu duplicate results dropped, "
                "%llu malformed results\n",
                static_cast<unsigned long long>(published_), static_cast<unsigned long long>(republished_),
                static_cast<unsigned long long>(duplicates_), static_cast<unsigned long long>(malformed_));
  return line;
}

std::string RemoteNetwork::smtp_stats() { return {}; }

}  // namespace mailsift::engine
