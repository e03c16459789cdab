#!/usr/bin/env python3
"""Writes the man pages and the bash completion from the binary's own --help, so that they are
never stale (tests/service/service_test.py regenerates them and compares them with the committed
docs/man/ and dist/bash-completion/mailsift).

Usage: scripts/gen-man.py PATH/TO/mailsift MANDIR [COMPLETION_FILE]
Pages: mailsift(1), mailsift-verify(1), mailsift-serve(8), mailsift-worker(8), mailsift-cluster(1),
mailsift-lists(8), mailsift-history(1).
"""
import os
import re
import subprocess
import sys

PAGES = [
    # (page name, section, subcommand words, one-line summary, description paragraphs)
    ("mailsift", 1, [], "tell whether mail to an address would be delivered, without sending any", [
        "mailsift checks email addresses: their syntax (RFC 5321/6531, IDNA2008), what is known of "
        "their domain (disposable, free provider, role account, typos), its DNS (MX, null MX, SPF, "
        "DMARC) and, at the SMTP level, what the domain's mail server says of the mailbox, without "
        "sending any mail. Each address gets a status (valid, invalid, risky, unknown), a reason, a "
        "score from 0 to 1 and flags.",
        "Each subcommand has its own page: mailsift-verify(1), mailsift-serve(8), "
        "mailsift-worker(8), mailsift-cluster(1)."]),
    ("mailsift-verify", 1, ["verify"], "verify addresses from the command line, standard input or a file", [
        "Verifies the addresses given as arguments, or one per line on standard input, or a whole "
        "list with --input (TXT, CSV or JSONL, gzip too), and writes one result per address. "
        "Bulk runs keep input order, dedupe, resume after a crash with --state and reuse verdicts "
        "with --cache. With --broker the DNS and SMTP checks run on a cluster of mailsift-worker(8)."]),
    ("mailsift-serve", 8, ["serve"], "the HTTP API: real-time checks and bulk jobs", [
        "Runs the HTTP API (GET|POST /v1/verify, /v1/jobs, /metrics, /healthz, a web page) on "
        "--listen. Jobs and their results are kept in the SQLite file --db and resume after a "
        "restart. Under systemd it reports readiness (Type=notify) once it listens."]),
    ("mailsift-worker", 8, ["worker"], "do the DNS and SMTP checks of a cluster's runs", [
        "Takes per-domain chunks of addresses from the broker (Redis) given by --broker, checks "
        "them with its own identity (--helo, --mail-from, --source-ip) and sends the verdicts "
        "back. Per mail server connection caps, rates and back-off hold across every worker. "
        "SIGTERM finishes the chunks in hand."]),
    ("mailsift-lists", 8, ["lists", "update"], "fetch fresh disposable and other lists", [
        "Fetches the lists given by --source (default: the disposable list of the "
        "disposable-email-domains project) over HTTPS with the certificate verified, checks each "
        "(it must read as a list; the allowlist vetoes real providers; a list that shrank by more "
        "than half is refused unless --force) and installs it atomically in --dir, where "
        "--lists-dir reads it. A failed update keeps the installed list. The package's timer "
        "runs it daily and reloads the server. `mailsift lists status` shows what is installed."]),
    ("mailsift-cluster", 1, ["cluster", "status"], "show a cluster's workers, queue and busiest mail servers", [
        "Reads the broker and shows the workers (alive or gone, identity, load), the queue, the "
        "active runs and the mail server addresses where the politeness gate refused the most "
        "connections. It changes nothing."]),
    ("mailsift-history", 1, ["history", "show"], "show what --history holds for a domain", [
        "Prints, as JSON, the record a --history file keeps for the registrable domain of NAME "
        "(counts by status and reason, catch-all answers, greylisting, refusals, MX changes, dates "
        "and risk signals) and for an MX host named NAME. The file is locked while a run or a "
        "server uses it; a server with --history answers GET /v1/domains/NAME instead."]),
]

FILES = {
    "mailsift": [],
    "mailsift-serve": [("/etc/mailsift/mailsift.conf", "the configuration file of the packaged service (--config)"),
                       ("/var/lib/mailsift/", "the service's state: the jobs database and the verdict cache")],
    "mailsift-worker": [("/etc/mailsift/mailsift.conf", "the configuration file of the packaged service (--config)")],
}


def esc(s):
    s = s.replace("\\", "\\e").replace("-", "\\-")
    return s


def line(s):
    s = esc(s)
    return ("\\&" + s) if s[:1] in (".", "'") else s


def options(help_text):
    """(flag words, description) for each option of a CLI11 --help text."""
    out, lines = [], help_text.splitlines()
    i, in_opts = 0, False
    while i < len(lines):
        ln = lines[i]
        if ln.strip() in ("Options:", "Positionals:"):
            in_opts = True
        elif ln.strip() == "Subcommands:":
            in_opts = False
        elif in_opts and ln.startswith("  ") and not ln.startswith(" " * 30) and ln.strip():
            parts = re.split(r"\s{2,}", ln.strip(), maxsplit=1)
            name, desc = parts[0], parts[1] if len(parts) > 1 else ""
            if not desc and i + 1 < len(lines) and lines[i + 1].startswith(" " * 30):
                i += 1
                desc = lines[i].strip()
            out.append((name, desc))
        i += 1
    return out


