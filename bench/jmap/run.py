#!/usr/bin/env python3
"""bench/jmap/run.py — opening the newest 50 messages of a big folder (issue 18).

The view a mail client shows when it opens INBOX: its 50 newest messages with the list
properties. Measured the same way on every system, side by side in one run:

  buzon JMAP     one POST: Email/query (inMailbox INBOX, sort receivedAt descending,
                 limit 50, calculateTotal) + Email/get through a result reference
                 (id threadId mailboxIds keywords size receivedAt from to subject preview),
                 over plain HTTP on loopback (jmap_tls = no), keep-alive, Basic auth
  Cyrus JMAP     the same request against Cyrus IMAP 3.6 from Debian (httpd with
                 httpmodules: jmap, conversations: yes), unpacked into a private
                 directory (apt-get download + dpkg-deb -x: Debian's cyrus-imapd conflicts
                 with dovecot-imapd) and run from there with its own imapd.conf/cyrus.conf
  Roundcube      Roundcube 1.6 from Debian under `php -S` (as tests/webmail/run.py sets
                 it up), 50 per page, sorted by arrival, newest first: the time of its
                 AJAX list request (?_task=mail&_action=list&_mbox=INBOX&_remote=1, with
                 the session cookie of a login) over IMAP to buzon and to a private
                 Dovecot 2.3 from Debian

The messages are bench/genmail.py's (the INBOX of bench/run.sh: same seed), written once
into DIR/base-N with their Date as mtime; buzon and Dovecot get hard-linked copies of
that Maildir, Cyrus gets the same files by IMAP APPEND with that date as INTERNALDATE
(LMTP would give every message the delivery second, and the order of the answer would
then be ties), so every system has the same messages with the same distinct arrival
times. Before measuring, the answers are compared: 50 ids, and the same subjects in the
same order on every system (and the receivedAt and size of the JMAP answers).

Latency: the first request after the server starts (fresh connection; buzon's index
already built), then warm repetitions (median, p90). Throughput: requests/second with 1
and 4 concurrent clients (one process each, so the client is not one Python thread) for
--seconds each. --quick: 2,000 messages, few repetitions (the harness check of
tests/bench-smoke). Ports: BUZON_TEST_PORTS (default 35000-35999). Run as root (Cyrus and
Dovecot run privately: Cyrus as `nobody`, mail processes as uid 2000).

The last line is machine-readable for bench/run.sh: "result key=value ...".
"""
import argparse
import base64
import html
import http.client
import json
import multiprocessing
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "lib"))
os.environ.setdefault("BUZON_TEST_PORTS", "35000-35999")
import buzontest as bt  # noqa: E402
import roundcube  # noqa: E402

MAIL_UID = 2000
USER, PASS = "bench", "bench"
PROPS = ["id", "threadId", "mailboxIds", "keywords", "size", "receivedAt", "from", "to",
         "subject", "preview"]
USING = ["urn:ietf:params:jmap:core", "urn:ietf:params:jmap:mail"]
CYRUS_DEBS = ["cyrus-common", "cyrus-imapd", "cyrus-caldav"]	# caldav carries httpd
EATMYDATA = "/usr/lib/x86_64-linux-gnu/libeatmydata.so"	# Debian's eatmydata


def log(msg):
    sys.stderr.write("jmap-bench: %s\n" % msg)
    sys.stderr.flush()


def wait_port(port, proc=None, secs=30):
    return roundcube.wait_port(port, proc, secs)


# ---------------------------------------------------------------- data
def make_base(top, n):
    """bench/genmail.py's INBOX of n messages, written once; returns its path."""
    base = os.path.join(top, "base-%d" % n)
    if not os.path.exists(os.path.join(base, ".complete")):
        log("writing %d messages to %s (once)" % (n, base))
        shutil.rmtree(base, ignore_errors=True)
        shutil.rmtree(base + ".tmp", ignore_errors=True)
        subprocess.run([sys.executable, os.path.join(REPO, "bench", "genmail.py"),
                        base + ".tmp", str(n)], check=True, stdout=subprocess.DEVNULL)
        if os.getuid() == 0:
            subprocess.run(["chown", "-R", "%d:%d" % (MAIL_UID, MAIL_UID), base + ".tmp"],
                           check=True)
        open(os.path.join(base + ".tmp", ".complete"), "w").close()
        os.rename(base + ".tmp", base)
    return base


