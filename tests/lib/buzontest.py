"""buzontest — start a real buzon server in a temp dir for tests (Python 3 stdlib only).

A Server owns one temp dir holding a self-signed certificate for CN=localhost (made by
scripts/mkcert.sh, SAN DNS:localhost, IP:127.0.0.1), a config with free ports on
127.0.0.1, a passwd-file filled with `buzon user add`, one Maildir per user filled
from tests/fixtures/*.eml, and the server log.  start() runs `buzon serve -c FILE` in
its own session and waits until both IMAP ports accept; stop() sends SIGTERM, wants
exit status 0 within 10 s and no process left in the session, and scans the log and
the sanitizer log files for panics and ASan/UBSan/LSan reports.

Fixture file names (tests/fixtures): NN-name.eml goes to cur/ with no flags,
NN-name.FLAGS.eml to cur/ with ":2,FLAGS", NN-name.new.eml to new/.  Files have LF
line ends, as Postfix's local(8)/virtual(8) write them.

Run as root, passwd-file users get uid/gid 2000 (mail_uid/mail_gid and the passwd
entry) and own their Maildir; login processes run as `nobody`.  Run as a normal user,
everything runs as that user.

The binary is $BUZON, or build/buzon in the repository.  BUZONTEST_KEEP=1 keeps the
temp dir; BUZONTEST_DEBUG=1 sets log_level = debug and imap_debug = yes.

Test scripts use run_test(name, body, **server_options): body(server, result) is run
against a started server, and the script prints one line "PASS name" or
"FAIL name: reasons" and exits 0 or 1; details go to stderr.
"""

import argparse
import email
import email.policy
import email.utils
import glob
import imaplib
import os
import pwd
import random
import re
import shutil
import signal
import smtplib
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import traceback

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIXTURES = os.path.join(REPO, "tests", "fixtures")
MKCERT = os.path.join(REPO, "scripts", "mkcert.sh")
HOST = "127.0.0.1"
MAIL_UID = 2000			# passwd-file users when the tests run as root
START_TIMEOUT = 20.0		# ASan builds start slowly on a busy 2-core machine
STOP_TIMEOUT = 10.0
# Lines in the server log (or sanitizer logs) that fail the test.
# "killed by signal 31": a child killed by SIGSYS, i.e. by its seccomp filter
BAD_LOG = re.compile(r"\bpanic\b|AddressSanitizer|LeakSanitizer|runtime error|"
                     r"UndefinedBehaviorSanitizer|ThreadSanitizer|killed by signal 31\b", re.I)


class LineConn:
    """A connection to a line protocol spoken byte by byte (POP3, ManageSieve): what
    the suites' raw clients share."""

    def __init__(self, srv, port, tls=False, timeout=5):
        self.srv = srv
        self.sock = socket.create_connection((HOST, port), timeout=timeout)
        if tls:
            self.starttls()
        self.buf = b""

    def starttls(self):
        self.sock = self.srv.ssl_context().wrap_socket(self.sock, server_hostname="localhost")
        self.buf = b""

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self):
        d = self.sock.recv(65536)
        if not d:
            raise EOFError("connection closed by the server")
        self.buf += d

    def line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        ln, self.buf = self.buf.split(b"\r\n", 1)
        return ln

    def exact(self, n):
        while len(self.buf) < n:
            self._fill()
        d, self.buf = self.buf[:n], self.buf[n:]
        return d

    def closed(self, timeout=3.0):
        """True if the server closes the connection within timeout seconds (what it
        still sends is kept in buf); False if it is still open then."""
        self.sock.settimeout(timeout)
        try:
            while True:
                d = self.sock.recv(65536)
                if not d:
                    return True
                self.buf += d
        except (socket.timeout, TimeoutError):	# before OSError: it is one
            return False
        except (ConnectionResetError, ssl.SSLError, OSError):
            return True

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class ServerError(Exception):
    """The server could not be set up, did not start, or misbehaved at teardown."""


def default_binary():
    return os.path.abspath(os.environ.get("BUZON") or os.path.join(REPO, "build", "buzon"))


def lmtp_message(srv, sender, subject, to="demo@example.org"):
    """Deliver a small message from sender to to over LMTP (a Server with lmtp=True)."""
    msg = ("From: %s\r\nTo: %s\r\nSubject: %s\r\nMessage-ID: <%s.%f@example.net>\r\n\r\n"
           "body\r\n" % (sender, to, subject, sender.split("@")[0], time.time())).encode()
    lm = smtplib.LMTP(HOST, srv.lmtp_port, timeout=10)
    try:
        lm.sendmail(sender, [to], msg)
    finally:
        lm.quit()


