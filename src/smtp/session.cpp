#include "smtp/session.hpp"

#include <openssl/rand.h>

#include <algorithm>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <stdexcept>

#include "address/address.hpp"
#include "common/text.hpp"
#include "smtp/connection.hpp"
#include "smtp/retry_hint.hpp"

namespace mailsift::smtp {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

bool safe_in_command(std::string_view s) noexcept {
  return std::none_of(s.begin(), s.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7F;
  });
}

bool one_path_argument(std::string_view s) noexcept {
  std::size_t rest = 0;
  if (!s.empty() && s.front() == '"') {
    std::size_t i = 1;
    while (i < s.size() && s[i] != '"') i += s[i] == '\\' ? 2 : 1;
    if (i >= s.size()) return false;  // unterminated: the rest would read as quoted
    rest = i + 1;
  }
  return s.find_first_of(" <>\"", rest) == std::string_view::npos;
}

SessionContext::SessionContext(ProbeOptions probe, PolitenessOptions polite, std::size_t max_sessions,
                               std::shared_ptr<PolitenessGate> gate, std::shared_ptr<TlsClient> tls)
    : opt_(std::move(probe)), gate_(gate ? std::move(gate) : std::make_shared<LocalGate>(polite)),
      sessions_(max_sessions, polite.realtime_sessions),
      tls_(tls ? std::move(tls) : std::make_shared<TlsClient>(TlsClientOptions{opt_.tls_session_cache})) {
  if (opt_.helo.empty()) opt_.helo = default_helo();
  if (!safe_in_command(opt_.helo) || opt_.helo.find(' ') != std::string::npos)
    throw std::invalid_argument("--helo: control characters or spaces in '" + opt_.helo + "'");
  if (!safe_in_command(opt_.mail_from) || !one_path_argument(opt_.mail_from))
    throw std::invalid_argument("--mail-from: control characters, or spaces or <> outside quotes, in '" +
                                opt_.mail_from + "'");
}

std::string SessionContext::next_source(const std::string& remote) {
  const bool v6 = remote.find(':') != std::string::npos;
  const std::size_t n = opt_.source_ips.size();
  for (std::size_t i = 0; i < n; ++i) {
    const std::string& s = opt_.source_ips[(next_source_ + i) % n];
    if ((s.find(':') != std::string::npos) == v6) {
      next_source_ = (next_source_ + i + 1) % n;
      return s;
    }
  }
  return {};
}

std::string SessionContext::random_local() {
  static constexpr std::string_view kLetters = "abcdefghijklmnopqrstuvwxyz";
  static constexpr std::string_view kAlnum = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::array<unsigned char, 18> r{};
  if (RAND_bytes(r.data(), static_cast<int>(r.size())) != 1) throw std::runtime_error("RAND_bytes failed");
  std::string s;
  s.reserve(r.size());
  s.push_back(kLetters[r[0] % kLetters.size()]);  // some servers dislike a leading digit
  for (std::size_t i = 1; i < r.size(); ++i) s.push_back(kAlnum[r[i] % kAlnum.size()]);
  return s;
}

namespace {

using Millis = std::chrono::milliseconds;

std::uint32_t ms_between(Clock::time_point a, Clock::time_point b) {
  return static_cast<std::uint32_t>(std::max<std::int64_t>(0, std::chrono::duration_cast<Millis>(b - a).count()));
}

bool non_ascii(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char c) { return static_cast<unsigned char>(c) >= 0x80; });
}

// RFC 5321 §4.5.3.1.10 / RFC 3463 X.5.3: "too many recipients" — not about the mailbox; the
// rest go in a new transaction.
bool too_many_recipients(const Reply& r) {
  if (r.code != 452 && r.code != 451) return false;
  if (r.enhanced && r.enhanced->subject == 5 && r.enhanced->detail == 3) return true;
  return match_text(r).find("too many recipients") != std::string::npos;
}

