#!/usr/bin/env python3
"""SORT (RFC 5256, RFC 5957 SORT=DISPLAY) against a reference written here, independently
of buzon's code, over generated folders.

Each round generates a Maildir INBOX of random messages: subjects built from reply and
forward leaders ("Re:", "FWD[2]:", "[list]" blobs, "(fwd)" trailers, "[fwd: ...]"
wrappers) around words with accents and case differences, some as RFC 2047 encoded
words; From/To/Cc with and without display names (plain, quoted, encoded), groups,
missing fields; Date headers in several zones, missing or broken; sizes and arrival
times at random.  `buzon imap` serves it over stdin/stdout (imaplib.IMAP4_stream), and
for every sort criterion list below the answer of UID SORT (and SORT with a search key)
must equal the reference's order, and so must the ESORT (RFC 5267) answer to
UID SORT RETURN (MIN MAX COUNT ALL) and the slices PARTIAL (RFC 9394) gives of it and
of a UID SEARCH result. Then a few UID SORT and UID SEARCH RETURN (UPDATE ALL) UNSEEN
(RFC 5267 contexts) follow STORE, APPEND and EXPUNGE: their ADDTO/REMOVEFROM updates,
applied in order, must give what sorting afresh gives.

  base subject  RFC 5256 §2.1 steps (1)-(6), written from the RFC's text
  comparator    i;unicode-casemap as NFKD(casefold(text)) compared by code point
                (generated text avoids the few letters where utf8proc and Python differ)
  addresses     email.utils.getaddresses: the first address with a mailbox
  sent date     email.utils.parsedate_tz in UTC, else the arrival time
  ties          mailbox order

and UID THREAD REFS (draft-ietf-morg-inthread-01), REFERENCES and ORDEREDSUBJECT
(RFC 5256 §4), over Message-ID, References and In-Reply-To fields that form chains,
branches, loops, duplicates and missing parents, must equal the reference's threads:

  links         RFC 5256 §4 REFERENCES step (1) (References, else the first ID of
                In-Reply-To; no loops), written from the RFC's text
  dummies       step (4): replaced by their children, a root one only when it has one
  subjects      not used (REFS gathers nothing by subject)
  dates         siblings by sent date as for SORT (ties: mailbox order), threads by the
                most recent arrival time (INTERNALDATE) in each (ties: as siblings)
  REFERENCES    the same links, then step (5) (roots of the same base subject gathered:
                the table's rules (B) and merges (C)-(H)) over the roots in the order of
                step (6) (the RFC leaves it open; a dummy's subject is its earliest
                child's), then (6): threads by the sent date of their first message
  ORDEREDSUBJECT  by base subject then sent date; the first of each subject the root,
                the others its children; threads by their first message's sent date

Stdlib only.  Prints one line per check and "N passed, M failed".
"""

import argparse
import email.header
import email.utils
import imaplib
import os
import random
import re
import shutil
import sys
import tempfile
import time
import unicodedata

WORDS = ["apples", "Apples", "ápples", "Bananas", "cherries", "Cherries", "Meeting",
         "meeting", "Peña", "peña", "zebra", "Zoë", "über", "Uber", "report", "Résumé",
         "resume", "ñandú", "Ñandu", "x"]
LEADERS = ["Re: ", "RE: ", "re:", "Fwd: ", "FW: ", "fwd : ", "Re[2]: ", "Re [3] : ",
           "[list] ", "[a][b] ", "[list] Re: ", "  "]
NAMES = ["Zed", "alice", "Álvaro", "bob", "Bob", "Ñoño", "carol", "Dave", "ève", "Eve"]
LOCALS = ["alice", "ALICE", "bob", "carol", "dave", "eve", "zed", "álvaro", "anna", "Anna"]
ZONES = ["+0000", "-0500", "+0100", "+0530", "-0800", "+1200"]


def encode_word(text):
    # folded like a mail client does it, with CRLF
    return email.header.Header(text, "utf-8").encode(linesep="\r\n")


def gen_subject(rng):
    core = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 3)))
    s = core
    for _ in range(rng.randint(0, 3)):
        s = rng.choice(LEADERS) + s
    if rng.random() < 0.15:
        s = s + rng.choice([" (fwd)", " (FWD)", "  "])
    if rng.random() < 0.15:
        s = "[fwd: " + s + "]"
    if rng.random() < 0.2:
        s = encode_word(s)
    return s


