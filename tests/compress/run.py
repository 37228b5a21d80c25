#!/usr/bin/env python3
"""tests/compress/run.py — COMPRESS=DEFLATE (RFC 4978) against the one-process test server.

tests/protocol/run.py cannot speak DEFLATE, so this runner starts the test server
(build/tests/unit/imap/buzon-imap-stdio -c CONF -u USER -l PORT, the mail process's
session code behind a plain TCP listener, every connection a PREAUTH session) with a
config and passwd file written like tests/protocol/run.py does, and talks raw DEFLATE
(zlib.compressobj/decompressobj with wbits=-15) after "OK DEFLATE active".

Cases: capability and commands through zlib (CAPABILITY, SELECT, APPEND with a literal,
FETCH, a second COMPRESS is NO [COMPRESSIONACTIVE], LOGOUT); IDLE with an update from
another session; unknown mechanism and
missing argument are BAD; compressed commands pipelined right behind COMPRESS; pipelined
FETCHes and 60,000 NOOPs then a half-close (all answered); a client
that stops reading during a 40 MB FETCH (the server's RSS stays bounded; then every byte
arrives intact); a decompression bomb queued behind a blocked FETCH (RSS bounded); one (a 1 MB compressed stream that inflates to 1 GiB
of one line: BAD or BYE, RSS bounded, the session ends or stays usable); corrupt
compressed input (BYE, compressed, then the connection closes).

Prints "PASS name" / "FAIL name: why" per case and "N passed, M failed".
Usage: run.py [--build DIR | --server PATH] [-k SUBSTRING ...]
"""

import argparse
import base64
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import zlib

RSS_LIMIT_MB = 24	# the server process after a non-reading client's 40 MB FETCH


class Fail(Exception):
    pass


