#!/usr/bin/env python3
"""tests/index/run.py — the persistent per-user index (docs/formats.md, "Index (LMDB)")
seen from outside: a real server on 127.0.0.1 (tests/lib/buzontest.py picks free ports).

  I-01  deliver N messages, set flags, LOGOUT, wait for the mail process to exit (it
        leaves 10 s after its last client), SELECT again: same UIDVALIDITY, UIDs, flags,
        and the same SEARCH SUBJECT answer; buzon.index exists, 0600; after one more
        restart SEARCH SUBJECT gives the same answer with every message file unreadable
        (the header fields come from the index)
  I-02  the index file is overwritten with garbage (and then truncated) between two mail
        processes: SELECT still gives the same UIDs and flags, the error is logged
  I-03  the mail process is killed (SIGKILL, no snapshot) after flag changes: the next
        one shows the flags found on disk
  I-04  `buzon index check USER` exits 0 when the index matches and 1 after a message
        was removed behind the server's back; `buzon index rebuild USER` exits 0 and
        check is 0 again; rebuild of a missing folder exits 64
  I-05  FETCH 1:* (ENVELOPE BODY BODYSTRUCTURE PREVIEW) after a mail-process restart
        answers byte for byte as before without reading a message file: every file is
        replaced by other bytes under the same name and made unreadable, yet the answer
        is the same (the rendered items come from the index), and PREVIEW (LAZY) is not
        NIL; a message delivered after the restart is rendered from its file

Prints "PASS id name", "FAIL id name: why" per case, then "N passed, M failed".
Usage: run.py [--buzon PATH] [ID...]
"""
import argparse
import os
import re
import signal
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "lib"))
import buzontest  # noqa: E402

BUZON = None
N = 200


