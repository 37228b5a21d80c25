"""A private Postfix instance for the tests (Debian's postfix, run as root): its own
config, queue and data directories under a temporary directory, smtpd on a free
127.0.0.1 port only, nothing relayed off the machine.  Used by tests/delivery/run.py
(LMTP into buzon, Sieve redirect and vacation) and tests/webmail/run.py (the vacation
reply set in Roundcube's managesieve plugin).
"""
import json
import os
import pwd
import smtplib
import subprocess
import time

import buzontest


class PostfixError(Exception):
    pass


def wait_for(fn, timeout=10.0, step=0.05):
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v or time.monotonic() > deadline:
            return v
        time.sleep(step)


# sendmail for the private Postfix: hands the message to its smtpd (a private instance's
# own sendmail -C would need alternate_config_directories in the system's main.cf).
# RECORD (a directory or None): keep each submission there first, as NAME.json with
# {"argv": [...], "data": "..."} (what buzon handed to "the MTA").
SENDMAIL_SMTP = """#!/usr/bin/python3
import json, os, smtplib, sys, time
a = sys.argv[1:]
frm = a[a.index("-f") + 1]
data = sys.stdin.buffer.read().replace(b"\\r\\n", b"\\n").replace(b"\\n", b"\\r\\n")
record = %(record)r
if record:
    name = os.path.join(record, "%%d-%%d.json" %% (time.time_ns(), os.getpid()))
    with open(name + ".tmp", "w") as f:
        json.dump({"argv": a, "data": data.decode("utf-8", "replace")}, f)
    os.rename(name + ".tmp", name)
if %(port)d:
    s = smtplib.SMTP("127.0.0.1", %(port)d, timeout=30)
    s.sendmail("" if frm == "<>" else frm, a[a.index("--") + 1:], data)
    s.quit()
"""


def write_sendmail(path, port, record=None):
    """Write the sendmail_path program above to path (mode 0755): to the private
    Postfix's smtpd on port (0: only recorded), recorded into the directory record."""
    with open(path, "w") as f:
        f.write(SENDMAIL_SMTP % {"port": port, "record": record})
    os.chmod(path, 0o755)


def recorded(record):
    """The submissions write_sendmail's program kept in record, oldest first:
    [{"argv": [...], "data": str}, ...]."""
    out = []
    for name in sorted(n for n in os.listdir(record) if n.endswith(".json")):
        with open(os.path.join(record, name)) as f:
            out.append(json.load(f))
    return out


MASTER_CF = """\
%(listen)s inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


class Postfix:
    """A private Postfix instance: own config_directory, queue_directory and
    data_directory under dir, smtpd on 127.0.0.1:port only, no chroot."""

    def __init__(self, dir, main):
        self.dir = dir
        self.conf = os.path.join(dir, "etc")
        self.queue = os.path.join(dir, "queue")
        self.data = os.path.join(dir, "data")
        self.port = buzontest.free_ports(1)[0]
        self.log = os.path.join(dir, "maillog")
        for d in (self.conf, self.queue, self.data):
            os.makedirs(d, exist_ok=True)
        os.chown(self.data, pwd.getpwnam("postfix").pw_uid, pwd.getpwnam("postfix").pw_gid)
        cf = {
            "compatibility_level": "3.6",
            "queue_directory": self.queue,
            "data_directory": self.data,
            "mail_owner": "postfix",
            "setgid_group": "postdrop",
            "myhostname": "buzontest.localdomain",
            "mydomain": "localdomain",
            "myorigin": "$myhostname",
            "mydestination": "localhost, $myhostname",
            "inet_interfaces": "127.0.0.1",
            "inet_protocols": "ipv4",
            "mynetworks": "127.0.0.0/8",
            "alias_maps": "",
            "alias_database": "",
            "maillog_file": self.log,
            "maillog_file_prefixes": dir,
            "smtputf8_enable": "no",
            "biff": "no",
            "relayhost": "",
            # nothing leaves 127.0.0.1: bounces to the test senders are dropped
            "default_transport": "error:buzontest: no outside mail",
            "relay_transport": "error:buzontest: no outside mail",
            "smtpd_peername_lookup": "no",
            "smtp_dns_support_level": "disabled",
            "lmtp_dns_support_level": "disabled",
            "smtpd_banner": "$myhostname ESMTP buzontest",
            "queue_run_delay": "5s",
            "minimal_backoff_time": "5s",
            "maximal_backoff_time": "10s",
            "lmtp_tls_security_level": "none",
            "smtp_tls_security_level": "none",
            "smtpd_tls_security_level": "none",
        }
        cf.update(main)
        with open(os.path.join(self.conf, "main.cf"), "w") as f:
            for k, v in cf.items():
                f.write("%s = %s\n" % (k, v))
        with open(os.path.join(self.conf, "master.cf"), "w") as f:
            f.write(MASTER_CF % {"listen": "127.0.0.1:%d" % self.port})

    def postfix(self, *args, check=True):
        r = subprocess.run(["postfix", "-c", self.conf] + list(args), capture_output=True,
                           text=True, timeout=60)
        if check and r.returncode != 0:
            raise PostfixError("postfix %s: %s %s" % (" ".join(args), r.stdout, r.stderr))
        return r

    def postconf(self, *settings):
        subprocess.run(["postconf", "-c", self.conf, "-e"] + list(settings), check=True,
                       capture_output=True, timeout=30)

    def start(self):
        self.postfix("check", check=False)
        self.postfix("start")
        ok = wait_for(lambda: self._smtp_ok(), 20, 0.2)
        if not ok:
            raise PostfixError("postfix smtpd not answering on %d: %s" % (self.port, self.log_tail()))

    def _smtp_ok(self):
        try:
            s = smtplib.SMTP("127.0.0.1", self.port, timeout=3)
            s.quit()
            return True
        except (OSError, smtplib.SMTPException):
            return False

    def reload(self):
        self.postfix("reload")
        time.sleep(1)

    def stop(self):
        pidfile = os.path.join(self.queue, "pid", "master.pid")
        try:
            with open(pidfile) as f:
                pid = int(f.read().strip())
        except (OSError, ValueError):
            pid = None
        r = self.postfix("stop", check=False)
        if r.returncode != 0:
            self.postfix("abort", check=False)
        # postfix stop returns before every daemon has exited; the master goes last
        # (it leaves its pid file behind)
        if pid is not None:
            wait_for(lambda: not os.path.exists("/proc/%d" % pid), 10, 0.05)
        else:
            wait_for(lambda: not os.path.exists(pidfile), 10, 0.1)

    def log_tail(self, n=30):
        try:
            with open(self.log, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return "(no log)"

    def send(self, sender, rcpt, data):
        s = smtplib.SMTP("127.0.0.1", self.port, timeout=30)
        try:
            s.sendmail(sender, [rcpt], data)
        finally:
            s.quit()
