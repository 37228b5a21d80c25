#!/usr/bin/env python3
"""JMAP tests (issue 18, RFC 8620 and RFC 8621 read side) against a real buzon on
127.0.0.1: jmap-jam (an independent client from the npm registry, tests/jmap/jam.mjs)
reads the session resource, Mailbox/get, Email/query + Email/get with a result
reference, Core/echo and a blob download, over plaintext HTTP on loopback and over
HTTPS; the ids it sees are the ones IMAP sends (MAILBOXID, EMAILID); blobs are the
messages with CRLF line ends, streamed (a 3.6 MB one). Mailbox/changes and Email/changes
follow IMAP changes (CREATE, DELETE, STORE, COPY, EXPUNGE) and deliveries, also in
maxChanges steps. Raw requests (http.client and sockets) check the
errors: 401 with a Basic challenge, a wrong password, notJSON, notRequest,
unknownCapability, limit, unknownMethod, invalidResultReference, accountNotFound; and
hostile HTTP: an oversized head before and after login, an oversized body, a slowloris
client, NUL octets, chunked bodies, deep JSON nesting, other credentials on a logged-in
connection — each answered and the server still serving.  Each test starts its own
server (tests/lib/buzontest.py) and prints "PASS name" or "FAIL name: reasons"; the last
line is "N passed, M failed".

  run.py [--buzon PATH] [NAME...]
"""
import glob
import importlib
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from jmaplib import *  # noqa: E402,F401,F403
from jmaplib import HERE, TESTS, run_one  # noqa: E402


def check_jam(srv, res, out):
    caps = out["session"]["capabilities"]
    res.check("urn:ietf:params:jmap:core" in caps and "urn:ietf:params:jmap:mail" in caps,
              "session capabilities core and mail")
    res.eq(caps["urn:ietf:params:jmap:core"]["maxCallsInRequest"], 16, "maxCallsInRequest")
    boxes = {m["role"]: m for m in out["mailboxes"]["list"]}
    res.check("inbox" in boxes and "sent" in boxes and "trash" in boxes,
              "Mailbox/get roles inbox, sent, trash")
    inbox = boxes["inbox"]
    nmsgs = len(bt.fixture_messages())
    res.eq(inbox["totalEmails"], nmsgs, "INBOX totalEmails")
    res.eq(inbox["myRights"]["mayReadItems"], True, "myRights.mayReadItems")
    mbid, emailids = imap_ids(srv)
    res.eq(inbox["id"], mbid, "the INBOX id is IMAP's MAILBOXID")
    q = out["query"]
    res.eq(q["total"], nmsgs, "Email/query total")
    res.eq(len(q["ids"]), min(10, nmsgs), "Email/query limit 10")
    res.check(set(q["ids"]) <= emailids, "Email ids are IMAP's EMAILIDs")
    emails = out["emails"]["list"]
    res.eq([e["id"] for e in emails], q["ids"], "Email/get by #ids, in order")
    recv = [e["receivedAt"] for e in emails]
    res.eq(recv, sorted(recv, reverse=True), "receivedAt descending")
    res.check(all(e["mailboxIds"] == {mbid: True} for e in emails), "mailboxIds")
    res.check(any(e["subject"] for e in emails), "subjects")
    res.check(all(isinstance(e["from"], list) for e in emails if e["from"] is not None),
              "from is EmailAddress[]")
    res.check(any(e["preview"] for e in emails), "previews")
    res.eq(out["echo"], {"hello": "world", "n": [1, 2]}, "Core/echo")
    d = out["download"]
    res.eq((d["status"], d["length"], d["type"]), (200, d["size"], "message/rfc822"),
           "downloadBlob: the Email's size")
    res.eq(out["emailSet"], "accepted", "Email/set with nothing to do (tests/jmap/t_set.py)")


@test(config=["jmap_tls = no"])
def jam_plaintext_loopback(srv, res):
    out = run_jam(srv, "http://127.0.0.1:%d/.well-known/jmap" % srv.jmap_port)
    res.eq(out["session"]["apiUrl"], "http://127.0.0.1:%d/jmap/api" % srv.jmap_port,
           "apiUrl from the Host field")
    check_jam(srv, res, out)


@test(config=["jmap_tls = yes"])
def jam_https(srv, res):
    out = run_jam(srv, "https://localhost:%d/.well-known/jmap" % srv.jmap_port,
                  env={"NODE_EXTRA_CA_CERTS": srv.cert})
    res.check(out["session"]["apiUrl"].startswith("https://localhost:"), "https apiUrl")
    check_jam(srv, res, out)



@test(config=["jmap_tls = no", "jmap_base_url = https://mail.example.org/proxied"])
def base_url(srv, res):
    """jmap_base_url: the session resource's URLs start with it, not with the request's
    scheme and Host (a reverse proxy that ends TLS)."""
    c = conn(srv)
    r, data = request(c, "GET", "/.well-known/jmap", auth=basic(),
                      headers={"Host": "evil.example.net"})
    res.eq(r.status, 200, "session resource")
    s = json.loads(data)
    base = "https://mail.example.org/proxied"
    res.eq(s["apiUrl"], base + "/jmap/api", "apiUrl")
    for k in ("downloadUrl", "uploadUrl", "eventSourceUrl"):
        res.check(s[k].startswith(base + "/jmap/"), "%s: %s" % (k, s[k]))
    res.check("evil" not in data.decode(), "the Host field is not used")



