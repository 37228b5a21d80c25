#!/usr/bin/env python3
"""tests/auth/run.py — PAM (system_users = yes) against a running buzon, black-box.

Needs root: it writes /etc/pam.d/buzon (pam_unix auth + account, as Debian's
common-auth/common-account, plus a pam_exec line that records PAM_RHOST), creates a
system user with useradd + chpasswd (uid >= 2000) and removes both afterwards (the
PAM file only if it did not exist before; an existing one is put back).  Servers are
started with tests/lib/buzontest.py (free ports on 127.0.0.1, auth_allow_cleartext =
yes so that plain LOGIN works from the other loopback addresses 127.0.0.x, which each
have their own failure penalty).

Cases (docs/security.md, "PAM workers"):
  PAM-01  an unknown user and a system user with a wrong password fail equally fast
          (medians within 10 %, each from a fresh client address)
  PAM-02  four parallel failed logins from four other addresses do not delay a
          correct login from a clean address by more than 1 s
  PAM-03  PAM_RHOST is the client address
  PAM-04  auth_pam_workers processes run beside auth; a killed worker is replaced, a
          login stuck in PAM and its worker killed gets NO [UNAVAILABLE], and the next
          login works

Prints "PASS id name -- expected", "FAIL id name: why" or "SKIP id name: why" (not
root: counted as passed), then "N passed, M failed".  Usage: run.py [-k SUBSTRING ...]
($BUZON selects the binary.)
"""

import os
import pwd
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "lib"))
import buzontest  # noqa: E402

HOST = buzontest.HOST
IS_ROOT = os.getuid() == 0
ASAN = "asan" in os.path.basename(os.path.dirname(buzontest.default_binary()))
PAM_FILE = "/etc/pam.d/buzon"
SYS_USER = "bzpam%d" % (os.getpid() % 100000)
SYS_PASS = "Sy5-pam-s3cret"
SLOW_USER = SYS_USER + "s"	# pam_exec sleeps for this one (PAM-04)
WORKERS = 3
RESULTS = {"pass": 0, "fail": 0}
FILTER = []
_addr = [10]


def note(msg):
    sys.stderr.write(msg.rstrip("\n") + "\n")
    sys.stderr.flush()


def fresh_addr():
    """A client address from 127.0.0.0/8 that no earlier login used (a clean penalty)."""
    _addr[0] += 1
    return "127.0.%d.%d" % (_addr[0] // 250, _addr[0] % 250 + 2)


# ---------------------------------------------------------------------------- system setup

class System:
    """The PAM service file and the system users; undone by cleanup()."""

    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix="buzon-pamtest.")
        os.chmod(self.tmp, 0o755)
        self.rhost_file = os.path.join(self.tmp, "rhost.log")
        self.hook = os.path.join(self.tmp, "pam-hook.sh")
        self.old_pam = None
        self.wrote_pam = False
        self.users = []

    def setup(self):
        with open(self.hook, "w") as f:
            # auth: sleep for the slow user (PAM-04); account: record who logged in from where
            f.write("#!/bin/sh\n"
                    "if [ \"$PAM_TYPE\" = auth ]; then\n"
                    "  [ \"$PAM_USER\" = %s ] && sleep 60\n"
                    "  exit 0\n"
                    "fi\n"
                    "echo \"$PAM_SERVICE $PAM_USER rhost=$PAM_RHOST\" >> %s\n"
                    "exit 0\n" % (SLOW_USER, self.rhost_file))
        os.chmod(self.hook, 0o755)
        if os.path.exists(PAM_FILE):
            with open(PAM_FILE) as f:
                self.old_pam = f.read()
        self.pam_text = ("# written by buzon tests/auth/run.py (removed at the end)\n"
                    # pam_exec only for the slow user: a fork per login would blur timings
                    "auth\t[success=ignore default=1]\tpam_succeed_if.so quiet user = %s\n"
                    "auth\toptional\tpam_exec.so quiet %s\n"
                    "auth\t[success=1 default=ignore]\tpam_unix.so\n"
                    "auth\trequisite\tpam_deny.so\n"
                    "auth\trequired\tpam_permit.so\n"
                    "account\t[success=1 new_authtok_reqd=done default=ignore]\tpam_unix.so\n"
                    "account\trequisite\tpam_deny.so\n"
                    "account\trequired\tpam_permit.so\n"
                    "account\toptional\tpam_exec.so quiet %s\n" % (SLOW_USER, self.hook, self.hook))
        with open(PAM_FILE, "w") as f:
            f.write(self.pam_text)
        self.wrote_pam = True
        for name in (SYS_USER, SLOW_USER):
            self.add_user(name)

    def add_user(self, name):
        uid = 2100
        while True:
            try:
                pwd.getpwuid(uid)
                uid += 1
            except KeyError:
                break
        subprocess.run(["useradd", "-u", str(uid), "-M", "-d", os.path.join(self.tmp, name),
                        "-s", "/usr/sbin/nologin", name], check=True, capture_output=True)
        self.users.append(name)
        subprocess.run(["chpasswd"], input="%s:%s\n" % (name, SYS_PASS), text=True,
                       check=True, capture_output=True)

    def rhosts(self):
        try:
            with open(self.rhost_file) as f:
                return f.read()
        except OSError:
            return ""

    def cleanup(self):
        for name in self.users:
            subprocess.run(["userdel", name], capture_output=True)
        try:
            with open(PAM_FILE) as f:
                ours = f.read() == self.pam_text
        except OSError:
            ours = False
        if self.wrote_pam and not ours:
            note("%s was changed by someone else meanwhile: left as it is" % PAM_FILE)
        elif self.wrote_pam:
            if self.old_pam is not None:
                with open(PAM_FILE, "w") as f:
                    f.write(self.old_pam)
            else:
                try:
                    os.unlink(PAM_FILE)
                except OSError:
                    pass
        subprocess.run(["rm", "-rf", self.tmp])


