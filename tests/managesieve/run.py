#!/usr/bin/env python3
"""ManageSieve tests (issue 15, RFC 5804): scripted dialogues against a real buzon on
127.0.0.1 — the capability greeting, STARTTLS and the capabilities again, AUTHENTICATE
PLAIN with an initial response and with a continuation, LOGIN, a wrong password, every
command with its response codes (NONEXISTENT, ALREADYEXISTS, ACTIVE, QUOTA/MAXSIZE,
QUOTA/MAXSCRIPTS), a broken script (NO "line:column: ..."), literals {n+} and {n},
oversized lines and literals, NUL bytes, the files and the symlink on disk; then
sieve-connect (Debian package) uploading, activating, listing, downloading and deleting
over STARTTLS with a self-signed certificate.  Each test starts its own server
(tests/lib/buzontest.py) and prints "PASS name" or "FAIL name: reasons"; the last line
is "N passed, M failed".

  run.py [--buzon PATH] [NAME...]     (details of every check go to stderr)
"""
import atexit
import base64
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import buzontest as bt  # noqa: E402
from sieveraw import Raw, plain  # noqa: E402

TESTS = []


def test(**options):
    def deco(fn):
        TESTS.append((fn.__name__, fn, options))
        return fn
    return deco


def login(srv, user="demo", password="demo"):
    r = Raw(srv)
    r.response()
    lines, ok = r.cmd(b'AUTHENTICATE "PLAIN" "' + plain(user, password) + b'"\r\n')
    if not ok.startswith(b"OK"):
        raise AssertionError("login failed: %r" % ok)
    return r


def home(srv, user="demo"):
    return os.path.join(srv.tmp, "home", user)


def caps(lines):
    d = {}
    for ln in lines:
        m = re.match(rb'"([^"]+)"(?: "([^"]*)")?$', ln)
        if m:
            d[m.group(1).decode()] = (m.group(2) or b"").decode()
    return d


# ---- tests ----------------------------------------------------------------------------

@test()
def greeting_starttls_auth(srv, res):
    r = Raw(srv)
    lines, ok = r.response()
    c = caps(lines)
    res.check(ok.startswith(b"OK"), "greeting ends with OK: %r" % ok)
    res.eq(c.get("IMPLEMENTATION"), "buzon", "IMPLEMENTATION")
    res.eq(c.get("VERSION"), "1.0", "VERSION")
    res.eq(c.get("MAXREDIRECTS"), "4", "MAXREDIRECTS")
    res.check("STARTTLS" in c, "STARTTLS offered before TLS")
    res.eq(c.get("SASL"), "PLAIN LOGIN", "SASL on loopback (auth_allow_cleartext = loopback)")
    sieve = c.get("SIEVE", "").split()
    for ext in ("fileinto", "vacation", "variables", "imap4flags", "include", "regex"):
        res.check(ext in sieve, "SIEVE lists %s" % ext)
    res.check("NOTIFY" not in c and "UNAUTHENTICATE" not in c, "no NOTIFY/UNAUTHENTICATE")
    lines, ok = r.cmd(b"CAPABILITY\r\n")
    res.eq(caps(lines), c, "CAPABILITY repeats the greeting")
    lines, ok = r.cmd(b'NOOP\r\n')
    res.check(ok.startswith(b"OK"), "NOOP before login")
    lines, ok = r.cmd(b'NOOP "STARTTLS-SYNC-42"\r\n')
    res.eq(ok, b'OK (TAG "STARTTLS-SYNC-42") "Done."', "NOOP with a tag before login")
    lines, ok = r.cmd(b'LISTSCRIPTS\r\n')
    res.check(ok.startswith(b"NO"), "LISTSCRIPTS before login: NO")
    lines, ok = r.cmd(b"STARTTLS\r\n")
    res.check(ok.startswith(b"OK"), "STARTTLS: %r" % ok)
    r.starttls()
    # RFC 5804 §2.2: the capabilities again, unasked, without STARTTLS
    lines, ok = r.response()
    c2 = caps(lines)
    res.check(ok.startswith(b"OK"), "capabilities after TLS end with OK")
    res.check("STARTTLS" not in c2 and c2.get("SASL") == "PLAIN LOGIN",
              "after TLS: no STARTTLS, SASL PLAIN LOGIN: %r" % c2)
    # PLAIN with a continuation (empty challenge), the response as a literal
    r.send(b'AUTHENTICATE "PLAIN"\r\n')
    res.eq(r.line(), b'""', "PLAIN: empty challenge")
    resp = plain("demo", "demo")
    lines, ok = r.cmd(b"{%d+}\r\n" % len(resp) + resp + b"\r\n")
    res.check(ok.startswith(b"OK"), "AUTHENTICATE PLAIN with continuation: %r" % ok)
    lines, ok = r.cmd(b"LISTSCRIPTS\r\n")
    res.check(ok.startswith(b"OK") and lines == [], "LISTSCRIPTS (empty) over TLS")
    lines, ok = r.cmd(b"LOGOUT\r\n")
    res.check(ok.startswith(b"OK"), "LOGOUT")
    res.check(r.closed(), "closed after LOGOUT")


