#!/usr/bin/env python3
"""Black-box tests of the mailsift binary: arguments, standard input, formats, exit codes.

Usage: cli_test.py PATH/TO/mailsift REPO_ROOT. Prints "N passed, N failed" and exits non-zero on failure.
"""
import csv
import io
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from checks import Checks  # noqa: E402

BIN, ROOT = sys.argv[1], sys.argv[2]


def run(args, stdin=b"", env=None):
    # The default level (smtp) goes to the network: this test stays offline, so every verify gets
    # --level syntax unless it names a level itself (the network levels are tested in the lab).
    if args[:1] == ["verify"] and not any(a.startswith("--level") for a in args):
        args = ["verify", "--level", "syntax"] + args[1:]
    p = subprocess.run([BIN] + args, input=stdin, capture_output=True, timeout=60, env=env)
    return p.returncode, p.stdout, p.stderr


check = Checks()


def records(out):
    return [json.loads(line) for line in out.decode("utf-8").splitlines()]


# Arguments → JSONL (stdout is a pipe, so jsonl is the default), in order.
rc, out, err = run(["verify", "john.smith@gmail.com", "bad@@x.com", "info@mailinator.com"])
recs = records(out)
check("args.count", len(recs) == 3, out)
check("args.order", [r["email"] for r in recs] == ["john.smith@gmail.com", "bad@@x.com", "info@mailinator.com"], recs)
check("args.valid", recs[0]["status"] == "valid" and recs[0]["reason"] == "well_formed", recs[0])
check("args.free", recs[0]["flags"]["free"] is True, recs[0])
check("args.invalid", recs[1]["status"] == "invalid" and recs[1]["reason"] == "syntax.multiple_at", recs[1])
check("args.disposable", recs[2]["status"] == "risky" and recs[2]["reason"] == "disposable"
      and recs[2]["flags"]["disposable"] and recs[2]["flags"]["role"], recs[2])
check("exit.ok_without_strict", rc == 0, rc)
rc, _, _ = run(["verify", "--strict", "john.smith@gmail.com", "bad@@x.com"])
check("exit.strict_some_not_valid", rc == 1, rc)
check("catch_all.null", recs[0]["flags"]["catch_all"] is None, recs[0])
check("checks", recs[0]["checks"] == ["syntax", "domain"] and recs[1]["checks"] == ["syntax"], recs)
check("score.order", recs[0]["score"] > recs[2]["score"] > recs[1]["score"] == 0, recs)

rc, out, _ = run(["verify", "--strict", "john.smith@gmail.com"])
check("exit.strict_all_valid", rc == 0, rc)

# Issue 13 class 7: a quoted local part is valid syntax, and `normalized` is the RFC 5321 Mailbox
# that RCPT TO carries (quoted, '"' and '\\' escaped).
rc, out, _ = run(["verify", '"john doe"@gmail.com', '"a\\"b"@gmail.com'])
recs = records(out)
check("quoted_local.valid", [(r["status"], r["normalized"], r["flags"]["quoted_local"]) for r in recs] ==
      [("valid", '"john doe"@gmail.com', True), ("valid", '"a\\"b"@gmail.com', True)], recs)

# Schema: every documented key is present, nothing else.
SCHEMA_KEYS = {"email", "normalized", "canonical", "status", "reason", "message", "score", "domain",
               "registrable_domain", "flags", "suggestion", "checks", "dns", "smtp", "registration"}
FLAG_KEYS = {"disposable", "role", "free", "catch_all", "smtputf8", "quoted_local", "address_literal", "suspicious",
             "blocklisted", "new_domain"}
check("schema.keys", set(recs[0].keys()) == SCHEMA_KEYS, recs[0].keys())
check("schema.flags", set(recs[0]["flags"].keys()) == FLAG_KEYS, recs[0]["flags"].keys())
schema_doc = open(os.path.join(ROOT, "docs", "schema.md"), encoding="utf-8").read()
for k in SCHEMA_KEYS | FLAG_KEYS:
    check(f"schema.documented.{k}", f"`{k}`" in schema_doc, k)

