#!/usr/bin/env python3
"""tests/systemd/run.py — buzon under systemd, without systemd as PID 1.

  verify     `systemd-analyze verify` on contrib/systemd/buzon.service (ExecStart pointed
             at the binary under test, the man pages from the build): exit 0, no output
  notify     sd_notify(3) for real: the test owns a Unix datagram socket, puts it in
             $NOTIFY_SOCKET and starts `buzon serve` (tests/lib/buzontest.py); it wants
             READY=1 with STATUS= from the master's pid (SCM_CREDENTIALS, as systemd's
             NotifyAccess=main checks), a STATUS= that counts a logged-in user, then
             RELOADING=1 with MONOTONIC_USEC and READY=1 again after `buzon reload`, and
             STOPPING=1 after SIGTERM; no child process gets $NOTIFY_SOCKET
  sockact    socket activation by a real service manager's tool: systemd-socket-activate
             opens the IMAP, IMAPS and one unconfigured port and execs `buzon serve` at the
             first connection; buzon takes the two it is configured for (logged), closes
             the third with a warning (connections to it are refused), logins work on
             both, no child keeps $LISTEN_FDS, and a reload keeps serving
  hardening  (root, setpriv) the server runs with the unit's CapabilityBoundingSet and
             NoNewPrivileges: IMAP STARTTLS and IMAPS logins (login process chroot, mail
             process as the user) and an LMTP delivery work
Prints "PASS name" / "FAIL name: why" / "SKIP name: why", then "N passed, M failed".
A few seconds in all. $BUZON selects the binary (default build/buzon).
"""

import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "lib"))
import buzontest  # noqa: E402

REPO = buzontest.REPO
UNIT = os.path.join(REPO, "contrib", "systemd", "buzon.service")
SOCKET_UNIT = os.path.join(REPO, "contrib", "systemd", "buzon.socket")
BUZON = os.path.abspath(os.environ.get("BUZON") or buzontest.default_binary())
results = []


def case(name, fn):
    try:
        why = fn()
    except Exception as e:  # a broken case is a failure, not a crash of the runner
        import traceback
        traceback.print_exc()
        why = "%s: %s" % (type(e).__name__, e)
    if why and why.startswith("SKIP"):
        print("SKIP %s: %s" % (name, why[5:]))
        why = None
    elif why:
        print("FAIL %s: %s" % (name, why.replace("\n", " ")[:600]))
    else:
        print("PASS %s" % name)
    sys.stdout.flush()
    results.append(not why)


def unit_settings(key):
    with open(UNIT) as f:
        return [line.split("=", 1)[1].strip() for line in f if line.startswith(key + "=")]


def t_verify():
    if shutil.which("systemd-analyze") is None:
        return "SKIP no systemd-analyze"
    tmp = tempfile.mkdtemp(prefix="buzon-unit.")
    try:
        with open(UNIT) as f:
            text = f.read().replace("/usr/sbin/buzon", BUZON)
        path = os.path.join(tmp, "buzon.service")
        with open(path, "w") as f:
            f.write(text)
        shutil.copy(SOCKET_UNIT, tmp)
        env = dict(os.environ)
        # the man: Documentation= links are checked with man(1): the pages of the build
        build = os.path.dirname(BUZON)
        for sec, page in (("8", "buzon.8"), ("5", "buzon.conf.5")):
            os.makedirs(os.path.join(tmp, "man", "man" + sec), exist_ok=True)
            if os.path.exists(os.path.join(build, page)):
                shutil.copy(os.path.join(build, page), os.path.join(tmp, "man", "man" + sec))
            else:
                env["SYSTEMD_ANALYZE_NO_MAN"] = "1"
        env["MANPATH"] = os.path.join(tmp, "man")
        cmd = ["systemd-analyze", "verify"]
        if env.get("SYSTEMD_ANALYZE_NO_MAN"):
            cmd.append("--man=no")	# a build without scdoc has no pages to point at
        r = subprocess.run(cmd + [path, os.path.join(tmp, "buzon.socket")], capture_output=True,
                           text=True, env=env, timeout=60)
        out = (r.stdout + r.stderr).strip()
        if r.returncode != 0 or out:
            return "systemd-analyze verify: exit %d: %s" % (r.returncode, out)
        return None
    finally:
        shutil.rmtree(tmp)


