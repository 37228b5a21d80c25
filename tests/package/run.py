#!/usr/bin/env python3
"""tests/package/run.py — the Debian package, built, linted, installed, removed, purged.

Root only, on a test machine: it runs dpkg -i / -r / -P on this system (a buzon package
already installed is purged first; a `buzon` user that exists without the package is
deleted, so its creation is tested, and the user is deleted again at the end when it was
not there before). systemd does not need to be PID 1: the maintainer scripts then only
enable the unit, and the test starts the installed server by hand.

  build      scripts/build-deb.sh into a temp dir (niced, DEB_BUILD_OPTIONS=parallel=2)
  lintian    no E: or W: lines
  install    dpkg -i; /usr/sbin/buzon, the conffiles /etc/buzon/buzon.conf and
             /etc/pam.d/buzon, the unit and its multi-user.target.wants link, the man
             pages, the docs; the system user and group buzon (no home, nologin)
  check      `buzon check -c /etc/buzon/buzon.conf` exits 0; the installed server, on a
             free port with the packaged configuration (login_user buzon, base_dir
             /run/buzon), greets an IMAP client and stops on `buzon stop`
  remove     dpkg -r: the program, the unit and /run/buzon are gone, the conffiles stay
  purge      dpkg -P: /etc/buzon, /etc/pam.d/buzon and the enable links are gone; /etc,
             /usr, /lib and /var/lib/systemd hold exactly the paths they held before
             the install; the buzon user stays (docs/debian.md); mail is untouched
Prints "PASS name (N s)" / "FAIL name: why", then "N passed, M failed".
Usage: tests/package/run.py [--keep DIR]   (--keep: leave the built .deb in DIR)
"""

import os
import pwd
import grp
import shutil
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "lib"))
import buzontest  # noqa: E402

REPO = buzontest.REPO
SNAP_ROOTS = ["/etc", "/usr", "/lib", "/var/lib/systemd"]
# files adduser/dpkg rewrite as a side effect (backups), not created by the package
SNAP_IGNORE = {"/etc/passwd-", "/etc/group-", "/etc/shadow-", "/etc/gshadow-",
               "/etc/subuid-", "/etc/subgid-", "/etc/ld.so.cache", "/usr/lib/python3/dist-packages"}
results = []
state = {}


def sh(*cmd, check=True, **kw):
    r = subprocess.run(list(cmd), capture_output=True, text=True, timeout=1800, **kw)
    if check and r.returncode != 0:
        raise AssertionError("%s: exit %d: %s" % (" ".join(cmd), r.returncode,
                                                  (r.stdout + r.stderr).strip()[-2000:]))
    return r


def step(name, fn):
    t0 = time.monotonic()
    try:
        why = fn()
    except Exception as e:  # a failing step is reported, and the later ones still clean up
        why = "%s: %s" % (type(e).__name__, e)
    dt = time.monotonic() - t0
    if why:
        print("FAIL %s: %s" % (name, why.replace("\n", " ")[:800]))
    else:
        print("PASS %s (%.1f s)" % (name, dt))
    sys.stdout.flush()
    results.append(not why)
    return not why


def snapshot():
    paths = set()
    for root in SNAP_ROOTS:
        for d, dirs, files in os.walk(root):
            if any(d == i or d.startswith(i + "/") for i in SNAP_IGNORE):
                dirs[:] = []
                continue
            for n in dirs + files:
                p = os.path.join(d, n)
                if p not in SNAP_IGNORE and not p.endswith(".pyc") and "__pycache__" not in p:
                    paths.add(p)
    return paths


def user_exists(name="buzon"):
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def t_build():
    out = state["out"]
    r = sh(os.path.join(REPO, "scripts", "build-deb.sh"), out,
           env=dict(os.environ, DEB_BUILD_OPTIONS="parallel=2"))
    debs = [p for p in r.stdout.split() if os.path.basename(p).startswith("buzon_")]
    if len(debs) != 1 or not os.path.exists(debs[0]):
        return "no buzon_*.deb in %r" % r.stdout
    state["deb"] = debs[0]
    version = sh("dpkg-parsechangelog", "-l", os.path.join(REPO, "debian", "changelog"),
                 "-S", "Version").stdout.strip()
    arch = sh("dpkg", "--print-architecture").stdout.strip()
    if os.path.basename(debs[0]) != "buzon_%s_%s.deb" % (version, arch):
        return "built %s, want buzon_%s_%s.deb" % (debs[0], version, arch)
    return None


