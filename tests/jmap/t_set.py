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
    # an ifInState that is not a String is an error of the call, not ignored
    for method, args in (("Email/set", {"update": {a: {"keywords": {}}}}),
                         ("Mailbox/set", {"create": {"z": {"name": "Z"}}}),
                         ("Email/import", {"emails": {}})):
        r = call(srv, [method, dict(args, accountId=acc, ifInState=5), "s"])[0]
        res.eq(r.get("type"), "invalidArguments", method + " ifInState 5")
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
    # one not flagged yet (a fixture is): setting $flagged must change something
    a = sorted(e for e in ids if "\\Flagged" not in ids[e][1])[0]
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


# ---------------------------------------------------------------- create, upload, import

import email as pyemail  # noqa: E402
import email.policy  # noqa: E402
import json as _json  # noqa: E402
import os as _os  # noqa: E402
import shutil as _shutil  # noqa: E402
import subprocess as _sp  # noqa: E402


def fetch_raw(srv, folder, eid):
    """The message of EMAILID eid in folder, over IMAP (BODY.PEEK[])."""
    m = srv.imap()
    m.select(folder)
    typ, data = m.uid("SEARCH", "EMAILID", eid)
    uids = data[0].split()
    if not uids:
        m.logout()
        return None, None
    typ, data = m.uid("FETCH", uids[0], "(FLAGS BODY.PEEK[])")
    raw = flags = None
    for d in data:
        if isinstance(d, tuple):
            raw = d[1]
            flags = d[0].split(b"FLAGS (")[1].split(b")")[0].decode().split()
    m.logout()
    return raw, flags


def upload(srv, body, ctype="application/octet-stream", acc=None, c=None):
    c = c or conn(srv)
    acc = acc or account(srv)
    r, data = request(c, "POST", "/jmap/upload/%s/" % acc, body, basic(),
                      headers={"Content-Type": ctype})
    return r.status, (_json.loads(data) if data and data[:1] == b"{" else data)


def roles(srv, acc):
    boxes, _ = mailboxes(srv, acc)
    return {m["role"]: m["id"] for m in boxes.values() if m["role"]}


@test(config=["jmap_tls = no"])
def email_create_long_header_text(srv, res):
    """Header text longer than a line: folded at its spaces, or encoded words where it
    has no place to fold; never a line over 998 octets nor one of spaces alone."""
    acc = account(srv)
    r = roles(srv, acc)
    name = ("Name \\ \"q\" " * 200).strip()
    word = "x" * 1200
    subject = "y" * 1500 + " tail"
    spaces = "a" + " " * 500 + "b " + "c " * 300 + " " * 30
    out = call(srv, ["Email/set", {"accountId": acc, "create": {
        "c1": {"mailboxIds": {r["drafts"]: True},
               "from": [{"name": name, "email": "n@example.org"}],
               "to": [{"name": word, "email": "w@example.org"}],
               "subject": subject, "header:X-Spaces:asText": spaces,
               "bodyValues": {"t": {"value": "body\n"}}, "textBody": [{"partId": "t"}]},
        "c2": {"mailboxIds": {r["drafts"]: True}, "header:X-Raw-Long": "v" * 990},
    }}, "s"])
    created = out[0].get("created") or {}
    res.eq(sorted(created), ["c1"], "created: %r" % out[0].get("notCreated"))
    res.eq(((out[0].get("notCreated") or {}).get("c2") or {}).get("type"),
           "invalidProperties", "a raw field past 998 octets on its line")
    c1 = created.get("c1", {})
    e = call(srv, ["Email/get", {"accountId": acc, "ids": [c1.get("id")], "properties": [
        "from", "to", "subject", "header:X-Spaces:asText"]}, "g"])[0]["list"][0]
    res.eq(e["from"][0]["name"], name, "the long quoted name round trip")
    res.eq(e["to"][0]["name"], word, "the long one-word name round trip")
    res.eq(e["subject"], subject, "the long-word subject round trip")
    res.eq(e["header:X-Spaces:asText"], spaces, "the runs of spaces round trip")
    raw, _ = fetch_raw(srv, "Drafts", c1.get("id", ""))
    res.check(raw is not None, "IMAP finds it")
    if raw is None:
        return
    head = raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    res.check(all(len(l) <= 998 for l in head), "no line over 998 octets: %r" %
              [len(l) for l in head if len(l) > 998])
    res.check(all(l.strip(b" \t") != b"" for l in head), "no line of spaces alone")
    msg = pyemail.message_from_bytes(raw, policy=pyemail.policy.default)
    res.eq(msg["From"].addresses[0].display_name, name, "Python reads the From name")
    res.eq(str(msg["Subject"]), subject, "Python reads the Subject")


