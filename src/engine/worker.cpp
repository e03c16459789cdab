#include "engine/worker.hpp"

#include <unistd.h>

#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "broker/link.hpp"
#include "common/service.hpp"
#include "broker/queue.hpp"
#include "engine/engine.hpp"
#include "verdict/stored.hpp"

namespace mailsift::engine {

namespace {
using broker::BrokerError;
using broker::command_of;
using broker::Reply;
using Clock = std::chrono::steady_clock;

constexpr auto kRunCheck = std::chrono::seconds(5);        // how long "the run is alive" is believed
constexpr auto kResultsTtl = std::chrono::hours(1);        // an unread results stream expires
constexpr std::size_t kPendingScan = 10'000;               // XPENDING rows read per heartbeat
constexpr auto kEngineIdle = std::chrono::seconds(60);     // a run's engine unused this long goes

std::string host_name() {
  char h[256] = {};
  if (::gethostname(h, sizeof h - 1) != 0) return "host";
  return h;
}

class Worker {
 public:
  Worker(const WorkerOptions& o, const std::atomic<bool>& stop)
      : o_(o),
        stop_(stop),
        name_(o.name.empty() ? host_name() + "-" + std::to_string(::getpid()) + "-" + broker::random_id().substr(0, 6)
                             : o.name),
        keys_{o.verify.broker_prefix},
        lease_(seconds_to_ms(o.verify.lease)),
        link_(broker::parse_redis_url(o.verify.broker),
              broker::RedisOptions{.ca_file = o.verify.broker_ca,
                                   // A read of `chunks` entries of the largest size we take, and some.
                                   .max_reply_bytes = broker::kMaxChunkBytes * (o.chunks + 1) + (std::size_t{1} << 20)}) {
    std::vector<std::vector<std::string>> setup;
    setup.push_back(command_of("FUNCTION", "LOAD", "REPLACE", broker::queue_library()));
    setup.push_back(broker::create_group(keys_.work(), broker::kWorkGroup));
    for (const Reply& r : link_.run_all(std::move(setup)))
      if (r.error() && !broker::group_exists(r)) throw BrokerError("broker " + link_.url().redacted() + ": " + r.str);
    heartbeat();
    std::fprintf(stderr, "mailsift: worker %s ready on broker %s\n", name_.c_str(), link_.url().redacted().c_str());
    service::ready("worker " + name_ + " on broker " + link_.url().redacted());
  }

