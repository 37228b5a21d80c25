#!/usr/bin/env python3
"""mbsync (isync 1.4.4) against buzon over implicit TLS, certificate verified by name
(Host localhost; CertificateFile = the test certificate): a full sync of every folder
into a local Maildir must reproduce the messages byte-exact (modulo CRLF) with their
flags; then a flag set locally (S added to a file name) and a message written into the
local Drafts must reach the server on the next sync (checked with imaplib and on disk).
"""
# kind: client
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import buzontest as bt

CONFIG = """\
IMAPAccount test
Host localhost
Port {port}
User demo
Pass demo
SSLType IMAPS
CertificateFile {cert}
Timeout 20

IMAPStore remote
Account test

MaildirStore local
Path {local}/
Inbox {local}/INBOX
SubFolders Verbatim

Channel test
Far :remote:
Near :local:
Patterns *
Create Near
Sync All
Expunge None
SyncState *
"""


def untuid(data):
    """Drop the X-TUID header mbsync adds to every message it propagates."""
    head, sep, rest = bt.lf(data).partition(b"\n\n")
    return re.sub(rb"^X-TUID: [^\n]*\n?", b"", head + b"\n", flags=re.M).rstrip(b"\n") + sep + rest


def local_files(d):
    """{path: (flags, bytes)} of a local Maildir folder."""
    out = {}
    for sub in ("cur", "new"):
        p = os.path.join(d, sub)
        if os.path.isdir(p):
            for n in os.listdir(p):
                with open(os.path.join(p, n), "rb") as f:
                    out[os.path.join(p, n)] = (n.partition(":2,")[2], f.read())
    return out


def sync(srv, cfg, res, what):
    r = subprocess.run(["mbsync", "-c", cfg, "-a"], capture_output=True, text=True, timeout=120)
    sys.stderr.write("mbsync (%s): exit %d\n%s%s" % (what, r.returncode, r.stdout, r.stderr))
    return res.eq(r.returncode, 0, "mbsync %s exit status" % what)


def body(srv, res):
    if not res.check(shutil.which("mbsync"), "mbsync installed (isync)"):
        return
    fx = {f["data"]: f for f in bt.fixture_messages()}
    local = os.path.join(srv.tmp, "local")
    os.mkdir(local)
    cfg = os.path.join(srv.tmp, "mbsyncrc")
    with open(cfg, "w") as f:
        f.write(CONFIG.format(port=srv.imaps_port, cert=srv.cert, local=local))
    os.chmod(cfg, 0o600)

    if not sync(srv, cfg, res, "first sync"):
        return
    for folder in ("INBOX", "Sent", "Drafts", "Trash", "Junk", "Archive"):
        res.check(os.path.isdir(os.path.join(local, folder, "cur")), "local folder %s created" % folder)
    inbox = local_files(os.path.join(local, "INBOX"))
    res.eq(len(inbox), len(fx), "message count in the local INBOX")
    got = {untuid(data): fl for fl, data in inbox.values()}
    res.eq(sorted(f["name"] for d, f in fx.items() if d in got), sorted(f["name"] for f in fx.values()),
           "every message synced byte-exact")
    for d, f in fx.items():
        if d in got:
            want = "".join(sorted(c for c in f["flags"] if c in "FRS"))
            res.eq("".join(sorted(c for c in got[d] if c in "FRS")), want, "local flags of %s" % f["name"])

    # Local changes: mark 15-japanese seen, and write a draft.
    target = [p for p, (fl, d) in inbox.items() if bt.lf(d).find(b"tanaka@example.jp") > 0]
    if res.eq(len(target), 1, "found 15-japanese locally"):
        p = target[0]
        name = os.path.basename(p)
        base, _, fl = name.partition(":2,")
        newname = base + ":2," + "".join(sorted(set(fl) | {"S"}))
        os.rename(p, os.path.join(local, "INBOX", "cur", newname))
    draft = (b"From: Demo User <demo@example.org>\nTo: tanaka@example.jp\n"
             b"Subject: Re: meeting\nDate: Fri, 20 Mar 2026 11:00:00 +0900\n"
             b"Message-ID: <mbsync-draft@example.org>\n\nDraft written offline.\n")
    dpath = os.path.join(local, "Drafts", "cur", "1774000000.M1P1.laptop:2,D")
    with open(dpath, "wb") as f:
        f.write(draft)
    if not sync(srv, cfg, res, "second sync"):
        return

    m = srv.imap()
    m.select("INBOX", readonly=True)
    typ, data = m.uid("SEARCH", "FROM", "tanaka@example.jp", "SEEN")
    res.check(typ == "OK" and data[0] and len(data[0].split()) == 1,
              "server has \\Seen on the message flagged locally (%r)" % data)
    typ, data = m.select("Drafts", readonly=True)
    res.eq((typ, data[0]), ("OK", b"1"), "the local draft reached the server's Drafts")
    typ, data = m.fetch("1", "(FLAGS BODY.PEEK[])")
    it = bt.parse_fetch(data)[0][1] if typ == "OK" and data and data[0] else {}
    res.eq(untuid(it.get("BODY[]") or b""), draft, "draft body on the server (without X-TUID)")
    res.check("\\draft" in [x.lower() for x in it.get("FLAGS", [])], "draft has \\Draft")
    m.logout()
    disk = [v for v in srv.maildir_files().values() if b"tanaka@example.jp" in v[2]]
    res.check(len(disk) == 1 and disk[0][0] == "cur" and "S" in disk[0][1],
              "on disk: the message has S in the server Maildir (%s)" % [(a, b) for a, b, _ in disk])

    # A third sync changes nothing.
    before = local_files(os.path.join(local, "INBOX"))
    sync(srv, cfg, res, "third sync")
    res.eq(len(local_files(os.path.join(local, "INBOX"))), len(before), "third sync is a no-op")


if __name__ == "__main__":
    bt.run_test("mbsync", body)