@test(config=["jmap_tls = no"])
def mailbox_set_reaches_imap_notify(srv, res):
    """A Mailbox/set create, subscribe, rename and destroy reach an IMAP session's NOTIFY
    (RFC 5465 MailboxName, SubscriptionChange) as an IMAP session's would, a folder the
    session watches can still be renamed, and METADATA entries follow the folder."""
    import imaplib
    acc = account(srv)
    imaplib.Commands.setdefault("NOTIFY", ("AUTH", "SELECTED"))
    imaplib.Commands.setdefault("SETMETADATA", ("AUTH", "SELECTED"))
    imaplib.Commands.setdefault("GETMETADATA", ("AUTH", "SELECTED"))
    m = srv.imap()
    typ, _ = m.create("Watched")
    res.eq(typ, "OK", "IMAP CREATE Watched")
    typ, _ = m._simple_command("SETMETADATA", 'Watched (/private/comment "kept")')
    res.eq(typ, "OK", "SETMETADATA on Watched")
    typ, _ = m._simple_command("NOTIFY", "SET (personal (MailboxName SubscriptionChange)) "
                                         "(mailboxes Watched (MessageNew MessageExpunge))")
    res.eq(typ, "OK", "NOTIFY SET")
    ids = {b["name"]: b["id"] for b in call(srv, ["Mailbox/get", {"accountId": acc}, "g"])[0]
           ["list"]}

    def told(what, want):
        deadline = time.monotonic() + 5
        lines = []
        while time.monotonic() < deadline:
            m.untagged_responses.pop("LIST", None)
            m.noop()
            lines += [l.decode() if isinstance(l, bytes) else str(l)
                      for l in m.untagged_responses.pop("LIST", [])]
            if any(want in l for l in lines):
                break
            time.sleep(0.1)
        res.check(any(want in l for l in lines), "%s: NOTIFY told %r (got %r)" % (
            what, want, lines))

    out = call(srv, ["Mailbox/set", {"accountId": acc, "create": {
        "n": {"name": "Fresh", "isSubscribed": False}}}, "s"])[0]
    fresh = (out.get("created") or {}).get("n", {}).get("id")
    res.check(fresh is not None, "created: %r" % out.get("notCreated"))
    told("create", '"." Fresh')
    call(srv, ["Mailbox/set", {"accountId": acc, "update": {fresh: {"isSubscribed": True}}},
               "s"])
    told("subscribe", '(\\Subscribed) "." Fresh')
    out = call(srv, ["Mailbox/set", {"accountId": acc, "update": {
        ids["Watched"]: {"name": "Renamed"}}}, "s"])[0]
    res.check(ids["Watched"] in (out.get("updated") or {}),
              "a folder an IMAP NOTIFY watches is renamed: %r" % out.get("notUpdated"))
    told("rename", '"OLDNAME" (Watched)')
    typ, data = m._simple_command("GETMETADATA", "Renamed /private/comment")
    typ, data = m._untagged_response(typ, data, "METADATA")
    res.check(b"kept" in b" ".join(d if isinstance(d, bytes) else b"".join(d)
                                   for d in data if d), "METADATA followed the rename")
    out = call(srv, ["Mailbox/set", {"accountId": acc, "destroy": [ids["Watched"]]}, "s"])[0]
    res.eq(out.get("destroyed"), [ids["Watched"]], "destroyed")
    told("destroy", '(\\NonExistent) "." Renamed')
    call(srv, ["Mailbox/set", {"accountId": acc, "create": {"r": {"name": "Renamed"}}}, "s"])
    typ, data = m._simple_command("GETMETADATA", "Renamed /private/comment")
    typ, data = m._untagged_response(typ, data, "METADATA")
    res.check(not any(b"kept" in (d if isinstance(d, bytes) else b"".join(d))
                      for d in data if d), "a new folder of the name has no old entries")
    m.logout()


