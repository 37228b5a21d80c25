#!/usr/bin/env python3
"""Roundcube webmail (Debian's roundcube 1.6 with SQLite) against a real buzon, driven in
Debian's headless Chromium by playwright-core (roundcube.mjs), once per connection kind:

  imaps     imap_host ssl://localhost:IMAPS_PORT  (implicit TLS, certificate verified)
  starttls  imap_host tls://localhost:IMAP_PORT   (STARTTLS, certificate verified)
  plain     imap_host localhost:IMAP_PORT         (cleartext over loopback, which
                                                   auth_allow_cleartext = loopback allows)
  managesieve  IMAPS, and the managesieve plugin's Filters and Out of Office pages
               against buzon's ManageSieve (below)

For each kind: a fresh buzon (tests/lib/buzontest.py, INBOX filled from tests/fixtures),
Roundcube served by `php -S 127.0.0.1:PORT -t /var/lib/roundcube/public_html` with its
own config directory (ROUNDCUBE_CONFIG_DIR), SQLite database, temp and log dirs, and
imap_debug on.  The browser logs in, checks the folder list (Sent, Drafts, Trash, Junk
and Archive with their roles), the message list (UTF-8 encoded-word subjects decoded),
opens an unread message (UTF-8 base64 body), deletes another one (= move to Trash) and
logs out.  Then this script checks over IMAP (imaplib) and in the Maildir that the
opened message is \\Seen and the deleted one is in Trash and no longer in INBOX, and
that Roundcube's IMAP trace has no BAD reply from buzon.  Over IMAPS it also searches
(UID SEARCH CHARSET UTF-8), flags a message, downloads a PDF attachment (compared with
the fixture's), saves a draft with a UTF-8 subject (APPEND)
and creates and renames a folder with a non-ASCII name (CREATE, RENAME, SUBSCRIBE), and
those are checked over IMAP too.  Also over IMAPS, a folder of 20,000 messages in 4,000
threads (written straight into the Maildir) is listed sorted by date, newest first and
its last page ending with the oldest, then in thread view (4,000 threads, the newest
thread first, its replies under it); the IMAP trace must show that Roundcube left the
sorting and threading to the server (UID SORT, UID THREAD REFS or REFERENCES).

The managesieve kind (Roundcube's managesieve plugin from Debian's roundcube-plugins):
IMAP over IMAPS as above, the plugin's ManageSieve connection to buzon's managesieve_port
with STARTTLS (tls://localhost:PORT, certificate verified), managesieve_vacation = 1.
The browser creates the filter "Subject contains SIEVE[subject] -> move to SIEVE[folder]"
(Settings > Filters; the folder was created over IMAP) and an Out of Office reply with a
subject, a body, a 1-day interval and dates from yesterday to next week (which Roundcube
writes as currentdate tests: date, relational) (Settings > Out of Office).  Then over
ManageSieve (LISTSCRIPTS, GETSCRIPT) and on disk (~/.dovecot.sieve -> sieve/roundcube.sieve)
the script is active and has both (and sieve_rules.php stores the other kinds of rules
the plugin writes, through the plugin's own code); a message with that subject from an outside sender
delivered over LMTP is filed into the folder (seen over IMAP) and answered, and a second
message from the same sender stays in INBOX without a second reply: the vacation reply
is handed to sendmail_path exactly once (recorded by the sendmail program of
tests/lib/postfixtest.py) and, through a private Postfix (when root and Postfix are
there; otherwise it is only recorded), delivered over LMTP again to the sender's own
buzon mailbox, with the subject and the body set in the browser, In-Reply-To the first
message and Auto-Submitted: auto-replied.

Roundcube's folder roles come only from the server: the config names Sent/Drafts/...
folders that do not exist ("rc-sent", ...), so the roles in the folder list (and the
Trash that Delete moves to) are there only if buzon's LIST ... RETURN (SPECIAL-USE)
marks the folders.  (Roundcube saves them as the user's preferences at login.)

Artifacts (screenshots inbox-KIND.png, message-KIND.png, trash-KIND.png, big-date-imaps.png,
big-thread-imaps.png, sieve-filter-managesieve.png, sieve-vacation-managesieve.png,
Roundcube's imap trace, ManageSieve trace and error log, buzon's log) go to --artifacts (default
$LOGDIR/webmail or build/test-logs/webmail).  playwright-core is installed into
tests/webmail/node_modules with `npm ci` from package-lock.json when missing.

  run.py [--buzon PATH] [--artifacts DIR] [--timeout S] [-v] [KIND...]

Prints "PASS webmail-KIND" / "FAIL webmail-KIND: reasons" lines and finally
"N passed, M failed"; exit status 1 if anything failed.
"""
import argparse
import base64
import email
import glob
import email.policy
import email.utils
import imaplib
import json
import os
import re
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
import buzontest as bt  # noqa: E402
import roundcube  # noqa: E402
import postfixtest  # noqa: E402

