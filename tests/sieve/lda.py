#!/usr/bin/env python3
"""tests/sieve/lda.py — `buzon deliver` side by side with Pigeonhole's LDA
(`/usr/lib/dovecot/dovecot-lda`, Debian packages dovecot-core and dovecot-sieve): each
case of CASES (script, message, envelope) is delivered by both into a fresh Maildir,
each with a private configuration in a temporary directory and a sendmail_path script
that records what would be sent. Compared: the folders the message landed in with its
system flags (from the Maildir file names), the exit status, and what went to sendmail
(its arguments and key header fields of the message).

A case whose 5th field is a string is a deliberate difference: the reason; it is
checked to still differ. Both run as an unprivileged user (65534 when run as root:
Dovecot refuses root). dovecot-lda runs with -e (a reject is answered by the exit
status, 77, as `buzon deliver` always does) and without -d (the environment's HOME).
Prints "PASS name" / "FAIL name: why" / "SKIP ...", then "N passed, M failed".
Usage: lda.py [--buzon PATH] [--lda PATH] [NAME...]
"""
import argparse
import concurrent.futures
import os
import shutil
import subprocess
import sys
import tempfile

LDA = "/usr/lib/dovecot/dovecot-lda"
ME = "me@example.org"
SENDER = "sender@example.net"

MSG = b"""Return-Path: <sender@example.net>
From: Sender <sender@example.net>
To: Me <me@example.org>
Subject: Hello there
Date: Mon, 7 Dec 2026 10:00:00 +0100
Message-ID: <lda-1@example.net>

Body text, with the word banana.
"""

MSG_LIST = MSG.replace(b"Subject: Hello there\n",
                       b"Subject: [acme] news\nList-Id: <acme.lists.example.net>\n")
MSG_BULK = MSG.replace(b"Subject: Hello there\n",
                       b"Subject: Offer\nPrecedence: bulk\n")

# A stand-in for sendmail: its arguments and standard input into OUT/N.args, N.msg.
SENDMAIL = """#!/bin/sh
n=$(date +%%s%%N).$$
printf '%%s\\n' "$@" > "%s/$n.args"
cat > "%s/$n.msg"
exit 0
"""