@test(config=["jmap_tls = no"])
def email_create(srv, res):
    acc = account(srv)
    r = roles(srv, acc)
    st, att = upload(srv, b"\x00\x01binary\xff" * 10, "application/pdf")
    res.eq(st, 201, "upload 201")
    long_line = "word " * 40
    out = call(srv, ["Email/set", {"accountId": acc, "create": {
        "c1": {
            "mailboxIds": {r["drafts"]: True}, "keywords": {"$draft": True, "x-kw": True},
            "from": [{"name": "Zoë \"Q\" Example", "email": "zoe@example.org"}],
            "to": [{"email": "a@example.org"}, {"name": "B", "email": "b@example.org"}],
            "cc": [{"name": "C", "email": "c@example.org"}],
            "bcc": [{"email": "hidden@example.org"}],
            "replyTo": [{"email": "reply@example.org"}],
            "subject": "Grüße — a long subject " + "x" * 100,
            "sentAt": "2026-03-03T09:15:40+01:00",
            "inReplyTo": ["parent@example.org"],
            "references": ["root@example.org", "parent@example.org"],
            "header:X-Custom:asText": "héllo",
            "header:X-Raw": " raw value",
            "receivedAt": "2026-01-02T03:04:05Z",
            "textBody": [{"partId": "t"}],
            "htmlBody": [{"partId": "h"}],
            "attachments": [{"blobId": att["blobId"], "type": "application/pdf",
                             "name": "dokument ü.pdf", "disposition": "attachment"}],
            "bodyValues": {"t": {"value": "Plain ü text\n" + long_line + "\n"},
                           "h": {"value": "<p>HTML</p>\n"}}},
        "c2": {"mailboxIds": {r["inbox"]: True, r["archive"]: True}, "subject": "plain",
               "messageId": ["given@example.org"],
               "bodyStructure": {"type": "multipart/mixed", "subParts": [
                   {"partId": "a", "type": "text/plain"},
                   {"type": "multipart/alternative", "subParts": [
                       {"partId": "a", "type": "text/plain"},
                       {"partId": "b", "type": "text/html", "charset": "utf-8"}]}]},
               "bodyValues": {"a": {"value": "short\n"}, "b": {"value": "<b>x</b>"}}},
        "c3": {"mailboxIds": {"#nope": True}},
    }}, "s"], ["Email/get", {"accountId": acc, "ids": ["#c1", "#c2"],
                             "properties": ["subject", "mailboxIds", "keywords", "size",
                                            "receivedAt", "from", "sentAt"]}, "g"])
    created = out[0].get("created") or {}
    res.eq(sorted(created), ["c1", "c2"], "created: %r" % out[0].get("notCreated"))
    res.eq((out[0].get("notCreated") or {}).get("c3", {}).get("properties"), ["mailboxIds"],
           "an unknown creation id")
    c1 = created.get("c1", {})
    res.check(all(k in c1 for k in ("id", "blobId", "threadId", "size")), "created props")
    got = {e["id"]: e for e in out[1].get("list", [])}
    e1 = got.get(c1.get("id"), {})
    res.eq(e1.get("subject"), "Grüße — a long subject " + "x" * 100, "subject round trip")
    res.eq(e1.get("keywords"), {"$draft": True, "x-kw": True}, "keywords")
    res.eq(e1.get("receivedAt"), "2026-01-02T03:04:05Z", "receivedAt")
    res.eq(e1.get("sentAt"), "2026-03-03T09:15:40+01:00", "sentAt")
    res.eq(e1.get("size"), c1.get("size"), "size")
    res.eq(e1.get("from"), [{"name": "Zoë \"Q\" Example", "email": "zoe@example.org"}], "from")
    raw, flags = fetch_raw(srv, "Drafts", c1.get("id", ""))
    res.check(raw is not None, "IMAP finds the created message in Drafts")
    if raw is None:
        return
    res.check("\\Draft" in flags and "x-kw" in flags, "IMAP flags %r" % flags)
    res.check(all(len(l) <= 78 for l in raw.split(b"\r\n")), "lines of at most 78: %r" %
              [l for l in raw.split(b"\r\n") if len(l) > 78])
    res.check(b"\n" not in raw.replace(b"\r\n", b""), "CRLF only")
    msg = pyemail.message_from_bytes(raw, policy=pyemail.policy.default)
    res.eq(str(msg["Subject"]), "Grüße — a long subject " + "x" * 100, "Subject decodes")
    res.eq(msg["From"].addresses[0].display_name, "Zoë \"Q\" Example", "From name")
    res.eq(msg["Bcc"].addresses[0].addr_spec, "hidden@example.org", "Bcc kept")
    res.eq(str(msg["In-Reply-To"]).strip(), "<parent@example.org>", "In-Reply-To")
    res.eq(str(msg["X-Custom"]), "héllo", "header:X-Custom:asText")
    res.eq(msg["X-Raw"], "raw value", "header:X-Raw")
    res.check(msg["Message-ID"] is not None and msg["Date"] is not None,
              "Message-ID and Date")
    res.eq(msg.get_content_type(), "multipart/mixed", "mixed")
    parts = list(msg.iter_parts())
    res.eq([p.get_content_type() for p in parts], ["multipart/alternative", "application/pdf"],
           "structure")
    alt = list(parts[0].iter_parts())
    res.eq([p.get_content_type() for p in alt], ["text/plain", "text/html"], "alternative")
    res.eq(alt[0].get_content_charset(), "utf-8", "charset")
    res.eq(alt[0].get_content().replace("\r\n", "\n"), "Plain ü text\n" + long_line + "\n", "text round trip")
    res.eq(parts[1].get_filename(), "dokument ü.pdf", "attachment name")
    res.eq(parts[1].get_content(), b"\x00\x01binary\xff" * 10, "attachment bytes")
    c2 = created.get("c2", {})
    res.eq(sorted(got.get(c2.get("id"), {}).get("mailboxIds", {})),
           sorted([r["inbox"], r["archive"]]), "in two Mailboxes")
    raw2, _ = fetch_raw(srv, "Archive", c2.get("id", ""))
    m2 = pyemail.message_from_bytes(raw2 or b"", policy=pyemail.policy.default)
    res.eq(str(m2["Message-ID"]).strip(), "<given@example.org>", "messageId given")
    res.eq([p.get_content_type() for p in m2.walk()],
           ["multipart/mixed", "text/plain", "multipart/alternative", "text/plain",
            "text/html"], "bodyStructure")
    res.check(fetch_raw(srv, "INBOX", c2.get("id", ""))[0] == raw2, "the same in INBOX")


