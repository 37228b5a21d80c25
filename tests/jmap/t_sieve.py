"""JMAP for Sieve Scripts (RFC 9661): tests/jmap/run.py runs these with the others. The
scripts are the ones ManageSieve keeps (src/mailproc/sieve_store.c), so what JMAP does is
checked over a raw ManageSieve connection and on disk; Sieve's paths are absolute per
test (the fixture's users have no home)."""
import atexit
import json
import os
import re
import shutil
import tempfile
import time

from jmaplib import *  # noqa: F401,F403
from jmaplib import bt, test, api, account, conn, request, basic, still_serving, lmtp
from sieveraw import Raw, plain

CAP = "urn:ietf:params:jmap:sieve"
USING = ["urn:ietf:params:jmap:core", CAP]
VAC_USING = ["urn:ietf:params:jmap:core", "urn:ietf:params:jmap:vacationresponse"]

ROOT = tempfile.mkdtemp(prefix="buzon-jmapsieve.")
os.chmod(ROOT, 0o755)
atexit.register(shutil.rmtree, ROOT, True)

FILTER = (b'require "fileinto";\nif header :contains "subject" "[acme]" '
          b'{\n  fileinto "Lists";\n}\n')
OTHER = b'require "fileinto";\nif header :contains "subject" "[other]" {\n  fileinto "Other";\n}\n'


def setup_dir(name, extra=()):
    """DIR/home/sieve for a test; the config lines that use it."""
    d = os.path.join(ROOT, name)
    os.makedirs(os.path.join(d, "home", "sieve"))
    for p in (d, os.path.join(d, "home"), os.path.join(d, "home", "sieve")):
        os.chmod(p, 0o777)
    return d, ["jmap_tls = no", "sieve_script = %s/home/.dovecot.sieve" % d,
               "sieve_dir = %s/home/sieve" % d] + list(extra)


def call(srv, *calls, using=USING):
    st, p = api(srv, {"using": using, "methodCalls": list(calls)})
    if st != 200:
        raise AssertionError("HTTP %d: %r" % (st, p))
    return p["methodResponses"]


def upload(srv, body, acc, ctype="application/sieve"):
    c = conn(srv)
    r, data = request(c, "POST", "/jmap/upload/%s/" % acc, body, basic(),
                      headers={"Content-Type": ctype})
    if r.status != 201 and r.status != 200:
        raise AssertionError("upload: HTTP %d %r" % (r.status, data))
    return json.loads(data)["blobId"]


def create(srv, acc, name, body, activate=False, **extra):
    args = {"accountId": acc, "create": {"c1": {"name": name,
                                                "blobId": upload(srv, body, acc)}}}
    if activate:
        args["onSuccessActivateScript"] = "#c1"
    args.update(extra)
    return call(srv, ["SieveScript/set", args, "s"])[0][1]


def scripts(srv, acc):
    """{name: object} of SieveScript/get."""
    r = call(srv, ["SieveScript/get", {"accountId": acc, "ids": None}, "g"])
    return {s["name"]: s for s in r[0][1]["list"]}


class MS(Raw):
    """A raw ManageSieve session (tests/lib/sieveraw.py), logged in as demo."""

    def __init__(self, srv):
        deadline = time.monotonic() + 10
        while True:
            try:
                Raw.__init__(self, srv)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self.response()
        lines, ok = self.cmd(b'AUTHENTICATE "PLAIN" "' + plain("demo", "demo") + b'"\r\n')
        if not ok.startswith(b"OK"):
            raise AssertionError("ManageSieve login: %r" % ok)

    def cmd(self, text):
        return Raw.cmd(self, text.encode() + b"\r\n" if isinstance(text, str) else text)

    def list(self):
        """{name: active} of LISTSCRIPTS."""
        lines, ok = self.cmd("LISTSCRIPTS")
        out = {}
        for ln in lines:
            m = re.match(rb'"([^"]*)"( ACTIVE)?$', ln)
            if m:
                out[m.group(1).decode()] = bool(m.group(2))
        return out

    def close(self):
        try:
            self.cmd("LOGOUT")
        except (OSError, EOFError):
            pass
        Raw.close(self)