# (name, script, message, envelope recipient, difference or None[, before script[,
# after script[, more buzon.conf lines]]]): sieve_before / sieve_after, one file each,
# on both sides
CASES = [
    ("keep", b'keep;', MSG, ME, None),
    ("implicit-keep", b'if false { discard; }', MSG, ME, None),
    ("fileinto-flags", b'require ["fileinto", "imap4flags"];\n'
     b'fileinto :flags ["\\\\Seen", "\\\\Flagged"] "Lists";', MSG, ME, None),
    ("fileinto-missing", b'require "fileinto";\nfileinto "Nowhere";', MSG, ME, None),
    ("fileinto-create", b'require ["fileinto", "mailbox"];\nfileinto :create "Fresh";',
     MSG, ME, None),
    # RFC 5228 §2.7.2: names are UTF-8; the Maildir holds IMAP's modified UTF-7
    ("fileinto-utf8", 'require "fileinto";\nfileinto "Café";'.encode(), MSG, ME, None),
    ("fileinto-utf8-create", 'require ["fileinto", "mailbox"];\n'
     'fileinto :create "Proyectos ñ";'.encode(), MSG, ME, None),
    ("mailboxexists-utf8", 'require ["fileinto", "mailbox"];\n'
     'if mailboxexists "Café" { fileinto "Lists"; }'.encode(), MSG, ME, None),
    ("fileinto-copy", b'require ["fileinto", "copy"];\nfileinto :copy "Lists";', MSG, ME,
     None),
    ("discard", b'discard;', MSG, ME, None),
    ("addflag-keep", b'require "imap4flags";\naddflag "\\\\Answered";\nkeep;', MSG, ME,
     None),
    ("envelope-from", b'require ["envelope", "fileinto"];\n'
     b'if envelope :is "from" "sender@example.net" { fileinto "Lists"; }', MSG, ME, None),
    ("subaddress", b'require ["envelope", "subaddress", "fileinto"];\n'
     b'if envelope :detail "to" "lists" { fileinto "Lists"; }', MSG,
     "me+lists@example.org", None),
    ("body", b'require ["body", "fileinto", "imap4flags"];\n'
     b'if body :contains "banana" { fileinto :flags "\\\\Flagged" "Lists"; }', MSG, ME,
     None),
    ("redirect", b'redirect "fwd@example.net";', MSG, ME, None),
    ("redirect-copy", b'require "copy";\nredirect :copy "fwd@example.net";', MSG, ME, None),
    ("vacation", b'require "vacation";\n'
     b'vacation :days 1 :subject "Away" "I am away.";', MSG, ME, None),
    ("vacation-list", b'require "vacation";\nvacation "I am away.";', MSG_LIST, ME, None),
    ("vacation-bulk", b'require "vacation";\nvacation "I am away.";', MSG_BULK, ME, None),
    ("reject", b'require "reject";\nreject "Not here.";', MSG, ME,
     "dovecot-lda (even with -e) exits 0 and sends a rejection MDN itself; `buzon "
     "deliver` exits 77 with the reason so that the MTA (Postfix's local) bounces the "
     "message (docs/sieve.md, reject / ereject)"),
    ("reject-mdn", b'require "reject";\nreject "Not here.";', MSG, ME,
     "with sieve_reject_mdn both exit 0, store nothing and send an MDN to the sender "
     "with the null sender and the same Subject, but buzon's is From the recipient "
     "(buzon has no postmaster_address) and has In-Reply-To", None, None,
     "sieve_reject_mdn = yes\n"),
    ("broken", b'fileinto "Lists";', MSG, ME, None),
    ("editheader", b'require ["editheader", "fileinto"];\naddheader "X-Sieve" "yes";\n'
     b'if header :is "x-sieve" "yes" { fileinto "Lists"; }', MSG, ME, None),
    ("before-flag", b'require "fileinto";\nfileinto "Lists";', MSG, ME, None,
     b'require "imap4flags";\naddflag "\\\\Seen";'),
    ("before-fileinto", b'require "fileinto";\nfileinto "Lists";', MSG, ME, None,
     b'require "fileinto";\nif header :contains "subject" "Hello" { fileinto "Junk"; }'),
    ("before-stop", b'require "imap4flags";\naddflag "\\Flagged";', MSG, ME, None,
     b'require "imap4flags";\naddflag "\\Seen";\nstop;'),
    ("before-keep", b'require "fileinto";\nfileinto "Lists";', MSG, ME, None,
     b'keep;'),
    ("before-keep-flags", b'require "imap4flags";\naddflag "\\Flagged";', MSG, ME, None,
     b'require "imap4flags";\naddflag "\\Seen";\nkeep;'),
    ("after-keep", b'keep;', MSG, ME, None, None,
     b'require "fileinto";\nfileinto "Junk";'),
    ("after-skipped", b'require "fileinto";\nfileinto "Lists";', MSG, ME, None, None,
     b'require "fileinto";\nfileinto "Junk";'),
]

# (Pigeonhole adds "X-Sieve: Pigeonhole Sieve VERSION" to what it sends; not compared)
KEY_FIELDS = ("to", "from", "subject", "auto-submitted", "in-reply-to", "references")


def drop_to(uid):
    def fn():
        if os.getuid() == 0:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
    return fn


def maildir_state(root):
    """{folder: sorted [system flags]} of every message under a Maildir, plus the
    X-Sieve fields seen (editheader)."""
    out, extra = {}, set()
    for dirpath, dirs, files in os.walk(root):
        if os.path.basename(dirpath) not in ("new", "cur"):
            continue
        rel = os.path.relpath(os.path.dirname(dirpath), root)
        folder = "INBOX" if rel == "." else rel.lstrip(".")
        for f in files:
            flags = f.split(":2,", 1)[1] if ":2," in f else ""
            out.setdefault(folder, []).append("".join(sorted(c for c in flags
                                                             if c.isupper())))
            with open(os.path.join(dirpath, f), "rb") as fh:
                data = fh.read()
                if b"\nX-Sieve: yes\n" in data or data.startswith(b"X-Sieve: yes\n"):
                    extra.add("x-sieve")
    return {k: sorted(v) for k, v in out.items()}, sorted(extra)


