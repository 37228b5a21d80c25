#!/usr/bin/env python3
"""tests/metrics/run.py — the metrics endpoint (metrics_listen) on a running server.

A server with metrics_listen, LMTP and POP3. Scrapes /metrics with curl before and after
some load (an IMAP login with commands, a failed IMAP login, a POP3 login, an LMTP
delivery, a pre-login connection held open, a ban) and checks the numbers moved as
they must; `promtool check metrics` on the Prometheus text; OpenMetrics on request
(Content-Type, `# EOF`); HEAD, 404, 405. Hostile clients: an oversized head (431), a
NUL byte and garbage (400), a slow client closed by the deadline while others are
served. The version matches `buzon version`. Then a real Prometheus (Debian's
`prometheus`) scrapes the endpoint from a private directory and port, and its HTTP API
must show the target up and a buzon_* series.

Prints "PASS name" / "FAIL name: why" / "SKIP name: why", then "N passed, M failed".
Takes ~20 s. Usage: run.py [--buzon PATH]
"""
import argparse
import imaplib
import json
import os
import poplib
import re
import shutil
import smtplib
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import buzontest  # noqa: E402

HOST = "127.0.0.1"
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$')


def parse(text):
    """{'name{labels}': float} of every sample line."""
    out = {}
    for ln in text.split("\n"):
        if ln == "" or ln.startswith("#"):
            continue
        m = SAMPLE.match(ln)
        if m is None:
            raise ValueError("bad sample line %r" % ln)
        out[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    return out


def curl(port, *args, path="/metrics"):
    r = subprocess.run(["curl", "-sS", "-m", "10", "-D", "-"] + list(args) +
                       ["http://%s:%d%s" % (HOST, port, path)], capture_output=True, timeout=20)
    raw = r.stdout.decode("utf-8", "replace")
    head, _, body = raw.partition("\r\n\r\n")
    return head, body


def raw_exchange(port, data, timeout=5):
    s = socket.create_connection((HOST, port), timeout=timeout)
    try:
        s.sendall(data)
        got = b""
        while True:
            try:
                b = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not b:
                break
            got += b
        return got
    finally:
        s.close()


def ipc_header(type_name, length):
    """The IPC header (src/lib/ipc.c) of a message of type_name, from src/lib/ipc.h."""
    with open(os.path.join(buzontest.REPO, "src", "lib", "ipc.h")) as f:
        text = f.read()
    version = int(re.search(r"#define IPC_VERSION (\d+)", text).group(1))
    body = re.sub(r"/\*.*?\*/", "", re.search(r"enum ipc_type \{(.*?)\};", text, re.S).group(1),
                  flags=re.S)
    val, types = 0, {}
    for item in body.split(","):
        m = re.match(r"\s*(IPC_\w+)(?:\s*=\s*(\d+))?\s*$", item)
        if m:
            val = int(m.group(2)) if m.group(2) else val + 1
            types[m.group(1)] = val
    return struct.pack("<II", version << 24 | types[type_name], length)


def mail_pids(master):
    """The mail processes among master's children (their argv: buzon --role mail)."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            with open("/proc/%s/cmdline" % d, "rb") as f:
                argv = f.read().split(b"\0")
        except (OSError, ValueError, IndexError):
            continue
        if ppid == master and b"--role" in argv and argv[argv.index(b"--role") + 1] == b"mail":
            out.append(int(d))
    return out


def inject_bad_report(pid):
    """Make mail process pid send a well-framed IPC_METRICS_REPORT whose block has the
    wrong size (8 octets), through gdb."""
    msg = ipc_header("IPC_METRICS_REPORT", 12) + struct.pack("<I", 8) + b"\1" * 8
    esc = "".join("\\%03o" % b for b in msg)
    r = subprocess.run(["gdb", "-p", str(pid), "-batch", "-nx", "-ex",
                        'call (long)send(3, "%s", %d, 0x4000)' % (esc, len(msg))],
                       capture_output=True, text=True, timeout=60)
    return r.returncode


def wait_port(port, secs=10):
    end = time.time() + secs
    while time.time() < end:
        try:
            socket.create_connection((HOST, port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.1)
    return False


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--buzon")
    args = ap.parse_args()
    results = []

    def check(name, cond, why=""):
        results.append((name, bool(cond), why))

    def skip(name, why):
        results.append((name, None, why))

    mport, pport = buzontest.free_ports(2)
    srv = buzontest.Server(buzon=os.path.abspath(args.buzon) if args.buzon else None,
                           lmtp=True, pop3=True, canary=False,
                           config=["metrics_listen = %s:%d" % (HOST, mport),
                                   "auth_ban_failures = 3", "auth_ban_seconds = 60",
                                   "mail_idle_exit = 1"])
    prom_tmp = tempfile.mkdtemp(prefix="buzon-prom.")
    prom = None
    try:
        with srv:
            check("listening", wait_port(mport), "metrics_listen %d not accepting" % mport)
            # a slow client: half a request line, never finished (closed by the deadline)
            slow = socket.create_connection((HOST, mport), timeout=20)
            slow.sendall(b"GET /metr")
            slow_start = time.time()

            head, body = curl(mport)
            check("status-200", head.startswith("HTTP/1.1 200"), head[:200])
            check("prometheus-type", "text/plain; version=0.0.4" in head, head)
            check("no-eof-in-prometheus", "# EOF" not in body)
            before = parse(body)
            ver = subprocess.run([srv.buzon, "version"], capture_output=True,
                                 text=True).stdout.split()[-1]
            check("build-info", before.get('buzon_build_info{version="%s"}' % ver) == 1,
                  "buzon version %s, %r" % (ver, [k for k in before if "build" in k]))
            check("cert-not-after", any(k.startswith(
                "buzon_tls_certificate_not_after_seconds{cert=\"%s\"" % srv.cert) and
                v > time.time() for k, v in before.items()), "no notAfter for %s" % srv.cert)
            check("processes", before.get('buzon_processes{role="master"}') == 1 and
                  before.get('buzon_processes{role="auth"}', 0) >= 1 and
                  before.get('buzon_processes{role="login"}', 0) >= 1 and
                  before.get('buzon_processes{role="lmtp"}', 0) == 1,
                  repr({k: v for k, v in before.items() if "processes" in k}))

            # ---- load
            c = srv.imap()
            c.select("INBOX")
            c.fetch("1:*", "(FLAGS)")
            c.uid("FETCH", "1:*", "(UID)")
            c.noop()
            bad = srv.imap(login=False)
            try:
                bad.login("demo", "wrong")
            except imaplib.IMAP4.error:
                pass
            bad.logout()
            p = srv.pop3()
            p.stat()
            p.quit()
            with smtplib.LMTP(HOST, srv.lmtp_port, timeout=10) as lm:
                lm.sendmail("sender@example.org", ["demo@localhost"],
                            b"From: a@example.org\r\nSubject: metrics\r\n\r\nhello\r\n")
            pre = socket.create_connection((HOST, srv.imap_port), timeout=5)
            pre.recv(4096)
            # reports come once a second: wait for the numbers to arrive
            after = {}
            end = time.time() + 8
            want_ok = before['buzon_logins_total{protocol="imap",mechanism="LOGIN",result="ok"}'] + 1
            while time.time() < end:
                after = parse(curl(mport)[1])
                if after.get('buzon_logins_total{protocol="imap",mechanism="LOGIN",result="ok"}') \
                        == want_ok and after.get(
                        'buzon_connections{protocol="imap",state="pre-login"}', 0) >= 1 and \
                        after.get('buzon_connections{protocol="imap",state="authenticated"}', 0) >= 1 \
                        and after.get('buzon_imap_command_duration_seconds_count{command="UID FETCH"}', 0) >= 1 \
                        and after.get("buzon_fsync_duration_seconds_count", 0) >= 1:
                    break
                time.sleep(0.3)

            def delta(key):
                return after.get(key, 0) - before.get(key, 0)

            check("login-ok", delta('buzon_logins_total{protocol="imap",mechanism="LOGIN",'
                                    'result="ok"}') == 1, "delta %r" % delta(
                'buzon_logins_total{protocol="imap",mechanism="LOGIN",result="ok"}'))
            check("login-failed", delta('buzon_logins_total{protocol="imap",mechanism="LOGIN",'
                                        'result="failed"}') == 1)
            check("login-pop3", delta('buzon_logins_total{protocol="pop3",mechanism="USER",'
                                      'result="ok"}') == 1,
                  repr({k: v for k, v in after.items() if "pop3" in k and v}))
            check("delivery-ok", delta('buzon_deliveries_total{transport="lmtp",result="ok"}') == 1)
            check("conn-authenticated",
                  after.get('buzon_connections{protocol="imap",state="authenticated"}', 0) >= 1)
            check("conn-prelogin",
                  after.get('buzon_connections{protocol="imap",state="pre-login"}', 0) >= 1)
            check("imap-histogram", after.get(
                'buzon_imap_command_duration_seconds_count{command="SELECT"}', 0) >= 1 and
                after.get('buzon_imap_command_duration_seconds_count{command="UID FETCH"}', 0) >= 1 and
                after.get('buzon_imap_command_duration_seconds_bucket{command="SELECT",le="+Inf"}')
                == after.get('buzon_imap_command_duration_seconds_count{command="SELECT"}'))
            check("fsync-histogram", after.get("buzon_fsync_duration_seconds_count", 0) >= 1)
            check("index-series", "buzon_index_hits_total" in after and
                  'buzon_index_rebuilds_total{reason="stale"}' in after)
            check("mail-process", after.get('buzon_processes{role="mail"}', 0) >= 1)
            c.logout()
            pre.close()

            # ---- the index: a new mail process opens INBOX from the index that the
            # last one left (trusted, or found stale: either is counted)
            def index_total(m):
                return sum(v for k, v in m.items() if k.startswith("buzon_index_"))
            i0 = None
            end = time.time() + 10
            while time.time() < end:
                m = parse(curl(mport)[1])
                if m.get('buzon_processes{role="mail"}', 1) == 0:
                    i0 = index_total(m)
                    break
                time.sleep(0.3)
            check("mail-process-exited", i0 is not None, "mail processes never went to 0")
            if i0 is not None:
                c = srv.imap()
                c.select("INBOX")
                i1 = i0
                end = time.time() + 5
                while time.time() < end and i1 == i0:
                    time.sleep(0.3)
                    i1 = index_total(parse(curl(mport)[1]))
                check("index-counted", i1 > i0, "index counters %r -> %r" % (i0, i1))
                c.logout()

            # ---- promtool
            if shutil.which("promtool"):
                text = curl(mport)[1]
                r = subprocess.run(["promtool", "check", "metrics"], input=text.encode(),
                                   capture_output=True, timeout=20)
                check("promtool", r.returncode == 0,
                      (r.stdout + r.stderr).decode("utf-8", "replace")[:500])
            else:
                skip("promtool", "no promtool (Debian package prometheus)")

            # ---- formats and methods
            head, body = curl(mport, "-H", "Accept: application/openmetrics-text; version=1.0.0")
            check("openmetrics", "application/openmetrics-text" in head and
                  body.endswith("# EOF\n") and "# TYPE buzon_logins counter" in body, head)
            got = raw_exchange(mport, b"HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            check("head", got.startswith(b"HTTP/1.1 200") and got.endswith(b"\r\n\r\n") and
                  b"Content-Length: " in got and b"# TYPE" not in got, got[:300])
            head, _ = curl(mport, path="/")
            check("404", head.startswith("HTTP/1.1 404"), head)
            head, _ = curl(mport, "-X", "POST")
            check("405", head.startswith("HTTP/1.1 405") and "Allow: GET, HEAD" in head, head)

            # ---- hostile clients
            got = raw_exchange(mport, b"GET /metrics HTTP/1.1\r\nX: " + b"a" * 9000 + b"\r\n\r\n")
            check("oversized-431", got.startswith(b"HTTP/1.1 431"), got[:80])
            got = raw_exchange(mport, b"GET /metrics\x00 HTTP/1.1\r\n\r\n")
            check("nul-400", got.startswith(b"HTTP/1.1 400"), got[:80])
            got = raw_exchange(mport, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + os.urandom(64)
                               + b"\n\n")
            check("garbage-400", got.startswith(b"HTTP/1.1 400"), got[:80])
            got = raw_exchange(mport, b"GET /metrics HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n")
            check("folded-400", got.startswith(b"HTTP/1.1 400"), got[:80])

            # ---- a real Prometheus
            if shutil.which("prometheus"):
                cfg = os.path.join(prom_tmp, "prometheus.yml")
                with open(cfg, "w") as f:
                    f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                            "scrape_configs:\n  - job_name: buzon\n    static_configs:\n"
                            "      - targets: ['%s:%d']\n" % (HOST, mport))
                prom = subprocess.Popen(
                    ["prometheus", "--config.file=" + cfg,
                     "--storage.tsdb.path=" + os.path.join(prom_tmp, "data"),
                     "--web.listen-address=%s:%d" % (HOST, pport)],
                    stdout=subprocess.DEVNULL, stderr=open(os.path.join(prom_tmp, "log"), "w"),
                    cwd=prom_tmp)
                up = None
                series = None
                end = time.time() + 25
                api = "http://%s:%d/api/v1/" % (HOST, pport)
                while time.time() < end and series is None:
                    time.sleep(0.5)
                    try:
                        t = json.load(urllib.request.urlopen(api + "targets", timeout=2))
                        act = t["data"]["activeTargets"]
                        up = act[0]["health"] if act else None
                        if up != "up":
                            continue
                        q = json.load(urllib.request.urlopen(api + "query?query=" +
                                      urllib.parse.quote('buzon_processes{role="master"}'),
                                      timeout=2))
                        if q["data"]["result"]:
                            series = q["data"]["result"][0]["value"][1]
                    except (OSError, ValueError, KeyError, IndexError):
                        pass
                check("prometheus-target-up", up == "up", "target health %r" % up)
                check("prometheus-query", series == "1", "buzon_processes{role=master} = %r"
                      % series)
            else:
                skip("prometheus", "no prometheus (Debian package prometheus)")

            # ---- the slow client was closed by the deadline (10 s) meanwhile
            slow.settimeout(max(1, 14 - (time.time() - slow_start)))
            try:
                got = slow.recv(4096)
                closed = got == b""
            except socket.timeout:
                closed = False
            except ConnectionResetError:
                closed = True
            slow.close()
            check("slow-client-closed", closed, "still open after %.0f s" %
                  (time.time() - slow_start))
            head, _ = curl(mport)
            check("still-serving", head.startswith("HTTP/1.1 200"), head[:80])
            log = srv.log_text()
            check("no-child-killed", "killing it" not in log and "malformed metrics" not in log,
                  [ln for ln in log.split("\n") if "killing" in ln][:3])

            # ---- a bad report kills its sender, never the master
            if os.getuid() != 0 or shutil.which("gdb") is None:
                skip("bad-report", "needs root and gdb")
            else:
                c = srv.imap()
                c.select("INBOX")
                pids = mail_pids(srv.proc.pid)
                if len(pids) != 1:
                    check("bad-report", False, "mail processes %r" % pids)
                else:
                    since = len(srv.log_text())
                    inject_bad_report(pids[0])
                    end = time.time() + 10
                    while time.time() < end and "sent a malformed metrics report" not in \
                            srv.log_text()[since:]:
                        time.sleep(0.2)
                    check("bad-report-kills-sender", re.search(
                        r"mail pid=%d sent a malformed metrics report: killing it" % pids[0],
                        srv.log_text()[since:]), srv.log_text()[since:][-300:])
                    check("bad-report-master-alive", srv.proc.poll() is None)
                    head, body = curl(mport)
                    check("bad-report-still-serving", head.startswith("HTTP/1.1 200") and
                          "buzon_processes" in body, head[:80])
                try:
                    c.logout()
                except (OSError, imaplib.IMAP4.error):
                    pass
            # ---- a ban (auth_ban_failures = 3)
            b0 = parse(curl(mport)[1]).get(
                'buzon_logins_total{protocol="imap",mechanism="LOGIN",result="banned"}', 0)
            for _ in range(4):
                m = srv.imap(login=False)
                try:
                    m.login("demo", "nope")
                except imaplib.IMAP4.error:
                    pass
                m.logout()
            b1 = parse(curl(mport)[1]).get(
                'buzon_logins_total{protocol="imap",mechanism="LOGIN",result="banned"}', 0)
            check("login-banned", b1 - b0 >= 1, "banned %r -> %r" % (b0, b1))

            srv.terminate()
    except buzontest.ServerError as e:
        check("server", False, str(e))
    finally:
        if prom is not None:
            prom.terminate()
            try:
                prom.wait(10)
            except subprocess.TimeoutExpired:
                prom.kill()
        shutil.rmtree(prom_tmp, ignore_errors=True)
    failed = 0
    passed = 0
    for name, ok, why in results:
        if ok is None:
            print("SKIP %s: %s" % (name, why))
        elif ok:
            passed += 1
            print("PASS %s" % name)
        else:
            failed += 1
            print("FAIL %s: %s" % (name, why))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
