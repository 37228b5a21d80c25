#!/usr/bin/env python3
"""tests/importcfg/run.py — `buzon import-dovecot-config` (src/cli/import_dovecot.c).

Configurations imported:
  stock     Debian's /etc/dovecot as installed by dovecot-core (read, never changed)
  doveconf  `doveconf -n -c /etc/dovecot/dovecot.conf` on standard input (when doveconf
            runs without a running Dovecot; else SKIP)
  seed      written here: system users (PAM), Maildir in ~/Maildir, Let's Encrypt paths,
            imaps only, the LMTP and auth sockets in Postfix's private/ directory, quota
            and Sieve, in dovecot.conf + conf.d/*.conf with !include, a line continuation,
            $protocols, quoted values and comments
  virtual   written here: passwd-file users with scheme=, username_format, userdb
            default_fields with uid/gid/home, mail_location = maildir:ROOT/var/vmail/%d/%n,
            IMAP + POP3 + LMTP on high ports, a namespace with separator '/'
The fixtures name paths under a temp dir ROOT (written as @ROOT@ and replaced here), so
the certificates, sockets and Maildirs they name exist or can be created. Each result
must be accepted by `buzon check -c RESULT`; to check a result, this test appends only
what the test machine needs and the imported Dovecot configuration cannot say:
base_dir and login_user (the `buzon` user need not exist here) and, for stock and
doveconf, a certificate (Debian's /etc/dovecot/private/dovecot.pem exists only once
Dovecot's postinst made one). Each of the stock, seed and virtual results then serves:
`buzon serve` on a high port, IMAP LOGIN with imaplib, SELECT INBOX, LOGOUT; virtual with
a passwd-file user, stock and seed (as root) with a system user made by useradd and
chpasswd, checked through PAM (/etc/pam.d/buzon written for the run, pam_unix, and
removed after; tests/run-all.sh runs this suite in the lane of tests/auth and
tests/package, which write that file too).

Malformed input: an unterminated section, '}' without a section, an unterminated quote,
an include loop, a missing !include, a 10 MB line (stdin and file), a 100 KB line,
NUL bytes, sections nested too deep: exit status 1, "FILE:LINE: reason" on stderr, no
crash, nothing on stdout.

Prints "PASS name" / "FAIL name: why" / "SKIP name: why", then "N passed, M failed".
Takes ~2 s. Usage: run.py [--buzon PATH] [NAME...]
"""
import argparse
import imaplib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "lib"))
import buzontest  # noqa: E402

SEED = {
    "dovecot.conf": """\
# seed-style Dovecot 2.3: system users, Maildir, Let's Encrypt, Postfix sockets
protocols = imap
protocols = $protocols \\
  lmtp
listen = *, ::
!include conf.d/*.conf
!include_try local.conf
""",
    "conf.d/10-auth.conf": """\
disable_plaintext_auth = yes
auth_mechanisms = plain login   # what Thunderbird uses
!include auth-system.conf.ext
""",
    "conf.d/auth-system.conf.ext": """\
passdb {
  driver = pam
  # args = dovecot
}
userdb {
  driver = passwd
}
""",
    "conf.d/10-mail.conf": """\
mail_location = maildir:~/Maildir
first_valid_uid = 1000
mail_privileged_group = mail
namespace inbox {
  inbox = yes
  separator = .
  mailbox Drafts {
    special_use = \\Drafts
    auto = subscribe
  }
  mailbox Sent {
    special_use = \\Sent
    auto = subscribe
  }
  mailbox "Sent Messages" {
    special_use = \\Sent
  }
  mailbox Trash {
    special_use = \\Trash
  }
  mailbox Junk {
    special_use = \\Junk
  }
}
""",
    "conf.d/10-master.conf": """\
service imap-login {
  inet_listener imap {
    port = 0
  }
  inet_listener imaps {
    port = 993
    ssl = yes
  }
}
service lmtp {
  unix_listener @ROOT@/var/spool/postfix/private/dovecot-lmtp {
    mode = 0600
    user = postfix
    group = postfix
  }
}
service auth {
  unix_listener auth-userdb {
  }
  unix_listener @ROOT@/var/spool/postfix/private/auth {
    mode = 0660
    user = postfix
    group = postfix
  }
}
""",
    "conf.d/10-ssl.conf": """\
ssl = required
ssl_cert = <@ROOT@/etc/letsencrypt/live/mail.example.org/fullchain.pem
ssl_key = <@ROOT@/etc/letsencrypt/live/mail.example.org/privkey.pem
ssl_min_protocol = TLSv1.2
ssl_dh = </usr/share/dovecot/dh.pem
""",
    "conf.d/20-imap.conf": """\
protocol imap {
  mail_max_userip_connections = 20
  imap_idle_notify_interval = 5 mins
}
protocol lmtp {
  mail_plugins = $mail_plugins sieve
}
""",
    "conf.d/90-plugins.conf": """\
plugin {
  sieve = file:~/sieve;active=~/.dovecot.sieve
  sieve_before = file:/var/lib/dovecot/sieve/before.d;bindir=/var/lib/dovecot/sieve/bin
  sieve_after = /var/lib/dovecot/sieve/after.sieve
  quota = maildir:User quota
  quota_rule = *:storage=1G
  quota_rule2 = Trash:storage=+100M
  quota_warning = storage=95%% quota-warning 95 %u
}
""",
}