def header_fields(data):
    head = data.replace(b"\r\n", b"\n").split(b"\n\n", 1)[0].decode("utf-8", "replace")
    out, cur = {}, None
    for line in head.split("\n"):
        if line[:1] in (" ", "\t") and cur:
            out[cur] += " " + line.strip()
            continue
        if ":" in line:
            cur = line.split(":", 1)[0].strip().lower()
            if cur in KEY_FIELDS and cur not in out:
                out[cur] = line.split(":", 1)[1].strip()
            elif cur not in KEY_FIELDS:
                cur = None
    if "auto-submitted" in out:
        out["auto-submitted"] = out["auto-submitted"].split(";")[0].split()[0].lower()
    for k in ("from", "to"):	# the address only (Pigeonhole copies the display name)
        v = out.get(k)
        if v is not None:
            out[k] = v[v.find("<") + 1:v.find(">")] if "<" in v else v
    return out


def sent_state(out):
    res = []
    for n in sorted(x for x in os.listdir(out) if x.endswith(".args")):
        args = open(os.path.join(out, n)).read().splitlines()
        data = open(os.path.join(out, n[:-5] + ".msg"), "rb").read()
        res.append((tuple(args), tuple(sorted(header_fields(data).items()))))
    return sorted(res)


def prepare(base, script, before, after, uid):
    home = os.path.join(base, "home")
    sent = os.path.join(base, "sent")
    for d in ("home/Maildir/cur", "home/Maildir/new", "home/Maildir/tmp",
              "home/Maildir/.Lists/cur", "home/Maildir/.Lists/new",
              "home/Maildir/.Lists/tmp", "home/Maildir/.Junk/cur", "home/Maildir/.Junk/new",
              "home/Maildir/.Junk/tmp", "home/Maildir/.Caf&AOk-/cur",
              "home/Maildir/.Caf&AOk-/new", "home/Maildir/.Caf&AOk-/tmp", "home/sieve",
              "sent", "run"):
        os.makedirs(os.path.join(base, d), exist_ok=True)
    with open(os.path.join(home, ".dovecot.sieve"), "wb") as f:
        f.write(script + b"\n")
    for text, fname in ((before, "before.sieve"), (after, "after.sieve")):
        if text is not None:
            with open(os.path.join(base, fname), "wb") as f:
                f.write(text + b"\n")
    sm = os.path.join(base, "sendmail")
    with open(sm, "w") as f:
        f.write(SENDMAIL % (sent, sent))
    os.chmod(sm, 0o755)
    for dirpath, dirs, files in os.walk(base):
        for n in dirs + files + ["."]:
            if os.getuid() == 0:
                os.lchown(os.path.join(dirpath, n), uid, uid)
    return home, sent, sm


def run_dovecot(base, case, uid, lda):
    name, script, msg, rcpt, _diff = case[:5]
    before = case[5] if len(case) > 5 else None
    after = case[6] if len(case) > 6 else None
    home, sent, sm = prepare(base, script, before, after, uid)
    conf = os.path.join(base, "dovecot.conf")
    with open(conf, "w") as f:
        f.write("base_dir = %s/run\nlog_path = /dev/null\nmail_location = maildir:%s/Maildir\n"
                "sendmail_path = %s\npostmaster_address = postmaster@example.org\n"
                "hostname = mail.example.org\nrecipient_delimiter = +\n"
                "lda_mailbox_autocreate = no\n"
                "protocol lda {\n  mail_plugins = sieve\n}\n"
                "plugin {\n  sieve = file:%s/sieve;active=%s/.dovecot.sieve\n"
                "  sieve_extensions = +editheader +vacation-seconds\n%s}\n"
                % (base, home, sm, home, home,
                   ("  sieve_before = %s/before.sieve\n" % base if before else "") +
                   ("  sieve_after = %s/after.sieve\n" % base if after else "")))
    r = subprocess.run([lda, "-c", conf, "-e", "-f", SENDER, "-a", rcpt], input=msg,
                       capture_output=True, timeout=30, preexec_fn=drop_to(uid),
                       env={"HOME": home, "USER": "nobody", "PATH": "/usr/bin:/bin"})
    return r.returncode, maildir_state(os.path.join(home, "Maildir")), sent_state(sent), r