def npm_ci(where, module):
    """node_modules/MODULE of the directory where, from its package-lock.json (npm ci,
    once); None when it is there, else what went wrong."""
    if os.path.isdir(os.path.join(where, "node_modules", module)):
        return None
    if shutil.which("npm") is None:
        return "%s is not installed and there is no npm (nodejs, npm)" % module
    r = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=where,
                       capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        return "npm ci in %s failed: %s" % (os.path.relpath(where),
                                            (r.stderr or r.stdout).strip()[-500:])
    return None


def free_ports(n, host=HOST):
    """Return n distinct free TCP ports on host (bound to port 0 at the same time, or,
    with $BUZON_TEST_PORTS=LO-HI, to free ports of that range)."""
    socks = []
    rng = os.environ.get("BUZON_TEST_PORTS")
    cands = []
    if rng:
        lo, hi = (int(x) for x in rng.split("-"))
        cands = random.sample(range(lo, hi + 1), hi + 1 - lo)
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            if not rng:
                s.bind((host, 0))
            while rng:
                if not cands:
                    raise OSError("no free port in BUZON_TEST_PORTS=%s" % rng)
                try:
                    s.bind((host, cands.pop()))
                    break
                except OSError:
                    continue
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def fixture_messages(pattern="*.eml"):
    """List the fixture messages, sorted: dicts with name, path, data (bytes),
    new (bool), flags (str, e.g. "FS"), subject (decoded str or None), date (epoch)."""
    out = []
    for path in sorted(glob.glob(os.path.join(FIXTURES, pattern))):
        name = os.path.basename(path)
        parts = name[:-len(".eml")].split(".")
        new = len(parts) > 1 and parts[-1] == "new"
        flags = parts[-1] if len(parts) > 1 and not new else ""
        with open(path, "rb") as f:
            data = f.read()
        msg = email.message_from_bytes(data, policy=email.policy.default)
        subject = str(msg["subject"]) if msg["subject"] is not None else None
        date = time.time()
        if msg["date"] is not None:
            try:
                date = email.utils.parsedate_to_datetime(str(msg["date"])).timestamp()
            except (TypeError, ValueError):
                pass
        out.append(dict(name=name, path=path, data=data, new=new, flags=flags,
                        subject=subject, date=date))
    return out


def crlf(data):
    """LF line ends to CRLF (what IMAP sends for a message stored with LF)."""
    return re.sub(rb"\r?\n", b"\r\n", data)


def lf(data):
    return data.replace(b"\r\n", b"\n")


_seq = 0


def maildir_name(data, flags=None, when=None):
    """A unique Maildir file name starting with the delivery time `when` (default now);
    flags None = for new/, else ":2,FLAGS" for cur/."""
    global _seq
    _seq += 1
    name = "%d.M%06dP%dQ%d.buzontest,S=%d" % (int(when or time.time()), time.monotonic_ns() // 1000 % 1000000,
                                              os.getpid(), _seq, len(data))
    if flags is not None:
        name += ":2," + "".join(sorted(flags))
    return name