@test(config=["jmap_tls = no"])
def list_properties_cached(srv, res):
    """The list properties come from the item cache after the first Email/get
    (docs/formats.md, item 9): the same as the first time, and as a get that also asks
    for a body property (which renders them from the file again)."""
    acc = account(srv)
    props = ["from", "to", "cc", "subject", "sentAt", "preview"]

    def get(p):
        st, r = api(srv, {"using": USING, "methodCalls": [
            ["Email/query", {"accountId": acc}, "q"],
            ["Email/get", {"accountId": acc, "properties": p, "#ids": {
                "resultOf": "q", "name": "Email/query", "path": "/ids"}}, "g"]]})
        return [{k: e.get(k) for k in props} for e in r["methodResponses"][1][1]["list"]]
    first = get(props)
    res.check(len(first) > 5 and any(e["subject"] for e in first), "Email/get answered")
    res.eq(get(props), first, "the second Email/get (from the cache) says the same")
    res.eq(get(["subject", "preview"]), [{k: (e[k] if k in ("subject", "preview") else None)
                                          for k in props} for e in first],
           "a part of them from the cache")
    res.eq(get(props + ["textBody"]), first, "rendered from the file again: the same")



@test(config=["jmap_tls = no"])
def query_results_follow_changes(srv, res):
    """Email/query keeps the results of a query per Email state (src/jmap/jmap_query.c):
    the same query again answers the same, and after a change (a flag over IMAP, a new
    message) it answers what is true now."""
    acc = account(srv)

    def flagged():
        st, r = api(srv, {"using": USING, "methodCalls": [["Email/query", {
            "accountId": acc, "filter": {"hasKeyword": "$flagged"},
            "calculateTotal": True}, "q"]]})
        q = r["methodResponses"][0][1]
        return q["ids"], q["total"], q["queryState"]
    ids0, total0, state0 = flagged()
    res.eq(flagged(), (ids0, total0, state0), "asked again: the same answer")
    m = srv.imap()
    m.select("INBOX")
    typ, data = m.search(None, "UNFLAGGED")
    first = data[0].split()[0]
    m.store(first, "+FLAGS", "\\Flagged")
    ids1, total1, state1 = flagged()
    res.check(state1 != state0, "a new queryState after the flag change")
    res.eq(total1, total0 + 1, "the newly flagged message is found")
    m.store(first, "-FLAGS", "\\Flagged")
    m.logout()
    ids2, total2, _ = flagged()
    res.eq((sorted(ids2), total2), (sorted(ids0), total0), "and gone again when unflagged")



@test(config=["jmap_tls = no"])
def email_copy_between_accounts(srv, res):
    """Email/copy (RFC 8620 §5.4) copies between accounts: from the same account it is
    invalidArguments, from any other fromAccountNotFound (a user sees one account)."""
    acc = account(srv)
    for frm, want in ((acc, "invalidArguments"), ("aother", "fromAccountNotFound"),
                      (None, "invalidArguments")):
        args = {"accountId": acc, "create": {}}
        if frm is not None:
            args["fromAccountId"] = frm
        st, r = api(srv, {"using": USING, "methodCalls": [["Email/copy", args, "c"]]})
        res.eq((r["methodResponses"][0][0], r["methodResponses"][0][1].get("type")),
               ("error", want), "fromAccountId %r" % frm)



@test(config=["jmap_tls = no"])
def upload_limits_per_day(srv, res):
    """Uploads live outside the folders the quota counts, so a user's uploads of the last
    day are bounded (src/jmap/jmap.h: 200 MB, 1000 files): beyond, 413; older ones are
    swept. The day's files are made here directly (a sparse 200 MB one, 1000 small)."""
    acc = account(srv)

    def up(body=b"x" * 10):
        c = conn(srv)
        r, data = request(c, "POST", "/jmap/upload/%s/" % acc, body, basic(),
                          headers={"Content-Type": "application/octet-stream"})
        return r.status
    res.eq(up(), 201, "an upload")
    d = os.path.join(srv.maildir("demo"), "buzon-uploads")
    big = os.path.join(d, "U" + "0" * 15 + "1")
    with open(big, "wb") as f:
        f.truncate(200 * 1000 * 1000)
    res.eq(up(), 413, "200 MB uploaded today: the next is refused")
    old = time.time() - 2 * 86400
    os.utime(big, (old, old))
    res.eq(up(), 201, "once they are a day old they are swept")
    res.check(not os.path.exists(big), "the old blob is gone")
    for k in range(1000):
        open(os.path.join(d, "U%016x" % (0x100 + k)), "wb").close()
    res.eq(up(), 413, "1000 files today: refused")
    still_serving(srv, res)


