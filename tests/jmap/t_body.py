"""Email/get body properties, part blobs and Email/parse (RFC 8621 §4.1.2-§4.1.4, §4.9):
textBody/htmlBody/attachments against the §4.1.4 algorithm worked out by hand, bodyValues
(charsets, transfer encodings, encoding problems, truncation), header forms, part
downloads against Python's email package, bodyStructure against IMAP BODYSTRUCTURE, and
hostile structures."""
import base64
import email
import json
import os
import re
import shutil
import socket
import subprocess
import time

from jmaplib import *  # noqa: F401,F403
from jmaplib import (HERE, USING, account, api, basic, bt, conn, ensure_jam, request,
                     mail_pid, rss_kib, still_serving, test)


def deliver_all(srv, res, msgs):
    """Deliver msgs (a list of bytes, each with a unique Subject) and return
    {subject: Email id} once every one is seen by Email/query."""
    for m in msgs:
        srv.deliver("demo", m)
    acc = account(srv)
    deadline = time.monotonic() + 15
    while True:
        st, p = api(srv, {"using": USING, "methodCalls": [
            ["Email/query", {"accountId": acc, "calculateTotal": True}, "q"],
            ["Email/get", {"accountId": acc, "#ids": {"resultOf": "q", "name":
                                                      "Email/query", "path": "/ids"},
                           "properties": ["subject"]}, "g"]]})
        lst = p["methodResponses"][1][1]["list"]
        if len(lst) >= len(msgs) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    ids = {e["subject"]: e["id"] for e in lst}
    res.eq(len(ids), len(msgs), "every message delivered")
    return acc, ids


def get(srv, acc, ids, props, **kw):
    args = {"accountId": acc, "ids": ids, "properties": props}
    args.update(kw)
    st, p = api(srv, {"using": USING, "methodCalls": [["Email/get", args, "g"]]})
    return p["methodResponses"][0]


def mime(ctype, body, letter=None, extra=""):
    """A leaf part: its headers and body (LF line ends)."""
    h = "Content-Type: %s\n" % ctype
    if letter:
        h += "X-Letter: %s\n" % letter
    return h + extra + "\n" + body + "\n"


def multi(subtype, parts, boundary, extra=""):
    out = "Content-Type: multipart/%s; boundary=\"%s\"\n%s\n" % (subtype, boundary, extra)
    for p in parts:
        out += "--%s\n%s" % (boundary, p)
    return out + "--%s--\n" % boundary


def message(subject, body_part):
    return ("From: a@example.org\nTo: demo@example.org\nSubject: %s\n"
            "Message-ID: <%s@example.org>\nMIME-Version: 1.0\n" % (subject, subject) +
            body_part).encode()


INLINE = "Content-Disposition: inline\n"
ATT = "Content-Disposition: attachment\n"

# RFC 8621 §4.1.4's example structure
RFC_EXAMPLE = multi("mixed", [
    mime("text/plain", "A", "A", INLINE),
    multi("mixed", [
        multi("alternative", [
            multi("mixed", [
                mime("text/plain", "B", "B", INLINE),
                mime("image/jpeg", "C", "C", INLINE),
                mime("text/plain", "D", "D", INLINE),
            ], "b4"),
            multi("related", [
                mime("text/html", "E", "E"),
                mime("image/jpeg", "F", "F"),
            ], "b5"),
        ], "b3"),
        mime("image/jpeg", "G", "G", ATT),
        mime("application/x-excel", "H", "H"),
        mime("message/rfc822", "Subject: J\n\nJ", "J"),
    ], "b2"),
    mime("text/plain", "K", "K", INLINE),
], "b1")

# (subject, structure, textBody, htmlBody, attachments, hasAttachment) by hand
STRUCTURES = [
    ("rfc-example", RFC_EXAMPLE, "ABCDK", "AEK", "CFGHJ", True),
    ("single", mime("text/plain", "A", "A"), "A", "A", "", False),
    ("alternative", multi("alternative", [mime("text/plain", "A", "A"),
                                          mime("text/html", "B", "B")], "x"),
     "A", "B", "", False),
    ("mixed-att", multi("mixed", [
        mime("text/plain", "A", "A"),
        mime("application/pdf; name=x.pdf", "B", "B", ATT),
        mime("image/png", "C", "C")], "x"), "AC", "AC", "B", True),
    ("related-cid", multi("related", [
        mime("text/html", "A", "A"),
        mime("image/png", "B", "B", INLINE + "Content-ID: <img1@x>\n")], "x"),
     "A", "A", "B", False),
    ("alt-related", multi("alternative", [
        mime("text/plain", "A", "A"),
        multi("related", [mime("text/html", "B", "B"),
                          mime("image/gif", "C", "C", INLINE)], "y")], "x"),
     "A", "B", "C", False),
    ("named-text", multi("mixed", [
        mime("text/plain", "A", "A"),
        mime("text/plain", "B", "B", "Content-Disposition: inline; filename=x.txt\n")],
        "x"), "A", "A", "B", False),
    ("html-only-alt", multi("alternative", [mime("text/html", "A", "A")], "x"),
     "A", "A", "", False),
    ("nested-message", multi("mixed", [
        mime("text/plain", "A", "A"),
        mime("message/rfc822", "Subject: inner\nContent-Type: text/plain\n\ninner body",
             "B")], "x"), "A", "A", "B", True),
]


