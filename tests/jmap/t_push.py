"""Push (RFC 8620 §7.3 EventSource, RFC 8887 JMAP over WebSocket): raw clients written
here with the standard library only (the event-stream reader and the WebSocket handshake
and masking), changes made through IMAP, LMTP and a Maildir writer, and the bounds
(connections per user, frame sizes, a client that does not read). Latencies are printed,
never asserted."""
import base64
import hashlib
import json
import os
import re
import smtplib
import socket
import struct
import time

from jmaplib import *  # noqa: F401,F403
from jmaplib import (bt, basic, account, api, USING, test, conn, request, ensure_jam, HERE,
                     mail_pid, rss_kib)

PLAIN = ["jmap_tls = no"]
MSG = b"From: a@example.org\r\nTo: demo@example.org\r\nSubject: push\r\n\r\nhello\r\n"


# ---------------------------------------------------------------- EventSource

class EventSource:
    """A raw text/event-stream reader over a plain socket."""

    def __init__(self, srv, query="types=*&closeafter=no&ping=0", headers=None, rcvbuf=None):
        self.s = socket.socket()
        if rcvbuf:
            self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.s.settimeout(20)
        self.s.connect((bt.HOST, srv.jmap_port))
        extra = "".join("%s: %s\r\n" % kv for kv in (headers or {}).items())
        self.s.sendall(("GET /jmap/eventsource/?%s HTTP/1.1\r\nHost: x\r\n"
                        "Authorization: %s\r\nAccept: text/event-stream\r\n%s\r\n"
                        % (query, basic(), extra)).encode())
        self.buf = b""
        self.closed = False

    def head(self):
        while b"\r\n\r\n" not in self.buf:
            d = self.s.recv(65536)
            if not d:
                break
            self.buf += d
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        status = int(lines[0].split()[1])
        hdrs = {k.lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])}
        return status, hdrs

    def event(self, timeout=10):
        """The next event as (type, data, id); None when the server closed."""
        end = time.monotonic() + timeout
        while True:
            while b"\n\n" in self.buf:
                block, _, self.buf = self.buf.partition(b"\n\n")
                ev = {"event": "message", "data": [], "id": None}
                for line in block.decode().split("\n"):
                    if line.startswith(":") or not line:
                        continue
                    k, _, v = line.partition(":")
                    v = v[1:] if v.startswith(" ") else v
                    if k == "data":
                        ev["data"].append(v)
                    elif k in ("event", "id"):
                        ev[k] = v
                if ev["data"]:
                    return ev["event"], json.loads("\n".join(ev["data"])), ev["id"]
            left = end - time.monotonic()
            if left <= 0:
                raise AssertionError("no event within %ss" % timeout)
            self.s.settimeout(left)
            try:
                d = self.s.recv(65536)
            except ConnectionResetError:
                d = b""
            if not d:
                self.closed = True
                return None
            self.buf += d

    def state_event(self, timeout=10):
        while True:
            ev = self.event(timeout)
            if ev is None or ev[0] == "state":
                return ev

    def close(self):
        self.s.close()


def states(srv, acc):
    st, p = api(srv, {"using": USING, "methodCalls": [
        ["Mailbox/get", {"accountId": acc, "ids": []}, "m"],
        ["Email/get", {"accountId": acc, "ids": []}, "e"]]})
    return p["methodResponses"][0][1]["state"], p["methodResponses"][1][1]["state"]


def changed_of(ev, acc):
    return ev[1]["changed"][acc]


@test(config=PLAIN)
def push_session_resource(srv, res):
    c = conn(srv)
    r, data = request(c, "GET", "/.well-known/jmap", auth=basic())
    s = json.loads(data)
    ws = s["capabilities"].get("urn:ietf:params:jmap:websocket")
    res.eq(ws, {"url": "ws://%s:%d/jmap/ws" % (bt.HOST, srv.jmap_port), "supportsPush": True},
           "the websocket capability")
    res.check(s["eventSourceUrl"].endswith(
        "/jmap/eventsource/?types={types}&closeafter={closeafter}&ping={ping}"),
        "eventSourceUrl template")