class Server:
    def __init__(self, binary):
        self.tmp = tempfile.mkdtemp(prefix="buzon-compress-")
        os.chmod(self.tmp, 0o755)
        self.user = "tester"
        self.maildir = os.path.join(self.tmp, "mail", self.user)
        for d in ("cur", "new", "tmp"):
            os.makedirs(os.path.join(self.maildir, d))
        uid, gid = (65534, 65534) if os.getuid() == 0 else (os.getuid(), os.getgid())
        if os.getuid() == 0:
            shutil.chown(os.path.join(self.tmp, "mail"), uid, gid)
            for root, dirs, _ in os.walk(self.maildir):
                shutil.chown(root, uid, gid)
                for d in dirs:
                    shutil.chown(os.path.join(root, d), uid, gid)
        passwd = os.path.join(self.tmp, "passwd")
        with open(passwd, "w") as f:
            f.write("%s:{PLAIN}secret:%d:%d::%s::\n" % (self.user, uid, gid,
                                                       os.path.join(self.tmp, "home")))
        self.config = os.path.join(self.tmp, "buzon.conf")
        with open(self.config, "w") as f:
            f.write("mail_location = maildir:%s/mail/%%u\n" % self.tmp)
            f.write("passwd_file = %s\n" % passwd)
            f.write("base_dir = %s/run\n" % self.tmp)
            f.write("first_valid_uid = %d\n" % min(uid, 500))
        self.uid, self.gid = uid, gid
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        self.port = s.getsockname()[1]
        s.close()
        self.err = open(os.path.join(self.tmp, "stderr.server"), "w+")
        self.proc = subprocess.Popen([binary, "-c", self.config, "-u", self.user, "-l",
                                      str(self.port)], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=self.err)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if self.proc.poll() is not None:
                    break
                time.sleep(0.02)
        raise Fail("test server did not start")

    def add_message(self, name, data):
        path = os.path.join(self.maildir, "cur", name)
        with open(path, "wb") as f:
            f.write(data)
        if os.getuid() == 0:
            shutil.chown(path, self.uid, self.gid)

    def rss_kb(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            return [int(l.split()[1]) for l in f if l.startswith("VmRSS:")][0]

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.err.seek(0)
        log = self.err.read()
        self.err.close()
        shutil.rmtree(self.tmp, ignore_errors=True)
        return log


class Client:
    """One IMAP connection; raw DEFLATE both ways once compress() was called."""

    def __init__(self, srv, rcvbuf=None):
        self.sock = socket.socket()
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.connect(("127.0.0.1", srv.port))
        self.buf = b""
        self.zin = None
        self.zout = None
        self.eof = False
        greeting = self.line()
        if not greeting.startswith(b"* PREAUTH"):
            raise Fail("greeting %r" % greeting)

    def send(self, data):
        if self.zout is not None:
            data = self.zout.compress(data) + self.zout.flush(zlib.Z_SYNC_FLUSH)
        self.sock.sendall(data)

    def _fill(self, timeout):
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(1 << 16)
        except socket.timeout:
            raise Fail("timeout; have %r" % self.buf[-200:])
        if not data:
            self.eof = True
            if self.zin is not None:
                self.buf += self.zin.flush()
            return False
        if self.zin is not None:
            data = self.zin.decompress(data)
        self.buf += data
        return True

    def line(self, timeout=10):
        while b"\r\n" not in self.buf:
            if not self._fill(timeout):
                raise Fail("EOF; have %r" % self.buf[-200:])
        i = self.buf.index(b"\r\n") + 2
        out, self.buf = self.buf[:i - 2], self.buf[i:]
        return out

    def exact(self, n, timeout=30):
        while len(self.buf) < n:
            if not self._fill(timeout):
                raise Fail("EOF in a literal")
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def until_tagged(self, tag, timeout=30):
        """Lines up to the tagged one; a line ending in {n} has its literal appended."""
        lines = []
        while True:
            ln = self.line(timeout)
            while ln.endswith(b"}") and b"{" in ln:
                n = int(ln[ln.rindex(b"{") + 1:-1])
                ln += b"\r\n" + self.exact(n, timeout) + self.line(timeout)
            lines.append(ln)
            if ln.startswith(tag + b" "):
                return lines

    def cmd(self, tag, text, timeout=30):
        self.send(tag + b" " + text + b"\r\n")
        lines = self.until_tagged(tag, timeout)
        return lines[:-1], lines[-1]

    def compress(self):
        self.sock.sendall(b"z COMPRESS DEFLATE\r\n")
        tagged = self.until_tagged(b"z")[-1]
        if tagged != b"z OK DEFLATE active":
            raise Fail("COMPRESS answered %r" % tagged)
        self.start_deflate()

    def start_deflate(self):
        self.zin = zlib.decompressobj(wbits=-15)
        self.zout = zlib.compressobj(wbits=-15)
        if self.buf:
            self.buf = self.zin.decompress(self.buf)

    def wait_eof(self, timeout=10):
        deadline = time.monotonic() + timeout
        while not self.eof:
            if time.monotonic() > deadline:
                raise Fail("no EOF")
            try:
                self._fill(max(0.1, deadline - time.monotonic()))
            except Fail:
                pass
            except (ConnectionResetError, zlib.error):
                self.eof = True
        return self.buf

    def close(self):
        self.sock.close()


def expect(cond, what):
    if not cond:
        raise Fail(what)


# ---------------------------------------------------------------------------- cases

def case_session(srv):
    c = Client(srv)
    _, t = c.cmd(b"a", b"CAPABILITY")
    c.close()
    c = Client(srv)
    untagged, t = c.cmd(b"a", b"CAPABILITY")
    expect(any(b" COMPRESS=DEFLATE" in u for u in untagged), "no COMPRESS=DEFLATE: %r" % untagged)
    c.compress()
    untagged, t = c.cmd(b"b", b"CAPABILITY")
    expect(t == b"b OK Capability completed." or t.startswith(b"b OK"), t)
    expect(any(b" COMPRESS=DEFLATE" in u for u in untagged), "capability %r" % untagged)
    untagged, t = c.cmd(b"c", b"SELECT INBOX")
    expect(t.startswith(b"c OK [READ-WRITE]"), t)
    msg = b"Subject: through zlib\r\n\r\n" + b"compressed body line\r\n" * 200
    c.send(b"d APPEND INBOX {%d}\r\n" % len(msg))
    cont = c.line()
    expect(cont.startswith(b"+"), "no continuation: %r" % cont)
    c.send(msg + b"\r\n")
    lines = c.until_tagged(b"d")
    expect(lines[-1].startswith(b"d OK [APPENDUID "), lines[-1])
    untagged, t = c.cmd(b"e", b"FETCH 1 (RFC822.SIZE BODY.PEEK[])")
    expect(t == b"e OK Fetch completed.", t)
    want = b"* 1 FETCH (RFC822.SIZE %d BODY[] {%d}\r\n" % (len(msg), len(msg)) + msg + b")"
    expect(want in untagged, "fetch %r" % untagged[-1][:200])
    _, t = c.cmd(b"f", b"COMPRESS DEFLATE")
    expect(t.startswith(b"f NO [COMPRESSIONACTIVE]"), t)
    # non-synchronising literal (LITERAL+) in the same compressed write
    _, t = c.cmd(b"g", b"APPEND INBOX {5+}\r\nHello")
    expect(t.startswith(b"g OK"), t)
    untagged, t = c.cmd(b"h", b"LOGOUT")
    expect(untagged and untagged[0].startswith(b"* BYE"), untagged)
    expect(t.startswith(b"h OK"), t)
    c.wait_eof()
    c.close()


def case_idle(srv):
    """IDLE's input hook reads inflated input; an update from another session is
    flushed to the compressed stream without further output behind it."""
    c = Client(srv)
    c.compress()
    _, t = c.cmd(b"a", b"SELECT INBOX")
    expect(t.startswith(b"a OK"), t)
    c.send(b"b IDLE\r\n")
    expect(c.line().startswith(b"+ "), "no IDLE continuation")
    other = Client(srv)
    _, t = other.cmd(b"x", b"APPEND INBOX {4+}\r\nHi\r\n")
    expect(t.startswith(b"x OK"), t)
    other.close()
    ln = c.line()
    expect(ln == b"* 1 EXISTS", "IDLE got %r" % ln)
    c.send(b"DONE\r\n")
    lines = c.until_tagged(b"b")
    expect(lines[-1].startswith(b"b OK"), lines)
    c.close()


def case_bad_mechanism(srv):
    c = Client(srv)
    _, t = c.cmd(b"a", b"COMPRESS FOO")
    expect(t.startswith(b"a BAD"), t)
    _, t = c.cmd(b"b", b"COMPRESS")
    expect(t.startswith(b"b BAD"), t)
    _, t = c.cmd(b"c", b"NOOP")	# still uncompressed
    expect(t.startswith(b"c OK"), t)
    c.close()


def case_pipelined(srv):
    """Compressed commands sent in the same packet as COMPRESS (RFC 4978 §3: from the
    octet after the command's CRLF)."""
    c = Client(srv)
    zout = zlib.compressobj(wbits=-15)
    tail = zout.compress(b"b NOOP\r\nc CAPABILITY\r\n") + zout.flush(zlib.Z_SYNC_FLUSH)
    c.sock.sendall(b"a COMPRESS DEFLATE\r\n" + tail)
    # the tagged OK is uncompressed, everything after it compressed
    while b"a OK DEFLATE active\r\n" not in c.buf:
        expect(c._fill(10), "EOF before OK")
    i = c.buf.index(b"a OK DEFLATE active\r\n") + len(b"a OK DEFLATE active\r\n")
    c.buf = c.buf[i:]
    c.start_deflate()
    c.zout = zout
    expect(c.until_tagged(b"b")[-1].startswith(b"b OK"), "NOOP")
    lines = c.until_tagged(b"c")
    expect(lines[-1].startswith(b"c OK") and b"COMPRESS=DEFLATE" in lines[0], lines)
    c.close()


def big_message():
    rnd = random.Random(4978)
    body = base64.encodebytes(bytes(rnd.getrandbits(8) for _ in range(3 * 1024 * 1024)))
    return b"Subject: incompressible\r\n\r\n" + body.replace(b"\n", b"\r\n")


def case_slow_reader(srv):
    """40 MB of hardly compressible FETCH output to a client that does not read: the
    server stops at its output bounds; reading afterwards gets every byte."""
    msg = big_message()
    srv.add_message("1800000000.M1P1.big:2,S", msg)
    c = Client(srv, rcvbuf=64 * 1024)
    c.compress()
    _, t = c.cmd(b"s", b"SELECT INBOX")
    expect(t.startswith(b"s OK"), t)
    base = srv.rss_kb()
    n = 10
    c.send(b"".join(b"f%d FETCH 1 BODY.PEEK[]\r\n" % i for i in range(n)))
    time.sleep(2.0)
    rss = srv.rss_kb()
    expect(rss < RSS_LIMIT_MB * 1024, "server RSS %d KiB (was %d) with a non-reading client"
           % (rss, base))
    want = b"* 1 FETCH (BODY[] {%d}\r\n" % len(msg) + msg + b")"
    for i in range(n):
        lines = c.until_tagged(b"f%d" % i, timeout=60)
        expect(lines[-1] == b"f%d OK Fetch completed." % i, lines[-1][:100])
        expect(len(lines) == 2 and lines[0] == want, "FETCH %d data differs" % i)
    _, t = c.cmd(b"n", b"NOOP")
    expect(t.startswith(b"n OK"), t)
    c.close()
    return "RSS %d KiB while blocked (%d before)" % (rss, base)


def case_bomb(srv):
    """1 MB of compressed input inflating to a 1 GiB line: the input bound applies to
    the inflated bytes; the parser refuses the line; memory stays bounded."""
    c = Client(srv)
    c.compress()
    zout = c.zout
    c.sock.sendall(zout.compress(b"x LIST \"\" ") + zout.flush(zlib.Z_SYNC_FLUSH))
    chunk = b"a" * (1 << 20)
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    # the same compressed MiB repeated is not valid DEFLATE across block boundaries,
    # so compress once per MiB through the session's stream; 1024 MiB in all
    peak = 0
    sent = 0
    try:
        for i in range(1024):
            data = zout.compress(chunk)
            if data:
                c.sock.sendall(data)
                sent += len(data)
            if i % 128 == 127:
                peak = max(peak, srv.rss_kb())
        data = zout.compress(b"\r\ny NOOP\r\n") + zout.flush(zlib.Z_SYNC_FLUSH)
        c.sock.sendall(data)
        sent += len(data)
    except (BrokenPipeError, ConnectionResetError):
        pass	# the server may end the session before the whole bomb is sent
    del comp
    peak = max(peak, srv.rss_kb())
    expect(peak < RSS_LIMIT_MB * 1024, "server RSS %d KiB during the bomb" % peak)
    lines = []
    try:
        while True:
            ln = c.line(60)
            lines.append(ln)
            if ln.startswith(b"y ") or ln.startswith(b"* BYE"):
                break
    except Fail:
        expect(c.eof, "no answer to the bomb: %r" % lines[-3:])
    refused = [ln for ln in lines if ln.startswith(b"x BAD") or ln.startswith(b"x NO") or
               ln.startswith(b"* BAD") or ln.startswith(b"* BYE") or ln.startswith(b"* NO")]
    expect(refused, "bomb not refused: %r" % [ln[:80] for ln in lines[-3:]])
    c.close()
    expect(srv.alive(), "server died")
    return "%d KiB compressed sent; peak RSS %d KiB; %r" % (sent // 1024, peak, refused[0][:60])


def case_eof_pipelined(srv):
    """A client that pipelines FETCHes and far more commands than the input bound holds
    (inflated), half-closes and only then reads (a slow reader): every command is
    answered, then the server closes."""
    msg = big_message()
    srv.add_message("1800000000.M1P1.big:2,S", msg)
    c = Client(srv, rcvbuf=64 * 1024)
    c.compress()
    _, t = c.cmd(b"s", b"SELECT INBOX")
    expect(t.startswith(b"s OK"), t)
    fetches = b"".join(b"f%d FETCH 1 BODY.PEEK[]\r\n" % i for i in range(3))
    # one tag for all: the compressed input is small enough to be read, EOF and all,
    # while the FETCH output is blocked
    noops = b"n NOOP\r\n" * 60000
    c.send(fetches + noops + b"q NOOP\r\n")
    c.sock.shutdown(socket.SHUT_WR)
    time.sleep(1.5)
    rest = c.wait_eof(60)
    f = sum(1 for i in range(3) if b"f%d OK Fetch completed." % i in rest)
    n = rest.count(b" OK NOOP completed.")
    expect(f == 3 and n == 60001, "%d FETCHes, %d NOOPs answered; %r" % (f, n, rest[-100:]))
    c.close()


def case_bomb_blocked(srv):
    """A decompression bomb queued behind a FETCH the client does not read: the session
    parses nothing while its output is full, so the compressed input waits in the
    socket buffer and at most the input bound of it is inflated."""
    msg = big_message()
    srv.add_message("1800000000.M1P1.big:2,S", msg)
    c = Client(srv, rcvbuf=64 * 1024)
    c.compress()
    _, t = c.cmd(b"s", b"SELECT INBOX")
    expect(t.startswith(b"s OK"), t)
    zout = c.zout
    c.sock.sendall(zout.compress(b"f1 FETCH 1 BODY.PEEK[]\r\nf2 FETCH 1 BODY.PEEK[]\r\n"
                                 b"x LIST \"\" ") + zout.flush(zlib.Z_SYNC_FLUSH))
    time.sleep(0.5)
    base = srv.rss_kb()
    chunk = b"a" * (1 << 20)
    c.sock.settimeout(2)
    sent = 0
    try:
        for _ in range(512):	# up to 512 MiB inflated, until the socket is full
            data = zout.compress(chunk)
            if data:
                c.sock.sendall(data)
                sent += len(data)
    except (socket.timeout, BrokenPipeError, ConnectionResetError):
        pass
    time.sleep(1.0)
    peak = srv.rss_kb()
    expect(peak < RSS_LIMIT_MB * 1024, "server RSS %d KiB (was %d) with %d KiB of bomb queued"
           % (peak, base, sent // 1024))
    # reading again: both FETCHes arrive whole, then the line is refused
    want = b"* 1 FETCH (BODY[] {%d}\r\n" % len(msg) + msg + b")"
    for tag in (b"f1", b"f2"):
        lines = c.until_tagged(tag, timeout=60)
        expect(lines[-1] == tag + b" OK Fetch completed." and lines[0] == want,
               "%s: %r" % (tag, lines[-1][:100]))
    ln = c.line(60)
    expect(ln.startswith(b"* BYE") or ln.startswith(b"x BAD") or ln.startswith(b"x NO"),
           "bomb line answered %r" % ln[:100])
    c.close()
    return "%d KiB compressed queued; RSS %d KiB (%d before)" % (sent // 1024, peak, base)


def case_corrupt(srv):
    """Invalid DEFLATE input: BYE (compressed) and the connection ends."""
    c = Client(srv)
    c.compress()
    _, t = c.cmd(b"a", b"NOOP")
    expect(t.startswith(b"a OK"), t)
    z = c.zout
    c.sock.sendall(z.compress(b"b NOOP\r\n") + z.flush(zlib.Z_SYNC_FLUSH) +
                   b"\xff\xff\xff\xff garbage that is no deflate block")
    rest = c.wait_eof()
    expect(b"b OK" in rest and b"* BYE " in rest and rest.index(b"b OK") < rest.index(b"* BYE"),
           "no NOOP answer, then BYE: %r" % rest[-200:])
    c.close()
    expect(srv.alive(), "server died")
    # a fresh session still works
    c = Client(srv)
    c.compress()
    _, t = c.cmd(b"b", b"NOOP")
    expect(t.startswith(b"b OK"), t)
    c.close()


def case_stream_end(srv):
    """A client that ends its DEFLATE stream (final block) and sends more: BYE."""
    c = Client(srv)
    c.compress()
    z = zlib.compressobj(wbits=-15)
    c.sock.sendall(z.compress(b"a NOOP\r\n") + z.flush(zlib.Z_FINISH) + b"\x01\x02\x03")
    rest = c.wait_eof()
    # what was inflated before the end is answered first
    expect(b"a OK" in rest and b"* BYE " in rest and rest.index(b"a OK") < rest.index(b"* BYE"),
           "got %r" % rest[-200:])
    c.close()


CASES = [
    ("session", case_session),
    ("idle", case_idle),
    ("bad-mechanism", case_bad_mechanism),
    ("pipelined", case_pipelined),
    ("eof-pipelined", case_eof_pipelined),
    ("corrupt", case_corrupt),
    ("stream-end", case_stream_end),
    ("slow-reader", case_slow_reader),
    ("bomb", case_bomb),
    ("bomb-blocked", case_bomb_blocked),
]


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(os.path.dirname(os.path.dirname(here)),
                                                     "build"))
    ap.add_argument("--server", help="the test server binary (default: in --build)")
    ap.add_argument("-k", action="append", default=[])
    args = ap.parse_args()
    binary = args.server or os.path.join(args.build, "tests", "unit", "imap",
                                         "buzon-imap-stdio")
    if "asan" in binary:
        global RSS_LIMIT_MB
        RSS_LIMIT_MB = 1024	# shadow memory and the quarantine: the bound is not measurable
    if not os.access(binary, os.X_OK):
        print("no %s" % binary)
        print("0 passed, 1 failed")
        return 1
    passed = failed = 0
    for name, fn in CASES:
        if args.k and not any(k in name for k in args.k):
            continue
        srv = None
        try:
            srv = Server(binary)
            info = fn(srv)
            expect(srv.alive(), "server died")
            log = srv.stop()
            srv = None
            expect("panic" not in log and "ERROR: AddressSanitizer" not in log and
                   "runtime error" not in log, "server log: %s" % log[-500:])
            print("PASS %s%s" % (name, " -- " + info if info else ""))
            passed += 1
        except Exception as e:
            why = str(e) if isinstance(e, Fail) else traceback.format_exc()
            print("FAIL %s: %s" % (name, why))
            failed += 1
        finally:
            if srv is not None:
                log = srv.stop()
                if failed:
                    sys.stdout.write("  server log tail: %s\n" % log[-1500:])
        sys.stdout.flush()
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