class Notify:
    """The service manager's end: a datagram socket that records (pid, fields)."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="buzon-notify.")
        os.chmod(self.dir, 0o755)
        self.path = os.path.join(self.dir, "notify")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.msgs = []

    def wait(self, pred, what, timeout=10.0):
        """Read until a message satisfies pred(fields); returns (pid, fields)."""
        for m in self.msgs:
            if pred(m[1]):
                return m
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                data, anc, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(12))
            except socket.timeout:
                break
            pid = None
            for level, typ, cdata in anc:
                if level == socket.SOL_SOCKET and typ == socket.SCM_CREDENTIALS:
                    pid = struct.unpack("iII", cdata[:12])[0]
            fields = dict(line.split("=", 1) for line in data.decode().split("\n") if "=" in line)
            sys.stderr.write("notify from pid %s: %r\n" % (pid, fields))
            self.msgs.append((pid, fields))
            if pred(fields):
                return pid, fields
        raise AssertionError("no %s within %.0f s (got %r)" % (what, timeout, self.msgs))

    def close(self):
        self.sock.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def child_with_env(srv, name):
    """A complaint if one of the server's children has the variable name, else None."""
    for child in srv.session_pids():
        try:
            with open("/proc/%d/environ" % child, "rb") as e:
                if name + b"=" in e.read():
                    return "child pid %d has %s" % (child, name.decode())
        except OSError:
            pass
    return None


def has_libsystemd():
    r = subprocess.run(["ldd", BUZON], capture_output=True, text=True)
    return "libsystemd" in r.stdout


def t_notify():
    if not has_libsystemd():
        return "SKIP %s is built without libsystemd" % BUZON
    n = Notify()
    old = os.environ.get("NOTIFY_SOCKET")
    os.environ["NOTIFY_SOCKET"] = n.path
    srv = buzontest.Server(buzon=BUZON, canary=False)
    try:
        srv.start()
        master = srv.proc.pid
        pid, f = n.wait(lambda f: f.get("READY") == "1", "READY=1")
        if pid != master:
            return "READY=1 from pid %s, the master is %d" % (pid, master)
        if "logging in" not in f.get("STATUS", ""):
            return "no STATUS= with READY=1: %r" % f
        why = child_with_env(srv, b"NOTIFY_SOCKET")
        if why:
            return why
        imap = srv.imap()
        imap.select("INBOX")
        n.wait(lambda f: "1 users with sessions" in f.get("STATUS", ""), "STATUS with 1 user")
        imap.logout()
        t0 = time.clock_gettime(time.CLOCK_MONOTONIC)
        srv.cli("reload", "-c", srv.config_path)
        pid, f = n.wait(lambda f: f.get("RELOADING") == "1", "RELOADING=1")
        usec = int(f.get("MONOTONIC_USEC", "0"))
        if pid != master or not t0 * 1e6 - 1e6 <= usec <= time.clock_gettime(time.CLOCK_MONOTONIC) * 1e6:
            return "RELOADING=1 from pid %s with MONOTONIC_USEC=%s (now %.0f)" % (pid, usec, t0 * 1e6)
        n.msgs = n.msgs[n.msgs.index((pid, f)) + 1:]	# the READY=1 after it
        n.wait(lambda f: f.get("READY") == "1", "READY=1 after the reload")
        srv.terminate()
        pid, f = n.wait(lambda f: f.get("STOPPING") == "1", "STOPPING=1")
        if pid is not None and pid != master:
            return "STOPPING=1 from pid %s, the master is %d" % (pid, master)
        if srv.terminated[0] != 0:
            return "exit status %s after SIGTERM" % (srv.terminated,)
        return None
    finally:
        problems = srv.stop()
        if old is None:
            os.environ.pop("NOTIFY_SOCKET", None)
        else:
            os.environ["NOTIFY_SOCKET"] = old
        n.close()
        if problems:
            raise AssertionError("; ".join(problems))