class PamServer(buzontest.Server):
    """A server with system_users = yes; the system users' Maildirs live in the test's
    mail root (mail_location = .../%u), owned by them."""

    def __init__(self, settings=None, **kw):
        kw.setdefault("users", {"demo": "demo-pw-1"})
        super().__init__(**kw)
        self.settings = dict(settings or {})

    def config_lines(self):
        out = [l for l in super().config_lines()
               if "=" not in l or l.split("=", 1)[0].strip() not in self.settings]
        return out + ["%s = %s" % kv for kv in self.settings.items()]

    def setup(self):
        super().setup()
        for name in (SYS_USER, SLOW_USER):
            pw = pwd.getpwnam(name)
            root = self.make_maildir(name)
            for d in (root, root + "/cur", root + "/new", root + "/tmp"):
                os.chown(d, pw.pw_uid, pw.pw_gid)


# ---------------------------------------------------------------------------- client

def login(user, password, src, timeout=40.0):
    """LOGIN over plain IMAP from address src: (tagged reply line, seconds, socket)."""
    s = socket.create_connection((HOST, SRV.imap_port), timeout=timeout, source_address=(src, 0))
    f = s.makefile("rb")
    greeting = f.readline()
    if not greeting.startswith(b"* OK"):
        raise AssertionError("greeting %r" % greeting)
    t0 = time.monotonic()
    s.sendall(b"a LOGIN %s %s\r\n" % (user.encode(), password.encode()))
    while True:
        ln = f.readline()
        if not ln:
            raise AssertionError("connection closed before the LOGIN reply")
        if ln.startswith(b"a "):
            break
    dt = time.monotonic() - t0
    f.close()
    return ln.rstrip(b"\r\n"), dt, s


def login_close(user, password, src, timeout=40.0):
    ln, dt, s = login(user, password, src, timeout)
    try:
        s.sendall(b"z LOGOUT\r\n")
    except OSError:
        pass
    s.close()
    return ln, dt


# ---------------------------------------------------------------------------- cases

class Check:
    def __init__(self):
        self.failures = []

    def ok(self, cond, what):
        note(("  ok: " if cond else "  FAIL: ") + what)
        if not cond:
            self.failures.append(what)
        return bool(cond)


class Skip(Exception):
    pass


def case_equal_time(ck):
    """PAM-01: unknown user vs system user + wrong password, each from a fresh address
    (first failure: the 2 s penalty), alternating; medians within 10 %."""
    times = {"unknown": [], "wrong": []}
    for i in range(4):
        pair = [("unknown", "nosuch%d" % i), ("wrong", SYS_USER)]
        for kind, user in (pair if i % 2 else pair[::-1]):
            ln, dt = login_close(user, "Wr0ng-%d" % i, fresh_addr())
            note("  %-7s %s: %.3f s %r" % (kind, user, dt, ln))
            ck.ok(ln.startswith(b"a NO [AUTHENTICATIONFAILED]"), "%s refused (%r)" % (kind, ln))
            times[kind].append(dt)
    mu, mw = statistics.median(times["unknown"]), statistics.median(times["wrong"])
    note("  median: unknown user %.3f s, wrong password %.3f s" % (mu, mw))
    ck.ok(abs(mu - mw) <= 0.10 * max(mu, mw),
          "unknown user %.3f s vs wrong password %.3f s: within 10 %%" % (mu, mw))
    ck.ok(min(mu, mw) >= 1.8, "failures still get the 2 s penalty (%.3f / %.3f s)" % (mu, mw))