VIRTUAL = {
    "dovecot.conf": """\
protocols = "imap pop3 lmtp"
listen = 127.0.0.1
ssl = yes
ssl_cert = <@ROOT@/tls/fullchain.pem
ssl_key = <@ROOT@/tls/privkey.pem
disable_plaintext_auth = yes
mail_location = maildir:@ROOT@/var/vmail/%{domain}/%{username}
first_valid_uid = 500
recipient_delimiter = +
passdb {
  driver = passwd-file
  args = scheme=SHA512-CRYPT username_format=%u @ROOT@/etc/dovecot/users
}
userdb {
  driver = passwd-file
  args = username_format=%u @ROOT@/etc/dovecot/users
  default_fields = uid=@UID@ gid=@GID@ home=@ROOT@/var/vmail/%d/%n
}
service imap-login {
  inet_listener imap {
    port = @IMAP@
  }
  inet_listener imaps {
    port = @IMAPS@
  }
}
service pop3-login {
  inet_listener pop3 {
    port = @POP3@
  }
  inet_listener pop3s {
    port = @POP3S@
  }
}
service lmtp {
  inet_listener lmtp {
    address = 127.0.0.1
    port = @LMTP@
  }
}
namespace inbox {
  inbox = yes
  separator = /
}
plugin {
  quota = maildir:User quota
  quota_rule = *:storage=512M:messages=10000
  quota_max_mail_size = 20M
}
""",
}

BAD = {
    # name: (files, file to import, expected stderr pattern)
    "bad-unterminated-section": ({"dovecot.conf": "a = 1\nservice imap {\n  b = 2\n"},
                                 "dovecot.conf", r"dovecot\.conf:2: section 'service' is not closed"),
    "bad-close-without-open": ({"dovecot.conf": "a = 1\n}\n"}, "dovecot.conf",
                               r"dovecot\.conf:2: '\}' without a section"),
    "bad-unterminated-quote": ({"dovecot.conf": 'a = "x\n'}, "dovecot.conf",
                               r"dovecot\.conf:1: unterminated quote"),
    "bad-include-loop": ({"dovecot.conf": "!include a.conf\n", "a.conf": "!include b.conf\n",
                          "b.conf": "x = 1\n!include a.conf\n"}, "dovecot.conf",
                         r"include loop"),
    "bad-include-self": ({"dovecot.conf": "!include dovecot.conf\n"}, "dovecot.conf",
                         r"include loop"),
    "bad-include-missing": ({"dovecot.conf": "!include nothere.conf\n"}, "dovecot.conf",
                            r"dovecot\.conf:1: !include .*nothere\.conf: no such file"),
    "bad-10mb-line": ({"dovecot.conf": "a = " + "x" * (10 * 1024 * 1024) + "\n"},
                      "dovecot.conf", r"larger than 1048576 bytes"),
    "bad-long-line": ({"dovecot.conf": "a = 1\nb = " + "x" * (100 * 1024) + "\n"},
                      "dovecot.conf", r"dovecot\.conf:2: line longer than 65536 bytes"),
    "bad-nul": ({"dovecot.conf": "a = 1\nb = x\0y\n"}, "dovecot.conf",
                r"dovecot\.conf:2: NUL byte"),
    "bad-deep": ({"dovecot.conf": "s {\n" * 17 + "}\n" * 17}, "dovecot.conf",
                 r"dovecot\.conf:17: sections nested deeper than 16"),
    "bad-garbage": ({"dovecot.conf": "a b c\n"}, "dovecot.conf",
                    r"dovecot\.conf:1: expected '=' or '\{'"),
}


