#!/usr/bin/env python3
"""buzon's built-in webmail (issue 18, docs/webmail.md) in headless Chromium: the files
served before login on jmap_port (redirect, types, ETag/304, security headers, no path
traversal, webmail = no), then buzonmail.mjs logs in and uses the webmail the way a
person does — folders and unread counts, the message list, reading, a hostile HTML
message (no script runs, nothing remote loads until allowed), flags, reply, attachments,
drafts, move, delete, search, vacation, push, a phone layout — and this script checks
over IMAP (imaplib) that the same changes happened on the server.

Kinds: "plain" (jmap_tls = no on loopback, every step) and "https" (jmap_tls = yes:
log in, folders, list, open, hostile, phone).  Each browser step names the JMAP methods
it needs beyond the first slice (docs/jmap.md); a FAIL line says "[step needs X]".

  run.py [--buzon PATH] [--artifacts DIR] [--steps a,b] [KIND...]

Artifacts (screenshots STEP-KIND.png, desktop and phone, and the details of each kind)
go to --artifacts (default $LOGDIR/buzonmail or build/test-logs/buzonmail).
"""
import argparse
import email
import email.header
import http.client
import imaplib
import json
import os
import re
import shutil
import signal
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
import ssl
import subprocess
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
import buzontest as bt  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
WEBMAIL_TESTS = os.path.join(HERE, "..", "webmail")	# its node_modules/playwright-core
KINDS = ("plain", "https")
HTTPS_STEPS = ["login", "folders", "list", "open", "hostile", "phone"]

HOSTILE_SUBJECT = "Hostile HTML test"
HOSTILE = ("From: Mallory <mallory@example.net>\r\nTo: demo@example.org\r\n"
           "Subject: " + HOSTILE_SUBJECT + "\r\nDate: Mon, 16 Mar 2026 09:00:00 +0000\r\n"
           "Message-ID: <hostile-1@example.net>\r\nMIME-Version: 1.0\r\n"
           "Content-Type: text/html; charset=utf-8\r\n\r\n"
           "<html><head><style>body{background:url('http://remote.invalid/css.png')}</style>"
           "<link rel=stylesheet href='http://remote.invalid/x.css'>"
           "<meta http-equiv='refresh' content='0;url=http://remote.invalid/refresh'>"
           "<script>alert('head')</script></head>"
           "<body onload=\"alert('onload')\"><p>Hostile text stays</p>"
           "<script>alert(1); fetch('http://remote.invalid/script')</script>"
           "<img src=x onerror=\"alert(2)\">"
           "<img src='http://remote.invalid/pixel.gif' alt=pixel>"
           "<div style=\"background-image:url(http://remote.invalid/bg.png)\">styled</div>"
           "<form action='http://remote.invalid/form'><input name=q value=x><button>go</button></form>"
           "<a href=\"javascript:alert(3)\">js link</a>"
           "<svg onload=\"alert(4)\"><image href='http://remote.invalid/svg.png'/></svg>"
           "<iframe src='http://remote.invalid/frame'></iframe>"
           "<object data='http://remote.invalid/obj'></object>"
           "<video poster='http://remote.invalid/poster.png'></video>"
           "<table background='http://remote.invalid/table.png'><tr><td>cell</td></tr></table>"
           "</body></html>\r\n")

OPEN = {"subject": "来週の打ち合わせについて", "body": "来週の打ち合わせの資料を添付しました"}
CASES = {
    "folders": ["INBOX", "Drafts", "Sent", "Trash", "Archive", "Junk"],
    "listSubjects": ["Café con leche mañana por la mañana", "Réunion de lundi déplacée",
                     "来週の打ち合わせについて", HOSTILE_SUBJECT],
    "open": OPEN,
    "hostile": {"subject": HOSTILE_SUBJECT},
    "thread": {"subject": "Re: Planning the Q3 offsite"},
    "seen": {"subject": "Welcome to your new mailbox"},
    "flag": {"subject": "Réunion de lundi déplacée"},
    "reply": {"subject": "Your order #10422 has shipped", "text": "Thanks, it arrived today.",
              "inReplyTo": "<order-10422-shipped@shop.example.com>"},
    "attach": {"to": "friend@example.net", "subject": "Files from the webmail",
               "file": "notes-ñ.txt"},
    "draft": {"subject": "Borrador: ñandú ✓ 会議", "body": "Hola — cuerpo del borrador."},
    "move": {"subject": "This week in open source mail (issue 112)", "to": "Archive"},
    "del": {"subject": "Undelivered Mail Returned to Sender"},
    "search": {"q": "leche", "subject": "Café con leche mañana por la mañana"},
    "vacation": {"subject": "Away this week", "body": "I am away until Monday."},
    "push": {"subject": "Pushed while the page was open"},
    "readme": {"subject": "Your order #10422 has shipped"},
}


