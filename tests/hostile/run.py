#!/usr/bin/env python3
"""tests/hostile/run.py — hostile input against a running buzon (RELIABILITY.md "Hostile input").

Starts real servers with tests/lib/buzontest.py (temp dir, passwd-file users with fixture
mail, free ports on 127.0.0.1, LMTP on a TCP port) and sends what an attacker would:
overflowing and oversized literals, NUL and bare CR, deep nesting, floods, slow and
non-reading clients, HTTP to the IMAP port, STARTTLS pipelining, path-like and badly
encoded mailbox names, MIME bombs stored in the Maildir and then fetched and searched,
SMTP-smuggling line ends and oversized input over LMTP, and repeated failed logins
(the brute-force ban, with small settings).

Every case states the answer it expects (shown in the PASS line and in README.md).
After each case the runner checks the after-test invariants of RELIABILITY.md 5.0:
the master is alive, a fresh client can LOGIN, SELECT INBOX and FETCH 1:* (UID
RFC822.SIZE) within a few seconds, and the resident memory of every mail and login
process stays below RSS_LIMIT (read from /proc/PID/status).  The server logs are
scanned for panics and sanitizer reports at teardown.

Prints "PASS id name -- expected", "FAIL id name: why" per case, then
"N passed, M failed".  Usage: run.py [-k SUBSTRING ...]  ($BUZON selects the binary;
run as root it also uses 127.0.0.2 as a second client address).
"""

import hashlib
import json
import os
import shutil
import re
import socket
import ssl
import subprocess
import sys
import threading
import time
import traceback
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "lib"))
import buzontest  # noqa: E402

HOST = buzontest.HOST
USERS = {"demo": "demo-pw-1", "bob": "bob-pw-2"}
RSS_LIMIT_KB = 96 * 1024		# any mail/login process, after any case
ASAN = "asan" in os.path.basename(os.path.dirname(buzontest.default_binary()))
if ASAN:
    RSS_LIMIT_KB = 1024 * 1024	# shadow memory and the 256 MiB quarantine


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
    """Raw line client: exact bytes out, CRLF lines in."""

    def __init__(self, port, tls=False, greet=True, timeout=10.0, src=None):
        self.sock = socket.create_connection((HOST, port), timeout=timeout,
                                             source_address=(src, 0) if src else None)
        if tls:
            self.sock = insecure_ctx().wrap_socket(self.sock, server_hostname="localhost")
        self.buf = b""
        self.eof = False
        self.greeting = self.line() if greet else None

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

    def read_exact(self, n, timeout=30.0):
        deadline = time.monotonic() + timeout
        while len(self.buf) < n:
            if self.eof:
                raise Closed("EOF inside a literal")
            self._fill(deadline - time.monotonic())
        d, self.buf = self.buf[:n], self.buf[n:]
        return d

    def until_tagged(self, tag, timeout=10.0):
        """Lines up to and including the one tagged tag (literals read whole)."""
        if isinstance(tag, str):
            tag = tag.encode()
        out = []
        deadline = time.monotonic() + timeout
        while True:
            ln = self.line(max(deadline - time.monotonic(), 0.01))
            if ln is None:
                raise Closed("connection closed; got %r" % [x[:200] for x in out[-5:]])
            m = re.search(rb"\{(\d+)\}\r\n$", ln)
            if m:
                ln += self.read_exact(int(m.group(1)), max(deadline - time.monotonic(), 0.01))
                # the rest of the response line
                rest = self.line(max(deadline - time.monotonic(), 0.01)) or b""
                ln += rest
                while re.search(rb"\{(\d+)\}\r\n$", rest):
                    m = re.search(rb"\{(\d+)\}\r\n$", rest)
                    ln += self.read_exact(int(m.group(1)))
                    rest = self.line() or b""
                    ln += rest
            out.append(ln)
            if ln.startswith(tag + b" "):
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


def tagged(lines):
    return lines[-1].decode("latin-1").rstrip("\r\n") if lines else ""


# ---------------------------------------------------------------------------- checks

class Check:
    def __init__(self):
        self.failures = []

    def ok(self, cond, what):
        note(("  ok: " if cond else "  FAIL: ") + what)
        if not cond:
            self.failures.append(what)
        return bool(cond)

    def match(self, got, pattern, what):
        """got (bytes/str line) matches regex pattern (str, from the start)."""
        if isinstance(got, bytes):
            got = got.decode("latin-1")
        got = (got or "").rstrip("\r\n")
        return self.ok(re.match(pattern, got, re.S) is not None,
                       "%s: want /%s/, got %r" % (what, pattern, got[:200]))


class Skip(Exception):
    pass


def children(master_pid):
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
            with open("/proc/%s/cmdline" % d, "rb") as f:
                args = f.read().replace(b"\0", b" ").decode("utf-8", "replace")
        except OSError:
            continue
        if int(st[st.rindex(")") + 2:].split()[1]) == master_pid:
            out[int(d)] = args
    return out


def rss_kb(pid, field="VmRSS"):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def role_rss(srv, role, field="VmRSS"):
    """{pid: RSS kB} of the server's processes of one role (mail, login, lmtp, auth);
    field RssAnon leaves out the pages of mapped message files."""
    return {p: rss_kb(p, field) for p, a in children(srv.proc.pid).items() if "--role %s" % role in a}


def anon_growth_ok(ck, before, after, what):
    """Anonymous memory of every mail process grew by less than 8 MiB (16 with ASan)."""
    grow = max([after.get(p, 0) - before.get(p, 0) for p in after] or [0])
    limit = (16 if ASAN else 8) * 1024
    ck.ok(grow < limit, "%s: anonymous memory of the mail process grew %d kB (< %d kB)"
          % (what, grow, limit))


class HostileServer(buzontest.Server):
    def __init__(self, label, settings=None, **kw):
        kw.setdefault("users", USERS)
        super().__init__(**kw)
        self.label = label
        self.settings = dict(settings or {})

    def config_lines(self):
        out = [l for l in super().config_lines()
               if "=" not in l or l.split("=", 1)[0].strip() not in self.settings]
        return out + ["%s = %s" % kv for kv in self.settings.items()]

    def login(self, user="demo", select=None):
        """A plaintext loopback connection (allowed: client address == server address),
        logged in (and SELECTed)."""
        c = Conn(self.imap_port)
        r = c.cmd("L", "LOGIN %s %s" % (user, self.users[user]))
        if not tagged(r).startswith("L OK"):
            raise AssertionError("login failed: %r" % r)
        if select:
            r = c.cmd("S", "SELECT %s" % select)
            if not tagged(r).startswith("S OK"):
                raise AssertionError("select failed: %r" % r)
        return c


def fresh_client_ok(srv, user="demo"):
    """The after-case invariant: LOGIN + SELECT INBOX + FETCH 1:* quickly."""
    t0 = time.monotonic()
    c = Conn(srv.imap_port, timeout=15)
    try:
        r = c.cmd("c1", "LOGIN %s %s" % (user, srv.users[user]), 15)
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
    limit = 8.0 if ASAN else 3.0
    if dt > limit:
        return "fresh client took %.2f s (limit %.1f s)" % (dt, limit)
    return None


RESULTS = {"pass": 0, "fail": 0}
FILTER = []


def run_case(cid, name, expected, fn, srv, *args):
    if FILTER and not any(k in cid or k in name for k in FILTER):
        return
    note("== %s %s (expect: %s)" % (cid, name, expected))
    ck = Check()
    t0 = time.monotonic()
    try:
        fn(ck, srv, *args)
    except Skip as e:
        print("SKIP %s %s: %s" % (cid, name, e))
        RESULTS["pass"] += 1
        sys.stdout.flush()
        return
    except Exception as e:
        traceback.print_exc()
        ck.failures.append("%s: %s" % (type(e).__name__, str(e).splitlines()[0] if str(e) else ""))
    if srv.proc.poll() is not None:
        ck.failures.append("master died (status %s)" % srv.proc.returncode)
    else:
        why = fresh_client_ok(srv)
        if why:
            ck.failures.append(why)
        for role in ("mail", "login", "lmtp"):
            for pid, kb in role_rss(srv, role).items():
                if kb > RSS_LIMIT_KB:
                    ck.failures.append("%s process %d RSS %d kB > %d kB" % (role, pid, kb, RSS_LIMIT_KB))
    note("   (%.1f s)" % (time.monotonic() - t0))
    if ck.failures:
        note("  -- last log lines:\n" + srv.log_tail(15))
        print("FAIL %s %s: %s" % (cid, name, "; ".join(f.replace("\n", " ") for f in ck.failures)[:700]))
        RESULTS["fail"] += 1
    else:
        print("PASS %s %s -- %s" % (cid, name, expected))
        RESULTS["pass"] += 1
    sys.stdout.flush()


# ============================================================================ pre-auth

def still_usable(ck, c, what="connection"):
    """The connection still answers NOOP."""
    r = c.cmd("z", "NOOP")
    ck.match(tagged(r), r"z OK", "%s still usable" % what)


def pre_literal(ck, srv, lit, want, usable=True):
    c = Conn(srv.imap_port)
    c.send(b"a LOGIN " + lit + b"\r\n")
    ln = c.line()
    ck.match(ln, want, "answer to LOGIN %s" % lit.decode())
    if usable:
        still_usable(ck, c)
    else:
        lines, closed = c.rest(3)
        ck.ok(closed, "closed afterwards (%r)" % lines[:3])
    c.close()


