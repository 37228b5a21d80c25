#!/usr/bin/env python3
"""SCRAM tests (issue 16): SCRAM-SHA-256, SCRAM-SHA-1 and SCRAM-SHA-256-PLUS (tls-exporter,
RFC 9266) over IMAP AUTHENTICATE against a real buzon on 127.0.0.1, with two independent
clients: GNU gsasl (plaintext, STARTTLS, channel binding) and a SCRAM client written here
from RFC 5802 (through Python's imaplib, and byte by byte for SASL-IR, a wrong channel
binding, the "y" downgrade flag and a forged nonce), and POP3 AUTH and ManageSieve
AUTHENTICATE with the latter (gsasl speaks neither), and mbsync and mutt through Cyrus SASL's SCRAM plugin. Credentials come from `buzon user add
--scheme` and from Dovecot's `doveadm pw` (users moved from Dovecot keep them); PLAIN and
LOGIN still work for SCRAM-stored users; an unknown user gets a stable made-up salt; wrong
proofs count towards the ban like wrong passwords.

  run.py [--buzon PATH] [NAME...]     (details of every check go to stderr)
"""
import base64
import hashlib
import hmac
import imaplib
import os
import shutil
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import buzontest as bt  # noqa: E402

TESTS = []


def test(**server_options):
    server_options["config"] = ["auth_scram = yes"] + server_options.get("config", [])

    def deco(fn):
        TESTS.append((fn.__name__, fn, server_options))
        return fn
    return deco


# ---- a SCRAM client (RFC 5802 §3) ------------------------------------------------------

class Scram:
    def __init__(self, user, password, hashname="sha256", gs2="n,,", cbind=b"", nonce=None):
        self.user, self.password, self.h = user, password.encode(), hashname
        self.gs2, self.cbind = gs2, cbind
        self.cnonce = nonce or base64.b64encode(os.urandom(18)).decode()
        self.bare = "n=%s,r=%s" % (user.replace("=", "=3D").replace(",", "=2C"), self.cnonce)
        self.server_sig = None
        self.attrs = None

    def first(self):
        return (self.gs2 + self.bare).encode()

    def final(self, server_first, nonce=None):
        sf = server_first.decode()
        a = dict(kv.split("=", 1) for kv in sf.split(","))
        self.attrs = a
        assert a["r"].startswith(self.cnonce), "server nonce does not extend ours"
        salt, it = base64.b64decode(a["s"]), int(a["i"])
        salted = hashlib.pbkdf2_hmac(self.h, self.password, salt, it)
        ckey = hmac.new(salted, b"Client Key", self.h).digest()
        skey = hmac.new(salted, b"Server Key", self.h).digest()
        stored = hashlib.new(self.h, ckey).digest()
        c = base64.b64encode(self.gs2.encode() + self.cbind).decode()
        without = "c=%s,r=%s" % (c, nonce if nonce is not None else a["r"])
        am = ("%s,%s,%s" % (self.bare, sf, without)).encode()
        csig = hmac.new(stored, am, self.h).digest()
        proof = bytes(x ^ y for x, y in zip(ckey, csig))
        self.server_sig = hmac.new(skey, am, self.h).digest()
        return ("%s,p=%s" % (without, base64.b64encode(proof).decode())).encode()

    def check_server_final(self, data):
        return data == b"v=" + base64.b64encode(self.server_sig)


def imaplib_scram(srv, user, password, mech="SCRAM-SHA-256", hashname="sha256"):
    """imaplib's AUTHENTICATE with our client; returns (typ, server-final checked)."""
    m = imaplib.IMAP4(bt.HOST, srv.imap_port, timeout=10)
    s = Scram(user, password, hashname)
    step = [0]
    ok = [False]

    def auth(challenge):
        step[0] += 1
        if step[0] == 1:
            return s.first()
        if step[0] == 2:
            return s.final(challenge)
        ok[0] = s.check_server_final(challenge)
        return b""
    try:
        typ, _ = m.authenticate(mech, auth)
    except imaplib.IMAP4.error as e:
        sys.stderr.write("imaplib: %s\n" % e)
        typ = "NO"
    if typ == "OK":
        typ2, data = m.select("INBOX")
        typ = typ if typ2 == "OK" else "SELECT-" + typ2
    try:
        m.logout()
    except Exception:
        pass
    return typ, ok[0]


