#include "server/jobs.hpp"

#include <openssl/rand.h>

#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <span>
#include <stdexcept>

#include "server/json.hpp"
#include "store/error.hpp"
#include "verdict/stored.hpp"

namespace mailsift::server {

namespace {

// Results are committed this often (and job rows with them): a crash loses at most this much work,
// and one commit per quarter second costs little whatever the rate.
constexpr auto kTick = std::chrono::milliseconds(250);
// Items loaded from the database per job at a time.
constexpr std::size_t kPage = 512;
// Items of removed jobs deleted per step (a few ms each), so a deletion never stalls the loop.
constexpr std::uint64_t kPurgeStep = 5000;
// Addresses of a new job stored per transaction (about 20 ms); the loop runs between slices.
constexpr std::size_t kCreateSlice = 20'000;
// Results written per transaction at most: a fast job (syntax level: 250,000 a second) would
// otherwise make each tick's transaction a stall of its own. Past this many unsaved results a
// write is made at once, and past twice as many no new address is started until it is.
constexpr std::size_t kFlushBatch = 5'000;

Level level_of(const std::string& s) {
  if (s == "syntax") return Level::syntax;
  if (s == "dns") return Level::dns;
  return Level::smtp;
}

}  // namespace

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string new_job_id() {
  unsigned char b[16];
  if (RAND_bytes(b, sizeof b) != 1) throw std::runtime_error("the system's random number generator failed");
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id;
  for (const unsigned char c : b) {
    id.push_back(kHex[c >> 4]);
    id.push_back(kHex[c & 15]);
  }
  return id;
}

JobRunner::JobRunner(boost::asio::io_context& io, store::JobStore& store, Verifier& verifier, JobOptions options,
                     const Log& log)
    : io_(io),
      store_(store),
      verifier_(verifier),
      opt_(options),
      log_(log),
      callbacks_(io, options.callbacks),
      timer_(io) {}

template <class F>
bool JobRunner::guarded(std::string_view doing, F&& fn) {
  try {
    fn();
    return true;
  } catch (const std::exception& e) {
    store_.rollback();
    storage_failed(doing, e);
    return false;
  }
}

void JobRunner::storage_failed(std::string_view doing, const std::exception& e) {
  const auto* se = dynamic_cast<const store::StoreError*>(&e);
  disk_full_ = se != nullptr && se->disk_full();
  if (storage_ok_)
    log_.line("jobs paused: " + std::string(doing) + " failed (" + e.what() +
              "); new jobs get 507 until the database can be written again (retried every 250 ms)");
  storage_ok_ = false;
}

void JobRunner::storage_recovered() {
  if (storage_ok_) return;
  storage_ok_ = true;
  disk_full_ = false;
  log_.line("the database can be written again: jobs resume");
  purge_some();
  boost::asio::post(io_, [this] { feed(); });
}

JobRefused JobRunner::storage_refusal() const {
  return JobRefused{507, "insufficient_storage",
                    disk_full_ ? "the server's disk is full: no new job is taken until space is freed (jobs in "
                                 "progress resume by themselves)"
                               : "the server cannot write its database at the moment: retry later"};
}

void JobRunner::start() {
  for (store::JobRecord& rec : store_.unfinished()) {
    auto a = std::make_shared<Active>();
    store_.recount(rec);  // results stored before the restart count; in-flight ones are done again
    a->level = level_of(rec.level);
    a->rec = std::move(rec);
    if (a->rec.state == "running")
      running_.push_back(a);
    else
      queued_.push_back(a->rec.id);
    active_.emplace(a->rec.id, a);
  }
  // Jobs that finished but whose callback was still being sent when the server stopped get it now.
  for (const store::JobRecord& rec : store_.callbacks_pending()) send_callback(rec);
  promote();
  purge_some();
  tick();
  boost::asio::post(io_, [this] { feed(); });
}

void JobRunner::stop() {
  stopped_ = true;
  timer_.cancel();
  flush();
}

std::uint64_t JobRunner::pending_addresses(const std::string& owner) const noexcept {
  std::uint64_t n = 0;
  for (const auto& [id, a] : active_)
    if (a->rec.owner == owner) n += a->rec.total - a->rec.done;
  if (auto it = creating_.find(owner); it != creating_.end()) n += it->second;
  return n;
}

boost::asio::awaitable<store::JobRecord> JobRunner::create(store::JobRecord job, std::vector<std::string> inputs) {
  if (stopped_) throw JobRefused{503, "shutting_down", "the server is stopping"};
  if (!storage_ok_) throw storage_refusal();
  const std::uint64_t n = inputs.size();
  const std::uint64_t pending = pending_addresses(job.owner);
  if (pending + n > opt_.max_pending_per_key)
    throw JobRefused{429, "quota_exceeded",
                     "this key has " + std::to_string(pending) + " addresses in unfinished jobs; with " +
                         std::to_string(n) + " more it would pass the limit of " +
                         std::to_string(opt_.max_pending_per_key) +
                         " (--max-pending-per-key): wait for some to finish"};
  job.id = new_job_id();
  job.state = "queued";
  job.created = unix_now();
  job.total = n;
  if (!job.callback_url.empty()) job.callback_state = "pending";
  // Counted against the owner's quota while it is being stored.
  creating_[job.owner] += n;
  struct Uncount {
    std::unordered_map<std::string, std::uint64_t>& m;
    const std::string& owner;
    std::uint64_t n;
    ~Uncount() {
      auto it = m.find(owner);
      if (it != m.end() && (it->second -= n) == 0) m.erase(it);
    }
  } uncount{creating_, job.owner, n};
  bool begun = false;
  std::optional<JobRefused> refused;
  try {
    store_.begin_create(job.id);
    begun = true;
    const std::span<const std::string> all(inputs);
    for (std::size_t at = 0; at < all.size(); at += kCreateSlice) {
      store_.add_items(job.id, static_cast<std::int64_t>(at) + 1,
                       all.subspan(at, std::min(kCreateSlice, all.size() - at)));
      if (all.size() > kCreateSlice) co_await boost::asio::post(io_, boost::asio::use_awaitable);
      if (stopped_) throw JobRefused{503, "shutting_down", "the server is stopping"};
    }
    store_.finish_create(job);
  } catch (const JobRefused& r) {
    refused = r;
  } catch (const std::exception& e) {
    storage_failed("storing a new job", e);
    refused = storage_refusal();
  }
  if (refused) {
    if (begun && !guarded("cleaning up a job not created", [&] { store_.abandon_create(job.id); }))
      to_abandon_.push_back(job.id);
    throw *refused;
  }
  auto a = std::make_shared<Active>();
  a->level = level_of(job.level);
  a->rec = job;
  active_.emplace(job.id, a);
  queued_.push_back(job.id);
  promote();
  boost::asio::post(io_, [this] { feed(); });
  co_return a->rec;
}

std::optional<store::JobRecord> JobRunner::get(const std::string& id, const std::string& owner) {
  if (auto it = active_.find(id); it != active_.end()) {
    if (it->second->rec.owner != owner) return std::nullopt;
    return it->second->rec;
  }
  auto rec = store_.get(id);
  if (!rec || rec->owner != owner) return std::nullopt;
  return rec;
}

bool JobRunner::remove(const std::string& id, const std::string& owner) {
  if (!get(id, owner)) return false;
  if (!guarded("deleting a job", [&] {
        store_.remove(id);
        store_.commit();
      }))
    throw storage_refusal();
  if (auto it = active_.find(id); it != active_.end()) {
    std::erase(running_, it->second);
    std::erase(queued_, id);
    active_.erase(it);  // in-flight checks of the job finish unrecorded (they hold the Active)
  }
  promote();
  purge_some();
  return true;
}

std::uint64_t JobRunner::pending_addresses() const noexcept {
  std::uint64_t n = 0;
  for (const auto& [id, a] : active_) n += a->rec.total - a->rec.done;
  return n;
}

void JobRunner::promote() {
  auto running_of = [this](const std::string& owner) {
    std::size_t k = 0;
    for (const auto& r : running_) k += r->rec.owner == owner ? 1 : 0;
    return k;
  };
  // While there is room, the queued job whose owner runs the fewest goes first (oldest among
  // equals); past the room, an owner with nothing running still starts one.
  for (;;) {
    std::erase_if(queued_, [this](const std::string& id) { return !active_.contains(id); });
    auto best = queued_.end();
    std::size_t best_running = 0;
    for (auto it = queued_.begin(); it != queued_.end(); ++it) {
      const std::size_t r = running_of(active_.at(*it)->rec.owner);
      if (best == queued_.end() || r < best_running) {
        best = it;
        best_running = r;
      }
    }
    if (best == queued_.end()) return;
    if (running_.size() >= opt_.max_running && best_running > 0) return;
    auto& a = active_.at(*best);
    a->rec.state = "running";
    a->rec.started = unix_now();
    a->dirty = true;
    running_.push_back(a);
    queued_.erase(best);
  }
}

std::shared_ptr<JobRunner::Active> JobRunner::next_job() const {
  // The job with work whose owner has the fewest addresses in flight; among one owner's jobs, the
  // one with the fewest.
  std::shared_ptr<Active> best;
  std::size_t best_owner = 0;
  for (const auto& a : running_) {
    if (a->buffer.empty() && a->exhausted) continue;
    const auto it = owner_in_flight_.find(a->rec.owner);
    const std::size_t o = it == owner_in_flight_.end() ? 0 : it->second;
    if (!best || o < best_owner || (o == best_owner && a->in_flight < best->in_flight)) {
      best = a;
      best_owner = o;
    }
  }
  return best;
}

void JobRunner::feed() {
  if (stopped_ || !storage_ok_) return;
  while (in_flight_ < opt_.concurrency && unsaved_.size() < 2 * kFlushBatch) {
    std::shared_ptr<Active> a = next_job();
    if (!a) break;
    if (a->buffer.empty()) {
      std::vector<store::JobStore::Item> page;
      if (!guarded("reading a job's addresses", [&] { page = store_.pending(a->rec.id, a->cursor, kPage); })) return;
      if (page.size() < kPage) a->exhausted = true;
      if (!page.empty()) a->cursor = page.back().pos;
      for (auto& item : page) a->buffer.push_back(std::move(item));
      if (a->buffer.empty()) {
        maybe_finish(a);
        continue;
      }
    }
    store::JobStore::Item item = std::move(a->buffer.front());
    a->buffer.pop_front();
    ++a->in_flight;
    ++in_flight_;
    ++owner_in_flight_[a->rec.owner];
    verifier_.verify(item.input, a->level, kJobItem, [this, a, pos = item.pos](const std::shared_ptr<const Result>& r) {
      --a->in_flight;
      --in_flight_;
      if (auto it = owner_in_flight_.find(a->rec.owner); it != owner_in_flight_.end() && --it->second == 0)
        owner_in_flight_.erase(it);
      finished_one(a, pos, *r);
      feed();
    });
  }
}

void JobRunner::finished_one(const std::shared_ptr<Active>& a, std::int64_t pos, const Result& r) {
  if (stopped_) return;
  const auto it = active_.find(a->rec.id);
  if (it == active_.end() || it->second != a) return;  // removed meanwhile
  // Kept until the next tick commits it: what a client reads is always committed.
  unsaved_.push_back(Unsaved{a, pos, r.status, serialize_verdict(r)});
  ++a->unsaved;
  if (unsaved_.size() >= kFlushBatch && !flush_posted_ && storage_ok_) {
    flush_posted_ = true;
    boost::asio::post(io_, [this] {
      flush_posted_ = false;
      if (!stopped_ && flush()) feed();
    });
  }
}

void JobRunner::maybe_finish(const std::shared_ptr<Active>& a) {
  if (!a->exhausted || !a->buffer.empty() || a->in_flight > 0 || a->unsaved > 0 || a->rec.state == "finished") return;
  if (!active_.contains(a->rec.id)) return;
  store::JobRecord done = a->rec;
  done.state = "finished";
  done.finished = unix_now();
  if (done.started == 0) done.started = done.finished;
  // On failure the job stays running, all its results kept; the next successful tick finishes it.
  if (!guarded("finishing a job", [&] {
        store_.update(done);
        store_.commit();
      }))
    return;
  a->rec = std::move(done);
  a->dirty = false;
  std::erase(running_, a);
  active_.erase(a->rec.id);
  promote();
  if (!a->rec.callback_url.empty()) send_callback(a->rec);
  boost::asio::post(io_, [this] { feed(); });
}

void JobRunner::send_callback(const store::JobRecord& job) {
  const std::string id = job.id;
  callbacks_.send(job.callback_url, job_json(job), [this, id](bool ok, std::string error, int attempts) {
    if (stopped_) return;
    guarded("recording a callback", [&] {
      auto rec = store_.get(id);
      if (!rec) return;  // deleted meanwhile
      rec->callback_state = ok ? "delivered" : "failed";
      rec->callback_attempts = attempts;
      rec->callback_error = std::move(error);
      store_.update(*rec);
      store_.commit();
    });
  });
}

bool JobRunner::flush() {
  bool any = !unsaved_.empty();
  for (const auto& [id, a] : active_) any |= a->dirty;
  if (!any) {
    // Paused by a failure with nothing of ours to write: a trivial write tells when to go on.
    if (!storage_ok_ && guarded("checking the database", [&] { store_.check_writable(); })) storage_recovered();
    return storage_ok_;
  }
  // The rows as they will be once this batch is committed.
  std::unordered_map<const Active*, store::JobRecord> rows;
  for (const auto& [id, a] : active_)
    if (a->dirty) rows.emplace(a.get(), a->rec);
  for (const Unsaved& u : unsaved_) {
    const auto it = active_.find(u.job->rec.id);
    if (it == active_.end() || it->second != u.job) continue;
    store::JobRecord& r = rows.try_emplace(u.job.get(), u.job->rec).first->second;
    ++r.done;
    ++r.counts[static_cast<std::size_t>(u.status)];
  }
  const bool ok = guarded("storing job results", [&] {
    for (const Unsaved& u : unsaved_)
      if (rows.contains(u.job.get())) store_.finish_item(u.job->rec.id, u.pos, static_cast<int>(u.status), u.value);
    for (const auto& [a, r] : rows) store_.update(r);
    store_.commit();
  });
  if (!ok) return false;
  for (const Unsaved& u : unsaved_) --u.job->unsaved;
  unsaved_.clear();
  for (const auto& [id, a] : active_) {
    if (auto it = rows.find(a.get()); it != rows.end()) a->rec = it->second;
    a->dirty = false;
  }
  storage_recovered();
  // Jobs whose last results were just committed can finish now.
  for (const auto& a : std::vector<std::shared_ptr<Active>>(running_)) maybe_finish(a);
  return true;
}

void JobRunner::tick() {
  if (stopped_) return;
  flush();
  // The verdict cache (--cache) is only a cache: a failure to write it is logged, never fatal.
  try {
    verifier_.commit();
    if (cache_failing_) log_.line("the --cache and --history files can be written again");
    cache_failing_ = false;
  } catch (const std::exception& e) {
    if (!cache_failing_)
      log_.line(std::string("the --cache or --history file cannot be written (kept in memory meanwhile): ") + e.what());
    cache_failing_ = true;
  }
  for (auto it = to_abandon_.begin(); it != to_abandon_.end();) {
    if (guarded("cleaning up a job not created", [&] { store_.abandon_create(*it); }))
      it = to_abandon_.erase(it);
    else
      break;
  }
  const auto now = std::chrono::steady_clock::now();
  if (now >= next_expire_) {
    expire_old();
    next_expire_ = now + std::chrono::seconds(60);
  }
  timer_.expires_after(kTick);
  timer_.async_wait([this](boost::system::error_code ec) {
    if (!ec) tick();
  });
}

void JobRunner::expire_old() {
  guarded("deleting expired jobs", [&] {
    const std::vector<std::string> old = store_.finished_before(unix_now() - opt_.retention.count());
    for (const std::string& id : old) store_.remove(id);
    if (!old.empty()) {
      store_.commit();
      purge_some();
    }
  });
}

void JobRunner::purge_some() {
  if (purging_ || stopped_) return;
  purging_ = true;
  boost::asio::post(io_, [this] {
    purging_ = false;
    if (stopped_) return;
    std::uint64_t n = 0;
    if (guarded("deleting removed jobs' results", [&] { n = store_.purge(kPurgeStep); }) && n > 0) purge_some();
  });
}

}  // namespace mailsift::server