def base_messages(base):
    """[(path, mtime, maildir flags)] of the base Maildir."""
    out = []
    for sub in ("cur", "new"):
        d = os.path.join(base, sub)
        for name in os.listdir(d):
            p = os.path.join(d, name)
            flags = name.split(":2,", 1)[1] if ":2," in name else ""
            out.append((p, int(os.stat(p).st_mtime), flags))
    out.sort(key=lambda m: m[1])
    return out


def warm_cache(msgs):
    for p, _, _ in msgs:
        with open(p, "rb") as f:
            while f.read(1 << 20):
                pass


def copy_maildir(base, dest):
    """A hard-linked copy (neither server rewrites a message file)."""
    subprocess.run(["cp", "-al", base, dest], check=True)
    try:
        os.unlink(os.path.join(dest, ".complete"))
    except OSError:
        pass


# ---------------------------------------------------------------- JMAP client
class Jmap:
    """A keep-alive JMAP client over plain HTTP with Basic auth."""

    def __init__(self, port, user=USER, password=PASS):
        self.port = port
        self.auth = "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()
        self.c = None
        self.api = None
        self.account = None
        self.inbox = None

    def close(self):
        if self.c is not None:
            self.c.close()
            self.c = None

    def http(self, method, path, body=None):
        for attempt in (0, 1):
            if self.c is None:
                self.c = http.client.HTTPConnection(bt.HOST, self.port, timeout=300)
            try:
                hdrs = {"Authorization": self.auth, "Accept": "application/json"}
                if body is not None:
                    hdrs["Content-Type"] = "application/json"
                self.c.request(method, path, body=body, headers=hdrs)
                r = self.c.getresponse()
                data = r.read()
                if r.getheader("Connection", "").lower() == "close":
                    self.close()
                return r.status, r.getheader("Location"), data
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.close()	# the server closed an idle keep-alive connection
                if attempt:
                    raise

    def setup(self):
        path = "/.well-known/jmap"
        for _ in range(3):	# Cyrus answers 301 to /jmap
            st, loc, data = self.http("GET", path)
            if st in (301, 302, 307, 308) and loc:
                path = urllib.parse.urlsplit(loc).path
                continue
            break
        if st != 200:
            raise RuntimeError("session resource: HTTP %d %r" % (st, data[:200]))
        s = json.loads(data)
        self.api = urllib.parse.urlsplit(s["apiUrl"]).path
        self.account = s["primaryAccounts"]["urn:ietf:params:jmap:mail"]
        r = self.call([["Mailbox/get", {"accountId": self.account,
                                        "properties": ["id", "name", "role"]}, "m"]])
        boxes = r["methodResponses"][0][1]["list"]
        self.inbox = [b["id"] for b in boxes if b.get("role") == "inbox"][0]
        self.body = json.dumps({"using": USING, "methodCalls": [
            ["Email/query", {"accountId": self.account, "filter": {"inMailbox": self.inbox},
                             "sort": [{"property": "receivedAt", "isAscending": False}],
                             "limit": 50, "calculateTotal": True}, "q"],
            ["Email/get", {"accountId": self.account,
                           "#ids": {"resultOf": "q", "name": "Email/query", "path": "/ids"},
                           "properties": PROPS}, "g"]]}).encode()
        return self

    def call(self, calls):
        st, _, data = self.http("POST", self.api,
                                json.dumps({"using": USING, "methodCalls": calls}).encode())
        if st != 200:
            raise RuntimeError("API: HTTP %d %r" % (st, data[:300]))
        return json.loads(data)

    def list_raw(self):
        st, _, data = self.http("POST", self.api, self.body)
        if st != 200:
            raise RuntimeError("API: HTTP %d %r" % (st, data[:300]))
        return data

    def view(self):
        """The list as [(subject, receivedAt, size)] and the query's total."""
        r = json.loads(self.list_raw())["methodResponses"]
        if r[0][0] != "Email/query" or r[1][0] != "Email/get":
            raise RuntimeError("unexpected answer: %r" % (r,))
        q, g = r[0][1], r[1][1]
        by = {e["id"]: e for e in g["list"]}
        rows = [by.get(i) for i in q["ids"]]
        if None in rows:
            raise RuntimeError("Email/get misses ids of the query")
        return [(e.get("subject"), e.get("receivedAt"), e.get("size")) for e in rows], \
            q.get("total")


