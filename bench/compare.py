#!/usr/bin/env python3
"""compare.py — do buzon and Dovecot answer the same? (run by bench/run.sh)

Usage: compare.py PORT_A PORT_B USER PASS [RANGE]

Logs in to both servers (IMAPS on 127.0.0.1, certificate not verified: the benchmark's
self-signed one), EXAMINEs INBOX on each, and compares byte for byte, per sequence
number, the FETCH answers for ENVELOPE, BODYSTRUCTURE, header fields, sizes, dates,
flags and body sections over RANGE (default 1:2000), then the results of a list of
SEARCH criteria over the whole folder. Both servers must hold identical copies of the
same Maildir. Prints one line per check and a summary line
"compare: N checks, M identical"; differences are shown (first 3 per check) but are
not an error: some are legitimate (e.g. how far Unicode case folding goes).
"""
import imaplib
import re
import ssl
import sys

FETCH_ITEMS = [
    "ENVELOPE", "BODYSTRUCTURE", "BODY", "RFC822.SIZE", "INTERNALDATE FLAGS",
    "BODY.PEEK[HEADER.FIELDS (FROM TO SUBJECT DATE MESSAGE-ID)]", "BODY.PEEK[HEADER]",
    "BODY.PEEK[TEXT]<0.2048>", "BODY.PEEK[1] BODY.PEEK[1.MIME]", "BODY.PEEK[2]<100.500>",
    "BODY.PEEK[]",
]
SEARCHES = [
    ("SUBJECT report", None), ("FROM alice", None), ('TO "olivia"', None),
    ("UNSEEN", None), ("FLAGGED", None), ("OR FLAGGED ANSWERED", None),
    ("TEXT zanzibar", None), ('BODY "spring, says"', None),
    ("HEADER Message-ID example.net", None), ("SINCE 1-Jan-2022", None),
    ("LARGER 100000", None), ("BODY", "café"), ("BODY", "CAFÉ"), ("TEXT", "straße"),
    ("BODY", "STRASSE"),
]


def connect(port, user, password):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    m = imaplib.IMAP4_SSL("127.0.0.1", port, ssl_context=ctx)
    m.login(user, password)
    m.select("INBOX", readonly=True)
    return m


def fetch(m, rng, item):
    typ, data = m.fetch(rng, "(%s)" % item)
    if typ != "OK":
        raise RuntimeError("FETCH %s: %s" % (item, typ))
    out, cur = {}, b""
    for d in data:
        if isinstance(d, tuple):
            cur += d[0] + b"{LIT}" + d[1]
            continue
        cur += d
        mm = re.match(rb"(\d+) \(", cur)
        if mm is None:
            continue
        out[int(mm.group(1))] = cur[mm.end():]
        cur = b""
    return out


def search(m, key, val):
    if val is None:
        typ, data = m.uid("SEARCH", None, key)
    else:
        m.literal = val.encode("utf-8")
        typ, data = m.uid("SEARCH", "CHARSET", "UTF-8", key)
    return typ, (data[0].split() if typ == "OK" else data)


def main():
    if len(sys.argv) not in (5, 6):
        sys.exit(__doc__.split("\n\n")[1])
    pa, pb, user, password = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
    rng = sys.argv[5] if len(sys.argv) == 6 else "1:2000"
    a, b = connect(pa, user, password), connect(pb, user, password)
    checks = same = 0
    for item in FETCH_ITEMS:
        fa, fb = fetch(a, rng, item), fetch(b, rng, item)
        diff = [n for n in sorted(set(fa) | set(fb)) if fa.get(n) != fb.get(n)]
        checks += 1
        same += not diff
        print("compare: FETCH %s (%s): %d messages, %d different" %
              (item, rng, len(fa), len(diff)))
        for n in diff[:3]:
            print("  %d A: %r" % (n, fa.get(n, b"")[:400]))
            print("  %d B: %r" % (n, fb.get(n, b"")[:400]))
    for key, val in SEARCHES:
        ra, rb = search(a, key, val), search(b, key, val)
        checks += 1
        same += ra == rb
        label = key + ("" if val is None else " " + val)
        print("compare: SEARCH %-30s A %s, B %s%s" % (
            label, len(ra[1]) if ra[0] == "OK" else ra, len(rb[1]) if rb[0] == "OK" else rb,
            "" if ra == rb else "  DIFFERENT"))
    a.logout()
    b.logout()
    print("compare: %d checks, %d identical" % (checks, same))


if __name__ == "__main__":
    main()
