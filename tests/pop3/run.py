#!/usr/bin/env python3
"""POP3 tests (issue 4): scripted dialogues against a real buzon on 127.0.0.1 (pre-login
and transaction commands, malformed input, limits, STLS injection, plaintext refusal,
SASL, [IN-USE]), interop with Python poplib (STLS, UIDL, TOP, RETR, DELE, UIDLs stable
across sessions and a restart), curl (pop3s:// list and retrieve) and fetchmail (POP3S
into an MDA, once with --keep, once deleting), and a POP3 DELE + QUIT seen as EXPUNGE
by a concurrent IMAP session.  Each test starts its own server (tests/lib/buzontest.py)
and prints "PASS name" or "FAIL name: reasons"; the last line is "N passed, M failed".

  run.py [--buzon PATH] [NAME...]     (details of every check go to stderr)
"""
import base64
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import buzontest as bt  # noqa: E402

TESTS = []


def test(**server_options):
    def deco(fn):
        TESTS.append((fn.__name__, fn, server_options))
        return fn
    return deco


# ---- a raw POP3 client ----------------------------------------------------------------

class Raw(bt.LineConn):
    """A POP3 connection spoken byte by byte (plaintext port, or implicit TLS)."""

    def __init__(self, srv, tls=False, timeout=5):
        super().__init__(srv, srv.pop3s_port if tls else srv.pop3_port, tls=tls,
                         timeout=timeout)

    def multi(self):
        """The lines of a multi-line body up to ".", dot-unstuffed."""
        out = []
        while True:
            ln = self.line()
            if ln == b".":
                return out
            out.append(ln[1:] if ln.startswith(b".") else ln)

    def cmd(self, text):
        self.send((text if isinstance(text, bytes) else text.encode()) + b"\r\n")
        return self.line()

    def login(self, user="demo", password="demo"):
        assert self.line().startswith(b"+OK")
        assert self.cmd("USER " + user).startswith(b"+OK")
        r = self.cmd("PASS " + password)
        assert r.startswith(b"+OK"), r
        return r


def fixtures_crlf():
    return {bt.crlf(f["data"]): f["name"] for f in bt.fixture_messages()}


def restart(srv):
    """Stop the server process (SIGTERM) and start it again on the same directory."""
    srv.proc.send_signal(signal.SIGTERM)
    srv.proc.wait(bt.STOP_TIMEOUT)
    srv.log_file.close()
    srv.start()


# ---- protocol scripts -----------------------------------------------------------------

