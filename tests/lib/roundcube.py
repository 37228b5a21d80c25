"""Roundcube 1.6 from Debian (packages roundcube, roundcube-sqlite3) under `php -S` on
loopback, in a directory of its own with its own SQLite database and configuration:
what tests/webmail (Roundcube against buzon) and bench/jmap (the same view over buzon
and Dovecot) share. The caller gives the configuration; this module writes it with the
database, log and temporary directories, starts and stops the PHP server."""
import os
import secrets
import signal
import socket
import sqlite3
import subprocess
import time

import buzontest as bt

RC_PUBLIC = "/var/lib/roundcube/public_html"
RC_DEFAULTS = "/etc/roundcube/defaults.inc.php"
RC_SQL = "/usr/share/roundcube/SQL/sqlite.initial.sql"


def php_quote(s):
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"


def php_value(v):
    """A Python value (None, bool, int, str, list) as a PHP literal."""
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, list):
        return "[" + ", ".join(php_value(x) for x in v) + "]"
    return php_quote(str(v))


def wait_port(port, proc, seconds):
    """True once port takes connections; False if proc (may be None) ends or seconds
    pass first."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            socket.create_connection((bt.HOST, port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


class Roundcube:
    """One Roundcube under `php -S` in dir. setup(conf, raw) writes config.inc.php from
    conf (Python values) and raw PHP lines; start() returns its URL."""

    def __init__(self, dir, workers=4, writer="tests/lib/roundcube.py"):
        self.dir = dir
        self.workers = workers		# Roundcube sends parallel requests
        self.writer = writer
        self.proc = None
        self.port = None

    def setup(self, conf, raw=()):
        d = self.dir
        for sub in ("config", "logs", "temp"):
            os.makedirs(os.path.join(d, sub), exist_ok=True)
        os.symlink(RC_DEFAULTS, os.path.join(d, "config", "defaults.inc.php"))
        db = os.path.join(d, "roundcube.db")
        with open(RC_SQL) as f:
            schema = f.read()
        con = sqlite3.connect(db)
        con.executescript(schema)
        con.close()
        full = {"db_dsnw": "sqlite:///%s?mode=0600" % db, "log_driver": "file",
                "log_dir": os.path.join(d, "logs"), "temp_dir": os.path.join(d, "temp"),
                "des_key": secrets.token_hex(12), "smtp_host": "",
                "enable_installer": False, "enable_spellcheck": False,
                "login_rate_limit": 0, "create_default_folders": False,
                "language": "en_US", "skin": "elastic", "layout": "widescreen"}
        full.update(conf)
        lines = ["<?php", "// written by " + self.writer, "$config = [];"]
        for k, v in full.items():
            lines.append("$config[%s] = %s;" % (php_quote(k), php_value(v)))
        lines += list(raw)
        with open(os.path.join(d, "config", "config.inc.php"), "w") as f:
            f.write("\n".join(lines) + "\n")

    def start(self):
        (self.port,) = bt.free_ports(1)
        env = dict(os.environ)
        env["ROUNDCUBE_CONFIG_DIR"] = os.path.join(self.dir, "config")
        env["PHP_CLI_SERVER_WORKERS"] = str(self.workers)
        self.log = open(os.path.join(self.dir, "php-server.log"), "ab")
        self.proc = subprocess.Popen(["php", "-S", "%s:%d" % (bt.HOST, self.port), "-t",
                                      RC_PUBLIC],
                                     stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=subprocess.STDOUT, env=env, cwd=self.dir,
                                     start_new_session=True)
        if not wait_port(self.port, self.proc, 15):
            raise RuntimeError("php -S did not start: %s" %
                               self.file_text("php-server.log")[-500:])
        return "http://%s:%d/" % (bt.HOST, self.port)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        if self.proc is not None:
            self.log.close()
            self.proc = None

    def file_text(self, rel):
        try:
            with open(os.path.join(self.dir, rel), "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def errors(self):
        return self.file_text("logs/errors.log")