@test(config=PLAIN)
def push_eventsource_imap_flag(srv, res):
    acc = account(srv)
    es = EventSource(srv)
    status, hdrs = es.head()
    res.eq((status, hdrs.get("content-type")), (200, "text/event-stream"), "stream head")
    m = srv.imap()
    m.select("INBOX")
    lat = []
    for flag in ("\\Flagged", "\\Seen"):
        m.store("1", "+FLAGS", flag)
        t0 = time.monotonic()
        ev = es.state_event()
        lat.append(time.monotonic() - t0)
        mstate, estate = states(srv, acc)
        ch = changed_of(ev, acc)
        res.eq(ch.get("Email"), estate, "the StateChange has the new Email state (%s)" % flag)
        res.check(ev[2] is not None and ev[2].startswith("p"), "the event has a push state id")
        if flag == "\\Seen":
            res.eq(ch.get("Mailbox"), mstate, "\\Seen changes the Mailbox state (unread)")
        else:
            res.check("Mailbox" not in ch, "\\Flagged does not change the Mailbox state")
    # EXPUNGE and APPEND
    m.store("2", "+FLAGS", "\\Deleted")
    ev = es.state_event()
    m.expunge()
    ev = es.state_event()
    res.eq(changed_of(ev, acc).get("Email"), states(srv, acc)[1], "EXPUNGE")
    t0 = time.monotonic()
    m.append("INBOX", None, None, MSG)
    ev = es.state_event()
    lat.append(time.monotonic() - t0)
    ch = changed_of(ev, acc)
    res.check("Email" in ch and "Mailbox" in ch, "APPEND changes Email and Mailbox")
    res.check("EmailDelivery" not in ch, "APPEND is not a delivery")
    m.logout()
    es.close()
    print("  latency IMAP change -> EventSource event: %s" %
          ", ".join("%.0f ms" % (x * 1000) for x in lat))


@test(config=PLAIN, lmtp=True)
def push_eventsource_delivery(srv, res):
    acc = account(srv)
    es = EventSource(srv, "types=Email,EmailDelivery&closeafter=no&ping=0")
    res.eq(es.head()[0], 200, "stream")
    t0 = time.monotonic()
    with smtplib.LMTP(bt.HOST, srv.lmtp_port) as l:
        l.sendmail("a@example.org", ["demo"], MSG)
    ev = es.state_event()
    lmtp_lat = time.monotonic() - t0
    ch = changed_of(ev, acc)
    res.eq(sorted(ch), ["Email", "EmailDelivery"], "LMTP: Email and EmailDelivery (types)")
    res.eq(ch["Email"], states(srv, acc)[1], "the new Email state")
    es.close()
    # every type; a Maildir writer (another MDA) into a folder nobody has open
    m = srv.imap()
    m.create("Lists")
    m.logout()
    es = EventSource(srv)
    es.head()
    t0 = time.monotonic()
    srv.deliver("demo", MSG, folder="Lists")
    ev = es.state_event()
    mda_lat = time.monotonic() - t0
    ch = changed_of(ev, acc)
    res.eq(sorted(ch), ["Email", "EmailDelivery", "Mailbox", "Thread"],
           "a Maildir writer's message: Email, Mailbox, EmailDelivery and Thread")
    mstate, estate = states(srv, acc)
    res.eq((ch["Mailbox"], ch["Email"]), (mstate, estate), "the states Mailbox/get and Email/get say")
    res.eq(ch.get("Thread"), estate, "Thread's state is the Email state (Thread/get says it)")
    # a folder created elsewhere: the Mailbox state
    srv.make_maildir("demo", "Fresh")
    ev = es.state_event()
    res.check("Mailbox" in changed_of(ev, acc), "a new folder changes the Mailbox state")
    srv.deliver("demo", MSG, folder="Fresh")
    ev = es.state_event()
    res.check("EmailDelivery" in changed_of(ev, acc), "and it is watched")
    es.close()
    print("  latency LMTP delivery -> event: %.0f ms; Maildir writer -> event: %.0f ms"
          % (lmtp_lat * 1000, mda_lat * 1000))