# Standard input: one record per line, blank and junk lines included, CRLF tolerated.
stdin = b"a@gmail.com\r\n\r\nnot an address\r\n  padded@gmail.com  \n\x00\x01@x.com\n\xff\xfe@x.com\nlast@yahoo.com"
rc, out, _ = run(["verify"], stdin)
recs = records(out)
check("stdin.count", len(recs) == 7, len(recs))
check("stdin.crlf", recs[0]["email"] == "a@gmail.com" and recs[0]["status"] == "valid", recs[0])
check("stdin.blank", recs[1]["reason"] == "syntax.empty", recs[1])
check("stdin.junk", recs[2]["status"] == "invalid", recs[2])
check("stdin.trim", recs[3]["email"] == "padded@gmail.com" and recs[3]["status"] == "valid", recs[3])
check("stdin.control", recs[4]["reason"] == "syntax.control_character", recs[4])
check("stdin.bad_utf8", recs[5]["reason"] == "syntax.invalid_utf8" and "\ufffd" in recs[5]["email"], recs[5])
check("stdin.last_line_without_newline", recs[6]["email"] == "last@yahoo.com", recs[6])
rc2, out2, _ = run(["verify", "-"], stdin)
check("stdin.dash", out2 == out, "")

# An over-long line is bounded and reported, and the next line is still processed.
rc, out, _ = run(["verify"], b"a" * 5_000_000 + b"@x.com\nok@gmail.com\n")
recs = records(out)
check("longline.count", len(recs) == 2, len(recs))
check("longline.reason", recs[0]["reason"] == "syntax.address_too_long" and len(recs[0]["email"]) <= 4096, recs[0]["reason"])
check("longline.next", recs[1]["status"] == "valid", recs[1])

# Typo suggestion is a full address; IDN and UTF-8 handling visible in the output.
rc, out, _ = run(["verify", "jane@gmial.com", "jane@b\u00fccher.de", "jos\u00e9@gmail.com", "a@gmail.con"])
recs = records(out)
check("typo.suggestion", recs[0]["suggestion"] == "jane@gmail.com", recs[0])
check("idn.alabel", recs[1]["normalized"] == "jane@xn--bcher-kva.de" and recs[1]["domain"] == "xn--bcher-kva.de", recs[1])
check("smtputf8", recs[2]["flags"]["smtputf8"] is True, recs[2])
check("unknown_tld.suggestion", recs[3]["reason"] == "unknown_tld" and recs[3]["suggestion"] == "a@gmail.com", recs[3])

# Reserved names (RFC 2606 / 6761).
rc, out, _ = run(["verify", "a@example.com", "a@foo.test", "a@mail.localhost", "a@x.onion"])
check("reserved", all(r["reason"] == "reserved_domain" for r in records(out)), out)

# Formats.
rc, out, _ = run(["verify", "--format", "json", "a@gmail.com", "b@"])
arr = json.loads(out)
check("format.json", isinstance(arr, list) and len(arr) == 2 and arr[1]["reason"] == "syntax.empty_domain", out)
rc, out, _ = run(["verify", "--format", "json"], b"")
check("format.json.empty", json.loads(out) == [], out)
rc, out, _ = run(["verify", "--format", "csv", "a@gmail.com", "x,y@z.com", '"q,r"@gmail.com'])
rows = list(csv.DictReader(io.StringIO(out.decode())))
check("format.csv.rows", len(rows) == 3 and rows[0]["status"] == "valid" and rows[1]["email"] == "x,y@z.com", rows)
check("format.csv.quoted", rows[2]["normalized"] == '"q,r"@gmail.com' and rows[2]["quoted_local"] == "true", rows[2])
rc, out, _ = run(["verify", "--format", "table", "a@gmail.com", "b\r@x.com"])
text = out.decode()
check("format.table", text.startswith("EMAIL") and "a@gmail.com" in text and "\r" not in text, text)