  std::size_t run() {
    // A time and a flag, not an optional: GCC 12 warns (-Wmaybe-uninitialized) on the optional.
    Clock::time_point down_since{};
    bool down = false;
    std::optional<Clock::time_point> stopping_at;
    std::chrono::milliseconds backoff(100);
    Clock::time_point next_beat = Clock::now() + lease_ / 3;
    for (;;) {
      const auto now = Clock::now();
      if (stop_.load() && !stopping_at) {
        stopping_at = now + o_.grace;
        std::fprintf(stderr, "mailsift: worker %s stopping: finishing %zu chunks\n", name_.c_str(), tasks_.size());
        service::stopping("finishing " + std::to_string(tasks_.size()) + " chunks");
      }
      if (stopping_at && (tasks_.empty() || now >= *stopping_at)) break;
      try {
        collect();
        send();
        if (now >= next_beat) {
          heartbeat();
          if (!stopping_at) reclaim();
          reap();
          next_beat = now + lease_ / 3;
        }
        if (!stopping_at && tasks_.size() < o_.chunks && unsent_.empty()) {
          // Blocks briefly while chunks are in flight (their results go out at once), longer when idle.
          const Reply r = link_.run(command_of("XREADGROUP", "GROUP", broker::kWorkGroup, name_, "COUNT",
                                               std::to_string(o_.chunks - tasks_.size()), "BLOCK",
                                               tasks_.empty() ? "1000" : "50", "STREAMS", keys_.work(), ">"));
          if (r.error()) {
            if (!r.str.starts_with("NOGROUP")) throw BrokerError("broker " + link_.url().redacted() + ": " + r.str);
            (void)link_.run(broker::create_group(keys_.work(), broker::kWorkGroup));  // restarted empty
          } else if (r.type == Reply::Type::array) {
            for (const Reply& stream : r.elements)
              if (stream.elements.size() == 2)
                for (const Reply& entry : stream.elements[1].elements) accept(entry);
          }
        } else {
          wait_any(std::chrono::milliseconds(100));
        }
        down = false;
        backoff = std::chrono::milliseconds(100);
      } catch (const BrokerError& e) {
        if (!down) {
          down = true;
          down_since = now;
          std::fprintf(stderr, "mailsift: %s; retrying for up to %.0f s (--broker-timeout)\n", e.what(), o_.verify.broker_timeout);
        }
        if (now - down_since > seconds_to_ms(o_.verify.broker_timeout))
          throw BrokerError(std::string(e.what()) + " (gave up after --broker-timeout)");
        std::this_thread::sleep_for(backoff);
        backoff = std::min<std::chrono::milliseconds>(backoff * 2, std::chrono::seconds(2));
      }
    }
    std::fprintf(stderr,
                 "mailsift: worker %s: %zu chunks finished, %zu reclaimed from other workers, %zu lost to them, "
                 "%zu dead-lettered\n",
                 name_.c_str(), finished_, reclaimed_, lost_, dead_);
    return finished_;
  }

 private:
  struct Task {
    std::string entry;  // the work stream entry
    broker::Chunk chunk;
    Engine* engine = nullptr;
    std::uint64_t batch = 0;
  };

  // One engine per run and level, as a process without a broker has one per run: what its stages
  // remember (the DNS cache, catch-all answers) never crosses from one run into another's output.
  Engine& engine_for(const std::string& run, const std::string& level) {
    Idle& slot = engines_[{run, level}];
    if (!slot.engine) {
      cli::VerifyOptions v = o_.verify;
      v.level = level;
      slot.engine = std::make_unique<Engine>(v, Role::worker);
    }
    slot.used = Clock::now();
    return *slot.engine;
  }

  // A run's engine with nothing in flight for a while goes (its run is over, or elsewhere).
  void reap() {
    const auto now = Clock::now();
    for (auto it = engines_.begin(); it != engines_.end();) {
      if (it->second.engine->in_flight() == 0 && now - it->second.used > kEngineIdle)
        it = engines_.erase(it);
      else
        ++it;
    }
  }

  bool run_alive(const std::string& run) {
    const auto now = Clock::now();
    auto it = runs_.find(run);
    if (it != runs_.end() && now - it->second.second < kRunCheck) return it->second.first;
    const Reply r = link_.run(command_of("EXISTS", keys_.run(run)));
    const bool alive = r.type == Reply::Type::integer && r.integer == 1;
    runs_[run] = {alive, now};
    if (runs_.size() > 1024) runs_.clear();
    return alive;
  }

  // A stream entry [id, fields] read or claimed: dropped when not ours or its run is over, else
  // started as one batch of the level's engine.
  void accept(const Reply& entry) {
    if (entry.elements.size() != 2 || entry.elements[0].type != Reply::Type::string) return;
    const std::string& id = entry.elements[0].str;
    for (const auto& [key, t] : tasks_)
      if (t.entry == id) return;  // ours already (claimed back after a slow heartbeat)
    auto chunk = broker::parse_chunk(entry.elements[1]);
    if (!chunk) return dead_letter(id, "malformed or oversized chunk", entry.elements[1]);
    if (!run_alive(chunk->run)) {
      (void)link_.run_all(drop(id));  // its coordinator is gone
      return;
    }
    Engine& e = engine_for(chunk->run, chunk->level);
    if (chunk->level == "smtp") {
      const Reply ca = link_.run(command_of("GET", keys_.catch_all(chunk->run, chunk->domain)));
      if (ca.type == Reply::Type::string) e.remember_catch_all(chunk->domain, ca.str == "1");
    }
    for (const auto& item : chunk->items) (void)e.add(item.second);
    const std::uint64_t batch = e.submit();
    tasks_.emplace(std::make_pair(&e, batch), Task{id, std::move(*chunk), &e, batch});
  }

