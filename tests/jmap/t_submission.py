"""Identity, EmailSubmission and VacationResponse (RFC 8621 §6-8): tests/jmap/run.py
runs these with the others. A fake sendmail records its arguments and its standard
input (OUT/N.args, OUT/N.msg); Sieve's paths are absolute per test (the fixture's users
have no home)."""
import atexit
import json
import socket
import os
import shutil
import tempfile
import threading
import time

from jmaplib import *  # noqa: F401,F403
from jmaplib import bt, test, api, account, conn, request, basic, lmtp

SUB_USING = ["urn:ietf:params:jmap:core", "urn:ietf:params:jmap:mail",
             "urn:ietf:params:jmap:submission"]
VAC_USING = ["urn:ietf:params:jmap:core", "urn:ietf:params:jmap:vacationresponse"]

ROOT = tempfile.mkdtemp(prefix="buzon-jmapsub.")
os.chmod(ROOT, 0o755)
atexit.register(shutil.rmtree, ROOT, True)

# exit 75 when OUT/fail exists; when OUT/hold exists, creates OUT/started and waits (at
# most 8 s) for OUT/go
SENDMAIL = """#!/bin/sh
out=%s
if [ -e "$out/hold" ]; then
  : > "$out/started"
  i=0
  while [ ! -e "$out/go" ] && [ $i -lt 80 ]; do sleep 0.1; i=$((i+1)); done
  [ -e "$out/go" ] || exit 75
fi
[ -e "$out/fail" ] && exit 75
n=$(date +%%s%%N).$$
cat > "$out/$n.msg"
printf '%%s\\n' "$@" > "$out/$n.args"
exit 0
"""


def setup_dir(name):
    """DIR with sendmail, out/, home/sieve; the config lines that use them."""
    d = os.path.join(ROOT, name)
    for sub in ("out", "home/sieve"):
        os.makedirs(os.path.join(d, sub), exist_ok=True)
    sm = os.path.join(d, "sendmail")
    with open(sm, "w") as f:
        f.write(SENDMAIL % os.path.join(d, "out"))
    os.chmod(sm, 0o755)
    for p in (d, os.path.join(d, "out"), os.path.join(d, "home"),
              os.path.join(d, "home/sieve")):
        os.chmod(p, 0o777)
    return d, ["jmap_tls = no", "sendmail_path = %s" % sm,
               "sieve_script = %s/home/.dovecot.sieve" % d,
               "sieve_dir = %s/home/sieve" % d]


def sent(d):
    """[(argv lines, message bytes)] in the order sent."""
    out = os.path.join(d, "out")
    got = []
    for n in sorted(os.listdir(out)):
        if n.endswith(".args"):
            base = n[:-5]
            with open(os.path.join(out, n)) as f:
                args = f.read().splitlines()
            with open(os.path.join(out, base + ".msg"), "rb") as f:
                got.append((args, f.read()))
    return got


