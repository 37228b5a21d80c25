#!/usr/bin/env python3
"""`buzon user add|passwd|del|list` against a running server: a user added while the
server runs can log in at once; `user list` shows users without password hashes;
`user passwd` makes the old password fail and the new one work; `user del` makes
login fail; adding an existing user fails without touching the file; the passwd-file
is not world-readable and never holds a plaintext password.
"""
# kind: protocol
import imaplib
import os
import stat
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import buzontest as bt


def can_login(srv, user, pw):
    m = srv.imap(login=False)
    try:
        m.login(user, pw)
        m.logout()
        return True
    except imaplib.IMAP4.error:
        m.logout()
        return False


def body(srv, res):
    conf = srv.config_path
    srv.add_user("carol", "Carol-pw-1 with spaces")
    srv.make_maildir("carol")
    res.check(can_login(srv, "carol", "Carol-pw-1 with spaces"), "new user logs in (password with spaces)")

    r = srv.cli("user", "list", "-c", conf)
    names = r.stdout.split()
    res.check("demo" in names and "carol" in names, "user list: %r" % r.stdout)
    res.check("$" not in r.stdout and "{" not in r.stdout, "user list shows no hashes")

    with open(srv.passwd_file) as f:
        content = f.read()
    res.check("Carol-pw-1" not in content and "demo:demo" not in content, "no plaintext password in the passwd-file")
    res.check(all(line.split(":")[1].startswith("{") for line in content.splitlines() if line),
              "every entry has a {SCHEME} hash")
    mode = stat.S_IMODE(os.stat(srv.passwd_file).st_mode)
    res.check(mode & 0o007 == 0, "passwd-file mode %o not world-readable" % mode)

    r = srv.cli("user", "add", "-c", conf, "carol", stdin="other\n", check=False)
    res.check(r.returncode != 0, "adding an existing user fails (exit %d)" % r.returncode)
    with open(srv.passwd_file) as f:
        res.eq(f.read(), content, "passwd-file unchanged by the failed add")

    srv.cli("user", "passwd", "-c", conf, "carol", stdin="Carol-pw-2\n")
    res.check(not can_login(srv, "carol", "Carol-pw-1 with spaces"), "old password refused after user passwd")
    res.check(can_login(srv, "carol", "Carol-pw-2"), "new password works after user passwd")

    srv.cli("user", "del", "-c", conf, "carol")
    res.check(not can_login(srv, "carol", "Carol-pw-2"), "deleted user cannot log in")
    r = srv.cli("user", "list", "-c", conf)
    res.check("carol" not in r.stdout.split() and "demo" in r.stdout.split(), "user list after del: %r" % r.stdout)
    res.check(can_login(srv, "demo", "demo"), "the other user is untouched")

    r = srv.cli("user", "add", "-c", conf, "../evil", stdin="x\n", check=False)
    res.check(r.returncode != 0, "user add refuses the name ../evil (exit %d)" % r.returncode)
    r = srv.cli("user", "add", "-c", conf, "a:b", stdin="x\n", check=False)
    res.check(r.returncode != 0, "user add refuses a name with ':' (exit %d)" % r.returncode)


if __name__ == "__main__":
    bt.run_test("cli-user", body)
