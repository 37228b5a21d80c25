#!/usr/bin/env python3
"""Python imaplib against buzon over STARTTLS: LOGIN, LIST, SELECT, FETCH (BODY.PEEK[],
RFC822.SIZE, FLAGS, ENVELOPE, BODYSTRUCTURE), SEARCH (incl. CHARSET UTF-8 on encoded-word
subjects), STORE, COPY, APPEND with flags and date, MOVE, EXPUNGE; every change is
checked on disk in the Maildir too, and UIDs must survive a new session.
"""
# kind: protocol
import imaplib
import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import buzontest as bt

SPECIAL = ["INBOX", "Sent", "Drafts", "Trash", "Junk", "Archive"]


def ok(res, what, r):
    typ, data = r
    res.check(typ == "OK", "%s -> %s %s" % (what, typ, bt._short(data, 120)))
    return data


def uid_map(m, res, fixtures):
    """Fetch the whole INBOX; map fixture name -> (uid, seq, items)."""
    data = ok(res, "UID FETCH 1:* (UID RFC822.SIZE FLAGS BODY.PEEK[])",
              m.uid("FETCH", "1:*", "(UID RFC822.SIZE FLAGS BODY.PEEK[])"))
    by_body = {}
    for seq, it in bt.parse_fetch(data):
        by_body[bt.lf(it.get("BODY[]") or b"")] = (int(it["UID"]), seq, it)
    out = {}
    for f in fixtures:
        if f["data"] in by_body:
            out[f["name"]] = by_body[f["data"]]
    return out


