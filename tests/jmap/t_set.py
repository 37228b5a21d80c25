"""Email/set, Mailbox/set (RFC 8621 §4.6, §2.5; RFC 8620 §5.3): what JMAP changes is
what IMAP sees (flags, copies, moves, expunges, folders), the SetErrors, and an IMAP
session in IDLE told of a JMAP keyword change."""
import imaplib
import select
import time

from jmaplib import *  # noqa: F401,F403


def call(srv, *calls):
    st, p = api(srv, {"using": USING, "methodCalls": [list(c) for c in calls]})
    assert st == 200, (st, p)
    return [r[1] if r[0] != "error" else dict(r[1], _error=True)
            for r in p["methodResponses"]]


def mailboxes(srv, acc):
    r = call(srv, ["Mailbox/get", {"accountId": acc}, "m"])[0]
    return {m["name"]: m for m in r["list"]}, r


def inbox_emails(srv, acc):
    """{EMAILID: uid} of INBOX over IMAP."""
    m = srv.imap()
    m.select("INBOX")
    typ, data = m.uid("FETCH", "1:*", "(EMAILID FLAGS)")
    out = {}
    for d in data:
        if isinstance(d, bytes) and b"EMAILID (" in d:
            eid = d.split(b"EMAILID (")[1].split(b")")[0].decode()
            uid = int(d.split(b"UID ")[1].split(b" ")[0].rstrip(b")"))
            flags = d.split(b"FLAGS (")[1].split(b")")[0].decode().split()
            out[eid] = (uid, flags)
    m.logout()
    return out


def folder_ids(srv, folder):
    m = srv.imap()
    m.select(folder)
    typ, data = m.uid("FETCH", "1:*", "(EMAILID)")
    ids = []
    for d in data:
        if isinstance(d, bytes) and b"EMAILID (" in d:
            ids.append(d.split(b"EMAILID (")[1].split(b")")[0].decode())
    m.logout()
    return ids


@test(config=["jmap_tls = no"])
def set_session_caps(srv, res):
    c = conn(srv)
    r, data = request(c, "GET", "/.well-known/jmap", auth=basic())
    s = json.loads(data)
    acc = s["primaryAccounts"]["urn:ietf:params:jmap:mail"]
    res.eq(s["capabilities"]["urn:ietf:params:jmap:core"]["maxObjectsInSet"], 500,
           "maxObjectsInSet")
    res.eq(s["accounts"][acc]["isReadOnly"], False, "isReadOnly false")
    boxes, _ = mailboxes(srv, acc)
    res.eq(boxes["Inbox" if "Inbox" in boxes else "INBOX"]["myRights"]["maySetSeen"], True,
           "myRights maySetSeen")


@test(config=["jmap_tls = no"])
def email_set_keywords(srv, res):
    acc = account(srv)
    before = inbox_emails(srv, acc)
    ids = sorted(before)
    a, b = ids[0], ids[1]
    g = call(srv, ["Email/get", {"accountId": acc, "ids": [a], "properties": ["id"]}, "g"])[0]
    old = g["state"]
    r = call(srv, ["Email/set", {"accountId": acc, "ifInState": old, "update": {
        a: {"keywords": {"$seen": True, "$flagged": True, "project-x": True}},
        b: {"keywords/$answered": True, "keywords/$seen": None}}}, "s"])[0]
    res.eq(sorted(r.get("updated") or {}), sorted([a, b]), "both updated")
    res.eq(r["oldState"], old, "oldState")
    res.check(r["newState"] != old, "newState differs")
    after = inbox_emails(srv, acc)
    res.eq(sorted(after[a][1]), sorted(["\\Seen", "\\Flagged", "project-x"]),
           "IMAP sees the whole keywords")
    res.check("\\Answered" in after[b][1] and "\\Seen" not in after[b][1],
              "IMAP sees the patched keywords")
    g = call(srv, ["Email/get", {"accountId": acc, "ids": [a], "properties": ["keywords"]},
                   "g"])[0]
    res.eq(g["list"][0]["keywords"], {"$seen": True, "$flagged": True, "project-x": True},
           "Email/get keywords")
    # ifInState with the old state: stateMismatch, nothing changed
    r = call(srv, ["Email/set", {"accountId": acc, "ifInState": old, "update": {
        a: {"keywords": {}}}}, "s"])[0]
    res.eq(r.get("type"), "stateMismatch", "stateMismatch")
    res.eq(sorted(inbox_emails(srv, acc)[a][1]), sorted(after[a][1]), "unchanged")
    # Email/changes reports the update
    ch = call(srv, ["Email/changes", {"accountId": acc, "sinceState": old}, "c"])[0]
    res.eq(sorted(ch.get("updated", [])), sorted([a, b]), "Email/changes updated")