@test()
def starttls_injection(srv, res):
    """Plaintext pipelined behind STARTTLS is discarded (CVE-2011-0411)."""
    r = Raw(srv)
    r.response()
    r.send(b"STARTTLS\r\nNOOP \"injected\"\r\n")
    lines, ok = r.response()
    res.check(ok.startswith(b"OK"), "STARTTLS")
    r.starttls()
    lines, ok = r.response()
    res.check(ok.startswith(b"OK") and b"injected" not in ok, "capabilities after TLS")
    lines, ok = r.cmd(b'NOOP "after"\r\n')
    res.eq(ok, b'OK (TAG "after") "Done."', "the injected NOOP was never answered")
    r.close()


@test()
def large_script_over_tls(srv, res):
    """A 200 KB script through the TLS proxy of the login process, both ways."""
    r = Raw(srv, timeout=15)
    r.response()
    r.cmd(b"STARTTLS\r\n")
    r.starttls()
    r.response()
    lines, ok = r.cmd(b'AUTHENTICATE "PLAIN" "' + plain("demo", "demo") + b'"\r\n')
    res.check(ok.startswith(b"OK"), "login over TLS")
    script = b"".join(b'# rule %06d: a long comment line to make the script large enough\r\n'
                      % i for i in range(3000)) + b"keep;\r\n"
    res.check(len(script) > 200000, "script of %d bytes" % len(script))
    lines, ok = r.cmd(b'PUTSCRIPT "big" {%d+}\r\n' % len(script) + script + b"\r\n")
    res.check(ok.startswith(b"OK"), "PUTSCRIPT of a large script: %r" % ok[:80])
    lines, ok = r.cmd(b'GETSCRIPT "big"\r\n')
    res.check(ok.startswith(b"OK") and lines == [b"{%d}\r\n" % len(script) + script],
              "GETSCRIPT returns it whole")
    r.close()


@test()
def auth_variants(srv, res):
    r = Raw(srv)
    r.response()
    # a wrong password: NO, the session continues (the failure delay is off in tests)
    lines, ok = r.cmd(b'AUTHENTICATE "PLAIN" "' + plain("demo", "wrong") + b'"\r\n')
    res.check(ok.startswith(b"NO"), "wrong password: %r" % ok)
    # cancelled continuation
    r.send(b'AUTHENTICATE "PLAIN"\r\n')
    r.line()
    lines, ok = r.cmd(b'"*"\r\n')
    res.check(ok.startswith(b"NO"), "cancelled: %r" % ok)
    lines, ok = r.cmd(b'AUTHENTICATE "CRAM-MD5"\r\n')
    res.check(ok.startswith(b"NO"), "unknown mechanism: %r" % ok)
    # LOGIN with a synchronising literal {n} and a quoted string
    r.send(b'AUTHENTICATE "LOGIN"\r\n')
    res.eq(r.line(), b'"VXNlcm5hbWU6"', "LOGIN asks for the user name")
    u = base64.b64encode(b"demo")
    r.send(b"{%d}\r\n" % len(u) + u + b"\r\n")
    res.eq(r.line(), b'"UGFzc3dvcmQ6"', "LOGIN asks for the password")
    lines, ok = r.cmd(b'"' + base64.b64encode(b"demo") + b'"\r\n')
    res.check(ok.startswith(b"OK"), "AUTHENTICATE LOGIN: %r" % ok)
    lines, ok = r.cmd(b"CAPABILITY\r\n")
    c = caps(lines)
    res.check(ok.startswith(b"OK") and "fileinto" in c.get("SIEVE", "") and
              c.get("VERSION") == "1.0" and "STARTTLS" not in c and "SASL" not in c and
              c.get("OWNER") == "demo",
              "CAPABILITY after login: %r" % c)
    lines, ok = r.cmd(b'AUTHENTICATE "PLAIN" "' + plain("demo", "demo") + b'"\r\n')
    res.check(ok.startswith(b"NO"), "AUTHENTICATE after login: NO")
    lines, ok = r.cmd(b"UNAUTHENTICATE\r\n")
    res.check(ok.startswith(b"NO"), "UNAUTHENTICATE refused (not advertised)")
    lines, ok = r.cmd(b'NOOP "tag-1"\r\n')
    res.eq(ok, b'OK (TAG "tag-1") "Done."', "NOOP with a tag")
    r.close()