@test(pop3=True)
def transaction_script(srv, res):
    fx = fixtures_crlf()
    c = Raw(srv)
    res.eq(c.line(), b"+OK buzon ready.", "greeting")
    c.send(b"CAPA\r\n")
    res.eq(c.line(), b"+OK", "CAPA before login")
    capa = c.multi()
    sys.stderr.write("pre-login CAPA: %r\n" % capa)
    for k in (b"TOP", b"UIDL", b"USER", b"RESP-CODES", b"PIPELINING", b"AUTH-RESP-CODE",
              b"SASL PLAIN LOGIN", b"STLS", b"IMPLEMENTATION buzon"):
        res.check(k in capa, "pre-login CAPA has %r" % k)
    res.check(c.cmd("STAT").startswith(b"-ERR"), "STAT before login refused")
    res.eq(c.cmd("USER demo"), b"+OK", "USER")
    res.eq(c.cmd("PASS demo"), b"+OK Logged in.", "PASS")
    stat = c.cmd("STAT")
    m = re.match(rb"\+OK (\d+) (\d+)$", stat)
    res.check(m, "STAT format %r" % stat)
    n, total = int(m.group(1)), int(m.group(2))
    res.eq(n, len(fx), "STAT count = fixture count")
    res.eq(total, sum(len(d) for d in fx), "STAT size = CRLF octets of all fixtures")
    res.eq(c.cmd("LIST"), b"+OK", "LIST")
    sizes = {int(a): int(b) for a, b in (ln.split() for ln in c.multi())}
    res.eq(sorted(sizes), list(range(1, n + 1)), "LIST numbers 1..n")
    res.eq(c.cmd("LIST 2"), b"+OK 2 %d" % sizes[2], "LIST 2")
    res.check(c.cmd("LIST %d" % (n + 1)).startswith(b"-ERR"), "LIST beyond the last")
    res.eq(c.cmd("UIDL"), b"+OK", "UIDL")
    uidls = dict(ln.split() for ln in c.multi())
    res.check(all(re.fullmatch(rb"[0-9a-f]{16}", u) for u in uidls.values()),
              "UIDLs are %08Xu%08Xv: " + repr(list(uidls.values())[:2]))
    res.eq(uidls[b"1"][:8], b"00000001", "UIDL 1 starts with UID 1 in hex")
    res.eq(len(set(uidls.values())), n, "UIDLs unique")
    res.eq(c.cmd("UIDL 3"), b"+OK 3 " + uidls[b"3"], "UIDL 3")
    got = set()
    for i in range(1, n + 1):
        r = c.cmd("RETR %d" % i)
        res.eq(r, b"+OK %d octets" % sizes[i], "RETR %d status" % i)
        data = b"".join(ln + b"\r\n" for ln in c.multi())
        res.eq(len(data), sizes[i], "RETR %d length = LIST size" % i)
        got.add(data)
    res.eq(got, set(fx), "RETR gives every fixture byte-exact in CRLF form")
    res.eq(c.cmd("TOP 1 0"), b"+OK", "TOP 1 0")
    top = c.multi()
    res.eq(top[-1], b"", "TOP 1 0 ends with the blank line after the header")
    res.check(b"" not in top[:-1], "TOP 1 0 has the header only")
    res.eq(c.cmd("TOP 1 2"), b"+OK", "TOP 1 2")
    res.eq(len(c.multi()), len(top) + 2, "TOP 1 2 has two body lines more")
    res.eq(c.cmd("DELE 1"), b"+OK Marked to be deleted.", "DELE 1")
    res.check(c.cmd("DELE 1").startswith(b"-ERR"), "DELE 1 twice")
    res.check(c.cmd("RETR 1").startswith(b"-ERR"), "RETR of a deleted message")
    res.check(c.cmd("LIST 1").startswith(b"-ERR"), "LIST of a deleted message")
    res.eq(c.cmd("STAT"), b"+OK %d %d" % (n - 1, total - sizes[1]), "STAT after DELE")
    res.eq(c.cmd("LIST"), b"+OK", "LIST after DELE")
    res.check(b"1 %d" % sizes[1] not in c.multi(), "LIST leaves out the deleted message")
    res.eq(c.cmd("RSET"), b"+OK", "RSET")
    res.eq(c.cmd("STAT"), stat, "STAT after RSET")
    res.eq(c.cmd("NOOP"), b"+OK", "NOOP")
    c.send(b"CAPA\r\n")
    res.eq(c.line(), b"+OK", "CAPA after login")
    capa2 = c.multi()
    sys.stderr.write("post-login CAPA: %r\n" % capa2)
    res.check(b"USER" not in capa2 and b"STLS" not in capa2 and b"TOP" in capa2,
              "post-login CAPA: no USER/STLS, has TOP")
    res.check(c.cmd("USER demo").startswith(b"-ERR"), "USER after login")
    res.eq(c.cmd("QUIT"), b"+OK Logging out.", "QUIT without deletions")
    res.check(c.closed(), "closed after QUIT")
    res.eq(len(srv.maildir_files()), n, "nothing deleted after RSET + QUIT")


@test(pop3=True)
def pipelining(srv, res):
    c = Raw(srv)
    c.line()
    # RFC 2449 PIPELINING: credentials and commands in one segment, also across the
    # handover from the login process to the mail process
    c.send(b"USER demo\r\nPASS demo\r\nSTAT\r\nLIST 1\r\nTOP 1 0\r\nNOOP\r\nQUIT\r\n")
    res.eq(c.line(), b"+OK", "USER")
    res.eq(c.line(), b"+OK Logged in.", "PASS")
    res.check(c.line().startswith(b"+OK 21 "), "STAT")
    res.check(c.line().startswith(b"+OK 1 "), "LIST 1")
    res.eq(c.line(), b"+OK", "TOP")
    c.multi()
    res.eq(c.line(), b"+OK", "NOOP")
    res.eq(c.line(), b"+OK Logging out.", "QUIT")
    res.check(c.closed(), "closed")