def gen_addr(rng):
    local = rng.choice(LOCALS)
    if not local.isascii():
        local = "x" + str(rng.randint(0, 9))     # no 8-bit local parts
    addr = "%s@%s" % (local, rng.choice(["x.org", "y.org"]))
    r = rng.random()
    if r < 0.3:
        return addr
    name = rng.choice(NAMES)
    if r < 0.5:
        return '"%s" <%s>' % (encode_word(name) if not name.isascii() else name, addr)
    if r < 0.7 and name.isascii():
        return "%s <%s>" % (name, addr)
    return "%s <%s>" % (encode_word(name), addr)


def gen_addr_list(rng):
    r = rng.random()
    if r < 0.1:
        return None
    if r < 0.15:
        return "undisclosed-recipients:;"
    return ", ".join(gen_addr(rng) for _ in range(rng.randint(1, 3)))


def gen_date(rng):
    r = rng.random()
    if r < 0.1:
        return None
    if r < 0.15:
        return "not a date"
    t = 1700000000 + rng.randint(0, 90 * 86400)
    zone = rng.choice(ZONES)
    sign = 1 if zone[0] == "+" else -1
    off = sign * (int(zone[1:3]) * 3600 + int(zone[3:5]) * 60)
    return email.utils.formatdate(t + off, localtime=False).replace("-0000", zone)


def gen_thread_fields(rng, i, n):
    """Message-ID, References, In-Reply-To of message i: IDs of earlier and later
    messages (loops), of no message, duplicated; some fields absent."""
    def some_id():
        r = rng.random()
        if r < 0.1:
            return "<gone%d@t>" % rng.randint(0, 20)
        if r < 0.8 and i > 0:
            return "<m%d@t>" % rng.randint(max(0, i - 30), i - 1)
        return "<m%d@t>" % rng.randint(0, n - 1)
    hdrs = []
    if rng.random() < 0.9:
        # a few duplicates
        hdrs.append("Message-ID: <m%d@t>" % (i if rng.random() < 0.97 else
                                             rng.randint(0, n - 1)))
    r = rng.random()
    if r < 0.55:
        ids = [some_id() for _ in range(rng.randint(1, 5))]
        hdrs.append("References: " + "\r\n ".join(ids) if rng.random() < 0.3 else
                    "References: " + " ".join(ids))
    if rng.random() < 0.3:
        hdrs.append("In-Reply-To: %s%s" % (some_id(), rng.choice(["", " (x)", " <a b>"])))
    return hdrs


def gen_message(rng):
    hdrs = []
    for name, val in (("Date", gen_date(rng)), ("From", gen_addr_list(rng)),
                      ("To", gen_addr_list(rng)), ("Cc", gen_addr_list(rng)),
                      ("Subject", gen_subject(rng))):
        if val is not None and (name == "Subject" or rng.random() < 0.95):
            hdrs.append("%s: %s" % (name, val))
    body = "body line\r\n" * rng.randint(0, 40)
    return ("\r\n".join(hdrs) + "\r\n\r\n" + body).encode()


# ------------------------------------------------------------------ the reference

MSGID_RE = re.compile(r"<[^<> \t\r\n]+>")


class TNode:
    __slots__ = ("msg", "parent", "children", "date", "order", "latest")

    def __init__(self, msg=None):
        self.msg, self.parent, self.children = msg, None, []