def run_buzon(base, case, uid, buzon):
    name, script, msg, rcpt, _diff = case[:5]
    before = case[5] if len(case) > 5 else None
    after = case[6] if len(case) > 6 else None
    home, sent, sm = prepare(base, script, before, after, uid)
    conf = os.path.join(base, "buzon.conf")
    users = os.path.join(base, "users")
    with open(users, "w") as f:
        f.write("u:{PLAIN}x:%d:%d::%s::\n" % (uid, uid, home))
    os.chmod(users, 0o644)
    with open(conf, "w") as f:
        f.write("base_dir = %s/run\npasswd_file = %s\nmail_location = maildir:~/Maildir\n"
                "sendmail_path = %s\nimap_port = 0\nimaps_port = 0\npop3_port = 0\n"
                "pop3s_port = 0\n%s%s%s" % (base, users, sm,
                                           "sieve_before = %s/before.sieve\n" % base
                                           if before else "",
                                           "sieve_after = %s/after.sieve\n" % base
                                           if after else "",
                                           case[7] if len(case) > 7 else ""))
    env = {"PATH": "/usr/bin:/bin", "RECIPIENT": rcpt}
    r = subprocess.run([buzon, "deliver", "-c", conf, "-d", "u", "-f", SENDER], input=msg,
                       capture_output=True, timeout=30, env=env)
    return r.returncode, maildir_state(os.path.join(home, "Maildir")), sent_state(sent), r


def one(case, tmp, uid, buzon, lda):
    name = case[0]
    base = os.path.join(tmp, name)
    d = run_dovecot(os.path.join(base, "dovecot"), case, uid, lda)
    b = run_buzon(os.path.join(base, "buzon"), case, uid, buzon)
    return name, d, b


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--buzon", default="build-dev/buzon")
    ap.add_argument("--lda", default=LDA)
    ap.add_argument("names", nargs="*")
    a = ap.parse_args()
    if not os.access(a.lda, os.X_OK) or shutil.which("sieve-test") is None:
        print("SKIP lda: no %s with Pigeonhole (dovecot-core, dovecot-sieve)" % a.lda)
        return 0
    buzon = os.path.abspath(a.buzon)
    uid = 65534 if os.getuid() == 0 else os.getuid()
    tmp = tempfile.mkdtemp(prefix="buzontest-lda.")
    os.chmod(tmp, 0o755)
    cases = [c for c in CASES if not a.names or c[0] in a.names]
    passed = failed = 0
    try:
        with concurrent.futures.ThreadPoolExecutor(2) as ex:
            results = list(ex.map(lambda c: one(c, tmp, uid, buzon, a.lda), cases))
        for case, (name, d, b) in zip(cases, results):
            diff = case[4]
            same = d[:3] == b[:3]
            if diff is None and same:
                print("PASS %s" % name)
                passed += 1
            elif diff is not None and not same:
                print("PASS %s (deliberate difference: %s)" % (name, diff))
                passed += 1
            elif diff is not None:
                print("FAIL %s: marked as a difference (%s) but both agree: %r" %
                      (name, diff, d[:3]))
                failed += 1
            else:
                print("FAIL %s:\n  dovecot-lda exit %d %r %r\n  buzon       exit %d %r %r%s"
                      % (name, d[0], d[1], d[2], b[0], b[1], b[2],
                         "\n  lda stderr: %s\n  buzon stderr: %s" % (
                             d[3].stderr.decode(errors="replace").strip()[-300:],
                             b[3].stderr.decode(errors="replace").strip()[-300:])))
                failed += 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