@test(pop3=True)
def malformed(srv, res):
    # before login: unknown commands are not echoed; 3 bad ones close (SEC-20)
    c = Raw(srv)
    c.line()
    res.eq(c.cmd("GET / HTTP/1.1"), b"-ERR Unknown command.", "HTTP line before login")
    res.check(c.cmd("X" * 300).startswith(b"-ERR"), "long line before login")
    r = c.cmd("A\0B")
    res.check(r.startswith(b"-ERR"), "NUL before login")
    res.check(c.closed(), "3 bad pre-login commands close the connection")
    c.close()
    # after login
    c = Raw(srv)
    c.login()
    res.eq(c.cmd("X" * 254), b"-ERR Command line too long.", "254 octets + CRLF refused")
    res.eq(c.cmd("NOOP " + "x" * 248), b"-ERR Too many arguments.",
           "255 octets with CRLF accepted as a line")
    res.eq(c.cmd("NOOP"), b"+OK", "session goes on after a long line")
    for bad in ("RETR", "RETR x", "RETR 0", "RETR -1", "RETR 4294967296", "RETR 1 2",
                "TOP 1", "TOP 1 x", "DELE", "LIST 1 2", "UIDL a", "STAT 1", "FOO"):
        r = c.cmd(bad)
        res.check(r.startswith(b"-ERR"), "%r refused: %r" % (bad, r))
        if bad == "RETR 1 2":
            res.eq(c.cmd("NOOP"), b"+OK", "NOOP resets the bad-command count")
    res.check(c.cmd("RETR 99999").startswith(b"-ERR There's no message"), "no such message")
    res.check(c.cmd("S\0TAT").startswith(b"-ERR"), "NUL in a command")
    res.check(c.cmd("").startswith(b"-ERR"), "empty line")
    # a huge line without a line end does not grow the server's buffers
    c.send(b"Y" * 100000)
    res.eq(c.line(), b"-ERR Command line too long.", "100 kB line refused at once")
    c.send(b"\r\n")
    res.eq(c.cmd("NOOP"), b"+OK", "NOOP after the huge line")
    for i in range(10):
        try:
            c.cmd("BOGUS%d" % i)
        except EOFError:
            break
    res.check(c.closed(), "10 consecutive bad commands close the session")
    c.close()
    c = Raw(srv)
    c.login()
    for i in range(3):
        try:
            c.cmd("Z" * 400)
        except (EOFError, ConnectionResetError):
            break
    res.check(c.closed(), "3 overlong lines close the session")
    res.eq(len(srv.maildir_files()), 21, "nothing deleted")


@test(pop3=True)
def stls_injection(srv, res):
    c = Raw(srv)
    c.line()
    # RFC 2595 §4 / CVE-2011-0411: what follows STLS in the same segment is discarded
    c.send(b"STLS\r\nCAPA\r\n")
    res.eq(c.line(), b"+OK Begin TLS negotiation now.", "STLS")
    res.eq(c.buf, b"", "nothing after the STLS reply in plaintext")
    c.starttls()
    c.sock.settimeout(1.0)
    try:
        data = c.sock.recv(1000)
    except (socket.timeout, TimeoutError):
        data = b""
    res.eq(data, b"", "the injected CAPA is not answered after the handshake")
    c.sock.settimeout(5)
    c.send(b"CAPA\r\n")
    res.eq(c.line(), b"+OK", "CAPA over TLS")
    capa = c.multi()
    res.check(b"STLS" not in capa and b"USER" in capa, "CAPA over TLS: USER, no STLS")
    res.check(c.cmd("STLS").startswith(b"-ERR"), "STLS twice")
    res.eq(c.cmd("USER demo"), b"+OK", "USER over TLS")
    res.eq(c.cmd("PASS demo"), b"+OK Logged in.", "PASS over TLS")
    res.check(c.cmd("STAT").startswith(b"+OK 21 "), "STAT over TLS")
    res.eq(c.cmd("QUIT"), b"+OK Logging out.", "QUIT")


