#!/usr/bin/env python3
"""LMTP delivery throughput: buzon vs Dovecot's LMTP vs the raw Maildir ceiling.

  bench/lmtp/run.py [--buzon PATH] [-n MESSAGES] [--size BYTES] [--users N] [--dir DIR]
                    [--sieve]

Measures messages per second delivered with 1 and 4 concurrent LMTP sessions (each
session sends its share of the messages over one connection, one recipient per
message, MAIL+RCPT+DATA pipelined as Postfix does; recipients taken round-robin from
--users users, default 1), for:

  raw       the ceiling: a Python loop doing exactly the durable Maildir steps (tmp/
            file O_EXCL, write, fsync, rename into new/, fsync of new/), 1 or 4 threads
  buzon     build/buzon serve with lmtp_listen (tests/lib/buzontest.py), durable
            saves (file fsync, rename, directory fsync, uidlist fsync) with group commit
  dovecot   a private Dovecot (Debian dovecot-lmtpd) started by this script with its own
            config, base_dir and Maildir under DIR, mail_fsync = optimized (Dovecot's
            default: message files are fsync'd before they are acknowledged); needs root

--sieve adds a user with a 50-rule Sieve script (SIEVE_RULES below: header, address,
envelope, size and body-free tests, none matching, so the message ends in INBOX by the
implicit keep) to both servers (Dovecot with the Pigeonhole plugin in LMTP) and adds
rows for it: buzon with the script against buzon without one, and against Dovecot +
Pigeonhole with the same script (result keys buzon_sieve_N, dovecot_sieve_N).

All mail lands on the same filesystem (DIR, default /var/tmp: not a tmpfs, fsync is
real there).  Prints a table with each server's rate, its share of the raw ceiling and
the buzon/dovecot ratio, then one line "result buzon_4=R raw_4=R ..." (messages per
second) that bench/run.sh reads.  Not part of make check.
"""
import argparse
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "lib"))
import buzontest  # noqa: E402

BENCH_UID = 2000


def sieve_rules(n=50):
    """A script of n rules a mail user might have: five kinds, none matching the bench
    message, each filing into its own folder and stopping."""
    out = ['require ["fileinto", "envelope", "imap4flags", "relational", "comparator-i;ascii-numeric"];']
    for i in range(n):
        k = i % 5
        if k == 0:
            t = 'header :contains "subject" "project-%d"' % i
        elif k == 1:
            t = 'address :is "from" "list%d@lists.example.net"' % i
        elif k == 2:
            t = 'header :matches "list-id" "*<team%d.example.org>*"' % i
        elif k == 3:
            t = 'envelope :domain :is "from" "partner%d.example.com"' % i
        else:
            t = ('allof (header :contains "to" "alias%d@example.org", '
                 'header :value "gt" :comparator "i;ascii-numeric" "x-spam-score" "%d")'
                 % (i, 5 + i % 5))
        out.append('if %s {\n  fileinto "Folder%d";\n  stop;\n}' % (t, i))
    return "\n".join(out) + "\n"


def message(size, i):
    head = ("From: Bench <bench@example.net>\r\nTo: bench@example.org\r\n"
            "Subject: bench message %d\r\nMessage-ID: <bench.%d@example.net>\r\n\r\n" % (i, i))
    line = "The quick brown fox jumps over the lazy dog 0123456789 abcdefghij\r\n"
    body = line * max(1, (size - len(head)) // len(line))
    return (head + body).encode()


def wire(data):
    return b"\r\n".join(b"." + l if l.startswith(b".") else l
                        for l in data.split(b"\r\n")[:-1]) + b"\r\n.\r\n"


class Session:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=60)
        self.f = self.sock.makefile("rb")
        self.reply()
        self.sock.sendall(b"LHLO bench.example\r\n")
        self.reply()

    def reply(self):
        while True:
            line = self.f.readline()
            if not line:
                raise RuntimeError("connection closed")
            if line[3:4] != b"-":
                return line

    def deliver(self, rcpt, data):
        self.sock.sendall(b"MAIL FROM:<bench@example.net>\r\nRCPT TO:<%s>\r\nDATA\r\n" %
                          rcpt.encode())
        for want in (b"250", b"250", b"354"):
            r = self.reply()
            if not r.startswith(want):
                raise RuntimeError("unexpected reply %r" % r)
        self.sock.sendall(wire(data))
        r = self.reply()
        if not r.startswith(b"250"):
            raise RuntimeError("delivery failed: %r" % r)

    def close(self):
        try:
            self.sock.sendall(b"QUIT\r\n")
            self.reply()
        except OSError:
            pass
        self.sock.close()


