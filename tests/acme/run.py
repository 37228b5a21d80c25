#!/usr/bin/env python3
"""Certificates the way buzon users get and rotate them, with the real programs:

  acme-renew  certbot (Debian's 2.1) obtains a certificate for imap.buzon.test from a
              local ACME CA, Debian's pebble (Let's Encrypt's test server), with the
              http-01 challenge (certbot --standalone on a high 127.0.0.1 port; pebble
              resolves every name to 127.0.0.1 through pebble-challtestsrv's DNS).
              buzon serves certbot's live/fullchain.pem and live/privkey.pem; the
              certificate's deploy hook (saved by `certbot certonly --deploy-hook`) is
              `buzon reload -c CFG`.  A forced `certbot renew` must then make new IMAPS
              and STARTTLS connections present the new certificate (fingerprint of
              live/cert.pem, chain verified against pebble's root for imap.buzon.test)
              while an IMAPS and a STARTTLS session opened before keep working (NOOP,
              FETCH) on the old one, and the old login process exits once they have
              logged out.
  sni         three ssl_cert/ssl_key pairs (imap.example.org first, mail.example.net, made
              by scripts/mkcert.sh, and one with several names and a wildcard):
              `openssl s_client -servername` gets the matching certificate on IMAPS and
              with -starttls imap (names compared without case, on subjectAltNames, a
              wildcard covering one label); an unknown name and no SNI get the first; after the order is swapped in the config and `buzon
              reload`, the default follows; `buzon check` names both.
  expiry      a certificate that expires in 5 days (openssl x509 -days 5) is logged as
              expiring at start and again at reload, and `buzon check` reports its
              expiry; the two-year certificates of the sni test are not warned about;
              an expired certificate is an error at reload and in `buzon check` (exit 1).
  reload-bad-key  a reload whose key does not match its certificate (a renewal gone
              wrong) is refused and logged; IMAPS and STARTTLS keep the running
              certificate, logins work, and the corrected configuration reloads.

All servers (pebble, pebble-challtestsrv, certbot's standalone http-01 server, buzon)
listen on 127.0.0.1 high ports chosen at run time.  pebble's own HTTPS uses a
throwaway CA made here with openssl (Debian's pebble has no test certificates), given to
certbot with REQUESTS_CA_BUNDLE.

  run.py [--buzon PATH] [-v] [NAME...]

Prints "PASS NAME" / "FAIL NAME: reasons" per test and finally "N passed, M failed";
exit status 1 if anything failed.  Details (and the logs of a failed test) go below a
failed test's line; -v shows them for every test.
"""
import argparse
import hashlib
import imaplib
import io
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
import buzontest as bt  # noqa: E402

ACME_NAME = "imap.buzon.test"
RELOAD_WAIT = 20.0		# seconds for a reload to reach new connections


def log(msg):
    sys.stderr.write(msg + "\n")


def run(cmd, env=None, timeout=120, check=True):
    log("$ %s" % " ".join(cmd))
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    out = (r.stdout + r.stderr).strip()
    if out:
        log("\n".join("  | " + ln for ln in out.splitlines()[-40:]))
    if check and r.returncode != 0:
        raise RuntimeError("%s exited %d" % (cmd[0], r.returncode))
    return r