class Raw:
    """An IMAP connection spoken line by line (plaintext, or STARTTLS)."""

    def __init__(self, srv, tls=False):
        self.sock = socket.create_connection((bt.HOST, srv.imap_port), timeout=10)
        self.f = self.sock.makefile("rb")
        assert self.f.readline().startswith(b"* OK")
        if tls:
            self.cmd(b"t STARTTLS")
            self.sock = srv.ssl_context().wrap_socket(self.sock, server_hostname="localhost")
            self.f = self.sock.makefile("rb")

    def send(self, line):
        self.sock.sendall(line + b"\r\n")

    def line(self):
        ln = self.f.readline()
        if not ln:
            raise EOFError("connection closed")
        return ln.rstrip(b"\r\n")

    def cmd(self, line):
        self.send(line)
        tag = line.split(b" ", 1)[0]
        while True:
            ln = self.line()
            if ln.startswith(tag + b" "):
                return ln

    def close(self):
        self.sock.close()


def raw_params(srv, user):
    """The server-first-message a client gets for user (then cancels)."""
    r = Raw(srv)
    s = Scram(user, "x")
    r.send(b"a AUTHENTICATE SCRAM-SHA-256 " + base64.b64encode(s.first()))
    ln = r.line()
    assert ln.startswith(b"+ "), ln
    r.send(b"*")
    r.line()
    r.close()
    return dict(kv.split("=", 1) for kv in base64.b64decode(ln[2:]).decode().split(","))


def gsasl(srv, user, password, mech, tls, extra=(), pop3=False):
    args = ["gsasl", "--pop3" if pop3 else "--imap", "-a", user, "-p", password,
            "--mechanism", mech, "localhost", str(srv.pop3_port if pop3 else srv.imap_port)]
    args += ["--x509-ca-file", srv.cert, "--starttls"] if tls else ["--no-starttls"]
    r = subprocess.run(args + list(extra), capture_output=True, text=True, timeout=30,
                       stdin=subprocess.DEVNULL)
    sys.stderr.write("gsasl %s %s: exit %d\n%s\n%s\n" % (mech, user, r.returncode,
                                                        r.stdout[-1500:], r.stderr[-500:]))
    return r


def add_scram_user(srv, name, password, scheme="SCRAM-SHA-256"):
    ids = ["-u", str(srv.uid), "-g", str(srv.gid)] if srv.root else []
    srv.cli("user", "add", "-c", srv.config_path, "--scheme", scheme, *ids, name,
            stdin=password + "\n")
    srv.make_maildir(name)


def add_dovecot_user(srv, name, password, scheme="SCRAM-SHA-256"):
    """A line as Dovecot's passwd-file holds it, made by doveadm pw."""
    r = subprocess.run(["doveadm", "pw", "-s", scheme, "-p", password], capture_output=True,
                       text=True, check=True)
    with open(srv.passwd_file, "a") as f:
        f.write("%s:%s:%d:%d::::\n" % (name, r.stdout.strip(), srv.uid, srv.gid))
    srv.make_maildir(name)


# ---- tests -----------------------------------------------------------------------------

