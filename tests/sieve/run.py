#!/usr/bin/env python3
"""tests/sieve/run.py — `buzon sieve check` against Pigeonhole's `sievec` (Debian package
dovecot-sieve, scripts/install-deps.sh check): every script of tests/sieve/good and
tests/sieve/bad and the extra scripts of EXTRA below must be accepted or rejected by
both alike. good/ must be accepted and bad/ rejected by buzon in any case. Differences
that are Pigeonhole's choices (extensions it lacks, compile-time checks it does at run
time) are listed in KNOWN with the reason and are checked to stay as described.

The command line itself is checked first (cli-*: exit 0/1/2, the "FILE: line L:C:
error: TEXT" and "warning:" lines, missing files), with or without sievec.

Prints "PASS name", "FAIL name: why" per check, then "N passed, M failed"; without
sievec the comparison is one FAIL line. Takes a few seconds.
Usage: run.py [--buzon PATH] [--sievec PATH] [NAME...]
"""
import argparse
import concurrent.futures
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))

# name -> (script, True if valid per RFC and buzon)
EXTRA = {
    "x-empty": ("", True),
    "x-only-comments": ("# a\n/* b\n */\n", True),
    "x-hash-comment-eof": ("keep; # no newline at end", True),
    "x-tag-case": ('if header :IS "a" "b" { keep; }', True),
    "x-quantifier-lower": ("if size :over 1k { keep; }", True),
    "x-nested-blocks": ("if true { if false { stop; } elsif true { keep; } else { discard; } }", True),
    "x-anyof-nested": ("if anyof(allof(true, not false), anyof(false)) { keep; }", True),
    "x-empty-list": ('if exists [] { keep; }', False),
    "x-empty-testlist": ("if anyof() { keep; }", False),
    "x-trailing-comma": ('if exists ["a",] { keep; }', False),
    "x-missing-close-paren": ("if anyof(true { keep; }", False),
    "x-semicolon-only": (";", False),
    "x-block-alone": ("{ keep; }", False),
    "x-number-as-command": ("1;", False),
    "x-string-as-command": ('"keep";', False),
    "x-tag-without-name": ("keep :;", False),
    "x-unknown-tag": ("keep :foo;", False),
    "x-text-dot-stuffing": ('require "reject"; reject text:\n..\n...x\n.\n;', True),
    "x-text-no-space-colon": ('require "reject"; reject text :\nx\n.\n;', False),
    "x-quoted-escapes": ('redirect "a\\.b\\c@example.com";', True),
    "x-redirect-list": ('redirect ["a@example.com"];', False),
    "x-require-number": ("require 1;", False),
    "x-require-empty-list": ("require [];", False),
    "x-require-twice": ('require "fileinto"; require "fileinto"; fileinto "x";', True),
    "x-require-list-case": ('require ["FILEINTO"];', False),
    "x-if-twice-else": ("if true { keep; } else { stop; } else { stop; }", False),
    "x-elsif-after-else": ("if true { keep; } else { stop; } elsif true { stop; }", False),
    "x-not-two": ("if not (true, false) { keep; }", False),
    "x-size-both": ("if size :over :under 1 { keep; }", False),
    "x-size-string": ('if size :over "1" { keep; }', False),
    "x-header-one-arg": ('if header "a" { keep; }', False),
    "x-exists-number": ("if exists 1 { keep; }", False),
    "x-address-two-parts": ('if address :all :domain "from" "x" { keep; }', False),
    "x-comparator-list": ('if header :comparator ["i;octet"] "a" "b" { keep; }', False),
    "x-comparator-case": ('if header :comparator "I;OCTET" "a" "b" { keep; }', True),
    "x-comparator-missing": ('if header :comparator "a" "b" { keep; }', False),
    "x-fileinto-flags-no-require": ('require "fileinto"; fileinto :flags "a" "x";', False),
    "x-fileinto-all-tags": ('require ["fileinto","copy","imap4flags","mailbox"]; '
                            'fileinto :copy :flags ["a"] :create "x";', True),
    "x-keep-flags": ('require "imap4flags"; keep :flags "\\\\Seen";', True),
    "x-setflag-three": ('require "imap4flags"; setflag "a" "b" "c";', False),
    "x-set-one-arg": ('require "variables"; set "a";', False),
    "x-set-bad-name": ('require "variables"; set "a-b" "c";', False),
    "x-set-length-lower": ('require "variables"; set :length :lower "a" "c";', True),
    "x-string-test": ('require "variables"; if string :is "a" "a" { keep; }', True),
    "x-vacation-all": ('require "vacation"; vacation :days 1 :subject "s" :from "a@b.c" '
                       ':addresses ["x@y.z"] :mime :handle "h" "r";', True),
    "x-vacation-seconds-days": ('require ["vacation", "vacation-seconds"]; '
                                'vacation :seconds 0 "r";', True),
    "x-vacation-no-reason": ('require "vacation"; vacation :days 1;', False),
    "x-date-missing-arg": ('require "date"; if date "date" "year" { keep; }', False),
    "x-date-originalzone-current": ('require "date"; if currentdate :originalzone "year" "2020" '
                                    '{ keep; }', False),
    "x-date-zone-both": ('require "date"; if date :zone "+0100" :originalzone "date" "year" '
                         '"2020" { keep; }', False),
    "x-index-no-require": ('if header :index 1 "a" "b" { keep; }', False),
    "x-index-address": ('require "index"; if address :index 1 :last "from" "a" { keep; }', True),
    "x-index-exists": ('require "index"; if exists :index 1 "from" { keep; }', False),
    "x-editheader-delete-index": ('require "editheader"; deleteheader :index 2 "a";', True),
    "x-editheader-delete-last": ('require "editheader"; deleteheader :last "a";', False),
    "x-addheader-one": ('require "editheader"; addheader "a";', False),
    "x-body-two-transforms": ('require "body"; if body :raw :text "a" { keep; }', False),
    "x-body-content-number": ('require "body"; if body :content 1 "a" { keep; }', False),
    "x-env-list-name": ('require "environment"; if environment ["a"] "b" { keep; }', False),
    "x-mailboxexists-no-require": ('if mailboxexists "a" { keep; }', False),
    "x-duplicate-seconds": ('require "duplicate"; if duplicate :seconds 10 { keep; }', True),
    "x-duplicate-arg": ('require "duplicate"; if duplicate "x" { keep; }', False),
    "x-return-arg": ('require "include"; return 1;', False),
    "x-include-optional": ('require "include"; include :optional :once "absent";', True),
    "x-regex-count": ('require ["regex", "relational"]; if header :regex :count "eq" "a" "b" '
                      '{ keep; }', False),
    "x-relational-no-require": ('if header :count "eq" "a" "1" { keep; }', False),
    "x-subaddress-no-require": ('if address :user "to" "a" { keep; }', False),
    "x-copy-redirect": ('require "copy"; redirect :copy "a@b.c";', True),
    "x-reject-list": ('require "reject"; reject ["a"];', False),
    "x-stop-arg": ('stop "x";', False),
    "x-discard-block": ("discard { }", False),
    "x-else-test": ("if true { keep; } else true { stop; }", False),
    "x-identifier-digit-start": ("if true { 1keep; }", False),
    "x-bare-lf-in-string": ('redirect "a\nb@c.d";', False),
    "x-redirect-display-name": ('redirect "Name (c) <a@example.com>";', True),
    "x-redirect-quoted-local": ('redirect "\\"a b\\"@example.com";', True),
    "x-redirect-literal": ('redirect "a@[192.0.2.1]";', True),
    "x-redirect-two": ('redirect "a@example.com, b@example.com";', False),
    "x-redirect-junk": ('redirect "a@example.co;m";', False),
    "x-redirect-open-angle": ('redirect "<a@example.com";', False),
    "x-redirect-space-local": ('redirect "a b@example.com";', False),
    "x-include-control": ('require "include"; include :optional "a\x01b";', False),
    "x-include-bad-utf8": ('require "include"; include :optional "a\xc3b";', False),
    "x-encoded-hex-upper": ('require "encoded-character"; redirect "${HEX:61}@b.c";', True),
}

