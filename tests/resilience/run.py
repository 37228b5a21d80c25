#!/usr/bin/env python3
"""tests/resilience/run.py — "one client must never take the service down" (black box).

RELIABILITY.md rules 11-13: output is bounded like input, no process ever blocks on
another, and a failure is contained to its share.  Each case starts its own server
with tests/lib/buzontest.py (temp dir, passwd-file users with fixture mail, free ports
on 127.0.0.1; 127.0.0.0/8 stands for many client networks, so hostile clients bind to
127.0.1.x, 127.0.2.x, ...), lets one or more hostile clients loose and checks that
everyone else is still served:

  R-01  NUL in the LOGIN name / SASL PLAIN name over implicit TLS; other IMAPS, IDLE
        and POP3S sessions survive
  R-02  a client that floods CAPABILITY (CAPA) and never reads: the login process
        RSS stays below 64 MiB (plain IMAP 20 s, POP3 15 s, IMAPS 15 s)
  R-03  one LMTP transaction with 1000 recipients: all 250, 1000 messages, then
        logins still work and SIGTERM stops the server
  R-04  failed logins from 200 addresses in parallel: auth answers piles of requests;
        legitimate LOGIN p99 < 2 s, SIGTERM stops the server
  R-05  the server under RLIMIT_NOFILE 128: 200 pre-login connections, then logins
        work again; with soft 256 / hard 4096 the master raises its soft limit
  R-06  login_max_connections_per_ip / login_max_connections: BYE over the cap,
        logged-in sessions do not count
  R-07  login_processes = 2 / login_mode = per-connection: kill -9 of one login
        process costs only its own connections; it is replaced
  R-08  chaos: all of the above at once for 60 s while three legitimate clients work
  R-10  kill -9 of a user's mail process, then at once a login of that user, x10: the
        login gets a new mail process, never a closed connection

After each case the runner checks the invariants of RELIABILITY.md 5.0 as
tests/hostile/run.py does: the master is alive, a fresh client can LOGIN, SELECT INBOX
and FETCH 1:* quickly, no server process is above RSS_LIMIT, and the server log has no
"killed by signal" line (except for a process the case killed itself) and no panic.

Prints "PASS id name -- expected; measured", "FAIL id name: why" per case, then
"N passed, M failed".  Usage: run.py [-k SUBSTRING ...]  ($BUZON selects the binary;
run as root: binds client sockets to other 127.x addresses and uses prlimit).
"""

import base64
import math
import multiprocessing
import os
import re
import signal
import shutil
import socket
import struct
import subprocess
import ssl
import sys
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "lib"))
import buzontest  # noqa: E402

HOST = buzontest.HOST
USERS = {"demo": "demo-pw-1", "bob": "bob-pw-2"}
MiB = 1024					# /proc reports kB
RSS_LIMIT_KB = 128 * MiB			# any server process, after any case
LOGIN_FLOOD_LIMIT_KB = 64 * MiB		# login process under a non-reading flood
FLOOD_ABORT_KB = 256 * MiB		# stop a flood early: the limit is broken anyway
ASAN = "asan" in os.path.basename(os.path.dirname(buzontest.default_binary()))
if ASAN:
    RSS_LIMIT_KB = LOGIN_FLOOD_LIMIT_KB = 1024 * MiB
    FLOOD_ABORT_KB = 2048 * MiB
SLOW = 3.0 if ASAN else 1.0		# time allowances scale with this
MP = multiprocessing.get_context("fork")


def note(msg):
    sys.stderr.write(msg.rstrip("\n") + "\n")
    sys.stderr.flush()


# ---------------------------------------------------------------------------- client

class Closed(Exception):
    pass


def insecure_ctx():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


class Conn:
    """Raw line client: exact bytes out, CRLF lines in.  src binds the client address
    (127.0.0.2 ...); rcvbuf shrinks the receive buffer (set before connect)."""

    def __init__(self, port, tls=False, greet=True, timeout=10.0, src=None, rcvbuf=None):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            if rcvbuf:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            if src:
                s.bind((src, 0))
            s.settimeout(timeout)
            s.connect((HOST, port))
            if tls:
                s = insecure_ctx().wrap_socket(s, server_hostname="localhost")
        except BaseException:
            s.close()
            raise
        self.sock = s
        self.buf = b""
        self.eof = False
        try:
            self.greeting = self.line(timeout) if greet else None
        except BaseException:
            s.close()
            raise

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def _fill(self, timeout):
        self.sock.settimeout(max(timeout, 0.01))
        try:
            d = self.sock.recv(1 << 20)
        except (socket.timeout, TimeoutError):
            raise
        except (ssl.SSLError, OSError):
            d = b""
        if not d:
            self.eof = True
        self.buf += d

    def line(self, timeout=10.0):
        """Next line with its CRLF; None at EOF; TimeoutError if nothing comes."""
        deadline = time.monotonic() + timeout
        while b"\r\n" not in self.buf:
            if self.eof:
                return None
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no line within %.1f s (have %r)" % (timeout, self.buf[:200]))
            self._fill(left)
        i = self.buf.index(b"\r\n") + 2
        ln, self.buf = self.buf[:i], self.buf[i:]
        return ln

    def until_tagged(self, tag, timeout=10.0, bye_ends=False):
        """Lines up to and including the one tagged tag (no literals expected here).
        bye_ends: a * BYE line (or EOF) also ends the answer."""
        if isinstance(tag, str):
            tag = tag.encode()
        out = []
        deadline = time.monotonic() + timeout
        while True:
            ln = self.line(max(deadline - time.monotonic(), 0.01))
            if ln is None:
                if bye_ends:
                    return out + [b"<closed>"]
                raise Closed("connection closed; got %r" % [x[:200] for x in out[-5:]])
            m = re.search(rb"\{(\d+)\}\r\n$", ln)
            if m:		# a literal in a response: skip it
                n = int(m.group(1))
                while len(self.buf) < n and not self.eof:
                    self._fill(max(deadline - time.monotonic(), 0.01))
                self.buf = self.buf[n:]
            out.append(ln)
            if ln.startswith(tag + b" ") or (bye_ends and ln.startswith(b"* BYE")):
                return out

    def cmd(self, tag, text, timeout=10.0):
        if isinstance(text, str):
            text = text.encode()
        self.send(tag.encode() + b" " + text + b"\r\n")
        return self.until_tagged(tag, timeout)

    def rest(self, timeout=3.0):
        """Everything until EOF or silence: (lines, closed?)."""
        out = []
        deadline = time.monotonic() + timeout
        while True:
            try:
                ln = self.line(max(deadline - time.monotonic(), 0.01))
            except (TimeoutError, socket.timeout):
                if self.buf:
                    out.append(self.buf)
                    self.buf = b""
                return out, False
            if ln is None:
                if self.buf:
                    out.append(self.buf)
                    self.buf = b""
                return out, True
            out.append(ln)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def tagged(lines):
    return lines[-1].decode("latin-1").rstrip("\r\n") if lines else ""


def imap_session(srv, tls=True, user="demo", src=None, timeout=10.0):
    """A logged-in IMAP connection (implicit TLS by default; plaintext from a
    loopback address needs auth_allow_cleartext unless src is 127.0.0.1)."""
    c = Conn(srv.imaps_port if tls else srv.imap_port, tls=tls, src=src, timeout=timeout)
    try:
        if not (c.greeting or b"").startswith(b"* OK"):
            raise AssertionError("greeting %r" % c.greeting)
        r = c.cmd("L", "LOGIN %s %s" % (user, srv.users[user]), timeout)
        if not tagged(r).startswith("L OK"):
            raise AssertionError("LOGIN -> %r" % tagged(r))
    except BaseException:
        c.close()
        raise
    return c


def timed_login(srv, tls=False, user="demo", src=None, timeout=5.0):
    """Connect, greeting, LOGIN OK, LOGOUT: returns (greeting s, login s); raises."""
    t0 = time.monotonic()
    c = Conn(srv.imaps_port if tls else srv.imap_port, tls=tls, src=src, timeout=timeout)
    try:
        tg = time.monotonic() - t0
        if not (c.greeting or b"").startswith(b"* OK"):
            raise AssertionError("greeting %r" % c.greeting)
        r = c.cmd("L", "LOGIN %s %s" % (user, srv.users[user]), timeout)
        tl = time.monotonic() - t0
        if not tagged(r).startswith("L OK"):
            raise AssertionError("LOGIN -> %r" % tagged(r))
        try:
            c.cmd("Q", "LOGOUT", 2)
        except (OSError, Closed, TimeoutError):
            pass
        return tg, tl
    finally:
        c.close()


def percentile(values, p):
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    v = sorted(values)
    return v[max(0, min(len(v) - 1, int(math.ceil(p / 100.0 * len(v))) - 1))]


# ---------------------------------------------------------------------------- checks

class Check:
    def __init__(self):
        self.failures = []
        self.measured = []
        self.killed = set()		# pids the case killed itself (allowed in the log)

    def ok(self, cond, what):
        note(("  ok: " if cond else "  FAIL: ") + what)
        if not cond:
            self.failures.append(what)
        return bool(cond)

    def match(self, got, pattern, what):
        if isinstance(got, bytes):
            got = got.decode("latin-1")
        got = (got or "").rstrip("\r\n")
        return self.ok(re.match(pattern, got, re.S) is not None,
                       "%s: want /%s/, got %r" % (what, pattern, got[:200]))

    def measure(self, text):
        note("  measured: " + text)
        self.measured.append(text)