class Fail(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Fail(what)


def proc_args(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().split(b"\0")
    except OSError:
        return []


def mail_pids(srv):
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
        except OSError:
            continue
        fields = st[st.rindex(")") + 2:].split()
        if int(fields[1]) != srv.proc.pid or fields[0] == "Z":
            continue
        a = proc_args(int(d))
        for i, x in enumerate(a[:-1]):
            if x == b"--role" and a[i + 1] == b"mail":
                out.append(int(d))
    return out


def wait_no_mail(srv, timeout=8):
    """The mail process exits mail_idle_exit (1 s here) after its last session ends."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if not mail_pids(srv):
            return
        time.sleep(0.2)
    raise Fail("the mail process did not exit within %d s" % timeout)


def msg(i):
    return ("From: a%d@example.org\r\nTo: demo@example.org\r\nSubject: note %d %s\r\n"
            "Message-ID: <%d@example.org>\r\n\r\nbody %d\r\n" %
            (i, i, "blue" if i % 7 == 0 else "red", i, i)).encode()


def state(srv):
    """(uidvalidity, [(uid, flags)], search-subject-blue uids) over a fresh session."""
    m = srv.imap("demo")
    try:
        typ, _ = m.select("INBOX")
        check(typ == "OK", "SELECT")
        uidv = m.response("UIDVALIDITY")[1][0]
        typ, data = m.uid("FETCH", "1:*", "(FLAGS)")
        check(typ == "OK", "FETCH")
        rows = []
        for d in data:
            if isinstance(d, tuple):
                d = d[0]
            if not d:
                continue
            s = d.decode()
            u = re.search(r"UID (\d+)", s)
            f = re.search(r"FLAGS \(([^)]*)\)", s)
            if u and f:
                fl = sorted(x for x in f.group(1).split() if x != "\\Recent")
                rows.append((int(u.group(1)), " ".join(fl)))
        typ, data = m.uid("SEARCH", "SUBJECT", "blue")
        check(typ == "OK", "SEARCH")
        blue = [int(x) for x in data[0].split()]
        m.logout()
        return uidv, sorted(rows), blue
    except Exception:
        try:
            m.logout()
        except Exception:
            pass
        raise


def populate(srv):
    for i in range(N):
        srv.deliver("demo", msg(i))
    m = srv.imap("demo")
    m.select("INBOX")
    m.uid("STORE", "1:20", "+FLAGS", "(\\Seen)")
    m.uid("STORE", "5", "+FLAGS", "(\\Flagged $Work)")
    m.logout()


def index_path(srv):
    return os.path.join(srv.maildir("demo"), "buzon.index")


def i01(srv):
    populate(srv)
    before = state(srv)
    check(len(before[1]) == N, "%d messages before, got %d" % (N, len(before[1])))
    check(len(before[2]) == len([i for i in range(N) if i % 7 == 0]), "SEARCH SUBJECT blue")
    wait_no_mail(srv)
    st = os.stat(index_path(srv))
    check(st.st_mode & 0o777 == 0o600, "index mode %o" % (st.st_mode & 0o777))
    after = state(srv)
    check(after == before, "state after restart differs: %r vs %r" %
          (after[1][:3], before[1][:3]))
    # SEARCH SUBJECT after a restart answers from the header fields in the index: it
    # works even when the message files cannot be read
    wait_no_mail(srv)
    cur = os.path.join(srv.maildir("demo"), "cur")
    files = [os.path.join(cur, n) for n in os.listdir(cur)]
    for p in files:
        os.chmod(p, 0)
    try:
        again = state(srv)
    finally:
        for p in files:
            if os.path.exists(p):
                os.chmod(p, 0o600)
    check(again[2] == before[2], "SEARCH SUBJECT from the index: %d hits, want %d" %
          (len(again[2]), len(before[2])))


def i02(srv):
    populate(srv)
    before = state(srv)
    wait_no_mail(srv)
    with open(index_path(srv), "r+b") as f:
        f.write(os.urandom(16384))
    after = state(srv)
    check(after == before, "state after a garbage index differs")
    wait_no_mail(srv)
    with open(index_path(srv), "r+b") as f:
        f.truncate(5000)
    after = state(srv)
    check(after == before, "state after a truncated index differs")
    check("store index" in srv.log_text(), "the damaged index is logged")


def i03(srv):
    populate(srv)
    state(srv)
    m = srv.imap("demo")
    m.select("INBOX")
    m.uid("STORE", "30:40", "+FLAGS", "(\\Answered)")
    m.uid("STORE", "1", "-FLAGS", "(\\Seen)")
    pids = mail_pids(srv)
    check(len(pids) == 1, "one mail process (%r)" % pids)
    os.kill(pids[0], signal.SIGKILL)
    try:
        m.logout()
    except Exception:
        pass
    wait_no_mail(srv)
    uidv, rows, _ = state(srv)
    flags = dict(rows)
    check(flags[1] == "", "uid 1 unseen after the crash (%r)" % flags[1])
    check(all("\\Answered" in flags[u] for u in range(30, 41)), "30:40 answered")


def i04(srv):
    populate(srv)
    wait_no_mail(srv)
    cfg = srv.config_path
    r = srv.cli("index", "check", "-c", cfg, "demo", check=False)
    check(r.returncode == 0, "check on a fresh index: exit %d %s" % (r.returncode, r.stdout))
    cur = os.path.join(srv.maildir("demo"), "cur")
    victim = sorted(os.listdir(cur))[3]
    os.unlink(os.path.join(cur, victim))
    r = srv.cli("index", "check", "-c", cfg, "demo", check=False)
    check(r.returncode == 1, "check after a removal: exit %d %s" % (r.returncode, r.stdout))
    r = srv.cli("index", "rebuild", "-c", cfg, "demo", check=False)
    check(r.returncode == 0, "rebuild: exit %d %s" % (r.returncode, r.stderr))
    r = srv.cli("index", "check", "-c", cfg, "demo", check=False)
    check(r.returncode == 0, "check after rebuild: exit %d %s" % (r.returncode, r.stdout))
    r = srv.cli("index", "rebuild", "-c", cfg, "demo", "Nope", check=False)
    check(r.returncode == 64, "rebuild of a missing folder: exit %d" % r.returncode)
    r = srv.cli("index", "check", "-c", cfg, "nobody", check=False)
    check(r.returncode == 67, "check of an unknown user: exit %d" % r.returncode)
    uidv, rows, _ = state(srv)
    check(len(rows) == N - 1, "%d messages after the removal" % len(rows))


def multipart(i):
    return ("From: \"M %d\" <m%d@example.org>\r\nTo: demo@example.org\r\n"
            "Subject: =?UTF-8?Q?caf=C3=A9_%d?=\r\nMIME-Version: 1.0\r\n"
            "Content-Type: multipart/alternative; boundary=\"b%d\"\r\n\r\n"
            "--b%d\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nplain %d\r\n"
            "--b%d\r\nContent-Type: text/html\r\n\r\n<p>html %d</p>\r\n--b%d--\r\n" %
            (i, i, i, i, i, i, i, i, i)).encode()


def fetch_rendered(srv, items="(ENVELOPE BODY BODYSTRUCTURE PREVIEW)"):
    m = srv.imap("demo")
    try:
        typ, _ = m.select("INBOX")
        check(typ == "OK", "SELECT")
        typ, data = m.uid("FETCH", "1:*", items)
        check(typ == "OK", "FETCH %s: %r" % (items, data[:1]))
        m.logout()
        return data
    except Exception:
        try:
            m.logout()
        except Exception:
            pass
        raise


def i05(srv):
    for i in range(N):
        srv.deliver("demo", msg(i) if i % 5 else multipart(i))
    before = fetch_rendered(srv)
    check(len([d for d in before if d]) >= N, "%d FETCH responses" % len(before))
    text = b" ".join(d if isinstance(d, bytes) else d[0] for d in before).lower()
    check(b"\"alternative\"" in text, "a multipart BODYSTRUCTURE")
    wait_no_mail(srv)
    cur = os.path.join(srv.maildir("demo"), "cur")
    files = [os.path.join(cur, n) for n in os.listdir(cur)]
    check(len(files) == N, "%d files in cur/" % len(files))
    saved = {}
    for p in files:
        with open(p, "rb") as f:
            saved[p] = f.read()
        # other bytes under the same name (the directory's mtime does not change)
        with open(p, "r+b") as f:
            f.write(b"Subject: replaced\r\n\r\n" + b"x" * 40)
        os.chmod(p, 0)
    try:
        after = fetch_rendered(srv)
        lazy = fetch_rendered(srv, "(PREVIEW (LAZY))")
    finally:
        for p, b in saved.items():
            os.chmod(p, 0o600)
            with open(p, "wb") as f:
                f.write(b)
    check(after == before, "FETCH after the restart differs: %r vs %r" %
          (after[:1], before[:1]))
    text = b" ".join(d if isinstance(d, bytes) else d[0] for d in lazy if d)
    check(b"PREVIEW NIL" not in text and text.count(b"PREVIEW") == N,
          "PREVIEW (LAZY) from the index: %r" % text[:200])
    check(b'PREVIEW "plain 5"' in text and b'PREVIEW "body 1"' in text,
          "the previews: %r" % text[:200])
    # a new message after the restart: rendered from its file, the others still cached
    srv.deliver("demo", msg(N))
    again = fetch_rendered(srv, "(ENVELOPE)")
    text = b" ".join(d if isinstance(d, bytes) else d[0] for d in again if d)
    check(b"note %d red" % N in text or b"note %d blue" % N in text,
          "the new message's ENVELOPE")


CASES = [("I-01", "restart keeps UIDs, flags, SEARCH", i01),
         ("I-02", "garbage and truncated index", i02),
         ("I-03", "mail process killed after flag changes", i03),
         ("I-04", "buzon index check / rebuild exit codes", i04),
         ("I-05", "rendered items from the index after a restart", i05)]


def main():
    global BUZON
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("ids", nargs="*")
    ap.add_argument("--buzon")
    args = ap.parse_args()
    BUZON = os.path.abspath(args.buzon) if args.buzon else buzontest.default_binary()
    passed = failed = 0
    for cid, name, fn in CASES:
        if args.ids and cid not in args.ids:
            continue
        srv = buzontest.Server(users={"demo": "demo-pw-1"}, fill=False, buzon=BUZON,
                               config=["mail_idle_exit = 1"])
        try:
            srv.start()
            fn(srv)
            problems = srv.stop()	# sanitizer reports, crashes, panics in the log
            check(not problems, "server problems: %s" % "; ".join(problems)[:300])
            print("PASS %s %s" % (cid, name))
            passed += 1
        except Exception as e:
            if not isinstance(e, Fail):
                traceback.print_exc()
            print("FAIL %s %s: %s" % (cid, name, str(e)[:300]))
            sys.stderr.write(srv.log_tail(30) + "\n")
            failed += 1
        finally:
            srv.stop()
        sys.stdout.flush()
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
