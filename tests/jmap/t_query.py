"""Email/query filters, sorts and collapseThreads, Email/queryChanges, Thread/get and
/changes, SearchSnippet/get, thread ids across folders (RFC 8621 §3, §4.4, §4.5, §5;
RFC 8620 §5.5, §5.6), and the same searches over IMAP SEARCH and JMAP."""
import time

from jmaplib import *  # noqa: F401,F403

T0 = 1767225600  # 2026-01-01T00:00:00Z


def msg(frm, subject, body, mid=None, irt=None, refs=None, to="demo@example.org",
        cc=None, extra=""):
    h = "From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: Thu, 01 Jan 2026 10:00:00 +0000\r\n" % (
        frm, to, subject)
    if cc:
        h += "Cc: %s\r\n" % cc
    if mid:
        h += "Message-ID: %s\r\n" % mid
    if irt:
        h += "In-Reply-To: %s\r\n" % irt
    if refs:
        h += "References: %s\r\n" % refs
    return (h + extra + "\r\n" + body + "\r\n").encode()


def setup_mail(srv):
    """A reply chain across INBOX and Sent, and unrelated messages."""
    srv.make_maildir("demo", "Sent")
    srv.store("demo", msg("Alice <alice@example.org>", "Lunch plans", "Shall we meet?",
                          mid="<a1@example.org>"), flags="S", mtime=T0 + 100)
    srv.store("demo", msg("Demo <demo@example.org>", "Re: Lunch plans", "Yes, at noon.",
                          mid="<d1@example.org>", irt="<a1@example.org>",
                          refs="<a1@example.org>", to="alice@example.org"),
              flags="S", folder="Sent", mtime=T0 + 200)
    srv.store("demo", msg("Alice <alice@example.org>", "Re: Re: Lunch plans",
                          "Great, see you & bring <cake>.", mid="<a2@example.org>",
                          irt="<d1@example.org>",
                          refs="<a1@example.org> <d1@example.org>"), mtime=T0 + 300)
    srv.store("demo", msg("Bob <bob@example.org>", "Quarterly report", "Numbers attached."
                          + " x" * 2000, mid="<b1@example.org>", cc="carol@example.org",
                          extra="X-Priority: 1\r\n"), flags="F", mtime=T0 + 400)
    srv.store("demo", msg("Carol <carol@example.org>", "Zebra facts", "Stripes.",
                          mid="<c1@example.org>"), flags="S", mtime=T0 + 500)


def call(srv, method, args):
    args = dict(args)
    args.setdefault("accountId", account(srv))
    st, p = api(srv, {"using": USING, "methodCalls": [[method, args, "0"]]})
    r = p["methodResponses"][0]
    return r[1] if r[0] == method else {"error": r[1]["type"]}


def subjects(srv, ids):
    g = call(srv, "Email/get", {"ids": ids, "properties": ["subject"]})
    by = {e["id"]: e["subject"] for e in g["list"]}
    return [by[i] for i in ids]


def query_subjects(srv, **args):
    q = call(srv, "Email/query", args)
    if "error" in q:
        return q["error"]
    return subjects(srv, q["ids"])


def mailbox_ids(srv):
    g = call(srv, "Mailbox/get", {})
    return {m["name"]: m for m in g["list"]}


def wait_total(srv, n):
    deadline = time.monotonic() + 10
    while True:
        q = call(srv, "Email/query", {"calculateTotal": True})
        if q.get("total") == n or time.monotonic() > deadline:
            return q
        time.sleep(0.1)