def wrapper_includes(d):
    """The names buzon-jmap.sieve includes, in order."""
    with open(os.path.join(d, "home", "sieve", "buzon-jmap.sieve")) as f:
        return re.findall(r'include :personal "([^"]*)";', f.read())


def active_link(d):
    p = os.path.join(d, "home", ".dovecot.sieve")
    return os.readlink(p) if os.path.islink(p) else None


D_BASIC, C_BASIC = setup_dir("basic")


@test(config=C_BASIC, managesieve=True)
def sieve_create_activate(srv, res):
    """The session capability; upload + SieveScript/set create with
    onSuccessActivateScript; ManageSieve sees it active; get, blob download, query."""
    c = conn(srv)
    r, data = request(c, "GET", "/.well-known/jmap", auth=basic())
    s = json.loads(data)
    acc = s["primaryAccounts"]["urn:ietf:params:jmap:mail"]
    res.eq(s["primaryAccounts"].get(CAP), acc, "primaryAccounts has sieve")
    res.check(CAP in s["capabilities"], "session capability")
    ac = s["accounts"][acc]["accountCapabilities"].get(CAP) or {}
    res.eq(sorted(ac), sorted(["implementation", "maxSizeScriptName", "maxSizeScript",
                               "maxNumberScripts", "maxNumberRedirects", "sieveExtensions",
                               "notificationMethods", "externalLists"]),
           "account capability keys: %r" % ac)
    res.eq((ac.get("implementation"), ac.get("maxSizeScriptName"),
            ac.get("notificationMethods"), ac.get("externalLists")),
           ("buzon", 128, None, None), "capability values")
    res.check(isinstance(ac.get("maxSizeScript"), int) and ac["maxSizeScript"] > 0,
              "maxSizeScript")
    res.check("fileinto" in ac.get("sieveExtensions", []) and
              "vacation" in ac.get("sieveExtensions", []) and
              "include" in ac.get("sieveExtensions", []), "sieveExtensions")
    ms = MS(srv)
    _, caps_ok = ms.cmd("CAPABILITY")
    r = create(srv, acc, "filter", FILTER, activate=True)
    cr = r.get("created", {}).get("c1")
    res.check(cr is not None and re.match(r"^S[0-9a-f]{16}$", cr.get("id", "")) and
              cr.get("isActive") is True and cr.get("blobId", "").startswith("G"),
              "created and active: %r" % r)
    res.check(r["oldState"] != r["newState"], "state changes")
    res.eq(ms.list(), {"filter": True}, "ManageSieve LISTSCRIPTS")
    lines, ok = ms.cmd('GETSCRIPT "filter"')
    res.check(ok.startswith(b"OK") and lines and lines[0].endswith(FILTER.replace(b"\n", b"\n")),
              "GETSCRIPT: %r" % (lines,))
    res.eq(active_link(D_BASIC), "sieve/filter.sieve", "the link on disk")
    sid = cr["id"] if cr else None
    g = call(srv, ["SieveScript/get", {"accountId": acc, "ids": [sid, "Snope"]}, "g"])[0][1]
    res.eq(g["list"], [{"id": sid, "name": "filter", "blobId": cr["blobId"] if cr else None,
                        "isActive": True}], "get by id")
    res.eq(g["notFound"], ["Snope"], "notFound")
    res.eq(g["state"], r["newState"], "get state is set's newState")
    # the blob, read back through the download endpoint
    r2, data = request(conn(srv), "GET", "/jmap/download/%s/%s/f.sieve" % (acc, cr["blobId"]),
                       auth=basic())
    res.eq((r2.status, data, r2.getheader("Content-Type")), (200, FILTER, "application/sieve"),
           "download")
    # a second script, uploaded over ManageSieve: JMAP lists it, not active
    lines, ok = ms.cmd('PUTSCRIPT "other" {%d+}\r\n%s' % (len(OTHER), OTHER.decode()))
    res.check(ok.startswith(b"OK"), "PUTSCRIPT: %r" % ok)
    sc = scripts(srv, acc)
    res.eq(sorted(sc), ["filter", "other"], "both listed")
    res.eq(sc["other"]["isActive"], False, "other inactive")
    q = call(srv, ["SieveScript/query", {"accountId": acc, "filter": {"isActive": False}}, "q"],
             ["SieveScript/query", {"accountId": acc, "sort": [
                 {"property": "isActive", "isAscending": False}, {"property": "name"}]}, "q2"],
             ["SieveScript/query", {"accountId": acc, "filter": {"name": "ilt"}}, "q3"],
             ["SieveScript/query", {"accountId": acc, "filter": {"size": 3}}, "q4"])
    res.eq(q[0][1]["ids"], [sc["other"]["id"]], "query isActive false")
    res.eq(q[1][1]["ids"], [sc["filter"]["id"], sc["other"]["id"]], "query sort isActive desc")
    res.eq(q[2][1]["ids"], [sc["filter"]["id"]], "query name contains")
    res.eq(q[3][0], "error", "unsupported filter")
    # activate the other one over JMAP: ManageSieve agrees, the first is reported inactive
    r = call(srv, ["SieveScript/set", {"accountId": acc,
                                       "onSuccessActivateScript": sc["other"]["id"]}, "s"])[0][1]
    res.eq(r.get("updated"), {sc["filter"]["id"]: {"isActive": False},
                              sc["other"]["id"]: {"isActive": True}}, "activate: %r" % r)
    res.eq(ms.list(), {"filter": False, "other": True}, "ManageSieve after activate")
    r = call(srv, ["SieveScript/set", {"accountId": acc,
                                       "onSuccessDeactivateScript": True}, "s"])[0][1]
    res.eq(r.get("updated"), {sc["other"]["id"]: {"isActive": False}}, "deactivate")
    res.eq((ms.list(), active_link(D_BASIC)), ({"filter": False, "other": False}, None),
           "nothing active")
    ms.close()