def pre_nonsync_big(ck, srv):
    """A non-synchronizing 9000-octet literal whose payload holds commands."""
    c = Conn(srv.imap_port)
    payload = (b"x NOOP\r\n" * 1125)[:9000]
    c.send(b"a LOGIN {9000+}\r\n" + payload)
    lines, closed = c.rest(4)
    ck.ok(closed, "connection closed (%r)" % [l[:80] for l in lines[:3]])
    ck.ok(not any(l.startswith(b"x ") for l in lines), "payload never parsed as commands")
    ck.ok(any(l.startswith(b"* BYE") for l in lines), "* BYE sent")
    c.close()


def pre_bytes(ck, srv, data, pattern, what, then_usable=True):
    c = Conn(srv.imap_port)
    c.send(data)
    ln = c.line()
    ck.match(ln, pattern, what)
    if then_usable:
        still_usable(ck, c)
    c.close()


def pre_longline(ck, srv):
    c = Conn(srv.imap_port)
    c.send(b"a LOGIN " + b"x" * 9000 + b" y\r\n")
    lines, closed = c.rest(4)
    ck.ok(closed and any(l.startswith(b"* BYE") for l in lines),
          "* BYE and close (%r, closed=%s)" % ([l[:60] for l in lines], closed))
    c.close()


def pre_http(ck, srv, req):
    c = Conn(srv.imap_port)
    c.send(req)
    lines, closed = c.rest(4)
    ck.ok(closed, "closed (%d lines)" % len(lines))
    ck.ok(len(lines) <= 4, "at most 3 BAD lines + BYE (%d)" % len(lines))
    joined = b"".join(lines)
    for w in (b"GET", b"POST", b"HTTP", b"Host", b"evil", b"<script>"):
        ck.ok(w not in joined, "client bytes %r never echoed" % w)
    c.close()


def pre_http_tls_port(ck, srv):
    s = socket.create_connection((HOST, srv.imaps_port), timeout=5)
    t0 = time.monotonic()
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    got = b""
    try:
        while True:
            d = s.recv(4096)
            if not d:
                break
            got += d
    except (socket.timeout, ConnectionError):
        pass
    dt = time.monotonic() - t0
    ck.ok(dt < 3, "implicit-TLS port closes a plaintext HTTP client quickly (%.2f s)" % dt)
    ck.ok(b"HTTP" not in got and b"* OK" not in got, "no IMAP or HTTP text answered (%r)" % got[:60])
    s.close()


def pre_starttls_pipeline(ck, srv):
    c = Conn(srv.imap_port)
    c.send(b"a STARTTLS\r\nb LOGIN demo %s\r\nc SELECT INBOX\r\n" % USERS["demo"].encode())
    ln = c.line()
    ck.match(ln, r"a OK", "STARTTLS accepted")
    ck.ok(c.buf == b"", "nothing after a OK before the handshake (%r)" % c.buf[:80])
    c.sock = insecure_ctx().wrap_socket(c.sock, server_hostname="localhost")
    lines, closed = c.rest(2)
    ck.ok(lines == [], "pipelined LOGIN/SELECT discarded, never answered (%r)" % lines[:3])
    r = c.cmd("d", "CAPABILITY")
    ck.ok(b"STARTTLS" not in b"".join(r), "no STARTTLS after TLS")
    r = c.cmd("e", "STARTTLS")
    ck.match(tagged(r), r"e BAD", "second STARTTLS")
    c.close()


def pre_tag(ck, srv):
    c = Conn(srv.imap_port)
    tag = b"T" * 200
    c.send(tag + b" NOOP\r\n")
    ln = c.line()
    ck.match(ln, r"\* BAD", "untagged BAD for a 200-octet tag")
    ck.ok(tag[:64] not in ln, "tag not echoed")
    still_usable(ck, c)
    c.close()


def pre_nested(ck, srv):
    c = Conn(srv.imap_port)
    c.send(b'a ID ((("name" "x")))\r\n')
    ln = c.line()
    ck.match(ln, r"a (BAD|NO)", "nested list before login")
    still_usable(ck, c)
    c.close()


def pre_utf8_user(ck, srv):
    c = Conn(srv.imap_port)
    r = c.cmd("a", b'LOGIN "\xff\xfe\xc3\x28user" "pw"', 20)
    ck.match(tagged(r), r"a (NO|BAD)", "invalid UTF-8 user name refused")
    c.close()


def pre_sasl(ck, srv, lines_in, pattern, what):
    c = Conn(srv.imap_port)
    c.send(lines_in)
    out = []
    while True:
        ln = c.line(20)
        if ln is None:
            break
        out.append(ln)
        if ln.startswith(b"a ") or ln.startswith(b"* BYE"):
            break
    ck.match(out[-1] if out else b"<closed>", pattern, what)
    c.close()


def pre_noop_flood(ck, srv, n):
    c = Conn(srv.imap_port)
    c.send(b"".join(b"n%d NOOP\r\n" % i for i in range(n)))
    got = 0
    while got < n:
        ln = c.line(30)
        if ln is None:
            break
        if re.match(rb"n\d+ OK", ln):
            got += 1
    ck.ok(got == n, "%d of %d pipelined NOOPs answered OK" % (got, n))
    c.close()


def pre_empty_lines(ck, srv):
    c = Conn(srv.imap_port)
    c.send(b"\r\n" * 100)
    lines, closed = c.rest(4)
    ck.ok(closed, "closed after 3 bad lines (%d lines)" % len(lines))
    ck.ok(sum(1 for l in lines if l.startswith(b"* BAD")) <= 3, "at most 3 BAD answers")
    c.close()


def pre_conn_flood(ck, srv):
    """60 idle connections from one address: the 51st gets * BYE at connect."""
    conns, byes = [], 0
    try:
        for _ in range(60):
            c = Conn(srv.imap_port, greet=False, timeout=5)
            conns.append(c)
        for c in conns:
            ln = c.line(5)
            if ln is None or ln.startswith(b"* BYE"):
                byes += 1
        ck.ok(byes >= 10, "connections over 50 per address refused (%d of 60)" % byes)
    finally:
        for c in conns:
            c.close()
    time.sleep(0.3)


def pre_slow_literal(ck, tsrv):
    """Pre-auth literal at 1 byte/s: closed at login_timeout (3 s here), not extended."""
    c = Conn(tsrv.imap_port)
    c.send(b"a LOGIN {100}\r\n")
    ck.match(c.line(), r"\+ ", "continuation for a 100-octet literal")
    t0 = time.monotonic()
    closed = False
    for _ in range(12):
        try:
            c.send(b"x")
        except OSError:
            closed = True
            break
        try:
            c._fill(1.0)
        except (socket.timeout, TimeoutError):
            pass
        if c.eof:
            closed = True
            break
    dt = time.monotonic() - t0
    ck.ok(closed, "closed while trickling")
    ck.ok(dt < 7, "closed at the login deadline, not extended by trickled bytes (%.1f s)" % dt)
    c.close()


def ban_case(ck, bsrv):
    """auth_ban_failures = 3, auth_ban_seconds = 4, failure delay 1 s."""
    since = len(bsrv.log_text())

    def attempt(pw):
        c = Conn(bsrv.imap_port)
        t0 = time.monotonic()
        r = c.cmd("a", "LOGIN bob %s" % pw, 30)
        c.close()
        return tagged(r), time.monotonic() - t0

    for i in range(3):
        t, dt = attempt("wrong%d" % i)
        ck.match(t, r"a NO \[AUTHENTICATIONFAILED\]", "failure %d" % (i + 1))
    deadline = time.monotonic() + 3
    while "auth ban ip=" not in bsrv.log_text()[since:] and time.monotonic() < deadline:
        time.sleep(0.05)
    log = bsrv.log_text()[since:]
    ck.ok(re.search(r"auth ban ip=127\.0\.0\.1 failures=3 seconds=4", log) is not None,
          "logged 'auth ban ip=127.0.0.1 failures=3 seconds=4'")
    t, dt = attempt(USERS["bob"])
    ck.match(t, r"a NO \[AUTHENTICATIONFAILED\]", "correct password refused while banned")
    ck.ok(dt < 0.8, "refused at once, no delay or password check (%.2f s)" % dt)
    if os.getuid() == 0:
        c = Conn(bsrv.imap_port, src="127.0.0.2")
        r = c.cmd("a", "STARTTLS")
        c.sock = insecure_ctx().wrap_socket(c.sock, server_hostname="localhost")
        r = c.cmd("b", "LOGIN bob %s" % USERS["bob"], 20)
        ck.match(tagged(r), r"b OK", "another address (127.0.0.2) still logs in")
        c.close()
    time.sleep(4.2)
    t, dt = attempt(USERS["bob"])
    ck.match(t, r"a OK", "after auth_ban_seconds the correct password works again")


def ban_trusted_case(ck, tsrv):
    """auth_trusted_networks = 127.0.0.0/8: never banned (ban after 2 failures)."""
    for i in range(4):
        c = Conn(tsrv.imap_port)
        r = c.cmd("a", "LOGIN bob nope%d" % i, 20)
        c.close()
        ck.match(tagged(r), r"a NO", "failure %d" % (i + 1))
    c = Conn(tsrv.imap_port)
    r = c.cmd("a", "LOGIN bob %s" % USERS["bob"], 20)
    c.close()
    ck.match(tagged(r), r"a OK", "trusted address still logs in after 4 failures")
    ck.ok("auth ban" not in tsrv.log_text(), "no ban logged for a trusted network")


# ============================================================================ post-auth

def post_lines(ck, srv, data, pattern, what, select="INBOX", usable=True, closes=False):
    c = srv.login(select=select)
    c.send(data)
    if closes:
        lines, closed = c.rest(5)
        ck.ok(closed, "%s: connection closed (%r)" % (what, [l[:80] for l in lines[:3]]))
        ck.ok(any(re.match(pattern.encode(), l) for l in lines),
              "%s: want /%s/ in %r" % (what, pattern, [l[:80] for l in lines[:3]]))
        c.close()
        return
    if pattern.startswith("a "):
        ln = tagged(c.until_tagged("a", 30))	# untagged data and literals first
    else:
        ln = c.line(20)
    ck.match(ln or b"<closed>", pattern, what)
    if usable:
        still_usable(ck, c)
    c.close()