@test(config=["jmap_tls = no"])
def auth_challenge_and_failure(srv, res):
    c = conn(srv)
    r, data = request(c, "GET", "/.well-known/jmap")
    res.eq(r.status, 401, "no credentials: 401")
    res.check((r.getheader("WWW-Authenticate") or "").startswith("Basic "), "Basic challenge")
    # the connection is kept after the challenge: the same one logs in
    r, data = request(c, "GET", "/.well-known/jmap", auth=basic("demo", "wrong"))
    res.eq(r.status, 401, "wrong password: 401")
    c = conn(srv)
    r, data = request(c, "GET", "/.well-known/jmap", auth=basic())
    res.eq(r.status, 200, "right password: 200")
    s = json.loads(data)
    res.eq(s["username"], "demo", "username")
    # keep-alive: more requests on the logged-in connection
    r, data = request(c, "POST", "/jmap/api", {"using": USING, "methodCalls": [
        ["Core/echo", {"a": 1}, "c1"]]}, auth=basic())
    res.eq(json.loads(data)["methodResponses"], [["Core/echo", {"a": 1}, "c1"]],
           "second request on the connection")
    # other credentials on it: 401 and the connection ends (the login process checks them)
    r, data = request(c, "POST", "/jmap/api", {"using": USING, "methodCalls": []},
                      auth=basic("demo", "other"))
    res.eq(r.status, 401, "other credentials on a logged-in connection: 401")
    res.eq(r.getheader("Connection"), "close", "... and the connection closes")
    r, data = request(conn(srv), "GET", "/nothing", auth=basic())
    res.eq(r.status, 404, "unknown path: 404")
    r, data = request(conn(srv), "GET", "/jmap/api", auth=basic())
    res.eq(r.status, 405, "GET on the API: 405")


@test(config=["jmap_tls = no", "autoconfig_host = mail.example.org", "pop3_port = 0",
              "pop3s_port = 0"])
def autoconfig(srv, res):
    """Client autoconfiguration before login (docs/autoconfig.md): Thunderbird's document,
    Outlook's answer, what a hostile request gets, and the DNS names buzon check prints."""
    import xml.etree.ElementTree as ET
    c = conn(srv)
    r, data = request(c, "GET", "/mail/config-v1.1.xml?emailaddress=ann%40example.net")
    res.eq(r.status, 200, "Thunderbird's document without credentials")
    res.check(r.getheader("Content-Type", "").startswith("application/xml"), "XML type")
    doc = ET.fromstring(data)
    prov = doc.find("emailProvider")
    res.eq((prov.get("id"), prov.findtext("domain")), ("example.net", "example.net"),
           "the domain from the address asked about")
    inc = [(e.get("type"), e.findtext("hostname"), int(e.findtext("port")),
            e.findtext("socketType"), e.findtext("username"))
           for e in prov.findall("incomingServer")]
    res.eq(inc, [("imap", "mail.example.org", srv.imaps_port, "SSL", "%EMAILLOCALPART%"),
                 ("imap", "mail.example.org", srv.imap_port, "STARTTLS", "%EMAILLOCALPART%")],
           "IMAPS first, then STARTTLS; POP3 is off")
    out = prov.find("outgoingServer")
    res.eq((out.findtext("port"), out.findtext("socketType")), ("587", "STARTTLS"),
           "submission")
    # the same connection goes on: the well-known path, HEAD, then a login as usual
    r, data = request(c, "GET", "/.well-known/autoconfig/mail/config-v1.1.xml",
                      headers={"Host": "autoconfig.example.com"})
    res.eq(r.status, 200, "the .well-known path, on a kept connection")
    res.eq(ET.fromstring(data).find("emailProvider").findtext("domain"), "example.org",
           "no address asked about: the host's domain")
    r, data = request(c, "HEAD", "/mail/config-v1.1.xml")
    res.eq((r.status, data), (200, b""), "HEAD: the head only")
    r, data = request(c, "GET", "/.well-known/jmap", auth=basic())
    res.eq(r.status, 200, "then a JMAP login on the same connection")
    # Outlook: the address in the request body names the login
    body = (b'<?xml version="1.0" encoding="utf-8"?><Autodiscover xmlns="http://schemas.'
            b'microsoft.com/exchange/autodiscover/outlook/requestschema/2006"><Request>'
            b'<EMailAddress>bob@example.org</EMailAddress><AcceptableResponseSchema>http://'
            b'schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a'
            b'</AcceptableResponseSchema></Request></Autodiscover>')
    r, data = request(conn(srv), "POST", "/autodiscover/autodiscover.xml", body,
                      headers={"Content-Type": "text/xml"})
    res.eq(r.status, 200, "Outlook's autodiscover")
    ns = {"a": "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"}
    protos = ET.fromstring(data).findall(".//a:Protocol", ns)
    got = [(p.findtext("a:Type", namespaces=ns), p.findtext("a:Port", namespaces=ns),
            p.findtext("a:LoginName", namespaces=ns)) for p in protos]
    res.eq(got, [("IMAP", str(srv.imaps_port), "bob"), ("SMTP", "587", "bob")],
           "Outlook: IMAPS and SMTP, the local part as login")
    # hostile: a markup address, a body too large, the wrong method; the server goes on
    r, data = request(conn(srv), "POST", "/autodiscover/autodiscover.xml",
                      body.replace(b"bob@example.org", b"<x>&amp;@example.org"))
    res.check(r.status == 200 and b"LoginName" not in data and b"&amp;" not in data,
              "a malformed address is left out, never echoed")
    r, data = request(conn(srv), "POST", "/autodiscover/autodiscover.xml", b"x" * 5000)
    res.eq(r.status, 413, "a body over 4 KiB: 413")
    r, data = request(conn(srv), "POST", "/mail/config-v1.1.xml", b"")
    res.eq(r.status, 405, "POST to Thunderbird's document: 405")
    r, data = request(conn(srv), "GET", "/mail/config-v1.1.xml?emailaddress=%3Cx%3E%40a.b")
    res.check(r.status == 200 and b"<x>" not in data, "a hostile query address is not echoed")
    # a body sent in pieces is waited for
    out = raw(srv, b"POST /autodiscover/autodiscover.xml HTTP/1.1\r\nHost: x\r\n"
              b"Connection: close\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    res.check(out.startswith(b"HTTP/1.1 200") and b"<LoginName>bob</LoginName>" in out,
              "raw POST answered: %r" % out[:80])
    still_serving(srv, res)
    r = srv.cli("check", "-c", srv.config_path, "-d", "example.org", check=False)
    for want in ("autoconfig.example.org.", "autodiscover.example.org.",
                 "_autodiscover._tcp.example.org."):
        res.check(want in r.stdout, "buzon check prints %s: %s" % (want, r.stdout[-600:]))


