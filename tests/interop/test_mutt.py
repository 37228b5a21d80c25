#!/usr/bin/env python3
"""mutt in a detached tmux pane against buzon over implicit TLS (imaps://demo@localhost),
with the test certificate pre-trusted through $certificate_file (no prompt): the index
must show the decoded subjects (UTF-8 B and ISO-8859-1 Q encoded words, Japanese);
opening a message shows its decoded body (quoted-printable ISO-8859-1 shown as UTF-8,
base64 UTF-8); mutt then quits cleanly.
"""
# kind: client
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import buzontest as bt

MUTTRC = """\
set folder = "imaps://demo@localhost:{port}/"
set spoolfile = "+INBOX"
set imap_user = "demo"
set imap_pass = "demo"
set certificate_file = "{certs}"
set ssl_verify_host = yes
set ssl_verify_dates = yes
set ssl_force_tls = yes
set imap_check_subscribed = no
set imap_passive = yes
set header_cache = ""
set message_cachedir = ""
set record = ""
set postponed = "+Drafts"
set charset = "utf-8"
set sort = date
set index_format = "%4C %Z %{{%Y-%m-%d}} %-22.22F %s"
set quit = yes
set move = no
set mark_old = no
set confirmappend = no
set wait_key = no
set help = no
set timeout = 5
set pager_stop = yes
set pager_index_lines = 0
set auto_tag = no
"""

ENV = dict(os.environ, LANG="C.UTF-8", LC_ALL="C.UTF-8", TERM="xterm-256color")


def tmux(sock, *args, check=True):
    r = subprocess.run(["tmux", "-L", sock] + list(args), capture_output=True, timeout=20, env=ENV)
    if check and r.returncode != 0:
        raise RuntimeError("tmux %s: %s" % (" ".join(args), r.stderr.decode(errors="replace")))
    return r.stdout.decode("utf-8", "replace")


def screen(sock):
    return tmux(sock, "capture-pane", "-p", "-J", "-t", "mutt")


def wait_for(sock, words, res, what, timeout=15):
    """Poll the pane until every word in words appears; returns the screen."""
    deadline = time.monotonic() + timeout
    s = ""
    while time.monotonic() < deadline:
        s = screen(sock)
        if all(w in s for w in words):
            res.check(True, what)
            return s
        if "(r)eject" in s or "accept (o)nce" in s:
            break	# a certificate prompt: the pre-trusted certificate was not accepted
        time.sleep(0.2)
    res.fail("%s: missing %r on screen" % (what, [w for w in words if w not in s]))
    sys.stderr.write("---- screen ----\n%s\n----------------\n" % s)
    return s


def body(srv, res):
    for tool in ("mutt", "tmux"):
        if not res.check(shutil.which(tool), "%s installed" % tool):
            return
    home = os.path.join(srv.tmp, "mutthome")
    os.mkdir(home, 0o700)
    certs = os.path.join(home, "certificates")
    shutil.copy(srv.cert, certs)
    rc = os.path.join(home, "muttrc")
    with open(rc, "w") as f:
        f.write(MUTTRC.format(port=srv.imaps_port, certs=certs))
    sock = "buzontest-mutt-%d" % os.getpid()
    cmd = "cd %s && HOME=%s exec mutt -n -F %s" % (home, home, rc)
    tmux(sock, "new-session", "-d", "-s", "mutt", "-x", "200", "-y", "50", cmd)
    try:
        s = wait_for(sock, ["Café con leche mañana por la mañana", "Réunion de lundi déplacée",
                            "来週の打ち合わせについて", "Invoice 2026-0117 for February",
                            "Planning the Q3 offsite"],
                     res, "index shows decoded subjects")
        res.check("José Pérez" in s, "index shows the decoded From name (UTF-8 B encoded word)")

        tmux(sock, "send-keys", "-t", "mutt", "/", "Invoice", "Enter")
        time.sleep(0.3)
        tmux(sock, "send-keys", "-t", "mutt", "Enter")
        wait_for(sock, ["please find attached invoice 2026-0117", "invoice-2026-0117.pdf"],
                 res, "pager shows the invoice body and the attachment")
        tmux(sock, "send-keys", "-t", "mutt", "q")
        time.sleep(0.3)
        tmux(sock, "send-keys", "-t", "mutt", "/", "lundi", "Enter")
        time.sleep(0.3)
        tmux(sock, "send-keys", "-t", "mutt", "Enter")
        wait_for(sock, ["La réunion de lundi est déplacée à 14h00", "Hélène Dubois"],
                 res, "pager shows the ISO-8859-1 quoted-printable body decoded")
        tmux(sock, "send-keys", "-t", "mutt", "q")
        time.sleep(0.3)
        tmux(sock, "send-keys", "-t", "mutt", "/", "Nightly", "Enter")
        time.sleep(0.3)
        tmux(sock, "send-keys", "-t", "mutt", "Enter")
        wait_for(sock, ["Nightly job report", "host00 kernel"], res, "pager shows the large message")
        tmux(sock, "send-keys", "-t", "mutt", "q")
        time.sleep(0.3)
        tmux(sock, "send-keys", "-t", "mutt", "/", "Budget review", "Enter")
        time.sleep(0.3)
        tmux(sock, "send-keys", "-t", "mutt", "Enter")
        wait_for(sock, ["You have been invited to"], res, "pager shows the (unread) invitation")
        tmux(sock, "send-keys", "-t", "mutt", "q")
        time.sleep(0.3)
        tmux(sock, "send-keys", "-t", "mutt", "q")
        deadline = time.monotonic() + 10
        while subprocess.run(["tmux", "-L", sock, "has-session", "-t", "mutt"],
                             capture_output=True, env=ENV).returncode == 0:
            if time.monotonic() > deadline:
                res.fail("mutt did not quit: %s" % screen(sock)[-500:])
                break
            time.sleep(0.2)
    finally:
        subprocess.run(["tmux", "-L", sock, "kill-server"], capture_output=True, env=ENV)

    # Reading the unread invitation made it \\Seen on the server.
    m = srv.imap()
    m.select("INBOX", readonly=True)
    typ, data = m.uid("SEARCH", "SUBJECT", "\"Budget review\"", "SEEN")
    res.check(typ == "OK" and data[0], "the invitation read in mutt is \\Seen on the server")
    m.logout()


if __name__ == "__main__":
    bt.run_test("mutt", body)
