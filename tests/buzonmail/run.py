#!/usr/bin/env python3
"""buzon's built-in webmail (issue 18, docs/webmail.md) in headless Chromium: the files
served before login on jmap_port (redirect, types, ETag/304, security headers, no path
traversal, webmail = no), then buzonmail.mjs logs in and uses the webmail the way a
person does — folders and unread counts, the message list, reading, a hostile HTML
message (no script runs, nothing remote loads until allowed), flags, reply, attachments,
drafts, move, delete, search, vacation, filters, push, a phone layout — and this script
checks over IMAP (imaplib) that the same changes happened on the server (filters: over
ManageSieve in the browser step, then LMTP deliveries seen over IMAP).

Kinds: "rules" (the filters' Sieve generator in node, its scripts through `buzon sieve
check` and `buzon sieve test`; no browser), "plain" (jmap_tls = no on loopback, every
step) and "https" (jmap_tls = yes: log in, folders, list, open, hostile, phone).  Each
browser step names the JMAP methods it needs beyond the first slice (docs/jmap.md); a
FAIL line says "[step needs X]".

  run.py [--buzon PATH] [--artifacts DIR] [--steps a,b] [KIND...]

Artifacts (screenshots STEP-KIND.png, desktop and phone, and the details of each kind)
go to --artifacts (default $LOGDIR/buzonmail or build/test-logs/buzonmail).
"""
import argparse
import base64
import email
import email.header
import email.utils
import http.client
import imaplib
import json
import os
import re
import shutil
import signal
import smtplib
import tempfile
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


# Filters (issue 18): rules made in the browser, checked by delivering over LMTP. The
# tricky value has what could break out of a Sieve string: quotes, backslashes, a
# comment, an escaped newline, what encoded-character would decode, U+2028.
TRICKY = 'q"uo\\te"; discard; # \\r\\n ${hex:41} */ \u2028 \u00f1'
FILTERS = {
    "script": "webmail",
    "rules": [
        {"name": "Zebra project", "conds": [{"field": "subject", "op": "contains", "value": "Zebra"}],
         "acts": [{"type": "move", "folder": "Filtered"}, {"type": "seen"}]},
        {"name": "The boss", "conds": [{"field": "from", "op": "is", "value": "boss@example.com"}],
         "acts": [{"type": "flag"}, {"type": "redirectcopy", "address": "assistant@example.net"}]},
        {"name": 'Tricky "rule" \\ ${hex:41}', "match": "any",
         "conds": [{"field": "subject", "op": "contains", "value": TRICKY},
                   {"field": "header", "header": "X-Filter-Test", "op": "is", "value": "tricky"}],
         "acts": [{"type": "move", "folder": "Tricky"}]},
    ],
    "mine": {"name": "mine", "text": 'require "fileinto";\nif header :contains "subject" '
             '"mine-test" {\n  fileinto "Junk";\n}\n'},
    # fileinto without its require: the server must refuse it
    "bad": 'if header :contains "subject" "x" {\n  fileinto "Junk";\n}\n',
    "edited": 'require "fileinto";\nif header :contains "subject" "mine-edited" {\n'
              '  fileinto "Junk";\n}\n',
}


def sieve_quote(v):
    """What the webmail must make of a value (RFC 5228 §2.4.2)."""
    return '"' + re.sub(r'[\x00-\x08\x0a-\x1f\x7f]', ' ', v).replace("\\", "\\\\").replace('"', '\\"') + '"'


FILTERS["trickySieve"] = sieve_quote(TRICKY)


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
    """node_modules/playwright-core from package-lock.json (npm ci), once."""
    return bt.npm_ci(WEBMAIL_TESTS, "playwright-core")


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
    for f in ("Drafts", "Sent", "Trash", "Archive", "Junk", "Filtered", "Tricky"):
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
    cfg["filters"] = dict(FILTERS, sieve={"host": bt.HOST, "port": getattr(srv, "sieve_port", 0)})
    node(res, "buzonmail.mjs", [json.dumps(cfg)], args.timeout)
    return set(steps) if steps else None


def node(res, script, argv, timeout):
    """Run a node script of this directory; its "FAIL: " lines are failures."""
    r = subprocess.run(["node", os.path.join(HERE, script)] + argv,
                       capture_output=True, text=True, timeout=timeout, cwd=HERE)
    for ln in r.stdout.splitlines():
        log(ln)
        if ln.startswith("FAIL: "):
            res.failures.append(ln[6:])
    if r.returncode != 0 and "FAIL" not in r.stdout:
        res.fail("%s failed: %s" % (script, r.stderr.strip()[-1500:]))
    elif r.stderr.strip():
        log(r.stderr.strip()[-1500:])


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
    if want("filters"):
        filter_checks(srv, res, want("vacation"))


