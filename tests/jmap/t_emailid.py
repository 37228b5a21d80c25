"""Finding an Email by its id (the store's EMAILID table, docs/architecture.md "EMAILID
lookup"): Email/get, the blob download and Email/set after the table was built, while
IMAP copies, moves and expunges and an outside program delivers, removes and moves
files. Every case first asks for the Emails, so the table exists when the change comes."""
import os

from jmaplib import *  # noqa: F401,F403
from t_set import call, inbox_emails, roles


def get(srv, acc, ids, props=("mailboxIds", "threadId")):
    r = call(srv, ["Email/get", {"accountId": acc, "ids": list(ids),
                                 "properties": list(props)}, "g"])[0]
    return {e["id"]: e for e in r["list"]}, r["notFound"]


def blob_status(srv, acc, eid):
    c = conn(srv)
    r, data = request(c, "GET", "/jmap/download/%s/B%s/m.eml?accept=message/rfc822" % (
        acc, eid[1:]), auth=basic())
    return r.status, data


def imap_uid(m, eid):
    typ, data = m.uid("SEARCH", "EMAILID", eid)
    return data[0].split()


@test(config=["jmap_tls = no"])
def emailid_copy_move_expunge(srv, res):
    acc = account(srv)
    r = roles(srv, acc)
    ids = sorted(inbox_emails(srv, acc))
    a, b, c = ids[0], ids[1], ids[2]
    got, nf = get(srv, acc, ids)
    res.eq((sorted(got), nf), (ids, []), "every INBOX Email found")
    inbox = list(got[a]["mailboxIds"])[0]
    res.eq(blob_status(srv, acc, a)[0], 200, "blob of a")
    m = srv.imap()
    m.select("INBOX")
    # a copy into Trash and one into INBOX itself: three messages, one Email
    m.uid("COPY", imap_uid(m, a)[0], "Trash")
    m.uid("COPY", imap_uid(m, a)[0], "INBOX")
    m.select("INBOX")
    res.eq(len(imap_uid(m, a)), 2, "two copies in INBOX")
    got, nf = get(srv, acc, [a])
    res.eq(sorted(got.get(a, {}).get("mailboxIds", {})), sorted([inbox, r["trash"]]),
           "copied: in INBOX and Trash")
    # the first copy in INBOX expunged: the other still answers there
    m.uid("STORE", imap_uid(m, a)[0], "+FLAGS.SILENT", "(\\Deleted)")
    m.expunge()
    got, nf = get(srv, acc, [a])
    res.eq(sorted(got.get(a, {}).get("mailboxIds", {})), sorted([inbox, r["trash"]]),
           "one INBOX copy expunged: still in INBOX and Trash")
    res.eq(blob_status(srv, acc, a)[0], 200, "blob of a after the expunge")
    # a MOVE: only the new folder
    m.uid("MOVE", imap_uid(m, b)[0], "Archive")
    got, nf = get(srv, acc, [b])
    res.eq(list(got.get(b, {}).get("mailboxIds", {})), [r["archive"]], "moved to Archive")
    # every instance of a gone, and c through Email/set: notFound, no blob
    m.uid("STORE", imap_uid(m, a)[0], "+FLAGS.SILENT", "(\\Deleted)")
    m.expunge()
    m.select("Trash")
    m.uid("STORE", imap_uid(m, a)[0], "+FLAGS.SILENT", "(\\Deleted)")
    m.expunge()
    m.logout()
    got, nf = get(srv, acc, [a, b])
    res.eq((sorted(got), nf), ([b], [a]), "a expunged everywhere: notFound")
    res.eq(blob_status(srv, acc, a)[0], 404, "no blob of a")
    st, data = blob_status(srv, acc, b)
    res.check(st == 200 and b"Subject:" in data, "blob of the moved b: %r, %d octets: %r" % (
        st, len(data), data[:200]))
    s = call(srv, ["Email/set", {"accountId": acc, "update": {
        c: {"mailboxIds": {r["trash"]: True}}}}, "s"])[0]
    res.eq(sorted(s.get("updated") or {}), [c], "Email/set moves c")
    got, nf = get(srv, acc, [c])
    res.eq(list(got.get(c, {}).get("mailboxIds", {})), [r["trash"]], "c in Trash")
    s = call(srv, ["Email/set", {"accountId": acc, "destroy": [b, c]}, "s"])[0]
    res.eq(sorted(s.get("destroyed") or []), sorted([b, c]), "Email/set destroys b, c")
    got, nf = get(srv, acc, [b, c])
    res.eq((got, sorted(nf)), ({}, sorted([b, c])), "destroyed: notFound")