// Issue 13, class 5: a 4xx that may be greylisting is asked again like greylisting
// (Retry::greylisting): the classifier's `greylisted`, and a generic `temporary_failure`, since
// first-contact deferrals rarely say "greylisted" (Postfix postscreen answers every RCPT of a new
// client "450 4.3.2 Service currently unavailable" while it tests it, Outlook.com "451 4.7.500
// Server busy", Mimecast, Proofpoint and Barracuda document a generic "try again later" as their
// greylisting). A retry costs one bounded session later (--greylist-tries, --max-wait). Not
// retried: 421 (the server closes: Dialogue::refuse moves on and backs off), the other reasons a
// 4xx can have (rate_limited: asking sooner makes it worse; mailbox_full: an answer about the
// mailbox; blocked, relay_denied, sender_rejected, smtputf8_unsupported: the same answer from the
// same source), and "too many recipients", which is read before classification.
// The same holds at MAIL FROM: a gateway's first-contact deferral does not choose its stage to
// suit us (Outlook.com's "451 4.7.700 PFA agent busy" answers MAIL FROM), RFC 5321 §4.2.5 makes
// any 4yz "try again later", and a greylisting label at MAIL FROM was retried already.
bool deferral(Reason r, const Reply& reply) {
  return (r == Reason::greylisted || r == Reason::temporary_failure) && reply.cls() == 4 && reply.code != 421;
}

// Issue 13, class 6: a server that hangs up in the middle of the RCPTs after answering some of
// them (a per-connection limit, a restart) is asked the rest on a new connection to the same
// server, at most this many times per session (each only after the broken connection answered
// at least one RCPT, so a server that hangs up at once is not called again). The same server, not
// the next MX: a backup MX often accepts every recipient for relaying, and the catch-all test
// belongs to the server that answered. A 421 is different: the server asked us to go away, so the
// address is backed off and never reconnected to within its back-off; the next MX takes the rest
// (as for a 421 anywhere), and whatever no MX answered is asked again by the prober after the
// back-off (Retry::reconnect), which holds no connection or session slot meanwhile.
constexpr int kMaxReconnects = 2;

enum class Next : std::uint8_t { done, next_host, retry_without_tls };

class Dialogue {
 public:
  Dialogue(SessionContext& ctx, SessionRequest& req, SessionReport& rep)
      : ctx_(ctx), opt_(ctx.options()), req_(req), rep_(rep), start_(Clock::now()),
        end_(start_ + opt_.timeouts.session), decided_(req.recipients.size(), false),
        catch_all_done_(!req.test_catch_all) {}

  asio::awaitable<void> run() {
    rep_.recipients.resize(req_.recipients.size());
    // Anything that could smuggle a command (CR, LF, NUL, any control byte) is never sent, nor
    // what would end the path early ("x@y> NOTIFY=..."). A quoted local part with a space or <>
    // is an ordinary Mailbox (RFC 5321 §4.1.2) and goes out as address::Address::normalized()
    // wrote it.
    for (std::size_t i = 0; i < req_.recipients.size(); ++i) {
      const std::string& m = req_.recipients[i];
      if (!safe_in_command(m)) {
        decide(i, Reason::syntax_control_character);
      } else if (!one_path_argument(m)) {
        decide(i, Reason::syntax_invalid_character);
      } else if (m.size() > address::kMaxAddress + 2) {
        decide(i, Reason::syntax_address_too_long);
      }
    }
    if (!req_.test_catch_all && undecided() == 0) co_return;

    std::size_t tried = 0;
    int reconnects = 0;
    for (std::size_t ti = 0; ti < req_.targets.size();) {
      const Target& t = req_.targets[ti];
      if (tried == opt_.max_addresses && !reconnect_) break;
      if (Clock::now() >= end_) {
        note_session_timeout();
        break;
      }
      if (reconnect_)
        ++reconnects;  // the same address again: not one more address tried
      else
        ++tried;
      Next n = co_await attempt(t, opt_.starttls);
      if (n == Next::retry_without_tls && Clock::now() < end_) n = co_await attempt(t, false);
      if (n == Next::done) break;
      if (undecided() == 0 && catch_all_done_) break;
      // See kMaxReconnects: the server hung up after answering some RCPTs.
      if (!(reconnect_ && reconnects < kMaxReconnects)) {
        reconnect_ = false;
        ++ti;
      }
    }
    // Whoever is still undecided gets the reason the last attempt failed with: a transport
    // reason, never a mailbox verdict.
    Reason why = Reason::connect_failed;
    if (const Attempt* a = rep_.last(); a != nullptr && a->failure) why = *a->failure;
    for (std::size_t i = 0; i < decided_.size(); ++i) {
      if (decided_[i]) continue;
      decide(i, why);
      if (broken_off_) rep_.recipients[i].retry = Retry::reconnect;
    }
    rep_.elapsed_ms = ms_between(start_, Clock::now());
  }