class Run:
    def __init__(self, buzon):
        self.buzon = buzon
        self.results = []
        self.tmp = tempfile.mkdtemp(prefix="importcfg.")
        os.chmod(self.tmp, 0o755)
        self.root = os.getuid() == 0
        self.uid = buzontest.MAIL_UID if self.root else os.getuid()
        self.gid = buzontest.MAIL_UID if self.root else os.getgid()
        r = subprocess.run([buzontest.MKCERT, os.path.join(self.tmp, "tls"), "localhost"],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise SystemExit("mkcert.sh: " + r.stderr)
        self.cert = os.path.join(self.tmp, "tls", "fullchain.pem")
        self.key = os.path.join(self.tmp, "tls", "privkey.pem")

    def result(self, name, ok, why=""):
        self.results.append((name, ok, why))
        print(("PASS %s" % name) if ok is True else ("SKIP %s: %s" % (name, why)) if ok is None
              else ("FAIL %s: %s" % (name, why)))
        sys.stdout.flush()

    def write_tree(self, name, files, subst):
        d = os.path.join(self.tmp, name)
        for rel, text in files.items():
            p = os.path.join(d, rel)
            os.makedirs(os.path.dirname(p), exist_ok=True)
            for k, v in subst.items():
                text = text.replace(k, v)
            with open(p, "w", encoding="utf-8", newline="") as f:
                f.write(text)
        return d

    def importcfg(self, arg, stdin=None):
        r = subprocess.run([self.buzon, "import-dovecot-config", arg], input=stdin,
                           capture_output=True, timeout=30)
        return r.returncode, r.stdout.decode("utf-8", "replace"), r.stderr.decode("utf-8", "replace")

    def check_config(self, name, text, extra):
        """buzon check -c on the result, plus the test machine's lines (see above)."""
        path = os.path.join(self.tmp, name + ".buzon.conf")
        os.makedirs(os.path.join(self.tmp, name + "-run"), exist_ok=True)
        lines = [ln for ln in text.splitlines()
                 if not (extra.get("replace_tls") and re.match(r"(# )?ssl_(cert|key) = ", ln))]
        lines += ["", "# added by tests/importcfg/run.py for the test machine",
                  "base_dir = %s/%s-run" % (self.tmp, name),
                  "login_user = %s" % ("nobody" if self.root else os.environ.get("USER", "root"))]
        if extra.get("replace_tls"):
            lines += ["ssl_cert = %s" % self.cert, "ssl_key = %s" % self.key]
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        r = subprocess.run([self.buzon, "check", "-c", path], capture_output=True, text=True,
                           timeout=30)
        return r.returncode, r.stdout + r.stderr, path


def expect_lines(out, want, unwanted=()):
    """Every line of want is a line of out; no line of out matches an unwanted regex."""
    have = set(out.splitlines())
    missing = [w for w in want if w not in have]
    bad = [ln for ln in out.splitlines() for u in unwanted if re.search(u, ln)]
    return missing, bad


def test_stock(t):
    if not os.path.exists("/etc/dovecot/dovecot.conf"):
        return t.result("stock", None, "no /etc/dovecot/dovecot.conf (dovecot-core)")
    rc, out, err = t.importcfg("/etc/dovecot")
    if rc != 0:
        return t.result("stock", False, "exit %d: %s" % (rc, err.strip()[:300]))
    missing, _ = expect_lines(out, ["system_users = yes",
                                    "ssl_cert = /etc/dovecot/private/dovecot.pem",
                                    "ssl_key = /etc/dovecot/private/dovecot.key",
                                    "pop3_port = 0", "listen = *, ::"])
    why = []
    if missing:
        why.append("missing lines %s" % missing)
    if not re.search(r"10-mail\.conf:\d+: mail_location = mbox:.*\n#\s+buzon serves Maildir only", out):
        why.append("mbox mail_location not reported")
    if "not carried over" not in err or "mail_location = mbox" not in err:
        why.append("stderr (not a terminal) lacks the list: %r" % err[:200])
    rc, msg, cfgpath = t.check_config("stock", out, {"replace_tls": True})
    if rc != 0:
        why.append("buzon check: exit %d: %s" % (rc, msg.strip()[-300:]))
    else:
        why += system_login(t, "stock", cfgpath)
    t.result("stock", not why, "; ".join(why))
    # On a terminal a status line counts the files read, and is erased before the output.
    master, slave = os.openpty()
    try:
        p = subprocess.Popen([t.buzon, "import-dovecot-config", "/etc/dovecot"],
                             stdout=subprocess.PIPE, stderr=slave,
                             env=dict(os.environ, TERM="xterm"))
        os.close(slave)
        tty = b""
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            tty += chunk
        p.stdout.read()
        p.wait(timeout=60)
    finally:
        os.close(master)
    # the first file's line at once, then (rate-limited) others, erased before the list
    ok = re.match(rb"\rreading: 1 file \(/etc/dovecot/dovecot\.conf\)\x1b\[K"
                  rb"(\rreading: \d+ files \([^)]*\)\x1b\[K)*\r\x1b\[K"
                  rb"buzon import-dovecot-config: ", tty) is not None
    t.result("stock-progress", ok,
             "terminal got %r" % tty[:300])


def test_doveconf(t):
    doveconf = shutil.which("doveconf") or "/usr/bin/doveconf"
    try:
        d = subprocess.run([doveconf, "-n", "-c", "/etc/dovecot/dovecot.conf"],
                           capture_output=True, timeout=30)
    except OSError as e:
        return t.result("doveconf", None, "doveconf: %s" % e)
    if d.returncode != 0:
        return t.result("doveconf", None, "doveconf -n failed: %s" % d.stderr[:200])
    rc, out, err = t.importcfg("-", stdin=d.stdout)
    why = []
    if rc != 0:
        return t.result("doveconf", False, "exit %d: %s" % (rc, err.strip()[:300]))
    if "system_users = yes" not in out.splitlines():
        why.append("no system_users = yes")
    if not re.search(r"-:\d+: ssl_key = \(hidden by doveconf -n\)\n#\s+doveconf -n hides it", out):
        why.append("the hidden ssl_key is not explained")
    if re.search(r"^ssl_cert", out, re.M):
        why.append("ssl_cert written without its key")
    rc, msg, _ = t.check_config("doveconf", out, {})
    if rc != 0:
        why.append("buzon check: exit %d: %s" % (rc, msg.strip()[-300:]))
    t.result("doveconf", not why, "; ".join(why))


def test_seed(t):
    root = os.path.join(t.tmp, "seedroot")
    le = os.path.join(root, "etc/letsencrypt/live/mail.example.org")
    os.makedirs(le)
    shutil.copy(t.cert, os.path.join(le, "fullchain.pem"))
    shutil.copy(t.key, os.path.join(le, "privkey.pem"))
    os.makedirs(os.path.join(root, "var/spool/postfix/private"))
    d = t.write_tree("seed", SEED, {"@ROOT@": root})
    rc, out, err = t.importcfg(d)
    if rc != 0:
        return t.result("seed", False, "exit %d: %s" % (rc, err.strip()[:300]))
    lmtp = "unix:%s/var/spool/postfix/private/dovecot-lmtp" % root
    auth = "unix:%s/var/spool/postfix/private/auth" % root
    want = [
        "listen = *, ::", "imap_port = 0", "imaps_port = 993", "pop3_port = 0",
        "pop3s_port = 0",
        "ssl_cert = %s/fullchain.pem" % le, "ssl_key = %s/privkey.pem" % le,
        "auth_allow_cleartext = loopback", "system_users = yes", "mail_location = maildir:~/Maildir",
        "first_valid_uid = 1000", "mail_max_userip_connections = 20",
        "imap_idle_keepalive = 300",
        "lmtp_listen = " + lmtp, "lmtp_socket_mode = 0660", "lmtp_socket_group = postfix",
        "quota_storage = 1G", "quota_warning = 95",
    ]
    if "auth_listen = " + auth in out.splitlines():
        want += ["auth_listen_mode = 0660", "auth_listen_group = postfix"]
    else:
        want += ["# auth_listen = %s   (needs a buzon that has auth_listen)" % auth]
    missing, bad = expect_lines(out, want, [r"^(passwd_file|mail_uid)"])
    why = []
    if missing:
        why.append("missing lines %s" % missing)
    if bad:
        why.append("unexpected lines %s" % bad)
    for pat in [r"10-mail\.conf:\d+: namespace inbox/mailbox Sent Messages/special_use = \\Sent",
                r"(?m)^(# )?sieve = yes\b", r"(?m)^(# )?sieve_script = ~/\.dovecot\.sieve\b",
                r"(?m)^(# )?sieve_dir = ~/sieve\b",
                r"(?m)^(# )?sieve_before = /var/lib/dovecot/sieve/before\.d$",
                r"(?m)^(# )?sieve_after = /var/lib/dovecot/sieve/after\.sieve$",
                r"90-plugins\.conf:\d+: plugin/quota_rule2 = Trash:storage=\+100M",
                r"10-ssl\.conf:\d+: ssl_dh = ",
                r"lmtp_listen: Dovecot gave the socket to user postfix"]:
        if not re.search(pat, out):
            why.append("no note %r" % pat)
    # the Dovecot-internal socket and the settings buzon has are not listed as lost
    for pat in [r"auth-userdb", r": (listen|first_valid_uid|ssl_cert|ssl_key|mail_location) = ",
                r"mailbox (Drafts|Sent|Trash|Junk)/"]:
        if re.search(r"^#   .*" + pat, out, re.M):
            why.append("wrongly reported as not carried over: %r" % pat)
    rc, msg, cfgpath = t.check_config("seed", out, {})
    if rc != 0:
        why.append("buzon check: exit %d: %s" % (rc, msg.strip()[-300:]))
    else:
        why += system_login(t, "seed", cfgpath)
    t.result("seed", not why, "; ".join(why))


PAM_FILE = "/etc/pam.d/buzon"
PAM_TEXT = ("# written by buzon tests/importcfg/run.py (removed at the end)\n"
            "auth\trequired\tpam_unix.so\naccount\trequired\tpam_unix.so\n")


def system_login(t, name, cfgpath):
    """The imported configuration serves a system user (system_users = yes, PAM, ~/Maildir):
    a user made with useradd and chpasswd logs in over IMAP and sees the message in its
    Maildir. Root only (useradd, /etc/pam.d/buzon); returns a list of problems."""
    if not t.root:
        return []
    if os.path.exists(PAM_FILE):
        return ["%s exists: not overwritten" % PAM_FILE]
    user, password = "bzimp%d" % (os.getpid() % 100000), "imported-pw"
    home = os.path.join(t.tmp, name + "-home")
    port = buzontest.free_ports(1)[0]
    why, proc = [], None
    with open(PAM_FILE, "w") as f:
        f.write(PAM_TEXT)
    try:
        subprocess.run(["useradd", "-M", "-d", home, "-s", "/usr/sbin/nologin", "-K",
                        "UID_MIN=2100", user], check=True, capture_output=True)
        subprocess.run(["chpasswd"], input="%s:%s\n" % (user, password), text=True,
                       check=True, capture_output=True)
        for sub in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(home, "Maildir", sub))
        with open(os.path.join(home, "Maildir", "new", "1.imported"), "wb") as f:
            f.write(b"Subject: imported\r\n\r\nhello\r\n")
        subprocess.run(["chown", "-R", "%s:" % user, home], check=True)
        # this machine's ports and no Postfix sockets; the rest as imported
        with open(cfgpath, "a") as f:
            f.write("listen = 127.0.0.1\nimap_port = %d\nimaps_port = 0\npop3_port = 0\n"
                    "pop3s_port = 0\nmanagesieve_port = 0\nlmtp_listen =\nauth_listen =\n"
                    "auth_failure_delay_max = 0\n" % port)
        log = open(os.path.join(t.tmp, name + "-server.log"), "wb")
        proc = subprocess.Popen([t.buzon, "serve", "-c", cfgpath], stdin=subprocess.DEVNULL,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                cwd=t.tmp)
        if not wait_port(port, proc, time.monotonic() + 20):
            return ["server did not start: %s" % open(log.name, errors="replace").read()[-400:]]
        c = imaplib.IMAP4("127.0.0.1", port, timeout=10)
        typ, _ = c.login(user, password)
        typ2, data = c.select("INBOX")
        if typ != "OK" or typ2 != "OK" or data != [b"1"]:
            why.append("system user login: %s, SELECT %s %r" % (typ, typ2, data))
        c.logout()
    except (OSError, subprocess.CalledProcessError, imaplib.IMAP4.error) as e:
        why.append("system user login: %s" % e)
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        subprocess.run(["userdel", user], capture_output=True)
        os.unlink(PAM_FILE)
    return why