# ---------------------------------------------------------------- Roundcube client
class RcClient:
    """One Roundcube session (login, then the AJAX list request)."""

    def __init__(self, port):
        self.port = port
        self.cookies = {}
        self.token = None

    def http(self, method, path, body=None, headers=None):
        c = http.client.HTTPConnection(bt.HOST, self.port, timeout=300)
        try:
            h = dict(headers or {})
            if self.cookies:
                h["Cookie"] = "; ".join("%s=%s" % kv for kv in self.cookies.items())
            if body is not None:
                h["Content-Type"] = "application/x-www-form-urlencoded"
            c.request(method, path, body=body, headers=h)
            r = c.getresponse()
            data = r.read()
            for k, v in r.getheaders():
                if k.lower() == "set-cookie":
                    name, _, rest = v.partition("=")
                    val = rest.split(";", 1)[0]
                    if val in ("", "deleted"):
                        self.cookies.pop(name, None)
                    else:
                        self.cookies[name] = val
            return r.status, data
        finally:
            c.close()

    def login(self, user=USER, password=PASS):
        st, data = self.http("GET", "/?_task=login")
        m = re.search(rb'name="_token" value="([^"]+)"', data)
        if not m:
            raise RuntimeError("Roundcube login form without _token (HTTP %d)" % st)
        form = urllib.parse.urlencode({"_token": m.group(1).decode(), "_task": "login",
                                       "_action": "login", "_timezone": "UTC", "_url": "",
                                       "_user": user, "_pass": password})
        st, data = self.http("POST", "/?_task=login", form)
        if st != 302:
            raise RuntimeError("Roundcube login failed (HTTP %d)" % st)
        st, data = self.http("GET", "/?_task=mail&_mbox=INBOX")
        m = re.search(rb'"request_token":"([^"]+)"', data)
        if st != 200 or not m:
            raise RuntimeError("Roundcube mail view without request_token (HTTP %d)" % st)
        self.token = m.group(1).decode()
        return self

    def list_raw(self):
        st, data = self.http("GET", "/?_task=mail&_action=list&_mbox=INBOX&_page=1&_remote=1"
                             "&_unlock=0", headers={"X-Roundcube-Request": self.token,
                                                    "X-Requested-With": "XMLHttpRequest"})
        if st != 200:
            raise RuntimeError("Roundcube list: HTTP %d %r" % (st, data[:300]))
        return data

    def view(self):
        """The list as [(subject, None, None)] and the message count Roundcube says."""
        r = json.loads(self.list_raw())
        ex = r.get("exec", "")
        rows = []
        dec = json.JSONDecoder()
        for m in re.finditer(r"this\.add_message_row\((\d+),", ex):
            cols, _ = dec.raw_decode(ex, m.end())
            rows.append((html.unescape(cols.get("subject", "")), None, None))
        m = re.search(r'this\.set_rowcount\("[^"]*?(\d+)"', ex) or \
            re.search(r"set_env\(\{[^}]*\"messagecount\":(\d+)", ex)
        total = int(m.group(1)) if m else None
        if total is None:
            m = re.search(r'"messagecount":(\d+)', ex)
            total = int(m.group(1)) if m else None
        return rows, total


class Roundcube(roundcube.Roundcube):
    """Roundcube under `php -S` (tests/lib/roundcube.py), configured for one IMAP server
    and the view measured: 50 per page, newest first, no threads, no cache."""

    def __init__(self, dir, imap_port, workers=4):
        super().__init__(dir, workers=workers, writer="bench/jmap/run.py")
        self.imap_port = imap_port

    def start(self):
        self.setup({
            "imap_host": "127.0.0.1:%d" % self.imap_port,
            "imap_auth_type": "LOGIN",
            "plugins": [],
            # the view: 50 per page, newest first, no threads, no cache (defaults but said)
            "mail_pagesize": 50,
            "max_pagesize": 200,
            "message_sort_col": "arrival",
            "message_sort_order": "DESC",
            "default_list_mode": "list",
            "imap_cache": None,
            "messages_cache": False,
        })
        super().start()
        return self