# name -> (how sievec differs, why)
KNOWN = {
    "rfc5429-ereject": ("rejects", "Pigeonhole 0.5 has no ereject capability (RFC 5429 §2.1)"),
    "x-editheader-delete-last": ("accepts", "Pigeonhole prints the error (RFC 5293 §5) "
                                 "but still compiles the script"),
}


def sievec_conf(tmp):
    """A dovecot config with the extensions that are off by default and include dirs."""
    for sub in ("personal", "global"):
        os.makedirs(os.path.join(tmp, sub))
        for name in ("always_allow", "spam_tests", "mailing_lists", "subscript1"):
            with open(os.path.join(tmp, sub, name + ".sieve"), "w") as f:
                f.write("keep;\n")
    conf = os.path.join(tmp, "dovecot.conf")
    with open(conf, "w") as f:
        f.write("plugin {\n  sieve = file:%s/personal\n  sieve_global = %s/global\n"
                "  sieve_extensions = +editheader +vacation-seconds\n}\n" % (tmp, tmp))
    return conf


def collect(tmp):
    """[(name, path, expected or None)] for the corpus and EXTRA."""
    cases = []
    for sub, want in (("good", True), ("bad", False)):
        d = os.path.join(HERE, sub)
        for fn in sorted(os.listdir(d)):
            if fn.endswith(".sieve"):
                cases.append((fn[:-6], os.path.join(d, fn), want))
    xdir = os.path.join(tmp, "extra")
    os.makedirs(xdir)
    for name, (text, want) in sorted(EXTRA.items()):
        path = os.path.join(xdir, name + ".sieve")
        with open(path, "wb") as f:
            f.write(text.encode("latin-1"))
        cases.append((name, path, want))
    return cases