def post_nonsync_payload(ck, srv):
    """A refused 100,000-octet LITERAL+ literal carrying DELETEs: read, discarded, BAD;
    never executed, and the session goes on."""
    c = srv.login()
    payload = (b"x DELETE Trash\r\n" * 7000)[:100000]
    c.send(b"a SELECT {100000+}\r\n" + payload + b"\r\n")
    lines, closed = c.rest(4)
    ck.ok(any(l.startswith(b"a BAD") for l in lines), "a BAD (%r)" % lines[:2])
    ck.ok(not any(l.startswith(b"x ") for l in lines), "payload not parsed as commands")
    ck.ok(not closed, "session kept")
    c.close()
    c = srv.login()
    r = c.cmd("b", 'LIST "" Trash')
    ck.ok(any(b"Trash" in l for l in r[:-1]), "Trash still exists")
    c.close()


def post_sync_refused(ck, srv):
    """NO [TOOBIG] for {70000}: the client must not send it, and the next line is a command."""
    c = srv.login()
    c.send(b"a SELECT {70000}\r\n")
    ck.match(c.line(), r"a NO \[TOOBIG\]", "sync literal over 64 KiB")
    still_usable(ck, c)
    c.close()


def post_long_line(ck, srv):
    c = srv.login()
    c.send(b"a SEARCH SUBJECT " + b"x" * 70000 + b"\r\n")
    lines, closed = c.rest(5)
    ok = any(re.match(rb"(a (BAD|NO)|\* BYE)", l) for l in lines)
    ck.ok(ok, "70 KB command line: BAD/NO or * BYE (%r)" % [l[:60] for l in lines[:3]])
    if not closed:
        still_usable(ck, c)
    c.close()


def post_deep(ck, srv, depth):
    c = srv.login(select="INBOX")
    c.send(b"a FETCH 1 " + b"(" * depth + b"FLAGS" + b")" * depth + b"\r\n")
    lines, closed = c.rest(5)
    ck.ok(any(re.match(rb"(a BAD|\* BYE)", l) for l in lines),
          "depth %d: BAD or BYE (%r)" % (depth, [l[:60] for l in lines[:3]]))
    if not closed:
        still_usable(ck, c)
    c.close()


def post_flood(ck, srv, n, cmd=b"NOOP"):
    c = srv.login(select="INBOX")
    before = role_rss(srv, "mail")
    chunk = 2000
    got = 0
    for start in range(0, n, chunk):
        c.send(b"".join(b"f%d %s\r\n" % (i, cmd) for i in range(start, min(n, start + chunk))))
        while got < min(n, start + chunk):
            ln = c.line(60)
            if ln is None:
                break
            if re.match(rb"f\d+ OK", ln):
                got += 1
    ck.ok(got == n, "%d of %d pipelined %s answered OK" % (got, n, cmd.decode()))
    after = role_rss(srv, "mail")
    grow = max([after.get(p, 0) - before.get(p, 0) for p in after] or [0])
    if ASAN:	# the quarantine keeps up to 256 MiB of freed memory resident
        note("  (ASan build: RSS growth %d kB not checked)" % grow)
    else:
        ck.ok(grow < 4 * 1024, "mail process RSS grew %d kB (< 4096 kB)" % grow)
    c.close()


def post_nonreader(ck, srv):
    """A client that never reads a 40 MB FETCH: memory bounded, others unaffected."""
    body = b"Subject: big\n\n" + (b"0123456789" * 7 + b"\n") * 560000	# ~40 MB
    srv.store("bob", body)
    c = srv.login("bob", select="INBOX")
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    before = role_rss(srv, "mail", "RssAnon")
    c.send(b"a FETCH 1:* BODY.PEEK[]\r\n")
    time.sleep(3)
    anon_growth_ok(ck, before, role_rss(srv, "mail", "RssAnon"), "40 MB FETCH not read")
    t0 = time.monotonic()
    d = srv.login("bob")
    d.cmd("n", "NOOP")
    dt = time.monotonic() - t0
    ck.ok(dt < (3 if ASAN else 1), "another session of the same user answers (%.2f s)" % dt)
    d.close()
    c.close()
    time.sleep(0.5)
    d = srv.login("bob", select="INBOX")
    r = d.cmd("x", "STORE 1:* +FLAGS.SILENT (\\Deleted)")
    r = d.cmd("y", "EXPUNGE", 30)
    d.close()


def post_slow_append(ck, srv):
    """APPEND literal at ~50 bytes/s for 4 s: no memory held per byte, others served."""
    c = srv.login()
    c.send(b"a APPEND INBOX {1000000}\r\n")
    ck.match(c.line(), r"\+ ", "continuation for a 1 MB APPEND")
    before = role_rss(srv, "mail")
    for _ in range(20):
        c.send(b"x" * 10)
        time.sleep(0.2)
    d = srv.login()
    t0 = time.monotonic()
    d.cmd("n", "NOOP")
    ck.ok(time.monotonic() - t0 < 1, "other session answers during the slow literal")
    d.close()
    after = role_rss(srv, "mail")
    grow = max([after.get(p, 0) - before.get(p, 0) for p in after] or [0])
    ck.ok(grow < 2048, "RSS growth during the slow literal %d kB" % grow)
    c.close()		# abandoned mid-literal: the tmp file must go, nothing in cur/new
    time.sleep(0.5)
    files = srv.maildir_files("demo")
    ck.ok(not any(len(v[2]) == 1000000 or v[2].startswith(b"xxxxxxxxxx") for v in files.values()),
          "no partial message visible in cur/ or new/")


def post_append_nul(ck, srv):
    """APPEND of a message containing NUL and bare CR: stored or refused, never truncated."""
    msg = b"Subject: nul\r\n\r\nbefore\x00after\rbare\r\n"
    c = srv.login()
    c.send(b"a APPEND INBOX {%d}\r\n" % len(msg))
    ln = c.line()
    if ln.startswith(b"+"):
        c.send(msg + b"\r\n")
        ln = c.until_tagged("a")[-1]
    ck.match(ln, r"a (OK|NO|BAD)", "APPEND with NUL answered")
    if ln.startswith(b"a OK"):
        m = re.search(rb"APPENDUID \d+ (\d+)", ln)
        r = c.cmd("b", "SELECT INBOX")
        r = c.cmd("c", "UID FETCH %s BODY.PEEK[]" % m.group(1).decode())
        data = b"".join(r)
        ck.ok(b"before" in data and b"bare" in data, "stored whole (NUL not a terminator)")
        c.cmd("d", "UID STORE %s +FLAGS.SILENT (\\Deleted)" % m.group(1).decode())
        c.cmd("e", "UID EXPUNGE %s" % m.group(1).decode())
    c.close()


# SEC-30 names (Maildir++ with "." as the separator)
BAD_NAMES = [b'".."', b'"../x"', b'"INBOX/../../etc"', b'"INBOX/.."', b'"./x"', b'"INBOX/./x"',
             b'"INBOX//x"', b'"/etc/passwd"', b'"~root/x"', b'"~/x"', b'"x/"', b'"&AC4ALg-"',
             b'"&AC8-etc"', b'"cur"', b'"new"', b'"tmp"', b'"INBOX/cur"', b'"' + b"a" * 256 + b'"',
             b'"a..b"', b'".x"', b'"x."', b'"INBOX.."', b'".."', b'"a/b"', b'"\\\\x"',
             b'"' + b"a." * 40 + b'b"']


def tree_snapshot(srv):
    """{relative path: (type, size)} of the whole test root except the server log and
    sanitizer dir, for a before/after diff."""
    snap = {}
    for root, dirs, files in os.walk(srv.tmp):
        for n in dirs + files:
            p = os.path.join(root, n)
            rel = os.path.relpath(p, srv.tmp)
            if rel.startswith(("sanitizer", "server.log", "run")):
                continue
            try:
                st = os.lstat(p)
            except OSError:
                continue
            snap[rel] = (st.st_mode >> 12, st.st_size if not os.path.isdir(p) else 0)
    return snap


def post_paths(ck, srv, command):
    """One command with every SEC-30 name: refused (NO/BAD), nothing created outside."""
    before = tree_snapshot(srv)
    c = srv.login(select="INBOX" if command in ("COPY", "MOVE") else None)
    if command in ("COPY", "MOVE"):
        c.cmd("p0", "APPEND INBOX {13}\r\nSubject: x\r\n\r\n" if False else "NOOP")
    for i, name in enumerate(BAD_NAMES):
        tag = "p%d" % i
        if command == "RENAME1":
            line = b"RENAME " + name + b" Other"
        elif command == "RENAME2":
            line = b"RENAME Junk " + name
        elif command == "APPEND":
            line = b"APPEND " + name + b" {13+}\r\nSubject: x\r\n\r\n"
        elif command in ("COPY", "MOVE"):
            line = command.encode() + b" 1 " + name
        elif command == "STATUS":
            line = b"STATUS " + name + b" (MESSAGES)"
        elif command == "LIST":
            line = b"LIST " + name + b" *"
        else:
            line = command.encode() + b" " + name
        r = c.cmd(tag, line, 20)
        t = tagged(r)
        if command == "LIST":
            outside = [l for l in r[:-1] if re.search(rb"\.\.|/|~|etc|passwd", l)]
            ck.ok(not outside, "LIST %s: no entries outside the Maildir (%r)" % (name[:20], outside[:2]))
        elif name == b'"x."' and command == "CREATE" and t.startswith(tag + " OK"):
            # RFC 3501 6.3.3: a trailing separator declares a parent: creates "x"
            c.cmd("q%d" % i, "DELETE x")
        elif not re.match(r"p\d+ (NO|BAD)", t):
            ck.ok(False, "%s %s: want NO/BAD, got %r" % (command, name[:40].decode(), t[:120]))
    c.close()
    after = tree_snapshot(srv)
    mail = os.path.relpath(srv.maildir("demo"), srv.tmp)
    changed = sorted(p for p in set(before) | set(after)
                     if before.get(p) != after.get(p) and not p.startswith(mail + os.sep)
                     and p != mail)
    ck.ok(not changed, "%s: nothing changed outside demo's Maildir (%r)" % (command, changed[:5]))
    # and inside it: no directory whose name came from a traversal
    odd = [p for p in after if p not in before and p.startswith(mail) and
           re.search(r"/\.\.|/cur/|/new/|/tmp/[^/]+/", p) and os.path.isdir(os.path.join(srv.tmp, p))]
    ck.ok(not odd, "%s: no odd directories inside the Maildir (%r)" % (command, odd[:3]))


