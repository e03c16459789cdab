#!/usr/bin/env python3
"""Integration test of `mailsift verify --level dns` against the mail lab (lab/README.md).

Usage: lab_test.py PATH/TO/mailsift REPO_ROOT

Starts its own lab in a uniquely named network namespace, runs the real binary inside it (so the
binary's resolver is the lab's dnsmasq, from /etc/netns/NAME/resolv.conf), checks each JSON result,
prints "N passed, N failed" and always tears the lab down. Needs root and `ip netns`: without them
it FAILS (exit 1) rather than skipping, because CI runs as root and a silent skip would hide a
broken lab. Nothing leaves the namespace: it has only a loopback interface.
"""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
import lab  # noqa: E402
from checks import Checks  # noqa: E402

BIN, ROOT = os.path.abspath(sys.argv[1]), sys.argv[2]
NAME = f"mstest{os.getpid()}"
Z = "mailsift-lab.net"


check = Checks()


def verify(*args, stdin=None):
    # Timeout per try 1 s: the `timeout` case costs 1 + 2 s instead of 6 s, and a local answer
    # delayed by a busy machine (CI runs this beside a build) is still an answer.
    cmd = ["ip", "netns", "exec", NAME, BIN, "verify", "--level", "dns", "--dns-timeout", "1000",
           "--format", "jsonl", *args]
    p = subprocess.run(cmd, input=stdin, capture_output=True, timeout=120)
    if p.returncode != 0:
        print(f"mailsift exited {p.returncode}: {p.stderr.decode(errors='replace')}")
    return {r["email"]: r for r in (json.loads(l) for l in p.stdout.decode().splitlines())}