@test(config=["auth_allow_cleartext = no"])
def plaintext_refused(srv, res):
    r = Raw(srv)
    lines, ok = r.response()
    res.eq(caps(lines).get("SASL"), "", "no mechanisms without TLS")
    lines, ok = r.cmd(b'AUTHENTICATE "PLAIN" "' + plain("demo", "demo") + b'"\r\n')
    res.check(ok.startswith(b"NO (ENCRYPT-NEEDED)"), "AUTHENTICATE without TLS: %r" % ok)
    r.close()


@test(config=["auth_failure_delay_max = 1"])
def wrong_password_delay(srv, res):
    r = Raw(srv, timeout=10)
    r.response()
    for i in range(3):
        lines, ok = r.cmd(b'AUTHENTICATE "PLAIN" "' + plain("demo", "bad%d" % i) + b'"\r\n')
        res.check(ok.startswith(b"NO"), "wrong password %d: %r" % (i, ok))
    # the third failure ends the connection (as IMAP and POP3)
    res.check(r.closed(), "closed after three failures")


@test(config=["auth_ban_failures = 2", "auth_ban_seconds = 600"])
def ban(srv, res):
    """Failures over ManageSieve count for the address's ban like IMAP's."""
    for i in range(2):
        r = Raw(srv)
        r.response()
        lines, ok = r.cmd(b'AUTHENTICATE "PLAIN" "' + plain("demo", "bad") + b'"\r\n')
        res.check(ok.startswith(b"NO"), "failure %d" % i)
        r.close()
    r = Raw(srv)
    r.response()
    lines, ok = r.cmd(b'AUTHENTICATE "PLAIN" "' + plain("demo", "demo") + b'"\r\n')
    res.check(ok.startswith(b"NO"), "the right password is refused while banned: %r" % ok)
    res.check(re.search(r"auth ban ip=127\.0\.0\.1", srv.log_text()) is not None,
              "the ban is logged")
    r.close()