def letters(parts):
    return "".join(p.get("header:X-Letter:asText") or "?" for p in parts)


@test(config=["jmap_tls = no"], fill=False)
def body_lists(srv, res):
    acc, ids = deliver_all(srv, res, [message(s[0], s[1]) for s in STRUCTURES])
    bp = ["partId", "type", "header:X-Letter:asText"]
    for subject, _, text, html, att, has in STRUCTURES:
        r = get(srv, acc, [ids[subject]], ["textBody", "htmlBody", "attachments",
                                           "hasAttachment"], bodyProperties=bp)
        e = r[1]["list"][0]
        res.eq((letters(e["textBody"]), letters(e["htmlBody"]), letters(e["attachments"]),
                e["hasAttachment"]), (text, html, att, has), "§4.1.4 lists of " + subject)
    # the hasAttachment FilterCondition agrees with the property, alone and under NOT
    for cond, want in (({"hasAttachment": True}, True), ({"hasAttachment": False}, False),
                       ({"operator": "NOT", "conditions": [{"hasAttachment": True}]},
                        False)):
        st, p = api(srv, {"using": USING, "methodCalls": [
            ["Email/query", {"accountId": acc, "filter": cond}, "q"],
            ["Email/get", {"accountId": acc, "#ids": {"resultOf": "q", "name":
                                                      "Email/query", "path": "/ids"},
                           "properties": ["subject"]}, "g"]]})
        got = sorted(e["subject"] for e in p["methodResponses"][1][1]["list"])
        res.eq(got, sorted(s[0] for s in STRUCTURES if s[5] == want),
               "Email/query filter %s" % json.dumps(cond))
    # the example's bodyStructure: partIds as IMAP numbers its parts, null for multiparts
    r = get(srv, acc, [ids["rfc-example"]], ["bodyStructure"], bodyProperties=bp)
    bs = r[1]["list"][0]["bodyStructure"]

    def flat(p):
        out = [(p["partId"], p["type"], p.get("header:X-Letter:asText"))]
        for c in p.get("subParts", []):
            out += flat(c)
        return out
    res.eq(flat(bs)[:4], [(None, "multipart/mixed", None), ("1", "text/plain", "A"),
                          (None, "multipart/mixed", None),
                          (None, "multipart/alternative", None)], "bodyStructure top")
    res.eq([x for x in flat(bs) if x[0] is not None],
           [("1", "text/plain", "A"), ("2.1.1.1", "text/plain", "B"),
            ("2.1.1.2", "image/jpeg", "C"), ("2.1.1.3", "text/plain", "D"),
            ("2.1.2.1", "text/html", "E"), ("2.1.2.2", "image/jpeg", "F"),
            ("2.2", "image/jpeg", "G"), ("2.3", "application/x-excel", "H"),
            ("2.4", "message/rfc822", "J"), ("3", "text/plain", "K")], "leaf partIds")
    # the default bodyProperties
    r = get(srv, acc, [ids["related-cid"]], ["attachments"])
    a = r[1]["list"][0]["attachments"][0]
    res.eq(a, {"partId": "2", "blobId": a["blobId"], "size": 1, "name": None,
               "type": "image/png", "charset": None, "disposition": "inline",
               "cid": "img1@x", "language": None, "location": None},
           "an EmailBodyPart with the default properties")
    res.check(re.fullmatch(r"B[0-9a-f]{16}_2", a["blobId"]) is not None, "part blobId form")
    # unknown body property, bad header form
    r = get(srv, acc, [ids["single"]], ["textBody"], bodyProperties=["bogus"])
    res.eq(r[0], "error", "unknown body property: invalidArguments")
    r = get(srv, acc, [ids["single"]], ["header:Subject:asAddresses"])
    res.eq((r[0], r[1].get("type")), ("error", "invalidArguments"),
           "Subject asAddresses: invalidArguments")