D_EDIT, C_EDIT = setup_dir("edit")


@test(config=C_EDIT, managesieve=True)
def sieve_invalid_rename_destroy(srv, res):
    """invalidSieve with the compile errors, validate, rename keeps the id, destroying the
    active script is sieveIsActive, alreadyExists, ids that do not exist."""
    acc = account(srv)
    bad = b'require "fileinto";\nif header :contains "subject" {\n  fileinto "x";\n}\n'
    r = create(srv, acc, "broken", bad)
    e = r.get("notCreated", {}).get("c1", {})
    res.eq(e.get("type"), "invalidSieve", "invalidSieve: %r" % r)
    res.check(re.match(r"^\d+:\d+: ", e.get("description", "")) is not None,
              "description line:column: %r" % e.get("description"))
    res.check(not os.path.exists(os.path.join(D_EDIT, "home", "sieve", "broken.sieve")),
              "nothing stored")
    v = call(srv, ["SieveScript/validate", {"accountId": acc,
                                            "blobId": upload(srv, bad, acc)}, "v"],
             ["SieveScript/validate", {"accountId": acc,
                                       "blobId": upload(srv, FILTER, acc)}, "v2"],
             ["SieveScript/validate", {"accountId": acc, "blobId": "Unope"}, "v3"],
             ["SieveScript/validate", {"accountId": acc}, "v4"])
    res.eq(v[0][1]["error"]["type"], "invalidSieve", "validate: invalid")
    res.check(v[0][1]["error"].get("description"), "validate: a description")
    res.eq(v[1][1]["error"], None, "validate: valid")
    res.eq(v[2][1]["error"]["type"], "blobNotFound", "validate: no such blob")
    res.eq(v[3][0], "error", "validate without blobId")
    r = create(srv, acc, "one", FILTER, activate=True)
    sid = r["created"]["c1"]["id"]
    old_blob = r["created"]["c1"]["blobId"]
    r = create(srv, acc, "one", OTHER)
    res.eq((r["notCreated"]["c1"]["type"], r["notCreated"]["c1"].get("existingId")),
           ("alreadyExists", sid), "alreadyExists")
    # rename and new content in one update: same id, new blobId, still active
    r = call(srv, ["SieveScript/set", {"accountId": acc, "update": {sid: {
        "name": "renamed", "blobId": upload(srv, OTHER, acc)}}}, "s"])[0][1]
    nb = (r.get("updated") or {}).get(sid) or {}
    res.check(nb.get("blobId", old_blob) != old_blob, "update: new blobId %r" % r)
    sc = scripts(srv, acc)
    res.eq((list(sc), sc.get("renamed", {}).get("id"), sc.get("renamed", {}).get("isActive")),
           (["renamed"], sid, True), "renamed, same id, active")
    res.eq(active_link(D_EDIT), "sieve/renamed.sieve", "the link follows the rename")
    with open(os.path.join(D_EDIT, "home", "sieve", "renamed.sieve"), "rb") as f:
        res.eq(f.read(), OTHER, "new content")
    # a rename over ManageSieve keeps the id too
    ms = MS(srv)
    lines, ok = ms.cmd('RENAMESCRIPT "renamed" "again"')
    res.check(ok.startswith(b"OK"), "RENAMESCRIPT")
    sc = scripts(srv, acc)
    res.eq(sc.get("again", {}).get("id"), sid, "id kept across a ManageSieve rename")
    r = call(srv, ["SieveScript/set", {"accountId": acc, "destroy": [sid, "Sffffffffffffffff"],
                                       "update": {sid: {"isActive": False}}}, "s"])[0][1]
    res.eq(r["notDestroyed"][sid]["type"], "sieveIsActive", "destroy active: %r" % r)
    res.eq(r["notDestroyed"]["Sffffffffffffffff"]["type"], "notFound", "destroy unknown")
    res.eq(r["notUpdated"][sid]["type"], "invalidProperties", "isActive is server-set")
    r = call(srv, ["SieveScript/set", {"accountId": acc, "update": {sid: {"name": "a/b"}}},
                   "s"])[0][1]
    res.eq(r["notUpdated"][sid]["type"], "invalidProperties", "a name with /")
    r = call(srv, ["SieveScript/set", {"accountId": acc, "onSuccessDeactivateScript": True},
                   "s"],
             ["SieveScript/set", {"accountId": acc, "destroy": [sid]}, "s2"])
    res.eq(r[1][1].get("destroyed"), [sid], "destroyed once inactive")
    res.eq(ms.list(), {}, "ManageSieve sees none")
    ms.close()


