#!/usr/bin/env python3
"""tests/logjson/run.py — log_format = json on a running server (tests/lib/buzontest.py).

A server with log_format = json; a good LOGIN, a bad LOGIN, a LOGIN whose user name has
control characters and bytes that are not UTF-8, and a POP3 session. Then every line of
the server log (the master's and its children's, which the master copies) must be one
JSON object with ts, level, proc, pid (a number) and msg; the login lines must carry
user, ip and method; the failed one reason; the session line session; with
imap_debug = yes each command's "imap done" line command, result and duration_ms. The master's own
line for the client's odd name must hold it escaped, never raw.

Prints "PASS name" / "FAIL name: why", then "N passed, M failed". Takes ~2 s.
Usage: run.py [--buzon PATH]
"""
import argparse
import imaplib
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import buzontest  # noqa: E402

KEYS = ("ts", "level", "proc", "pid", "msg")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--buzon")
    args = ap.parse_args()
    results = []

    def check(name, cond, why=""):
        results.append((name, bool(cond), why))

    srv = buzontest.Server(buzon=os.path.abspath(args.buzon) if args.buzon else None, config=["log_format = json", "imap_debug = yes"], pop3=True)
    with srv:
        c = srv.imap()
        c.select("INBOX")
        c.logout()
        bad = srv.imap(login=False)
        try:
            bad.login("demo", "wrong")
            check("bad-login-refused", False, "LOGIN with a wrong password succeeded")
        except imaplib.IMAP4.error:
            pass
        bad.logout()
        odd = srv.imap(login=False)
        try:
            odd._simple_command("LOGIN", '"de\\"mo\x01\x7f"', '"x"')
        except imaplib.IMAP4.error:
            pass
        try:
            odd.send(b"a2 LOGIN {6+}\r\n\xffd\xc3(\tx x\r\n")
            odd.readline()
        except OSError:
            pass
        odd.shutdown()
        p = srv.pop3()
        p.stat()
        p.quit()
        srv.terminate()
        text = srv.log_text()
    lines = [ln for ln in text.split("\n") if ln != ""]
    objs = []
    bad_lines = []
    for ln in lines:
        try:
            o = json.loads(ln)
            if not isinstance(o, dict) or any(k not in o for k in KEYS) or \
                    not isinstance(o["pid"], int) or \
                    not all(isinstance(o[k], str) for k in o if k != "pid"):
                bad_lines.append(ln)
            else:
                objs.append(o)
        except ValueError:
            bad_lines.append(ln)
    check("every-line-json", lines and not bad_lines,
          "%d of %d lines are not JSON objects with %s: %r" % (len(bad_lines), len(lines),
                                                               "/".join(KEYS), bad_lines[:3]))
    check("not-wrapped-twice", not any(o["msg"].startswith('{"ts"') for o in objs),
          "a child's JSON line was wrapped again by the master")
    check("mail-process-json", any(o["proc"] == "imap" and o["pid"] != objs[0]["pid"]
                                   for o in objs), "no line of the mail process")
    procs = {o["proc"] for o in objs}
    check("children-json", len(procs) >= 3, "lines from processes %s only" % sorted(procs))
    ok = [o for o in objs if o["msg"] == "imap login" and o.get("user") == "demo"]
    check("login-fields", ok and all(k in ok[0] for k in ("ip", "method", "tls")),
          "no 'imap login' line with user, ip, method, tls: %r" % ok[:1])
    failed = [o for o in objs if o["msg"] == "imap login failed" and o.get("user") == "demo"]
    check("failed-login-fields", failed and failed[0].get("reason") == "password" and
          failed[0].get("ip") == "127.0.0.1",
          "no 'imap login failed' line with reason=password, ip: %r" % failed[:1])
    sess = [o for o in objs if "session" in o and o.get("user") == "demo"]
    check("session-field", sess, "no line with session and user")
    done = [o for o in objs if o["msg"] == "imap done" and o.get("command") == "SELECT"]
    check("command-fields", done and done[0].get("result") == "OK" and
          done[0].get("duration_ms", "").isdigit() and done[0].get("session") and
          done[0].get("tag"), "no 'imap done' line for SELECT with result, duration_ms, "
          "session, tag: %r" % done[:1])
    check("pop3-login", any(o["msg"] == "pop3 login" for o in objs), "no 'pop3 login' line")
    # the odd names: escaped by log_sanitize, then by JSON; no control character, no
    # invalid UTF-8 reaches the file
    raw = text.encode("utf-8", "surrogateescape")
    check("no-raw-control", not any(b in raw for b in (b"\x01", b"\x7f", b"\xff", b"\t")),
          "a control character or a byte that is not UTF-8 reached the log")
    oddl = [o for o in objs if "login failed" in o["msg"] and "de" in o.get("user", "") and
            o.get("user") != "demo"]
    check("odd-user-escaped", oddl, "no failed-login line for the odd user names: %r" %
          [o for o in objs if "failed" in o["msg"]][:4])
    failed_n = 0
    for name, good, why in results:
        print("PASS %s" % name if good else "FAIL %s: %s" % (name, why))
        failed_n += 0 if good else 1
    print("%d passed, %d failed" % (len(results) - failed_n, failed_n))
    return 1 if failed_n else 0


if __name__ == "__main__":
    sys.exit(main())