RC_PUBLIC = roundcube.RC_PUBLIC
CHROMIUM = "/usr/bin/chromium"
RC_MANAGESIEVE = [os.path.join(RC_PUBLIC, "plugins", "managesieve", "managesieve.php"),
                  "/usr/share/php/Net/Sieve.php"]	# php-net-sieve, the plugin's client
KINDS = ("imaps", "starttls", "plain", "managesieve")

# What the browser must see (from tests/fixtures).
FOLDERS = [["INBOX", "inbox"], ["Drafts", "drafts"], ["Sent", "sent"], ["Junk", "junk"],
           ["Trash", "trash"], ["Archive", "archive"]]
LIST_SUBJECTS = ["Café con leche mañana por la mañana",	# UTF-8 B encoded word
                 "Réunion de lundi déplacée",		# ISO-8859-1 encoded word
                 "来週の打ち合わせについて"]			# UTF-8 B, Japanese
OPEN = {"subject": "来週の打ち合わせについて",
        "body": "来週の打ち合わせの資料を添付しました",
        "message_id": "<20260313102030.5A1B@example.jp>"}
TRASH = {"subject": "This week in open source mail (issue 112)",
         "message_id": "<issue-112.demo@news.example.com>"}
# More of what people do in a webmail, done over one kind (IMAPS) to save time.
EXTRAS = {"search": {"q": "café", "subject": "Café con leche mañana por la mañana"},
          "flag": {"subject": "Réunion de lundi déplacée",
                   "message_id": "<20260304150209.GA1234@example.fr>"},
          "attachment": {"subject": "Invoice 2026-0117 for February",
                         "filename": "invoice-2026-0117.pdf"},
          "draft": {"subject": "Borrador: ñandú ✓ 会議", "body": "Hola — cuerpo del borrador, ünïcödé."},
          "folder": {"create": "Proyectos ñ & Co", "rename": "Proyectos 2026"}}
EXTRAS_KIND = "imaps"
# A large folder for the server-side SORT and THREAD views (over EXTRAS_KIND): BIG_THREADS
# threads of BIG_DEPTH messages (a root and a chain of replies with References), dates
# rising with the message number and the threads interleaved, so the newest message is
# the last reply of the last thread and the newest thread root is "Topic BIG_THREADS-1".
BIG = {"folder": "Big", "threads": 4000, "depth": 5}
# The managesieve kind: a filter and an Out of Office reply made in the browser.
SIEVE = {"filter": "Reports to their folder", "subject": "Quarterly report",
         "folder": "Reports", "vacation": {"subject": "Away this week",
                                           "body": "I am away until Monday; your mail will wait.",
                                           "days": 1},
         "sender": "friend@example.net", "script": "roundcube"}
SIEVE_KIND = "managesieve"


def log(msg):
    sys.stderr.write(msg + "\n")


def ensure_playwright():
    """node_modules/playwright-core from package-lock.json (npm ci), once."""
    return bt.npm_ci(HERE, "playwright-core")


class Roundcube(roundcube.Roundcube):
    """One Roundcube instance under `php -S`, configured for one buzon server."""

    def __init__(self, srv, kind):
        super().__init__(os.path.join(srv.tmp, "roundcube"), writer="tests/webmail/run.py")
        self.srv = srv
        self.kind = kind

    def imap_host(self):
        if self.kind in ("imaps", SIEVE_KIND):
            return "ssl://localhost:%d" % self.srv.imaps_port
        if self.kind == "starttls":
            return "tls://localhost:%d" % self.srv.imap_port
        return "localhost:%d" % self.srv.imap_port

    def start(self):
        conf = {
            "imap_host": self.imap_host(),
            "imap_debug": True,
            "imap_auth_type": None,
            "plugins": ["archive"],
            "support_url": "",
            # Names that do not exist: the roles must come from SPECIAL-USE (see above).
            "drafts_mbox": "rc-drafts",
            "sent_mbox": "rc-sent",
            "junk_mbox": "rc-junk",
            "trash_mbox": "rc-trash",
            "flag_for_deletion": False,
            "mail_read_time": 0,
        }
        if self.kind == SIEVE_KIND:
            # Roundcube 1.6 takes the port and STARTTLS from the host URI alone
            # (managesieve_port and managesieve_usetls are gone).
            conf["plugins"] = ["archive", "managesieve"]
            conf.update({
                "managesieve_host": "tls://localhost:%d" % self.srv.sieve_port,
                "managesieve_vacation": 1,
                "managesieve_debug": True,
                "managesieve_default": "",
                "managesieve_script_name": SIEVE["script"],
            })
        # Verify the server's certificate against the test certificate (CN=localhost).
        ssl_opts = ("['ssl' => ['verify_peer' => true, 'verify_peer_name' => true, "
                    "'peer_name' => 'localhost', 'cafile' => %s]]" %
                    roundcube.php_quote(self.srv.cert))
        raw = ["$config['imap_conn_options'] = %s;" % ssl_opts]
        if self.kind == SIEVE_KIND:
            raw.append("$config['managesieve_conn_options'] = %s;" % ssl_opts)
        self.setup(conf, raw)
        return super().start()

    def imap_trace(self):
        return self.file_text("logs/imap.log")

    def sieve_trace(self):
        return self.file_text("logs/sieve.log")