def wait_port(port, proc, deadline):
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def test_virtual(t):
    root = os.path.join(t.tmp, "vroot")
    ports = buzontest.free_ports(5)
    subst = {"@ROOT@": root, "@UID@": str(t.uid), "@GID@": str(t.gid),
             "@IMAP@": str(ports[0]), "@IMAPS@": str(ports[1]), "@POP3@": str(ports[2]),
             "@POP3S@": str(ports[3]), "@LMTP@": str(ports[4])}
    os.makedirs(os.path.join(root, "etc/dovecot"))
    shutil.copytree(os.path.join(t.tmp, "tls"), os.path.join(root, "tls"))
    with open(os.path.join(root, "etc/dovecot/users"), "w") as f:
        f.write("alice@example.org:{PLAIN}wonderland:::%s/var/vmail/example.org/alice::\n" % root)
    md = os.path.join(root, "var/vmail/example.org/alice")
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(md, sub))
    for dp, dn, fn in os.walk(os.path.join(root, "var/vmail")):
        os.chown(dp, t.uid, t.gid)
    d = t.write_tree("virtual", VIRTUAL, subst)
    rc, out, err = t.importcfg(os.path.join(d, "dovecot.conf"))
    if rc != 0:
        return t.result("virtual", False, "exit %d: %s" % (rc, err.strip()[:300]))
    want = ["listen = 127.0.0.1", "imap_port = %d" % ports[0], "imaps_port = %d" % ports[1],
            "pop3_port = %d" % ports[2], "pop3s_port = %d" % ports[3],
            "ssl_cert = %s/tls/fullchain.pem" % root, "ssl_key = %s/tls/privkey.pem" % root,
            "auth_allow_cleartext = loopback",
            "passwd_file = %s/etc/dovecot/users" % root,
            "mail_location = maildir:%s/var/vmail/%%d/%%n" % root,
            "mail_uid = %d" % t.uid, "mail_gid = %d" % t.gid, "first_valid_uid = 500",
            "recipient_delimiter = +", "lmtp_listen = 127.0.0.1:%d" % ports[4],
            "quota_storage = 512M", "quota_messages = 10000", "mail_max_size = 20M"]
    missing, bad = expect_lines(out, want, [r"^system_users"])
    why = []
    if missing:
        why.append("missing lines %s" % missing)
    if bad:
        why.append("unexpected lines %s" % bad)
    for pat in [r"namespace inbox/separator = /\n#\s+buzon's hierarchy separator is '.'",
                r"Dovecot's default scheme SHA512-CRYPT"]:
        if not re.search(pat, out):
            why.append("no note %r" % pat)
    if re.search(r"^#   .*userdb/default_fields", out, re.M):
        why.append("default_fields reported as not carried over")
    rc, msg, cfgpath = t.check_config("virtual", out, {})
    if rc != 0:
        why.append("buzon check: exit %d: %s" % (rc, msg.strip()[-300:]))
        return t.result("virtual", False, "; ".join(why))
    # the result serves: IMAP LOGIN of the passwd-file user
    with open(cfgpath, "a") as f:
        f.write("auth_failure_delay_max = 0\n")
    log = open(os.path.join(t.tmp, "virtual-server.log"), "wb")
    proc = subprocess.Popen([t.buzon, "serve", "-c", cfgpath], stdin=subprocess.DEVNULL,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                            cwd=t.tmp)
    try:
        if not wait_port(ports[0], proc, time.monotonic() + 20):
            why.append("server did not start: %s" % open(log.name, errors="replace").read()[-400:])
        else:
            c = imaplib.IMAP4("127.0.0.1", ports[0], timeout=10)
            typ, _ = c.login("alice@example.org", "wonderland")
            if typ != "OK":
                why.append("LOGIN: %s" % typ)
            typ, data = c.select("INBOX")
            if typ != "OK":
                why.append("SELECT: %s %s" % (typ, data))
            c.logout()
            bad_login = imaplib.IMAP4("127.0.0.1", ports[0], timeout=10)
            try:
                bad_login.login("alice@example.org", "wrong")
                why.append("a wrong password logged in")
            except imaplib.IMAP4.error:
                pass
            bad_login.logout()
    except Exception as e:
        why.append("%s: %s" % (type(e).__name__, e))
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except OSError:
            pass
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            why.append("server did not stop on SIGTERM")
        log.close()
    t.result("virtual", not why, "; ".join(why))


