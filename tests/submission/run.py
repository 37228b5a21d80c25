#!/usr/bin/env python3
"""Submission tests: buzon's auth_listen socket (the Dovecot authentication protocol,
docs/postfix.md) spoken raw, and a private Postfix whose submission service checks
passwords through it (smtpd_sasl_type = dovecot) with swaks as the SMTP client.
Python 3 stdlib only, real servers on 127.0.0.1 high ports (tests/lib/buzontest.py).

  run.py [--buzon PATH] [-v] [NAME...]

Prints one line per case: "PASS name", "FAIL name: why" or "SKIP name: why", then
"N passed, M failed" (skips count as neither).  The Postfix cases need root, postfix
and swaks, else SKIP.
"""
import argparse
import base64
import importlib.util
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "lib"))
import buzontest  # noqa: E402

ROOT = os.getuid() == 0
VERBOSE = False
RESULTS = {"pass": 0, "fail": 0, "skip": 0}
BUZON = None


class Skip(Exception):
    pass


class Fail(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Fail(what)


def eq(got, want, what):
    if got != want:
        raise Fail("%s: got %r, want %r" % (what, got, want))


def run_case(name, fn, *args):
    t0 = time.monotonic()
    try:
        fn(*args)
        print("PASS %s (%.1fs)" % (name, time.monotonic() - t0))
        RESULTS["pass"] += 1
    except Skip as e:
        print("SKIP %s: %s" % (name, e))
        RESULTS["skip"] += 1
    except Exception as e:
        if not isinstance(e, Fail):
            traceback.print_exc()
        print("FAIL %s: %s" % (name, str(e).replace("\n", " ")[:600]))
        RESULTS["fail"] += 1
    sys.stdout.flush()


def wait_for(fn, timeout=10.0, step=0.05):
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v or time.monotonic() > deadline:
            return v
        time.sleep(step)


def b64(s):
    return base64.b64encode(s.encode() if isinstance(s, str) else s).decode()


def plain(user, password, authz=""):
    return b64("%s\0%s\0%s" % (authz, user, password))


# ---------------------------------------------------------------- raw protocol client

class AuthClient:
    """A client of the auth socket: the server's handshake is read at connect."""

    def __init__(self, path, handshake=True, timeout=10):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.f = self.sock.makefile("rb")
        self.server = []
        if handshake:
            while True:
                line = self.line()
                check(line is not None, "closed during the handshake %r" % self.server)
                self.server.append(line)
                if line == "DONE":
                    break
            self.send("VERSION\t1\t0\nCPID\t%d\n" % os.getpid())

    def handshake_value(self, word):
        """The number of the server's handshake line word (SPID, CUID)."""
        for ln in self.server:
            if ln.startswith(word + "\t"):
                return int(ln.split("\t")[1])
        raise Fail("no %s line in %r" % (word, self.server))

    def send(self, data):
        self.sock.sendall(data.encode() if isinstance(data, str) else data)

    def line(self):
        """One server line without its LF, None at EOF."""
        try:
            raw = self.f.readline()
        except OSError:
            return None
        if not raw:
            return None
        return raw.decode("latin-1").rstrip("\n")

    def reply(self):
        line = self.line()
        check(line is not None, "connection closed, a reply was expected")
        return line.split("\t")

    def replies(self, n):
        """n reply lines, by request id."""
        out = {}
        for _ in range(n):
            r = self.reply()
            out[r[1]] = r
        return out

    def closed(self, timeout=5):
        self.sock.settimeout(timeout)
        try:
            while True:
                raw = self.f.readline()
                if not raw:
                    return True
        except (socket.timeout, TimeoutError):
            return False
        except OSError:
            return True

    def close(self):
        try:
            self.f.close()
            self.sock.close()
        except OSError:
            pass


LOCAL = "\tlip=127.0.0.1\trip=127.0.0.1"


def auth_line(rid, mech, resp=None, rip="192.0.2.1", extra="\tsecured"):
    s = "AUTH\t%d\t%s\tservice=smtp\tnologin\tlip=127.0.0.1\trip=%s%s" % (rid, mech, rip, extra)
    if resp is not None:
        s += "\tresp=" + resp
    return s + "\n"


def t_handshake(srv):
    c = AuthClient(srv.auth_path)
    try:
        s = c.server
        eq(s[0], "VERSION\t1\t2", "VERSION")
        # auth_scram = yes: SCRAM too, never -PLUS (the socket has no TLS session to bind)
        eq(s[1:5], ["MECH\tPLAIN\tplaintext", "MECH\tLOGIN\tplaintext",
                    "MECH\tSCRAM-SHA-1\tmutual-auth", "MECH\tSCRAM-SHA-256\tmutual-auth"],
           "MECH lines")
        s = s[:1] + s[3:]
        check(re.fullmatch(r"SPID\t\d+", s[3]), "SPID %r" % s[3])
        check(re.fullmatch(r"CUID\t\d+", s[4]), "CUID %r" % s[4])
        check(re.fullmatch(r"COOKIE\t[0-9a-f]{32}", s[5]), "COOKIE %r" % s[5])
        eq(s[6:], ["DONE"], "DONE")
        # the SPID is a login process, not the root auth process or the master
        pid = int(s[3].split("\t")[1])
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            argv = f.read().split(b"\0")
        check(b"login" in argv, "SPID %d is not a login process: %r" % (pid, argv))
        if ROOT:
            with open("/proc/%d/status" % pid) as f:
                uid = re.search(r"^Uid:\s+(\d+)", f.read(), re.M).group(1)
            check(uid != "0", "the auth_listen parser runs as root")
        # the socket's mode is auth_listen_mode
        eq(oct(os.stat(srv.auth_path).st_mode & 0o777), "0o660", "socket mode")
    finally:
        c.close()


def t_plain(srv):
    c = AuthClient(srv.auth_path)
    try:
        c.send(auth_line(1, "PLAIN", plain("demo", "demo")))
        eq(c.reply(), ["OK", "1", "user=demo"], "PLAIN with the initial response")
        c.send(auth_line(2, "plain"))
        eq(c.reply(), ["CONT", "2", ""], "PLAIN without the initial response")
        c.send("CONT\t2\t%s\n" % plain("alice", "alice", authz="alice"))
        eq(c.reply(), ["OK", "2", "user=alice"], "PLAIN in CONT, authzid = authcid")
        c.send(auth_line(3, "PLAIN", plain("demo", "wrong"), rip="192.0.2.3"))
        r = c.reply()
        eq(r[:2], ["FAIL", "3"], "wrong password")
        check("temp" not in r, "a wrong password is not a temporary failure: %r" % r)
        c.send(auth_line(4, "PLAIN", plain("nosuchuser", "x"), rip="192.0.2.3"))
        eq(c.reply()[:2], ["FAIL", "4"], "unknown user")
        c.send(auth_line(5, "PLAIN", plain("alice", "alice", authz="demo")))
        eq(c.reply()[:2], ["FAIL", "5"], "authzid of another user")
    finally:
        c.close()
    log = srv.log_text()
    check(re.search(r"auth-socket login user=demo method=PLAIN ip=192\.0\.2\.1 tls=yes", log),
          "success line in the log")
    check(re.search(r'auth-socket login failed user="demo" method=PLAIN ip=192\.0\.2\.3 .*'
                    r'reason=password', log), "failure line with the client's rip")


def load_scram():
    """tests/scram/run.py's SCRAM client (Scram) and its user helpers."""
    path = os.path.join(os.path.dirname(HERE), "scram", "run.py")
    spec = importlib.util.spec_from_file_location("scram_run", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def scram_exchange(c, rid, mech, client, initial=True, rip="192.0.2.60"):
    """One SCRAM request on the socket (RFC 5802 §5): the client-first as resp= (or in a
    CONT), client-final, then the server-final comes as a CONT, the client answers it
    empty and the request is OK (Dovecot's way without final-resp-ok). Returns the last
    reply; None when the server-final was wrong."""
    if initial:
        c.send(auth_line(rid, mech, b64(client.first()), rip=rip, extra=""))
    else:
        c.send(auth_line(rid, mech, rip=rip, extra=""))
        eq(c.reply(), ["CONT", str(rid), ""], "empty challenge")
        c.send("CONT\t%d\t%s\n" % (rid, b64(client.first())))
    r = c.reply()
    if r[0] != "CONT":
        return r
    c.send("CONT\t%d\t%s\n" % (rid, b64(client.final(base64.b64decode(r[2])))))
    r = c.reply()
    if r[0] != "CONT":
        return r
    check(client.check_server_final(base64.b64decode(r[2])),
          "server-final %r: the ServerSignature does not match" % base64.b64decode(r[2]))
    c.send("CONT\t%d\t\n" % rid)
    return c.reply()


def t_scram(srv):
    """SCRAM-SHA-256 and SCRAM-SHA-1 on the socket with the client of tests/scram, users
    made by `buzon user add --scheme`: right and wrong passwords, -PLUS refused, a
    SCRAM request interleaved with PLAIN ones, and no PLAIN-style cleartext refusal
    (no password crosses the socket)."""
    sc = load_scram()
    sc.add_scram_user(srv, "sam", "pencil")
    sc.add_scram_user(srv, "old", "sha1pw", scheme="SCRAM-SHA-1")
    c = AuthClient(srv.auth_path)
    try:
        eq(scram_exchange(c, 1, "SCRAM-SHA-256", sc.Scram("sam", "pencil")),
           ["OK", "1", "user=sam"], "SCRAM-SHA-256, initial response")
        eq(scram_exchange(c, 2, "SCRAM-SHA-256", sc.Scram("sam", "pencil"), initial=False),
           ["OK", "2", "user=sam"], "SCRAM-SHA-256, client-first in a CONT")
        eq(scram_exchange(c, 3, "SCRAM-SHA-1", sc.Scram("old", "sha1pw", hashname="sha1")),
           ["OK", "3", "user=old"], "SCRAM-SHA-1")
        r = scram_exchange(c, 4, "SCRAM-SHA-256", sc.Scram("sam", "wrong"), rip="192.0.2.61")
        eq(r[:2], ["FAIL", "4"], "SCRAM wrong password")
        check("reason=Authentication failed" in r, "reason %r" % r)
        c.send(auth_line(5, "SCRAM-SHA-256-PLUS", b64("p=tls-exporter,,n=sam,r=abc"),
                         extra=""))
        eq(c.reply()[:2], ["FAIL", "5"], "-PLUS is not offered on the socket")
        # interleaved: a SCRAM request waits for its client-final while PLAIN is answered
        cl = sc.Scram("sam", "pencil")
        c.send(auth_line(6, "SCRAM-SHA-256", b64(cl.first()), rip="192.0.2.60", extra=""))
        r6 = c.reply()
        eq(r6[:2], ["CONT", "6"], "server-first")
        c.send(auth_line(7, "PLAIN", plain("demo", "demo")))
        eq(c.reply(), ["OK", "7", "user=demo"], "PLAIN between SCRAM steps")
        c.send("CONT\t6\t%s\n" % b64(cl.final(base64.b64decode(r6[2]))))
        r = c.reply()
        eq(r[:2], ["CONT", "6"], "server-final")
        check(cl.check_server_final(base64.b64decode(r[2])), "ServerSignature")
        c.send("CONT\t6\tYQ==\n")
        eq(c.reply()[:2], ["FAIL", "6"], "a non-empty answer to server-final fails")
        check(re.search(r"auth-socket login user=sam method=SCRAM-SHA-256 ip=192\.0\.2\.60",
                        srv.log_text()), "the master's log line:\n%s" % srv.log_tail())
    finally:
        c.close()


def t_login(srv):
    c = AuthClient(srv.auth_path)
    try:
        c.send(auth_line(7, "LOGIN"))
        eq(c.reply(), ["CONT", "7", "VXNlcm5hbWU6"], "Username: challenge")
        c.send("CONT\t7\t%s\n" % b64("alice"))
        eq(c.reply(), ["CONT", "7", "UGFzc3dvcmQ6"], "Password: challenge")
        c.send("CONT\t7\t%s\n" % b64("alice"))
        eq(c.reply(), ["OK", "7", "user=alice"], "LOGIN")
        # the initial response is the user name
        c.send(auth_line(8, "LOGIN", b64("demo")))
        eq(c.reply(), ["CONT", "8", "UGFzc3dvcmQ6"], "Password: after an initial response")
        c.send("CONT\t8\t%s\n" % b64("demo"))
        eq(c.reply(), ["OK", "8", "user=demo"], "LOGIN with an initial response")
    finally:
        c.close()


def t_interleaved(srv):
    """Two AUTHs in flight on one connection, answered by id; then a burst of 40."""
    c = AuthClient(srv.auth_path)
    try:
        c.send(auth_line(10, "LOGIN") + auth_line(11, "PLAIN"))
        got = c.replies(2)
        eq(got["10"], ["CONT", "10", "VXNlcm5hbWU6"], "10 first challenge")
        eq(got["11"], ["CONT", "11", ""], "11 challenge")
        c.send("CONT\t10\t%s\n" % b64("demo"))
        eq(c.reply(), ["CONT", "10", "UGFzc3dvcmQ6"], "10 second challenge")
        c.send("CONT\t11\t%s\nCONT\t10\t%s\n" % (plain("alice", "alice"), b64("demo")))
        got = c.replies(2)
        eq(got["11"], ["OK", "11", "user=alice"], "11")
        eq(got["10"], ["OK", "10", "user=demo"], "10")
        burst = "".join(auth_line(100 + i, "PLAIN", plain("demo" if i % 2 else "alice",
                                                          "demo" if i % 2 else "alice"),
                                  rip="192.0.2.%d" % (10 + i)) for i in range(40))
        c.send(burst)
        got = c.replies(40)
        for i in range(40):
            eq(got[str(100 + i)], ["OK", str(100 + i), "user=%s" % ("demo" if i % 2 else "alice")],
               "burst %d" % i)
    finally:
        c.close()


def t_limits(srv):
    """More than 64 requests waiting for the client: the oldest is failed, not kept."""
    c = AuthClient(srv.auth_path)
    try:
        c.send("".join(auth_line(1000 + i, "LOGIN") for i in range(70)))
        got = [c.reply() for _ in range(76)]
        fails = [r for r in got if r[0] == "FAIL"]
        eq(sorted(r[1] for r in fails), [str(1000 + i) for i in range(6)], "oldest failed")
        eq(len([r for r in got if r[0] == "CONT"]), 70, "every request got its challenge")
        # the newest still work
        c.send("CONT\t1069\t%s\n" % b64("demo"))
        eq(c.reply(), ["CONT", "1069", "UGFzc3dvcmQ6"], "newest request alive")
        c.send("CONT\t1000\t%s\n" % b64("demo"))
        eq(c.reply()[:2], ["FAIL", "1000"], "CONT of a failed request")
    finally:
        c.close()


def closes(srv, data, handshake=True, what=""):
    c = AuthClient(srv.auth_path, handshake=handshake)
    try:
        if not handshake:
            c.send("VERSION\t1\t0\n")
        c.send(data)
        check(c.closed(), "connection not closed after %s" % what)
    finally:
        c.close()


def t_malformed(srv):
    # disconnects, as Dovecot does for client bugs
    closes(srv, b"A" * 20000, what="an over-long line")
    closes(srv, b"AUTH\t1\tPL\0AIN\tservice=smtp\n", what="NUL")
    closes(srv, "FOO\t1\n", what="an unknown command")
    closes(srv, "AUTH\tx\tPLAIN\tservice=smtp\n", what="a bad id")
    closes(srv, "AUTH\t1\tPLAIN\tnologin\n", what="no service")
    closes(srv, "AUTH\t1\tPLAIN\tservice=smtp\tresp=AA==\tresp=AA==\n", what="resp twice")
    closes(srv, auth_line(5, "LOGIN") + auth_line(5, "PLAIN"), what="id reuse")
    closes(srv, "VERSION\t1\t0\n", what="VERSION again")
    closes(srv, "AUTH\t1\tPLAIN\tservice=smtp\n", handshake=False, what="AUTH before CPID")
    c = AuthClient(srv.auth_path, handshake=False)
    try:
        c.send("VERSION\t2\t0\nCPID\t1\n")
        check(c.closed(), "major version 2 accepted")
    finally:
        c.close()
    # answered FAIL, the connection stays usable
    c = AuthClient(srv.auth_path)
    try:
        c.send(auth_line(1, "PLAIN", "!!notbase64!!"))
        eq(c.reply()[:2], ["FAIL", "1"], "bad base64 in resp")
        c.send(auth_line(2, "PLAIN") + "CONT\t2\t====\n")
        eq(c.reply(), ["CONT", "2", ""], "challenge")
        eq(c.reply()[:2], ["FAIL", "2"], "bad base64 in CONT")
        c.send("CONT\t99\t%s\n" % b64("x"))
        eq(c.reply()[:2], ["FAIL", "99"], "CONT of an unknown id")
        c.send(auth_line(3, "CRAM-MD5"))
        eq(c.reply()[:2], ["FAIL", "3"], "unknown mechanism")
        c.send(auth_line(4, "PLAIN", plain("demo", "demo"), rip="not-an-address"))
        eq(c.reply()[:2], ["FAIL", "4"], "invalid rip")
        c.send(auth_line(5, "PLAIN", plain("demo", "demo"), rip="192.0.2.9", extra=""))
        r = c.reply()
        check(r[:2] == ["FAIL", "5"] and "Plaintext" in r[-1],
              "no TLS between a remote client and the MTA: %r" % r)
        c.send(auth_line(6, "PLAIN", plain("demo", "demo"), rip="127.0.0.1", extra=""))
        eq(c.reply(), ["OK", "6", "user=demo"], "rip = lip without TLS")
        c.send(auth_line(7, "PLAIN", plain("x" * 300, "demo")))
        eq(c.reply()[:2], ["FAIL", "7"], "a user name over 255 octets")
        c.send(auth_line(8, "PLAIN", plain("demo", "demo")))
        eq(c.reply(), ["OK", "8", "user=demo"], "still serving")
    finally:
        c.close()


def t_nonreader(srv):
    """A client that sends a flood and never reads: others are still served, nothing
    dies, and its connection ends when it goes."""
    flood = AuthClient(srv.auth_path)
    flood.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    try:
        chunk = "".join(auth_line(i, "LOGIN") for i in range(1, 2001)).encode()
        flood.sock.setblocking(False)
        sent, blocked = 0, False
        for _ in range(200):
            try:
                sent += flood.sock.send(chunk)
            except BlockingIOError:
                blocked = True	# the server stopped reading it: its output is full
                break
        check(blocked, "the server read %d bytes of a client that reads nothing" % sent)
        c = AuthClient(srv.auth_path)
        try:
            c.send(auth_line(1, "PLAIN", plain("demo", "demo")))
            eq(c.reply(), ["OK", "1", "user=demo"], "another client during the flood")
        finally:
            c.close()
    finally:
        flood.close()
    c = AuthClient(srv.auth_path)
    try:
        c.send(auth_line(2, "PLAIN", plain("alice", "alice")))
        eq(c.reply(), ["OK", "2", "user=alice"], "after the flood")
    finally:
        c.close()


def t_ban_by_rip(srv):
    """Failures count against the rip the client names: after auth_ban_failures (3)
    that address is banned (the right password fails), another one is not; the
    socket's own address ("local") never enters the penalty table."""
    c = AuthClient(srv.auth_path)
    try:
        for i in range(3):
            c.send(auth_line(20 + i, "PLAIN", plain("demo", "bad%d" % i), rip="198.51.100.7"))
            eq(c.reply()[:2], ["FAIL", str(20 + i)], "failure %d" % i)
        check(wait_for(lambda: re.search(r"auth ban ip=198\.51\.100\.7 failures=3",
                                         srv.log_text()), 5), "ban not logged")
        c.send(auth_line(30, "PLAIN", plain("demo", "demo"), rip="198.51.100.7"))
        eq(c.reply()[:2], ["FAIL", "30"], "banned address, right password")
        c.send(auth_line(31, "PLAIN", plain("demo", "demo"), rip="198.51.100.8"))
        eq(c.reply(), ["OK", "31", "user=demo"], "another address")
    finally:
        c.close()
    check(not re.search(r"auth (ban|penalty) ip=local", srv.log_text()), "local penalised")


def ipc_message(type_name, payload):
    """An IPC message (src/lib/ipc.h: header {version << 24 | type, len}, then fields:
    u32 host order, strings and bytes with a u32 length) of type_name."""
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
    return struct.pack("=II", version << 24 | types[type_name], len(payload)) + payload


def ipc_fields(*fields):
    out = b""
    for f in fields:
        if isinstance(f, int):
            out += struct.pack("=I", f)
        else:
            f = f.encode() if isinstance(f, str) else f
            out += struct.pack("=I", len(f)) + f
    return out


def mail_pids(srv):
    out = []
    for p in srv.session_pids():
        try:
            with open("/proc/%d/cmdline" % p, "rb") as f:
                if b"mail" in f.read().split(b"\0"):
                    out.append(p)
        except OSError:
            pass
    return out


def t_no_handoff(srv):
    """A login process that asks the master to log an auth_listen connection in as an
    IMAP session (as a compromised one might, to reach a mail process with the MTA's
    socket) is killed, and no mail process starts: the message is made by gdb in the
    login process serving the connection, with the connection's id (CUID) and a right
    password."""
    if shutil.which("gdb") is None:
        raise Skip("gdb is not installed")
    c = AuthClient(srv.auth_path)
    try:
        spid, cuid = c.handshake_value("SPID"), c.handshake_value("CUID")
        msg = ipc_message("IPC_LOGIN_AUTH", ipc_fields(cuid, 1, "PLAIN", "demo", "demo",
                                                       "127.0.0.1", 2, "a"))
        since = len(srv.log_text())
        cmd = 'call (long)write(3, "%s", %d)' % ("".join("\\%03o" % b for b in msg), len(msg))
        r = subprocess.run(["gdb", "-p", str(spid), "-batch", "-nx", "-ex", cmd],
                           capture_output=True, text=True, timeout=60)
        check(wait_for(lambda: re.search(r"malformed login request from pid=%d: killing it"
                                          % spid, srv.log_text()[since:]), 5),
              "the master did not refuse it (gdb: %s)" % (r.stdout + r.stderr)[-300:])
        check(c.closed(), "the connection outlived its login process")
    finally:
        c.close()
    check(not re.search(r"imap login user=demo", srv.log_text()), "an IMAP login happened")
    eq(mail_pids(srv), [], "mail processes")
    c = wait_for(lambda: AuthClient(srv.auth_path), 5)
    try:
        c.send(auth_line(1, "PLAIN", plain("demo", "demo")))
        eq(c.reply(), ["OK", "1", "user=demo"], "a new login process serves the socket")
    finally:
        c.close()


def t_scram_plus_killed(srv):
    """A login process that asks for a -PLUS salt for an auth_listen connection (which
    has no TLS session, so the binding could not have been checked) is killed; the
    master counts such requests among the connection's 64 (made by gdb as above)."""
    if shutil.which("gdb") is None:
        raise Skip("gdb is not installed")
    c = AuthClient(srv.auth_path)
    try:
        spid, cuid = c.handshake_value("SPID"), c.handshake_value("CUID")
        msg = ipc_message("IPC_LOGIN_SCRAM", ipc_fields(cuid, "SCRAM-SHA-256-PLUS", "demo", 1))
        since = len(srv.log_text())
        cmd = 'call (long)write(3, "%s", %d)' % ("".join("\\%03o" % b for b in msg), len(msg))
        r = subprocess.run(["gdb", "-p", str(spid), "-batch", "-nx", "-ex", cmd],
                           capture_output=True, text=True, timeout=60)
        check(wait_for(lambda: re.search(r"malformed SCRAM request from login pid=%d: killing "
                                          r"it" % spid, srv.log_text()[since:]), 5),
              "the master did not refuse it (gdb: %s)" % (r.stdout + r.stderr)[-300:])
        check(c.closed(), "the connection outlived its login process")
    finally:
        c.close()


def netstring(s):
    b = s.encode() if isinstance(s, str) else s
    return b"%d:%s," % (len(b), b)


class MapClient:
    def __init__(self, path, timeout=10):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data)

    def reply(self):
        while True:
            m = re.match(rb"(\d+):", self.buf)
            if m and len(self.buf) >= m.end() + int(m.group(1)) + 1:
                n = int(m.group(1))
                body = self.buf[m.end():m.end() + n]
                check(self.buf[m.end() + n:m.end() + n + 1] == b",", "no comma: %r" % self.buf)
                self.buf = self.buf[m.end() + n + 1:]
                return body.decode()
            data = self.sock.recv(4096)
            check(data, "connection closed, a reply was expected")
            self.buf += data

    def query(self, key, name="buzon"):
        self.send(netstring("%s %s" % (name, key)))
        return self.reply()

    def closed(self, timeout=5):
        self.sock.settimeout(timeout)
        try:
            while True:
                if not self.sock.recv(4096):
                    return True
        except (socket.timeout, TimeoutError):
            return False
        except OSError:
            return True

    def close(self):
        self.sock.close()


def t_socketmap(srv):
    c = MapClient(srv.map_path)
    try:
        eq(c.query("demo"), "OK demo", "plain name")
        eq(c.query("demo@example.org"), "OK demo", "address")
        eq(c.query("alice+lists@example.org"), "OK alice", "address with +detail")
        eq(c.query("nosuchuser@example.org"), "NOTFOUND ", "unknown user")
        eq(c.query("@example.org"), "NOTFOUND ", "Postfix's @domain query")
        check(c.query("demo", name="virtual").startswith("PERM "), "unknown map name")
        # pipelined: answered in order
        c.send(netstring("buzon alice") + netstring("buzon ghost") + netstring("buzon demo"))
        eq([c.reply() for _ in range(3)], ["OK alice", "NOTFOUND ", "OK demo"], "pipelined")
        eq(c.query("x" * 2000 + "@example.org"), "NOTFOUND ", "an address over 1 KiB")
    finally:
        c.close()
    for bad, what in ((b"07:buzon a,", "a leading zero"), (b"7:buzon a;", "no comma"),
                      (b"99999:", "a length over the limit"), (b"5:buzon,", "no key"),
                      (b"GET / HTTP/1.1\r\n\r\n", "HTTP"), (b"7:buz\0n a,", "NUL")):
        c = MapClient(srv.map_path)
        try:
            c.send(bad)
            check(c.closed(), "connection not closed after %s" % what)
        finally:
            c.close()
    eq(oct(os.stat(srv.map_path).st_mode & 0o777), "0o660", "socket mode")


class PolicyClient:
    """Postfix's policy delegation protocol: name=value lines, an empty line."""
    def __init__(self, path, timeout=10):
        tcp = isinstance(path, tuple)
        self.sock = socket.socket(socket.AF_INET if tcp else socket.AF_UNIX,
                                  socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data)

    def reply(self):
        while b"\n\n" not in self.buf:
            data = self.sock.recv(4096)
            check(data, "connection closed, a reply was expected")
            self.buf += data
        r, self.buf = self.buf.split(b"\n\n", 1)
        return r.decode()

    def ask(self, rcpt, size=None, send=True):
        req = ("request=smtpd_access_policy\nprotocol_state=RCPT\nprotocol_name=ESMTP\n"
               "client_address=192.0.2.7\nsender=s@example.net\nrecipient=%s\n"
               "queue_id=\nrecipient_count=0\n" % rcpt)
        if size is not None:
            req += "size=%s\n" % size
        req = (req + "\n").encode()
        if send:
            self.send(req)
            return self.reply()
        return req

    closed = MapClient.closed

    def close(self):
        self.sock.close()


def t_quota_policy(srv):
    """check_policy_service: DUNNO under quota, unknown users and without a recipient;
    the configured reject when usage + size is over a limit (the usage read by the
    user's mail process); malformed requests close the connection."""
    delivery = load_delivery()
    full = "552 5.2.2 Mailbox is full"
    c = PolicyClient(srv.quota_path)
    try:
        eq(c.ask("demo@example.org", 10 ** 12), "action=DUNNO", "no quota")
        eq(c.ask("small@example.org", 2000), "action=DUNNO", "empty, 2000 of 3000")
        eq(c.ask("small@example.org", 3001), "action=" + full, "3001 over 3000")
        eq(c.ask("nosuchuser@example.org", 10 ** 9), "action=DUNNO", "unknown user")
        eq(c.ask("", 10 ** 9), "action=DUNNO", "no recipient")
        eq(c.ask("@example.org"), "action=DUNNO", "a domain")
        # 1500 octets and the delivery's header lines stored: + 900 fits, + 1600 does not
        body = delivery.wire(b"Subject: fill\n\n" + b"x" * (1500 - 16) + b"\n")
        rr, dr = delivery.lmtp_send(srv.lmtp_port, "s@example.net", ["small@example.org"],
                                    body)
        check(dr and dr[0].startswith("250 "), "delivery to small: %r" % dr)
        eq(c.ask("small+tag@example.org", 900), "action=DUNNO", "1500 + 900 of 3000")
        eq(c.ask("small@example.org", 1600), "action=" + full, "1500 + 1600 of 3000")
        eq(c.ask("few@example.org"), "action=DUNNO", "first of one message")
        rr, dr = delivery.lmtp_send(srv.lmtp_port, "s@example.net", ["few@example.org"],
                                    delivery.wire(b"Subject: one\n\nx\n"))
        check(dr and dr[0].startswith("250 "), "delivery to few: %r" % dr)
        eq(c.ask("few@example.org"), "action=" + full, "quota_messages = 1 reached")
        # pipelined: answered in order
        c.send(c.ask("small@example.org", 10, False) + c.ask("ghost@x", 10, False) +
               c.ask("small@example.org", 5000, False) + c.ask("demo@x", None, False))
        eq([c.reply() for _ in range(4)], ["action=DUNNO", "action=DUNNO", "action=" + full,
                                           "action=DUNNO"], "pipelined")
    finally:
        c.close()
    check(re.search(r"quota-policy user=small size=1600 status=overquota", srv.log_text()),
          "the mail process's check not logged:\n%s" % srv.log_tail())
    # demo has no limit at all: answered without starting a mail process for it
    check(not re.search(r"quota-policy user=demo ", srv.log_text()),
          "a mail process checked a user without limits:\n%s" % srv.log_tail())
    for bad, what in ((b"recipient\n\n", "a line without ="),
                      (b"size=12x\nrecipient=demo\n\n", "a bad size"),
                      (b"recipient=demo\nrecipient=alice\n\n", "two recipients"),
                      (b"recipient=de\0mo\n\n", "NUL"),
                      (b"x=" + b"y" * 20000, "a request over 8 KiB")):
        c = PolicyClient(srv.quota_path)
        try:
            c.send(bad)
            check(c.closed(), "connection not closed after %s" % what)
        finally:
            c.close()
    eq(oct(os.stat(srv.quota_path).st_mode & 0o777), "0o660", "socket mode")


def quota_tcp_suite(want):
    """quota_policy_listen on a loopback TCP port (Postfix: check_policy_service
    inet:127.0.0.1:PORT)."""
    if want and "quota-policy-tcp" not in want:
        return

    def t_tcp(srv):
        c = PolicyClient(("127.0.0.1", srv.policy_port))
        try:
            eq(c.ask("demo@example.org", 10 ** 9), "action=DUNNO", "no quota")
            eq(c.ask("small@example.org", 5000), "action=REJECT over quota", "over quota")
        finally:
            c.close()

    srv = buzontest.Server(users={"demo": "demo", "small": "small"}, fill=False, buzon=BUZON)
    try:
        srv.setup()
        with open(srv.passwd_file) as f:
            lines = f.read().splitlines()
        with open(srv.passwd_file, "w") as f:
            for ln in lines:
                if ln.startswith("small:"):
                    ln = ln + ":" * (7 - ln.count(":")) + "quota_storage=3000B"
                f.write(ln + "\n")
        srv.policy_port = buzontest.free_ports(1)[0]
        srv.extra_config += ["quota_policy_listen = 127.0.0.1:%d" % srv.policy_port,
                             "quota_policy_reject = REJECT over quota"]
        srv.write_config()
        srv.start()

        def listening():
            try:
                socket.create_connection(("127.0.0.1", srv.policy_port), 1).close()
                return True
            except OSError:
                return False
        check(wait_for(listening, 5), "no TCP listener")
        run_case("quota-policy-tcp", t_tcp, srv)
    except Exception as e:
        traceback.print_exc()
        print("FAIL quota-policy-tcp-server: %s" % str(e).replace("\n", " ")[:400])
        RESULTS["fail"] += 1
    finally:
        for p in srv.stop():
            print("FAIL quota-policy-tcp-teardown: %s" % p.replace("\n", " ")[:400])
            RESULTS["fail"] += 1


def raw_suite(want):
    cases = [("auth-handshake", t_handshake), ("auth-plain", t_plain), ("auth-login", t_login),
             ("auth-interleaved", t_interleaved), ("auth-limits", t_limits),
             ("auth-scram", t_scram),
             ("auth-malformed", t_malformed), ("auth-nonreader", t_nonreader),
             ("auth-ban-by-rip", t_ban_by_rip), ("socketmap", t_socketmap),
             ("auth-no-handoff", t_no_handoff), ("auth-scram-plus-killed", t_scram_plus_killed), ("quota-policy", t_quota_policy)]
    cases = [(n, f) for n, f in cases if not want or n in want]
    if not cases:
        return
    srv = buzontest.Server(users={"demo": "demo", "alice": "alice", "small": "small",
                                  "few": "few"},
                           fill=False, lmtp=True, buzon=BUZON, canary=True)
    try:
        srv.setup()
        # quota limits from the passwd-file's extra fields
        with open(srv.passwd_file) as f:
            lines = f.read().splitlines()
        with open(srv.passwd_file, "w") as f:
            for ln in lines:
                if ln.startswith("small:"):
                    ln = ln + ":" * (7 - ln.count(":")) + "quota_storage=3000B"
                if ln.startswith("few:"):
                    ln = ln + ":" * (7 - ln.count(":")) + "quota_messages=1"
                f.write(ln + "\n")
        srv.auth_path = os.path.join(srv.tmp, "auth")
        srv.map_path = os.path.join(srv.tmp, "socketmap")
        srv.quota_path = os.path.join(srv.tmp, "quota")
        srv.extra_config += ["auth_listen = unix:%s" % srv.auth_path,
                             "socketmap_listen = unix:%s" % srv.map_path,
                             "quota_policy_listen = unix:%s" % srv.quota_path,
                             "auth_failure_delay_max = 1", "auth_ban_failures = 3",
                             "auth_ban_seconds = 600", "auth_scram = yes"]
        srv.write_config()
        srv.start()
        check(wait_for(lambda: os.path.exists(srv.auth_path), 5), "no socket")
        for n, fn in cases:
            run_case(n, fn, srv)
    except Exception as e:
        traceback.print_exc()
        print("FAIL auth-server: %s" % str(e).replace("\n", " ")[:400])
        RESULTS["fail"] += 1
    finally:
        for p in srv.stop():
            print("FAIL auth-server-teardown: %s" % p.replace("\n", " ")[:400])
            RESULTS["fail"] += 1


# ---------------------------------------------------------------- Postfix + swaks

def load_delivery():
    """tests/delivery/run.py's private Postfix helper."""
    path = os.path.join(os.path.dirname(HERE), "delivery", "run.py")
    spec = importlib.util.spec_from_file_location("delivery_run", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


SUBMISSION = """\
%(listen)s inet n - n - - smtpd
  -o syslog_name=postfix/submission
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_sasl_type=dovecot
  -o smtpd_sasl_path=private/auth
  -o smtpd_client_restrictions=permit_sasl_authenticated,reject
  -o smtpd_relay_restrictions=permit_sasl_authenticated,reject
"""


def swaks(port, *args):
    r = subprocess.run(["swaks", "--server", "127.0.0.1:%d" % port, "--from", "s@example.net",
                        "--to", "pfuser@relay.example", "--timeout", "30"] + list(args),
                       capture_output=True, text=True, timeout=60)
    return r.returncode, r.stdout + r.stderr


def stored(srv, subject):
    """Is a message with this subject in pfuser's INBOX?"""
    return find_subject(srv, "pfuser", subject)


def find_subject(srv, user, subject):
    needle = ("Subject: %s\n" % subject).encode()
    for sub in ("new", "cur"):
        d = os.path.join(srv.maildir(user), sub)
        if not os.path.isdir(d):
            continue
        for n in os.listdir(d):
            with open(os.path.join(d, n), "rb") as f:
                if needle in f.read():
                    return True
    return False


def delivered(srv, subject):
    return wait_for(lambda: stored(srv, subject), 20, 0.2)


def pf_cases(pf, srv, port):
    def t_plain():
        rc, out = swaks(port, "--auth", "PLAIN", "--auth-user", "pfuser", "--auth-password",
                        "pfpass", "--header", "Subject: sub-plain")
        check("235 2.7.0" in out, "AUTH PLAIN not accepted:\n%s" % out[-1500:])
        eq(rc, 0, "swaks exit (%s)" % out[-800:])
        check(delivered(srv, "sub-plain"), "not relayed to buzon:\n%s" % pf.log_tail())
        check(re.search(r"sasl_method=PLAIN, sasl_username=pfuser", pf.log_tail(200)),
              "Postfix's sasl_username:\n%s" % pf.log_tail())

    def t_login():
        rc, out = swaks(port, "--auth", "LOGIN", "--auth-user", "pfuser", "--auth-password",
                        "pfpass", "--header", "Subject: sub-login")
        check("235 2.7.0" in out, "AUTH LOGIN not accepted:\n%s" % out[-1500:])
        eq(rc, 0, "swaks exit")
        check(delivered(srv, "sub-login"), "not relayed to buzon:\n%s" % pf.log_tail())

    def t_noauth():
        rc, out = swaks(port, "--header", "Subject: sub-noauth")
        check(rc != 0 and re.search(r"<\*\*\s+554 5\.7\.1", out), "relay without AUTH:\n%s"
              % out[-1500:])

    def t_wrong():
        for mech in ("PLAIN", "LOGIN"):
            rc, out = swaks(port, "--auth", mech, "--auth-user", "pfuser", "--auth-password",
                            "wrong", "--header", "Subject: sub-wrong")
            check(rc != 0 and re.search(r"<\*\*\s+535 5\.7\.8", out),
                  "%s wrong password:\n%s" % (mech, out[-1500:]))
        # the server path: auth's answer, with Postfix's client address as the address
        check(len(re.findall(r'auth-socket login failed user="pfuser" method=(PLAIN|LOGIN) '
                             r'ip=127\.0\.0\.1 tls=no reason=password', srv.log_text())) == 2,
              "failures not logged by the master:\n%s" % srv.log_tail())

    def gsasl_smtp(user, password):
        r = subprocess.run(["gsasl", "--smtp", "--no-starttls", "-a", user, "-p", password,
                            "--mechanism", "SCRAM-SHA-256", "127.0.0.1", str(port)],
                           capture_output=True, text=True, timeout=60,
                           stdin=subprocess.DEVNULL)
        return r.returncode, r.stdout + r.stderr

    def t_scram():
        """Postfix offers the socket's SCRAM mechanisms to SMTP clients; gsasl (an
        independent SCRAM client, which checks the server's signature) authenticates
        with SCRAM-SHA-256 through Postfix and buzon (a wrong one: t_ban)."""
        if shutil.which("gsasl") is None:
            raise Skip("gsasl not installed (scripts/install-deps.sh)")
        rc, out = gsasl_smtp("pfscram", "pfscrampw")
        check("SCRAM-SHA-256" in out and re.search(r"235 2\.7\.0", out),
              "SCRAM-SHA-256 not accepted (exit %d):\n%s\n%s" % (rc, out[-1500:],
                                                               pf.log_tail()))
        eq(rc, 0, "gsasl exit (%s)" % out[-800:])
        check(re.search(r"auth-socket login user=pfscram method=SCRAM-SHA-256 ip=127\.0\.0\.1",
                        srv.log_text()), "the master's log line:\n%s" % srv.log_tail())

    def t_ban():
        """The third failure from 127.0.0.1 bans it (auth_ban_failures = 3), a SCRAM one
        after two with PLAIN and LOGIN (the same penalties): then even the right password
        fails — the penalties count per SMTP client."""
        if shutil.which("gsasl") is not None:
            rc, out = gsasl_smtp("pfscram", "wrong")
            check(rc != 0 and "535 5.7.8" in out, "SCRAM wrong password:\n%s" % out[-1500:])
            check(re.search(r'auth-socket login failed user="pfscram" method=SCRAM-SHA-256 '
                            r'ip=127\.0\.0\.1 tls=no reason=password', srv.log_text()),
                  "SCRAM failure not logged by the master:\n%s" % srv.log_tail())
        else:
            rc, out = swaks(port, "--auth", "PLAIN", "--auth-user", "pfuser",
                            "--auth-password", "wrong-again")
            check(rc != 0 and "535 5.7.8" in out, "third failure:\n%s" % out[-800:])
        check(wait_for(lambda: re.search(r"auth ban ip=127\.0\.0\.1 failures=3",
                                         srv.log_text()), 5),
              "ban not logged:\n%s" % srv.log_tail())
        rc, out = swaks(port, "--auth", "PLAIN", "--auth-user", "pfuser", "--auth-password",
                        "pfpass", "--header", "Subject: sub-banned")
        check(rc != 0 and "535 5.7.8" in out, "banned client authenticated:\n%s" % out[-800:])
        for subject in ("sub-noauth", "sub-wrong", "sub-banned"):
            check(not stored(srv, subject), "%s relayed without AUTH" % subject)

    def t_recipients():
        """virtual_mailbox_maps = socketmap:...:buzon: an unknown recipient gets 550 at
        RCPT time (nothing queued, nothing bounced), a user (also with +detail) is
        accepted and delivered over LMTP."""
        def send(rcpt, subject):
            r = subprocess.run(["swaks", "--server", "127.0.0.1:%d" % pf.port,
                                "--from", "s@example.net", "--to", rcpt, "--header",
                                "Subject: %s" % subject, "--timeout", "30"],
                               capture_output=True, text=True, timeout=60)
            return r.returncode, r.stdout + r.stderr
        rc, out = send("nobody-here@example.test", "map-unknown")
        check(rc != 0 and re.search(r"<\*\*\s+550 5\.1\.1 <nobody-here@example\.test>", out),
              "unknown recipient not refused at RCPT:\n%s" % out[-1500:])
        rc, out = send("pfuser@example.test", "map-known")
        eq(rc, 0, "known recipient (%s)" % out[-800:])
        rc, out = send("pfuser+tag@example.test", "map-detail")
        eq(rc, 0, "recipient with +detail (%s)" % out[-800:])
        check(delivered(srv, "map-known") and delivered(srv, "map-detail"),
              "not delivered:\n%s" % pf.log_tail())
        check(not re.search(r"nobody-here@example\.test.*status=", pf.log_tail(300)),
              "the unknown recipient was queued:\n%s" % pf.log_tail())

    def t_quota():
        """smtpd_recipient_restrictions = check_policy_service unix:private/buzon-quota:
        pfsmall (quota_messages = 1) gets one message, delivered over LMTP; then RCPT to
        it is refused with 552 5.2.2 at SMTP time, while pfuser still receives."""
        def send(rcpt, subject):
            r = subprocess.run(["swaks", "--server", "127.0.0.1:%d" % pf.port,
                                "--from", "s@example.net", "--to", rcpt, "--header",
                                "Subject: %s" % subject, "--timeout", "30"],
                               capture_output=True, text=True, timeout=60)
            return r.returncode, r.stdout + r.stderr
        rc, out = send("pfsmall@example.test", "quota-first")
        eq(rc, 0, "under quota (%s)" % out[-800:])
        check(wait_for(lambda: find_subject(srv, "pfsmall", "quota-first"), 20, 0.2),
              "not delivered:\n%s" % pf.log_tail())
        rc, out = send("pfsmall@example.test", "quota-over")
        check(rc != 0 and re.search(r"<\*\*\s+552 5\.2\.2 <pfsmall@example\.test>: "
                                    r"Recipient address rejected: Mailbox is full", out),
              "over quota not refused at RCPT:\n%s" % out[-1500:])
        rc, out = send("pfuser@example.test", "quota-other")
        eq(rc, 0, "another user (%s)" % out[-800:])
        check(delivered(srv, "quota-other"), "not delivered:\n%s" % pf.log_tail())
        check(not find_subject(srv, "pfsmall", "quota-over"), "over-quota message stored")

    run_case("postfix-socketmap-recipients", t_recipients)
    run_case("postfix-quota-policy", t_quota)
    run_case("postfix-sasl-plain", t_plain)
    run_case("postfix-sasl-login", t_login)
    run_case("postfix-no-auth-no-relay", t_noauth)
    run_case("postfix-sasl-scram", t_scram)
    run_case("postfix-sasl-wrong-password", t_wrong)
    run_case("postfix-sasl-ban", t_ban)


def postfix_suite(want):
    names = ["postfix-socketmap-recipients", "postfix-quota-policy", "postfix-sasl-plain", "postfix-sasl-login",
             "postfix-no-auth-no-relay",
             "postfix-sasl-scram", "postfix-sasl-wrong-password", "postfix-sasl-ban"]
    if want and not want & set(names):
        return
    why = None
    if not ROOT:
        why = "needs root (private Postfix instance)"
    elif shutil.which("postfix") is None or shutil.which("swaks") is None:
        why = "postfix or swaks not installed (scripts/install-deps.sh)"
    if why:
        for n in names:
            print("SKIP %s: %s" % (n, why))
            RESULTS["skip"] += 1
        return
    delivery = load_delivery()
    tmp = tempfile.mkdtemp(prefix="buzontest-submission.")
    os.chmod(tmp, 0o755)
    srv = buzontest.Server(users={"pfuser": "pfpass", "pfsmall": "pfsmall"}, fill=False,
                           lmtp=True, buzon=BUZON)
    pf = None
    try:
        srv.setup()
        with open(srv.passwd_file) as f:
            lines = f.read().splitlines()
        with open(srv.passwd_file, "w") as f:
            for ln in lines:
                if ln.startswith("pfsmall:"):
                    ln = ln + ":" * (7 - ln.count(":")) + "quota_messages=1"
                f.write(ln + "\n")
        pf = delivery.Postfix(os.path.join(tmp, "pf"), {
            "default_transport": "lmtp:inet:127.0.0.1:%d" % srv.lmtp_port,
            "relay_transport": "lmtp:inet:127.0.0.1:%d" % srv.lmtp_port,
            "virtual_mailbox_domains": "example.test",
            "virtual_mailbox_maps": "socketmap:unix:private/buzon-socketmap:buzon",
            "virtual_transport": "lmtp:inet:127.0.0.1:%d" % srv.lmtp_port,
            "smtpd_recipient_restrictions": "check_policy_service unix:private/buzon-quota",
        })
        port = buzontest.free_ports(1)[0]
        with open(os.path.join(pf.conf, "master.cf"), "a") as f:
            f.write(SUBMISSION % {"listen": "127.0.0.1:%d" % port})
        pf.start()
        private = os.path.join(pf.queue, "private")
        check(wait_for(lambda: os.path.isdir(private), 10), "no %s" % private)
        # where Dovecot's socket was: Postfix's private/ (mode 0700, owner postfix)
        srv.extra_config += ["auth_listen = unix:%s/auth" % private,
                             "auth_listen_group = postfix", "auth_listen_mode = 0660",
                             "socketmap_listen = unix:%s/buzon-socketmap" % private,
                             "socketmap_listen_group = postfix",
                             "quota_policy_listen = unix:%s/buzon-quota" % private,
                             "quota_policy_listen_group = postfix",
                             "auth_failure_delay_max = 1", "auth_ban_failures = 3",
                             "auth_scram = yes"]
        srv.write_config()
        srv.start()
        load_scram().add_scram_user(srv, "pfscram", "pfscrampw")
        pf_cases(pf, srv, port)
    except Exception as e:
        traceback.print_exc()
        print("FAIL postfix-setup: %s" % str(e).replace("\n", " ")[:400])
        RESULTS["fail"] += 1
    finally:
        if pf is not None:
            if VERBOSE:
                sys.stderr.write(pf.log_tail(80))
            pf.stop()
        for p in srv.stop():
            print("FAIL postfix-teardown: %s" % p.replace("\n", " ")[:400])
            RESULTS["fail"] += 1
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    global BUZON, VERBOSE
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("names", nargs="*", help="only these cases")
    ap.add_argument("--buzon", help="server binary (default $BUZON or build/buzon)")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    VERBOSE = args.verbose
    BUZON = os.path.abspath(args.buzon) if args.buzon else buzontest.default_binary()
    want = set(args.names)
    raw_suite(want)
    quota_tcp_suite(want)
    postfix_suite(want)
    print("%d passed, %d failed" % (RESULTS["pass"], RESULTS["fail"]))
    return 1 if RESULTS["fail"] else 0


if __name__ == "__main__":
    sys.exit(main())