def t_lintian():
    r = sh("lintian", "--fail-on", "error,warning", state["deb"], check=False)
    bad = [l for l in r.stdout.splitlines() if l[:2] in ("E:", "W:")]
    if bad or r.returncode != 0:
        return "lintian exit %d: %s" % (r.returncode, "; ".join(bad) or r.stderr.strip())
    return None


def t_install():
    sh("dpkg", "-i", state["deb"])
    problems = []
    for p in ["/usr/sbin/buzon", "/etc/buzon/buzon.conf", "/etc/pam.d/buzon",
              "/lib/systemd/system/buzon.service", "/lib/systemd/system/buzon.socket",
              "/usr/share/man/man8/buzon.8.gz",
              "/usr/share/man/man5/buzon.conf.5.gz", "/usr/share/doc/buzon/README.md.gz",
              "/usr/share/doc/buzon/copyright", "/usr/share/doc/buzon/systemd.md.gz"]:
        if not os.path.exists(p):
            problems.append("missing " + p)
    if not os.access("/usr/sbin/buzon", os.X_OK):
        problems.append("/usr/sbin/buzon not executable")
    conf = sh("dpkg-query", "-W", "-f=${Conffiles}", "buzon").stdout
    for c in ("/etc/buzon/buzon.conf", "/etc/pam.d/buzon"):
        if c not in conf:
            problems.append("%s is not a conffile (%r)" % (c, conf))
    link = "/etc/systemd/system/multi-user.target.wants/buzon.service"
    if not os.path.islink(link):
        problems.append("unit not enabled (no %s)" % link)
    if os.path.exists("/etc/systemd/system/sockets.target.wants/buzon.socket"):
        problems.append("buzon.socket enabled: its ListenStream lines must first match buzon.conf")
    try:
        pw = pwd.getpwnam("buzon")
        if pw.pw_uid == 0 or pw.pw_uid >= 1000:
            problems.append("buzon uid %d is not a system uid" % pw.pw_uid)
        if pw.pw_shell != "/usr/sbin/nologin" or pw.pw_dir != "/nonexistent":
            problems.append("buzon user: shell %s home %s" % (pw.pw_shell, pw.pw_dir))
        if grp.getgrgid(pw.pw_gid).gr_name != "buzon":
            problems.append("buzon user's group is not buzon")
        if os.path.exists("/nonexistent"):
            problems.append("/nonexistent was created")
    except KeyError:
        problems.append("no buzon user after dpkg -i")
    r = sh("man", "-w", "buzon.conf", check=False)
    if "buzon.conf.5" not in r.stdout:
        problems.append("man -w buzon.conf: %s" % (r.stdout + r.stderr).strip())
    return "; ".join(problems) or None


def t_check():
    r = sh("/usr/sbin/buzon", "check", "-c", "/etc/buzon/buzon.conf", check=False)
    if r.returncode != 0 or "config /etc/buzon/buzon.conf: ok" not in r.stdout:
        return "buzon check: exit %d: %s" % (r.returncode, (r.stdout + r.stderr).strip())
    # the packaged configuration, on a free port (a later key wins)
    port = buzontest.free_ports(1)[0]
    tmp = tempfile.mkdtemp(prefix="buzon-pkg.")
    conf = os.path.join(tmp, "buzon.conf")
    with open("/etc/buzon/buzon.conf") as f, open(conf, "w") as o:
        o.write(f.read() + "\nimap_port = %d\n" % port)
    log = open(os.path.join(tmp, "log"), "wb")
    proc = subprocess.Popen(["/usr/sbin/buzon", "serve", "-c", conf], stdout=log,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 20
        greeting = b""
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                    greeting = s.recv(200)
                break
            except OSError:
                time.sleep(0.1)
        if not greeting.startswith(b"* OK"):
            return "no IMAP greeting from the installed server: %r" % greeting
        users = set()
        for d in os.listdir("/proc"):
            if d.isdigit():
                try:
                    with open("/proc/%s/stat" % d) as f:
                        st = f.read()
                    if int(st[st.rindex(")") + 2:].split()[3]) == proc.pid:
                        users.add(os.stat("/proc/" + d).st_uid)
                except (OSError, ValueError):
                    pass
        if pwd.getpwnam("buzon").pw_uid not in users:
            return "no process of the installed server runs as buzon (uids %s)" % sorted(users)
        if not os.path.exists("/run/buzon/buzon.pid"):
            return "no /run/buzon/buzon.pid"
        sh("/usr/sbin/buzon", "stop", "-c", conf)
        rc = proc.wait(15)
        if rc != 0:
            return "buzon serve exit %d after buzon stop" % rc
        return None
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, 9)
            proc.wait()
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)


