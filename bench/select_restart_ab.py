#!/usr/bin/env python3
"""SELECT after a restart, two buzon binaries A/B (docs/benchmarks.md, "Issue 12: lazy
SELECT after restart").

For each binary, a hard-linked copy of a Maildir (bench/genmail.py data) gets a trusted
index snapshot (one session: SELECT, 2.2 s, LOGOUT: the mail process writes it at
exit). Then, RUNS times, old and new interleaved (the order alternating), a fresh
`buzon imap -c CONF -u USER` (PREAUTH over stdin/stdout, so process start-up is not
counted) is timed for `a SELECT INBOX` up to its tagged reply, then `b FETCH 1:* (UID
FLAGS)` up to its tagged reply, then LOGOUT. Prints the median and minimum of SELECT,
FETCH, their sum and the session process's CPU time (user + system, start to exit) per
binary. With --dovecot, Dovecot's imap binary is timed the same
way in the same loop on its own copy (PREAUTH over stdin/stdout with USER, HOME and
MAIL set; its index files in the Maildir, built by the setup sessions), which is
Dovecot's "restart": a new imap process with its index on disk.

    bench/select_restart_ab.py --old OLD/buzon --new NEW/buzon \
        --maildir build-bench-data/base-v2-20000-2000-200 --work /tmp/ab [--runs 9] \
        [--dovecot /usr/lib/dovecot/imap]

As root the sessions run as --uid/--gid (default: the Maildir's owner).
"""
import argparse
import os
import shutil
import statistics
import subprocess
import time


CMDS = {}


def session_cmd(binary, conf, user):
    if binary in CMDS:
        return CMDS[binary]
    return [binary, "imap", "-c", conf, "-u", user]


def read_until(proc, tag, buf):
    """Read stdout until a line starting with `tag ` ends; returns the rest."""
    want = b"\r\n" + tag + b" "
    fd = proc.stdout.fileno()
    while True:
        i = buf.find(want)
        if i >= 0:
            j = buf.find(b"\r\n", i + 2)
            if j >= 0:
                line = buf[i + 2:j]
                if not line.startswith(tag + b" OK"):
                    raise SystemExit("%s failed: %r" % (tag.decode(), line))
                return buf[j + 2:]
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            raise SystemExit("EOF before %s's reply" % tag.decode())
        buf += chunk


def one_session(binary, conf, user, fetch=True, linger=0.0):
    p = subprocess.Popen(session_cmd(binary, conf, user), stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    buf = b"\r\n"
    while b"PREAUTH" not in buf:
        chunk = os.read(p.stdout.fileno(), 65536)
        if not chunk:
            raise SystemExit("no greeting")
        buf += chunk
    buf = b"\r\n"
    t0 = time.perf_counter()
    p.stdin.write(b"a SELECT INBOX\r\n")
    p.stdin.flush()
    buf = read_until(p, b"a", buf)
    t1 = time.perf_counter()
    t2 = t1
    if fetch:
        p.stdin.write(b"b FETCH 1:* (UID FLAGS)\r\n")
        p.stdin.flush()
        buf = read_until(p, b"b", b"\r\n" + buf)
        t2 = time.perf_counter()
    if linger:
        time.sleep(linger)
    p.stdin.write(b"z LOGOUT\r\n")
    p.stdin.flush()
    p.stdin.close()
    p.stdout.read()
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    # the whole process's CPU time (start-up and exit included): less noisy than the
    # wall clock on a busy machine
    return t1 - t0, t2 - t1, ru.ru_utime + ru.ru_stime


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--old", required=True)
    ap.add_argument("--new", required=True)
    ap.add_argument("--maildir", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--runs", type=int, default=9)
    ap.add_argument("--uid", type=int)
    ap.add_argument("--gid", type=int)
    ap.add_argument("--dovecot", help="Dovecot's imap binary (/usr/lib/dovecot/imap)")
    args = ap.parse_args()
    st = os.stat(args.maildir)
    uid = args.uid if args.uid is not None else st.st_uid
    gid = args.gid if args.gid is not None else st.st_gid
    if os.getuid() != 0:
        uid, gid = os.getuid(), os.getgid()
    bins = {"old": os.path.abspath(args.old), "new": os.path.abspath(args.new)}
    if args.dovecot:
        bins["dovecot"] = os.path.abspath(args.dovecot)
    confs = {}
    for name in bins:
        d = os.path.join(args.work, name)
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(os.path.join(d, "mail"))
        os.makedirs(os.path.join(d, "run"))
        mail = os.path.join(d, "mail", "bench")
        subprocess.run(["cp", "-al", args.maildir, mail], check=True)
        for junk in (".hits", ".complete"):
            if os.path.exists(os.path.join(mail, junk)):
                os.unlink(os.path.join(mail, junk))
        for p in (d, os.path.join(d, "mail"), os.path.join(d, "run")):
            os.chmod(p, 0o755)
        with open(os.path.join(d, "passwd"), "w") as f:
            f.write("bench:{PLAIN}x:%d:%d::%s::\n" % (uid, gid, d))
        conf = os.path.join(d, "buzon.conf")
        with open(conf, "w") as f:
            f.write("mail_location = maildir:%s/mail/%%u\n" % d)
            f.write("passwd_file = %s/passwd\n" % d)
            f.write("base_dir = %s/run\n" % d)
            f.write("first_valid_uid = %d\n" % min(uid, 500))
            f.write("log_level = warn\n")
        if os.getuid() == 0:
            os.chown(mail, uid, gid)
        if name == "dovecot":
            conf = os.path.join(d, "dovecot.conf")
            with open(conf, "w") as f:
                f.write("base_dir = %s/run\nstate_dir = %s/run\n" % (d, d))
                f.write("log_path = %s/dovecot.log\nprotocols = imap\nssl = no\n" % d)
                f.write("mail_location = maildir:%s\n" % mail)
                f.write("namespace inbox {\n  inbox = yes\n  separator = .\n}\n")
            os.chmod(conf, 0o644)
            cmd = ["env", "-i", "USER=bench", "HOME=" + mail, "MAIL=maildir:" + mail,
                   bins[name], "-c", conf]
            if os.getuid() == 0:
                cmd = ["setpriv", "--reuid=%d" % uid, "--regid=%d" % gid,
                       "--clear-groups"] + cmd
            CMDS[bins[name]] = cmd
        confs[name] = conf
        # the first session scans and writes the uidlist; the snapshot written at
        # its exit is trusted once the directories are 2 s older than it
        one_session(bins[name], conf, "bench", fetch=False, linger=2.2)
        one_session(bins[name], conf, "bench", fetch=False)
    res = {n: [] for n in bins}
    order = list(bins)
    for r in range(args.runs):
        for name in (order if r % 2 == 0 else order[::-1]):
            res[name].append(one_session(bins[name], confs[name], "bench"))
    for name in order:
        sel = [r[0] for r in res[name]]
        fet = [r[1] for r in res[name]]
        tot = [r[0] + r[1] for r in res[name]]
        cpu = [r[2] for r in res[name]]
        print("%s %s: SELECT median %.2f ms (min %.2f), FETCH 1:* (UID FLAGS) median "
              "%.2f ms (min %.2f), both median %.2f ms (min %.2f), process CPU median "
              "%.1f ms (min %.1f)" % (
                  name, bins[name], statistics.median(sel) * 1e3, min(sel) * 1e3,
                  statistics.median(fet) * 1e3, min(fet) * 1e3,
                  statistics.median(tot) * 1e3, min(tot) * 1e3,
                  statistics.median(cpu) * 1e3, min(cpu) * 1e3))


if __name__ == "__main__":
    main()