@test(config=["jmap_tls = no"])
def check_verb(srv, res):
    r = srv.cli("check", "-c", srv.config_path, check=False)
    res.check("jmap_port=%d jmap_tls=no" % srv.jmap_port in r.stdout, "buzon check: %s" %
              r.stdout.strip()[-300:])
    # jmap_tls = yes without a certificate is an error there, and the server refuses it
    conf = os.path.join(srv.tmp, "nocert.conf")
    with open(srv.config_path) as f:
        lines = [ln for ln in f.read().splitlines()
                 if not ln.startswith(("ssl_cert", "ssl_key", "jmap_tls"))]
    with open(conf, "w") as f:
        f.write("\n".join(lines + ["jmap_tls = yes"]) + "\n")
    r = srv.cli("check", "-c", conf, check=False)
    res.check(r.returncode != 0 and "jmap_tls = yes needs ssl_cert" in r.stdout,
              "buzon check refuses jmap_tls without a certificate")


@test(config=["jmap_tls = no"])
def request_errors(srv, res):
    acc = account(srv)
    c = conn(srv)
    r, data = request(c, "POST", "/jmap/api", b"{not json", auth=basic())
    p = json.loads(data)
    res.eq((r.status, p["type"]), (400, "urn:ietf:params:jmap:error:notJSON"), "notJSON")
    res.eq(r.getheader("Content-Type"), "application/problem+json", "problem details")
    st, p = api(srv, {"using": USING})
    res.eq((st, p["type"]), (400, "urn:ietf:params:jmap:error:notRequest"), "notRequest")
    st, p = api(srv, {"using": USING, "methodCalls": [["Core/echo", {}]]})
    res.eq(p["type"], "urn:ietf:params:jmap:error:notRequest", "a call is a triple")
    st, p = api(srv, {"using": ["urn:example:nope"], "methodCalls": []})
    res.eq(p["type"], "urn:ietf:params:jmap:error:unknownCapability", "unknownCapability")
    st, p = api(srv, {"using": USING, "methodCalls": [["Core/echo", {}, "c%d" % i]
                                                      for i in range(17)]})
    res.eq((p["type"], p.get("limit")), ("urn:ietf:params:jmap:error:limit",
                                         "maxCallsInRequest"), "limit maxCallsInRequest")
    st, p = api(srv, {"using": USING, "methodCalls": [
        ["Foo/bar", {}, "a"],
        ["Mailbox/get", {"accountId": "nobody"}, "b"],
        ["Email/get", {"accountId": acc, "#ids": {"resultOf": "zz", "name": "Email/query",
                                                  "path": "/ids"}}, "c"],
        ["Email/get", {"accountId": acc, "ids": [], "#ids": {
            "resultOf": "a", "name": "Foo/bar", "path": "/ids"}}, "d"],
        ["Email/get", {"accountId": acc, "ids": [], "properties": ["bogus"]}, "e"],
        ["Email/query", {"accountId": acc, "filter": {"nope": "x"}}, "f"],
        ["Email/query", {"accountId": acc, "sort": [{"property": "nope"}]}, "g"],
        ["Thread/set", {"accountId": acc}, "h"],
    ]})
    got = [(x[0], x[1].get("type"), x[2]) for x in p["methodResponses"]]
    res.eq(got, [("error", "unknownMethod", "a"), ("error", "accountNotFound", "b"),
                 ("error", "invalidResultReference", "c"),
                 ("error", "invalidArguments", "d"), ("error", "invalidArguments", "e"),
                 ("error", "unsupportedFilter", "f"), ("error", "unsupportedSort", "g"),
                 ("error", "unknownMethod", "h")], "method errors")
    # a method of a capability the request does not use is unknown (RFC 8620 §3.6.2)
    st, p = api(srv, {"using": ["urn:ietf:params:jmap:core"], "methodCalls": [
        ["Mailbox/get", {"accountId": acc}, "a"]]})
    res.eq(p["methodResponses"][0][1]["type"], "unknownMethod", "mail not in using")