def t_remove():
    os.makedirs("/run/buzon/login", exist_ok=True)	# as a server run leaves it
    sh("dpkg", "-r", "buzon")
    problems = []
    for p in ["/usr/sbin/buzon", "/lib/systemd/system/buzon.service", "/run/buzon",
              "/usr/share/man/man8/buzon.8.gz"]:
        if os.path.lexists(p):
            problems.append("%s left after dpkg -r" % p)
    for p in ["/etc/buzon/buzon.conf", "/etc/pam.d/buzon"]:
        if not os.path.exists(p):
            problems.append("conffile %s gone after dpkg -r" % p)
    return "; ".join(problems) or None


def t_purge():
    sh("dpkg", "-P", "buzon")
    problems = []
    for p in ["/etc/buzon", "/etc/pam.d/buzon",
              "/etc/systemd/system/multi-user.target.wants/buzon.service"]:
        if os.path.lexists(p):
            problems.append("%s left after dpkg -P" % p)
    after = snapshot()
    new, gone = sorted(after - state["before"]), sorted(state["before"] - after)
    if new:
        problems.append("paths the package left: %s" % new[:20])
    if gone:
        problems.append("paths that were there before and are gone: %s" % gone[:20])
    if not user_exists():
        problems.append("the buzon user was deleted by the purge")
    with open(state["mail"], "rb") as f:
        if f.read() != b"Subject: keep\r\n\r\nmail\r\n":
            problems.append("mail changed")
    return "; ".join(problems) or None


def known_to_dpkg():
    """dpkg has the package in some state (installed, unpacked, half-configured,
    config-files...), not merely "not-installed" or unknown."""
    st = sh("dpkg-query", "-W", "-f=${Status}", "buzon", check=False).stdout.strip()
    return st != "" and not st.endswith("not-installed")


def main():
    if os.getuid() != 0:
        print("SKIP package: not root\n0 passed, 0 failed")
        return 0
    keep = sys.argv[sys.argv.index("--keep") + 1] if "--keep" in sys.argv else None
    t0 = time.monotonic()
    state["out"] = tempfile.mkdtemp(prefix="buzon-debs.")
    had_user = False
    if known_to_dpkg():
        # any state: an earlier run stopped half-way leaves "unpacked" or "half-configured"
        sh("dpkg", "-P", "buzon")
    if user_exists():
        sh("deluser", "--system", "--quiet", "buzon")
        had_user = True
    if os.path.exists("/var/lib/systemd/deb-systemd-helper-enabled/buzon.service.dsh-also"):
        sh("deb-systemd-helper", "purge", "buzon.service", check=False)
    # mail in a home the package must never touch
    mdir = tempfile.mkdtemp(prefix="buzon-pkg-mail.")
    os.makedirs(os.path.join(mdir, "Maildir", "cur"))
    state["mail"] = os.path.join(mdir, "Maildir", "cur", "1.msg:2,S")
    with open(state["mail"], "wb") as f:
        f.write(b"Subject: keep\r\n\r\nmail\r\n")
    state["before"] = snapshot()
    try:
        if step("build", t_build):
            step("lintian", t_lintian)
            if step("install", t_install):
                step("check", t_check)
                if step("remove", t_remove):
                    step("purge", t_purge)
    finally:
        if known_to_dpkg():
            sh("dpkg", "-P", "buzon", check=False)
        if user_exists() and not had_user:
            sh("deluser", "--system", "--quiet", "buzon", check=False)
            sh("delgroup", "--system", "--quiet", "buzon", check=False)
        if keep and state.get("deb"):
            os.makedirs(keep, exist_ok=True)
            shutil.copy(state["deb"], keep)
        shutil.rmtree(state["out"], ignore_errors=True)
        shutil.rmtree(mdir, ignore_errors=True)
    print("package: %.0f s" % (time.monotonic() - t0))
    print("%d passed, %d failed" % (results.count(True), results.count(False)))
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