@test(config=["jmap_tls = no"], fill=False)
def query_filters_and_sorts(srv, res):
    setup_mail(srv)
    wait_total(srv, 5)
    mb = mailbox_ids(srv)
    inbox, sent = mb["Inbox"]["id"] if "Inbox" in mb else mb["INBOX"]["id"], mb["Sent"]["id"]
    res.eq(query_subjects(srv), ["Zebra facts", "Quarterly report", "Re: Re: Lunch plans",
                                 "Re: Lunch plans", "Lunch plans"], "receivedAt descending")
    res.eq(query_subjects(srv, filter={"inMailbox": sent}), ["Re: Lunch plans"], "inMailbox")
    res.eq(len(query_subjects(srv, filter={"inMailboxOtherThan": [sent]})), 4,
           "inMailboxOtherThan")
    res.eq(query_subjects(srv, filter={"from": "alice"}),
           ["Re: Re: Lunch plans", "Lunch plans"], "from")
    res.eq(query_subjects(srv, filter={"to": "alice@example.org"}), ["Re: Lunch plans"], "to")
    res.eq(query_subjects(srv, filter={"cc": "carol"}), ["Quarterly report"], "cc")
    res.eq(query_subjects(srv, filter={"subject": "lunch"}),
           ["Re: Re: Lunch plans", "Re: Lunch plans", "Lunch plans"], "subject")
    res.eq(query_subjects(srv, filter={"body": "noon"}), ["Re: Lunch plans"], "body")
    res.eq(query_subjects(srv, filter={"text": "stripes"}), ["Zebra facts"], "text: body")
    res.eq(query_subjects(srv, filter={"text": "bob"}), ["Quarterly report"], "text: from")
    res.eq(query_subjects(srv, filter={"header": ["X-Priority"]}), ["Quarterly report"],
           "header exists")
    res.eq(query_subjects(srv, filter={"header": ["X-Priority", "2"]}), [], "header value")
    res.eq(query_subjects(srv, filter={"hasKeyword": "$flagged"}), ["Quarterly report"],
           "hasKeyword")
    res.eq(query_subjects(srv, filter={"notKeyword": "$seen"}),
           ["Quarterly report", "Re: Re: Lunch plans"], "notKeyword")
    res.eq(query_subjects(srv, filter={"after": "2026-01-01T00:04:00Z",
                                       "before": "2026-01-01T00:08:00Z"}),
           ["Quarterly report", "Re: Re: Lunch plans"], "after and before")
    res.eq(query_subjects(srv, filter={"minSize": 1000}), ["Quarterly report"], "minSize")
    res.eq(len(query_subjects(srv, filter={"maxSize": 1000})), 4, "maxSize")
    res.eq(query_subjects(srv, filter={"operator": "OR", "conditions": [
        {"from": "bob"}, {"from": "carol"}]}), ["Zebra facts", "Quarterly report"], "OR")
    res.eq(query_subjects(srv, filter={"operator": "NOT", "conditions": [
        {"subject": "lunch"}, {"from": "bob"}]}), ["Zebra facts"], "NOT")
    res.eq(query_subjects(srv, filter={"operator": "AND", "conditions": [
        {"subject": "lunch"}, {"operator": "NOT", "conditions": [{"hasKeyword": "$seen"}]}]}),
        ["Re: Re: Lunch plans"], "nested AND/NOT")
    # thread keyword conditions: the lunch thread has one unseen message
    res.eq(query_subjects(srv, filter={"someInThreadHaveKeyword": "$flagged"}),
           ["Quarterly report"], "someInThreadHaveKeyword")
    res.eq(query_subjects(srv, filter={"allInThreadHaveKeyword": "$seen"}),
           ["Zebra facts"], "allInThreadHaveKeyword")
    res.eq(len(query_subjects(srv, filter={"noneInThreadHaveKeyword": "$seen"})), 1,
           "noneInThreadHaveKeyword")
    # sorts
    subj = query_subjects(srv, sort=[{"property": "subject"}, {"property": "receivedAt"}])
    res.eq(subj, ["Lunch plans", "Re: Lunch plans", "Re: Re: Lunch plans",
                  "Quarterly report", "Zebra facts"], "subject (base subject), then receivedAt")
    res.eq(query_subjects(srv, sort=[{"property": "from", "isAscending": False,
                                      "collation": "i;ascii-casemap"},
                                     {"property": "receivedAt"}]),
           ["Re: Lunch plans", "Zebra facts", "Quarterly report", "Lunch plans",
            "Re: Re: Lunch plans"], "from descending")
    res.eq(query_subjects(srv, sort=[{"property": "size", "isAscending": False}])[0],
           "Quarterly report", "size")
    res.eq(query_subjects(srv, sort=[{"property": "hasKeyword", "keyword": "$flagged",
                                      "isAscending": False}])[0],
           "Quarterly report", "hasKeyword sort")
    res.eq(query_subjects(srv, sort=[{"property": "sentAt"}, {"property": "receivedAt"}])[0],
           "Lunch plans", "sentAt")
    # errors
    res.eq(query_subjects(srv, filter={"nope": 1}), "unsupportedFilter", "unknown filter")
    res.eq(query_subjects(srv, filter={"before": "yesterday"}), "invalidArguments",
           "bad date")
    res.eq(query_subjects(srv, filter={"operator": "XOR", "conditions": []}),
           "invalidArguments", "bad operator")
    deep = {"subject": "x"}
    for _ in range(20):
        deep = {"operator": "AND", "conditions": [deep]}
    res.eq(query_subjects(srv, filter=deep), "unsupportedFilter", "too deep")
    res.eq(query_subjects(srv, sort=[{"property": "subject", "collation": "i;nope"}]),
           "unsupportedSort", "unknown collation")
    # position, anchor
    q = call(srv, "Email/query", {"position": -2, "calculateTotal": True})
    res.eq((q["position"], len(q["ids"]), q["total"]), (3, 2, 5), "negative position")
    all_ids = call(srv, "Email/query", {})["ids"]
    q = call(srv, "Email/query", {"anchor": all_ids[2], "anchorOffset": -1, "limit": 2})
    res.eq((q["position"], q["ids"]), (1, all_ids[1:3]), "anchor and anchorOffset")
    q = call(srv, "Email/query", {"anchor": "Mffffffffffffffff"})
    res.eq(q, {"error": "anchorNotFound"}, "anchorNotFound")