class Server:
    """One buzon server instance.  Options:
    users         {name: password}, default {"demo": "demo"}
    fill          fill every user's INBOX from the fixtures (default True)
    config        extra "key = value" lines (list or str), appended last
    buzon         the binary (default $BUZON or build/buzon)
    canary        at stop(), check that a fresh login still works quickly (default True)
    lmtp          True: lmtp_listen = 127.0.0.1:<free port> (self.lmtp_port; start() waits
                  for its greeting); a string: that lmtp_listen value as is (e.g. unix:PATH)
    pop3          True: also pop3_port (STLS) and pop3s_port (implicit TLS) on free ports
                  (self.pop3_port, self.pop3s_port; start() waits for their greetings)
    certs         [(cert, key), ...] for the ssl_cert/ssl_key lines, the first being the
                  default (SNI picks the others); default: the generated localhost pair
                  (self.cert/self.key, which ssl_context() trusts either way)
    wrapper       a command prefix that execs the server in place, e.g.
                  ["prlimit", "--nofile=128:128"] (self.proc.pid stays the master's pid)

    A test that stops the server itself calls terminate(); stop() then only checks
    for left-over processes and scans the logs.
    """

    def __init__(self, users=None, fill=True, config=None, buzon=None, canary=True,
                 lmtp=False, pop3=False, certs=None, wrapper=None, asan_options=None):
        self.buzon = buzon or default_binary()
        self.asan_options = list(asan_options or [])	# appended to ASAN_OPTIONS
        self.users = dict(users if users is not None else {"demo": "demo"})
        self.fill = fill
        if isinstance(config, str):
            config = config.splitlines()
        self.extra_config = list(config or [])
        self.root = os.getuid() == 0
        self.uid = MAIL_UID if self.root else os.getuid()
        self.gid = MAIL_UID if self.root else os.getgid()
        self.tmp = None
        self.proc = None
        self.log_file = None
        self.problems = []
        self.stopped = False
        self.started = False
        self.canary = canary
        self.certs = list(certs) if certs else None
        self.lmtp = lmtp
        self.lmtp_port = None
        self.pop3_enabled = pop3
        self.pop3_port = self.pop3s_port = 0
        self.wrapper = list(wrapper or [])
        self.terminated = None		# (exit status or None, seconds) after terminate()

    # ---- setup ---------------------------------------------------------------------
    def setup(self):
        if not os.access(self.buzon, os.X_OK):
            raise ServerError("no executable %s (set $BUZON or run make)" % self.buzon)
        self.tmp = tempfile.mkdtemp(prefix="buzontest.")
        os.chmod(self.tmp, 0o755)	# the mail processes (uid 2000) traverse it
        self.certdir = os.path.join(self.tmp, "tls")
        r = subprocess.run([MKCERT, self.certdir, "localhost"], capture_output=True, text=True)
        if r.returncode != 0:
            raise ServerError("mkcert.sh failed: %s" % r.stderr.strip())
        self.cert = os.path.join(self.certdir, "fullchain.pem")
        self.key = os.path.join(self.certdir, "privkey.pem")
        self.mail_root = os.path.join(self.tmp, "mail")
        os.mkdir(self.mail_root, 0o755)
        self.base_dir = os.path.join(self.tmp, "run")
        os.mkdir(self.base_dir, 0o755)
        self.san_dir = os.path.join(self.tmp, "sanitizer")
        os.mkdir(self.san_dir)
        os.chmod(self.san_dir, 0o1777)	# every process uid writes its report here
        self.passwd_file = os.path.join(self.tmp, "users")
        open(self.passwd_file, "a").close()
        os.chmod(self.passwd_file, 0o600)
        self.imap_port, self.imaps_port = free_ports(2)
        if self.lmtp is True:
            self.lmtp_port = free_ports(1)[0]
        if self.pop3_enabled:
            self.pop3_port, self.pop3s_port = free_ports(2)
        self.config_path = os.path.join(self.tmp, "buzon.conf")
        self.log_path = os.path.join(self.tmp, "server.log")
        self.write_config()
        for name, password in self.users.items():
            self.add_user(name, password)
            self.make_maildir(name)
            if self.fill:
                self.fill_inbox(name)

    def config_lines(self):
        login_user = "nobody" if self.root else pwd.getpwuid(os.getuid()).pw_name
        debug = os.environ.get("BUZONTEST_DEBUG") == "1"
        lines = [
            "# written by tests/lib/buzontest.py",
            "listen = %s" % HOST,
            "imap_port = %d" % self.imap_port,
            "imaps_port = %d" % self.imaps_port,
            "pop3_port = %d" % self.pop3_port,
            "pop3s_port = %d" % self.pop3s_port,
        ]
        for cert, key in self.certs or [(self.cert, self.key)]:
            lines += ["ssl_cert = %s" % cert, "ssl_key = %s" % key]
        lines += [
            "passwd_file = %s" % self.passwd_file,
            "mail_location = maildir:%s/%%u" % self.mail_root,
            "base_dir = %s" % self.base_dir,
            "login_user = %s" % login_user,
            # brute-force protections are off unless a test turns them on (settings win)
            "auth_failure_delay_max = 0",
            "auth_ban_failures = 0",
            "log_level = %s" % ("debug" if debug else "info"),
        ]
        if debug:
            lines.append("imap_debug = yes")
        if self.lmtp is True:
            lines.append("lmtp_listen = %s:%d" % (HOST, self.lmtp_port))
        elif self.lmtp:
            lines.append("lmtp_listen = %s" % self.lmtp)
        if self.root:
            lines += ["mail_uid = %d" % MAIL_UID, "mail_gid = %d" % MAIL_UID,
                      "first_valid_uid = 500"]
        return lines + self.extra_config

    def write_config(self):
        with open(self.config_path, "w") as f:
            f.write("\n".join(self.config_lines()) + "\n")

    def cli(self, *args, stdin=None, check=True):
        """Run `buzon ARGS...`; returns the CompletedProcess (text)."""
        r = subprocess.run([self.buzon] + list(args), input=stdin, capture_output=True,
                           text=True, timeout=30, env=self.env())
        if check and r.returncode != 0:
            raise ServerError("buzon %s: exit %d: %s" % (" ".join(args), r.returncode,
                                                         (r.stderr or r.stdout).strip()))
        return r

    def add_user(self, name, password):
        """`buzon user add` (as root with -u/-g 2000: mail never runs as root)."""
        ids = ["-u", str(self.uid), "-g", str(self.gid)] if self.root else []
        self.cli("user", "add", "-c", self.config_path, *ids, name, stdin=password + "\n")

    def maildir(self, user="demo", folder=None):
        """Path of the user's INBOX Maildir, or of a Maildir++ folder ("Sent" -> .Sent)."""
        p = os.path.join(self.mail_root, user)
        return p if folder in (None, "INBOX") else os.path.join(p, "." + folder)

    def _own(self, path):
        if self.root:
            os.chown(path, self.uid, self.gid)

    def make_maildir(self, user, folder=None):
        root = self.maildir(user, folder)
        for d in (root, os.path.join(root, "cur"), os.path.join(root, "new"),
                  os.path.join(root, "tmp")):
            os.makedirs(d, mode=0o700, exist_ok=True)
            self._own(d)
        if folder not in (None, "INBOX"):
            marker = os.path.join(root, "maildirfolder")
            open(marker, "a").close()
            self._own(marker)
        return root

    def store(self, user, data, new=False, flags="", folder=None, mtime=None):
        """Put a message straight into a Maildir (tmp/ then rename, as an MDA does);
        returns the final path."""
        root = self.make_maildir(user, folder)
        name = maildir_name(data, None if new else flags, mtime)
        tmp = os.path.join(root, "tmp", name.split(":")[0])
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if mtime is not None:
            os.utime(tmp, (mtime, mtime))
        self._own(tmp)
        final = os.path.join(root, "new" if new else "cur", name)
        os.rename(tmp, final)
        return final

    def deliver(self, user, data, folder=None):
        """Deliver a message into new/ while the server runs (like Postfix virtual(8))."""
        return self.store(user, data, new=True, folder=folder)

    def fill_inbox(self, user):
        for m in fixture_messages():
            self.store(user, m["data"], new=m["new"], flags=m["flags"], mtime=m["date"])

    def maildir_files(self, user="demo", folder=None):
        """{basename without :2,... : (subdir, flags, bytes)} of a Maildir."""
        out = {}
        root = self.maildir(user, folder)
        for sub in ("new", "cur"):
            d = os.path.join(root, sub)
            if not os.path.isdir(d):
                continue
            for n in os.listdir(d):
                base, _, info = n.partition(":2,")
                with open(os.path.join(d, n), "rb") as f:
                    out[base] = (sub, info, f.read())
        return out

    # ---- process ---------------------------------------------------------------------
    def env(self):
        e = dict(os.environ)
        asan = [o for o in e.get("ASAN_OPTIONS", "").split(":") if o and not o.startswith("log_path=")]
        if self.tmp:
            asan.append("log_path=%s/asan" % self.san_dir)
        asan += self.asan_options
        e["ASAN_OPTIONS"] = ":".join(asan)
        ubsan = [o for o in e.get("UBSAN_OPTIONS", "").split(":") if o and not o.startswith("log_path=")]
        if not any(o.startswith("print_stacktrace=") for o in ubsan):
            ubsan.append("print_stacktrace=1")
        if self.tmp:
            ubsan.append("log_path=%s/ubsan" % self.san_dir)
        e["UBSAN_OPTIONS"] = ":".join(ubsan)
        return e

    def start(self):
        if self.tmp is None:
            self.setup()
        for attempt in range(3):
            try:
                return self._start_once()
            except ServerError as e:
                # free_ports() releases its ports before buzon binds them: another
                # program may take one meanwhile. Pick new ports and try again.
                if "Address already in use" not in str(e) or attempt == 2:
                    raise
                self.log_file.close()
                self.imap_port, self.imaps_port = free_ports(2)
                if self.lmtp is True:
                    self.lmtp_port = free_ports(1)[0]
                if self.pop3_enabled:
                    self.pop3_port, self.pop3s_port = free_ports(2)
                self.write_config()
        return self

    def _start_once(self):
        self.log_file = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.wrapper + [self.buzon, "serve", "-c", self.config_path],
                                     stdin=subprocess.DEVNULL, stdout=self.log_file,
                                     stderr=subprocess.STDOUT, env=self.env(),
                                     start_new_session=True, cwd=self.tmp)
        deadline = time.monotonic() + START_TIMEOUT
        waiting = [self.imap_port, self.imaps_port]
        if self.lmtp_port:
            waiting.append(self.lmtp_port)
        if self.pop3_enabled:
            waiting += [self.pop3_port, self.pop3s_port]
        while waiting:
            if self.proc.poll() is not None:
                raise ServerError("buzon serve exited with status %d during startup:\n%s"
                                  % (self.proc.returncode, self.log_tail()))
            if time.monotonic() > deadline:
                raise ServerError("ports %s not accepting after %.0f s:\n%s"
                                  % (waiting, START_TIMEOUT, self.log_tail()))
            try:
                self._probe(waiting[0], tls=waiting[0] in (self.imaps_port, self.pop3s_port))
                waiting.pop(0)
            except (OSError, ssl.SSLError):
                time.sleep(0.05)
        self.started = True
        return self

    def check_canary(self):
        """After-test invariant (RELIABILITY.md 5.0 #3): a fresh connection can LOGIN,
        EXAMINE INBOX, FETCH 1:* (UID RFC822.SIZE) and LOGOUT quickly.  Uses the first
        user whose password is still the one the Server was given."""
        for user, password in self.users.items():
            t0 = time.monotonic()
            ctx = ssl.create_default_context()	# liveness, not identity: a test may
            ctx.check_hostname = False		# have swapped the certificate
            ctx.verify_mode = ssl.CERT_NONE
            try:
                m = imaplib.IMAP4_SSL(HOST, self.imaps_port, ssl_context=ctx, timeout=10)
                m.login(user, password)
            except imaplib.IMAP4.error:
                continue	# the test changed or deleted this user
            except (OSError, ssl.SSLError, imaplib.IMAP4.abort) as e:
                return ["canary: cannot connect/log in: %s" % e]
            try:
                typ, data = m.select("INBOX", readonly=True)
                if typ != "OK":
                    return ["canary: EXAMINE INBOX -> %s %r" % (typ, data)]
                if int(data[0] or 0) > 0:
                    typ, data = m.fetch("1:*", "(UID RFC822.SIZE)")
                    if typ != "OK":
                        return ["canary: FETCH -> %s %r" % (typ, data)]
                m.logout()
            except (OSError, ssl.SSLError, imaplib.IMAP4.error, ValueError) as e:
                return ["canary: %s: %s" % (type(e).__name__, e)]
            dt = time.monotonic() - t0
            limit = 4.0 if "asan" in self.buzon else 1.5	# 1 s + tolerance (5.0)
            if dt > limit:
                return ["canary took %.2f s (limit %.1f s)" % (dt, limit)]
            return []
        return []

    def _probe(self, port, tls):
        """Connect, read the greeting (over TLS on the implicit-TLS port), LOGOUT."""
        s = socket.create_connection((HOST, port), timeout=2)
        try:
            if port == self.lmtp_port:
                f = s.makefile("rb")
                greeting = f.readline()
                if not greeting.startswith(b"220 "):
                    raise OSError("port %d: greeting %r" % (port, greeting))
                s.sendall(b"QUIT\r\n")
                f.readline()
                f.close()
                return
            if tls:
                ctx = ssl.create_default_context()
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
                s = ctx.wrap_socket(s, server_hostname="localhost")
            f = s.makefile("rb")
            greeting = f.readline()
            pop3 = self.pop3_enabled and port in (self.pop3_port, self.pop3s_port)
            if not greeting.startswith(b"+OK" if pop3 else b"* OK"):
                raise OSError("port %d: greeting %r" % (port, greeting))
            s.sendall(b"QUIT\r\n" if pop3 else b"a LOGOUT\r\n")
            f.readline()
            f.close()
        finally:
            s.close()

    def session_pids(self):
        """Processes (other than the master) still in the server's session."""
        pids = []
        for d in os.listdir("/proc"):
            if not d.isdigit() or int(d) == self.proc.pid:
                continue
            try:
                with open("/proc/%s/stat" % d) as f:
                    st = f.read()
            except OSError:
                continue
            fields = st[st.rindex(")") + 2:].split()
            if int(fields[3]) == self.proc.pid and fields[0] != "Z":	# session id
                pids.append(int(d))
        return pids

    def stop(self):
        """Stop the server and check it.  Returns a list of problems (empty = clean)."""
        if self.stopped:
            return self.problems
        self.stopped = True
        problems = self.problems
        if self.proc is not None:
            if self.terminated is not None:
                if self.proc.poll() is None:	# terminate() gave up waiting
                    self._killpg()
                    self.proc.wait()
            elif self.proc.poll() is not None:
                problems.append("server died during the test (status %d)" % self.proc.returncode)
            else:
                if self.canary and self.started:
                    problems += self.check_canary()
                self.proc.send_signal(signal.SIGTERM)
                try:
                    rc = self.proc.wait(STOP_TIMEOUT)
                    if rc != 0:
                        problems.append("buzon serve exited with status %d after SIGTERM" % rc)
                except subprocess.TimeoutExpired:
                    problems.append("buzon serve did not exit within %.0f s of SIGTERM" % STOP_TIMEOUT)
                    self._killpg()
                    self.proc.wait()
            deadline = time.monotonic() + 2
            left = self.session_pids()
            while left and time.monotonic() < deadline:
                time.sleep(0.05)
                left = self.session_pids()
            if left:
                problems.append("processes left after the master exited: %s" % left)
                self._killpg()
            self.log_file.close()
            problems += self.scan_logs()
        if problems:
            sys.stderr.write("---- server log (%s) ----\n%s\n" % (self.log_path, self.log_tail(80)))
        keep = os.environ.get("BUZONTEST_KEEP") == "1"
        if self.tmp and not keep:
            shutil.rmtree(self.tmp, ignore_errors=True)
        elif self.tmp:
            sys.stderr.write("buzontest: kept %s\n" % self.tmp)
        return problems

    def terminate(self, timeout=STOP_TIMEOUT):
        """Send SIGTERM to the master (by the test itself) and wait up to timeout s.
        Returns (exit status or None if still running, seconds waited); stop() later
        kills what is left and scans the logs, without the canary."""
        t0 = time.monotonic()
        rc = self.proc.poll()
        if rc is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                rc = None
        self.terminated = (rc, time.monotonic() - t0)
        return self.terminated

    def _killpg(self):
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except OSError:
            pass

    def scan_logs(self):
        found = []
        paths = [self.log_path] + sorted(glob.glob(os.path.join(self.san_dir, "*")))
        for p in paths:
            try:
                with open(p, "rb") as f:
                    text = f.read().decode("utf-8", "replace")
            except OSError:
                continue
            for line in text.splitlines():
                if BAD_LOG.search(line):
                    found.append("%s: %s" % (os.path.basename(p), line.strip()[:300]))
                    break
            if p != self.log_path and text.strip():
                sys.stderr.write("---- %s ----\n%s\n" % (p, text[:20000]))
        return found

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_tail(self, n=40):
        return "\n".join(self.log_text().splitlines()[-n:])

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc):
        problems = self.stop()
        if problems and exc[0] is None:
            raise ServerError("; ".join(problems))
        return False

    # ---- clients -----------------------------------------------------------------------
    def ssl_context(self):
        """A client context that trusts (only) the test certificate."""
        return ssl.create_default_context(cafile=self.cert)

    def imap(self, user="demo", password=None, starttls=True, login=True, timeout=10):
        """imaplib.IMAP4 on the STARTTLS port, after STARTTLS (verified) and LOGIN."""
        m = imaplib.IMAP4(HOST, self.imap_port, timeout=timeout)
        if starttls:
            m.starttls(ssl_context=self.ssl_context())
        if login:
            m.login(user, password if password is not None else self.users[user])
        return m

    def imaps(self, user="demo", password=None, login=True, timeout=10):
        """imaplib.IMAP4_SSL on the implicit-TLS port (verified), after LOGIN."""
        m = imaplib.IMAP4_SSL(HOST, self.imaps_port, ssl_context=self.ssl_context(),
                              timeout=timeout)
        if login:
            m.login(user, password if password is not None else self.users[user])
        return m


    def pop3(self, user="demo", password=None, stls=True, login=True, timeout=10):
        """poplib.POP3 on pop3_port, after STLS (verified) and USER/PASS."""
        import poplib
        p = poplib.POP3(HOST, self.pop3_port, timeout=timeout)
        if stls:
            p.stls(context=self.ssl_context())
        if login:
            p.user(user)
            p.pass_(password if password is not None else self.users[user])
        return p

    def pop3s(self, user="demo", password=None, login=True, timeout=10):
        """poplib.POP3_SSL on pop3s_port (verified), after USER/PASS."""
        import poplib
        p = poplib.POP3_SSL(HOST, self.pop3s_port, context=self.ssl_context(),
                            timeout=timeout)
        if login:
            p.user(user)
            p.pass_(password if password is not None else self.users[user])
        return p


