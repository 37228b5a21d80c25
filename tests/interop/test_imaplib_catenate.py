#!/usr/bin/env python3
"""CATENATE (RFC 4469), REPLACE (RFC 8508) and CREATE-SPECIAL-USE (RFC 6154) with Python
imaplib, which knows none of them (the commands go out through its generic paths): a
draft built from a URL of the previous one and a TEXT literal, that draft replaced in
place (APPENDUID in an untagged OK, the old UID gone), a folder created with \\Drafts
that LIST shows in a new session, and \\All refused with [USEATTR].
"""
# kind: protocol
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import buzontest as bt


def raw(m, name, line):
    """Send one whole command line (literals inline, LITERAL+); (typ, data) of its reply."""
    tag = m._new_tag()
    m.send(tag + b" " + line + b"\r\n")
    return m._command_complete(name, tag)


def body(srv, res):
    m = srv.imap()
    typ, data = m.capability()
    caps = data[0].upper().split() if typ == "OK" else []
    for w in (b"CATENATE", b"REPLACE", b"CREATE-SPECIAL-USE"):
        res.check(w in caps, "%s advertised" % w.decode())

    draft = b"From: demo@example.org\r\nSubject: draft\r\n\r\nfirst version\r\n"
    typ, data = m.append("Drafts", "(\\Draft)", None, draft)
    res.eq(typ, "OK", "APPEND the first draft")
    mt = re.search(rb"APPENDUID (\d+) (\d+)", data[0] or b"")
    res.check(mt is not None, "APPENDUID of the first draft: %r" % data)
    if mt is None:
        return
    uidv, uid1 = mt.group(1), mt.group(2)

    text = b"second version\r\n"
    typ, data = raw(m, "APPEND", b'APPEND Drafts (\\Draft) CATENATE (URL "/Drafts;UIDVALIDITY='
                    + uidv + b"/;UID=" + uid1 + b'/;SECTION=HEADER" TEXT {%d+}\r\n' % len(text)
                    + text + b")")
    res.eq(typ, "OK", "APPEND CATENATE")
    mt = re.search(rb"APPENDUID \d+ (\d+)", data[0] or b"")
    uid2 = mt.group(1) if mt else b"0"

    typ, _ = m.select("Drafts")
    res.eq(typ, "OK", "SELECT Drafts")
    typ, data = m.uid("FETCH", uid2.decode(), "(BODY.PEEK[])")
    got = bt.parse_fetch(data)[0][1].get("BODY[]") if typ == "OK" and data and data[0] else b""
    res.eq(got, b"From: demo@example.org\r\nSubject: draft\r\n\r\n" + text,
           "the catenated draft")

    final = b"From: demo@example.org\r\nSubject: draft\r\n\r\nfinal version\r\n"
    typ, data = raw(m, "REPLACE", b"UID REPLACE " + uid2 + b" Drafts (\\Draft) {%d+}\r\n"
                    % len(final) + final)
    res.eq(typ, "OK", "UID REPLACE")
    oks = b" ".join(x for x in m.untagged_responses.get("OK", []) if isinstance(x, bytes))
    mt = re.search(rb"\[APPENDUID \d+ (\d+)\] Replacement", oks)
    res.check(mt is not None, "APPENDUID in an untagged OK: %r" % oks)
    typ, data = m.uid("SEARCH", "ALL")
    uids = data[0].split() if typ == "OK" else []
    res.check(uid2 not in uids, "the replaced draft is gone: %r" % uids)
    if mt is not None:
        res.check(mt.group(1) in uids, "the new draft is there: %r" % uids)

    typ, data = m._simple_command("CREATE", "Entwuerfe", "(USE (\\Drafts))")
    res.eq(typ, "OK", "CREATE with USE (\\Drafts)")
    typ, data = m._simple_command("CREATE", "Everything", "(USE (\\All))")
    res.check(typ == "NO" and b"[USEATTR]" in (data[0] or b""), "\\All: NO [USEATTR]: %s %r"
              % (typ, data))
    m.logout()

    m = srv.imap()
    typ, data = m.list('""', "Entwuerfe")
    flags = [f for f, _, name in bt.parse_list(data) if name == "Entwuerfe"] if typ == "OK" else []
    res.check(bool(flags) and any(bt.text(f) == "\\drafts" for f in flags[0]),
              "LIST shows \\Drafts: %r" % data)
    typ, data = m.list('""', "Everything")
    res.check(typ == "OK" and data in ([None], [b""], []), "no folder for \\All: %r" % data)
    m.logout()


if __name__ == "__main__":
    bt.run_test("imaplib-catenate", body)