@test(config=["jmap_tls = no"])
def result_references(srv, res):
    acc = account(srv)
    st, p = api(srv, {"using": USING, "methodCalls": [
        ["Mailbox/get", {"accountId": acc}, "0"],
        ["Core/echo", {"#roles": {"resultOf": "0", "name": "Mailbox/get",
                                  "path": "/list/*/role"},
                       "#first": {"resultOf": "0", "name": "Mailbox/get",
                                  "path": "/list/0/name"}}, "1"],
        ["Email/query", {"accountId": acc, "limit": 2, "position": 1}, "2"],
        ["Email/get", {"accountId": acc, "#ids": {"resultOf": "2", "name": "Email/query",
                                                  "path": "/ids"},
                       "properties": ["id", "threadId"]}, "3"],
        ["Core/echo", {"#x": {"resultOf": "0", "name": "Email/query", "path": "/list"}},
         "4"],
        ["Core/echo", {"#x": {"resultOf": "0", "name": "Mailbox/get", "path": "/nope"}},
         "5"],
    ]})
    r = p["methodResponses"]
    res.check("inbox" in r[1][1]["roles"] and None in r[1][1]["roles"] or
              "inbox" in r[1][1]["roles"], "'*' path collects the roles")
    res.eq(r[1][1]["first"], "INBOX", "/list/0/name")
    res.eq(r[2][1]["position"], 1, "position")
    res.eq(len(r[2][1]["ids"]), 2, "limit")
    res.eq([e["id"] for e in r[3][1]["list"]], r[2][1]["ids"], "#ids from Email/query")
    res.check(all(set(e) == {"id", "threadId"} for e in r[3][1]["list"]), "properties")
    res.eq(r[4][1].get("type"), "invalidResultReference", "name mismatch")
    res.eq(r[5][1].get("type"), "invalidResultReference", "path that does not resolve")
    # a negative position counts from the end; a limit the server chose is said
    st, p = api(srv, {"using": USING, "methodCalls": [
        ["Email/query", {"accountId": acc, "calculateTotal": True}, "all"],
        ["Email/query", {"accountId": acc, "position": -2}, "last2"],
        ["Email/query", {"accountId": acc, "limit": 100000}, "big"],
        ["Email/query", {"accountId": acc, "position": -1000, "limit": 1}, "clamp"]]})
    allq, last2, big, clamp = [x[1] for x in p["methodResponses"]]
    res.eq(last2["ids"], allq["ids"][-2:], "position -2")
    res.eq(last2["position"], allq["total"] - 2, "position -2 as an index")
    res.eq(big.get("limit"), 500, "limit over the maximum: the server's limit is said")
    res.eq(allq.get("limit"), 500, "no limit given: the server's is said")
    res.check("limit" not in clamp, "a limit the client gave is not repeated")
    res.eq((clamp["position"], clamp["ids"]), (0, allq["ids"][:1]), "position clamped to 0")
    # the same Email by id, and an unknown id
    ids = r[2][1]["ids"]
    st, p = api(srv, {"using": USING, "methodCalls": [
        ["Email/get", {"accountId": acc, "ids": [ids[0], "Mffffffffffffffff", "bad"],
                       "properties": ["id"]}, "a"]]})
    g = p["methodResponses"][0][1]
    res.eq([e["id"] for e in g["list"]], [ids[0]], "Email/get list")
    res.eq(g["notFound"], ["Mffffffffffffffff", "bad"], "Email/get notFound")