def proc_args(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().split(b"\0")
    except OSError:
        return []


def children(master_pid):
    """{pid: [argv bytes]} of the master's live children."""
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
        except OSError:
            continue
        fields = st[st.rindex(")") + 2:].split()
        if int(fields[1]) == master_pid and fields[0] != "Z":
            out[int(d)] = proc_args(int(d))
    return out


def role_of(argv):
    for i, a in enumerate(argv[:-1]):
        if a == b"--role":
            return argv[i + 1].decode("latin-1")
    return None


def role_pids(srv, role):
    return sorted(p for p, a in children(srv.proc.pid).items() if role_of(a) == role)


def rss_kb(pid, field="VmRSS"):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def server_rss(srv, roles=("login", "lmtp", "auth", "mail")):
    """{(role, pid): RSS kB} of the master ("master") and its children of roles."""
    out = {("master", srv.proc.pid): rss_kb(srv.proc.pid)}
    for p, a in children(srv.proc.pid).items():
        r = role_of(a)
        if r in roles:
            out[(r, p)] = rss_kb(p)
    return out


class RssSampler(threading.Thread):
    """Samples server_rss() every period s; keeps the maximum per role and sets
    abort (a threading/multiprocessing Event) once any process is above abort_kb."""

    def __init__(self, srv, roles, period=0.25, abort=None, abort_kb=FLOOD_ABORT_KB):
        super().__init__(daemon=True)
        self.srv, self.roles, self.period = srv, roles, period
        self.abort, self.abort_kb = abort, abort_kb
        self.max = {}
        self.last = {}
        self.series = []		# (t, max kB over the roles)
        self.done = threading.Event()
        self.t0 = time.monotonic()

    def sample(self):
        try:
            rss = server_rss(self.srv, [r for r in self.roles if r != "master"])
        except OSError:
            return
        self.last = {}
        for (role, pid), kb in rss.items():
            if role not in self.roles:
                continue
            self.max[role] = max(self.max.get(role, 0), kb)
            self.last[role] = max(self.last.get(role, 0), kb)
        top = max(self.last.values() or [0])
        self.series.append((time.monotonic() - self.t0, top))
        if self.abort is not None and top > self.abort_kb:
            self.abort.set()

    def run(self):
        while not self.done.is_set():
            self.sample()
            self.done.wait(self.period)

    def stop(self):
        self.done.set()
        self.join(5)
        self.sample()

    def at(self, t):
        """The sampled maximum closest to t s after the start."""
        best = None
        for ts, kb in self.series:
            if best is None or abs(ts - t) < abs(best[0] - t):
                best = (ts, kb)
        return best


# ---------------------------------------------------------------------------- server

class ResServer(buzontest.Server):
    """buzontest.Server whose settings {key: value} replace the defaults' lines."""

    def __init__(self, settings=None, **kw):
        kw.setdefault("users", USERS)
        super().__init__(**kw)
        self.settings = dict(settings or {})

    def config_lines(self):
        out = [l for l in super().config_lines()
               if "=" not in l or l.split("=", 1)[0].strip() not in self.settings]
        return out + ["%s = %s" % kv for kv in self.settings.items()]


def start_error(e):
    """The telling line of a failed start (e.g. "unknown key 'login_processes'")."""
    text = str(e)
    for l in text.splitlines():
        if re.search(r"unknown key|error|fatal|invalid", l, re.I):
            return l.strip()[:200]
    return text.splitlines()[0][:200] if text else "?"


def fresh_client_ok(srv, user="demo"):
    """The after-case invariant: LOGIN + SELECT INBOX + FETCH 1:* quickly."""
    t0 = time.monotonic()
    try:
        c = Conn(srv.imap_port, timeout=8 * SLOW)
    except OSError as e:
        return "fresh client: connect: %s" % e
    try:
        r = c.cmd("c1", "LOGIN %s %s" % (user, srv.users[user]), 8 * SLOW)
        if not tagged(r).startswith("c1 OK"):
            return "fresh client: LOGIN -> %r" % tagged(r)
        r = c.cmd("c2", "SELECT INBOX", 15)
        if not tagged(r).startswith("c2 OK"):
            return "fresh client: SELECT -> %r" % tagged(r)
        exists = [l for l in r if re.match(rb"\* \d+ EXISTS", l)]
        if exists and not exists[0].startswith(b"* 0 "):
            r = c.cmd("c3", "FETCH 1:* (UID RFC822.SIZE)", 15)
            if not tagged(r).startswith("c3 OK"):
                return "fresh client: FETCH -> %r" % tagged(r)
        c.cmd("c4", "LOGOUT", 15)
    except (OSError, Closed, TimeoutError) as e:
        return "fresh client: %s: %s" % (type(e).__name__, e)
    finally:
        c.close()
    dt = time.monotonic() - t0
    limit = 3.0 * SLOW
    if dt > limit:
        return "fresh client took %.2f s (limit %.1f s)" % (dt, limit)
    return None


KILLED_RE = re.compile(r".*killed by signal.*|.*\bpanic\b.*|.*assert.*", re.I)


def bad_log_lines(srv, allowed_pids):
    out = []
    for l in srv.log_text().splitlines():
        if not KILLED_RE.match(l):
            continue
        if any(re.search(r"\bpid=%d\b" % p, l) for p in allowed_pids):
            continue
        out.append(l.strip()[:200])
    return out


RESULTS = {"pass": 0, "fail": 0}
FILTER = []


def run_case(cid, name, expected, fn, settings=None, **server_kw):
    """Start a server with settings, run fn(ck, srv), check the invariants, stop."""
    if FILTER and not any(k in cid or k in name for k in FILTER):
        return
    note("== %s %s (expect: %s)" % (cid, name, expected))
    ck = Check()
    t0 = time.monotonic()
    srv = ResServer(settings, **server_kw)
    started = False
    try:
        srv.start()
        started = True
        fn(ck, srv)
    except buzontest.ServerError as e:
        if started:
            ck.failures.append("ServerError: %s" % start_error(e))
        else:
            ck.failures.append("server did not start: %s" % start_error(e))
    except Exception as e:
        traceback.print_exc()
        ck.failures.append("%s: %s" % (type(e).__name__, str(e).splitlines()[0] if str(e) else ""))
    if ck.failures:
        srv.canary = False	# the fresh-client check below is the same check
    if started and srv.terminated is None:
        if srv.proc.poll() is not None:
            ck.failures.append("master died (status %s)" % srv.proc.returncode)
        else:
            why = fresh_client_ok(srv)
            if why:
                ck.failures.append(why)
            for (role, pid), kb in server_rss(srv).items():
                if kb > RSS_LIMIT_KB:
                    ck.failures.append("%s process %d RSS %d MiB > %d MiB"
                                       % (role, pid, kb // MiB, RSS_LIMIT_KB // MiB))
    if started:
        bad = bad_log_lines(srv, ck.killed)
        if bad:
            ck.failures.append("server log: %s" % bad[0] + (" (+%d more)" % (len(bad) - 1) if len(bad) > 1 else ""))
        if ck.failures:
            note("  -- last log lines:\n" + srv.log_tail(15))
    problems = srv.stop()
    if started:
        for p in problems:
            ck.failures.append("teardown: " + p)
    note("   (%.1f s)" % (time.monotonic() - t0))
    measured = ("; measured: " + ", ".join(ck.measured)) if ck.measured else ""
    if ck.failures:
        print("FAIL %s %s: %s%s" % (cid, name, "; ".join(f.replace("\n", " ") for f in ck.failures)[:900],
                                    (" [measured: %s]" % ", ".join(ck.measured)) if ck.measured else ""))
        RESULTS["fail"] += 1
    else:
        print("PASS %s %s -- %s%s" % (cid, name, expected, measured))
        RESULTS["pass"] += 1
    sys.stdout.flush()


def sigterm_check(ck, srv, limit=5.0):
    rc, dt = srv.terminate(limit)
    ck.measure("SIGTERM -> exit %s in %.2f s" % ("none" if rc is None else rc, dt))
    ck.ok(rc is not None, "SIGTERM stops the server within %.0f s" % limit)
    if rc is not None:
        ck.ok(rc == 0, "exit status 0 after SIGTERM (got %d)" % rc)


# ============================================================================ R-10

def r10_mail_killed(ck, srv):
    """The master learns that a mail process died only when it reads its socket or
    reaps it; a login accepted in between must still be served."""
    served = 0
    for i in range(10):
        c = imap_session(srv, tls=False)
        pids = role_pids(srv, "mail")
        c.close()
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
            ck.killed.add(pid)
        try:
            c = imap_session(srv, tls=False)
            r = c.cmd("s", "SELECT INBOX", 10)
            c.close()
            if tagged(r).startswith("s OK"):
                served += 1
            else:
                ck.ok(False, "round %d: SELECT -> %r" % (i, tagged(r)))
        except Exception as e:
            ck.ok(False, "round %d: login after the kill failed: %s" % (i, e))
    ck.ok(served == 10, "%d of 10 logins right after the kill served" % served)


# ============================================================================ R-01

def nul_attempt(port, variant, src=None, timeout=10.0):
    """One hostile NUL login over implicit TLS; returns the answer lines (the last
    is the tagged answer, a * BYE, or the connection ended)."""
    c = Conn(port, tls=True, src=src, timeout=timeout)
    try:
        if variant == "literal8":		# x LOGIN ~{1}, wait for +, then NUL y
            c.send(b"x LOGIN ~{1}\r\n")
            ln = c.line(timeout)
            if ln is None or not ln.startswith(b"+"):
                return [ln or b"<closed>"]
            c.send(b"\x00 y\r\n")
        elif variant == "literal8-pipelined":
            c.send(b"x LOGIN ~{1}\r\n\x00 y\r\n")
        elif variant == "literal":
            c.send(b"x LOGIN {1}\r\n")
            ln = c.line(timeout)
            if ln is None or not ln.startswith(b"+"):
                return [ln or b"<closed>"]
            c.send(b"\x00")
            c.send(b" y\r\n")
        elif variant == "sasl-plain":		# name "de\0mo", continuation
            c.send(b"x AUTHENTICATE PLAIN\r\n")
            ln = c.line(timeout)
            if ln is None or not ln.startswith(b"+"):
                return [ln or b"<closed>"]
            c.send(base64.b64encode(b"\x00de\x00mo\x00y") + b"\r\n")
        elif variant == "sasl-ir-nuls":	# SASL-IR of NULs only
            c.send(b"x AUTHENTICATE PLAIN " + base64.b64encode(b"\x00" * 9) + b"\r\n")
        elif variant == "sasl-ir-nul-name":	# authcid "\0" + name
            c.send(b"x AUTHENTICATE PLAIN " + base64.b64encode(b"\x00\x00demo\x00\x00y") + b"\r\n")
        lines = c.until_tagged("x", timeout, bye_ends=True)
        return lines or [b"<closed>"]
    finally:
        c.close()


NUL_VARIANTS = ["literal8", "literal8-pipelined", "literal", "sasl-plain", "sasl-ir-nuls",
                "sasl-ir-nul-name"]


def r01_nul_login(ck, srv):
    others = [imap_session(srv, tls=True) for _ in range(3)]
    idle = others[2]
    idle.send(b"i IDLE\r\n")
    ck.match(idle.line(), r"\+", "IDLE continuation")
    pop = Conn(srv.pop3s_port, tls=True)
    ck.match(pop.greeting, r"\+OK", "POP3S greeting")
    pop.send(b"USER demo\r\n")
    ck.match(pop.line(), r"\+OK", "POP3S USER")
    pop.send(b"PASS %s\r\n" % USERS["demo"].encode())
    ck.match(pop.line(), r"\+OK", "POP3S PASS")
    alive = {"imaps-1": True, "imaps-2": True, "pop3s": True}
    answers = {}
    for rnd in range(5):
        for v in NUL_VARIANTS:
            try:
                lines = nul_attempt(srv.imaps_port, v)
            except (OSError, TimeoutError, Closed) as e:
                lines = [("<%s: %s>" % (type(e).__name__, e)).encode()]
            last = lines[-1].decode("latin-1").rstrip("\r\n")
            answers.setdefault(v, []).append(re.sub(r"^(x \w+|\* BYE).*", r"\1", last)[:60])
            # everyone else is still served
            for i, c in enumerate(others[:2]):
                key = "imaps-%d" % (i + 1)
                if not alive[key]:
                    continue
                try:
                    r = c.cmd("n", "NOOP", 10)
                    good = tagged(r).startswith("n OK")
                except (OSError, TimeoutError, Closed) as e:
                    good = False
                if not good:
                    alive[key] = False
                    ck.ok(False, "%s session lost after round %d %s" % (key, rnd + 1, v))
            if alive["pop3s"]:
                try:
                    pop.send(b"NOOP\r\n")
                    good = (pop.line(10) or b"").startswith(b"+OK")
                except (OSError, TimeoutError):
                    good = False
                if not good:
                    alive["pop3s"] = False
                    ck.ok(False, "POP3S session lost after round %d %s" % (rnd + 1, v))
    try:
        idle.send(b"DONE\r\n")
        r = idle.until_tagged("i", 10)
        ck.match(tagged(r), r"i OK", "IDLE session: DONE -> OK")
        r = idle.cmd("n", "NOOP", 10)
        ck.match(tagged(r), r"n OK", "IDLE session: NOOP after DONE")
    except (OSError, TimeoutError, Closed) as e:
        ck.ok(False, "IDLE session lost: %s" % e)
    ck.ok(all(alive.values()), "other sessions all answered NOOP after every attempt (%s)"
          % ", ".join(k for k, v in alive.items() if not v) or "all alive")
    for v, got in answers.items():
        good = sum(1 for a in got if re.match(r"x (BAD|NO)\b|\* BYE", a))
        ck.ok(good == len(got), "%s: tagged BAD/NO %d of %d times (got %s)"
              % (v, good, len(got), "/".join(sorted(set(got)))))
    for c in others:
        c.close()
    pop.close()


# ============================================================================ R-02

def nonreader_flood(port, tls, pop3, seconds, src=None, stop=None):
    """Send CAPABILITY (CAPA) as fast as possible for `seconds` and never read.
    Returns stats: sent bytes, commands, reply size, owed reply bytes, the longest
    time the socket accepted nothing (backpressure), whether the server closed."""
    cmd = b"CAPA\r\n" if pop3 else b"a CAPABILITY\r\n"
    st = dict(sent=0, cmds=0, reply=0, owed=0, block=0.0, closed=False, error=None, secs=0.0)
    c = Conn(port, tls=tls, src=src, timeout=10, rcvbuf=4096)
    try:
        if not (c.greeting or b"").startswith(b"+OK" if pop3 else b"* OK"):
            st["error"] = "greeting %r" % c.greeting
            return st
        # the size of one answer: what each unread command costs the server
        c.send(cmd)
        n = 0
        while True:
            ln = c.line(10)
            if ln is None:
                st["error"] = "closed while measuring the reply"
                return st
            n += len(ln)
            if (pop3 and ln == b".\r\n") or (not pop3 and ln.startswith(b"a ")):
                break
        st["reply"] = n
        chunk = cmd * (16384 // len(cmd))
        off = 0
        t0 = time.monotonic()
        end = t0 + seconds
        last_progress = t0
        c.sock.settimeout(0.2)
        while time.monotonic() < end and not (stop is not None and stop.is_set()):
            try:
                k = c.sock.send(chunk[off:])
            except (socket.timeout, TimeoutError, ssl.SSLWantWriteError):
                k = 0
            except (ssl.SSLError, OSError):
                st["closed"] = True
                break
            now = time.monotonic()
            if k > 0:
                st["sent"] += k
                off = (off + k) % len(chunk)
                last_progress = now
            st["block"] = max(st["block"], now - last_progress)
        st["secs"] = time.monotonic() - t0
        st["cmds"] = st["sent"] // len(cmd)
        st["owed"] = st["cmds"] * st["reply"]
        return st
    finally:
        c.close()


def r02_flood(ck, srv, proto, seconds):
    port = {"imap": srv.imap_port, "pop3": srv.pop3_port, "imaps": srv.imaps_port}[proto]
    tls = proto == "imaps"
    pop3 = proto == "pop3"
    abort = threading.Event()
    sampler = RssSampler(srv, ("login",), 0.25, abort)
    sampler.start()
    res = {}

    def flood():
        try:
            res.update(nonreader_flood(port, tls, pop3, seconds, src="127.0.1.7", stop=abort))
        except Exception as e:
            res["error"] = "%s: %s" % (type(e).__name__, e)
    th = threading.Thread(target=flood, daemon=True)
    th.start()
    # a legitimate client logs in meanwhile
    th.join(min(seconds / 2.0, 6.0))	# mid-flood (or right after an aborted one)
    legit = None
    if True:
        try:
            tg, tl = timed_login(srv, tls=True, timeout=5 * SLOW)
            legit = tl
        except (OSError, TimeoutError, Closed, AssertionError) as e:
            ck.ok(False, "legitimate IMAPS login during the flood: %s: %s" % (type(e).__name__, e))
    th.join(seconds + 30)
    sampler.stop()
    if "error" in res and res["error"]:
        ck.ok(False, "flood client: %s" % res["error"])
    mx = sampler.max.get("login", 0)
    end = sampler.at(seconds)
    ck.measure("%s: login RSS max %.1f MiB%s" % (proto, mx / 1024.0,
               (", %.1f MiB at %.0f s" % (end[1] / 1024.0, end[0])) if end and not abort.is_set() else ""))
    ck.measure("%s: sent %.1f MB = %d commands, %d B answer each, %.0f MB of answers owed, "
               "longest stall %.1f s%s" % (proto, res.get("sent", 0) / 1e6, res.get("cmds", 0),
                                            res.get("reply", 0), res.get("owed", 0) / 1e6,
                                            res.get("block", 0.0), ", closed by server" if res.get("closed") else ""))
    if legit is not None:
        ck.measure("%s: legitimate IMAPS login %.2f s" % (proto, legit))
    if abort.is_set():
        first = next(((t, kb) for t, kb in sampler.series if kb > LOGIN_FLOOD_LIMIT_KB), None)
        top = next(((t, kb) for t, kb in sampler.series if kb > FLOOD_ABORT_KB), None)
        ck.ok(False, "%s: login process RSS above %d MiB%s (flood stopped at %d MiB%s)"
              % (proto, LOGIN_FLOOD_LIMIT_KB // MiB,
                 " after %.1f s" % first[0] if first else "", FLOOD_ABORT_KB // MiB,
                 " after %.1f s" % top[0] if top else ""))
    else:
        ck.ok(mx < LOGIN_FLOOD_LIMIT_KB, "%s: login process RSS max %.1f MiB < %d MiB"
              % (proto, mx / 1024.0, LOGIN_FLOOD_LIMIT_KB // MiB))
    # not vacuous: the client flooded for the whole time and either the server stopped
    # reading (the socket took nothing for >= 2 s), closed it, or it owes >= 64 MiB
    if not abort.is_set():
        ck.ok(res.get("closed") or res.get("secs", 0) >= seconds - 1,
              "%s: the client flooded for %.0f s" % (proto, res.get("secs", 0)))
    ck.ok(res.get("reply", 0) > 0 and (res.get("closed") or res.get("block", 0) >= 2.0 or
                                       res.get("owed", 0) >= 64 * 1024 * 1024),
          "%s: the flood was real (backpressure, close, or >= 64 MiB of answers owed)" % proto)
    ck.ok(res.get("sent", 0) >= 64 * 1024, "%s: sent >= 64 KB of commands" % proto)


# ============================================================================ R-03

def lmtp_transaction(port, rcpts, body, timeout=60.0, stall=20.0, src=None):
    """One LMTP transaction with many recipients; RCPTs are written by a thread while
    the replies are read.  Returns dict(sent, rcpt_codes, data_codes, secs, error)."""
    out = dict(sent=0, rcpt_codes=[], data_codes=[], secs=0.0, error=None, data_secs=0.0)
    t0 = time.monotonic()
    c = Conn(port, timeout=10, src=src)
    try:
        if not (c.greeting or b"").startswith(b"220"):
            out["error"] = "greeting %r" % c.greeting
            return out
        c.send(b"LHLO resilience.test\r\n")
        while True:
            ln = c.line(10)
            if ln is None or ln.startswith(b"250 "):
                break
        c.send(b"MAIL FROM:<chaos@example.net>\r\n")
        ln = c.line(10)
        if not (ln or b"").startswith(b"250"):
            out["error"] = "MAIL FROM -> %r" % ln
            return out

        def writer():
            try:
                for i in range(0, len(rcpts), 50):
                    c.sock.sendall(b"".join(b"RCPT TO:<%s>\r\n" % r.encode() for r in rcpts[i:i + 50]))
                    out["sent"] = min(i + 50, len(rcpts))
            except OSError as e:
                out["error"] = "sending RCPT: %s" % e
        w = threading.Thread(target=writer, daemon=True)
        w.start()
        deadline = t0 + timeout
        while len(out["rcpt_codes"]) < len(rcpts):
            left = min(deadline - time.monotonic(), stall)
            if left <= 0:
                out["error"] = "RCPT replies stalled at %d of %d" % (len(out["rcpt_codes"]), len(rcpts))
                return out
            try:
                ln = c.line(left)
            except (TimeoutError, socket.timeout):
                out["error"] = "no RCPT reply for %.0f s after %d of %d" % (left, len(out["rcpt_codes"]), len(rcpts))
                return out
            if ln is None:
                out["error"] = "closed after %d RCPT replies" % len(out["rcpt_codes"])
                return out
            out["rcpt_codes"].append(ln[:3].decode("latin-1"))
        w.join(5)
        c.send(b"DATA\r\n")
        ln = c.line(min(stall, max(deadline - time.monotonic(), 1)))
        if not (ln or b"").startswith(b"354"):
            out["error"] = "DATA -> %r" % ln
            return out
        td = time.monotonic()
        c.send(body)
        n_ok = sum(1 for x in out["rcpt_codes"] if x == "250")
        while len(out["data_codes"]) < n_ok:
            left = min(deadline - time.monotonic(), stall)
            if left <= 0:
                out["error"] = "DATA replies stalled at %d of %d" % (len(out["data_codes"]), n_ok)
                return out
            try:
                ln = c.line(left)
            except (TimeoutError, socket.timeout):
                out["error"] = "no DATA reply for %.0f s after %d of %d" % (left, len(out["data_codes"]), n_ok)
                return out
            if ln is None:
                out["error"] = "closed after %d DATA replies" % len(out["data_codes"])
                return out
            out["data_codes"].append(ln[:3].decode("latin-1"))
        out["data_secs"] = time.monotonic() - td
        try:
            c.send(b"QUIT\r\n")
            c.line(5)
        except (OSError, TimeoutError):
            pass
        return out
    except (OSError, TimeoutError, socket.timeout) as e:
        out["error"] = "%s: %s" % (type(e).__name__, e)
        return out
    finally:
        out["secs"] = time.monotonic() - t0
        c.close()


def small_message(subject):
    return (b"From: <chaos@example.net>\r\nTo: <demo@localhost>\r\nSubject: " + subject.encode() +
            b"\r\nMessage-ID: <" + subject.encode() + b"@resilience.test>\r\n\r\nhello\r\n.\r\n")


def count_msgs(srv, user):
    n = 0
    for sub in ("new", "cur"):
        d = os.path.join(srv.maildir(user), sub)
        n += len(os.listdir(d)) if os.path.isdir(d) else 0
    return n


def lmtp_summary(r, n):
    return ("LMTP %d RCPT sent, %d x 250, DATA %d x 250 of %d in %.1f s%s"
            % (r["sent"], r["rcpt_codes"].count("250"), r["data_codes"].count("250"), n, r["secs"],
               (" (%s)" % r["error"]) if r["error"] else ""))


def r03_lmtp_many(ck, srv, n=1000):
    before = count_msgs(srv, "demo")
    rcpts = ["demo+%d@localhost" % i for i in range(1, n + 1)]
    r = lmtp_transaction(srv.lmtp_port, rcpts, small_message("many-rcpt"), timeout=60 * SLOW)
    ck.measure(lmtp_summary(r, n))
    ck.ok(r["error"] is None, "transaction completed (%s)" % (r["error"] or "ok"))
    ck.ok(r["sent"] == n, "all %d RCPT lines were sent (%d)" % (n, r["sent"]))
    ck.ok(r["rcpt_codes"] == ["250"] * n, "every RCPT got 250 (%d of %d; others %s)"
          % (r["rcpt_codes"].count("250"), n, sorted(set(r["rcpt_codes"]) - {"250"})))
    ck.ok(r["data_codes"] == ["250"] * n, "DATA got %d x 250 (%d)" % (n, r["data_codes"].count("250")))
    deadline = time.monotonic() + 5
    got = count_msgs(srv, "demo") - before
    while got < n and time.monotonic() < deadline and r["error"] is None:
        time.sleep(0.1)
        got = count_msgs(srv, "demo") - before
    ck.ok(got == n, "%d new messages in demo's INBOX (%d)" % (n, got))
    try:
        tg, tl = timed_login(srv, timeout=5 * SLOW)
        ck.measure("IMAP login afterwards %.2f s" % tl)
        ck.ok(tl < 2.0 * SLOW, "a new IMAP login works within 2 s (%.2f s)" % tl)
    except (OSError, TimeoutError, Closed, AssertionError) as e:
        ck.ok(False, "new IMAP login afterwards: %s: %s" % (type(e).__name__, e))
    sigterm_check(ck, srv)


# ============================================================================ R-04

def auth_attacker(addrs, port, until, period, per_addr, q):
    """Child process: rounds every `period` s (on the wall clock, so every attacker
    process fires at the same moment): open per_addr connections from each address,
    read the greetings, then send one wrong LOGIN on all of them at once and read the
    answers.  Once the addresses are banned, auth answers each request at once: a
    burst of requests meets a burst of replies."""
    import selectors
    stats = dict(attempts=0, no=0, bye=0, errors=0, conns=0, rounds=0)
    t = time.time()
    nxt = t - (t % period) + period
    while nxt < until:
        conns = []
        for a in addrs:
            for _ in range(per_addr):
                try:
                    conns.append(Conn(port, src=a, timeout=5))
                    stats["conns"] += 1
                except (OSError, TimeoutError, socket.timeout):
                    stats["errors"] += 1
        time.sleep(max(nxt - time.time(), 0))
        for c in conns:
            try:
                c.sock.send(b"a LOGIN demo wrong-password\r\n")
                stats["attempts"] += 1
            except OSError:
                stats["errors"] += 1
        sel = selectors.DefaultSelector()
        for c in conns:
            c.sock.setblocking(False)
            sel.register(c.sock, selectors.EVENT_READ, c)
        left = len(conns)
        deadline = min(time.time() + 8, until + 3)
        while left and time.time() < deadline:
            for key, _ in sel.select(0.5):
                c = key.data
                try:
                    d = c.sock.recv(4096)
                except BlockingIOError:
                    continue
                except OSError:
                    d = b""
                c.buf += d
                if re.search(rb"(^|\n)a NO", c.buf) or re.search(rb"(^|\n)\* BYE", c.buf) or not d:
                    if re.search(rb"(^|\n)a NO", c.buf):
                        stats["no"] += 1
                    elif re.search(rb"(^|\n)\* BYE", c.buf):
                        stats["bye"] += 1
                    else:
                        stats["errors"] += 1
                    sel.unregister(c.sock)
                    left -= 1
        stats["errors"] += left
        for c in conns:
            c.close()
        sel.close()
        stats["rounds"] += 1
        q.put(("auth-%s" % addrs[0], dict(stats), False))
        t = time.time()
        nxt = max(nxt + period, t - (t % period) + period)
    q.put(("auth-%s" % addrs[0], stats, True))


def start_attackers(target, groups, *args):
    q = MP.Queue()
    procs = [MP.Process(target=target, args=(g,) + args + (q,), daemon=True) for g in groups]
    for p in procs:
        p.start()
    return procs, q


def collect(procs, q, timeout):
    """Wait up to timeout s for every attacker's final report (name, stats, True);
    keep the latest (interim) report of the others, stop them, and merge: numbers
    are summed, other values kept; "unfinished" lists attackers that did not end."""
    latest, finals = {}, set()
    deadline = time.monotonic() + timeout
    while len(finals) < len(procs) and time.monotonic() < deadline:
        try:
            name, st, final = q.get(timeout=0.2)
        except Exception:
            if not any(p.is_alive() for p in procs):
                break
            continue
        latest[name] = st
        if final:
            finals.add(name)
    for p in procs:
        p.join(max(min(deadline - time.monotonic(), 2), 0.1))
        if p.is_alive():
            p.terminate()
            p.join(2)
    total = {"unfinished": sorted(set(latest) - finals)}
    for st in latest.values():
        for k, v in st.items():
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                total[k] = total.get(k, 0) + v
            else:
                total[k] = v
    return total


def legit_series(srv, n, spacing, tls=False, timeout=5.0, src=None, max_timeouts=3, greetings=None):
    """n timed legitimate logins, spaced; returns (times, failures); the greeting
    times go to the list greetings if given."""
    times, fails = [], []
    consecutive = 0
    for i in range(n):
        t0 = time.monotonic()
        if consecutive >= max_timeouts:
            fails.append("skipped after %d consecutive failures" % max_timeouts)
            continue
        try:
            tg, tl = timed_login(srv, tls=tls, timeout=timeout, src=src)
            times.append(tl)
            if greetings is not None:
                greetings.append(tg)
            consecutive = 0
        except (OSError, TimeoutError, Closed, AssertionError, socket.timeout) as e:
            fails.append("%s: %s" % (type(e).__name__, str(e)[:100]))
            consecutive += 1
        time.sleep(max(spacing - (time.monotonic() - t0), 0))
    return times, fails


def r04_auth_flood(ck, srv, seconds=12):
    addrs = ["127.0.1.%d" % i for i in range(1, 201)]
    groups = [addrs[i::4] for i in range(4)]
    log_start = len(srv.log_text())
    until = time.time() + seconds
    procs, q = start_attackers(auth_attacker, groups, srv.imap_port, until, 2.0, 5)
    time.sleep(2.0)
    greets = []
    times, fails = legit_series(srv, 20, (seconds - 3) / 20.0, timeout=5 * SLOW, greetings=greets)
    stats = collect(procs, q, seconds + 15)
    after_t, after_f = legit_series(srv, 5, 0.1, timeout=5 * SLOW)
    bans = len(set(re.findall(r"auth ban ip=(127\.0\.1\.\d+)", srv.log_text()[log_start:])))
    ck.measure("attackers: %d rounds, %d connections, %d failed LOGINs sent in bursts, %d NO, %d BYE, "
               "%d unanswered/errors; %d addresses banned"
               % (stats.get("rounds", 0), stats.get("conns", 0), stats.get("attempts", 0),
                  stats.get("no", 0), stats.get("bye", 0), stats.get("errors", 0), bans))
    # a failed or timed-out login counts as infinitely slow
    allt = times + [float("inf")] * len(fails)

    def fmt(x):
        return "%.2f s" % x if x != float("inf") else "timeout"
    ck.measure("legitimate LOGIN during the flood p50 %s p99 %s, greeting max %s (%d ok, %d failed)"
               % (fmt(percentile(allt, 50)), fmt(percentile(allt, 99)),
                  fmt(max(greets)) if greets else "-", len(times), len(fails)))
    ck.ok(not fails, "20 legitimate logins during the flood all work (%d failed: %s)"
          % (len(fails), fails[:2]))
    ck.ok(percentile(allt, 99) < 2.0 * SLOW, "legitimate LOGIN p99 < 2 s (%s)" % fmt(percentile(allt, 99)))
    ck.ok(not after_f and after_t and max(after_t) < 2.0 * SLOW,
          "logins after the flood work within 2 s (%s; %s)" % (["%.2f" % t for t in after_t], after_f[:1]))
    # not vacuous: auth really had piles of requests to answer
    ck.ok(stats.get("attempts", 0) >= 600, "the attackers sent >= 600 failed LOGINs (%d)" % stats.get("attempts", 0))
    ck.ok(stats.get("no", 0) + stats.get("bye", 0) >= 200 or bans >= 50,
          "auth answered the flood (%d NO/BYE, %d bans)" % (stats.get("no", 0) + stats.get("bye", 0), bans))
    sigterm_check(ck, srv)


# ============================================================================ R-05

def open_many(port, addrs, per_addr, timeout=3.0, stop=None):
    socks, failed = [], 0
    for a in addrs:
        for _ in range(per_addr):
            if stop is not None and stop.is_set():
                return socks, failed
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                s.bind((a, 0))
                s.settimeout(timeout)
                s.connect((HOST, port))
                socks.append(s)
            except OSError:
                failed += 1
                s.close()
    return socks, failed


def greeted(socks, timeout=2.0):
    """How many sockets have their greeting (or any data) waiting."""
    n = 0
    deadline = time.monotonic() + timeout
    for s in socks:
        s.settimeout(max(deadline - time.monotonic(), 0.01))
        try:
            if s.recv(4096, socket.MSG_PEEK):
                n += 1
        except OSError:
            pass
    return n


def nofile_limits(pid):
    try:
        with open("/proc/%d/limits" % pid) as f:
            for line in f:
                if line.startswith("Max open files"):
                    parts = line.split()
                    return int(parts[3]), int(parts[4])
    except (OSError, ValueError, IndexError):
        pass
    return None


def r05_emfile(ck, srv):
    lim = nofile_limits(srv.proc.pid)
    ck.ok(lim == (128, 128), "master runs with RLIMIT_NOFILE 128:128 (%s)" % (lim,))
    addrs = ["127.0.4.%d" % i for i in range(1, 6)]
    socks, failed = open_many(srv.imap_port, addrs, 40)
    time.sleep(1.0)
    n_greet = greeted(socks)
    # each one that got in sends a wrong LOGIN: with a failure delay and one guess at a
    # time per address, the requests (and their descriptors) pile up in the server
    sent = 0
    for s in socks:
        try:
            s.settimeout(0.5)
            s.sendall(b"a LOGIN demo wrong-password\r\n")
            sent += 1
        except OSError:
            pass
    peak = 0
    for _ in range(20):
        try:
            peak = max(peak, len(os.listdir("/proc/%d/fd" % srv.proc.pid)))
        except OSError:
            pass
        time.sleep(0.1)
    ck.measure("%d pre-login connections open (%d connects failed), %d greeted, %d sent a LOGIN; "
               "master fds peaked at %d of 128" % (len(socks), failed, n_greet, sent, peak))
    ck.ok(len(socks) >= 150, "more connections open than descriptors (%d >= 150)" % len(socks))
    ck.ok(n_greet >= 60, "the server served many of them (%d greeted)" % n_greet)
    for s in socks:
        s.close()
    time.sleep(3.0)
    for tls in (False, True, False):
        kind = "IMAPS" if tls else "IMAP"
        try:
            tg, tl = timed_login(srv, tls=tls, timeout=5 * SLOW)
            ck.ok(True, "%s login after the descriptors were freed (%.2f s)" % (kind, tl))
        except (OSError, TimeoutError, Closed, AssertionError, socket.timeout) as e:
            ck.ok(False, "%s login after the descriptors were freed: %s: %s" % (kind, type(e).__name__, e))
            break
    # the second half: soft 256, hard 4096 -> the master raises the soft limit
    s2 = ResServer(wrapper=["prlimit", "--nofile=256:4096"])
    try:
        s2.start()
        lim = nofile_limits(s2.proc.pid)
        ck.measure("master limits with prlimit 256:4096: soft %s hard %s" % (lim or ("?", "?")))
        ck.ok(lim is not None and lim[0] == 4096, "master raised its soft RLIMIT_NOFILE to the hard 4096 (%s)" % (lim,))
    finally:
        for p in s2.stop():
            ck.ok(False, "second server teardown: " + p)


# ============================================================================ R-06

def expect_greeting(ck, port, src, what, pattern=r"\* OK", tls=False):
    try:
        c = Conn(port, src=src, timeout=5, tls=tls)
    except OSError as e:
        ck.ok(False, "%s: connect: %s" % (what, e))
        return None
    ck.match(c.greeting or b"<closed>", pattern, what)
    return c


def expect_refused(ck, port, src, what, pattern=r"\* BYE", tls=False):
    """Over the cap: the first line matches pattern and the connection closes
    (implicit TLS: closed, no greeting)."""
    try:
        c = Conn(port, src=src, timeout=5, tls=tls)
    except (ssl.SSLError, ConnectionError) as e:
        ck.ok(tls, "%s: refused before/while TLS (%s)" % (what, type(e).__name__))
        return
    except OSError as e:
        ck.ok(False, "%s: connect: %s" % (what, e))
        return
    try:
        if tls:
            ck.ok(c.greeting is None, "%s: closed without a greeting (%r)" % (what, c.greeting))
            return
        ck.match(c.greeting or b"<closed>", pattern, what)
        lines, closed = c.rest(3)
        ck.ok(closed, "%s: then closed (%r)" % (what, lines[:2]))
    except (OSError, TimeoutError) as e:
        ck.ok(False, "%s: %s" % (what, e))
    finally:
        c.close()


def retry_greeting(port, src, seconds=2.0):
    deadline = time.monotonic() + seconds
    last = None
    while time.monotonic() < deadline:
        try:
            c = Conn(port, src=src, timeout=3)
        except OSError as e:
            last = str(e)
            time.sleep(0.2)
            continue
        if (c.greeting or b"").startswith(b"* OK"):
            return c, None
        last = c.greeting
        c.close()
        time.sleep(0.2)
    return None, last


def r06_caps(ck, srv):
    # per address: 5 from 127.0.0.2, the 6th gets BYE; 127.0.0.3 is still served
    held = [expect_greeting(ck, srv.imap_port, "127.0.0.2", "pre-login %d from 127.0.0.2" % (i + 1))
            for i in range(5)]
    expect_refused(ck, srv.imap_port, "127.0.0.2", "6th IMAP connection from 127.0.0.2 (cap 5)")
    expect_refused(ck, srv.pop3_port, "127.0.0.2", "POP3 over the cap from 127.0.0.2", r"-ERR")
    expect_refused(ck, srv.imaps_port, "127.0.0.2", "IMAPS over the cap from 127.0.0.2", tls=True)
    other = expect_greeting(ck, srv.imap_port, "127.0.0.3", "127.0.0.3 still gets the greeting")
    if held[0]:
        held[0].close()
        held[0] = None
    c, last = retry_greeting(srv.imap_port, "127.0.0.2")
    ck.ok(c is not None, "closing one from 127.0.0.2 lets a new one in (last answer %r)" % (last,))
    for x in held + [other, c]:
        if x:
            x.close()
    time.sleep(0.5)
    # logged-in sessions do not count against the pre-login cap
    sessions = []
    try:
        for i in range(5):
            sessions.append(imap_session(srv, tls=i >= 3, src="127.0.0.2"))
        ck.ok(True, "5 sessions from 127.0.0.2 logged in (3 plain, 2 IMAPS)")
    except (OSError, TimeoutError, Closed, AssertionError) as e:
        ck.ok(False, "logging in 5 sessions from 127.0.0.2 (cap 5): %s: %s" % (type(e).__name__, e))
    time.sleep(0.3)
    # with 5 logged-in sessions, 5 pre-login ones still get in, and the cap still holds
    pre = [expect_greeting(ck, srv.imap_port, "127.0.0.2",
                           "with %d logged-in sessions from 127.0.0.2, pre-login %d gets a greeting"
                           % (len(sessions), i + 1)) for i in range(5)]
    expect_refused(ck, srv.imap_port, "127.0.0.2", "and the 6th pre-login one gets * BYE")
    for c in pre + sessions:
        if c:
            c.close()
    # the total cap
    g = ResServer({"login_max_connections": 8, "login_max_connections_per_ip": 1000})
    try:
        g.start()
        held = [expect_greeting(ck, g.imap_port, "127.0.0.%d" % (i + 2), "total %d of 8" % (i + 1))
                for i in range(8)]
        # the total is full: a newcomer is served and the oldest connection of the
        # address holding the most goes (here all hold one: the oldest of all, held[0])
        c9 = expect_greeting(ck, g.imap_port, "127.0.0.20",
                             "9th connection overall (login_max_connections = 8) is served")
        if held[0]:
            try:
                lines, closed = held[0].rest(3)
                ck.ok(any(l.startswith(b"* BYE") for l in lines) and closed,
                      "the oldest connection gets * BYE and is closed (%r)" % (lines[:2],))
            except (OSError, TimeoutError) as e:
                ck.ok(False, "the oldest connection: %s" % e)
            held[0].close()
            held[0] = None
        for i, x in enumerate(held[1:]):
            if x:
                x.send(b"n NOOP\r\n")
                line = x.line(timeout=3)
                ck.ok(line is not None and line.startswith(b"n OK"),
                      "connection %d of 8 is still served (%r)" % (i + 2, line))
        # an address that holds many loses its own oldest, not another address's
        g2 = [expect_greeting(ck, g.imap_port, "127.0.0.30", "flood %d from 127.0.0.30" % (i + 1))
              for i in range(3)]
        if c9:
            c9.send(b"n NOOP\r\n")
            line = c9.line(timeout=3)
            ck.ok(line is not None and line.startswith(b"n OK"),
                  "127.0.0.20's one connection survives a flood from 127.0.0.30 (%r)" % (line,))
        for x in held + [c9] + g2:
            if x:
                x.close()
    except buzontest.ServerError as e:
        ck.ok(False, "second server (login_max_connections = 8) did not start: %s" % start_error(e))
    finally:
        problems = g.stop()
        if g.started:
            for p in problems:
                ck.ok(False, "second server teardown: " + p)


# ============================================================================ R-07

def socket_owner(srv, client_sock, server_port):
    """The pid of the server process holding the server side of a client TCP
    connection (from /proc/net/tcp and /proc/PID/fd), or None."""
    cport = client_sock.getsockname()[1]
    inode = None
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fl = line.split()
            lport = int(fl[1].split(":")[1], 16)
            rport = int(fl[2].split(":")[1], 16)
            if lport == server_port and rport == cport:
                inode = fl[9]
                break
    if inode is None or inode == "0":
        return None
    want = "socket:[%s]" % inode
    for pid in children(srv.proc.pid):
        try:
            for fd in os.listdir("/proc/%d/fd" % pid):
                try:
                    if os.readlink("/proc/%d/fd/%s" % (pid, fd)) == want:
                        return pid
                except OSError:
                    pass
        except OSError:
            pass
    return None


def wait_for(cond, seconds, step=0.1):
    deadline = time.monotonic() + seconds
    while True:
        v = cond()
        if v or time.monotonic() > deadline:
            return v
        time.sleep(step)


def noop_ok(c):
    try:
        return tagged(c.cmd("n", "NOOP", 5)).startswith("n OK")
    except (OSError, TimeoutError, Closed, socket.timeout):
        return False


def r07_pool(ck, srv):
    logins = wait_for(lambda: len(role_pids(srv, "login")) == 2 and role_pids(srv, "login"), 3)
    ck.ok(logins, "login_processes = 2: two login processes run (%s)" % role_pids(srv, "login"))
    sessions = [imap_session(srv, tls=True) for _ in range(10)]
    owners = [socket_owner(srv, c.sock, srv.imaps_port) for c in sessions]
    pids = role_pids(srv, "login")
    dist = {p: owners.count(p) for p in pids}
    ck.measure("sessions per login process %s" % sorted(dist.values(), reverse=True))
    victim = max(pids, key=lambda p: dist.get(p, 0)) if pids else None
    if victim is None:
        ck.ok(False, "no login process to kill")
        return
    os.kill(victim, signal.SIGKILL)
    t_kill = time.monotonic()
    ck.killed.add(victim)
    time.sleep(0.5)
    alive = [noop_ok(c) for c in sessions]
    expect = [o != victim for o in owners]
    ck.measure("killed login pid %d holding %d sessions: %d of 10 survive"
               % (victim, dist.get(victim, 0), sum(alive)))
    ck.ok(sum(alive) >= 1, "at least one session survives (%d)" % sum(alive))
    ck.ok(all(a for a, e in zip(alive, expect) if e),
          "every session not held by the killed process survives (%d of %d)"
          % (sum(1 for a, e in zip(alive, expect) if a and e), sum(expect)))
    repl = wait_for(lambda: len(role_pids(srv, "login")) == 2 and
                    [p for p in role_pids(srv, "login") if p not in pids],
                    max(3 - (time.monotonic() - t_kill), 0))
    ck.ok(repl, "a replacement login process within 3 s of the kill (%s after %.1f s; now %s)"
          % (repl, time.monotonic() - t_kill, role_pids(srv, "login")))
    for tls in (True, False):
        try:
            timed_login(srv, tls=tls, timeout=5 * SLOW)
            ck.ok(True, "new %s login works" % ("IMAPS" if tls else "IMAP"))
        except (OSError, TimeoutError, Closed, AssertionError) as e:
            ck.ok(False, "new %s login: %s: %s" % ("IMAPS" if tls else "IMAP", type(e).__name__, e))
    for c in sessions:
        c.close()
    # login_mode = per-connection
    p = ResServer({"login_mode": "per-connection"})
    try:
        p.start()
        sess = [imap_session(p, tls=True) for _ in range(3)]
        n = len(role_pids(p, "login"))
        ck.ok(n >= 3, "per-connection: 3 IMAPS sessions -> >= 3 login processes (%d)" % n)
        own = [socket_owner(p, c.sock, p.imaps_port) for c in sess]
        victim = own[1]
        logins = role_pids(p, "login")
        if victim is None or victim not in logins:
            # fall back: any login process that holds an established connection
            victim = next((x for x in logins if x in own), logins[0] if logins else None)
        if victim is None:
            ck.ok(False, "per-connection: no login process to kill")
        else:
            os.kill(victim, signal.SIGKILL)
            ck.killed.add(victim)	# allowed in this server's log too
            time.sleep(0.5)
            alive = [noop_ok(c) for c in sess]
            ck.measure("per-connection: killed pid %d, %d of 3 sessions survive" % (victim, sum(alive)))
            ck.ok(sum(alive) >= 2, "per-connection: at most the killed session died (%d of 3 alive)" % sum(alive))
            ck.ok(all(a for a, o in zip(alive, own) if o != victim),
                  "per-connection: the sessions of other processes keep working")
        for c in sess:
            c.close()
        bad = bad_log_lines(p, ck.killed)
        ck.ok(not bad, "per-connection server log clean (%s)" % bad[:1])
    except buzontest.ServerError as e:
        ck.ok(False, "second server (login_mode = per-connection) did not start: %s" % start_error(e))
    finally:
        problems = p.stop()
        if p.started:
            for x in problems:
                ck.ok(False, "second server teardown: " + x)


# ============================================================================ R-08

def chaos_nul(_, port, stop, q):
    n, answered = 0, 0
    while not stop.is_set():
        for v in NUL_VARIANTS:
            if stop.is_set():
                break
            n += 1
            try:
                last = nul_attempt(port, v, src="127.0.5.1", timeout=5)[-1]
                if re.match(rb"x (BAD|NO)|\* BYE", last):
                    answered += 1
            except (OSError, TimeoutError, Closed, socket.timeout):
                pass
            q.put(("nul", dict(nul_attempts=n, nul_answered=answered), False))
            stop.wait(0.2)
    q.put(("nul", dict(nul_attempts=n, nul_answered=answered), True))


def chaos_flood(_, ports, stop, q, seconds):
    res = []

    def one(port, tls, src):
        try:
            res.append(nonreader_flood(port, tls, False, seconds, src=src, stop=stop))
        except Exception as e:
            res.append(dict(error=str(e)))
    ths = [threading.Thread(target=one, args=(ports[0], False, "127.0.6.1")),
           threading.Thread(target=one, args=(ports[1], True, "127.0.6.2"))]
    for t in ths:
        t.start()
    for t in ths:
        t.join(seconds + 30)
    q.put(("flood", dict(flood_sent=sum(r.get("sent", 0) for r in res),
                         flood_owed=sum(r.get("owed", 0) for r in res),
                         flood_real=sum(1 for r in res if r.get("reply") and (
                             r.get("closed") or r.get("block", 0) >= 2 or r.get("owed", 0) >= 64 << 20)),
                         flood_errors="; ".join(str(r.get("error")) for r in res if r.get("error"))), True))


def chaos_ban(addrs, port, stop, q):
    """Failed logins from each address until it is banned, then the next address."""
    st = dict(ban_attempts=0, ban_addrs=0)
    lock = threading.Lock()
    todo = list(addrs)

    def worker():
        while not stop.is_set():
            with lock:
                if not todo:
                    return
                a = todo.pop(0)
            for k in range(3):		# 3 connections x 2 LOGINs: banned after 2
                if stop.is_set():
                    return
                try:
                    c = Conn(port, src=a, timeout=5)
                    c.send(b"b1 LOGIN demo nope\r\nb2 LOGIN demo nope\r\n")
                    with lock:
                        st["ban_attempts"] += 2
                    try:
                        c.until_tagged("b2", 8, bye_ends=True)
                    finally:
                        c.close()
                except (OSError, TimeoutError, socket.timeout):
                    pass
            with lock:
                st["ban_addrs"] += 1
                q.put(("ban", dict(st), False))
    ths = [threading.Thread(target=worker, daemon=True) for _ in range(10)]
    for t in ths:
        t.start()
    for t in ths:
        t.join()
    q.put(("ban", st, True))


def chaos_lmtp(_, port, stop, q, n):
    stop.wait(3)
    r = lmtp_transaction(port, ["bob+%d@localhost" % i for i in range(1, n + 1)],
                         small_message("chaos-many"), timeout=60 * SLOW, src="127.0.7.1")
    q.put(("lmtp", dict(lmtp_sent=r["sent"], lmtp_rcpt_ok=r["rcpt_codes"].count("250"),
                        lmtp_data_ok=r["data_codes"].count("250"), lmtp_secs=r["secs"],
                        lmtp_error=r["error"] or ""), True))


def chaos_connflood(_, port, stop, q):
    rounds, most = 0, 0
    addrs = ["127.0.3.%d" % i for i in range(1, 11)]
    while not stop.is_set():
        socks, failed = open_many(port, addrs, 30, timeout=2, stop=stop)
        most = max(most, len(socks))
        rounds += 1
        q.put(("connflood", dict(connflood_rounds=rounds, connflood_most=most), False))
        stop.wait(2)
        for s in socks:
            s.close()
        stop.wait(1)
    q.put(("connflood", dict(connflood_rounds=rounds, connflood_most=most), True))


def r08_chaos(ck, srv, seconds=60):
    stop = MP.Event()
    sampler = RssSampler(srv, ("login", "lmtp", "auth", "master"), 1.0, stop, 1024 * MiB)
    sampler.start()
    lost = []
    login_times = []
    lock = threading.Lock()
    legit_stop = threading.Event()

    # legitimate clients (this process: no load here skews their timings)
    idle = imap_session(srv, tls=True)
    r = idle.cmd("s", "SELECT INBOX")
    ck.match(tagged(r), r"s OK", "IDLE client SELECT")
    idle.send(b"i IDLE\r\n")
    ck.match(idle.line(), r"\+", "IDLE continuation")

    def looper(tls):
        while not legit_stop.is_set():
            t0 = time.monotonic()
            try:
                c = Conn(srv.imaps_port if tls else srv.imap_port, tls=tls, timeout=10)
                try:
                    r = c.cmd("a", "LOGIN demo %s" % USERS["demo"], 10)
                    if not tagged(r).startswith("a OK"):
                        raise AssertionError("LOGIN -> %r" % tagged(r))
                    with lock:
                        login_times.append(time.monotonic() - t0)
                    for tag, cmd in (("b", "SELECT INBOX"), ("c", "FETCH 1:* (UID FLAGS RFC822.SIZE)"),
                                     ("d", "LOGOUT")):
                        r = c.cmd(tag, cmd, 15)
                        if not tagged(r).startswith(tag + " OK"):
                            raise AssertionError("%s -> %r" % (cmd, tagged(r)))
                finally:
                    c.close()
            except (OSError, TimeoutError, Closed, AssertionError, socket.timeout) as e:
                with lock:
                    lost.append("%s loop: %s: %s" % ("IMAPS" if tls else "IMAP", type(e).__name__, str(e)[:80]))
                legit_stop.wait(1)
            legit_stop.wait(0.2)
    loops = [threading.Thread(target=looper, args=(t,), daemon=True) for t in (False, True)]
    for t in loops:
        t.start()

    ban_addrs = ["127.0.2.%d" % i for i in range(1, 251)]
    attackers = [
        (chaos_nul, (None, srv.imaps_port, stop)),
        (chaos_flood, (None, (srv.imap_port, srv.imaps_port), stop)),
        (chaos_ban, (ban_addrs, srv.imap_port, stop)),
        (chaos_lmtp, (None, srv.lmtp_port, stop)),
        (chaos_connflood, (None, srv.imap_port, stop)),
    ]
    q = MP.Queue()
    procs = []
    for fn, args in attackers:
        extra = (seconds,) if fn is chaos_flood else ((1000,) if fn is chaos_lmtp else ())
        p = MP.Process(target=fn, args=args + (q,) + extra, daemon=True)
        p.start()
        procs.append(p)
    t_end = time.monotonic() + seconds
    while time.monotonic() < t_end and not stop.is_set():
        time.sleep(0.5)
    aborted = stop.is_set()
    stop.set()
    legit_stop.set()
    for t in loops:
        t.join(30)
    # the IDLE session survived the whole run
    try:
        idle.send(b"DONE\r\n")
        r = idle.until_tagged("i", 10)
        ck.match(tagged(r), r"i OK", "IDLE session survived: DONE -> OK")
        ck.ok(noop_ok(idle), "IDLE session: NOOP after DONE")
    except (OSError, TimeoutError, Closed, socket.timeout) as e:
        ck.ok(False, "IDLE session lost: %s: %s" % (type(e).__name__, e))
    idle.close()
    stats = collect(procs, q, 25 * SLOW)
    sampler.stop()
    rss = ", ".join("%s %.1f" % (r, sampler.max.get(r, 0) / 1024.0) for r in ("login", "lmtp", "auth", "master"))
    ck.measure("RSS max MiB: %s" % rss)
    if login_times:
        ck.measure("legitimate LOGIN p50 %.2f s p99 %.2f s (n=%d)"
                   % (percentile(login_times, 50), percentile(login_times, 99), len(login_times)))
    ck.measure("LMTP %d/%d RCPT 250, %d DATA 250 in %.1f s%s"
               % (stats.get("lmtp_rcpt_ok", 0), stats.get("lmtp_sent", 0), stats.get("lmtp_data_ok", 0),
                  stats.get("lmtp_secs", 0), " (%s)" % stats["lmtp_error"] if stats.get("lmtp_error") else ""))
    if stats.get("unfinished"):
        ck.measure("attackers still busy at the end: %s" % ", ".join(stats["unfinished"]))
    ck.measure("NUL logins %d (%d answered), floods sent %.1f MB, %d failed LOGINs from %d addresses, "
               "%d connection-flood rounds (max %d open)"
               % (stats.get("nul_attempts", 0), stats.get("nul_answered", 0), stats.get("flood_sent", 0) / 1e6,
                  stats.get("ban_attempts", 0), stats.get("ban_addrs", 0), stats.get("connflood_rounds", 0),
                  stats.get("connflood_most", 0)))
    ck.ok(not aborted, "no server process above 1 GiB during the run")
    ck.ok(not lost, "no legitimate session lost (%d: %s)" % (len(lost), lost[:2]))
    ck.ok(len(login_times) >= 20, "legitimate clients kept working (%d logins)" % len(login_times))
    ck.ok(login_times and percentile(login_times, 99) < 2.0 * SLOW,
          "legitimate LOGIN p99 < 2 s")
    for r in ("login", "lmtp", "auth", "master"):
        ck.ok(sampler.max.get(r, 0) < 128 * MiB * (8 if ASAN else 1),
              "%s RSS max %.1f MiB < 128 MiB" % (r, sampler.max.get(r, 0) / 1024.0))
    ck.ok(stats.get("lmtp_rcpt_ok", 0) == 1000 and stats.get("lmtp_data_ok", 0) == 1000,
          "the 1000-recipient LMTP transaction completed (%s)" % (stats.get("lmtp_error") or "no report"))
    # not vacuous: every attacker really ran
    ck.ok(stats.get("nul_attempts", 0) >= 20, "NUL logins were sent (%d)" % stats.get("nul_attempts", 0))
    ck.ok(stats.get("flood_real", 0) == 2, "both non-reading floods were real (%d of 2)" % stats.get("flood_real", 0))
    ck.ok(stats.get("ban_attempts", 0) >= 100, "failed-login floods ran (%d)" % stats.get("ban_attempts", 0))
    ck.ok(stats.get("connflood_rounds", 0) >= 3 and stats.get("connflood_most", 0) >= 250,
          "connection floods of ~300 ran (%d rounds, max %d)" % (stats.get("connflood_rounds", 0),
                                                                stats.get("connflood_most", 0)))
    why = fresh_client_ok(srv)
    ck.ok(why is None, "fresh client after the run (%s)" % (why or "ok"))
    sigterm_check(ck, srv)


# ============================================================================ main

# ============================================================================ R-09

def ipc_header(type_name, length=0):
    """The 8-byte IPC header (src/lib/ipc.c) of a message of type_name with a payload
    of length bytes, as gdb string escapes."""
    with open(os.path.join(buzontest.REPO, "src", "lib", "ipc.h")) as f:
        text = f.read()
    version = int(re.search(r"#define IPC_VERSION (\d+)", text).group(1))
    body = re.sub(r"/\*.*?\*/", "", re.search(r"enum ipc_type \{(.*?)\};", text, re.S).group(1),
                  flags=re.S)
    val, types = 0, {}
    for item in body.split(","):
        m = re.match(r"\s*(IPC_\w+)(?:\s*=\s*(\d+))?\s*$", item)
        if m:
            val = int(m.group(2)) if m.group(2) else val + 1
            types[m.group(1)] = val
    raw = struct.pack("<II", version << 24 | types[type_name], length)
    return "".join("\\%03o" % b for b in raw)


def inject(pid, type_name):
    """Make process pid send a malformed message (a header announcing no payload for a
    type that has fields) on its IPC socket (fd 3), through gdb."""
    cmd = 'call (long)send(3, "%s", 8, 0x4000)' % ipc_header(type_name)
    r = subprocess.run(["gdb", "-p", str(pid), "-batch", "-nx", "-ex", cmd],
                       capture_output=True, text=True, timeout=60)
    return r.returncode, (r.stdout + r.stderr)[-300:]


def r09_malformed(ck, srv):
    if shutil.which("gdb") is None:
        ck.ok(False, "gdb is not installed (scripts/install-deps.sh)")
        return
    demo = imap_session(srv, user="demo")
    demo_mail = wait_for(lambda: role_pids(srv, "mail"), 3) or []
    ck.ok(len(demo_mail) == 1, "demo's mail process (%s)" % demo_mail)
    bob = imap_session(srv, user="bob")
    if len(demo_mail) != 1:
        return
    victim = demo_mail[0]
    ck.killed.add(victim)
    since = len(srv.log_text())
    # gdb's call ends with the process: the master kills it while the call returns
    rc, out = inject(victim, "IPC_MAIL_EMPTY")
    note("  gdb -> mail pid %d: rc %d" % (victim, rc))
    line = wait_for(lambda: re.search(r"malformed message from mail pid=%d: killing it" % victim,
                                      srv.log_text()[since:]), 5)
    ck.ok(line, "the master logs the malformed message and kills that mail process (gdb: %s)"
          % (out[-100:] if not line else "sent"))
    ck.ok(wait_for(lambda: not os.path.exists("/proc/%d/status" % victim) or
                   "\nState:\tZ" in open("/proc/%d/status" % victim).read(), 5),
          "the mail process is gone")
    ck.ok(srv.proc.poll() is None, "the master is alive")
    ck.ok(noop_ok(bob), "bob's session (another mail process) still answers")
    try:
        again = imap_session(srv, user="demo")
        ck.ok(noop_ok(again), "demo logs in again (a new mail process)")
        again.close()
    except (OSError, AssertionError, Closed, TimeoutError) as e:
        ck.ok(False, "demo logs in again: %s" % e)
    demo.close()
    # the auth process: a malformed reply kills auth, which is restarted
    auth = role_pids(srv, "auth")
    ck.ok(len(auth) == 1, "one auth process (%s)" % auth)
    if len(auth) == 1:
        ck.killed.add(auth[0])
        since = len(srv.log_text())
        rc, out = inject(auth[0], "IPC_AUTH_REPLY")
        note("  gdb -> auth pid %d: rc %d" % (auth[0], rc))
        ck.ok(wait_for(lambda: re.search(r"malformed reply from auth pid=%d: killing it" % auth[0],
                                         srv.log_text()[since:]), 5),
              "the master logs it and kills auth")
        new = wait_for(lambda: [p for p in role_pids(srv, "auth") if p != auth[0]], 5)
        ck.ok(new, "a new auth process runs (%s)" % new)
        ok = wait_for(lambda: login_works(srv), 5)
        ck.ok(ok, "logins work again")
    ck.ok(noop_ok(bob), "bob's session survived all of it")
    bob.close()


def login_works(srv):
    try:
        c = imap_session(srv, user="bob")
    except (OSError, AssertionError, Closed, TimeoutError):
        return False
    c.close()
    return True


def main():
    args = sys.argv[1:]
    while args:
        a = args.pop(0)
        if a == "-k" and args:
            FILTER.append(args.pop(0))
    if os.getuid() != 0:
        print("SKIP resilience: needs root (client addresses 127.0.x.y, prlimit, kill of server processes)")
        print("0 passed, 0 failed")
        return 0
    t0 = time.monotonic()
    auth_small = {"auth_ban_failures": 2, "auth_failure_delay_max": 1, "auth_ban_seconds": 60,
                  "auth_allow_cleartext": "yes"}
    run_case("R-01", "NUL in the LOGIN / SASL PLAIN name over implicit TLS, x5",
             "tagged BAD/NO each time; other IMAPS, IDLE and POP3S sessions keep answering",
             r01_nul_login, pop3=True)
    for cid, proto, secs in (("R-02a", "imap", 20), ("R-02b", "pop3", 15), ("R-02c", "imaps", 15)):
        run_case(cid, "non-reading %s flood on %s for %d s" % ("CAPA" if proto == "pop3" else "CAPABILITY",
                                                                proto.upper(), secs),
                 "login process RSS < 64 MiB; a legitimate IMAPS login works meanwhile",
                 lambda ck, srv, p=proto, s=secs: r02_flood(ck, srv, p, s), pop3=(proto == "pop3"))
    run_case("R-03", "one LMTP transaction with 1000 recipients",
             "1000 x 250 for RCPT and DATA, 1000 messages; login < 2 s; SIGTERM exit 0 < 5 s",
             r03_lmtp_many, lmtp=True)
    run_case("R-04", "failed logins from 200 addresses in parallel",
             "legitimate LOGIN p99 < 2 s over 20 tries; SIGTERM exit 0 < 5 s",
             r04_auth_flood, auth_small)
    run_case("R-05", "RLIMIT_NOFILE 128 and 200 pre-login connections",
             "logins work after the connections close; soft limit raised to hard",
             r05_emfile, {"auth_failure_delay_max": 2, "auth_allow_cleartext": "yes"},
             wrapper=["prlimit", "--nofile=128:128"])
    run_case("R-06", "pre-login connection caps",
             "per address 5: 6th gets * BYE (POP3 -ERR, IMAPS closed), other address served; "
             "total 8 full: the 9th is served and the oldest connection of the busiest address gets BYE; logged-in sessions not counted",
             r06_caps, {"login_max_connections_per_ip": 5, "auth_allow_cleartext": "yes"}, pop3=True)
    run_case("R-07", "kill -9 of one login process",
             "pool of 2: only its sessions die, replaced < 3 s; per-connection: only its session",
             r07_pool, {"login_processes": 2})
    run_case("R-09", "malformed IPC from a mail process and from auth",
             "that process is killed (and restarted), the master and other users' sessions "
             "go on", r09_malformed)
    run_case("R-10", "login right after the user's mail process was killed, x10",
             "every login is served by a new mail process", r10_mail_killed)
    run_case("R-08", "chaos run, 60 s",
             "no legitimate session lost, LOGIN p99 < 2 s, RSS < 128 MiB, SIGTERM exit 0 < 5 s",
             r08_chaos, dict(auth_small, login_processes=2), lmtp=True)
    note("total %.0f s" % (time.monotonic() - t0))
    print("%d passed, %d failed" % (RESULTS["pass"], RESULTS["fail"]))
    return 1 if RESULTS["fail"] else 0


if __name__ == "__main__":
    sys.exit(main())