# Lists at run time: extend, allowlist wins.
rc, out, _ = run(["verify", "--disposable-domain", "corp-throwaway.com", "a@corp-throwaway.com", "a@x.corp-throwaway.com"])
check("list.extend", all(r["flags"]["disposable"] for r in records(out)), out)
rc, out, _ = run(["verify", "--allow-domain", "mailinator.com", "a@mailinator.com"])
check("list.allow_wins", records(out)[0]["flags"]["disposable"] is False, out)
with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
    f.write("# my list\nOurTemp.io\n\n")
rc, out, _ = run(["verify", "--disposable-file", f.name, "a@ourtemp.io"])
check("list.file", records(out)[0]["flags"]["disposable"] is True, out)
with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
    f.write("Lohnbuchhaltung\n")
rc, out, _ = run(["verify", "--role-file", f.name, "lohnbuchhaltung+x@gmail.com", "john.smith@gmail.com"])
recs = records(out)
check("list.role_file", recs[0]["flags"]["role"] is True and recs[1]["flags"]["role"] is False, out)
with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
    f.write("corp-mail.example-isp.de\n")
rc, out, _ = run(["verify", "--free-file", f.name, "a@corp-mail.example-isp.de"])
check("list.free_file", records(out)[0]["flags"]["free"] is True, out)
rc, out, _ = run(["verify", "--no-builtin-lists", "a@mailinator.com"])
check("list.no_builtin", records(out)[0]["flags"]["disposable"] is False, out)
rc, out, _ = run(["verify", "--extended-disposable", "a@0-180.com"])
check("list.extended", records(out)[0]["flags"]["disposable"] is True, out)
rc, out, err = run(["verify", "--disposable-file", "/nonexistent/list.txt", "a@b.com"])
check("exit.io_error", rc == 3 and b"/nonexistent/list.txt" in err, (rc, err))

# Usage errors and help.
rc, _, _ = run(["verify", "--level", "bogus", "a@b.com"])
check("exit.usage.level", rc == 2, rc)
# Bad SMTP options are refused before any input is read or any connection made.
for bad in (["--proxy", "http://10.0.0.1:8080"], ["--proxy", "socks5://proxy.example:1080"],
            ["--proxy", "socks5://10.0.0.1"], ["--source-ip", "not-an-ip"], ["--mail-from", "no-at-sign"],
            ["--helo", "two words"], ["--greylist-tries", "0"], ["--rcpts-per-session", "500"]):
    rc, _, err = run(["verify", "--level", "smtp"] + bad + ["a@b.com"])
    check("exit.usage.smtp " + " ".join(bad), rc == 2 and len(err) > 0, (rc, err))