D_LIM, C_LIM = setup_dir("limits", ["managesieve_max_script_size = 1000",
                                    "managesieve_max_scripts = 2"])


@test(config=C_LIM)
def sieve_limits(srv, res):
    """maxSizeScript and maxNumberScripts come from the ManageSieve limits: tooLarge,
    overQuota; a name over maxSizeScriptName, a null name (the server's choice)."""
    acc = account(srv)
    c = conn(srv)
    r, data = request(c, "GET", "/.well-known/jmap", auth=basic())
    ac = json.loads(data)["accounts"][acc]["accountCapabilities"][CAP]
    res.eq((ac["maxSizeScript"], ac["maxNumberScripts"]), (1000, 2), "limits advertised")
    big = b"# " + b"x" * 1000 + b"\nkeep;\n"
    r = create(srv, acc, "big", big)
    res.eq(r["notCreated"]["c1"]["type"], "tooLarge", "tooLarge: %r" % r)
    r = create(srv, acc, "n" * 129, FILTER)
    res.eq(r["notCreated"]["c1"]["type"], "invalidProperties", "name too long")
    r = create(srv, acc, "\u00e9" * 64, FILTER)
    res.check("created" in r and r["created"] and "c1" in r["created"],
              "128 octets of UTF-8 is a name: %r" % r)
    r = call(srv, ["SieveScript/set", {"accountId": acc, "create": {"c1": {
        "blobId": upload(srv, FILTER, acc)}}}, "s"])[0][1]
    nm = (r.get("created") or {}).get("c1", {}).get("name")
    res.check(isinstance(nm, str) and nm.startswith("script-"), "server-chosen name: %r" % r)
    r = create(srv, acc, "third", FILTER)
    res.eq(r["notCreated"]["c1"]["type"], "overQuota", "overQuota: %r" % r)
    r = create(srv, acc, "jmap-vacation", FILTER)
    res.eq(r["notCreated"]["c1"]["type"], "forbidden", "jmap-vacation is reserved")


