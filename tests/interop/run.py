#!/usr/bin/env python3
"""Run the interop tests (tests/interop/test_*.py): real clients (curl, mbsync, mutt in
tmux, Python imaplib) against a real buzon.  Each test starts its own server through
tests/lib/buzontest.py, prints one PASS/FAIL line and exits 0/1; this driver prints
those lines, the test's stderr when it failed (or with -v), and finally one line
"N passed, M failed".  Exit status 1 if anything failed.

  run.py [--buzon PATH] [--kind protocol|client] [--timeout S] [-v] [NAME...]

A test declares its kind in a "# kind: protocol" (speaks IMAP itself; run under the
sanitizer build too) or "# kind: client" (drives an external program) line.
"""
import argparse
import glob
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def kind_of(path):
    with open(path) as f:
        m = re.search(r"^# kind: (\w+)", f.read(), re.M)
    return m.group(1) if m else "client"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("names", nargs="*", help="test names (test_NAME.py or NAME)")
    ap.add_argument("--buzon", help="server binary (default $BUZON or build/buzon)")
    ap.add_argument("--kind", choices=("protocol", "client"), help="only tests of this kind")
    ap.add_argument("--timeout", type=float, default=180.0, help="seconds per test")
    ap.add_argument("-v", "--verbose", action="store_true", help="show every test's stderr")
    args = ap.parse_args()

    tests = sorted(glob.glob(os.path.join(HERE, "test_*.py")))
    if args.names:
        want = set(n if n.startswith("test_") else "test_" + n for n in args.names)
        want = set(n[:-3] if n.endswith(".py") else n for n in want)
        tests = [t for t in tests if os.path.basename(t)[:-3] in want]
    if args.kind:
        tests = [t for t in tests if kind_of(t) == args.kind]
    env = dict(os.environ)
    if args.buzon:
        env["BUZON"] = os.path.abspath(args.buzon)
    passed = failed = 0
    for t in tests:
        name = os.path.basename(t)[:-3]
        t0 = time.monotonic()
        p = subprocess.Popen([sys.executable, t], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env=env, errors="replace")
        try:
            out, err = p.communicate(timeout=args.timeout)
            rc = p.returncode
        except subprocess.TimeoutExpired:
            # SIGTERM first: buzontest stops its server (which runs in its own session).
            p.terminate()
            try:
                _, err = p.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                _, err = p.communicate()
            rc = -1
            out = "FAIL %s: timed out after %.0f s\n" % (name, args.timeout)
        dt = time.monotonic() - t0
        lines = [ln for ln in out.splitlines() if ln.startswith(("PASS ", "FAIL "))]
        result = lines[-1] if lines else "FAIL %s: no result line (exit %d)" % (name, rc)
        ok = rc == 0 and result.startswith("PASS ")
        if ok:
            passed += 1
        else:
            failed += 1
            if result.startswith("PASS "):
                result = "FAIL %s: printed PASS but exited %d" % (name, rc)
        print("%s (%.1fs)" % (result, dt))
        if args.verbose:
            for ln in err.splitlines():
                print("    " + ln)
        elif not ok:	# the failed checks and the server log, not every passed check
            tail = [ln for ln in err.splitlines() if not ln.startswith(("ok: ", "S: "))]
            for ln in tail[-80:]:
                print("    " + ln)
        sys.stdout.flush()
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