def encoded_words(text):
    """RFC 2047 B encoded-words for text, split between characters (email.header would
    take U+2028 for a line end and drop it)."""
    words, cur = [], b""
    for ch in text:
        b = ch.encode("utf-8")
        if len(cur) + len(b) > 45:
            words.append(cur)
            cur = b""
        cur += b
    words.append(cur)
    return "\r\n ".join("=?utf-8?b?%s?=" % base64.b64encode(w).decode() for w in words)


def message(subject, sender="Someone <someone@example.net>", extra=""):
    return ("From: %s\r\nTo: demo@example.org\r\nSubject: %s\r\n%sDate: %s\r\n"
            "Message-ID: <%s@example.net>\r\nMIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n\r\nFilter test.\r\n" %
            (sender, subject, extra, email.utils.formatdate(), os.urandom(8).hex())).encode()


def filter_checks(srv, res, vacation):
    """The rules the browser saved, as delivery runs them (LMTP), seen over IMAP; with
    the vacation step's reply on, it still goes out (the filters did not replace it)."""
    tricky = "Tricky: " + TRICKY + " end"
    msgs = [message("Zebra project: weekly notes"),
            message("Budget for the filters test", sender="The Boss <boss@example.com>"),
            message(encoded_words(tricky)),
            message("Header rule test", extra="X-Filter-Test: tricky\r\n"),
            message("Plain message after the filters"),
            message("A mine-test message")]
    lm = smtplib.LMTP(bt.HOST, srv.lmtp_port, timeout=30)
    try:
        for m in msgs:
            lm.sendmail("sender@example.net", ["demo@example.org"], m)
    finally:
        lm.quit()
    m = imap(srv)
    inbox = folder_messages(m, "INBOX")
    filed = folder_messages(m, "Filtered")
    trick = folder_messages(m, "Tricky")
    need = "[filters needs SieveScript/set] IMAP: "
    x = find(filed, "Zebra project: weekly notes")
    res.check(x and "\\Seen" in x[0][1] and not find(inbox, "Zebra project: weekly notes"),
              need + "Subject contains Zebra: moved to Filtered and marked read")
    x = find(inbox, "Budget for the filters test")
    res.check(x and "\\Flagged" in x[0][1] and "\\Seen" not in x[0][1],
              need + "From is boss@example.com: flagged in INBOX")
    res.check(find(trick, tricky) and not find(inbox, tricky),
              need + "the tricky value matches as written: moved to Tricky")
    res.check(find(trick, "Header rule test"), need + "a header of the user's choice: moved to Tricky")
    x = find(inbox, "Plain message after the filters")
    res.check(x and "\\Flagged" not in x[0][1] and "\\Seen" not in x[0][1],
              need + "a message no rule matches is kept as it is (nothing injected discards it)")
    res.check(find(inbox, "A mine-test message") and not find(folder_messages(m, "Junk"), "A mine-test message"),
              need + "the script the webmail replaced does not run")
    m.logout()
    outbox = os.path.join(srv.tmp, "outbox")
    sent = []
    for name in sorted(os.listdir(outbox)):
        with open(os.path.join(outbox, name), "rb") as f:
            sent.append(email.message_from_bytes(f.read()))
    res.check(any(decode(x["Subject"]) == "Budget for the filters test" and x["Delivered-To"]
                  for x in sent), need + "forward a copy: the boss's message went to sendmail")
    if vacation:
        replies = [(x["To"], decode(x["Subject"])) for x in sent
                   if (x["Auto-Submitted"] or "").startswith("auto-replied")]
        res.check(any("sender@example.net" in (to or "") and subj == CASES["vacation"]["subject"]
                      for to, subj in replies),
                  "[filters needs SieveScript/set] the vacation reply still goes out beside the "
                  "filters (%s)" % replies)