def refs_threads(msgs, alg="REFS", subjects=None):
    """THREAD REFS (or REFERENCES) of msgs: [(id, arrival, sent date, fields)] in
    mailbox order, fields the lower-cased header dict; for REFERENCES subjects maps an id
    to its (folded base subject, reply or forward). Returns the thread-list text."""
    by_id, nodes = {}, []

    def node(msg=None):
        x = TNode(msg)
        nodes.append(x)
        return x

    def container(mid):
        if mid not in by_id:
            by_id[mid] = node()
        return by_id[mid]

    def ancestor(a, b):
        while b is not None:
            if b is a:
                return True
            b = b.parent
        return False

    def link(p, c):
        c.parent = p
        p.children.append(c)

    for order, (ident, arrival, sent, hdr) in enumerate(msgs):
        refs = MSGID_RE.findall(hdr.get("references", ""))
        if not refs:
            refs = MSGID_RE.findall(hdr.get("in-reply-to", ""))[:1]
        prev = None
        for r in refs:
            cur = container(r)
            if (prev is not None and cur.parent is None and cur is not prev and
                    not ancestor(cur, prev)):
                link(prev, cur)
            prev = cur
        own = MSGID_RE.findall(hdr.get("message-id", ""))[:1]
        me = container(own[0]) if own else None
        if me is None or me.msg is not None:
            me = node()
        me.msg = (ident, arrival, order, sent)
        if me.parent is not None:
            me.parent.children.remove(me)
            me.parent = None
        if prev is not None and prev is not me and not ancestor(me, prev):
            link(prev, me)

    def pruned(x):
        # x's children, non-root dummies replaced by their (pruned) children
        out = []
        for c in x.children:
            c.children = pruned(c)
            out.extend(c.children if c.msg is None else [c])
        return out

    roots = []
    for x in nodes:
        if x.parent is not None:
            continue
        x.children = pruned(x)
        if x.msg is None and not x.children:
            continue
        roots.append(x.children[0] if x.msg is None and len(x.children) == 1 else x)

    def finish(x):
        for c in x.children:
            finish(c)
        x.children.sort(key=lambda c: (c.date, c.order))
        if x.msg is not None:
            x.date, x.order = x.msg[3], x.msg[2]
        else:
            x.date, x.order = x.children[0].date, x.children[0].order
        x.latest = max([x.msg[1] if x.msg is not None else 0] +
                       [c.latest for c in x.children])

    for x in roots:
        finish(x)
    if alg == "REFS":
        roots.sort(key=lambda x: (x.latest, x.date, x.order))
    else:
        # RFC 5256 leaves the order of step (5) open: as buzon and Dovecot, the roots
        # in the order of step (6), a dummy's "first child" its earliest one
        roots.sort(key=lambda x: (x.date, x.order))
        roots = gather_subjects(roots, subjects, node)
        for x in roots:
            finish(x)
        roots.sort(key=lambda x: (x.date, x.order))

    def chain(x):
        out = []
        while True:
            if x.msg is not None:
                out.append(str(x.msg[0]))
            if len(x.children) == 1:
                x = x.children[0]
                continue
            if x.children:
                out.append("".join("(" + chain(c) + ")" for c in x.children))
            return " ".join(out)
    return "".join("(" + chain(x) + ")" for x in roots)


def base_subject(raw):
    """RFC 5256 §2.1, step by step, on the decoded, whitespace-normalised subject."""
    parts = []
    for text, charset in email.header.decode_header(raw):
        if isinstance(text, bytes):
            text = text.decode(charset or "utf-8", "replace")
        parts.append(text)
    s = "".join(parts) if any(isinstance(p, str) for p in parts) else raw
    s = re.sub(r"[\x00-\x1f\x7f]", " ", s)
    s = re.sub(" +", " ", s)
    blob = r"\[[^\[\]]*\] *"
    refwd = r"(?:re|fwd?) *(?:" + blob + r")?:"
    reply = False
    while True:
        # (2) trailers
        while True:
            if s.endswith(" "):
                s = s[:-1]
            elif s.lower().endswith("(fwd)"):
                s = s[:-5]
                reply = True
            else:
                break
        # (3)-(5)
        while True:
            m = re.match(r" *(?:" + blob + r")*" + refwd, s, re.I)
            if m:
                s = s[m.end():]
                reply = True
                continue
            s = s.lstrip(" ")
            m = re.match(blob, s)
            if m and s[m.end():] != "":
                s = s[m.end():]
                continue
            break
        # (6)
        if s.lower().startswith("[fwd:") and s.endswith("]") and len(s) >= 6:
            s = s[5:-1]
            reply = True
            continue
        break
    return s.lstrip(" "), reply


def fold(text):
    return unicodedata.normalize("NFKD", text.casefold())


def decode_name(name):
    out = []
    for text, charset in email.header.decode_header(name):
        out.append(text.decode(charset or "utf-8", "replace") if isinstance(text, bytes)
                   else text)
    return "".join(out)


def first_address(value):
    if value is None:
        return None
    for name, addr in email.utils.getaddresses([value]):
        if "@" in addr:
            return name, addr
    return None