def main():

    cases = ["mx-order", "implicit-mx", "null-mx", "nope", "no-mail", "servfail", "refused", "timeout",
             "mx-noaddr", "mx-nxtarget", "mx-ipliteral", "mx-cname", "xn--bcher-kva", "spf-reject-all",
             "dmarc-reject", "dmarc-none", "sub.dmarc-reject", "unsafe-loopback", "unsafe-mixed"]
    addrs = [f"alice@{c}.{Z}" for c in cases] + [f"bob@b\u00fccher.{Z}", "x@[10.25.0.10]", "not an address"]
    r = verify("--allow-private-targets", *addrs)
    g = lambda c: r.get(f"alice@{c}.{Z}") or {}
    want = {  # domain: (status, reason)
        "mx-order": ("valid", "mx_found"), "implicit-mx": ("valid", "mx_found"), "null-mx": ("invalid", "null_mx"),
        "nope": ("invalid", "no_domain"), "no-mail": ("invalid", "no_mail_server"),
        "servfail": ("unknown", "dns_error"), "refused": ("unknown", "dns_error"), "timeout": ("unknown", "dns_error"),
        "mx-noaddr": ("invalid", "no_mail_server"), "mx-nxtarget": ("invalid", "no_mail_server"),
        "mx-ipliteral": ("invalid", "no_mail_server"), "mx-cname": ("valid", "mx_found"),
        "xn--bcher-kva": ("valid", "mx_found"), "spf-reject-all": ("risky", "parked_domain"),
        "dmarc-reject": ("valid", "mx_found"), "dmarc-none": ("valid", "mx_found"),
        "sub.dmarc-reject": ("valid", "mx_found"),
        "unsafe-loopback": ("valid", "mx_found"), "unsafe-mixed": ("valid", "mx_found"),
    }
    for c, (st, rs) in want.items():
        got = g(c)
        check(f"{c}.verdict", (got.get("status"), got.get("reason")) == (st, rs), (got.get("status"), got.get("reason")))
        check(f"{c}.checks", got.get("checks") == ["syntax", "domain", "dns"], got.get("checks"))
    check("count", len(r) == len(addrs), len(r))

    # RFC 5321 §5.1: preference order; the two preference-40 hosts in either order.
    mx = g("mx-order")["dns"]["mx"]
    hosts = [m["host"].split(".")[0] for m in mx]
    check("mx-order.order", hosts[:3] == ["mx1", "mx2", "mx3"] and sorted(hosts[3:]) == ["mx4a", "mx4b"], hosts)
    check("mx-order.prefs", [m["preference"] for m in mx] == [10, 20, 30, 40, 40], mx)
    check("mx-order.addrs", mx[0]["addresses"] == ["10.25.0.21", "fd00:25::21"], mx[0])
    d = g("implicit-mx")["dns"]
    check("implicit-mx.flag", d["implicit_mx"] and d["mx"][0]["host"] == f"implicit-mx.{Z}"
          and d["mx"][0]["addresses"] == ["10.25.0.30", "fd00:25::30"], d)
    check("null-mx.flag", g("null-mx")["dns"]["null_mx"] is True and g("null-mx")["score"] == 0, g("null-mx"))
    check("nope.error", g("nope")["dns"]["error"] == "NXDOMAIN", g("nope")["dns"])
    check("servfail.error", g("servfail")["dns"]["error"] == "SERVFAIL", g("servfail")["dns"])
    check("refused.error", g("refused")["dns"]["error"] == "REFUSED", g("refused")["dns"])
    check("timeout.error", g("timeout")["dns"]["error"] == "TIMEOUT", g("timeout")["dns"])
    check("no-mail.error", g("no-mail")["dns"]["mx"][0]["error"] == "NODATA", g("no-mail")["dns"])
    check("mx-noaddr.error", g("mx-noaddr")["dns"]["mx"][0]["error"] == "NODATA", g("mx-noaddr")["dns"])
    check("mx-nxtarget.error", g("mx-nxtarget")["dns"]["mx"][0]["error"] == "NXDOMAIN", g("mx-nxtarget")["dns"])
    check("mx-ipliteral.error", g("mx-ipliteral")["dns"]["mx"][0]["error"] == "IP_LITERAL_NAME", g("mx-ipliteral")["dns"])
    m = g("mx-cname")["dns"]["mx"][0]
    check("mx-cname.follows", m["host"] == f"alias.mx-cname.{Z}" and "10.25.0.10" in m["addresses"], m)
    check("idn.same_domain", r.get(f"bob@b\u00fccher.{Z}", {}).get("reason") == "mx_found", r.get(f"bob@b\u00fccher.{Z}"))
    spf = g("spf-reject-all")["dns"]
    check("spf-reject-all.spf", spf["spf"] == {"record": "v=spf1 -all", "all": "-", "multiple": False} and spf["implicit_mx"], spf)
    dr = g("dmarc-reject")["dns"]
    check("dmarc-reject.policy", dr["dmarc"]["policy"] == "reject" and dr["spf"]["all"] == "~", dr)
    check("dmarc-none.policy", g("dmarc-none")["dns"]["dmarc"]["policy"] == "none"
          and g("dmarc-none")["dns"]["spf"]["all"] == "?", g("dmarc-none")["dns"])
    check("dmarc-reject.own", dr["dmarc"]["inherited"] is False and dr["dmarc"]["domain"] == f"dmarc-reject.{Z}"
          and dr["dmarc"]["subdomain_policy"] is None, dr["dmarc"])
    # RFC 7489 §6.6.3: no _dmarc of its own → the organizational domain's record (mailsift-lab.net,
    # not the parent dmarc-reject), whose sp= applies to a subdomain (§6.3).
    sd = g("sub.dmarc-reject")["dns"]["dmarc"]
    check("sub.dmarc-reject.inherited", sd == {"record": "v=DMARC1; p=none; sp=quarantine", "policy": "quarantine",
                                               "subdomain_policy": "quarantine", "multiple": False,
                                               "inherited": True, "domain": Z}, sd)
    # MX + SPF + DMARC 0.65; mx-order has no SPF, and its DMARC is the inherited one (0.60 + 0.02).
    check("score.dns_evidence", g("dmarc-reject")["score"] == 0.65 and g("mx-order")["score"] == 0.62
          and g("mx-order")["dns"]["dmarc"]["inherited"] is True,
          (g("dmarc-reject")["score"], g("mx-order")["score"]))
    check("literal.allowed", r.get("x@[10.25.0.10]", {}).get("reason") == "address_literal", r.get("x@[10.25.0.10]"))
    check("bad_line.goes_on", r.get("not an address", {}).get("status") == "invalid", r.get("not an address"))

    # Target safety on (the default): loopback refused with its reason; every lab host is private.
    r = verify(f"a@unsafe-loopback.{Z}", f"a@unsafe-mixed.{Z}", f"a@unsafe-linklocal.{Z}", f"a@unsafe-private.{Z}",
               "a@[127.0.0.1]", "a@[IPv6:::1]")
    u = r[f"a@unsafe-loopback.{Z}"]
    check("unsafe-loopback.refused", (u["status"], u["reason"]) == ("invalid", "unsafe_target")
          and u["dns"]["mx"][0]["refused"] == [{"address": "127.0.0.1", "reason": "loopback"},
                                               {"address": "::1", "reason": "loopback"}]
          and u["dns"]["mx"][0]["addresses"] == [], u)
    mixed = r[f"a@unsafe-mixed.{Z}"]["dns"]["mx"]
    check("unsafe-mixed.reasons", [x["refused"][0]["reason"] for x in mixed] == ["loopback", "private"], mixed)
    ll = r[f"a@unsafe-linklocal.{Z}"]
    check("unsafe-linklocal", ll["reason"] == "unsafe_target"
          and {x["reason"] for x in ll["dns"]["mx"][0]["refused"]} == {"link_local"}, ll)
    check("unsafe-private", r[f"a@unsafe-private.{Z}"]["reason"] == "unsafe_target", r[f"a@unsafe-private.{Z}"])
    check("literal.loopback", r["a@[127.0.0.1]"]["reason"] == "unsafe_target", r["a@[127.0.0.1]"])
    check("literal.loopback6", r["a@[IPv6:::1]"]["reason"] == "unsafe_target", r["a@[IPv6:::1]"])

    # RHSBL (RFC 5782): listed domains carry the hit and its TXT reason; others are not listed.
    r = verify("--allow-private-targets", "--domain-blocklist", f"rhsbl.{Z}",
               f"a@spam.{Z}", "a@listed-domain.com", f"a@mailbox.{Z}")
    s = r[f"a@spam.{Z}"]
    check("rhsbl.listed", s["flags"]["blocklisted"] and s["dns"]["blocklists"][0]["answer"] == "127.0.0.2"
          and "listed" in s["dns"]["blocklists"][0]["text"] and s["dns"]["blocklists"][0]["zone"] == f"rhsbl.{Z}", s)
    check("rhsbl.listed2", r["a@listed-domain.com"]["flags"]["blocklisted"], r["a@listed-domain.com"])
    mb = r[f"a@mailbox.{Z}"]
    check("rhsbl.not_listed", not mb["flags"]["blocklisted"] and mb["reason"] == "mx_found", mb)

    # The lab resolver via an explicit --dns-server (IPv6 form) gives the same answers.
    r = verify("--allow-private-targets", "--dns-server", "[fd00:53::1]:53", f"a@mx-order.{Z}", f"a@nope.{Z}")
    check("dns-server.v6", r[f"a@mx-order.{Z}"]["reason"] == "mx_found" and r[f"a@nope.{Z}"]["reason"] == "no_domain", r)
    return 0


lab.run(ROOT, NAME, check, main)