@test(config=["jmap_tls = no"], fill=False)
def threads_across_folders(srv, res):
    setup_mail(srv)
    wait_total(srv, 5)
    q = call(srv, "Email/query", {"sort": [{"property": "receivedAt", "isAscending": True}]})
    g = call(srv, "Email/get", {"ids": q["ids"], "properties": ["threadId", "subject",
                                                                  "mailboxIds"]})
    tid = {e["subject"]: e["threadId"] for e in g["list"]}
    res.eq(len({tid["Lunch plans"], tid["Re: Lunch plans"], tid["Re: Re: Lunch plans"]}), 1,
           "a reply chain across INBOX and Sent is one thread")
    res.eq(len(set(tid.values())), 3, "three threads")
    t = call(srv, "Thread/get", {"ids": [tid["Lunch plans"], "Tffffffffffffffff"]})
    res.eq(t["list"], [{"id": tid["Lunch plans"], "emailIds": q["ids"][:3]}],
           "Thread/get: emailIds by receivedAt")
    res.eq(t["notFound"], ["Tffffffffffffffff"], "Thread/get notFound")
    q2 = call(srv, "Email/query", {"collapseThreads": True, "calculateTotal": True})
    res.eq((q2["total"], subjects(srv, q2["ids"])),
           (3, ["Zebra facts", "Quarterly report", "Re: Re: Lunch plans"]), "collapseThreads")
    mb = mailbox_ids(srv)
    inbox = mb.get("Inbox") or mb["INBOX"]
    res.eq((inbox["totalEmails"], inbox["totalThreads"], inbox["unreadEmails"],
            inbox["unreadThreads"]), (4, 3, 2, 2), "Mailbox/get thread counts")
    # a reply delivered later, into INBOX, whose parent is in Sent: it joins the thread;
    # a copy over IMAP keeps it
    st = call(srv, "Thread/get", {"ids": []})["state"]
    srv.deliver("demo", msg("Alice <alice@example.org>", "Re: Lunch plans", "ok",
                            mid="<a3@example.org>", irt="<d1@example.org>"))
    q3 = wait_total(srv, 6)
    g = call(srv, "Email/get", {"ids": q3["ids"][:1], "properties": ["threadId"]})
    res.eq(g["list"][0]["threadId"], tid["Lunch plans"], "a new reply joins the thread")
    ch = call(srv, "Thread/changes", {"sinceState": st})
    res.eq((ch.get("created"), ch.get("updated")), ([], [tid["Lunch plans"]]),
           "Thread/changes")
    m = srv.imap()
    m.select("INBOX")
    m.create("Archive2")
    m.uid("COPY", "1:*", "Archive2")
    typ, data = m.fetch("1:*", "(THREADID EMAILID)")
    m.logout()
    g = call(srv, "Email/get", {"ids": [q3["ids"][0]], "properties": ["threadId",
                                                                       "mailboxIds"]})
    res.eq((g["list"][0]["threadId"], len(g["list"][0]["mailboxIds"])),
           (tid["Lunch plans"], 2), "a copy keeps its thread")
    t = call(srv, "Thread/get", {"ids": [tid["Lunch plans"]]})
    res.eq(len(t["list"][0]["emailIds"]), 4, "the thread has four Emails")
    mb = mailbox_ids(srv)
    inbox = mb.get("Inbox") or mb["INBOX"]
    res.eq((mb["Archive2"]["totalThreads"], inbox["totalEmails"], inbox["totalThreads"],
            inbox["unreadThreads"]), (3, 5, 3, 2), "thread counts after the copy")
    # the counts are kept for an unchanged state only: a new thread counts at once
    srv.deliver("demo", msg("Eve <eve@example.org>", "New topic", "hi", mid="<e1@x>"))
    wait_total(srv, 7)
    inbox = mailbox_ids(srv)
    inbox = inbox.get("Inbox") or inbox["INBOX"]
    res.eq((inbox["totalThreads"], inbox["unreadThreads"]), (4, 3), "a new thread")