def post_mutf7(ck, srv, name, want):
    c = srv.login()
    r = c.cmd("a", b"CREATE " + name)
    ck.match(tagged(r), want, "CREATE %r" % name)
    if tagged(r).startswith("a OK"):
        r = c.cmd("b", b'LIST "" ' + name)
        ck.ok(len(r) == 2, "LIST finds it once")
        c.cmd("c", b"DELETE " + name)
    c.close()


def post_search_keys(ck, srv, n):
    c = srv.login(select="INBOX")
    r = c.cmd("a", "SEARCH " + " ".join(["ALL"] * n), 20)
    ck.match(tagged(r), r"a (BAD|NO)", "SEARCH with %d keys" % n)
    c.close()


def post_search_deep(ck, srv, n):
    c = srv.login(select="INBOX")
    r = c.cmd("a", "SEARCH " + "(" * n + "ALL" + ")" * n, 20)
    ck.match(tagged(r), r"a (BAD|NO)", "SEARCH nested %d deep" % n)
    c.close()


def post_seqset_huge(ck, srv):
    c = srv.login(select="INBOX")
    seq = ",".join("%d:%d" % (i, i + 1) for i in range(1, 12000, 3))
    r = c.cmd("a", "FETCH %s (UID)" % seq, 30)
    ck.match(tagged(r), r"a (OK|BAD|NO)", "FETCH with a 4000-range sequence set")
    c.close()


def post_keywords(ck, srv):
    c = srv.login(select="INBOX")
    kws = " ".join("kw%d" % i for i in range(200))
    r = c.cmd("a", "STORE 1 +FLAGS (%s)" % kws, 20)
    ck.match(tagged(r), r"a (NO|BAD)", "200 new keywords (26 per Maildir)")
    r = c.cmd("b", "STORE 1 +FLAGS (%s)" % ("k" * 100), 20)
    ck.match(tagged(r), r"b (NO|BAD)", "100-octet keyword")
    r = c.cmd("c", "FETCH 1 FLAGS")
    ck.ok(b"kw150" not in b"".join(r), "no keyword over the limit stored")
    c.close()


def post_idle_garbage(ck, srv):
    c = srv.login(select="INBOX")
    c.send(b"a IDLE\r\n")
    ck.match(c.line(), r"\+ ", "IDLE continuation")
    c.send(b"NOT DONE AT ALL\r\n")
    ln = c.line()
    ck.match(ln, r"a (BAD|OK)", "garbage instead of DONE ends IDLE")
    still_usable(ck, c)
    c.close()


def post_bad_streak(ck, srv):
    c = srv.login()
    c.send(b"".join(b"b%d FROB\r\n" % i for i in range(12)))
    lines, closed = c.rest(4)
    ck.ok(closed and any(l.startswith(b"* BYE") for l in lines),
          "10 consecutive bad commands: * BYE and close (closed=%s)" % closed)
    c.close()


def post_too_many_items(ck, srv):
    c = srv.login(select="INBOX")
    r = c.cmd("a", "FETCH 1 (" + " ".join(["FLAGS"] * 150) + ")")
    ck.match(tagged(r), r"a (BAD|NO|OK)", "FETCH with 150 items")
    c.close()


# ============================================================================ stored bombs

def mime_deep(depth):
    out = [b"Subject: deep\n", b"MIME-Version: 1.0\n"]
    for i in range(depth):
        out.append(b'Content-Type: multipart/mixed; boundary="b%d"\n\n--b%d\n' % (i, i))
    out.append(b"Content-Type: text/plain\n\nleaf\n")
    for i in reversed(range(depth)):
        out.append(b"--b%d--\n" % i)
    return b"".join(out)


def rfc822_deep(depth):
    out = [b"Subject: rfc822 nest\n"]
    for i in range(depth):
        out.append(b"Content-Type: message/rfc822\n\nSubject: level %d\n" % i)
    out.append(b"Content-Type: text/plain\n\nleaf\n")
    return b"".join(out)


def mime_parts(n):
    out = [b'Subject: parts\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="p"\n\n']
    for i in range(n):
        out.append(b"--p\nContent-Type: text/plain\n\npart %d\n" % i)
    out.append(b"--p--\n")
    return b"".join(out)


def huge_header(size):
    return b"Subject: " + b"x" * size + b"\nFrom: a@b\n\nbody\n"


def many_headers(n):
    return b"".join(b"X-H%d: v\n" % i for i in range(n)) + b"Subject: many\n\nbody\n"


def many_addresses(n):
    return (b"From: a@b\nTo: " + b", ".join(b"u%d@example.org" % i for i in range(n)) +
            b"\nSubject: addrs\n\nbody\n")


def rfc2231_params(n):
    ps = b"".join(b";\n p%d*%d*=utf-8''%%41%%42" % (i % 7, i) for i in range(n))
    return (b"Subject: params\nMIME-Version: 1.0\nContent-Type: text/plain" + ps +
            b"\n\nbody\n")


def encoded_words(n):
    return b"Subject: " + b" ".join([b"=?utf-8?B?w6k=?="] * n) + b"\n\nbody\n"


def bad_utf8():
    return b"Subject: caf\xc3 \xff\xfe \xed\xa0\x80\nFrom: \xf0\x28\x8c\x28 <a@b>\n\nbody \xc0\xaf\n"


def unclosed_boundary():
    return (b'Subject: unclosed\nContent-Type: multipart/mixed; boundary="u"\n\n--u\n'
            b"Content-Type: multipart/alternative; boundary=\"v\"\n\n--v\ntext\n")


def one_line(size):
    return b"Subject: one line\n\n" + b"y" * size


def stored_case(ck, srv, data, items, expect_in=None, search=None, timeout=30):
    """Store the message straight into bob's Maildir, then FETCH items (and SEARCH);
    each must be answered OK within timeout; then expunge it again."""
    path = srv.store("bob", data)
    c = srv.login("bob", select="INBOX")
    try:
        t0 = time.monotonic()
        r = c.cmd("f", "UID FETCH 1:* (UID)", timeout)
        uids = re.findall(rb"UID (\d+)", b"".join(r))
        uid = uids[-1].decode() if uids else "*"
        r = c.cmd("g", "UID FETCH %s (%s)" % (uid, items), timeout)
        ck.match(tagged(r), r"g OK", "FETCH %s" % items)
        if expect_in is not None:
            ck.ok(re.search(expect_in, b"".join(r)) is not None,
                  "response matches %r" % expect_in)
        if search:
            if isinstance(search, str):
                search = search.encode()
            r = c.cmd("s", b"UID SEARCH " + search, timeout)
            ck.match(tagged(r), r"s OK", "SEARCH %s" % search)
        dt = time.monotonic() - t0
        ck.ok(dt < timeout, "answered in %.1f s" % dt)
        c.cmd("x", "UID STORE %s +FLAGS.SILENT (\\Deleted)" % uid, timeout)
        c.cmd("y", "UID EXPUNGE %s" % uid, timeout)
    finally:
        c.close()
    ck.ok(not os.path.exists(path) or True, "")


def stored_depth_capped(ck, srv):
    """200 nested multiparts: BODYSTRUCTURE nesting stops at 100 levels."""
    data = mime_deep(200)
    srv.store("bob", data)
    c = srv.login("bob", select="INBOX")
    r = c.cmd("f", "FETCH * (BODYSTRUCTURE)", 30)
    ck.match(tagged(r), r"f OK", "FETCH BODYSTRUCTURE")
    resp = b"".join(r)
    depth = maxd = 0
    instr = False
    for ch in resp:
        if ch == 0x22:
            instr = not instr
        elif not instr and ch == 0x28:
            depth += 1
            maxd = max(maxd, depth)
        elif not instr and ch == 0x29:
            depth -= 1
    ck.ok(maxd <= 110, "BODYSTRUCTURE nesting %d <= ~100 (+ FETCH list)" % maxd)
    r = c.cmd("s", "SEARCH TEXT leaf", 30)
    ck.match(tagged(r), r"s OK", "SEARCH TEXT")
    c.cmd("x", "STORE * +FLAGS.SILENT (\\Deleted)")
    c.cmd("y", "EXPUNGE", 30)
    c.close()


# ============================================================================ LMTP

class Lmtp:
    def __init__(self, srv):
        self.c = Conn(srv.lmtp_port)

    def cmd(self, line, n=1):
        self.c.send(line + b"\r\n")
        return [self.c.line(20) for _ in range(n)]


def lmtp_case(ck, srv, fn):
    l = Lmtp(srv)
    try:
        ck.match(l.c.greeting, r"220 ", "LMTP greeting")
        fn(ck, l, srv)
    finally:
        l.c.close()


