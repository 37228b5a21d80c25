#!/usr/bin/env python3
"""OAuth tests (issue 16): OAUTHBEARER and XOAUTH2 (RFC 7628) against a real buzon on
127.0.0.1, with JWTs signed here by keys generated for the run (python3-cryptography;
the tokens are built by hand so that broken ones can be made too). Checked: a valid
token (RS256, PS256, ES256, ES384, EdDSA; aud as string and array; with and without a=)
over IMAP (imaplib, SASL-IR and continuation), POP3 and with curl --oauth2-bearer over
IMAP and POP3; refusals with the RFC 7628 §3.2.2 error challenge for an expired token, a
not-yet-valid one, a wrong audience, a wrong issuer, a wrong signature, an unknown kid,
alg none, HS256 keyed with the public key, a= naming another user, a user the userdb does
not know; the mechanisms are not offered without oauth settings; the key set is re-read
at reload; `buzon check` reports a bad key set; failures count towards the ban.

  run.py [--buzon PATH] [NAME...]     (details of every check go to stderr)
"""
import base64
import http.client
import imaplib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, os.path.join(HERE, "..", "jmap"))
import buzontest as bt  # noqa: E402
import jmaplib  # noqa: E402

try:
    from cryptography.hazmat.primitives import hashes, hmac as chmac, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
    HAVE_CRYPTO = True
except ImportError:
    HAVE_CRYPTO = False

ISSUER = "https://idp.example.org/realms/mail"
AUDIENCE = "buzon-imap"
USER = "alice@example.org"
TESTS = []
KEYDIR = None


