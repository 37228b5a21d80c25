#!/usr/bin/env python3
"""tests/security/run.py — black-box security checks of a running buzon server.

Starts real servers with tests/lib/buzontest.py (temp dir, self-signed ECDSA cert, free
ports on 127.0.0.1, passwd-file users with fixture mail) and attacks them from outside:
STARTTLS injection, plaintext-login policy, brute-force delays, pre-login limits,
ALPACA/ALPN, TLS versions and suites (openssl s_client), privilege separation seen
through /proc, certificate reload, clean shutdown and passwords in the log.  The case
ids are those of /work/shared/RELIABILITY.md section 5.4; see README.md next to this
file for what each case proves.

Prints one line per case, "PASS id name", "FAIL id name: why" or "SKIP id name: why"
(a check that cannot run as a normal user; counted as passed), then
"N passed, M failed"; exit status 1 if anything failed.  Details go to stderr.
Python 3 standard library and the openssl command line tool only.

Usage: tests/security/run.py [-k SUBSTRING ...]   ($BUZON selects the binary)
"""

import base64
import os
import pwd
import re
import shutil
import hashlib
import signal
import socket
import ssl
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

# Distinctive passwords: LOG-01 greps every server log for them (and their SASL forms).
USERS = {"alice": "Al1ce-s3cret-PW", "bob": "B0b-s3cret-PW", "carol": "C4rol-s3cret-PW"}
WRONG = ["Wr0ng-guess-one", "Wr0ng-guess-two", "Wr0ng-guess-three", "Wr0ng-guess-four"]
SECRETS = set(USERS.values()) | set(WRONG)


def note(msg):
    sys.stderr.write(msg.rstrip("\n") + "\n")
    sys.stderr.flush()


# ---------------------------------------------------------------------------- server

ALL_LOGS = []		# (description, final log text) of every server, for LOG-01


