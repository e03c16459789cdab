// Drives deep-email-validator over an address list at a fixed concurrency, bounded in count and
// time, for scripts/bench-full.sh. Usage:
//   node run.mjs ADDRESSES_FILE [--concurrency 50] [--limit N] [--seconds S] [--sender ADDR]
// Workers take the next address as soon as their previous one is done; no new address is started
// after S seconds or once N were started. Prints one JSON object: addresses finished, wall seconds
// (first start to last finish), the rate, and the count of results by failing level and reason.
// The package's default options (regex, disposable, MX, SMTP on) except the sender and the typo
// check, which is off unless --typo: mailcheck takes mailbox.mailsift-lab.net for a typo of
// mail.mailsift-lab.net and returns before MX and SMTP, so the lab's Postfix addresses would
// never be asked (mailsift's typo suggestion does not stop its verification either).
import { readFileSync } from "node:fs";
import { validate } from "deep-email-validator";

const args = process.argv.slice(2);
const file = args[0];
const opt = (name, def) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : def;
};
const concurrency = Number(opt("--concurrency", "50"));
const limit = Number(opt("--limit", "10000"));
const seconds = Number(opt("--seconds", "60"));
const sender = opt("--sender", "probe@mailsift-lab.net");
const validateTypo = args.includes("--typo");
const addresses = readFileSync(file, "utf8").split("\n").filter((l) => l.length > 0).slice(0, limit);

const counts = {};
let next = 0;
let finished = 0;
const start = process.hrtime.bigint();
const deadline = start + BigInt(Math.round(seconds * 1e9));
let last = start;

async function worker() {
  while (next < addresses.length && process.hrtime.bigint() < deadline) {
    const email = addresses[next++];
    let key;
    try {
      const r = await validate({ email, sender, validateTypo });
      // The failing level and its reason, without the address a typo suggestion repeats.
      key = r.valid ? "valid" : `${r.reason}: ${((r.validators[r.reason] || {}).reason || "").replace(/: .*@.*/, "")}`;
    } catch (e) {
      key = `exception: ${e && e.message}`;
    }
    counts[key] = (counts[key] || 0) + 1;
    ++finished;
    last = process.hrtime.bigint();
  }
}

await Promise.all(Array.from({ length: concurrency }, worker));
const wall = Number(last - start) / 1e9;
process.stdout.write(
  JSON.stringify({ concurrency, validateTypo, limit, cap_seconds: seconds, finished, seconds: wall, rate: wall > 0 ? finished / wall : 0, counts }) + "\n",
);