@test()
def gsasl_sha256(srv, res):
    add_scram_user(srv, "sam", "pencil")
    add_dovecot_user(srv, "dove", "s3cret")
    r = gsasl(srv, "sam", "pencil", "SCRAM-SHA-256", tls=False)
    res.eq(r.returncode, 0, "gsasl SCRAM-SHA-256, right password, plaintext")
    res.check("+ dj" in r.stdout, "the server-final (v=) was sent")
    r = gsasl(srv, "dove", "s3cret", "SCRAM-SHA-256", tls=True, extra=["--no-cb"])
    res.eq(r.returncode, 0, "gsasl SCRAM-SHA-256 over STARTTLS, doveadm pw credentials")
    r = gsasl(srv, "sam", "wrong", "SCRAM-SHA-256", tls=False)
    res.check(r.returncode != 0 and "NO [AUTHENTICATIONFAILED]" in r.stdout,
              "gsasl, wrong password: NO [AUTHENTICATIONFAILED]")
    r = gsasl(srv, "nobody", "pencil", "SCRAM-SHA-256", tls=False)
    res.check(r.returncode != 0 and "NO [AUTHENTICATIONFAILED]" in r.stdout,
              "gsasl, unknown user: NO [AUTHENTICATIONFAILED]")
    add_scram_user(srv, "old", "sha1pw", scheme="SCRAM-SHA-1")
    r = gsasl(srv, "old", "sha1pw", "SCRAM-SHA-1", tls=False)
    res.eq(r.returncode, 0, "gsasl SCRAM-SHA-1")
    r = gsasl(srv, "old", "sha1pw", "SCRAM-SHA-256", tls=False)
    res.check(r.returncode != 0, "SCRAM-SHA-256 for a user with SHA-1 credentials fails")


@test()
def gsasl_plus(srv, res):
    add_scram_user(srv, "sam", "pencil")
    r = gsasl(srv, "sam", "pencil", "SCRAM-SHA-256-PLUS", tls=True)
    res.eq(r.returncode, 0, "gsasl SCRAM-SHA-256-PLUS (tls-exporter) over STARTTLS")
    res.check("AUTHENTICATE SCRAM-SHA-256-PLUS" in r.stdout, "-PLUS was used")
    r = gsasl(srv, "sam", "wrong", "SCRAM-SHA-256-PLUS", tls=True)
    res.check(r.returncode != 0, "gsasl -PLUS, wrong password fails")
    # no -PLUS without TLS: neither advertised nor accepted
    raw = Raw(srv)
    raw.send(b"c CAPABILITY")
    caps = raw.line()
    raw.line()
    res.check(b"AUTH=SCRAM-SHA-256 " in caps + b" " and b"PLUS" not in caps,
              "plaintext: SCRAM-SHA-256 offered, -PLUS not: %r" % caps)
    res.check(raw.cmd(b"p AUTHENTICATE SCRAM-SHA-256-PLUS").startswith(b"p NO"),
              "-PLUS refused without TLS")
    raw.close()


@test()
def python_client(srv, res):
    add_scram_user(srv, "sam", "pencil")
    add_scram_user(srv, "a,b=c", "comma")
    typ, ok = imaplib_scram(srv, "sam", "pencil")
    res.eq((typ, ok), ("OK", True), "imaplib SCRAM-SHA-256, server signature checked")
    typ, ok = imaplib_scram(srv, "a,b=c", "comma")
    res.eq((typ, ok), ("OK", True), "a user name with ',' and '=' (=2C, =3D)")
    typ, _ = imaplib_scram(srv, "sam", "wrong")
    res.eq(typ, "NO", "imaplib SCRAM, wrong password")
    # PLAIN and LOGIN for a SCRAM-stored user
    m = imaplib.IMAP4(bt.HOST, srv.imap_port, timeout=10)
    res.eq(m.login("sam", "pencil")[0], "OK", "LOGIN with SCRAM credentials")
    m.logout()
    m = imaplib.IMAP4(bt.HOST, srv.imap_port, timeout=10)
    res.check(m.authenticate("PLAIN", lambda _: b"\0sam\0pencil")[0] == "OK",
              "AUTHENTICATE PLAIN with SCRAM credentials")
    m.logout()
    m = imaplib.IMAP4(bt.HOST, srv.imap_port, timeout=10)
    try:
        m.login("sam", "pencil2")
        res.fail("LOGIN with a wrong password accepted")
    except imaplib.IMAP4.error:
        pass
    m.logout()
    # SASL-IR (RFC 4959), byte by byte
    raw = Raw(srv)
    s = Scram("sam", "pencil")
    raw.send(b"i AUTHENTICATE SCRAM-SHA-256 " + base64.b64encode(s.first()))
    ln = raw.line()
    res.check(ln.startswith(b"+ "), "SASL-IR: server-first at once")
    raw.send(base64.b64encode(s.final(base64.b64decode(ln[2:]))))
    ln = raw.line()
    res.check(ln.startswith(b"+ ") and s.check_server_final(base64.b64decode(ln[2:])),
              "SASL-IR: server-final with the right ServerSignature")
    raw.send(b"")
    ln = raw.line()
    res.check(ln.startswith(b"i OK"), "SASL-IR: tagged OK after the empty response: %r" % ln)
    res.check(raw.cmd(b"s SELECT INBOX").startswith(b"s OK"), "logged in: SELECT")
    raw.close()
    # cancelled at each step ("*", RFC 3501 §6.2.2), then a login on the same connection
    raw = Raw(srv)
    raw.send(b"c1 AUTHENTICATE SCRAM-SHA-256")
    raw.line()
    raw.send(b"*")
    res.check(raw.line().startswith(b"c1 BAD"), "cancel before client-first")
    s = Scram("sam", "pencil")
    raw.send(b"c2 AUTHENTICATE SCRAM-SHA-256 " + base64.b64encode(s.first()))
    raw.line()
    raw.send(b"*")
    res.check(raw.line().startswith(b"c2 BAD"), "cancel after server-first")
    res.check(raw.cmd(b"c3 AUTHENTICATE SCRAM-SHA-256 =").startswith(b"c3 NO"),
              "an empty client-first-message fails")
    s = Scram("sam", "pencil")
    raw.send(b"c4 AUTHENTICATE SCRAM-SHA-256 " + base64.b64encode(s.first()))
    ln = raw.line()
    raw.send(base64.b64encode(s.final(base64.b64decode(ln[2:]))))
    raw.line()
    raw.send(b"")
    res.check(raw.line().startswith(b"c4 OK"), "then a SCRAM login on the same connection")
    raw.close()


