#!/usr/bin/env python3
"""tests/admin/run.py — the control socket's admin verbs (docs/architecture.md, "The
control socket") against a real server on 127.0.0.1 (tests/lib/buzontest.py), with real
IMAP sessions (imaplib). One server for every case, in this order:

  A-01  the socket exists, mode 0600, owned by the server's uid; `buzon who` lists two
        IMAP sessions (user, protocol imap, 127.0.0.1, since, the mail process's pid), and
        so does `buzon who --json` (also tried on mailbox status, kick and ban list)
  A-02  `buzon mailbox status demo INBOX` gives what IMAP STATUS says (MESSAGES, UNSEEN,
        UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ, SIZE); a folder that does not exist is an error;
        an unknown user exits 67; a user without a session gets an answer (the mail
        process is started for it, and exits when idle)
  A-03  `buzon quota get|recalc demo` and `buzon index rebuild demo` answer through the
        running server (exit 0); the session stays usable
  A-04  `buzon kick demo` ends demo's session: the client reads `* BYE`; "1 session
        ended"; alice's session still answers NOOP; `buzon who` no longer lists demo; a
        POP3 session is kicked only with its own address and gets -ERR
  A-05  malformed requests (unknown verb, NUL, a line over 4 KiB, a bad quoted word) get
        "ERR ..." and the master survives (who still works, IMAP logs in)
  A-06  control clients that never send, and one that sends `who` and never reads, do
        not stall IMAP service or other control clients; past 16 at once a client gets
        "ERR too many control clients", and is served once they left
  A-07  a peer of another uid is refused (root only: a client running as nobody gets
        "ERR permission denied"; else SKIP)
  A-08  failed logins ban 127.0.0.1: `buzon ban list` shows it; the right password is
        refused; `buzon ban remove 127.0.0.1` lifts it and the next login works
  A-09  the socket is gone after the server stopped

Prints "PASS id name", "FAIL id name: why" (or "SKIP id") per case, then "N passed, M failed".
Usage: run.py [--buzon PATH]
"""
import argparse
import json
import os
import pwd
import re
import socket
import stat
import subprocess
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "lib"))
import buzontest  # noqa: E402