@test(config=["jmap_tls = no"])
def email_create_hostile(srv, res):
    acc = account(srv)
    r = roles(srv, acc)
    base = {"mailboxIds": {r["drafts"]: True}}

    def create(obj):
        o = dict(base)
        o.update(obj)
        out = call(srv, ["Email/set", {"accountId": acc, "create": {"x": o}}, "s"])[0]
        e = (out.get("notCreated") or {}).get("x")
        return (e.get("type"), e.get("properties")) if e else ("created", None)

    deep = {"partId": "a", "type": "text/plain"}
    for i in range(20):
        deep = {"type": "multipart/mixed", "subParts": [deep]}
    many = {"type": "multipart/mixed", "subParts": [{"partId": "a"}] * 300}
    for obj, want, what in [
        ({"subject": "a\r\nBcc: evil@example.org"}, ("invalidProperties", ["subject"]),
         "CR LF in subject"),
        ({"subject": "a\nb"}, ("invalidProperties", ["subject"]), "LF in subject"),
        ({"from": [{"name": "x\r\nBcc: y", "email": "a@example.org"}]},
         ("invalidProperties", ["from"]), "CR LF in a name"),
        ({"to": [{"email": "a@example.org>\r\nBcc: <b@example.org"}]},
         ("invalidProperties", ["to"]), "CR LF in an address"),
        ({"to": [{"email": "no-at-sign"}]}, ("invalidProperties", ["to"]), "no @"),
        ({"header:X-A": "v\r\nBcc: e@example.org"}, ("invalidProperties", ["header:X-A"]),
         "CR LF in a header"),
        ({"header:Bcc": "e@example.org"}, ("invalidProperties", ["header:Bcc"]),
         "a field given twice"),
        ({"header:X A": "v"}, ("invalidProperties", ["header:X A"]), "a bad field name"),
        ({"messageId": ["a b@example.org"]}, ("invalidProperties", ["messageId"]),
         "bad message id"),
        ({"sentAt": "yesterday"}, ("invalidProperties", ["sentAt"]), "bad sentAt"),
        ({"receivedAt": "2026-01-01T00:00:00+01:00"}, ("invalidProperties", ["receivedAt"]),
         "receivedAt is UTC"),
        ({"id": "M1"}, ("invalidProperties", ["id"]), "server-set id"),
        ({"bodyStructure": deep, "bodyValues": {"a": {"value": "x"}}},
         ("invalidProperties", ["bodyStructure"]), "deep nesting"),
        ({"bodyStructure": many, "bodyValues": {"a": {"value": "x"}}},
         ("invalidProperties", ["bodyStructure"]), "too many parts"),
        ({"textBody": [{"partId": "nope"}]}, ("invalidProperties", ["bodyValues"]),
         "unknown partId"),
        ({"textBody": [{"partId": "a"}], "bodyValues": {"a": {"value": "x",
                                                              "isTruncated": True}}},
         ("invalidProperties", ["bodyValues"]), "truncated bodyValue"),
        ({"textBody": [{"partId": "a", "type": "text/html"}],
          "bodyValues": {"a": {"value": "x"}}}, ("invalidProperties", ["textBody"]),
         "textBody of the wrong type"),
        ({"attachments": [{"blobId": "Bffffffffffffffff"}]}, ("blobNotFound", None),
         "unknown blob"),
        ({"bodyStructure": {"type": "text/plain", "partId": "a"}, "textBody": []},
         ("invalidProperties", ["bodyStructure"]), "both body forms"),
        ({"mailboxIds": {}}, ("invalidProperties", ["mailboxIds"]), "no Mailbox"),
        ({"keywords": {"$seen": "yes"}}, ("invalidProperties", ["keywords"]), "bad keyword"),
        ({"subject": "x" * 20000}, ("invalidProperties", ["subject"]), "huge subject"),
        ({"to": [{"email": "a%d@example.org" % i} for i in range(2000)]},
         ("invalidProperties", ["to"]), "huge address list"),
    ]:
        res.eq(create(obj), want, what)
    # a big but valid create object: a 3 MB body is fine
    res.eq(create({"textBody": [{"partId": "a"}],
                   "bodyValues": {"a": {"value": ("line %d ü\n" * 1) * 1 + "z" * 3000000}}}),
           ("created", None), "a 3 MB body")
    still_serving(srv, res)


