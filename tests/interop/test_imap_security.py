#!/usr/bin/env python3
"""Authentication and STARTTLS security over raw sockets and imaplib:
- wrong password and unknown user both give NO [AUTHENTICATIONFAILED], same text;
- plaintext LOGIN is refused from a non-loopback source (client bound to 127.0.0.2)
  with the default auth_allow_cleartext = loopback, and from anywhere with
  auth_allow_cleartext = no: LOGINDISABLED advertised, no AUTH=PLAIN, LOGIN and
  AUTHENTICATE PLAIN answer NO [PRIVACYREQUIRED] (SEC-05);
- STARTTLS command injection (SEC-01 in /work/shared/RELIABILITY.md): pipelined
  commands after STARTTLS are either rejected (connection closed) or discarded (never
  answered inside TLS); the split variant never logs in.
"""
# kind: protocol
import imaplib
import os
import socket
import ssl
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import buzontest as bt

FAR = "127.0.0.2"	# not the server's address: not "secure" for cleartext purposes


def line(s):
    """One line read byte by byte (so no TLS bytes are swallowed); None on EOF."""
    b = b""
    while not b.endswith(b"\r\n"):
        try:
            c = s.recv(1)
        except ConnectionResetError:
            return None
        if not c:
            return None
        b += c
    sys.stderr.write("S: %r\n" % b)
    return b


def until_tagged(s, tag):
    lines = []
    while True:
        ln = line(s)
        if ln is None:
            return lines, None
        if ln.startswith(tag + b" "):
            return lines, ln
        lines.append(ln)


def tls_ctx():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def cleartext_refused(res, port, src, what):
    s = socket.create_connection((bt.HOST, port), timeout=5, source_address=(src, 0))
    greet = line(s)
    res.check(greet is not None and greet.startswith(b"* OK"), "%s: greeting" % what)
    s.sendall(b"a CAPABILITY\r\n")
    lines, tagged = until_tagged(s, b"a")
    caps = b" ".join(lines).upper().split()
    if greet and b"[CAPABILITY " in greet.upper():
        res.check(b"LOGINDISABLED" in greet.upper(), "%s: LOGINDISABLED in greeting capabilities" % what)
    res.check(b"LOGINDISABLED" in caps, "%s: LOGINDISABLED advertised (%r)" % (what, lines))
    res.check(b"AUTH=PLAIN" not in caps, "%s: no AUTH=PLAIN before TLS" % what)
    res.check(b"STARTTLS" in caps, "%s: STARTTLS advertised" % what)
    s.sendall(b"b LOGIN demo demo\r\n")
    _, tagged = until_tagged(s, b"b")
    res.check(tagged is not None and tagged.upper().startswith(b"B NO [PRIVACYREQUIRED]"),
              "%s: LOGIN -> NO [PRIVACYREQUIRED] (%r)" % (what, tagged))
    s.sendall(b"c AUTHENTICATE PLAIN AGRlbW8AZGVtbw==\r\n")
    _, tagged = until_tagged(s, b"c")
    res.check(tagged is not None and tagged.upper().startswith(b"C NO [PRIVACYREQUIRED]")
              or tagged is not None and tagged.upper().startswith(b"C BAD"),
              "%s: AUTHENTICATE PLAIN refused (%r)" % (what, tagged))
    s.sendall(b"d SELECT INBOX\r\n")
    _, tagged = until_tagged(s, b"d")
    res.check(tagged is not None and not tagged.upper().startswith(b"D OK"),
              "%s: not logged in afterwards (%r)" % (what, tagged))
    s.close()


def injection(res, port, inject, what, after_tls=None):
    """SEC-01 probe; returns nothing, records pass/fail."""
    s = socket.create_connection((bt.HOST, port), timeout=5, source_address=(FAR, 0))
    greet = line(s)
    if not res.check(greet is not None and greet.startswith(b"* OK"), "%s: greeting" % what):
        return
    s.sendall(b"a STARTTLS\r\n" + inject)	# one write = one segment on loopback
    r = line(s)
    if r is None:
        res.check(True, "%s: rejected (connection closed)" % what)
        return
    if not res.check(r.startswith(b"a OK"), "%s: STARTTLS answered %r" % (what, r)):
        return
    try:
        t = tls_ctx().wrap_socket(s, server_hostname="localhost")
    except (ssl.SSLError, OSError) as e:
        res.check(True, "%s: rejected (handshake refused: %s)" % (what, e))
        return
    t.settimeout(2)
    if after_tls is None:
        try:
            data = t.recv(4096)
        except (socket.timeout, TimeoutError):
            data = b""
        except (ssl.SSLError, OSError):
            data = b""
        res.eq(data, b"", "%s: injected command not answered inside TLS" % what)
    else:
        t.sendall(after_tls)
        r = line(t)
        res.check(r is None or not r.upper().startswith(b"B OK") and b" OK " not in r.upper()[:8],
                  "%s: the split command did not succeed: %r" % (what, r))
        if r is not None:
            t.sendall(b"z SELECT INBOX\r\n")
            _, tagged = until_tagged(t, b"z")
            res.check(tagged is None or not tagged.upper().startswith(b"Z OK"),
                      "%s: not logged in (%r)" % (what, tagged))
    t.close()


def body(srv, res):
    # Wrong password, unknown user: the same answer.
    answers = []
    for user, pw in (("demo", "wrong"), ("nosuchuser", "demo")):
        m = srv.imap(login=False)
        try:
            m.login(user, pw)
            res.fail("LOGIN %s/%s succeeded" % (user, pw))
        except imaplib.IMAP4.error as e:
            answers.append(str(e))
            res.check("[AUTHENTICATIONFAILED]" in str(e), "LOGIN %s/%s -> %s" % (user, pw, e))
        m.logout()
    res.eq(len(set(answers)), 1, "unknown user and wrong password look the same")
    m = srv.imap()		# and the right password still works
    m.logout()

    cleartext_refused(res, srv.imap_port, FAR, "default config, client 127.0.0.2")
    injection(res, srv.imap_port, b"b CAPABILITY\r\n", "SEC-01 STARTTLS+CAPABILITY")
    injection(res, srv.imap_port, b"b LOGIN demo demo\r\n", "SEC-01 STARTTLS+LOGIN")
    injection(res, srv.imap_port, b"b LOG", "SEC-01 split line", after_tls=b"IN demo demo\r\n")

    with bt.Server(config=["auth_allow_cleartext = no"]) as strict:
        cleartext_refused(res, strict.imap_port, bt.HOST, "auth_allow_cleartext = no, client 127.0.0.1")
        m = strict.imap()		# over TLS it works
        m.logout()


if __name__ == "__main__":
    bt.run_test("imap-security", body)