@test(config=["jmap_tls = no"])
def email_set_errors(srv, res):
    acc = account(srv)
    a = sorted(inbox_emails(srv, acc))[0]
    r = call(srv, ["Email/set", {"accountId": acc, "update": {
        "Mffffffffffffffff": {"keywords/$seen": True},
        a: {"subject": "new"},
    }, "destroy": ["Meeeeeeeeeeeeeeee", "junk"]}, "s"])[0]
    nu = r.get("notUpdated") or {}
    res.eq(nu.get("Mffffffffffffffff", {}).get("type"), "notFound", "update notFound")
    res.eq((nu.get(a, {}).get("type"), nu.get(a, {}).get("properties")),
           ("invalidProperties", ["subject"]), "immutable property")
    nd = r.get("notDestroyed") or {}
    res.eq((nd.get("Meeeeeeeeeeeeeeee", {}).get("type"), nd.get("junk", {}).get("type")),
           ("notFound", "notFound"), "destroy notFound")
    for patch, want in [
        ({"keywords": {"bad kw": True}}, ("invalidProperties", ["keywords"])),
        ({"keywords": {"$seen": False}}, ("invalidProperties", ["keywords"])),
        ({"keywords/a(b": True}, ("invalidPatch", ["keywords/a(b"])),
        ({"keywords/$seen": False}, ("invalidPatch", ["keywords/$seen"])),
        ({"mailboxIds": {}}, ("invalidProperties", ["mailboxIds"])),
        ({"mailboxIds": {"nosuch": True}}, ("invalidProperties", ["mailboxIds"])),
        ({"mailboxIds/nosuch": True}, ("invalidProperties", ["mailboxIds"])),
        ({"keywords": {}, "keywords/$seen": True}, ("invalidPatch", None)),
        ("notanobject", ("invalidPatch", None)),
    ]:
        r = call(srv, ["Email/set", {"accountId": acc, "update": {a: patch}}, "s"])[0]
        e = (r.get("notUpdated") or {}).get(a, {})
        res.eq((e.get("type"), e.get("properties")), want, "SetError for %r" % (patch,))
    # removing its only Mailbox
    boxes, _ = mailboxes(srv, acc)
    inbox = [m for m in boxes.values() if m["role"] == "inbox"][0]["id"]
    r = call(srv, ["Email/set", {"accountId": acc, "update": {
        a: {"mailboxIds/" + inbox: None}}}, "s"])[0]
    res.eq((r.get("notUpdated") or {}).get(a, {}).get("type"), "invalidProperties",
           "no Mailbox left")
    # maxObjectsInSet
    r = call(srv, ["Email/set", {"accountId": acc, "destroy": ["M%016x" % i
                                                               for i in range(501)]}, "s"])[0]
    res.eq(r.get("type"), "requestTooLarge", "more than maxObjectsInSet")
    r = call(srv, ["Email/set", {"accountId": acc, "update": []}, "s"])[0]
    res.eq(r.get("type"), "invalidArguments", "update not an object")
    r = call(srv, ["Email/set", {"accountId": "nope"}, "s"])[0]
    res.eq(r.get("type"), "accountNotFound", "accountNotFound")
    # huge keyword maps
    r = call(srv, ["Email/set", {"accountId": acc, "update": {
        a: {"keywords": {"k%d" % i: True for i in range(1000)}}}}, "s"])[0]
    res.eq((r.get("notUpdated") or {}).get(a, {}).get("type"), "invalidProperties",
           "too many keywords")
    still_serving(srv, res)