 private:
  Clock::time_point deadline(Millis t) const { return std::min(Clock::now() + t, end_); }

  std::size_t undecided() const { return static_cast<std::size_t>(std::count(decided_.begin(), decided_.end(), false)); }

  void decide(std::size_t i, Reason r, std::optional<Reply> reply = std::nullopt, std::string_view rule = {}) {
    RecipientOutcome& o = rep_.recipients[i];
    o.reason = r;
    o.reply = std::move(reply);
    o.rule = rule;
    o.retry = o.reply && deferral(r, *o.reply) ? Retry::greylisting : Retry::none;
    o.retry_after = o.retry == Retry::greylisting ? retry_after(*o.reply) : std::nullopt;
    decided_[i] = true;
  }

  void note_session_timeout() {
    if (rep_.attempts.empty() || !rep_.attempts.back().failure) {
      Attempt& a = rep_.attempts.emplace_back();
      a.failure = Reason::timeout;
    }
    rep_.attempts.back().failure = Reason::timeout;
    rep_.attempts.back().detail = "session time limit reached";
  }

  void client_line(std::string_view line) {
    if (opt_.keep_transcript) rep_.transcript.push_back({true, std::string(line), ms_between(start_, Clock::now())});
  }

  // Fails the attempt at `stage` with the reason a transport failure implies. A hang-up after the
  // server has answered RCPTs in this session (on this connection or an earlier one) is not a
  // protocol error but the server ending the session: temporary_failure.
  Next fail(Stage stage, const Io& io) {
    attempt_->failure = classify_failure(stage, *io.failure);
    if (io.failure == Failure::closed && rcpt_replies_ > 0 && attempt_->failure == Reason::protocol_error)
      attempt_->failure = Reason::temporary_failure;
    attempt_->detail = io.detail;
    return Next::next_host;
  }

  // The connection failed where RCPT replies were due. A hang-up after answers on this very
  // connection is worth a reconnection (kMaxReconnects).
  Next rcpt_failed(const Io& io) {
    const Next n = fail(Stage::rcpt_to, io);
    if (io.failure == Failure::closed && attempt_rcpts_ > 0) {
      attempt_->detail += " after " + std::to_string(attempt_rcpts_) + " RCPT replies";
      reconnect_ = true;
    }
    return n;
  }

  // Records a reply that ends the attempt (a refusal before RCPT). 421 at any stage means the
  // server is closing: back off from it and try the next host (RFC 5321 §3.8).
  Next refuse(Stage stage, const Reply& r) {
    attempt_->failure = classify(stage, r).reason.value_or(Reason::session_rejected);
    attempt_->detail = std::to_string(r.code) + (r.lines.empty() ? "" : " " + r.lines.front());
    if (r.code == 421) ctx_.gate().back_off(attempt_->address);
    return Next::next_host;
  }

  void keep(Stage stage, const Reply& r, Clock::time_point sent) {
    attempt_->reached = stage;
    rep_.replies.push_back({stage, r, ms_between(sent, Clock::now())});
  }

  // Sends one command and reads its reply.
  asio::awaitable<ReadResult> command(Stage stage, std::string line) {
    client_line(line);
    line += "\r\n";
    const auto sent = Clock::now();
    if (Io io = co_await conn_->write(line, deadline(opt_.timeouts.command)); !io.ok())
      co_return ReadResult{std::nullopt, io};
    ReadResult r = co_await conn_->read_reply(deadline(opt_.timeouts.command));
    if (r.reply && stage != Stage::rcpt_to) keep(stage, *r.reply, sent);
    co_return r;
  }