def gather_subjects(roots, subjects, node):
    """RFC 5256 §4 REFERENCES step (5), from the RFC's text: roots of the same base
    subject are put together. subjects: id -> (base subject, reply or forward)."""
    def subj(x):
        m = x.msg if x.msg is not None else (x.children[0].msg if x.children else None)
        return subjects[m[0]] if m is not None else ("", False)

    def link(p, c):
        c.parent = p
        p.children.append(c)

    table = {}
    for x in roots:				# (B)
        s, reply = subj(x)
        if s == "":
            continue
        cur = table.get(s)
        if cur is None:
            table[s] = x
        elif cur.msg is not None and (x.msg is None or
                                      (subjects[cur.msg[0]][1] and not reply)):
            table[s] = x
    final = list(roots)
    gone = set()
    for x in roots:				# (C)
        s, reply = subj(x)
        keep = table.get(s) if s != "" else None
        if keep is None or keep is x:
            continue
        gone.add(id(x))
        if keep.msg is None and x.msg is None:		# (E)
            for c in x.children:
                link(keep, c)
            x.children = []
        elif keep.msg is None:				# (F)
            link(keep, x)
        elif reply and not subjects[keep.msg[0]][1]:	# (G)
            link(keep, x)
        else:						# (H)
            d = node()
            final[final.index(keep)] = d
            link(d, keep)
            link(d, x)
            table[s] = d
    return [x for x in final if id(x) not in gone]


def thread_diff(got, want):
    """Where two thread lists first differ, with some context."""
    i = next((k for k in range(min(len(got), len(want))) if got[k] != want[k]),
             min(len(got), len(want)))
    lo = max(0, i - 60)
    return "first difference at %d: got ...%s...\n  want ...%s..." % (
        i, got[lo:i + 100], want[lo:i + 100])


def ordered_subject_threads(msgs, subjects):
    """THREAD ORDEREDSUBJECT (RFC 5256 §4), from the RFC's text: by base subject, then
    sent date (ties: mailbox order); each subject a thread whose first message is the
    root and the others its children; threads by the sent date of their first."""
    groups = {}
    for order, (ident, arrival, sent, hdr) in enumerate(msgs):
        groups.setdefault(subjects[ident][0], []).append((sent, order, ident))
    threads = []
    for g in groups.values():
        g.sort()
        threads.append(g)
    threads.sort(key=lambda g: (g[0][0], g[0][1]))
    out = []
    for g in threads:
        ids = [str(x[2]) for x in g]
        if len(ids) == 1:
            out.append("(%s)" % ids[0])
        elif len(ids) == 2:
            out.append("(%s %s)" % (ids[0], ids[1]))
        else:
            out.append("(%s %s)" % (ids[0], "".join("(%s)" % i for i in ids[1:])))
    return "".join(out)


def header_fields(msg):
    hdr = {}
    head = msg.split(b"\r\n\r\n", 1)[0].decode()
    for line in re.sub(r"\r?\n[ \t]", " ", head).split("\r\n"):
        k, _, v = line.partition(": ")
        hdr.setdefault(k.lower(), v)
    return hdr


def keys_of(msg, arrival, size):
    hdr = {}
    head = msg.split(b"\r\n\r\n", 1)[0].decode()
    for line in re.sub(r"\r?\n[ \t]", " ", head).split("\r\n"):
        k, _, v = line.partition(": ")
        hdr.setdefault(k.lower(), v)
    date = arrival
    if "date" in hdr:
        tt = email.utils.parsedate_tz(hdr["date"])
        if tt is not None:
            date = email.utils.mktime_tz(tt)
    base, reply = base_subject(hdr.get("subject", ""))
    k = {"ARRIVAL": arrival, "SIZE": size, "DATE": date, "SUBJECT": fold(base),
         "REPLY": reply}
    for key, field in (("FROM", "from"), ("TO", "to"), ("CC", "cc")):
        a = first_address(hdr.get(field))
        k[key] = fold(a[1].split("@")[0]) if a else ""
        if key != "CC":
            if a is None:
                k["DISPLAY" + key] = ""
            elif a[0]:
                k["DISPLAY" + key] = fold(decode_name(a[0]))
            else:
                k["DISPLAY" + key] = fold(a[1])
    return k


def reference_sort(items, criteria):
    """items: list of (seq, uid, keys); criteria: [(key, reverse)]."""
    import functools

    def cmp(x, y):
        for key, rev in criteria:
            a, b = x[2][key], y[2][key]
            r = (a > b) - (a < b)
            if r:
                return -r if rev else r
        return x[0] - y[0]
    return sorted(items, key=functools.cmp_to_key(cmp))