def wait_sent(d, n, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        s = sent(d)
        if len(s) >= n:
            return s
        time.sleep(0.1)
    return sent(d)


def call(srv, *calls, using=SUB_USING):
    st, p = api(srv, {"using": using, "methodCalls": list(calls)})
    if st != 200:
        raise AssertionError("HTTP %d: %r" % (st, p))
    return p["methodResponses"]


def identity(srv, acc):
    r = call(srv, ["Identity/get", {"accountId": acc}, "i"])
    return r[0][1]["list"][0]


def append(srv, msg, folder="INBOX"):
    """APPEND msg over IMAP; its EMAILID as a JMAP id."""
    m = srv.imap()
    typ, data = m.append(folder, None, None, msg)
    assert typ == "OK", data
    uid = data[0].split(b"APPENDUID ")[1].split(b"]")[0].split()[1].decode()
    m.select(folder)
    typ, data = m.uid("FETCH", uid, "(EMAILID)")
    m.logout()
    for x in data:
        if isinstance(x, bytes) and b"EMAILID (" in x:
            return x.split(b"EMAILID (")[1].split(b")")[0].decode()
    raise AssertionError("no EMAILID in %r" % data)


def submit(srv, acc, email_id, envelope=None, **extra):
    sub = {"identityId": "I0", "emailId": email_id}
    if envelope is not None:
        sub["envelope"] = envelope
    args = {"accountId": acc, "create": {"s1": sub}}
    args.update(extra)
    return call(srv, ["EmailSubmission/set", args, "s"])


D_ID, C_ID = setup_dir("identity")


@test(config=C_ID)
def submission_identity(srv, res):
    c = conn(srv)
    r, data = request(c, "GET", "/.well-known/jmap", auth=basic())
    s = json.loads(data)
    acc = s["primaryAccounts"]["urn:ietf:params:jmap:mail"]
    res.eq(s["capabilities"].get("urn:ietf:params:jmap:submission"), {},
           "the submission capability (session)")
    res.check("urn:ietf:params:jmap:vacationresponse" in s["capabilities"],
              "the vacationresponse capability")
    ac = s["accounts"][acc]["accountCapabilities"]
    res.eq(ac.get("urn:ietf:params:jmap:submission"),
           {"maxDelayedSend": 0, "submissionExtensions": {}}, "account capability")
    res.eq(s["primaryAccounts"].get("urn:ietf:params:jmap:submission"), acc, "primary")
    # without the capability in using: unknownMethod (RFC 8620 §3.6.2)
    r0 = call(srv, ["Identity/get", {"accountId": acc}, "i"], using=USING)
    res.eq(r0[0][0:2], ["error", {"type": "unknownMethod"}], "capability required")
    r1 = call(srv, ["Identity/get", {"accountId": acc}, "i"])
    g = r1[0][1]
    res.eq(len(g["list"]), 1, "one identity")
    ident = g["list"][0]
    res.check(ident["email"].startswith("demo@"), "the email is the user's: %r" % ident)
    res.eq((ident["id"], ident["mayDelete"]), ("I0", False), "id, mayDelete")
    r2 = call(srv, ["Identity/set", {"accountId": acc, "update": {"I0": {
        "name": "Demo User", "textSignature": "-- \nDemo"}}, "create": {"n": {
        "email": "other@example.org"}}, "destroy": ["I0"]}, "u"],
        ["Identity/set", {"accountId": acc, "update": {"I0": {"email": "x@example.org"}}},
         "v"],
        ["Identity/changes", {"accountId": acc, "sinceState": g["state"]}, "c"],
        ["Identity/get", {"accountId": acc, "ids": ["I0", "I9"],
                          "properties": ["name", "textSignature"]}, "g"])
    u = r2[0][1]
    res.eq((u["updated"], u["notCreated"]["n"]["type"], u["notDestroyed"]["I0"]["type"]),
           ({"I0": None}, "forbidden", "forbidden"), "Identity/set")
    res.eq(r2[1][1]["notUpdated"]["I0"]["type"], "invalidProperties", "email is fixed")
    res.eq(r2[2][1]["updated"], ["I0"], "Identity/changes")
    res.eq((r2[3][1]["list"], r2[3][1]["notFound"]),
           ([{"id": "I0", "name": "Demo User", "textSignature": "-- \nDemo"}], ["I9"]),
           "Identity/get after set")


D_SEND, C_SEND = setup_dir("send")


@test(config=C_SEND)
def submission_imap_message(srv, res):
    acc = account(srv)
    me = identity(srv, acc)["email"]
    st0 = call(srv, ["EmailSubmission/get", {"accountId": acc, "ids": []}, "g"])[0][1]["state"]
    msg = ("From: Demo <%s>\r\nTo: a@example.org, Bee <b@example.org>\r\nCc: a@example.org"
           "\r\nBcc: secret@example.net,\r\n hidden@example.net\r\nSubject: sent over JMAP"
           "\r\nMessage-ID: <s1@example.org>\r\n\r\nHello.\r\n" % me).encode()
    eid = append(srv, msg)
    r = submit(srv, acc, eid)
    s = r[0][1]
    res.eq(sorted(s["created"] or {}), ["s1"], "created: %r" % s)
    cr = (s["created"] or {}).get("s1", {})
    res.eq(cr.get("undoStatus"), "final", "undoStatus final")
    res.eq(sorted(cr.get("deliveryStatus", {})), ["a@example.org", "b@example.org",
                                                  "hidden@example.net",
                                                  "secret@example.net"], "deliveryStatus")
    got = wait_sent(D_SEND, 1)
    res.eq(len(got), 1, "one message to sendmail")
    if got:
        args, body = got[0]
        res.eq(args, ["-i", "-f", me, "--", "a@example.org", "b@example.org",
                      "secret@example.net", "hidden@example.net"],
               "envelope: From, To + Cc + Bcc deduplicated")
        res.check(b"Bcc" not in body and b"secret@" not in body, "Bcc removed: %r" % body)
        res.check(b"Cc: a@example.org" in body and b"Hello." in body, "the rest is sent")
    # an explicit envelope
    r = submit(srv, acc, eid, envelope={"mailFrom": {"email": me, "parameters": None},
                                        "rcptTo": [{"email": "x@example.com"}]})
    res.check(r[0][1]["created"] is not None, "explicit envelope: %r" % r[0][1])
    got = wait_sent(D_SEND, 2)
    res.eq(got[-1][0] if len(got) == 2 else None, ["-i", "-f", me, "--", "x@example.com"],
           "explicit envelope")
    # the creation id is the request's (RFC 8620 §3.3): createdIds
    st, p = api(srv, {"using": SUB_USING, "createdIds": {"old": "X1"}, "methodCalls": [
        ["EmailSubmission/set", {"accountId": acc, "create": {"s2": {
            "identityId": "I0", "emailId": eid}}}, "a"]]})
    s2 = p["methodResponses"][0][1]["created"]["s2"]["id"]
    res.eq(p.get("createdIds"), {"old": "X1", "s2": s2}, "createdIds")
    wait_sent(D_SEND, 3)
    # get, query, changes
    sid = s["created"]["s1"]["id"] if s["created"] else "?"
    r = call(srv, ["EmailSubmission/get", {"accountId": acc, "ids": [sid, "Snope"]}, "g"],
             ["EmailSubmission/query", {"accountId": acc, "filter": {"emailIds": [eid]},
                                        "sort": [{"property": "sentAt"}],
                                        "calculateTotal": True}, "q"],
             ["EmailSubmission/changes", {"accountId": acc, "sinceState": st0}, "c"],
             ["EmailSubmission/changes", {"accountId": acc, "sinceState": "bogus"}, "c2"])
    g = r[0][1]
    res.eq(([x["id"] for x in g["list"]], g["notFound"]), ([sid], ["Snope"]), "get")
    res.eq((g["list"][0]["emailId"], g["list"][0]["identityId"]) if g["list"] else None,
           (eid, "I0"), "get: emailId, identityId")
    res.eq((r[1][1]["total"], r[1][1]["ids"][0]), (3, sid), "query")
    res.eq(len(r[2][1]["created"]), 3, "changes: three created")
    res.eq(r[3][1]["type"], "cannotCalculateChanges", "changes from a bogus state")
    # destroy forgets the record
    r = call(srv, ["EmailSubmission/set", {"accountId": acc, "destroy": [sid],
                                           "update": {sid: {"undoStatus": "canceled"}}}, "d"],
             ["EmailSubmission/get", {"accountId": acc, "ids": [sid]}, "g"])
    res.eq(r[0][1]["notUpdated"][sid]["type"], "cannotUnsend", "update refused")
    res.eq(r[0][1]["destroyed"], [sid], "destroyed")
    res.eq(r[1][1]["notFound"], [sid], "gone after destroy")


D_ERR, C_ERR = setup_dir("errors")


@test(config=C_ERR)
def submission_errors(srv, res):
    acc = account(srv)
    me = identity(srv, acc)["email"]

    def err(msg, envelope=None, eid=None):
        eid = eid or append(srv, msg)
        r = submit(srv, acc, eid, envelope=envelope)[0][1]
        return (r.get("notCreated") or {}).get("s1", {"type": "created"})

    e = err(b"From: other@example.org\r\nTo: a@example.org\r\nSubject: x\r\n\r\nx\r\n")
    res.eq(e["type"], "forbiddenFrom", "From not the identity's")
    e = err(("From: %s\r\nTo: a@example.org\r\nSubject: x\r\n\r\nx\r\n" % me).encode(),
            envelope={"mailFrom": {"email": "other@example.org"},
                      "rcptTo": [{"email": "a@example.org"}]})
    res.eq(e["type"], "forbiddenMailFrom", "envelope mailFrom not the identity's")
    e = err(("From: %s\r\nTo: a@example.org\r\nSubject: x\r\n\r\nx\r\n" % me).encode(),
            envelope={"mailFrom": {"email": me},
                      "rcptTo": [{"email": "a@example.org", "parameters": {"NOTIFY": "NEVER"}}]})
    res.eq(e["type"], "invalidProperties", "SMTP parameters (no submissionExtensions)")
    e = err(("From: %s\r\nTo: nobody, a@example.org\r\nSubject: x\r\n\r\nx\r\n" % me).encode())
    res.eq((e["type"], e.get("invalidRecipients")), ("invalidRecipients", ["nobody"]),
           "invalidRecipients")
    e = err(("From: %s\r\nSubject: no one\r\n\r\nx\r\n" % me).encode())
    res.eq(e["type"], "noRecipients", "noRecipients")
    e = err(b"", eid="Mffffffffffffffff")
    res.eq(e["type"], "invalidEmail", "no such Email")
    e = err(b"", eid="not-an-email-id")
    res.eq(e["type"], "invalidEmail", "not an Email id")
    r = call(srv, ["EmailSubmission/set", {"accountId": acc, "create": {
        "s1": {"identityId": "I7", "emailId": "Mffffffffffffffff", "undoStatus": "x"}}}, "s"])
    e = r[0][1]["notCreated"]["s1"]
    res.eq((e["type"], sorted(e["properties"])), ("invalidProperties",
                                                   ["identityId", "undoStatus"]),
           "invalidProperties")
    # sendmail fails: nothing recorded as sent
    open(os.path.join(D_ERR, "out", "fail"), "w").close()
    e = err(("From: %s\r\nTo: a@example.org\r\nSubject: x\r\n\r\nx\r\n" % me).encode())
    os.unlink(os.path.join(D_ERR, "out", "fail"))
    res.eq(e["type"], "serverFail", "sendmail exit 75")
    res.eq(sent(D_ERR), [], "nothing was sent")


D_SLOW, C_SLOW = setup_dir("slow")


@test(config=C_SLOW)
def submission_slow_sendmail_does_not_block(srv, res):
    """While sendmail waits (for OUT/go), the same user's JMAP and IMAP are served."""
    acc = account(srv)
    me = identity(srv, acc)["email"]
    eid = append(srv, ("From: %s\r\nTo: a@example.org\r\nSubject: slow\r\n\r\nx\r\n" %
                       me).encode())
    out = os.path.join(D_SLOW, "out")
    open(os.path.join(out, "hold"), "w").close()
    result = {}

    def run():
        try:
            result["r"] = submit(srv, acc, eid)
        except Exception as e:  # noqa: BLE001
            result["e"] = e
    t = threading.Thread(target=run)
    t.start()
    # once sendmail runs, the submission waits for it; other requests are answered
    # meanwhile (a blocked mail process would answer them only after sendmail gave up
    # at 8 s, past these connections' 5 s)
    deadline = time.monotonic() + 10
    while not os.path.exists(os.path.join(out, "started")) and time.monotonic() < deadline:
        time.sleep(0.05)
    res.check(os.path.exists(os.path.join(out, "started")), "sendmail started")
    c = conn(srv, timeout=5)
    st, p = api(srv, {"using": SUB_USING, "methodCalls": [["Core/echo", {"x": 1}, "e"]]}, c=c)
    res.eq((st, p["methodResponses"][0][1]), (200, {"x": 1}), "JMAP answered meanwhile")
    m = srv.imap(timeout=5)
    typ, _ = m.noop()
    m.logout()
    res.eq(typ, "OK", "IMAP answered meanwhile")
    res.check(t.is_alive(), "the submission still waits for sendmail")
    open(os.path.join(out, "go"), "w").close()
    t.join(20)
    r = result.get("r")
    res.check(r is not None and r[0][1]["created"] is not None,
              "then the submission is created: %r" % (result,))


D_DRAFT, C_DRAFT = setup_dir("draft")


@test(config=C_DRAFT)
def submission_on_success_update(srv, res):
    """An Email/set draft sent in the same request, then updated and destroyed by the
    implicit Email/set of onSuccessUpdateEmail / onSuccessDestroyEmail (RFC 8621 §7.5;
    needs Email/set)."""
    acc = account(srv)
    me = identity(srv, acc)["email"]
    boxes = call(srv, ["Mailbox/get", {"accountId": acc}, "m"])[0][1]["list"]
    drafts = [b["id"] for b in boxes if b.get("role") == "drafts"]
    drafts = drafts[0] if drafts else [b["id"] for b in boxes if b["role"] == "inbox"][0]
    r = call(srv, ["Email/set", {"accountId": acc, "create": {"d1": {
        "mailboxIds": {drafts: True}, "keywords": {"$draft": True, "$seen": True},
        "from": [{"email": me}], "to": [{"email": "a@example.org"}],
        "subject": "a draft", "bodyValues": {"b": {"value": "Hi."}},
        "textBody": [{"partId": "b", "type": "text/plain"}]}}}, "e"],
        ["EmailSubmission/set", {"accountId": acc, "create": {"s1": {
            "identityId": "I0", "emailId": "#d1"}},
            "onSuccessUpdateEmail": {"#s1": {"keywords/$draft": None}}}, "s"])
    res.eq(r[0][0], "Email/set", "Email/set ran: %r" % (r[0],))
    res.check(r[1][0] == "EmailSubmission/set" and r[1][1].get("created"),
              "submission of the draft: %r" % (r[1],))
    res.eq([x[0] for x in r[2:]], ["Email/set"], "implicit Email/set response")
    res.eq(r[2][2] if len(r) > 2 else None, "s", "with the submission's call id")
    got = wait_sent(D_DRAFT, 1)
    res.eq(len(got), 1, "the draft went to sendmail")
    eid = (r[0][1].get("created") or {}).get("d1", {}).get("id")
    g = call(srv, ["Email/get", {"accountId": acc, "ids": [eid or "M0"],
                                 "properties": ["keywords"]}, "g"])[0][1]
    res.eq(g["list"][0]["keywords"] if g.get("list") else None, {"$seen": True},
           "$draft removed")
    # onSuccessDestroyEmail on an IMAP message
    eid2 = append(srv, ("From: %s\r\nTo: a@example.org\r\nSubject: y\r\n\r\ny\r\n" %
                        me).encode())
    r = submit(srv, acc, eid2, onSuccessDestroyEmail=["#s1"])
    res.eq([x[0] for x in r], ["EmailSubmission/set", "Email/set"], "implicit destroy")
    res.eq(r[1][1].get("destroyed") if len(r) > 1 else None, [eid2], "the Email destroyed")


D_VAC, C_VAC = setup_dir("vacation")

USER_SCRIPT = (b'require "fileinto";\nif header :contains "subject" "[acme]" '
               b'{\n  fileinto "Lists";\n}\n')


def count_in(srv, folder, subject):
    n = 0
    for sub, info, data in srv.maildir_files("demo", folder).values():
        if ("Subject: " + subject).encode() in data:
            n += 1
    return n


@test(config=C_VAC, lmtp=True)
def vacation_response(srv, res):
    acc = account(srv)
    home = os.path.join(D_VAC, "home")
    srv.make_maildir("demo", "Lists")
    # the user's own active script (a filter), as ManageSieve leaves it
    with open(os.path.join(home, "sieve", "mine.sieve"), "wb") as f:
        f.write(USER_SCRIPT)
    os.symlink("sieve/mine.sieve", os.path.join(home, ".dovecot.sieve"))
    r = call(srv, ["VacationResponse/get", {"accountId": acc}, "v"], using=VAC_USING)
    v0 = r[0][1]
    res.eq(v0["list"], [{"id": "singleton", "isEnabled": False, "fromDate": None,
                         "toDate": None, "subject": None, "textBody": None,
                         "htmlBody": None}], "default")
    r = call(srv, ["VacationResponse/set", {"accountId": acc, "update": {"singleton": {
        "isEnabled": True, "subject": "Away \"now\"", "textBody": "I am away.\nBack soon.",
        "fromDate": "2000-01-01T00:00:00Z", "toDate": "2999-01-01T00:00:00Z"}},
        "create": {"x": {}}, "destroy": ["singleton"]}, "s"],
        ["VacationResponse/get", {"accountId": acc, "ids": ["singleton", "other"]}, "g"],
        using=VAC_USING)
    s = r[0][1]
    res.eq((s["updated"], s["notCreated"]["x"]["type"], s["notDestroyed"]["singleton"]["type"]),
           ({"singleton": None}, "singleton", "singleton"), "set: %r" % s)
    g = r[1][1]
    res.eq((g["list"][0]["isEnabled"], g["list"][0]["subject"], g["list"][0]["textBody"],
            g["notFound"]),
           (True, "Away \"now\"", "I am away.\nBack soon.", ["other"]), "read back")
    res.check(s["newState"] != s["oldState"], "state changes")
    r = call(srv, ["VacationResponse/set", {"accountId": acc, "update": {"singleton": {
        "fromDate": "yesterday", "color": "red"}}}, "s"], using=VAC_USING)
    res.eq(sorted(r[0][1]["notUpdated"]["singleton"]["properties"]), ["color", "fromDate"],
           "invalidProperties")
    # deliveries: the user's filter still files, and one vacation reply per sender
    lmtp(srv, "sender@example.net", "[acme] news")
    lmtp(srv, "sender@example.net", "[acme] more news")
    got = wait_sent(D_VAC, 1)
    time.sleep(0.5)
    got = sent(D_VAC)
    res.eq(len(got), 1, "one vacation reply for two messages")
    if got:
        args, body = got[0]
        res.eq(args, ["-i", "-f", "<>", "--", "sender@example.net"], "reply envelope")
        # (a line break in a Sieve string is CRLF, RFC 5228 §2.4.2)
        res.check(b'Subject: Away "now"' in body and b"I am away.\r\nBack soon." in body,
                  "the reply: %r" % body)
        res.check(b"Auto-Submitted: auto-replied" in body, "Auto-Submitted")
    res.eq((count_in(srv, "Lists", "[acme]"), count_in(srv, None, "[acme]")), (2, 0),
           "the user's fileinto still works (and cancels the implicit keep)")
    # HTML: a :mime reply
    call(srv, ["VacationResponse/set", {"accountId": acc, "update": {"singleton": {
        "htmlBody": "<p>Away</p>"}}}, "s"], using=VAC_USING)
    lmtp(srv, "other@example.net", "hello")
    got = wait_sent(D_VAC, 2)
    res.eq(len(got), 2, "a reply to another sender")
    if len(got) == 2:
        res.check(b"multipart/alternative" in got[1][1] and b"<p>Away</p>" in got[1][1],
                  "text and HTML: %r" % got[1][1])
    # disabled: no reply, the filter still works
    r = call(srv, ["VacationResponse/set", {"accountId": acc, "update": {"singleton": {
        "isEnabled": False}}}, "s"],
        ["VacationResponse/get", {"accountId": acc}, "g"], using=VAC_USING)
    res.eq(r[1][1]["list"][0]["isEnabled"], False, "disabled")
    lmtp(srv, "third@example.net", "[acme] after")
    deadline = time.monotonic() + 10
    while count_in(srv, "Lists", "[acme] after") == 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    res.eq((count_in(srv, "Lists", "[acme] after"), count_in(srv, None, "[acme] after")),
           (1, 0), "filed after disabling")
    res.eq(len(sent(D_VAC)), 2, "no reply once disabled")
    with open(os.path.join(home, "sieve", "mine.sieve"), "rb") as f:
        res.eq(f.read(), USER_SCRIPT, "the user's script is untouched")


D_GONE, C_GONE = setup_dir("gone")


@test(config=C_GONE)
def submission_client_gone_while_waiting(srv, res):
    """The client hangs up while its submission waits for sendmail: the message is sent
    and recorded all the same, and the server goes on serving."""
    acc = account(srv)
    me = identity(srv, acc)["email"]
    eid = append(srv, ("From: %s\r\nTo: a@example.org\r\nSubject: gone\r\n\r\nx\r\n" %
                       me).encode())
    out = os.path.join(D_GONE, "out")
    open(os.path.join(out, "hold"), "w").close()
    body = json.dumps({"using": SUB_USING, "methodCalls": [["EmailSubmission/set", {
        "accountId": acc, "create": {"s1": {"identityId": "I0", "emailId": eid}}},
        "s"]]}).encode()
    s = socket.create_connection((bt.HOST, srv.jmap_port), timeout=10)
    s.sendall(b"POST /jmap/api HTTP/1.1\r\nHost: x\r\nAuthorization: " +
              basic().encode() + b"\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    deadline = time.monotonic() + 10
    while not os.path.exists(os.path.join(out, "started")) and time.monotonic() < deadline:
        time.sleep(0.05)
    s.close()
    open(os.path.join(out, "go"), "w").close()
    res.eq(len(wait_sent(D_GONE, 1)), 1, "sent")
    deadline = time.monotonic() + 10
    while True:
        g = call(srv, ["EmailSubmission/get", {"accountId": acc}, "g"])[0][1]
        if g["list"] or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    res.eq([x["emailId"] for x in g["list"]], [eid], "recorded")


D_JAM, C_JAM = setup_dir("jam")


@test(config=C_JAM)
def submission_jam(srv, res):
    """jmap-jam, an independent client, finds the capabilities, sends and sets a vacation."""
    import subprocess
    from jmaplib import ensure_jam, HERE
    acc = account(srv)
    me = identity(srv, acc)["email"]
    eid = append(srv, ("From: %s\r\nTo: jam@example.org\r\nSubject: jam\r\n\r\nx\r\n" %
                       me).encode())
    node = shutil.which("node")
    if node is None:
        raise AssertionError("no node (nodejs) for jmap-jam")
    ensure_jam()
    r = subprocess.run([node, os.path.join(HERE, "jam_submission.mjs"),
                        "http://%s:%d/.well-known/jmap" % (bt.HOST, srv.jmap_port),
                        "demo", "demo", eid], capture_output=True, text=True, timeout=30,
                       cwd=HERE)
    if r.returncode != 0:
        raise AssertionError("jam_submission.mjs failed: %s" % r.stderr.strip()[-2000:])
    out = json.loads(r.stdout)
    res.check("urn:ietf:params:jmap:submission" in out["capabilities"], "capabilities")
    res.eq([i["email"] for i in out["identities"]], [me], "Identity/get")
    res.eq(list(out["submission"]["created"]), ["s1"], "EmailSubmission/set")
    res.eq([g["emailId"] for g in out["got"]["list"]], [eid], "EmailSubmission/query + get by ref")
    res.eq(out["vacationSet"]["updated"], {"singleton": None}, "VacationResponse/set")
    res.eq((out["vacation"]["isEnabled"], out["vacation"]["textBody"]), (True, "jam was here"),
           "VacationResponse/get")
    got = wait_sent(D_JAM, 1)
    res.eq([a for a, m in got], [["-i", "-f", me, "--", "jam@example.org"]], "sent")


D_WS, C_WS = setup_dir("websocket")


@test(config=C_WS)
def submission_over_websocket_waits(srv, res):
    """JMAP over WebSocket (RFC 8887) with a submission that waits for sendmail: its
    Response comes when sendmail is done, the next Request on the socket is answered
    after it (in order), and another connection of the user is served meanwhile."""
    from t_push import WebSocket
    acc = account(srv)
    me = identity(srv, acc)["email"]
    eid = append(srv, ("From: %s\r\nTo: b@example.org\r\nSubject: over ws\r\n\r\nx\r\n" %
                       me).encode())
    out = os.path.join(D_WS, "out")
    open(os.path.join(out, "hold"), "w").close()
    ws = WebSocket(srv)
    res.eq(ws.status, 101, "WebSocket upgrade")
    ws.send({"@type": "Request", "id": "r1", "using": SUB_USING, "methodCalls": [
        ["EmailSubmission/set", {"accountId": acc, "create": {
            "s1": {"identityId": "I0", "emailId": eid}}}, "s"]]})
    ws.send({"@type": "Request", "id": "r2", "using": SUB_USING,
             "methodCalls": [["Core/echo", {"after": True}, "e"]]})
    deadline = time.monotonic() + 10
    while not os.path.exists(os.path.join(out, "started")) and time.monotonic() < deadline:
        time.sleep(0.05)
    res.check(os.path.exists(os.path.join(out, "started")), "sendmail started")
    st, p = api(srv, {"using": SUB_USING, "methodCalls": [["Core/echo", {"x": 1}, "e"]]},
                c=conn(srv, timeout=5))
    res.eq((st, p["methodResponses"][0][1]), (200, {"x": 1}), "HTTP answered meanwhile")
    got = None
    try:
        got = ws.message(timeout=1)
    except socket.timeout:
        pass
    res.eq(got, None, "no Response while sendmail runs")
    open(os.path.join(out, "go"), "w").close()
    m1, m2 = ws.message(timeout=20), ws.message(timeout=20)
    res.eq((m1.get("@type"), m1.get("requestId")), ("Response", "r1"), "r1's Response first")
    r = m1.get("methodResponses", [[None, {}]])[0]
    res.check(r[0] == "EmailSubmission/set" and (r[1].get("created") or {}).get("s1"),
              "the submission is created: %r" % (r,))
    res.eq((m2.get("requestId"), m2.get("methodResponses", [[0, 0]])[0][1]),
           ("r2", {"after": True}), "then r2's")
    res.eq(len(sent(D_WS)), 1, "sendmail got the message once")
    ws.close()
