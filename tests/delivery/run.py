#!/usr/bin/env python3
"""Delivery tests: LMTP dialogues, `buzon deliver`, `buzon import mbox`, fault injection,
and a real Postfix (Debian's) run as a private instance in three setups.  Python 3
stdlib only, against real servers on 127.0.0.1 high ports (tests/lib/buzontest.py).

  run.py [--buzon PATH] [-v] [NAME...]

Prints one line per case: "PASS name", "FAIL name: why" or "SKIP name: why", then
"N passed, M failed" (skips count as neither).  Exit status 1 if anything failed.
Cases that need root (tmpfs, useradd, Postfix) print SKIP when not run as root.

Decided behaviour checked here: only CRLF "." CRLF ends DATA; a message with a bare
LF is refused with 554 5.6.0 for every recipient (no MTA sends one; it is how SMTP
smuggling starts), a bare CR inside a line is kept as data.
"""
import argparse
import email.utils
import imaplib
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "lib"))
import buzontest  # noqa: E402
from postfixtest import Postfix, write_sendmail  # noqa: E402

ROOT = os.getuid() == 0
VERBOSE = False
RESULTS = {"pass": 0, "fail": 0, "skip": 0}


class Skip(Exception):
    pass


class Fail(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Fail(what)


def eq(got, want, what):
    if got != want:
        raise Fail("%s: got %r, want %r" % (what, buzontest._short(got), buzontest._short(want)))


def run_case(name, fn, *args):
    t0 = time.monotonic()
    try:
        fn(*args)
        print("PASS %s (%.1fs)" % (name, time.monotonic() - t0))
        RESULTS["pass"] += 1
    except Skip as e:
        print("SKIP %s: %s" % (name, e))
        RESULTS["skip"] += 1
    except Fail as e:
        print("FAIL %s: %s" % (name, str(e).replace("\n", " ")[:400]))
        RESULTS["fail"] += 1
    except Exception as e:
        traceback.print_exc()
        print("FAIL %s: %s: %s" % (name, type(e).__name__, str(e).replace("\n", " ")[:400]))
        RESULTS["fail"] += 1
    sys.stdout.flush()


# ---------------------------------------------------------------- LMTP client

class Lmtp:
    """A raw LMTP client: sends bytes, reads replies (lists of lines)."""

    def __init__(self, port, host="127.0.0.1", timeout=15):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.f = self.sock.makefile("rb")
        self.greeting = self.reply()

    def reply(self):
        lines = []
        while True:
            line = self.f.readline()
            if not line:
                raise Fail("connection closed; replies so far %r" % lines)
            line = line.decode("latin-1").rstrip("\r\n")
            lines.append(line)
            if len(line) < 4 or line[3] != "-":
                return lines

    def code(self):
        r = self.reply()
        return r[-1]

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def cmd(self, line):
        self.send(line + "\r\n")
        return self.code()

    def closed(self, timeout=5):
        self.sock.settimeout(timeout)
        try:
            return self.f.read() == b""
        except (socket.timeout, TimeoutError):	# before OSError: it is one
            return False
        except OSError:
            return True

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def lmtp_send(port, sender, rcpts, body):
    """One whole transaction; returns (rcpt replies, data replies)."""
    c = Lmtp(port)
    try:
        check(c.cmd("LHLO test.example").startswith("250 "), "LHLO")
        check(c.cmd("MAIL FROM:<%s>" % sender).startswith("250 "), "MAIL")
        rr = [c.cmd("RCPT TO:<%s>" % r) for r in rcpts]
        ok = [r for r, rep in zip(rcpts, rr) if rep.startswith("250")]
        dr = []
        if ok:
            check(c.cmd("DATA").startswith("354 "), "DATA")
            c.send(body)
            dr = [c.code() for _ in ok]
        c.cmd("QUIT")
        return rr, dr
    finally:
        c.close()


def wire(msg_lf):
    """A message with LF line ends -> the DATA stream (CRLF, dot-stuffed, final dot)."""
    out = []
    for line in msg_lf.split(b"\n")[:-1] if msg_lf.endswith(b"\n") else msg_lf.split(b"\n"):
        if line.startswith(b"."):
            line = b"." + line
        out.append(line + b"\r\n")
    return b"".join(out) + b".\r\n"


def msg(subject, body=b"hello\n"):
    return (b"From: Sender <s@example.net>\nTo: demo@example.org\nSubject: " +
            subject.encode() + b"\nMessage-ID: <" + subject.encode() + b"@test>\n\n" + body)


def maildir_msgs(path):
    """{subdir: [file names]} of new/ and cur/ of a Maildir."""
    out = {}
    for sub in ("new", "cur"):
        try:
            out[sub] = sorted(os.listdir(os.path.join(path, sub)))
        except FileNotFoundError:
            out[sub] = []
    return out


def basenames(path):
    """Message file names of new/ and cur/ without the :2,flags part (a sync may move
    files from new/ to cur/)."""
    m = maildir_msgs(path)
    return sorted(n.split(":")[0] for n in m["new"] + m["cur"])


def count_msgs(path):
    m = maildir_msgs(path)
    return len(m["new"]) + len(m["cur"])


def find_file_with(path, needle):
    hits = []
    for sub in ("new", "cur"):
        d = os.path.join(path, sub)
        if not os.path.isdir(d):
            continue
        for n in os.listdir(d):
            with open(os.path.join(d, n), "rb") as f:
                if needle in f.read():
                    hits.append(os.path.join(d, n))
    return hits


def wait_for(fn, timeout=10.0, step=0.05):
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v or time.monotonic() > deadline:
            return v
        time.sleep(step)


def imap_fetch_all(srv, user="demo", password=None, folder="INBOX", imaps=False):
    """[(uid, flags string, internaldate string, body bytes)] of a folder, over IMAP."""
    m = srv.imaps(user, password) if imaps else srv.imap(user, password)
    try:
        typ, _ = m.select('"%s"' % folder, readonly=True)
        eq(typ, "OK", "SELECT %s" % folder)
        typ, data = m.uid("FETCH", "1:*", "(UID FLAGS INTERNALDATE BODY.PEEK[])")
        eq(typ, "OK", "FETCH")
        out = []
        for item in data:
            if not isinstance(item, tuple):
                continue
            head = item[0].decode("latin-1")
            uid = int(re.search(r"UID (\d+)", head).group(1))
            flags = re.search(r"FLAGS \(([^)]*)\)", head).group(1)
            idate = re.search(r'INTERNALDATE "([^"]*)"', head).group(1)
            out.append((uid, flags, idate, item[1]))
        return sorted(out)
    finally:
        try:
            m.logout()
        except Exception:
            pass


def lmtp_pids(srv):
    """pids of the server's LMTP processes."""
    pids = []
    for p in srv.session_pids():
        try:
            with open("/proc/%d/cmdline" % p, "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if b"--role" in argv and b"lmtp" in argv:
            pids.append(p)
    return pids


def wait_lmtp_ready(port, timeout=15):
    def ok():
        try:
            c = Lmtp(port, timeout=3)
            g = c.greeting[-1]
            c.cmd("QUIT")
            c.close()
            return g.startswith("220 ")
        except (OSError, Fail):
            return False
    return wait_for(ok, timeout, 0.2)


def deliver_cli(srv, args, data, timeout=30):
    return subprocess.run([srv.buzon, "deliver", "-c", srv.config_path] + args, input=data,
                          capture_output=True, timeout=timeout, env=srv.env())


# ---------------------------------------------------------------- LMTP dialogues

def t_lhlo_caps(srv):
    c = Lmtp(srv.lmtp_port)
    check(re.match(r"220 \S+ buzon LMTP ready$", c.greeting[-1]), "greeting %r" % c.greeting)
    c.send("LHLO client.example\r\n")
    r = c.reply()
    caps = [x[4:] for x in r]
    check(r[-1].startswith("250 ") and all(x.startswith("250") for x in r), "LHLO reply %r" % r)
    for want in ("PIPELINING", "ENHANCEDSTATUSCODES", "8BITMIME", "SIZE 1048576"):
        check(want in caps, "LHLO lacks %s: %r" % (want, caps))
    check(not any(x.startswith(("STARTTLS", "CHUNKING", "SMTPUTF8", "DSN")) for x in caps),
          "LHLO offers too much: %r" % caps)
    eq(c.cmd("NOOP")[:3], "250", "NOOP")
    eq(c.cmd("VRFY demo")[:9], "252 2.5.0", "VRFY")
    eq(c.cmd("QUIT")[:3], "221", "QUIT")
    check(c.closed(), "connection open after QUIT")


def t_unknown_user(srv):
    rr, dr = lmtp_send(srv.lmtp_port, "s@example.net", ["nosuchuser@example.org"], b"")
    check(rr[0].startswith("550 5.1.1 <nosuchuser@example.org>"), "RCPT reply %r" % rr)


def t_two_rcpts_one_unknown(srv):
    before = count_msgs(srv.maildir("alice"))
    rr, dr = lmtp_send(srv.lmtp_port, "s@example.net",
                       ["alice@example.org", "ghost@example.org"], wire(msg("two-rcpts")))
    check(rr[0].startswith("250 2.1.5") and rr[1].startswith("550 5.1.1"), "RCPT %r" % rr)
    eq(len(dr), 1, "one DATA reply per accepted recipient")
    check(dr[0].startswith("250 2.0.0 <alice@example.org>"), "DATA reply %r" % dr)
    eq(count_msgs(srv.maildir("alice")), before + 1, "alice's messages")
    check(find_file_with(srv.maildir("alice"), b"Subject: two-rcpts"), "message on disk")


def _remove_user(srv, name):
    with open(srv.passwd_file) as f:
        lines = [l for l in f if not l.startswith(name + ":")]
    with open(srv.passwd_file, "w") as f:
        f.writelines(lines)


def t_user_removed_after_rcpt(srv):
    """A recipient accepted at RCPT is delivered at DATA even if the user was removed in
    between (the master keeps auth's RCPT answer for the DATA), but a reload drops what
    the master kept: then the removal counts at DATA (5.1.1), and a new RCPT refuses."""
    srv.add_user("carol", "carol")
    srv.make_maildir("carol")
    c = Lmtp(srv.lmtp_port)
    try:
        c.cmd("LHLO x")
        c.cmd("MAIL FROM:<s@example.net>")
        check(c.cmd("RCPT TO:<carol@example.org>").startswith("250 "), "RCPT carol")
        _remove_user(srv, "carol")
        check(c.cmd("DATA").startswith("354 "), "DATA")
        c.send(wire(msg("after-removal")))
        r = c.code()
        check(r.startswith("250 2.0.0 <carol@example.org>"), "DATA reply %r" % r)
    finally:
        c.close()
    check(find_file_with(srv.maildir("carol"), b"Subject: after-removal"), "delivered")
    rr, dr = lmtp_send(srv.lmtp_port, "s@example.net", ["carol@example.org"], b"")
    check(rr[0].startswith("550 5.1.1"), "RCPT after removal %r" % rr)
    srv.add_user("dave", "dave")
    srv.make_maildir("dave")
    c = Lmtp(srv.lmtp_port)
    try:
        c.cmd("LHLO x")
        c.cmd("MAIL FROM:<s@example.net>")
        check(c.cmd("RCPT TO:<dave@example.org>").startswith("250 "), "RCPT dave")
        _remove_user(srv, "dave")
        with open(srv.log_path, "rb") as f:
            before = f.read().count(b"reloading configuration")
        srv.cli("reload", "-c", srv.config_path)
        check(wait_for(lambda: open(srv.log_path, "rb").read().count(
            b"reloading configuration") > before), "master reloaded")
        time.sleep(0.2)
        check(c.cmd("DATA").startswith("354 "), "DATA")
        c.send(wire(msg("after-reload")))
        r = c.code()
        check(r.startswith("550 5.1.1"), "DATA reply after reload %r" % r)
        c.cmd("QUIT")	# the session ends: the drained lmtp process can exit
    finally:
        c.f.close()
        c.close()
    check(not os.path.isdir(srv.maildir("dave")) or
          not find_file_with(srv.maildir("dave"), b"Subject: after-reload"), "not delivered")
    # the reload drained the old lmtp process: the next cases expect one again
    check(wait_for(lambda: len(lmtp_pids(srv)) == 1, timeout=30), "old lmtp process gone")


def t_multi_rcpt_order(srv):
    """Three recipients (two users, one twice): three replies in RCPT order."""
    c = Lmtp(srv.lmtp_port)
    c.cmd("LHLO x")
    c.cmd("MAIL FROM:<>")
    for r in ("demo@example.org", "alice@example.org", "demo@example.org"):
        check(c.cmd("RCPT TO:<%s>" % r).startswith("250"), "RCPT %s" % r)
    check(c.cmd("DATA").startswith("354"), "DATA")
    c.send(wire(msg("order")))
    got = [c.code() for _ in range(3)]
    check(got[0].startswith("250 2.0.0 <demo@") and got[1].startswith("250 2.0.0 <alice@") and
          got[2].startswith("250 2.0.0 <demo@"), "replies %r" % got)
    eq(c.cmd("QUIT")[:3], "221", "QUIT")
    eq(len(find_file_with(srv.maildir("demo"), b"Subject: order")), 2, "demo got it twice")
    f = find_file_with(srv.maildir("alice"), b"Subject: order")
    eq(len(f), 1, "alice got it once")
    with open(f[0], "rb") as fh:
        check(fh.read().startswith(b"Return-Path: <>\nDelivered-To: alice@example.org\n"),
              "null sender Return-Path")


def t_pipelining(srv):
    """Everything in one write, as Postfix does with PIPELINING."""
    c = Lmtp(srv.lmtp_port)
    c.send(b"LHLO pipe\r\nMAIL FROM:<p@example.net>\r\nRCPT TO:<demo@example.org>\r\n"
           b"RCPT TO:<nobody@example.org>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\n" +
           wire(msg("pipelined")) +
           b"MAIL FROM:<q@example.net>\r\nRCPT TO:<demo@example.org>\r\nDATA\r\n" +
           wire(msg("pipelined-2")) + b"QUIT\r\n")
    got = [c.reply()[-1] for _ in range(13)]
    codes = [g[:3] for g in got]
    eq(codes, ["250", "250", "250", "550", "250", "354", "250", "250",
               "250", "250", "354", "250", "221"], "reply codes (%r)" % got)
    check(c.closed(), "closed after QUIT")
    check(find_file_with(srv.maildir("demo"), b"Subject: pipelined-2"), "second message")


def t_half_close(srv):
    """A client that sends a whole transaction and QUIT, then shuts down its side,
    still gets every reply and the message is delivered once."""
    c = Lmtp(srv.lmtp_port)
    c.send(b"LHLO half\r\nMAIL FROM:<h@example.net>\r\nRCPT TO:<demo@example.org>\r\n"
           b"DATA\r\n")
    for _ in range(4):
        c.reply()
    c.send(wire(msg("half-close")) + b"QUIT\r\n")
    c.sock.shutdown(socket.SHUT_WR)
    got = [c.code(), c.code()]
    check(got[0].startswith("250 2.0.0") and got[1].startswith("221"), "replies %r" % got)
    check(c.closed(), "closed")
    eq(len(find_file_with(srv.maildir("demo"), b"Subject: half-close")), 1, "delivered once")
    # a half-close in the middle of DATA delivers nothing
    c = Lmtp(srv.lmtp_port)
    c.cmd("LHLO x")
    c.cmd("MAIL FROM:<h@example.net>")
    c.cmd("RCPT TO:<demo@example.org>")
    c.cmd("DATA")
    c.send(b"Subject: half-data\r\n\r\nno end")
    c.sock.shutdown(socket.SHUT_WR)
    check(c.closed(), "closed after a half-close mid-DATA")
    time.sleep(0.2)
    check(not find_file_with(srv.maildir("demo"), b"Subject: half-data"), "partial message stored")


def t_dot_stuffing_imap_exact(srv):
    body = (b"first line\n.line with dot\n..two dots\n.\n. \nend\n" +
            b"8bit: \xc3\xa9t\xc3\xa9\n")
    m = msg("dots", body)
    rr, dr = lmtp_send(srv.lmtp_port, "dots@example.net", ["demo@example.org"], wire(m))
    check(dr and dr[0].startswith("250 2.0.0"), "DATA %r" % dr)
    want = b"Return-Path: <dots@example.net>\nDelivered-To: demo@example.org\n" + m
    files = find_file_with(srv.maildir("demo"), b"Subject: dots")
    eq(len(files), 1, "files")
    with open(files[0], "rb") as f:
        eq(f.read(), want, "file content (LF, unstuffed)")
    got = [x for x in imap_fetch_all(srv) if b"Subject: dots" in x[3]]
    eq(len(got), 1, "IMAP messages")
    eq(got[0][3], want.replace(b"\n", b"\r\n"), "BODY[] over IMAP")


def t_size_limit(srv):
    c = Lmtp(srv.lmtp_port)
    c.cmd("LHLO x")
    r = c.cmd("MAIL FROM:<a@example.net> SIZE=2000000")
    check(r.startswith("552 5.3.4"), "MAIL SIZE over the limit: %r" % r)
    check(c.cmd("MAIL FROM:<a@example.net> SIZE=1000").startswith("250"), "MAIL")
    check(c.cmd("RCPT TO:<demo@example.org>").startswith("250"), "RCPT")
    check(c.cmd("RCPT TO:<alice@example.org>").startswith("250"), "RCPT 2")
    check(c.cmd("DATA").startswith("354"), "DATA")
    big = msg("too-big", (b"x" * 70 + b"\n") * 16000)	# ~1.1 MB > 1 MiB
    c.send(wire(big))
    got = [c.code(), c.code()]
    check(all(g.startswith("552 5.3.4") for g in got), "replies %r" % got)
    # the session goes on
    check(c.cmd("MAIL FROM:<a@example.net>").startswith("250"), "MAIL after refusal")
    check(c.cmd("RCPT TO:<demo@example.org>").startswith("250"), "RCPT after refusal")
    check(c.cmd("DATA").startswith("354"), "DATA after refusal")
    c.send(wire(msg("after-too-big")))
    check(c.code().startswith("250 2.0.0"), "small message after refusal")
    c.cmd("QUIT")
    check(not find_file_with(srv.maildir("demo"), b"Subject: too-big"), "nothing stored")


def t_rcpt_limit(srv):
    """1000 recipients per transaction (RFC 5321 4.5.3.1.8 wants >= 100), then 452 4.5.3."""
    c = Lmtp(srv.lmtp_port)
    c.cmd("LHLO x")
    c.cmd("MAIL FROM:<many@example.net>")
    c.send("".join("RCPT TO:<demo@example.org>\r\n" for _ in range(1001)))
    got = [c.code() for _ in range(1001)]
    eq(sum(1 for g in got if g.startswith("250 2.1.5")), 1000, "accepted recipients")
    check(got[-1].startswith("452 4.5.3"), "the 1001st: %r" % got[-1])
    eq(c.cmd("RSET")[:3], "250", "RSET")
    eq(c.cmd("QUIT")[:3], "221", "QUIT")


def t_rset(srv):
    c = Lmtp(srv.lmtp_port)
    c.cmd("LHLO x")
    c.cmd("MAIL FROM:<a@example.net>")
    c.cmd("RCPT TO:<demo@example.org>")
    eq(c.cmd("RSET")[:9], "250 2.0.0", "RSET")
    check(c.cmd("DATA").startswith("503"), "DATA after RSET needs MAIL")
    check(c.cmd("RCPT TO:<demo@example.org>").startswith("503"), "RCPT after RSET")
    check(c.cmd("MAIL FROM:<a@example.net>").startswith("250"), "MAIL after RSET")
    check(c.cmd("MAIL FROM:<a@example.net>").startswith("503"), "nested MAIL")
    check(c.cmd("DATA").startswith("503 5.5.1"), "DATA without recipients (RFC 2033 4.2)")
    c.cmd("QUIT")


def t_bad_commands(srv):
    c = Lmtp(srv.lmtp_port)
    check(c.cmd("HELO x").startswith("500"), "HELO refused (LMTP needs LHLO)")
    check(c.cmd("EHLO x").startswith("500"), "EHLO refused")
    check(c.cmd("MAIL FROM:<a@example.net>").startswith("503"), "MAIL before LHLO")
    c.cmd("LHLO x")
    check(c.cmd("STARTTLS").startswith("502"), "STARTTLS not offered")
    check(c.cmd("BDAT 10 LAST").startswith("502"), "BDAT not offered")
    check(c.cmd("MAIL FROM:<a@example.net> SMTPUTF8").startswith("555"), "unknown param")
    check(c.cmd("RCPT TO:<demo@example.org>").startswith("503"), "RCPT before MAIL")
    check(c.cmd("MAIL FROM:<a b@example.net>").startswith("501 5.1.7"), "bad sender syntax")
    check(c.cmd("FOO").startswith("500 5.5.2"), "unknown verb")
    check(c.cmd("RCPT TO:<\x01@x>").startswith("500"), "control character")
    # 10 bad commands close the session
    replies = []
    for i in range(10):
        c.send("XYZZY\r\n")
        r = c.reply()
        replies.append(r[-1])
        if r[-1].startswith("421"):
            break
    check(replies[-1].startswith("421"), "421 after too many errors: %r" % replies)
    check(c.closed(), "closed after 421")
    # a line over 4 KiB
    c = Lmtp(srv.lmtp_port)
    c.send(b"NOOP " + b"a" * 5000 + b"\r\n")
    check(c.code().startswith("500 5.5.2"), "long line refused")
    check(c.closed(), "closed after a long line")


def t_smuggling(srv):
    """Bare LF / bare CR "." sequences do not end DATA; the commands hidden behind them
    are not run; a bare LF message is refused, a bare CR one stored."""
    c = Lmtp(srv.lmtp_port)
    c.cmd("LHLO x")
    c.cmd("MAIL FROM:<a@example.net>")
    c.cmd("RCPT TO:<demo@example.org>")
    check(c.cmd("DATA").startswith("354"), "DATA")
    c.send(b"Subject: smuggle-lf\r\n\r\nhello\n.\nMAIL FROM:<evil@example.net>\r\n"
           b"RCPT TO:<alice@example.org>\r\nDATA\r\nSubject: smuggled\r\n\r\nx\r\n.\r\n")
    r = c.code()
    check(r.startswith("554 5.6.0"), "bare LF message refused: %r" % r)
    check(c.cmd("NOOP").startswith("250"), "session in command state afterwards")
    # bare CR "." bare CR
    c.cmd("MAIL FROM:<a@example.net>")
    c.cmd("RCPT TO:<demo@example.org>")
    check(c.cmd("DATA").startswith("354"), "DATA 2")
    c.send(b"Subject: smuggle-cr\r\n\r\nhello\r.\rRSET\r\n.\r\n")
    r = c.code()
    check(r.startswith("250 2.0.0"), "bare CR kept as data: %r" % r)
    # "\r\n.\n" is not an end either
    c.cmd("MAIL FROM:<a@example.net>")
    c.cmd("RCPT TO:<demo@example.org>")
    c.cmd("DATA")
    c.send(b"Subject: smuggle-dotlf\r\n\r\nhello\r\n.\nQUIT\r\n.\r\n")
    r = c.code()
    check(r.startswith("554 5.6.0"), "CRLF.LF does not end DATA: %r" % r)
    c.cmd("QUIT")
    check(not find_file_with(srv.maildir("alice"), b"Subject: smuggled"), "smuggled message")
    check(not find_file_with(srv.maildir("demo"), b"smuggle-lf"), "bare LF message stored")
    files = find_file_with(srv.maildir("demo"), b"Subject: smuggle-cr")
    eq(len(files), 1, "bare CR message")
    with open(files[0], "rb") as f:
        check(f.read().endswith(b"\nhello\r.\rRSET\n"), "bare CR content")


def t_idle_sees_delivery(srv):
    m = srv.imap("demo")
    try:
        m.select("INBOX")
        tag = m._new_tag().decode()
        m.send(("%s IDLE\r\n" % tag).encode())
        check(m.readline().startswith(b"+"), "IDLE continuation")
        t0 = time.monotonic()
        rr, dr = lmtp_send(srv.lmtp_port, "s@example.net", ["demo@example.org"],
                           wire(msg("idle")))
        check(dr and dr[0].startswith("250"), "delivery %r" % dr)
        m.sock.settimeout(2.0)
        seen = False
        while time.monotonic() - t0 < 2.0:
            try:
                line = m.readline()
            except (socket.timeout, TimeoutError):
                break
            if re.match(rb"\* \d+ EXISTS", line):
                seen = True
                break
        check(seen, "no EXISTS within 2 s of the 250")
        m.sock.settimeout(10)
        m.send(b"DONE\r\n")
        while not m.readline().startswith(tag.encode()):
            pass
    finally:
        try:
            m.logout()
        except Exception:
            pass


def t_detail_folder(srv):
    m = srv.imap("demo")
    try:
        eq(m.create("Work")[0], "OK", "CREATE Work")
    finally:
        m.logout()
    rr, dr = lmtp_send(srv.lmtp_port, "s@example.net", ["demo+Work@example.org"],
                       wire(msg("detail-work")))
    check(rr[0].startswith("250") and dr and dr[0].startswith("250"), "delivery %r %r" % (rr, dr))
    rr, dr = lmtp_send(srv.lmtp_port, "s@example.net", ["demo+Nope@example.org"],
                       wire(msg("detail-nope")))
    check(dr and dr[0].startswith("250"), "delivery 2 %r" % dr)
    got = [x for x in imap_fetch_all(srv, folder="Work") if b"detail-work" in x[3]]
    eq(len(got), 1, "message in Work")
    check(b"Delivered-To: demo+Work@example.org\r\n" in got[0][3], "Delivered-To keeps +detail")
    check(find_file_with(srv.maildir("demo"), b"Subject: detail-nope"),
          "unknown +detail folder: INBOX")


def t_hostile_recipients(srv):
    """RELIABILITY SEC-32/33: path-like recipients are refused; +detail never leaves the
    Maildir (an invalid folder name falls back to INBOX)."""
    c = Lmtp(srv.lmtp_port)
    c.cmd("LHLO x")
    c.cmd("MAIL FROM:<h@example.net>")
    for bad in ("../x@example.org", "x@../../etc", "a/../b@..", "%2e%2e@example.org\x00",
                "demo+" + "x" * 300 + "@example.org"):
        c.send("RCPT TO:<%s>\r\n" % bad)
        r = c.code()
        check(r[:1] in "45" and not r.startswith("250"), "RCPT %r: %r" % (bad[:40], r))
    c.cmd("QUIT")
    c = Lmtp(srv.lmtp_port)
    c.cmd("LHLO x")
    c.cmd("MAIL FROM:<h@example.net>")
    r = c.cmd("RCPT TO:<demo+%s@example.org>" % ("x" * 10240))
    check(r.startswith("500 5.5.2"), "10 KiB +detail: %r" % r)
    check(c.closed(), "closed after an over-long line")
    before_dirs = sorted(os.listdir(srv.mail_root))
    for rcpt in ("demo+a/b@example.org", "demo+.Sent@example.org", "demo+&AGE-@example.org",
                 "demo+..@example.org", "demo+INBOX@example.org"):
        rr, dr = lmtp_send(srv.lmtp_port, "h@example.net", [rcpt], wire(msg("hostile")))
        check(rr[0][:3] in ("250", "501"), "RCPT %s: %r" % (rcpt, rr))
        if rr[0].startswith("250"):
            check(dr and dr[0].startswith("250"), "%s delivered: %r" % (rcpt, dr))
    eq(sorted(os.listdir(srv.mail_root)), before_dirs, "nothing new next to the Maildirs")
    hits = find_file_with(srv.maildir("demo"), b"Subject: hostile")
    check(len(hits) >= 3, "hostile +details delivered into INBOX: %r" % hits)
    for dirpath, dirs, files in os.walk(srv.maildir("demo")):
        for n in dirs:
            check("/" not in n and n not in ("..",), "odd directory %s" % n)


def t_lmtp_process_identity(srv):
    """RELIABILITY SEC-40: the LMTP process runs as login_user, no capabilities,
    NoNewPrivs, non-dumpable."""
    pids = lmtp_pids(srv)
    eq(len(pids), 1, "one lmtp process")
    with open("/proc/%d/status" % pids[0]) as f:
        st = dict(l.split(":", 1) for l in f.read().splitlines() if ":" in l)
    want = pwd.getpwnam("nobody") if ROOT else pwd.getpwuid(os.getuid())
    eq(st["Uid"].split(), [str(want.pw_uid)] * 4, "Uid")
    eq(st["Gid"].split(), [str(want.pw_gid)] * 4, "Gid")
    if ROOT:
        eq(st["CapEff"].strip(), "0000000000000000", "CapEff")
        eq(st["CapPrm"].strip(), "0000000000000000", "CapPrm")
        eq(st["NoNewPrivs"].strip(), "1", "NoNewPrivs")
        eq(os.readlink("/proc/%d/root" % pids[0]), os.path.join(srv.base_dir, "login"),
           "chroot")



def proc_kib(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def t_nonreader_output_bound(srv):
    """RELIABILITY rule 11: a client that pipelines 20 MB of NOOP and never reads gets
    its input read only while fewer than ~64 KiB of replies are unsent, so the send
    stalls and the LMTP process's memory stays flat; the session then still works."""
    pids = lmtp_pids(srv)
    eq(len(pids), 1, "one lmtp process")
    pid = pids[0]
    rss0 = proc_kib(pid, "VmRSS")
    c = Lmtp(srv.lmtp_port)
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
    chunk = b"NOOP\r\n" * (64 * 1024 // 6)
    total, sent, stalled = 20 * 1000 * 1000, 0, False
    c.sock.settimeout(3)
    try:
        while sent < total:
            n = c.sock.send(chunk)
            sent += n
    except (socket.timeout, TimeoutError):
        stalled = True
    rss1 = proc_kib(pid, "VmRSS")
    check(stalled, "the server read all %d bytes of NOOPs without our reading a reply" % sent)
    # unbounded, 20 MB of NOOP would queue ~47 MB of replies; 16 MiB leaves room for the
    # ASan build's quarantine of freed buffers (the plain build does not grow at all)
    check(rss1 - rss0 < 16 * 1024, "lmtp RSS grew %d KiB (%d -> %d) after %d bytes of NOOP" %
          (rss1 - rss0, rss0, rss1, sent))
    # read what is due: every NOOP is answered, then the session takes commands again
    c.sock.settimeout(30)
    noops = sent // 6
    for i in range(noops):
        line = c.f.readline()
        if line != b"250 2.0.0 OK\r\n":
            raise Fail("reply %d of %d: %r" % (i, noops, line))
    eq(c.cmd("LHLO x")[:3], "250", "LHLO after the flood")
    eq(c.cmd("QUIT")[:3], "221", "QUIT")
    c.close()
    if VERBOSE:
        print("  nonreader: sent %d bytes before the stall, RSS %d -> %d KiB" % (sent, rss0, rss1))

# ---------------------------------------------------------------- buzon deliver

def t_deliver_cli(srv):
    m = msg("lda-basic", b"line\n.dot stays\n")
    r = deliver_cli(srv, ["-d", "demo", "-f", "lda@example.net"], m)
    eq(r.returncode, 0, "exit status (%s)" % r.stderr.decode(errors="replace").strip())
    files = find_file_with(srv.maildir("demo"), b"Subject: lda-basic")
    eq(len(files), 1, "delivered files")
    check("/new/" in files[0] or "/cur/" in files[0], "in new/ or cur/")
    want = b"Return-Path: <lda@example.net>\nDelivered-To: demo\n" + m
    got = [x for x in imap_fetch_all(srv) if b"lda-basic" in x[3]]
    eq(len(got), 1, "over IMAP")
    eq(got[0][3], want.replace(b"\n", b"\r\n"), "BODY[]")
    check("\\Seen" not in got[0][1], "a delivery is unseen")
    # a From_ line and Postfix-style trace headers are not duplicated
    m2 = (b"From lda@example.net  Thu Jan  1 00:00:00 2026\nReturn-Path: <lda@example.net>\n"
          b"X-Original-To: demo@example.org\nDelivered-To: demo@example.org\n" + msg("lda-pf"))
    r = deliver_cli(srv, ["-d", "demo"], m2)
    eq(r.returncode, 0, "exit status 2")
    files = find_file_with(srv.maildir("demo"), b"Subject: lda-pf")
    with open(files[0], "rb") as f:
        eq(f.read(), m2[m2.index(b"\n") + 1:], "From_ line dropped, trace headers kept once")
    # -m FOLDER
    m3 = srv.imap("demo")
    m3.create("Lists")
    m3.logout()
    r = deliver_cli(srv, ["-d", "demo", "-m", "Lists"], msg("lda-folder"))
    eq(r.returncode, 0, "exit status -m")
    check(find_file_with(srv.maildir("demo", "Lists"), b"Subject: lda-folder"), "-m Lists")


def t_deliver_exit_codes(srv):
    r = deliver_cli(srv, ["-d", "nosuchuser"], msg("x"))
    eq(r.returncode, 67, "unknown user")
    r = deliver_cli(srv, ["-d", "demo"], msg("lda-big", b"y" * (1024 * 1024 + 10)))
    eq(r.returncode, 65, "too big")
    check(not find_file_with(srv.maildir("demo"), b"Subject: lda-big"), "big message stored")
    r = subprocess.run([srv.buzon, "deliver", "-c", "/nonexistent/buzon.conf", "-d", "demo"],
                       input=b"x", capture_output=True, timeout=30)
    eq(r.returncode, 78, "bad config")


# ---------------------------------------------------------------- quota

def tmp_files(srv, user):
    return os.listdir(os.path.join(srv.maildir(user), "tmp"))


def notices(srv, user):
    return find_file_with(srv.maildir(user), b"Auto-Submitted: auto-generated")


def t_quota():
    """Maildir++ quota at delivery: LMTP 552 5.2.2 and `buzon deliver` exit 77 over
    quota (452 4.2.2 / 75 with quota_full_tempfail = yes), nothing left in tmp/, the
    warning notice once when a delivery crosses quota_warning, a per-user limit from
    the passwd-file's extra fields, and maildirsize as Dovecot writes it."""
    body = b"x" * 1999 + b"\n"
    for tempfail in (False, True):
        cfg = ["quota_storage = 10K", "quota_warning = 50"]
        if tempfail:
            cfg.append("quota_full_tempfail = yes")
        srv = buzontest.Server(users={"demo": "demo", "small": "small", "imapq": "imapq"},
                               fill=False, lmtp=True, config=cfg, buzon=BUZON)
        try:
            srv.setup()
            # small: 3000 octets from the userdb (Dovecot's rule form), no warning yet
            with open(srv.passwd_file) as f:
                lines = f.read().splitlines()
            with open(srv.passwd_file, "w") as f:
                for ln in lines:
                    if ln.startswith("small:"):
                        ln = ln + ":" * (7 - ln.count(":")) + \
                            " userdb_quota_rule=*:storage=3000B"
                    if ln.startswith("imapq:"):
                        ln = ln + ":" * (7 - ln.count(":")) + "quota_messages=9"
                    f.write(ln + "\n")
            srv.start()
            code = ("452 4.2.2", 75) if tempfail else ("552 5.2.2", 77)
            sizes = []
            for i in range(4):
                rr, dr = lmtp_send(srv.lmtp_port, "s@example.net", ["demo@example.org"],
                                   wire(msg("q%d" % i, body)))
                check(dr and dr[0].startswith("250 "), "delivery %d: %r" % (i, dr))
                sizes.append(i)
                if i == 2:
                    # 3 x ~2.1K: past 50% of 10K, the notice comes once
                    check(wait_for(lambda: len(notices(srv, "demo")) == 1, 10),
                          "one warning notice after crossing 50%")
            eq(len(notices(srv, "demo")), 1, "still one notice after the next delivery")
            with open(notices(srv, "demo")[0], "rb") as f:
                text = f.read()
            check(b"From: Mail Delivery System <MAILER-DAEMON@" in text, "notice From")
            check(re.search(rb"Storage: +\d+ KiB used of 10 KiB", text), "notice text %r" % text)
            # the fifth would pass 10K
            rr, dr = lmtp_send(srv.lmtp_port, "s@example.net", ["demo@example.org"],
                               wire(msg("q-over", body)))
            check(dr and dr[0].startswith(code[0] + " "), "over quota: %r" % dr)
            check(not find_file_with(srv.maildir("demo"), b"Subject: q-over"), "not stored")
            eq(tmp_files(srv, "demo"), [], "tmp/ after the refused delivery")
            r = deliver_cli(srv, ["-d", "demo"], msg("q-lda", body))
            eq(r.returncode, code[1], "deliver exit (%s)" % r.stderr.decode(errors="replace"))
            eq(tmp_files(srv, "demo"), [], "tmp/ after the refused deliver")
            eq(len(notices(srv, "demo")), 1, "no second notice")
            # maildirsize: the limits line as Dovecot writes it, deltas that sum up
            with open(os.path.join(srv.maildir("demo"), "maildirsize")) as f:
                ms = f.read().splitlines()
            eq(ms[0], "10240S", "limits line")
            total = [sum(int(ln.split()[k]) for ln in ms[1:]) for k in (0, 1)]
            eq(total[1], 5, "messages in maildirsize (4 + the notice)")
            eq(total[0], sum(os.path.getsize(p) for p in
                             find_file_with(srv.maildir("demo"), b"Subject: ")), "bytes")
            # the per-user limit: 3000 octets, one ~2.1K message fits, the second not
            rr, dr = lmtp_send(srv.lmtp_port, "s@example.net", ["small@example.org"],
                               wire(msg("s1", body)))
            check(dr and dr[0].startswith("250 "), "small 1: %r" % dr)
            rr, dr = lmtp_send(srv.lmtp_port, "s@example.net", ["small@example.org"],
                               wire(msg("s2", body)))
            check(dr and dr[0].startswith(code[0] + " "), "small 2: %r" % dr)
            # small's first delivery crossed 50% too: its notice may still be committing
            check(wait_for(lambda: len(notices(srv, "small")) == 1, 10), "small's notice")
            check(wait_for(lambda: tmp_files(srv, "small") == [], 10),
                  "tmp/ of small: %r" % tmp_files(srv, "small"))
            with open(os.path.join(srv.maildir("small"), "maildirsize")) as f:
                eq(f.readline().strip(), "3000S", "small's limits line")
            # a login (auth -> master -> a new mail process) carries the user's limits
            m = srv.imap("imapq")
            typ, data = m.getquotaroot("INBOX")
            m.logout()
            eq(typ, "OK", "GETQUOTAROOT")
            eq([bytes(x) for x in data[1]], [b'"" (STORAGE 0 10 MESSAGE 0 9)'],
               "imapq's quota over IMAP")
            # buzon quota get / recalc (recalc leaves one line of totals)
            r = subprocess.run([srv.buzon, "quota", "get", "-c", srv.config_path, "demo"],
                               capture_output=True, timeout=30, env=srv.env())
            eq(r.returncode, 0, "quota get: %r" % r.stderr)
            check(("storage   %d of 10240 " % total[0]).encode() in r.stdout and
                  b"messages  5 (no limit)" in r.stdout, "quota get: %r" % r.stdout)
            r = subprocess.run([srv.buzon, "quota", "recalc", "-c", srv.config_path, "small"],
                               capture_output=True, timeout=30, env=srv.env())
            eq(r.returncode, 0, "quota recalc: %r" % r.stderr)
            with open(os.path.join(srv.maildir("small"), "maildirsize")) as f:
                eq(len(f.read().splitlines()), 2, "maildirsize lines after recalc")
            # an import is not refused for quota (small is at its limit), but counted
            path = os.path.join(srv.tmp, "quota.mbox")
            with open(path, "wb") as f:
                f.write(b"From a@example.org Sat Jan  3 01:05:34 2004\nSubject: imp\n\n" +
                        body + b"\n")
            r = subprocess.run([srv.buzon, "import", "mbox", "-c", srv.config_path, path,
                                "small"], capture_output=True, timeout=60, env=srv.env())
            eq(r.returncode, 0, "import over quota: %r" % r.stderr)
            with open(os.path.join(srv.maildir("small"), "maildirsize")) as f:
                ms = f.read().splitlines()
            eq(ms[1].split()[1], "3", "small's messages counted after the import (s1, "
               "notice, imported)")
            dove = dovecot_quota(srv.maildir("demo"), 10240)
            eq(dove, ((total[0] + 1023) // 1024, True),
               "Dovecot's GETQUOTAROOT on buzon's maildirsize (KiB, file kept)")
        finally:
            problems = srv.stop() if srv.proc else []
        check(not problems, "server: %s" % problems)


def dovecot_quota(maildir, limit_bytes):
    """Dovecot's own reading of buzon's maildirsize: its imap binary, run directly
    (PREAUTH, a private config, the Maildir++ quota backend with the same limit) on a
    copy of the Maildir, answers GETQUOTAROOT. Returns (STORAGE KiB it reports, whether
    it left maildirsize as it was: a file it could not use would be recalculated and
    rewritten)."""
    imap = "/usr/lib/dovecot/imap"
    if not os.path.exists(imap):	# scripts/install-deps.sh check installs dovecot-imapd
        raise Fail("no %s (scripts/install-deps.sh check installs dovecot-imapd)" % imap)
    st = os.stat(maildir)
    d = tempfile.mkdtemp(prefix="buzontest-dove.")
    try:
        md = os.path.join(d, "Maildir")
        shutil.copytree(maildir, md, symlinks=True)
        for sub in ("run", "state", "home"):
            os.makedirs(os.path.join(d, sub))
        for top, dirs, files in os.walk(d):
            for n in dirs + files:
                os.lchown(os.path.join(top, n), st.st_uid, st.st_gid)
        os.chown(d, st.st_uid, st.st_gid)
        conf = os.path.join(d, "dovecot.conf")
        with open(conf, "w") as f:
            f.write("""ssl = no
base_dir = %(d)s/run
state_dir = %(d)s/state
log_path = %(d)s/log
mail_location = maildir:%(m)s:INDEX=MEMORY
mail_plugins = quota
protocol imap {
  mail_plugins = quota imap_quota
}
plugin {
  quota = maildir:User quota
  quota_rule = *:storage=%(b)dB
}
""" % {"d": d, "m": md, "b": limit_bytes})
        with open(os.path.join(md, "maildirsize"), "rb") as f:
            before = f.read()
        env = {"USER": "quotatest", "HOME": os.path.join(d, "home"), "PATH": "/usr/bin:/bin"}
        r = subprocess.run([imap, "-c", conf], input=b"a GETQUOTAROOT INBOX\r\nb LOGOUT\r\n",
                           capture_output=True, timeout=30, env=env, user=st.st_uid,
                           group=st.st_gid, extra_groups=[])
        m = re.search(rb'\* QUOTA "User quota" \(STORAGE (\d+) \d+\)', r.stdout)
        if m is None:
            raise Fail("dovecot imap: %r %r" % (r.stdout[-300:], r.stderr[-300:]))
        with open(os.path.join(md, "maildirsize"), "rb") as f:
            after = f.read()
        return int(m.group(1)), after == before
    finally:
        shutil.rmtree(d, ignore_errors=True)


# ---------------------------------------------------------------- mbox import

MBOX = b"""From alice@example.org Sat Jan  3 01:05:34 2004
From: Alice <alice@example.org>
Subject: first
Status: RO
X-Status: A

Hello.
>From the start of a line.
>>From quoted twice.
> From is not quoted.

From bob@example.org Mon Feb 14 12:00:00 2005
From: Bob <bob@example.org>
Subject: second
Status: O
X-Status: FT

Body two.

From carol@example.org Tue Mar  1 23:59:59 2011
From: Carol <carol@example.org>
Subject: third
X-Status: D

no status: unseen, flags from the other header only
"""


def t_import_mbox(srv):
    path = os.path.join(srv.tmp, "old.mbox")
    with open(path, "wb") as f:
        f.write(MBOX)
    os.chmod(path, 0o600)	# root imports a file the user could not read
    r = subprocess.run([srv.buzon, "import", "mbox", "-c", srv.config_path, path, "demo",
                        "Old"], capture_output=True, timeout=60, env=srv.env())
    eq(r.returncode, 0, "exit status (%s)" % r.stderr.decode(errors="replace").strip())
    check(b"imported 3 messages" in r.stdout, "count printed: %r" % r.stdout)
    got = imap_fetch_all(srv, folder="Old")
    eq(len(got), 3, "messages in Old")
    (u1, f1, d1, b1), (u2, f2, d2, b2), (u3, f3, d3, b3) = got
    eq(sorted(f1.split()), ["\\Answered", "\\Seen"], "flags 1")
    eq(sorted(f2.split()), ["\\Draft", "\\Flagged"], "flags 2")
    eq(sorted(f3.split()), ["\\Deleted"], "flags 3")
    # INTERNALDATE from the From_ line (local time of this host)
    for got_d, (y, mo, d, h, mi, s) in ((d1, (2004, 1, 3, 1, 5, 34)), (d2, (2005, 2, 14, 12, 0, 0)),
                                        (d3, (2011, 3, 1, 23, 59, 59))):
        want = time.mktime((y, mo, d, h, mi, s, 0, 0, -1))
        eq(email.utils.mktime_tz(email.utils.parsedate_tz(got_d)), int(want), "INTERNALDATE")
    eq(b1, (b"From: Alice <alice@example.org>\nSubject: first\n\nHello.\n"
            b"From the start of a line.\n>From quoted twice.\n> From is not quoted.\n"
            ).replace(b"\n", b"\r\n"), "message 1 body")
    check(b"Status:" not in b2 and b"Status:" not in b3, "Status headers dropped: %r %r" % (b2, b3))
    eq(b2, b"From: Bob <bob@example.org>\r\nSubject: second\r\n\r\nBody two.\r\n", "message 2")
    for sub in maildir_msgs(srv.maildir("demo", "Old"))["new"]:
        raise Fail("import wrote into new/: %s" % sub)
    # a second import appends
    r = subprocess.run([srv.buzon, "import", "mbox", "-c", srv.config_path, path, "demo",
                        "Old"], capture_output=True, timeout=60, env=srv.env())
    eq(r.returncode, 0, "second import")
    eq(len(imap_fetch_all(srv, folder="Old")), 6, "messages after the second import")
    r = subprocess.run([srv.buzon, "import", "mbox", "-c", srv.config_path, path, "nosuchuser"],
                       capture_output=True, timeout=60, env=srv.env())
    eq(r.returncode, 67, "unknown user")
    # quiet when stderr is not a terminal (cron, scripts): nothing but errors
    eq(r.stderr.count(b"\r"), 0, "no progress line on a pipe")


def run_on_tty(srv, argv):
    """argv with stderr on a pseudo-terminal: (exit status, stdout, what the tty got)."""
    master, slave = os.openpty()
    try:
        p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=slave, env=dict(
            srv.env(), TERM="xterm"))
        os.close(slave)
        slave = -1
        tty = b""
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:		# EIO: the last writer closed
                break
            if not chunk:
                break
            tty += chunk
        out = p.stdout.read()
        p.wait(timeout=60)
        return p.returncode, out, tty
    finally:
        os.close(master)
        if slave >= 0:
            os.close(slave)


def t_progress(srv):
    """Long administrator commands draw a status line on a terminal and erase it."""
    path = os.path.join(srv.tmp, "many.mbox")
    with open(path, "wb") as f:
        for i in range(250):
            f.write(b"From a@example.org Mon Jan  5 10:00:00 2015\nSubject: m%d\n\nbody\n\n" % i)
    rc, out, tty = run_on_tty(srv, [srv.buzon, "import", "mbox", "-c", srv.config_path, path,
                                    "demo", "Many"])
    eq(rc, 0, "import on a terminal")
    check(b"imported 250 messages" in out, "summary on stdout: %r" % out)
    check(re.search(rb"\rimporting: \d+ messages, \d+%\x1b\[K", tty) is not None,
          "progress line on the terminal: %r" % tty[:200])
    check(tty.endswith(b"\r\x1b[K"), "the line is erased at the end: %r" % tty[-40:])
    # offline (no server at control_socket): the rebuild runs here and draws its line;
    # through a running server the user's mail process does the work and nothing is drawn
    offline = os.path.join(srv.tmp, "offline.conf")
    with open(srv.config_path) as f:
        text = f.read()
    with open(offline, "w") as f:
        f.write(text + "\ncontrol_socket = %s\n" % os.path.join(srv.tmp, "no-server"))
    rc, out, tty = run_on_tty(srv, [srv.buzon, "index", "rebuild", "-c", offline, "demo"])
    eq(rc, 0, "index rebuild on a terminal")
    check(re.search(rb"\rrebuilding: folder 1 of \d+: INBOX\x1b\[K", tty) is not None,
          "rebuild progress: %r" % tty[:200])
    r = subprocess.run([srv.buzon, "index", "rebuild", "-c", srv.config_path, "demo"],
                       capture_output=True, timeout=60, env=srv.env())
    eq((r.returncode, r.stderr), (0, b""), "index rebuild on a pipe is quiet")


# ---------------------------------------------------------------- faults

def t_kill_lmtp_mid_data(srv):
    before = basenames(srv.maildir("demo"))
    pids = lmtp_pids(srv)
    eq(len(pids), 1, "one lmtp process")
    c = Lmtp(srv.lmtp_port)
    c.cmd("LHLO x")
    c.cmd("MAIL FROM:<k@example.net>")
    c.cmd("RCPT TO:<demo@example.org>")
    check(c.cmd("DATA").startswith("354"), "DATA")
    m = msg("killed-lmtp", (b"z" * 60 + b"\n") * 3000)
    stream = wire(m)
    c.send(stream[:len(stream) // 2])
    time.sleep(0.3)
    os.kill(pids[0], signal.SIGKILL)
    check(c.closed(), "connection closed by the kill")
    check(wait_for(lambda: lmtp_pids(srv) and lmtp_pids(srv) != pids, 15), "lmtp respawned")
    check(wait_lmtp_ready(srv.lmtp_port), "lmtp answers again")
    eq(basenames(srv.maildir("demo")), before, "no new file after the kill")
    rr, dr = lmtp_send(srv.lmtp_port, "k@example.net", ["demo@example.org"], stream)
    check(dr and dr[0].startswith("250"), "retry %r" % dr)
    eq(len(find_file_with(srv.maildir("demo"), b"Subject: killed-lmtp")), 1, "delivered once")


def t_kill_deliver_mid_stdin(srv):
    before = basenames(srv.maildir("demo"))
    p = subprocess.Popen([srv.buzon, "deliver", "-c", srv.config_path, "-d", "demo"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=srv.env())
    m = msg("killed-lda", (b"w" * 60 + b"\n") * 4000)
    p.stdin.write(m[:len(m) // 2])
    p.stdin.flush()
    time.sleep(0.5)
    p.kill()
    p.wait()
    p.stdin.close() if not p.stdin.closed else None
    eq(basenames(srv.maildir("demo")), before, "no new file after kill -9")
    r = deliver_cli(srv, ["-d", "demo"], m)
    eq(r.returncode, 0, "retry")
    eq(len(find_file_with(srv.maildir("demo"), b"Subject: killed-lda")), 1, "delivered once")
    # IMAP sees exactly the finished message, no partial one from tmp/
    got = [x for x in imap_fetch_all(srv) if b"killed-lda" in x[3]]
    eq(len(got), 1, "over IMAP")


class SmallDisk:
    """srv.mail_root on a 1 MiB tmpfs (root only: mount -t tmpfs), for the full-disk cases:
    mount() before the Maildirs are made, fill() leaves about `room` octets free and
    returns the filler's path (unlink it to make room again), unmount() in a finally."""

    def __init__(self, srv, label):
        self.srv, self.label, self.mounted = srv, label, False

    def mount(self):
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=755", self.label,
                        self.srv.mail_root], check=True)
        self.mounted = True

    def fill(self, room=100 * 1024):
        st = os.statvfs(self.srv.mail_root)
        free = st.f_bavail * st.f_frsize
        filler = os.path.join(self.srv.mail_root, "filler")
        with open(filler, "wb") as f:
            f.write(b"\0" * max(0, free - room))
        return filler

    def unmount(self):
        if self.mounted:
            subprocess.run(["umount", "-l", self.srv.mail_root])
            shutil.rmtree(self.srv.tmp, ignore_errors=True)
            self.mounted = False


def t_full_disk():
    if not ROOT:
        raise Skip("needs root (mount -t tmpfs)")
    srv = buzontest.Server(users={"demo": "demo"}, fill=False, lmtp=True, canary=False,
                           buzon=BUZON)
    disk = SmallDisk(srv, "buzontest-full")
    try:
        srv.setup()
        disk.mount()
        srv.make_maildir("demo")
        srv.start()
        filler = disk.fill()
        big = msg("full-disk", (b"f" * 70 + b"\n") * 4000)	# ~280 KB
        rr, dr = lmtp_send(srv.lmtp_port, "s@example.net", ["demo@example.org"], wire(big))
        check(rr[0].startswith("250"), "RCPT %r" % rr)
        check(dr and dr[0].startswith("452 4.3.1"), "LMTP on a full disk: %r" % dr)
        r = deliver_cli(srv, ["-d", "demo"], big)
        eq(r.returncode, 75, "buzon deliver on a full disk (%s)" %
           r.stderr.decode(errors="replace").strip())
        eq(maildir_msgs(srv.maildir("demo")), {"new": [], "cur": []}, "nothing in new/ or cur/")
        tmpdir = os.path.join(srv.maildir("demo"), "tmp")
        eq(os.listdir(tmpdir), [], "nothing left in tmp/")
        # space again: the retry works
        os.unlink(filler)
        rr, dr = lmtp_send(srv.lmtp_port, "s@example.net", ["demo@example.org"], wire(big))
        check(dr and dr[0].startswith("250"), "retry with space %r" % dr)
        eq(len(find_file_with(srv.maildir("demo"), b"Subject: full-disk")), 1, "once")
    finally:
        problems = srv.stop() if srv.proc else []
        disk.unmount()
    check(not problems, "server: %s" % problems)


def t_permission_error():
    srv = buzontest.Server(users={"demo": "demo"}, fill=False, lmtp=True, canary=False,
                           buzon=BUZON)
    try:
        srv.setup()
        root = srv.maildir("demo")
        for sub in ("tmp", "new", "cur"):
            if ROOT:
                os.chown(os.path.join(root, sub), 0, 0)
            os.chmod(os.path.join(root, sub), 0o555)
        srv.start()
        rr, dr = lmtp_send(srv.lmtp_port, "s@example.net", ["demo@example.org"],
                           wire(msg("perm")))
        check(rr[0].startswith("250"), "RCPT %r" % rr)
        check(dr and dr[0].startswith("451 4.3.0"), "LMTP with an unwritable Maildir: %r" % dr)
        r = deliver_cli(srv, ["-d", "demo"], msg("perm"))
        eq(r.returncode, 75, "buzon deliver (%s)" % r.stderr.decode(errors="replace").strip())
        for sub in ("tmp", "new", "cur"):
            eq(os.listdir(os.path.join(root, sub)), [], "%s/ stays empty" % sub)
    finally:
        problems = srv.stop() if srv.proc else []
    check(not problems, "server: %s" % problems)



def t_mailroot_symlink():
    """Finding 7: a missing mail root under the user's home is created by the mail
    process *as the user*. The user replaced ~/mail (a component of mail_location
    ~/mail/Maildir) with a symlink to a root-owned directory: after an LMTP delivery, an
    IMAP login and `buzon deliver` run as root, nothing is created or chowned there, and
    each gets a temporary failure. A user whose ~/mail/Maildir is simply missing gets it
    created, owned by the user."""
    if not ROOT:
        raise Skip("needs root (the mail process starts as root and drops to the user)")
    victim = tempfile.mkdtemp(prefix="victim-root-dir.")
    os.chmod(victim, 0o755)
    srv = buzontest.Server(users={}, fill=False, lmtp=True, canary=False, buzon=BUZON,
                           config=["mail_location = maildir:~/mail/Maildir"])
    try:
        srv.setup()
        homes = os.path.join(srv.tmp, "home")
        os.mkdir(homes, 0o755)
        for name in ("eve", "fred"):
            h = os.path.join(homes, name)
            os.mkdir(h, 0o700)
            os.chown(h, srv.uid, srv.gid)
            srv.cli("user", "add", "-c", srv.config_path, "-u", str(srv.uid), "-g",
                    str(srv.gid), "-h", h, name, stdin=name + "\n")
        link = os.path.join(homes, "eve", "mail")
        os.symlink(victim, link)
        os.lchown(link, srv.uid, srv.gid)
        srv.start()

        def victim_untouched(what):
            st = os.stat(victim)
            eq(os.listdir(victim), [], "%s: entries created in the root-owned directory" % what)
            eq((st.st_uid, st.st_gid, st.st_mode & 0o7777), (0, 0, 0o755),
               "%s: owner/mode of the root-owned directory" % what)

        rr, dr = lmtp_send(srv.lmtp_port, "s@example.net", ["eve@example.org"],
                           wire(msg("symlinked-root")))
        check(rr[0].startswith("250"), "RCPT %r" % rr)
        check(dr and dr[0].startswith("451 4.3.0"), "LMTP into a symlinked path: %r" % dr)
        victim_untouched("LMTP")
        try:
            m = srv.imap("eve", "eve")
            try:
                m.logout()
            except Exception:
                pass
            raise Fail("IMAP login of eve succeeded")
        except (imaplib.IMAP4.error, imaplib.IMAP4.abort, OSError) as e:
            check("UNAVAILABLE" in str(e) or isinstance(e, (imaplib.IMAP4.abort, OSError)),
                  "IMAP login refusal: %r" % e)
        victim_untouched("IMAP login")
        r = deliver_cli(srv, ["-d", "eve"], msg("symlinked-root-lda"))
        eq(r.returncode, 75, "buzon deliver as root (%s)" % r.stderr.decode(errors="replace"))
        victim_untouched("buzon deliver")
        check("mail unavailable user=eve" in srv.log_text(), "log line for the failure")
        # the ordinary case: the missing Maildir is created by and for the user
        rr, dr = lmtp_send(srv.lmtp_port, "s@example.net", ["fred@example.org"],
                           wire(msg("fresh-root")))
        check(dr and dr[0].startswith("250 2.0.0"), "LMTP to a missing Maildir: %r" % dr)
        for d in ("mail", "mail/Maildir", "mail/Maildir/new"):
            st = os.lstat(os.path.join(homes, "fred", d))
            eq((st.st_uid, st.st_gid, st.st_mode & 0o7777), (srv.uid, srv.gid, 0o700),
               "owner/mode of ~fred/%s" % d)
        eq(len(find_file_with(os.path.join(homes, "fred", "mail", "Maildir"),
                              b"Subject: fresh-root")), 1, "fred's message")
    finally:
        problems = srv.stop() if srv.proc else []
        shutil.rmtree(victim, ignore_errors=True)
    check(not problems, "server: %s" % problems)

# ---------------------------------------------------------------- Sieve

SIEVE_SCRIPT = b"""require ["fileinto", "imap4flags", "mailbox", "editheader"];
if header :contains "subject" "to-lists" {
  fileinto :flags ["\\\\Seen", "$label1"] "Lists"; stop;
}
if header :contains "subject" "to-new" { fileinto :create "Created"; stop; }
if header :contains "subject" "to-missing" { fileinto "Missing"; stop; }
if header :contains "subject" "drop-me" { discard; stop; }
if header :contains "subject" "redirect-me" { redirect "x@example.net"; stop; }
if header :contains "subject" "edit-me" { addheader "X-Sieve" "edited"; deleteheader "x-junk"; }
"""


def t_sieve():
    """Sieve at delivery (docs/sieve.md, "Delivery"): the user's ~/.dovecot.sieve, a link
    to ~/sieve/main.sieve as Pigeonhole keeps it, over LMTP and `buzon deliver`: fileinto
    with flags lands in the folder, :create makes one, a missing folder and redirect with
    no sendmail_path keep in INBOX (redirect with a line in ~/.dovecot.sieve.log), discard
    stores nothing,
    editheader edits what is stored; a script that does not compile or fails at run time
    keeps in INBOX and says why in the log; a changed script is compiled again; include
    reads ~/sieve; duplicate remembers a Message-ID across deliveries."""
    srv = buzontest.Server(users={}, fill=False, lmtp=True, canary=False, buzon=BUZON,
                           config=["sendmail_path ="])
    try:
        srv.setup()
        home = os.path.join(srv.tmp, "home-siv")
        os.makedirs(os.path.join(home, "sieve"), 0o700)
        ids = ["-u", str(srv.uid), "-g", str(srv.gid)] if ROOT else []
        srv.cli("user", "add", "-c", srv.config_path, *ids, "-h", home, "siv",
                stdin="siv\n")
        srv.make_maildir("siv")
        srv.make_maildir("siv", "Lists")
        script = os.path.join(home, "sieve", "main.sieve")
        with open(script, "wb") as f:
            f.write(SIEVE_SCRIPT)
        os.symlink("sieve/main.sieve", os.path.join(home, ".dovecot.sieve"))
        for dirpath, dirs, files in os.walk(home):
            for n in dirs + files + ["."]:
                if ROOT:
                    os.lchown(os.path.join(dirpath, n), srv.uid, srv.gid)
        srv.start()
        inbox = srv.maildir("siv")
        log = os.path.join(home, ".dovecot.sieve.log")

        def lmtp(subject, extra=b""):
            rr, dr = lmtp_send(srv.lmtp_port, "s@example.net", ["siv@example.org"],
                               wire(msg(subject).replace(b"\n\n", b"\n" + extra + b"\n", 1)))
            check(dr and dr[0].startswith("250"), "%s: LMTP %r %r" % (subject, rr, dr))

        lmtp("to-lists")
        got = [x for x in imap_fetch_all(srv, "siv", "siv", folder="Lists")
               if b"to-lists" in x[3]]
        eq(len(got), 1, "fileinto Lists")
        check("\\Seen" in got[0][1] and "$label1" in got[0][1], "flags %r" % got[0][1])
        check(not find_file_with(inbox, b"Subject: to-lists"), "not in INBOX too")
        lmtp("to-new")
        eq(len(find_file_with(srv.maildir("siv", "Created"), b"Subject: to-new")), 1,
           "fileinto :create")
        lmtp("to-missing")
        eq(len(find_file_with(inbox, b"Subject: to-missing")), 1, "missing folder: INBOX")
        lmtp("drop-me")
        check(not find_file_with(srv.mail_root, b"Subject: drop-me"), "discard")
        lmtp("redirect-me")
        eq(len(find_file_with(inbox, b"Subject: redirect-me")), 1, "redirect: kept")
        check(b"redirect to x@example.net not sent (sendmail_path is empty)" in
              open(log, "rb").read(), "log: redirect")
        lmtp("edit-me", b"X-Junk: yes\n")
        files = find_file_with(inbox, b"Subject: edit-me")
        eq(len(files), 1, "editheader: INBOX")
        data = open(files[0], "rb").read()
        check(b"X-Sieve: edited\n" in data and b"X-Junk" not in data and
              data.startswith(b"Return-Path: <s@example.net>\n"), "edited: %r" % data[:300])
        # buzon deliver runs the same script
        r = deliver_cli(srv, ["-d", "siv", "-f", "lda@example.net"], msg("to-lists-lda"))
        eq(r.returncode, 0, "deliver (%s)" % r.stderr.decode(errors="replace").strip())
        eq(len(find_file_with(srv.maildir("siv", "Lists"), b"Subject: to-lists-lda")), 1,
           "deliver: fileinto Lists")
        r = deliver_cli(srv, ["-d", "siv"], msg("drop-me-lda"))
        eq(r.returncode, 0, "deliver discard")
        check(not find_file_with(srv.mail_root, b"Subject: drop-me-lda"), "deliver: discard")
        # a broken script: INBOX, and the error in the log
        with open(script, "wb") as f:
            f.write(b'require "fileinto";\nfileinto "Lists"\nkeep;\n')
        lmtp("to-lists-broken")
        eq(len(find_file_with(inbox, b"Subject: to-lists-broken")), 1, "broken script: INBOX")
        text = open(log, "rb").read()
        check(b"line 3:1: error" in text and b"does not compile" in text, "log: %r" % text)
        r = deliver_cli(srv, ["-d", "siv"], msg("to-lists-broken-lda"))
        eq(r.returncode, 0, "deliver with a broken script")
        eq(len(find_file_with(inbox, b"Subject: to-lists-broken-lda")), 1,
           "deliver, broken script: INBOX")
        # a run-time error: INBOX, and the error in the log
        with open(script, "wb") as f:
            f.write(b'require ["fileinto", "variables"];\nset "f" "";\nfileinto "${f}";\n')
        lmtp("runtime-error")
        eq(len(find_file_with(inbox, b"Subject: runtime-error")), 1, "run-time error: INBOX")
        check(b"line 3: error: fileinto: invalid folder name" in open(log, "rb").read(),
              "log: run-time error")
        check("run-time error" in srv.log_text(), "server log: run-time error")
        # include (RFC 6609) finds personal scripts in sieve_dir (~/sieve)
        with open(os.path.join(home, "sieve", "lists.sieve"), "wb") as f:
            f.write(b'require "fileinto";\nfileinto "Lists";\n')
        if ROOT:
            os.chown(os.path.join(home, "sieve", "lists.sieve"), srv.uid, srv.gid)
        with open(script, "wb") as f:
            f.write(b'require "include";\ninclude :personal "lists";\n')
        lmtp("included")
        eq(len(find_file_with(srv.maildir("siv", "Lists"), b"Subject: included")), 1,
           "include: Lists")
        # duplicate (RFC 7352): the Message-ID is remembered once the delivery succeeded
        with open(script, "wb") as f:
            f.write(b'require ["duplicate", "fileinto", "mailbox"];\n'
                    b'if duplicate { fileinto :create "Dupes"; }\n')
        lmtp("dup-one")
        lmtp("dup-one")
        r = deliver_cli(srv, ["-d", "siv"], msg("dup-one"))
        eq(r.returncode, 0, "deliver a duplicate")
        eq(len(find_file_with(inbox, b"Subject: dup-one")), 1, "first copy in INBOX")
        eq(len(find_file_with(srv.maildir("siv", "Dupes"), b"Subject: dup-one")), 2,
           "the duplicates in Dupes")
        check(os.path.exists(os.path.join(home, ".dovecot.sieve.dupes")), "duplicate file")
    finally:
        problems = srv.stop() if srv.proc else []
    check(not problems, "server: %s" % problems)


SIEVE_BEFORE = {
    "10-flag.sieve": b'require "imap4flags";\naddflag "\\\\Seen";\n'
                     b'if header :contains "subject" "before-stop" { stop; }\n',
    "20-spam.sieve": b'require "fileinto";\n'
                     b'if header :is "x-spam" "yes" { fileinto "Junk"; }\n',
    "30-broken.sieve": b'fileinto "Nowhere"\n',
    "notes.txt": b'not a script\n',
}
SIEVE_USER_G = b"""require ["fileinto", "imap4flags"];
if header :contains "subject" "user-keep" { keep; }
if header :contains "subject" "user-move" { fileinto "Lists"; }
if header :contains "subject" "before-stop" { addflag "\\\\Flagged"; }
"""
SIEVE_AFTER = b"""require "fileinto";
if exists "x-after" { fileinto "After"; }
"""


def t_sieve_keep():
    """A script that cannot run to its end never loses the message (issue 15, docs/sieve.md):
    an include loop, more actions than the limit, a script over the size limit each
    keep it in INBOX (LMTP 250, said in ~/.dovecot.sieve.log or the server log); a
    fileinto on a full disk is refused with 452 (the MTA retries) and nothing is stored,
    and once there is room again the retry lands in the script's folder (root: tmpfs)."""
    srv = buzontest.Server(users={}, fill=False, lmtp=True, canary=False, buzon=BUZON,
                           config=["sendmail_path ="])
    disk = SmallDisk(srv, "buzontest-kp")
    try:
        srv.setup()
        home = os.path.join(srv.tmp, "home-kp")
        os.makedirs(os.path.join(home, "sieve"), 0o700)
        ids = ["-u", str(srv.uid), "-g", str(srv.gid)] if ROOT else []
        srv.cli("user", "add", "-c", srv.config_path, *ids, "-h", home, "kp", stdin="kp\n")
        if ROOT:
            disk.mount()
        srv.make_maildir("kp")
        srv.make_maildir("kp", "Big")
        link = os.path.join(home, ".dovecot.sieve")
        os.symlink("sieve/main.sieve", link)

        def script(text, name="main.sieve"):
            path = os.path.join(home, "sieve", name)
            with open(path + ".new", "wb") as f:
                f.write(text)
            os.rename(path + ".new", path)	# a new inode: compiled again
            if ROOT:
                os.lchown(path, srv.uid, srv.gid)

        script(b'require "include"; include :personal "a";', "main.sieve")
        script(b'require "include"; include :personal "b";', "a.sieve")
        script(b'require "include"; include :personal "a";', "b.sieve")
        for dirpath, dirs, files in os.walk(home):
            for n in dirs + files + ["."]:
                if ROOT:
                    os.lchown(os.path.join(dirpath, n), srv.uid, srv.gid)
        srv.start()
        inbox = srv.maildir("kp")
        log = os.path.join(home, ".dovecot.sieve.log")

        def lmtp(subject):
            rr, dr = lmtp_send(srv.lmtp_port, "s@example.net", ["kp@example.org"],
                               wire(msg(subject)))
            return dr[0] if dr else repr(rr)

        def kept(subject, why):
            r = lmtp(subject)
            check(r.startswith("250"), "%s: LMTP %r" % (why, r))
            eq(len(find_file_with(inbox, b"Subject: " + subject.encode())), 1,
               "%s: kept in INBOX once" % why)

        kept("loop", "include loop")
        script(b'require "fileinto";\n' +
               b"".join(b'fileinto "F%d";\n' % i for i in range(40)))
        kept("actions", "40 fileinto (over the action limit)")
        script(b"# " + b"x" * (1100 * 1024) + b"\nrequire \"fileinto\"; fileinto \"Big\";\n")
        kept("huge", "a script over 1 MiB")
        text = open(log, "rb").read() if os.path.exists(log) else b""
        check(b"include" in text, "the include loop is in the user's log: %r" % text[-600:])
        check(b"action" in text, "the action limit is in the user's log: %r" % text[-600:])
        if not ROOT:
            return
        # a full disk while filing: 452, nothing stored, and the retry lands in Big
        script(b'require "fileinto"; fileinto "Big";')
        filler = disk.fill()
        big = msg("full-disk-sieve", (b"f" * 70 + b"\n") * 4000)	# ~280 KB
        rr, dr = lmtp_send(srv.lmtp_port, "s@example.net", ["kp@example.org"], wire(big))
        check(dr and dr[0].startswith("452"), "fileinto on a full disk: %r" % dr)
        check(not find_file_with(srv.mail_root, b"Subject: full-disk-sieve"),
              "nothing stored on the full disk")
        for folder in (srv.maildir("kp"), srv.maildir("kp", "Big")):
            eq(os.listdir(os.path.join(folder, "tmp")), [], "nothing left in tmp/")
        os.unlink(filler)
        rr, dr = lmtp_send(srv.lmtp_port, "s@example.net", ["kp@example.org"], wire(big))
        check(dr and dr[0].startswith("250"), "retry with room: %r" % dr)
        eq(len(find_file_with(srv.maildir("kp", "Big"), b"Subject: full-disk-sieve")), 1,
           "the retry is filed into Big")
    finally:
        problems = srv.stop() if srv.proc else []
        disk.unmount()
        check(not problems, "server: %s" % problems)


def t_sieve_global():
    """sieve_before (a directory: its *.sieve in name order) and sieve_after (a file) run
    around the user's script as Pigeonhole's sieve_before/sieve_after (docs/sieve.md,
    "Global scripts"): the next script runs only while the message is kept (implicit or
    explicit keep, which then only lets it run: the last script decides), a stop ends
    only its own script, the imap4flags flags carry over;
    a global script that does not compile is skipped and logged to the server log, not
    to the user's ~/.dovecot.sieve.log; `buzon deliver` runs the same sequence."""
    gdir = tempfile.mkdtemp(prefix="buzontest-sieveglobal.")
    os.chmod(gdir, 0o755)
    before = os.path.join(gdir, "before.d")
    os.mkdir(before)
    for name, text in SIEVE_BEFORE.items():
        with open(os.path.join(before, name), "wb") as f:
            f.write(text)
    after = os.path.join(gdir, "after.sieve")
    with open(after, "wb") as f:
        f.write(SIEVE_AFTER)
    srv = buzontest.Server(users={}, fill=False, lmtp=True, canary=False, buzon=BUZON,
                           config=["sendmail_path =", "sieve_before = " + before,
                                   "sieve_after = " + after])
    try:
        srv.setup()
        home = os.path.join(srv.tmp, "home-glb")
        os.makedirs(os.path.join(home, "sieve"), 0o700)
        ids = ["-u", str(srv.uid), "-g", str(srv.gid)] if ROOT else []
        srv.cli("user", "add", "-c", srv.config_path, *ids, "-h", home, "glb",
                stdin="glb\n")
        for folder in (None, "Lists", "Junk", "After"):
            if folder:
                srv.make_maildir("glb", folder)
            else:
                srv.make_maildir("glb")
        with open(os.path.join(home, "sieve", "main.sieve"), "wb") as f:
            f.write(SIEVE_USER_G)
        os.symlink("sieve/main.sieve", os.path.join(home, ".dovecot.sieve"))
        for dirpath, dirs, files in os.walk(home):
            for n in dirs + files + ["."]:
                if ROOT:
                    os.lchown(os.path.join(dirpath, n), srv.uid, srv.gid)
        srv.start()

        def lmtp(subject, extra=b""):
            rr, dr = lmtp_send(srv.lmtp_port, "s@example.net", ["glb@example.org"],
                               wire(msg(subject).replace(b"\n\n", b"\n" + extra + b"\n", 1)))
            check(dr and dr[0].startswith("250"), "%s: LMTP %r %r" % (subject, rr, dr))

        def where(subject):
            """{folder: Maildir info flags} of the copies of subject."""
            out = {}
            for folder in ("INBOX", "Lists", "Junk", "After"):
                path = srv.maildir("glb", None if folder == "INBOX" else folder)
                for f in find_file_with(path, b"Subject: " + subject.encode() + b"\n"):
                    base = os.path.basename(f)
                    out[folder] = base.split(":2,", 1)[1] if ":2," in base else ""
            return out

        lmtp("plain")
        eq(where("plain"), {"INBOX": "S"}, "before addflag, implicit keep")
        lmtp("spam user-move", b"X-Spam: yes\n")
        eq(where("spam user-move"), {"Junk": "S"}, "before fileinto: the user's script not run")
        lmtp("user-move", b"X-After: 1\n")
        eq(where("user-move"), {"Lists": "S"}, "user fileinto: after not run")
        lmtp("user-keep", b"X-After: 1\n")
        eq(where("user-keep"), {"After": "S"}, "explicit keep: after runs and decides")
        lmtp("after-only", b"X-After: 1\n")
        eq(where("after-only"), {"After": "S"}, "after fileinto")
        lmtp("before-stop")
        eq(where("before-stop"), {"INBOX": "FS"}, "stop in a before script: the user's runs")
        r = deliver_cli(srv, ["-d", "glb"], msg("lda user-move"))
        eq(r.returncode, 0, "deliver (%s)" % r.stderr.decode(errors="replace").strip())
        eq(where("lda user-move"), {"Lists": "S"}, "deliver: the same sequence")
        check("30-broken.sieve does not compile" in srv.log_text(), "server log: broken global")
        log = os.path.join(home, ".dovecot.sieve.log")
        check(not os.path.exists(log) or b"30-broken" not in open(log, "rb").read(),
              "user log: nothing of the global script")
    finally:
        problems = srv.stop() if srv.proc else []
        shutil.rmtree(gdir, ignore_errors=True)
    check(not problems, "server: %s" % problems)


SIEVE_SEND_SCRIPT = b"""require ["vacation", "copy", "reject"];
if header :contains "subject" "rej-me" { reject "Not wanted here."; stop; }
if header :contains "subject" "fwd-move" { redirect "other@example.net"; stop; }
if header :contains "subject" "fwd-copy" { redirect :copy "other@example.net"; stop; }
vacation :days 1 "I am away.";
"""

# A stand-in for sendmail: records its arguments and standard input, exits with the
# number in ./exitcode (0 without one).
SENDMAIL_WRAPPER = """#!/bin/sh
d=%s
n=$(date +%%s%%N).$$
printf '%%s\\n' "$@" > "$d/$n.args.tmp"
cat > "$d/$n.msg"
mv "$d/$n.args.tmp" "$d/$n.args"
code=$(cat "$d/exitcode" 2>/dev/null)
exit ${code:-0}
"""


def t_sieve_send(mdn=False):
    """Sieve redirect and vacation go out through sendmail_path (docs/sieve.md, "What is
    sent"): redirect with the original envelope sender and our Delivered-To, :copy keeps
    too, a failing sendmail (exit 75) or a mail loop keeps the message in INBOX; vacation
    replies once per :days to a sender, with the null envelope sender and RFC 5230
    headers, and never to auto-submitted, list or null-sender mail. reject over LMTP is
    a 550 5.7.1 reply for that recipient only (another recipient of the same DATA is
    delivered), or with sieve_reject_mdn = yes (mdn) an MDN through sendmail."""
    out = tempfile.mkdtemp(prefix="buzontest-sendmail.")
    os.chmod(out, 0o777)
    wrapper = os.path.join(out, "sendmail")
    with open(wrapper, "w") as f:
        f.write(SENDMAIL_WRAPPER % out)
    os.chmod(wrapper, 0o755)
    srv = buzontest.Server(users={}, fill=False, lmtp=True, canary=False, buzon=BUZON,
                           config=["sendmail_path = " + wrapper] +
                           (["sieve_reject_mdn = yes"] if mdn else []))
    try:
        srv.setup()
        srv.cli("user", "add", "-c", srv.config_path, *(["-u", str(srv.uid), "-g",
                str(srv.gid)] if ROOT else []), "plain", stdin="plain\n")
        srv.make_maildir("plain")
        home = os.path.join(srv.tmp, "home-snd")
        os.makedirs(os.path.join(home, "sieve"), 0o700)
        ids = ["-u", str(srv.uid), "-g", str(srv.gid)] if ROOT else []
        srv.cli("user", "add", "-c", srv.config_path, *ids, "-h", home, "snd",
                stdin="snd\n")
        srv.make_maildir("snd")
        with open(os.path.join(home, "sieve", "main.sieve"), "wb") as f:
            f.write(SIEVE_SEND_SCRIPT)
        os.symlink("sieve/main.sieve", os.path.join(home, ".dovecot.sieve"))
        for dirpath, dirs, files in os.walk(home):
            for n in dirs + files + ["."]:
                if ROOT:
                    os.lchown(os.path.join(dirpath, n), srv.uid, srv.gid)
        srv.start()
        inbox = srv.maildir("snd")
        log = os.path.join(home, ".dovecot.sieve.log")

        def sent():
            r = []
            for n in sorted(x for x in os.listdir(out) if x.endswith(".args")):
                args = open(os.path.join(out, n)).read().splitlines()
                data = open(os.path.join(out, n[:-5] + ".msg"), "rb").read()
                r.append((args, data))
            for n in os.listdir(out):
                if n.endswith(".args") or n.endswith(".msg"):
                    os.unlink(os.path.join(out, n))
            return r

        def lmtp(subject, sender="s@example.net", extra=b""):
            m = msg(subject).replace(b"To: demo@example.org", b"To: snd@example.org")
            rr, dr = lmtp_send(srv.lmtp_port, sender, ["snd@example.org"],
                               wire(m.replace(b"\n\n", b"\n" + extra + b"\n", 1)))
            check(dr and dr[0].startswith("250"), "%s: LMTP %r %r" % (subject, rr, dr))

        # redirect: the original envelope sender, our Delivered-To on top, not kept
        lmtp("fwd-move")
        got = sent()
        eq(len(got), 1, "redirect: one message sent")
        eq(got[0][0], ["-i", "-f", "s@example.net", "--", "other@example.net"], "argv")
        check(got[0][1].startswith(b"Delivered-To: snd@example.org\n") and
              b"Subject: fwd-move" in got[0][1], "redirected: %r" % got[0][1][:200])
        check(not find_file_with(inbox, b"Subject: fwd-move"), "redirect: not kept")
        # :copy sends and keeps
        lmtp("fwd-copy")
        eq(len(sent()), 1, "redirect :copy: sent")
        eq(len(find_file_with(inbox, b"Subject: fwd-copy")), 1, "redirect :copy: kept")
        # a loop: our Delivered-To twice already -> not sent, kept
        lmtp("fwd-move-loop", extra=b"Delivered-To: snd@example.org\n"
             b"Delivered-To: <SND@example.org>\n")
        eq(len(sent()), 0, "loop: nothing sent")
        eq(len(find_file_with(inbox, b"Subject: fwd-move-loop")), 1, "loop: kept")
        check(b"mail loop" in open(log, "rb").read(), "log: loop")
        # a failing sendmail (EX_TEMPFAIL) keeps the message
        with open(os.path.join(out, "exitcode"), "w") as f:
            f.write("75\n")
        lmtp("fwd-move-fail")
        os.unlink(os.path.join(out, "exitcode"))
        sent()
        eq(len(find_file_with(inbox, b"Subject: fwd-move-fail")), 1, "sendmail 75: kept")
        check(b"exited with 75" in open(log, "rb").read(), "log: sendmail failed")
        # vacation: one reply per sender and :days, null envelope sender
        lmtp("vac-1", sender="a@example.net")
        got = sent()
        eq(len(got), 1, "vacation: one reply")
        eq(got[0][0], ["-i", "-f", "<>", "--", "a@example.net"], "vacation argv")
        reply = got[0][1]
        for want in (b"To: a@example.net\n", b"From: snd@example.org\n",
                     b"Subject: Auto: vac-1\n", b"In-Reply-To: <vac-1@test>\n",
                     b"References: <vac-1@test>\n", b"Auto-Submitted: auto-replied",
                     b"\n\nI am away.\n"):
            check(want in reply, "vacation reply has %r: %r" % (want, reply))
        eq(len(find_file_with(inbox, b"Subject: vac-1")), 1, "vacation: kept")
        lmtp("vac-2", sender="a@example.net")
        eq(len(sent()), 0, "vacation: none within :days")
        check(os.path.exists(os.path.join(home, ".dovecot.sieve.vacation")), "vacation file")
        lmtp("vac-auto", sender="b@example.net", extra=b"Auto-Submitted: auto-generated\n")
        lmtp("vac-list", sender="c@example.net", extra=b"List-Id: <x.example.net>\n")
        lmtp("vac-null", sender="")
        eq(len(sent()), 0, "vacation: none to auto-submitted, list or null sender")
        if not mdn:
            # reject over LMTP (RFC 5429 §2.1.1): 550 5.7.1 for that recipient only
            m = msg("rej-me").replace(b"To: demo@example.org", b"To: snd@example.org")
            rr, dr = lmtp_send(srv.lmtp_port, "s@example.net",
                               ["snd@example.org", "plain@example.org"], wire(m))
            eq(dr, ["550 5.7.1 Not wanted here.", dr[1]], "reject: DATA replies")
            check(dr[1].startswith("250 2.0.0"), "the other recipient: %r" % dr[1])
            eq(len(sent()), 0, "reject: nothing sent")
            check(not find_file_with(inbox, b"Subject: rej-me"), "rejected: not kept")
            eq(len(find_file_with(srv.maildir("plain"), b"Subject: rej-me")), 1,
               "the other recipient: stored")
            lmtp_send(srv.lmtp_port, "", ["snd@example.org"], wire(m))
            check(not find_file_with(inbox, b"Subject: rej-me"), "rejected <>: not kept")
        else:
            # reject over LMTP, sieve_reject_mdn: an MDN to the sender, not kept
            lmtp("rej-me")
            got = sent()
            eq([g[0] for g in got], [["-i", "-f", "<>", "--", "s@example.net"]], "reject argv")
            for want in (b"To: s@example.net\n", b"Subject: Rejected: rej-me\n",
                         b"report-type=disposition-notification", b"\nNot wanted here.\n",
                         b"Disposition: automatic-action/MDN-sent-automatically; deleted",
                         b"Content-Type: message/rfc822\n\nFrom: Sender <s@example.net>"):
                check(want in got[0][1], "rejection has %r: %r" % (want, got[0][1]))
            check(not find_file_with(inbox, b"Subject: rej-me"), "rejected: not kept")
            lmtp("rej-me-null", sender="")
            eq(len(sent()), 0, "no rejection to <>")
            eq(len(find_file_with(inbox, b"Subject: rej-me-null")), 1, "reject to <>: kept")
        # reject through buzon deliver: exit 77 (EX_NOPERM), the reason on stderr; with
        # sieve_reject_mdn an MDN and exit 0 (as Pigeonhole's dovecot-lda)
        r = deliver_cli(srv, ["-d", "snd", "-f", "e@example.net"], msg("rej-me-lda"))
        check(not find_file_with(inbox, b"Subject: rej-me-lda"), "deliver reject: not kept")
        if mdn:
            eq(r.returncode, 0, "deliver reject, MDN (%r)" % r.stderr)
            eq([g[0] for g in sent()], [["-i", "-f", "<>", "--", "e@example.net"]],
               "deliver reject: the MDN")
        else:
            eq(r.returncode, 77, "deliver reject (%r)" % r.stderr)
            check(b"Not wanted here." in r.stderr, "reason on stderr: %r" % r.stderr)
            eq(len(sent()), 0, "deliver reject: nothing sent")
        # buzon deliver: the same, another sender gets its reply
        r = subprocess.run([srv.buzon, "deliver", "-c", srv.config_path, "-d", "snd", "-f",
                            "d@example.net"], input=msg("vac-lda").replace(b"To: demo@",
                                                                           b"To: snd@"),
                           capture_output=True, timeout=30,
                           env=dict(srv.env(), RECIPIENT="snd@example.org"))
        eq(r.returncode, 0, "deliver (%s)" % r.stderr.decode(errors="replace").strip())
        got = sent()
        eq([g[0] for g in got], [["-i", "-f", "<>", "--", "d@example.net"]], "deliver: reply")
    finally:
        problems = srv.stop() if srv.proc else []
        shutil.rmtree(out, ignore_errors=True)
    check(not problems, "server: %s" % problems)


# A sendmail that waits for the test: records that it started, then waits (at most 6 s,
# below buzon's 10 s) for ./release; exits 0 once released, 1 when it gave up.
SENDMAIL_SLOW = """#!/bin/sh
d=%s
[ -e "$d/hang" ] && exec sleep 60
cat > "$d/msg.$$"
touch "$d/started"
i=0
while [ ! -e "$d/release" ]; do
  i=$((i + 1))
  [ $i -gt 60 ] && exit 1
  sleep 0.1
done
touch "$d/sent"
exit 0
"""


def t_sieve_send_async():
    """sendmail runs without holding the user's mail process (docs/sieve.md, "What is
    sent"): while a redirect's sendmail waits, an IMAP NOOP of the same user is answered;
    the test releases sendmail only after that answer, so a mail process blocked in the
    wait would see sendmail give up (exit 1) and keep the message in INBOX. The LMTP
    reply waits for sendmail's result: the message redirected is not stored. A sendmail
    that never exits is killed after 10 s and the message is kept in INBOX."""
    out = tempfile.mkdtemp(prefix="buzontest-sendslow.")
    os.chmod(out, 0o777)
    wrapper = os.path.join(out, "sendmail")
    with open(wrapper, "w") as f:
        f.write(SENDMAIL_SLOW % out)
    os.chmod(wrapper, 0o755)
    srv = buzontest.Server(users={}, fill=False, lmtp=True, canary=False, buzon=BUZON,
                           config=["sendmail_path = " + wrapper])
    try:
        srv.setup()
        home = os.path.join(srv.tmp, "home-asy")
        os.makedirs(home, 0o700)
        ids = ["-u", str(srv.uid), "-g", str(srv.gid)] if ROOT else []
        srv.cli("user", "add", "-c", srv.config_path, *ids, "-h", home, "asy",
                stdin="asy\n")
        srv.make_maildir("asy")
        with open(os.path.join(home, ".dovecot.sieve"), "wb") as f:
            f.write(b'redirect "elsewhere@example.net";\n')
        for n in (home, os.path.join(home, ".dovecot.sieve")):
            if ROOT:
                os.chown(n, srv.uid, srv.gid)
        srv.start()
        m = srv.imap("asy", "asy")
        try:
            c = Lmtp(srv.lmtp_port)
            check(c.cmd("LHLO test.example").startswith("250 "), "LHLO")
            check(c.cmd("MAIL FROM:<s@example.net>").startswith("250 "), "MAIL")
            check(c.cmd("RCPT TO:<asy@example.org>").startswith("250"), "RCPT")
            check(c.cmd("DATA").startswith("354 "), "DATA")
            c.send(wire(msg("slow-send")))
            check(wait_for(lambda: os.path.exists(os.path.join(out, "started"))),
                  "sendmail started")
            typ, _ = m.noop()
            eq(typ, "OK", "NOOP while sendmail runs")
            open(os.path.join(out, "release"), "w").close()
            eq(c.code()[:3], "250", "LMTP reply after sendmail")
            c.cmd("QUIT")
            c.close()
        finally:
            m.logout()
        check(os.path.exists(os.path.join(out, "sent")), "sendmail released, not given up")
        check(not find_file_with(srv.maildir("asy"), b"Subject: slow-send"),
              "redirected: not kept")
        # a sendmail that hangs: killed at the timeout, the message kept
        open(os.path.join(out, "hang"), "w").close()
        rr, dr = lmtp_send(srv.lmtp_port, "s@example.net", ["asy@example.org"],
                           wire(msg("hang-send")))
        eq([d[:3] for d in dr], ["250"], "LMTP reply after the timeout")
        eq(len(find_file_with(srv.maildir("asy"), b"Subject: hang-send")), 1,
           "not sent: kept in INBOX")
        check("timed out" in srv.log_text(), "server log: timed out")
    finally:
        problems = srv.stop() if srv.proc else []
        shutil.rmtree(out, ignore_errors=True)
    check(not problems, "server: %s" % problems)


def pf_sieve_send(pf, srv, home):
    """Through a real Postfix: a redirect reaches the other user, a vacation reply reaches
    the sender once."""
    pf.send("ext@example.test", "snd@example.test",
            b"From: ext@example.test\r\nTo: snd@example.test\r\nSubject: fwd-move e2e\r\n"
            b"Message-ID: <e2e-1@test>\r\n\r\nforward me\r\n")
    files = wait_for(lambda: find_file_with(srv.maildir("fwd"), b"Subject: fwd-move e2e"),
                     30, 0.3)
    check(files, "redirect not delivered; postfix log:\n%s" % pf.log_tail())
    data = open(files[0], "rb").read()
    check(b"Return-Path: <ext@example.test>" in data and
          b"Delivered-To: snd@example.test" in data, "redirected: %r" % data[:400])
    check(not find_file_with(srv.maildir("snd"), b"Subject: fwd-move e2e"), "not kept")
    for n in (1, 2):
        pf.send("ext@example.test", "snd@example.test",
                b"From: ext@example.test\r\nTo: snd@example.test\r\nSubject: away e2e\r\n"
                b"Message-ID: <e2e-v%d@test>\r\n\r\nhello\r\n" % n)
        check(wait_for(lambda: len(find_file_with(srv.maildir("snd"), b"Subject: away e2e"))
                       == n, 30, 0.3), "vacation case %d not delivered" % n)
        if n == 1:
            files = wait_for(lambda: find_file_with(srv.maildir("ext"),
                                                    b"Subject: Auto: away e2e"), 30, 0.3)
            check(files, "vacation reply not delivered; postfix log:\n%s" % pf.log_tail())
            data = open(files[0], "rb").read()
            check(b"Return-Path: <>" in data and b"Auto-Submitted: auto-replied" in data and
                  b"In-Reply-To: <e2e-v1@test>" in data, "reply: %r" % data[:600])
    check(wait_for(lambda: "vacation not sent: replied within" in srv.log_text(), 10, 0.2),
          "second vacation not suppressed")
    eq(len(find_file_with(srv.maildir("ext"), b"Subject: Auto: away e2e")), 1, "one reply")


def t_postfix_sieve():
    if not ROOT or shutil.which("postfix") is None:
        print("SKIP postfix-sieve-send: needs root and postfix")
        RESULTS["skip"] += 1
        return
    tmp = tempfile.mkdtemp(prefix="buzontest-pfsieve.")
    os.chmod(tmp, 0o755)
    wrapper = os.path.join(tmp, "sendmail")
    srv = buzontest.Server(users={}, fill=False, lmtp=True, canary=False, buzon=BUZON,
                           config=["sendmail_path = " + wrapper])
    pf = None
    try:
        srv.setup()
        home = os.path.join(srv.tmp, "home-snd")
        os.makedirs(os.path.join(home, "sieve"), 0o700)
        for u in ("snd", "fwd", "ext"):
            srv.cli("user", "add", "-c", srv.config_path, "-u", str(srv.uid), "-g",
                    str(srv.gid), *(["-h", home] if u == "snd" else []), u, stdin=u + "\n")
            srv.make_maildir(u)
        with open(os.path.join(home, "sieve", "main.sieve"), "wb") as f:
            f.write(b'require "vacation";\nif header :contains "subject" "fwd-move" '
                    b'{ redirect "fwd@example.test"; stop; }\nvacation :days 1 "Away.";\n')
        os.symlink("sieve/main.sieve", os.path.join(home, ".dovecot.sieve"))
        for dirpath, dirs, files in os.walk(home):
            for n in dirs + files + ["."]:
                os.lchown(os.path.join(dirpath, n), srv.uid, srv.gid)
        srv.start()
        pf = Postfix(os.path.join(tmp, "pf"), {
            "virtual_mailbox_domains": "example.test",
            "virtual_mailbox_maps": "static:ok",
            "virtual_transport": "lmtp:inet:127.0.0.1:%d" % srv.lmtp_port,
        })
        write_sendmail(wrapper, pf.port)
        pf.start()
        run_case("postfix-sieve-send", pf_sieve_send, pf, srv, home)
    finally:
        if pf is not None:
            pf.stop()
        for p in srv.stop() if srv.proc else []:
            print("FAIL postfix-sieve-teardown: %s" % p)
            RESULTS["fail"] += 1
        shutil.rmtree(tmp, ignore_errors=True)


def t_unix_socket():
    sockdir = tempfile.mkdtemp(prefix="buzontest-lmtpsock.")
    path = os.path.join(sockdir, "lmtp.sock")
    srv = buzontest.Server(users={"demo": "demo"}, fill=False, lmtp="unix:" + path,
                           buzon=BUZON)
    try:
        srv.start()
        check(wait_for(lambda: os.path.exists(path), 10), "socket %s created" % path)
        eq(oct(os.lstat(path).st_mode & 0o7777), oct(0o666), "default socket mode")

        class UnixLmtp(Lmtp):
            def __init__(self):
                self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                self.sock.settimeout(15)
                self.sock.connect(path)
                self.f = self.sock.makefile("rb")
                self.greeting = self.reply()
        c = UnixLmtp()
        check(c.greeting[-1].startswith("220 "), "greeting %r" % c.greeting)
        c.cmd("LHLO x")
        check(c.cmd("MAIL FROM:<u@example.net>").startswith("250"), "MAIL")
        check(c.cmd("RCPT TO:<demo@example.org>").startswith("250"), "RCPT")
        check(c.cmd("DATA").startswith("354"), "DATA")
        c.send(wire(msg("over-unix")))
        r = c.code()
        check(r.startswith("250 2.0.0"), "delivery %r" % r)
        c.cmd("QUIT")
        check(find_file_with(srv.maildir("demo"), b"Subject: over-unix"), "stored")
    finally:
        problems = srv.stop() if srv.proc else []
        shutil.rmtree(sockdir, ignore_errors=True)
    check(not problems, "server: %s" % problems)



def t_unix_socket_mode():
    """lmtp_socket_mode and lmtp_socket_group: the socket is created with them (default
    0666 and the master's group, see lmtp-unix-socket)."""
    sockdir = tempfile.mkdtemp(prefix="buzontest-lmtpsock.")
    path = os.path.join(sockdir, "lmtp.sock")
    gid = 4321 if ROOT else os.getgid()
    srv = buzontest.Server(users={"demo": "demo"}, fill=False, lmtp="unix:" + path,
                           config=["lmtp_socket_mode = 0660", "lmtp_socket_group = %d" % gid],
                           buzon=BUZON)
    try:
        srv.start()
        check(wait_for(lambda: os.path.exists(path), 10), "socket %s created" % path)
        st = os.lstat(path)
        eq(oct(st.st_mode & 0o7777), oct(0o660), "socket mode")
        eq(st.st_gid, gid, "socket group")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(10)
        s.connect(path)
        check(s.recv(100).startswith(b"220 "), "greeting over the socket")
        s.close()
    finally:
        problems = srv.stop() if srv.proc else []
        shutil.rmtree(sockdir, ignore_errors=True)
    check(not problems, "server: %s" % problems)

# ---------------------------------------------------------------- the LMTP role alone

def ipc_types():
    """enum ipc_type from src/lib/ipc.h: {name: value}."""
    with open(os.path.join(buzontest.REPO, "src", "lib", "ipc.h")) as f:
        text = f.read()
    body = re.search(r"enum ipc_type \{(.*?)\};", text, re.S).group(1)
    body = re.sub(r"/\*.*?\*/", "", body, flags=re.S)
    out, val = {}, 0
    for item in body.split(","):
        m = re.match(r"\s*(IPC_\w+)(?:\s*=\s*(\d+))?\s*$", item)
        if not m:
            continue
        val = int(m.group(2)) if m.group(2) else val + 1
        out[m.group(1)] = val
    return out


def ipc_version():
    """IPC_VERSION from src/lib/ipc.h: the top byte of every message's type word."""
    with open(os.path.join(buzontest.REPO, "src", "lib", "ipc.h")) as f:
        return int(re.search(r"#define IPC_VERSION (\d+)", f.read()).group(1))


class FakeMaster:
    """Runs `buzon --role lmtp` with fd 3 = our end of a SOCK_SEQPACKET pair and fd 4 =
    a listening socket, and plays the master's side of the IPC contract."""

    def __init__(self, tmp, max_size, extra=""):
        import struct
        self.struct = struct
        self.t = ipc_types()
        self.cfg = os.path.join(tmp, "lmtp-role.conf")
        login = "nobody" if ROOT else pwd.getpwuid(os.getuid()).pw_name
        with open(self.cfg, "w") as f:
            f.write("login_user = %s\nmail_max_size = %d\nbase_dir = %s\n"
                    "passwd_file = %s/none\n%s" % (login, max_size, tmp, tmp, extra))
        os.chmod(self.cfg, 0o644)
        chroot = os.path.join(tmp, "empty")
        os.mkdir(chroot, 0o755)
        self.ipc, child_ipc = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.lst = socket.socket()
        self.lst.bind(("127.0.0.1", 0))
        self.lst.listen(16)
        self.port = self.lst.getsockname()[1]
        env = dict(os.environ)
        if ROOT:
            pw = pwd.getpwnam("nobody")
            env.update(BUZON_LOGIN_UID=str(pw.pw_uid), BUZON_LOGIN_GID=str(pw.pw_gid),
                       BUZON_LOGIN_CHROOT=chroot)
            # LeakSanitizer needs /proc, which the chroot does not have
            env["ASAN_OPTIONS"] = ":".join(o for o in [env.get("ASAN_OPTIONS", ""),
                                                        "detect_leaks=0"] if o)
        import fcntl
        # 5..9: above 3/4 so the redirections cannot clobber each other, one digit for dash
        a = fcntl.fcntl(child_ipc.fileno(), fcntl.F_DUPFD, 5)
        b = fcntl.fcntl(self.lst.fileno(), fcntl.F_DUPFD, 5)
        check(a <= 9 and b <= 9, "free fds below 10")
        script = 'exec "$0" "$@" 3<&%d 4<&%d %d<&- %d<&-' % (a, b, a, b)
        self.proc = subprocess.Popen(["sh", "-c", script, BUZON, "--role", "lmtp", "-c", self.cfg,
                                      "--fds", "lmtp=4"], pass_fds=(a, b), env=env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        os.close(a)
        os.close(b)
        child_ipc.close()
        self.lst.close()

    def recv(self, timeout=10):
        self.ipc.settimeout(timeout)
        data, fds, _, _ = socket.recv_fds(self.ipc, 20000, 1)
        vtype, mlen = self.struct.unpack("=II", data[:8])
        check(vtype >> 24 == ipc_version(), "IPC version")
        return vtype & 0xffffff, data[8:8 + mlen], (fds[0] if fds else None)

    def fields(self, payload, spec):
        out, pos = [], 0
        for k in spec:
            if k == "u":
                out.append(self.struct.unpack_from("=I", payload, pos)[0])
                pos += 4
            else:
                n = self.struct.unpack_from("=I", payload, pos)[0]
                out.append(payload[pos + 4:pos + 4 + n])
                pos += 4 + n
        check(pos == len(payload), "message length")
        return out

    def send(self, name, *vals):
        body = b""
        for v in vals:
            if isinstance(v, int):
                body += self.struct.pack("=I", v)
            else:
                v = v.encode() if isinstance(v, str) else v
                body += self.struct.pack("=I", len(v)) + v
        vtype = ipc_version() << 24 | self.t[name]
        self.ipc.send(self.struct.pack("=II", vtype, len(body)) + body)

    def stop(self):
        try:
            self.ipc.close()
        except OSError:
            pass
        try:
            return self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None


def t_lmtp_role():
    """The LMTP process against a fake master: lookups, sealed memfds with the decoded
    message, +detail folders, header prefixes, per-recipient replies in RCPT order even
    when results come back out of order, every result code, drain and master EOF."""
    import fcntl
    tmp = tempfile.mkdtemp(prefix="buzontest-lmtprole.")
    os.chmod(tmp, 0o755)
    fm = FakeMaster(tmp, 100000)
    try:
        c = Lmtp(fm.port)
        check(c.greeting[-1].startswith("220 "), "greeting")
        c.cmd("LHLO x")
        c.cmd("MAIL FROM:<s@example.net>")
        rcpts = ["a+box@example.org", "b@example.org", "c@example.org", "d@example.org",
                 "e@example.org", "nouser@example.org", "tmp@example.org"]
        status = {"a+box": 0, "b": 0, "c": 0, "d": 0, "e": 0, "nouser": 1, "tmp": 2}
        for r in rcpts:
            c.send("RCPT TO:<%s>\r\n" % r)
            mtype, payload, fd = fm.recv()
            eq(mtype, fm.t["IPC_LMTP_RCPT"], "RCPT message type")
            rid, addr = fm.fields(payload, "us")
            eq(addr.decode(), r, "address sent as is")
            fm.send("IPC_LMTP_RCPT_RESULT", rid, status[r.split("@")[0]], r.split("@")[0])
        got = [c.code() for _ in rcpts]
        eq([g[:9] for g in got], ["250 2.1.5"] * 5 + ["550 5.1.1", "451 4.3.0"], "RCPT replies")
        check(c.cmd("DATA").startswith("354"), "DATA")
        c.send(b"Subject: role\r\n\r\n..dot\r\nline\r\n.\r\n")
        delivers = []
        for _ in range(5):
            mtype, payload, fd = fm.recv()
            eq(mtype, fm.t["IPC_LMTP_DELIVER"], "DELIVER message type")
            rid, addr, folder, prefix = fm.fields(payload, "usss")
            check(fd is not None, "memfd passed")
            seals = fcntl.fcntl(fd, fcntl.F_GET_SEALS)
            want = fcntl.F_SEAL_WRITE | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW
            check(seals & want == want, "memfd sealed (seals=%#x)" % seals)
            eq(os.pread(fd, 1000, 0), b"Subject: role\n\n.dot\nline\n", "memfd content")
            try:
                os.write(fd, b"x")
                raise Fail("sealed memfd is writable")
            except OSError:
                pass
            os.close(fd)
            eq(prefix, b"Return-Path: <s@example.net>\nDelivered-To: %s\n" % addr, "prefix")
            delivers.append((rid, addr.decode(), folder.decode()))
        eq([d[1] for d in delivers], rcpts[:5], "DELIVER order")
        eq([d[2] for d in delivers], ["box", "", "", "", ""], "folders (+detail)")
        # answer out of order: nothing may be sent before the first recipient's result
        results = {"a+box": 0, "b": 3, "c": 4, "d": 2, "e": 5}
        fm.send("IPC_LMTP_DELIVER_RESULT", delivers[1][0], results["b"])
        fm.send("IPC_LMTP_DELIVER_RESULT", delivers[4][0], results["e"])
        import select
        readable, _, _ = select.select([c.sock], [], [], 0.5)
        check(not readable, "a reply was sent before the first recipient's result")
        for i in (3, 2, 0):
            fm.send("IPC_LMTP_DELIVER_RESULT", delivers[i][0], results[delivers[i][1].split("@")[0]])
        got = [c.code() for _ in range(5)]
        want = ["250 2.0.0 <a+box@", "452 4.3.1 <b@", "552 5.2.2 <c@", "451 4.3.0 <d@",
                "552 5.3.4 <e@"]
        for g, w in zip(got, want):
            check(g.startswith(w), "replies in RCPT order: %r" % got)
        check(c.cmd("NOOP").startswith("250"), "back to commands")
        # a stale result (unknown id) is ignored
        fm.send("IPC_LMTP_DELIVER_RESULT", 999999, 0)
        check(c.cmd("NOOP").startswith("250"), "after a stale result")
        # drain: the open session goes on, the process exits when it ends
        fm.send("IPC_LOGIN_DRAIN")
        time.sleep(0.2)
        check(fm.proc.poll() is None, "exited while a session was open")
        check(c.cmd("RSET").startswith("250"), "session works while draining")
        c.cmd("QUIT")
        c.close()
        try:
            rc = fm.proc.wait(10)
        except subprocess.TimeoutExpired:
            raise Fail("did not exit after draining")
        eq(rc, 0, "exit status after draining (%s)" % fm.proc.stderr.read().decode(errors="replace"))
        # master EOF: a fresh process exits at once
        fm.stop()
        os.mkdir(os.path.join(tmp, "2"))
        fm2 = FakeMaster(os.path.join(tmp, "2"), 1000)
        c2 = Lmtp(fm2.port)
        eq(fm2.stop(), 0, "exit status when the master goes away")
        c2.close()
    finally:
        fm.stop()
        shutil.rmtree(tmp, ignore_errors=True)



def t_lmtp_role_spool():
    """A message above lmtp_spool_threshold reaches the (fake) master as a read-only fd
    of an unlinked regular file in lmtp_spool_dir, with the decoded message; one below
    it as a sealed memfd. Nothing stays in the spool directory."""
    import fcntl
    import stat
    tmp = tempfile.mkdtemp(prefix="buzontest-lmtpspool.")
    os.chmod(tmp, 0o755)
    spool = os.path.join(tmp, "lmtp-spool")
    os.mkdir(spool, 0o700)
    if ROOT:
        pw = pwd.getpwnam("nobody")
        os.chown(spool, pw.pw_uid, pw.pw_gid)
    fm = FakeMaster(tmp, 4000000, "lmtp_spool_threshold = 64k\n")
    try:
        c = Lmtp(fm.port)
        for size, spooled in ((200000, True), (1000, False), (65536, False), (65537, True)):
            c.cmd("LHLO x")
            c.cmd("MAIL FROM:<s@example.net>")
            c.send("RCPT TO:<a@example.org>\r\n")
            mtype, payload, fd = fm.recv()
            rid, addr = fm.fields(payload, "us")
            fm.send("IPC_LMTP_RCPT_RESULT", rid, 0, "a")
            check(c.code().startswith("250"), "RCPT")
            check(c.cmd("DATA").startswith("354"), "DATA")
            body = b"".join(b"%07d %s\n" % (i, b"y" * 71) for i in range(size // 80 + 1))[:size]
            body = body[:-1] + b"\n"
            c.send(wire(body))
            mtype, payload, fd = fm.recv()
            eq(mtype, fm.t["IPC_LMTP_DELIVER"], "DELIVER message type")
            rid = fm.fields(payload, "usss")[0]
            check(fd is not None, "fd passed")
            st = os.fstat(fd)
            eq(st.st_size, size, "size of the passed message (%d)" % size)
            eq(os.pread(fd, size + 1, 0), body, "content (%d)" % size)
            flags = fcntl.fcntl(fd, fcntl.F_GETFL)
            if spooled:
                check(stat.S_ISREG(st.st_mode) and st.st_nlink == 0,
                      "spooled: an unlinked regular file (nlink %d)" % st.st_nlink)
                eq(flags & os.O_ACCMODE, os.O_RDONLY, "spooled: passed read-only")
                eq(oct(st.st_mode & 0o777), oct(0o600), "spool file mode")
                if ROOT:
                    eq(st.st_uid, pwd.getpwnam("nobody").pw_uid, "spool file owner")
            else:
                seals = fcntl.fcntl(fd, fcntl.F_GET_SEALS)
                check(seals & fcntl.F_SEAL_WRITE, "memfd sealed (%d bytes)" % size)
            try:
                os.write(fd, b"x")
                raise Fail("the passed message is writable (%d bytes)" % size)
            except OSError:
                pass
            os.close(fd)
            eq(os.listdir(spool), [], "spool directory empty")
            fm.send("IPC_LMTP_DELIVER_RESULT", rid, 0)
            check(c.code().startswith("250 2.0.0"), "delivered (%d)" % size)
        c.cmd("QUIT")
        c.close()
    finally:
        fm.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def msg_fds(pid):
    """{"memfd": [sizes], "file": [sizes]} of the messages an LMTP process holds open."""
    out = {"memfd": [], "file": []}
    seen = set()	# a spool file is open twice (read-write and read-only)
    d = "/proc/%d/fd" % pid
    for n in os.listdir(d):
        try:
            target = os.readlink(os.path.join(d, n))
            st = os.stat(os.path.join(d, n))
        except OSError:
            continue
        if (st.st_dev, st.st_ino) in seen:
            continue
        seen.add((st.st_dev, st.st_ino))
        if "memfd:lmtp-msg" in target:
            out["memfd"].append(st.st_size)
        elif target.endswith("(deleted)") and "msg." in target:
            out["file"].append(st.st_size)
    return out


def spool_body(i, size):
    head = b"Subject: spool-%d\n\n" % i
    return head + (b"z" * 79 + b"\n") * ((size - len(head)) // 80)


def t_spool_bounds():
    """Finding 9: the LMTP process keeps at most lmtp_spool_threshold (1 MiB) of a message
    in a memfd and at most 64 MiB in the memfds of all sessions; the rest waits in
    unlinked files in lmtp_spool_dir. 8 sessions with 3 MB and 72 with 0.95 MB (68 MB)
    in DATA at once, then all finish: every copy is stored intact and the spool is empty."""
    if not ROOT:
        raise Skip("needs root (reads /proc/PID/fd of the non-dumpable lmtp process)")
    srv = buzontest.Server(users={"demo": "demo"}, fill=False, lmtp=True, canary=False,
                           config=["mail_max_size = 4M"], buzon=BUZON)
    conns = []
    try:
        srv.start()
        pid = lmtp_pids(srv)[0]
        spool = os.path.join(srv.base_dir, "lmtp-spool")
        st = os.stat(spool)
        eq((st.st_uid, oct(st.st_mode & 0o777)), (pwd.getpwnam("nobody").pw_uid, oct(0o700)),
           "spool directory owner and mode")
        sizes = [3000000] * 8 + [950000] * 72
        want = 0
        for i, size in enumerate(sizes):
            c = Lmtp(srv.lmtp_port, timeout=60)
            c.cmd("LHLO x")
            c.cmd("MAIL FROM:<big@example.net>")
            check(c.cmd("RCPT TO:<demo@example.org>").startswith("250"), "RCPT")
            check(c.cmd("DATA").startswith("354"), "DATA")
            body = spool_body(i, size)
            data = wire(body)
            c.send(data[:-3])	# everything but the final dot
            conns.append((c, data[-3:], body))
            want += len(body)
        # the decoder holds each message's last line end until it sees what follows
        held = wait_for(lambda: (lambda m: m if sum(m["memfd"]) + sum(m["file"]) >=
                                 want - 2 * len(sizes) else None)(msg_fds(pid)), 60, 0.2)
        check(held, "the lmtp process did not take all %d bytes: %r" % (want, msg_fds(pid)))
        mem, files = sum(held["memfd"]), sum(held["file"])
        if VERBOSE:
            print("  spool: %d memfds %d bytes, %d spool files %d bytes" %
                  (len(held["memfd"]), mem, len(held["file"]), files))
        check(mem <= 64 * 1024 * 1024, "%d bytes in memfds (cap 64 MiB)" % mem)
        check(max(held["memfd"] or [0]) <= 1024 * 1024, "a memfd above the threshold")
        check(len(held["file"]) >= 8, "the 3 MB messages are not all spooled: %r" % held)
        eq(os.listdir(spool), [], "spool files are unlinked")
        for c, tail, body in conns:
            c.send(tail)
        for i, (c, tail, body) in enumerate(conns):
            r = c.code()
            check(r.startswith("250 2.0.0"), "delivery %d: %r" % (i, r))
            c.cmd("QUIT")
            c.close()
        conns = []
        box = srv.maildir("demo")
        eq(count_msgs(box), len(sizes), "messages stored")
        for i in (0, 7, 8, 79):
            f = find_file_with(box, b"Subject: spool-%d\n" % i)
            eq(len(f), 1, "message %d" % i)
            with open(f[0], "rb") as fh:
                got = fh.read()
            check(got.endswith(spool_body(i, sizes[i])), "content of message %d" % i)
        after = msg_fds(pid)
        eq(after, {"memfd": [], "file": []}, "messages still held after delivery")
        eq(os.listdir(spool), [], "spool directory empty")
    finally:
        for c, _, _ in conns:
            c.close()
        problems = srv.stop() if srv.proc else []
    check(not problems, "server: %s" % problems)


# ---------------------------------------------------------------- a real Postfix

def system_user(name, password):
    """Create (or recreate) a system user with a home directory and password."""
    subprocess.run(["userdel", "-r", name], capture_output=True)
    subprocess.run(["useradd", "-m", "-s", "/bin/sh", name], check=True, capture_output=True)
    subprocess.run(["chpasswd"], input="%s:%s\n" % (name, password), text=True, check=True,
                   capture_output=True)
    return pwd.getpwnam(name)


def t_postfix_all():
    """Three setups with one private Postfix and two buzon servers."""
    if not ROOT:
        for n in ("postfix-lmtp", "postfix-mailbox-command", "postfix-home-maildir"):
            print("SKIP %s: needs root (private Postfix instance, useradd)" % n)
            RESULTS["skip"] += 1
        return
    if shutil.which("postfix") is None:
        for n in ("postfix-lmtp", "postfix-mailbox-command", "postfix-home-maildir"):
            print("SKIP %s: postfix not installed (scripts/install-deps.sh)" % n)
            RESULTS["skip"] += 1
        return
    tmp = tempfile.mkdtemp(prefix="buzontest-postfix.")
    os.chmod(tmp, 0o755)
    virt = buzontest.Server(users={"pfuser": "pfpass"}, fill=False, lmtp=True, buzon=BUZON)
    sysd = buzontest.Server(users={}, fill=False, canary=False, buzon=BUZON,
                            config=["system_users = yes", "mail_location = maildir:~/Maildir",
                                    "passwd_file = /nonexistent/buzon-users"])
    pf = None
    users = []
    try:
        virt.start()
        sysd.start()
        lda_cfg = os.path.join(tmp, "lda.conf")
        with open(lda_cfg, "w") as f:
            f.write("system_users = yes\nmail_location = maildir:~/Maildir\n"
                    "passwd_file = /nonexistent/buzon-users\nbase_dir = %s\n" % tmp)
        os.chmod(lda_cfg, 0o644)
        pf = Postfix(os.path.join(tmp, "pf"), {
            "virtual_mailbox_domains": "example.test",
            "virtual_mailbox_maps": "static:ok",
            "virtual_transport": "lmtp:inet:127.0.0.1:%d" % virt.lmtp_port,
            "mailbox_command": "%s deliver -c %s" % (BUZON, lda_cfg),
        })
        pf.start()
        run_case("postfix-lmtp", pf_lmtp, pf, virt)
        users.append("bztlda")
        run_case("postfix-mailbox-command", pf_mailbox_command, pf, sysd)
        users.append("bztmd")
        run_case("postfix-home-maildir", pf_home_maildir, pf, sysd)
    finally:
        if pf is not None:
            pf.stop()
            if VERBOSE:
                sys.stderr.write(pf.log_tail(60))
        for s in (virt, sysd):
            for p in s.stop():
                print("FAIL postfix-teardown: %s" % p)
                RESULTS["fail"] += 1
        for u in users:
            subprocess.run(["userdel", "-r", u], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)


def pf_lmtp(pf, virt):
    data = (b"From: x@example.net\r\nTo: pfuser@example.test\r\nSubject: via-postfix-lmtp\r\n"
            b"\r\n.leading dot\r\nbody\r\n")
    pf.send("x@example.net", "pfuser@example.test", data)
    got = wait_for(lambda: [x for x in imap_fetch_all(virt, "pfuser", "pfpass")
                            if b"via-postfix-lmtp" in x[3]], 30, 0.5)
    check(got, "not delivered within 30 s; postfix log:\n%s" % pf.log_tail())
    body = got[0][3]
    check(body.startswith(b"Return-Path: <x@example.net>\r\nDelivered-To: pfuser@example.test\r\n"),
          "added headers: %r" % body[:120])
    check(b"\r\n.leading dot\r\nbody\r\n" in body, "dot-unstuffed body")
    check(b"Received: from " in body, "Postfix's Received header")
    # Postfix logs after the 250, which may come after the message is visible
    check(wait_for(lambda: re.search(r"to=<pfuser@example.test>.*relay=127\.0\.0\.1\[127\.0\.0\.1\]"
                                     r":%d.*status=sent \(250 2\.0\.0" % virt.lmtp_port,
                                     pf.log_tail(200)), 10, 0.2),
          "postfix log line:\n%s" % pf.log_tail())
    # an unknown user bounces (550 5.1.1 from buzon) rather than being retried
    pf.send("x@example.net", "nobody-here@example.test", b"Subject: nobody\r\n\r\nx\r\n")
    check(wait_for(lambda: re.search(r"to=<nobody-here@example.test>.*status=bounced.*5\.1\.1",
                                     pf.log_tail(200)), 30, 0.5),
          "unknown user not bounced with 5.1.1:\n%s" % pf.log_tail())


def pf_mailbox_command(pf, sysd):
    pw = system_user("bztlda", "ldapass")
    data = b"From: y@example.net\r\nTo: bztlda@localhost\r\nSubject: via-mailbox-command\r\n\r\nhi\r\n"
    pf.send("y@example.net", "bztlda@localhost", data)
    maildir = os.path.join(pw.pw_dir, "Maildir")
    files = wait_for(lambda: find_file_with(maildir, b"via-mailbox-command"), 30, 0.5)
    check(files, "not delivered within 30 s; postfix log:\n%s" % pf.log_tail())
    check("/new/" in files[0], "delivered into new/: %s" % files)
    for dirpath, dirs, fnames in os.walk(maildir):
        for n in dirs + fnames:
            st = os.stat(os.path.join(dirpath, n))
            check(st.st_uid == pw.pw_uid, "%s owned by uid %d" % (os.path.join(dirpath, n),
                                                                  st.st_uid))
    got = [x for x in imap_fetch_all(sysd, "bztlda", "ldapass", imaps=True)
           if b"via-mailbox-command" in x[3]]
    eq(len(got), 1, "over IMAPS")
    body = got[0][3]
    check(body.count(b"Return-Path:") == 1 and body.count(b"Delivered-To:") == 1,
          "trace headers once: %r" % body[:300])
    check(not body.startswith(b"From "), "no From_ line")
    # run by hand as the user, with a passwd_file only root can read: the running user
    # is taken from the system database (the kernel vouches for it)
    secret = os.path.join(os.path.dirname(pf.dir), "root-only-users")
    with open(secret, "w") as f:
        f.write("someone:{PLAIN}x:2000:2000::/nonexistent::\n")
    os.chmod(secret, 0o600)
    cfg = os.path.join(os.path.dirname(pf.dir), "lda-unreadable.conf")
    with open(cfg, "w") as f:
        f.write("system_users = yes\nmail_location = maildir:~/Maildir\npasswd_file = %s\n"
                % secret)
    os.chmod(cfg, 0o644)
    r = subprocess.run(["runuser", "-u", "bztlda", "--", BUZON, "deliver", "-c", cfg],
                       input=b"Subject: as-the-user\n\nx\n", capture_output=True, timeout=30,
                       env=dict(os.environ, USER="bztlda"))
    eq(r.returncode, 0, "deliver run as the user (%s)" % r.stderr.decode(errors="replace"))
    check(find_file_with(maildir, b"Subject: as-the-user"), "delivered as the user")
    r = subprocess.run(["runuser", "-u", "bztlda", "--", BUZON, "deliver", "-c", cfg,
                        "-d", "someone"], input=b"x\n", capture_output=True, timeout=30)
    eq(r.returncode, 75, "another user's delivery with an unreadable passwd_file")
    # a temporary failure (tmp/ not writable: exit 75) makes Postfix defer, not bounce;
    # the queued message is delivered once the problem is gone
    tmpdir = os.path.join(maildir, "tmp")
    os.chmod(tmpdir, 0o500)
    try:
        pf.send("y@example.net", "bztlda@localhost",
                b"Subject: deferred-then-delivered\r\n\r\nx\r\n")
        check(wait_for(lambda: re.search(r"to=<bztlda@localhost>.*status=deferred",
                                         pf.log_tail(400)), 30, 0.3),
              "not deferred:\n%s" % pf.log_tail())
        check(not re.search(r"to=<bztlda@localhost>.*status=bounced", pf.log_tail(400)),
              "bounced")
    finally:
        os.chmod(tmpdir, 0o700)
    pf.postfix("flush")
    check(wait_for(lambda: find_file_with(maildir, b"Subject: deferred-then-delivered"), 30, 0.3),
          "not delivered after the flush:\n%s" % pf.log_tail())
    eq(len(find_file_with(maildir, b"Subject: deferred-then-delivered")), 1, "delivered once")


def pf_home_maildir(pf, sysd):
    pw = system_user("bztmd", "mdpass")
    pf.postconf("mailbox_command =", "home_mailbox = Maildir/")
    pf.reload()
    data = b"From: z@example.net\r\nTo: bztmd@localhost\r\nSubject: via-home-maildir\r\n\r\nhey\r\n"
    pf.send("z@example.net", "bztmd@localhost", data)
    maildir = os.path.join(pw.pw_dir, "Maildir")
    files = wait_for(lambda: find_file_with(maildir, b"via-home-maildir"), 30, 0.5)
    check(files, "Postfix did not write ~/Maildir within 30 s:\n%s" % pf.log_tail())
    got = [x for x in imap_fetch_all(sysd, "bztmd", "mdpass", imaps=True)
           if b"via-home-maildir" in x[3]]
    eq(len(got), 1, "over IMAPS as the system user")
    check(b"Delivered-To: bztmd@localhost" in got[0][3], "Postfix's headers")
    for dirpath, dirs, fnames in os.walk(maildir):
        for n in dirs + fnames:
            st = os.stat(os.path.join(dirpath, n))
            check(st.st_uid == pw.pw_uid, "%s owned by uid %d, not the user" %
                  (os.path.join(dirpath, n), st.st_uid))


# ---------------------------------------------------------------- driver

BUZON = None


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

    def sel(name):
        return not want or name in want

    lmtp_cases = [
        ("lmtp-lhlo-caps", t_lhlo_caps), ("lmtp-unknown-user", t_unknown_user),
        ("lmtp-two-rcpts-one-unknown", t_two_rcpts_one_unknown),
        ("lmtp-user-removed-after-rcpt", t_user_removed_after_rcpt),
        ("lmtp-multi-rcpt-order", t_multi_rcpt_order), ("lmtp-pipelining", t_pipelining),
        ("lmtp-half-close", t_half_close),
        ("lmtp-dot-stuffing-imap-exact", t_dot_stuffing_imap_exact),
        ("lmtp-size-limit", t_size_limit), ("lmtp-rcpt-limit", t_rcpt_limit),
        ("lmtp-rset", t_rset),
        ("lmtp-bad-commands", t_bad_commands), ("lmtp-smuggling", t_smuggling),
        ("lmtp-idle-sees-delivery", t_idle_sees_delivery),
        ("lmtp-detail-folder", t_detail_folder),
        ("lmtp-hostile-recipients", t_hostile_recipients),
        ("lmtp-process-identity", t_lmtp_process_identity),
        ("lmtp-nonreader-output-bound", t_nonreader_output_bound),
        ("deliver-cli", t_deliver_cli), ("deliver-exit-codes", t_deliver_exit_codes),
        ("import-mbox", t_import_mbox),
        ("progress", t_progress),
        ("fault-kill-lmtp-mid-data", t_kill_lmtp_mid_data),
        ("fault-kill-deliver-mid-stdin", t_kill_deliver_mid_stdin),
    ]
    if any(sel(n) for n, _ in lmtp_cases):
        srv = buzontest.Server(users={"demo": "demo", "alice": "alice"}, fill=False, lmtp=True,
                               config=["mail_max_size = 1M"], buzon=BUZON)
        try:
            srv.start()
            for n, fn in lmtp_cases:
                if sel(n):
                    run_case(n, fn, srv)
        except buzontest.ServerError as e:
            print("FAIL lmtp-server: %s" % str(e).replace("\n", " ")[:400])
            RESULTS["fail"] += 1
        finally:
            for p in srv.stop():
                print("FAIL lmtp-server-teardown: %s" % p.replace("\n", " ")[:400])
                RESULTS["fail"] += 1
    if sel("lmtp-role-fake-master"):
        run_case("lmtp-role-fake-master", t_lmtp_role)
    if sel("lmtp-role-spool"):
        run_case("lmtp-role-spool", t_lmtp_role_spool)
    if sel("lmtp-spool-bounds"):
        run_case("lmtp-spool-bounds", t_spool_bounds)
    if sel("lmtp-unix-socket"):
        run_case("lmtp-unix-socket", t_unix_socket)
    if sel("lmtp-unix-socket-mode"):
        run_case("lmtp-unix-socket-mode", t_unix_socket_mode)
    if sel("mailroot-symlink"):
        run_case("mailroot-symlink", t_mailroot_symlink)
    if sel("sieve"):
        run_case("sieve", t_sieve)
    if sel("sieve-send"):
        run_case("sieve-send", t_sieve_send)
    if sel("sieve-reject-mdn"):
        run_case("sieve-reject-mdn", t_sieve_send, True)
    if sel("sieve-send-async"):
        run_case("sieve-send-async", t_sieve_send_async)
    if sel("sieve-keep"):
        run_case("sieve-keep", t_sieve_keep)
    if sel("sieve-global"):
        run_case("sieve-global", t_sieve_global)
    if sel("quota"):
        run_case("quota", t_quota)
    if sel("fault-full-disk"):
        run_case("fault-full-disk", t_full_disk)
    if sel("fault-permission"):
        run_case("fault-permission", t_permission_error)
    if sel("postfix-sieve-send"):
        t_postfix_sieve()
    if not want or want & {"postfix-lmtp", "postfix-mailbox-command", "postfix-home-maildir"}:
        try:
            t_postfix_all()
        except Exception as e:
            traceback.print_exc()
            print("FAIL postfix-setup: %s" % str(e).replace("\n", " ")[:400])
            RESULTS["fail"] += 1
    print("%d passed, %d failed" % (RESULTS["pass"], RESULTS["fail"]))
    return 1 if RESULTS["fail"] else 0


if __name__ == "__main__":
    sys.exit(main())