@test(config=["jmap_tls = no"])
def upload_and_import(srv, res):
    acc = account(srv)
    r = roles(srv, acc)
    eml = (b"From: Imp <imp@example.org>\nTo: demo@example.org\nSubject: imported\n"
           b"Message-ID: <imp1@example.org>\n\nline one\nline two\n")
    c = conn(srv)
    st, up = upload(srv, eml, "message/rfc822", c=c)
    res.eq(st, 201, "201 Created")
    res.eq((up.get("accountId"), up.get("type"), up.get("size")),
           (acc, "message/rfc822", len(eml)), "upload response")
    # the same connection goes on (keep-alive)
    r2, data = request(c, "GET", "/jmap/download/%s/%s/x.eml" % (acc, up["blobId"]),
                       auth=basic())
    res.eq((r2.status, data), (200, eml), "the upload downloads as it was")
    files = _os.listdir(_os.path.join(srv.maildir("demo"), "buzon-uploads"))
    res.eq(files, [up["blobId"]], "one file, named by its id")
    mode = _os.stat(_os.path.join(srv.maildir("demo"), "buzon-uploads", files[0])).st_mode
    res.eq(mode & 0o777, 0o600, "mode 0600")
    out = call(srv, ["Email/import", {"accountId": acc, "emails": {
        "i1": {"blobId": up["blobId"], "mailboxIds": {r["inbox"]: True, r["archive"]: True},
               "keywords": {"$seen": True}, "receivedAt": "2025-12-24T18:00:00Z"},
        "i2": {"blobId": "Uffffffffffffffff", "mailboxIds": {r["inbox"]: True}},
        "i3": {"blobId": up["blobId"], "mailboxIds": {}},
        "i4": {"blobId": up["blobId"], "mailboxIds": {r["inbox"]: True}, "size": 3},
    }}, "i"], ["Email/get", {"accountId": acc, "ids": ["#i1"],
                             "properties": ["subject", "receivedAt", "keywords",
                                            "mailboxIds"]}, "g"])
    imp = out[0]
    res.eq(sorted(imp.get("created") or {}), ["i1"], "imported")
    nc = imp.get("notCreated") or {}
    res.eq((nc.get("i2", {}).get("type"), nc.get("i3", {}).get("type"),
            nc.get("i4", {}).get("type")),
           ("blobNotFound", "invalidProperties", "invalidProperties"), "import errors")
    e = (out[1].get("list") or [{}])[0]
    res.eq((e.get("subject"), e.get("receivedAt"), e.get("keywords")),
           ("imported", "2025-12-24T18:00:00Z", {"$seen": True}), "Email/get of the import")
    i1 = imp.get("created", {}).get("i1", {}).get("id", "")
    rawmsg, flags = fetch_raw(srv, "Archive", i1)
    res.eq(rawmsg, eml.replace(b"\n", b"\r\n"), "IMAP reads the imported bytes")
    res.check("\\Seen" in (flags or []), "\\Seen over IMAP")
    # an import of a creation's blob and of an Email's blob
    out = call(srv, ["Email/import", {"accountId": acc, "emails": {
        "again": {"blobId": imp["created"]["i1"]["blobId"], "mailboxIds": {r["trash"]: True}}}},
        "i"])[0]
    res.eq(sorted(out.get("created") or {}), ["again"], "import of an Email's blob")
    # 0 bytes: a blob of size 0; importing it is invalidEmail
    st, z = upload(srv, b"")
    res.eq((st, z.get("size") if isinstance(z, dict) else z), (201, 0), "0-byte upload")
    out = call(srv, ["Email/import", {"accountId": acc, "emails": {
        "z": {"blobId": z["blobId"], "mailboxIds": {r["inbox"]: True}}}}, "i"])[0]
    res.eq((out.get("notCreated") or {}).get("z", {}).get("type"), "invalidEmail",
           "import of nothing")
    # over the limit: 413 before the body is read
    # (the login process refuses it too; after a first request the mail process answers)
    big = ("POST /jmap/upload/%s/ HTTP/1.1\r\nHost: x\r\nAuthorization: %s\r\n"
           "Content-Length: 50000001\r\n\r\n" % (acc, basic())).encode()
    rr = raw(srv, big)
    res.check(rr.startswith(b"HTTP/1.1 413"), "413 at login: %r" % rr[:100])
    rr = raw(srv, ("GET /.well-known/jmap HTTP/1.1\r\nHost: x\r\nAuthorization: %s\r\n"
                   "\r\n" % basic()).encode() + big)
    second = rr[rr.find(b"HTTP/1.1", 10):]
    res.check(second.startswith(b"HTTP/1.1 413") and b"maxSizeUpload" in second,
              "413 over maxSizeUpload: %r" % second[:300])
    # another account
    st, _ = upload(srv, b"x", acc="anotheraccount")
    res.eq(st, 404, "another account's upload URL")
    # a cut upload leaves no file
    rr = raw(srv, ("POST /jmap/upload/%s/ HTTP/1.1\r\nHost: x\r\nAuthorization: %s\r\n"
                   "Content-Length: 100000\r\n\r\npartial" % (acc, basic())).encode(),
             shut=True, timeout=20)
    time.sleep(0.5)
    left = [f for f in _os.listdir(_os.path.join(srv.maildir("demo"), "buzon-uploads"))
            if f.startswith("tmp-")]
    res.eq(left, [], "no partial file left")
    # the upload directory is not a folder
    boxes, _ = mailboxes(srv, acc)
    res.check(not any("upload" in n for n in boxes), "not a Mailbox")
    # the session says it
    c = conn(srv)
    r3, data = request(c, "GET", "/.well-known/jmap", auth=basic())
    res.eq(_json.loads(data)["capabilities"]["urn:ietf:params:jmap:core"]["maxSizeUpload"],
           50000000, "maxSizeUpload")
    still_serving(srv, res)


