#!/usr/bin/env python3
"""tests/bench-smoke/run.py — the JMAP benchmark's harness works (no timing asserts).

Runs bench/jmap/run.py --quick on a small folder (300 messages, 2 repetitions, 0.3 s
throughput runs) against the given buzon and whatever else is here: Cyrus when
`make bench` has unpacked it already (--no-download) and its libraries are installed,
Roundcube and Dovecot when installed (they come with scripts/install-deps.sh check), all
as root only. Checks that it exits 0, that every system it ran gave the same 50 subjects
in the same order (the harness's own comparison) and that its result line has a latency
and both request rates for each. The figures themselves are not judged: make bench does
that on a quiet machine.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--buzon", default=os.path.join(REPO, "build", "buzon"))
    args = ap.parse_args()
    passed = failed = 0

    def check(ok, name, detail=""):
        nonlocal passed, failed
        if ok:
            passed += 1
            print("PASS %s" % name)
        else:
            failed += 1
            print("FAIL %s %s" % (name, detail))

    tmp = tempfile.mkdtemp(prefix="bench-smoke.", dir="/var/tmp")
    try:
        p = subprocess.run([sys.executable, os.path.join(REPO, "bench", "jmap", "run.py"),
                            "--quick", "-n", "300", "--reps", "2", "--seconds", "0.3",
                            "--first-reps", "1", "--no-download", "--dir", tmp,
                            "--buzon", os.path.abspath(args.buzon)],
                           capture_output=True, text=True, timeout=300)
        out = p.stdout + p.stderr
        sys.stdout.write("".join("  | " + ln + "\n" for ln in out.splitlines()[-30:]))
        check(p.returncode == 0, "bench/jmap/run.py --quick exits 0", "(exit %d)" % p.returncode)
        m = re.search(r"^result (.*)$", p.stdout, re.M)
        res = dict(kv.split("=", 1) for kv in m.group(1).split()) if m else {}
        check(res.get("correct") == "1", "the same 50 subjects in the same order everywhere")
        systems = [s for s in ("buzon", "cyrus", "rc_buzon", "rc_dovecot")
                   if s + "_p50_ms" in res]
        check("buzon" in systems, "buzon JMAP measured")
        for s in systems:
            check(all(float(res.get(s + k, "0")) > 0 for k in ("_p50_ms", "_p90_ms"))
                  and all(s + k in res for k in ("_rps_1", "_rps_4")),
                  "%s: latency and request rates reported" % s)
        print("systems measured: %s" % ", ".join(systems))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
