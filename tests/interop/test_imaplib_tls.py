#!/usr/bin/env python3
"""TLS with Python's ssl/imaplib (SEC-04, SEC-06): IMAP4_SSL on the implicit-TLS port
verifies the test certificate by IP and by name and negotiates TLS 1.2 or 1.3;
plaintext sent to that port gets no IMAP answer and is closed within about a second;
after STARTTLS, CAPABILITY lacks STARTTLS/LOGINDISABLED, a second STARTTLS is BAD,
and STARTTLS after LOGIN is BAD; the STARTTLS-port greeting is never PREAUTH.
"""
# kind: protocol
import imaplib
import os
import socket
import ssl
import sys
import time
import warnings

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import buzontest as bt


def body(srv, res):
    m = srv.imaps(login=False)
    res.check(m.welcome.startswith(b"* OK"), "IMAPS greeting: %r" % m.welcome)
    ver = m.sock.version()
    res.check(ver in ("TLSv1.2", "TLSv1.3"), "TLS version %s" % ver)
    typ, _ = m.login("demo", "demo")
    res.eq(typ, "OK", "LOGIN over implicit TLS")
    typ, data = m.select("INBOX", readonly=True)
    res.eq(typ, "OK", "EXAMINE INBOX")
    m.logout()

    # The certificate names localhost too (mbsync and mutt verify by name).
    ctx = srv.ssl_context()
    with socket.create_connection((bt.HOST, srv.imaps_port), timeout=5) as s:
        with ctx.wrap_socket(s, server_hostname="localhost") as t:
            res.check(t.recv(100).startswith(b"* OK"), "verified as 'localhost'")

    # TLS 1.1 must be refused (OpenSSL's client needs SECLEVEL=0 to even try).
    old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    old.check_hostname = False
    old.verify_mode = ssl.CERT_NONE
    try:
        old.set_ciphers("DEFAULT@SECLEVEL=0")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            old.minimum_version = ssl.TLSVersion.TLSv1_1
            old.maximum_version = ssl.TLSVersion.TLSv1_1
        with socket.create_connection((bt.HOST, srv.imaps_port), timeout=5) as s:
            try:
                with old.wrap_socket(s) as t:
                    res.fail("TLS 1.1 handshake succeeded (%s)" % t.version())
            except (ssl.SSLError, OSError) as e:
                res.check(True, "TLS 1.1 refused (%s)" % e)
    except (ValueError, ssl.SSLError) as e:
        sys.stderr.write("TLS 1.1 check skipped: local OpenSSL cannot offer it (%s)\n" % e)

    # Plaintext to the implicit-TLS port.
    with socket.create_connection((bt.HOST, srv.imaps_port), timeout=5) as s:
        t0 = time.monotonic()
        s.sendall(b"a CAPABILITY\r\n")
        s.settimeout(3)
        got = b""
        try:
            while True:
                c = s.recv(4096)
                if not c:
                    break
                got += c
        except (socket.timeout, TimeoutError):
            res.fail("plaintext on the IMAPS port: not closed within 3 s")
        except ConnectionResetError:
            pass
        dt = time.monotonic() - t0
        res.check(b"CAPABILITY" not in got.upper() and b"* OK" not in got,
                  "plaintext on the IMAPS port gets no IMAP answer: %r" % got[:80])
        res.check(dt < 1.5, "plaintext on the IMAPS port closed in %.2f s" % dt)

    # STARTTLS port: state after TLS.
    m = srv.imap(starttls=False, login=False)
    res.check(not m.welcome.upper().startswith(b"* PREAUTH"), "no PREAUTH greeting")
    res.check("STARTTLS" in [c.upper() for c in m.capabilities], "STARTTLS offered before TLS")
    m.starttls(ssl_context=srv.ssl_context())
    typ, data = m.capability()
    caps = data[0].upper().split()
    res.check(b"STARTTLS" not in caps and b"LOGINDISABLED" not in caps,
              "after STARTTLS: no STARTTLS/LOGINDISABLED (%r)" % data[0])
    res.check(b"AUTH=PLAIN" in caps, "after STARTTLS: AUTH=PLAIN offered")
    try:
        typ, data = m._simple_command("STARTTLS")
        res.fail("second STARTTLS answered %s %r" % (typ, data))
    except imaplib.IMAP4.error as e:
        res.check("BAD" in str(e), "second STARTTLS refused with BAD: %s" % e)
    typ, _ = m.login("demo", "demo")
    res.eq(typ, "OK", "LOGIN after STARTTLS")
    m.logout()
    m = srv.imap(starttls=False, login=False)
    typ, _ = m.login("demo", "demo")	# plaintext LOGIN from 127.0.0.1: allowed by default
    res.eq(typ, "OK", "plaintext LOGIN from loopback (auth_allow_cleartext = loopback)")
    tag = m._new_tag()
    m.send(tag + b" STARTTLS\r\n")
    m.sock.settimeout(5)
    line = m.readline()
    res.check(line.startswith(tag + b" BAD") or line.startswith(tag + b" NO"),
              "STARTTLS after LOGIN refused: %r" % line)
    m.logout()


if __name__ == "__main__":
    bt.run_test("imaplib-tls", body)