@test()
def channel_binding(srv, res):
    add_scram_user(srv, "sam", "pencil")
    # a binding to data that is not this session's exporter: refused
    raw = Raw(srv, tls=True)
    s = Scram("sam", "pencil", gs2="p=tls-exporter,,", cbind=os.urandom(32))
    raw.send(b"b AUTHENTICATE SCRAM-SHA-256-PLUS " + base64.b64encode(s.first()))
    ln = raw.line()
    res.check(ln.startswith(b"+ "), "-PLUS: server-first")
    raw.send(base64.b64encode(s.final(base64.b64decode(ln[2:]))))
    ln = raw.line()
    res.check(ln.startswith(b"b NO"), "a wrong channel binding fails: %r" % ln)
    # "y" (client could bind, thinks we cannot) on TLS, where -PLUS is offered: downgrade
    s = Scram("sam", "pencil", gs2="y,,")
    raw.send(b"y AUTHENTICATE SCRAM-SHA-256 " + base64.b64encode(s.first()))
    res.check(raw.line().startswith(b"y NO"), "'y' flag on TLS refused (RFC 5802 §6)")
    raw.close()
    # a nonce that is not the one the server extended
    raw = Raw(srv)
    s = Scram("sam", "pencil")
    raw.send(b"n AUTHENTICATE SCRAM-SHA-256 " + base64.b64encode(s.first()))
    ln = raw.line()
    raw.send(base64.b64encode(s.final(base64.b64decode(ln[2:]), nonce=s.cnonce + "forged")))
    res.check(raw.line().startswith(b"n NO"), "a forged nonce fails")
    # "y" over plaintext, where -PLUS is not offered: fine
    s = Scram("sam", "pencil", gs2="y,,")
    raw.send(b"o AUTHENTICATE SCRAM-SHA-256 " + base64.b64encode(s.first()))
    ln = raw.line()
    raw.send(base64.b64encode(s.final(base64.b64decode(ln[2:]))))
    ln = raw.line()
    res.check(ln.startswith(b"+ "), "'y' over plaintext: server-final")
    raw.send(b"")
    res.check(raw.line().startswith(b"o OK"), "'y' over plaintext: OK")
    raw.close()


@test()
def unknown_users(srv, res):
    add_scram_user(srv, "sam", "pencil")
    real = raw_params(srv, "sam")
    a1, a2, b = raw_params(srv, "ghost"), raw_params(srv, "ghost"), raw_params(srv, "spook")
    res.eq(a1["s"], a2["s"], "an unknown user's salt is the same every time")
    res.check(a1["s"] != b["s"], "and differs between unknown users")
    res.eq(len(base64.b64decode(a1["s"])), len(base64.b64decode(real["s"])),
           "its length is a real salt's")
    res.eq(a1["i"], real["i"], "its iteration count is a real user's")