@test(config=["jmap_tls = no"], fill=False)
def query_changes(srv, res):
    setup_mail(srv)
    wait_total(srv, 5)
    args = {"filter": {"notKeyword": "$seen"}, "calculateTotal": True}
    q = call(srv, "Email/query", args)
    res.eq((q["canCalculateChanges"], q["total"]), (True, 2), "canCalculateChanges")
    srv.deliver("demo", msg("Dave <dave@example.org>", "New thing", "hello",
                            mid="<n1@example.org>"))
    wait_total(srv, 6)
    ch = call(srv, "Email/queryChanges", dict(args, sinceQueryState=q["queryState"]))
    q2 = call(srv, "Email/query", args)
    res.eq((ch["oldQueryState"], ch["newQueryState"], ch["total"]),
           (q["queryState"], q2["queryState"], 3), "states and total")
    new = q2["ids"][0]
    res.check(new in ch["removed"], "the changed Email is in removed")
    res.eq(ch["added"], [{"id": new, "index": 0}], "and added at its index")
    # a flag change moves an Email out of the results
    m = srv.imap()
    m.select("INBOX")
    m.uid("STORE", "1:*", "+FLAGS", "(\\Seen)")
    m.logout()
    ch2 = call(srv, "Email/queryChanges", dict(args, sinceQueryState=q2["queryState"]))
    res.eq((ch2["added"], ch2["total"], set(q2["ids"]) <= set(ch2["removed"])),
           ([], 0, True), "flags: removed")
    res.eq(call(srv, "Email/queryChanges", dict(args, sinceQueryState="nonsense")),
           {"error": "cannotCalculateChanges"}, "a bad state")
    res.eq(call(srv, "Email/queryChanges", dict(args, sinceQueryState=q["queryState"],
                                                maxChanges=1)),
           {"error": "tooManyChanges"}, "maxChanges")
    # an expunge cannot be told as an id
    m = srv.imap()
    m.select("INBOX")
    m.store("1", "+FLAGS", "(\\Deleted)")
    m.expunge()
    m.logout()
    res.eq(call(srv, "Email/queryChanges", dict(args, sinceQueryState=q2["queryState"])),
           {"error": "cannotCalculateChanges"}, "after an expunge")


@test(config=["jmap_tls = no"], fill=False)
def search_snippets(srv, res):
    setup_mail(srv)
    wait_total(srv, 5)
    f = {"text": "cake"}
    q = call(srv, "Email/query", {"filter": f})
    res.eq(len(q["ids"]), 1, "text search")
    s = call(srv, "SearchSnippet/get", {"filter": {"operator": "AND", "conditions": [
        f, {"subject": "lunch"}]}, "emailIds": q["ids"] + ["Mffffffffffffffff"]})
    res.eq(s["list"], [{"emailId": q["ids"][0],
                        "subject": "Re: Re: <mark>Lunch</mark> plans",
                        "preview": "Great, see you &amp; bring &lt;<mark>cake</mark>&gt;."}],
           "marks, HTML-escaped")
    res.eq(s["notFound"], ["Mffffffffffffffff"], "notFound")