# --- bulk files (--input/--output), offline ---------------------------------------------------
import tempfile  # noqa: E402
import csv as csvmod  # noqa: E402
with tempfile.TemporaryDirectory() as tmp:
    src = os.path.join(tmp, "in.csv")
    with open(src, "wb") as f:
        f.write(b'\xef\xbb\xbfid;Courriel;note\r\n1;a@gmail.com;"semi; colon"\r\n2;bad@@x.com;"two\r\nlines"\r\n'
                b'3;a@gmail.com;dup\r\n4;\xff\xfe@x.com;bytes\r\n5;"unterminated\r\n')
    out = os.path.join(tmp, "out.csv")
    rc, _, err = run(["verify", "--input", src, "--output", out, "--split", os.path.join(tmp, "split"),
                      "--summary", os.path.join(tmp, "s.json")])
    check("bulk.exit", rc == 0, (rc, err))
    rows = list(csvmod.reader(open(out, newline="", encoding="utf-8", errors="replace"), delimiter=";"))
    check("bulk.rows_kept", len(rows) == 6 and rows[0][:3] == ["id", "Courriel", "note"], rows)
    col = {n: i for i, n in enumerate(rows[0])}
    check("bulk.columns", "status" in col and "reason" in col and "duplicate" in col, rows[0])
    if "status" in col and len(rows) == 6:
        check("bulk.fields_unchanged", rows[1][2] == "semi; colon" and rows[2][2] == "two\r\nlines", rows)
        check("bulk.duplicate", rows[3][col["duplicate"]] == "true" and rows[1][col["duplicate"]] == "false", rows)
        check("bulk.bad_row_kept", rows[2][col["reason"]] == "syntax.multiple_at", rows[2])
        check("bulk.not_utf8", rows[4][col["reason"]] == "syntax.invalid_utf8", rows[4])
    summary = json.load(open(os.path.join(tmp, "s.json")))
    check("bulk.summary", summary["rows"] == 5 and summary["duplicates"] == 1 and
          summary["top_domains"][0]["domain"] == "gmail.com", summary)
    split = sorted(os.listdir(os.path.join(tmp, "split")))
    check("bulk.split", "valid.csv" in split and "invalid.csv" in split, split)
    check("bulk.no_partial_left", not any(n.endswith(".partial") for n in os.listdir(tmp)), os.listdir(tmp))
    # JSONL in, JSONL out, gzip.
    src = os.path.join(tmp, "in.jsonl.gz")
    import gzip  # noqa: E402
    with gzip.open(src, "wb") as f:
        f.write(b'{"id":1,"mail":"b@yahoo.com"}\n{"id":2}\nnot json\n')
    out = os.path.join(tmp, "out.jsonl")
    rc, _, err = run(["verify", "--input", src, "--output", out, "--quiet"])
    recs = [json.loads(l) for l in open(out)]
    check("bulk.jsonl", rc == 0 and len(recs) == 3 and recs[0]["id"] == 1 and
          recs[0]["mailsift"]["status"] == "valid" and recs[2]["mailsift"]["reason"] == "row_unreadable", (rc, err, recs))
    check("bulk.quiet", err == b"", err)
    rc, out_, err = run(["verify", "--input", src, "a@b.com"])
    check("bulk.input_and_args_refused", rc == 2, (rc, err))
    rc, out_, err = run(["verify", "--output", out, "a@b.com"])
    check("bulk.output_needs_input", rc == 2, (rc, err))
    rc, out_, err = run(["verify", "--input", os.path.join(tmp, "missing.csv"), "--output", out])
    check("bulk.missing_input", rc == 3 and b"missing.csv" in err, (rc, err))

# Issue 14: an SMTP session that ends without I/O (a quoted local part with a space was refused
# before any connection was made) re-entered the SMTP stage's scheduler and crashed it
# (use-after-free, SIGSEGV). Since issue 13 class 7 such addresses are sent like any other (the
# session-without-I/O regression stays in tests/smtp/prober_test.cpp): here they are tried on
# loopback port 9, where nothing listens. An address literal needs no DNS.
for extra in ([], ["--rcpts-per-session", "1"]):
    rc, out, err = run(["verify", "--level", "smtp", "--no-catch-all", "--allow-private-targets", "--smtp-port", "9"]
                       + extra + ['"a b"@[127.0.0.1]', '"c d"@[127.0.0.1]', '"e f"@[127.0.0.1]'])
    check("smtp.session_without_io" + "".join(extra), rc == 0 and
          [r["reason"] for r in records(out)] == ["connect_failed"] * 3, (rc, out, err))

# --- CSV formula injection (OWASP "CSV Injection"): neutralised by default, --csv-raw for programs ---
# (From standard input: "-x@…" as an argument would be taken for an option.)
rc, out, err = run(["verify", "--format", "csv"], b"=cmd@gmail.com\n-x@gmail.com\n")
lines = out.decode().splitlines()
check("csv_injection.stdout", rc == 0 and len(lines) == 3
      and lines[1].startswith("\"'=cmd@gmail.com\",\"'=cmd@gmail.com\",\"'=cmd@gmail.com\",valid,")
      and lines[2].startswith("\"'-x@gmail.com\",\"'-x@gmail.com\",\"'-x@gmail.com\",valid,"), (rc, out, err))
rc, out, err = run(["verify", "--format", "csv", "--csv-raw"], b"=cmd@gmail.com\n")
check("csv_injection.stdout_raw", rc == 0 and out.decode().splitlines()[1].startswith(
    "=cmd@gmail.com,=cmd@gmail.com,=cmd@gmail.com,valid,"), (rc, out, err))