# ---------------------------------------------------------------- servers
class Buzon:
    def __init__(self, binary, base):
        self.jmap_port = bt.free_ports(1)[0]
        self.srv = bt.Server(users={USER: PASS}, fill=False, canary=False, buzon=binary,
                             config=["jmap_port = %d" % self.jmap_port, "jmap_tls = no",
                                     "log_level = warn"])
        self.srv.setup()
        inbox = self.srv.maildir(USER)
        shutil.rmtree(inbox)
        copy_maildir(base, inbox)

    def start(self):
        self.srv.start()
        if not wait_port(self.jmap_port, self.srv.proc):
            raise RuntimeError("buzon jmap_port not answering")
        return self

    def restart(self):
        self.srv.terminate()
        self.srv._start_once()
        wait_port(self.jmap_port, self.srv.proc)

    @property
    def imap_port(self):
        return self.srv.imap_port

    def stop(self):
        problems = self.srv.stop()
        if problems:
            log("buzon teardown: %s" % problems)


DOVECOT_CONF = """\
# written by bench/jmap/run.py: a private Dovecot instance, no system service
base_dir = %(dir)s/run
state_dir = %(dir)s/state
instance_name = buzon-bench-jmap-%(port)d
log_path = %(dir)s/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
first_valid_uid = 500
default_internal_user = dovecot
default_login_user = dovenull
mail_location = maildir:%(dir)s/mail/%%n
namespace inbox {
  inbox = yes
  separator = .
}
passdb {
  driver = static
  args = password=%(pass)s
}
userdb {
  driver = static
  args = uid=%(uid)d gid=%(uid)d home=%(dir)s/home/%%n
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = %(port)d
  }
  inet_listener imaps {
    port = 0
  }
}
protocol imap {
  mail_max_userip_connections = 1000
}
"""