  // An entry no worker can use goes to the dead-letter stream (with why, and its first bytes), out
  // of the queue: logged, never retried, never a crash.
  void dead_letter(const std::string& id, const std::string& why, const Reply& fields) {
    std::string excerpt;
    if (fields.type == Reply::Type::array)
      for (const Reply& f : fields.elements) {
        if (excerpt.size() >= 4096) break;
        excerpt += f.str.substr(0, 4096 - excerpt.size()) + " ";
      }
    std::fprintf(stderr, "mailsift: worker %s: %s %s: moved to %sdead\n", name_.c_str(), why.c_str(), id.c_str(),
                 keys_.prefix.c_str());
    std::vector<std::vector<std::string>> c =
        drop(id);
    c.insert(c.begin(), command_of("XADD", keys_.prefix + "dead", "MAXLEN", "~", "10000", "*", "entry", id, "reason", why,
                                   "worker", name_, "excerpt", excerpt));
    // Its excerpt may hold addresses: the dead letters go a week after the last one came.
    c.insert(c.begin() + 1, command_of("EXPIRE", keys_.prefix + "dead", std::to_string(broker::kDeadLetterTtl.count())));
    (void)link_.run_all(std::move(c));
    ++dead_;
  }

  // Entries delivered to us that we never saw: a read that failed part-way (a reply over the size
  // bound, a dropped connection). Each is read again alone; one that still cannot be read is
  // dead-lettered.
  void recover(const std::set<std::string>& ours) {
    for (const std::string& id : ours) {
      if (lost_entries_.contains(id)) continue;
      bool known = false;
      for (const auto& [key, t] : tasks_) known = known || t.entry == id;
      if (known) continue;
      try {
        const Reply r = link_.run(command_of("XCLAIM", keys_.work(), broker::kWorkGroup, name_, "0", id));
        if (r.type == Reply::Type::array)
          for (const Reply& entry : r.elements) accept(entry);
      } catch (const BrokerError& e) {
        if (std::string(e.what()).find("larger than the limit") == std::string::npos) throw;
        dead_letter(id, "unreadable chunk (larger than the reply bound)", Reply{});
      }
    }
  }

  std::vector<std::vector<std::string>> drop(const std::string& id) {
    std::vector<std::vector<std::string>> c;
    c.push_back(command_of("XACK", keys_.work(), broker::kWorkGroup, id));
    c.push_back(command_of("XDEL", keys_.work(), id));
    return c;
  }

  void wait_any(std::chrono::milliseconds d) {
    for (auto& [key, slot] : engines_)
      if (slot.engine->in_flight() > 0) return slot.engine->wait_any(d);
    std::this_thread::sleep_for(d);
  }

  // Finished batches become ms_complete calls (sent by send(), kept while the broker is down).
  void collect() {
    for (auto& [key, slot] : engines_) {
      Engine* engine = slot.engine.get();
      std::map<std::uint64_t, broker::Items> verdicts;
      std::map<std::uint64_t, std::optional<bool>> catch_all;
      engine->deliver_finished([&](std::uint64_t batch, std::size_t pos, Result& r) {
        const Task& t = tasks_.at({engine, batch});
        verdicts[batch].emplace_back(t.chunk.items.at(pos).first, serialize_verdict(r));
        if (r.flags.catch_all) catch_all[batch] = r.flags.catch_all;
      });
      for (auto& [batch, items] : verdicts) {
        const auto it = tasks_.find({engine, batch});
        const Task& t = it->second;
        std::vector<std::vector<std::string>> c;
        c.push_back(command_of("FCALL", "ms_complete", "2", keys_.work(), keys_.results(t.chunk.run),
                               broker::kWorkGroup, t.entry, std::to_string(t.chunk.number), name_,
                               broker::encode_items(items), std::to_string(std::chrono::milliseconds(kResultsTtl).count())));
        if (const auto ca = catch_all[batch])
          c.push_back(command_of("SET", keys_.catch_all(t.chunk.run, t.chunk.domain), *ca ? "1" : "0", "NX", "EX",
                                 std::to_string(broker::kCatchAllTtl.count())));
        unsent_.push_back(std::move(c));
        tasks_.erase(it);
        ++finished_;
      }
    }
  }