def b64u(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def int_b64u(n, length=None):
    length = length or (n.bit_length() + 7) // 8
    return b64u(n.to_bytes(length, "big"))


class Key:
    """A signing key of one kind and its public JWK."""

    def __init__(self, alg, kid):
        self.alg, self.kid = alg, kid
        if alg.startswith(("RS", "PS")):
            self.priv = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            pn = self.priv.public_key().public_numbers()
            self.jwk = {"kty": "RSA", "n": int_b64u(pn.n), "e": int_b64u(pn.e)}
        elif alg in ("ES256", "ES384"):
            curve, crv, size = ((ec.SECP256R1(), "P-256", 32) if alg == "ES256"
                                else (ec.SECP384R1(), "P-384", 48))
            self.priv = ec.generate_private_key(curve)
            pn = self.priv.public_key().public_numbers()
            self.size = size
            self.jwk = {"kty": "EC", "crv": crv, "x": int_b64u(pn.x, size),
                        "y": int_b64u(pn.y, size)}
        else:
            self.priv = ed25519.Ed25519PrivateKey.generate()
            raw = self.priv.public_key().public_bytes(serialization.Encoding.Raw,
                                                      serialization.PublicFormat.Raw)
            self.jwk = {"kty": "OKP", "crv": "Ed25519", "x": b64u(raw)}
        if kid is not None:
            self.jwk["kid"] = kid
        self.jwk["use"] = "sig"

    def sign(self, data):
        h = {"256": hashes.SHA256(), "384": hashes.SHA384(), "512": hashes.SHA512()}
        if self.alg.startswith("RS"):
            return self.priv.sign(data, padding.PKCS1v15(), h[self.alg[2:]])
        if self.alg.startswith("PS"):
            md = h[self.alg[2:]]
            return self.priv.sign(data, padding.PSS(mgf=padding.MGF1(md),
                                                    salt_length=md.digest_size), md)
        if self.alg.startswith("ES"):
            r, s = decode_dss_signature(self.priv.sign(data, ec.ECDSA(h[self.alg[2:]])))
            return r.to_bytes(self.size, "big") + s.to_bytes(self.size, "big")
        return self.priv.sign(data)


def claims(**over):
    now = int(time.time())
    c = {"iss": ISSUER, "aud": AUDIENCE, "sub": "1234", "email": USER, "iat": now,
         "nbf": now - 5, "exp": now + 300}
    for k, v in over.items():
        if v is None:
            c.pop(k, None)
        else:
            c[k] = v
    return c


def token(key, header=None, **over):
    """A compact JWS: key signs it (header overrides merged in)."""
    h = {"alg": key.alg, "typ": "JWT"}
    if key.kid is not None:
        h["kid"] = key.kid
    h.update(header or {})
    signing = b64u(json.dumps(h)) + "." + b64u(json.dumps(claims(**over)))
    return signing + "." + b64u(key.sign(signing.encode()))


def write_jwks(path, keys, extra=()):
    with open(path, "w") as f:
        json.dump({"keys": [k.jwk for k in keys] + list(extra)}, f)


def oauthbearer(tok, user=None):
    return ("n,%s,\x01auth=Bearer %s\x01\x01" % ("a=" + user if user else "", tok)).encode()


def xoauth2(tok, user=USER):
    return ("user=%s\x01auth=Bearer %s\x01\x01" % (user, tok)).encode()


def imaplib_auth(srv, mech, msg):
    """imaplib AUTHENTICATE; returns 'OK' after a SELECT, or 'NO'."""
    m = imaplib.IMAP4(bt.HOST, srv.imap_port, timeout=10)
    steps = []

    def cb(challenge):
        steps.append(challenge)
        return msg if len(steps) == 1 else b"\x01"
    try:
        typ, _ = m.authenticate(mech, cb)
        typ2, _ = m.select("INBOX")
        typ = typ if typ2 == "OK" else "SELECT-" + typ2
    except imaplib.IMAP4.error as e:
        sys.stderr.write("imaplib %s: %s (challenges %r)\n" % (mech, e, steps))
        typ = "NO"
    try:
        m.logout()
    except Exception:
        pass
    return typ


class Raw:
    def __init__(self, srv, port=None):
        self.sock = socket.create_connection((bt.HOST, port or srv.imap_port), timeout=10)
        self.f = self.sock.makefile("rb")
        self.greeting = self.line()

    def send(self, data):
        self.sock.sendall(data + b"\r\n")

    def line(self):
        ln = self.f.readline()
        if not ln:
            raise EOFError("connection closed")
        return ln.rstrip(b"\r\n")

    def close(self):
        self.sock.close()


def raw_failure(srv, msg, mech=b"OAUTHBEARER"):
    """SASL-IR with a bad token: the error challenge, then %x01, then NO."""
    r = Raw(srv)
    r.send(b"a AUTHENTICATE " + mech + b" " + base64.b64encode(msg))
    ch = r.line()
    r.send(b"AQ==")
    end = r.line()
    r.close()
    return ch, end


def test(**opts):
    def deco(fn):
        TESTS.append((fn.__name__, fn, opts))
        return fn
    return deco


def oauth_config(jwks, audience=AUDIENCE):
    lines = ["oauth_issuer = %s" % ISSUER, "oauth_jwks_file = %s" % jwks]
    if audience:
        lines.append("oauth_audience = %s" % audience)
    return lines


KEYS = {}


def keys():
    if not KEYS:
        for alg, kid in (("RS256", "rsa1"), ("PS256", "rsa2"), ("ES256", "ec1"),
                         ("ES384", "ec2"), ("EdDSA", "ed1")):
            KEYS[kid] = Key(alg, kid)
        KEYS["other"] = Key("RS256", "rsa1")	# same kid, not in the set
        path = os.path.join(KEYDIR, "jwks.json")
        write_jwks(path, [k for n, k in KEYS.items() if n != "other"],
                   extra=[{"kty": "oct", "k": b64u(b"secret"), "kid": "hmac"}])
        KEYS["path"] = path
    return KEYS


# ---- tests ------------------------------------------------------------------------------

@test(users={USER: "pw", "bob@example.org": "pw"}, pop3=True)
def valid_tokens(srv, res):
    k = keys()
    m = imaplib.IMAP4(bt.HOST, srv.imap_port, timeout=10)
    caps = m.capabilities
    m.logout()
    res.check("AUTH=OAUTHBEARER" in caps and "AUTH=XOAUTH2" in caps,
              "OAUTHBEARER and XOAUTH2 offered on loopback: %r" % (caps,))
    for kid in ("rsa1", "rsa2", "ec1", "ec2", "ed1"):
        res.eq(imaplib_auth(srv, "OAUTHBEARER", oauthbearer(token(k[kid]), USER)), "OK",
               "OAUTHBEARER with a=, %s" % k[kid].alg)
    res.eq(imaplib_auth(srv, "OAUTHBEARER", oauthbearer(token(k["rsa1"]))), "OK",
           "OAUTHBEARER without a= (the user comes from the token)")
    res.eq(imaplib_auth(srv, "XOAUTH2", xoauth2(token(k["ec1"]))), "OK", "XOAUTH2")
    res.eq(imaplib_auth(srv, "OAUTHBEARER", oauthbearer(
        token(k["rsa1"], aud=["other", AUDIENCE]), USER)), "OK", "aud as an array")
    res.eq(imaplib_auth(srv, "OAUTHBEARER", oauthbearer(
        token(k["rsa1"], email="bob@example.org"))), "OK", "another user's token")
    # SASL-IR, and the log names the method
    r = Raw(srv)
    r.send(b"a AUTHENTICATE OAUTHBEARER " + base64.b64encode(oauthbearer(token(k["ed1"]))))
    ln = r.line()
    r.close()
    res.check(ln.startswith(b"a OK"), "SASL-IR: %r" % ln)
    res.check("method=OAUTHBEARER" in srv.log_text() or "OAUTHBEARER" in srv.log_text(),
              "the login is logged with its method")
    # POP3 AUTH with a continuation (the token does not fit a 255-octet line)
    r = Raw(srv, srv.pop3_port)
    r.send(b"AUTH XOAUTH2")
    res.eq(r.line(), b"+ ", "POP3 continuation")
    r.send(base64.b64encode(xoauth2(token(k["rsa1"]))))
    res.check(r.line().startswith(b"+OK"), "POP3 XOAUTH2 login")
    r.close()


@test(users={USER: "pw"}, pop3=True)
def refused_tokens(srv, res):
    k = keys()
    now = int(time.time())
    pub = k["rsa1"].jwk["n"].encode()
    h = chmac.HMAC(pub, hashes.SHA256())
    hs_signing = b64u(json.dumps({"alg": "HS256", "kid": "rsa1"})) + "." + b64u(
        json.dumps(claims()))
    h.update(hs_signing.encode())
    cases = [
        ("expired", token(k["rsa1"], exp=now - 120, iat=now - 600, nbf=now - 600)),
        ("not yet valid", token(k["rsa1"], nbf=now + 600)),
        ("wrong audience", token(k["rsa1"], aud="someone-else")),
        ("wrong audience array", token(k["rsa1"], aud=["a", "b"])),
        ("no audience", token(k["rsa1"], aud=None)),
        ("wrong issuer", token(k["rsa1"], iss="https://evil.example.org/")),
        ("wrong signature", token(k["other"])),
        ("unknown kid", token(k["rsa1"], header={"kid": "nope"})),
        ("no exp", token(k["rsa1"], exp=None)),
        ("alg none", b64u(json.dumps({"alg": "none"})) + "." + b64u(json.dumps(claims())) + "."),
        ("alg none, signature kept", b64u(json.dumps({"alg": "none", "kid": "rsa1"})) + "." +
         b64u(json.dumps(claims())) + "." + token(k["rsa1"]).split(".")[2]),
        ("HS256 keyed with the public key", hs_signing + "." + b64u(h.finalize())),
        ("HS256 with the oct key", None),
        ("kid of an EC key with RS256", token(k["rsa1"], header={"kid": "ec1"})),
        ("unknown user", token(k["rsa1"], email="nobody@example.org")),
        ("no user claim", token(k["rsa1"], email=None)),
        ("garbage", "a.b.c"),
    ]
    h2 = chmac.HMAC(b"secret", hashes.SHA256())
    s2 = b64u(json.dumps({"alg": "HS256", "kid": "hmac"})) + "." + b64u(json.dumps(claims()))
    h2.update(s2.encode())
    cases[12] = ("HS256 with the oct key", s2 + "." + b64u(h2.finalize()))
    for what, tok in cases:
        res.eq(imaplib_auth(srv, "OAUTHBEARER", oauthbearer(tok)), "NO", what)
    log = srv.log_text()
    for reason in ("expired", "not yet valid", "wrong audience", "wrong issuer",
                   "bad signature", "no matching key", "algorithm not allowed",
                   "the token's user is unknown"):
        res.check('reason="%s"' % reason in log, "logged: %s" % reason)
    res.eq(imaplib_auth(srv, "OAUTHBEARER", oauthbearer(token(k["rsa1"]), "bob@example.org")),
           "NO", "a= names another user than the token")
    res.eq(imaplib_auth(srv, "XOAUTH2", xoauth2(token(k["rsa1"]), "bob@example.org")),
           "NO", "XOAUTH2 user= names another user than the token")
    # the RFC 7628 §3.2.2 exchange, byte by byte
    ch, end = raw_failure(srv, oauthbearer(token(k["rsa1"], aud="x")))
    res.check(ch.startswith(b"+ "), "error challenge: %r" % ch)
    if ch.startswith(b"+ "):
        status = json.loads(base64.b64decode(ch[2:]))
        res.eq(status.get("status"), "invalid_token", "error status JSON")
    res.check(end.startswith(b"a NO [AUTHENTICATIONFAILED]"), "then NO: %r" % end)
    ch, end = raw_failure(srv, xoauth2(token(k["rsa1"], aud="x")), b"XOAUTH2")
    res.check(ch.startswith(b"+ ") and end.startswith(b"a NO"), "XOAUTH2 failure: %r %r" % (ch, end))
    # malformed messages fail at once, without a challenge
    r = Raw(srv)
    r.send(b"a AUTHENTICATE OAUTHBEARER " + base64.b64encode(b"p=tls-unique,,\x01auth=Bearer x\x01\x01"))
    ln = r.line()
    res.check(ln.startswith(b"a NO"), "channel binding flag refused: %r" % ln)
    r.send(b"b AUTHENTICATE OAUTHBEARER " + base64.b64encode(b"n,,\x01auth=Basic x\x01\x01"))
    ln = r.line()
    res.check(ln.startswith(b"b NO"), "a non-Bearer auth value refused: %r" % ln)
    r.close()
    # POP3: the challenge, then -ERR
    r = Raw(srv, srv.pop3_port)
    r.send(b"AUTH OAUTHBEARER")
    r.line()
    r.send(base64.b64encode(oauthbearer(token(k["ec1"], exp=now - 999))))
    ch = r.line()
    r.send(b"AQ==")
    end = r.line()
    r.close()
    res.check(ch.startswith(b"+ ey") and end.startswith(b"-ERR [AUTH]"),
              "POP3 failure exchange: %r %r" % (ch, end))


@test(users={USER: "pw"}, pop3=True)
def curl_clients(srv, res):
    if shutil.which("curl") is None:
        return
    k = keys()
    for mech_caps in ("", ";AUTH=XOAUTH2"):
        url = "imap://%s:%d/INBOX%s" % (bt.HOST, srv.imap_port, "")
        args = ["curl", "-sS", "--max-time", "10", "--user", USER + ":", "--oauth2-bearer",
                token(k["rsa1"]), url, "-X", "EXAMINE INBOX"]
        if mech_caps:
            args[6:6] = ["--login-options", "AUTH=XOAUTH2"]
        r = subprocess.run(args, capture_output=True, text=True, timeout=20)
        sys.stderr.write("curl imap%s: rc=%d out=%r err=%r\n" % (mech_caps, r.returncode,
                                                                r.stdout[:200], r.stderr[:200]))
        res.eq(r.returncode, 0, "curl IMAP --oauth2-bearer%s" % mech_caps)
        res.check("EXISTS" in r.stdout, "curl IMAP saw the INBOX%s" % mech_caps)
    url = "pop3://%s:%d/" % (bt.HOST, srv.pop3_port)
    r = subprocess.run(["curl", "-sS", "--max-time", "10", "--user", USER + ":",
                        "--oauth2-bearer", token(k["ec1"]), url],
                       capture_output=True, text=True, timeout=20)
    sys.stderr.write("curl pop3: rc=%d out=%r err=%r\n" % (r.returncode, r.stdout[:200],
                                                          r.stderr[:200]))
    res.eq(r.returncode, 0, "curl POP3 --oauth2-bearer (a message list)")
    r = subprocess.run(["curl", "-sS", "--max-time", "10", "--user", USER + ":",
                        "--oauth2-bearer", token(k["ec1"], aud="x"), url],
                       capture_output=True, text=True, timeout=20)
    res.check(r.returncode != 0, "curl POP3 with a wrong audience fails")
    res.check("method=" in srv.log_text(), "logins logged")
    log = srv.log_text()
    res.check("OAUTHBEARER" in log or "XOAUTH2" in log, "curl used an OAuth mechanism")


MS_PORT = []


def ms_port():
    if not MS_PORT:
        MS_PORT.extend(bt.free_ports(1))
    return MS_PORT[0]


class MS(Raw):
    """ManageSieve: read the capability lines up to OK."""

    def __init__(self, srv):
        Raw.__init__(self, srv, ms_port())
        self.caps = [self.greeting]
        while not self.caps[-1].startswith(b"OK"):
            self.caps.append(self.line())


@test(users={USER: "pw"}, config_fn=lambda: ["managesieve_port = %d" % ms_port()])
def managesieve(srv, res):
    k = keys()
    # a home for sieve_dir = ~/sieve (the fixture's users have none)
    h = os.path.join(srv.tmp, "home", USER)
    os.makedirs(h, mode=0o700)
    if srv.root:
        os.chown(os.path.dirname(h), srv.uid, srv.gid)
        os.chown(h, srv.uid, srv.gid)
    with open(srv.passwd_file) as f:
        lines = [ln.split(":") for ln in f.read().splitlines()]
    for ln in lines:
        if ln[0] == USER:
            ln[5] = h
    with open(srv.passwd_file, "w") as f:
        f.write("\n".join(":".join(ln) for ln in lines) + "\n")
    r = MS(srv)
    sasl = [c for c in r.caps if c.startswith(b'"SASL"')]
    res.check(sasl and b"OAUTHBEARER" in sasl[0] and b"XOAUTH2" in sasl[0],
              "SASL capability: %r" % sasl)
    r.send(b'AUTHENTICATE "OAUTHBEARER" "%s"' % base64.b64encode(oauthbearer(token(k["ec2"]))))
    ln = r.line()
    res.check(ln.startswith(b"OK"), "ManageSieve OAUTHBEARER with an initial response: %r" % ln)
    r.close()
    r = MS(srv)
    r.send(b'AUTHENTICATE "XOAUTH2"')
    res.eq(r.line(), b'""', "empty challenge")
    r.send(b'"%s"' % base64.b64encode(xoauth2(token(k["ec2"], exp=int(time.time()) - 999))))
    ch = r.line()
    res.check(ch.startswith(b'"eyJ'), "error challenge: %r" % ch)
    r.send(b'"AQ=="')
    ln = r.line()
    res.check(ln.startswith(b"NO"), "then NO: %r" % ln)
    r.send(b'AUTHENTICATE "XOAUTH2" "%s"' % base64.b64encode(xoauth2(token(k["rsa1"]))))
    ln = r.line()
    res.check(ln.startswith(b"OK"), "then a good token: %r" % ln)
    r.close()


AUTH_SOCK = os.path.join(tempfile.gettempdir(), "buzon-oauth-auth-%d" % os.getpid())


JMAP_PORT = []


def jmap_port():
    if not JMAP_PORT:
        JMAP_PORT.extend(bt.free_ports(1))
    return JMAP_PORT[0]


def jmap_get(token=None, basic=None):
    """GET the JMAP session resource on a fresh connection: (status, headers, body)."""
    c = http.client.HTTPConnection(bt.HOST, jmap_port(), timeout=10)
    h = {}
    if token is not None:
        h["Authorization"] = "Bearer " + token
    if basic is not None:
        h["Authorization"] = "Basic " + base64.b64encode(basic.encode()).decode()
    c.request("GET", "/.well-known/jmap", headers=h)
    r = c.getresponse()
    body = r.read()
    c.close()
    return r.status, r.msg, body


@test(users={USER: "pw"}, config_fn=lambda: ["jmap_port = %d" % jmap_port(), "jmap_tls = no"])
def jmap_bearer(srv, res):
    """JMAP with "Authorization: Bearer" (RFC 6750): a valid token logs in (also with
    jmap-jam's own Bearer header), a refused one gets 401 with error="invalid_token",
    the challenge names both schemes, Basic still works."""
    k = keys()
    now = int(time.time())
    st, hdr, _ = jmap_get()
    chal = hdr.get_all("WWW-Authenticate") or []
    res.eq(st, 401, "no credentials: 401")
    res.check(any(v.startswith("Basic ") for v in chal) and
              any(v.startswith("Bearer ") for v in chal), "Basic and Bearer challenges: %r" % chal)
    st, hdr, body = jmap_get(token=token(k["rsa1"]))
    res.eq(st, 200, "a valid token: the session resource")
    if st == 200:
        res.eq(json.loads(body)["username"], USER, "the token's user")
    for why, tok in (("expired", token(k["rsa1"], exp=now - 120, iat=now - 600,
                                       nbf=now - 600)),
                     ("wrong audience", token(k["rsa1"], aud="other")),
                     ("not a JWT", "abc.def.ghi")):
        st, hdr, _ = jmap_get(token=tok)
        chal = hdr.get_all("WWW-Authenticate") or []
        res.eq(st, 401, "%s: 401" % why)
        res.check(any('error="invalid_token"' in v for v in chal),
                  "%s: invalid_token in the challenge: %r" % (why, chal))
    st, _, _ = jmap_get(basic="%s:pw" % USER)
    res.eq(st, 200, "Basic still works")
    node = shutil.which("node")
    if node is None:
        res.fail("no node (nodejs) for jmap-jam")
        return
    jmaplib.ensure_jam()	# tests/jmap/node_modules (npm ci), once
    r = subprocess.run([node, os.path.join(HERE, "jam_bearer.mjs"),
                        "http://%s:%d/.well-known/jmap" % (bt.HOST, jmap_port()),
                        token(k["ec1"])], capture_output=True, text=True, timeout=30)
    res.eq(r.returncode, 0, "jmap-jam with a Bearer token: %s" % r.stderr.strip()[-500:])
    if r.returncode == 0:
        out = json.loads(r.stdout)
        res.eq(out["username"], USER, "jmap-jam: the session's user")
        res.check("inbox" in out["roles"], "jmap-jam: Mailbox/get")
        res.eq(out["echo"], {"bearer": True}, "jmap-jam: Core/echo")


@test(users={USER: "pw"}, config=["auth_listen = unix:%s" % AUTH_SOCK])
def auth_socket(srv, res):
    """The Dovecot auth protocol (Postfix smtpd_sasl_type = dovecot)."""
    k = keys()
    for _ in range(50):
        if os.path.exists(AUTH_SOCK):
            break
        time.sleep(0.1)
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    s.connect(AUTH_SOCK)
    f = s.makefile("rb")
    hello = []
    while not hello or hello[-1] != b"DONE":
        hello.append(f.readline().rstrip(b"\n"))
    res.check(b"MECH\tOAUTHBEARER\tplaintext" in hello and b"MECH\tXOAUTH2\tplaintext" in hello,
              "MECH lines: %r" % hello)
    s.sendall(b"VERSION\t1\t2\nCPID\t4242\n")
    b64 = base64.b64encode
    s.sendall(b"AUTH\t1\tOAUTHBEARER\tservice=smtp\tsecured\trip=192.0.2.1\tresp=%s\n" %
              b64(oauthbearer(token(k["rsa1"]))))
    ln = f.readline().rstrip(b"\n")
    res.eq(ln, ("OK\t1\tuser=%s" % USER).encode(), "OAUTHBEARER with an initial response")
    s.sendall(b"AUTH\t2\tXOAUTH2\tservice=smtp\tsecured\trip=192.0.2.1\n")
    res.eq(f.readline().rstrip(b"\n"), b"CONT\t2\t", "empty challenge")
    s.sendall(b"CONT\t2\t%s\n" % b64(xoauth2(token(k["rsa1"], iss="x"))))
    ln = f.readline().rstrip(b"\n")
    res.check(ln.startswith(b"CONT\t2\teyJ"), "error challenge: %r" % ln)
    s.sendall(b"CONT\t2\tAQ==\n")
    ln = f.readline().rstrip(b"\n")
    res.check(ln.startswith(b"FAIL\t2\t"), "then FAIL: %r" % ln)
    s.close()


@test(users={USER: "pw"}, oauth=False)
def not_offered(srv, res):
    k = keys()
    m = imaplib.IMAP4(bt.HOST, srv.imap_port, timeout=10)
    caps = m.capabilities
    m.logout()
    res.check("AUTH=OAUTHBEARER" not in caps and "AUTH=XOAUTH2" not in caps,
              "not offered without oauth settings: %r" % (caps,))
    res.eq(imaplib_auth(srv, "OAUTHBEARER", oauthbearer(token(k["rsa1"]))), "NO",
           "refused when not offered")


@test(users={USER: "pw"})
def reload_keys(srv, res):
    k = keys()
    path = os.path.join(srv.tmp, "reload-jwks.json")
    res.eq(imaplib_auth(srv, "OAUTHBEARER", oauthbearer(token(k["rsa1"]))), "OK", "before")
    new = Key("ES256", "rotated")
    write_jwks(path, [new])
    os.replace(path, srv.oauth_jwks)
    srv.cli("reload", "-c", srv.config_path)
    ok = "NO"
    for _ in range(50):
        ok = imaplib_auth(srv, "OAUTHBEARER", oauthbearer(token(new)))
        if ok == "OK":
            break
        time.sleep(0.1)
    res.eq(ok, "OK", "a token of the new key works after reload")
    res.eq(imaplib_auth(srv, "OAUTHBEARER", oauthbearer(token(k["rsa1"]))), "NO",
           "the old key is gone")
    with open(srv.oauth_jwks, "w") as f:
        f.write("{not json")
    srv.cli("reload", "-c", srv.config_path)
    time.sleep(0.5)
    res.eq(imaplib_auth(srv, "OAUTHBEARER", oauthbearer(token(new))), "OK",
           "a broken key set at reload keeps the keys loaded")
    res.check("oauth key set not loaded" in srv.log_text(), "the broken set is logged")
    srv.problems_ok = True
    # buzon check
    r = srv.cli("check", "-c", srv.config_path, check=False)
    res.check(r.returncode != 0 and "oauth_jwks_file: ERROR" in r.stdout,
              "buzon check reports the bad key set: %r" % r.stdout[-300:])
    write_jwks(srv.oauth_jwks, [new])
    r = srv.cli("check", "-c", srv.config_path, check=False)
    res.check("1 keys" in r.stdout, "buzon check counts the keys: %r" % r.stdout[-300:])


@test(users={USER: "pw"}, config=["auth_ban_failures = 2", "auth_ban_seconds = 60"])
def ban(srv, res):
    k = keys()
    for _ in range(2):
        imaplib_auth(srv, "OAUTHBEARER", oauthbearer(token(k["rsa1"], aud="x")))
    res.eq(imaplib_auth(srv, "OAUTHBEARER", oauthbearer(token(k["rsa1"]))), "NO",
           "banned after 2 bad tokens: even a good one is refused")
    res.check("auth ban ip=127.0.0.1" in srv.log_text(), "the ban is logged")


# ---- driver ---------------------------------------------------------------------------

def run_one(name, fn, opts):
    opts = dict(opts)
    oauth = opts.pop("oauth", True)
    config_fn = opts.pop("config_fn", None)
    if config_fn:
        opts["config"] = config_fn() + opts.get("config", [])
    jwks = os.path.join(KEYDIR, "jwks-%s.json" % name)
    shutil.copy(keys()["path"], jwks)
    if oauth:
        opts["config"] = oauth_config(jwks) + opts.get("config", [])
    srv = bt.Server(**opts)
    srv.oauth_jwks = jwks
    return bt.run_case(name, fn, srv, ignore_problem=lambda p: getattr(
        srv, "problems_ok", False) and "oauth key set" in p)


def before(args):
    global KEYDIR
    if not HAVE_CRYPTO:
        return "oauth: python3-cryptography not installed"
    KEYDIR = tempfile.mkdtemp(prefix="buzon-oauth.")
    os.chmod(KEYDIR, 0o755)
    return lambda: shutil.rmtree(KEYDIR, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(bt.suite_main(__doc__, TESTS, run_one, before=before))
