"""What the JMAP test files share (tests/jmap/run.py and tests/jmap/t_*.py): the test
registry, HTTP and API helpers, IMAP's ids, jmap-jam, and the runner of one test. A
file of cases does `from jmaplib import *` and registers its tests with @test."""
import base64
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
import buzontest as bt  # noqa: E402

TESTS = []


def test(**options):
    def deco(fn):
        TESTS.append((fn.__name__, fn, options))
        return fn
    return deco


def basic(user="demo", password="demo"):
    return "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()


def conn(srv, timeout=10):
    return http.client.HTTPConnection(bt.HOST, srv.jmap_port, timeout=timeout)


def request(c, method, path, body=None, auth=None, headers=None):
    h = dict(headers or {})
    if auth is not None:
        h["Authorization"] = auth
    if body is not None and not isinstance(body, bytes):
        body = json.dumps(body).encode()
        h.setdefault("Content-Type", "application/json")
    c.request(method, path, body=body, headers=h)
    r = c.getresponse()
    data = r.read()
    return r, data


def api(srv, body, auth=None, c=None):
    c = c or conn(srv)
    r, data = request(c, "POST", "/jmap/api", body, auth or basic())
    return r.status, (json.loads(data) if data else None)


def account(srv):
    c = conn(srv)
    r, data = request(c, "GET", "/.well-known/jmap", auth=basic())
    return json.loads(data)["primaryAccounts"]["urn:ietf:params:jmap:mail"]


USING = ["urn:ietf:params:jmap:core", "urn:ietf:params:jmap:mail"]


def raw(srv, data, timeout=10, shut=False):
    """Send bytes on a fresh connection; everything the server says until it closes."""
    s = socket.create_connection((bt.HOST, srv.jmap_port), timeout=timeout)
    try:
        s.sendall(data)
        if shut:
            s.shutdown(socket.SHUT_WR)
        out = b""
        while True:
            try:
                d = s.recv(65536)
            except ConnectionResetError:
                break
            if not d:
                break
            out += d
        return out
    finally:
        s.close()


def still_serving(srv, res):
    c = conn(srv)
    r, data = request(c, "GET", "/.well-known/jmap", auth=basic())
    res.eq(r.status, 200, "the server still answers")


def imap_ids(srv):
    """(MAILBOXID of INBOX, {EMAILID: subject bytes}) as IMAP sends them."""
    m = srv.imap()
    typ, data = m.select("INBOX")
    mbid = None
    for code in m.untagged_responses.get("OK", []):
        if code.startswith(b"[MAILBOXID ("):
            mbid = code[len(b"[MAILBOXID ("):].split(b")")[0].decode()
    typ, data = m.fetch("1:*", "(EMAILID)")
    ids = set()
    for d in data:
        if isinstance(d, bytes) and b"EMAILID (" in d:
            ids.add(d.split(b"EMAILID (")[1].split(b")")[0].decode())
    m.logout()
    return mbid, ids


def mail_pid(srv):
    """The user's mail process (the master logs its pid at each login)."""
    pids = re.findall(r"jmap login user=demo .* mail_pid=(\d+)", srv.log_text())
    return int(pids[-1]) if pids else None


def rss_kib(pid, field="VmRSS"):
    """A /proc status field of pid in KiB (RssAnon: memory, not mapped files)."""
    if pid is None:
        return 0
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


lmtp = bt.lmtp_message


def ensure_jam():
    """node_modules/jmap-jam from package-lock.json (npm ci), once."""
    err = bt.npm_ci(HERE, "jmap-jam")
    if err is not None:
        raise AssertionError(err)


def run_jam(srv, url, env=None):
    node = shutil.which("node")
    if node is None:
        raise AssertionError("no node (nodejs) for jmap-jam")
    ensure_jam()
    e = dict(os.environ)
    e.update(env or {})
    r = subprocess.run([node, os.path.join(HERE, "jam.mjs"), url, "demo", "demo"],
                       capture_output=True, text=True, timeout=30, cwd=HERE, env=e)
    if r.returncode != 0:
        raise AssertionError("jam.mjs failed: %s" % r.stderr.strip()[-2000:])
    return json.loads(r.stdout)


def run_one(name, fn, opts):
    """managesieve=True in the options: a ManageSieve listener too (srv.sieve_port)."""
    opts = dict(opts)
    ms = opts.pop("managesieve", False)
    ports = bt.free_ports(2 if ms else 1)
    port = ports[0]
    opts["config"] = ["jmap_port = %d" % port] + list(opts.get("config", []))
    if ms:
        opts["config"].append("managesieve_port = %d" % ports[1])
    srv = bt.Server(**opts)
    srv.jmap_port = port
    srv.sieve_port = ports[1] if ms else None

    def start(srv):
        srv.setup()
        srv.start()
    return bt.run_case(name, fn, srv, start=start)