@test(config=["managesieve_max_script_size = 1000", "managesieve_max_scripts = 3"])
def commands(srv, res):
    r = login(srv)
    h = home(srv)
    sdir = os.path.join(h, "sieve")
    link = os.path.join(h, ".dovecot.sieve")
    script = b'require "fileinto";\r\nif header :contains "subject" "x" {\r\n  fileinto "Y";\r\n}\r\n'
    lines, ok = r.cmd(b'PUTSCRIPT "rules" {%d+}\r\n' % len(script) + script + b"\r\n")
    res.check(ok.startswith(b"OK"), "PUTSCRIPT: %r" % ok)
    with open(os.path.join(sdir, "rules.sieve"), "rb") as f:
        res.eq(f.read(), script, "stored as sieve/rules.sieve")
    # a broken script: NO with line:column, nothing stored
    bad = b'require "fileinto";\r\nfileinot "x";\r\n'
    lines, ok = r.cmd(b'PUTSCRIPT "broken" {%d+}\r\n' % len(bad) + bad + b"\r\n")
    res.check(re.match(rb'NO "2:1: .*fileinot', ok) is not None, "broken script: %r" % ok)
    res.check(not os.path.exists(os.path.join(sdir, "broken.sieve")), "broken: not stored")
    lines, ok = r.cmd(b'CHECKSCRIPT {%d}\r\n' % len(bad) + bad + b"\r\n")
    res.check(re.match(rb'NO "2:1: ', ok) is not None, "CHECKSCRIPT broken: %r" % ok)
    lines, ok = r.cmd(b'CHECKSCRIPT "keep;"\r\n')
    res.check(ok.startswith(b"OK"), "CHECKSCRIPT good: %r" % ok)
    # SETACTIVE: a relative symlink, as Pigeonhole makes it
    lines, ok = r.cmd(b'SETACTIVE "nosuch"\r\n')
    res.check(ok.startswith(b"NO (NONEXISTENT)"), "SETACTIVE unknown: %r" % ok)
    lines, ok = r.cmd(b'SETACTIVE "rules"\r\n')
    res.check(ok.startswith(b"OK"), "SETACTIVE: %r" % ok)
    res.eq(os.readlink(link) if os.path.islink(link) else None, "sieve/rules.sieve",
           "~/.dovecot.sieve -> sieve/rules.sieve")
    lines, ok = r.cmd(b"LISTSCRIPTS\r\n")
    res.eq(lines, [b'"rules" ACTIVE'], "LISTSCRIPTS marks the active one")
    lines, ok = r.cmd(b'GETSCRIPT "rules"\r\n')
    res.eq(lines, [b"{%d}\r\n" % len(script) + script], "GETSCRIPT returns a literal")
    lines, ok = r.cmd(b'GETSCRIPT "nosuch"\r\n')
    res.check(ok.startswith(b"NO (NONEXISTENT)"), "GETSCRIPT unknown: %r" % ok)
    lines, ok = r.cmd(b'DELETESCRIPT "rules"\r\n')
    res.check(ok.startswith(b"NO (ACTIVE)"), "DELETESCRIPT active: %r" % ok)
    lines, ok = r.cmd(b'PUTSCRIPT "other" "keep;"\r\n')
    res.check(ok.startswith(b"OK"), "PUTSCRIPT quoted")
    lines, ok = r.cmd(b'RENAMESCRIPT "rules" "other"\r\n')
    res.check(ok.startswith(b"NO (ALREADYEXISTS)"), "RENAMESCRIPT onto existing: %r" % ok)
    lines, ok = r.cmd(b'RENAMESCRIPT "nosuch" "x"\r\n')
    res.check(ok.startswith(b"NO (NONEXISTENT)"), "RENAMESCRIPT unknown: %r" % ok)
    lines, ok = r.cmd(b'RENAMESCRIPT "rules" "r\xc3\xa9gles"\r\n')
    res.check(ok.startswith(b"OK"), "RENAMESCRIPT active, UTF-8 name: %r" % ok)
    res.eq(os.readlink(link), "sieve/r\u00e9gles.sieve", "the link follows the rename")
    res.check(not os.path.exists(os.path.join(sdir, "rules.sieve")), "old name gone")
    # names
    for name in (b'"a/b"', b'""', b'"a\tb"', b'"\xc0\xaf"'):
        lines, ok = r.cmd(b"PUTSCRIPT " + name + b' "keep;"\r\n')
        res.check(ok.startswith(b"NO"), "bad name %r refused" % name)
    # quota
    lines, ok = r.cmd(b'HAVESPACE "new" 500\r\n')
    res.check(ok.startswith(b"OK"), "HAVESPACE small: %r" % ok)
    lines, ok = r.cmd(b'HAVESPACE "new" 5000\r\n')
    res.check(ok.startswith(b"NO (QUOTA/MAXSIZE)"), "HAVESPACE too big: %r" % ok)
    big = b"#" + b"x" * 1100 + b"\r\nkeep;\r\n"
    lines, ok = r.cmd(b'CHECKSCRIPT {%d+}\r\n' % len(big[:990]) + big[:990] + b"\r\n")
    res.check(ok.startswith(b"OK"), "CHECKSCRIPT of 990 bytes (under the limit): %r" % ok)
    lines, ok = r.cmd(b'PUTSCRIPT "third" "keep;"\r\n')
    res.check(ok.startswith(b"OK"), "third script")
    lines, ok = r.cmd(b'HAVESPACE "fourth" 10\r\n')
    res.check(ok.startswith(b"NO (QUOTA/MAXSCRIPTS)"), "HAVESPACE over count: %r" % ok)
    lines, ok = r.cmd(b'PUTSCRIPT "fourth" "keep;"\r\n')
    res.check(ok.startswith(b"NO (QUOTA/MAXSCRIPTS)"), "PUTSCRIPT over count: %r" % ok)
    lines, ok = r.cmd(b'PUTSCRIPT "third" "discard;"\r\n')
    res.check(ok.startswith(b"OK"), "replacing an existing script at the count limit")
    # deactivate, then delete
    lines, ok = r.cmd(b'SETACTIVE ""\r\n')
    res.check(ok.startswith(b"OK") and not os.path.lexists(link), "SETACTIVE \"\" removes the link")
    lines, ok = r.cmd(b'DELETESCRIPT "r\xc3\xa9gles"\r\n')
    res.check(ok.startswith(b"OK"), "DELETESCRIPT: %r" % ok)
    lines, ok = r.cmd(b'DELETESCRIPT "r\xc3\xa9gles"\r\n')
    res.check(ok.startswith(b"NO (NONEXISTENT)"), "DELETESCRIPT again: %r" % ok)
    lines, ok = r.cmd(b"LISTSCRIPTS\r\n")
    res.eq(sorted(lines), [b'"other"', b'"third"'], "LISTSCRIPTS at the end")
    # a name starting with a dot and one with quotes: stored, listed, quoted back
    r.cmd(b'DELETESCRIPT "third"\r\n')
    lines, ok = r.cmd(b'PUTSCRIPT ".dot \\"q\\"" "keep;"\r\n')
    res.check(ok.startswith(b"OK"), "PUTSCRIPT of .dot \"q\": %r" % ok)
    lines, ok = r.cmd(b"LISTSCRIPTS\r\n")
    res.eq(sorted(lines), [b'".dot \\"q\\""', b'"other"'], "LISTSCRIPTS quotes names")
    res.check(os.path.exists(os.path.join(sdir, '.dot "q".sieve')), "file .dot \"q\".sieve")
    res.check(not [f for f in os.listdir(sdir) if "tmp" in f], "no temporary files left")
    # an oversized literal: skipped, NO (QUOTA/MAXSIZE), the session goes on
    huge = b"#" * 5000
    r.send(b'PUTSCRIPT "huge" {5000+}\r\n')
    for i in range(0, len(huge), 1000):
        r.send(huge[i:i + 1000])
        time.sleep(0.01)
    lines, ok = r.cmd(b"\r\nNOOP\r\n")
    res.check(ok.startswith(b"NO (QUOTA/MAXSIZE)"), "literal over the limit: %r" % ok)
    lines, ok = r.response()
    res.check(ok.startswith(b"OK"), "the next command is answered: %r" % ok)
    res.check(not os.path.exists(os.path.join(sdir, "huge.sieve")), "nothing stored")
    # a literal length beyond any bound: BYE, connection closed
    r.send(b'PUTSCRIPT "huge" {99999999999999999999+}\r\n')
    lines, ok = r.response()
    res.check(ok.startswith(b"BYE"), "absurd literal length: %r" % ok)
    res.check(r.closed(), "closed after the absurd literal length")