class Result:
    """Collects failed checks for one test; details go to stderr."""

    def __init__(self, name):
        self.name = name
        self.failures = []

    def fail(self, what):
        self.failures.append(what)
        sys.stderr.write("FAIL: %s\n" % what)

    def check(self, cond, what):
        if cond:
            sys.stderr.write("ok: %s\n" % what)
        else:
            self.fail(what)
        return bool(cond)

    def eq(self, got, want, what):
        if got == want:
            sys.stderr.write("ok: %s\n" % what)
            return True
        self.fail("%s: got %s, want %s" % (what, _short(got), _short(want)))
        return False


def _short(v, n=200):
    s = repr(v)
    return s if len(s) <= n else s[:n] + "..."


def run_test(name, body, **server_options):
    """Run body(server, result) against a fresh server; print one result line; exit."""
    res = Result(name)

    def terminated(signo, frame):
        raise SystemExit("%s: terminated (signal %d)" % (name, signo))
    signal.signal(signal.SIGTERM, terminated)	# the driver's timeout: still stop the server
    srv = Server(**server_options)
    try:
        srv.start()
        body(srv, res)
    except Exception as e:	# a client error is a test failure, not a crash of the runner
        traceback.print_exc()
        res.fail("%s: %s" % (type(e).__name__, str(e).splitlines()[0] if str(e) else ""))
    finally:
        for p in srv.stop():
            res.fail("teardown: " + p)
    if res.failures:
        print("FAIL %s: %s" % (name, "; ".join(f.replace("\n", " ") for f in res.failures)[:500]))
        sys.stdout.flush()
        sys.exit(1)
    print("PASS %s" % name)
    sys.stdout.flush()
    sys.exit(0)