def wait_tcp(port, proc, what, timeout=15.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("%s exited %d at start" % (what, proc.returncode))
        try:
            socket.create_connection((bt.HOST, port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("%s not listening on %d after %.0f s" % (what, port, timeout))


def openssl_ca(d, cn, days=2):
    """A throwaway CA (P-256) in d: returns (ca.pem, ca.key)."""
    ca, key = os.path.join(d, "ca.pem"), os.path.join(d, "ca.key")
    run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-keyout", key, "-out", ca, "-days", str(days), "-subj", "/CN=%s" % cn,
         "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
    return ca, key


def openssl_leaf(d, name, ca, ca_key, san, days=2):
    """A server certificate for CN=name signed by ca: returns (cert, key)."""
    cert, key, csr, ext = (os.path.join(d, name + s) for s in (".pem", ".key", ".csr", ".ext"))
    run(["openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", key, "-out", csr, "-subj", "/CN=%s" % name])
    with open(ext, "w") as f:
        f.write("subjectAltName=%s\nbasicConstraints=critical,CA:FALSE\n"
                "keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n" % san)
    run(["openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
         "-out", cert, "-days", str(days), "-extfile", ext])
    return cert, key


def pem_fingerprint(path):
    """SHA-256 of the first certificate in a PEM file (the leaf of a fullchain)."""
    with open(path) as f:
        text = f.read()
    m = re.search(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", text, re.S)
    return hashlib.sha256(ssl.PEM_cert_to_DER_cert(m.group(0))).hexdigest()


def der_serial(der):
    r = subprocess.run(["openssl", "x509", "-inform", "DER", "-noout", "-serial"],
                       input=der, capture_output=True, timeout=10)
    return r.stdout.decode().strip().replace("serial=", "")


def peer(sock):
    der = sock.getpeercert(binary_form=True)
    return hashlib.sha256(der).hexdigest(), der_serial(der)


def tls_context(cafile):
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.check_hostname = True
    return ctx


def imaps_peer(port, ctx, name):
    """(fingerprint, serial) of the certificate a new IMAPS connection presents for
    SNI name, verified by ctx (hostname included); the greeting is read too."""
    with socket.create_connection((bt.HOST, port), timeout=10) as s:
        with ctx.wrap_socket(s, server_hostname=name) as t:
            f = t.makefile("rb")
            greeting = f.readline()
            if not greeting.startswith(b"* OK"):
                raise RuntimeError("IMAPS greeting %r" % greeting)
            t.sendall(b"z LOGOUT\r\n")
            return peer(t)


def starttls_peer(port, ctx, name):
    """Same after STARTTLS on the IMAP port."""
    with socket.create_connection((bt.HOST, port), timeout=10) as s:
        f = s.makefile("rb")
        if not f.readline().startswith(b"* OK"):
            raise RuntimeError("no IMAP greeting")
        s.sendall(b"s STARTTLS\r\n")
        line = f.readline()
        if not line.startswith(b"s OK"):
            raise RuntimeError("STARTTLS answered %r" % line)
        with ctx.wrap_socket(s, server_hostname=name) as t:
            t.sendall(b"z LOGOUT\r\n")
            return peer(t)


def login_pids(srv):
    """The server's login processes (buzon --role login ...)."""
    out = []
    for pid in srv.session_pids():
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if b"--role" in argv and argv[argv.index(b"--role") + 1:][:1] == [b"login"]:
            out.append(pid)
    return out


class NamedIMAP4_SSL(imaplib.IMAP4_SSL):
    """IMAP4_SSL to 127.0.0.1 that sends (and verifies) a host name by SNI."""

    def __init__(self, port, ctx, name):
        self.sni_name = name
        super().__init__(bt.HOST, port, ssl_context=ctx, timeout=10)

    def _create_socket(self, timeout):
        sock = socket.create_connection((bt.HOST, self.port), timeout)
        return self.ssl_context.wrap_socket(sock, server_hostname=self.sni_name)


class Procs:
    """Background programs of one test, stopped (by pid) at the end."""

    def __init__(self, d):
        self.d = d
        self.procs = []

    def start(self, name, cmd, env=None):
        logf = open(os.path.join(self.d, name + ".log"), "wb")
        log("$ %s &" % " ".join(cmd))
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                             env=env, cwd=self.d, start_new_session=True)
        self.procs.append((name, p, logf))
        return p

    def stop(self):
        for name, p, logf in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
            logf.close()

    def logs(self):
        out = []
        for name, _, _ in self.procs:
            try:
                with open(os.path.join(self.d, name + ".log"), errors="replace") as f:
                    out.append("---- %s ----\n%s" % (name, f.read()[-3000:]))
            except OSError:
                pass
        return "\n".join(out)


# ---- acme-renew ----------------------------------------------------------------------

class Pebble:
    """pebble + pebble-challtestsrv on free 127.0.0.1 ports."""

    def __init__(self, d, procs):
        self.d = d
        self.procs = procs

    def start(self):
        ca, ca_key = openssl_ca(self.d, "buzon test: pebble HTTPS CA")
        cert, key = openssl_leaf(self.d, "pebble-https", ca, ca_key, "IP:127.0.0.1,DNS:localhost")
        self.ca = ca
        (self.acme_port, self.mgmt_port, self.http01_port, self.tlsalpn_port, self.dns_port,
         self.chall_mgmt_port) = bt.free_ports(6)
        conf = {"pebble": {
            "listenAddress": "%s:%d" % (bt.HOST, self.acme_port),
            "managementListenAddress": "%s:%d" % (bt.HOST, self.mgmt_port),
            "certificate": cert, "privateKey": key,
            "httpPort": self.http01_port, "tlsPort": self.tlsalpn_port,
            "ocspResponderURL": "", "externalAccountBindingRequired": False}}
        cfg = os.path.join(self.d, "pebble.json")
        with open(cfg, "w") as f:
            json.dump(conf, f)
        # Every A query is answered 127.0.0.1, no AAAA (certbot listens on 127.0.0.1 only);
        # no challenge servers of its own (certbot --standalone answers http-01).
        chall = self.procs.start("pebble-challtestsrv", [
            "pebble-challtestsrv", "-dns01", "%s:%d" % (bt.HOST, self.dns_port),
            "-http01", "", "-https01", "", "-tlsalpn01", "",
            "-management", "%s:%d" % (bt.HOST, self.chall_mgmt_port),
            "-defaultIPv4", "127.0.0.1", "-defaultIPv6", ""])
        env = dict(os.environ, PEBBLE_VA_NOSLEEP="1", PEBBLE_WFE_NONCEREJECT="0")
        pebble = self.procs.start("pebble", ["pebble", "-config", cfg, "-dnsserver",
                                             "%s:%d" % (bt.HOST, self.dns_port)], env=env)
        wait_tcp(self.chall_mgmt_port, chall, "pebble-challtestsrv")
        wait_tcp(self.acme_port, pebble, "pebble")
        wait_tcp(self.mgmt_port, pebble, "pebble management")
        self.directory = "https://%s:%d/dir" % (bt.HOST, self.acme_port)
        # pebble makes a new root at every start: fetch it to verify what buzon serves.
        ctx = ssl.create_default_context(cafile=ca)
        with urllib.request.urlopen("https://%s:%d/roots/0" % (bt.HOST, self.mgmt_port),
                                    context=ctx, timeout=10) as r:
            root = r.read()
        self.root = os.path.join(self.d, "pebble-root.pem")
        with open(self.root, "wb") as f:
            f.write(root)


class Certbot:
    """certbot with its own config/work/logs dirs, talking to pebble."""

    def __init__(self, d, pebble):
        self.d = d
        self.pebble = pebble
        self.dirs = ["--config-dir", os.path.join(d, "letsencrypt"),
                     "--work-dir", os.path.join(d, "certbot-work"),
                     "--logs-dir", os.path.join(d, "certbot-logs")]
        self.env = dict(os.environ, REQUESTS_CA_BUNDLE=pebble.ca)

    def live(self, name, f):
        return os.path.join(self.d, "letsencrypt", "live", name, f)

    def log_text(self):
        try:
            with open(os.path.join(self.d, "certbot-logs", "letsencrypt.log"), errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def certonly(self, name, deploy_hook):
        return run(["certbot", "certonly", "--standalone", "--non-interactive", "--agree-tos",
                    "--register-unsafely-without-email", "--server", self.pebble.directory,
                    "--http-01-port", str(self.pebble.http01_port),
                    "--http-01-address", bt.HOST, "-d", name,
                    "--deploy-hook", deploy_hook] + self.dirs, env=self.env, check=False)

    def renew(self):
        # The deploy hook and the ACME server come from the renewal config that
        # certonly saved, as they do for the system's certbot timer.
        return run(["certbot", "renew", "--force-renewal", "--no-random-sleep-on-renew",
                    "--non-interactive"] + self.dirs, env=self.env, check=False)


def test_acme_renew(args, res, d):
    procs = Procs(d)
    srv = None
    old = []
    try:
        pebble = Pebble(d, procs)
        pebble.start()
        certbot = Certbot(d, pebble)
        fullchain = certbot.live(ACME_NAME, "fullchain.pem")
        privkey = certbot.live(ACME_NAME, "privkey.pem")
        # The config names certbot's live/ files; the hook needs the config's path, so
        # it is written before the certificate exists and before buzon runs.
        srv = bt.Server(buzon=args.buzon, certs=[(fullchain, privkey)])
        srv.setup()
        hook = "%s reload -c %s" % (srv.buzon, srv.config_path)
        r = certbot.certonly(ACME_NAME, hook)
        if not res.check(r.returncode == 0 and os.path.exists(fullchain),
                         "certbot certonly obtained a certificate from pebble (http-01)"):
            return procs, srv
        # buzon is not running yet: the first hook run fails, which certbot reports
        # without failing (the production recipe in docs/letsencrypt.md says so too).
        renewal = os.path.join(d, "letsencrypt", "renewal", ACME_NAME + ".conf")
        with open(renewal) as f:
            res.check("renew_hook = %s" % hook in f.read(), "deploy hook saved in the renewal config")
        fp1 = pem_fingerprint(fullchain)
        srv.start()
        logins = len(login_pids(srv))
        chk = srv.cli("check", "-c", srv.config_path, check=False)
        res.check(chk.returncode == 0 and "DNS:%s" % ACME_NAME in chk.stdout,
                  "buzon check names %s" % ACME_NAME)
        ctx = tls_context(pebble.root)	# pebble's root only: the chain must be served
        got = imaps_peer(srv.imaps_port, ctx, ACME_NAME)
        res.eq(got[0], fp1, "IMAPS presents certbot's certificate (serial %s), chain verified"
               % got[1])
        got = starttls_peer(srv.imap_port, ctx, ACME_NAME)
        res.eq(got[0], fp1, "STARTTLS presents certbot's certificate, chain verified")

        # Sessions opened before the renewal.
        m1 = NamedIMAP4_SSL(srv.imaps_port, ctx, ACME_NAME)
        old.append(m1)
        m2 = imaplib.IMAP4(bt.HOST, srv.imap_port, timeout=10)
        old.append(m2)
        m2.host = ACME_NAME	# imaplib's STARTTLS sends self.host as the SNI name
        m2.starttls(ssl_context=ctx)
        for m in (m1, m2):
            m.login("demo", "demo")
            m.select("INBOX")
        body1 = m1.fetch("1", "(BODY.PEEK[])")[1]
        res.eq(peer(m1.sock)[0], fp1, "old IMAPS session on the first certificate")

        before = len(certbot.log_text())
        r = certbot.renew()
        res.check(r.returncode == 0, "certbot renew --force-renewal succeeded")
        out = certbot.log_text()[before:]
        res.check("Running deploy-hook command: %s" % hook in out and "reported error" not in out,
                  "certbot ran the deploy hook `buzon reload` without error")
        fp2 = pem_fingerprint(fullchain)
        if not res.check(fp2 != fp1, "live/fullchain.pem is a new certificate"):
            return procs, srv

        # New connections get the new certificate once the reload has been done.
        deadline = time.monotonic() + RELOAD_WAIT
        got = None
        while time.monotonic() < deadline:
            got = imaps_peer(srv.imaps_port, ctx, ACME_NAME)
            if got[0] == fp2:
                break
            time.sleep(0.2)
        res.eq(got[0], fp2, "new IMAPS connection presents the renewed certificate (serial %s)"
               % got[1])
        got = starttls_peer(srv.imap_port, ctx, ACME_NAME)
        res.eq(got[0], fp2, "new STARTTLS connection presents the renewed certificate")
        m3 = NamedIMAP4_SSL(srv.imaps_port, ctx, ACME_NAME)
        old.append(m3)
        m3.login("demo", "demo")
        res.eq(m3.select("INBOX", readonly=True)[0], "OK", "login over the new certificate")

        # The sessions from before still work, on the old certificate.
        for m, what in ((m1, "IMAPS"), (m2, "STARTTLS")):
            res.eq(m.noop()[0], "OK", "old %s session: NOOP after the reload" % what)
            typ, data = m.fetch("1", "(BODY.PEEK[])")
            res.check(typ == "OK" and data == body1,
                      "old %s session: FETCH 1 BODY[] after the reload" % what)
            res.eq(peer(m.sock)[0], fp1, "old %s session still on the first certificate" % what)
        res.check(len(login_pids(srv)) > logins,
                  "old login process still serving its sessions next to the new one")
        for m in (m1, m2):
            m.logout()
        old.remove(m1)
        old.remove(m2)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and len(login_pids(srv)) > logins:
            time.sleep(0.1)
        res.eq(len(login_pids(srv)), logins, "old login process exits when its last session has ended")
        text = srv.log_text()
        res.check("reloading configuration %s" % srv.config_path in text
                  and "reload failed" not in text, "buzon logged the reload, without failure")
    finally:
        for m in old:
            try:
                m.logout()
            except Exception:
                pass
    return procs, srv


# ---- sni -------------------------------------------------------------------------------

def s_client(port, *args):
    cmd = ["openssl", "s_client", "-connect", "%s:%d" % (bt.HOST, port)] + list(args)
    r = subprocess.run(cmd, input=b"z LOGOUT\r\n", capture_output=True, timeout=20)
    out = (r.stdout + r.stderr).decode("utf-8", "replace")
    m = re.search(r"^subject=.*?CN ?= ?([^,\n/]+)", out, re.M)
    cn = m.group(1).strip() if m else None
    log("$ %s -> %d, subject CN %s" % (" ".join(cmd[2:]), r.returncode, cn))
    return cn


def test_sni(args, res, d):
    pairs = {}
    for cn in ("imap.example.org", "mail.example.net"):
        run([bt.MKCERT, os.path.join(d, cn), cn])
        pairs[cn] = (os.path.join(d, cn, "fullchain.pem"), os.path.join(d, cn, "privkey.pem"))
    # A third certificate as certbot makes them for several names (-d ... -d ...), with a
    # wildcard name among them: matched on its subjectAltNames, not its CN.
    ca, ca_key = openssl_ca(d, "buzon test: SNI CA", days=800)
    pairs["multi"] = openssl_leaf(d, "multi.example.com", ca, ca_key,
                                  "DNS:multi.example.com,DNS:pop.example.com,DNS:*.wild.example.com",
                                  days=800)
    srv = bt.Server(buzon=args.buzon, certs=[pairs["imap.example.org"], pairs["mail.example.net"],
                                             pairs["multi"]])
    srv.start()
    for port, extra, what in ((srv.imaps_port, [], "IMAPS"),
                              (srv.imap_port, ["-starttls", "imap"], "STARTTLS")):
        for name, want in (("imap.example.org", "imap.example.org"),
                           ("mail.example.net", "mail.example.net"),
                           ("MAIL.Example.NET", "mail.example.net"),
                           ("pop.example.com", "multi.example.com"),
                           ("imap.wild.example.com", "multi.example.com"),
                           ("a.b.wild.example.com", "imap.example.org"),
                           ("unknown.example.com", "imap.example.org")):
            res.eq(s_client(port, "-servername", name, *extra), want,
                   "%s -servername %s gets %s" % (what, name, want))
        res.eq(s_client(port, "-noservername", *extra), "imap.example.org",
               "%s without SNI gets the first certificate" % what)
    # Verified with the name, each against its own certificate or CA (python ssl).
    for name, cafile, pair in (("imap.example.org", pairs["imap.example.org"][0], "imap.example.org"),
                               ("mail.example.net", pairs["mail.example.net"][0], "mail.example.net"),
                               ("x.wild.example.com", ca, "multi")):
        got = imaps_peer(srv.imaps_port, tls_context(cafile), name)
        res.eq(got[0], pem_fingerprint(pairs[pair][0]), "python ssl verifies %s by SNI" % name)
    chk = srv.cli("check", "-c", srv.config_path, check=False)
    res.check(chk.returncode == 0 and "DNS:imap.example.org" in chk.stdout
              and "DNS:mail.example.net" in chk.stdout and "DNS:*.wild.example.com" in chk.stdout,
              "buzon check names all three certificates")
    # The DNS records for the zone (RFC 6186): the server name from the first
    # certificate, the domain from it or from -d; a port that is off gets target ".".
    def srv_line(out, service, domain):
        m = re.search(r"^_%s\._tcp\.%s\.\s+IN SRV (\d+) (\d+) (\d+) (\S+)$"
                      % (service, re.escape(domain)), out, re.M)
        return m.groups() if m else None
    res.eq(srv_line(chk.stdout, "imaps", "example.org"),
           ("0", "1", str(srv.imaps_port), "imap.example.org."),
           "buzon check: _imaps._tcp SRV for the certificate's domain")
    res.eq(srv_line(chk.stdout, "imap", "example.org"),
           ("10", "1", str(srv.imap_port), "imap.example.org."),
           "buzon check: _imap._tcp SRV after IMAPS (RFC 8314)")
    chk = srv.cli("check", "-c", srv.config_path, "-d", "example.net", "-H", "mx.example.net",
                  check=False)
    res.eq(srv_line(chk.stdout, "imaps", "example.net"),
           ("0", "1", str(srv.imaps_port), "mx.example.net."), "buzon check -d -H")
    want = ("30", "1", str(srv.pop3_port), "mx.example.net.") if srv.pop3_port else \
        ("0", "0", "0", ".")
    res.eq(srv_line(chk.stdout, "pop3", "example.net"), want, "buzon check: _pop3._tcp SRV")
    chk = srv.cli("check", "-c", srv.config_path, "-d", "bad domain;", check=False)
    res.check(chk.returncode == 1 and "not a DNS name" in chk.stdout,
              "buzon check refuses a domain that is not a DNS name")
    # Swap the order: after a reload the default (first) certificate is the other one.
    srv.certs = [pairs["mail.example.net"], pairs["imap.example.org"]]
    srv.write_config()
    srv.cli("reload", "-c", srv.config_path)
    deadline = time.monotonic() + RELOAD_WAIT
    cn = None
    while time.monotonic() < deadline:
        cn = s_client(srv.imaps_port, "-servername", "unknown.example.com")
        if cn == "mail.example.net":
            break
        time.sleep(0.2)
    res.eq(cn, "mail.example.net", "after reload with the order swapped, an unknown name gets the new first")
    res.eq(s_client(srv.imaps_port, "-servername", "imap.example.org"), "imap.example.org",
           "after reload, SNI imap.example.org still gets its certificate")
    res.check("expires in" not in srv.log_text(), "no expiry warning for two-year certificates")
    return None, srv


# ---- expiry ----------------------------------------------------------------------------

def test_expiry(args, res, d):
    ca, ca_key = openssl_ca(d, "buzon test: expiry CA")
    cert, key = openssl_leaf(d, "localhost", ca, ca_key, "DNS:localhost,IP:127.0.0.1", days=5)
    with open(cert) as f, open(ca) as g:
        chain = f.read() + g.read()
    fullchain = os.path.join(d, "fullchain.pem")
    with open(fullchain, "w") as f:
        f.write(chain)
    srv = bt.Server(buzon=args.buzon, certs=[(fullchain, key)])
    srv.start()
    # 5 days less the seconds since it was made: buzon counts whole days left (4).
    warn = re.compile(r"tls cert=%s .*expires in [45] days" % re.escape(fullchain))
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not warn.search(srv.log_text()):
        time.sleep(0.1)
    lines = [ln for ln in srv.log_text().splitlines() if warn.search(ln)]
    res.eq(len(lines), 1, "expiry warning logged once at start")
    if lines:
        log("log: " + lines[0])
        res.check("CN=localhost" in lines[0], "the warning names the certificate")
    chk = srv.cli("check", "-c", srv.config_path, check=False)
    res.check(re.search(r"certificate %s: .*expires in [45] days" % re.escape(fullchain),
                        chk.stdout) is not None, "buzon check reports the expiry")
    res.eq(chk.returncode, 0, "buzon check: a certificate about to expire is not an error")
    got = imaps_peer(srv.imaps_port, tls_context(ca), "localhost")
    res.eq(got[0], pem_fingerprint(fullchain), "the 5-day certificate is served")
    srv.cli("reload", "-c", srv.config_path)
    deadline = time.monotonic() + RELOAD_WAIT
    n = 0
    while time.monotonic() < deadline:
        n = len([ln for ln in srv.log_text().splitlines() if warn.search(ln)])
        if n >= 2:
            break
        time.sleep(0.1)
    res.eq(n, 2, "expiry warning logged again at reload")

    # An expired certificate (renewal failed for too long): an error at reload, and
    # `buzon check` says EXPIRED and exits 1.
    exp_cert, exp_key = openssl_expired(d, "localhost")
    srv.certs = [(exp_cert, exp_key)]
    srv.write_config()
    chk = srv.cli("check", "-c", srv.config_path, check=False)
    res.check(chk.returncode == 1 and re.search(r"certificate %s: .*EXPIRED \d+ days" % re.escape(exp_cert),
                                                chk.stdout) is not None,
              "buzon check reports the expired certificate and exits 1 (exit %d)" % chk.returncode)
    srv.cli("reload", "-c", srv.config_path)
    expired = re.compile(r"error: tls cert=%s .*EXPIRED \d+ days ago" % re.escape(exp_cert))
    deadline = time.monotonic() + RELOAD_WAIT
    while time.monotonic() < deadline and not expired.search(srv.log_text()):
        time.sleep(0.1)
    res.check(expired.search(srv.log_text()) is not None, "expired certificate logged as an error at reload")
    return None, srv


def openssl_expired(d, cn):
    """A self-signed certificate that expired on 2025-02-01 (openssl ca with explicit
    dates: `openssl req -days` cannot go backwards)."""
    ca = os.path.join(d, "expired-ca")
    os.mkdir(ca)
    open(os.path.join(ca, "index.txt"), "w").close()
    with open(os.path.join(ca, "serial"), "w") as f:
        f.write("01\n")
    with open(os.path.join(ca, "ca.cnf"), "w") as f:
        f.write("[ca]\ndefault_ca = d\n[d]\ndir = %s\ndatabase = $dir/index.txt\n"
                "serial = $dir/serial\nnew_certs_dir = $dir\ndefault_md = sha256\npolicy = p\n"
                "copy_extensions = copy\nunique_subject = no\n[p]\ncommonName = supplied\n" % ca)
    key, csr, cert = (os.path.join(ca, n) for n in ("key.pem", "req.csr", "cert.pem"))
    run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", key, "-out", csr, "-subj", "/CN=%s" % cn, "-addext", "subjectAltName=DNS:%s" % cn])
    run(["openssl", "ca", "-batch", "-config", os.path.join(ca, "ca.cnf"), "-selfsign", "-keyfile", key,
         "-in", csr, "-out", cert, "-startdate", "20250101000000Z", "-enddate", "20250201000000Z",
         "-notext"])
    return cert, key


# ---- reload-bad-key ------------------------------------------------------------------

def test_reload_bad_key(args, res, d):
    """A renewal gone wrong (the key no longer matches the certificate): reload keeps the
    running certificates, and a later good reload still works."""
    run([bt.MKCERT, os.path.join(d, "other"), "localhost"])
    srv = bt.Server(buzon=args.buzon)
    srv.start()
    ctx = tls_context(srv.cert)
    fp = imaps_peer(srv.imaps_port, ctx, "localhost")[0]
    good = srv.certs
    srv.certs = [(srv.cert, os.path.join(d, "other", "privkey.pem"))]
    srv.write_config()
    chk = srv.cli("check", "-c", srv.config_path, check=False)
    res.check(chk.returncode != 0, "buzon check refuses a key that does not match (exit %d)" % chk.returncode)
    srv.cli("reload", "-c", srv.config_path)
    deadline = time.monotonic() + RELOAD_WAIT
    while time.monotonic() < deadline and "reload failed" not in srv.log_text():
        time.sleep(0.1)
    res.check("reload failed, keeping the running configuration" in srv.log_text(),
              "reload with a mismatched key is refused and logged")
    res.eq(imaps_peer(srv.imaps_port, ctx, "localhost")[0], fp, "IMAPS still serves the old certificate")
    res.eq(starttls_peer(srv.imap_port, ctx, "localhost")[0], fp, "STARTTLS still serves the old certificate")
    m = srv.imaps()
    res.eq(m.select("INBOX", readonly=True)[0], "OK", "logins still work after the refused reload")
    m.logout()
    srv.certs = good
    srv.write_config()
    n = srv.log_text().count("reloading configuration")
    srv.cli("reload", "-c", srv.config_path)
    deadline = time.monotonic() + RELOAD_WAIT
    while time.monotonic() < deadline and srv.log_text().count("reloading configuration") <= n:
        time.sleep(0.1)
    time.sleep(0.5)
    res.eq(srv.log_text().count("reload failed"), 1, "the corrected configuration reloads")
    res.eq(imaps_peer(srv.imaps_port, ctx, "localhost")[0], fp, "IMAPS serves the certificate after the good reload")
    return None, srv


TESTS = [("acme-renew", test_acme_renew), ("sni", test_sni), ("expiry", test_expiry),
         ("reload-bad-key", test_reload_bad_key)]


def run_one(name, fn, args):
    res = bt.Result(name)
    d = tempfile.mkdtemp(prefix="buzon-acme.")
    os.chmod(d, 0o755)
    procs = srv = None
    buf = io.StringIO()
    saved = sys.stderr
    sys.stderr = buf
    try:
        procs, srv = fn(args, res, d)
    except Exception as e:
        traceback.print_exc()
        res.fail("%s: %s" % (type(e).__name__, str(e).splitlines()[0] if str(e) else ""))
    finally:
        if srv is not None and srv.tmp is not None:
            if srv.proc is None:	# set up, never started
                srv.stopped = True
                shutil.rmtree(srv.tmp, ignore_errors=True)
            for p in srv.stop():
                res.fail("teardown: " + p)
        if procs is not None:
            procs.stop()
            if res.failures:
                log(procs.logs())
        sys.stderr = saved
        if os.environ.get("BUZONTEST_KEEP") == "1":
            saved.write("kept %s\n" % d)
        else:
            shutil.rmtree(d, ignore_errors=True)
    return res, buf.getvalue()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("names", nargs="*", help="tests (%s)" % ", ".join(n for n, _ in TESTS))
    ap.add_argument("--buzon", help="server binary (default $BUZON or build/buzon)")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()

    def terminated(signo, frame):	# a driver's timeout: still stop the servers
        raise SystemExit("terminated (signal %d)" % signo)
    signal.signal(signal.SIGTERM, terminated)
    if args.buzon:
        args.buzon = os.path.abspath(args.buzon)
    tests = [t for t in TESTS if not args.names or t[0] in args.names]
    missing = [c for c in ("certbot", "pebble", "pebble-challtestsrv", "openssl") if not shutil.which(c)]
    passed = failed = 0
    for name, fn in tests:
        t0 = time.monotonic()
        if missing and name == "acme-renew":
            res, details = bt.Result(name), ""
            res.failures.append("missing %s (scripts/install-deps.sh check installs certbot, pebble)"
                                % ", ".join(missing))
        else:
            res, details = run_one(name, fn, args)
        dt = time.monotonic() - t0
        if res.failures:
            failed += 1
            print("FAIL %s: %s (%.1fs)" % (name, "; ".join(f.replace("\n", " ") for f in res.failures)[:1500], dt))
            for ln in details.splitlines()[-150:]:
                if not ln.startswith("ok: "):
                    print("    " + ln)
        else:
            passed += 1
            print("PASS %s (%.1fs)" % (name, dt))
            if args.verbose:
                for ln in details.splitlines():
                    print("    " + ln)
        sys.stdout.flush()
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