@test()
def malformed(srv, res):
    r = login(srv)
    lines, ok = r.cmd(b'NOOP "a\0b"\r\n')
    res.check(ok.startswith(b"NO"), "NUL in a quoted string: %r" % ok)
    lines, ok = r.cmd(b'PUTSCRIPT "nul" {7+}\r\nkeep;\0\n\r\n')
    res.check(ok.startswith(b"NO"), "NUL in a script literal: %r" % ok)
    lines, ok = r.cmd(b'NOOP "a\\x"\r\n')
    res.check(ok.startswith(b"NO"), "bad escape")
    lines, ok = r.cmd(b"FOO\r\n")
    res.check(ok.startswith(b"NO"), "unknown command")
    lines, ok = r.cmd(b"NOOP\r\n")
    res.check(ok.startswith(b"OK"), "still in sync")
    r.send(b"NOOP " + b"x" * 20000 + b"\r\n")
    lines, ok = r.response()
    res.check(ok.startswith(b"BYE"), "overlong line: %r" % ok)
    res.check(r.closed(), "closed after the overlong line")
    # before login too
    r = Raw(srv)
    r.response()
    r.send(b"NOOP " + b"x" * 5000 + b"\r\n")
    lines, ok = r.response()
    res.check(ok.startswith(b"BYE"), "overlong line before login: %r" % ok)
    res.check(r.closed(), "closed")
    r = Raw(srv)
    r.response()
    r.send(b'AUTHENTICATE "PLAIN" {99999+}\r\n')
    lines, ok = r.response()
    res.check(ok.startswith(b"BYE"), "oversized SASL literal: %r" % ok)
    r = Raw(srv)
    r.response()
    for i in range(3):
        r.send(b"\0\0\r\n")
    lines, ok = r.response()
    res.check(ok.startswith(b"NO"), "NUL line before login")
    res.check(r.closed(), "three bad commands before login: closed")