@test(config=["jmap_tls = no"])
def email_set_mailboxes_and_destroy(srv, res):
    acc = account(srv)
    ids = sorted(inbox_emails(srv, acc))
    a, b, c = ids[0], ids[1], ids[2]
    r = call(srv, ["Mailbox/set", {"accountId": acc, "create": {
        "p": {"name": "Projekte \u00fcber", "isSubscribed": True},
        "k": {"name": "Kind", "parentId": "#p"}}}, "mb"],
        ["Email/set", {"accountId": acc, "update": {
            a: {"mailboxIds/#p": True},
        }}, "e"])
    created = r[0].get("created") or {}
    res.eq(sorted(created), ["k", "p"], "Mailboxes created")
    pid = created.get("p", {}).get("id")
    res.eq(sorted(r[1].get("updated") or {}), [a], "copy by patch with a creation id")
    m = srv.imap()
    typ, data = m.list()
    names = b" ".join(data)
    res.check(b"Projekte &APw-ber" in names and b"Projekte &APw-ber.Kind" in names,
              "IMAP LIST shows the created folders (mUTF-7): %r" % names)
    typ, data = m.lsub()
    res.check(b"Projekte &APw-ber" in b" ".join(data), "subscribed")
    m.logout()
    res.eq(folder_ids(srv, "\"Projekte &APw-ber\""), [a], "the copy keeps the EMAILID")
    res.check(a in inbox_emails(srv, acc), "still in INBOX")
    # move: whole mailboxIds
    st0 = call(srv, ["Email/get", {"accountId": acc, "ids": [b], "properties": ["id"]},
                     "g"])[0]["state"]
    r = call(srv, ["Email/set", {"accountId": acc, "update": {
        b: {"mailboxIds": {pid: True}}}}, "e"])[0]
    res.eq(sorted(r.get("updated") or {}), [b], "moved")
    res.check(b not in inbox_emails(srv, acc), "gone from INBOX")
    res.eq(sorted(folder_ids(srv, "\"Projekte &APw-ber\"")), sorted([a, b]), "in the folder")
    g = call(srv, ["Email/get", {"accountId": acc, "ids": [a, b],
                                 "properties": ["mailboxIds"]}, "g"])[0]
    got = {e["id"]: sorted(e["mailboxIds"]) for e in g["list"]}
    res.eq(got.get(b), [pid], "mailboxIds after the move")
    res.eq(len(got.get(a, [])), 2, "a in two Mailboxes")
    # destroy: every instance
    r = call(srv, ["Email/set", {"accountId": acc, "destroy": [a, c]}, "e"])[0]
    res.eq(sorted(r.get("destroyed") or []), sorted([a, c]), "destroyed")
    res.check(a not in inbox_emails(srv, acc) and c not in inbox_emails(srv, acc),
              "expunged from INBOX")
    res.eq(folder_ids(srv, "\"Projekte &APw-ber\""), [b], "expunged from the folder too")
    r = call(srv, ["Email/set", {"accountId": acc, "destroy": [a]}, "e"])[0]
    res.eq((r.get("notDestroyed") or {}).get(a, {}).get("type"), "notFound",
           "destroyed twice")
    del st0