def case_parallel(ck):
    """PAM-02: four parallel failures from four addresses must not hold up a correct
    login from a fifth, clean address (compared with the same login on an idle server)."""
    keep = login(SYS_USER, SYS_PASS, fresh_addr())	# keep the mail process alive
    ck.ok(keep[0].startswith(b"a OK"), "system user logs in (%r)" % keep[0])
    base = []
    for _ in range(2):
        ln, dt = login_close(SYS_USER, SYS_PASS, fresh_addr())
        ck.ok(ln.startswith(b"a OK"), "idle: correct login OK (%r)" % ln)
        base.append(dt)
    idle = min(base)
    res = []

    def fail(i):
        try:
            res.append(login_close(SYS_USER, "Wr0ng-par-%d" % i, fresh_addr()))
        except Exception as e:
            res.append((repr(e).encode(), 0.0))
    ths = [threading.Thread(target=fail, args=(i,)) for i in range(4)]
    for t in ths:
        t.start()
    time.sleep(0.3)	# the four are inside auth now
    ln, dt = login_close(SYS_USER, SYS_PASS, fresh_addr())
    for t in ths:
        t.join(60)
    note("  correct login: idle %.3f s, beside four failures %.3f s (%r)" % (idle, dt, ln))
    ck.ok(ln.startswith(b"a OK"), "correct login OK beside the failures (%r)" % ln)
    ck.ok(dt - idle <= 1.0, "delayed by %.3f s (<= 1 s)" % (dt - idle))
    ck.ok(len(res) == 4 and all(l.startswith(b"a NO") for l, _ in res),
          "the four failures are refused (%r)" % [l for l, _ in res])
    keep[2].close()


def case_rhost(ck):
    """PAM-03: PAM_RHOST = the client address (pam_exec in the account stack logs it)."""
    src = fresh_addr()
    ln, _ = login_close(SYS_USER, SYS_PASS, src)
    ck.ok(ln.startswith(b"a OK"), "login OK (%r)" % ln)
    text = SYSTEM.rhosts()
    note("  pam_exec saw: %r" % text[-300:])
    ck.ok(re.search(r"^buzon %s rhost=%s$" % (re.escape(SYS_USER), re.escape(src)), text, re.M)
          is not None, "PAM_RHOST=%s seen by the PAM stack" % src)


def children(pid):
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
        except OSError:
            continue
        fields = st[st.rindex(")") + 2:].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            out.append(int(d))
    return sorted(out)


def cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        return ""


def auth_pid():
    pids = [p for p in children(SRV.proc.pid) if "--role auth" in cmdline(p)]
    if len(pids) != 1:
        raise AssertionError("auth processes: %r" % pids)
    return pids[0]


def wait_workers(ck, n, timeout=5.0, gone=None):
    """The PAM workers once there are n of them (and the process gone is not one: a
    killed worker is still a child until auth reaps it), or at the timeout."""
    deadline = time.monotonic() + timeout
    while True:
        w = children(auth_pid())
        if (len(w) == n and gone not in w) or time.monotonic() > deadline:
            return w
        time.sleep(0.05)


def case_workers(ck):
    """PAM-04: the pool has auth_pam_workers processes, is refilled after a kill, and a
    login whose worker is killed while PAM hangs gets NO [UNAVAILABLE]."""
    w = wait_workers(ck, WORKERS)
    ck.ok(len(w) == WORKERS, "%d PAM workers beside auth (%r)" % (WORKERS, w))
    os.kill(w[0], signal.SIGKILL)
    w2 = wait_workers(ck, WORKERS, gone=w[0])
    ck.ok(len(w2) == WORKERS and w[0] not in w2, "the killed worker was replaced (%r -> %r)" % (w, w2))
    ln, _ = login_close(SYS_USER, SYS_PASS, fresh_addr())
    ck.ok(ln.startswith(b"a OK"), "login OK after the replacement (%r)" % ln)
    # a login that hangs in PAM (pam_exec sleeps): kill the busy worker
    res = {}

    def slow():
        try:
            res["r"] = login_close(SLOW_USER, SYS_PASS, fresh_addr())
        except Exception as e:
            res["r"] = (repr(e).encode(), 0.0)
    th = threading.Thread(target=slow)
    th.start()
    busy = None
    deadline = time.monotonic() + 10
    while busy is None and time.monotonic() < deadline:
        for p in children(auth_pid()):
            if children(p):	# the worker running pam_exec's sleep
                busy = p
        time.sleep(0.05)
    ck.ok(busy is not None, "a worker is busy in PAM for the slow user")
    t0 = time.monotonic()
    ln, dt = login_close(SYS_USER, SYS_PASS, fresh_addr())
    ck.ok(ln.startswith(b"a OK") and dt < 2.0,
          "another login is served while one worker hangs (%.3f s, %r)" % (dt, ln))
    if busy is not None:
        for p in children(busy):
            os.kill(p, signal.SIGKILL)	# pam_exec's child (sleep), then the worker
        os.kill(busy, signal.SIGKILL)
    th.join(30)
    ln = res.get("r", (b"(no reply)", 0))[0]
    ck.ok(ln.startswith(b"a NO [UNAVAILABLE]"), "the hung login gets NO [UNAVAILABLE] (%r, %.1f s after the kill)"
          % (ln, time.monotonic() - t0))
    w3 = wait_workers(ck, WORKERS)
    ck.ok(len(w3) == WORKERS and busy not in w3, "the pool is full again (%r)" % w3)
    ln, _ = login_close(SYS_USER, SYS_PASS, fresh_addr())
    ck.ok(ln.startswith(b"a OK"), "login OK afterwards (%r)" % ln)


