#!/usr/bin/env python3
"""bench/login_memory.py — address space of the login and lmtp processes under load.

Measures what login_vsz_limit (RLIMIT_AS of login and lmtp) must leave room for: starts a
server with login_vsz_limit = 0 (no limit), then holds
  1. N idle pre-login IMAPS connections (TLS handshake done, no command), from
     N/50 source addresses (the per-address pre-login cap is 50),
  2. N logged-in IMAPS sessions (the login process proxies each one through a
     socketpair: the long-lived TLS state),
  3. on K of those sessions, a FETCH of a 4 MiB message that the client does not read
     (the login process's proxy backlog, bounded per direction, is what grows),
  4. 200 LMTP sessions in the middle of DATA (1 MiB each sent),
and prints VmSize / VmPeak / VmRSS of the login and lmtp processes after each step.

Usage: bench/login_memory.py [--buzon build/buzon] [-n 1000] [-k 300]   (root: RLIMIT_NOFILE)
"""

import argparse
import os
import resource
import socket
import ssl
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "lib"))
import buzontest  # noqa: E402


def vm(pid):
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmSize", "VmPeak", "VmRSS"):
                out[k] = int(v.split()[0]) // 1024
    return out


def role_pid(srv, role):
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % d, "rb") as f:
                args = f.read().split(b"\0")
            with open("/proc/%s/stat" % d) as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except OSError:
            continue
        if ppid == srv.proc.pid and b"--role" in args and args[args.index(b"--role") + 1] == role.encode():
            return int(d)
    return None


def report(srv, what):
    parts = []
    for role in ("login", "lmtp"):
        pid = role_pid(srv, role)
        if pid:
            v = vm(pid)
            parts.append("%s VmSize %d MiB VmPeak %d MiB VmRSS %d MiB" % (role, v["VmSize"], v["VmPeak"], v["VmRSS"]))
    print("%-34s %s" % (what, "; ".join(parts)))
    sys.stdout.flush()


def ctx():
    c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    c.check_hostname = False
    c.verify_mode = ssl.CERT_NONE
    return c


def line(s):
    b = b""
    while not b.endswith(b"\n"):
        d = s.recv(1)
        if not d:
            raise EOFError(b)
        b += d
    return b


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--buzon", default=buzontest.default_binary())
    ap.add_argument("-n", type=int, default=1000)
    ap.add_argument("-k", type=int, default=300)
    a = ap.parse_args()
    want = 4 * a.n + 1000
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard) if hard != resource.RLIM_INFINITY else want, hard))
    conf = ["login_vsz_limit = 0", "login_timeout = 3600", "mail_max_userip_connections = %d" % (a.n + 10),
            "auth_allow_cleartext = yes"]
    srv = buzontest.Server(users={"alice": "alicepw"}, config=conf, buzon=a.buzon, lmtp=True, canary=False)
    held = []
    try:
        srv.start()
        time.sleep(0.5)
        big = b"Subject: big\r\n\r\n" + (b"y" * 998 + b"\r\n") * 4200
        s = socket.create_connection((buzontest.HOST, srv.lmtp_port))
        line(s)
        s.sendall(b"LHLO bench\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\n")
        r = line(s)
        while not r.startswith(b"354"):
            r = line(s)
        s.sendall(big + b".\r\n")
        r = line(s)
        if not r.startswith(b"250"):
            raise SystemExit("LMTP: %r" % r)
        s.close()
        report(srv, "idle")
        c = ctx()
        for i in range(a.n):
            s = socket.create_connection((buzontest.HOST, srv.imaps_port), source_address=("127.0.%d.%d" % (1 + i // 50 // 200, 1 + (i // 50) % 200), 0))
            t = c.wrap_socket(s, server_hostname="localhost")
            line(t)
            held.append(t)
        time.sleep(0.5)
        report(srv, "%d idle pre-login TLS" % a.n)
        for t in held:
            t.close()
        held = []
        time.sleep(1)
        report(srv, "closed")
        for i in range(a.n):
            t = c.wrap_socket(socket.create_connection((buzontest.HOST, srv.imaps_port)), server_hostname="localhost")
            line(t)
            t.sendall(b"a LOGIN alice alicepw\r\n")
            r = line(t)
            while not r.startswith(b"a "):
                r = line(t)
            if not r.startswith(b"a OK"):
                raise SystemExit("login %d: %r" % (i, r))
            held.append(t)
        time.sleep(0.5)
        report(srv, "%d logged-in IMAPS sessions" % a.n)
        for t in held[:a.k]:
            t.sendall(b"b SELECT INBOX\r\nc FETCH * BODY[]\r\n")
        time.sleep(5)
        report(srv, "+ %d non-reading 4 MiB FETCHes" % a.k)
        lm = []
        chunk = (b"x" * 998 + b"\r\n") * 1048
        for i in range(200):
            s = socket.create_connection((buzontest.HOST, srv.lmtp_port))
            line(s)
            s.sendall(b"LHLO bench\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\n")
            r = line(s)
            while not r.startswith(b"354"):
                r = line(s)
            s.sendall(b"Subject: bench\r\n\r\n" + chunk)
            lm.append(s)
        time.sleep(1)
        report(srv, "+ 200 LMTP sessions in DATA")
        for s in lm:
            s.close()
    finally:
        for t in held:
            t.close()
        srv.stop()


if __name__ == "__main__":
    main()
