#!/usr/bin/env python3
"""The Debian package (issue 18): built by CPack from the build directory, checked with lintian,
unpacked in a throwaway root and exercised there: the binary's --version, the man pages, the shipped
config file parsed by the binary, the systemd units verified by systemd-analyze (and their
`systemd-analyze security` exposure), and the maintainer scripts run in a mount namespace over a
copy of /etc and an empty dpkg database (the host's users and dpkg state are never touched).

Usage: package_test.py PATH/TO/mailsift REPO_ROOT   (root: it mounts inside its own namespace)
"""
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "common"))
from checks import Checks  # noqa: E402

BIN, ROOT = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
BUILD = os.path.dirname(BIN)
check = Checks()


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def main():
    for old in glob.glob(os.path.join(BUILD, "package", "mailsift_*.deb")):
        os.remove(old)
    p = run(["cpack", "-G", "DEB"], cwd=BUILD, timeout=300)
    debs = glob.glob(os.path.join(BUILD, "package", "mailsift_*_amd64.deb"))
    version = run([BIN, "--version"]).stdout.split()[-1]
    check("package.built", p.returncode == 0 and [os.path.basename(d) for d in debs] == [f"mailsift_{version}_amd64.deb"],
          (p.stdout[-500:], p.stderr[-500:], debs))
    if not debs:
        return check.summary()
    deb = debs[0]
    lint = run(["lintian", "--fail-on", "error", "--suppress-tags-from-file",
                os.path.join(ROOT, "dist", "debian", "lintian-suppress"), deb], timeout=300)
    tags = [l for l in lint.stdout.splitlines() if re.match(r"^[EW]: ", l)]
    check("package.lintian_clean", lint.returncode == 0 and not tags, (lint.returncode, tags, lint.stderr[-300:]))
    info = run(["dpkg-deb", "-f", deb, "Depends", "Conffiles"]).stdout
    check("package.depends", "adduser" in info and "libssl3" in info and "libsystemd0" in info, info)

    tmp = tempfile.mkdtemp(prefix="mailsift-package-")
    try:
        root = os.path.join(tmp, "root")
        run(["dpkg-deb", "-x", deb, root], check=True)
        ctl = os.path.join(tmp, "control")
        run(["dpkg-deb", "-e", deb, ctl], check=True)
        exe = os.path.join(root, "usr", "bin", "mailsift")
        v = run([exe, "--version"])
        check("package.version", v.returncode == 0 and v.stdout.strip() == f"mailsift {version}", v.stdout)
        pages = sorted(os.path.relpath(f, root) for f in glob.glob(os.path.join(root, "usr/share/man/man*/*.gz")))
        check("package.man_pages", pages == ["usr/share/man/man1/mailsift-cluster.1.gz", "usr/share/man/man1/mailsift-history.1.gz", "usr/share/man/man1/mailsift-verify.1.gz",
                                             "usr/share/man/man1/mailsift.1.gz", "usr/share/man/man8/mailsift-lists.8.gz",
                                             "usr/share/man/man8/mailsift-serve.8.gz", "usr/share/man/man8/mailsift-worker.8.gz"], pages)
        bad = []
        for page in pages:
            m = run(["man", "--warnings", "-l", os.path.join(root, page)], env=dict(os.environ, MANWIDTH="80"))
            if m.returncode != 0 or m.stderr.strip() or "--listen" not in m.stdout and "serve" in page:
                bad.append((page, m.returncode, m.stderr[:300]))
        check("package.man_pages_render", not bad, bad)
        conf = os.path.join(root, "etc", "mailsift", "mailsift.conf")
        # Every section of the shipped config is checked whichever subcommand runs.
        c = run([exe, "verify", "--config", conf, "--level", "syntax", "a@b.com"])
        check("package.config_parses", c.returncode == 0 and '"status":"valid"' in c.stdout, (c.returncode, c.stderr[-300:]))
        with open(os.path.join(tmp, "broken.conf"), "w") as f:
            f.write(open(conf).read() + "\n[serve]\nlistne = 1\n")
        b = run([exe, "serve", "--config", os.path.join(tmp, "broken.conf")])
        check("package.config_error_has_line", b.returncode == 2 and re.search(r"broken\.conf:\d+: unknown key 'listne'", b.stderr),
              (b.returncode, b.stderr[-300:]))
        # The units, as installed: /usr/bin/mailsift is the unpacked binary in this namespace only
        # (an overlay of /usr/bin), so systemd-analyze checks what the package would run.
        units = os.path.join(root, "lib", "systemd", "system")
        script = f"""set -e
mount -t overlay overlay -o lowerdir={root}/usr/bin:/usr/bin /usr/bin
systemd-analyze verify {units}/mailsift.service
cp {units}/mailsift-worker@.service {tmp}/mailsift-worker@1.service
systemd-analyze verify {tmp}/mailsift-worker@1.service
systemd-analyze verify {units}/mailsift-lists.service {units}/mailsift-lists.timer
"""
        a = run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script])
        check("package.units_verify", a.returncode == 0 and not a.stderr.strip(), (a.returncode, a.stderr[-600:]))
        exposure = {}
        for unit in ("mailsift.service", "mailsift-worker@.service", "mailsift-lists.service"):
            s = run(["systemd-analyze", "security", "--offline=true", os.path.join(units, unit)])
            m = re.search(r"Overall exposure level for \S+: ([\d.]+)", s.stdout)
            exposure[unit] = float(m.group(1)) if m else None
        print(f"systemd-analyze security exposure: {exposure}")
        check("package.units_hardened", all(e is not None and e <= 2.0 for e in exposure.values()), exposure)
        # The maintainer scripts over a copy of /etc and an empty dpkg database.
        etc = os.path.join(tmp, "etc")
        shutil.copytree("/etc", etc, symlinks=True, ignore_dangling_symlinks=True,
                        ignore=shutil.ignore_patterns("ssl", "alternatives", "mailsift"))
        shutil.copytree(os.path.join(root, "etc", "mailsift"), os.path.join(etc, "mailsift"))
        dpkg = os.path.join(tmp, "dpkg")
        os.makedirs(dpkg)
        open(os.path.join(dpkg, "statoverride"), "w").close()
        script = f"""set -e
mount --bind {etc} /etc
mount --bind {dpkg} /var/lib/dpkg
mount -t tmpfs tmpfs /run
{ctl}/postinst configure
getent passwd mailsift
stat -c '%U:%G %a' /etc/mailsift/mailsift.conf
{ctl}/postinst configure
cat /var/lib/dpkg/statoverride
{ctl}/prerm remove
{ctl}/postrm remove
{ctl}/postrm purge
echo "after purge: $(cat /var/lib/dpkg/statoverride | wc -l) overrides"
"""
        m = run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script], timeout=120)
        out = m.stdout
        user = re.search(r"^mailsift:x:(\d+):(\d+):[^:]*:/var/lib/mailsift:(\S+)$", out, re.M)
        check("package.postinst_user", m.returncode == 0 and user and int(user.group(1)) < 1000 and
              user.group(3).endswith("nologin"), (m.returncode, out[-600:], m.stderr[-600:]))
        check("package.postinst_config_mode", "root:mailsift 640" in out and
              out.count("root mailsift 640 /etc/mailsift/mailsift.conf") == 1, out[-600:])  # twice run, once recorded
        check("package.postrm_purge", "after purge: 0 overrides" in out, out[-300:])
        with open("/etc/passwd") as f:
            check("package.host_untouched", "mailsift:" not in f.read())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return check.summary()


sys.exit(main())
