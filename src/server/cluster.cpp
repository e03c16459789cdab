#include "server/cluster.hpp"

#include <boost/asio/post.hpp>
#include <cstdio>

#include "broker/redis.hpp"
#include "engine/remote.hpp"

namespace mailsift::server {

namespace {
// Long enough for a job runner's next addresses (it starts one as each ends) to join a domain's
// chunk, short next to a probe.
constexpr auto kGather = std::chrono::milliseconds(20);
constexpr auto kRetry = std::chrono::seconds(2);
}  // namespace

struct ClusterChecks::Run {
  std::string level;
  std::chrono::steady_clock::time_point born;
  bool retired = false;
  std::atomic<std::size_t> open{0};  // batches started and not finished
  engine::Signal signal;             // before net: outlives it
  std::unique_ptr<engine::RemoteNetwork> net;
};

ClusterChecks::ClusterChecks(boost::asio::io_context& io, const cli::VerifyOptions& o, std::chrono::seconds run_life)
    : io_(io), options_(o), run_life_(run_life), gather_(io) {
  // The broker is checked at start (an error at once, as for `verify --broker`): the first run of
  // the server's default level is made here.
  if (o.level == "dns" || o.level == "smtp") (void)run_for(o.level, std::chrono::steady_clock::now());
  thread_ = std::thread([this] { publisher(); });
}

ClusterChecks::~ClusterChecks() {
  {
    const std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  runs_.clear();  // joins the collectors: no callback after this
}

void ClusterChecks::check(std::string_view input, std::string domain, const std::string& level, Done done) {
  Waiting& w = waiting_[{level, std::move(domain)}];
  w.inputs.push_back(input);
  w.done.push_back(std::move(done));
  ++addresses_out_;
  if (armed_) return;
  armed_ = true;
  gather_.expires_after(kGather);
  gather_.async_wait([this, alive = std::weak_ptr<int>(alive_)](boost::system::error_code ec) {
    if (ec || alive.expired()) return;
    armed_ = false;
    flush();
  });
}

// One batch per domain: a batch ends when its last domain does, and one slow domain (a tarpit, a
// greylisting wait) must not hold back the verdicts of the others.
void ClusterChecks::flush() {
  std::vector<std::pair<std::string, engine::Batch*>> out;
  for (auto& [key, w] : waiting_) {
    auto b = std::make_unique<engine::Batch>();
    b->inputs = std::move(w.inputs);
    engine::Domain d;
    d.name = key.second;
    for (std::size_t i = 0; i < b->inputs.size(); ++i) d.rows.push_back(i);
    b->domains.push_back(std::move(d));
    b->open.store(1);
    out.emplace_back(key.first, b.get());
    Flight f;
    f.batch = std::move(b);
    f.done = std::move(w.done);
    flight_.emplace(out.back().second, std::move(f));
  }
  waiting_.clear();
  {
    const std::lock_guard lock(mu_);
    ready_.insert(ready_.end(), out.begin(), out.end());
  }
  cv_.notify_one();
}

void ClusterChecks::finished(engine::Batch* b) {
  const auto it = flight_.find(b);
  if (it == flight_.end()) return;
  Flight f = std::move(it->second);
  flight_.erase(it);
  addresses_out_ -= f.done.size();
  for (std::size_t i = 0; i < f.done.size(); ++i) f.done[i](f.batch->verdicts[i]);
}

ClusterChecks::Run& ClusterChecks::run_for(const std::string& level, std::chrono::steady_clock::time_point now) {
  for (auto it = runs_.rbegin(); it != runs_.rend(); ++it) {
    Run& r = **it;
    if (r.level != level || r.retired) continue;
    if (now - r.born < run_life_) return r;
    r.retired = true;  // new work goes to a new run; this one ends with its last batch
    break;
  }
  auto r = std::make_unique<Run>();
  r->level = level;
  r->born = now;
  r->signal.on_finished = [this, run = r.get(), alive = std::weak_ptr<int>(alive_)](engine::Batch& b) {
    run->open.fetch_sub(1);
    boost::asio::post(io_, [this, alive, b = &b] {
      if (!alive.expired()) finished(b);
    });
  };
  cli::VerifyOptions o = options_;
  o.level = level;
  r->net = std::make_unique<engine::RemoteNetwork>(o, r->signal, engine::RemoteNetwork::Outage::wait);
  const std::lock_guard lock(mu_);
  runs_.push_back(std::move(r));
  return *runs_.back();
}

void ClusterChecks::publisher() {
  bool said = false;  // the broker's unreachability, said once per outage
  for (;;) {
    std::deque<std::pair<std::string, engine::Batch*>> take;
    {
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, std::chrono::seconds(1), [&] { return stop_ || !ready_.empty(); });
      if (stop_) return;
      take.swap(ready_);
    }
    std::map<std::string, std::vector<engine::Batch*>> by_level;
    for (auto& [level, b] : take) by_level[level].push_back(b);
    for (auto& [level, batches] : by_level) {
      Run* run = nullptr;
      while (run == nullptr) {
        try {
          run = &run_for(level, std::chrono::steady_clock::now());
          said = false;
        } catch (const std::exception& e) {
          if (!said) std::fprintf(stderr, "mailsift: %s; the jobs' addresses wait for the broker\n", e.what());
          said = true;
          std::unique_lock lock(mu_);
          if (cv_.wait_for(lock, kRetry, [&] { return stop_; })) return;
        }
      }
      run->open.fetch_add(batches.size());
      run->net->start_all(batches);
    }
    // Retired runs go once their last batch is back (their destructor says goodbye to the broker).
    std::vector<std::unique_ptr<Run>> gone;
    {
      const std::lock_guard lock(mu_);
      for (auto it = runs_.begin(); it != runs_.end();) {
        if ((*it)->retired && (*it)->open.load() == 0) {
          const engine::RemoteNetwork::Counts c = (*it)->net->counts();
          gone_.published += c.published;
          gone_.republished += c.republished;
          gone_.duplicates += c.duplicates;
          gone_.malformed += c.malformed;
          gone.push_back(std::move(*it));
          it = runs_.erase(it);
        } else {
          ++it;
        }
      }
    }
  }
}

ClusterChecks::Stats ClusterChecks::stats() {
  const std::lock_guard lock(mu_);
  Stats s = gone_;  // counters stay monotonic when a retired run goes
  s.addresses_out = addresses_out_;
  for (const auto& r : runs_) {
    const engine::RemoteNetwork::Counts c = r->net->counts();
    s.chunks_out += r->net->chunks_out();
    s.published += c.published;
    s.republished += c.republished;
    s.duplicates += c.duplicates;
    s.malformed += c.malformed;
    s.broker_up = s.broker_up && c.broker_up;
  }
  return s;
}

}  // namespace mailsift::server