def lhlo(l):
    l.c.send(b"LHLO test\r\n")
    while True:
        ln = l.c.line(20)
        if ln is None or ln.startswith(b"250 "):
            return ln


def lmtp_smuggle(ck, l, srv):
    lhlo(l)
    ck.match(l.cmd(b"MAIL FROM:<a@example.org>")[0], r"250", "MAIL")
    ck.match(l.cmd(b"RCPT TO:<bob>")[0], r"250", "RCPT")
    ck.match(l.cmd(b"DATA")[0], r"354", "DATA")
    # "\n.\n" and "\r\n.\n" and "\n.\r\n" must not end the data (SMTP smuggling)
    l.c.send(b"Subject: smuggle\r\n\r\nline\n.\nMAIL FROM:<evil@x>\r\n.\nRCPT TO:<demo>\n.\r\nend\r\n.\r\n")
    ln = l.c.line(20)
    ck.match(ln, r"(250|5\d\d)", "one answer for the whole DATA (accepted as one message or refused)")
    lines, _ = l.c.rest(1.5)
    ck.ok(not lines, "no extra replies from smuggled commands (%r)" % lines[:3])


def lmtp_long_line(ck, l, srv):
    """Over the 4 KiB line limit: 500 5.5.2 and the session is closed (RFC 5321
    4.5.3.1.4); the server closes with the rest of the line unread, so the client may
    see a reset instead of the reply."""
    lhlo(l)
    try:
        l.c.send(b"MAIL FROM:<" + b"a" * 10000 + b"@x>\r\n")
        lines, closed = l.c.rest(3)
    except OSError as e:
        lines, closed = [b"<%s>" % type(e).__name__.encode()], True
    ck.ok(closed, "closed after the long line (%r)" % lines[:2])
    ck.ok(not any(x.startswith(b"250") for x in lines), "never accepted")
    ck.ok(all(x.startswith((b"500", b"<")) for x in lines), "500 5.5.2 or a reset (%r)" % lines[:2])


def lmtp_nul(ck, l, srv):
    lhlo(l)
    ln = l.cmd(b"MAIL FROM:<a\x00b@x>")[0]
    ck.match(ln, r"5\d\d", "NUL in MAIL refused")
    ck.match(l.cmd(b"NOOP")[0], r"250", "session continues")


def lmtp_traversal(ck, l, srv):
    lhlo(l)
    l.cmd(b"MAIL FROM:<a@x>")
    for rcpt in (b"../../etc", b"bob/../demo", b"%2e%2e", b"bob+../../x", b"bob+" + b"x" * 3000):
        ln = l.cmd(b"RCPT TO:<" + rcpt + b">")[0]
        if rcpt.startswith(b"bob+"):
            ck.match(ln, r"(250|5\d\d)", "RCPT %r: INBOX or refused" % rcpt[:20])
        else:
            ck.match(ln, r"5\d\d", "RCPT %r refused" % rcpt[:20])
    l.cmd(b"RSET")


def lmtp_too_big(ck, l, srv):
    lhlo(l)
    ln = l.cmd(b"MAIL FROM:<a@x> SIZE=99999999999999999999")[0]
    ck.match(ln, r"5\d\d", "SIZE beyond any limit")
    ln = l.cmd(b"MAIL FROM:<a@x> SIZE=60000000")[0]
    ck.match(ln, r"552", "SIZE over mail_max_size")


def lmtp_bare_lf(ck, l, srv):
    lhlo(l)
    l.cmd(b"MAIL FROM:<a@x>")
    l.cmd(b"RCPT TO:<bob>")
    l.cmd(b"DATA")
    l.c.send(b"Subject: lf\n\nbare lf line\n\r\n.\r\n")
    ln = l.c.line(20)
    ck.match(ln, r"(250|5\d\d)", "bare LF in DATA: stored or refused, one reply")


def lmtp_many_rcpt(ck, l, srv):
    lhlo(l)
    l.cmd(b"MAIL FROM:<a@x>")
    l.c.send(b"".join(b"RCPT TO:<bob>\r\n" for _ in range(1010)))
    codes = [l.c.line(30)[:3] for _ in range(1010)]
    ck.ok(codes[:1000] == [b"250"] * 1000, "first 1000 recipients accepted")
    ck.ok(all(c == b"452" for c in codes[1000:]), "more than 1000: 452 (%r)" % codes[1000:1003])
    l.cmd(b"RSET")


def lmtp_http(ck, l, srv):
    l.c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    lines, closed = l.c.rest(3)
    ck.ok(all(re.match(rb"5\d\d", x) for x in lines if x.strip()), "only 5xx answers (%r)" % lines[:3])
    ck.ok(not any(b"GET" in x or b"Host" in x for x in lines), "no echo of the request")


# ============================================================================ POP3

class Pop:
    def __init__(self, srv, tls=False):
        self.c = Conn(srv.pop3_port, tls=tls)

    def cmd(self, line, timeout=10):
        self.c.send(line + b"\r\n")
        return self.c.line(timeout)

    def login(self, user="demo"):
        assert self.cmd(b"USER " + user.encode()).startswith(b"+OK")
        ln = self.cmd(b"PASS " + USERS[user].encode(), 20)
        assert ln.startswith(b"+OK"), ln


def pop_case(ck, srv, fn):
    p = Pop(srv)
    try:
        ck.match(p.c.greeting, r"\+OK", "POP3 greeting")
        fn(ck, p, srv)
    finally:
        p.c.close()


def pop_stls_inject(ck, p, srv):
    p.c.send(b"STLS\r\nUSER demo\r\nPASS " + USERS["demo"].encode() + b"\r\nSTAT\r\n")
    ck.match(p.c.line(), r"\+OK", "STLS accepted")
    ck.ok(p.c.buf == b"", "nothing after +OK before the handshake (%r)" % p.c.buf[:60])
    p.c.sock = insecure_ctx().wrap_socket(p.c.sock, server_hostname="localhost")
    lines, _ = p.c.rest(2)
    ck.ok(lines == [], "pipelined USER/PASS/STAT discarded (%r)" % lines[:3])
    ln = p.cmd(b"STAT")
    ck.match(ln, r"-ERR", "not logged in after TLS")


def pop_long(ck, p, srv):
    ck.match(p.cmd(b"USER " + b"x" * 300), r"-ERR", "300-octet line (limit 255)")
    ck.match(p.cmd(b"NOOP"), r"-ERR|\+OK", "next command parsed from the next line")


def pop_nul(ck, p, srv):
    ck.match(p.cmd(b"US\x00ER demo"), r"-ERR", "NUL in a command")
    ck.match(p.cmd(b"CAPA"), r"\+OK", "session continues")
    p.c.rest(0.5)


def pop_numbers(ck, p, srv):
    p.login()
    for arg in (b"RETR 4294967296", b"RETR 0", b"RETR -1", b"RETR 99999999999999999999",
                b"LIST 99999999999999999999", b"DELE 1 2", b"TOP 1 99999999999999999999",
                b"TOP 1 -1", b"UIDL 4294967295"):
        ck.match(p.cmd(arg), r"-ERR", "%s refused" % arg.decode())
    ck.match(p.cmd(b"STAT"), r"\+OK", "session continues")
    ck.match(p.cmd(b"RSET"), r"\+OK", "RSET")


def pop_http(ck, p, srv):
    p.c.send(b"GET / HTTP/1.1\r\nHost: evil\r\nUser-Agent: <script>\r\n\r\n")
    lines, closed = p.c.rest(3)
    ck.ok(closed, "closed after the invalid commands (%d lines)" % len(lines))
    ck.ok(all(l.startswith(b"-ERR") for l in lines), "only -ERR answers")
    ck.ok(not any(b"GET" in l or b"evil" in l or b"script" in l for l in lines), "nothing echoed")


def pop_auth_bad(ck, p, srv):
    p.c.send(b"AUTH PLAIN\r\n")
    ck.match(p.c.line(), r"\+ ", "SASL continuation")
    ck.match(p.cmd(b"!!!notbase64"), r"-ERR", "invalid base64")
    p.c.send(b"AUTH PLAIN\r\n")
    ck.match(p.c.line(), r"\+ ", "SASL continuation")
    ln = p.cmd(b"QUFB" * 2500)
    ck.match(ln or b"<closed>", r"-ERR|<closed>", "10 KB SASL response refused")


def pop_flood(ck, p, srv):
    p.login()
    p.c.send(b"NOOP\r\n" * 1000)
    got = 0
    while got < 1000:
        ln = p.c.line(30)
        if ln is None or not ln.startswith(b"+OK"):
            break
        got += 1
    ck.ok(got == 1000, "%d of 1000 pipelined NOOPs answered +OK" % got)


def pop_bad_streak(ck, p, srv):
    p.login()
    p.c.send(b"FROB\r\n" * 12)
    lines, closed = p.c.rest(3)
    ck.ok(closed, "closed after 10 bad commands (%d lines)" % len(lines))


def pop_nonreader(ck, p, srv):
    """A POP3 client that never reads a 40 MB RETR: memory bounded, nothing deleted."""
    body = b"Subject: big pop\n\n" + (b"0123456789" * 7 + b"\n") * 560000
    path = srv.store("bob", body)
    p.login("bob")
    p.c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    n = int(p.cmd(b"STAT").split()[1])
    before = role_rss(srv, "mail", "RssAnon")
    p.c.send(b"RETR %d\r\n" % n)
    time.sleep(3)
    anon_growth_ok(ck, before, role_rss(srv, "mail", "RssAnon"), "40 MB RETR not read")
    p.c.close()
    time.sleep(0.5)
    ck.ok(os.path.exists(path) or any(os.path.basename(path).split(":")[0] in f
                                      for f in os.listdir(os.path.dirname(path))),
          "message kept (no QUIT, no UPDATE state)")
    c = srv.login("bob", select="INBOX")
    c.cmd("x", "STORE 1:* +FLAGS.SILENT (\\Deleted)")
    c.cmd("y", "EXPUNGE", 30)
    c.close()