@test(config=["jmap_tls = no"])
def new_delivery_changes_state(srv, res):
    acc = account(srv)
    q = {"using": USING, "methodCalls": [["Email/query", {"accountId": acc,
                                                          "calculateTotal": True}, "q"]]}
    st, p = api(srv, q)
    before = p["methodResponses"][0][1]
    srv.deliver("demo", b"From: a@example.org\nTo: demo@example.org\nSubject: fresh\n\nhi\n")
    deadline = time.monotonic() + 10
    while True:
        st, p = api(srv, q)
        after = p["methodResponses"][0][1]
        if after["total"] == before["total"] + 1 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    res.eq(after["total"], before["total"] + 1, "a delivered message is found")
    res.check(after["queryState"] != before["queryState"], "queryState changes")
    st, p = api(srv, {"using": USING, "methodCalls": [["Email/get", {
        "accountId": acc, "ids": after["ids"][:1], "properties": ["subject", "keywords"]},
        "g"]]})
    e = p["methodResponses"][0][1]["list"][0]
    res.eq((e["subject"], e["keywords"]), ("fresh", {}), "the newest is the new one")
    # sentAt keeps the sender's zone (RFC 8621 §4.1.2.3); no Date: null
    srv.deliver("demo", b"From: a@example.org\nDate: Tue, 03 Mar 2026 09:15:40 +0100\n"
                b"Subject: dated\n\nhi\n")
    deadline = time.monotonic() + 10
    while True:
        st, p = api(srv, q)
        if p["methodResponses"][0][1]["total"] == after["total"] + 1 or \
                time.monotonic() > deadline:
            break
        time.sleep(0.1)
    ids = p["methodResponses"][0][1]["ids"]
    st, p = api(srv, {"using": USING, "methodCalls": [["Email/get", {
        "accountId": acc, "ids": ids, "properties": ["subject", "sentAt"]}, "g"]]})
    got = {e["subject"]: e["sentAt"] for e in p["methodResponses"][0][1]["list"]}
    res.eq((got.get("dated"), got.get("fresh", "missing")),
           ("2026-03-03T09:15:40+01:00", None), "sentAt")
    # raw 8-bit header text: never a broken response
    srv.deliver("demo", b"From: Ren\xe9 <r\xe9@example.org>\nSubject: caf\xe9 =?utf-8?q?"
                b"cr=C3=A8me?=\n\nbody\n")
    deadline = time.monotonic() + 10
    while True:
        st, p = api(srv, {"using": USING, "methodCalls": [
            ["Email/query", {"accountId": acc}, "q"],
            ["Email/get", {"accountId": acc, "#ids": {"resultOf": "q", "name":
                                                      "Email/query", "path": "/ids"},
                           "properties": ["subject", "from"]}, "g"]]})
        found = [e for e in p["methodResponses"][1][1]["list"]
                 if (e["subject"] or "").startswith("caf")]
        e = found[0] if found else {"subject": None, "from": None}
        if found or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    # (decoded text reads raw 8-bit as Latin-1 as IMAP's SEARCH does; the address as is)
    res.eq((e["subject"], e["from"]), ("caf\u00e9 cr\u00e8me",
                                       [{"name": "Ren\u00e9",
                                         "email": "r\ufffd@example.org"}]),
           "8-bit header text")


@test(config=["jmap_tls = no"])
def mailbox_changes(srv, res):
    acc = account(srv)

    def get():
        st, p = api(srv, {"using": USING, "methodCalls": [
            ["Mailbox/get", {"accountId": acc}, "g"]]})
        r = p["methodResponses"][0][1]
        return r["state"], {m["name"]: m["id"] for m in r["list"]}

    def changes(since, **kw):
        args = {"accountId": acc, "sinceState": since}
        args.update(kw)
        st, p = api(srv, {"using": USING, "methodCalls": [["Mailbox/changes", args, "c"]]})
        return p["methodResponses"][0][:2]

    s0, ids0 = get()
    name, r = changes(s0)
    res.eq((name, r["created"], r["updated"], r["destroyed"], r["hasMoreChanges"],
            r["newState"]), ("Mailbox/changes", [], [], [], False, s0), "no changes")
    m = srv.imap()
    m.create("Projects")
    m.create("Old")
    m.select("INBOX")
    m.store("1:*", "+FLAGS", "(\\Seen)")
    m.logout()
    s1, ids1 = get()
    res.check(s1 != s0, "the state changes")
    name, r = changes(s0)
    res.eq(sorted(r["created"]), sorted([ids1["Projects"], ids1["Old"]]), "created")
    res.eq(r["updated"], [ids1["INBOX"]], "updated: INBOX's unread count")
    res.eq((r["destroyed"], r["newState"], r["updatedProperties"]), ([], s1, None),
           "newState is Mailbox/get's")
    # maxChanges: the changes come in steps, each from the intermediate state
    seen, since, steps = [], s0, 0
    while True:
        name, r = changes(since, maxChanges=1)
        steps += 1
        got = r["created"] + r["updated"] + r["destroyed"]
        res.check(len(got) <= 1, "at most maxChanges")
        seen += got
        since = r["newState"]
        if not r["hasMoreChanges"] or steps > 10:
            break
    res.eq((sorted(seen), since), (sorted([ids1["Projects"], ids1["Old"], ids1["INBOX"]]),
                                   s1), "steps of one change end at the current state")
    m = srv.imap()
    m.delete("Old")
    m.logout()
    s2, ids2 = get()
    name, r = changes(s1)
    res.eq((r["created"], r["updated"], r["destroyed"]), ([], [], [ids1["Old"]]),
           "destroyed")
    name, r = changes("garbage")
    res.eq((name, r.get("type")), ("error", "cannotCalculateChanges"), "an unknown state")
    name, r = changes(s0, maxChanges=0)
    res.eq(r.get("type"), "invalidArguments", "maxChanges 0")