CHARSET_MSGS = [
    message("latin1-qp", mime("text/plain; charset=ISO-8859-1", "caf=E9 cr=E8me=\n br=FBl=E9e",
                              extra="Content-Transfer-Encoding: quoted-printable\n")),
    message("sjis-b64", mime("text/plain; charset=Shift_JIS", base64.encodebytes(
        "日本語のテキスト".encode("shift_jis")).decode().strip(),
        extra="Content-Transfer-Encoding: base64\n")),
    message("broken-b64", mime("text/plain; charset=utf-8", "aGVsbG8*!!gd29ybGQ=x",
                               extra="Content-Transfer-Encoding: base64\n")),
    message("unknown-charset", mime("text/plain; charset=x-no-such-charset", "hello")),
    message("bad-utf8", mime("text/plain; charset=utf-8", "ok \xff", extra="")),
    message("truncate", mime("text/plain; charset=utf-8", "ab\u20accd",
                             extra="Content-Transfer-Encoding: 8bit\n")),
    message("html-alt", multi("alternative", [
        mime("text/plain; charset=utf-8", "plain text"),
        mime("text/html; charset=utf-8", "<p>html text</p>")], "x")),
    message("inline-image", multi("mixed", [
        mime("text/plain", "see:"), mime("image/png", "iVBORw0KGgo=",
                                         extra="Content-Transfer-Encoding: base64\n")],
        "x")),
]


@test(config=["jmap_tls = no"], fill=False)
def body_values(srv, res):
    msgs = [m.replace(b"\xc3\xbf", b"\xff") if b"bad-utf8" in m else m
            for m in CHARSET_MSGS]
    acc, ids = deliver_all(srv, res, msgs)

    def value(subject, **kw):
        kw.setdefault("fetchTextBodyValues", True)
        r = get(srv, acc, [ids[subject]], ["bodyValues", "textBody"], **kw)
        e = r[1]["list"][0]
        return e["bodyValues"].get(e["textBody"][0]["partId"]) if e["textBody"] else None

    res.eq(value("latin1-qp"), {"value": "caf\u00e9 cr\u00e8me br\u00fbl\u00e9e\n",
                                "isEncodingProblem": False, "isTruncated": False},
           "ISO-8859-1 quoted-printable")
    res.eq(value("sjis-b64"), {"value": "日本語のテキスト", "isEncodingProblem": False,
                               "isTruncated": False}, "Shift_JIS base64")
    v = value("broken-b64")
    res.eq(v["isEncodingProblem"], True, "broken base64: isEncodingProblem")
    res.check(v["value"].startswith("hello"), "broken base64: still decoded leniently")
    res.eq(value("unknown-charset")["isEncodingProblem"], True, "unknown charset")
    v = value("bad-utf8")
    res.eq(v["isEncodingProblem"], True, "invalid UTF-8: isEncodingProblem")
    # a cut inside the 3-octet euro sign falls back to before it
    res.eq(value("truncate", maxBodyValueBytes=3),
           {"value": "ab", "isEncodingProblem": False, "isTruncated": True},
           "maxBodyValueBytes inside a UTF-8 sequence")
    res.eq(value("truncate", maxBodyValueBytes=5)["value"], "ab\u20ac", "cut after it")
    res.eq(value("truncate", maxBodyValueBytes=0)["isTruncated"], False, "0: no limit")
    # which parts: text / html / all
    r = get(srv, acc, [ids["html-alt"]], ["bodyValues"], fetchHTMLBodyValues=True)
    res.eq(r[1]["list"][0]["bodyValues"], {"2": {"value": "<p>html text</p>",
                                                 "isEncodingProblem": False,
                                                 "isTruncated": False}},
           "fetchHTMLBodyValues")
    r = get(srv, acc, [ids["html-alt"]], ["bodyValues"])
    res.eq(r[1]["list"][0]["bodyValues"], {}, "no fetch: no values")
    r = get(srv, acc, [ids["html-alt"]], ["bodyValues"], fetchAllBodyValues=True)
    res.eq(sorted(r[1]["list"][0]["bodyValues"]), ["1", "2"], "fetchAllBodyValues")
    r = get(srv, acc, [ids["inline-image"]], ["bodyValues", "textBody"],
            fetchTextBodyValues=True)
    e = r[1]["list"][0]
    res.eq(([p["type"] for p in e["textBody"]], sorted(e["bodyValues"])),
           (["text/plain", "image/png"], ["1"]), "values of text/* parts only")
    r = get(srv, acc, [ids["html-alt"]], ["bodyValues"], fetchHTMLBodyValues=True,
            maxBodyValueBytes=12)
    res.eq(r[1]["list"][0]["bodyValues"]["2"]["value"], "<p>html text",
           "HTML is not cut inside a tag")
    r = get(srv, acc, [ids["html-alt"]], ["bodyValues"], fetchHTMLBodyValues=True,
            maxBodyValueBytes=14)
    res.eq(r[1]["list"][0]["bodyValues"]["2"]["value"], "<p>html text",
           "HTML is not cut inside a closing tag either")
    r = get(srv, acc, [ids["html-alt"]], ["bodyValues"], maxBodyValueBytes=-1)
    res.eq(r[0], "error", "a negative maxBodyValueBytes: invalidArguments")