def find_uid(m, folder, message_id):
    """UID of the message with this Message-ID in folder (None if absent)."""
    typ, _ = m.select('"%s"' % folder, readonly=True)
    if typ != "OK":
        return None
    typ, data = m.uid("SEARCH", "HEADER", "Message-ID", '"%s"' % message_id)
    uids = data[0].split() if typ == "OK" and data and data[0] else []
    return int(uids[0]) if uids else None


def server_checks(srv, res, kind, shots):
    """What Roundcube did, seen over IMAP and in the Maildir."""
    m = srv.imaps()
    try:
        uid = find_uid(m, "INBOX", OPEN["message_id"])
        if res.check(uid is not None, "opened message still in INBOX"):
            typ, data = m.uid("FETCH", str(uid), "(FLAGS)")
            flags = bt.parse_fetch(data)[0][1].get("FLAGS", []) if typ == "OK" else []
            res.check("\\Seen" in flags, "opened message is \\Seen on the server (flags %s)" % flags)
        res.eq(find_uid(m, "INBOX", TRASH["message_id"]), None, "deleted message gone from INBOX")
        res.check(find_uid(m, "Trash", TRASH["message_id"]) is not None,
                  "deleted message is in Trash on the server")
        if kind == EXTRAS_KIND:
            extras_checks(m, res, shots)
        # Nothing else moved: 21 fixtures, one gone.
        typ, data = m.select("INBOX", readonly=True)
        res.eq(int(data[0]) if typ == "OK" else -1, len(bt.fixture_messages()) - 1,
               "INBOX message count")
        m.logout()
    finally:
        try:
            m.shutdown()
        except OSError:
            pass
    trash = srv.maildir_files("demo", "Trash")
    res.check(any(TRASH["message_id"].encode() in v[2] for v in trash.values()),
              "Maildir .Trash holds the deleted message")
    seen = [v for v in srv.maildir_files("demo").values() if OPEN["message_id"].encode() in v[2]]
    res.check(seen and "S" in seen[0][1], "opened message's Maildir file has flag S")


def big_subject(t, pos):
    return ("Re: " if pos else "") + "Topic %d" % t


def fill_big(srv):
    """BIG["threads"] * BIG["depth"] messages straight into the Maildir (cur/, no fsync:
    test data), then CREATE/SUBSCRIBE so Roundcube lists the folder."""
    root = srv.make_maildir("demo", BIG["folder"])
    n = BIG["threads"] * BIG["depth"]
    base = 1767225600	# 2026-01-01 00:00:00 UTC
    for i in range(n):
        t, pos = i % BIG["threads"], i // BIG["threads"]
        when = base + 60 * i
        refs = " ".join("<t%d.%d@big.example>" % (t, k) for k in range(pos))
        data = ("From: Sender %d <s%d@big.example>\r\nTo: demo@example.org\r\n"
                "Subject: %s\r\nDate: %s\r\nMessage-ID: <t%d.%d@big.example>\r\n%s"
                "MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\nMessage %d of thread %d.\r\n"
                % (t % 97, t % 97, big_subject(t, pos),
                   email.utils.formatdate(when, usegmt=True), t, pos,
                   ("In-Reply-To: <t%d.%d@big.example>\r\nReferences: %s\r\n" % (t, pos - 1, refs))
                   if pos else "", i, t)).encode()
        name = "%d.M%dP1Q%d.big,S=%d:2,S" % (when, i, i, len(data))
        path = os.path.join(root, "cur", name)
        with open(path, "wb") as f:
            f.write(data)
        os.utime(path, (when, when))
        srv._own(path)
    m = srv.imaps()
    try:
        m.subscribe(BIG["folder"])
        m.logout()
    finally:
        try:
            m.shutdown()
        except OSError:
            pass


def fixture_attachment(filename):
    for fx in bt.fixture_messages():
        msg = email.message_from_bytes(fx["data"], policy=email.policy.default)
        for part in msg.iter_attachments():
            if part.get_filename() == filename:
                return part.get_content()
    return None


