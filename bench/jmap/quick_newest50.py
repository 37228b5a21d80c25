"""Quick measure (not a test): 'newest 50 of a 20,000-message folder', Email/query +
Email/get, cold (first request after start) and warm. Usage:
BUZON_TEST_PORTS=... python3 bench/jmap/quick_newest50.py --buzon build-dev/buzon [N]"""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "jmap"))
from jmaplib import *  # noqa: F401,F403,E402


def main():
    args = sys.argv[1:]
    if args[:1] == ["--buzon"]:
        os.environ["BUZON"] = os.path.abspath(args[1])
        args = args[2:]
    n = int(args[0]) if args else 20000
    port = bt.free_ports(1)[0]
    srv = bt.Server(fill=False, config=["jmap_port = %d" % port, "jmap_tls = no"])
    srv.jmap_port = port
    srv.setup()
    base = time.time() - n * 60
    for i in range(n):
        parent = "<m%d@example.org>" % (i - 1) if i % 5 else None
        data = ("From: User %d <u%d@example.org>\nTo: demo@example.org\n"
                "Subject: %smessage %d\nMessage-ID: <m%d@example.org>\n%s"
                "Date: Tue, 03 Mar 2026 09:15:40 +0100\n\nbody %d\n" % (
                    i % 97, i % 97, "Re: " if parent else "", i // 5, i,
                    ("In-Reply-To: %s\n" % parent) if parent else "", i)).encode()
        srv.store("demo", data, flags="S" if i % 3 else "", mtime=base + i * 60)
    srv.start()
    try:
        acc = account(srv)
        body = {"using": USING, "methodCalls": [
            ["Email/query", {"accountId": acc, "sort": [{"property": "receivedAt",
                                                         "isAscending": False}],
                             "limit": 50, "calculateTotal": True}, "q"],
            ["Email/get", {"accountId": acc, "#ids": {"resultOf": "q", "name": "Email/query",
                                                      "path": "/ids"},
                           "properties": ["threadId", "mailboxIds", "keywords", "size",
                                          "receivedAt", "from", "subject", "preview"]},
             "g"]]}
        t0 = time.monotonic()
        st, p = api(srv, {"using": USING, "methodCalls": [["Mailbox/get", {"accountId": acc},
                                                           "m"]]})
        print("Mailbox/get first (every thread assigned): %.3f s" % (time.monotonic() - t0))
        t0 = time.monotonic()
        st, p = api(srv, {"using": USING, "methodCalls": [["Mailbox/get", {"accountId": acc},
                                                           "m"]]})
        print("Mailbox/get again: %.3f s" % (time.monotonic() - t0))
        for label in ("first query+get", "warm", "warm"):
            t0 = time.monotonic()
            st, p = api(srv, body)
            dt = time.monotonic() - t0
            q = p["methodResponses"][0][1]
            g = p["methodResponses"][1][1]
            print("%s: %.3f s total=%s got=%d first=%s" % (
                label, dt, q.get("total"), len(g.get("list", [])),
                g["list"][0]["subject"] if g.get("list") else None))
        ids = p["methodResponses"][0][1]["ids"]
        for label, calls in (("query only", body["methodCalls"][:1]),
                             ("get only", [["Email/get", {"accountId": acc, "ids": ids,
                                            "properties": body["methodCalls"][1][1]["properties"]},
                                            "g"]]),
                             ("collapseThreads query", [["Email/query", {
                                 "accountId": acc, "collapseThreads": True, "limit": 50,
                                 "calculateTotal": True}, "q"]]),
                             ("collapseThreads query", [["Email/query", {
                                 "accountId": acc, "collapseThreads": True, "limit": 50,
                                 "calculateTotal": True}, "q"]]),
                             ("from filter", [["Email/query", {
                                 "accountId": acc, "filter": {"from": "User 5"}, "limit": 50,
                                 "calculateTotal": True}, "q"]]),
                             ("from filter", [["Email/query", {
                                 "accountId": acc, "filter": {"from": "User 5"}, "limit": 50,
                                 "calculateTotal": True}, "q"]])):
            t0 = time.monotonic()
            st, p = api(srv, {"using": USING, "methodCalls": calls})
            print("%s: %.3f s %s" % (label, time.monotonic() - t0,
                                     p["methodResponses"][0][1].get("total", "")))
    finally:
        srv.stop()


main()