class SecServer(buzontest.Server):
    """buzontest.Server with config keys replaced (not appended) and the log kept."""

    def __init__(self, label, settings=None, extra_passwd=None, extra_env=None, **kw):
        kw.setdefault("users", USERS)
        super().__init__(**kw)
        self.label = label
        self.settings = dict(settings or {})
        self.extra_passwd = dict(extra_passwd or {})	# name: (uid, gid), alice's password
        self.extra_env = dict(extra_env or {})
        self.final_log = None

    def setup(self):
        super().setup()
        if self.extra_passwd:
            with open(self.passwd_file) as f:
                lines = f.read().splitlines()
            hashed = [l.split(":")[1] for l in lines if l.startswith("alice:")][0]
            for name, (uid, gid) in self.extra_passwd.items():
                lines.append("%s:%s:%d:%d::%s/%s::" % (name, hashed, uid, gid, self.mail_root, name))
            with open(self.passwd_file, "w") as f:
                f.write("\n".join(lines) + "\n")

    def env(self):
        e = super().env()
        e.update(self.extra_env)
        return e

    def config_lines(self):
        out = []
        for line in super().config_lines():
            key = line.split("=", 1)[0].strip() if "=" in line else None
            if key not in self.settings:
                out.append(line)
        return out + ["%s = %s" % kv for kv in self.settings.items()]

    def scan_logs(self):
        found = super().scan_logs()
        self.final_log = self.log_text()	# before stop() removes the temp dir
        ALL_LOGS.append((self.label, self.final_log))
        return found

    def wait_log(self, pattern, timeout=3.0, since=0):
        """Wait until regex pattern matches a line of the log (from offset since)."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            text = self.log_text()[since:]
            for line in text.splitlines():
                if rx.search(line):
                    return line
            if time.monotonic() > deadline:
                return None
            time.sleep(0.05)

    def log_size(self):
        return len(self.log_text())


# ---------------------------------------------------------------------------- clients

class Closed(Exception):
    pass


def insecure_ctx(**kw):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    for k, v in kw.items():
        setattr(ctx, k, v)
    return ctx


class Client:
    """A raw IMAP client: exact bytes out, CRLF lines in (buffered, so it can tell
    whether the server sent anything it should not have)."""

    def __init__(self, port, src="127.0.0.1", tls=False, timeout=5.0, greet=True, ctx=None, sni="localhost"):
        self.sock = socket.create_connection((HOST, port), timeout=timeout,
                                             source_address=(src, 0))
        self.buf = b""
        self.eof = False
        self.greeting = None
        if tls:
            self.wrap(ctx, sni)
        if greet:
            self.greeting = self.line()
            if self.greeting is None:
                raise Closed("closed before the greeting")

    def wrap(self, ctx=None, sni="localhost"):
        if self.buf:
            raise AssertionError("bytes before the TLS handshake: %r" % self.buf[:200])
        self.sock = (ctx or insecure_ctx()).wrap_socket(self.sock, server_hostname=sni)

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self, timeout):
        self.sock.settimeout(max(timeout, 0.01))
        try:
            d = self.sock.recv(65536)
        except (socket.timeout, TimeoutError):
            raise
        except (ssl.SSLError, ConnectionError, OSError):
            d = b""
        if not d:
            self.eof = True
        self.buf += d

    def line(self, timeout=5.0):
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

    def until_tagged(self, tag, timeout=5.0):
        """Lines up to and including the one tagged tag; raises Closed at EOF."""
        out = []
        deadline = time.monotonic() + timeout
        while True:
            ln = self.line(max(deadline - time.monotonic(), 0.01))
            if ln is None:
                raise Closed("connection closed; got %r" % out)
            out.append(ln)
            if ln.startswith(tag + b" "):
                return out

    def cmd(self, tag, text, timeout=5.0):
        if isinstance(tag, str):
            tag = tag.encode()
        if isinstance(text, str):
            text = text.encode()
        self.send(tag + b" " + text + b"\r\n")
        return self.until_tagged(tag, timeout)

    def rest(self, timeout=3.0):
        """Everything until EOF: (lines, closed?)."""
        out = []
        deadline = time.monotonic() + timeout
        while True:
            try:
                ln = self.line(max(deadline - time.monotonic(), 0.01))
            except TimeoutError:
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


def caps_of(lines):
    """Capability tokens from '* CAPABILITY ...' or '[CAPABILITY ...]' lines."""
    caps = set()
    for ln in lines if isinstance(lines, list) else [lines]:
        s = ln.decode("latin-1")
        m = re.search(r"\[CAPABILITY ([^\]]*)\]", s) or re.match(r"\* CAPABILITY (.*)", s.strip())
        if m:
            caps |= set(m.group(1).upper().split())
    return caps


def b64(data):
    return base64.b64encode(data).decode()


def tagged(lines):
    return lines[-1].decode("latin-1").rstrip("\r\n") if lines else ""


# ---------------------------------------------------------------------------- cases

class Skip(Exception):
    pass


class Check:
    """Collects failed expectations of one case (each check keeps going)."""

    def __init__(self):
        self.failures = []

    def ok(self, cond, what):
        if cond:
            note("  ok: %s" % what)
        else:
            note("  FAIL: %s" % what)
            self.failures.append(what)
        return bool(cond)

    def eq(self, got, want, what):
        return self.ok(got == want, "%s (got %s, want %s)" % (what, short(got), short(want)))


def short(v, n=160):
    s = repr(v)
    return s if len(s) <= n else s[:n] + "..."


RESULTS = {"pass": 0, "fail": 0, "skip": 0}


def run_case(cid, name, fn, *args):
    note("== %s %s" % (cid, name))
    ck = Check()
    t0 = time.monotonic()
    try:
        fn(ck, *args)
    except Skip as e:
        if ck.failures:	# what did run before the skip failed: that counts
            why = "; ".join(f.replace("\n", " ") for f in ck.failures)
            print("FAIL %s %s: %s (rest skipped: %s)" % (cid, name, why[:600], e))
            RESULTS["fail"] += 1
            sys.stdout.flush()
            return
        print("SKIP %s %s: %s" % (cid, name, e))
        sys.stdout.flush()
        RESULTS["skip"] += 1
        return
    except Exception as e:	# a client-side error is a failure of the case, not of the runner
        traceback.print_exc()
        ck.failures.append("%s: %s" % (type(e).__name__, str(e).splitlines()[0] if str(e) else ""))
    note("   (%.1f s)" % (time.monotonic() - t0))
    if ck.failures:
        for srv in args:
            if isinstance(srv, SecServer) and srv.tmp:
                note("  -- %s server: temp dir %s, passwd-file %s; last log lines:\n%s"
                     % (srv.label, "present" if os.path.isdir(srv.tmp) else "GONE",
                        "present" if os.path.exists(srv.passwd_file) else "GONE",
                        srv.final_log[-3000:] if srv.final_log else srv.log_tail(30)))
        why = "; ".join(f.replace("\n", " ") for f in ck.failures)
        print("FAIL %s %s: %s" % (cid, name, why[:600]))
        RESULTS["fail"] += 1
    else:
        print("PASS %s %s" % (cid, name))
        RESULTS["pass"] += 1
    sys.stdout.flush()


# ---- SEC-01 / SEC-04: STARTTLS ------------------------------------------------------

def starttls_injection(ck, srv, inject, label):
    """One segment 'a STARTTLS\\r\\n' + inject; after TLS nothing may answer it."""
    c = Client(srv.imap_port, src="127.0.0.2")
    c.send(b"a STARTTLS\r\n" + inject)
    ln = c.line()
    if ln is None:
        ck.ok(True, "%s: closed before TLS (reject policy)" % label)
        return
    ck.ok(ln.startswith(b"a OK"), "%s: a OK to STARTTLS (%r)" % (label, ln))
    ck.eq(c.buf, b"", "%s: nothing after 'a OK' before the handshake" % label)
    c.buf = b""
    c.wrap()
    out = c.cmd("c", "CAPABILITY")
    ck.ok(not any(l.startswith(b"b ") for l in out), "%s: no reply tagged b inside TLS: %r" % (label, out))
    ck.ok(b"Pre-login" in out[-1] and "AUTH=PLAIN" in caps_of(out),
          "%s: still pre-login after TLS (%r)" % (label, out[-1]))
    c.close()


def case_sec01(ck, srv):
    since = srv.log_size()
    starttls_injection(ck, srv, b"b CAPABILITY\r\n", "CAPABILITY")
    starttls_injection(ck, srv, b"b LOGIN alice %s\r\n" % USERS["alice"].encode(), "LOGIN")
    # split line: 'b LOG' in plaintext, 'IN alice pw' inside TLS — must never log in
    c = Client(srv.imap_port, src="127.0.0.2")
    c.send(b"a STARTTLS\r\nb LOG")
    ck.ok(c.line().startswith(b"a OK"), "split: a OK")
    c.wrap()
    c.send(b"IN alice %s\r\n" % USERS["alice"].encode())
    out = c.cmd("c", "CAPABILITY")
    ck.ok(any(b"BAD" in l for l in out[:-1]) and not any(l.startswith(b"b ") or l.startswith(b"IN ")
                                                          for l in out),
          "split: 'IN alice ...' gets an untagged BAD, nothing else (%r)" % out)
    ck.ok(b"Pre-login" in out[-1], "split: still pre-login (%r)" % out[-1])
    c.close()
    time.sleep(0.3)
    logins = [l for l in srv.log_text()[since:].splitlines() if re.search(r"imap login user=alice", l)]
    ck.eq(logins, [], "no successful login in the log from the injections")


def case_sec04(ck, srv, srv_noclear):
    for s, label in ((srv, "default"), (srv_noclear, "auth_allow_cleartext=no")):
        c = Client(s.imap_port, src="127.0.0.2")
        ck.ok(c.greeting.startswith(b"* OK"), "%s: 143 greeting is * OK, not PREAUTH (%r)" % (label, c.greeting))
        ck.ok(c.cmd("a", "STARTTLS")[-1].startswith(b"a OK"), "%s: STARTTLS OK" % label)
        c.wrap()
        caps = caps_of(c.cmd("b", "CAPABILITY"))
        ck.ok("STARTTLS" not in caps, "%s: no STARTTLS after TLS" % label)
        ck.ok("LOGINDISABLED" not in caps, "%s: no LOGINDISABLED after TLS" % label)
        ck.ok("AUTH=PLAIN" in caps, "%s: AUTH=PLAIN after TLS" % label)
        out = c.cmd("c", "STARTTLS")
        ck.ok(out[-1].startswith(b"c BAD"), "%s: second STARTTLS is BAD (%r)" % (label, out[-1]))
        out = c.cmd("d", "LOGIN alice %s" % USERS["alice"])
        ck.ok(out[-1].startswith(b"d OK"), "%s: LOGIN after TLS works (%r)" % (label, out[-1]))
        out = c.cmd("e", "STARTTLS")
        ck.ok(out[-1].startswith(b"e BAD"), "%s: STARTTLS after login is BAD (%r)" % (label, out[-1]))
        c.cmd("f", "LOGOUT")
        c.close()
        t = Client(s.imaps_port, tls=True)
        ck.ok(t.greeting.startswith(b"* OK") and b"STARTTLS" not in t.greeting.upper()
              and b"LOGINDISABLED" not in t.greeting.upper(),
              "%s: imaps greeting * OK without STARTTLS/LOGINDISABLED (%r)" % (label, t.greeting))
        t.close()
    # plaintext login on 143, then STARTTLS inside the session
    c = Client(srv.imap_port)
    ck.ok(c.cmd("a", "LOGIN bob %s" % USERS["bob"])[-1].startswith(b"a OK"), "loopback plaintext LOGIN")
    out = c.cmd("b", "STARTTLS")
    ck.ok(out[-1].startswith(b"b BAD"), "STARTTLS after a plaintext login is BAD (%r)" % out[-1])
    c.cmd("z", "LOGOUT")
    c.close()


# ---- SEC-05: plaintext login policy ---------------------------------------------------

def nonloopback_source():
    """A local IPv4 address outside 127/8 from which 127.0.0.1 can be reached, or None."""
    cands = []
    try:
        out = subprocess.run(["ip", "-4", "-o", "addr", "show"], capture_output=True,
                             text=True, timeout=5).stdout
        cands += re.findall(r"\binet (\d+\.\d+\.\d+\.\d+)/", out)
    except (OSError, subprocess.SubprocessError):
        pass
    try:
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.connect(("192.0.2.1", 9))	# no packet is sent: only picks a source address
        cands.append(u.getsockname()[0])
        u.close()
    except OSError:
        pass
    lst = socket.socket()
    lst.bind((HOST, 0))
    lst.listen(4)
    try:
        for a in cands:
            if a.startswith("127.") or a == "0.0.0.0":
                continue
            try:
                s = socket.create_connection(lst.getsockname(), timeout=1, source_address=(a, 0))
                s.close()
                return a
            except OSError:
                continue
    finally:
        lst.close()
    return None


def refused_plaintext(ck, port, src, label, srv):
    since = srv.log_size()
    c = Client(port, src=src)
    gcaps = caps_of(c.greeting)
    ck.ok("LOGINDISABLED" in gcaps and "AUTH=PLAIN" not in gcaps,
          "%s: greeting has LOGINDISABLED, no AUTH=PLAIN (%s)" % (label, sorted(gcaps)))
    caps = caps_of(c.cmd("a", "CAPABILITY"))
    ck.ok("LOGINDISABLED" in caps and "AUTH=PLAIN" not in caps and "STARTTLS" in caps,
          "%s: CAPABILITY has LOGINDISABLED and STARTTLS, no AUTH=PLAIN (%s)" % (label, sorted(caps)))
    out = c.cmd("b", "LOGIN alice %s" % USERS["alice"])
    ck.ok(out[-1].startswith(b"b NO [PRIVACYREQUIRED]"), "%s: LOGIN => NO [PRIVACYREQUIRED] (%r)" % (label, out[-1]))
    ir = b64(b"\0alice\0" + USERS["alice"].encode())
    out = c.cmd("c", "AUTHENTICATE PLAIN %s" % ir)
    ck.ok(out[-1].startswith(b"c NO [PRIVACYREQUIRED]"),
          "%s: AUTHENTICATE PLAIN (SASL-IR) => NO [PRIVACYREQUIRED] (%r)" % (label, out[-1]))
    c.send(b"d AUTHENTICATE PLAIN\r\n")
    ln = c.line()
    ck.ok(ln.startswith(b"d NO [PRIVACYREQUIRED]"),
          "%s: AUTHENTICATE PLAIN => NO [PRIVACYREQUIRED], no '+' (%r)" % (label, ln))
    if ln.startswith(b"+"):
        c.send(b"*\r\n")
        c.until_tagged(b"d")
    out = c.cmd("e", "AUTHENTICATE LOGIN")
    ck.ok(out[-1].startswith(b"e NO"), "%s: AUTHENTICATE LOGIN refused (%r)" % (label, out[-1]))
    # the refusals are not failures of the client: the connection stays usable, then TLS works
    ck.ok(c.cmd("f", "STARTTLS")[-1].startswith(b"f OK"), "%s: STARTTLS still possible" % label)
    c.wrap()
    out = c.cmd("g", "LOGIN alice %s" % USERS["alice"])
    ck.ok(out[-1].startswith(b"g OK"), "%s: LOGIN after STARTTLS works (%r)" % (label, out[-1]))
    c.cmd("h", "LOGOUT")
    c.close()
    time.sleep(0.2)
    log = srv.log_text()[since:]
    ck.ok("imap login failed" not in log, "%s: auth not consulted for the refused attempts" % label)


def plaintext_login_ok(ck, port, src, label):
    c = Client(port, src=src)
    caps = caps_of(c.greeting)
    ck.ok("AUTH=PLAIN" in caps and "LOGINDISABLED" not in caps,
          "%s: AUTH=PLAIN, no LOGINDISABLED (%s)" % (label, sorted(caps)))
    out = c.cmd("a", "LOGIN alice %s" % USERS["alice"])
    ck.ok(out[-1].startswith(b"a OK"), "%s: plaintext LOGIN works (%r)" % (label, out[-1]))
    c.cmd("b", "LOGOUT")
    c.close()


def case_sec05_nonlocal(ck, srv):
    # docs/security.md: "local" is client address == server address (Dovecot's rule), so
    # 127.0.0.2 -> 127.0.0.1 is not local although Linux routes it over lo
    refused_plaintext(ck, srv.imap_port, "127.0.0.2", "default config from 127.0.0.2", srv)
    src = nonloopback_source()
    if src is None:
        note("  no local IPv4 address outside 127/8 here: only 127.0.0.2 tested")
    else:
        refused_plaintext(ck, srv.imap_port, src, "default config from %s" % src, srv)


def case_sec05_loopback(ck, srv):
    plaintext_login_ok(ck, srv.imap_port, "127.0.0.1", "default config from 127.0.0.1")


def case_sec05_no(ck, srv_noclear):
    refused_plaintext(ck, srv_noclear.imap_port, "127.0.0.1", "cleartext=no from 127.0.0.1", srv_noclear)
    refused_plaintext(ck, srv_noclear.imap_port, "127.0.0.2", "cleartext=no from 127.0.0.2", srv_noclear)


# ---- SEC-06: plaintext to the implicit-TLS port --------------------------------------

def case_sec06(ck, srv):
    s = socket.create_connection((HOST, srv.imaps_port), timeout=5)
    t0 = time.monotonic()
    s.sendall(b"a CAPABILITY\r\n")
    data = b""
    closed = False
    s.settimeout(0.2)
    while time.monotonic() - t0 < 3:
        try:
            d = s.recv(4096)
        except (socket.timeout, TimeoutError):
            continue
        except OSError:
            closed = True
            break
        if not d:
            closed = True
            break
        data += d
    dt = time.monotonic() - t0
    s.close()
    ck.ok(closed and dt < 1.0, "closed within 1 s (closed=%s after %.2f s)" % (closed, dt))
    ck.ok(b"OK" not in data and b"CAPABILITY" not in data and b"* " not in data,
          "no IMAP text in the reply (%r)" % data[:80])
    ck.ok(data == b"" or data[:1] == b"\x15", "at most a TLS alert record (%r)" % data[:16])
    t = Client(srv.imaps_port, tls=True)
    out = t.cmd("a", "LOGIN alice %s" % USERS["alice"])
    ck.ok(out[-1].startswith(b"a OK"), "implicit TLS login works without STARTTLS")
    t.cmd("b", "LOGOUT")
    t.close()


# ---- SEC-10: failure delay -----------------------------------------------------------

def timed_login(port, src, user, password, timeout=25.0):
    """LOGIN over implicit TLS (port = the imaps port); (tagged reply, seconds)."""
    c = Client(port, src=src, tls=True)
    t0 = time.monotonic()
    out = c.cmd("a", "LOGIN %s %s" % (user, password), timeout=timeout)
    dt = time.monotonic() - t0
    try:
        c.cmd("z", "LOGOUT", timeout=2)
    except Exception:
        pass
    c.close()
    return out[-1], dt


def within(dt, want):
    tol = max(0.2 * want, 0.5)
    return want - tol <= dt <= want + tol


def case_sec10(ck, srv):
    # keep alice's mail process alive so 127.0.0.4's login measures auth, not a spawn
    keep = srv.imap("alice", USERS["alice"])
    for i, want in enumerate((2.0, 4.0), 1):
        line, dt = timed_login(srv.imaps_port, "127.0.0.3", "alice", WRONG[i - 1])
        note("  failure %d from 127.0.0.3: %.2f s %r" % (i, dt, line))
        ck.ok(line.startswith(b"a NO [AUTHENTICATIONFAILED]"), "failure %d refused (%r)" % (i, line))
        ck.ok(within(dt, want), "failure %d answered after %.2f s, want %.0f s" % (i, dt, want))
    third = {}

    def third_try():
        try:
            third["line"], third["dt"] = timed_login(srv.imaps_port, "127.0.0.3", "alice", WRONG[2])
        except Exception as e:
            third["err"] = e
    th = threading.Thread(target=third_try)
    th.start()
    time.sleep(1.5)
    line, dt = timed_login(srv.imaps_port, "127.0.0.4", "alice", USERS["alice"])
    note("  127.0.0.4 meanwhile: %.2f s %r" % (dt, line))
    ck.ok(line.startswith(b"a OK"), "127.0.0.4 logs in while 127.0.0.3 is penalised (%r)" % line)
    ck.ok(dt < 1.0, "127.0.0.4 answered in %.2f s (< 1 s)" % dt)
    th.join(30)
    if "err" in third:
        ck.ok(False, "third failure: %s" % third["err"])
    elif "dt" in third:
        note("  failure 3 from 127.0.0.3: %.2f s %r" % (third["dt"], third["line"]))
        ck.ok(third["line"].startswith(b"a NO [AUTHENTICATIONFAILED]"), "failure 3 refused")
        ck.ok(within(third["dt"], 8.0), "failure 3 answered after %.2f s, want 8 s" % third["dt"])
    else:
        ck.ok(False, "third failure did not finish")
    line, dt = timed_login(srv.imaps_port, "127.0.0.3", "alice", USERS["alice"])
    note("  right password from 127.0.0.3 after the failures: %.2f s %r" % (dt, line))
    ck.ok(line.startswith(b"a OK"), "right password after the failures works (%r)" % line)
    keep.logout()


# ---- SEC-11 / 12 / 16 / 17: authentication --------------------------------------------

def case_sec11(ck, srv):
    c = Client(srv.imap_port)
    for i in range(3):
        c.send(b"a%d LOGIN alice %s\r\n" % (i, WRONG[i].encode()))
        out = c.until_tagged(b"a%d" % i)
        ck.ok(out[-1].startswith(b"a%d NO" % i), "failure %d: NO (%r)" % (i + 1, out[-1]))
    lines, closed = c.rest(3)
    ck.ok(any(l.startswith(b"* BYE") for l in lines), "* BYE after the third failure (%r)" % lines)
    ck.ok(closed, "connection closed after the third failure")
    c.close()
    # the counter is per connection: a fresh one still logs in
    c = Client(srv.imap_port)
    ck.ok(c.cmd("b", "LOGIN alice %s" % USERS["alice"])[-1].startswith(b"b OK"), "fresh connection logs in")
    c.cmd("z", "LOGOUT")
    c.close()


def case_sec12(ck, srv):
    replies = {}
    times = {"unknown": [], "wrong": []}
    for i in range(20):
        c = Client(srv.imap_port)
        pair = [("unknown", "nosuchuser%d" % i, WRONG[0]), ("wrong", "alice", WRONG[1])]
        for kind, user, pw in (pair if i % 2 else pair[::-1]):	# alternate the order
            t0 = time.monotonic()
            out = c.cmd("a", "LOGIN %s %s" % (user, pw))
            times[kind].append(time.monotonic() - t0)
            replies.setdefault(("LOGIN", kind), set()).add(out[-1])
        c.close()
    c = Client(srv.imap_port)
    for kind, user, pw in (("unknown", "nosuchuser", WRONG[0]), ("wrong", "alice", WRONG[1])):
        out = c.cmd("a", "AUTHENTICATE PLAIN %s" % b64(b"\0" + user.encode() + b"\0" + pw.encode()))
        replies.setdefault(("PLAIN", kind), set()).add(out[-1])
    c.close()
    for mech in ("LOGIN", "PLAIN"):
        u, w = replies[(mech, "unknown")], replies[(mech, "wrong")]
        ck.ok(len(u) == 1 and u == w, "%s: unknown user and wrong password give one identical line (%r / %r)"
              % (mech, u, w))
    mu, mw = statistics.median(times["unknown"]), statistics.median(times["wrong"])
    note("  median reply time: unknown user %.1f ms, wrong password %.1f ms" % (mu * 1000, mw * 1000))
    # coarse: an unknown user must not skip the hash work (docs/security.md, SEC-12)
    ck.ok(mu >= 0.5 * mw, "unknown-user replies not much faster (%.1f ms vs %.1f ms)" % (mu * 1000, mw * 1000))


def case_sec16(ck, srv):
    since = srv.log_size()
    user = b"evil\r\nFAKE LOG LINE\x1b[31m\rX"
    c = Client(srv.imap_port)
    c.send(b"a LOGIN {%d}\r\n" % len(user))
    ln = c.line()
    ck.ok(ln.startswith(b"+"), "literal continuation (%r)" % ln)
    c.send(user + b" " + WRONG[3].encode() + b"\r\n")
    out = c.until_tagged(b"a")
    ck.ok(out[-1].startswith(b"a NO"), "login refused (%r)" % out[-1])
    c.close()
    line = srv.wait_log(r"FAKE LOG LINE", since=since)
    ck.ok(line is not None, "the attempt is logged")
    raw = srv.log_text().encode("utf-8", "surrogateescape")[since:]
    ck.ok(b"\x1b" not in raw, "no raw ESC byte in the log")
    ck.ok(b"\r" not in raw, "no raw CR in the log")
    lines = [l for l in raw.split(b"\n") if b"FAKE LOG LINE" in l]
    ck.eq(len(lines), 1, "the user name is on exactly one log line")
    for l in raw.split(b"\n"):
        if l.lstrip().startswith(b"FAKE") or l.lstrip().startswith(b"[31m") or l.startswith(b"X"):
            ck.ok(False, "a log line starts with client bytes: %r" % l)
    if lines:
        ck.ok(b"login failed" in lines[0] and b"evil" in lines[0] and b"\\x1b" in lines[0].lower()
              and b"\\x0d" in lines[0].lower() and b"\\x0a" in lines[0].lower(),
              "the line is the failed-login line with the bytes escaped (%r)" % lines[0])


def case_sec17(ck, srv):
    a, pa = "alice", USERS["alice"]
    c = Client(srv.imap_port)
    out = c.cmd("a", "AUTHENTICATE PLAIN %s" % b64(b"bob\0alice\0" + pa.encode()))
    ck.ok(out[-1].startswith(b"a NO"), "PLAIN authzid=bob authcid=alice refused (%r)" % out[-1])
    c.send(b"b AUTHENTICATE PLAIN\r\n")
    ck.ok(c.line().startswith(b"+"), "PLAIN without IR: continuation")
    c.send(b64(b"alice\0bob\0" + USERS["bob"].encode()).encode() + b"\r\n")
    out = c.until_tagged(b"b")
    ck.ok(out[-1].startswith(b"b NO"), "PLAIN authzid=alice authcid=bob (bob's password) refused (%r)" % out[-1])
    # cancel with "*" (RFC 3501 6.2.2: tagged BAD), PLAIN and LOGIN; the connection stays usable
    c.send(b"c AUTHENTICATE PLAIN\r\n")
    ck.ok(c.line().startswith(b"+"), "PLAIN: continuation before cancel")
    c.send(b"*\r\n")
    out = c.until_tagged(b"c")
    ck.ok(out[-1].startswith(b"c BAD") or out[-1].startswith(b"c NO"), "'*' cancels PLAIN (%r)" % out[-1])
    c.send(b"d AUTHENTICATE LOGIN\r\n")
    ck.ok(c.line().startswith(b"+"), "LOGIN: username prompt")
    c.send(b64(a.encode()).encode() + b"\r\n")
    ck.ok(c.line().startswith(b"+"), "LOGIN: password prompt")
    c.send(b"*\r\n")
    out = c.until_tagged(b"d")
    ck.ok(out[-1].startswith(b"d BAD") or out[-1].startswith(b"d NO"), "'*' cancels LOGIN (%r)" % out[-1])
    ck.ok(c.cmd("e", "NOOP")[-1].startswith(b"e OK"), "connection usable after the cancels")
    # authzid == authcid is allowed, SASL-IR
    out = c.cmd("f", "AUTHENTICATE PLAIN %s" % b64(b"alice\0alice\0" + pa.encode()))
    ck.ok(out[-1].startswith(b"f OK"), "PLAIN with authzid=authcid + SASL-IR logs in (%r)" % out[-1])
    ck.ok(c.cmd("g", "SELECT INBOX")[-1].startswith(b"g OK"), "session works after PLAIN")
    c.cmd("z", "LOGOUT")
    c.close()
    # SASL-IR, empty authzid, over TLS
    t = Client(srv.imaps_port, tls=True)
    out = t.cmd("a", "AUTHENTICATE PLAIN %s" % b64(b"\0bob\0" + USERS["bob"].encode()))
    ck.ok(out[-1].startswith(b"a OK"), "PLAIN SASL-IR over TLS logs in (%r)" % out[-1])
    t.cmd("z", "LOGOUT")
    t.close()
    # PLAIN without IR
    c = Client(srv.imap_port)
    c.send(b"a AUTHENTICATE PLAIN\r\n")
    ck.ok(c.line().startswith(b"+"), "PLAIN continuation")
    c.send(b64(b"\0bob\0" + USERS["bob"].encode()).encode() + b"\r\n")
    ck.ok(c.until_tagged(b"a")[-1].startswith(b"a OK"), "PLAIN without IR logs in")
    c.cmd("z", "LOGOUT")
    c.close()
    # LOGIN mechanism
    c = Client(srv.imap_port)
    c.send(b"a AUTHENTICATE LOGIN\r\n")
    ln = c.line()
    ck.ok(ln.startswith(b"+ ") and base64.b64decode(ln[2:].strip()) == b"Username:", "LOGIN: Username: (%r)" % ln)
    c.send(b64(b"carol").encode() + b"\r\n")
    ln = c.line()
    ck.ok(ln.startswith(b"+ ") and base64.b64decode(ln[2:].strip()) == b"Password:", "LOGIN: Password: (%r)" % ln)
    c.send(b64(USERS["carol"].encode()).encode() + b"\r\n")
    out = c.until_tagged(b"a")
    ck.ok(out[-1].startswith(b"a OK"), "AUTHENTICATE LOGIN logs in (%r)" % out[-1])
    c.cmd("z", "LOGOUT")
    c.close()
    # an oversized SASL response is refused, not buffered without bound
    c = Client(srv.imap_port)
    c.send(b"a AUTHENTICATE PLAIN\r\n")
    c.line()
    c.send(b"A" * 20000 + b"\r\n")
    lines, closed = c.rest(3)
    ck.ok(closed or any(b"BAD" in l or b"NO" in l for l in lines), "20 KB SASL response refused (%r)" % lines[:3])
    c.close()


def case_sec15(ck, srv):
    """Credentials at and beyond the bounds (user 255, password 1024 octets; SASL 8 KiB):
    each gets a protocol reply, the login process survives (it proxies every TLS session
    it accepted), and no client input causes an error-level log line."""
    pids = role_pids(srv, "login")
    sess = srv.imaps("bob", USERS["bob"])
    since = srv.log_size()
    cases = [
        ("PLAIN authcid 255", b"a AUTHENTICATE PLAIN " + b64(b"\0" + b"u" * 255 + b"\0pw").encode()),
        ("PLAIN authcid 256", b"a AUTHENTICATE PLAIN " + b64(b"\0" + b"u" * 256 + b"\0pw").encode()),
        ("PLAIN authzid 300", b"a AUTHENTICATE PLAIN " + b64(b"z" * 300 + b"\0alice\0pw").encode()),
        ("PLAIN password 600", b"a AUTHENTICATE PLAIN " + b64(b"\0alice\0" + b"p" * 600).encode()),
        ("PLAIN password 1024", b"a AUTHENTICATE PLAIN " + b64(b"\0alice\0" + b"p" * 1024).encode()),
        ("PLAIN password 1025", b"a AUTHENTICATE PLAIN " + b64(b"\0alice\0" + b"p" * 1025).encode()),
        ("PLAIN 6000-byte response", b"a AUTHENTICATE PLAIN " + b64(b"\0alice\0" + b"p" * 6000).encode()),
        ("LOGIN user 255", b"a LOGIN " + b"u" * 255 + b" pw"),
        ("LOGIN user 256", b"a LOGIN " + b"u" * 256 + b" pw"),
        ("LOGIN password 1024", b"a LOGIN alice " + b"p" * 1024),
        ("LOGIN password 1025", b"a LOGIN alice " + b"p" * 1025),
        ("SASL LOGIN user with NUL", b"a AUTHENTICATE LOGIN " + b64(b"ali\0ce").encode()),
        ("SASL LOGIN password with NUL", None),
        ("tag of 64", b"T" * 64 + b" LOGIN alice x"),
    ]
    for label, data in cases:
        c = Client(srv.imap_port)
        if data is None:
            c.send(b"a AUTHENTICATE LOGIN " + b64(b"alice").encode() + b"\r\n")
            c.line()
            c.send(b64(USERS["alice"].encode() + b"\0x").encode() + b"\r\n")
        else:
            c.send(data + b"\r\n")
        try:
            ln = c.line(3)
        except TimeoutError:
            ln = b"(nothing)"
        ck.ok(ln is not None and (b" NO " in ln or b" BAD " in ln), "%s: refused (%r)" % (label, (ln or b"")[:70]))
        c.close()
    ck.eq(role_pids(srv, "login"), pids, "the login process survived")
    typ, _ = sess.noop()
    ck.eq(typ, "OK", "a TLS session proxied by it still works")
    sess.logout()
    time.sleep(0.3)
    errs = [l for l in srv.log_text()[since:].splitlines() if re.search(r"\b(error|panic|fatal)\b:", l)]
    ck.eq(errs, [], "no error-level log line caused by client input")


def case_pipe01(ck, srv):
    """Commands pipelined behind LOGIN (RFC 3501 5.5; architecture.md step 2: the login
    process hands the already-read bytes on with the connection) are answered, by the
    mail process after a success and by the login process after a failure."""
    for tls in (False, True):
        label = "TLS" if tls else "plaintext"
        c = Client(srv.imaps_port if tls else srv.imap_port, tls=tls)
        c.send(b"a LOGIN alice %s\r\nb NOOP\r\nc SELECT INBOX\r\n" % USERS["alice"].encode())
        try:
            out = c.until_tagged(b"c", timeout=4)
            ck.ok(any(l.startswith(b"a OK") for l in out) and any(l.startswith(b"b OK") for l in out)
                  and out[-1].startswith(b"c OK"), "%s: b and c answered after the login (%r)" % (label, out[-1]))
        except (TimeoutError, Closed) as e:
            ck.ok(False, "%s: commands pipelined behind a successful LOGIN are not answered (%s)" % (label, e))
        c.close()
    c = Client(srv.imap_port)
    c.send(b"a LOGIN alice %s\r\nb NOOP\r\nc LOGIN alice %s\r\n"
           % (WRONG[0].encode(), USERS["alice"].encode()))
    try:
        out = c.until_tagged(b"c", timeout=4)
        ck.ok(out[0].startswith(b"a NO") and any(l.startswith(b"b OK") for l in out) and out[-1].startswith(b"c OK"),
              "after a failed LOGIN: b (NOOP) and c (LOGIN) answered (%r)" % out)
    except (TimeoutError, Closed) as e:
        ck.ok(False, "commands pipelined behind a failed LOGIN are not answered (%s)" % e)
    c.close()


# ---- pre-auth limits, SEC-20, SEC-23 ----------------------------------------------------

def case_pre_badcmds(ck, srv):
    c = Client(srv.imap_port)
    for i in range(3):
        c.send(b"x%d FROBNICATE\r\n" % i)
    lines, closed = c.rest(3)
    ck.eq(sum(1 for l in lines if b"BAD" in l), 3, "three BAD replies")
    ck.ok(lines and lines[-1].startswith(b"* BYE"), "then * BYE (%r)" % lines)
    ck.ok(closed, "and close")
    c.close()


HTTP_REQS = [
    b"GET /alpaca-probe HTTP/1.1\r\nHost: evil.example\r\nUser-Agent: Mozilla/5.0 zzcanary\r\n"
    b"Accept: */*\r\nCookie: sid=qqcanary\r\n\r\n",
    b"POST /form HTTP/1.1\r\nHost: evil.example\r\nContent-Type: text/plain\r\nContent-Length: 40\r\n"
    b"\r\n<script>alert('zzcanary')</script>x1 NOOP\r\n",
]
HTTP_TOKENS = [b"GET", b"POST", b"HTTP", b"alpaca", b"evil", b"Host", b"zzcanary", b"qqcanary",
               b"Mozilla", b"script", b"Cookie", b"form", b"Content"]


def case_sec20(ck, srv):
    for port, tls in ((srv.imap_port, False), (srv.imaps_port, True)):
        for req in HTTP_REQS:
            label = "%s %s" % ("993" if tls else "143", req.split(b" ")[0].decode())
            c = Client(port, tls=tls)
            c.send(req)
            lines, closed = c.rest(3)
            ck.ok(closed, "%s: closed (%r)" % (label, lines))
            ck.ok(len(lines) <= 4 and sum(1 for l in lines if l.startswith(b"* BAD") or b" BAD " in l) <= 3,
                  "%s: closed within 3 lines (%d replies)" % (label, len(lines)))
            ck.ok(any(l.startswith(b"* BYE") for l in lines), "%s: * BYE (%r)" % (label, lines))
            echoed = [t for t in HTTP_TOKENS for l in lines if t.lower() in l.lower()]
            ck.ok(not echoed, "%s: no client bytes echoed (%r in %r)" % (label, echoed, lines))
            c.close()


def case_pre_longline(ck, srv):
    for label, data in (("9000-byte atom line", b"a NOOP " + b"x" * 9000 + b"\r\n"),
                        ("9000-byte quoted LOGIN", b"a LOGIN \"" + b"x" * 9000 + b"\" pw\r\n"),
                        ("16 KiB without CRLF", b"a LOGIN " + b"y" * 16384)):
        c = Client(srv.imap_port)
        c.send(data)
        lines, closed = c.rest(3)
        ck.ok(any(l.startswith(b"* BYE") for l in lines) and closed, "%s: * BYE and close (%r)" % (label, lines))
        ck.ok(not any(b"xxxx" in l or b"yyyy" in l for l in lines), "%s: not echoed" % label)
        c.close()
    # just under the limit is fine
    c = Client(srv.imap_port)
    out = c.cmd("a", "ID (\"k\" \"%s\")" % ("v" * 4000))
    ck.ok(out[-1].startswith(b"a OK"), "a 4 KB line is accepted (%r)" % out[-1])
    c.close()


def case_pre_literal(ck, srv):
    c = Client(srv.imap_port)
    c.send(b"a LOGIN {100000}\r\n")
    lines, closed = c.rest(2)
    ck.ok(not any(l.startswith(b"+") for l in lines), "no '+' for {100000} (%r)" % lines)
    ck.ok(any(l.startswith(b"a NO [TOOBIG]") or l.startswith(b"* BYE") for l in lines),
          "{100000}: NO [TOOBIG] or * BYE (%r)" % lines)
    if not closed:
        ck.ok(c.cmd("b", "NOOP")[-1].startswith(b"b OK"), "connection usable after NO [TOOBIG]")
    c.close()
    # non-synchronising: the payload must never run as commands (rule 3)
    payload = b"b CAPABILITY\r\n" * 1000
    c = Client(srv.imap_port)
    c.send(b"a LOGIN {%d+}\r\n" % len(payload) + payload)
    lines, closed = c.rest(3)
    ck.ok(not any(l.startswith(b"b ") or l.startswith(b"* CAPABILITY") for l in lines),
          "{%d+}: payload not executed (%r)" % (len(payload), lines[:4]))
    ck.ok(closed or any(b"TOOBIG" in l for l in lines), "{%d+}: refused (%r)" % (len(payload), lines[:4]))
    c.close()
    # within the pre-login literal limit a literal login works
    c = Client(srv.imap_port)
    c.send(b"a LOGIN alice {%d}\r\n" % len(USERS["alice"]))
    ck.ok(c.line().startswith(b"+"), "small literal gets '+'")
    c.send(USERS["alice"].encode() + b"\r\n")
    ck.ok(c.until_tagged(b"a")[-1].startswith(b"a OK"), "literal password logs in")
    c.cmd("z", "LOGOUT")
    c.close()


def case_sec23(ck, srv):
    for tag in (b"<script>", b"a<b", b"a>b", b"a\"b", b"<img/src=x>", b"T" * 70, b"U" * 300):
        c = Client(srv.imap_port)
        c.send(tag + b" NOOP\r\nok1 NOOP\r\n")
        lines = c.until_tagged(b"ok1")[:-1]
        ck.ok(lines, "tag %r: some reply" % tag[:20])
        ck.ok(not any(tag[:60] in l for l in lines), "tag %r not echoed (%r)" % (tag[:20], lines))
        ck.ok(not any(l.startswith(b"<") or l.startswith(b"a<") or l.startswith(b"TTTT") or l.startswith(b"UUUU")
                      for l in lines), "tag %r: no reply begins with it (%r)" % (tag[:20], lines))
        c.close()
    c = Client(srv.imap_port)
    out = c.cmd("okTag-1.2", "NOOP")
    ck.ok(out[-1].startswith(b"okTag-1.2 OK"), "a valid tag is echoed (%r)" % out[-1])
    c.close()


def time_to_close(sock, limit):
    """Seconds until the peer closes sock (reading and discarding), or None."""
    t0 = time.monotonic()
    sock.settimeout(0.2)
    data = b""
    while time.monotonic() - t0 < limit:
        try:
            d = sock.recv(4096)
        except (socket.timeout, TimeoutError):
            continue
        except OSError:
            return time.monotonic() - t0, data
        if not d:
            return time.monotonic() - t0, data
        data += d
    return None, data


def case_pre_timeout(ck, srv_to):
    """login_timeout = 2: every kind of pre-login connection is gone after ~2 s."""
    res = {}

    def idle():
        c = Client(srv_to.imap_port)
        res["idle plaintext client"] = time_to_close(c.sock, 5)
        c.close()

    def trickle():
        c = Client(srv_to.imap_port)
        t0 = time.monotonic()
        for i in range(12):
            try:
                c.send(b"n%d NOOP\r\n" % i)
            except OSError:
                break
            lines, closed = c.rest(0.4)
            if closed or any(l.startswith(b"* BYE") for l in lines):
                res["client sending NOOP every 0.4 s"] = (time.monotonic() - t0, b"".join(lines))
                break
        else:
            res["client sending NOOP every 0.4 s"] = (None, b"")
        c.close()

    def silent_tls():
        s = socket.create_connection((HOST, srv_to.imaps_port), timeout=6)
        res["silent client on the implicit-TLS port"] = time_to_close(s, 5)
        s.close()

    def partial_hello():
        s = socket.create_connection((HOST, srv_to.imaps_port), timeout=6)
        s.sendall(b"\x16\x03\x01\x01\x00\x01\x00\x00")	# a ClientHello that never ends
        res["partial ClientHello on the implicit-TLS port"] = time_to_close(s, 5)
        s.close()

    def starttls_silent():
        c = Client(srv_to.imap_port)
        c.send(b"a STARTTLS\r\n")
        c.line()
        res["silent client after STARTTLS"] = time_to_close(c.sock, 5)
        c.close()

    def late_auth_reply():
        # the first failure from 127.0.0.8 is answered after 2 s, i.e. after the deadline
        c = Client(srv_to.imaps_port, src="127.0.0.8", tls=True)
        t0 = time.monotonic()
        time.sleep(0.5)
        out = c.cmd("a", "LOGIN alice %s" % WRONG[0], timeout=10)
        note("  late auth reply: %r after %.2f s" % (out[-1], time.monotonic() - t0))
        dt, data = time_to_close(c.sock, 5.0 - (time.monotonic() - t0))
        res["client whose failed LOGIN is answered after the deadline"] = (
            None if dt is None else time.monotonic() - t0 - 0.0, data)
        c.close()

    def idle_tls():
        c = Client(srv_to.imaps_port, tls=True)
        res["idle client after the TLS handshake"] = time_to_close(c.sock, 5)
        c.close()

    ths = [threading.Thread(target=f) for f in (idle, trickle, silent_tls, partial_hello, starttls_silent,
                                                idle_tls, late_auth_reply)]
    for t in ths:
        t.start()
    for t in ths:
        t.join(10)
    for what in sorted(res):
        dt, data = res[what]
        note("  %s: closed after %s s, got %r" % (what, None if dt is None else round(dt, 2), data[:100]))
        limit = 4.0 if "answered after" in what else 3.5	# the NO comes at ~2.5 s, then BYE
        ck.ok(dt is not None and dt <= limit, "%s: closed within %.1f s of connecting (login_timeout = 2) (%s)"
              % (what, limit, "still open after 5 s" if dt is None else "%.2f s" % dt))
        if what.endswith("plaintext client") or what.startswith("client sending") or "after the TLS" in what:
            ck.ok(b"* BYE" in data, "%s: * BYE before the close (%r)" % (what, data[-80:]))


def case_pre_perip(ck, srv):
    """At most 50 pre-login connections per client address (docs/security.md)."""
    conns = []
    try:
        for i in range(50):
            conns.append(Client(srv.imap_port, src="127.0.0.9"))
        ck.eq(len(conns), 50, "50 pre-login connections from 127.0.0.9 accepted")
        extra = Client(srv.imap_port, src="127.0.0.9", greet=False)
        lines, closed = extra.rest(3)
        ck.ok(closed and any(l.startswith(b"* BYE") for l in lines),
              "the 51st from 127.0.0.9 gets * BYE and is closed (%r)" % lines)
        extra.close()
        other = Client(srv.imap_port, src="127.0.0.10")
        ck.ok(other.cmd("a", "NOOP")[-1].startswith(b"a OK"), "127.0.0.10 is still served")
        other.close()
        ck.ok(conns[0].cmd("a", "NOOP")[-1].startswith(b"a OK"), "the first 50 are still served")
    finally:
        for c in conns:
            c.close()
    time.sleep(0.3)
    c = Client(srv.imap_port, src="127.0.0.9")
    ck.ok(c.cmd("a", "NOOP")[-1].startswith(b"a OK"), "127.0.0.9 is served again once they closed")
    c.close()


def case_userip_limit(ck, srv):
    """mail_max_userip_connections (default 10) per user and address."""
    sess = []
    try:
        for i in range(10):
            c = Client(srv.imaps_port, src="127.0.0.11", tls=True)
            out = c.cmd("a", "LOGIN bob %s" % USERS["bob"])
            ck.ok(out[-1].startswith(b"a OK"), "login %d of bob from 127.0.0.11" % (i + 1))
            sess.append(c)
        c = Client(srv.imaps_port, src="127.0.0.11", tls=True)
        out = c.cmd("a", "LOGIN bob %s" % USERS["bob"])
        ck.ok(out[-1].startswith(b"a NO [LIMIT]"), "the 11th gets NO [LIMIT] (%r)" % out[-1])
        c.close()
        c = Client(srv.imaps_port, src="127.0.0.12", tls=True)
        out = c.cmd("a", "LOGIN bob %s" % USERS["bob"])
        ck.ok(out[-1].startswith(b"a OK"), "bob from 127.0.0.12 still logs in (%r)" % out[-1])
        sess.append(c)
    finally:
        for c in sess:
            try:
                c.cmd("z", "LOGOUT", timeout=2)
            except Exception:
                pass
            c.close()


def pop3_login(port, src, user, password):
    """A POP3S session from src after USER/PASS: (client, reply to PASS)."""
    c = Client(port, src=src, tls=True)
    if not c.greeting.startswith(b"+OK"):
        raise AssertionError("POP3 greeting %r" % c.greeting)
    c.send(b"USER %s\r\n" % user.encode())
    c.line()
    c.send(b"PASS %s\r\n" % password.encode())
    return c, c.line()


def case_userip_mixed(ck, srv):
    """mail_max_userip_connections = 3 counts the sessions of every protocol: 2 IMAP + 1
    POP3 from one address fill it, a 4th IMAP or POP3 session is refused, another
    address still gets in, and a closed POP3 session frees its place."""
    sess = []
    pop = None
    try:
        for i in range(2):
            c = Client(srv.imaps_port, src="127.0.0.13", tls=True)
            out = c.cmd("a", "LOGIN bob %s" % USERS["bob"])
            ck.ok(out[-1].startswith(b"a OK"), "IMAP login %d of bob from 127.0.0.13 (%r)" % (i + 1, out[-1]))
            sess.append(c)
        pop, ln = pop3_login(srv.pop3s_port, "127.0.0.13", "bob", USERS["bob"])
        ck.ok(ln is not None and ln.startswith(b"+OK"), "POP3 login of bob from 127.0.0.13 (%r)" % ln)
        c = Client(srv.imaps_port, src="127.0.0.13", tls=True)
        out = c.cmd("a", "LOGIN bob %s" % USERS["bob"])
        ck.ok(out[-1].startswith(b"a NO [LIMIT]"), "a 4th session (IMAP) gets NO [LIMIT] (%r)" % out[-1])
        c.close()
        p4, ln = pop3_login(srv.pop3s_port, "127.0.0.13", "bob", USERS["bob"])
        # not the POP3 lock's "-ERR [IN-USE] Mailbox is locked": the limit comes first
        ck.ok(ln is not None and ln.startswith(b"-ERR [IN-USE] Maximum number of connections"),
              "a 4th session (POP3) gets -ERR [IN-USE] for the limit (%r)" % ln)
        p4.close()
        c = Client(srv.imaps_port, src="127.0.0.14", tls=True)
        out = c.cmd("a", "LOGIN bob %s" % USERS["bob"])
        ck.ok(out[-1].startswith(b"a OK"), "bob from 127.0.0.14 still logs in (%r)" % out[-1])
        sess.append(c)
        pop.send(b"QUIT\r\n")
        ln = pop.line()
        ck.ok(ln is not None and ln.startswith(b"+OK"), "POP3 QUIT (%r)" % ln)
        pop.rest(2)
        pop.close()
        pop = None
        time.sleep(0.3)
        c = Client(srv.imaps_port, src="127.0.0.13", tls=True)
        out = c.cmd("a", "LOGIN bob %s" % USERS["bob"])
        ck.ok(out[-1].startswith(b"a OK"), "after the POP3 QUIT a 3rd session from 127.0.0.13 gets in (%r)"
              % out[-1])
        sess.append(c)
    finally:
        if pop is not None:
            pop.close()
        for c in sess:
            try:
                c.cmd("z", "LOGOUT", timeout=2)
            except Exception:
                pass
            c.close()


def case_sec32(ck, srv):
    """User names that look like paths are unknown users, and touch no file."""
    before = sorted(os.listdir(srv.tmp)), sorted(os.listdir(srv.mail_root))
    ref = None
    c = Client(srv.imap_port)
    names = [b"../alice", b"alice/../alice", b"a/b", b"~root", b"alice@../../etc", b"..", b".",
             b"/etc/passwd", b"alice%00", b"%2e%2e", b"*", b"alice\\x", b"A" * 300]
    n = 0
    for name in names + [b"nosuchuser", b"ali\0ce"]:
        if n == 2:	# three failures close the connection
            c.close()
            c = Client(srv.imap_port)
            n = 0
        c.send(b"a LOGIN {%d}\r\n" % len(name))
        ln = c.line()
        if not ln.startswith(b"+"):
            ck.ok(ln.startswith(b"a NO") or ln.startswith(b"a BAD"), "%r refused before the literal (%r)" % (name[:20], ln))
            continue
        c.send(name + b" " + USERS["alice"].encode() + b"\r\n")
        out = c.until_tagged(b"a")
        n += 1
        ck.ok(out[-1].startswith(b"a NO") or out[-1].startswith(b"a BAD"), "user %r refused (%r)" % (name[:20], out[-1]))
        if name == b"nosuchuser":
            ref = out[-1]
    c.close()
    after = sorted(os.listdir(srv.tmp)), sorted(os.listdir(srv.mail_root))
    ck.eq(after, before, "no file created in the test dir or the mail root")


def sanitized(srv):
    """True for an ASan/UBSan build of the server binary."""
    with open(srv.buzon, "rb") as f:
        data = f.read()
    return b"__asan_init" in data or b"__ubsan_handle" in data


def case_sec22(ck, srv):
    """SNI: an unknown name gets the default certificate; many names do not grow memory."""
    default = pem_der(srv.cert)
    for name in ("unknown.example", "localhost", "xn--bcher-kva.example", "a" * 63 + ".example"):
        c = Client(srv.imaps_port, tls=True, greet=False, sni=name)
        ck.eq(c.sock.getpeercert(binary_form=True), default, "SNI %s: default certificate" % name[:30])
        c.close()
    pids = role_pids(srv, "login")
    if not pids:
        ck.ok(False, "a login process runs (%s)" % pids)
        return

    if sanitized(srv):
        note("  sanitizer build: RSS is dominated by ASan's quarantine, growth not checked")
        return

    def rss():
        # the pool's login processes share the handshakes: their RSS together
        return sum(int(proc_status(p)["VmRSS"][0]) for p in pids)
    for i in range(100):	# warm-up
        Client(srv.imaps_port, tls=True, sni="warm%d.example" % i).close()
    r0 = rss()
    t0 = time.monotonic()
    for i in range(400):
        Client(srv.imaps_port, tls=True, sni="n%d-%s.example" % (i, os.urandom(6).hex())).close()
    r1 = rss()
    note("  login RSS %d kB -> %d kB after 400 handshakes with random SNI (%.1f s)"
         % (r0, r1, time.monotonic() - t0))
    ck.ok(r1 - r0 < 2048, "login RSS grew by %d kB (< 2 MiB)" % (r1 - r0))


def case_sec43(ck, srv):
    """passwd-file users mapping to uid 0 or below first_valid_uid never get a session;
    no LD_*/MALLOC_* variable reaches a child; no core files."""
    for pid in role_pids(srv, "login") + role_pids(srv, "auth"):
        with open("/proc/%d/limits" % pid) as f:
            lim = [l for l in f if l.startswith("Max core file size")]
        ck.ok(lim and lim[0].split()[4] == "0", "pid %d: RLIMIT_CORE 0 (%s)" % (pid, lim[0].strip() if lim else None))
    if not IS_ROOT:
        raise Skip("not root: every user maps to the invoking uid (limits checked)")
    for name in ("rooty", "lowuid"):
        c = Client(srv.imap_port)
        out = c.cmd("a", "LOGIN %s %s" % (name, USERS["alice"]))
        ck.ok(out[-1].startswith(b"a NO"), "%s (uid %s) refused (%r)" % (name, "0" if name == "rooty" else "100", out[-1]))
        c.close()
    time.sleep(0.2)
    for pid in role_pids(srv, "mail"):
        uid = proc_status(pid)["Uid"]
        ck.ok("0" not in uid and "100" not in uid, "mail pid %d runs as %s" % (pid, uid))
    m = srv.imap("alice", USERS["alice"])	# a mail process to look at
    for role in ("login", "auth", "mail"):
        for pid in role_pids(srv, role):
            with open("/proc/%d/environ" % pid, "rb") as f:
                env = [e for e in f.read().split(b"\0") if e]
            bad = [e for e in env if e.startswith(b"LD_") or e.startswith(b"MALLOC_")]
            ck.eq(bad, [], "%s pid %d: no LD_*/MALLOC_* in the environment" % (role, pid))
    m.logout()


def case_sec38(ck, srv):
    """Runtime files: base_dir, pid file and chroot not writable by others."""
    found = []
    for d, dirs, files in os.walk(srv.base_dir):
        for n in dirs + files:
            p = os.path.join(d, n)
            st = os.lstat(p)
            if st.st_mode & 0o002 and not os.path.islink(p):
                found.append(p)
    ck.eq(found, [], "nothing world-writable under base_dir")
    pidfiles = [n for n in os.listdir(srv.base_dir) if n.endswith(".pid")]
    ck.ok(pidfiles, "a pid file in base_dir (%s)" % os.listdir(srv.base_dir))
    for n in pidfiles:
        st = os.stat(os.path.join(srv.base_dir, n))
        ck.ok(not (st.st_mode & 0o022) and st.st_uid == os.getuid(), "%s: mode %o, owner %d" % (n, st.st_mode & 0o777, st.st_uid))
        with open(os.path.join(srv.base_dir, n)) as f:
            ck.eq(f.read().strip(), str(srv.proc.pid), "%s holds the master pid" % n)
    if IS_ROOT:
        st = os.stat(os.path.join(srv.base_dir, "login"))
        ck.ok(st.st_uid == 0 and not st.st_mode & 0o022, "base_dir/login root-owned, not writable by others (%d %o)"
              % (st.st_uid, st.st_mode & 0o777))


# ---- SEC-13 / 14: penalty per address, trusted networks --------------------------------------

def starttls_login(port, src, user, password, timeout=20.0):
    c = Client(port, src=src)
    c.cmd("s", "STARTTLS")
    c.wrap()
    t0 = time.monotonic()
    out = c.cmd("a", "LOGIN %s %s" % (user, password), timeout=timeout)
    dt = time.monotonic() - t0
    c.close()
    return out[-1], dt


def case_sec13(ck, srv):
    """auth_failure_delay_max = 2: four parallel guesses from one address are
    answered one after the other (2, 4, 6, 8 s), not together."""
    res = []

    def guess(i):
        res.append(starttls_login(srv.imap_port, "127.0.0.5", "alice", WRONG[i]))
    ths = [threading.Thread(target=guess, args=(i,)) for i in range(4)]
    for t in ths:
        t.start()
    for t in ths:
        t.join(30)
    times = sorted(dt for _, dt in res)
    note("  parallel guesses answered after %s s" % [round(t, 2) for t in times])
    ck.eq(len(res), 4, "four answers")
    ck.ok(all(l.startswith(b"a NO") for l, _ in res), "all refused")
    for got, want in zip(times, (2.0, 4.0, 6.0, 8.0)):
        ck.ok(within(got, want), "answer after %.2f s, want %.0f s" % (got, want))


def case_sec14(ck, srv):
    """auth_trusted_networks = 127.0.0.6/32: no delay for it, but no plaintext either
    (auth_allow_cleartext = no on this server)."""
    for i in range(3):
        line, dt = starttls_login(srv.imap_port, "127.0.0.6", "alice", WRONG[i])
        ck.ok(line.startswith(b"a NO") and dt < 0.5, "trusted failure %d answered in %.2f s" % (i + 1, dt))
    line, dt = starttls_login(srv.imap_port, "127.0.0.6", "alice", USERS["alice"])
    ck.ok(line.startswith(b"a OK"), "trusted address logs in")
    c = Client(srv.imap_port, src="127.0.0.6")
    ck.ok("LOGINDISABLED" in caps_of(c.greeting), "trusted address: LOGINDISABLED without TLS")
    out = c.cmd("a", "LOGIN alice %s" % USERS["alice"])
    ck.ok(out[-1].startswith(b"a NO [PRIVACYREQUIRED]"), "trusted does not mean plaintext allowed (%r)" % out[-1])
    c.close()
    line, dt = starttls_login(srv.imap_port, "127.0.0.7", "alice", WRONG[3])
    ck.ok(within(dt, 2.0), "an untrusted address is still delayed (%.2f s)" % dt)


# ---- SEC-21 / 50 / 51: TLS with openssl s_client ------------------------------------------

def s_client(port, *args, stdin=b""):
    cmd = ["openssl", "s_client", "-connect", "%s:%d" % (HOST, port), "-servername", "localhost"] + list(args)
    try:
        r = subprocess.run(cmd, input=stdin, capture_output=True, timeout=15)
    except subprocess.TimeoutExpired:
        return -1, "timeout", None, None
    out = (r.stdout + r.stderr).decode("utf-8", "replace")
    m = re.search(r"^New, (\S+), Cipher is (\S+)", out, re.M)
    proto, cipher = (m.group(1), m.group(2)) if m and m.group(2) != "(NONE)" else (None, None)
    return r.returncode, out, proto, cipher


# ---- SEC-53: UTF-8 credentials (RFC 6855 §5) ------------------------------------------

def case_sec53(ck, srv):
    pw = "contrase\u00f1a-P\u00e9\u00f1a1"
    srv.add_user("pena", pw)
    srv.make_maildir("pena")
    c = Client(srv.imap_port)
    out = c.cmd("a", b'LOGIN pena "' + pw.encode() + b'"')
    ck.ok(out[-1].startswith(b"a OK"), "LOGIN with a UTF-8 password in a quoted string (%r)" % out[-1])
    c.cmd("b", "LOGOUT")
    c.close()
    c = Client(srv.imap_port)
    out = c.cmd("a", "AUTHENTICATE PLAIN " + b64(b"\0pena\0" + pw.encode()))
    ck.ok(out[-1].startswith(b"a OK"), "AUTHENTICATE PLAIN with it (%r)" % out[-1])
    c.cmd("b", "LOGOUT")
    c.close()
    c = Client(srv.imap_port)
    out = c.cmd("a", b'LOGIN pena "contrase\xc3\xb1a"')
    ck.ok(out[-1].startswith(b"a NO"), "a wrong UTF-8 password: NO (%r)" % out[-1])
    out = c.cmd("b", b'LOGIN pena "contrase\xf1a"')
    ck.ok(out[-1].startswith(b"b BAD"), "Latin-1, not UTF-8: BAD (%r)" % out[-1])
    c.close()


def case_sec21(ck, srv):
    rc, out, proto, _ = s_client(srv.imaps_port, "-alpn", "http/1.1")
    ck.ok(rc != 0 and proto is None, "-alpn http/1.1: handshake fails (rc=%d, %s)" % (rc, proto))
    ck.ok("no application protocol" in out, "-alpn http/1.1: no_application_protocol alert")
    rc, out, proto, _ = s_client(srv.imaps_port, "-alpn", "h2,http/1.1,smtp")
    ck.ok(rc != 0 and proto is None, "-alpn h2,http/1.1,smtp: handshake fails (rc=%d)" % rc)
    rc, out, proto, _ = s_client(srv.imaps_port, "-alpn", "imap")
    ck.ok(rc == 0 and proto and "ALPN protocol: imap" in out, "-alpn imap: negotiates imap (rc=%d)" % rc)
    rc, out, proto, _ = s_client(srv.imaps_port, "-alpn", "http/1.1,imap")
    ck.ok(rc == 0 and "ALPN protocol: imap" in out, "-alpn http/1.1,imap: picks imap (rc=%d)" % rc)
    rc, out, proto, _ = s_client(srv.imaps_port)
    ck.ok(rc == 0 and proto and "No ALPN negotiated" in out, "no ALPN: works (rc=%d)" % rc)
    rc, out, proto, _ = s_client(srv.imap_port, "-starttls", "imap", "-alpn", "http/1.1")
    ck.ok(proto is None, "STARTTLS with -alpn http/1.1: fails too (proto=%s)" % proto)


def case_sec50(ck, srv):
    for v in ("-tls1", "-tls1_1"):
        rc, out, proto, _ = s_client(srv.imaps_port, v, "-cipher", "DEFAULT@SECLEVEL=0")
        ck.ok(rc != 0 and proto is None, "%s refused (rc=%d, %s)" % (v, rc, proto))
    rc, out, proto, cipher = s_client(srv.imaps_port, "-tls1_3")
    ck.ok(rc == 0 and proto == "TLSv1.3", "TLS 1.3 works (%s %s)" % (proto, cipher))
    rc, out, proto, cipher = s_client(srv.imaps_port, "-tls1_2")
    ck.ok(rc == 0 and proto == "TLSv1.2", "TLS 1.2 works (%s %s)" % (proto, cipher))
    rc, out, proto, cipher = s_client(srv.imap_port, "-starttls", "imap")
    ck.ok(rc == 0 and proto == "TLSv1.3", "STARTTLS (-starttls imap) works (%s %s)" % (proto, cipher))
    rc, out, proto, cipher = s_client(srv.imap_port, "-starttls", "imap", "-tls1_1",
                                      "-cipher", "DEFAULT@SECLEVEL=0")
    ck.ok(proto is None, "STARTTLS with TLS 1.1 refused (%s)" % proto)


def case_sec51(ck, srv):
    refused = ["AES128-GCM-SHA256", "AES256-SHA", "ECDHE-RSA-AES128-SHA", "ECDHE-ECDSA-AES128-SHA",
               "ECDHE-ECDSA-AES128-SHA256", "ECDHE-ECDSA-AES256-SHA384", "aNULL", "eNULL:@SECLEVEL=0",
               "DHE-RSA-AES128-GCM-SHA256", "ECDHE-ECDSA-DES-CBC3-SHA:@SECLEVEL=0"]
    for c in refused:
        rc, out, proto, cipher = s_client(srv.imaps_port, "-tls1_2", "-cipher", c)
        ck.ok(proto is None, "TLS 1.2 %s refused (got %s %s)" % (c, proto, cipher))
    for c in ("ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-ECDSA-CHACHA20-POLY1305"):
        rc, out, proto, cipher = s_client(srv.imaps_port, "-tls1_2", "-cipher", c)
        ck.ok(proto == "TLSv1.2" and cipher == c, "TLS 1.2 %s works (%s %s)" % (c, proto, cipher))
    for g in ("X25519", "P-256", "P-384"):
        rc, out, proto, cipher = s_client(srv.imaps_port, "-groups", g)
        ck.ok(proto is not None, "group %s works" % g)
    for g in ("P-521", "ffdhe2048"):
        rc, out, proto, cipher = s_client(srv.imaps_port, "-groups", g)
        ck.ok(proto is None, "group %s refused (got %s)" % (g, proto))
    rc, out, proto, cipher = s_client(srv.imaps_port, "-tls1_2")
    ck.ok("Compression: NONE" in out, "no TLS compression")


def case_sec52(ck, srv):
    """Client-initiated renegotiation (TLS 1.2): s_client's "R" after the greeting."""
    p = subprocess.Popen(["openssl", "s_client", "-connect", "%s:%d" % (HOST, srv.imaps_port), "-tls1_2",
                          "-crlf", "-servername", "localhost"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = []

    def reader():
        for line in p.stdout:
            out.append(line.decode("utf-8", "replace"))
    th = threading.Thread(target=reader, daemon=True)
    th.start()
    try:
        deadline = time.monotonic() + 10
        while not any("buzon ready" in l for l in out) and time.monotonic() < deadline:
            time.sleep(0.05)
        ck.ok(any("buzon ready" in l for l in out), "greeting over TLS 1.2")
        p.stdin.write(b"R\n")
        p.stdin.flush()
        time.sleep(0.5)
        try:
            p.stdin.write(b"a NOOP\n")
            p.stdin.flush()
            time.sleep(0.5)
            p.stdin.close()
        except OSError:
            pass
        p.wait(10)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    th.join(2)
    text = "".join(out)
    after = text.split("RENEGOTIATING", 1)[1] if "RENEGOTIATING" in text else ""
    ck.ok("RENEGOTIATING" in text, "s_client tried to renegotiate")
    ck.ok("no renegotiation" in after and "a OK" not in after,
          "the server refuses with no_renegotiation (%r)" % after[:200])


# ---- SEC-40 / 41: privileges ------------------------------------------------------------------

def children(master_pid):
    """{pid: args} of the master's children."""
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
            with open("/proc/%s/cmdline" % d, "rb") as f:
                args = f.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()
        except OSError:
            continue
        if int(st[st.rindex(")") + 2:].split()[1]) == master_pid:
            out[int(d)] = args
    return out


def role_pids(srv, role):
    return sorted(p for p, a in children(srv.proc.pid).items() if "--role %s" % role in a)


def proc_status(pid):
    st = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            st[k] = v.split()
    return st


def check_ids(ck, st, uid, gid, label):
    ck.eq(st.get("Uid"), [str(uid)] * 4, "%s: Uid real/effective/saved/fs" % label)
    ck.eq(st.get("Gid"), [str(gid)] * 4, "%s: Gid real/effective/saved/fs" % label)
    ck.ok(st.get("Groups", []) in ([], [str(gid)]), "%s: no supplementary groups (%s)" % (label, st.get("Groups")))
    ck.eq(st.get("NoNewPrivs"), ["1"], "%s: NoNewPrivs" % label)
    for cap in ("CapInh", "CapPrm", "CapEff", "CapAmb"):
        if cap in st:
            ck.ok(int(st[cap][0], 16) == 0, "%s: %s = 0 (%s)" % (label, cap, st[cap][0]))


def case_sec40_login(ck, srv):
    if not IS_ROOT:
        raise Skip("not root: the login process runs as the invoking user")
    pids = role_pids(srv, "login")
    ck.ok(pids, "a login process exists")
    nobody = pwd.getpwnam("nobody")
    for pid in pids:
        check_ids(ck, proc_status(pid), nobody.pw_uid, nobody.pw_gid, "login pid %d" % pid)


def fd_targets(pid):
    out = []
    d = "/proc/%d/fd" % pid
    for n in os.listdir(d):
        try:
            out.append(os.readlink(os.path.join(d, n)))
        except OSError:
            pass
    return out


def case_sec41_confine(ck, srv):
    if not IS_ROOT:
        raise Skip("not root: no chroot, and /proc/PID/fd of a non-dumpable process is unreadable")
    for pid in role_pids(srv, "login"):
        ck.eq(os.readlink("/proc/%d/root" % pid), os.path.join(srv.base_dir, "login"),
              "login pid %d: chroot" % pid)
        fds = fd_targets(pid)
        ck.ok(fds, "login pid %d: fds listed" % pid)
        ck.ok(not any(t in (srv.key, srv.cert) or t.startswith(srv.certdir) for t in fds),
              "login pid %d: no key or certificate file open" % pid)
        bad = {}
        for n in os.listdir("/proc/%d/fd" % pid):
            try:
                t = os.readlink("/proc/%d/fd/%s" % (pid, n))
            except OSError:
                continue
            if not (t.startswith("socket:") or t.startswith("pipe:") or
                    t.startswith("anon_inode:") or t == "/dev/null"):
                bad[int(n)] = t
        ck.ok(not bad, "login pid %d: no regular file open, only sockets/pipes/anon inodes/null (open: %s)"
              % (pid, ", ".join("fd %d -> %s" % kv for kv in sorted(bad.items()))))
        st = os.stat(os.path.join(srv.base_dir, "login"))
        ck.ok(st.st_uid == 0 and not (st.st_mode & 0o022), "chroot dir root-owned, not writable by others (%o)" % st.st_mode)
        ck.eq(os.listdir(os.path.join(srv.base_dir, "login")), [], "chroot dir is empty")


def case_sec41_dump(ck, srv):
    me = os.getuid()
    for pid in role_pids(srv, "login"):
        owner = os.stat("/proc/%d/environ" % pid).st_uid
        ck.eq(owner, 0, "login pid %d non-dumpable (/proc/PID/environ owned by root)" % pid)
        if not IS_ROOT:
            try:
                os.listdir("/proc/%d/fd" % pid)
                ck.ok(False, "login pid %d: /proc/PID/fd readable by its own uid %d" % (pid, me))
            except PermissionError:
                ck.ok(True, "login pid %d: /proc/PID/fd not readable" % pid)
    if not IS_ROOT:	# auth is root-owned anyway when we are root
        for pid in role_pids(srv, "auth"):
            ck.eq(os.stat("/proc/%d/environ" % pid).st_uid, 0, "auth pid %d non-dumpable" % pid)


# ---- SEC-44: seccomp filter and RLIMIT_AS of the login and lmtp processes -----------------

VSZ_DEFAULT = 256 * 1024 * 1024		# login_vsz_limit default (src/lib/config.h)


def address_space_limit(pid):
    """(soft, hard) of "Max address space" in /proc/PID/limits, as strings."""
    with open("/proc/%d/limits" % pid) as f:
        for line in f:
            if line.startswith("Max address space"):
                return tuple(line.split()[3:5])
    return None


def check_sandbox(ck, srv, seccomp, vsz):
    """Every login and lmtp process shows Seccomp: <seccomp> and RLIMIT_AS <vsz> (bytes,
    None = unlimited); an ASan build has neither (src/lib/sandbox.h)."""
    asan = sanitized(srv)
    if asan:
        note("  sanitizer build: no seccomp filter and no RLIMIT_AS expected")
        seccomp, vsz = "0", None
    want_limit = ("unlimited", "unlimited") if vsz is None else (str(vsz), str(vsz))
    def settled(pid, read, want):
        """read(pid), given up to 2 s to become want: a process forked a moment ago (the
        pool refilling) sets its sandbox during its start-up."""
        deadline = time.monotonic() + 2
        while True:
            try:
                got = read(pid)
            except OSError:
                return want	# it exited meanwhile: nothing to judge
            if got == want or time.monotonic() > deadline:
                return got
            time.sleep(0.05)

    for role in ("login", "lmtp"):
        pids = role_pids(srv, role)
        ck.ok(pids, "a %s process exists" % role)
        for pid in pids:
            ck.eq(settled(pid, lambda p: proc_status(p).get("Seccomp"), [seccomp]), [seccomp],
                  "%s pid %d: Seccomp" % (role, pid))
            ck.eq(settled(pid, address_space_limit, want_limit), want_limit,
                  "%s pid %d: Max address space" % (role, pid))


def lmtp_deliver(srv, rcpt, subject):
    """One LMTP transaction; returns the reply line to the end of DATA."""
    c = Client(srv.lmtp_port, greet=True)
    try:
        for line in ("LHLO mta.example", "MAIL FROM:<a@example.org>", "RCPT TO:<%s>" % rcpt):
            c.send(line.encode() + b"\r\n")
            while True:
                r = c.line()
                if r[3:4] != b"-":
                    break
        c.send(b"DATA\r\n")
        c.line()
        c.send(b"Subject: " + subject.encode() + b"\r\n\r\nbody\r\n.\r\n")
        return c.line()
    finally:
        c.close()


def case_sec44_sandbox(ck, srv):
    """Default config: the filter (mode 2) and a 256 MiB address-space limit in login and
    lmtp, and both still serve after confinement: IMAPS and STARTTLS logins, an LMTP
    delivery, by the same processes."""
    before = {r: role_pids(srv, r) for r in ("login", "lmtp")}
    check_sandbox(ck, srv, "2", VSZ_DEFAULT)
    m = srv.imaps("alice", USERS["alice"])
    ck.eq(m.select("INBOX")[0], "OK", "IMAPS login and SELECT through the sandboxed login")
    m.logout()
    m = srv.imap("bob", USERS["bob"])
    ck.eq(m.noop()[0], "OK", "STARTTLS login through the sandboxed login")
    m.logout()
    r = lmtp_deliver(srv, "carol@example.org", "sec44")
    ck.ok(r.startswith(b"250"), "LMTP delivery through the sandboxed lmtp (%r)" % r)
    after = {r: role_pids(srv, r) for r in ("login", "lmtp")}
    ck.eq(after, before, "no login or lmtp process was replaced (none killed by the filter)")
    ck.ok("killed by signal" not in srv.log_text(), "no child killed by a signal")


def case_sec44_off(ck, srv):
    """login_seccomp = no and login_vsz_limit = 128M: no filter, the configured limit."""
    check_sandbox(ck, srv, "0", 128 * 1024 * 1024)
    r = lmtp_deliver(srv, "carol@example.org", "sec44-off")
    ck.ok(r.startswith(b"250"), "LMTP delivery (%r)" % r)


class SigsysServer(SecServer):
    """The SIGSYS case kills its login process on purpose: that log line is expected."""

    def scan_logs(self):
        return [p for p in super().scan_logs() if "role=login killed by signal %d" % signal.SIGSYS not in p]


def case_sec44_restart(ck, srv):
    """A login process killed by SIGSYS (what the filter does to a forbidden call) is
    logged and replaced by a new, again sandboxed, login process."""
    old = role_pids(srv, "login")
    ck.ok(len(old) >= 1, "a pool of login processes (%s)" % old)
    since = srv.log_size()
    os.kill(old[0], signal.SIGSYS)
    line = srv.wait_log(r"role=login killed by signal %d" % signal.SIGSYS, since=since)
    ck.ok(line, "the master logs the SIGSYS death (%r)" % line)
    new = []
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        new = [p for p in role_pids(srv, "login") if p not in old]
        if new:
            break
        time.sleep(0.1)
    ck.ok(new, "a new login process was started (%s)" % new)
    m = None
    deadline = time.monotonic() + 5
    while m is None and time.monotonic() < deadline:
        try:
            m = srv.imaps("alice", USERS["alice"])
        except (OSError, ssl.SSLError, buzontest.imaplib.IMAP4.error):
            time.sleep(0.2)
    ck.ok(m is not None, "IMAPS login through the new login process")
    if m is not None:
        m.logout()
    check_sandbox(ck, srv, "2", VSZ_DEFAULT)


def tree(root):
    out = {}
    for d, dirs, files in os.walk(root):
        for n in dirs + files:
            p = os.path.join(d, n)
            out[p] = os.lstat(p)
    return out


def case_sec40_mail(ck, srv):
    root = srv.maildir("carol")
    before = set(tree(root))
    m = srv.imap("carol", USERS["carol"])
    m.select("INBOX")
    typ, _ = m.append("INBOX", None, None, b"From: a@example.org\r\nSubject: sec40\r\n\r\nbody\r\n")
    ck.eq(typ, "OK", "APPEND")
    m.create("SecFolder")
    m.append("SecFolder", "(\\Seen)", None, b"Subject: sec40b\r\n\r\nx\r\n")
    pids = role_pids(srv, "mail")
    ck.ok(pids, "a mail process exists")
    if IS_ROOT:
        for pid in pids:
            check_ids(ck, proc_status(pid), buzontest.MAIL_UID, buzontest.MAIL_UID, "mail pid %d" % pid)
            ck.eq(os.readlink("/proc/%d/root" % pid), "/", "mail pid %d: no chroot" % pid)
    after = tree(root)
    new = sorted(set(after) - before)
    note("  %d new paths in carol's Maildir" % len(new))
    ck.ok(len(new) >= 3, "the mail process created files (%d)" % len(new))
    ck.ok(any("/new/" in p or "/cur/" in p for p in new), "the appended message is among them")
    for p in new:
        st = after[p]
        mode = st.st_mode & 0o7777
        kind = "dir" if os.path.isdir(p) else "file"
        want = 0o700 if kind == "dir" else 0o600
        ck.ok(st.st_uid == srv.uid and st.st_gid == srv.gid and mode == want and not os.path.islink(p),
              "%s %s: %d:%d %o" % (kind, os.path.relpath(p, root), st.st_uid, st.st_gid, mode))
    m.logout()


def listening_inodes():
    inodes = set()
    for f in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(f) as fh:
                for line in list(fh)[1:]:
                    parts = line.split()
                    if parts[3] == "0A":
                        inodes.add(parts[9])
        except OSError:
            pass
    try:
        with open("/proc/net/unix") as fh:
            for line in list(fh)[1:]:
                parts = line.split()
                if int(parts[3], 16) & 0x10000:	# __SO_ACCEPTCON
                    inodes.add(parts[6])
    except OSError:
        pass
    return inodes


def inet_inodes():
    inodes = set()
    for f in ("/proc/net/tcp", "/proc/net/tcp6", "/proc/net/udp", "/proc/net/udp6"):
        try:
            with open(f) as fh:
                for line in list(fh)[1:]:
                    inodes.add(line.split()[9])
        except OSError:
            pass
    return inodes


def case_sec40_auth(ck, srv):
    pids = role_pids(srv, "auth")
    ck.eq(len(pids), 1, "one auth process")
    for pid in pids:
        try:
            fds = fd_targets(pid)
        except PermissionError:
            raise Skip("not root: /proc/%d/fd of the (non-dumpable) auth process is unreadable" % pid)
        socks = {t[len("socket:["):-1] for t in fds if t.startswith("socket:[")}
        ck.ok(socks, "auth pid %d has its IPC socket" % pid)
        ck.eq(sorted(socks & listening_inodes()), [], "auth pid %d: no listening socket" % pid)
        ck.eq(sorted(socks & inet_inodes()), [], "auth pid %d: no TCP/UDP socket at all" % pid)
        env = open("/proc/%d/environ" % pid, "rb").read().split(b"\0") if IS_ROOT else []
        ck.ok(not any(e.startswith(b"LD_") or e.startswith(b"MALLOC_") for e in env),
              "auth pid %d: no LD_*/MALLOC_* in the environment" % pid)


# ---- SEC-34 / 36: symlinks planted by the mail user ---------------------------------------------

SYM_USERS = {"alice": USERS["alice"], "dave": "D4ve-s3cret-PW", "erin": "Er1n-s3cret-PW",
             "frank": "Fr4nk-s3cret-PW"}
SECRETS |= set(SYM_USERS.values())


class SymlinkServer(SecServer):
    """dave: .Evil -> outside/Evil (a Maildir) and a cur/ entry -> outside/secret.txt;
    erin: cur/ -> outside/cur; frank: dovecot-uidlist -> outside/uidlist.  The outside
    files belong to the mail uid, so only buzon's own checks keep it out."""

    def setup(self):
        super().setup()
        self.outside = out = os.path.join(self.tmp, "outside")
        for d in ("", "Evil", "Evil/cur", "Evil/new", "Evil/tmp", "cur", "new", "tmp"):
            os.makedirs(os.path.join(out, d), mode=0o700, exist_ok=True)
            self._own(os.path.join(out, d))
        files = {"Evil/cur/1600000000.M1P1.host:2,S": b"Subject: evil\n\nSECRET-EVIL-FOLDER\n",
                 "cur/1600000002.M3P3.host:2,S": b"Subject: cur\n\nSECRET-OUTSIDE-CUR\n",
                 "secret.txt": b"Subject: x\n\nSECRET-OUTSIDE-FILE\n",
                 "uidlist": b"3 V1600000000 N100\n99 1600000002.M3P3.host\nSECRET-UIDLIST\n"}
        for n, data in files.items():
            with open(os.path.join(out, n), "wb") as f:
                f.write(data)
            os.chmod(os.path.join(out, n), 0o600)
            self._own(os.path.join(out, n))
        os.symlink(os.path.join(out, "Evil"), os.path.join(self.maildir("dave"), ".Evil"))
        os.symlink(os.path.join(out, "secret.txt"),
                   os.path.join(self.maildir("dave"), "cur", "1600000001.M2P2.sym:2,S"))
        shutil.rmtree(os.path.join(self.maildir("erin"), "cur"))
        os.symlink(os.path.join(out, "cur"), os.path.join(self.maildir("erin"), "cur"))
        os.symlink(os.path.join(out, "uidlist"), os.path.join(self.maildir("frank"), "dovecot-uidlist"))


def snapshot(root):
    out = {}
    for d, dirs, files in os.walk(root):
        for n in dirs + files:
            p = os.path.join(d, n)
            st = os.lstat(p)
            data = open(p, "rb").read() if os.path.isfile(p) else b""
            out[os.path.relpath(p, root)] = (st.st_mode, st.st_uid, st.st_mtime_ns, hashlib.sha256(data).hexdigest())
    return out


def case_sec34(ck, srv):
    before = snapshot(srv.outside)
    seen = []
    # dave: symlinked folder and symlinked message
    c = Client(srv.imap_port)
    ck.ok(c.cmd("a", "LOGIN dave %s" % SYM_USERS["dave"])[-1].startswith(b"a OK"), "dave logs in")
    out = c.cmd("b", 'LIST "" "*"')
    seen += out
    ck.ok(not any(b"Evil" in l for l in out), "the symlinked folder is not listed")
    for cmd in ("SELECT Evil", "EXAMINE Evil", "STATUS Evil (MESSAGES)", "DELETE Evil", "RENAME Evil Good",
                "CREATE Evil"):
        out = c.cmd("c", cmd)
        seen += out
        ck.ok(out[-1].startswith(b"c NO") or out[-1].startswith(b"c BAD"), "%s refused (%r)" % (cmd, out[-1]))
    c.send(b"d APPEND Evil {22}\r\n")
    ln = c.line()
    if ln.startswith(b"+"):
        c.send(b"Subject: in\r\n\r\nwrite\r\n\r\n")
        ln = c.until_tagged(b"d")[-1]
    ck.ok(ln.startswith(b"d NO") or ln.startswith(b"d BAD"), "APPEND Evil refused (%r)" % ln)
    out = c.cmd("e", "SELECT INBOX")
    ck.ok(out[-1].startswith(b"e OK"), "dave's INBOX opens")
    out = c.cmd("f", "FETCH 1:* (UID BODY.PEEK[])")
    seen += out
    ck.ok(out[-1].startswith(b"f OK"), "FETCH 1:* BODY[] works")
    c.cmd("z", "LOGOUT")
    c.close()
    # erin: INBOX/cur is a symlink out of the Maildir
    c = Client(srv.imap_port)
    ck.ok(c.cmd("a", "LOGIN erin %s" % SYM_USERS["erin"])[-1].startswith(b"a OK"), "erin logs in")
    out = c.cmd("b", "SELECT INBOX")
    seen += out
    if out[-1].startswith(b"b OK"):
        out = c.cmd("c", "FETCH 1:* (UID BODY.PEEK[])")
        seen += out
        c.cmd("d", "STORE 1:* +FLAGS (\\Deleted)")
        c.cmd("e", "EXPUNGE")
    c.cmd("z", "LOGOUT")
    c.close()
    # frank: dovecot-uidlist is a symlink to a file outside
    c = Client(srv.imap_port)
    ck.ok(c.cmd("a", "LOGIN frank %s" % SYM_USERS["frank"])[-1].startswith(b"a OK"), "frank logs in")
    out = c.cmd("b", "SELECT INBOX")
    seen += out
    if out[-1].startswith(b"b OK"):
        seen += c.cmd("c", "FETCH 1:* (UID BODY.PEEK[])")
        c.send(b"d APPEND INBOX {22}\r\n")
        if c.line().startswith(b"+"):
            c.send(b"Subject: in\r\n\r\nwrite\r\n\r\n")
            c.until_tagged(b"d")
    c.cmd("z", "LOGOUT")
    c.close()
    leaked = sorted({m.decode() for l in seen for m in re.findall(rb"SECRET-[A-Z-]+", l)})
    ck.eq(leaked, [], "no content from outside the Maildirs is served")
    after = snapshot(srv.outside)
    changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    ck.eq(changed, [], "nothing outside the Maildirs changed")
    for user, link in (("dave", ".Evil"), ("erin", "cur")):
        ck.ok(os.path.islink(os.path.join(srv.maildir(user), link)), "%s's %s symlink is still there" % (user, link))


# ---- reload ---------------------------------------------------------------------------------

def peer_der(port, starttls=False):
    if starttls:
        c = Client(port)
        c.cmd("a", "STARTTLS")
        c.wrap()
    else:
        c = Client(port, tls=True)
    der = c.sock.getpeercert(binary_form=True)
    c.close()
    return der


def pem_der(path):
    with open(path) as f:
        return ssl.PEM_cert_to_DER_cert(f.read())


def case_reload(ck, srv):
    old_der = pem_der(srv.cert)
    saved = {}
    for path in (srv.cert, srv.key):
        with open(path, "rb") as f:
            saved[path] = f.read()
    ck.eq(peer_der(srv.imaps_port), old_der, "before: the configured certificate is presented")
    old_login = role_pids(srv, "login")
    sess = srv.imaps("alice", USERS["alice"])
    typ, data = sess.select("INBOX")
    ck.eq(typ, "OK", "old session SELECT")
    newdir = tempfile.mkdtemp(prefix="buzonsec-cert.")
    try:
        r = subprocess.run([buzontest.MKCERT, newdir, "reload.test"], capture_output=True, text=True)
        ck.eq(r.returncode, 0, "mkcert.sh for the new certificate")
        shutil.copyfile(os.path.join(newdir, "fullchain.pem"), srv.cert)
        shutil.copyfile(os.path.join(newdir, "privkey.pem"), srv.key)
    finally:
        shutil.rmtree(newdir, ignore_errors=True)
    new_der = pem_der(srv.cert)
    ck.ok(new_der != old_der, "the new certificate differs")
    r = srv.cli("reload", "-c", srv.config_path, check=False)
    ck.eq(r.returncode, 0, "buzon reload exits 0 (%s)" % (r.stderr or r.stdout).strip()[:100])
    got = None
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        got = peer_der(srv.imaps_port)
        if got == new_der:
            break
        time.sleep(0.1)
    ck.ok(got == new_der, "a new imaps connection presents the new certificate")
    ck.ok(peer_der(srv.imap_port, starttls=True) == new_der, "a new STARTTLS connection presents the new certificate")
    typ, _ = sess.noop()
    ck.eq(typ, "OK", "old session NOOP after reload")
    typ, data = sess.fetch("1", "(UID FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    ck.ok(typ == "OK" and data and data[0], "old session FETCH after reload (%s)" % short(data))
    c = Client(srv.imaps_port, tls=True)
    ck.ok(c.cmd("a", "LOGIN bob %s" % USERS["bob"])[-1].startswith(b"a OK"), "new session logs in")
    c.cmd("z", "LOGOUT")
    c.close()
    new_login = role_pids(srv, "login")
    ck.ok(set(new_login) - set(old_login), "a new login process serves new connections (%s -> %s)" % (old_login, new_login))
    # a broken configuration is refused and logged; the server keeps serving
    with open(srv.config_path) as f:
        good = f.read()
    since = srv.log_size()
    with open(srv.config_path, "a") as f:
        f.write("no_such_key = 1\n")
    r = srv.cli("reload", "-c", srv.config_path, check=False)
    note("  buzon reload with a broken config: exit %d %s" % (r.returncode, (r.stderr or r.stdout).strip()[:200]))
    os.kill(srv.proc.pid, signal.SIGHUP)	# as a certbot hook or systemctl would
    line = srv.wait_log(r"reload failed.*no_such_key|no_such_key.*reload", since=since)
    ck.ok(line is not None, "the failed reload is logged with the bad key (%s)" % line)
    time.sleep(0.3)
    ck.ok(srv.proc.poll() is None, "master still running")
    ck.eq(peer_der(srv.imaps_port), new_der, "still serving the (new) certificate")
    c = Client(srv.imap_port)
    ck.ok(c.cmd("a", "LOGIN bob %s" % USERS["bob"])[-1].startswith(b"a OK"), "still logging in after the failed reload")
    c.cmd("z", "LOGOUT")
    c.close()
    typ, _ = sess.noop()
    ck.eq(typ, "OK", "old session NOOP after the failed reload")
    with open(srv.config_path, "w") as f:
        f.write(good)
    sess.logout()
    gone = set(old_login) - set(new_login)
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and gone & set(role_pids(srv, "login")):
        time.sleep(0.1)
    ck.ok(not (gone & set(role_pids(srv, "login"))), "the old login process exits once its session ends")
    # back to the first certificate (the harness' canary verifies it at stop)
    for path, data in saved.items():
        with open(path, "wb") as f:
            f.write(data)
    srv.cli("reload", "-c", srv.config_path, check=False)
    got = None
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        got = peer_der(srv.imaps_port)
        if got == old_der:
            break
        time.sleep(0.1)
    ck.ok(got == old_der, "a second reload brings the first certificate back")


# ---- shutdown and log ------------------------------------------------------------------------

def case_shutdown(ck, srv):
    sess = srv.imap("alice", USERS["alice"])
    sess.select("INBOX")
    pre = Client(srv.imap_port)
    kids = children(srv.proc.pid)
    note("  children before SIGTERM: %s" % kids)
    ck.ok(any("--role mail" in a for a in kids.values()), "a mail process is running")
    problems = srv.stop()
    ck.eq(problems, [], "SIGTERM: exit 0, no process left, clean log")
    ck.eq(srv.proc.returncode, 0, "exit status")
    left = [p for p in kids if os.path.exists("/proc/%d" % p) and
            open("/proc/%d/stat" % p).read().split(") ")[1][0] != "Z"]
    ck.eq(left, [], "no child left")
    lines, closed = pre.rest(2)
    ck.ok(closed, "pre-login client disconnected (%r)" % lines)
    pre.close()
    try:
        sess.noop()
        ck.ok(False, "logged-in session still answers after shutdown")
    except Exception:
        ck.ok(True, "logged-in session closed")


def case_log(ck):
    ck.ok(ALL_LOGS, "server logs collected (%d)" % len(ALL_LOGS))
    needles = set()
    for s in SECRETS:
        needles.add(s.encode())
        needles.add(b64(s.encode()).encode())
        for u in USERS:
            needles.add(b64(b"\0" + u.encode() + b"\0" + s.encode()).encode())
            needles.add(b64(u.encode() + b"\0" + u.encode() + b"\0" + s.encode()).encode())
    for label, text in ALL_LOGS:
        raw = text.encode("utf-8", "surrogateescape")
        found = sorted(n.decode() for n in needles if n in raw)
        ck.eq(found, [], "no password (plain or base64) in the %s server log (%d bytes)" % (label, len(raw)))


# ---------------------------------------------------------------------------- main

def with_server(srv, fn):
    try:
        srv.start()
    except Exception as e:
        print("FAIL SETUP start server %s: %s" % (srv.label, str(e).splitlines()[0] if str(e) else e))
        RESULTS["fail"] += 1
        srv.stop()
        return
    try:
        fn()
    finally:
        problems = srv.stop()
        if problems:
            print("FAIL %s-teardown server %s: %s" % (srv.label.upper(), srv.label, "; ".join(problems)[:600]))
            RESULTS["fail"] += 1


def run_main_cases(cases, want):
    """The cases that share the main server (defaults, debug log) and the
    auth_allow_cleartext = no server; SHUT-01 stops the main server."""
    debug = {"log_level": "debug"}
    main_srv = SecServer("main", settings=debug, extra_passwd={"rooty": (0, 0), "lowuid": (100, 100)},
                         extra_env={"MALLOC_ARENA_MAX": "2", "LD_BIND_NOW": "1"})
    noclear = SecServer("noclear", settings=dict(debug, auth_allow_cleartext="no"))
    try:
        main_srv.start()
        noclear.start()
    except Exception as e:
        print("FAIL SETUP start servers: %s" % str(e).splitlines()[0])
        RESULTS["fail"] += 1
        main_srv.stop()
        noclear.stop()
        return
    try:
        for cid, name, fn in cases:
            if not want(cid, name):
                continue
            if fn in (case_sec05_no,):
                run_case(cid, name, fn, noclear)
            elif fn is case_sec04:
                run_case(cid, name, fn, main_srv, noclear)
            else:
                run_case(cid, name, fn, main_srv)
    finally:
        for s in (main_srv, noclear):
            if not s.stopped:
                problems = s.stop()
                if problems:
                    print("FAIL TEARDOWN server %s: %s" % (s.label, "; ".join(problems)[:600]))
                    RESULTS["fail"] += 1


def main():
    only = []
    args = sys.argv[1:]
    while args:
        a = args.pop(0)
        if a == "-k" and args:
            only.append(args.pop(0).lower())
        else:
            sys.stderr.write(__doc__)
            return 2
    t_start = time.monotonic()

    def want(cid, name):
        return not only or any(o in ("%s %s" % (cid, name)).lower() for o in only)

    main_cases = [
        ("SEC-01", "starttls-injection", case_sec01),
        ("SEC-04", "state-after-tls", case_sec04),
        ("SEC-05a", "cleartext-refused-nonloopback", case_sec05_nonlocal),
        ("SEC-05b", "cleartext-ok-loopback", case_sec05_loopback),
        ("SEC-05c", "cleartext-no", case_sec05_no),
        ("SEC-06", "plaintext-to-imaps", case_sec06),
        ("SEC-11", "three-failures-bye", case_sec11),
        ("SEC-12", "no-user-enumeration", case_sec12),
        ("SEC-16", "log-injection", case_sec16),
        ("SEC-17", "sasl", case_sec17),
        ("SEC-15", "credential-bounds", case_sec15),
        ("PIPE-01", "pipelined-after-login", case_pipe01),
        ("PRE-01", "bad-commands-bye", case_pre_badcmds),
        ("SEC-20", "alpaca-http", case_sec20),
        ("PRE-02", "long-line-bye", case_pre_longline),
        ("PRE-03", "big-literal", case_pre_literal),
        ("SEC-23", "tag-reflection", case_sec23),
        ("SEC-21", "alpn", case_sec21),
        ("SEC-50", "tls-versions", case_sec50),
        ("SEC-51", "tls-suites", case_sec51),
        ("SEC-53", "utf8-credentials", case_sec53),
        ("SEC-52", "no-renegotiation", case_sec52),
        ("SEC-40a", "login-privileges", case_sec40_login),
        ("SEC-41a", "login-confinement", case_sec41_confine),
        ("SEC-41b", "non-dumpable", case_sec41_dump),
        ("SEC-40b", "mail-privileges", case_sec40_mail),
        ("SEC-40c", "auth-no-listener", case_sec40_auth),
        ("SEC-43", "refusals-and-environment", case_sec43),
        ("SEC-38", "runtime-permissions", case_sec38),
        ("SEC-32", "user-names-as-paths", case_sec32),
        ("SEC-22", "sni", case_sec22),
        ("PRE-05", "per-address-cap", case_pre_perip),
        ("LIM-01", "userip-connections", case_userip_limit),
        ("SHUT-01", "sigterm", case_shutdown),
    ]
    if any(want(cid, name) for cid, name, _ in main_cases):
        run_main_cases(main_cases, want)
    if want("LIM-02", "userip-connections-all-protocols"):
        s9 = SecServer("userip", pop3=True, settings={"mail_max_userip_connections": "3"})
        with_server(s9, lambda: run_case("LIM-02", "userip-connections-all-protocols", case_userip_mixed, s9))
    if want("SEC-10", "failure-delay"):
        s = SecServer("delay", settings={"auth_failure_delay_max": "15"})
        with_server(s, lambda: run_case("SEC-10", "failure-delay", case_sec10, s))
    if want("SEC-13", "parallel-guesses") or want("SEC-14", "trusted-networks"):
        s4 = SecServer("penalty", settings={"auth_failure_delay_max": "2", "auth_allow_cleartext": "no",
                                            "auth_trusted_networks": "127.0.0.6/32"})

        def penalty_cases():
            if want("SEC-13", "parallel-guesses"):
                run_case("SEC-13", "parallel-guesses", case_sec13, s4)
            if want("SEC-14", "trusted-networks"):
                run_case("SEC-14", "trusted-networks", case_sec14, s4)
        with_server(s4, penalty_cases)
    if want("PRE-04", "login-timeout"):
        s2 = SecServer("timeout", settings={"login_timeout": "2", "auth_failure_delay_max": "15"})
        with_server(s2, lambda: run_case("PRE-04", "login-timeout", case_pre_timeout, s2))
    if want("SEC-34", "planted-symlinks"):
        s5 = SymlinkServer("symlink", users=SYM_USERS)
        with_server(s5, lambda: run_case("SEC-34", "planted-symlinks", case_sec34, s5))
    if want("SEC-44", "sandbox"):
        s6 = SecServer("sandbox", lmtp=True)
        with_server(s6, lambda: run_case("SEC-44a", "sandbox", case_sec44_sandbox, s6))
        s7 = SecServer("sandbox-off", lmtp=True, settings={"login_seccomp": "no", "login_vsz_limit": "128M"})
        with_server(s7, lambda: run_case("SEC-44b", "sandbox-off", case_sec44_off, s7))
        s8 = SigsysServer("sigsys", lmtp=True)
        with_server(s8, lambda: run_case("SEC-44c", "sandbox-sigsys-restart", case_sec44_restart, s8))
    if want("REL-01", "sighup-reload"):
        s3 = SecServer("reload")
        with_server(s3, lambda: run_case("REL-01", "sighup-reload", case_reload, s3))
    if not only:
        run_case("LOG-01", "no-password-in-log", case_log)

    note("total %.1f s" % (time.monotonic() - t_start))
    if RESULTS["skip"]:
        print("(%d of the passed were skipped: not applicable as uid %d)" % (RESULTS["skip"], os.getuid()))
    print("%d passed, %d failed" % (RESULTS["pass"] + RESULTS["skip"], RESULTS["fail"]))
    return 1 if RESULTS["fail"] else 0


if __name__ == "__main__":
    sys.exit(main())
