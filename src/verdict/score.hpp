#pragma once
// Confidence score weights, all in one place (docs/scoring.md explains them).
// The score is the sum of the evidence that passed, minus penalties for risk signals, clamped to
// [0, 1]. Evidence a level did not gather adds nothing, so an offline `valid` tops out at 0.45 and
// only an SMTP-confirmed mailbox can approach 1.
namespace mailsift::score {

// Evidence (adds).
inline constexpr double kSyntax = 0.30;  // well-formed, usable in RCPT TO
inline constexpr double kDomain = 0.15;  // not reserved, TLD exists, not a literal
// The DNS level: 0.20 in all, most of it for mail servers that can be probed; SPF and DMARC are
// small signs of a domain that is cared for (they are about sending, not receiving).
inline constexpr double kMailServers = 0.15;  // MX (or implicit MX) with a safe address
inline constexpr double kSpf = 0.03;          // an SPF record exists
inline constexpr double kDmarc = 0.02;        // a DMARC record exists
// The SMTP probe: 0.35 when the server accepted the mailbox at a domain that rejects a random
// one — the strongest evidence short of delivering. Acceptance at a catch-all domain, or a full
// mailbox (it exists, but mail bounces until it is emptied), proves less.
inline constexpr double kMailboxAccepted = 0.35;
inline constexpr double kCatchAllAccepted = 0.10;
inline constexpr double kMailboxFull = 0.15;

// Risk signals (subtract).
inline constexpr double kDisposable = 0.35;
inline constexpr double kPossibleTypo = 0.25;
inline constexpr double kAddressLiteral = 0.15;
inline constexpr double kSuspicious = 0.10;
inline constexpr double kRole = 0.05;
inline constexpr double kQuotedLocal = 0.05;
inline constexpr double kBlocklisted = 0.30;  // listed on a domain block list
inline constexpr double kParked = 0.10;       // implicit MX and "v=spf1 -all"
// Reputation from history (--history, verdict/reputation.hpp): a tenth of the score at most.
inline constexpr double kReputation = 0.10;          // cap of the three below together
inline constexpr double kHighInvalidRate = 0.10;     // most of the domain's checked addresses were invalid
inline constexpr double kCatchAllHistory = 0.05;     // the domain accepted random addresses before
inline constexpr double kUnstableMx = 0.05;          // its MX set keeps changing
// --rdap (docs/rdap.md): registered less than 30 days ago; on hold or about to be deleted.
inline constexpr double kNewDomain = 0.15;
inline constexpr double kDomainNotActive = 0.30;


}  // namespace mailsift::score
