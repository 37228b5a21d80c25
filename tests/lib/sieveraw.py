"""A raw ManageSieve (RFC 5804) connection for the test suites (tests/managesieve,
tests/jmap/t_sieve.py): bytes as the server sends them, literals inlined."""
import base64
import re
import socket

import buzontest as bt


class Raw:
    """A ManageSieve connection spoken byte by byte."""

    def __init__(self, srv, timeout=5):
        self.sock = socket.create_connection((bt.HOST, srv.sieve_port), timeout=timeout)
        self.srv = srv
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

    def logical(self):
        """One response line with its literals inlined (b"{n}\\r\\n" + data)."""
        out = self.line()
        while True:
            m = re.search(rb"\{(\d+)\}$", out)
            if not m:
                return out
            out += b"\r\n" + self.exact(int(m.group(1))) + self.line()

    def response(self):
        """Lines up to and including the OK/NO/BYE line: (lines, final)."""
        lines = []
        while True:
            ln = self.logical()
            if re.match(rb"(OK|NO|BYE)\b", ln):
                return lines, ln
            lines.append(ln)

    def cmd(self, data):
        self.send(data)
        return self.response()

    def starttls(self):
        self.sock = self.srv.ssl_context().wrap_socket(self.sock, server_hostname="localhost")
        self.buf = b""

    def closed(self, timeout=5):
        """True if the server closes the connection (after what it still sends)."""
        self.sock.settimeout(timeout)
        try:
            while True:
                d = self.sock.recv(65536)
                if not d:
                    return True
                self.buf += d
        except (OSError, EOFError):
            return True
        except socket.timeout:
            return False

    def close(self):
        self.sock.close()


def plain(user, password):
    return base64.b64encode(b"\0" + user.encode() + b"\0" + password.encode())