def pop3_scram(srv, user, password, initial=True):
    """POP3 AUTH SCRAM-SHA-256 (RFC 5034) with our client; returns the last line."""
    sock = socket.create_connection((bt.HOST, srv.pop3_port), timeout=10)
    f = sock.makefile("rb")
    f.readline()
    s = Scram(user, password)
    if initial:
        sock.sendall(b"AUTH SCRAM-SHA-256 " + base64.b64encode(s.first()) + b"\r\n")
    else:
        sock.sendall(b"AUTH SCRAM-SHA-256\r\n")
        assert f.readline().startswith(b"+ ")
        sock.sendall(base64.b64encode(s.first()) + b"\r\n")
    ln = f.readline().rstrip(b"\r\n")
    if ln.startswith(b"+ "):
        sock.sendall(base64.b64encode(s.final(base64.b64decode(ln[2:]))) + b"\r\n")
        ln = f.readline().rstrip(b"\r\n")
        if ln.startswith(b"+ ") and s.check_server_final(base64.b64decode(ln[2:])):
            sock.sendall(b"\r\n")
            ln = f.readline().rstrip(b"\r\n")
            if ln.startswith(b"+OK"):
                sock.sendall(b"STAT\r\n")
                ln = f.readline().rstrip(b"\r\n")
    sock.close()
    return ln


MBSYNC = """\
IMAPAccount test
Host localhost
Port {port}
User {user}
Pass {password}
SSLType IMAPS
CertificateFile {cert}
AuthMechs {mech}
Timeout 20

IMAPStore remote
Account test

MaildirStore local
Path {local}/
Inbox {local}/INBOX

Channel test
Far :remote:
Near :local:
Patterns INBOX
Create Near
Sync Pull
SyncState *
"""


@test()
def mbsync_cyrus_sasl(srv, res):
    """mbsync through Cyrus SASL's SCRAM plugin over implicit TLS."""
    if shutil.which("mbsync") is None:
        sys.stderr.write("no mbsync: skipped\n")
        return
    add_scram_user(srv, "sam", "pencil")
    srv.fill_inbox("sam")
    for mech, user, password, want, what in (
            ("SCRAM-SHA-256", "sam", "pencil", 0, "right password"),
            ("SCRAM-SHA-256", "sam", "wrong", 1, "wrong password"),
            ("SCRAM-SHA-1", "sam", "pencil", 1, "SHA-1 for a SHA-256 user")):
        local = os.path.join(srv.tmp, "mbsync-%s-%s" % (mech, password))
        os.makedirs(local)
        cfg = os.path.join(local, "rc")
        with open(cfg, "w") as f:
            f.write(MBSYNC.format(port=srv.imaps_port, user=user, password=password,
                                  cert=srv.cert, mech=mech, local=local))
        r = subprocess.run(["mbsync", "-c", cfg, "test"], capture_output=True, text=True,
                           timeout=60, env=dict(os.environ, HOME=local))
        sys.stderr.write("mbsync %s %s: exit %d\n%s\n" % (mech, password, r.returncode,
                                                          (r.stdout + r.stderr)[-1500:]))
        res.eq(r.returncode != 0, want != 0, "mbsync %s, %s" % (mech, what))
        if want == 0:
            n = len(os.listdir(os.path.join(local, "INBOX", "cur"))) + \
                len(os.listdir(os.path.join(local, "INBOX", "new")))
            res.eq(n, len(srv.maildir_files("sam")), "mbsync fetched the INBOX")
    res.check("method=SCRAM-SHA-256" in srv.log_text(), "the login used SCRAM-SHA-256")


MUTTRC = """\
set folder = "imaps://{user}@localhost:{port}/"
set spoolfile = "+INBOX"
set imap_user = "{user}"
set imap_pass = "{password}"
set imap_authenticators = "scram-sha-256"
set certificate_file = "{certs}"
set ssl_force_tls = yes
set imap_check_subscribed = no
set imap_passive = yes
set header_cache = ""
set message_cachedir = ""
set record = ""
set charset = "utf-8"
set index_format = "%4C %s"
set quit = yes
set move = no
set wait_key = no
set help = no
set timeout = 5
"""