@test(config=["jmap_tls = no"])
def sieve_not_configured(srv, res):
    """No home and no absolute sieve_dir: no capability, and the methods refuse."""
    c = conn(srv)
    r, data = request(c, "GET", "/.well-known/jmap", auth=basic())
    s = json.loads(data)
    acc = s["primaryAccounts"]["urn:ietf:params:jmap:mail"]
    res.check(CAP not in s["capabilities"] and
              CAP not in s["accounts"][acc]["accountCapabilities"], "no sieve capability")
    r = call(srv, ["SieveScript/get", {"accountId": acc}, "g"])
    res.eq((r[0][0], r[0][1]["type"]), ("error", "accountNotSupportedByMethod"), "get refused")
    st, p = api(srv, {"using": ["urn:ietf:params:jmap:core", "urn:ietf:params:jmap:mail"],
                      "methodCalls": [["SieveScript/get", {"accountId": acc}, "g"]]})
    res.eq(p["methodResponses"][0][1]["type"], "unknownMethod", "without the capability")


def wait_in(srv, folder, subject, timeout=10):
    deadline = time.monotonic() + timeout
    while True:
        n = sum(1 for sub, info, data in srv.maildir_files("demo", folder).values()
                if ("Subject: " + subject).encode() in data)
        if n or time.monotonic() > deadline:
            return n
        time.sleep(0.1)


D_VAC, C_VAC = setup_dir("vacation", ["sendmail_path = /bin/true"])


@test(config=C_VAC, lmtp=True, managesieve=True)
def sieve_vacation_interplay(srv, res):
    """With a JMAP vacation on, the wrapper stays the link's target: activating another
    script (JMAP or ManageSieve SETACTIVE) rewrites it, so the vacation keeps running and
    the new script files the next delivery; buzon-jmap is never listed; jmap-vacation is
    read-only through SieveScript/set; deactivating leaves the vacation alone."""
    acc = account(srv)
    srv.make_maildir("demo", "Lists")
    srv.make_maildir("demo", "Other")
    r = create(srv, acc, "filter", FILTER, activate=True)
    fid = r["created"]["c1"]["id"]
    r = call(srv, ["VacationResponse/set", {"accountId": acc, "update": {"singleton": {
        "isEnabled": True, "textBody": "away"}}}, "v"],
        using=VAC_USING + ["urn:ietf:params:jmap:mail"])
    res.eq(r[0][1].get("updated"), {"singleton": None}, "vacation on")
    res.eq(active_link(D_VAC), "sieve/buzon-jmap.sieve", "the wrapper is the link's target")
    res.eq(wrapper_includes(D_VAC), ["jmap-vacation", "filter"], "wrapper includes filter")
    sc = scripts(srv, acc)
    res.eq(sorted(sc), ["filter", "jmap-vacation"], "buzon-jmap is not listed")
    res.eq((sc["filter"]["isActive"], sc["jmap-vacation"]["isActive"]), (True, False),
           "the user's script is the active one")
    vid = sc["jmap-vacation"]["id"]
    r = call(srv, ["SieveScript/set", {"accountId": acc, "destroy": [vid],
                                       "update": {vid: {"name": "x"}}}, "s"],
             ["SieveScript/set", {"accountId": acc, "onSuccessActivateScript": vid}, "s2"])
    res.eq((r[0][1]["notDestroyed"][vid]["type"], r[0][1]["notUpdated"][vid]["type"]),
           ("forbidden", "forbidden"), "jmap-vacation is VacationResponse's")
    res.eq(r[1][1]["notUpdated"][vid]["type"], "forbidden", "and not activated directly")
    # JMAP activates another script: the wrapper now includes it
    r = create(srv, acc, "other", OTHER, activate=True)
    res.eq(r["created"]["c1"]["isActive"], True, "other active")
    res.eq(r["updated"], {fid: {"isActive": False}}, "filter reported inactive")
    res.eq((active_link(D_VAC), wrapper_includes(D_VAC)),
           ("sieve/buzon-jmap.sieve", ["jmap-vacation", "other"]), "wrapper rewritten")
    lmtp(srv, "a@example.net", "[other] one")
    res.eq(wait_in(srv, "Other", "[other] one"), 1, "the new script files the delivery")
    # ManageSieve SETACTIVE, the same
    ms = MS(srv)
    res.eq(ms.list(), {"filter": False, "jmap-vacation": False, "other": True},
           "LISTSCRIPTS: no buzon-jmap, other active")
    lines, ok = ms.cmd('SETACTIVE "filter"')
    res.check(ok.startswith(b"OK"), "SETACTIVE: %r" % ok)
    res.eq((active_link(D_VAC), wrapper_includes(D_VAC)),
           ("sieve/buzon-jmap.sieve", ["jmap-vacation", "filter"]), "SETACTIVE rewrote it")
    lines, ok = ms.cmd('DELETESCRIPT "jmap-vacation"')
    res.check(ok.startswith(b"NO (ACTIVE)"), "jmap-vacation cannot go while it runs: %r" % ok)
    lines, ok = ms.cmd('PUTSCRIPT "buzon-jmap" {5+}\r\nkeep;')
    res.check(ok.startswith(b"NO"), "buzon-jmap cannot be written: %r" % ok)
    lmtp(srv, "b@example.net", "[acme] two")
    res.eq(wait_in(srv, "Lists", "[acme] two"), 1, "filter files again")
    v = call(srv, ["VacationResponse/get", {"accountId": acc}, "g"], using=VAC_USING)
    res.eq(v[0][1]["list"][0]["isEnabled"], True, "the vacation is still on")
    # nothing active: the wrapper includes only the vacation
    lines, ok = ms.cmd('SETACTIVE ""')
    res.check(ok.startswith(b"OK"), "SETACTIVE empty")
    res.eq((active_link(D_VAC), wrapper_includes(D_VAC)),
           ("sieve/buzon-jmap.sieve", ["jmap-vacation"]), "only the vacation")
    res.eq(ms.list(), {"filter": False, "jmap-vacation": False, "other": False},
           "none active")
    ms.close()
    sc = scripts(srv, acc)
    res.check(not any(s["isActive"] for s in sc.values()), "JMAP: none active")


