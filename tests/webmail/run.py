#!/usr/bin/env python3
"""Roundcube webmail (Debian's roundcube 1.6 with SQLite) against a real buzon, driven in
Debian's headless Chromium by playwright-core (roundcube.mjs), once per connection kind:

  imaps     imap_host ssl://localhost:IMAPS_PORT  (implicit TLS, certificate verified)
  starttls  imap_host tls://localhost:IMAP_PORT   (STARTTLS, certificate verified)
  plain     imap_host localhost:IMAP_PORT         (cleartext over loopback, which
                                                   auth_allow_cleartext = loopback allows)

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

Roundcube's folder roles come only from the server: the config names Sent/Drafts/...
folders that do not exist ("rc-sent", ...), so the roles in the folder list (and the
Trash that Delete moves to) are there only if buzon's LIST ... RETURN (SPECIAL-USE)
marks the folders.  (Roundcube saves them as the user's preferences at login.)

Artifacts (screenshots inbox-KIND.png, message-KIND.png, trash-KIND.png, big-date-imaps.png,
big-thread-imaps.png, Roundcube's
imap trace and error log, buzon's log) go to --artifacts (default
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
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
import buzontest as bt  # noqa: E402

RC_PUBLIC = "/var/lib/roundcube/public_html"
RC_DEFAULTS = "/etc/roundcube/defaults.inc.php"
RC_SQL = "/usr/share/roundcube/SQL/sqlite.initial.sql"
CHROMIUM = "/usr/bin/chromium"
KINDS = ("imaps", "starttls", "plain")

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


def log(msg):
    sys.stderr.write(msg + "\n")


def ensure_playwright():
    """node_modules/playwright-core from package-lock.json (npm ci), once."""
    if os.path.isdir(os.path.join(HERE, "node_modules", "playwright-core")):
        return None
    r = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=HERE,
                       capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        return "npm ci failed: %s" % (r.stderr or r.stdout).strip()[-500:]
    return None


def php_quote(s):
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"


def wait_port(port, proc, deadline):
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            socket.create_connection((bt.HOST, port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


class Roundcube:
    """One Roundcube instance under `php -S`, configured for one buzon server."""

    def __init__(self, srv, kind):
        self.srv = srv
        self.kind = kind
        self.dir = os.path.join(srv.tmp, "roundcube")
        self.proc = None

    def imap_host(self):
        if self.kind == "imaps":
            return "ssl://localhost:%d" % self.srv.imaps_port
        if self.kind == "starttls":
            return "tls://localhost:%d" % self.srv.imap_port
        return "localhost:%d" % self.srv.imap_port

    def setup(self):
        d = self.dir
        for sub in ("config", "logs", "temp"):
            os.makedirs(os.path.join(d, sub), exist_ok=True)
        os.symlink(RC_DEFAULTS, os.path.join(d, "config", "defaults.inc.php"))
        db = os.path.join(d, "roundcube.db")
        with open(RC_SQL) as f:
            schema = f.read()
        con = sqlite3.connect(db)
        con.executescript(schema)
        con.close()
        conf = {
            "db_dsnw": "sqlite:///%s?mode=0600" % db,
            "imap_host": self.imap_host(),
            "imap_debug": True,
            "imap_auth_type": None,
            "log_driver": "file",
            "log_dir": os.path.join(d, "logs"),
            "temp_dir": os.path.join(d, "temp"),
            "des_key": secrets.token_hex(12),
            "plugins": ["archive"],
            "skin": "elastic",
            "smtp_host": "",
            "support_url": "",
            "enable_installer": False,
            "enable_spellcheck": False,
            "login_rate_limit": 0,
            "create_default_folders": False,
            # Names that do not exist: the roles must come from SPECIAL-USE (see above).
            "drafts_mbox": "rc-drafts",
            "sent_mbox": "rc-sent",
            "junk_mbox": "rc-junk",
            "trash_mbox": "rc-trash",
            "flag_for_deletion": False,
            "mail_read_time": 0,
            "layout": "widescreen",
            "language": "en_US",
        }
        lines = ["<?php", "// written by tests/webmail/run.py", "$config = [];"]
        for k, v in conf.items():
            lines.append("$config[%s] = %s;" % (php_quote(k), self.php_value(v)))
        # Verify the server's certificate against the test certificate (CN=localhost).
        ssl_opts = ("['ssl' => ['verify_peer' => true, 'verify_peer_name' => true, "
                    "'peer_name' => 'localhost', 'cafile' => %s]]" % php_quote(self.srv.cert))
        lines.append("$config['imap_conn_options'] = %s;" % ssl_opts)
        with open(os.path.join(d, "config", "config.inc.php"), "w") as f:
            f.write("\n".join(lines) + "\n")

    def php_value(self, v):
        if v is None:
            return "null"
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, int):
            return str(v)
        if isinstance(v, list):
            return "[" + ", ".join(self.php_value(x) for x in v) + "]"
        return php_quote(str(v))

    def start(self):
        self.setup()
        (self.port,) = bt.free_ports(1)
        env = dict(os.environ)
        env["ROUNDCUBE_CONFIG_DIR"] = os.path.join(self.dir, "config")
        env["PHP_CLI_SERVER_WORKERS"] = "4"	# Roundcube sends parallel requests
        self.log = open(os.path.join(self.dir, "php-server.log"), "ab")
        self.proc = subprocess.Popen(["php", "-S", "%s:%d" % (bt.HOST, self.port), "-t", RC_PUBLIC],
                                     stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=subprocess.STDOUT, env=env, cwd=self.dir,
                                     start_new_session=True)
        if not wait_port(self.port, self.proc, time.monotonic() + 15):
            raise RuntimeError("php -S did not start: %s" % self.file_text("php-server.log")[-500:])
        return "http://%s:%d/" % (bt.HOST, self.port)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, 15)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait()
        if self.proc is not None:
            self.log.close()

    def file_text(self, rel):
        try:
            with open(os.path.join(self.dir, rel), "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def imap_trace(self):
        return self.file_text("logs/imap.log")

    def errors(self):
        return self.file_text("logs/errors.log")


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


def run_kind(kind, args):
    name = "webmail-%s" % kind
    res = bt.Result(name)
    shots = args.artifacts
    for old in glob.glob(os.path.join(shots, "*-%s.*" % kind)):	# no stale artifacts
        if not os.path.basename(old).startswith("webmail-"):	# (stderr goes there now)
            os.unlink(old)
    srv = bt.Server(config=["imap_debug = yes"], buzon=args.buzon)
    rc = None
    try:
        srv.start()
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
               "shots": shots, "profile": profile, "folders": FOLDERS,
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
                             ("php-server.log", "php-server-%s.log" % kind)):
                src = os.path.join(rc.dir, rel)
                if os.path.exists(src):
                    shutil.copy(src, os.path.join(shots, out))
        if srv.tmp and os.path.exists(srv.log_path):
            shutil.copy(srv.log_path, os.path.join(shots, "buzon-%s.log" % kind))
        for p in srv.stop():
            res.fail("teardown: " + p)
    return name, res


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("kinds", nargs="*", help="imaps, starttls, plain (default all)")
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

    missing = [p for p in (RC_PUBLIC, RC_DEFAULTS, RC_SQL, CHROMIUM) if not os.path.exists(p)]
    missing += [c for c in ("php", "node", "npm") if not shutil.which(c)]
    problem = ("missing %s (scripts/install-deps.sh check installs roundcube, "
               "roundcube-sqlite3, roundcube-plugins, php-cli, php-sqlite3, chromium, nodejs, npm)"
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