@test()
def mutt_cyrus_sasl(srv, res):
    """mutt (Debian's, built with Cyrus SASL) logs in with SCRAM-SHA-256 only
    (imap_authenticators), in a detached tmux pane, and shows the INBOX."""
    for tool in ("mutt", "tmux"):
        if shutil.which(tool) is None:
            sys.stderr.write("no %s: skipped\n" % tool)
            return
    add_scram_user(srv, "sam", "pencil")
    srv.store("sam", b"Subject: scram through mutt\r\n\r\nbody\r\n")
    home = os.path.join(srv.tmp, "mutthome")
    os.mkdir(home, 0o700)
    certs = os.path.join(home, "certificates")
    shutil.copy(srv.cert, certs)
    rc = os.path.join(home, "muttrc")
    with open(rc, "w") as f:
        f.write(MUTTRC.format(user="sam", password="pencil", port=srv.imaps_port, certs=certs))
    sock = "buzontest-scram-mutt-%d" % os.getpid()
    env = dict(os.environ, LANG="C.UTF-8", LC_ALL="C.UTF-8", TERM="xterm-256color")

    def tmux(*a):
        return subprocess.run(["tmux", "-L", sock] + list(a), capture_output=True, timeout=20,
                              env=env).stdout.decode("utf-8", "replace")
    tmux("new-session", "-d", "-s", "m", "-x", "160", "-y", "40",
         "cd %s && HOME=%s exec mutt -n -F %s" % (home, home, rc))
    try:
        deadline, screen = time.monotonic() + 20, ""
        while time.monotonic() < deadline:
            screen = tmux("capture-pane", "-p", "-J", "-t", "m")
            if "scram through mutt" in screen:
                break
            time.sleep(0.2)
        sys.stderr.write("---- mutt ----\n%s\n--------------\n" % screen)
        res.check("scram through mutt" in screen, "mutt shows the INBOX after a SCRAM login")
        tmux("send-keys", "-t", "m", "q")
    finally:
        time.sleep(0.5)
        subprocess.run(["tmux", "-L", sock, "kill-server"], capture_output=True, env=env)
    log = srv.log_text()
    res.check("method=SCRAM-SHA-256" in log, "the login used SCRAM-SHA-256")
    res.check("method=PLAIN" not in log and "method=LOGIN" not in log,
              "and no password mechanism")


@test(pop3=True)
def pop3(srv, res):
    add_scram_user(srv, "sam", "pencil")
    ln = pop3_scram(srv, "sam", "pencil")
    res.check(ln.startswith(b"+OK 0 "), "POP3 AUTH SCRAM-SHA-256 (initial response), STAT: %r" % ln)
    ln = pop3_scram(srv, "sam", "pencil", initial=False)
    res.check(ln.startswith(b"+OK 0 "), "POP3 AUTH SCRAM-SHA-256 (no initial response): %r" % ln)
    ln = pop3_scram(srv, "sam", "wrong")
    res.check(ln.startswith(b"-ERR [AUTH]"), "POP3, wrong password: %r" % ln)
    sock = socket.create_connection((bt.HOST, srv.pop3_port), timeout=10)
    f = sock.makefile("rb")
    f.readline()
    sock.sendall(b"CAPA\r\n")
    capa = []
    while True:
        ln = f.readline().rstrip(b"\r\n")
        if ln == b".":
            break
        capa.append(ln)
    res.check(b"SASL PLAIN LOGIN SCRAM-SHA-1 SCRAM-SHA-256" in capa,
              "CAPA lists the SCRAM mechanisms (no -PLUS without TLS): %r" % capa)
    sock.close()


MS_PORT = bt.free_ports(1)[0]


