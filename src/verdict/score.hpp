#pragma once
// Confidence score weights, all in one place (docs/scoring.md explains them).
// The score is the sum of the evidence that passed, minus penalties for risk signals, clamped to
// [0, 1]. Evidence a level did not gather adds nothing, so an offline `valid` tops out at 0.45 and
// only an SMTP-confirmed mailbox can approach 1.
namespace mailsift::score {

// Evidence (adds).
inline constexpr double kSyntax = 0.30;  // well-formed, usable in RCPT TO
inline constexpr double kDomain = 0.15;  // not reserved, TLD exists, not a literal
// Reserved for the network levels: the MX check and the SMTP probe bring the rest (0.20 + 0.35).

// Risk signals (subtract).
inline constexpr double kDisposable = 0.35;
inline constexpr double kPossibleTypo = 0.25;
inline constexpr double kAddressLiteral = 0.15;
inline constexpr double kSuspicious = 0.10;
inline constexpr double kRole = 0.05;
inline constexpr double kQuotedLocal = 0.05;

}  // namespace mailsift::score
