"""What the Python lab tests share: start a lab of their own, run, always tear it down, report.

Needs root and `ip netns`: without them a test FAILS rather than skipping, because CI runs as root
and a silent skip would hide a broken lab. Nothing leaves the namespace."""
import os
import shutil
import subprocess
import sys


def env_of(name):
    """The facts lab/up.sh wrote to $LAB_DIR/lab.env, as a dict."""
    out = {}
    for line in open(f"/tmp/mailsift-lab-{name}/lab.env"):
        line = line.strip()
        if "=" in line and not line.startswith("#"):
            k, v = line.split("=", 1)
            out[k] = v.strip("'\"")
    return out


def run(root, name, check, main, env=None):
    """Starts lab `name` (lab/up.sh with `env`), runs main() -> exit status, tears the lab down
    whatever happened, prints the checks' summary and exits."""
    rc = 1
    try:
        if os.geteuid() != 0 or shutil.which("ip") is None or \
                subprocess.run(["ip", "netns", "list"], capture_output=True).returncode != 0:
            print("FAIL lab: needs root and `ip netns` (CI runs as root); not skipping silently")
        else:
            up = subprocess.run(["bash", os.path.join(root, "lab", "up.sh"), name], capture_output=True,
                                timeout=120, env=env)
            if up.returncode != 0:
                print("FAIL lab: up.sh failed\n" + up.stderr.decode(errors="replace"))
            else:
                rc = main()
    finally:
        subprocess.run(["bash", os.path.join(root, "lab", "down.sh"), name], capture_output=True, timeout=120)
    status = check.summary()
    sys.exit(1 if (status or rc) else 0)