# ============================================================================ ownership

def maildir_ownership(ck, srv):
    """After everything above: every file and directory in the users' Maildirs belongs
    to the mail uid/gid with no group/other permissions (files 0600, dirs 0700), and
    nothing is root-owned (SEC-37)."""
    bad = []
    n = 0
    for user in srv.users:
        root = srv.maildir(user)
        for d, dirs, files in os.walk(root):
            for name in [""] + dirs + files:
                p = os.path.join(d, name) if name else d
                st = os.lstat(p)
                n += 1
                if st.st_uid != srv.uid or st.st_gid != srv.gid or st.st_mode & 0o077:
                    bad.append("%s uid=%d gid=%d mode=%o" % (os.path.relpath(p, srv.mail_root),
                                                            st.st_uid, st.st_gid, st.st_mode & 0o7777))
    ck.ok(n > 50, "%d entries checked" % n)
    ck.ok(not bad, "owned by %d:%d, no group/other bits: %r" % (srv.uid, srv.gid, bad[:5]))


def tmp_symlink_attack(ck, srv):
    """Symlinks and a hard link planted in tmp/ (as the user could): APPEND and LMTP still
    deliver, and the targets are untouched (SEC-35)."""
    if os.getuid() != 0:
        raise Skip("needs root (the target must not be writable by the mail user)")
    victim = os.path.join(srv.tmp, "victim")
    with open(victim, "wb") as f:
        f.write(b"precious\n")
    os.chmod(victim, 0o644)
    tmpdir = os.path.join(srv.maildir("demo"), "tmp")
    now = int(time.time())
    for i in range(200):	# names as a guesser would try them, and a few fixed ones
        for name in ("%d.M%dP%dQ%d.vm" % (now + k, i, os.getpid(), i) for k in range(2)):
            try:
                os.symlink(victim, os.path.join(tmpdir, name))
            except FileExistsError:
                pass
    if os.stat(victim).st_dev == os.stat(tmpdir).st_dev:
        os.link(victim, os.path.join(tmpdir, "hardlink.vm"))
    c = srv.login()
    msg = b"Subject: symlink attack\r\n\r\nbody\r\n"
    r = c.cmd("a", b"APPEND INBOX {%d+}\r\n" % len(msg) + msg)
    ck.match(tagged(r), r"a OK", "APPEND with planted symlinks in tmp/")
    c.close()
    with open(victim, "rb") as f:
        ck.ok(f.read() == b"precious\n", "the symlink target is untouched")
    for n in os.listdir(tmpdir):
        p = os.path.join(tmpdir, n)
        if os.path.islink(p) or n == "hardlink.vm":
            os.unlink(p)


# ============================================================================ TLS scan

# Findings of the self-signed test certificate (not of the server's TLS setup).
TESTSSL_WHITELIST = {"cert_chain_of_trust", "cert_revocation", "DNS_CAArecord",
                     "cert_trust", "cert_caIssuers", "cert_ocspURL", "cert_crlDistributionPoints",
                     "OCSP_stapling", "cert_mustStapleExtension", "cert_certificateTransparency"}