@test()
def pipelined_after_login(srv, res):
    r = Raw(srv)
    r.response()
    r.send(b'AUTHENTICATE "PLAIN" "' + plain("demo", "demo") + b'"\r\nPUTSCRIPT "p" "keep;"\r\n'
           b'SETACTIVE "p"\r\nLISTSCRIPTS\r\nLOGOUT\r\n')
    finals = []
    for i in range(5):
        lines, ok = r.response()
        finals.append(ok[:2])
    res.eq(finals, [b"OK"] * 5, "pipelined commands after AUTHENTICATE all answered")
    res.check(os.path.islink(os.path.join(home(srv), ".dovecot.sieve")), "activated")


@test(lmtp=True)
def delivery_uses_active_script(srv, res):
    """A script uploaded and activated over ManageSieve files the next LMTP delivery."""
    import smtplib
    r = login(srv)
    script = (b'require "fileinto";\r\nif header :contains "subject" "ms-filter-test" '
              b'{\r\n  fileinto "Archive";\r\n}\r\n')
    lines, ok = r.cmd(b'PUTSCRIPT "filter" {%d+}\r\n' % len(script) + script + b"\r\n")
    res.check(ok.startswith(b"OK"), "PUTSCRIPT")
    lines, ok = r.cmd(b'SETACTIVE "filter"\r\n')
    res.check(ok.startswith(b"OK"), "SETACTIVE")
    r.cmd(b"LOGOUT\r\n")
    msg = (b"From: a@example.org\r\nTo: demo@example.org\r\nSubject: an ms-filter-test "
           b"message\r\nMessage-ID: <ms1@example.org>\r\n\r\nbody\r\n")
    lm = smtplib.LMTP(bt.HOST, srv.lmtp_port, timeout=10)
    try:
        lm.sendmail("a@example.org", ["demo"], msg)
    finally:
        lm.quit()
    archive = srv.maildir("demo", "Archive")
    deadline = time.monotonic() + 5
    found = False
    while time.monotonic() < deadline and not found:
        for sub in ("new", "cur"):
            d = os.path.join(archive, sub)
            for f in os.listdir(d) if os.path.isdir(d) else []:
                with open(os.path.join(d, f), "rb") as fh:
                    if b"ms-filter-test" in fh.read():
                        found = True
        time.sleep(0.05)
    res.check(found, "the delivery was filed into Archive by the active script")


SENDMAIL_DIR = tempfile.mkdtemp(prefix="ms-sendmail.")
atexit.register(shutil.rmtree, SENDMAIL_DIR, True)
os.chmod(SENDMAIL_DIR, 0o777)
SENDMAIL = os.path.join(SENDMAIL_DIR, "sendmail")
with open(SENDMAIL, "w") as f:
    f.write('#!/bin/sh\ncat > "%s/$(date +%%s%%N).$$.msg"\n' % SENDMAIL_DIR)
os.chmod(SENDMAIL, 0o755)


def jmap_call(srv, calls, using):
    """One JMAP request as demo (docs/jmap.md); the method responses."""
    import http.client
    import json
    c = http.client.HTTPConnection(bt.HOST, srv.jmap_port, timeout=10)
    auth = "Basic " + base64.b64encode(b"demo:demo").decode()
    c.request("GET", "/.well-known/jmap", headers={"Authorization": auth})
    acc = json.loads(c.getresponse().read())["primaryAccounts"]["urn:ietf:params:jmap:mail"]
    for cl in calls:
        cl[1]["accountId"] = acc
    c.request("POST", "/jmap/api", body=json.dumps({"using": using, "methodCalls": calls}),
              headers={"Authorization": auth, "Content-Type": "application/json"})
    return json.loads(c.getresponse().read())["methodResponses"]


def filed(srv, folder, subject, timeout=5):
    deadline = time.monotonic() + timeout
    while True:
        d = srv.maildir("demo", folder)
        for sub in ("new", "cur"):
            p = os.path.join(d, sub)
            for f in os.listdir(p) if os.path.isdir(p) else []:
                with open(os.path.join(p, f), "rb") as fh:
                    if subject.encode() in fh.read():
                        return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)


def replies(to):
    out = []
    for n in sorted(os.listdir(SENDMAIL_DIR)):
        if n.endswith(".msg"):
            with open(os.path.join(SENDMAIL_DIR, n), "rb") as f:
                data = f.read()
            if ("To: " + to).encode() in data or ("To: <%s>" % to).encode() in data:
                out.append(data)
    return out


