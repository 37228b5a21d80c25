#!/usr/bin/env python3
"""openssl s_client (OpenSSL 3.0) against the IMAPS and STARTTLS ports: the TLS policy
checks of /work/shared/RELIABILITY.md (SEC-21, SEC-50..SEC-52, SEC-54): TLS 1.3 and
TLS 1.2 with ECDHE+AEAD work; TLS 1.0/1.1, CBC and anonymous suites are refused; ALPN
"http/1.1" is refused with no_application_protocol (ALPACA), "imap" is selected, no ALPN
works; secure renegotiation is supported but client-initiated renegotiation refused;
no compression; the certificate verifies against the test CA file for localhost;
`-starttls imap` works.
"""
# kind: client
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import buzontest as bt


def s_client(port, *args, stdin=b""):
    cmd = ["openssl", "s_client", "-connect", "127.0.0.1:%d" % port] + list(args)
    r = subprocess.run(cmd, input=stdin, capture_output=True, timeout=20)
    out = (r.stdout + r.stderr).decode("utf-8", "replace")
    sys.stderr.write("$ %s -> %d\n" % (" ".join(cmd[2:]), r.returncode))
    return r.returncode, out


def body(srv, res):
    if not res.check(shutil.which("openssl"), "openssl installed"):
        return
    p = srv.imaps_port

    rc, out = s_client(p, "-tls1_3", "-brief")
    res.check(rc == 0 and "Protocol version: TLSv1.3" in out, "TLS 1.3 works")
    for suite in ("ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
                  "ECDHE-ECDSA-CHACHA20-POLY1305"):
        rc, out = s_client(p, "-tls1_2", "-cipher", suite, "-brief")
        res.check(rc == 0 and "Ciphersuite: %s" % suite in out, "TLS 1.2 %s works" % suite)
    for args, what in ((["-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"], "TLS 1.1"),
                       (["-tls1", "-cipher", "DEFAULT@SECLEVEL=0"], "TLS 1.0"),
                       (["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-SHA"], "CBC + SHA1 suite"),
                       (["-tls1_2", "-cipher", "ECDHE-ECDSA-AES256-SHA384"], "CBC + SHA384 suite"),
                       (["-tls1_2", "-cipher", "aNULL:@SECLEVEL=0"], "anonymous suites")):
        rc, out = s_client(p, *args)
        res.check(rc != 0 and "CONNECTION ESTABLISHED" not in out and "* OK" not in out,
                  "%s refused" % what)

    rc, out = s_client(p, "-alpn", "http/1.1")
    res.check(rc != 0 and "no application protocol" in out, "ALPN http/1.1 refused (ALPACA, SEC-21)")
    rc, out = s_client(p, "-alpn", "imap")
    res.check(rc == 0 and "ALPN protocol: imap" in out, "ALPN imap selected")
    # -ign_eof: read until the server closes after LOGOUT, so the greeting is never missed
    rc, out = s_client(p, "-tls1_2", "-ign_eof", stdin=b"a LOGOUT\r\n")
    res.check(rc == 0 and "No ALPN negotiated" in out and "* OK" in out, "no ALPN works")
    res.check("Secure Renegotiation IS supported" in out, "secure renegotiation supported (TLS 1.2)")
    res.check("Compression: NONE" in out, "no TLS compression")

    rc, out = s_client(p, "-CAfile", srv.cert, "-verify_hostname", "localhost",
                       "-verify_return_error", "-brief")
    res.check(rc == 0 and "Verification: OK" in out, "certificate verifies for localhost")
    rc, out = s_client(p, "-CAfile", srv.cert, "-verify_ip", "127.0.0.1", "-verify_return_error", "-brief")
    res.check(rc == 0 and "Verification: OK" in out, "certificate verifies for 127.0.0.1")

    # Client-initiated renegotiation (s_client sends one on a line "R").
    pr = subprocess.Popen(["openssl", "s_client", "-connect", "127.0.0.1:%d" % p, "-tls1_2"],
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        time.sleep(0.5)
        pr.stdin.write(b"R\n")
        pr.stdin.flush()
        time.sleep(1)
        pr.stdin.write(b"a NOOP\n")
        pr.stdin.flush()
        time.sleep(0.5)
    except BrokenPipeError:
        pass
    try:
        out = pr.communicate(timeout=10)[0].decode("utf-8", "replace")
    except (subprocess.TimeoutExpired, ValueError, BrokenPipeError):
        pr.kill()
        out = pr.communicate()[0].decode("utf-8", "replace")
    res.check("RENEGOTIATING" in out and "a OK" not in out, "client-initiated renegotiation refused")

    rc, out = s_client(srv.imap_port, "-starttls", "imap", "-brief")
    res.check(rc == 0 and "Protocol version: TLSv1.3" in out, "-starttls imap works")


if __name__ == "__main__":
    bt.run_test("openssl", body)