def run_case(name, fn, srv, start=None, ignore_problem=None):
    """One case of a suite: start srv (start(srv) instead when given: set up, then
    start), run fn(srv, res), stop it, print "PASS name (N s)" or "FAIL name: ...".
    A teardown problem fails the case unless ignore_problem(problem) says it is expected.
    Returns True when it passed."""
    res = Result(name)
    t0 = time.monotonic()
    try:
        if start is not None:
            start(srv)
        else:
            srv.start()
        fn(srv, res)
    except Exception as e:	# a client error is a test failure, not a crash of the runner
        traceback.print_exc()
        res.fail("%s: %s" % (type(e).__name__, str(e).splitlines()[0] if str(e) else ""))
    finally:
        for p in srv.stop():
            if ignore_problem is None or not ignore_problem(p):
                res.fail("teardown: " + p)
    dt = time.monotonic() - t0
    if res.failures:
        print("FAIL %s (%.1f s): %s" % (name, dt, "; ".join(
            f.replace("\n", " ") for f in res.failures)[:600]))
    else:
        print("PASS %s (%.1f s)" % (name, dt))
    sys.stdout.flush()
    return not res.failures


def suite_main(doc, tests, run_one, before=None):
    """The command line of a suite whose cases are (name, fn, options) in tests:
    run.py [--buzon PATH] [NAME...]; run_one(name, fn, options) runs one and returns
    True when it passed; before(args) may prepare the run and return a clean-up
    function, or return a string to skip the whole suite (printed as SKIP). Prints
    "N passed, M failed"; returns the exit status."""
    ap = argparse.ArgumentParser(description=doc.split("\n")[0])
    ap.add_argument("names", nargs="*")
    ap.add_argument("--buzon", help="server binary (default $BUZON or build/buzon)")
    args = ap.parse_args()
    if args.buzon:
        os.environ["BUZON"] = os.path.abspath(args.buzon)
    done = None
    if before is not None:
        done = before(args)
        if isinstance(done, str):
            print("SKIP %s" % done)
            print("0 passed, 0 failed")
            return 0
    passed = failed = 0
    try:
        for name, fn, opts in tests:
            if args.names and name not in args.names:
                continue
            if run_one(name, fn, opts):
                passed += 1
            else:
                failed += 1
    finally:
        if done is not None:
            done()
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0