@test(config=PLAIN)
def push_eventsource_closeafter_ping(srv, res):
    acc = account(srv)
    es = EventSource(srv, "types=*&closeafter=state&ping=0")
    res.eq(es.head()[0], 200, "stream")
    m = srv.imap()
    m.select("INBOX")
    m.store("1", "+FLAGS", "\\Flagged")
    ev = es.event()
    res.eq(ev[0], "state", "one state event")
    res.check(es.event(timeout=10) is None, "closeafter=state: then the server closes")
    es.close()
    # ping: clamped to the server's minimum, 10 s, which the event says
    es = EventSource(srv, "types=*&closeafter=no&ping=1")
    es.head()
    t0 = time.monotonic()
    ev = es.event(timeout=30)
    res.eq((ev[0], ev[1]), ("ping", {"interval": 10}), "a ping event with the interval")
    print("  first ping after %.1f s" % (time.monotonic() - t0))
    m.store("1", "-FLAGS", "\\Flagged")
    ev = es.state_event()
    res.check(ev is not None and "Email" in changed_of(ev, acc), "pings keep the stream open")
    es.close()
    # Last-Event-ID with an old push state: the states at once
    es = EventSource(srv, headers={"Last-Event-ID": "p0000000000000000"})
    es.head()
    ev = es.event(timeout=5)
    res.eq(sorted(changed_of(ev, acc)), ["Email", "EmailDelivery", "Mailbox", "Thread"],
           "Last-Event-ID of an older state: every state now")
    es.close()
    m.logout()
    for q in ("types=*&closeafter=maybe&ping=0", "types=*&closeafter=no&ping=x"):
        es = EventSource(srv, q)
        res.eq(es.head()[0], 400, "bad parameters: " + q)
        es.close()


@test(config=PLAIN + ["mail_max_userip_connections = 100"])
def push_connection_limit(srv, res):
    streams = []
    for i in range(16):
        es = EventSource(srv)
        res.eq(es.head()[0], 200, "push connection %d" % (i + 1))
        streams.append(es)
    es = EventSource(srv)
    st, hdrs = es.head()
    res.eq(st, 429, "the 17th push connection of the user")
    es.close()
    ws = WebSocket(srv)
    res.eq(ws.status, 429, "a WebSocket counts too")
    ws.close()
    streams.pop().close()
    deadline = time.monotonic() + 10
    while True:
        es = EventSource(srv)
        st = es.head()[0]
        if st == 200 or time.monotonic() > deadline:
            break
        es.close()
        time.sleep(0.1)
    res.eq(st, 200, "one closed: another may open")
    streams.append(es)
    for s in streams:
        s.close()
    still_serving(srv, res)