with tempfile.TemporaryDirectory() as tmp:
    src = os.path.join(tmp, "in.csv")
    with open(src, "wb") as f:
        f.write(b'name,email,=cmd\n"=HYPERLINK(""http://evil.test"",""x"")",@a@gmail.com,+1\n'
                b'\t-2,ok@gmail.com,-3\n')
    for raw in (False, True):
        out = os.path.join(tmp, "raw.csv" if raw else "safe.csv")
        rc, _, err = run(["verify", "--input", src, "--output", out, "--quiet"] + (["--csv-raw"] if raw else []))
        rows = open(out, "rb").read().decode().split("\n")[:3]
        if raw:
            want = ['name,email,=cmd,', '"=HYPERLINK(""http://evil.test"",""x"")",@a@gmail.com,+1,',
                    '\t-2,ok@gmail.com,-3,']
        else:
            want = ["name,email,\"'=cmd\",", "\"'=HYPERLINK(\"\"http://evil.test\"\",\"\"x\"\")\",\"'@a@gmail.com\",\"'+1\",",
                    "\"'\t-2\",ok@gmail.com,\"'-3\","]
        check(f"csv_injection.bulk{'.raw' if raw else ''}", rc == 0 and len(rows) == 3
              and all(r.startswith(w) for r, w in zip(rows, want)), (rc, err, rows))
    out = os.path.join(tmp, "out.jsonl")
    rc, _, err = run(["verify", "--input", src, "--output", out, "--quiet"])
    recs = [json.loads(l) for l in open(out)]
    check("csv_injection.jsonl_unchanged", rc == 0 and recs[0]["row"]["name"] == '=HYPERLINK("http://evil.test","x")'
          and recs[0]["row"]["=cmd"] == "+1", (rc, err, recs))

# --- output files: never through a planted symlink, not world-readable, never over the input -----
old_umask = os.umask(0o022)
with tempfile.TemporaryDirectory() as tmp:
    src = os.path.join(tmp, "in.csv")
    with open(src, "w") as f:
        f.write("email\na@gmail.com\n")
    out = os.path.join(tmp, "out.csv")
    victim = os.path.join(tmp, "victim")
    with open(victim, "w") as f:
        f.write("precious\n")
    os.symlink(victim, out + ".partial")
    rc, _, err = run(["verify", "--input", src, "--output", out, "--quiet"])
    check("partial.symlink_refused", rc == 3 and b"symbolic link" in err and b"out.csv.partial" in err, (rc, err))
    check("partial.symlink_target_unchanged", open(victim).read() == "precious\n", open(victim).read())
    check("partial.symlink_kept_no_output", os.path.islink(out + ".partial") and not os.path.exists(out),
          os.listdir(tmp))
    os.unlink(out + ".partial")
    # A stale .partial of ours (a crashed run's) is replaced.
    with open(out + ".partial", "w") as f:
        f.write("stale\n")
    rc, _, err = run(["verify", "--input", src, "--output", out, "--quiet", "--split", os.path.join(tmp, "split")])
    check("partial.stale_replaced", rc == 0 and not os.path.exists(out + ".partial")
          and open(out).read().startswith("email,normalized"), (rc, err))
    mode = lambda p: os.stat(p).st_mode & 0o7777  # noqa: E731
    check("mode.output_0640", mode(out) == 0o640, oct(mode(out)))
    check("mode.split_0640", mode(os.path.join(tmp, "split", "valid.csv")) == 0o640,
          oct(mode(os.path.join(tmp, "split", "valid.csv"))))
    # --state and --cache (network levels): DNS goes to a closed loopback port, answers fail fast.
    state, cache = os.path.join(tmp, "run.state"), os.path.join(tmp, "run.cache")
    rc, _, err = run(["verify", "--level", "dns", "--dns-server", "127.0.0.1:9", "--dns-timeout", "50", "--input", src,
                      "--output", os.path.join(tmp, "dns.csv"), "--state", state, "--cache", cache, "--quiet"])
    check("mode.state_cache_0640", rc == 0 and mode(state) == 0o640 and mode(cache) == 0o640,
          (rc, err, os.path.exists(state) and oct(mode(state)), os.path.exists(cache) and oct(mode(cache))))
    # --output (or another file the run writes) is the input: refused before anything is written.
    os.link(src, os.path.join(tmp, "hard.csv"))
    os.symlink(src, os.path.join(tmp, "soft.csv"))
    before = open(src, "rb").read()
    for name, args in [("same_path", ["--output", src]),
                       ("other_spelling", ["--output", os.path.join(tmp, ".", "split", "..", "in.csv")]),
                       ("hard_link", ["--output", os.path.join(tmp, "hard.csv")]),
                       ("symlink", ["--output", os.path.join(tmp, "soft.csv")]),
                       ("summary", ["--output", os.path.join(tmp, "o2.csv"), "--summary", src])]:
        rc, _, err = run(["verify", "--input", src, "--quiet"] + args)
        check(f"input_is_output.{name}", rc == 2 and b"is the --input file" in err, (rc, err))
        check(f"input_is_output.{name}.unchanged", open(src, "rb").read() == before, "input changed")
    check("input_is_output.nothing_written", not os.path.exists(os.path.join(tmp, "o2.csv"))
          and not any(n.endswith(".partial") for n in os.listdir(tmp)), os.listdir(tmp))