CRITERIA = ["DATE", "REVERSE DATE", "ARRIVAL", "REVERSE ARRIVAL", "SIZE", "SUBJECT",
            "REVERSE SUBJECT", "FROM", "TO", "CC", "DISPLAYFROM", "DISPLAYTO",
            "SUBJECT DATE", "REVERSE SUBJECT REVERSE ARRIVAL", "FROM SUBJECT SIZE",
            "CC REVERSE DISPLAYTO DATE"]


def parse_criteria(text):
    out, rev = [], False
    for w in text.split():
        if w == "REVERSE":
            rev = True
        else:
            out.append((w, rev))
            rev = False
    return out


def expand_set(text):
    """An ESEARCH sequence-set in its written order ("3:4,2" -> 3 4 2); "a:b" with a > b
    counts down."""
    out = []
    if text in ("", "NIL"):
        return out
    for part in text.split(","):
        if ":" in part:
            a, b = (int(x) for x in part.split(":"))
            out.extend(str(x) for x in (range(a, b + 1) if a <= b else range(a, b - 1, -1)))
        else:
            out.append(str(int(part)))
    return out


def partial_slice(lst, first, last):
    """RFC 9394: the results at positions first..last (1-based, negative from the end)."""
    lo, hi = sorted((abs(first), abs(last)))
    if first > 0:
        return lst[lo - 1:hi]
    n = len(lst)
    return lst[max(n - hi, 0):max(n - lo + 1, 0)]


def esearch(imap, *cmd):
    """Send UID cmd, return {item: value} of its ESEARCH response (None on failure)."""
    imap.untagged_responses.pop("ESEARCH", None)
    typ, _ = imap.uid(*cmd)
    data = imap.untagged_responses.pop("ESEARCH", [])
    if typ != "OK" or len(data) != 1:
        return None
    line = data[0].decode() if isinstance(data[0], bytes) else data[0]
    m = re.match(r'\(TAG "[^"]*"\) UID ?(.*)$', line)
    if not m:
        return None
    out, rest = {}, m.group(1)
    pm = re.search(r"PARTIAL \((\S+) (\S+)\)", rest)
    if pm:
        out["PARTIAL"] = (pm.group(1), pm.group(2))
        rest = rest[:pm.start()] + rest[pm.end():]
    words = rest.split()
    for i in range(0, len(words) - 1, 2):
        out[words[i]] = words[i + 1]
    return out


PARTIALS = [(1, 50), (51, 100), (100, 51), (-1, -37), (-38, -80), (390, 410), (-500, -390),
            (1000, 2000), (-2000, -1000), (7, 7)]


UPDATE_CRITERIA = ["REVERSE DATE", "SUBJECT DATE", "FROM SUBJECT SIZE", "REVERSE ARRIVAL"]


def take_esearch(imap, models):
    """Apply the ADDTO/REMOVEFROM updates (RFC 5267 §4.3) of the contexts in models
    ({tag: list}, SORT order or, for tag "S", ascending) that arrived so far, in their
    order; returns the list of problems (a REMOVEFROM at a position that does not hold
    its id, an unknown tag)."""
    problems = []
    for raw in imap.untagged_responses.pop("ESEARCH", []):
        line = raw.decode() if isinstance(raw, bytes) else raw
        m = re.match(r'\(TAG "([^"]*)"\) UID (.*)$', line)
        if not m or m.group(1) not in models:
            continue
        model = models[m.group(1)]
        for op, body in re.findall(r"(ADDTO|REMOVEFROM) \(([^)]*)\)", m.group(2)):
            w = body.split()
            for i in range(0, len(w) - 1, 2):
                pos, ids = int(w[i]), [int(x) for x in expand_set(w[i + 1])]
                ids.sort()      # RFC 5267 §3.2: a range stands for its ids ascending
                for k, uid in enumerate(ids):
                    if op == "ADDTO" and pos == 0:
                        model.append(uid)
                        model.sort()
                    elif op == "ADDTO":
                        model.insert(pos - 1 + k, uid)
                    elif pos == 0 and uid in model:
                        model.remove(uid)
                    elif pos > 0 and pos <= len(model) and model[pos - 1] == uid:
                        del model[pos - 1]
                    else:
                        problems.append("%s REMOVEFROM (%d %d) not there" %
                                        (m.group(1), pos, uid))
    return problems


