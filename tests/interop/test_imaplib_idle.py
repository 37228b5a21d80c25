#!/usr/bin/env python3
"""IDLE (RFC 2177) with Python imaplib: a message written into the user's Maildir (tmp/
then rename into new/, as an MDA does) and a message APPENDed by a second session must
each be announced with "* n EXISTS" within 2 s (+0.5 s tolerance), then DONE ends IDLE.
"""
# kind: protocol
import os
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import buzontest as bt

LIMIT = 2.5


def wait_exists(m, n, res, what):
    """Read untagged lines until "* n EXISTS"; returns the seconds it took or None."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < LIMIT:
        m.sock.settimeout(max(0.05, LIMIT - (time.monotonic() - t0)))
        try:
            line = m.readline()
        except (socket.timeout, TimeoutError):
            break
        if not line:
            res.fail("%s: connection closed during IDLE" % what)
            return None
        sys.stderr.write("S: %r\n" % line)
        if line.strip().upper() == b"* %d EXISTS" % n:
            return time.monotonic() - t0
    res.fail("%s: no '* %d EXISTS' within %.1f s" % (what, n, LIMIT))
    return None


def body(srv, res):
    n = len(bt.fixture_messages())
    m = srv.imap()
    typ, data = m.select("INBOX")
    res.eq((typ, int(data[0])), ("OK", n), "SELECT INBOX")
    res.check("IDLE" in [c.upper() for c in m.capabilities], "IDLE advertised")

    tag = m._new_tag()
    m.send(tag + b" IDLE\r\n")
    m.sock.settimeout(5)
    line = m.readline()
    res.check(line.startswith(b"+"), "IDLE continuation: %r" % line)

    msg = (b"From: Mia Chen <mia@example.org>\nTo: demo@example.org\n"
           b"Subject: Delivered while idling\nDate: Fri, 20 Mar 2026 09:00:00 +0100\n"
           b"Message-ID: <idle-1@example.org>\n\nThis arrived during IDLE.\n")
    srv.deliver("demo", msg)
    dt = wait_exists(m, n + 1, res, "delivery into new/")
    if dt is not None:
        sys.stderr.write("EXISTS after %.3f s\n" % dt)

    # A second session appends: the idling session hears about it too.
    other = srv.imaps()
    typ, _ = other.append("INBOX", "", None, b"From: a@example.org\r\nSubject: appended\r\n\r\nhi\r\n")
    res.eq(typ, "OK", "APPEND from a second session")
    wait_exists(m, n + 2, res, "APPEND by another session")
    other.logout()

    m.send(b"DONE\r\n")
    m.sock.settimeout(5)
    while True:
        line = m.readline()
        sys.stderr.write("S: %r\n" % line)
        if not line or line.startswith(tag):
            break
    res.check(line.startswith(tag + b" OK"), "IDLE ends with tagged OK: %r" % line)

    typ, data = m.fetch(str(n + 1), "(BODY.PEEK[])")
    it = bt.parse_fetch(data)[0][1] if typ == "OK" and data and data[0] else {}
    res.eq(bt.lf(it.get("BODY[]") or b""), msg, "the delivered message is message n+1")
    typ, data = m.noop()
    res.eq(typ, "OK", "NOOP after IDLE")
    m.logout()


if __name__ == "__main__":
    bt.run_test("imaplib-idle", body)