@test(pop3=True, config=["auth_allow_cleartext = no"])
def plaintext_refused(srv, res):
    c = Raw(srv)
    c.line()
    c.send(b"CAPA\r\n")
    c.line()
    capa = c.multi()
    res.check(b"USER" not in capa and not any(k.startswith(b"SASL") for k in capa),
              "CAPA without TLS lacks USER and SASL: %r" % capa)
    res.check(b"STLS" in capa, "CAPA offers STLS")
    msg = b"-ERR [AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections."
    res.eq(c.cmd("USER demo"), msg, "USER refused before TLS")
    res.eq(c.cmd("PASS demo"), msg, "PASS refused before TLS")
    res.eq(c.cmd("AUTH PLAIN AGRlbW8AZGVtbw=="), msg, "AUTH refused before TLS")
    res.eq(c.cmd("STLS"), b"+OK Begin TLS negotiation now.", "STLS")
    c.starttls()
    res.eq(c.cmd("USER demo"), b"+OK", "USER after STLS")
    res.eq(c.cmd("PASS demo"), b"+OK Logged in.", "PASS after STLS")
    c.cmd("QUIT")
    p = srv.pop3s()
    res.check(p.stat()[0] == 21, "POP3S login")
    p.quit()


@test(pop3=True)
def auth(srv, res):
    c = Raw(srv, tls=True)
    c.line()
    res.eq(c.cmd("AUTH"), b"+OK", "AUTH lists mechanisms")
    res.eq(c.multi(), [b"PLAIN", b"LOGIN"], "mechanisms")
    # RFC 5034 initial response: \0demo\0demo
    res.eq(c.cmd("AUTH PLAIN AGRlbW8AZGVtbw=="), b"+OK Logged in.", "AUTH PLAIN with IR")
    c.cmd("QUIT")
    c = Raw(srv, tls=True)
    c.line()
    res.eq(c.cmd("AUTH PLAIN"), b"+ ", "AUTH PLAIN continuation")
    res.eq(c.cmd("AGRlbW8AZGVtbw=="), b"+OK Logged in.", "AUTH PLAIN response")
    c.cmd("QUIT")
    c = Raw(srv, tls=True)
    c.line()
    res.eq(c.cmd("AUTH LOGIN"), b"+ VXNlcm5hbWU6", "AUTH LOGIN user prompt")
    res.eq(c.cmd("ZGVtbw=="), b"+ UGFzc3dvcmQ6", "AUTH LOGIN password prompt")
    res.eq(c.cmd("ZGVtbw=="), b"+OK Logged in.", "AUTH LOGIN")
    c.cmd("QUIT")
    c = Raw(srv, tls=True)
    c.line()
    res.eq(c.cmd("AUTH PLAIN"), b"+ ", "AUTH PLAIN")
    res.eq(c.cmd("*"), b"-ERR Authentication aborted by client.", "AUTH cancelled")
    res.eq(c.cmd("AUTH CRAM-MD5"), b"-ERR Unsupported authentication mechanism.", "unknown mech")
    res.eq(c.cmd("USER nosuchuser"), b"+OK", "USER answers +OK for an unknown name (SEC-12)")
    fail = b"-ERR [AUTH] Authentication failed."
    res.eq(c.cmd("PASS x"), fail, "unknown user")
    res.eq(c.cmd("USER demo"), b"+OK", "USER demo")
    res.eq(c.cmd("PASS wrong password"), fail, "wrong password")
    res.eq(c.cmd("AUTH PLAIN AGRlbW8Ad3Jvbmc="), fail, "wrong password over AUTH PLAIN")
    res.check(c.closed(), "3 failed logins close the connection")
    c = Raw(srv, tls=True)
    c.line()
    res.check(c.cmd("PASS demo").startswith(b"-ERR"), "PASS without USER")
    # password with spaces: the rest of the line (RFC 1939 §7)
    c.close()


