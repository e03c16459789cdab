#include "server/auth.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <cmath>
#include <fstream>
#include <stdexcept>

#include "common/text.hpp"

namespace mailsift::server {

namespace {

Key make_key(std::string hash) {
  Key k;
  k.id = hash.substr(0, 12);
  k.name = k.id;
  k.sha256 = std::move(hash);
  return k;
}

bool is_hex64(std::string_view s) {
  if (s.size() != 64) return false;
  for (const char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

}  // namespace

void Keys::add_plain(std::string_view key) {
  if (key.empty()) throw std::invalid_argument("--api-key: empty key");
  keys_.push_back(make_key(sha256_hex(key)));
}

std::optional<Key> Keys::parse_line(std::string_view line, const std::string& where) {
  line = text::trim_blanks(line);
  if (!line.empty() && line.back() == '\r') line = text::trim_blanks(line.substr(0, line.size() - 1));
  if (line.empty() || line.front() == '#') return std::nullopt;
  std::vector<std::string_view> words;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    const std::size_t b = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
    if (i > b) words.push_back(line.substr(b, i - b));
  }
  std::string hash(words[0]);
  for (char& c : hash) c = static_cast<char>(c >= 'A' && c <= 'F' ? c - 'A' + 'a' : c);
  if (!is_hex64(hash))
    throw std::invalid_argument(where + ": not a SHA-256 hash (64 hex digits): the file holds hashes, not keys");
  Key k = make_key(std::move(hash));
  for (std::size_t w = 1; w < words.size(); ++w) {
    const std::string_view word = words[w];
    if (word.starts_with("name=") && word.size() > 5) {
      k.name = word.substr(5);
    } else if (word.starts_with("rate=")) {
      const std::string v(word.substr(5));
      char* end = nullptr;
      const double r = std::strtod(v.c_str(), &end);
      if (v.empty() || end != v.c_str() + v.size() || !(r > 0) || !std::isfinite(r))
        throw std::invalid_argument(where + ": rate= needs a positive number of requests per second");
      k.rate = r;
    } else {
      throw std::invalid_argument(where + ": unknown field '" + std::string(word) + "' (expected name=NAME or rate=N)");
    }
  }
  return k;
}

void Keys::load_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw std::invalid_argument("--api-keys-file: cannot read " + path);
  std::string line;
  std::size_t n = 0;
  while (std::getline(in, line)) {
    ++n;
    if (auto k = parse_line(line, path + ":" + std::to_string(n))) keys_.push_back(std::move(*k));
  }
}

const Key* Keys::check(std::string_view authorization) const {
  // RFC 6750 §2.1: "Bearer" is case-insensitive, then one or more spaces, then the token.
  if (authorization.size() < 7 || !text::iequals_ascii(authorization.substr(0, 6), "bearer") || authorization[6] != ' ')
    return nullptr;
  const std::string_view token = text::trim_blanks(authorization.substr(7));
  if (token.empty()) return nullptr;
  const std::string hash = sha256_hex(token);
  const Key* found = nullptr;
  for (const Key& k : keys_) {
    if (CRYPTO_memcmp(k.sha256.data(), hash.data(), hash.size()) == 0) found = &k;
  }
  return found;
}

std::int64_t RateLimiter::take(const std::string& client, Clock::time_point now, double rate) {
  if (rate <= 0) rate = rate_;
  if (rate <= 0) return 0;
  sweep(now);
  auto [it, fresh] = buckets_.try_emplace(client, Bucket{burst_, now, rate});
  Bucket& b = it->second;
  if (!fresh) {
    const double elapsed = std::chrono::duration<double>(now - b.at).count();
    b.tokens = std::min(burst_, b.tokens + std::max(0.0, elapsed) * rate);
    b.at = now;
    b.rate = rate;
  }
  if (b.tokens >= 1) {
    b.tokens -= 1;
    return 0;
  }
  return std::max<std::int64_t>(1, static_cast<std::int64_t>(std::ceil((1 - b.tokens) / rate)));
}

std::int64_t RateLimiter::peek(const std::string& client, Clock::time_point now) {
  const auto it = buckets_.find(client);
  if (it == buckets_.end() || it->second.rate <= 0) return 0;
  const Bucket& b = it->second;
  const double tokens =
      std::min(burst_, b.tokens + std::max(0.0, std::chrono::duration<double>(now - b.at).count()) * b.rate);
  if (tokens >= 1) return 0;
  return std::max<std::int64_t>(1, static_cast<std::int64_t>(std::ceil((1 - tokens) / b.rate)));
}

void RateLimiter::sweep(Clock::time_point now) {
  if (now < next_sweep_) return;
  // A bucket untouched for burst/rate seconds is full again: forgetting it changes nothing.
  for (auto it = buckets_.begin(); it != buckets_.end();) {
    const double full_after = burst_ / it->second.rate + 1;
    if (std::chrono::duration<double>(now - it->second.at).count() > full_after)
      it = buckets_.erase(it);
    else
      ++it;
  }
  next_sweep_ = now + std::chrono::seconds(10);
}

}  // namespace mailsift::server