def extras_checks(m, res, shots):
    """The search/flag/attachment/draft/folder steps, seen over IMAP."""
    try:
        with open(os.path.join(shots, "attachment-%s.bin" % EXTRAS_KIND), "rb") as f:
            got = f.read()
    except OSError:
        got = None
    want = fixture_attachment(EXTRAS["attachment"]["filename"])
    res.check(want is not None and got == want, "downloaded attachment equals the fixture's "
              "(%s bytes, want %s)" % (None if got is None else len(got), None if want is None else len(want)))
    uid = find_uid(m, "INBOX", EXTRAS["flag"]["message_id"])
    if res.check(uid is not None, "flagged message in INBOX"):
        typ, data = m.uid("FETCH", str(uid), "(FLAGS)")
        flags = bt.parse_fetch(data)[0][1].get("FLAGS", []) if typ == "OK" else []
        res.check("\\Flagged" in flags, "message flagged in Roundcube is \\Flagged on the server")
    typ, data = m.select("Drafts", readonly=True)
    subjects = []
    if typ == "OK" and int(data[0]) > 0:
        typ, data = m.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)] BODY.PEEK[TEXT])")
        for _, items in bt.parse_fetch(data):
            hdr = bt.text(items.get("BODY[HEADER.FIELDS (SUBJECT)]"))
            msg = email.message_from_string(hdr, policy=email.policy.default)
            subjects.append(str(msg["subject"]))
    res.check(EXTRAS["draft"]["subject"] in subjects, "draft saved to Drafts with its UTF-8 subject (%s)" % subjects)
    typ, data = m.list()
    names = [n for _, _, n in bt.parse_list(data)] if typ == "OK" else []
    res.check(imap_utf7(EXTRAS["folder"]["rename"]) in names and
              imap_utf7(EXTRAS["folder"]["create"]) not in names,
              "renamed folder on the server (%s)" % names)
    typ, data = m.lsub()
    names = [n for _, _, n in bt.parse_list(data)] if typ == "OK" else []
    res.check(imap_utf7(EXTRAS["folder"]["rename"]) in names, "renamed folder subscribed")


def imap_utf7(name):
    """RFC 3501 5.1.3 modified UTF-7 for a mailbox name."""
    out, run_ = [], []

    def flush():
        if run_:
            b = "".join(run_).encode("utf-16-be")
            out.append("&" + base64.b64encode(b).decode().rstrip("=").replace("/", ",") + "-")
            run_.clear()
    for ch in name:
        if 0x20 <= ord(ch) <= 0x7e:
            flush()
            out.append("&-" if ch == "&" else ch)
        else:
            run_.append(ch)
    flush()
    return "".join(out)


def trace_checks(rc, res, kind):
    """Roundcube's IMAP trace: no BAD from buzon; the connection kind really used."""
    trace = rc.imap_trace()
    if not res.check(trace.strip() != "", "Roundcube wrote an IMAP trace (imap_debug)"):
        return
    bad = [ln for ln in trace.splitlines() if re.search(r"\bS: (\*|[A-Za-z0-9]+) BAD\b", ln)]
    res.check(not bad, "no BAD replies in Roundcube's IMAP trace%s" %
              ("" if not bad else ": " + " | ".join(b.strip()[:200] for b in bad[:5])))
    no = [ln for ln in trace.splitlines() if re.search(r"\bS: [A-Za-z0-9]+ NO\b", ln)]
    for ln in no[:10]:
        log("note: NO reply in trace: %s" % ln.strip()[:300])
    starttls = re.search(r"\bC: \S+ STARTTLS", trace) is not None
    if kind == "starttls":
        res.check(starttls, "Roundcube used STARTTLS")
    else:
        res.check(not starttls, "Roundcube did not use STARTTLS (%s)" % kind)
    res.check(re.search(r"\bC: \S+ (LOGIN|AUTHENTICATE)\b", trace) is not None, "trace shows the login")
    if kind != SIEVE_KIND:
        res.check(re.search(r"\bC: \S+ (UID )?(MOVE|COPY)\b", trace) is not None,
                  "trace shows the move to Trash")
    if kind == EXTRAS_KIND:
        for cmd in ("UID SEARCH RETURN (ALL) CHARSET UTF-8", "APPEND Drafts", "CREATE ", "RENAME "):
            res.check(re.search(r"\bC: \S+ " + re.escape(cmd), trace) is not None, "trace shows %s" % cmd.strip())
        # The big folder was sorted and threaded by the server (the browser step checked
        # that the whole folder came back: Roundcube logs only the first 4 KiB of a line).
        res.check(re.search(r"\bC: \S+ UID SORT \((REVERSE )?DATE\) \S+ ALL", trace) is not None,
                  "trace shows UID SORT (DATE) of the big folder")
        res.check(re.search(r"\bC: \S+ UID THREAD (REFS|REFERENCES) \S+ ALL", trace) is not None,
                  "trace shows UID THREAD REFS or REFERENCES of the big folder")
    res.check("SPECIAL-USE" in trace and "\\Trash" in trace,
              "Roundcube asked for and got SPECIAL-USE attributes")
    errs = [ln for ln in rc.errors().splitlines() if "IMAP Error" in ln or "PHP Fatal" in ln]
    res.check(not errs, "no IMAP/PHP errors in Roundcube's error log%s" %
              ("" if not errs else ": " + " | ".join(e.strip()[:200] for e in errs[:5])))