HEADER_MSG = (b"From: \"Joe Q. Public\" <john.q.public@example.com>\n"
              b"Sender: Sec <sec@example.org>\n"
              b"To: Mary Smith <mary@x.test>, jdoe@example.org, Who? <one@y.test>\n"
              b"Cc: A Group:Ed Jones <c@a.test>,joe@where.test,John <jdoe@one.test>;, "
              b"loose@x.test\n"
              b"Bcc: hidden@example.org\n"
              b"Reply-To: \"Mary\" <mary@x.test>\n"
              b"Subject: =?ISO-8859-1?Q?caf=E9?=\n  and more  \n"
              b"Date: Fri, 21 Nov 1997 09:55:06 -0600\n"
              b"Message-ID: <1234@local.machine.example>\n"
              b"In-Reply-To: <3456@example.net>\n"
              b"References: <1234@local.machine.example> <3456@example.net>\n"
              b"X-Dup: one\nX-Dup: two\n"
              b"List-Unsubscribe: <mailto:u@example.org>, <https://example.org/u>\n"
              b"Message-ID-Broken: not an id\n"
              b"X-Nfc: =?utf-8?q?e=CC=81t=C3=A9?=\n"
              b"X-Empty:\n"
              b"\nbody\n")


@test(config=["jmap_tls = no"], fill=False)
def header_forms(srv, res):
    acc, ids = deliver_all(srv, res, [HEADER_MSG])
    eid = list(ids.values())[0]
    props = ["messageId", "inReplyTo", "references", "sender", "bcc", "replyTo",
             "header:Subject", "header:Subject:asText", "header:X-Dup:all",
             "header:x-dup", "header:Cc:asGroupedAddresses", "header:Cc:asAddresses",
             "header:List-Unsubscribe:asURLs", "header:Date:asDate",
             "header:Message-ID-Broken:asMessageIds", "header:X-Missing",
             "header:X-Missing:all", "headers", "header:X-Nfc:asText",
             "header:X-Empty:asText", "header:X-Empty:asAddresses",
             "header:X-Empty:asGroupedAddresses", "header:X-Empty:asDate",
             "header:X-Empty:asURLs", "header:X-Empty:asMessageIds"]
    e = get(srv, acc, [eid], props)[1]["list"][0]
    res.eq(e["messageId"], ["1234@local.machine.example"], "messageId")
    res.eq(e["inReplyTo"], ["3456@example.net"], "inReplyTo")
    res.eq(e["references"], ["1234@local.machine.example", "3456@example.net"], "references")
    res.eq(e["sender"], [{"name": "Sec", "email": "sec@example.org"}], "sender")
    res.eq(e["bcc"], [{"name": None, "email": "hidden@example.org"}], "bcc")
    res.eq(e["replyTo"], [{"name": "Mary", "email": "mary@x.test"}], "replyTo")
    res.eq(e["header:Subject"], " =?ISO-8859-1?Q?caf=E9?=\n  and more  ", "Raw")
    res.eq(e["header:Subject:asText"], "caf\u00e9  and more  ", "Text")
    res.eq(e["header:X-Dup:all"], [" one", " two"], ":all")
    res.eq(e["header:x-dup"], " two", "the last instance, name case-insensitive")
    res.eq(e["header:Cc:asGroupedAddresses"], [
        {"name": "A Group", "addresses": [
            {"name": "Ed Jones", "email": "c@a.test"},
            {"name": None, "email": "joe@where.test"},
            {"name": "John", "email": "jdoe@one.test"}]},
        {"name": None, "addresses": [{"name": None, "email": "loose@x.test"}]}],
        "GroupedAddresses")
    res.eq(len(e["header:Cc:asAddresses"]), 4, "Addresses flattens groups")
    res.eq(e["header:List-Unsubscribe:asURLs"],
           ["mailto:u@example.org", "https://example.org/u"], "URLs")
    res.eq(e["header:Date:asDate"], "1997-11-21T09:55:06-06:00", "Date")
    res.eq(e["header:Message-ID-Broken:asMessageIds"], None, "MessageIds of junk: null")
    res.eq((e["header:X-Missing"], e["header:X-Missing:all"]), (None, []), "missing field")
    res.eq([h["name"] for h in e["headers"]][:3], ["From", "Sender", "To"], "headers order")
    res.eq(len(e["headers"]), 17, "every field")
    res.eq([e["header:X-Empty:" + f] for f in ("asText", "asAddresses", "asGroupedAddresses",
                                               "asDate", "asURLs", "asMessageIds")],
           ["", [], [], None, None, None], "an empty field in every form")
    res.eq(e["header:X-Nfc:asText"], "\u00e9t\u00e9", "Text is NFC")
    r = get(srv, acc, [eid], ["header:X-%d" % i for i in range(64)])
    res.eq((r[0], len(r[1]["list"][0])), ("Email/get", 65), "64 header properties")
    r = get(srv, acc, [eid], ["header:X-%d" % i for i in range(65)])
    res.eq(r[0], "error", "65 header properties: invalidArguments")
    for bad in ("header:", "header:A:asBogus", "header:A:all:asText", "header:A B",
                "header:Date:asText", "header:From:asDate", "header:" + "x" * 200):
        r = get(srv, acc, [eid], [bad])
        res.eq(r[0], "error", "invalid property %r" % bad[:30])