def rules_cases():
    """Rule sets for sieverules.mjs, each with messages and the actions `buzon sieve
    test` must print for them (docs/sieve.md, "Action format")."""
    flagged = ['keep implicit flags="\\\\Flagged"']
    scripts = []
    values = ['"; discard; #', '\\"; discard; #', 'ends with a backslash \\', '\\\\"',
              '${hex:64}iscard', 'text:\r\n.\r\ndiscard;', '*/ discard; /*', 'nul\x00byte',
              'line\u2028sep', '"\\"\\\\""', TRICKY]
    for i, v in enumerate(values):
        shown = re.sub(r"[\x00-\x08\x0a-\x1f\x7f]", " ", v)
        scripts.append({"name": "inject%d" % i, "rules": [
            {"name": "n" + v + "\r\ndiscard;", "conds": [{"field": "subject", "op": "contains", "value": v}],
             "acts": [{"type": "flag"}]}],
            "messages": [("Subject: nothing here\r\n", ["keep implicit"]),
                         ("Subject: %s\r\n" % encoded_words("x " + shown + " y"), flagged)]})
    scripts.append({"name": "fields", "rules": [
        {"name": "from is", "conds": [{"field": "from", "op": "is", "value": "boss@example.com"}],
         "acts": [{"type": "flag"}]},
        {"name": "to or cc matches", "conds": [{"field": "tocc", "op": "matches", "value": "*@lists.example.org"}],
         "acts": [{"type": "move", "folder": "Lists"}]},
        {"name": "any", "match": "any", "conds": [
            {"field": "subject", "op": "is", "value": "exact subject"},
            {"field": "header", "header": "X-Custom", "op": "contains", "value": "yes"}],
         "acts": [{"type": "copy", "folder": "Copies"}, {"type": "seen"}]},
        {"name": "disabled", "enabled": False, "conds": [], "acts": [{"type": "discard"}]},
        {"name": "not", "conds": [{"field": "subject", "op": "notcontains", "value": "keep"},
                                  {"field": "from", "op": "contains", "value": "Spammer"}],
         "acts": [{"type": "stop"}, {"type": "discard"}]},
        {"name": "fwd", "conds": [{"field": "subject", "op": "contains", "value": "forward me"}],
         "acts": [{"type": "redirectcopy", "address": "friend@example.net"},
                  {"type": "redirect", "address": "other@example.net"}]},
        {"name": "folder", "conds": [{"field": "subject", "op": "contains", "value": "to sub"}],
         "acts": [{"type": "move", "folder": 'Odd "name" \\ x.Sub'}]}],
        "messages": [
            ("From: Boss <boss@example.com>\r\nSubject: hello\r\n", flagged),
            ("To: list@lists.example.org\r\nSubject: digest\r\n", ['fileinto "Lists"']),
            ("Cc: a@lists.example.org\r\nSubject: digest\r\n", ['fileinto "Lists"']),
            ("To: list@lists.example.org.evil\r\nSubject: digest\r\n", ["keep implicit"]),
            ("Subject: exact subject\r\n", ['fileinto "Copies" copy flags="\\\\Seen"',
                                             'keep implicit flags="\\\\Seen"']),
            ("X-Custom: oh yes\r\nSubject: other\r\n", ['fileinto "Copies" copy flags="\\\\Seen"',
                                                          'keep implicit flags="\\\\Seen"']),
            ("From: \"Spammer\" <s@example.net>\r\nSubject: buy\r\n", ["discard"]),
            ("From: \"Spammer\" <s@example.net>\r\nSubject: please keep\r\n", ["keep implicit"]),
            ("Subject: please forward me\r\n", ['redirect "other@example.net"',
                                                 'redirect "friend@example.net" copy']),
            ("Subject: to sub\r\n", ['fileinto "Odd \\"name\\" \\\\ x.Sub"']),
        ]})
    scripts.append({"name": "empty", "rules": [], "messages": [("Subject: x\r\n", ["keep implicit"])]})
    scripts.append({"name": "flagonly", "rules": [
        {"name": "all mail", "conds": [], "acts": [{"type": "seen"}]}],
        "messages": [("Subject: x\r\n", ['keep implicit flags="\\\\Seen"'])]})
    headers = {"X-Spam": True, "X Bad": False, "X:Y": False, "": False, "\u00dcber": False,
               "List-Id": True, "a" * 200: True, "a" * 201: False}
    problems = [
        {"rules": [{"name": "h", "conds": [{"field": "header", "header": "X Bad", "op": "is", "value": "v"}],
                    "acts": [{"type": "flag"}]}], "want": "header name"},
        {"rules": [{"name": "v", "conds": [{"field": "subject", "op": "contains", "value": ""}],
                    "acts": [{"type": "flag"}]}], "want": "no text"},
        {"rules": [{"name": "e", "conds": [{"field": "subject", "op": "is", "value": ""}],
                    "acts": [{"type": "flag"}]}], "want": None},
        {"rules": [{"name": "a", "conds": [], "acts": []}], "want": "no action"},
        {"rules": [{"name": "f", "conds": [], "acts": [{"type": "move", "folder": ""}]}], "want": "folder"},
        {"rules": [{"name": "r", "conds": [], "acts": [{"type": "redirect", "address": "a@b\r\nBcc: c@d"}]}],
         "want": "not an address"},
        {"rules": [{"name": "r", "conds": [], "acts": [{"type": "redirect", "address": "x\"@b"}]}],
         "want": "not an address"},
        {"rules": [{"name": "d", "enabled": False, "conds": [{"field": "header", "header": "X Bad"}],
                    "acts": []}], "want": None},
    ]
    return scripts, headers, problems