class Dovecot:
    def __init__(self, dir, base):
        self.dir = dir
        self.imap_port = bt.free_ports(1)[0]
        for d in ("run", "state", "mail", "home"):
            os.makedirs(os.path.join(dir, d), exist_ok=True)
        for d in ("mail", "home"):
            os.chown(os.path.join(dir, d), MAIL_UID, MAIL_UID)
        copy_maildir(base, os.path.join(dir, "mail", USER))
        self.conf = os.path.join(dir, "dovecot.conf")
        with open(self.conf, "w") as f:
            f.write(DOVECOT_CONF % {"dir": dir, "port": self.imap_port, "uid": MAIL_UID,
                                    "pass": PASS})
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(["/usr/sbin/dovecot", "-F", "-c", self.conf],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        if not wait_port(self.imap_port, self.proc, 20):
            raise RuntimeError("dovecot imap not answering")
        return self

    def stop(self):
        if self.proc is None:
            return
        subprocess.run(["/usr/sbin/dovecot", "-c", self.conf, "stop"], capture_output=True)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.proc = None


CYRUS_IMAPD_CONF = """\
# written by bench/jmap/run.py: a private Cyrus instance, no system service
configdirectory: %(dir)s/conf
partition-default: %(dir)s/spool
defaultpartition: default
servername: localhost
cyrus_user: nobody
admins: cyrus
sasl_pwcheck_method: alwaystrue
sasl_mech_list: PLAIN LOGIN
allowplaintext: yes
unixhierarchysep: yes
altnamespace: yes
virtdomains: off
httpmodules: jmap
conversations: yes
conversations_db: twoskip
idlesocket: %(dir)s/run/idle
lmtpsocket: %(dir)s/run/lmtp
notifysocket: %(dir)s/run/notify
mboxname_lockpath: %(dir)s/run/lock
proc_path: %(dir)s/run/proc
syslog_prefix: buzon-bench-cyrus
"""
CYRUS_CONF = """\
START {
  recover cmd="%(bin)s/ctl_cyrusdb -C %(conf)s -r"
}
SERVICES {
  imap cmd="%(bin)s/imapd -C %(conf)s" listen="127.0.0.1:%(imap)d" prefork=0
  http cmd="%(bin)s/httpd -C %(conf)s" listen="127.0.0.1:%(http)d" prefork=0
}
EVENTS {
}
"""


def cyrus_libs_missing(root):
    """The libraries Cyrus's binaries cannot find (scripts/install-deps.sh bench)."""
    env = dict(os.environ, LD_LIBRARY_PATH=os.path.join(root, "usr", "lib", "x86_64-linux-gnu"))
    miss = set()
    for b in ("master", "imapd", "httpd"):
        r = subprocess.run(["ldd", os.path.join(root, "usr", "lib", "cyrus", "bin", b)],
                           capture_output=True, text=True, env=env)
        miss |= {ln.split()[0] for ln in r.stdout.splitlines() if "not found" in ln}
    return sorted(miss)


def cyrus_unpack(root, download=True):
    """Cyrus 3.6 from Debian in root (apt-get download + dpkg-deb -x, once)."""
    binary = os.path.join(root, "usr", "lib", "cyrus", "bin", "master")
    if os.path.exists(os.path.join(root, ".complete")):
        return True
    if not download:
        return False
    debs = os.path.join(root + "-debs")
    os.makedirs(debs, exist_ok=True)
    r = subprocess.run(["apt-get", "download"] + CYRUS_DEBS, cwd=debs, capture_output=True,
                       text=True)
    if r.returncode != 0:
        log("apt-get download %s: %s" % (" ".join(CYRUS_DEBS), r.stderr.strip()[-300:]))
        return False
    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(root)
    for name in sorted(os.listdir(debs)):
        if name.endswith(".deb"):
            subprocess.run(["dpkg-deb", "-x", os.path.join(debs, name), root], check=True)
    if not os.path.exists(binary):
        return False
    open(os.path.join(root, ".complete"), "w").close()
    return True


class Cyrus:
    def __init__(self, root, dir):
        self.root = root
        self.dir = dir
        self.bin = os.path.join(root, "usr", "lib", "cyrus", "bin")
        self.imap_port, self.http_port = bt.free_ports(2)
        for d in ("conf", "spool", "run"):
            os.makedirs(os.path.join(dir, d), exist_ok=True)
        self.conf = os.path.join(dir, "imapd.conf")
        with open(self.conf, "w") as f:
            f.write(CYRUS_IMAPD_CONF % {"dir": dir})
        with open(os.path.join(dir, "cyrus.conf"), "w") as f:
            f.write(CYRUS_CONF % {"bin": self.bin, "conf": self.conf, "imap": self.imap_port,
                                  "http": self.http_port})
        subprocess.run(["chown", "-R", "nobody:", dir], check=True)
        self.env = dict(os.environ,
                        LD_LIBRARY_PATH=os.path.join(root, "usr", "lib", "x86_64-linux-gnu"))
        self.proc = None

    def start(self, nosync=False):
        env = dict(self.env)
        if nosync:	# the fill only: fsync as a no-op (eatmydata), then a restart
            env["LD_PRELOAD"] = EATMYDATA
        self.proc = subprocess.Popen([os.path.join(self.bin, "master"), "-C", self.conf, "-M",
                                      os.path.join(self.dir, "cyrus.conf"), "-p",
                                      os.path.join(self.dir, "run", "master.pid"), "-D"],
                                     env=env, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        for p in (self.imap_port, self.http_port):
            if not wait_port(p, self.proc, 30):
                raise RuntimeError("cyrus master: port %d not answering (it logs to syslog)" % p)
        return self

    def stop(self):
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)	# its services
        except OSError:
            pass
        self.proc.wait()
        self.proc = None

    def restart(self):
        self.stop()
        self.start()

    def fill(self, msgs, batch=200):
        """Create the user's INBOX and APPEND every message with its mtime as
        INTERNALDATE and its Maildir flags (MULTIAPPEND with LITERAL+ in batches)."""
        import imaplib
        m = imaplib.IMAP4(bt.HOST, self.imap_port)
        m.login("cyrus", "x")
        typ, data = m.create("user/%s" % USER)
        if typ != "OK":
            raise RuntimeError("cyrus CREATE: %r" % data)
        m.logout()
        s = socket.create_connection((bt.HOST, self.imap_port), timeout=300)
        f = s.makefile("rb")
        f.readline()

        def cmd(line):
            s.sendall(line)
            while True:
                r = f.readline()
                if not r:
                    raise RuntimeError("cyrus closed the connection")
                if r.startswith(b"A"):
                    if b" OK " not in r[:12]:
                        raise RuntimeError("cyrus: %r" % r)
                    return
        cmd(b"A0 LOGIN %s %s\r\n" % (USER.encode(), PASS.encode()))
        # not T (\Deleted): Cyrus's JMAP hides such messages, buzon's and IMAP's lists
        # show them; without it the answers can be the same
        fmap = {"S": "\\Seen", "F": "\\Flagged", "R": "\\Answered", "D": "\\Draft"}
        for i in range(0, len(msgs), batch):
            parts = [b"A%d APPEND INBOX" % (i + 1)]
            for p, t, flags in msgs[i:i + batch]:
                with open(p, "rb") as fh:
                    data = fh.read().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
                fl = " ".join(fmap[c] for c in flags if c in fmap)
                date = time.strftime("%d-%b-%Y %H:%M:%S +0000", time.gmtime(t))
                parts.append(b" (%s) \"%s\" {%d+}\r\n" % (fl.encode(), date.encode(), len(data)))
                parts.append(data)
            parts.append(b"\r\n")
            cmd(b"".join(parts))
        cmd(b"A9 LOGOUT\r\n")
        s.close()


# ---------------------------------------------------------------- measuring
def pct(vals, p):
    v = sorted(vals)
    return v[min(len(v) - 1, int(round(p * (len(v) - 1))))]


def latency(fn, reps):
    out = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def _worker(kind, port, secs, barrier, out):
    c = Jmap(port).setup() if kind == "jmap" else RcClient(port).login()
    c.list_raw()	# this client's first request outside the window
    barrier.wait()
    t_end = time.monotonic() + secs
    n = 0
    while True:
        c.list_raw()
        if time.monotonic() > t_end:
            break
        n += 1
    out.put(n)


def throughput(kind, port, clients, secs):
    """Requests per second of `clients` processes (one connection or session each),
    each looping for secs once all have logged in."""
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(clients)
    out = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(kind, port, secs, barrier, out))
             for _ in range(clients)]
    for p in procs:
        p.start()
    counts = [out.get(timeout=secs + 300) for _ in procs]
    for p in procs:
        p.join()
    return sum(counts) / secs


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--buzon", help="binary (default $BUZON or build/buzon)")
    ap.add_argument("-n", "--messages", type=int, help="INBOX size (20000; --quick: 2000)")
    ap.add_argument("--reps", type=int, default=50, help="warm repetitions (50)")
    ap.add_argument("--first-reps", type=int, default=3,
                    help="restarts for the first-request-after-start figure (3)")
    ap.add_argument("--seconds", type=float, default=10, help="each throughput run (10 s)")
    ap.add_argument("--quick", action="store_true",
                    help="2,000 messages, 5 repetitions, 1 s throughput runs, 1 restart")
    ap.add_argument("--dir", default=os.path.join(REPO, "build-bench-data", "jmap"),
                    help="the base Maildir (kept) and the servers' directories (removed)")
    ap.add_argument("--cyrus-root", default="/var/tmp/buzon-bench/cyrus",
                    help="Debian's Cyrus packages unpacked here (once)")
    ap.add_argument("--no-download", action="store_true",
                    help="use Cyrus only when it is unpacked already (no apt-get download)")
    ap.add_argument("--only", default="buzon cyrus rc-buzon rc-dovecot",
                    help="systems to measure (buzon cyrus rc-buzon rc-dovecot)")
    args = ap.parse_args()
    if args.quick:
        args.messages = args.messages or 2000
        args.reps, args.seconds, args.first_reps = 5, 1.0, 1
    args.messages = args.messages or 20000
    only = args.only.split()
    root = os.getuid() == 0
    if not root:
        only = [s for s in only if s == "buzon"]
        log("not root: Cyrus, Dovecot and Roundcube skipped (they run privately as root)")
    if "rc-buzon" in only or "rc-dovecot" in only:
        miss = [p for p in (roundcube.RC_PUBLIC, roundcube.RC_SQL) if not os.path.exists(p)]
        if miss or not shutil.which("php"):
            log("Roundcube skipped: no %s (scripts/install-deps.sh check)" %
                (" ".join(miss) or "php"))
            only = [s for s in only if not s.startswith("rc-")]
    if "rc-dovecot" in only and not os.path.exists("/usr/sbin/dovecot"):
        log("Roundcube over Dovecot skipped: no /usr/sbin/dovecot")
        only.remove("rc-dovecot")
    if "cyrus" in only and not cyrus_unpack(args.cyrus_root, not args.no_download):
        log("Cyrus skipped: %s %s into %s" % ("no" if args.no_download else
                                              "could not unpack", " ".join(CYRUS_DEBS),
                                              args.cyrus_root))
        only.remove("cyrus")
    if "cyrus" in only and cyrus_libs_missing(args.cyrus_root):
        log("Cyrus skipped: missing %s (scripts/install-deps.sh bench)" %
            " ".join(cyrus_libs_missing(args.cyrus_root)))
        only.remove("cyrus")

    os.makedirs(args.dir, exist_ok=True)
    if root:
        os.chmod(args.dir, 0o755)
    t_begin = time.monotonic()
    base = make_base(args.dir, args.messages)
    msgs = base_messages(base)
    warm_cache(msgs)
    tmp = tempfile.mkdtemp(prefix="run.", dir=args.dir)
    os.chmod(tmp, 0o755)
    tempfile.tempdir = tmp	# buzontest's server directory goes there too
    binary = os.path.abspath(args.buzon) if args.buzon else None
    res = {}
    clients = {}	# system -> (kind, port, one client)
    servers = []
    bz = cy = dv = None
    try:
        bz = Buzon(binary, base)
        servers.append(bz)
        bz.start()
        t0 = time.perf_counter()
        clients["buzon"] = ("jmap", bz.jmap_port, Jmap(bz.jmap_port).setup())
        clients["buzon"][2].list_raw()
        res["buzon_index_s"] = time.perf_counter() - t0
        log("buzon: first request, index built: %.2f s" % res["buzon_index_s"])
        if "cyrus" in only:
            cy = Cyrus(args.cyrus_root, os.path.join(tmp, "cyrus"))
            servers.append(cy)
            try:	# the others are measured all the same
                cy.start(nosync=os.path.exists(EATMYDATA))
                t0 = time.perf_counter()
                cy.fill(msgs)
                res["cyrus_fill_s"] = time.perf_counter() - t0
                cy.restart()
                log("cyrus: %d messages appended in %.1f s" % (len(msgs), res["cyrus_fill_s"]))
                clients["cyrus"] = ("jmap", cy.http_port, Jmap(cy.http_port).setup())
            except (OSError, RuntimeError, KeyError, ValueError) as e:
                log("cyrus: left out: %s" % e)
        if "rc-buzon" in only:
            rc = Roundcube(os.path.join(tmp, "rc-buzon"), bz.imap_port).start()
            servers.append(rc)
            clients["rc-buzon"] = ("rc", rc.port, RcClient(rc.port).login())
        if "rc-dovecot" in only:
            dv = Dovecot(os.path.join(tmp, "dovecot"), base)
            servers.append(dv)
            dv.start()
            rc = Roundcube(os.path.join(tmp, "rc-dovecot"), dv.imap_port).start()
            servers.append(rc)
            clients["rc-dovecot"] = ("rc", rc.port, RcClient(rc.port).login())
        systems = [s for s in ("buzon", "cyrus", "rc-buzon", "rc-dovecot") if s in clients]

        # -- correctness: the same 50 messages in the same order everywhere
        want = msgs[::-1]
        views = {}
        for s in systems:
            views[s] = clients[s][2].view()
        ref, total = views["buzon"]
        ok = True
        if len(ref) != min(50, len(msgs)) or total != len(msgs):
            log("buzon: %d ids, total %r (want %d, %d)" % (len(ref), total,
                                                              min(50, len(msgs)), len(msgs)))
            ok = False
        times = [time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t)) for _, t, _ in want[:50]]
        if [r[1] for r in ref] != times:
            log("buzon: receivedAt of the answer are not the 50 newest files' mtimes")
            ok = False
        for s in systems[1:]:
            rows, tot = views[s]
            subj = [r[0] for r in rows]
            if subj != [r[0] for r in ref]:
                bad = [i for i in range(max(len(subj), len(ref)))
                       if i >= len(subj) or i >= len(ref) or subj[i] != ref[i][0]]
                log("%s: subjects differ from buzon's (%d rows, first difference at %d: %r vs %r)"
                    % (s, len(rows), bad[0], subj[bad[0]] if bad[0] < len(subj) else None,
                       ref[bad[0]][0] if bad[0] < len(ref) else None))
                ok = False
            if s == "cyrus" and [r[1:] for r in rows] != [r[1:] for r in ref]:
                diff = sum(1 for a, b in zip(rows, ref) if a[1:] != b[1:])
                log("cyrus: receivedAt/size differ from buzon's on %d rows (first: %r vs %r)"
                    % (diff, next(a for a, b in zip(rows, ref) if a[1:] != b[1:]),
                       next(b for a, b in zip(rows, ref) if a[1:] != b[1:])))
                ok = False
            if tot != len(msgs):
                log("%s: total %r, want %d" % (s, tot, len(msgs)))
        res["correct"] = 1 if ok else 0
        log("answers %s" % ("agree (%d rows on %s)" % (len(ref), ", ".join(systems))
                            if ok else "DIFFER"))

        # -- first request after a restart (fresh connection), JMAP servers
        for s, srv in (("buzon", bz), ("cyrus", cy)):
            if s not in clients:
                continue
            vals = []
            for _ in range(args.first_reps):
                clients[s][2].close()
                srv.restart()
                c = Jmap(clients[s][1])
                c.api, c.body = clients[s][2].api, clients[s][2].body
                t0 = time.perf_counter()
                c.list_raw()
                vals.append(time.perf_counter() - t0)
                c.close()
            res[s + "_first_ms"] = 1000 * sorted(vals)[len(vals) // 2]

        # -- warm latency, interleaved: one request of each system in turn
        lat = {s: [] for s in systems}
        for s in systems:
            clients[s][2].list_raw()
        for _ in range(args.reps):
            for s in systems:
                lat[s] += latency(clients[s][2].list_raw, 1)
        for s in systems:
            res[s + "_p50_ms"] = 1000 * pct(lat[s], 0.5)
            res[s + "_p90_ms"] = 1000 * pct(lat[s], 0.9)
            if isinstance(clients[s][2], Jmap):
                clients[s][2].close()
        # -- throughput with 1 and 4 clients
        for n in (1, 4):
            for s in systems:
                kind, port, _ = clients[s]
                res["%s_rps_%d" % (s, n)] = throughput(kind, port, n, args.seconds)
                log("%s, %d client(s): %.1f requests/s" % (s, n, res["%s_rps_%d" % (s, n)]))
        for s in systems:
            if s.startswith("rc-"):
                e = [srv for srv in servers if isinstance(srv, Roundcube)]
                for r in e:
                    if r.errors().strip():
                        log("Roundcube errors.log (%s): %s" % (r.dir, r.errors()[-500:]))
    finally:
        for srv in reversed(servers):
            try:
                srv.stop()
            except Exception as e:	# noqa: BLE001 — stop the others all the same
                log("stopping %s: %s" % (type(srv).__name__, e))
        shutil.rmtree(tmp, ignore_errors=True)
    res["wall_s"] = time.monotonic() - t_begin

    names = {"buzon": "buzon JMAP", "cyrus": "Cyrus 3.6 JMAP",
             "rc-buzon": "Roundcube, buzon IMAP", "rc-dovecot": "Roundcube, Dovecot IMAP"}
    print()
    print("Opening the newest 50 of %d messages in INBOX (Email/query + Email/get, or "
          "Roundcube's list request); %d warm repetitions, %g s per throughput run"
          % (len(msgs), args.reps, args.seconds))
    print("%-24s %9s %9s %9s %10s %10s %9s %9s" % ("", "first ms", "p50 ms", "p90 ms",
                                                    "req/s 1", "req/s 4", "p50 x", "rps4 x"))
    for s in systems:
        b50, b4 = res["buzon_p50_ms"], res["buzon_rps_4"]
        first = res.get(s + "_first_ms")
        print("%-24s %9s %9.2f %9.2f %10.1f %10.1f %9s %9s" % (
            names[s], "%.1f" % first if first is not None else "-", res[s + "_p50_ms"],
            res[s + "_p90_ms"], res[s + "_rps_1"], res[s + "_rps_4"],
            "-" if s == "buzon" else "%.1fx" % (res[s + "_p50_ms"] / b50),
            "-" if s == "buzon" else "%.1fx" % (b4 / res[s + "_rps_4"])))
    print("(x: how many times buzon JMAP is faster: the other's p50 / buzon's, buzon's "
          "req/s with 4 clients / the other's; targets: Cyrus >= 2x, Roundcube >= 5x)")
    print("answers: %s; buzon's first request (index built) %.2f s%s; run took %.0f s" % (
        "the same 50 subjects in the same order on every system" if res["correct"] else
        "DIFFER (see above): the figures compare different answers",
        res["buzon_index_s"],
        "; Cyrus filled by APPEND in %.0f s" % res["cyrus_fill_s"] if "cyrus_fill_s" in res
        else "", res["wall_s"]))
    print("result " + " ".join("%s=%s" % (k.replace("-", "_"), ("%.3f" % v) if isinstance(v, float)
                                          else v) for k, v in sorted(res.items())))
    return 0 if res["correct"] else 1


if __name__ == "__main__":
    sys.exit(main())