def imap_leaves(bs):
    """[(IMAP part number, type/subtype)] of the leaves of a parsed BODYSTRUCTURE, not
    descending into message/rfc822."""
    out = []

    def walk(node, prefix, root):
        if isinstance(node[0], list):   # multipart: children then the subtype
            i = 0
            for c in node:
                if not isinstance(c, list):
                    break
                i += 1
                walk(c, (prefix + "." if prefix else "") + str(i), False)
            return
        out.append((prefix if prefix else "1", ("%s/%s" % (node[0], node[1])).lower()))
    walk(bs, "", True)
    return out


def parse_sexp(data):
    toks = re.findall(rb'\(|\)|"(?:[^"\\]|\\.)*"|\{\d+\}\r\n|[^\s()"]+', data)
    pos = 0

    def item():
        nonlocal pos
        t = toks[pos]
        pos += 1
        if t == b"(":
            lst = []
            while toks[pos] != b")":
                lst.append(item())
            pos += 1
            return lst
        if t.startswith(b'"'):
            return t[1:-1].decode()
        return t.decode()
    return item()


def jmap_leaves(p):
    if p["partId"] is None:
        out = []
        for c in p["subParts"]:
            out += jmap_leaves(c)
        return out
    return [(p["partId"], p["type"])]


def py_leaves(msg, prefix=""):
    """Python's email package: the decoded payload of each leaf, numbered as IMAP does."""
    if msg.is_multipart() and msg.get_content_maintype() == "multipart":
        out = []
        for i, c in enumerate(msg.get_payload(), 1):
            out += py_leaves(c, (prefix + "." if prefix else "") + str(i))
        return out
    return [(prefix or "1", msg)]