def test_bad(t):
    for name, (files, entry, pat) in BAD.items():
        d = t.write_tree(name, files, {})
        rc, out, err = t.importcfg(os.path.join(d, entry))
        ok = rc == 1 and out == "" and re.search(pat, err) and err.startswith("buzon import-dovecot-config: ")
        t.result(name, bool(ok), "exit %d, stdout %d bytes, stderr %r" % (rc, len(out), err[:200]))
    # the same limits on standard input
    rc, out, err = t.importcfg("-", stdin=b"a = " + b"y" * (10 * 1024 * 1024))
    t.result("bad-stdin-10mb", rc == 1 and "-: larger than" in err, "exit %d %r" % (rc, err[:200]))
    rc, out, err = t.importcfg("-", stdin=b"x = 1\n\0\n")
    t.result("bad-stdin-nul", rc == 1 and "-:2: NUL byte" in err, "exit %d %r" % (rc, err[:200]))
    rc, out, err = t.importcfg(os.path.join(t.tmp, "nonexistent"))
    t.result("bad-missing-file", rc == 1 and "No such file" in err, "exit %d %r" % (rc, err[:200]))
    r = subprocess.run([t.buzon, "import-dovecot-config", "a", "b"], capture_output=True)
    t.result("bad-usage", r.returncode == 64, "exit %d" % r.returncode)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--buzon", default=buzontest.default_binary())
    ap.add_argument("names", nargs="*")
    args = ap.parse_args()
    t = Run(os.path.abspath(args.buzon))
    tests = [("stock", test_stock), ("doveconf", test_doveconf), ("seed", test_seed),
             ("virtual", test_virtual), ("bad", test_bad)]
    try:
        for name, fn in tests:
            if not args.names or name in args.names:
                try:
                    fn(t)
                except Exception as e:
                    t.result(name, False, "%s: %s" % (type(e).__name__, e))
    finally:
        if os.environ.get("BUZONTEST_KEEP") != "1":
            shutil.rmtree(t.tmp, ignore_errors=True)
        else:
            sys.stderr.write("kept %s\n" % t.tmp)
    failed = sum(1 for r in t.results if r[1] is False)
    print("%d passed, %d failed" % (sum(1 for r in t.results if r[1] is True), failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
