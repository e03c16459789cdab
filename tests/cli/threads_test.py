#!/usr/bin/env python3
"""--threads at the offline level (issue 15): `--threads 4` must write the same bytes as
`--threads 1` (the single-threaded path) on the plain path (jsonl, json, csv, table) and the bulk
path (CSV/TXT/JSONL in, CSV/JSONL out, --dedupe, --split, --summary), on the conformance corpus
made long enough for many blocks, on inputs smaller than a block, on an empty input, and on lines
that are not UTF-8 or too long.

Usage: threads_test.py PATH/TO/mailsift REPO_ROOT. Prints "N passed, N failed"; exits non-zero on failure.
"""
import csv
import gzip
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from checks import Checks  # noqa: E402

BIN, ROOT = sys.argv[1], sys.argv[2]
check = Checks()
BLOCK = 2048  # engine::kOfflineBlockRows


def run(args, stdin=b""):
    p = subprocess.run([BIN, "verify", "--level", "syntax"] + args, input=stdin, capture_output=True, timeout=120)
    return p.returncode, p.stdout, p.stderr


def first_diff(a, b):
    n = min(len(a), len(b))
    i = next((k for k in range(n) if a[k] != b[k]), n)
    return f"lengths {len(a)} vs {len(b)}, first difference at byte {i}: {a[max(0, i - 60):i + 60]!r} vs {b[max(0, i - 60):i + 60]!r}"


def same(name, args, stdin=b""):
    """--threads 1 and --threads 4 give the same exit status and bytes on standard output."""
    rc1, out1, err1 = run(args + ["--threads", "1"], stdin)
    rc4, out4, err4 = run(args + ["--threads", "4"], stdin)
    check(name + ".exit", rc1 == rc4, (rc1, rc4, err1[-300:], err4[-300:]))
    check(name + ".bytes", out1 == out4, first_diff(out1, out4))
    return rc1, out1


# ---- the corpus: the conformance addresses (one per line: those without a line break), the typo
# cases' domains, then all of it again with changes (case, +tags, dots) so that there are repeats
# for --dedupe, and enough rows for many blocks.
corpus = []
with open(os.path.join(ROOT, "tests", "conformance", "data", "address_corpus.csv"), newline="", encoding="utf-8") as f:
    for row in csv.DictReader(f):
        a = row["address"]
        if "\n" not in a and "\r" not in a:
            corpus.append(a)
with open(os.path.join(ROOT, "tests", "conformance", "data", "typo_suggestion_cases.csv"), newline="", encoding="utf-8") as f:
    rows = list(csv.reader(f))
    for row in rows[1:]:
        if row and "\n" not in row[0]:
            corpus.append("someone@" + row[0])
base = list(corpus)
for k in range(9):
    for i, a in enumerate(base):
        if k % 3 == 0:
            corpus.append(a.upper() if i % 2 else a)
        elif k % 3 == 1:
            corpus.append(a.replace("@", "+t%d@" % (i % 5), 1) if i % 3 else a)
        else:
            corpus.append(("first.last%d@gmail.com" % (i % 400)) if i % 4 == 0 else a)
check("corpus.many_blocks", len(corpus) > 4 * BLOCK, len(corpus))
lines = "\n".join(corpus).encode("utf-8") + b"\n"

# Lines that are not UTF-8, too long (over 4096 bytes: head kept, rest skipped), blank, CRLF.
odd = (b"ok@gmail.com\n\xff\xfe\xfd@x.com\nbad\xc3@gmail.com\n" + b"a" * 5000 + b"@gmail.com\n"
       + b"   \n\tspaced@gmail.com \r\n" + b"x@" + b"d" * 300 + b".com\n" + b"\xe2\x80\xae@rtl.com\n")