@test(config=["jmap_tls = no"], fill=False)
def part_blobs(srv, res):
    # (the broken base64 of CHARSET_MSGS[2] decodes differently in Python: its size only)
    msgs = [message(s[0], s[1]) for s in STRUCTURES] + CHARSET_MSGS[:3]
    acc, ids = deliver_all(srv, res, msgs)
    c = conn(srv)
    m = srv.imap()
    m.select("INBOX")
    for raw in msgs:
        subject = re.search(rb"Subject: (\S+)", raw).group(1).decode()
        e = get(srv, acc, [ids[subject]], ["bodyStructure"],
                bodyProperties=["partId", "blobId", "type", "size", "subParts"])[1]["list"][0]
        bs = e["bodyStructure"]
        typ, data = m.search(None, "HEADER", "Subject", subject)
        seq = data[0].split()[0]
        typ, data = m.fetch(seq, "(BODYSTRUCTURE)")
        text = b"".join(d if isinstance(d, bytes) else d[0] + d[1] for d in data)
        imap_bs = parse_sexp(text[text.index(b"BODYSTRUCTURE ") + 14:])
        res.eq(jmap_leaves(bs), imap_leaves(imap_bs), "partIds/types = IMAP's for " + subject)
        py = dict(py_leaves(email.message_from_bytes(raw)))

        def parts(p):
            if p["partId"] is None:
                return sum((parts(x) for x in p["subParts"]), [])
            return [p]
        for p in parts(bs):
            r, data = request(c, "GET", "/jmap/download/%s/%s/x.bin" % (acc, p["blobId"]),
                              auth=basic())
            res.eq(r.status, 200, "download %s" % p["blobId"])
            want = py[p["partId"]]
            if subject == "broken-b64":
                pass
            elif want.get_content_type() == "message/rfc822":
                want = want.get_payload()[0].as_bytes()
                res.eq(data.replace(b"\r\n", b"\n"), want.replace(b"\r\n", b"\n"),
                       "message part %s" % p["blobId"])
            else:
                res.eq(data, want.get_payload(decode=True), "decoded part %s of %s" % (
                    p["partId"], subject))
            res.eq(len(data), p["size"], "size is what the download gives")
            res.eq(r.getheader("Content-Type"), p["type"], "the part's type")
    m.logout()
    r, data = request(c, "GET", "/jmap/download/%s/%s_9/x" % (acc, "B" + "f" * 16),
                      auth=basic())
    res.eq(r.status, 404, "no such message: 404")
    bs = get(srv, acc, [ids["single"]], ["blobId"])[1]["list"][0]
    for bad in ("_9", "_1_1_1", "_0", "_01", "_1_", "__1", "_1x"):
        r, data = request(c, "GET", "/jmap/download/%s/%s%s/x" % (acc, bs["blobId"], bad),
                          auth=basic())
        res.eq(r.status, 404, "part blob %s: 404" % bad)
    r, data = request(c, "GET", "/jmap/download/%s/%s_1/x?accept=text/x-mine" % (
        acc, bs["blobId"]), auth=basic())
    res.eq((r.status, r.getheader("Content-Type"), data), (200, "text/x-mine", b"A\n"),
           "accept overrides the type")
    still_serving(srv, res)