@test(config=["jmap_tls = no"])
def jam_set(srv, res):
    node = _shutil.which("node")
    if node is None:
        res.fail("no node (nodejs) for jmap-jam")
        return
    ensure_jam()
    url = "http://%s:%d/.well-known/jmap" % (bt.HOST, srv.jmap_port)
    p = _sp.run([node, _os.path.join(HERE, "jam_set.mjs"), url, "demo", "demo"],
                capture_output=True, text=True, timeout=60, cwd=HERE)
    if p.returncode != 0:
        res.fail("jam_set.mjs failed: %s" % p.stderr.strip()[-2000:])
        return
    out = _json.loads(p.stdout)
    res.eq(out["upload"]["type"], "message/rfc822", "jam upload")
    res.eq(sorted(out["import"]["created"]), ["i1"], "jam import")
    res.eq(sorted(out["create"]["created"]), ["draft1"], "jam create")
    g = out["get"]["list"][0]
    res.eq((g["subject"], g["keywords"], list(g["mailboxIds"])),
           ("Grüße from jam", {"$draft": True, "$seen": True}, [out["drafts"]]),
           "jam Email/get by creation id")
    res.eq(list(out["update"]["updated"]), [out["create"]["created"]["draft1"]["id"]],
           "jam update")
    res.eq(out["download"], [0, 1, 2, 255, 10, 13], "jam download of an upload")
    res.eq(out["destroy"]["destroyed"], [out["import"]["created"]["i1"]["id"]], "jam destroy")
    raw, flags = fetch_raw(srv, "Drafts", out["create"]["created"]["draft1"]["id"])
    msg = pyemail.message_from_bytes(raw or b"", policy=pyemail.policy.default)
    res.eq(str(msg["Subject"]), "Grüße from jam", "IMAP reads jam's message")
    res.check("\\Flagged" in (flags or []) and "\\Draft" in (flags or []), "IMAP flags")
    att = [p for p in msg.walk() if p.get_filename() == "data.bin"]
    res.eq(att[0].get_content() if att else None, bytes([0, 1, 2, 255, 10, 13]),
           "the attachment over IMAP")
    res.eq(fetch_raw(srv, "INBOX", out["import"]["created"]["i1"]["id"])[0], None,
           "the destroyed import is gone")