@test(config=["jmap_tls = no"], fill=False)
def imap_search_agrees(srv, res):
    """The same searches over IMAP SEARCH and JMAP Email/query give the same messages."""
    setup_mail(srv)
    wait_total(srv, 5)
    inbox = mailbox_ids(srv)
    inbox = (inbox.get("Inbox") or inbox["INBOX"])["id"]
    m = srv.imap()
    m.select("INBOX")
    typ, data = m.fetch("1:*", "(UID EMAILID)")
    by_uid = {}
    for d in data:
        if isinstance(d, bytes):
            uid = int(d.split(b"UID ")[1].split()[0].rstrip(b")"))
            by_uid[uid] = d.split(b"EMAILID (")[1].split(b")")[0].decode()
    cases = [
        ("FROM alice", {"from": "alice"}),
        ("SUBJECT lunch", {"subject": "lunch"}),
        ("BODY noon", {"body": "noon"}),
        ("TEXT stripes", {"text": "stripes"}),
        ("FLAGGED", {"hasKeyword": "$flagged"}),
        ("UNSEEN", {"notKeyword": "$seen"}),
        ("LARGER 999", {"minSize": 1000}),
        ("OR FROM bob FROM carol", {"operator": "OR", "conditions": [{"from": "bob"},
                                                                       {"from": "carol"}]}),
        ("NOT SUBJECT lunch", {"operator": "NOT", "conditions": [{"subject": "lunch"}]}),
        ("HEADER X-Priority 1", {"header": ["X-Priority", "1"]}),
        ("CC carol", {"cc": "carol"}),
    ]
    for imap_q, jf in cases:
        typ, data = m.uid("SEARCH", imap_q)
        want = sorted(by_uid[int(u)] for u in data[0].split())
        jf = {"operator": "AND", "conditions": [{"inMailbox": inbox}, jf]}
        got = sorted(call(srv, "Email/query", {"filter": jf})["ids"])
        res.eq(got, want, "IMAP %s = JMAP" % imap_q)
    m.logout()


@test(config=["jmap_tls = no"], fill=False)
def query_hostile_arguments(srv, res):
    """Untrusted filters, sorts and snippet requests: an error each, never a crash."""
    setup_mail(srv)
    wait_total(srv, 5)
    bad = [
        ({"filter": []}, "invalidArguments"),
        ({"filter": {"inMailbox": 1}}, "invalidArguments"),
        ({"filter": {"inMailboxOtherThan": "x"}}, "invalidArguments"),
        ({"filter": {"inMailboxOtherThan": [1]}}, "invalidArguments"),
        ({"filter": {"minSize": -1}}, "invalidArguments"),
        ({"filter": {"maxSize": "9"}}, "invalidArguments"),
        ({"filter": {"after": "2026-01-01T00:00:00+01:00"}}, "invalidArguments"),
        ({"filter": {"hasKeyword": ""}}, "invalidArguments"),
        ({"filter": {"hasKeyword": "a b"}}, "invalidArguments"),
        ({"filter": {"allInThreadHaveKeyword": "x" * 300}}, "invalidArguments"),
        ({"filter": {"text": 5}}, "invalidArguments"),
        ({"filter": {"header": []}}, "invalidArguments"),
        ({"filter": {"header": ["a:b"]}}, "invalidArguments"),
        ({"filter": {"header": ["a", "b", "c"]}}, "invalidArguments"),
        ({"filter": {"hasAttachment": "yes"}}, "invalidArguments"),
        ({"filter": {"operator": "AND"}}, "invalidArguments"),
        ({"filter": {"operator": "AND", "conditions": {}}}, "invalidArguments"),
        ({"filter": {"operator": "AND", "conditions": [5]}}, "invalidArguments"),
        ({"filter": {"operator": "OR", "conditions": [{"from": "a"}] * 300}},
         "unsupportedFilter"),
        ({"sort": {}}, "invalidArguments"),
        ({"sort": [5]}, "invalidArguments"),
        ({"sort": [{"property": "receivedAt", "isAscending": "yes"}]}, "invalidArguments"),
        ({"sort": [{"property": "hasKeyword"}]}, "invalidArguments"),
        ({"sort": [{"property": "size"}] * 9}, "unsupportedSort"),
        ({"collapseThreads": "yes"}, "invalidArguments"),
        ({"anchor": 5}, "invalidArguments"),
        ({"anchorOffset": "1"}, "invalidArguments"),
        ({"position": 1.5}, "invalidArguments"),
    ]
    for args, want in bad:
        res.eq(call(srv, "Email/query", args), {"error": want}, "Email/query %s" %
               json.dumps(args)[:60])
    res.eq(call(srv, "Email/queryChanges", {}), {"error": "invalidArguments"},
           "queryChanges without a state")
    res.eq(call(srv, "Email/queryChanges", {"sinceQueryState": "e1,zz.1"}),
           {"error": "cannotCalculateChanges"}, "queryChanges: not a state")
    res.eq(call(srv, "SearchSnippet/get", {"emailIds": "x"}), {"error": "invalidArguments"},
           "snippets: emailIds not an array")
    res.eq(call(srv, "SearchSnippet/get", {"emailIds": ["M" + "0" * 16] * 501}),
           {"error": "requestTooLarge"}, "snippets: too many")
    s = call(srv, "SearchSnippet/get", {"emailIds": call(srv, "Email/query", {})["ids"],
                                        "filter": {"text": "\"&<>" * 100}})
    res.eq([x["subject"] for x in s["list"]], [None] * 5, "snippets: nothing matched")
    res.eq(call(srv, "Thread/get", {"ids": ["x", 5]}), {"error": "invalidArguments"},
           "Thread/get: ids not Ids")
    still_serving(srv, res)