  void read_extensions(const Reply& ehlo) {
    rep_.pipelining = rep_.smtputf8 = false;
    starttls_offered_ = false;
    for (std::size_t i = 1; i < ehlo.lines.size(); ++i) {
      std::string_view kw = ehlo.lines[i];
      kw = kw.substr(0, kw.find(' '));
      if (text::iequals_ascii(kw, "PIPELINING")) rep_.pipelining = true;
      if (text::iequals_ascii(kw, "SMTPUTF8")) rep_.smtputf8 = true;
      if (text::iequals_ascii(kw, "STARTTLS")) starttls_offered_ = true;
    }
  }

  asio::awaitable<Next> attempt(const Target& t, bool use_tls) {
    attempt_ = &rep_.attempts.emplace_back();
    attempt_rcpts_ = 0;
    reconnect_ = false;
    attempt_->host = t.host;
    attempt_->address = t.address;
    // The TLS facts describe this connection, the report's last: nothing of an earlier server's.
    // A plain retry after a failed handshake keeps why it failed.
    std::string tls_error = use_tls ? std::string() : std::move(rep_.tls.error);
    rep_.tls = TlsFacts{};
    rep_.tls.error = std::move(tls_error);
    boost::system::error_code ec;
    const auto ip = asio::ip::make_address(t.address, ec);
    if (ec) {
      attempt_->failure = Reason::connect_failed;
      attempt_->detail = "not an IP address: " + t.address;
      co_return Next::next_host;
    }
    if (ctx_.gate().backing_off(t.address)) {
      attempt_->failure = Reason::temporary_failure;
      attempt_->detail = "backing off after a 421 from this server";
      co_return Next::next_host;
    }
    // Waiting for our own politeness limits is not the server's time: it does not count against
    // the session bound.
    const auto wait_from = Clock::now();
    PolitenessGate::Slot host_slot = co_await ctx_.gate().acquire(t.address, req_.priority);
    if (!host_slot) {
      attempt_->failure = Reason::temporary_failure;
      attempt_->detail = "backing off after a 421 from this server";
      co_return Next::next_host;
    }
    co_await ctx_.sessions().acquire(req_.priority);
    struct Release {
      Semaphore& s;
      Priority p;
      ~Release() { s.release(p); }
    } release{ctx_.sessions(), req_.priority};
    end_ += Clock::now() - wait_from;

    attempt_->source = req_.source.empty() ? ctx_.next_source(t.address) : req_.source;
    conn_ = std::make_shared<Connection>(co_await asio::this_coro::executor);
    struct Close {
      std::shared_ptr<Connection>& c;
      ~Close() {
        if (c) c->close();
        c.reset();
      }
    } close{conn_};
    if (opt_.keep_transcript) {
      rep_.transcript.push_back({true, "connect " + t.address + (t.host.empty() ? "" : " (" + t.host + ")"),
                                 ms_between(start_, Clock::now())});
      conn_->keep_lines(&rep_.transcript, start_);
    }

    const auto connect_from = Clock::now();
    if (Io io = co_await conn_->connect(tcp::endpoint(ip, opt_.port), attempt_->source, opt_.proxy,
                                        deadline(opt_.timeouts.connect));
        !io.ok()) {
      co_return fail(Stage::connect, io);
    }
    attempt_->connect_ms = ms_between(connect_from, Clock::now());

    // RFC 5321 §3.1: the 220 greeting. A 5xx greeting is skipped like Postfix does
    // (smtp_skip_5xx_greeting): another MX may take us.
    const auto connected = Clock::now();
    ReadResult banner = co_await conn_->read_reply(deadline(opt_.timeouts.banner));
    if (!banner.reply) co_return fail(Stage::banner, banner.io);
    keep(Stage::banner, *banner.reply, connected);
    if (banner.reply->code != 220) co_return refuse(Stage::banner, *banner.reply);

    // RFC 5321 §4.1.1.1: EHLO, and HELO when the server does not know EHLO.
    if (Next n = co_await hello(); n != Next::done) co_return n;
    if (!rep_.esmtp) {
      // HELO worked: no extensions, so no STARTTLS, PIPELINING or SMTPUTF8.
    } else if (starttls_offered_) {
      rep_.tls.offered = true;
      if (use_tls) {
        ReadResult r = co_await command(Stage::starttls, "STARTTLS");
        if (!r.reply) co_return fail(Stage::starttls, r.io);
        if (r.reply->code == 421) co_return refuse(Stage::starttls, *r.reply);
        if (r.reply->code == 220) {
          // RFC 3207 §4.2 / CVE-2011-0411: nothing may follow the 220 before the handshake.
          if (conn_->has_buffered_input()) {
            attempt_->failure = Reason::protocol_error;
            attempt_->detail = "data after the STARTTLS 220 (plaintext injection)";
            co_return Next::done;
          }
          if (Io io = co_await conn_->start_tls(ctx_.tls(), t.host, TlsClient::session_key(t.host, t.address, opt_.port),
                                                deadline(opt_.timeouts.command), rep_.tls);
              !io.ok()) {
            attempt_->failure = io.failure == Failure::timed_out ? Reason::timeout : Reason::protocol_error;
            attempt_->detail = io.detail;
            co_return Next::retry_without_tls;
          }
          client_line("(TLS " + rep_.tls.version + " " + rep_.tls.cipher + ")");
          // RFC 3207 §4.2: forget what the server said before TLS, ask again.
          if (Next n = co_await hello(); n != Next::done) co_return n;
        }
        // Any other answer (454 TLS not available): go on in plain text.
      }
    }
    co_return co_await transactions();
  }