@test(config=["jmap_tls = no"])
def email_changes(srv, res):
    acc = account(srv)

    def state():
        st, p = api(srv, {"using": USING, "methodCalls": [
            ["Email/query", {"accountId": acc}, "q"],
            ["Email/get", {"accountId": acc, "#ids": {"resultOf": "q", "name":
                                                      "Email/query", "path": "/ids"},
                           "properties": ["subject"]}, "g"]]})
        g = p["methodResponses"][1][1]
        return g["state"], {e["subject"]: e["id"] for e in g["list"]}

    def changes(since, **kw):
        args = {"accountId": acc, "sinceState": since}
        args.update(kw)
        st, p = api(srv, {"using": USING, "methodCalls": [["Email/changes", args, "c"]]})
        return p["methodResponses"][0][:2]

    def wait_for(subject, since):
        deadline = time.monotonic() + 10
        while True:
            s, ids = state()
            if subject in ids or time.monotonic() > deadline:
                return s, ids
            time.sleep(0.1)

    s0, ids0 = state()
    name, r = changes(s0)
    res.eq((name, r["created"], r["updated"], r["destroyed"], r["newState"]),
           ("Email/changes", [], [], [], s0), "no changes")
    srv.deliver("demo", b"From: a@example.org\nSubject: one\n\nx\n")
    srv.deliver("demo", b"From: a@example.org\nSubject: two\n\nx\n")
    s1, ids1 = wait_for("two", s0)
    deadline = time.monotonic() + 10
    while "one" not in ids1 and time.monotonic() < deadline:
        s1, ids1 = state()
    name, r = changes(s0)
    res.eq((sorted(r["created"]), r["updated"], r["destroyed"], r["newState"]),
           (sorted([ids1["one"], ids1["two"]]), [], [], s1), "new mail is created")
    # a flag change is an update; a copy into another folder too (the same id)
    m = srv.imap()
    m.select("INBOX")
    typ, data = m.search(None, "SUBJECT", "one")
    m.store(data[0].split()[0], "+FLAGS", "(\\Flagged)")
    m.copy(data[0].split()[0], "Archive")
    m.logout()
    s2, ids2 = state()
    name, r = changes(s1)
    res.eq((r["created"], r["updated"], r["destroyed"]), ([], [ids1["one"]], []),
           "flagged and copied: updated")
    # maxChanges: steps of at most one, ending at the current state
    got, since, steps = [], s0, 0
    while True:
        name, r = changes(since, maxChanges=1)
        steps += 1
        if name == "error":
            res.fail("maxChanges step: %s" % r)
            break
        res.check(len(r["created"]) + len(r["updated"]) <= 1, "at most maxChanges")
        got += r["created"] + r["updated"]
        since = r["newState"]
        if not r["hasMoreChanges"] or steps > 20:
            break
    res.eq((sorted(set(got)), since), (sorted([ids1["one"], ids1["two"]]), s2),
           "steps end at the current state")
    # an expunge: the store keeps the EMAILID, so the Email is destroyed
    m = srv.imap()
    m.select("INBOX")
    typ, data = m.search(None, "SUBJECT", "two")
    m.store(data[0].split()[0], "+FLAGS", "(\\Deleted)")
    m.expunge()
    m.logout()
    name, r = changes(s2)
    res.eq((name, r.get("created"), r.get("updated"), r.get("destroyed")),
           ("Email/changes", [], [], [ids1["two"]]), "after an expunge: destroyed")
    s3, ids3 = state()
    name, r = changes(s3)
    res.eq((name, r["created"], r["updated"]), ("Email/changes", [], []),
           "from the new state on")
    name, r = changes("e1,zz.1.1.1x")
    res.eq(r.get("type"), "cannotCalculateChanges", "a malformed state")