D_DLV, C_DLV = setup_dir("deliver")


@test(config=C_DLV, lmtp=True)
def sieve_delivery(srv, res):
    """A script created and activated over JMAP files the next LMTP delivery."""
    acc = account(srv)
    srv.make_maildir("demo", "Lists")
    r = create(srv, acc, "filter", FILTER, activate=True)
    res.eq(r["created"]["c1"]["isActive"], True, "active")
    lmtp(srv, "a@example.net", "[acme] news")
    res.eq(wait_in(srv, "Lists", "[acme] news"), 1, "filed into Lists")
    res.eq(wait_in(srv, None, "[acme] news", timeout=0), 0, "not in INBOX")


D_BAD, C_BAD = setup_dir("hostile")


@test(config=C_BAD)
def sieve_hostile_args(srv, res):
    """Arguments of the wrong shape, names with NUL or control characters, unknown and
    server-set properties, ifInState, /changes, a script's blob copied into another, a
    script written by hand, and the server still serving."""
    acc = account(srv)
    blob = upload(srv, FILTER, acc)
    bad_names = ["a\nb", "a\u007fb", "", "x" * 300, 7, ["a"], "buzon-jmap", "a/b"]
    r = call(srv, ["SieveScript/set", {"accountId": acc, "create": {
        "c%d" % i: {"name": n, "blobId": blob} for i, n in enumerate(bad_names)}}, "s"])[0][1]
    res.eq(sorted(r["notCreated"]), sorted("c%d" % i for i in range(len(bad_names))),
           "every bad name refused: %r" % r)
    res.check(all(e["type"] == "invalidProperties" for e in r["notCreated"].values()),
              "as invalidProperties")
    r = call(srv, ["SieveScript/set", {"accountId": acc, "create": {
        "u": {"name": "u", "blobId": blob, "color": "red"},
        "i": {"name": "i", "blobId": blob, "id": "S0000000000000000"},
        "a": {"name": "a", "blobId": blob, "isActive": True},
        "b": {"name": "b", "blobId": 3},
        "n": {"name": "n", "blobId": "U" + "0" * 300},
        "m": {"name": "m", "blobId": "Gffffffffffffffff"},
        "o": "not an object"}}, "s"])[0][1]
    nc = r["notCreated"]
    res.eq({k: nc[k]["type"] for k in nc},
           {"u": "invalidProperties", "i": "invalidProperties", "a": "invalidProperties",
            "b": "invalidProperties", "n": "invalidProperties", "m": "blobNotFound",
            "o": "invalidProperties"}, "bad creates: %r" % nc)
    for args in ({"destroy": [1]}, {"onSuccessActivateScript": 5},
                 {"onSuccessDeactivateScript": "yes"}, {"create": []},
                 {"onSuccessActivateScript": "S1", "onSuccessDeactivateScript": True}):
        a = {"accountId": acc}
        a.update(args)
        r = call(srv, ["SieveScript/set", a, "s"])
        res.eq((r[0][0], r[0][1].get("type")), ("error", "invalidArguments"),
               "set %r" % args)
    r = call(srv, ["SieveScript/get", {"accountId": acc, "properties": ["name", "size"]}, "g"],
             ["SieveScript/get", {"accountId": acc, "ids": "S1"}, "g2"],
             ["SieveScript/get", {"accountId": "other"}, "g3"],
             ["SieveScript/query", {"accountId": acc, "sort": [{"property": "size"}]}, "q"],
             ["SieveScript/query", {"accountId": acc, "anchor": "Snope"}, "q2"])
    res.eq([(x[0], x[1].get("type")) for x in r],
           [("error", "invalidArguments"), ("error", "invalidArguments"),
            ("error", "accountNotFound"), ("error", "unsupportedSort"),
            ("error", "anchorNotFound")], "bad get and query arguments")
    # a script's own blob makes a copy; ifInState; /changes
    r = create(srv, acc, "orig", FILTER)
    gblob = r["created"]["c1"]["blobId"]
    st = r["newState"]
    r = call(srv, ["SieveScript/set", {"accountId": acc, "ifInState": "s-nope",
                                       "destroy": [r["created"]["c1"]["id"]]}, "s"],
             ["SieveScript/set", {"accountId": acc, "ifInState": st, "create": {
                 "cp": {"name": "copy", "blobId": gblob}}}, "s2"],
             ["SieveScript/changes", {"accountId": acc, "sinceState": st}, "c"])
    res.eq((r[0][0], r[0][1].get("type")), ("error", "stateMismatch"), "ifInState")
    res.eq(r[1][1]["created"]["cp"]["blobId"], gblob, "a copy has the same blobId")
    res.eq(r[2][1].get("type"), "cannotCalculateChanges", "changes since an older state")
    now = r[1][1]["newState"]
    r = call(srv, ["SieveScript/changes", {"accountId": acc, "sinceState": now}, "c"])
    res.eq((r[0][1]["oldState"], r[0][1]["newState"], r[0][1]["created"]),
           (now, now, []), "no changes since the current state")
    # a script written by hand is listed, with an id that stays
    with open(os.path.join(D_BAD, "home", "sieve", "hand.sieve"), "wb") as f:
        f.write(b"keep;\n")
    a = scripts(srv, acc).get("hand", {}).get("id")
    res.check(a is not None and scripts(srv, acc)["hand"]["id"] == a, "hand-written script")
    # a content update that does not compile changes nothing
    sid = scripts(srv, acc)["copy"]["id"]
    r = call(srv, ["SieveScript/set", {"accountId": acc, "update": {sid: {
        "blobId": upload(srv, b"if true {", acc)}}}, "s"])[0][1]
    res.eq(r["notUpdated"][sid]["type"], "invalidSieve", "update: invalidSieve")
    with open(os.path.join(D_BAD, "home", "sieve", "copy.sieve"), "rb") as f:
        res.eq(f.read(), FILTER, "the old content stays")
    # a creation id names the script in the same call's update and destroy
    r = call(srv, ["SieveScript/set", {"accountId": acc, "create": {
        "t": {"name": "temp", "blobId": blob}}, "update": {"#t": {"name": "temp2"}},
        "destroy": ["#t"]}, "s"])[0][1]
    tid = r["created"]["t"]["id"]
    res.eq((r.get("updated"), r.get("destroyed")), ({tid: None}, [tid]),
           "#t in update and destroy: %r" % r)
    res.check("temp" not in scripts(srv, acc) and "temp2" not in scripts(srv, acc),
              "gone again")
    still_serving(srv, res)