def update_round(imap, rng, seed, n, connect):
    """RFC 5267 CONTEXT=SORT/SEARCH: results kept with RETURN (UPDATE) and changed by
    flag changes, APPENDs and EXPUNGEs of this session, and by a batch of another
    session's changes (in and out at once), must stay, as the client applies the
    ADDTO/REMOVEFROM updates, what sorting (searching) afresh gives."""
    results, models, crit_of = [], {}, {}

    def fresh(crit):
        if crit is None:
            typ, data = imap.uid("SEARCH", "UNSEEN")
        else:
            typ, data = imap.uid("SORT", "(%s)" % crit, "UTF-8", "UNSEEN")
        return [int(x) for x in data[0].split()] if typ == "OK" and data[0] else []

    for crit in UPDATE_CRITERIA + [None]:
        imap.untagged_responses.pop("ESEARCH", None)
        if crit is None:
            typ, _ = imap.uid("SEARCH", "RETURN", "(UPDATE ALL)", "UNSEEN")
        else:
            typ, _ = imap.uid("SORT", "RETURN", "(UPDATE ALL)", "(%s)" % crit, "UTF-8",
                              "UNSEEN")
        data = imap.untagged_responses.pop("ESEARCH", [])
        line = data[0].decode() if data else ""
        m = re.match(r'\(TAG "([^"]*)"\) UID(?: ALL (\S+))?$', line)
        if typ != "OK" or not m:
            results.append(("FAIL", "seed%d-update-start" % seed, "got %r" % line))
            return results
        models[m.group(1)] = [int(x) for x in expand_set(m.group(2) or "")]
        crit_of[m.group(1)] = crit
    uids = list(range(1, n + 1))
    for step in range(7):
        if step == 0:
            for u in rng.sample(uids, min(25, len(uids))):
                imap.uid("STORE", str(u), "+FLAGS", "(\\Seen)")
        elif step == 3:
            imap.uid("STORE", ",".join(str(u) for u in rng.sample(uids, 40)), "+FLAGS",
                     "(\\Seen)")
        elif step == 6:
            # another session: some out, some in, some gone; seen here at one NOOP
            other = connect()
            other.select("INBOX")
            pick = rng.sample(uids, 60)
            other.uid("STORE", ",".join(str(u) for u in pick[:20]), "+FLAGS", "(\\Seen)")
            other.uid("STORE", ",".join(str(u) for u in pick[20:50]), "-FLAGS",
                      "(\\Seen)")
            other.uid("STORE", ",".join(str(u) for u in pick[50:]), "+FLAGS",
                      "(\\Deleted)")
            other.expunge()
            other.logout()
            uids = [u for u in uids if u not in pick[50:]]
            time.sleep(0.3)
            imap.noop()
        elif step == 1:
            imap.uid("STORE", ",".join(str(u) for u in rng.sample(uids, 30)), "-FLAGS",
                     "(\\Seen)")
        elif step == 2:
            for _ in range(4):
                typ, data = imap.append("INBOX", None, imaplib.Time2Internaldate(
                    1700000000 + rng.randint(0, 90 * 86400)), gen_message(rng))
                um = re.search(rb"APPENDUID \d+ (\d+)", data[0] or b"")
                if um:
                    uids.append(int(um.group(1)))
        else:
            gone = rng.sample(uids, 12)
            imap.uid("STORE", ",".join(str(u) for u in gone), "+FLAGS", "(\\Deleted)")
            imap.expunge()
            uids = [u for u in uids if u not in gone]
        problems = take_esearch(imap, models)
        for tag, model in models.items():
            # updates that come with the command that sorts afresh (the session saw a
            # change only then) were not in its answer: ask again
            for _ in range(3):
                want = fresh(crit_of[tag])
                if not imap.untagged_responses.get("ESEARCH"):
                    break
                problems += take_esearch(imap, models)
            if model != want:
                diff = next(i for i in range(min(len(model), len(want)) + 1)
                            if i >= len(model) or i >= len(want) or model[i] != want[i])
                problems.append("%s (%s) differs at %d: updated %s, afresh %s" % (
                    tag, crit_of[tag], diff, model[diff:diff + 4], want[diff:diff + 4]))
        results.append(("FAIL" if problems else "PASS", "seed%d-update-step%d" % (seed, step),
                        "; ".join(problems)[:400]))
    return results