class Sieve:
    """What the managesieve kind adds to a server: demo's home (sieve_dir ~/sieve,
    sieve_script ~/.dovecot.sieve), the filter's folder, friend's mailbox (the outside
    sender, reached back through the private Postfix), the sendmail_path program that
    records each submission, and the Postfix instance when this runs as root."""

    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix="buzontest-rcsieve.")
        os.chmod(self.tmp, 0o755)
        self.record = os.path.join(self.tmp, "sent")
        os.mkdir(self.record)
        os.chmod(self.record, 0o1777)	# sendmail runs as the mailbox owner
        self.sendmail = os.path.join(self.tmp, "sendmail")
        self.pf = None
        self.pf_thread = None
        self.pf_error = None
        self.use_postfix = os.getuid() == 0 and shutil.which("postfix") is not None
        (self.port,) = bt.free_ports(1)

    def config(self):
        return ["managesieve_port = %d" % self.port, "sendmail_path = " + self.sendmail]

    def setup(self, srv):
        """After srv.setup(), before srv.start()."""
        srv.sieve_port = self.port
        self.home = os.path.join(srv.tmp, "home", "demo")
        os.makedirs(self.home, mode=0o700)
        for d in (os.path.dirname(self.home), self.home):
            srv._own(d)
        with open(srv.passwd_file) as f:
            lines = f.read().splitlines()
        out = []
        for ln in lines:
            fields = ln.split(":")
            if fields[0] == "demo":
                fields[5] = self.home
            out.append(":".join(fields))
        with open(srv.passwd_file, "w") as f:
            f.write("\n".join(out) + "\n")
        srv.make_maildir("demo", SIEVE["folder"])

    def start(self, srv):
        """After srv.start(): the folder subscribed (Roundcube lists subscribed folders),
        the MTA."""
        m = srv.imaps()
        try:
            m.subscribe(SIEVE["folder"])
            m.logout()
        finally:
            try:
                m.shutdown()
            except OSError:
                pass
        port = 0
        if self.use_postfix:
            self.pf = postfixtest.Postfix(os.path.join(self.tmp, "pf"), {
                "virtual_mailbox_domains": SIEVE["sender"].split("@")[1],
                "virtual_mailbox_maps": "static:ok",
                "virtual_transport": "lmtp:inet:%s:%d" % (bt.HOST, srv.lmtp_port),
            })
            port = self.pf.port
            # `postfix start` takes seconds (its configuration check): meanwhile the browser
            self.pf_thread = threading.Thread(target=self._start_postfix)
            self.pf_thread.start()
        else:
            log("note: not root or no postfix: the vacation reply is only recorded")
        postfixtest.write_sendmail(self.sendmail, port, self.record)

    def _start_postfix(self):
        try:
            self.pf.start()
        except Exception as e:	# reported by wait_mta()
            self.pf_error = e

    def wait_mta(self):
        """Before anything is sent: Postfix is up (or its failure raised)."""
        if self.pf_thread is not None:
            self.pf_thread.join()
            self.pf_thread = None
        if self.pf_error is not None:
            raise self.pf_error

    def stop(self):
        if self.pf_thread is not None:
            self.pf_thread.join()
        if self.pf is not None:
            self.pf.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)


def managesieve_get(srv):
    """LISTSCRIPTS and the active script over ManageSieve with STARTTLS (RFC 5804), as
    demo: (the LISTSCRIPTS lines, the active script's name, its text)."""
    sock = socket.create_connection((bt.HOST, srv.sieve_port), timeout=10)
    buf = [b""]

    def line():
        while b"\r\n" not in buf[0]:
            d = sock.recv(65536)
            if not d:
                raise EOFError("ManageSieve connection closed")
            buf[0] += d
        ln, buf[0] = buf[0].split(b"\r\n", 1)
        return ln

    def response():
        lines = []
        while True:
            ln = line()
            m = re.search(rb"\{(\d+)\+?\}$", ln)
            if m:
                n = int(m.group(1))
                while len(buf[0]) < n:
                    d = sock.recv(65536)
                    if not d:
                        raise EOFError("ManageSieve connection closed")
                    buf[0] += d
                lines.append(buf[0][:n])
                buf[0] = buf[0][n:]
                continue
            if re.match(rb"(OK|NO|BYE)\b", ln):
                if not ln.startswith(b"OK"):
                    raise RuntimeError("ManageSieve: %r" % ln)
                return lines
            if ln:
                lines.append(ln)

    try:
        response()
        sock.sendall(b"STARTTLS\r\n")
        response()
        sock = srv.ssl_context().wrap_socket(sock, server_hostname="localhost")
        response()	# the capabilities again (RFC 5804 2.2)
        cred = base64.b64encode(b"\0demo\0" + srv.users["demo"].encode())
        sock.sendall(b'AUTHENTICATE "PLAIN" "' + cred + b'"\r\n')
        response()
        sock.sendall(b"LISTSCRIPTS\r\n")
        listing = [ln.decode() for ln in response()]
        active = [re.match(r'"([^"]*)"', ln).group(1) for ln in listing if ln.endswith(" ACTIVE")]
        text = None
        if active:
            sock.sendall(b'GETSCRIPT "' + active[0].encode() + b'"\r\n')
            got = response()
            text = got[0].decode() if got else ""
        sock.sendall(b"LOGOUT\r\n")
        response()
        return listing, active[0] if active else None, text
    finally:
        sock.close()