  asio::awaitable<Next> hello() {
    ReadResult r = co_await command(Stage::ehlo, "EHLO " + opt_.helo);
    if (!r.reply) co_return fail(Stage::ehlo, r.io);
    if (r.reply->cls() == 2) {
      rep_.esmtp = true;
      read_extensions(*r.reply);
      co_return Next::done;
    }
    if (r.reply->code == 421) co_return refuse(Stage::ehlo, *r.reply);
    rep_.esmtp = false;
    r = co_await command(Stage::helo, "HELO " + opt_.helo);
    if (!r.reply) co_return fail(Stage::helo, r.io);
    if (r.reply->cls() != 2) co_return refuse(Stage::helo, *r.reply);
    rep_.pipelining = rep_.smtputf8 = starttls_offered_ = false;
    co_return Next::done;
  }

  // MAIL FROM, the RCPTs, in as many transactions as needed; then QUIT.
  asio::awaitable<Next> transactions() {
    std::vector<std::size_t> todo;
    for (std::size_t i = 0; i < decided_.size(); ++i) {
      if (decided_[i]) continue;
      if (non_ascii(req_.recipients[i]) && !rep_.smtputf8) {
        // RFC 6531 §3.4: a non-ASCII mailbox may only be sent after the server offers SMTPUTF8.
        decide(i, Reason::smtputf8_unsupported);
        continue;
      }
      todo.push_back(i);
    }
    const bool utf8 = rep_.smtputf8 && std::any_of(todo.begin(), todo.end(),
                                                   [&](std::size_t i) { return non_ascii(req_.recipients[i]); });
    const std::string mail = "MAIL FROM:<" + opt_.mail_from + ">" + (utf8 ? " SMTPUTF8" : "");
    if (req_.test_catch_all && !catch_all_done_ && rep_.catch_all_address.empty()) {
      rep_.catch_all_address =
          req_.catch_all_address.empty() ? ctx_.random_local() + "@" + req_.domain : req_.catch_all_address;
    }

    std::size_t pos = 0;
    bool first = true;
    while (pos < todo.size() || (req_.test_catch_all && !catch_all_done_)) {
      if (Clock::now() >= end_) {
        note_session_timeout();
        co_return Next::done;
      }
      if (!first) {
        ReadResult r = co_await command(Stage::rset, "RSET");
        if (!r.reply) co_return fail(Stage::rset, r.io);
        if (r.reply->cls() != 2) co_return refuse(Stage::rset, *r.reply);
      }
      first = false;
      // This transaction: up to max_rcpts recipients; the random address rides along at the end
      // of the last one when there is room.
      const std::size_t n = std::min(opt_.max_rcpts, todo.size() - pos);
      const bool with_probe = req_.test_catch_all && !catch_all_done_ && pos + n == todo.size() && n < opt_.max_rcpts;
      std::vector<std::string> rcpts;
      for (std::size_t k = 0; k < n; ++k) rcpts.push_back("RCPT TO:<" + req_.recipients[todo[pos + k]] + ">");
      if (with_probe) rcpts.push_back("RCPT TO:<" + rep_.catch_all_address + ">");

      std::size_t answered = 0;  // RCPT replies read in this transaction
      Next next = Next::done;
      bool stop = false, too_many = false;
      if (rep_.pipelining) {
        // RFC 2920: MAIL and every RCPT in one write, the replies read in order.
        std::string batch = mail + "\r\n";
        client_line(mail);
        for (const std::string& c : rcpts) {
          batch += c;
          batch += "\r\n";
          client_line(c);
        }
        const auto sent = Clock::now();
        if (Io io = co_await conn_->write(batch, deadline(opt_.timeouts.command)); !io.ok())
          co_return fail(Stage::mail_from, io);
        ReadResult m = co_await conn_->read_reply(deadline(opt_.timeouts.command));
        if (!m.reply) co_return fail(Stage::mail_from, m.io);
        keep(Stage::mail_from, *m.reply, sent);
        if (m.reply->cls() != 2) co_return mail_refused(*m.reply, todo, pos);
        for (; answered < rcpts.size(); ++answered) {
          const auto t0 = Clock::now();
          ReadResult r = co_await conn_->read_reply(deadline(opt_.timeouts.command));
          if (!r.reply) {
            next = rcpt_failed(r.io);
            stop = true;
            break;
          }
          if (!on_rcpt(*r.reply, answered, n, todo, pos, t0, too_many, next)) {
            // Too many recipients or 421: the remaining replies of the batch still have to be
            // read to keep the stream in step, but they no longer decide anything.
            stop = next == Next::next_host;
            if (!stop) {
              for (std::size_t k = answered + 1; k < rcpts.size(); ++k) {
                ReadResult skip = co_await conn_->read_reply(deadline(opt_.timeouts.command));
                if (!skip.reply) {
                  next = rcpt_failed(skip.io);
                  stop = true;
                  break;
                }
              }
            }
            break;
          }
        }
      } else {
        ReadResult m = co_await command(Stage::mail_from, mail);
        if (!m.reply) co_return fail(Stage::mail_from, m.io);
        if (m.reply->cls() != 2) co_return mail_refused(*m.reply, todo, pos);
        for (; answered < rcpts.size(); ++answered) {
          const auto t0 = Clock::now();
          ReadResult r = co_await command(Stage::rcpt_to, rcpts[answered]);
          if (!r.reply) {
            next = rcpt_failed(r.io);
            stop = true;
            break;
          }
          if (!on_rcpt(*r.reply, answered, n, todo, pos, t0, too_many, next)) {
            stop = next == Next::next_host;
            break;
          }
        }
      }
      const std::size_t done_here = std::min(answered, n);
      if (too_many && done_here == 0) {
        // Not even one recipient per transaction: give up on the rest rather than loop.
        for (std::size_t k = pos; k < todo.size(); ++k) decide(todo[k], Reason::rate_limited);
        pos = todo.size();
        catch_all_done_ = true;
      } else {
        pos += done_here;
      }
      if (stop) co_return next;
    }
    co_await goodbye();
    co_return Next::done;
  }