GIF = bytes.fromhex("47494638396101000100800000000000ffffff21f90401000000002c00000000010001000002024401003b")


class Remote:
    """The "remote" web server of the hostile message (another origin on loopback): it
    answers every path with a 1x1 GIF and keeps the paths asked for; GET /__log gives
    them as JSON (so the browser driver can see what the page loaded, frames included,
    without relying on the browser's request events)."""

    def __init__(self):
        hits = self.hits = []

        class H(BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path == "/__log":
                    body, ctype = json.dumps(hits).encode(), "application/json"
                else:
                    hits.append(self.path)
                    body, ctype = GIF, "image/gif"
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            do_POST = do_GET

            def log_message(self, *a):
                pass
        self.port = bt.free_ports(1)[0]
        self.httpd = ThreadingHTTPServer((bt.HOST, self.port), H)
        self.base = "http://%s:%d" % (bt.HOST, self.port)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def log(msg):
    sys.stderr.write(msg + "\n")


def ensure_playwright():
    if os.path.isdir(os.path.join(WEBMAIL_TESTS, "node_modules", "playwright-core")):
        return None
    r = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=WEBMAIL_TESTS,
                       capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        return "npm ci in tests/webmail failed: %s" % (r.stderr or r.stdout).strip()[-500:]
    return None


def decode(s):
    return str(email.header.make_header(email.header.decode_header(s or "")))


def imap(srv):
    m = imaplib.IMAP4(bt.HOST, srv.imap_port)
    m.starttls(ssl_context=srv.ssl_context())
    m.login("demo", srv.users["demo"])
    return m


def folder_messages(m, folder):
    """[(subject, flags, raw message)] of a folder."""
    typ, _ = m.select('"%s"' % folder, readonly=True)
    if typ != "OK":
        return []
    typ, data = m.fetch("1:*", "(FLAGS BODY.PEEK[])")
    out = []
    if typ != "OK":
        return out
    for item in data:
        if not isinstance(item, tuple):
            continue
        flags = " ".join(re.findall(rb"FLAGS \(([^)]*)\)", item[0])[0].decode().split())
        msg = email.message_from_bytes(item[1])
        out.append((decode(msg["Subject"]), flags, msg))
    return out


def find(msgs, subject):
    return [x for x in msgs if x[0] == subject]


def http_checks(srv, res, scheme):
    """The files before login: what a browser and an attacker get."""
    if scheme == "https":
        ctx = ssl.create_default_context(cafile=srv.cert)
        c = http.client.HTTPSConnection("localhost", srv.jmap_port, context=ctx, timeout=10)
    else:
        c = http.client.HTTPConnection(bt.HOST, srv.jmap_port, timeout=10)

    def get(path, headers=None, method="GET"):
        c.request(method, path, headers=headers or {})
        r = c.getresponse()
        return r, r.read()

    r, _ = get("/")
    res.eq((r.status, r.getheader("Location")), (301, "/webmail/"), "GET / redirects")
    r, _ = get("/webmail")
    res.eq((r.status, r.getheader("Location")), (301, "/webmail/"), "GET /webmail redirects")
    r, body = get("/webmail/")
    res.eq(r.status, 200, "GET /webmail/")
    res.eq(r.getheader("Content-Type"), "text/html; charset=utf-8", "index.html type")
    res.check(b'<script src="app.js"' in body and b"<script>" not in body and b"style=" not in body,
              "no inline script or style in index.html")
    csp = r.getheader("Content-Security-Policy") or ""
    for d in ("default-src 'self'", "script-src 'self'", "object-src 'none'", "base-uri 'none'",
              "frame-ancestors 'none'", "form-action 'none'"):
        res.check(d in csp, "CSP has %s" % d)
    res.check("unsafe-eval" not in csp and "'unsafe-inline'" not in csp.split("script-src")[1].split(";")[0],
              "CSP allows no inline or eval'd script")
    res.eq(r.getheader("X-Content-Type-Options"), "nosniff", "nosniff")
    res.eq(r.getheader("Referrer-Policy"), "no-referrer", "Referrer-Policy")
    res.eq(r.getheader("Cache-Control"), "no-cache", "Cache-Control")
    etag = r.getheader("ETag")
    res.check(etag and re.fullmatch(r'"[0-9a-f]{16}"', etag), "strong ETag %s" % etag)
    r, body = get("/webmail/", {"If-None-Match": etag})
    res.eq((r.status, body), (304, b""), "If-None-Match: 304 without a body")
    r, body = get("/webmail/index.html", {"If-None-Match": '"0000000000000000"'})
    res.eq(r.status, 200, "another ETag: 200")
    r, body = get("/webmail/app.js", method="HEAD")
    res.eq((r.status, r.getheader("Content-Type"), body), (200, "text/javascript; charset=utf-8", b""),
           "HEAD app.js")
    r, _ = get("/webmail/app.css")
    res.eq((r.status, r.getheader("Content-Type")), (200, "text/css; charset=utf-8"), "app.css")
    for bad in ("/webmail/../../etc/passwd", "/webmail/%2e%2e/etc/passwd", "/webmail/.hidden",
                "/webmail/x/app.js", "/webmail/app.js%00", "/webmail/" + "a" * 300):
        r, _ = get(bad)
        res.eq(r.status, 404, "GET %s" % bad[:40])
    c.request("POST", "/webmail/", body=b"x", headers={"Content-Length": "1"})
    r = c.getresponse()
    r.read()
    res.eq(r.status, 405, "POST /webmail/ refused")


def run_browser(srv, res, kind, args, url, origin, remote):
    m = imap(srv)
    for f in ("Drafts", "Sent", "Trash", "Archive", "Junk"):
        m.create(f)
    typ, data = m.status("INBOX", "(UNSEEN)")
    unseen = int(re.search(rb"UNSEEN (\d+)", data[0]).group(1))
    m.logout()
    steps = args.steps or (HTTPS_STEPS if kind == "https" else [])
    st = os.stat(srv.maildir("demo"))
    cfg = dict(CASES, url=url, origin=origin, user="demo", password=srv.users["demo"], kind=kind,
               shots=args.artifacts, profile=os.path.join(srv.tmp, "chromium-profile"),
               steps=steps, inboxUnread=unseen, timeoutMs=15000, remote=remote)
    cfg["push"] = dict(CASES["push"], maildir=srv.maildir("demo"), uid=st.st_uid, gid=st.st_gid)
    cfg["mixed"] = {"host": bt.HOST, "port": srv.imap_port, "subject": CASES["push"]["subject"]}
    r = subprocess.run(["node", os.path.join(HERE, "buzonmail.mjs"), json.dumps(cfg)],
                       capture_output=True, text=True, timeout=args.timeout, cwd=HERE)
    for ln in r.stdout.splitlines():
        log(ln)
        if ln.startswith("FAIL: "):
            res.failures.append(ln[6:])
    if r.returncode != 0 and "FAIL" not in r.stdout:
        res.fail("buzonmail.mjs failed: %s" % r.stderr.strip()[-1500:])
    elif r.stderr.strip():
        log(r.stderr.strip()[-1500:])
    return set(steps) if steps else None


def imap_checks(srv, res, ran):
    """The browser's changes, seen over IMAP."""
    def want(step):
        return ran is None or step in ran
    m = imap(srv)
    inbox = folder_messages(m, "INBOX")
    if want("seen"):
        x = find(inbox, CASES["seen"]["subject"])
        res.check(x and "\\Seen" in x[0][1], "[seen needs Email/set] IMAP: opened message is \\Seen")
    if want("flag"):
        x = find(inbox, CASES["flag"]["subject"])
        res.check(x and "\\Flagged" in x[0][1], "[flag needs Email/set] IMAP: \\Flagged")
    sent = folder_messages(m, "Sent")
    if want("reply"):
        x = find(inbox, CASES["reply"]["subject"])
        res.check(x and "\\Answered" in x[0][1], "[reply needs Email/set] IMAP: original \\Answered")
        rs = find(sent, "Re: " + CASES["reply"]["subject"])
        ok = bool(rs)
        if ok:
            msg = rs[0][2]
            body = msg.get_payload(decode=True) if not msg.is_multipart() else b""
            ok = (msg["In-Reply-To"] or "").strip() == CASES["reply"]["inReplyTo"]
            ok = ok and CASES["reply"]["text"].encode() in (body or msg.as_bytes())
            ok = ok and "\\Draft" not in rs[0][1]
        res.check(ok, "[reply needs EmailSubmission/set] IMAP: the reply is in Sent, with "
                  "In-Reply-To and the text, not a draft")
    if want("attach"):
        x = find(sent, CASES["attach"]["subject"])
        names = [decode(p.get_filename()) for p in x[0][2].walk() if p.get_filename()] if x else []
        res.check(CASES["attach"]["file"] in names,
                  "[attach needs upload + EmailSubmission/set] IMAP: Sent has the attachment (%s)" % names)
    if want("draft"):
        x = find(folder_messages(m, "Drafts"), CASES["draft"]["subject"])
        res.check(x and "\\Draft" in x[0][1], "[draft needs Email/set create] IMAP: Drafts has the draft")
    if want("move"):
        res.check(not find(inbox, CASES["move"]["subject"]) and
                  find(folder_messages(m, "Archive"), CASES["move"]["subject"]),
                  "[move needs Email/set] IMAP: moved from INBOX to Archive")
    if want("del"):
        res.check(not find(inbox, CASES["del"]["subject"]) and
                  not find(folder_messages(m, "Trash"), CASES["del"]["subject"]),
                  "[del needs Email/set] IMAP: deleted (to Trash, then destroyed there)")
    m.logout()


def run_kind(kind, args):
    name = "buzonmail-%s" % kind
    res = bt.Result(name)
    port = bt.free_ports(1)[0]
    outbox = remote = None
    config = ["jmap_port = %d" % port, "jmap_tls = %s" % ("yes" if kind == "https" else "no")]
    srv = bt.Server(config=config)
    srv.jmap_port = port
    try:
        srv.setup()
        # EmailSubmission goes through the MTA (sendmail_path): a script keeping what it gets
        outbox = os.path.join(srv.tmp, "outbox")
        os.mkdir(outbox)
        os.chmod(outbox, 0o1777)
        sm = os.path.join(srv.tmp, "sendmail")
        with open(sm, "w") as f:
            f.write("#!/bin/sh\ncat > %s/mail.$$\n" % outbox)
        os.chmod(sm, 0o755)
        srv.extra_config.append("sendmail_path = %s" % sm)
        # VacationResponse is a Sieve script: somewhere the mail process may write one
        home = os.path.join(srv.tmp, "home")
        os.makedirs(os.path.join(home, "sieve"))
        for p in (home, os.path.join(home, "sieve")):
            os.chmod(p, 0o777)
        srv.extra_config += ["sieve_script = %s/.dovecot.sieve" % home,
                             "sieve_dir = %s/sieve" % home]
        srv.write_config()
        remote = Remote()
        srv.store("demo", HOSTILE.replace("http://remote.invalid", remote.base).encode(), new=True)
        srv.start()
        if kind == "https":
            origin = "https://localhost:%d" % port
        else:
            origin = "http://127.0.0.1:%d" % port
        http_checks(srv, res, "https" if kind == "https" else "http")
        ran = run_browser(srv, res, kind, args, origin + "/webmail/", origin, remote.base)
        if kind == "https":	# no remote load was asked for: nothing at all
            res.eq(remote.hits, [], "the remote server saw no request")
        if kind == "plain":
            imap_checks(srv, res, ran)
    except Exception as e:
        traceback.print_exc()
        res.fail("%s: %s" % (type(e).__name__, str(e).splitlines()[0] if str(e) else ""))
    finally:
        for p in srv.stop():
            res.fail("teardown: " + p)
        if remote:
            remote.close()
    return name, res


def run_disabled(args):
    """webmail = no: the paths are JMAP's again (a 401 challenge, no file)."""
    res = bt.Result("buzonmail-off")
    port = bt.free_ports(1)[0]
    srv = bt.Server(config=["jmap_port = %d" % port, "jmap_tls = no", "webmail = no"], fill=False)
    srv.jmap_port = port
    try:
        srv.setup()
        srv.start()
        c = http.client.HTTPConnection(bt.HOST, port, timeout=10)
        for path in ("/", "/webmail/", "/webmail/app.js"):
            c.request("GET", path)
            r = c.getresponse()
            body = r.read()
            res.eq(r.status, 401, "webmail = no: GET %s" % path)
            res.check(b"<html" not in body, "webmail = no: no file for %s" % path)
        r = subprocess.run([srv.buzon, "check", "-c", srv.config_path], capture_output=True, text=True)
        res.eq(r.returncode, 0, "buzon check accepts webmail = no")
    except Exception as e:
        traceback.print_exc()
        res.fail("%s: %s" % (type(e).__name__, str(e).splitlines()[0] if str(e) else ""))
    finally:
        for p in srv.stop():
            res.fail("teardown: " + p)
    return "buzonmail-off", res


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("kinds", nargs="*", help="plain, https, off (default all)")
    ap.add_argument("--buzon", help="server binary (default $BUZON or build/buzon)")
    ap.add_argument("--artifacts", help="screenshots and logs (default $LOGDIR/buzonmail)")
    ap.add_argument("--steps", help="only these browser steps (comma-separated)")
    ap.add_argument("--timeout", type=float, default=300.0, help="seconds per browser run")
    ap.add_argument("-v", "--verbose", action="store_true", help="show every check")
    args = ap.parse_args()

    def terminated(signo, frame):
        raise SystemExit("terminated (signal %d)" % signo)
    signal.signal(signal.SIGTERM, terminated)
    args.steps = [s for s in (args.steps or "").split(",") if s]
    kinds = args.kinds or list(KINDS) + ["off"]
    for k in kinds:
        if k not in KINDS + ("off",):
            ap.error("unknown kind %s" % k)
    if args.buzon:
        os.environ["BUZON"] = os.path.abspath(args.buzon)
    if not args.artifacts:
        logdir = os.environ.get("LOGDIR") or os.path.join(bt.REPO, "build", "test-logs")
        args.artifacts = os.path.join(logdir, "buzonmail")
    os.makedirs(args.artifacts, exist_ok=True)
    args.artifacts = os.path.abspath(args.artifacts)
    missing = [p for p in (CHROMIUM,) if not os.path.exists(p)]
    missing += [c for c in ("node", "npm") if not shutil.which(c)]
    problem = ("missing %s (scripts/install-deps.sh check installs chromium, nodejs, npm)"
               % ", ".join(missing)) if missing else ensure_playwright()
    passed = failed = 0
    for kind in kinds:
        t0 = time.monotonic()
        if problem and kind != "off":
            print("FAIL buzonmail-%s: %s" % (kind, problem))
            failed += 1
            continue
        err_path = os.path.join(args.artifacts, "buzonmail-%s.txt" % kind)
        saved = os.dup(2)
        with open(err_path, "w") as ef:
            os.dup2(ef.fileno(), 2)
            try:
                name, res = run_disabled(args) if kind == "off" else run_kind(kind, args)
            finally:
                sys.stderr.flush()
                os.dup2(saved, 2)
                os.close(saved)
        dt = time.monotonic() - t0
        with open(err_path) as ef:
            details = ef.read()
        if res.failures:
            failed += 1
            print("FAIL %s (%.1fs): %d failed checks" % (name, dt, len(res.failures)))
            for f in res.failures:
                print("    " + f.replace("\n", " ")[:300])
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