@test(pop3=True, users={"demo": "demo", "sp": "two words here"})
def password_with_spaces(srv, res):
    c = Raw(srv)
    c.line()
    c.cmd("USER sp")
    res.eq(c.cmd("PASS two words here"), b"+OK Logged in.", "PASS with spaces")
    c.cmd("QUIT")


@test(pop3=True, users={"demo": "demo", "pena": "contrase\u00f1a \u7530\u4e2d"})
def password_utf8(srv, res):
    """USER/PASS and AUTH PLAIN with a UTF-8 password (issue 13)."""
    pw = "contrase\u00f1a \u7530\u4e2d".encode()
    c = Raw(srv)
    c.line()
    c.cmd("USER pena")
    res.eq(c.cmd(b"PASS " + pw), b"+OK Logged in.", "PASS with UTF-8")
    c.cmd("QUIT")
    c = Raw(srv)
    c.line()
    r = c.cmd("AUTH PLAIN " + base64.b64encode(b"\0pena\0" + pw).decode())
    res.check(r.startswith(b"+OK"), "AUTH PLAIN with UTF-8: %r" % r)
    c.cmd("QUIT")


@test(pop3=True)
def in_use(srv, res):
    import poplib
    p1 = srv.pop3()
    try:
        srv.pop3()
        res.fail("a second POP3 session got the mailbox")
    except poplib.error_proto as e:
        res.check(b"[IN-USE]" in e.args[0], "second session: %r" % e.args[0])
    p1.quit()
    p3 = srv.pop3s()
    res.check(p3.stat()[0] == 21, "after QUIT the mailbox is free again")
    p3.quit()


@test(pop3=True)
def dropped_connection(srv, res):
    c = Raw(srv)
    c.login()
    res.eq(c.cmd("DELE 1"), b"+OK Marked to be deleted.", "DELE 1")
    res.eq(c.cmd("DELE 2"), b"+OK Marked to be deleted.", "DELE 2")
    c.sock.shutdown(socket.SHUT_WR)	# EOF without QUIT
    res.check(c.closed(), "server closes after EOF")
    c.close()
    time.sleep(0.3)
    res.eq(len(srv.maildir_files()), 21, "a dropped connection deletes nothing")
    c = Raw(srv)
    c.login()
    c.cmd("DELE 1")
    c.close()	# reset without EOF handshake
    time.sleep(0.5)
    res.eq(len(srv.maildir_files()), 21, "a reset connection deletes nothing")
    p = srv.pop3()
    res.eq(p.stat()[0], 21, "all messages still listed")
    p.quit()


@test(pop3=True)
def large_message(srv, res):
    # 4 MB with bare LF, CRLF, dot lines and a missing final line end: streamed
    parts = [b"Subject: big\nFrom: a@b\n\n"]
    for i in range(60000):
        parts.append(b".dot line %d\n" % i if i % 3 == 0 else b"line %d ....\r\n" % i)
    parts.append(b"." * 70000 + b"\nno final newline")
    data = b"".join(parts)
    srv.store("demo", data)
    want = bt.crlf(data) + b"\r\n"
    c = Raw(srv, timeout=20)
    c.login()
    stat = c.cmd("STAT")
    n = int(stat.split()[1])
    res.eq(c.cmd("LIST %d" % n), b"+OK %d %d" % (n, len(want) - 2), "LIST size = CRLF size")
    c.send(b"RETR %d\r\nNOOP\r\n" % n)
    res.eq(c.line(), b"+OK %d octets" % (len(want) - 2), "RETR status")
    time.sleep(0.5)	# let the server hit the output high-water mark
    got = b"".join(ln + b"\r\n" for ln in c.multi())
    res.eq(len(got), len(want), "RETR length")
    res.check(got == want, "RETR content (dot-unstuffed) equals the CRLF message")
    res.eq(c.line(), b"+OK", "pipelined NOOP answered after the stream")
    res.eq(c.cmd("TOP %d 3" % n), b"+OK", "TOP")
    res.eq(c.multi(), [b"Subject: big", b"From: a@b", b"", b".dot line 0", b"line 1 ....",
                       b"line 2 ...."], "TOP 3 lines, dot-unstuffed")
    c.cmd("QUIT")


