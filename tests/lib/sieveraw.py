"""A raw ManageSieve (RFC 5804) connection for the test suites (tests/managesieve,
tests/jmap/t_sieve.py): bytes as the server sends them, literals inlined."""
import base64
import re

import buzontest as bt


class Raw(bt.LineConn):
    """A ManageSieve connection spoken byte by byte."""

    def __init__(self, srv, timeout=5):
        super().__init__(srv, srv.sieve_port, timeout=timeout)

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


def plain(user, password):
    return base64.b64encode(b"\0" + user.encode() + b"\0" + password.encode())