def run_case(cid, name, expected, fn):
    if FILTER and not any(k in cid or k in name for k in FILTER):
        return
    note("== %s %s (expect: %s)" % (cid, name, expected))
    ck = Check()
    t0 = time.monotonic()
    try:
        if not IS_ROOT:
            raise Skip("needs root (PAM service file, system users)")
        fn(ck)
    except Skip as e:
        print("SKIP %s %s: %s" % (cid, name, e))
        RESULTS["pass"] += 1
        sys.stdout.flush()
        return
    except Exception as e:
        traceback.print_exc()
        ck.failures.append("%s: %s" % (type(e).__name__, str(e).splitlines()[0] if str(e) else ""))
    if SRV is not None and SRV.proc.poll() is not None:
        ck.failures.append("master died (status %s)" % SRV.proc.returncode)
    note("   (%.1f s)" % (time.monotonic() - t0))
    if ck.failures:
        if SRV is not None:
            note("  -- last log lines:\n" + SRV.log_tail(15))
        print("FAIL %s %s: %s" % (cid, name, "; ".join(f.replace("\n", " ") for f in ck.failures)[:700]))
        RESULTS["fail"] += 1
    else:
        print("PASS %s %s -- %s" % (cid, name, expected))
        RESULTS["pass"] += 1
    sys.stdout.flush()


SRV = None
SYSTEM = None
CASES = [
    ("PAM-01", "unknown-vs-wrong-password", "failure times within 10 %", case_equal_time),
    ("PAM-02", "parallel-failures", "a correct login from a clean address delayed < 1 s", case_parallel),
    ("PAM-03", "pam-rhost", "PAM_RHOST = the client address", case_rhost),
    ("PAM-04", "worker-pool", "%d workers, replaced when killed, hung login -> NO [UNAVAILABLE]" % WORKERS,
     case_workers),
]


def main():
    global SRV, SYSTEM
    args = sys.argv[1:]
    while args:
        a = args.pop(0)
        if a == "-k" and args:
            FILTER.append(args.pop(0))
        else:
            sys.stderr.write(__doc__)
            return 2
    if not IS_ROOT:
        for cid, name, expected, fn in CASES:
            run_case(cid, name, expected, fn)
        print("%d passed, %d failed" % (RESULTS["pass"], RESULTS["fail"]))
        return 0
    SYSTEM = System()
    try:
        SYSTEM.setup()
        SRV = PamServer(settings={"system_users": "yes", "auth_allow_cleartext": "yes",
                                  "auth_failure_delay_max": "15", "auth_ban_failures": "0",
                                  "auth_pam_workers": str(WORKERS)})
        try:
            SRV.start()
        except Exception as e:
            print("FAIL SETUP start server: %s" % (str(e).splitlines()[0] if str(e) else e))
            RESULTS["fail"] += 1
            SRV.stop()
            SRV = None
        if SRV is not None:
            for cid, name, expected, fn in CASES:
                run_case(cid, name, expected, fn)
            for p in SRV.stop():
                print("FAIL teardown: %s" % p)
                RESULTS["fail"] += 1
    finally:
        SYSTEM.cleanup()
    print("%d passed, %d failed" % (RESULTS["pass"], RESULTS["fail"]))
    return 1 if RESULTS["fail"] else 0


if __name__ == "__main__":
    sys.exit(main())