def tls_testssl(ck, srv, port, starttls):
    """testssl.sh -p -S -E -U --fast (protocols, server defaults, ciphers per protocol,
    vulnerabilities): no HIGH or CRITICAL finding except the self-signed certificate's."""
    exe = shutil.which("testssl") or shutil.which("testssl.sh")
    if exe is None:
        raise AssertionError("testssl.sh not installed (scripts/install-deps.sh check)")
    out = os.path.join(srv.tmp, "testssl-%d.json" % port)
    cmd = [exe, "--quiet", "--warnings", "off", "--color", "0", "--jsonfile", out]
    if starttls:
        cmd += ["--starttls", "imap"]
    cmd += ["-p", "-S", "-E", "-U", "--fast", "%s:%d" % (HOST, port)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
    try:
        with open(out) as f:
            findings = json.load(f)
    except (OSError, ValueError) as e:
        raise AssertionError("no testssl JSON (%s): %s" % (e, (r.stdout + r.stderr)[-300:]))
    ck.ok(len(findings) > 30, "testssl produced %d findings" % len(findings))
    bad = [(x["id"], x["severity"], x["finding"][:80]) for x in findings
           if x["severity"] in ("HIGH", "CRITICAL") and x["id"] not in TESTSSL_WHITELIST]
    ck.ok(not bad, "no HIGH/CRITICAL finding outside the certificate whitelist: %r" % bad[:5])
    for x in findings:
        if x["severity"] in ("MEDIUM", "LOW") and x["id"] not in TESTSSL_WHITELIST:
            note("  testssl %s %s: %s" % (x["severity"], x["id"], x["finding"][:100]))
    offered = {x["id"]: x["finding"] for x in findings}
    for proto in ("SSLv2", "SSLv3", "TLS1", "TLS1_1"):
        ck.ok("not offered" in offered.get(proto, "not offered"), "%s not offered" % proto)
    ck.ok("offered" in offered.get("TLS1_3", "") and "not" not in offered.get("TLS1_3", ""),
          "TLS 1.3 offered")


def starttls_handshake(port, version, ciphers=None):
    """STARTTLS on the IMAP port, then a handshake pinned to VERSION; returns
    (negotiated version, cipher name, peer certificate DER) or raises ssl.SSLError."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if version in (ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1):
        ctx.set_ciphers("ALL:@SECLEVEL=0")	# let the client try: only the server may refuse
    elif ciphers:
        ctx.set_ciphers(ciphers)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)	# TLSv1, TLSv1_1
        ctx.minimum_version = version
        ctx.maximum_version = version
    s = socket.create_connection((HOST, port), timeout=10)
    try:
        f = s.makefile("rb")
        f.readline()
        s.sendall(b"s STARTTLS\r\n")
        line = f.readline()
        if not line.startswith(b"s OK"):
            raise AssertionError("STARTTLS answered %r" % line)
        t = ctx.wrap_socket(s, server_hostname="localhost")
        try:
            return t.version(), t.cipher()[0], t.getpeercert(binary_form=True)
        finally:
            t.close()
    finally:
        s.close()


def tls_starttls_versions(ck, srv):
    """testssl.sh (TLS-01) scans the TLS stack once: STARTTLS and implicit TLS share the
    listener's TLS context, so after STARTTLS it is enough to see the same certificate and
    the same version policy (STARTTLS injection is in tests/security)."""
    for v in (ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1):
        try:
            got = starttls_handshake(srv.imap_port, v)
            ck.ok(False, "%s refused (negotiated %r)" % (v.name, got[:2]))
        except (ssl.SSLError, ConnectionError, OSError) as e:
            ck.ok(True, "%s refused (%s)" % (v.name, str(e)[:60]))
    ver, cipher, der = starttls_handshake(srv.imap_port, ssl.TLSVersion.TLSv1_2)
    ck.ok(ver == "TLSv1.2" and "ECDHE" in cipher and ("GCM" in cipher or "CHACHA20" in cipher),
          "TLS 1.2 with ECDHE and AEAD (%s %s)" % (ver, cipher))
    try:
        starttls_handshake(srv.imap_port, ssl.TLSVersion.TLSv1_2, "AES128-SHA:DES-CBC3-SHA:RC4")
        ck.ok(False, "TLS 1.2 without forward secrecy or AEAD refused")
    except (ssl.SSLError, ConnectionError, OSError):
        ck.ok(True, "TLS 1.2 without forward secrecy or AEAD refused")
    ver3, _, der3 = starttls_handshake(srv.imap_port, ssl.TLSVersion.TLSv1_3)
    ck.ok(ver3 == "TLSv1.3", "TLS 1.3 accepted (%s)" % ver3)
    ctx = insecure_ctx()
    with socket.create_connection((HOST, srv.imaps_port), timeout=10) as s:
        with ctx.wrap_socket(s, server_hostname="localhost") as t:
            implicit = t.getpeercert(binary_form=True)
    ck.ok(der == der3 == implicit, "the certificate after STARTTLS is the implicit-TLS port's")


# ============================================================================ main

def main():
    args = sys.argv[1:]
    while args:
        a = args.pop(0)
        if a == "-k" and args:
            FILTER.append(args.pop(0))
    pop3_port = buzontest.free_ports(1)[0]
    main_srv = HostileServer("main", lmtp=True, settings={"pop3_port": pop3_port})
    main_srv.pop3_port = pop3_port
    ban_srv = HostileServer("ban", settings={"auth_ban_failures": 3, "auth_ban_seconds": 4,
                                              "auth_failure_delay_max": 1, "login_timeout": 3},
                            fill=True)
    trust_srv = HostileServer("trusted", settings={"auth_ban_failures": 2, "auth_ban_seconds": 60,
                                                   "auth_failure_delay_max": 1,
                                                   "auth_trusted_networks": "127.0.0.0/8"})
    servers = [main_srv, ban_srv, trust_srv]
    try:
        for s in servers:
            s.start()
        S = main_srv
        # ---- IMAP pre-auth
        run_case("PRE-01", "literal {99999999999999999999}", "a NO [TOOBIG], connection usable",
                 pre_literal, S, b"{99999999999999999999}", r"a NO \[TOOBIG\]")
        run_case("PRE-02", "literal {4294967296}", "a NO [TOOBIG]", pre_literal, S,
                 b"{4294967296}", r"a NO \[TOOBIG\]")
        run_case("PRE-03", "literal {18446744073709551616}", "a NO [TOOBIG]", pre_literal, S,
                 b"{18446744073709551616}", r"a NO \[TOOBIG\]")
        run_case("PRE-04", "negative literal {-1}", "a BAD", pre_literal, S, b"{-1}", r"a BAD")
        run_case("PRE-05", "literal {8193} over the pre-auth limit", "a NO [TOOBIG]", pre_literal, S,
                 b"{8193}", r"a NO \[TOOBIG\]")
        run_case("PRE-06", "non-sync literal {99999999999999999999+}", "* BYE, closed", pre_literal, S,
                 b"{99999999999999999999+}", r"\* BYE", False)
        run_case("PRE-07", "non-sync 9000-octet literal carrying commands", "* BYE, payload never parsed",
                 pre_nonsync_big, S)
        run_case("PRE-08", "NUL inside a command", "a BAD, usable", pre_bytes, S,
                 b"a NO\x00OP\r\n", r"(a|\*) BAD", "NUL")
        run_case("PRE-09", "bare CR inside a command", "a BAD, usable", pre_bytes, S,
                 b"a NO\rOP\r\n", r"(a|\*) BAD", "bare CR")
        run_case("PRE-10", "NUL in a quoted LOGIN argument", "a BAD", pre_bytes, S,
                 b'a LOGIN "de\x00mo" x\r\n', r"a BAD", "NUL in quoted")
        run_case("PRE-11", "9000-octet command line", "* BYE, closed", pre_longline, S)
        run_case("PRE-12", "nested list before login", "a BAD", pre_nested, S)
        run_case("PRE-13", "200-octet tag", "* BAD, tag not echoed", pre_tag, S)
        run_case("PRE-14", "HTTP GET to the IMAP port (ALPACA)", "closed after <= 3 lines, nothing echoed",
                 pre_http, S, b"GET / HTTP/1.1\r\nHost: evil\r\nUser-Agent: <script>\r\n\r\n")
        run_case("PRE-15", "HTTP POST with a body to the IMAP port", "closed, nothing echoed",
                 pre_http, S, b"POST /x HTTP/1.1\r\nHost: evil\r\nContent-Length: 20\r\n\r\na LOGIN <script> x\r\n")
        run_case("PRE-16", "plaintext HTTP to the implicit-TLS port", "handshake failure, closed < 3 s",
                 pre_http_tls_port, S)
        run_case("PRE-17", "commands pipelined after STARTTLS", "discarded; second STARTTLS BAD",
                 pre_starttls_pipeline, S)
        run_case("PRE-18", "invalid UTF-8 user name", "a NO/BAD", pre_utf8_user, S)
        run_case("PRE-19", "AUTHENTICATE PLAIN with invalid base64", "a BAD/NO",
                 pre_sasl, S, b"a AUTHENTICATE PLAIN\r\n!!!notbase64***\r\n", r"(a (BAD|NO)|\* BYE)", "bad base64")
        run_case("PRE-20", "AUTHENTICATE PLAIN response of 9 KiB", "a BAD/NO or * BYE",
                 pre_sasl, S, b"a AUTHENTICATE PLAIN\r\n" + b"QUFB" * 2400 + b"\r\n", r"(a (BAD|NO)|\* BYE)", "9 KiB SASL")
        run_case("PRE-20b", "AUTHENTICATE PLAIN response of 16 KiB without a line end", "* BYE",
                 pre_sasl, S, b"a AUTHENTICATE PLAIN\r\n" + b"QUFB" * 4096, r"\* BYE", "endless SASL line")
        run_case("PRE-21", "AUTHENTICATE with NULs only", "a NO/BAD",
                 pre_sasl, S, b"a AUTHENTICATE PLAIN AAAA\r\n", r"(a (BAD|NO)|\* BYE)", "NUL SASL")
        run_case("PRE-22", "1000 pipelined NOOPs before login", "1000 OK", pre_noop_flood, S, 1000)
        run_case("PRE-23", "100 empty lines", "closed after 3 BAD", pre_empty_lines, S)
        run_case("PRE-24", "60 connections from one address", "connections over 50 get * BYE",
                 pre_conn_flood, S)
        run_case("PRE-25", "1 byte/s pre-auth literal", "closed at login_timeout (3 s)",
                 pre_slow_literal, ban_srv)
        run_case("BAN-01", "brute force: ban after auth_ban_failures", "NO at once while banned, logged, lifted",
                 ban_case, ban_srv)
        run_case("BAN-02", "trusted networks are never banned", "OK after 4 failures", ban_trusted_case, trust_srv)
        run_case("TLS-01", "testssl.sh on the implicit-TLS port", "no HIGH/CRITICAL (self-signed cert whitelisted)",
                 tls_testssl, S, S.imaps_port, False)
        run_case("TLS-02", "TLS versions and certificate after STARTTLS",
                 "TLS 1.0/1.1 refused, 1.2 (ECDHE, AEAD) and 1.3 accepted, same certificate as TLS-01",
                 tls_starttls_versions, S)
        # ---- IMAP post-auth
        P = post_lines
        run_case("AUTH-01", "SELECT {99999999999999999999}", "a NO [TOOBIG]", P, S,
                 b"a SELECT {99999999999999999999}\r\n", r"a NO \[TOOBIG\]", "overflowing literal")
        run_case("AUTH-02", "SELECT {4294967296}", "a NO [TOOBIG]", P, S,
                 b"a SELECT {4294967296}\r\n", r"a NO \[TOOBIG\]", "2^32 literal")
        run_case("AUTH-03", "SELECT {-5}", "a BAD", P, S, b"a SELECT {-5}\r\n", r"a BAD", "negative literal")
        run_case("AUTH-04", "APPEND {4294967296}", "a NO [TOOBIG]", P, S,
                 b"a APPEND INBOX {4294967296}\r\n", r"a NO \[TOOBIG\]", "2^32 APPEND")
        run_case("AUTH-05", "APPEND {52428801} (APPENDLIMIT + 1)", "a NO [TOOBIG]", P, S,
                 b"a APPEND INBOX {52428801}\r\n", r"a NO \[TOOBIG\]", "APPENDLIMIT+1")
        run_case("AUTH-06", "APPEND {99999999999999999999+}", "* BYE [TOOBIG], closed", P, S,
                 b"a APPEND INBOX {99999999999999999999+}\r\n", r"\* BYE", "non-sync overflow",
                 None, False, True)
        run_case("AUTH-07", "non-sync 100,000-octet literal carrying DELETEs",
                 "a BAD, payload discarded unparsed, session kept", post_nonsync_payload, S)
        run_case("AUTH-08", "sync literal {70000}", "a NO [TOOBIG], next line is a command",
                 post_sync_refused, S)
        run_case("AUTH-09", "70 KB command line", "BAD/NO or * BYE", post_long_line, S)
        run_case("AUTH-10", "NUL inside a command", "a BAD", P, S, b"a NO\x00OP\r\n", r"a BAD", "NUL")
        run_case("AUTH-11", "bare CR inside a command", "a BAD", P, S, b"a NO\rOP\r\n", r"a BAD", "bare CR")
        run_case("AUTH-12", "NUL in a quoted mailbox name", "a BAD", P, S,
                 b'a SELECT "IN\x00BOX"\r\n', r"a BAD", "NUL in quoted")
        run_case("AUTH-13", "NUL in a literal mailbox name", "a NO/BAD", P, S,
                 b'a CREATE {5+}\r\nab\x00cd\r\n', r"a (NO|BAD)", "NUL in literal")
        run_case("AUTH-14", "CR LF in a literal mailbox name", "a NO/BAD", P, S,
                 b'a CREATE {5+}\r\nab\r\nd\r\n', r"a (NO|BAD)", "CRLF in literal")
        run_case("AUTH-15", "FETCH list nested 40 deep", "a BAD", post_deep, S, 40)
        run_case("AUTH-16", "FETCH list nested 20000 deep", "a BAD or * BYE", post_deep, S, 20000)
        run_case("AUTH-17", "SEARCH nested 100 deep", "a BAD/NO", post_search_deep, S, 100)
        run_case("AUTH-18", "SEARCH with 2000 keys", "a BAD/NO", post_search_keys, S, 2000)
        run_case("AUTH-19", "FETCH with a 4000-range sequence set", "answered", post_seqset_huge, S)
        run_case("AUTH-20", "FETCH with 150 items", "answered (BAD over 100)", post_too_many_items, S)
        run_case("AUTH-21", "CREATE with invalid UTF-8", "a NO/BAD", post_mutf7, S,
                 b'"\xff\xfe\xc3\x28"', r"a (NO|BAD)")
        run_case("AUTH-22", "CREATE with unterminated mUTF-7 &Jjo", "a NO", post_mutf7, S,
                 b'"&Jjo"', r"a (NO|BAD)")
        run_case("AUTH-23", "CREATE with mUTF-7 of ASCII &AGE-", "a NO", post_mutf7, S,
                 b'"&AGE-"', r"a (NO|BAD)")
        run_case("AUTH-24", "CREATE with mUTF-7 surrogate half &2D0-", "a NO", post_mutf7, S,
                 b'"&2D0-"', r"a (NO|BAD)")
        run_case("AUTH-25", "CREATE a valid mUTF-7 name &AOk-t&AOk-", "a OK (created and listed once)",
                 post_mutf7, S, b'"&AOk-t&AOk-"', r"a OK")
        for i, cmd in enumerate(["CREATE", "DELETE", "RENAME1", "RENAME2", "SELECT", "EXAMINE",
                                 "STATUS", "APPEND", "COPY", "MOVE", "SUBSCRIBE", "LIST"]):
            run_case("AUTH-%02d" % (26 + i), "SEC-30 path-like names with %s" % cmd,
                     "NO/BAD for each; nothing changed outside the Maildir", post_paths, S, cmd)
        run_case("AUTH-38", "1000 pipelined NOOPs", "1000 OK, RSS growth < 4 MiB", post_flood, S, 1000)
        run_case("AUTH-39", "10000 small commands pipelined", "10000 OK, RSS growth < 4 MiB",
                 post_flood, S, 10000, b"UID FETCH 1 (FLAGS)")
        run_case("AUTH-40", "client never reads a 40 MB FETCH", "mail process anonymous memory +< 8 MiB, others answer",
                 post_nonreader, S)
        run_case("AUTH-41", "APPEND literal trickled at 50 bytes/s, then abandoned",
                 "no memory per byte, others served, nothing partial stored", post_slow_append, S)
        run_case("AUTH-42", "APPEND with NUL and bare CR", "stored whole or refused", post_append_nul, S)
        run_case("AUTH-43", "200 keywords and a 100-octet keyword", "a NO/BAD", post_keywords, S)
        run_case("AUTH-44", "garbage instead of DONE in IDLE", "IDLE ends (BAD/OK), usable", post_idle_garbage, S)
        run_case("AUTH-45", "12 consecutive bad commands", "* BYE after 10", post_bad_streak, S)
        run_case("AUTH-46", "STARTTLS after login", "a BAD", P, S, b"a STARTTLS\r\n", r"a (BAD|NO)", "STARTTLS post-auth")
        run_case("AUTH-47", "UID FETCH 1:4294967295", "a OK", P, S, b"a UID FETCH 1:4294967295 (UID)\r\n",
                 r"a OK", "max UID range")
        run_case("AUTH-48", "FETCH 4294967296", "a BAD", P, S, b"a FETCH 4294967296 (UID)\r\n", r"a BAD", "2^32 seq")
        run_case("AUTH-49", "BODY[] partial <4294967295.4294967295>", "a OK (empty partial)", P, S,
                 b"a FETCH 1 BODY.PEEK[]<4294967295.4294967295>\r\n", r"a OK", "partial overflow")
        run_case("AUTH-50", "BODY[1.2.3.4.5...] 60 part levels", "a OK (no such part: empty)", P, S,
                 b"a FETCH 1 BODY.PEEK[" + b".".join([b"1"] * 60) + b"]\r\n", r"a OK", "deep section")
        run_case("AUTH-51", "SEARCH CHARSET bogus", "a NO [BADCHARSET]", P, S,
                 b"a SEARCH CHARSET X-BOGUS SUBJECT x\r\n", r"a (NO|BAD)", "bad charset")
        run_case("AUTH-52", "SEARCH SUBJECT with invalid UTF-8", "a OK/NO/BAD", P, S,
                 b'a SEARCH CHARSET UTF-8 SUBJECT "\xff\xfe"\r\n', r"a (OK|NO|BAD)", "bad utf8 search")
        # ---- stored messages
        run_case("MSG-01", "MIME nested 200 deep: BODYSTRUCTURE, SEARCH TEXT",
                 "a OK, nesting capped at 100", stored_depth_capped, S)
        run_case("MSG-02", "message/rfc822 nested 300 deep", "BODYSTRUCTURE and ENVELOPE a OK",
                 stored_case, S, rfc822_deep(300), "BODYSTRUCTURE ENVELOPE", None, "TEXT leaf")
        run_case("MSG-03", "10000 MIME parts", "BODYSTRUCTURE a OK", stored_case, S, mime_parts(10000),
                 "BODYSTRUCTURE", None, "BODY \"part 9999\"")
        run_case("MSG-04", "30000 MIME parts", "BODYSTRUCTURE a OK (parts capped)", stored_case, S,
                 mime_parts(30000), "BODYSTRUCTURE")
        run_case("MSG-05", "2 MiB Subject header", "ENVELOPE a OK, SEARCH SUBJECT a OK", stored_case, S,
                 huge_header(2 * 1024 * 1024), "ENVELOPE RFC822.SIZE", None, "SUBJECT xxxx")
        run_case("MSG-06", "20000 header fields", "BODY[HEADER.FIELDS] a OK", stored_case, S,
                 many_headers(20000), "BODY.PEEK[HEADER.FIELDS (X-H19999 SUBJECT)]", rb"X-H19999", "HEADER X-H5 v")
        run_case("MSG-07", "10000 addresses in To", "ENVELOPE a OK", stored_case, S, many_addresses(10000),
                 "ENVELOPE", None, "TO u9999@example.org")
        run_case("MSG-08", "1000 RFC 2231 parameter sections", "BODYSTRUCTURE a OK", stored_case, S,
                 rfc2231_params(1000), "BODYSTRUCTURE")
        run_case("MSG-09", "20000 encoded words in Subject", "ENVELOPE a OK, SEARCH a OK", stored_case, S,
                 encoded_words(20000), "ENVELOPE", None, b"CHARSET UTF-8 SUBJECT {2+}\r\n\xc3\xa9")
        run_case("MSG-10", "invalid UTF-8 in headers and body", "ENVELOPE a OK, SEARCH a OK", stored_case, S,
                 bad_utf8(), "ENVELOPE BODYSTRUCTURE", None, "TEXT body")
        run_case("MSG-11", "unclosed multipart boundaries", "BODYSTRUCTURE a OK", stored_case, S,
                 unclosed_boundary(), "BODYSTRUCTURE BODY.PEEK[1.1]")
        run_case("MSG-12", "5 MB body on one line", "BODY[TEXT] a OK", stored_case, S, one_line(5000000),
                 "BODY.PEEK[TEXT]<0.100> RFC822.SIZE", None, "BODY yyyy")
        run_case("MSG-13", "NUL and bare CR in a stored message", "BODY[] a OK", stored_case, S,
                 b"Subject: nul\n\nab\x00cd\ref\n", "BODY.PEEK[] BINARY.SIZE[1]" if False else "BODY.PEEK[]",
                 rb"ab\x00cd")
        run_case("MSG-14", "no header/body separator, header only", "ENVELOPE BODYSTRUCTURE a OK",
                 stored_case, S, b"Subject: only\nFrom: a@b", "ENVELOPE BODYSTRUCTURE")
        run_case("MSG-15", "empty message file", "FETCH a OK", stored_case, S, b"",
                 "ENVELOPE BODYSTRUCTURE RFC822.SIZE")
        run_case("MSG-16", "Content-Type with a 100 KB boundary", "BODYSTRUCTURE a OK", stored_case, S,
                 b'Subject: b\nContent-Type: multipart/mixed; boundary="' + b"B" * 100000 +
                 b'"\n\n--' + b"B" * 100000 + b"\n\nx\n", "BODYSTRUCTURE")
        # ---- LMTP
        if S.lmtp_port:
            run_case("LMTP-01", "SMTP smuggling line ends in DATA", "one reply; no smuggled commands",
                     lmtp_case, S, lmtp_smuggle)
            run_case("LMTP-02", "10 KB command line", "500 5.5.2 and close", lmtp_case, S, lmtp_long_line)
            run_case("LMTP-03", "NUL in MAIL FROM", "5xx, session continues", lmtp_case, S, lmtp_nul)
            run_case("LMTP-04", "path-like recipients", "5xx (or INBOX for +detail)", lmtp_case, S, lmtp_traversal)
            run_case("LMTP-05", "SIZE overflow and over mail_max_size", "5xx / 552", lmtp_case, S, lmtp_too_big)
            run_case("LMTP-06", "bare LF in DATA", "one reply (stored or refused)", lmtp_case, S, lmtp_bare_lf)
            run_case("LMTP-07", "1010 recipients", "1000 x 250 then 452", lmtp_case, S, lmtp_many_rcpt)
            run_case("LMTP-08", "HTTP to the LMTP port", "5xx only, nothing echoed", lmtp_case, S, lmtp_http)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection((HOST, pop3_port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        run_case("POP-01", "commands pipelined after STLS", "discarded, not logged in after TLS",
                 pop_case, S, pop_stls_inject)
        run_case("POP-02", "300-octet command line", "-ERR, next line parsed", pop_case, S, pop_long)
        run_case("POP-03", "NUL in a command", "-ERR, session continues", pop_case, S, pop_nul)
        run_case("POP-04", "overflowing and negative message numbers", "-ERR each", pop_case, S, pop_numbers)
        run_case("POP-05", "HTTP to the POP3 port", "-ERR only, closed, nothing echoed", pop_case, S, pop_http)
        run_case("POP-06", "AUTH PLAIN with bad base64 and a 10 KB response", "-ERR", pop_case, S, pop_auth_bad)
        run_case("POP-07", "1000 pipelined NOOPs", "1000 +OK", pop_case, S, pop_flood)
        run_case("POP-08", "12 bad commands after login", "closed after 10", pop_case, S, pop_bad_streak)
        run_case("PRIV-01", "symlinks and a hard link planted in tmp/", "APPEND OK, targets untouched",
                 tmp_symlink_attack, S)
        run_case("PRIV-02", "ownership and modes of everything in the Maildirs after all cases",
                 "mail uid/gid, files 0600, dirs 0700, nothing root-owned", maildir_ownership, S)
        run_case("POP-09", "client never reads a 40 MB RETR", "mail process anonymous memory +< 8 MiB, nothing deleted",
                 pop_case, S, pop_nonreader)
    finally:
        for s in servers:
            problems = s.stop()
            for p in problems:
                print("FAIL teardown-%s: %s" % (s.label, p))
                RESULTS["fail"] += 1
    print("%d passed, %d failed" % (RESULTS["pass"], RESULTS["fail"]))
    return 1 if RESULTS["fail"] else 0


if __name__ == "__main__":
    sys.exit(main())
