#include "server/jobs.hpp"

#include <openssl/rand.h>

#include <boost/asio/post.hpp>
#include <stdexcept>

#include "server/json.hpp"
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

JobRunner::JobRunner(boost::asio::io_context& io, store::JobStore& store, Verifier& verifier, JobOptions options)
    : io_(io), store_(store), verifier_(verifier), opt_(options), callbacks_(io, options.callbacks), timer_(io) {}

void JobRunner::start() {
  for (store::JobRecord& rec : store_.unfinished()) {
    auto a = std::make_shared<Active>();
    store_.recount(rec);  // results stored before the restart count; in-flight ones are done again
    a->level = level_of(rec.level);
    a->rec = std::move(rec);
    if (a->rec.state == "running") running_.push_back(a);
    else queued_.push_back(a->rec.id);
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

store::JobRecord JobRunner::create(store::JobRecord job, const std::vector<std::string>& inputs) {
  job.id = new_job_id();
  job.state = "queued";
  job.created = unix_now();
  job.total = inputs.size();
  if (!job.callback_url.empty()) job.callback_state = "pending";
  store_.create(job, inputs);
  auto a = std::make_shared<Active>();
  a->level = level_of(job.level);
  a->rec = job;
  active_.emplace(job.id, a);
  queued_.push_back(job.id);
  promote();
  boost::asio::post(io_, [this] { feed(); });
  return a->rec;
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
  if (auto it = active_.find(id); it != active_.end()) {
    std::erase(running_, it->second);
    std::erase(queued_, id);
    active_.erase(it);  // in-flight checks of the job finish unrecorded (they hold the Active)
  }
  store_.remove(id);
  store_.commit();
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
  while (running_.size() < opt_.max_running && !queued_.empty()) {
    const std::string id = queued_.front();
    queued_.pop_front();
    auto it = active_.find(id);
    if (it == active_.end()) continue;
    auto& a = it->second;
    a->rec.state = "running";
    a->rec.started = unix_now();
    a->dirty = true;
    running_.push_back(a);
  }
}

void JobRunner::feed() {
  if (stopped_) return;
  std::size_t idle_rounds = 0;
  while (in_flight_ < opt_.concurrency && !running_.empty() && idle_rounds < running_.size()) {
    if (next_ >= running_.size()) next_ = 0;
    std::shared_ptr<Active> a = running_[next_++];
    if (a->buffer.empty() && !a->exhausted) {
      auto page = store_.pending(a->rec.id, a->cursor, kPage);
      if (page.size() < kPage) a->exhausted = true;
      if (!page.empty()) a->cursor = page.back().pos;
      for (auto& item : page) a->buffer.push_back(std::move(item));
    }
    if (a->buffer.empty()) {
      ++idle_rounds;
      maybe_finish(a);
      continue;
    }
    idle_rounds = 0;
    store::JobStore::Item item = std::move(a->buffer.front());
    a->buffer.pop_front();
    ++a->in_flight;
    ++in_flight_;
    verifier_.verify(item.input, a->level, kJobItem, [this, a, pos = item.pos](const std::shared_ptr<const Result>& r) {
      --a->in_flight;
      --in_flight_;
      finished_one(a, pos, *r);
      feed();
    });
  }
}

void JobRunner::finished_one(const std::shared_ptr<Active>& a, std::int64_t pos, const Result& r) {
  if (stopped_ || !active_.contains(a->rec.id)) return;  // removed meanwhile, or shutting down
  store_.finish_item(a->rec.id, pos, static_cast<int>(r.status), serialize_verdict(r));
  ++a->rec.done;
  ++a->rec.counts[static_cast<std::size_t>(r.status)];
  a->dirty = true;
  maybe_finish(a);
}

void JobRunner::maybe_finish(const std::shared_ptr<Active>& a) {
  if (!a->exhausted || !a->buffer.empty() || a->in_flight > 0 || a->rec.state == "finished") return;
  a->rec.state = "finished";
  a->rec.finished = unix_now();
  if (a->rec.started == 0) a->rec.started = a->rec.finished;
  store_.update(a->rec);
  store_.commit();
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
    auto rec = store_.get(id);
    if (!rec) return;  // deleted meanwhile
    rec->callback_state = ok ? "delivered" : "failed";
    rec->callback_attempts = attempts;
    rec->callback_error = std::move(error);
    store_.update(*rec);
    store_.commit();
  });
}

void JobRunner::flush() {
  for (const auto& [id, a] : active_) {
    if (!a->dirty) continue;
    store_.update(a->rec);
    a->dirty = false;
  }
  store_.commit();
  verifier_.commit();
}

void JobRunner::tick() {
  if (stopped_) return;
  flush();
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
  const std::vector<std::string> old = store_.finished_before(unix_now() - opt_.retention.count());
  for (const std::string& id : old) store_.remove(id);
  if (!old.empty()) {
    store_.commit();
    purge_some();
  }
}

void JobRunner::purge_some() {
  if (purging_ || stopped_) return;
  purging_ = true;
  boost::asio::post(io_, [this] {
    purging_ = false;
    if (stopped_) return;
    if (store_.purge(kPurgeStep) > 0) purge_some();
  });
}

}  // namespace mailsift::server