def managesieve_scram(srv, user, password, initial=True):
    """ManageSieve AUTHENTICATE "SCRAM-SHA-256" (RFC 5804 §2.1, challenges are strings)
    with our client; returns the last line."""
    sock = socket.create_connection((bt.HOST, MS_PORT), timeout=10)
    f = sock.makefile("rb")
    while not f.readline().startswith(b"OK"):
        pass
    s = Scram(user, password)

    def string(ln):
        return base64.b64decode(ln.strip(b'"')) if ln.startswith(b'"') else None
    if initial:
        sock.sendall(b'AUTHENTICATE "SCRAM-SHA-256" "%s"\r\n' % base64.b64encode(s.first()))
    else:
        sock.sendall(b'AUTHENTICATE "SCRAM-SHA-256"\r\n')
        assert f.readline().rstrip(b"\r\n") == b'""'
        sock.sendall(b'"%s"\r\n' % base64.b64encode(s.first()))
    ln = f.readline().rstrip(b"\r\n")
    if string(ln) is not None:
        sock.sendall(b'"%s"\r\n' % base64.b64encode(s.final(string(ln))))
        ln = f.readline().rstrip(b"\r\n")
        if string(ln) is not None and s.check_server_final(string(ln)):
            sock.sendall(b'""\r\n')
            ln = f.readline().rstrip(b"\r\n")
    sock.close()
    return ln


@test(config=["managesieve_port = %d" % MS_PORT])
def managesieve(srv, res):
    add_scram_user(srv, "sam", "pencil")
    # a home for sieve_dir = ~/sieve
    h = os.path.join(srv.tmp, "home-sam")
    os.makedirs(h, mode=0o700)
    if srv.root:
        os.chown(h, srv.uid, srv.gid)
    with open(srv.passwd_file) as f:
        lines = [ln.split(":") for ln in f.read().splitlines()]
    for ln in lines:
        if ln[0] == "sam":
            ln[5] = h
    with open(srv.passwd_file, "w") as f:
        f.write("\n".join(":".join(ln) for ln in lines) + "\n")
    ln = managesieve_scram(srv, "sam", "pencil")
    res.check(ln.startswith(b"OK"), "ManageSieve SCRAM-SHA-256 (initial response): %r" % ln)
    ln = managesieve_scram(srv, "sam", "pencil", initial=False)
    res.check(ln.startswith(b"OK"), "ManageSieve SCRAM-SHA-256 (continuation): %r" % ln)
    ln = managesieve_scram(srv, "sam", "wrong")
    res.check(ln.startswith(b"NO"), "ManageSieve, wrong password: %r" % ln)


@test(config=["auth_scram = no"])
def off_by_default(srv, res):
    """Clients pick SCRAM when offered: users with other schemes need it off (the default)."""
    raw = Raw(srv)
    raw.send(b"c CAPABILITY")
    caps = raw.line()
    raw.line()
    res.check(b"AUTH=PLAIN" in caps and b"SCRAM" not in caps, "auth_scram = no: not offered")
    res.check(raw.cmd(b"a AUTHENTICATE SCRAM-SHA-256").startswith(b"a NO"),
              "auth_scram = no: refused")
    raw.close()


@test(config=["auth_failure_delay_max = 2", "auth_ban_failures = 2",
              "auth_ban_seconds = 60"], canary=False)
def penalties(srv, res):
    add_scram_user(srv, "sam", "pencil")
    t0 = time.monotonic()
    typ, _ = imaplib_scram(srv, "sam", "wrong")
    dt = time.monotonic() - t0
    res.eq(typ, "NO", "wrong proof")
    # (a lower bound only: the first failure is answered after 2 s)
    res.check(dt >= 1.5, "the failure delay applies to a SCRAM proof (%.1f s)" % dt)
    imaplib_scram(srv, "ghost", "wrong")
    typ, _ = imaplib_scram(srv, "sam", "pencil")
    res.eq(typ, "NO", "banned after 2 failed SCRAM logins (one an unknown user): even the "
           "right proof is refused")
    res.check("auth ban ip=127.0.0.1" in srv.log_text(), "the ban is logged")


# ---- driver ---------------------------------------------------------------------------

def run_one(name, fn, opts):
    return bt.run_case(name, fn, bt.Server(**opts))


if __name__ == "__main__":
    sys.exit(bt.suite_main(__doc__, TESTS, run_one))