def lmtp_deliver(srv, sender, subject, message_id, body):
    data = ("From: Friend <%s>\r\nTo: Demo <demo@example.org>\r\nSubject: %s\r\n"
            "Date: %s\r\nMessage-ID: %s\r\nMIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n"
            % (sender, subject, email.utils.formatdate(usegmt=True), message_id, body)).encode()
    c = smtplib.LMTP(bt.HOST, srv.lmtp_port, timeout=30)
    try:
        c.sendmail(sender, ["demo@example.org"], data)	# raises unless 250
    finally:
        c.quit()


def subjects_in(m, folder):
    typ, data = m.select('"%s"' % folder, readonly=True)
    if typ != "OK" or int(data[0]) == 0:
        return []
    typ, data = m.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    out = []
    for _, items in bt.parse_fetch(data):
        hdr = bt.text(items.get("BODY[HEADER.FIELDS (SUBJECT)]"))
        out.append(str(email.message_from_string(hdr, policy=email.policy.default)["subject"]))
    return out


def sieve_checks(srv, sv, res):
    """The script Roundcube stored, then two deliveries from the outside sender."""
    vac = SIEVE["vacation"]
    listing, active, text = managesieve_get(srv)
    log("LISTSCRIPTS: %s" % listing)
    res.eq(active, SIEVE["script"], "active script over ManageSieve (LISTSCRIPTS %s)" % listing)
    text = text or ""
    log("active script:\n" + text)
    req = re.search(r"^require \[([^\]]*)\];", text, re.M)
    res.eq(sorted(re.findall(r'"([^"]*)"', req.group(1))) if req else None,
           ["date", "fileinto", "relational", "vacation"], "the script's require")
    for want in ('fileinto "%s"' % SIEVE["folder"],
                 'header :contains "subject" "%s"' % SIEVE["subject"],
                 "vacation", ":days %d" % vac["days"], ':subject "%s"' % vac["subject"],
                 vac["body"], 'currentdate', '"date"'):
        res.check(want.lower() in text.lower(), "the script has %r" % want)
    link = os.path.join(sv.home, ".dovecot.sieve")
    target = os.readlink(link) if os.path.islink(link) else None
    res.eq(target, "sieve/%s.sieve" % SIEVE["script"], "~/.dovecot.sieve links the active script")
    try:
        with open(os.path.join(sv.home, "sieve", "%s.sieve" % SIEVE["script"]), "rb") as f:
            on_disk = f.read().decode("utf-8", "replace")
    except OSError:
        on_disk = None
    res.eq(on_disk, text, "~/sieve/%s.sieve is the script GETSCRIPT returns" % SIEVE["script"])
    # More of what the Filters page writes, through the plugin's own code (no browser)
    p = subprocess.run(["php", os.path.join(HERE, "sieve_rules.php"), str(srv.sieve_port), srv.cert,
                        "demo", srv.users["demo"]], capture_output=True, text=True, timeout=60)
    for ln in p.stdout.splitlines():
        if ln.startswith("FAIL: "):
            res.fail("sieve_rules.php: " + ln[6:])
        else:
            log("sieve_rules.php: " + ln)
    res.check(p.returncode == 0 and "ok: " in p.stdout, "sieve_rules.php: exit %d %s" %
              (p.returncode, p.stderr.strip()[-300:]))

    sv.wait_mta()
    first = "<rcsieve-1.%d@example.net>" % os.getpid()
    lmtp_deliver(srv, SIEVE["sender"], SIEVE["subject"] + " Q3", first, "Numbers attached.")
    lmtp_deliver(srv, SIEVE["sender"], "Are you back?", "<rcsieve-2.%d@example.net>" % os.getpid(),
                 "Just checking.")
    m = srv.imaps()
    try:
        res.eq(subjects_in(m, SIEVE["folder"]), [SIEVE["subject"] + " Q3"],
               "the filter filed the report into %s" % SIEVE["folder"])
        inbox = subjects_in(m, "INBOX")
        res.check(SIEVE["subject"] + " Q3" not in inbox and "Are you back?" in inbox,
                  "INBOX has the second message, not the report")
        m.logout()
    finally:
        try:
            m.shutdown()
        except OSError:
            pass
    sent = postfixtest.recorded(sv.record)
    res.eq([s["argv"] for s in sent], [["-i", "-f", "<>", "--", SIEVE["sender"]]],
           "one vacation reply handed to sendmail for two messages within :days")
    reply = email.message_from_string(sent[0]["data"], policy=email.policy.default) if sent else None
    if reply is not None:
        res.eq(str(reply["subject"]), vac["subject"], "reply subject")
        res.eq(str(reply["to"]), SIEVE["sender"], "reply To")
        res.eq(str(reply["from"]), "demo@example.org", "reply From (the envelope recipient)")
        res.eq(str(reply["in-reply-to"]), first, "reply In-Reply-To")
        res.check(str(reply["auto-submitted"]).startswith("auto-replied"), "reply Auto-Submitted")
        res.check(vac["body"] in reply.get_body(("plain",)).get_content(), "reply body")
    res.check("vacation not sent: replied within" in srv.log_text(),
              "the server log says why the second reply was not sent")
    if sv.pf is None:
        return
    # The reply went through the private Postfix back into buzon, to friend's INBOX.
    def friend():
        return [v for v in srv.maildir_files("friend").values()
                if ("Subject: %s" % vac["subject"]).encode() in v[2]]
    got = postfixtest.wait_for(friend, 30, 0.2)
    if res.check(got, "the vacation reply reached the sender through Postfix; postfix log:\n%s"
                 % ("" if got else sv.pf.log_tail())):
        data = got[0][2]
        res.check(b"Return-Path: <>" in data and ("In-Reply-To: %s" % first).encode() in data,
                  "delivered reply: null sender, In-Reply-To (%r)" % data[:300])
        res.eq(len(friend()), 1, "exactly one reply delivered")