# ASan keeps freed memory back (256 MiB by default) and RSS would count it as growth
@test(config=PLAIN, asan_options=["quarantine_size_mb=8"])
def push_eventsource_reader_that_never_reads(srv, res):
    """Many folders make each StateChange long (about 100 octets a folder); a client
    that never reads, with a small receive window, fills the 256 KiB the server keeps
    queued; then the server closes instead of queuing more."""
    for i in range(800):
        srv.make_maildir("demo", "F%03d" % i)
    m = srv.imap()
    m.select("INBOX")
    es = EventSource(srv, rcvbuf=4096)
    es.s.settimeout(60)
    res.eq(es.head()[0], 200, "stream")
    pid = mail_pid(srv)
    rss0 = rss_kib(pid)
    closed = False
    deadline = time.monotonic() + 90
    n = 0
    while time.monotonic() < deadline:
        m.store("1", "+FLAGS" if n % 2 == 0 else "-FLAGS", "\\Flagged")
        n += 1
        time.sleep(0.17)
        if "output not read, closing" in srv.log_text():
            closed = True
            break
    rss1 = rss_kib(pid)
    m.logout()
    res.check(closed, "the server closed the stream of a client that does not read "
              "(%d changes)" % n)
    res.check(rss1 - rss0 < 16 * 1024, "the mail process grew %d KiB" % (rss1 - rss0))
    got = 0
    es.s.settimeout(10)
    try:
        while True:
            d = es.s.recv(65536)
            if not d:
                break
            got += len(d)
    except (ConnectionResetError, socket.timeout):
        pass
    print("  closed after %d changes; the client could still read %d KiB; RSS %d -> %d KiB"
          % (n, got // 1024, rss0, rss1))
    es.close()
    still_serving(srv, res)


# ---------------------------------------------------------------- WebSocket

class WebSocket:
    """A raw RFC 6455 client: the handshake, masking and frames written here."""

    def __init__(self, srv, protocol="jmap", version="13", path="/jmap/ws"):
        self.s = socket.create_connection((bt.HOST, srv.jmap_port), timeout=10)
        key = base64.b64encode(os.urandom(16)).decode()
        self.s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\nAuthorization: %s\r\n"
                        "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                        "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: %s\r\n"
                        "Sec-WebSocket-Protocol: %s\r\n\r\n"
                        % (path, basic(), key, version, protocol)).encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            d = self.s.recv(65536)
            if not d:
                break
            self.buf += d
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        self.status = int(lines[0].split()[1])
        self.headers = {k.lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])}
        want = base64.b64encode(hashlib.sha1(
            (key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
        self.accept_ok = self.headers.get("sec-websocket-accept") == want

    def send_frame(self, op, payload, fin=True, mask=True, length=None):
        n = len(payload) if length is None else length
        h = bytes([(0x80 if fin else 0) | op])
        mbit = 0x80 if mask else 0
        if n < 126:
            h += bytes([mbit | n])
        elif n < 65536:
            h += bytes([mbit | 126]) + struct.pack(">H", n)
        else:
            h += bytes([mbit | 127]) + struct.pack(">Q", n)
        if mask:
            key = os.urandom(4)
            h += key
            payload = bytes(b ^ key[i & 3] for i, b in enumerate(payload))
        self.s.sendall(h + payload)

    def send(self, obj):
        self.send_frame(1, json.dumps(obj).encode())

    def _need(self, n):
        while len(self.buf) < n:
            d = self.s.recv(65536)
            if not d:
                raise EOFError("closed")
            self.buf += d

    def frame(self):
        """(opcode, payload) of the next server frame (which must not be masked)."""
        self._need(2)
        b0, b1 = self.buf[0], self.buf[1]
        if b1 & 0x80:
            raise AssertionError("a masked server frame")
        n, off = b1 & 0x7f, 2
        if n == 126:
            self._need(4)
            n, off = struct.unpack(">H", self.buf[2:4])[0], 4
        elif n == 127:
            self._need(10)
            n, off = struct.unpack(">Q", self.buf[2:10])[0], 10
        self._need(off + n)
        payload, self.buf = self.buf[off:off + n], self.buf[off + n:]
        return b0 & 0x0f, payload

    def message(self, timeout=10):
        self.s.settimeout(timeout)
        while True:
            op, p = self.frame()
            if op == 1:
                return json.loads(p)
            if op == 8:
                return {"close": struct.unpack(">H", p[:2])[0] if len(p) >= 2 else None}

    def close_code(self, timeout=10):
        """The code of the server's close frame (skipping other frames)."""
        self.s.settimeout(timeout)
        try:
            while True:
                op, p = self.frame()
                if op == 8:
                    return struct.unpack(">H", p[:2])[0] if len(p) >= 2 else None
        except (EOFError, ConnectionResetError):
            return "eof"

    def close(self):
        self.s.close()


def echo(acc_using, i, arg):
    return {"@type": "Request", "id": "r%d" % i, "using": acc_using,
            "methodCalls": [["Core/echo", arg, "c%d" % i]]}


@test(config=PLAIN)
def push_websocket_requests(srv, res):
    acc = account(srv)
    ws = WebSocket(srv)
    res.eq((ws.status, ws.headers.get("sec-websocket-protocol"), ws.accept_ok),
           (101, "jmap", True), "the handshake (Sec-WebSocket-Accept, protocol jmap)")
    ws.send(echo(USING, 1, {"hello": True}))
    r = ws.message()
    res.eq((r.get("@type"), r.get("requestId"), r.get("methodResponses")),
           ("Response", "r1", [["Core/echo", {"hello": True}, "c1"]]), "request/response")
    ws.send({"@type": "Request", "using": USING, "methodCalls": [
        ["Mailbox/get", {"accountId": acc, "ids": []}, "m"]]})
    r = ws.message()
    res.check("requestId" not in r and r["methodResponses"][0][0] == "Mailbox/get",
              "a request without id")
    # a fragmented request, with a ping between the fragments
    text = json.dumps(echo(USING, 2, {"x": "y" * 300})).encode()
    ws.send_frame(1, text[:10], fin=False)
    ws.send_frame(9, b"ping!")
    ws.send_frame(0, text[10:200], fin=False)
    ws.send_frame(0, text[200:], fin=True)
    op, p = ws.frame()
    res.eq((op, p), (10, b"ping!"), "ping -> pong with its payload")
    r = ws.message()
    res.eq(r.get("requestId"), "r2", "a fragmented request")
    # request errors: problem details as RequestError (RFC 8887 §4.3.4)
    ws.send_frame(1, b"{not json")
    r = ws.message()
    res.eq((r.get("@type"), r.get("type")), ("RequestError", "urn:ietf:params:jmap:error:notJSON"),
           "not JSON")
    ws.send({"@type": "Request", "id": "bad", "using": ["urn:x"], "methodCalls": []})
    r = ws.message()
    res.eq((r.get("@type"), r.get("requestId"), r.get("type")),
           ("RequestError", "bad", "urn:ietf:params:jmap:error:unknownCapability"),
           "unknownCapability with the requestId")
    ws.send({"@type": "Nonsense"})
    res.eq(ws.message().get("type"), "urn:ietf:params:jmap:error:notRequest", "unknown @type")
    # the client's close: echoed
    ws.send_frame(8, struct.pack(">H", 1000) + b"bye")
    res.eq(ws.close_code(), 1000, "close is answered with close")
    ws.close()
    # handshake refusals
    ws = WebSocket(srv, protocol="chat")
    res.eq(ws.status, 400, "no jmap subprotocol: 400")
    ws.close()
    ws = WebSocket(srv, version="8")
    res.eq((ws.status, ws.headers.get("sec-websocket-version")), (426, "13"), "version 8: 426")
    ws.close()
    still_serving(srv, res)


@test(config=PLAIN, lmtp=True)
def push_websocket_push(srv, res):
    acc = account(srv)
    ws = WebSocket(srv)
    ws.send({"@type": "WebSocketPushEnable", "dataTypes": None})
    m = srv.imap()
    m.select("INBOX")
    t0 = time.monotonic()
    m.store("1", "+FLAGS", "\\Flagged")
    r = ws.message()
    lat = time.monotonic() - t0
    res.eq(r.get("@type"), "StateChange", "a StateChange on the socket")
    res.eq(r["changed"][acc].get("Email"), states(srv, acc)[1], "with the new Email state")
    push_state = r.get("pushState")
    res.check(isinstance(push_state, str), "and a pushState")
    t0 = time.monotonic()
    with smtplib.LMTP(bt.HOST, srv.lmtp_port) as l:
        l.sendmail("a@example.org", ["demo"], MSG)
    r = ws.message()
    lmtp_lat = time.monotonic() - t0
    res.eq(sorted(r["changed"][acc]), ["Email", "EmailDelivery", "Mailbox", "Thread"],
           "LMTP delivery")
    # disable: no more pushes (the next message is the response to a later request)
    ws.send({"@type": "WebSocketPushDisable"})
    ws.send(echo(USING, 1, {}))
    res.eq(ws.message().get("requestId"), "r1", "disable answered in order")
    m.store("1", "-FLAGS", "\\Flagged")
    time.sleep(1.0)
    ws.send(echo(USING, 2, {}))
    res.eq(ws.message().get("requestId"), "r2", "no StateChange after WebSocketPushDisable")
    # enable with dataTypes and the old pushState: the states at once
    ws.send({"@type": "WebSocketPushEnable", "dataTypes": ["Mailbox"], "pushState": push_state})
    r = ws.message()
    res.eq(sorted(r["changed"][acc]), ["Mailbox"], "pushState older: the current states of "
           "the dataTypes at once")
    m.logout()
    ws.close()
    print("  latency IMAP STORE -> WebSocket StateChange: %.0f ms; LMTP -> %.0f ms"
          % (lat * 1000, lmtp_lat * 1000))


@test(config=PLAIN)
def push_websocket_errors(srv, res):
    cases = [
        ("unmasked frame", lambda ws: ws.send_frame(1, b'{"@type":"Request"}', mask=False), 1002),
        ("bad UTF-8 text", lambda ws: ws.send_frame(1, b'"\xff\xfe"'), 1007),
        ("binary frame", lambda ws: ws.send_frame(2, b"abc"), 1003),
        ("a frame over maxSizeRequest",
         lambda ws: ws.send_frame(1, b"", length=10000001), 1009),
        ("fragments over maxSizeRequest",
         lambda ws: (ws.send_frame(1, b"[", fin=False),
                     ws.send_frame(0, b"", fin=False, length=10000000)), 1009),
        ("a ping over 125 octets", lambda ws: ws.send_frame(9, b"p" * 126), 1002),
        ("continuation without a start", lambda ws: ws.send_frame(0, b"x"), 1002),
    ]
    for name, act, code in cases:
        ws = WebSocket(srv)
        try:
            act(ws)
        except (BrokenPipeError, ConnectionResetError):
            pass
        res.eq(ws.close_code(), code, name)
        ws.close()
    still_serving(srv, res)


@test(config=PLAIN)
def push_websocket_reader_that_never_reads(srv, res):
    """Requests are read only while less than 256 KiB of responses wait: a client that
    sends 1 MB echoes and reads nothing cannot make the mail process hold them all."""
    ws = WebSocket(srv)
    ws.send(echo(USING, 0, {}))
    ws.message()
    pid = mail_pid(srv)
    rss0 = rss_kib(pid)
    big = json.dumps(echo(USING, 1, {"x": "z" * 1000000})).encode()
    ws.s.settimeout(5)
    sent = 0
    try:
        for i in range(100):
            ws.send_frame(1, big)
            sent += 1
    except (socket.timeout, BrokenPipeError, ConnectionResetError):
        pass
    time.sleep(1)
    rss1 = rss_kib(pid)
    res.check(sent < 100, "the server stopped reading (%d of 100 MB sent)" % sent)
    res.check(rss1 - rss0 < 64 * 1024, "the mail process grew %d KiB" % (rss1 - rss0))
    print("  %d MB of requests went in before the server stopped reading; RSS %d -> %d KiB"
          % (sent, rss0, rss1))
    ws.close()
    still_serving(srv, res)


@test(config=PLAIN)
def push_imap_idle_and_eventsource(srv, res):
    """One change, both ways: a second IMAP session's STORE reaches an IDLE session and an
    EventSource at once (the store's listeners in the one mail process; a JMAP
    Email/set goes through the same store calls)."""
    acc = account(srv)
    es = EventSource(srv)
    es.head()
    a = srv.imap()
    a.select("INBOX")
    a.send(b"i1 IDLE\r\n")
    res.check(a.readline().startswith(b"+"), "IDLE")
    b = srv.imap()
    b.select("INBOX")
    t0 = time.monotonic()
    b.store("1", "+FLAGS", "\\Answered")
    a.sock.settimeout(10)
    line = a.readline()
    idle_lat = time.monotonic() - t0
    res.check(b"FETCH" in line and b"\\Answered" in line, "the IDLE session hears: %r" % line)
    ev = es.state_event()
    es_lat = time.monotonic() - t0
    res.eq(changed_of(ev, acc).get("Email"), states(srv, acc)[1], "the EventSource hears")
    a.send(b"DONE\r\n")
    res.check(a.readline().startswith(b"i1 OK"), "IDLE done")
    a.logout()
    b.logout()
    es.close()
    print("  latency STORE -> IDLE untagged FETCH: %.0f ms; -> EventSource: %.0f ms"
          % (idle_lat * 1000, es_lat * 1000))


@test(config=PLAIN)
def push_rename_while_watched(srv, res):
    """The hub holds every folder open, and the store cannot rename an open folder: it
    lets go when asked (mstore_release_watch), so RENAME works during push."""
    acc = account(srv)
    m = srv.imap()
    m.create("Old")
    m.create("Old.Kid")
    es = EventSource(srv)
    es.head()
    typ, data = m.rename("Old", "Moved")
    res.eq(typ, "OK", "RENAME with a push connection open: %r" % data)
    ev = es.state_event()
    res.check("Mailbox" in changed_of(ev, acc), "a Mailbox StateChange")
    srv.deliver("demo", MSG, folder="Moved.Kid")
    ev = es.state_event()
    res.check("EmailDelivery" in changed_of(ev, acc), "the renamed child is watched")
    typ, data = m.delete("Moved.Kid")
    res.eq(typ, "OK", "DELETE of a watched folder: %r" % data)
    ev = es.state_event()
    res.check("Mailbox" in changed_of(ev, acc), "a Mailbox StateChange for the DELETE")
    m.logout()
    es.close()


@test(config=["jmap_tls = no", "jmap_base_url = https://mail.example.org/proxied"])
def push_websocket_url_follows_base_url(srv, res):
    c = conn(srv)
    r, data = request(c, "GET", "/.well-known/jmap", auth=basic())
    ws = json.loads(data)["capabilities"]["urn:ietf:params:jmap:websocket"]
    res.eq(ws["url"], "wss://mail.example.org/proxied/jmap/ws", "wss from jmap_base_url")


@test(config=PLAIN)
def push_jmap_jam_eventsource(srv, res):
    """jmap-jam's own connectEventSource (the URL from the session's eventSourceUrl
    template) sees the StateChange of a flag set over IMAP."""
    import subprocess
    acc = account(srv)
    ensure_jam()
    p = subprocess.Popen(["node", os.path.join(HERE, "jam_push.mjs"),
                          "http://%s:%d/.well-known/jmap" % (bt.HOST, srv.jmap_port),
                          "demo", "demo"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, cwd=HERE)
    try:
        line = p.stdout.readline().strip()
        res.eq(line, "ready", "jmap-jam's event source is open")
        m = srv.imap()
        m.select("INBOX")
        m.store("1", "+FLAGS", "\\Flagged")
        m.logout()
        out, err = p.communicate(timeout=30)
        got = json.loads(out.strip().splitlines()[-1]) if out.strip() else {}
        ch = (got.get("state") or {}).get("changed", {}).get(acc, {})
        res.eq(got.get("state", {}).get("@type"), "StateChange", "a StateChange: %s" %
               err.strip()[-300:])
        res.eq(ch.get("Email"), states(srv, acc)[1], "with the new Email state")
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