class Fail(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Fail(what)


TWO_WORDS = ("mailbox", "ban", "quota", "index")


def cli(srv, *args):
    """`buzon VERB [-c CONFIG] ARGS...` (-c after the verb's one or two words)."""
    n = 2 if args[0] in TWO_WORDS else 1
    return srv.cli(*(list(args[:n]) + ["-c", srv.config_path] + list(args[n:])), check=False)


def raw(srv, data, read=True):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(ctl_path(srv))
    try:
        s.sendall(data)
    except OSError:
        pass	# refused at connect: the answer is already there
    if not read:
        return s
    out = b""
    while True:
        b = s.recv(65536)
        if not b:
            break
        out += b
    s.close()
    return out.decode(errors="replace")


def ctl_path(srv):
    return os.path.join(srv.base_dir, "control")


def mail_pids(srv):
    """The server's mail processes (children of the master with --role mail)."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
            with open("/proc/%s/cmdline" % d, "rb") as f:
                args = f.read().split(b"\0")
        except OSError:
            continue
        fields = st[st.rindex(")") + 2:].split()
        if int(fields[1]) == srv.proc.pid and fields[0] != "Z" and b"mail" in args and \
                b"--role" in args:
            out.append(int(d))
    return sorted(out)


def who_rows(srv):
    r = cli(srv, "who")
    check(r.returncode == 0, "who exit %d: %s" % (r.returncode, r.stderr))
    lines = r.stdout.splitlines()
    check(lines and lines[0].split()[:2] == ["USER", "PROTOCOL"], "who header: %r" % lines[:1])
    return [ln.split() for ln in lines[1:]]


def status_of(m, folder="INBOX"):
    typ, data = m.status(folder, "(MESSAGES UNSEEN UIDVALIDITY UIDNEXT HIGHESTMODSEQ SIZE)")
    check(typ == "OK", "IMAP STATUS")
    s = data[0].decode()
    return {k.lower(): int(v) for k, v in re.findall(r"([A-Z]+) (\d+)", s)}


def run(srv):
    results = []

    def case(cid, name, fn):
        try:
            r = fn()
            if r == "SKIP":
                print("SKIP %s %s" % (cid, name))
                return
            print("PASS %s %s" % (cid, name))
            results.append(True)
        except Exception as e:
            traceback.print_exc(file=sys.stderr)
            print("FAIL %s %s: %s" % (cid, name, e))
            results.append(False)
        sys.stdout.flush()

    demo = srv.imap("demo")
    alice = srv.imap("alice")
    demo.select("INBOX")
    demo.store("1", "+FLAGS", "(\\Seen)")

    def a01():
        st = os.lstat(ctl_path(srv))
        check(stat.S_ISSOCK(st.st_mode), "control is a socket")
        check(stat.S_IMODE(st.st_mode) == 0o600, "mode %o" % stat.S_IMODE(st.st_mode))
        check(st.st_uid == os.geteuid(), "owner uid %d" % st.st_uid)
        rows = who_rows(srv)
        users = sorted(r[0] for r in rows)
        check(users == ["alice", "demo"], "who users: %r" % rows)
        for r in rows:
            check(r[1] == "imap" and r[2] == "127.0.0.1", "protocol/address: %r" % r)
            check(re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", r[3]), "since: %r" % r)
            check(os.path.exists("/proc/%s" % r[4]), "pid %s is a live process" % r[4])
        r = cli(srv, "who", "--json")
        check(r.returncode == 0, "who --json: exit %d %s" % (r.returncode, r.stderr))
        j = json.loads(r.stdout)
        check(sorted(x["user"] for x in j) == ["alice", "demo"] and
              all(x["protocol"] == "imap" and x["address"] == "127.0.0.1" and
                  isinstance(x["pid"], int) for x in j), "who --json: %r" % j)
    case("A-01", "who lists the IMAP sessions", a01)

    def a02():
        r = cli(srv, "mailbox", "status", "demo", "INBOX")
        check(r.returncode == 0, "exit %d: %s" % (r.returncode, r.stderr))
        got = dict(ln.split(None, 1) for ln in r.stdout.splitlines())
        want = status_of(demo, "INBOX")
        for k in ("messages", "unseen", "uidvalidity", "uidnext", "highestmodseq", "size"):
            check(int(got[k]) == want[k], "%s: buzon %s, IMAP STATUS %s" % (k, got[k], want[k]))
        check(want["messages"] > 0 and want["unseen"] < want["messages"], "the fixture has "
              "messages and one is seen: %r" % want)
        r = cli(srv, "mailbox", "status", "demo", "INBOX", "--json")
        j = json.loads(r.stdout)
        check(j["messages"] == want["messages"] and j["folder"] == "INBOX",
              "mailbox status --json: %r" % j)
        r = cli(srv, "mailbox", "status", "demo", "No Such Folder")
        check(r.returncode == 64 and r.stdout == "", "missing folder: exit %d" % r.returncode)
        # a user without a session: the mail process is started to answer, and leaves
        # after mail_idle_exit (1 s here)
        before = mail_pids(srv)
        check(len(before) == 2, "demo's and alice's mail processes: %r" % before)
        r = cli(srv, "mailbox", "status", "carol")
        check(r.returncode == 0 and re.search(r"^messages +[1-9]", r.stdout, re.M),
              "carol (no session): exit %d %r %r" % (r.returncode, r.stdout, r.stderr))
        end = time.monotonic() + 8
        while mail_pids(srv) != before and time.monotonic() < end:
            time.sleep(0.2)
        check(mail_pids(srv) == before, "carol's mail process did not exit: %r, before %r" %
              (mail_pids(srv), before))
        r = cli(srv, "mailbox", "status", "ghost")
        check(r.returncode == 67, "unknown user: exit %d (%s)" % (r.returncode, r.stderr))
    case("A-02", "mailbox status matches IMAP STATUS", a02)

    def a03():
        for args in (("quota", "get", "demo"), ("quota", "recalc", "demo"),
                     ("index", "rebuild", "demo")):
            r = cli(srv, *args)
            check(r.returncode == 0, "%s: exit %d: %s" % (" ".join(args), r.returncode,
                                                          r.stderr))
        r = cli(srv, "quota", "get", "demo")
        check("user      demo" in r.stdout and "storage" in r.stdout, "quota get: %r" % r.stdout)
        typ, _ = demo.noop()
        check(typ == "OK", "the session still answers")
        check("control verb=" in srv.log_text(), "the verbs went through the server")
    case("A-03", "quota and index through the server", a03)

    def a04():
        r = cli(srv, "kick", "demo")
        check(r.returncode == 0, "kick exit %d: %s" % (r.returncode, r.stderr))
        check("1 session ended" in r.stdout, "kick output: %r" % r.stdout)
        sock = demo.socket()
        sock.settimeout(5)
        got = b""
        while True:
            try:
                b = demo.sslobj.read(4096) if getattr(demo, "sslobj", None) else sock.recv(4096)
            except Exception:
                break
            if not b:
                break
            got += b
        check(b"* BYE" in got, "the client read a BYE: %r" % got[:200])
        typ, _ = alice.noop()
        check(typ == "OK", "alice's session is untouched")
        end = time.monotonic() + 5
        while time.monotonic() < end:
            if [r[0] for r in who_rows(srv)] == ["alice"]:
                break
            time.sleep(0.2)
        check([r[0] for r in who_rows(srv)] == ["alice"], "who after the kick")
        # POP3, and the address filter
        p = srv.pop3("carol")
        r = cli(srv, "kick", "carol", "192.0.2.9")
        check(r.returncode == 0 and "0 sessions ended" in r.stdout, "kick from another "
              "address: %r" % r.stdout)
        r = cli(srv, "kick", "carol", "127.0.0.1")
        check(r.returncode == 0 and "1 session ended" in r.stdout, "kick carol: %r" % r.stdout)
        try:
            p.noop()
            raise Fail("POP3 session survived the kick")
        except Fail:
            raise
        except Exception as e:
            check("Disconnected by the administrator" in str(e), "POP3 -ERR: %r" % e)
        r = cli(srv, "kick", "nobody-here")
        check(r.returncode == 0 and "0 sessions ended" in r.stdout, "kick of nobody: %r" %
              r.stdout)
        r = cli(srv, "kick", "--json", "nobody-here")
        check(json.loads(r.stdout) == {"sessions_ended": 0}, "kick --json: %r" % r.stdout)
    case("A-04", "kick ends the session with BYE", a04)

    def a05():
        check(raw(srv, b"bogus verb\n").startswith("ERR unknown verb"), "unknown verb")
        check(raw(srv, b"who\0\n").startswith("ERR"), "NUL")
        check(raw(srv, b"kick \"al\n").startswith("ERR"), "bad quoting")
        check(raw(srv, b"who extra words\n").startswith("ERR"), "arguments")
        out = raw(srv, b"a" * 5000)
        check(out.startswith("ERR line too long"), "long line: %r" % out[:80])
        r = cli(srv, "frob")
        check(r.returncode != 0, "unknown CLI verb")
        rows = who_rows(srv)
        check([r[0] for r in rows] == ["alice"], "who after bad requests")
        m = srv.imap("demo")
        check(m.noop()[0] == "OK", "IMAP after bad requests")
        m.logout()
    case("A-05", "malformed requests get ERR, the master survives", a05)

    def a06():
        idle = [raw(srv, b"", read=False) for _ in range(8)]
        hogs = []
        for _ in range(3):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
            s.connect(ctl_path(srv))
            s.sendall(b"who\n")
            hogs.append(s)
        t0 = time.monotonic()
        m = srv.imap("demo")
        check(m.select("INBOX")[0] == "OK", "IMAP SELECT while control clients hang")
        m.logout()
        rows = who_rows(srv)
        check("alice" in [r[0] for r in rows], "another control client is served")
        check(time.monotonic() - t0 < 20, "no stall")
        for s in hogs:
            s.close()
        # at most 16 control clients at once: the 17th is told so, and served once one left
        idle += [raw(srv, b"", read=False) for _ in range(16 - len(idle))]
        time.sleep(0.3)
        out = raw(srv, b"who\n")
        check(out.startswith("ERR too many control clients"), "17th client: %r" % out[:60])
        for s in idle:
            s.close()
        end = time.monotonic() + 5
        while time.monotonic() < end and raw(srv, b"who\n").startswith("ERR"):
            time.sleep(0.2)
        check(raw(srv, b"who\n").endswith("OK\n"), "served again after the idle ones left")
    case("A-06", "control clients that never read do not stall the server", a06)

    def a07():
        if os.geteuid() != 0:
            return "SKIP"
        nobody = pwd.getpwnam("nobody")

        def as_nobody():
            """Connect as nobody in a forked child: 'EACCES' or the server's answer."""
            rfd, wfd = os.pipe()
            pid = os.fork()
            if pid == 0:
                out = b"?"
                try:
                    os.setgid(nobody.pw_gid)
                    os.setuid(nobody.pw_uid)
                    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                    s.settimeout(5)
                    try:
                        s.connect(ctl_path(srv))
                    except PermissionError:
                        out = b"EACCES"
                    else:
                        try:
                            s.sendall(b"who\n")
                        except OSError:
                            pass	# refused before the request went out
                        out = s.recv(200)
                finally:
                    os.write(wfd, out)
                    os._exit(0)
            os.close(wfd)
            got = b""
            while True:
                b = os.read(rfd, 200)
                if not b:
                    break
                got += b
            os.close(rfd)
            os.waitpid(pid, 0)
            return got.decode(errors="replace")
        got = as_nobody()
        check(got == "EACCES", "mode 0600 keeps nobody out: %r" % got)
        # past the mode (a careless chmod): SO_PEERCRED still refuses
        os.chmod(ctl_path(srv), 0o666)
        try:
            got = as_nobody()
        finally:
            os.chmod(ctl_path(srv), 0o600)
        check(got.startswith("ERR permission denied"), "peer check: %r" % got)
        check("control client refused uid=%d" % nobody.pw_uid in srv.log_text(), "logged")
    case("A-07", "a peer of another uid is refused", a07)

    def a08():
        for _ in range(3):
            try:
                srv.imap("alice", password="wrong")
            except Exception:
                pass
        r = cli(srv, "ban", "list")
        check(r.returncode == 0 and "127.0.0.1" in r.stdout, "ban list: %r %r" % (r.stdout,
                                                                              r.stderr))
        j = json.loads(cli(srv, "ban", "list", "--json").stdout)
        check(len(j) == 1 and j[0]["address"] == "127.0.0.1" and j[0]["failures"] >= 3 and
              0 < j[0]["seconds_left"] <= 600, "ban list --json: %r" % j)
        try:
            srv.imap("alice").logout()
            raise Fail("a banned address logged in")
        except Fail:
            raise
        except Exception:
            pass
        r = cli(srv, "ban", "remove", "127.0.0.1")
        check(r.returncode == 0, "ban remove: exit %d %s" % (r.returncode, r.stderr))
        r = cli(srv, "ban", "list")
        check("127.0.0.1" not in r.stdout, "ban list after remove: %r" % r.stdout)
        m = srv.imap("alice")
        check(m.noop()[0] == "OK", "login after the ban was lifted")
        m.logout()
        r = cli(srv, "ban", "remove", "192.0.2.1")
        check(r.returncode == 1, "removing no ban: exit %d" % r.returncode)
    case("A-08", "ban list and ban remove", a08)

    for m in (alice,):
        try:
            m.logout()
        except Exception:
            pass
    return results


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--buzon", default=None)
    a = ap.parse_args()
    srv = buzontest.Server(users={"demo": "demo", "alice": "alice", "carol": "carol"}, pop3=True,
                           buzon=os.path.abspath(a.buzon) if a.buzon else None,
                           config=["auth_ban_failures = 3", "auth_ban_seconds = 600",
                                   "mail_idle_exit = 1"])
    results = []
    try:
        srv.start()
        results = run(srv)
        srv.terminate()
        ok = not os.path.lexists(ctl_path(srv))
        print("%s A-09 the socket is removed at stop" % ("PASS" if ok else "FAIL"))
        results.append(ok)
    except Exception as e:
        traceback.print_exc()
        print("FAIL setup: %s" % e)
        results.append(False)
    finally:
        for p in srv.stop():
            print("FAIL teardown: %s" % p)
            results.append(False)
    print("%d passed, %d failed" % (results.count(True), results.count(False)))
    sys.exit(0 if all(results) else 1)


if __name__ == "__main__":
    main()