def sieve_trace_checks(rc, res):
    """Roundcube's ManageSieve trace (managesieve_debug): STARTTLS, the login, PUTSCRIPT
    and SETACTIVE, no NO; no managesieve errors in its error log."""
    trace = rc.sieve_trace()
    if not res.check(trace.strip() != "", "Roundcube wrote a ManageSieve trace"):
        return
    for cmd in ("STARTTLS", "AUTHENTICATE", "PUTSCRIPT", "SETACTIVE"):
        res.check(re.search(r"\bC: " + cmd + r"\b", trace) is not None, "sieve trace shows %s" % cmd)
    no = [ln for ln in trace.splitlines() if re.search(r"\bS: (NO|BYE)\b", ln)]
    res.check(not no, "no NO/BYE in the sieve trace%s" % ("" if not no else ": " + " | ".join(no[:5])))
    errs = [ln for ln in rc.errors().splitlines() if "managesieve" in ln.lower() or "sieve" in ln.lower()]
    res.check(not errs, "no managesieve errors in Roundcube's error log%s" %
              ("" if not errs else ": " + " | ".join(e.strip()[:200] for e in errs[:5])))


def run_kind(kind, args):
    name = "webmail-%s" % kind
    res = bt.Result(name)
    shots = args.artifacts
    for old in glob.glob(os.path.join(shots, "*-%s.*" % kind)):	# no stale artifacts
        if not os.path.basename(old).startswith("webmail-"):	# (stderr goes there now)
            os.unlink(old)
    sv = Sieve() if kind == SIEVE_KIND else None
    srv = bt.Server(config=["imap_debug = yes"] + (sv.config() if sv else []), buzon=args.buzon,
                    users={"demo": "demo", "friend": "friend"} if sv else None, lmtp=sv is not None)
    rc = None
    try:
        srv.setup()
        if sv:
            sv.setup(srv)
        srv.start()
        if sv:
            sv.start(srv)
        if kind == EXTRAS_KIND:
            t0 = time.monotonic()
            fill_big(srv)
            log("big folder: %d messages written in %.1f s" %
                (BIG["threads"] * BIG["depth"], time.monotonic() - t0))
        rc = Roundcube(srv, kind)
        url = rc.start()
        profile = os.path.join(srv.tmp, "chromium-profile")
        os.mkdir(profile)
        job = {"url": url, "user": "demo", "password": srv.users["demo"], "kind": kind,
               "shots": shots, "profile": profile, "folders": FOLDERS, "basic": sv is None,
               "sieve": SIEVE if sv else None,
               "listSubjects": LIST_SUBJECTS, "open": OPEN, "trash": TRASH,
               "extras": EXTRAS if kind == EXTRAS_KIND else None,
               "big": dict(BIG, newest=big_subject(BIG["threads"] - 1, BIG["depth"] - 1),
                           newestRoot=big_subject(BIG["threads"] - 1, 0), oldest=big_subject(0, 0))
               if kind == EXTRAS_KIND else None,
               "timeoutMs": 20000}
        t0 = time.monotonic()
        p = subprocess.run(["node", os.path.join(HERE, "roundcube.mjs"), json.dumps(job)],
                           capture_output=True, text=True, timeout=args.timeout, cwd=HERE)
        log("browser: %.1f s, exit %d" % (time.monotonic() - t0, p.returncode))
        for ln in p.stdout.splitlines():
            if ln.startswith("FAIL: "):
                res.fail("browser: " + ln[6:])
            else:
                log("browser: " + ln)
        if p.stderr.strip():
            log("browser stderr:\n" + p.stderr[-3000:])
        if p.returncode != 0 and not any(ln.startswith("FAIL: ") for ln in p.stdout.splitlines()):
            res.fail("browser driver exited %d" % p.returncode)
        if sv:
            sieve_checks(srv, sv, res)
            sieve_trace_checks(rc, res)
        else:
            server_checks(srv, res, kind, shots)
        trace_checks(rc, res, kind)
    except Exception as e:	# setup or client error = test failure
        import traceback
        traceback.print_exc()
        res.fail("%s: %s" % (type(e).__name__, str(e).splitlines()[0] if str(e) else ""))
    finally:
        if rc is not None:
            rc.stop()
            for rel, out in (("logs/imap.log", "roundcube-imap-%s.log" % kind),
                             ("logs/errors.log", "roundcube-errors-%s.log" % kind),
                             ("logs/sieve.log", "roundcube-sieve-%s.log" % kind),
                             ("php-server.log", "php-server-%s.log" % kind)):
                src = os.path.join(rc.dir, rel)
                if os.path.exists(src):
                    shutil.copy(src, os.path.join(shots, out))
        if srv.tmp and os.path.exists(srv.log_path):
            shutil.copy(srv.log_path, os.path.join(shots, "buzon-%s.log" % kind))
        if sv:
            sv.stop()
        for p in srv.stop():
            res.fail("teardown: " + p)
    return name, res


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("kinds", nargs="*", help="imaps, starttls, plain, managesieve (default all)")
    ap.add_argument("--buzon", help="server binary (default $BUZON or build/buzon)")
    ap.add_argument("--artifacts", help="screenshots and logs (default $LOGDIR/webmail)")
    ap.add_argument("--timeout", type=float, default=120.0, help="seconds per browser run")
    ap.add_argument("-v", "--verbose", action="store_true", help="show every check")
    args = ap.parse_args()

    def terminated(signo, frame):	# a driver's timeout: still stop the servers
        raise SystemExit("terminated (signal %d)" % signo)
    signal.signal(signal.SIGTERM, terminated)
    kinds = args.kinds or list(KINDS)
    for k in kinds:
        if k not in KINDS:
            ap.error("unknown kind %s" % k)
    if args.buzon:
        args.buzon = os.path.abspath(args.buzon)
    if not args.artifacts:
        logdir = os.environ.get("LOGDIR") or os.path.join(bt.REPO, "build", "test-logs")
        args.artifacts = os.path.join(logdir, "webmail")
    os.makedirs(args.artifacts, exist_ok=True)
    args.artifacts = os.path.abspath(args.artifacts)

    missing = [p for p in (RC_PUBLIC, roundcube.RC_DEFAULTS, roundcube.RC_SQL, CHROMIUM)
               if not os.path.exists(p)]
    if SIEVE_KIND in kinds:
        missing += [p for p in RC_MANAGESIEVE if not os.path.exists(p)]
    missing += [c for c in ("php", "node", "npm") if not shutil.which(c)]
    problem = ("missing %s (scripts/install-deps.sh check installs roundcube, "
               "roundcube-sqlite3, roundcube-plugins, php-net-sieve, php-cli, php-sqlite3, "
               "chromium, nodejs, npm)"
               % ", ".join(missing)) if missing else ensure_playwright()
    passed = failed = 0
    for kind in kinds:
        t0 = time.monotonic()
        if problem:
            print("FAIL webmail-%s: %s" % (kind, problem))
            failed += 1
            continue
        # Each kind's details go to stderr; keep them in the artifacts dir as well.
        err_path = os.path.join(args.artifacts, "webmail-%s.txt" % kind)
        saved = os.dup(2)
        with open(err_path, "w") as ef:
            os.dup2(ef.fileno(), 2)
            try:
                name, res = run_kind(kind, args)
            finally:
                sys.stderr.flush()
                os.dup2(saved, 2)
                os.close(saved)
        dt = time.monotonic() - t0
        with open(err_path) as ef:
            details = ef.read()
        if res.failures:
            failed += 1
            print("FAIL %s: %s (%.1fs)" % (name, "; ".join(f.replace("\n", " ") for f in res.failures)[:1500], dt))
            for ln in details.splitlines()[-60:]:
                if not ln.startswith("ok: "):
                    print("    " + ln)
        else:
            passed += 1
            print("PASS %s (%.1fs)" % (name, dt))
            if args.verbose:
                for ln in details.splitlines():
                    print("    " + ln)
        sys.stdout.flush()
    print("artifacts in %s" % args.artifacts)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