@test(config=["jmap_tls = no"])
def download(srv, res):
    acc = account(srv)
    st, p = api(srv, {"using": USING, "methodCalls": [
        ["Email/query", {"accountId": acc}, "q"],
        ["Email/get", {"accountId": acc, "#ids": {"resultOf": "q", "name": "Email/query",
                                                  "path": "/ids"},
                       "properties": ["blobId", "size", "subject"]}, "g"]]})
    emails = p["methodResponses"][1][1]["list"]
    files = {}
    for sub in ("cur", "new"):
        d = os.path.join(srv.maildir("demo"), sub)
        for n in os.listdir(d):
            with open(os.path.join(d, n), "rb") as f:
                data = f.read()
            files[data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")] = n
    c = conn(srv)
    for e in emails:
        r, data = request(c, "GET", "/jmap/download/%s/%s/m.eml?accept=message/rfc822" % (
            acc, e["blobId"]), auth=basic())
        res.eq(r.status, 200, "download %s" % e["blobId"])
        res.eq(len(data), e["size"], "the blob's length is the Email's size")
        res.check(data in files, "the blob is the message with CRLF line ends")
    res.eq(r.getheader("Content-Type"), "message/rfc822", "Content-Type from accept")
    res.eq(r.getheader("Content-Disposition"), 'attachment; filename="m.eml"', "file name")
    r, data = request(c, "GET", "/jmap/download/%s/Bffffffffffffffff/x" % acc, auth=basic())
    res.eq(r.status, 404, "unknown blob: 404")
    r, data = request(c, "GET", "/jmap/download/other/%s/x" % emails[0]["blobId"],
                      auth=basic())
    res.eq(r.status, 404, "another account: 404")
    # a big message streams through the output bound, over a keep-alive connection
    big = b"From: a@example.org\nSubject: big\n\n" + b"0123456789abcdef\n" * 200000
    srv.deliver("demo", big)
    deadline = time.monotonic() + 10
    while True:
        st, p = api(srv, {"using": USING, "methodCalls": [
            ["Email/query", {"accountId": acc, "limit": 1}, "q"],
            ["Email/get", {"accountId": acc, "#ids": {"resultOf": "q", "name":
                                                      "Email/query", "path": "/ids"},
                           "properties": ["blobId", "size", "subject"]}, "g"]]}, c=c)
        e = p["methodResponses"][1][1]["list"][0]
        if e["subject"] == "big" or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    r, data = request(c, "GET", "/jmap/download/%s/%s/big" % (acc, e["blobId"]),
                      auth=basic())
    res.eq((r.status, len(data), e["size"]), (200, len(big) + big.count(b"\n"),
                                             len(big) + big.count(b"\n")), "a 3.6 MB blob")
    res.check(data == big.replace(b"\n", b"\r\n"), "its octets")
    still_serving(srv, res)


@test(config=["jmap_tls = no", "login_timeout = 2"])
def hostile_http(srv, res):
    # an oversized head before login (the login process's bound)
    out = raw(srv, b"GET / HTTP/1.1\r\nX: " + b"a" * 20000 + b"\r\n\r\n")
    res.check(out.startswith(b"HTTP/1.1 431 "), "oversized head before login: 431")
    # NUL, bare LF, chunked, HTTP/2 preface, garbage
    for data, want in [(b"GET / HTTP/1.1\r\nHost: a\0b\r\n\r\n", b"400"),
                       (b"GET / HTTP/1.1\nHost: a\n\n", b"400"),
                       (b"POST /jmap/api HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
                        b"501"),
                       (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", b"505"),
                       (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", b"400")]:
        out = raw(srv, data, shut=True)
        res.check(out.startswith(b"HTTP/1.1 " + want + b" "), "%r -> %s (got %r)" % (
            data[:30], want.decode(), out[:40]))
    # a body over maxSizeRequest is refused before it is read
    out = raw(srv, b"POST /jmap/api HTTP/1.1\r\nAuthorization: " + basic().encode() +
              b"\r\nContent-Length: 999999999\r\n\r\n")
    res.check(out.startswith(b"HTTP/1.1 413 "), "Content-Length over maxSizeRequest: 413")
    # an oversized head after login (the mail process's bound): keep-alive, then 16 KiB+
    s = socket.create_connection((bt.HOST, srv.jmap_port), timeout=10)
    s.sendall(b"GET /.well-known/jmap HTTP/1.1\r\nAuthorization: " + basic().encode() +
              b"\r\n\r\n")
    first = s.recv(65536)
    res.check(first.startswith(b"HTTP/1.1 200 "), "logged in")
    try:
        s.sendall(b"GET /.well-known/jmap HTTP/1.1\r\nX: " + b"a" * 40000 + b"\r\n\r\n")
    except OSError:
        pass
    out = b""
    try:
        while True:
            d = s.recv(65536)
            if not d:
                break
            out += d
    except OSError:
        pass
    s.close()
    res.check(b"HTTP/1.1 431 " in out, "oversized head after login: 431")
    # deep nesting and a big but valid document
    st, p = api(srv, {"using": USING, "methodCalls": [["Core/echo", json.loads(
        '{"a":' * 100 + "1" + "}" * 100), "x"]]})
    res.eq((st, p["type"]), (400, "urn:ietf:params:jmap:error:notRequest"), "deep nesting")
    st, p = api(srv, b"[" * 100000 + b"]" * 100000)
    res.eq((st, p["type"]), (400, "urn:ietf:params:jmap:error:notJSON"),
           "nesting beyond the parser's depth")
    st, p = api(srv, {"using": USING, "methodCalls": [["Core/echo", {"s": "x" * 500000},
                                                       "x"]]})
    res.eq(len(p["methodResponses"][0][1]["s"]), 500000, "a 500 KB echo")
    # slowloris before login: the login deadline ends it
    s = socket.create_connection((bt.HOST, srv.jmap_port), timeout=10)
    s.sendall(b"GET /.well-known/jmap HTTP/1.1\r\n")
    t0 = time.monotonic()
    out = b""
    try:
        while time.monotonic() - t0 < 8:
            s.sendall(b"X: y\r\n")
            s.settimeout(0.5)
            try:
                d = s.recv(4096)
                if not d:
                    break
                out += d
            except socket.timeout:
                pass
    except OSError:
        pass
    s.close()
    res.check(out.startswith(b"HTTP/1.1 408 "), "slowloris: 408 at login_timeout")
    still_serving(srv, res)


def load_cases(args):
    """More cases: tests/jmap/t_*.py, each registering with @test."""
    for path in sorted(glob.glob(os.path.join(HERE, "t_*.py"))):
        importlib.import_module(os.path.basename(path)[:-3])


if __name__ == "__main__":
    sys.exit(bt.suite_main(__doc__, TESTS, run_one, before=load_cases))