@test(lmtp=True, jmap=True, config=["sendmail_path = " + SENDMAIL])
def setactive_keeps_vacation(srv, res):
    """With a JMAP vacation on (the wrapper buzon-jmap is the link's target), SETACTIVE
    of another script rewrites the wrapper: the vacation still answers and the new script
    files the delivery; LISTSCRIPTS never shows buzon-jmap; the vacation script cannot be
    deleted while it runs; SETACTIVE "" leaves the vacation alone."""
    r = login(srv)
    one = b'require "fileinto";\r\nif header :contains "subject" "one" { fileinto "Archive"; }\r\n'
    two = b'require "fileinto";\r\nif header :contains "subject" "two" { fileinto "Junk"; }\r\n'
    for name, body in (("one", one), ("two", two)):
        lines, ok = r.cmd(b'PUTSCRIPT "%s" {%d+}\r\n' % (name.encode(), len(body)) + body +
                          b"\r\n")
        res.check(ok.startswith(b"OK"), "PUTSCRIPT " + name)
    lines, ok = r.cmd(b'SETACTIVE "one"\r\n')
    res.check(ok.startswith(b"OK"), "SETACTIVE one")
    v = jmap_call(srv, [["VacationResponse/set", {"update": {"singleton": {
        "isEnabled": True, "subject": "away", "textBody": "I am away."}}}, "v"]],
        ["urn:ietf:params:jmap:core", "urn:ietf:params:jmap:vacationresponse"])
    res.eq(v[0][1].get("updated"), {"singleton": None}, "vacation on over JMAP")
    link = os.path.join(home(srv), ".dovecot.sieve")
    wrap = os.path.join(home(srv), "sieve", "buzon-jmap.sieve")
    res.eq(os.readlink(link), "sieve/buzon-jmap.sieve", "the wrapper is active")
    lines, ok = r.cmd(b"LISTSCRIPTS\r\n")
    res.eq(sorted(lines), [b'"jmap-vacation"', b'"one" ACTIVE', b'"two"'],
           "LISTSCRIPTS: one active, no buzon-jmap")
    lines, ok = r.cmd(b'SETACTIVE "two"\r\n')
    res.check(ok.startswith(b"OK"), "SETACTIVE two")
    res.eq(os.readlink(link), "sieve/buzon-jmap.sieve", "the wrapper is still the target")
    with open(wrap) as f:
        res.eq(re.findall(r'include :personal "([^"]*)";', f.read()),
               ["jmap-vacation", "two"], "the wrapper includes two")
    lines, ok = r.cmd(b"LISTSCRIPTS\r\n")
    res.eq(sorted(lines), [b'"jmap-vacation"', b'"one"', b'"two" ACTIVE'], "two active")
    lines, ok = r.cmd(b'DELETESCRIPT "jmap-vacation"\r\n')
    res.check(ok.startswith(b"NO (ACTIVE)"), "the running vacation cannot be deleted")
    lines, ok = r.cmd(b'GETSCRIPT "buzon-jmap"\r\n')
    res.check(ok.startswith(b"NO"), "buzon-jmap is not a script name here")
    bt.lmtp_message(srv, "friend@example.net", "about two")
    res.check(filed(srv, "Junk", "about two"), "two files the delivery")
    deadline = time.monotonic() + 5
    while not replies("friend@example.net") and time.monotonic() < deadline:
        time.sleep(0.05)
    res.eq(len(replies("friend@example.net")), 1, "the vacation still answers")
    lines, ok = r.cmd(b'SETACTIVE ""\r\n')
    res.check(ok.startswith(b"OK"), "SETACTIVE empty")
    with open(wrap) as f:
        res.eq(re.findall(r'include :personal "([^"]*)";', f.read()), ["jmap-vacation"],
               "only the vacation is left")
    bt.lmtp_message(srv, "other@example.net", "about one")
    res.check(filed(srv, None, "about one"), "no filter: INBOX")
    deadline = time.monotonic() + 5
    while not replies("other@example.net") and time.monotonic() < deadline:
        time.sleep(0.05)
    res.eq(len(replies("other@example.net")), 1, "and the vacation answers")
    r.cmd(b"LOGOUT\r\n")