# ---- the plain path ----------------------------------------------------------------------------
for fmt in ["jsonl", "json", "csv", "table"]:
    rc, out = same("plain.corpus." + fmt, ["--format", fmt], lines)
    check("plain.corpus.%s.nonempty" % fmt, len(out) > len(lines), len(out))
    same("plain.small." + fmt, ["--format", fmt], b"a@gmail.com\nbad@@x\ninfo@mailinator.com\n")
    same("plain.empty." + fmt, ["--format", fmt], b"")
    same("plain.odd." + fmt, ["--format", fmt], odd)
    same("plain.block_edge." + fmt, ["--format", fmt], b"".join(b"u%d@gmail.com\n" % i for i in range(BLOCK)))
    same("plain.args." + fmt, ["--format", fmt, "a@gmail.com", "b@@c", "-x@y.com"])
same("plain.csv_raw", ["--format", "csv", "--csv-raw"], lines)
rc, out = same("plain.json_valid", ["--format", "json"], lines[:20000])
check("plain.json_parses", len(json.loads(out)) == lines[:20000].count(b"\n") + (0 if lines[:20000].endswith(b"\n") else 1), out[:200])
rc, _ = same("plain.strict_invalid", ["--strict", "--format", "jsonl"], lines)
check("plain.strict_invalid.exit", rc == 1, rc)
rc, _ = same("plain.strict_valid", ["--strict", "--format", "jsonl"], b"".join(b"u%d@gmail.com\n" % i for i in range(5000)))
check("plain.strict_valid.exit", rc == 0, rc)
rc, out = same("plain.utf16", ["--format", "jsonl"], "a@b.com\n".encode("utf-16"))
check("plain.utf16.refused", rc != 0, rc)

# ---- the bulk path -----------------------------------------------------------------------------
tmp = tempfile.mkdtemp(prefix="mailsift-threads-")


def path(*p):
    return os.path.join(tmp, *p)


def bulk(name, infile, outname, extra=(), compare_files=()):
    """Runs the bulk path with 1 and 4 threads into separate directories; compares the output, the
    split files and the summary (without its timings)."""
    results = {}
    for t in ("1", "4"):
        d = path(name + "." + t)
        os.makedirs(d, exist_ok=True)
        args = ["--input", infile, "--output", os.path.join(d, outname), "--threads", t, "--quiet"]
        args += [a.replace("{dir}", d) for a in extra]
        rc, out, err = run(args)
        got = {"rc": rc, "stdout": out}
        for f in [outname] + list(compare_files):
            p = os.path.join(d, f)
            if os.path.exists(p):
                with open(p, "rb") as fh:
                    data = fh.read()
                if f.endswith(".gz"):
                    data = gzip.decompress(data)
                if f.endswith("summary.json"):
                    s = json.loads(data)
                    s.pop("seconds", None)
                    s.pop("rows_per_second", None)
                    data = s
                got[f] = data
            else:
                got[f] = None
        results[t] = (got, err)
    one, four = results["1"][0], results["4"][0]
    check(name + ".exit", one["rc"] == four["rc"] == 0, (one["rc"], four["rc"], results["1"][1][-300:], results["4"][1][-300:]))
    for k in one:
        a, b = one[k], four[k]
        check("%s.%s" % (name, k), a == b, first_diff(a, b) if isinstance(a, bytes) and isinstance(b, bytes) else (a, b))
    check(name + ".nonempty", one[outname], one)
    return one


# CSV input with other columns (quoted fields, a comma inside, an empty address, a ragged row).
csv_in = path("list.csv")
with open(csv_in, "w", newline="", encoding="utf-8", errors="surrogateescape") as f:
    w = csv.writer(f, lineterminator="\n")
    w.writerow(["id", "Email", "note"])
    for i, a in enumerate(corpus):
        w.writerow([i, a, "n,%d" % i if i % 10 == 0 else "x"])
    w.writerow([len(corpus), "", "empty"])
    f.write("%d,short@gmail.com\n" % (len(corpus) + 1))
split_files = ["split/%s.%s" % (s, "{ext}") for s in ("valid", "invalid", "risky", "unknown")]


def splits(ext):
    return [s.replace("{ext}", ext) for s in split_files]