def t_sockact():
    if shutil.which("systemd-socket-activate") is None:
        return "SKIP no systemd-socket-activate"
    srv = buzontest.Server(buzon=BUZON, canary=False)
    try:
        srv.setup()
        spare = buzontest.free_ports(1)[0]
        srv.wrapper = ["systemd-socket-activate"]
        for port in (srv.imap_port, srv.imaps_port, spare):
            srv.wrapper += ["-l", "%s:%d" % (buzontest.HOST, port)]
        srv.start()	# its first probe makes systemd-socket-activate exec buzon
        log = srv.log_text()
        for want in ("socket activation: 3 sockets passed",
                     "listen %s port %d: the service manager's socket" % (buzontest.HOST, srv.imap_port),
                     "listen %s port %d: the service manager's socket" % (buzontest.HOST, srv.imaps_port),
                     "the passed socket %s:%d matches no listener" % (buzontest.HOST, spare)):
            if want not in log:
                return "log lacks %r: %s" % (want, log[-1500:])
        try:
            socket.create_connection((buzontest.HOST, spare), timeout=5).close()
            return "the unconfigured passed socket still accepts"
        except OSError:
            pass
        for conn in (srv.imap(), srv.imaps()):
            typ, data = conn.select("INBOX")
            if typ != "OK":
                return "SELECT: %r" % data
            conn.logout()
        why = child_with_env(srv, b"LISTEN_FDS")
        if why:
            return why
        srv.cli("reload", "-c", srv.config_path)
        time.sleep(0.5)
        conn = srv.imap()
        conn.noop()
        conn.logout()
        return None
    finally:
        problems = srv.stop()
        if problems:
            raise AssertionError("; ".join(problems))


def t_hardening():
    if os.getuid() != 0:
        return "SKIP not root"
    if shutil.which("setpriv") is None:
        return "SKIP no setpriv"
    caps = unit_settings("CapabilityBoundingSet")[0].split()
    bounding = "-all," + ",".join("+" + c[len("CAP_"):].lower() for c in caps)
    wrapper = ["setpriv", "--bounding-set", bounding, "--inh-caps", "-all"]
    if unit_settings("NoNewPrivileges") == ["yes"]:
        wrapper.append("--no-new-privs")
    srv = buzontest.Server(buzon=BUZON, lmtp=True, wrapper=wrapper)
    try:
        srv.start()
        with open("/proc/%d/status" % srv.proc.pid) as f:
            st = f.read()
        bnd = int(re.search(r"CapBnd:\s*([0-9a-f]+)", st).group(1), 16)
        if bnd == (1 << 41) - 1 or bnd == 0:
            return "the master's bounding set was not restricted (%x)" % bnd
        for conn in (srv.imap(), srv.imaps()):
            typ, data = conn.select("INBOX")
            if typ != "OK":
                return "SELECT: %r" % data
            conn.logout()
        s = socket.create_connection((buzontest.HOST, srv.lmtp_port), timeout=10)
        f = s.makefile("rwb")

        def cmd(line, want):
            if line is not None:
                f.write(line + b"\r\n")
                f.flush()
            while True:
                r = f.readline()
                if not r.startswith(want[:3] + b"-"):
                    break
            if not r.startswith(want):
                raise AssertionError("LMTP %r: %r" % (line, r))
        cmd(None, b"220")
        cmd(b"LHLO test", b"250")
        cmd(b"MAIL FROM:<a@example.org>", b"250")
        cmd(b"RCPT TO:<demo>", b"250")
        cmd(b"DATA", b"354")
        cmd(b"Subject: hardening\r\n\r\nbody\r\n.", b"250")
        s.close()
        if not any(b"Subject: hardening" in v[2] for v in srv.maildir_files("demo").values()):
            return "the LMTP message is not in the Maildir"
        return None
    finally:
        problems = srv.stop()
        if problems:
            raise AssertionError("; ".join(problems))


case("verify", t_verify)
case("notify", t_notify)
case("sockact", t_sockact)
case("hardening", t_hardening)
print("%d passed, %d failed" % (results.count(True), results.count(False)))
sys.exit(0 if all(results) else 1)