# ---- IMAP response parsing (for imaplib results) ------------------------------------

class _Lit:
    """Marks a literal inside a flattened imaplib response."""

    def __init__(self, data):
        self.data = data


def _tokens(stream, lits):
    """Parse one flattened response into nested lists; atoms as str, strings and
    literals as bytes, NIL as None."""
    pos = 0
    n = len(stream)

    def value():
        nonlocal pos
        while pos < n and stream[pos:pos + 1] == b" ":
            pos += 1
        if pos >= n:
            raise ValueError("truncated response: %r" % stream[:200])
        c = stream[pos:pos + 1]
        if c == b"(":
            pos += 1
            out = []
            while True:
                while pos < n and stream[pos:pos + 1] == b" ":
                    pos += 1
                if stream[pos:pos + 1] == b")":
                    pos += 1
                    return out
                out.append(value())
        if c == b'"':
            pos += 1
            s = bytearray()
            while stream[pos:pos + 1] != b'"':
                if stream[pos:pos + 1] == b"\\":
                    pos += 1
                s += stream[pos:pos + 1]
                pos += 1
                if pos >= n:
                    raise ValueError("unterminated string")
            pos += 1
            return bytes(s)
        if c == b"\x00":
            end = stream.index(b"\x00", pos + 1)
            i = int(stream[pos + 1:end])
            pos = end + 1
            return lits[i]
        start = pos
        depth = 0
        while pos < n:
            ch = stream[pos:pos + 1]
            if ch == b"[":
                depth += 1
            elif ch == b"]":
                depth -= 1
            elif depth == 0 and ch in (b" ", b"(", b")"):
                if ch == b"(" and pos > start:	# never inside an atom
                    break
                break
            pos += 1
        atom = stream[start:pos].decode("utf-8", "replace")
        return None if atom.upper() == "NIL" else atom

    out = []
    while True:
        while pos < n and stream[pos:pos + 1] == b" ":
            pos += 1
        if pos >= n:
            return out
        out.append(value())