@test(pop3=True)
def imap_sees_pop3(srv, res):
    m = srv.imap()
    typ, data = m.select("INBOX")
    res.eq(typ, "OK", "IMAP SELECT")
    # \Deleted in IMAP (not expunged): POP3 still lists it, as Dovecot does
    m.store("2", "+FLAGS", "(\\Deleted)")
    typ, data = m.fetch("1:*", "(UID FLAGS)")
    flags = {int(x.split()[0]): x for x in data if isinstance(x, bytes)}
    unseen = [i for i, x in sorted(flags.items()) if b"\\Seen" not in x and i > 2]
    p = srv.pop3()
    res.eq(p.stat()[0], 21, "POP3 lists the \\Deleted message too")
    k = unseen[0]
    p.retr(k)
    p.dele(1)
    p.quit()
    typ, data = m.noop()
    exp = m.untagged_responses.pop("EXPUNGE", [])
    res.eq(exp, [b"1"], "POP3 DELE 1 + QUIT is * 1 EXPUNGE in the IMAP session")
    typ, data = m.fetch("%d" % (k - 1), "(FLAGS)")
    res.check(b"\\Seen" in data[0], "RETR set \\Seen at QUIT: %r" % data[0])
    m.logout()
    res.eq(len(srv.maildir_files()), 20, "one file gone")


# ---- interop ---------------------------------------------------------------------------

@test(pop3=True)
def poplib_interop(srv, res):
    import poplib
    fx = fixtures_crlf()
    p = srv.pop3()		# STLS (certificate verified), USER, PASS
    res.check(p.getwelcome().startswith(b"+OK"), "welcome")
    count, size = p.stat()
    uidl1 = dict(x.split() for x in p.uidl()[1])
    r = p.top(3, 1)
    res.check(r[0].startswith(b"+OK"), "TOP")
    hdr, body = b"\r\n".join(r[1]).split(b"\r\n\r\n", 1)
    res.check(len(body.split(b"\r\n")) == 1, "TOP 3 1: one body line")
    got = b"\r\n".join(p.retr(3)[1]) + b"\r\n"
    res.check(got in fx, "RETR 3 is a fixture byte-exact")
    res.check(got.startswith(hdr), "TOP header = RETR header")
    p.dele(3)
    p.dele(4)
    p.quit()
    p = srv.pop3s()
    res.eq(p.stat()[0], count - 2, "two fewer messages")
    uidl2 = dict(x.split() for x in p.uidl()[1])
    res.eq(set(uidl2.values()), set(uidl1.values()) - {uidl1[b"3"], uidl1[b"4"]},
           "UIDLs of the remaining messages unchanged")
    p.quit()
    # a session open (with a DELE) while the server shuts down: nothing is deleted
    p = srv.pop3s()
    p.dele(1)
    restart(srv)
    try:
        p.close()
    except OSError:
        pass
    p = srv.pop3()
    uidl3 = dict(x.split() for x in p.uidl()[1])
    res.eq(uidl3, uidl2, "UIDLs stable across a restart; a shutdown deletes nothing")
    p.quit()
    try:
        srv.pop3(password="wrong")
        res.fail("wrong password accepted")
    except poplib.error_proto as e:
        res.eq(e.args[0], b"-ERR [AUTH] Authentication failed.", "poplib wrong password")


@test(pop3=True, config=["pop3_uidl_format = %u-%v"])
def uidl_format(srv, res):
    p = srv.pop3()
    u = dict(x.split() for x in p.uidl()[1])
    res.check(re.fullmatch(rb"1-\d+", u[b"1"]), "pop3_uidl_format %%u-%%v: %r" % u[b"1"])
    p.quit()


def curl(*args):
    cmd = ["curl", "-sS", "--max-time", "20"] + list(args)
    sys.stderr.write("$ %s\n" % " ".join(cmd))
    r = subprocess.run(cmd, capture_output=True, timeout=40)
    if r.returncode != 0:
        sys.stderr.write("curl exit %d: %s\n" % (r.returncode, r.stderr.decode(errors="replace")))
    return r