os.umask(old_umask)

# --- UTF-16 input with a BOM is transcoded (docs/bulk.md) -----------------------------------------
with tempfile.TemporaryDirectory() as tmp:
    src = os.path.join(tmp, "in.csv")
    with open(src, "wb") as f:
        f.write("email,name\r\nj\u00f6rg@gmail.com,J\u00f6rg \U0001F600\r\n".encode("utf-16"))  # BOM + native order
    out = os.path.join(tmp, "out.csv")
    rc, _, err = run(["verify", "--input", src, "--output", out, "--quiet"])
    rows = list(csv.reader(open(out, encoding="utf-8", newline="")))
    check("utf16.transcoded", rc == 0 and rows[0][:2] == ["email", "name"]
          and rows[1][:2] == ["j\u00f6rg@gmail.com", "J\u00f6rg \U0001F600"]
          and rows[1][rows[0].index("status")] == "valid", (rc, err, rows))

# The plain path reads lines as bytes: UTF-16 on standard input is refused with the way out.
rc, out, err = run(["verify"], "a@gmail.com\n".encode("utf-16"))
check("utf16.stdin_refused", rc == 2 and b"--input -" in err and b"iconv" in err and out == b"", (rc, out, err))
rc, out, err = run(["verify", "--input", "-", "--output", "-", "--input-format", "txt", "--output-format", "jsonl"],
                   "a@gmail.com\n".encode("utf-16"))
check("utf16.stdin_input_transcoded", rc == 0 and records(out)[0]["email"] == "a@gmail.com", (rc, out, err))

rc, out, _ = run(["verify", "--help"])
check("help.level_default_smtp", b"{syntax,dns,smtp}=smtp" in out, out)
rc, _, _ = run(["verify", "--format", "xml", "a@b.com"])
check("exit.usage.format", rc == 2, rc)
rc, _, _ = run(["frobnicate"])
check("exit.usage.subcommand", rc == 2, rc)
rc, out, _ = run(["--version"])
check("version", rc == 0 and out.startswith(b"mailsift "), out)
rc, out, _ = run(["verify", "--help"])
check("help", rc == 0 and b"--level" in out and b"--format" in out, out)

# Every option in --help is documented in the README.
readme = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
for opt in ["--level", "--format", "--disposable-file", "--disposable-domain", "--allow-file", "--allow-domain",
            "--free-file", "--role-file", "--extended-disposable", "--no-builtin-lists", "--strict",
            "--dns-server", "--dns-timeout", "--dns-concurrency", "--allow-private-targets", "--domain-blocklist",
            "--dns-stats", "--csv-raw"]:
    check(f"readme.{opt}", opt in readme and opt.encode() in out, opt)

sys.exit(check.summary())