def body(srv, res):
    fixtures = bt.fixture_messages()
    fx = {f["name"]: f for f in fixtures}
    n = len(fixtures)

    # Before TLS on the STARTTLS port: STARTTLS offered; after it, not (RFC 9051 6.2.1).
    m = srv.imap(login=False)
    caps = [c.upper() for c in m.capabilities]
    res.check("STARTTLS" not in caps, "no STARTTLS in CAPABILITY after TLS")
    res.check("LOGINDISABLED" not in caps, "no LOGINDISABLED after TLS")
    res.check("IMAP4REV1" in caps or "IMAP4REV2" in caps, "IMAP4rev1/rev2 advertised: %s" % caps)
    ok(res, "LOGIN", m.login("demo", "demo"))

    names = {name: (flags, delim) for flags, delim, name in bt.parse_list(ok(res, 'LIST "" *', m.list('""', "*")))}
    for f in SPECIAL:
        res.check(f in names, "LIST shows %s (got %s)" % (f, sorted(names)))
    if "Sent" in names:
        res.eq(names["Sent"][1], ".", "hierarchy separator")

    data = ok(res, "SELECT INBOX", m.select("INBOX"))
    res.eq(int(data[0]), n, "EXISTS after SELECT")

    got = uid_map(m, res, fixtures)
    res.eq(sorted(got), sorted(fx), "every fixture message comes back byte-exact (modulo CRLF)")
    uids = [v[0] for v in got.values()]
    res.eq(len(set(uids)), len(uids), "UIDs unique")
    for name, (uid, seq, it) in sorted(got.items()):
        f = fx[name]
        res.eq(int(it["RFC822.SIZE"]), len(bt.crlf(f["data"])), "RFC822.SIZE of %s" % name)
        flags = set(x.lower() for x in it["FLAGS"])
        want = set()
        for c, fl in (("S", "\\seen"), ("F", "\\flagged"), ("R", "\\answered")):
            if c in f["flags"]:
                want.add(fl)
        res.eq(flags - {"\\recent"}, want, "FLAGS of %s" % name)
    if len(got) != n:
        return

    # ENVELOPE keeps encoded words raw (RFC 3501 7.4.2); BODYSTRUCTURE per part.
    uid = lambda name: str(got[name][0])
    data = ok(res, "FETCH ENVELOPE", m.uid("FETCH", uid("02-utf8-subject.S.eml"), "(ENVELOPE)"))
    env = bt.parse_fetch(data)[0][1]["ENVELOPE"]
    raw_subject = re.search(rb"^Subject: (.*)$", fx["02-utf8-subject.S.eml"]["data"], re.M).group(1)
    res.eq(env[1], raw_subject, "ENVELOPE subject is the raw encoded word")
    res.eq(bt.text(env[2][0][2]) + "@" + bt.text(env[2][0][3]), "jose@example.es", "ENVELOPE from address")
    res.eq(bt.text(env[9]), "<cafe.20260303091540.7731@example.es>", "ENVELOPE message-id")
    data = ok(res, "FETCH ENVELOPE (thread)", m.uid("FETCH", uid("10-thread-offsite-4.RS.eml"), "(ENVELOPE)"))
    env = bt.parse_fetch(data)[0][1]["ENVELOPE"]
    res.eq(bt.text(env[8]), "<offsite-q3-3.1773107214@example.org>", "ENVELOPE in-reply-to")
    res.eq(env[3], env[2], "ENVELOPE sender defaults to from")

    def bs(name):
        d = ok(res, "FETCH BODYSTRUCTURE " + name, m.uid("FETCH", uid(name), "(BODYSTRUCTURE)"))
        return bt.flatten_upper(bt.parse_fetch(d)[0][1]["BODYSTRUCTURE"])
    s = bs("04-alternative.S.eml")
    res.check(re.search(r'^\(\("TEXT" "PLAIN" \("CHARSET" "UTF-8"\) NIL NIL "QUOTED-PRINTABLE" \d+ \d+.*\) '
                        r'\("TEXT" "HTML" .*"ALTERNATIVE"', s), "BODYSTRUCTURE alternative: %s" % s[:300])
    s = bs("05-attachment.FS.eml")
    res.check('"APPLICATION" "PDF" ("NAME" "INVOICE-2026-0117.PDF")' in s and '"BASE64"' in s
              and '("ATTACHMENT" ("FILENAME" "INVOICE-2026-0117.PDF"))' in s and '"MIXED"' in s,
              "BODYSTRUCTURE attachment: %s" % s[:400])
    s = bs("06-forwarded.S.eml")
    res.check('"MESSAGE" "RFC822"' in s and '"CONFERENCE TRAVEL RECEIPTS"' in s and '"TEXT" "CSV"' in s,
              "BODYSTRUCTURE message/rfc822 with envelope and nested body: %s" % s[:400])
    s = bs("01-welcome.new.eml")
    res.check(s.startswith('("TEXT" "PLAIN" ("CHARSET" "US-ASCII") NIL NIL "7BIT" %d '
                           % len(bt.crlf(fx["01-welcome.new.eml"]["data"].split(b"\n\n", 1)[1]))),
              "BODYSTRUCTURE single part with size: %s" % s[:200])
    d = ok(res, "FETCH BODY.PEEK[1]", m.uid("FETCH", uid("04-alternative.S.eml"), "(BODY.PEEK[2])"))
    part = bt.parse_fetch(d)[0][1].get("BODY[2]") or b""
    res.check(b"<b>#10422</b>" in part.replace(b"=\r\n", b""), "BODY[2] is the HTML part")

    # SEARCH: ASCII, UTF-8 against UTF-8/ISO-8859-1/base64 encoded words, flags, body.
    def search(*crit, literal=None):
        if literal is not None:
            m.literal = literal.encode("utf-8")
        d = ok(res, "UID SEARCH %s %s" % (" ".join(crit), literal or ""), m.uid("SEARCH", *crit))
        return set(int(x) for x in b" ".join(x for x in d if x).split())
    want = lambda names: set(got[x][0] for x in names)
    res.eq(search("SUBJECT", "offsite"), want([x for x in fx if "offsite" in x]), "SEARCH SUBJECT offsite")
    res.eq(search("CHARSET", "UTF-8", "SUBJECT", literal="mañana"), want(["02-utf8-subject.S.eml"]),
           "SEARCH CHARSET UTF-8 SUBJECT mañana (UTF-8 B encoded word)")
    res.eq(search("CHARSET", "UTF-8", "SUBJECT", literal="Réunion"), want(["03-latin1.S.eml"]),
           "SEARCH CHARSET UTF-8 SUBJECT Réunion (ISO-8859-1 Q encoded word)")
    res.eq(search("CHARSET", "UTF-8", "SUBJECT", literal="打ち合わせ"), want(["15-japanese.eml"]),
           "SEARCH CHARSET UTF-8 SUBJECT 打ち合わせ")
    res.eq(search("CHARSET", "UTF-8", "FROM", literal="Pérez"), want(["02-utf8-subject.S.eml"]),
           "SEARCH CHARSET UTF-8 FROM Pérez (display name)")
    res.eq(search("UNSEEN"), want([x for x in fx if "S" not in fx[x]["flags"]]), "SEARCH UNSEEN")
    res.eq(search("FLAGGED"), want(["05-attachment.FS.eml"]), "SEARCH FLAGGED")
    res.eq(search("BODY", "Annecy"),
           want([x for x in fx if b"annecy" in fx[x]["data"].split(b"\n\n", 1)[1].lower()]),
           "SEARCH BODY Annecy")
    res.eq(search("HEADER", "List-Id", "weekly"), want(["16-newsletter.eml"]), "SEARCH HEADER List-Id")
    res.eq(search("LARGER", "50000"), want(["21-large-log.S.eml"]), "SEARCH LARGER 50000")
    res.eq(search("SENTSINCE", "17-Mar-2026"), want(["19-signed.S.eml", "20-no-subject.eml", "21-large-log.S.eml"]),
           "SEARCH SENTSINCE 17-Mar-2026")

    # STORE: reply and disk.
    u12 = uid("12-thread-offsite-6.eml")
    d = ok(res, "UID STORE +FLAGS", m.uid("STORE", u12, "+FLAGS", "(\\Flagged \\Seen)"))
    fl = set(x.lower() for x in bt.parse_fetch(d)[0][1].get("FLAGS", [])) if d and d[0] else set()
    res.eq(fl - {"\\recent"}, {"\\flagged", "\\seen"}, "STORE reply FLAGS")
    disk = [v for v in srv.maildir_files().values() if bt.lf(v[2]) == fx["12-thread-offsite-6.eml"]["data"]]
    res.check(len(disk) == 1 and disk[0][0] == "cur" and disk[0][1] == "FS",
              "on disk: 12-thread-offsite-6 in cur/ with :2,FS (%s)" % [(a, b) for a, b, _ in disk])
    d = ok(res, "UID STORE -FLAGS.SILENT", m.uid("STORE", u12, "-FLAGS.SILENT", "(\\Flagged)"))
    res.check(not [x for x in d if x], "STORE .SILENT sends no FETCH back (got %r)" % d)

    # COPY to Archive.
    u02 = uid("02-utf8-subject.S.eml")
    ok(res, "UID COPY", m.uid("COPY", u02, "Archive"))
    st = ok(res, "STATUS Archive", m.status("Archive", "(MESSAGES UIDNEXT)"))
    res.check(b"MESSAGES 1" in st[0], "STATUS Archive MESSAGES 1: %r" % st)
    arch = list(srv.maildir_files("demo", "Archive").values())
    res.check(len(arch) == 1 and bt.lf(arch[0][2]) == fx["02-utf8-subject.S.eml"]["data"] and "S" in arch[0][1],
              "on disk: copy in .Archive with \\Seen")

    # APPEND with flags and an internal date.
    when = time.mktime((2026, 3, 5, 10, 0, 0, 0, 0, -1))
    draft = (b"From: Demo User <demo@example.org>\r\nTo: jose@example.es\r\n"
             b"Subject: =?UTF-8?Q?Re:_Caf=C3=A9?=\r\nDate: Thu, 05 Mar 2026 10:00:00 +0100\r\n"
             b"Message-ID: <draft-1@example.org>\r\nMIME-Version: 1.0\r\n"
             b"Content-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
             b"Nos vemos ma\xc3\xb1ana.\r\n")
    d = ok(res, "APPEND Drafts", m.append("Drafts", "(\\Seen \\Draft)", imaplib.Time2Internaldate(when), draft))
    sys.stderr.write("APPEND reply %r\n" % d)
    ok(res, "SELECT Drafts", m.select("Drafts"))
    d = ok(res, "FETCH Drafts 1", m.fetch("1", "(FLAGS INTERNALDATE BODY.PEEK[])"))
    it = bt.parse_fetch(d)[0][1] if d and d[0] else {}
    res.eq(set(x.lower() for x in it.get("FLAGS", [])) - {"\\recent"}, {"\\seen", "\\draft"}, "APPENDed flags")
    idate = bt.text(it.get("INTERNALDATE"))
    res.check(idate and abs(time.mktime(imaplib.Internaldate2tuple(b'INTERNALDATE "%s"' % idate.encode())) - when) < 1,
              "APPENDed INTERNALDATE %r" % idate)
    res.eq(it.get("BODY[]"), draft, "APPENDed body")
    dr = list(srv.maildir_files("demo", "Drafts").values())
    res.check(len(dr) == 1 and bt.lf(dr[0][2]) == bt.lf(draft) and dr[0][1] == "DS",
              "on disk: .Drafts/cur message with :2,DS (%s)" % [(a, b) for a, b, _ in dr])

    # MOVE (RFC 6851) and EXPUNGE.
    data = ok(res, "SELECT INBOX again", m.select("INBOX"))
    u16 = uid("16-newsletter.eml")
    m.untagged_responses.pop("EXPUNGE", None)
    ok(res, "UID MOVE", m.uid("MOVE", u16, "Junk"))
    gone = m.untagged_responses.pop("EXPUNGE", [])
    res.eq(gone, [str(got["16-newsletter.eml"][1]).encode()], "MOVE sends * n EXPUNGE for the moved message")
    st = ok(res, "STATUS Junk", m.status("Junk", "(MESSAGES)"))
    res.check(b"MESSAGES 1" in st[0], "STATUS Junk MESSAGES 1: %r" % st)
    inbox = [bt.lf(v[2]) for v in srv.maildir_files().values()]
    res.check(fx["16-newsletter.eml"]["data"] not in inbox, "on disk: moved message gone from INBOX")
    junk = [bt.lf(v[2]) for v in srv.maildir_files("demo", "Junk").values()]
    res.eq(junk, [fx["16-newsletter.eml"]["data"]], "on disk: moved message in .Junk")

    u20 = uid("20-no-subject.eml")
    ok(res, "UID STORE +FLAGS \\Deleted", m.uid("STORE", u20, "+FLAGS.SILENT", "(\\Deleted)"))
    d = ok(res, "EXPUNGE", m.expunge())
    res.check(d and d[0] is not None and len([x for x in d if x]) == 1, "EXPUNGE reports one message: %r" % d)
    inbox = [bt.lf(v[2]) for v in srv.maildir_files().values()]
    res.check(fx["20-no-subject.eml"]["data"] not in inbox, "on disk: expunged message gone")
    res.eq(len(inbox), n - 2, "on disk: INBOX has n-2 messages")
    res.eq(m.logout()[0], "BYE", "LOGOUT")

    # A new session (IMAP4_SSL this time): same UIDs, same count.
    m = srv.imaps()
    data = ok(res, "SELECT INBOX (new session)", m.select("INBOX", readonly=True))
    res.eq(int(data[0]), n - 2, "EXISTS in the new session")
    again = uid_map(m, res, fixtures)
    for name in ("02-utf8-subject.S.eml", "12-thread-offsite-6.eml", "21-large-log.S.eml"):
        res.eq(again.get(name, (None,))[0], got[name][0], "UID of %s stable across sessions" % name)
    fl = set(x.lower() for x in again.get("12-thread-offsite-6.eml", (0, 0, {"FLAGS": []}))[2]["FLAGS"])
    res.eq(fl - {"\\recent"}, {"\\seen"}, "flags stable across sessions")
    res.eq(m.logout()[0], "BYE", "LOGOUT")


if __name__ == "__main__":
    bt.run_test("imaplib-session", body)