  // One RCPT reply. Returns false when the transaction must end here (too many recipients, 421).
  bool on_rcpt(const Reply& r, std::size_t k, std::size_t n, const std::vector<std::size_t>& todo, std::size_t pos,
               Clock::time_point t0, bool& too_many, Next& next) {
    attempt_->reached = Stage::rcpt_to;
    if (r.code == 421) {
      next = refuse(Stage::rcpt_to, r);
      // After answers on this connection: the rest are asked again (kMaxReconnects).
      if (attempt_rcpts_ > 0) broken_off_ = true;
      return false;
    }
    ++attempt_rcpts_;
    ++rcpt_replies_;
    if (too_many_recipients(r)) {
      too_many = true;
      return false;
    }
    const Classification c = classify(Stage::rcpt_to, r);
    const Reason reason = c.reason.value_or(Reason::protocol_error);
    if (k < n) {
      decide(todo[pos + k], reason, r, rules()[c.rule].id);
    } else {
      // The random address: accepted → catch-all; "no such user" → not; anything else tells nothing.
      catch_all_done_ = true;
      rep_.catch_all_reply = r;
      if (reason == Reason::mailbox_exists) rep_.catch_all = true;
      else if (reason == Reason::mailbox_not_found) rep_.catch_all = false;
      rep_.replies.push_back({Stage::rcpt_to, r, ms_between(t0, Clock::now())});
    }
    return true;
  }