@test(config=["jmap_tls = no"])
def changes_destroyed_and_moved(srv, res):
    """Email/changes with expunges (store format 5 keeps their EMAILIDs): an Email with
    no instance left is destroyed, a MOVE (copy + expunge) is an update."""
    acc = account(srv)
    r = roles(srv, acc)
    ids = sorted(inbox_emails(srv, acc))
    a, b, c = ids[0], ids[1], ids[2]
    s0 = call(srv, ["Email/get", {"accountId": acc, "ids": [a], "properties": ["id"]},
                    "g"])[0]["state"]
    # JMAP destroy, JMAP move, IMAP MOVE
    call(srv, ["Email/set", {"accountId": acc, "destroy": [a],
                             "update": {b: {"mailboxIds": {r["archive"]: True}}}}, "s"])
    m = srv.imap()
    m.select("INBOX")
    typ, data = m.uid("SEARCH", "EMAILID", c)
    m.uid("MOVE", data[0].split()[0], "Trash")
    m.logout()
    ch = call(srv, ["Email/changes", {"accountId": acc, "sinceState": s0}, "c"])[0]
    res.eq((ch.get("created"), sorted(ch.get("updated") or []), ch.get("destroyed")),
           ([], sorted([b, c]), [a]), "destroyed and moved: %r" % ch)
    # with maxChanges steps, the destroyed one comes too
    got, since = set(), s0
    for _ in range(10):
        ch = call(srv, ["Email/changes", {"accountId": acc, "sinceState": since,
                                          "maxChanges": 1}, "c"])[0]
        if "newState" not in ch:
            res.fail("step: %r" % ch)
            break
        got |= set(ch["destroyed"]) | set(ch["updated"])
        since = ch["newState"]
        if not ch["hasMoreChanges"]:
            break
    res.eq(sorted(got), sorted([a, b, c]), "every change in steps")
    # the state after: nothing more
    ch2 = call(srv, ["Email/changes", {"accountId": acc, "sinceState": since}, "c"])[0]
    res.eq((ch2.get("created"), ch2.get("updated"), ch2.get("destroyed")), ([], [], []),
           "nothing after")