  void send() {
    while (!unsent_.empty()) {
      for (const Reply& r : link_.run_all(unsent_.front())) {
        if (!r.error()) continue;
        if (!lost_library(r)) throw BrokerError("broker " + link_.url().redacted() + ": " + r.str);
        return;  // loaded again: sent on the next turn
      }
      unsent_.erase(unsent_.begin());
    }
  }

  // A broker restarted empty has lost the Functions library: load it again (true), and the work
  // stream's group.
  bool lost_library(const Reply& r) {
    if (r.str.find("Function not found") == std::string::npos) return false;
    std::vector<std::vector<std::string>> setup;
    setup.push_back(command_of("FUNCTION", "LOAD", "REPLACE", broker::queue_library()));
    setup.push_back(broker::create_group(keys_.work(), broker::kWorkGroup));
    (void)link_.run_all(std::move(setup));
    return true;
  }

  // Tells the cluster this worker lives (and its load), and renews the chunks it holds: one that is
  // no longer ours was claimed by another worker (we stalled past the lease); it finishes anyway
  // and the coordinator keeps the first verdict.
  void heartbeat() {
    std::size_t rows = 0;
    for (const auto& [key, t] : tasks_) rows += t.chunk.items.size();
    std::string ips;
    for (const std::string& ip : o_.verify.source_ips) ips += (ips.empty() ? "" : " ") + ip;
    std::vector<std::vector<std::string>> c;
    c.push_back(command_of("FCALL", "ms_heartbeat", "2", keys_.workers(), keys_.worker(name_), name_,
                           std::to_string(3 * lease_.count()), "host", host_name(), "pid", std::to_string(::getpid()),
                           "chunks", std::to_string(tasks_.size()), "rows", std::to_string(rows), "finished",
                           std::to_string(finished_), "reclaimed", std::to_string(reclaimed_), "source_ips", ips,
                           "helo", o_.verify.helo));
    c.push_back(command_of("XPENDING", keys_.work(), broker::kWorkGroup, "-", "+", std::to_string(kPendingScan), name_));
    const std::vector<Reply> r = link_.run_all(std::move(c));
    if (r[0].error()) {
      if (!lost_library(r[0])) throw BrokerError("broker " + link_.url().redacted() + ": " + r[0].str);
      return;  // again on the next turn
    }
    std::set<std::string> ours;
    for (const Reply& p : r[1].elements)
      if (!p.elements.empty()) ours.insert(p.elements[0].str);
    recover(ours);
    if (tasks_.empty()) return;
    std::vector<std::string> claim = command_of("XCLAIM", keys_.work(), broker::kWorkGroup, name_, "0");
    for (const auto& [key, t] : tasks_) {
      if (ours.contains(t.entry)) {
        claim.push_back(t.entry);
      } else if (!lost_entries_.contains(t.entry)) {
        lost_entries_.insert(t.entry);
        ++lost_;
      }
    }
    if (lost_entries_.size() > 4096) lost_entries_.clear();
    if (claim.size() > 5) {
      claim.emplace_back("JUSTID");
      (void)link_.run(std::move(claim));
    }
  }