  // MAIL FROM refused: nothing about the mailboxes; the refusal is every remaining recipient's
  // reason. A deferral is asked again like one at RCPT TO (see deferral()).
  Next mail_refused(const Reply& r, const std::vector<std::size_t>& todo, std::size_t pos) {
    if (r.code == 421) return refuse(Stage::mail_from, r);
    refuse(Stage::mail_from, r);
    const Reason why = attempt_->failure.value_or(Reason::session_rejected);
    const bool again = deferral(why, r);
    for (std::size_t k = pos; k < todo.size(); ++k) {
      decide(todo[k], why);
      if (!again) continue;
      rep_.recipients[todo[k]].retry = Retry::greylisting;
      rep_.recipients[todo[k]].retry_after = retry_after(r);
    }
    catch_all_done_ = true;
    return Next::done;
  }

  // QUIT. Its answer changes nothing, so the wait for it is short and errors are ignored. No RSET
  // first: RFC 5321 §4.1.1.5 calls an RSET right before QUIT "effectively equivalent to a NOOP", and
  // without PIPELINING it cost a round trip. QUIT is not sent along with the last RCPTs either,
  // although RFC 2920 allows it: smtp-sink with a reply delay (-W RCPT:2) answered such a QUIT
  // before the delayed RCPT, so the RCPT's answer never came (docs/smtp.md, "How a session ends").
  asio::awaitable<void> goodbye() {
    const auto d = deadline(std::min<Millis>(opt_.timeouts.command, Millis(2000)));
    client_line("QUIT");
    if (!(co_await conn_->write("QUIT\r\n", d)).ok()) co_return;
    (void)co_await conn_->read_reply(d);
  }

  SessionContext& ctx_;
  const ProbeOptions& opt_;
  SessionRequest& req_;
  SessionReport& rep_;
  Clock::time_point start_;
  Clock::time_point end_;
  std::vector<bool> decided_;
  Attempt* attempt_ = nullptr;
  std::shared_ptr<Connection> conn_;
  bool starttls_offered_ = false;
  bool catch_all_done_ = false;
  std::size_t rcpt_replies_ = 0;   // RCPT replies (not 421) in this session, every connection
  std::size_t attempt_rcpts_ = 0;  // the same on the current connection
  bool reconnect_ = false;         // the current connection broke after RCPT answers: ask the rest again
  bool broken_off_ = false;        // a 421 came after RCPT answers: the unanswered get Retry::reconnect
};

}  // namespace

asio::awaitable<SessionReport> run_session(SessionContext& ctx, SessionRequest req) {
  SessionReport rep;
  Dialogue d(ctx, req, rep);
  co_await d.run();
  co_return rep;
}

}  // namespace mailsift::smtp