def run_rules(args):
    """The Sieve generator without a browser: every script compiles (`buzon sieve
    check`), reads back to the same rules, and runs as the rules say (`buzon sieve
    test`): nothing in a value, a name or a folder gets out of its string."""
    res = bt.Result("buzonmail-rules")
    work = tempfile.mkdtemp(prefix="buzonmail-rules.")
    try:
        scripts, headers, problems = rules_cases()
        cases = os.path.join(work, "cases.json")
        with open(cases, "w") as f:
            json.dump({"scripts": [{"name": c["name"], "rules": c["rules"]} for c in scripts],
                       "headerNames": headers, "problems": problems}, f)
        node(res, "sieverules.mjs", [cases, work], 60)
        buzon = os.environ.get("BUZON") or bt.default_binary()
        for c in scripts:
            path = os.path.join(work, c["name"] + ".sieve")
            if not os.path.exists(path):
                continue
            with open(path, encoding="utf-8") as f:
                text = f.read()
            log("--- %s\n%s" % (c["name"], text))
            p = subprocess.run([buzon, "sieve", "check", path], capture_output=True, text=True)
            res.eq((p.returncode, p.stderr.strip()), (0, ""), "%s compiles" % c["name"])
            req = re.search(r"^require \[(.*)\];$", text, re.M)
            res.check(c["name"] != "empty" or req is None, "%s: no require without rules" % c["name"])
            res.check(c["name"] != "flagonly" or (req and req.group(1) == '"imap4flags"'),
                      "%s: requires only imap4flags" % c["name"])
            for i, (head, want) in enumerate(c["messages"]):
                mp = os.path.join(work, "%s-%d.eml" % (c["name"], i))
                with open(mp, "wb") as f:
                    f.write(("From: Someone <someone@example.net>\r\n" if not head.startswith("From:") else "").encode()
                            + head.encode() + b"Message-ID: <r%d@example.net>\r\n\r\nbody\r\n" % i)
                p = subprocess.run([buzon, "sieve", "test", path, mp], capture_output=True, text=True)
                res.eq(p.stdout.splitlines(), want, "%s message %d (%s)" % (c["name"], i, head.strip()[:60]))
    except Exception as e:
        traceback.print_exc()
        res.fail("%s: %s" % (type(e).__name__, str(e).splitlines()[0] if str(e) else ""))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return "buzonmail-rules", res


def run_kind(kind, args):
    name = "buzonmail-%s" % kind
    res = bt.Result(name)
    port = bt.free_ports(1)[0]
    outbox = remote = None
    config = ["jmap_port = %d" % port, "jmap_tls = %s" % ("yes" if kind == "https" else "no")]
    if kind == "plain":	# filters: ManageSieve sees the script, LMTP delivery runs it
        srv_sieve_port = bt.free_ports(1)[0]
        config.append("managesieve_port = %d" % srv_sieve_port)
    srv = bt.Server(config=config, lmtp=(kind == "plain"))
    srv.jmap_port = port
    if kind == "plain":
        srv.sieve_port = srv_sieve_port
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
    ap.add_argument("kinds", nargs="*", help="rules, plain, https, off (default all)")
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
    kinds = args.kinds or ["rules"] + list(KINDS) + ["off"]
    for k in kinds:
        if k not in KINDS + ("off", "rules"):
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
        if problem and kind not in ("off", "rules"):
            print("FAIL buzonmail-%s: %s" % (kind, problem))
            failed += 1
            continue
        err_path = os.path.join(args.artifacts, "buzonmail-%s.txt" % kind)
        saved = os.dup(2)
        with open(err_path, "w") as ef:
            os.dup2(ef.fileno(), 2)
            try:
                name, res = (run_disabled(args) if kind == "off" else run_rules(args)
                             if kind == "rules" else run_kind(kind, args))
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