# ASan's quarantine (small here) would otherwise hold the freed decode buffer
@test(config=["jmap_tls = no"], fill=False, asan_options=["quarantine_size_mb=1"])
def part_download_streams(srv, res):
    """A decoded part is sent from a scratch file as the client reads: a client that
    reads nothing costs the mail process no memory for it, and one that reads gets
    every octet."""
    blob = bytes((i * 7 + i // 251) & 0xFF for i in range(12 * 1024 * 1024))
    att = base64.encodebytes(blob)
    msg = (b"From: a@example.org\nSubject: bigpart\nMIME-Version: 1.0\n"
           b"Content-Type: multipart/mixed; boundary=x\n\n--x\nContent-Type: text/plain\n\n"
           b"see attached\n--x\nContent-Type: application/octet-stream\n"
           b"Content-Disposition: attachment; filename=big.bin\n"
           b"Content-Transfer-Encoding: base64\n\n" + att + b"--x--\n")
    acc, ids = deliver_all(srv, res, [msg])
    e = get(srv, acc, [ids["bigpart"]], ["attachments"])[1]["list"][0]
    part = e["attachments"][0]
    res.eq(part["size"], len(blob), "the part's decoded size")
    pid = mail_pid(srv)
    anon0 = rss_kib(pid, "RssAnon")
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(60)
    s.connect((bt.HOST, srv.jmap_port))
    s.sendall(("GET /jmap/download/%s/%s/big.bin HTTP/1.1\r\nHost: x\r\n"
               "Authorization: %s\r\n\r\n" % (acc, part["blobId"], basic())).encode())
    time.sleep(1.5)
    anon1 = rss_kib(pid, "RssAnon")
    print("  RssAnon %d -> %d KiB while the client does not read" % (anon0, anon1))
    res.check(anon1 - anon0 < 6 * 1024, "a 12 MiB part to a client that does not read: the "
              "mail process grew %d KiB" % (anon1 - anon0))
    still_serving(srv, res)
    data = b""
    while True:
        d = s.recv(1 << 20)
        if not d:
            break
        data += d
        if b"\r\n\r\n" in data:
            head, _, body = data.partition(b"\r\n\r\n")
            if len(body) >= len(blob):
                break
    s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    res.check(head.startswith(b"HTTP/1.1 200 "), "200")
    res.check(b"Content-Length: %d\r\n" % len(blob) in head, "Content-Length")
    res.check(body == blob, "every octet of the decoded part (%d of %d)" % (len(body),
                                                                             len(blob)))


@test(config=["jmap_tls = no"], fill=False)
def email_parse(srv, res):
    inner = (b"From: Inner <in@example.org>\nSubject: inner subject\n"
             b"Message-ID: <inner@example.org>\nContent-Type: multipart/mixed; boundary=q\n"
             b"\n--q\nContent-Type: text/plain\n\ninner text\n--q\n"
             b"Content-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\n"
             b"AAECAw==\n--q--\n")
    outer = message("outer", multi("mixed", [
        mime("text/plain", "outer text"),
        "Content-Type: message/rfc822\n\n" + inner.decode() + "\n"], "o"))
    acc, ids = deliver_all(srv, res, [outer])
    e = get(srv, acc, [ids["outer"]], ["blobId", "attachments"])[1]["list"][0]
    att = e["attachments"][0]
    res.eq(att["type"], "message/rfc822", "the attached message")
    st, p = api(srv, {"using": USING, "methodCalls": [["Email/parse", {
        "accountId": acc, "blobIds": [att["blobId"], e["blobId"], e["blobId"] + "_1",
                                      "Bffffffffffffffff", "nonsense"],
        "fetchTextBodyValues": True}, "p"]]})
    r = p["methodResponses"][0]
    res.eq(r[0], "Email/parse", "Email/parse answers")
    parsed = r[1]["parsed"]
    ie = parsed.get(att["blobId"], {})
    res.eq((ie.get("subject"), ie.get("messageId"), ie.get("from")),
           ("inner subject", ["inner@example.org"],
            [{"name": "Inner", "email": "in@example.org"}]), "the inner message")
    res.eq([(x["partId"], x["type"]) for x in ie.get("attachments", [])],
           [("2", "application/octet-stream")], "its attachment")
    res.eq(ie.get("bodyValues", {}).get("1", {}).get("value"), "inner text", "its text")
    res.eq(ie.get("hasAttachment"), True, "hasAttachment")
    oe = parsed.get(e["blobId"], {})
    res.eq(oe.get("subject"), "outer", "the whole message as a blob")
    res.eq((oe.get("id"), oe.get("mailboxIds", 0), oe.get("keywords", 0),
            oe.get("receivedAt", 0)), (None, 0, 0, 0), "not in the default properties")
    res.eq(r[1]["notParsable"], [e["blobId"] + "_1"], "a text part is notParsable")
    res.eq(sorted(r[1]["notFound"]), ["Bffffffffffffffff", "nonsense"], "notFound")
    # the inner attachment's blob id downloads its decoded octets
    ib = ie["attachments"][0]["blobId"]
    c = conn(srv)
    rr, data = request(c, "GET", "/jmap/download/%s/%s/x" % (acc, ib), auth=basic())
    res.eq((rr.status, data), (200, b"\x00\x01\x02\x03"), "a part of the attached message")
    st, p = api(srv, {"using": USING, "methodCalls": [["Email/parse", {
        "accountId": acc, "blobIds": [att["blobId"]],
        "properties": ["id", "mailboxIds", "keywords", "receivedAt", "threadId", "size"]},
        "p"]]})
    ie = p["methodResponses"][0][1]["parsed"][att["blobId"]]
    rr, data = request(c, "GET", "/jmap/download/%s/%s/x" % (acc, att["blobId"]),
                       auth=basic())
    res.eq((ie["size"], att["size"]), (len(data), len(data)), "size: what the download gives")
    res.eq((ie["id"], ie["mailboxIds"], ie["keywords"], ie["receivedAt"], ie["threadId"]),
           (None, None, None, None, None), "§4.9: null ids, mailboxIds, keywords, receivedAt")
    st, p = api(srv, {"using": USING, "methodCalls": [["Email/parse", {
        "accountId": acc, "blobIds": "x"}, "p"]]})
    res.eq(p["methodResponses"][0][0], "error", "blobIds not an array")


@test(config=["jmap_tls = no"], fill=False)
def hostile_bodies(srv, res):
    many = message("many-parts", multi("mixed", [mime("text/plain", "p%d" % i)
                                                 for i in range(300)], "m"))
    deep = mime("text/plain", "deep leaf")
    for i in range(40):
        deep = multi("mixed", [deep], "d%d" % i)
    deep = message("deep", deep)
    long_hdr = message("long-header", multi("mixed", [
        mime("text/plain", "x", extra="X-Long: " + "a" * 100000 + "\n"),
        mime("text/html", "<b>y</b>")], "l"))
    acc, ids = deliver_all(srv, res, [many, deep, long_hdr])
    props = ["bodyStructure", "textBody", "attachments", "bodyValues"]
    r = get(srv, acc, [ids["many-parts"]], props, fetchAllBodyValues=True)
    e = r[1]["list"][0]
    res.check(0 < len(e["bodyStructure"]["subParts"]) < 300, "300 parts: bounded")
    res.eq(len(e["textBody"]), len(e["bodyStructure"]["subParts"]), "the walked parts")
    r = get(srv, acc, [ids["deep"]], props, fetchAllBodyValues=True)
    depth, p = 0, r[1]["list"][0]["bodyStructure"]
    while p.get("subParts"):
        depth += 1
        p = p["subParts"][0]
    res.check(0 < depth < 40, "40 levels: bounded (%d shown)" % depth)
    r = get(srv, acc, [ids["long-header"]], props + ["headers"],
            bodyProperties=["partId", "header:X-Long"], fetchAllBodyValues=True)
    e = r[1]["list"][0]
    res.eq(len(e["textBody"][0]["header:X-Long"]), 100001, "a 100 KB header line")
    res.eq(sorted(e["bodyValues"]), ["1", "2"], "and its values")
    still_serving(srv, res)


@test(config=["jmap_tls = no"], fill=False)
def body_values_budget(srv, res):
    # two 6 MB text bodies: the response holds at most 10 MB of values (jmap_body.c),
    # the rest is cut (isTruncated) and the server goes on serving
    big = [message("big%d" % i, mime("text/plain; charset=utf-8",
                                     ("%d" % i) * 6000000)) for i in (1, 2)]
    acc, ids = deliver_all(srv, res, big)
    r = get(srv, acc, [ids["big1"], ids["big2"]], ["bodyValues"], fetchTextBodyValues=True)
    vals = [v for e in r[1]["list"] for v in e["bodyValues"].values()]
    total = sum(len(v["value"]) for v in vals)
    res.check(total <= 10000000, "at most 10 MB of values (%d)" % total)
    res.eq(sorted(v["isTruncated"] for v in vals), [False, True], "one of them cut")
    r = get(srv, acc, [ids["big1"]], ["bodyValues"], fetchTextBodyValues=True,
            maxBodyValueBytes=10)
    res.eq(list(r[1]["list"][0]["bodyValues"].values())[0]["value"], "1" * 10,
           "maxBodyValueBytes on a big part")
    still_serving(srv, res)


@test(config=["jmap_tls = no"], fill=False)
def jam_body(srv, res):
    pdf = b"%PDF-1.4 \x00\x01\xff binary"
    raw = message("jam", multi("mixed", [
        mime("text/plain; charset=utf-8", "hello from jam"),
        mime("application/pdf; name=\"r\xe9sum\xe9.pdf\"".encode("latin-1").decode(
            "latin-1"), base64.encodebytes(pdf).decode(), extra=ATT +
            "Content-Transfer-Encoding: base64\n"),
        "Content-Type: message/rfc822\n\nSubject: attached\nFrom: x@example.org\n\n"
        "inner\n"], "j"))
    acc, ids = deliver_all(srv, res, [raw])
    node = shutil.which("node")
    if node is None:
        raise AssertionError("no node (nodejs) for jmap-jam")
    ensure_jam()
    url = "http://%s:%d/.well-known/jmap" % (bt.HOST, srv.jmap_port)
    r = subprocess.run([node, os.path.join(HERE, "jam_body.mjs"), url, "demo", "demo"],
                        capture_output=True, text=True, timeout=30, cwd=HERE)
    if r.returncode != 0:
        raise AssertionError("jam_body.mjs failed: %s" % r.stderr.strip()[-2000:])
    out = json.loads(r.stdout)
    e = out["emails"][0]
    res.eq(e["bodyValues"][e["textBody"][0]["partId"]]["value"], "hello from jam",
           "jmap-jam reads a body value")
    res.eq([(a["partId"], a["type"]) for a in e["attachments"]],
           [("2", "application/pdf"), ("3", "message/rfc822")], "and the attachments")
    res.eq(base64.b64decode(out["parts"]["2"]["base64"]), pdf, "downloads the decoded part")
    res.eq(out["parts"]["2"]["type"], "application/pdf", "with its type")
    p = list(out["parsed"]["parsed"].values())[0]
    res.eq((p["subject"], p["bodyValues"][p["textBody"][0]["partId"]]["value"]),
           ("attached", "inner"), "parses the attached message")