@test(config=["jmap_tls = no"])
def mailbox_set(srv, res):
    acc = account(srv)
    _, g = mailboxes(srv, acc)
    old = g["state"]
    r = call(srv, ["Mailbox/set", {"accountId": acc, "create": {
        "a": {"name": "Alpha"},
        "dot": {"name": "a.b"},
        "empty": {"name": ""},
        "ctl": {"name": "x\ny"},
        "role": {"name": "R", "role": "trash"},
        "srv": {"name": "S", "totalEmails": 3},
        "par": {"name": "P", "parentId": "nosuch"},
        "noname": {},
    }}, "m"])[0]
    res.eq(r["oldState"], old, "oldState")
    created = r.get("created") or {}
    nc = r.get("notCreated") or {}
    res.eq(sorted(created), ["a"], "one created")
    for k, prop in [("dot", "name"), ("empty", "name"), ("ctl", "name"), ("role", "role"),
                    ("srv", "totalEmails"), ("par", "parentId"), ("noname", "name")]:
        res.eq((nc.get(k, {}).get("type"), nc.get(k, {}).get("properties")),
               ("invalidProperties", [prop]), "notCreated " + k)
    aid = created["a"]["id"]
    mid = r["newState"]
    res.check(mid != old, "newState")
    r = call(srv, ["Mailbox/set", {"accountId": acc, "create": {"again": {"name": "Alpha"}}},
                   "m"])[0]
    res.eq((r.get("notCreated") or {}).get("again", {}).get("type"), "invalidProperties",
           "a sibling with that name")
    # rename, move under another, subscribe
    r = call(srv, ["Mailbox/set", {"accountId": acc, "create": {"b": {"name": "Beta"}}},
                   "m"])[0]
    bid = r["created"]["b"]["id"]
    r = call(srv, ["Mailbox/set", {"accountId": acc, "update": {
        aid: {"name": "Gamma", "parentId": bid, "isSubscribed": True}}}, "m"])[0]
    res.eq(sorted(r.get("updated") or {}), [aid], "renamed")
    m = srv.imap()
    typ, data = m.list()
    names = b" ".join(data)
    res.check(b"Beta.Gamma" in names and b"\"Alpha\"" not in names and b" Alpha" not in names,
              "IMAP sees the rename: %r" % names)
    typ, data = m.lsub()
    res.check(b"Beta.Gamma" in b" ".join(data), "subscribed")
    m.logout()
    boxes, _ = mailboxes(srv, acc)
    res.eq((boxes["Gamma"]["id"], boxes["Gamma"]["parentId"]), (aid, bid),
           "id kept, parentId")
    # errors: loop, role change, inbox rename
    inbox = [x for x in boxes.values() if x["role"] == "inbox"][0]["id"]
    r = call(srv, ["Mailbox/set", {"accountId": acc, "update": {
        bid: {"parentId": aid},
        aid: {"role": "trash"},
        inbox: {"name": "Other"},
        "nosuch": {"name": "x"}}}, "m"])[0]
    nu = r.get("notUpdated") or {}
    res.eq(nu.get(bid, {}).get("properties"), ["parentId"], "a loop")
    res.eq(nu.get(aid, {}).get("properties"), ["role"], "role change")
    res.eq(nu.get(inbox, {}).get("type"), "forbidden", "inbox rename")
    res.eq(nu.get("nosuch", {}).get("type"), "notFound", "update notFound")
    r = call(srv, ["Mailbox/set", {"accountId": acc, "update": {
        inbox: {"role": "inbox"}}}, "m"])[0]
    res.eq(sorted(r.get("updated") or {}), [inbox], "the same role is fine")
    # destroy: child, email, inbox
    ids = sorted(inbox_emails(srv, acc))
    call(srv, ["Email/set", {"accountId": acc, "update": {ids[0]: {"mailboxIds/" + aid: True}}},
               "e"])
    r = call(srv, ["Mailbox/set", {"accountId": acc, "destroy": [bid, aid, inbox, "nosuch"]},
                   "m"])[0]
    nd = r.get("notDestroyed") or {}
    res.eq((nd.get(bid, {}).get("type"), nd.get(aid, {}).get("type"),
            nd.get(inbox, {}).get("type"), nd.get("nosuch", {}).get("type")),
           ("mailboxHasChild", "mailboxHasEmail", "forbidden", "notFound"), "destroy errors")
    r = call(srv, ["Mailbox/set", {"accountId": acc, "destroy": [aid],
                                   "onDestroyRemoveEmails": True}, "m"])[0]
    res.eq(r.get("destroyed"), [aid], "destroyed with its Emails")
    r = call(srv, ["Mailbox/set", {"accountId": acc, "destroy": [bid]}, "m"])[0]
    res.eq(r.get("destroyed"), [bid], "then its parent")
    res.check(ids[0] in inbox_emails(srv, acc), "the INBOX copy stays")
    m = srv.imap()
    typ, data = m.list()
    res.check(b"Beta" not in b" ".join(data), "IMAP sees the deletes")
    m.logout()
    r = call(srv, ["Mailbox/set", {"accountId": acc, "ifInState": mid,
                                   "create": {"z": {"name": "Z"}}}, "m"])[0]
    res.eq(r.get("type"), "stateMismatch", "Mailbox stateMismatch")
    ch = call(srv, ["Mailbox/changes", {"accountId": acc, "sinceState": old}, "c"])[0]
    res.check(ch.get("oldState") == old, "Mailbox/changes from the old state")


@test(config=["jmap_tls = no"])
def idle_sees_jmap_keyword(srv, res):
    acc = account(srv)
    ids = inbox_emails(srv, acc)
    a = sorted(ids)[0]
    uid = ids[a][0]
    m = srv.imap()
    m.select("INBOX")
    tag = m._new_tag()
    m.send(tag + b" IDLE\r\n")
    line = m.readline()
    res.check(line.startswith(b"+"), "IDLE continuation: %r" % line)
    r = call(srv, ["Email/set", {"accountId": acc, "update": {a: {"keywords/$flagged": True}}},
                   "s"])[0]
    res.eq(sorted(r.get("updated") or {}), [a], "updated")
    got = b""
    deadline = time.monotonic() + 20
    m.sock.settimeout(20)
    while b"\\Flagged" not in got and time.monotonic() < deadline:
        got += m.readline()
    res.check(b"FETCH" in got and b"\\Flagged" in got,
              "IDLE sees an untagged FETCH with \\Flagged: %r" % got)
    m.send(b"DONE\r\n")
    while True:
        line = m.readline()
        if line.startswith(tag) or not line:
            break
    m.logout()
    del uid