def buzon_accepts(buzon, paths):
    out = subprocess.run([buzon, "sieve", "check"] + paths, capture_output=True, text=True,
                         timeout=60)
    if out.returncode not in (0, 1):
        raise RuntimeError("buzon sieve check exited %d: %s" % (out.returncode, out.stderr))
    ok = set()
    for line in out.stdout.splitlines():
        if line.endswith(": ok"):
            ok.add(line[:-4])
    errs = {}
    for line in out.stderr.splitlines():
        path = line.split(": line ", 1)[0]
        errs.setdefault(path, line)
    return ok, errs


def sievec_accepts(sievec, conf, path, tmp):
    binary = os.path.join(tmp, path.strip("/").replace("/", "_") + ".svbin")
    out = subprocess.run([sievec, "-c", conf, path, binary],
                         capture_output=True, text=True, timeout=30)
    msg = [l for l in out.stderr.splitlines() if ": error:" in l]
    return out.returncode == 0, (msg[0] if msg else out.stderr.strip()[-200:])


def cli_checks(buzon, tmp):
    """[(name, why or None)] for the behaviour of `buzon sieve check` itself."""
    def run(*args):
        return subprocess.run([buzon, "sieve"] + list(args), capture_output=True, text=True,
                              timeout=30)
    good = os.path.join(tmp, "cli-good.sieve")
    bad = os.path.join(tmp, "cli-bad.sieve")
    warn = os.path.join(tmp, "cli-warn.sieve")
    with open(good, "w") as f:
        f.write('require "fileinto";\nfileinto "INBOX";\n')
    with open(bad, "w") as f:
        f.write('require "fileinto";\n  fileinot "x";\nfoo;\n')
    with open(warn, "w") as f:
        f.write('require "date";\nif currentdate "fortnight" "1" { keep; }\n')
    out = []
    r = run("check", good)
    out.append(("cli-ok", None if r.returncode == 0 and r.stdout == good + ": ok\n"
                and r.stderr == "" else "rc=%d out=%r err=%r" % (r.returncode, r.stdout, r.stderr)))
    r = run("check", bad)
    want = ("%s: line 2:3: error: unknown command 'fileinot'.\n"
            "%s: line 3:1: error: unknown command 'foo'.\n" % (bad, bad))
    out.append(("cli-errors", None if r.returncode == 1 and r.stderr == want and r.stdout == ""
                else "rc=%d err=%r" % (r.returncode, r.stderr)))
    r = run("check", warn)
    want = "%s: line 2:16: warning: specified date part 'fortnight' is not known.\n" % warn
    out.append(("cli-warning", None if r.returncode == 0 and r.stderr == want
                else "rc=%d err=%r" % (r.returncode, r.stderr)))
    r = run("check", good, os.path.join(tmp, "missing.sieve"), bad)
    out.append(("cli-several-files", None if r.returncode == 1 and r.stdout == good + ": ok\n"
                and "missing.sieve: No such file or directory" in r.stderr
                and "fileinot" in r.stderr else "rc=%d err=%r" % (r.returncode, r.stderr)))
    for name, args in (("cli-usage-none", []), ("cli-usage-verb", ["frobnicate", good]),
                       ("cli-usage-nofile", ["check"])):
        r = run(*args)
        out.append((name, None if r.returncode == 2 and "usage:" in r.stderr
                    else "rc=%d err=%r" % (r.returncode, r.stderr)))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--buzon", default=os.path.join(HERE, "..", "..", "build", "buzon"))
    ap.add_argument("--sievec", default="sievec")
    ap.add_argument("names", nargs="*")
    args = ap.parse_args()
    sievec = shutil.which(args.sievec)
    passed = failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        for name, why in cli_checks(args.buzon, tmp):
            if args.names and name not in args.names:
                continue
            if why is None:
                passed += 1
                print("PASS %s" % name)
            else:
                failed += 1
                print("FAIL %s: %s" % (name, why))
        if sievec is None:	# scripts/install-deps.sh check installs it
            print("FAIL sievec comparison: no sievec (scripts/install-deps.sh check "
                  "installs dovecot-sieve)")
            print("%d passed, %d failed" % (passed, failed + 1))
            return 1
        conf = sievec_conf(tmp)
        cases = [c for c in collect(tmp) if not args.names or c[0] in args.names]
        ok, errs = buzon_accepts(args.buzon, [c[1] for c in cases])
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            ref = list(pool.map(lambda c: sievec_accepts(sievec, conf, c[1], tmp), cases))
        for (name, path, want), (s, smsg) in zip(cases, ref):
            b = path in ok
            why = None
            if b != want:
                why = "buzon %s (expected %s): %s" % (
                    "accepts" if b else "rejects", "valid" if want else "invalid",
                    errs.get(path, ""))
            elif name in KNOWN:
                if s == (KNOWN[name][0] == "accepts"):
                    pass
                else:
                    why = "known difference no longer holds (%s): sievec %s" % (
                        KNOWN[name][1], "accepts" if s else "rejects")
            elif b != s:
                why = "buzon %s, sievec %s: %s %s" % (
                    "accepts" if b else "rejects", "accepts" if s else "rejects",
                    errs.get(path, ""), smsg)
            if why is None:
                passed += 1
                print("PASS %s" % name)
            else:
                failed += 1
                print("FAIL %s: %s" % (name, why))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