def run_round(args, seed, n):
    rng = random.Random(seed)
    tmp = tempfile.mkdtemp(prefix="buzon-sort-")
    results = []
    try:
        md = os.path.join(tmp, "mail", "tester")
        for d in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(md, d))
        items = []
        for i in range(n):
            data = gen_message(rng)
            data = "".join(h + "\r\n" for h in gen_thread_fields(rng, i, n)).encode() + data
            arrival = 1700000000 + rng.randint(0, 90 * 86400)
            name = "%d.M%dP1.gen,S=%d:2," % (1700000000 + i, i, len(data))
            path = os.path.join(md, "cur", name)
            with open(path, "wb") as f:
                f.write(data)
            os.utime(path, (arrival, arrival))
            # RFC822.SIZE: with every line end as CRLF
            items.append((data, arrival, len(data.replace(b"\r\n", b"\n").replace(
                b"\n", b"\r\n"))))
        uid = 65534 if os.getuid() == 0 else os.getuid()
        gid = 65534 if os.getuid() == 0 else os.getgid()
        os.chmod(tmp, 0o755)
        with open(os.path.join(tmp, "passwd"), "w") as f:
            f.write("tester:{PLAIN}secret:%d:%d::%s/home::\n" % (uid, gid, tmp))
        conf = os.path.join(tmp, "buzon.conf")
        with open(conf, "w") as f:
            f.write("mail_location = maildir:%s/mail/%%u\n" % tmp)
            f.write("passwd_file = %s/passwd\n" % tmp)
            f.write("base_dir = %s/run\n" % tmp)
            f.write("first_valid_uid = %d\n" % min(uid, 500))
        if os.getuid() == 0:
            for root, dirs, files in os.walk(os.path.join(tmp, "mail")):
                os.chown(root, uid, gid)
                for x in files:
                    os.chown(os.path.join(root, x), uid, gid)
        imap = imaplib.IMAP4_stream("%s imap -c %s -u tester" % (args.buzon, conf))
        try:
            typ, _ = imap.select("INBOX")
            assert typ == "OK"
            # UIDs follow the file names (1..n); sequence numbers too
            ref_items = [(i + 1, i + 1, keys_of(d, a, s)) for i, (d, a, s) in
                         enumerate(items)]
            for crit in CRITERIA:
                name = "seed%d-%s" % (seed, crit.replace(" ", "-").lower())
                want = [str(x[1]) for x in reference_sort(ref_items, parse_criteria(crit))]
                typ, data = imap.uid("SORT", "(%s)" % crit, "UTF-8", "ALL")
                got = data[0].decode().split() if typ == "OK" and data[0] else []
                if got == want:
                    results.append(("PASS", name, ""))
                else:
                    diff = next(i for i in range(min(len(got), len(want)) + 1)
                                if i >= len(got) or i >= len(want) or got[i] != want[i])
                    detail = ""
                    if diff < len(got) and diff < len(want):
                        typ, fd = imap.uid("FETCH", "%s,%s" % (got[diff], want[diff]),
                                           "(RFC822.SIZE INTERNALDATE)")
                        detail = "; server: %s; reference keys: %s / %s" % (
                            [x.decode() if isinstance(x, bytes) else x for x in fd],
                            ref_items[int(got[diff]) - 1][2],
                            ref_items[int(want[diff]) - 1][2])
                    results.append(("FAIL", name, "first difference at %d: got %s, want %s%s"
                                    % (diff, got[diff:diff + 5], want[diff:diff + 5],
                                       detail)))
            # ESORT (RFC 5267 §3): RETURN (ALL) is SORT's order, MIN/MAX its ends;
            # PARTIAL (RFC 9394) gives the slices of it
            for crit in CRITERIA[:6] + CRITERIA[12:]:
                name = "seed%d-esort-%s" % (seed, crit.replace(" ", "-").lower())
                want = [str(x[1]) for x in reference_sort(ref_items, parse_criteria(crit))]
                r = esearch(imap, "SORT", "RETURN", "(MIN MAX COUNT ALL)", "(%s)" % crit,
                            "UTF-8", "ALL")
                ok = (r is not None and expand_set(r.get("ALL", "")) == want and
                      r.get("COUNT") == str(len(want)) and
                      (not want or (r.get("MIN") == want[0] and r.get("MAX") == want[-1])))
                results.append(("PASS" if ok else "FAIL", name, "" if ok else
                                "got %s" % (str(r)[:200],)))
                for first, last in PARTIALS:
                    pname = "%s-partial-%d:%d" % (name, first, last)
                    pw = partial_slice(want, first, last)
                    r = esearch(imap, "SORT", "RETURN", "(PARTIAL %d:%d)" % (first, last),
                                "(%s)" % crit, "UTF-8", "ALL")
                    ok = (r is not None and r.get("PARTIAL", (None,))[0] ==
                          "%d:%d" % (first, last) and
                          expand_set(r["PARTIAL"][1]) == pw)
                    results.append(("PASS" if ok else "FAIL", pname, "" if ok else
                                    "got %s want %s" % (str(r)[:200], pw[:8])))
            # PARTIAL with SEARCH: slices of the ascending result
            sel = [str(x[1]) for x in ref_items if x[0] % 3 != 0]
            seqs = ",".join(str(x[0]) for x in ref_items if x[0] % 3 != 0) or "1"
            for first, last in PARTIALS:
                pname = "seed%d-search-partial-%d:%d" % (seed, first, last)
                pw = partial_slice(sel, first, last)
                r = esearch(imap, "SEARCH", "RETURN", "(COUNT PARTIAL %d:%d)" % (first, last),
                            seqs)
                ok = (r is not None and r.get("COUNT") == str(len(sel)) and
                      expand_set(r.get("PARTIAL", ("", ""))[1]) == pw)
                results.append(("PASS" if ok else "FAIL", pname, "" if ok else
                                "got %s want %s" % (str(r)[:200], pw[:8])))
            # THREAD REFS: all messages, and those a search key selects
            tmsgs = [(i + 1, a, ref_items[i][2]["DATE"], header_fields(d))
                     for i, (d, a, s) in enumerate(items)]
            for name, sel, key in (("all", tmsgs, "ALL"),
                                   ("subset", [x for x in tmsgs if x[0] % 4 != 1],
                                    "NOT " + (",".join(str(x[0]) for x in tmsgs
                                                       if x[0] % 4 == 1) or "1:*"))):
                subjects = {x[0]: (ref_items[x[0] - 1][2]["SUBJECT"],
                                   ref_items[x[0] - 1][2]["REPLY"]) for x in sel}
                for alg in ("REFS", "REFERENCES", "ORDEREDSUBJECT"):
                    if alg == "ORDEREDSUBJECT":
                        want = ordered_subject_threads(sel, subjects)
                    else:
                        want = refs_threads(sel, alg, subjects)
                    typ, data = imap.uid("THREAD", alg, "UTF-8", *key.split(" "))
                    got = data[0].decode() if typ == "OK" and data and data[0] else ""
                    results.append(("PASS" if got == want else "FAIL",
                                    "seed%d-thread-%s-%s" % (seed, alg.lower(), name),
                                    "" if got == want else thread_diff(got, want)))
            # with a search key: only the hits, in the same order
            crit = "SUBJECT"
            sel = [x for x in ref_items if x[0] % 3 != 0]
            want = [str(x[1]) for x in reference_sort(sel, parse_criteria(crit))]
            seqs = ",".join(str(x[0]) for x in sel) or "1"
            typ, data = imap.sort("(%s)" % crit, "UTF-8", seqs)
            got = data[0].decode().split() if typ == "OK" and data[0] else []
            results.append(("PASS" if got == want else "FAIL",
                            "seed%d-subject-subset" % seed, "" if got == want else
                            "got %s want %s" % (got[:8], want[:8])))
            results.extend(update_round(imap, rng, seed, n, lambda: imaplib.IMAP4_stream(
                "%s imap -c %s -u tester" % (args.buzon, conf))))
            imap.logout()
        finally:
            try:
                imap.shutdown()
            except Exception:
                pass
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return results


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--buzon", default="build/buzon")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--messages", type=int, default=400)
    ap.add_argument("--seed", type=int, default=20261206)
    args = ap.parse_args()
    passed = failed = 0
    for r in range(args.rounds):
        for status, name, msg in run_round(args, args.seed + r, args.messages):
            print("%s %s%s" % (status, name, (": " + msg) if msg else ""))
            if status == "PASS":
                passed += 1
            else:
                failed += 1
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