def subcommands(help_text):
    out, on = [], False
    for ln in help_text.splitlines():
        if ln.strip() == "Subcommands:":
            on = True
        elif on and ln.startswith("  ") and ln.strip():
            parts = re.split(r"\s{2,}", ln.strip(), maxsplit=1)
            out.append((parts[0], parts[1] if len(parts) > 1 else ""))
    return out


def page(binary, version, name, section, words, summary, paragraphs):
    text = subprocess.run([binary, *words, "--help"], capture_output=True, text=True, check=True).stdout
    r = [f'.TH {name.upper()} {section} "" "{esc(version)}" "mailsift manual"',
         ".SH NAME", f"{esc(name)} \\- {esc(summary)}",
         ".SH SYNOPSIS", ".B mailsift" + ("" if not words else " " + " ".join(esc(w) for w in words)),
         "[\\fIOPTIONS\\fR]" + (" \\fISUBCOMMAND\\fR" if not words else "")
         + (" [\\fIADDRESS\\fR...]" if words == ["verify"] else ""),
         ".SH DESCRIPTION"]
    for p in paragraphs:
        r += [line(p), ".PP"]
    r.pop()
    subs = subcommands(text)
    if subs:
        r.append(".SH SUBCOMMANDS")
        for s, d in subs:
            r += [".TP", f".B {esc(s)}", line(d)]
    r.append(".SH OPTIONS")
    for flag, desc in options(text):
        first, _, rest = flag.partition(" ")
        r += [".TP", f".B {esc(first)}" + (f" \\fI{esc(rest)}\\fR" if rest else ""), line(desc or "")]
    if name == "mailsift":
        r += [".SH EXIT STATUS",
              ".TP", ".B 0", "The run completed (with \\-\\-strict: and every result is valid).",
              ".TP", ".B 1", "\\-\\-strict only: at least one result is not valid.",
              ".TP", ".B 2", "A bad command line or configuration file.",
              ".TP", ".B 3", "A file could not be read or written.",
              ".TP", ".B 70", "Internal error: a bug, please report it.",
              ".TP", ".B 130", "A bulk run was stopped by a signal; with \\-\\-state the same command continues."]
    if FILES.get(name):
        r.append(".SH FILES")
        for f, d in FILES[name]:
            r += [".TP", f".I {esc(f)}", line(d)]
    others = [f"{n}({s})" for n, s, *_ in PAGES if n != name]
    r += [".SH SEE ALSO", esc(", ".join(others)),
          ".PP", "The documentation in /usr/share/doc/mailsift/ (docs/ in the source): api.md, bulk.md, cluster.md, "
          "config.md, history.md, reasons.md, scoring.md, smtp.md."]
    return "\n".join(r) + "\n"


FILE_FLAGS = ["--history", "--lists-dir", "--dir", "--ca-file", "--input", "--output", "--config", "--cache", "--state", "--db", "--tls-cert", "--tls-key",
              "--api-keys-file", "--summary", "--broker-ca", "--list", "--split"]


def completion(binary):
    """A bash completion: subcommands, then the long flags of the one typed; files after file flags."""
    subs = {}
    for group in (["verify"], ["serve"], ["worker"], ["cluster", "status"], ["lists", "update", "status"],
                  ["history", "show"]):
        flags = []
        for words in ([group[0]] if len(group) == 1 else [[group[0], w] for w in group[1:]]):
            words = words if isinstance(words, list) else [words]
            text = subprocess.run([binary, *words, "--help"], capture_output=True, text=True, check=True).stdout
            for flag, _ in options(text):
                for f in flag.split(" ")[0].split(","):
                    if f.startswith("--") and f not in flags:
                        flags.append(f)
        subs[group[0]] = (" ".join(group[1:]), flags)
    r = ["# bash completion for mailsift: generated by scripts/gen-man.py from the binary's --help; do not edit.",
         "_mailsift() {",
         "  local cur=\"${COMP_WORDS[COMP_CWORD]}\" prev=\"${COMP_WORDS[COMP_CWORD-1]}\" sub=\"\" i opts",
         "  for ((i = 1; i < COMP_CWORD; i++)); do",
         "    case \"${COMP_WORDS[i]}\" in verify|serve|worker|cluster|lists|history) sub=\"${COMP_WORDS[i]}\"; break ;; esac",
         "  done",
         "  case \"$prev\" in",
         "    " + "|".join(FILE_FLAGS) + ")",
         "      COMPREPLY=($(compgen -f -- \"$cur\")); return ;;",
         "  esac",
         "  case \"$sub\" in",
         "    \"\") opts=\"verify serve worker cluster lists history --help --version\" ;;"]
    for sub, (then, flags) in subs.items():
        words = (then + " " if then else "") + " ".join(flags)
        r.append(f"    {sub}) opts=\"{words}\" ;;")
    r += ["  esac",
          "  COMPREPLY=($(compgen -W \"$opts\" -- \"$cur\"))",
          "}",
          "complete -o default -F _mailsift mailsift"]
    return "\n".join(r) + "\n"


def main():
    binary, outdir = sys.argv[1], sys.argv[2]
    if len(sys.argv) > 3:
        with open(sys.argv[3], "w") as f:
            f.write(completion(binary))
    os.makedirs(outdir, exist_ok=True)
    version = subprocess.run([binary, "--version"], capture_output=True, text=True, check=True).stdout.strip()
    for name, section, words, summary, paragraphs in PAGES:
        with open(os.path.join(outdir, f"{name}.{section}"), "w") as f:
            f.write(page(binary, version, name, section, words, summary, paragraphs))


if __name__ == "__main__":
    main()