extra = ["--split", "{dir}/split", "--summary", "{dir}/summary.json"]
for dedupe in ("exact", "canonical"):
    one = bulk("bulk.csv_csv." + dedupe, csv_in, "out.csv", extra + ["--dedupe", dedupe], splits("csv") + ["summary.json"])
    s = one["summary.json"]
    check("bulk.csv_csv.%s.duplicates" % dedupe, s and s["duplicates"] > 1000, s)
    bulk("bulk.csv_jsonl." + dedupe, csv_in, "out.jsonl", extra + ["--dedupe", dedupe], splits("jsonl") + ["summary.json"])
bulk("bulk.csv_gz", csv_in, "out.csv.gz", ["--dedupe", "canonical"])
bulk("bulk.csv_raw", csv_in, "out.csv", ["--csv-raw"])

# TXT input (the odd lines too) → CSV and JSONL.
txt_in = path("list.txt")
with open(txt_in, "wb") as f:
    f.write(lines + odd)
bulk("bulk.txt_csv", txt_in, "out.csv", extra + ["--dedupe", "canonical"], splits("csv") + ["summary.json"])
bulk("bulk.txt_jsonl", txt_in, "out.jsonl", extra, splits("jsonl") + ["summary.json"])

# JSONL input with an unreadable line (not JSON) and objects with other members.
jsonl_in = path("list.jsonl")
with open(jsonl_in, "w", encoding="utf-8") as f:
    for i, a in enumerate(corpus[:9000]):
        f.write(json.dumps({"id": i, "email": a, "tags": ["a", i % 3]}) + "\n")
        if i == 4100:
            f.write("{not json\n")
bulk("bulk.jsonl_jsonl", jsonl_in, "out.jsonl", extra + ["--dedupe", "canonical"], splits("jsonl") + ["summary.json"])
bulk("bulk.jsonl_csv", jsonl_in, "out.csv", extra, splits("csv") + ["summary.json"])

# More distinct domains than the summary counts exactly (200,000; later new domains count in
# other_domains_rows): the cut-off must fall on the same row with blocks as row by row.
many_in = path("many.txt")
with open(many_in, "w") as f:
    for i in range(198000):
        f.write("u%d@d%d.com\n" % (i, i))
    # Around the cut-off (in one block), domains with one row, then domains with three rows in a
    # row: which of them get in decides other_domains_rows.
    for j in range(5000):
        for k in range(1 if j < 2500 else 3):
            f.write("v%d@e%d.com\n" % (k, j))
    for j in range(0, 5000, 3):
        f.write("w@e%d.com\n" % j)
one = bulk("bulk.many_domains", many_in, "out.csv", ["--summary", "{dir}/summary.json"], ["summary.json"])
check("bulk.many_domains.cut_off", one["summary.json"] and one["summary.json"]["other_domains_rows"] > 0, one.get("summary.json"))

# Small (fewer rows than a block) and empty inputs.
small_in = path("small.csv")
with open(small_in, "w") as f:
    f.write("email\na@gmail.com\nA@Gmail.com\nbad@@x\n")
bulk("bulk.small", small_in, "out.csv", extra + ["--dedupe", "canonical"], splits("csv") + ["summary.json"])
empty_in = path("empty.txt")
open(empty_in, "w").close()
for t in ("1", "4"):
    rc, out, err = run(["--input", empty_in, "--output", path("empty.%s.jsonl" % t), "--threads", t, "--quiet"])
    check("bulk.empty.exit." + t, rc == 0, err)
check("bulk.empty.same", open(path("empty.1.jsonl"), "rb").read() == open(path("empty.4.jsonl"), "rb").read())

# Standard output as the output ("-"), standard input as the input.
rc1, out1, _ = run(["--input", "-", "--output-format", "csv", "--threads", "1", "--quiet"], lines)
rc4, out4, _ = run(["--input", "-", "--output-format", "csv", "--threads", "4", "--quiet"], lines)
check("bulk.stdin_stdout", rc1 == rc4 == 0 and out1 == out4 and len(out1) > 0, first_diff(out1, out4))

sys.exit(check.summary())
