#include "server/answers.hpp"

#include <algorithm>

#include "dns/evidence.hpp"
#include "smtp/probe.hpp"

namespace mailsift::server {
namespace {

// A heap block's bookkeeping and rounding, and a hash or list node around a value: what the
// containers add to each object. An estimate; the point is that it grows with what the client sent.
constexpr std::size_t kNode = 48;

std::size_t str(const std::string& s) {
  return s.capacity() + kNode;
}

std::size_t dns_bytes(const dns::DomainDns& d) {
  std::size_t n = sizeof(dns::DomainDns) + kNode;
  for (const dns::MxHost& m : d.mx) {
    n += sizeof(dns::MxHost) + str(m.host);
    for (const std::string& a : m.addresses) n += sizeof(std::string) + str(a);
    for (const dns::Refused& r : m.refused) n += sizeof(dns::Refused) + str(r.address);
  }
  if (d.spf) n += 256;  // the parsed record: a few short strings
  if (d.dmarc) n += 256;
  for (const dns::BlocklistHit& b : d.blocklists) n += sizeof(b) + str(b.zone) + str(b.answer) + str(b.text);
  return n;
}

std::size_t session_bytes(const smtp::SessionReport& s) {
  std::size_t n = sizeof(smtp::SessionReport) + kNode + str(s.catch_all_address);
  for (const smtp::Attempt& a : s.attempts)
    n += sizeof(a) + str(a.host) + str(a.address) + str(a.source) + str(a.detail);
  auto reply = [](const smtp::Reply& r) {
    std::size_t k = 0;
    for (const std::string& l : r.lines) k += sizeof(std::string) + str(l);
    return k;
  };
  for (const smtp::StepReply& r : s.replies) n += sizeof(r) + reply(r.reply);
  for (const smtp::RecipientOutcome& r : s.recipients) n += sizeof(r) + (r.reply ? reply(*r.reply) : 0);
  if (s.catch_all_reply) n += reply(*s.catch_all_reply);
  for (const smtp::TranscriptLine& t : s.transcript) n += sizeof(t) + str(t.text);
  return n;
}

// The share of a shared object this holder accounts for.
template <class T, class F>
std::size_t share(const std::shared_ptr<T>& p, F bytes) {
  if (!p) return 0;
  const auto holders = static_cast<std::size_t>(std::max<long>(1, p.use_count()));
  return bytes(*p) / holders;
}

}  // namespace

std::size_t estimated_bytes(const std::string& key, const Result& r) {
  std::size_t n = 2 * str(key) + sizeof(Result) + kNode + str(r.email);
  if (r.restored_dns) n += str(*r.restored_dns);
  if (r.restored_smtp) n += str(*r.restored_smtp);
  if (r.restored_reputation) n += str(*r.restored_reputation);
  n += share(r.reputation, [](const reputation::Reputation& rep) { return sizeof rep + rep.history.reasons.size() * 16; });
  n += share(r.dns, dns_bytes);
  if (r.smtp) n += share(r.smtp->session, session_bytes);
  n += str(r.facts.registrable) + str(r.facts.suggestion);  // the facts themselves are in sizeof(Result)
  return n;
}

std::shared_ptr<const Result> AnswerCache::find(const std::string& key, Clock::time_point now) {
  const auto it = map_.find(key);
  if (it == map_.end()) return nullptr;
  if (now - it->second.at < limits_.ttl) return it->second.result;
  map_.erase(it);  // its bytes leave with its place in the age order
  return nullptr;
}

void AnswerCache::pop_oldest() {
  const Order& o = order_.front();
  const auto it = map_.find(o.key);
  if (it != map_.end() && it->second.at == o.at) map_.erase(it);
  bytes_ -= o.bytes;
  order_.pop_front();
}

void AnswerCache::put(const std::string& key, std::shared_ptr<const Result> r, Clock::time_point now) {
  const std::size_t b = estimated_bytes(key, *r);
  if (b > limits_.bytes || limits_.entries == 0) return;
  while (!order_.empty() &&
         (now - order_.front().at >= limits_.ttl || map_.size() >= limits_.entries || bytes_ + b > limits_.bytes))
    pop_oldest();
  map_[key] = Entry{std::move(r), now};
  order_.push_back(Order{key, now, b});
  bytes_ += b;
}

}  // namespace mailsift::server