@test(config=["jmap_tls = no"], fill=False)
def query_changes_thread_keywords(srv, res):
    """A thread keyword condition: a flag on one Email of a thread brings its whole
    thread into the results, and queryChanges says so for every one of them."""
    setup_mail(srv)
    wait_total(srv, 5)
    args = {"filter": {"someInThreadHaveKeyword": "$flagged"}}
    q = call(srv, "Email/query", args)
    res.eq(subjects(srv, q["ids"]), ["Quarterly report"], "before")
    m = srv.imap()
    m.select("Sent")
    m.store("1", "+FLAGS", "(\\Flagged)")
    m.logout()
    q2 = call(srv, "Email/query", args)
    res.eq(len(q2["ids"]), 4, "the whole thread matches now")
    ch = call(srv, "Email/queryChanges", dict(args, sinceQueryState=q["queryState"]))
    res.eq(sorted(a["id"] for a in ch["added"]),
           sorted(i for i in q2["ids"] if i not in q["ids"]), "queryChanges adds all three")
    # applying the changes to the old results gives the new ones (RFC 8620 §5.6)
    ids = [i for i in q["ids"] if i not in ch["removed"]]
    for a in sorted(ch["added"], key=lambda a: a["index"]):
        ids.insert(a["index"], a["id"])
    res.eq(ids, q2["ids"], "old results + changes = new results")


@test(config=["jmap_tls = no"], fill=False)
def query_one_mailbox(srv, res):
    """A query confined to one mailbox (only that folder is read) and its changes; a
    change in another folder changes the state but nothing in the results."""
    setup_mail(srv)
    wait_total(srv, 5)
    mb = mailbox_ids(srv)
    inbox, sent = (mb.get("Inbox") or mb["INBOX"])["id"], mb["Sent"]["id"]
    args = {"filter": {"inMailbox": inbox}, "calculateTotal": True}
    q = call(srv, "Email/query", args)
    res.eq(q["total"], 4, "INBOX")
    srv.deliver("demo", msg("Dave <dave@example.org>", "Sent thing", "x", mid="<s1@x>"),
                folder="Sent")
    wait_total(srv, 6)
    ch = call(srv, "Email/queryChanges", dict(args, sinceQueryState=q["queryState"]))
    res.eq((ch["removed"], ch["added"], ch["total"]), ([], [], 4),
           "a delivery elsewhere: no change here")
    srv.deliver("demo", msg("Dave <dave@example.org>", "Inbox thing", "x", mid="<i1@x>"))
    wait_total(srv, 7)
    q2 = call(srv, "Email/query", args)
    ch = call(srv, "Email/queryChanges", dict(args, sinceQueryState=q["queryState"]))
    res.eq((ch["added"], ch["total"], ch["newQueryState"]),
           ([{"id": q2["ids"][0], "index": 0}], 5, q2["queryState"]), "a delivery here")
    res.eq(query_subjects(srv, filter={"inMailbox": sent}), ["Sent thing", "Re: Lunch plans"],
           "Sent")