def median(fn, repeat):
    vals = sorted(fn() for _ in range(max(1, repeat)))
    return vals[len(vals) // 2]


def run_parallel(nthreads, total, work):
    """Run work(thread_index, count) in nthreads threads; returns messages/second."""
    per = [total // nthreads + (1 if i < total % nthreads else 0) for i in range(nthreads)]
    errors = []

    def wrap(i):
        try:
            work(i, per[i])
        except Exception as e:	# reported after the run
            errors.append(e)
    threads = [threading.Thread(target=wrap, args=(i,)) for i in range(nthreads)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    dt = time.monotonic() - t0
    if errors:
        raise RuntimeError("worker failed: %s" % errors[0])
    return total / dt


def bench_lmtp(port, rcpts, nthreads, total, size):
    msgs = [message(size, i) for i in range(8)]

    def work(i, count, warm=False):
        s = Session(port)
        try:
            for k in range(count):
                # warm-up: every user once; then thread i takes recipients i, i+n, ...
                r = rcpts[k % len(rcpts)] if warm else rcpts[(i + k * nthreads) % len(rcpts)]
                s.deliver(r, msgs[k % len(msgs)])
        finally:
            s.close()
    # warm up (process starts, folder creation) outside the timing
    work(0, max(2, len(rcpts)), warm=True)
    return run_parallel(nthreads, total, work)


def bench_raw(root, nthreads, total, size):
    for d in ("tmp", "new", "cur"):
        os.makedirs(os.path.join(root, d), exist_ok=True)
    data = message(size, 0).replace(b"\r\n", b"\n")
    host = socket.gethostname()
    seq = [0]
    lock = threading.Lock()

    def work(i, count):
        newfd = os.open(os.path.join(root, "new"), os.O_RDONLY | os.O_DIRECTORY)
        try:
            for _ in range(count):
                with lock:
                    seq[0] += 1
                    n = seq[0]
                t = time.time()
                name = "%d.M%dP%dQ%d.%s" % (int(t), int(t * 1e6) % 1000000, os.getpid(), n, host)
                tmp = os.path.join(root, "tmp", name)
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
                os.write(fd, data)
                os.fsync(fd)
                os.close(fd)
                os.rename(tmp, os.path.join(root, "new", name))
                os.fsync(newfd)
        finally:
            os.close(newfd)
    return run_parallel(nthreads, total, work)


DOVECOT_CONF = """\
base_dir = %(dir)s/run
state_dir = %(dir)s/state
instance_name = buzonbench-%(port)d
log_path = %(dir)s/dovecot.log
protocols = lmtp
listen = 127.0.0.1
ssl = no
mail_location = maildir:%(dir)s/mail/%%n
mail_fsync = optimized
first_valid_uid = 500
default_internal_user = dovecot
default_login_user = dovenull
lmtp_save_to_detail_mailbox = no
%(sieve)spassdb {
  driver = static
  args = nopassword=y
}
userdb {
  driver = static
  args = uid=%(uid)d gid=%(uid)d home=%(dir)s/home/%%n
}
service lmtp {
  inet_listener lmtp {
    address = 127.0.0.1
    port = %(port)d
  }
}
"""


PIGEONHOLE_PLUGIN = "/usr/lib/dovecot/modules/lib90_sieve_plugin.so"
DOVECOT_SIEVE = """\
protocol lmtp {
  mail_plugins = $mail_plugins sieve
}
plugin {
  sieve = file:~/sieve;active=~/.dovecot.sieve
}
"""


class Dovecot:
    def __init__(self, dir, sieve=False):
        self.dir = dir
        self.port = buzontest.free_ports(1)[0]
        for d in ("run", "state", "mail", "home"):
            os.makedirs(os.path.join(dir, d), exist_ok=True)
        for d in ("mail", "home"):
            os.chown(os.path.join(dir, d), BENCH_UID, BENCH_UID)
        self.conf = os.path.join(dir, "dovecot.conf")
        with open(self.conf, "w") as f:
            f.write(DOVECOT_CONF % {"dir": dir, "port": self.port, "uid": BENCH_UID,
                                    "sieve": DOVECOT_SIEVE if sieve else ""})
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(["/usr/sbin/dovecot", "-F", "-c", self.conf],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("dovecot exited: %s" % self.log_tail())
            try:
                s = socket.create_connection(("127.0.0.1", self.port), timeout=2)
                ok = s.makefile("rb").readline().startswith(b"220")
                s.close()
                if ok:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError("dovecot lmtp not answering: %s" % self.log_tail())

    def log_tail(self):
        try:
            with open(os.path.join(self.dir, "dovecot.log"), errors="replace") as f:
                return "".join(f.readlines()[-20:])
        except OSError:
            return "(no log)"

    def stop(self):
        if self.proc is None:
            return
        subprocess.run(["/usr/sbin/dovecot", "-c", self.conf, "stop"], capture_output=True)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, 9)
            self.proc.wait()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--buzon", help="binary (default $BUZON or build/buzon)")
    ap.add_argument("-n", type=int, default=400, help="messages per measurement (400)")
    ap.add_argument("--size", type=int, default=4096, help="message size in bytes (4096)")
    ap.add_argument("--users", type=int, default=1, help="recipients, round-robin (1)")
    ap.add_argument("--repeat", type=int, default=3,
                    help="runs per cell; the median is shown (3; the machine may be shared)")
    ap.add_argument("--dir", default="/var/tmp", help="where the Maildirs go (/var/tmp)")
    ap.add_argument("--sieve", action="store_true",
                    help="also a user with a 50-rule Sieve script, on both servers")
    args = ap.parse_args()
    root = os.getuid() == 0
    tmp = tempfile.mkdtemp(prefix="buzon-bench-lmtp.", dir=args.dir)
    os.chmod(tmp, 0o755)
    results = {}
    srv = dove = None
    try:
        # raw ceiling, in a directory the same way a user's Maildir is laid out
        for n in (1, 4):
            d = os.path.join(tmp, "raw%d" % n)
            results[("raw", n)] = median(lambda: bench_raw(d, n, args.n, args.size),
                                         args.repeat)

        tempfile.tempdir = args.dir	# buzontest's temp dir (and Maildirs) on DIR too
        names = ["bench"] if args.users == 1 else ["bench%d" % i for i in range(args.users)]
        rcpts = ["%s@example.org" % n for n in names]
        srv = buzontest.Server(users={n: "bench" for n in names}, fill=False, lmtp=True,
                               canary=False,
                               buzon=os.path.abspath(args.buzon) if args.buzon else None,
                               config=["mail_max_size = 50M", "log_level = warn"])
        script = sieve_rules()
        if args.sieve:
            srv.setup()
            home = os.path.join(srv.tmp, "home-sieve")
            os.makedirs(home, 0o700)
            ids = ["-u", str(srv.uid), "-g", str(srv.gid)] if root else []
            srv.cli("user", "add", "-c", srv.config_path, *ids, "-h", home, "benchs",
                    stdin="bench\n")
            srv.make_maildir("benchs")
            with open(os.path.join(home, ".dovecot.sieve"), "w") as f:
                f.write(script)
            if root:
                for pth in (home, os.path.join(home, ".dovecot.sieve")):
                    os.chown(pth, srv.uid, srv.gid)
        srv.start()
        for n in (1, 4):
            results[("buzon", n)] = median(
                lambda: bench_lmtp(srv.lmtp_port, rcpts, n, args.n, args.size), args.repeat)
        if args.sieve:
            for n in (1, 4):
                results[("buzon_sieve", n)] = median(
                    lambda: bench_lmtp(srv.lmtp_port, ["benchs@example.org"], n, args.n,
                                       args.size), args.repeat)

        if not root:
            print("dovecot: skipped (needs root to run a private instance)")
        elif not os.path.exists("/usr/sbin/dovecot") or \
                not os.path.exists("/usr/lib/dovecot/lmtp"):
            print("dovecot: skipped (install dovecot-lmtpd: scripts/install-deps.sh bench)")
        else:
            pigeonhole = os.path.exists(PIGEONHOLE_PLUGIN)
            if args.sieve and not pigeonhole:
                print("dovecot sieve: skipped (install dovecot-sieve: no %s)"
                      % PIGEONHOLE_PLUGIN)
            dove = Dovecot(os.path.join(tmp, "dovecot"), sieve=args.sieve and pigeonhole)
            if args.sieve and pigeonhole:
                dhome = os.path.join(dove.dir, "home", "benchs")
                os.makedirs(dhome)
                with open(os.path.join(dhome, ".dovecot.sieve"), "w") as f:
                    f.write(script)
                for pth in (dhome, os.path.join(dhome, ".dovecot.sieve")):
                    os.chown(pth, BENCH_UID, BENCH_UID)
            dove.start()
            for n in (1, 4):
                results[("dovecot", n)] = median(
                    lambda: bench_lmtp(dove.port, rcpts, n, args.n, args.size), args.repeat)
            if args.sieve and pigeonhole:
                for n in (1, 4):
                    results[("dovecot_sieve", n)] = median(
                        lambda: bench_lmtp(dove.port, ["benchs@example.org"], n, args.n,
                                           args.size), args.repeat)
    finally:
        if dove is not None:
            dove.stop()
        if srv is not None:
            problems = srv.stop()
            if problems:
                print("buzon teardown: %s" % problems)
        shutil.rmtree(tmp, ignore_errors=True)

    print()
    print("LMTP deliveries per second, %d messages of %d bytes to %d user(s), fsync on, %s; "
          "median of %d runs" % (args.n, args.size, args.users, args.dir, args.repeat))
    print("%-26s %14s %14s" % ("", "1 session", "4 sessions"))
    for who, label in (("raw", "raw Maildir ceiling"), ("buzon", "buzon LMTP"),
                       ("dovecot", "Dovecot LMTP"),
                       ("buzon_sieve", "buzon, 50-rule Sieve"),
                       ("dovecot_sieve", "Dovecot+Pigeonhole, 50")):
        if (who, 1) not in results:
            continue
        cells = []
        for n in (1, 4):
            v = results[(who, n)]
            pct = "" if who == "raw" else " (%3.0f%%)" % (100.0 * v / results[("raw", n)])
            cells.append("%7.0f%s" % (v, pct))
        print("%-26s %14s %14s" % (label, cells[0], cells[1]))
    if ("dovecot", 1) in results:
        print("%-26s %14s %14s" % ("buzon / Dovecot",
                                    "%.2fx" % (results[("buzon", 1)] / results[("dovecot", 1)]),
                                    "%.2fx" % (results[("buzon", 4)] / results[("dovecot", 4)])))
    if ("buzon_sieve", 1) in results:
        print("%-26s %14s %14s" % ("buzon Sieve / no script",
                                    "%.2fx" % (results[("buzon_sieve", 1)] / results[("buzon", 1)]),
                                    "%.2fx" % (results[("buzon_sieve", 4)] / results[("buzon", 4)])))
    if ("dovecot_sieve", 1) in results:
        print("%-26s %14s %14s" % ("buzon / Dovecot, Sieve",
                                    "%.2fx" % (results[("buzon_sieve", 1)] /
                                               results[("dovecot_sieve", 1)]),
                                    "%.2fx" % (results[("buzon_sieve", 4)] /
                                               results[("dovecot_sieve", 4)])))
    # one machine-readable line for bench/run.sh: messages/second per server and sessions
    print("result " + " ".join("%s_%d=%.1f" % (who, n, v)
                               for (who, n), v in sorted(results.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