def flatten(data):
    """imaplib's response data list -> (bytes with literal markers, literals)."""
    pieces, lits = [], []
    for item in data:
        if item is None:
            continue
        if isinstance(item, tuple):
            head, lit = item
            head = re.sub(rb"~?\{\d+\+?\}$", b"", head)
            pieces.append(head + b"\x00%d\x00" % len(lits))
            lits.append(lit)
        else:
            pieces.append(item)
    return b" ".join(pieces), lits


def parse_fetch(data):
    """imaplib FETCH/UID FETCH data -> list of (seq, {ITEM: value}) with item names
    upper-cased (BODY[] etc.), values parsed (lists, bytes, str, None)."""
    stream, lits = flatten(data)
    toks = _tokens(stream, lits)
    out = []
    i = 0
    while i + 1 < len(toks):
        seq, items = toks[i], toks[i + 1]
        i += 2
        d = {}
        for k in range(0, len(items) - 1, 2):
            key = items[k].upper() if isinstance(items[k], str) else items[k]
            d[key] = items[k + 1]
        out.append((int(seq), d))
    return out


def parse_list(data):
    """imaplib LIST data -> [(flags, delimiter, name)], name decoded as str."""
    stream, lits = flatten(data)
    toks = _tokens(stream, lits)
    out = []
    for k in range(0, len(toks) - 2, 3):
        name = toks[k + 2]
        if isinstance(name, bytes):
            name = name.decode("utf-8", "replace")
        delim = toks[k + 1]
        out.append(([f.lower() for f in toks[k]], delim.decode() if isinstance(delim, bytes) else delim, name))
    return out


def text(v):
    """bytes/str/None -> str (for comparisons on parsed values)."""
    if v is None:
        return ""
    return v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)


def flatten_upper(tree):
    """A parsed structure as one upper-case string (for BODYSTRUCTURE checks)."""
    if isinstance(tree, list):
        return "(" + " ".join(flatten_upper(x) for x in tree) + ")"
    if tree is None:
        return "NIL"
    if isinstance(tree, bytes):
        return '"%s"' % tree.decode("utf-8", "replace").upper()
    return str(tree).upper()