def imap_emailids(srv, folder):
    """{EMAILID: uid} of a folder over IMAP."""
    m = srv.imap()
    m.select(folder)
    typ, data = m.uid("FETCH", "1:*", "(EMAILID)")
    out = {}
    for d in data:
        if isinstance(d, bytes) and b"EMAILID (" in d:
            out[d.split(b"EMAILID (")[1].split(b")")[0].decode()] = \
                int(d.split(b"UID ")[1].split(b" ")[0].rstrip(b")"))
    m.logout()
    return out


@test(config=["jmap_tls = no"])
def emailid_outside_writer(srv, res):
    acc = account(srv)
    r = roles(srv, acc)
    before = sorted(inbox_emails(srv, acc))
    get(srv, acc, before)
    # an MDA delivers into new/ and into a folder while the table exists
    p1 = srv.store("demo", b"From: x@example.org\nSubject: outside one\n\nhi\n", new=True)
    p2 = srv.store("demo", b"From: y@example.org\nSubject: outside two\n\nhi\n",
                   folder="Archive")
    new = sorted(set(imap_emailids(srv, "INBOX")) - set(before))
    res.eq(len(new), 1, "IMAP sees the delivery")
    arch = sorted(imap_emailids(srv, "Archive"))
    res.eq(len(arch), 1, "IMAP sees the delivery into Archive")
    if len(new) != 1 or len(arch) != 1:
        return
    n1, n2 = new[0], arch[0]
    got, nf = get(srv, acc, [n1, n2], ("mailboxIds", "subject"))
    res.eq(got.get(n1, {}).get("subject"), "outside one", "the new INBOX message")
    res.eq(list(got.get(n2, {}).get("mailboxIds", {})), [r["archive"]],
           "the new Archive message")
    # the outside program moves the INBOX file into Archive (same base name, so the
    # same EMAILID there) and removes the Archive one
    cur = os.path.join(srv.maildir("demo"), "cur")
    name = [f for f in os.listdir(cur) if f.startswith(os.path.basename(p1).split(":")[0])]
    res.eq(len(name), 1, "moved from new/ to cur/ by the sync")
    if len(name) == 1:
        os.rename(os.path.join(cur, name[0]),
                  os.path.join(srv.maildir("demo", "Archive"), "cur", name[0]))
    os.unlink(p2) if os.path.exists(p2) else [
        os.unlink(os.path.join(srv.maildir("demo", "Archive"), sub, f))
        for sub in ("cur", "new")
        for f in os.listdir(os.path.join(srv.maildir("demo", "Archive"), sub))
        if f.startswith(os.path.basename(p2).split(":")[0])]
    got, nf = get(srv, acc, [n1, n2], ("mailboxIds", "subject"))
    res.eq(list(got.get(n1, {}).get("mailboxIds", {})), [r["archive"]],
           "moved by the outside program: only in Archive")
    res.eq(nf, [n2], "removed by the outside program: notFound")
    res.eq(blob_status(srv, acc, n2)[0], 404, "no blob of the removed one")
    res.eq(blob_status(srv, acc, n1)[0], 200, "blob of the moved one")