  // Chunks whose holder stopped renewing them for a whole lease (killed, frozen) are taken over.
  void reclaim() {
    if (tasks_.size() >= o_.chunks) return;
    const Reply r = link_.run(command_of("XAUTOCLAIM", keys_.work(), broker::kWorkGroup, name_,
                                         std::to_string(lease_.count()), "0-0", "COUNT",
                                         std::to_string(o_.chunks - tasks_.size())));
    if (r.type != Reply::Type::array || r.elements.size() < 2) return;
    std::vector<const Reply*> taken;
    std::vector<std::vector<std::string>> counts;
    for (const Reply& entry : r.elements[1].elements) {
      if (entry.elements.size() != 2 || entry.elements[1].type != Reply::Type::array) continue;  // deleted meanwhile
      taken.push_back(&entry);
      const std::string& id = entry.elements[0].str;
      counts.push_back(command_of("XPENDING", keys_.work(), broker::kWorkGroup, id, id, "1"));
    }
    if (taken.empty()) return;
    // [[id, consumer, idle, deliveries]] for each: XAUTOCLAIM has counted this delivery.
    const std::vector<Reply> pending = link_.run_all(std::move(counts));
    for (std::size_t i = 0; i < taken.size(); ++i) {
      ++reclaimed_;
      const Reply& p = pending[i];
      const long long deliveries =
          p.elements.size() == 1 && p.elements[0].elements.size() == 4 ? p.elements[0].elements[3].integer : 0;
      if (deliveries >= broker::kMaxDeliveries)
        give_up(*taken[i], deliveries);
      else
        accept(*taken[i]);
    }
  }

  // A chunk every holder of which stopped before finishing it (a crash on some input): its rows
  // get check_failed (classified offline, nothing from the network), the coordinator gets them as
  // any verdicts, and the chunk goes to the dead-letter stream for a bug report.
  void give_up(const Reply& entry, long long deliveries) {
    const std::string& id = entry.elements[0].str;
    auto chunk = broker::parse_chunk(entry.elements[1]);
    if (!chunk) return dead_letter(id, "malformed or oversized chunk", entry.elements[1]);
    const std::string why = "delivered " + std::to_string(deliveries) + " times: every worker that held it stopped";
    if (run_alive(chunk->run)) {
      Engine& e = engine_for(chunk->run, chunk->level);
      broker::Items items;
      Result r;
      for (const auto& [pos, input] : chunk->items) {
        e.classify_offline(input, r);
        r.status = Status::unknown;
        r.reason = Reason::check_failed;
        items.emplace_back(pos, serialize_verdict(r));
      }
      (void)link_.run(command_of("FCALL", "ms_complete", "2", keys_.work(), keys_.results(chunk->run),
                                 broker::kWorkGroup, id, std::to_string(chunk->number), name_,
                                 broker::encode_items(items),
                                 std::to_string(std::chrono::milliseconds(kResultsTtl).count())));
    }
    dead_letter(id, why, entry.elements[1]);
  }

  const WorkerOptions& o_;
  const std::atomic<bool>& stop_;
  std::string name_;
  broker::Keys keys_;
  std::chrono::milliseconds lease_;
  broker::Link link_;
  struct Idle {
    std::unique_ptr<Engine> engine;
    Clock::time_point used{};
  };
  std::map<std::pair<std::string, std::string>, Idle> engines_;  // by run and level
  std::map<std::pair<Engine*, std::uint64_t>, Task> tasks_;
  std::vector<std::vector<std::vector<std::string>>> unsent_;
  std::unordered_map<std::string, std::pair<bool, Clock::time_point>> runs_;
  std::set<std::string> lost_entries_;
  std::size_t finished_ = 0, reclaimed_ = 0, lost_ = 0, dead_ = 0;
};

}  // namespace

std::size_t run_worker(const WorkerOptions& o, const std::atomic<bool>& stop) {
  Worker w(o, stop);
  return w.run();
}

}  // namespace mailsift::engine
