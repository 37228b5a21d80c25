#!/usr/bin/env python3
"""tests/docs/run.py — the configuration documentation cannot drift from the code.

docs/man/buzon.conf.keys is the one description of the configuration keys; from it
scripts/gen-config-doc.py writes the README's table and buzon.conf(5). Cases:
  readme        the README's table is exactly what the generator writes
  source        every key of src/lib/config.c is documented and the reverse, with the
                type, the limit of numbers and the default config.c has
  drift         the two checks above fail on a copy with a key added to config.c, a key
                dropped from the keys file, a limit changed, a default changed and a
                README row edited (so they are not vacuous)
  conf          contrib/buzon.conf (the package's /etc/buzon/buzon.conf) is what the
                generator writes, and with every "#key = default" line uncommented it
                still loads (`buzon check`, when build/buzon or $BUZON exists)
  verbs         every command in `buzon`'s usage text (src/cli/cli.c) has an entry in
                buzon(8) (docs/man/buzon.8.scd), and the reverse
  man           with scdoc: both man pages render and buzon.conf(5) names every key
Prints "PASS name" / "FAIL name: why" / "SKIP name: why", then "N passed, M failed".
Takes well under a second.
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GEN = [sys.executable, os.path.join(REPO, "scripts", "gen-config-doc.py")]
KEYS = os.path.join(REPO, "docs", "man", "buzon.conf.keys")
results = []


def gen(*args):
    return subprocess.run(GEN + list(args), capture_output=True, text=True, timeout=30)


def case(name, fn):
    try:
        why = fn()
    except Exception as e:  # a broken case is a failure, not a crash
        why = "%s: %s" % (type(e).__name__, e)
    if why and why.startswith("SKIP"):
        print("SKIP %s: %s" % (name, why[5:]))
        why = None
    elif why:
        print("FAIL %s: %s" % (name, why))
    else:
        print("PASS %s" % name)
    results.append(not why)


def t_readme():
    r = gen("readme")
    return None if r.returncode == 0 else "README table differs (scripts/gen-config-doc.py " \
        "readme --write):\n" + r.stdout + r.stderr


def t_source():
    r = gen("check-source")
    return None if r.returncode == 0 else r.stdout + r.stderr


def t_drift():
    tmp = tempfile.mkdtemp(prefix="buzon-docs.")
    try:
        os.makedirs(os.path.join(tmp, "lib"))
        shutil.copy(os.path.join(REPO, "src", "lib", "config.h"), os.path.join(tmp, "lib"))
        src = open(os.path.join(REPO, "src", "lib", "config.c")).read()
        keys = open(KEYS).read()
        cfile, kfile = os.path.join(tmp, "lib", "config.c"), os.path.join(tmp, "keys")
        readme = os.path.join(tmp, "README.md")

        def check(what, csrc, ktext, want):
            open(cfile, "w").write(csrc)
            open(kfile, "w").write(ktext)
            r = gen("check-source", "--keys", kfile, cfile)
            if r.returncode == 0 or want not in r.stdout:
                return "%s: check-source did not report '%s' (exit %d: %s)" % (
                    what, want, r.returncode, r.stdout.strip())
            return None

        add = src.replace('{ "imap_debug", K_BOOL',
                          '{ "new_key", K_BOOL, OFF(imap_debug), 0 },\n\t{ "imap_debug", K_BOOL')
        drop = re.sub(r"key imap_debug\n.*?(\n\n|\Z)", "", keys, flags=re.S)
        limit = src.replace("OFF(login_processes), 64 }", "OFF(login_processes), 65 }")
        default = src.replace("c->login_timeout = 60;", "c->login_timeout = 61;")
        for why in (check("added key", add, keys, "new_key is not documented"),
                    check("dropped key", src, drop, "imap_debug is not documented"),
                    check("changed limit", limit, keys, "login_processes: type"),
                    check("changed default", default, keys, "login_timeout: default")):
            if why:
                return why
        text = open(os.path.join(REPO, "README.md")).read()
        open(readme, "w").write(text.replace("| `imap_port` | `143` |", "| `imap_port` | `144` |"))
        r = gen("readme", readme)
        if r.returncode == 0 or "`144`" not in r.stdout:
            return "an edited README row was not reported"
        return None
    finally:
        shutil.rmtree(tmp)


def t_conf():
    tmpl = os.path.join(REPO, "contrib", "buzon.conf.in")
    conf = os.path.join(REPO, "contrib", "buzon.conf")
    r = gen("conf", tmpl, conf)
    if r.returncode != 0:
        return "contrib/buzon.conf differs (scripts/gen-config-doc.py conf --write " \
            "contrib/buzon.conf.in contrib/buzon.conf):\n" + r.stdout + r.stderr
    buzon = os.environ.get("BUZON") or os.path.join(REPO, "build", "buzon")
    if not os.access(buzon, os.X_OK):
        return "SKIP no %s to load it with" % buzon
    lines, n = [], 0
    for line in open(conf).read().splitlines():
        m = re.fullmatch(r"#(\w+) = (.+)", line)
        if m:
            line = "%s = %s" % (m.group(1), m.group(2))
            n += 1
        lines.append(line)
    if n < 30:
        return "only %d keys with a default in contrib/buzon.conf" % n
    tmp = tempfile.mkdtemp(prefix="buzon-conf.")
    try:
        path = os.path.join(tmp, "buzon.conf")
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        r = subprocess.run([buzon, "check", "-c", path], capture_output=True, text=True,
                           timeout=30)
        if r.returncode != 0:
            return "every default uncommented: buzon check exit %d: %s" % (
                r.returncode, (r.stdout + r.stderr).strip())
        return None
    finally:
        shutil.rmtree(tmp)


def usage_verbs():
    """("user add", ...) from the usage() text of src/cli/cli.c."""
    src = open(os.path.join(REPO, "src", "cli", "cli.c")).read()
    body = re.search(r"usage\(void\)\n\{(.*?)\n\}", src, re.S).group(1)
    verbs = set()
    for line in re.findall(r'"(?:usage:)?\s*buzon ([^"\\]*)', body):
        tok = line.split()
        subs = tok[1].split("|") if len(tok) > 1 and re.fullmatch(r"[a-z|]+", tok[1]) else [None]
        for sub in subs:
            verbs.add(tok[0] + (" " + sub if sub else ""))
    return verbs


def t_verbs():
    scd = open(os.path.join(REPO, "docs", "man", "buzon.8.scd")).read()
    verbs = usage_verbs()
    if len(verbs) < 10:
        return "found only %r in cli.c's usage()" % sorted(verbs)
    section = scd.split("# COMMANDS")[1].split("\n# ")[0]
    missing = [v for v in sorted(verbs) if "*%s*" % v not in section]
    if missing:
        return "buzon(8) has no entry for: %s" % ", ".join(missing)
    documented = set()
    for m in re.finditer(r"^\*([a-z]+(?: [a-z]+)?)\*|, \*([a-z]+ [a-z]+)\*", section, re.M):
        documented.add(m.group(1) or m.group(2))
    extra = [v for v in sorted(documented) if v not in verbs and v.split()[0] not in verbs]
    if extra:
        return "buzon(8) describes commands cli.c does not have: %s" % ", ".join(extra)
    return None


def t_man():
    if shutil.which("scdoc") is None:
        return "SKIP no scdoc"
    tmp = tempfile.mkdtemp(prefix="buzon-man.")
    try:
        scd = os.path.join(tmp, "buzon.conf.5.scd")
        r = gen("man", os.path.join(REPO, "docs", "man", "buzon.conf.5.scd.in"), scd)
        if r.returncode != 0:
            return r.stderr
        out = {}
        for page, src in (("buzon.conf.5", scd),
                          ("buzon.8", os.path.join(REPO, "docs", "man", "buzon.8.scd"))):
            with open(src) as f:
                r = subprocess.run(["scdoc"], stdin=f, capture_output=True, text=True, timeout=30)
            if r.returncode != 0 or not r.stdout.startswith(".\\\""):
                return "scdoc %s: exit %d: %s" % (page, r.returncode, r.stderr.strip())
            out[page] = r.stdout
        names = re.findall(r"^key (.+)$", open(KEYS).read(), re.M)
        for n in (x.strip() for line in names for x in line.split(",")):
            if "\\fB%s\\fR" % n not in out["buzon.conf.5"]:
                return "buzon.conf(5) does not name %s" % n
        for verb in ("serve", "check", "reload", "stop", "deliver", "import mbox", "sieve check"):
            if "\\fB%s\\fR" % verb not in out["buzon.8"]:
                return "buzon(8) does not describe %s" % verb
        return None
    finally:
        shutil.rmtree(tmp)


case("readme", t_readme)
case("source", t_source)
case("drift", t_drift)
case("conf", t_conf)
case("verbs", t_verbs)
case("man", t_man)
print("%d passed, %d failed" % (results.count(True), results.count(False)))
sys.exit(0 if all(results) else 1)
