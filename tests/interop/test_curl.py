#!/usr/bin/env python3
"""curl (Debian package curl, libcurl's IMAP client) against buzon: list folders over
implicit TLS, fetch a message by UID over implicit TLS and over STARTTLS with
--ssl-reqd, fetch a folder's message, and fail cleanly with a wrong password.
"""
# kind: client
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import buzontest as bt


def curl(*args):
    cmd = ["curl", "-sS", "--max-time", "20"] + list(args)
    sys.stderr.write("$ %s\n" % " ".join(cmd))
    r = subprocess.run(cmd, capture_output=True, timeout=40)
    if r.returncode != 0:
        sys.stderr.write("curl exit %d: %s\n" % (r.returncode, r.stderr.decode(errors="replace")))
    return r


def body(srv, res):
    if not res.check(shutil.which("curl"), "curl installed (scripts/install-deps.sh check)"):
        return
    fx = bt.fixture_messages()
    bodies = {f["data"]: f["name"] for f in fx}
    base = "imaps://127.0.0.1:%d" % srv.imaps_port

    r = curl("--cacert", srv.cert, "-u", "demo:demo", base + "/")
    out = r.stdout.decode("utf-8", "replace")
    res.eq(r.returncode, 0, "curl LIST exit status")
    names = set()
    for ln in out.splitlines():
        if ln.upper().startswith("* LIST"):
            names.add(ln.rsplit(" ", 1)[-1].strip('"'))
    for f in ("INBOX", "Sent", "Drafts", "Trash", "Junk", "Archive"):
        res.check(f in names, "curl lists %s (%s)" % (f, sorted(names)))

    r = curl("--cacert", srv.cert, "-u", "demo:demo", base + "/INBOX;UID=1")
    res.eq(r.returncode, 0, "curl FETCH UID=1 over implicit TLS")
    got1 = bt.lf(r.stdout)
    res.check(got1 in bodies, "UID 1 is one of the fixture messages, byte-exact (%d bytes)" % len(got1))

    # STARTTLS on the IMAP port; --ssl-reqd makes curl fail rather than go plaintext.
    r = curl("--ssl-reqd", "--cacert", srv.cert, "-u", "demo:demo",
             "imap://127.0.0.1:%d/INBOX;UID=1" % srv.imap_port)
    res.eq(r.returncode, 0, "curl FETCH UID=1 over STARTTLS")
    res.eq(bt.lf(r.stdout), got1, "same message over STARTTLS and implicit TLS")

    # A message body section and the last message by UID from a search.
    r = curl("--cacert", srv.cert, "-u", "demo:demo", "-X", "UID SEARCH SUBJECT invoice", base + "/INBOX")
    res.eq(r.returncode, 0, "curl UID SEARCH")
    uids = [w for ln in r.stdout.decode().splitlines() if ln.startswith("* SEARCH") for w in ln.split()[2:]]
    if res.eq(len(uids), 1, "UID SEARCH SUBJECT invoice finds one message (%r)" % r.stdout):
        r = curl("--cacert", srv.cert, "-u", "demo:demo", base + "/INBOX;UID=%s;SECTION=2" % uids[0])
        res.eq(r.returncode, 0, "curl FETCH SECTION=2")
        import base64
        part = base64.b64decode(b"".join(r.stdout.split()))
        res.check(part.startswith(b"%PDF-1.4"), "SECTION=2 is the base64 PDF attachment")

    # A folder: APPEND through curl (upload), then read it back.
    msg = (b"From: Demo User <demo@example.org>\r\nTo: team@example.org\r\n"
           b"Subject: Sent with curl\r\nDate: Fri, 20 Mar 2026 10:00:00 +0000\r\n\r\nUploaded by curl.\r\n")
    path = os.path.join(srv.tmp, "upload.eml")
    with open(path, "wb") as f:
        f.write(msg)
    r = curl("--cacert", srv.cert, "-u", "demo:demo", "-T", path, base + "/Sent")
    res.eq(r.returncode, 0, "curl APPEND to Sent")
    r = curl("--cacert", srv.cert, "-u", "demo:demo", base + "/Sent;UID=1")
    res.eq(r.stdout, msg, "the appended message reads back from Sent")

    r = curl("--cacert", srv.cert, "-u", "demo:wrong", base + "/INBOX;UID=1")
    res.eq(r.returncode, 67, "wrong password: curl exit 67 (login denied)")
    r = curl("-u", "demo:demo", base + "/")
    res.eq(r.returncode, 60, "an unknown certificate is refused without --cacert (exit 60)")


if __name__ == "__main__":
    bt.run_test("curl", body)