@test(pop3=True)
def curl_interop(srv, res):
    if not res.check(shutil.which("curl"), "curl installed (scripts/install-deps.sh check)"):
        return
    fx = fixtures_crlf()
    base = "pop3s://127.0.0.1:%d" % srv.pop3s_port
    r = curl("--cacert", srv.cert, "-u", "demo:demo", base + "/")
    res.eq(r.returncode, 0, "curl pop3s LIST")
    lines = r.stdout.decode().split("\r\n")
    res.eq(len([ln for ln in lines if ln]), 21, "curl lists 21 messages")
    r = curl("--cacert", srv.cert, "-u", "demo:demo", base + "/2")
    res.eq(r.returncode, 0, "curl pop3s RETR 2")
    res.check(r.stdout in fx, "curl RETR 2 is a fixture byte-exact (%d bytes)" % len(r.stdout))
    r = curl("--ssl-reqd", "--cacert", srv.cert, "-u", "demo:demo",
             "pop3://127.0.0.1:%d/1" % srv.pop3_port)
    res.eq(r.returncode, 0, "curl pop3 + STLS RETR 1")
    res.check(r.stdout in fx, "curl STLS RETR 1 byte-exact")
    r = curl("--cacert", srv.cert, "-u", "demo:bad", base + "/")
    res.check(r.returncode != 0, "curl with a wrong password fails")


@test(pop3=True)
def fetchmail_interop(srv, res):
    if not res.check(shutil.which("fetchmail"), "fetchmail installed (scripts/install-deps.sh check)"):
        return
    fx = [bt.lf(f["data"]) for f in bt.fixture_messages()]
    home = os.path.join(srv.tmp, "fm")
    out = os.path.join(home, "out")
    os.makedirs(out)
    mda = os.path.join(home, "mda.sh")
    with open(mda, "w") as f:
        f.write('#!/bin/sh\ncat > "%s/msg.$$.$(date +%%s%%N)"\n' % out)
    os.chmod(mda, 0o755)

    def run(keep):
        rc = os.path.join(home, "fetchmailrc")
        with open(rc, "w") as f:
            f.write('set no syslog\n'
                    'poll 127.0.0.1 with proto POP3 service %d timeout 20\n'
                    '  user "demo" there with password "demo" is "root" here\n'
                    '  options ssl sslcertck sslcertfile "%s" sslcommonname "localhost" fetchall %s\n'
                    '  mda "%s"\n' % (srv.pop3s_port, srv.cert, "keep" if keep else "nokeep", mda))
        os.chmod(rc, 0o600)
        env = dict(os.environ, HOME=home, FETCHMAILHOME=home)
        cmd = ["fetchmail", "-f", rc, "--nodetach", "--pidfile", os.path.join(home, "pid"),
               "-v"]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env)
        sys.stderr.write("fetchmail exit %d\n%s\n%s\n" % (r.returncode, r.stdout[-3000:],
                                                            r.stderr[-3000:]))
        return r

    def fetched():
        msgs = []
        for n in sorted(os.listdir(out)):
            with open(os.path.join(out, n), "rb") as f:
                msgs.append(f.read())
        return msgs

    r = run(keep=True)
    res.eq(r.returncode, 0, "fetchmail --keep exit status")
    got = fetched()
    res.eq(len(got), 21, "fetchmail --keep delivered every message")
    res.check(all(any(m.endswith(f[-300:]) or f[-300:] in m for m in got) for f in fx),
              "every fixture arrived whole")
    res.eq(len(srv.maildir_files()), 21, "--keep left the mailbox as it was")
    r = run(keep=False)
    res.eq(r.returncode, 0, "fetchmail (deleting) exit status")
    res.eq(len(fetched()), 42, "the second run delivered every message again")
    res.eq(len(srv.maildir_files()), 0, "the second run deleted everything")
    p = srv.pop3()
    res.eq(p.stat(), (0, 0), "POP3 STAT on the emptied mailbox")
    p.quit()


# ---- driver ---------------------------------------------------------------------------

def run_one(name, fn, opts):
    return bt.run_case(name, fn, bt.Server(**opts))


if __name__ == "__main__":
    sys.exit(bt.suite_main(__doc__, TESTS, run_one))