@test()
def sieve_connect(srv, res):
    if shutil.which("sieve-connect") is None:
        res.fail("sieve-connect is not installed (scripts/install-deps.sh)")
        return
    work = tempfile.mkdtemp(prefix="ms-sc.")
    local = os.path.join(work, "vacation.siv")
    body = 'require ["vacation"];\nvacation :days 7 "I am away.";\n'
    with open(local, "w") as f:
        f.write(body)

    def sc(*args):
        rfd, wfd = os.pipe()
        os.write(wfd, b"demo\n")
        os.close(wfd)
        p = subprocess.run(["sieve-connect", "--server", bt.HOST, "--port", str(srv.sieve_port),
                            "--user", "demo", "--passwordfd", str(rfd), "--notlsverify",
                            "--authmech", "PLAIN"] + list(args),
                           pass_fds=(rfd,), capture_output=True, text=True, timeout=20,
                           cwd=work)
        os.close(rfd)
        sys.stderr.write("sieve-connect %s -> %d\n%s%s" % (" ".join(args), p.returncode,
                                                            p.stdout, p.stderr))
        return p
    p = sc("--localsieve", local, "--remotesieve", "away", "--upload")
    res.eq(p.returncode, 0, "upload")
    p = sc("--remotesieve", "away", "--activate")
    res.eq(p.returncode, 0, "activate")
    sdir = os.path.join(home(srv), "sieve")
    with open(os.path.join(sdir, "away.sieve")) as f:
        res.eq(f.read(), body, "uploaded file on disk")
    res.eq(os.readlink(os.path.join(home(srv), ".dovecot.sieve")), "sieve/away.sieve",
           "active link on disk")
    res.check(re.search(r"managesieve login user=demo method=PLAIN ip=\S+ tls=yes",
                        srv.log_text()) is not None, "sieve-connect logged in over STARTTLS")
    p = sc("--list")
    res.check(p.returncode == 0 and re.search(r"away\s+<-\s*active|away.*ACTIVE|away",
                                              p.stdout), "list shows the script")
    got = os.path.join(work, "got.siv")
    p = sc("--localsieve", got, "--remotesieve", "away", "--download")
    res.check(p.returncode == 0 and os.path.exists(got) and open(got).read() == body,
              "download returns the script")
    p = sc("--remotesieve", "away", "--delete")
    res.check(p.returncode != 0 or os.path.exists(os.path.join(sdir, "away.sieve")),
              "deleting the active script is refused")
    p = sc("--deactivate")
    res.eq(p.returncode, 0, "deactivate")
    p = sc("--remotesieve", "away", "--delete")
    res.eq(p.returncode, 0, "delete")
    res.check(not os.path.exists(os.path.join(sdir, "away.sieve")) and
              not os.path.lexists(os.path.join(home(srv), ".dovecot.sieve")),
              "file and link gone")
    shutil.rmtree(work, ignore_errors=True)


# ---- driver ---------------------------------------------------------------------------

def set_home(srv, user="demo"):
    """The fixture's users have no home: give demo one (sieve_dir = ~/sieve)."""
    h = home(srv, user)
    os.makedirs(h, mode=0o700)
    if srv.root:
        os.chown(os.path.dirname(h), srv.uid, srv.gid)
        os.chown(h, srv.uid, srv.gid)
    with open(srv.passwd_file) as f:
        lines = f.read().splitlines()
    out = []
    for ln in lines:
        fields = ln.split(":")
        if fields[0] == user:
            fields[5] = h
        out.append(":".join(fields))
    with open(srv.passwd_file, "w") as f:
        f.write("\n".join(out) + "\n")


def wait_greeting(port):
    deadline = time.monotonic() + 10
    while True:
        try:
            s = socket.create_connection((bt.HOST, port), timeout=2)
            f = s.makefile("rb")
            while True:
                ln = f.readline()
                if not ln or ln.startswith(b"OK") or ln.startswith(b"BYE"):
                    break
            s.sendall(b"LOGOUT\r\n")
            f.readline()
            s.close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def run_one(name, fn, opts):
    """jmap=True in the options: a JMAP listener too (srv.jmap_port, plaintext)."""
    opts = dict(opts)
    jmap = opts.pop("jmap", False)
    ports = bt.free_ports(2 if jmap else 1)
    port = ports[0]
    opts["config"] = ["managesieve_port = %d" % port] + list(opts.get("config", []))
    if jmap:
        opts["config"] += ["jmap_port = %d" % ports[1], "jmap_tls = no"]
    srv = bt.Server(fill=False, **opts)
    srv.sieve_port = port
    srv.jmap_port = ports[1] if jmap else None

    def start(srv):
        srv.setup()
        set_home(srv)
        srv.start()
        wait_greeting(port)
    return bt.run_case(name, fn, srv, start=start)


if __name__ == "__main__":
    sys.exit(bt.suite_main(__doc__, TESTS, run_one))
