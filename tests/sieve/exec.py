#!/usr/bin/env python3
"""tests/sieve/exec.py — `buzon sieve test` side by side with Pigeonhole's `sieve-test`
(Debian package dovecot-sieve): each case of CASES below (script, message, envelope) runs
through both, their action lists are normalised to one form and compared.

Normal form: one tuple per action, sorted: ("keep", flags), ("fileinto", folder, copy,
flags), ("redirect", addr, copy), ("discard",), ("reject", text), ("vacation",
seconds, subject, from, handle, reason), ("implicit", flags), or ("error",) alone for
a run-time error (both then keep). Flags are a lowercased sorted tuple. Header edits
are not in sieve-test's output; cases check them through later tests instead. A
vacation's handle is compared only when the script gives one (Pigeonhole prints its
default handle), :addresses and :mime not at all (sieve-test does not show them).

A case whose 6th field is a string is a deliberate difference: the reason; it is
checked to still differ. `want` (7th field, optional) is buzon's expected output
(normal form as text) for cases Pigeonhole cannot run (include, ereject).

Runs sieve-test as an unprivileged user (65534 when run as root: Dovecot refuses root)
with a private dovecot.conf, two at a time. Prints "PASS name" / "FAIL name: why",
then "N passed, M failed". Usage: exec.py [--buzon PATH] [--sieve-test PATH] [NAME...]
"""
import argparse
import concurrent.futures
import os
import re
import shutil
import subprocess
import sys
import tempfile

M_PLAIN = b"""Return-Path: <alice+lists@example.org>
Received: from mx.example.org by mail.example.com; Mon, 7 Dec 2026 09:00:05 +0000
Received: from client by mx.example.org; Mon, 7 Dec 2026 09:00:01 +0000
From: Alice Example <alice+lists@Example.ORG>
To: Bob <bob@example.com>, carol@example.net
Cc: "Dave, Jr." <dave@example.com>
Subject: Hello world
Date: Mon, 7 Dec 2026 10:00:00 +0100
Message-ID: <m1@example.org>
X-Spam-Score: 7
X-Priority: 3
List-Id: Acme users <acme-users.lists.example.org>

Body text here.
Second line with the word Banana.
"""

M_MIME = b"""From: =?UTF-8?Q?J=C3=BCrgen?= <juergen@example.de>
To: bob@example.com
Subject: =?ISO-8859-1?Q?Gr=FC=DFe?= aus Berlin
Date: Sat, 31 Jan 2026 23:30:00 -0500
Message-ID: <m2@example.de>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="XX"

preamble
--XX
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: quoted-printable

Hallo Bob, sch=C3=B6ne Gr=C3=BC=C3=9Fe. Code word: zebra.
--XX
Content-Type: text/html; charset=utf-8

<p>HTML part with giraffe</p>
--XX
Content-Type: application/octet-stream
Content-Transfer-Encoding: base64

c2VjcmV0IGVsZXBoYW50IGluIGJpbmFyeQ==
--XX--
"""

M_BULK = b"""From: newsletter@shop.example
To: undisclosed-recipients:;
Subject: [acme-users] [fwd] version 1.0 is out
Date: Tue, 1 Dec 2026 08:00:00 +0000
Precedence: bulk
Auto-Submitted: auto-generated
X-Tags: one two three

Sale!
"""

M_EPILOGUE = b"""From: a@example.org
Subject: parts
Content-Type: multipart/mixed; boundary="B"

pre text
--B
Content-Type: text/plain

body
--B--
epi text
"""

MSGS = {"plain": M_PLAIN, "mime": M_MIME, "bulk": M_BULK, "epilogue": M_EPILOGUE}

FROM = "alice+lists@example.org"
TO = "bob+sieve@example.com"

R = 'require ["fileinto", "imap4flags", "variables", "copy", "envelope", "body", ' \
    '"relational", "comparator-i;ascii-numeric", "subaddress", "date", "index", ' \
    '"mailbox", "regex", "editheader", "vacation", "vacation-seconds", "reject", ' \
    '"environment", "encoded-character", "duplicate"];\n'

# (name, script, message, envelope from, envelope to, known difference or None[, want])
CASES = [
    # RFC 5228 core
    ("core-empty", "", "plain", FROM, TO, None),
    ("core-keep", "keep;", "plain", FROM, TO, None),
    ("core-discard", "discard;", "plain", FROM, TO, None),
    ("core-stop", "stop; discard;", "plain", FROM, TO, None),
    ("core-redirect", 'redirect "x@example.net";', "plain", FROM, TO, None),
    ("core-redirect-name", 'redirect "Xavier <x@example.net>";', "plain", FROM, TO, None),
    ("core-redirect-twice", 'redirect "x@example.net"; redirect "x@example.net";', "plain",
     FROM, TO, None),
    ("core-redirect-limit", "".join('redirect "r%d@example.net"; ' % i for i in range(5)),
     "plain", FROM, TO, None),
    ("core-if-elsif-else", 'if header :is "subject" "nope" { discard; } '
     'elsif header :contains "subject" "WORLD" { keep; } else { discard; }',
     "plain", FROM, TO, None),
    ("core-else", 'if false { discard; } elsif false { discard; } else { keep; }', "plain",
     FROM, TO, None),
    ("core-not-anyof-allof", 'if not anyof (false, allof (true, false)) { discard; }',
     "plain", FROM, TO, None),
    ("core-header-is-case", 'if header :is "Subject" "hello WORLD" { discard; }', "plain",
     FROM, TO, None),
    ("core-header-octet", 'if header :comparator "i;octet" :is "Subject" "hello WORLD" '
     '{ discard; }', "plain", FROM, TO, None),
    ("core-header-matches", 'if header :matches "subject" "H?llo *" { discard; }', "plain",
     FROM, TO, None),
    ("core-header-matches-escape", r'if header :matches "subject" "Hello\\*" { discard; }',
     "plain", FROM, TO, None),
    ("core-header-multi", 'if header :contains ["x-none", "received"] "mx.example.org" '
     '{ discard; }', "plain", FROM, TO, None),
    ("core-header-2047", 'if header :contains "subject" "Grüße" { discard; }', "mime",
     FROM, TO, None),
    ("core-address-all", 'if address :is "from" "alice+lists@example.org" { discard; }',
     "plain", FROM, TO, None),
    ("core-address-domain", 'if address :domain :is "to" "example.net" { discard; }',
     "plain", FROM, TO, None),
    ("core-address-localpart", 'if address :localpart :is "cc" "dave" { discard; }',
     "plain", FROM, TO, None),
    ("core-address-group", 'if address :all :is "to" "undisclosed-recipients" { discard; }',
     "bulk", FROM, TO, None),
    ("core-exists", 'if exists ["From", "Date"] { discard; }', "plain", FROM, TO, None),
    ("core-exists-missing", 'if exists ["From", "X-Nope"] { discard; }', "plain", FROM, TO,
     None),
    ("core-size-over", "if size :over 100 { discard; }", "plain", FROM, TO, None),
    ("core-size-under", "if size :under 1K { discard; }", "plain", FROM, TO, None),
    ("core-envelope-from", 'require "envelope"; if envelope :all :is "from" '
     '"alice+lists@example.org" { discard; }', "plain", FROM, TO, None),
    ("core-envelope-to-domain", 'require "envelope"; if envelope :domain :is "to" '
     '"example.com" { discard; }', "plain", FROM, TO, None),
    ("core-rfc5228-example",
     'require "fileinto";\n'
     'if header :is "Sender" "owner-ietf-mta-filters@imc.org" { fileinto "filter"; }\n'
     'elsif address :DOMAIN :is ["From", "To"] "example.com" { keep; }\n'
     'elsif anyof (not address :all :contains ["To", "Cc", "Bcc"] "me@example.com",\n'
     '  header :matches "subject" ["*make*money*fast*", "*university*dipl*mas*"]) '
     '{ fileinto "spam"; }\n'
     'else { fileinto "personal"; }', "plain", FROM, TO, None),
    # fileinto, copy, mailbox
    ("fileinto", 'require "fileinto"; fileinto "Lists";', "plain", FROM, TO, None),
    ("fileinto-inbox-keep", 'require "fileinto"; fileinto "INBOX"; keep;', "plain", FROM, TO,
     None),
    ("fileinto-twice", 'require "fileinto"; fileinto "a"; fileinto "a"; fileinto "b";',
     "plain", FROM, TO, None),
    ("copy-fileinto", 'require ["fileinto", "copy"]; fileinto :copy "Archive";', "plain",
     FROM, TO, None),
    ("copy-redirect", 'require "copy"; redirect :copy "x@example.net";', "plain", FROM, TO,
     None),
    ("mailbox-create", 'require ["fileinto", "mailbox"]; fileinto :create "New";', "plain",
     FROM, TO, None),
    ("mailbox-exists-inbox", 'require ["mailbox"]; if mailboxexists "INBOX" { discard; }',
     "plain", FROM, TO, None),
    ("mailbox-exists-not", 'require ["mailbox"]; if mailboxexists ["INBOX", "Nope"] '
     '{ discard; }', "plain", FROM, TO, None),
    # discard / implicit keep interplay
    ("discard-then-keep", "discard; keep;", "plain", FROM, TO, None),
    ("discard-fileinto", 'require "fileinto"; discard; fileinto "a";', "plain", FROM, TO,
     None),
    # imap4flags
    ("flags-implicit", 'require "imap4flags"; addflag "\\\\Seen"; addflag ["$a", "\\\\SEEN"];',
     "plain", FROM, TO, None),
    ("flags-setflag-remove", 'require "imap4flags"; setflag "a b c"; removeflag "b";',
     "plain", FROM, TO, None),
    ("flags-fileinto", 'require ["fileinto", "imap4flags"]; addflag "\\\\Flagged"; '
     'fileinto "a"; fileinto :flags "X" "b"; keep :flags ["\\\\Deleted"];', "plain", FROM, TO,
     None),
    ("flags-hasflag", 'require "imap4flags"; addflag "One Two"; '
     'if hasflag :is "two" { discard; }', "plain", FROM, TO, None),
    ("flags-hasflag-count", 'require ["imap4flags", "relational", '
     '"comparator-i;ascii-numeric"]; addflag "a b c"; '
     'if hasflag :count "ge" :comparator "i;ascii-numeric" "3" { discard; }', "plain",
     FROM, TO, None),
    ("flags-variable", 'require ["imap4flags", "variables"]; addflag "f" "x y"; '
     'if hasflag "f" "y" { discard; }', "plain", FROM, TO, None),
    ("flags-rfc5232-example",
     'require ["imap4flags", "fileinto"];\n'
     'if header :contains "from" "alice" { addflag "\\\\Flagged"; fileinto "important"; }\n'
     'if header :contains "subject" "hello" { addflag "\\\\Answered"; }',
     "plain", FROM, TO, None),
    # variables
    ("var-set-expand", R + 'set "f" "Lists"; fileinto "${f}.${F}";', "plain", FROM, TO, None),
    ("var-match-vars", R + 'if header :matches "subject" "* *" { fileinto "${2}-${1}"; }',
     "plain", FROM, TO, None),
    ("var-rfc5229-nongreedy", R + 'if header :matches "subject" "[*] *" '
     '{ fileinto "${1}/${2}"; }', "bulk", FROM, TO, None),
    ("var-modifiers", R + 'set :upperfirst :lower "a" "hELLO"; set :length "n" "${a}"; '
     'set :upper "u" "mixed"; set :quotewildcard "q" "a*b?"; fileinto "${a}-${n}-${u}-${q}";',
     "plain", FROM, TO, None),
    ("var-string-test", R + 'set "a" "abc"; if string :is "${a}" "abc" { discard; }',
     "plain", FROM, TO, None),
    ("var-string-count", R + 'if string :count "eq" :comparator "i;ascii-numeric" '
     '["a", "", "b"] "2" { discard; }', "plain", FROM, TO, None),
    ("var-unknown", R + 'fileinto "x${nope}y";', "plain", FROM, TO, None),
    ("var-match-all", R + 'if address :matches "from" "*@*" { fileinto "${0}|${1}|${2}"; }',
     "plain", FROM, TO, None),
    ("var-list-id", R + 'if header :matches "List-Id" "*<*@*" { fileinto "lists.${2}"; stop; }'
     ' if header :matches "List-Id" "*<*.*>" { fileinto "l.${2}"; }', "plain", FROM, TO, None),
    # relational
    ("rel-value-numeric", R + 'if header :value "ge" :comparator "i;ascii-numeric" '
     '"x-spam-score" "5" { fileinto "spam"; }', "plain", FROM, TO, None),
    ("rel-value-string", R + 'if header :value "lt" "subject" "I" { discard; }', "plain",
     FROM, TO, None),
    ("rel-count-received", R + 'if header :count "eq" :comparator "i;ascii-numeric" '
     '"received" "2" { discard; }', "plain", FROM, TO, None),
    ("rel-count-address", R + 'if address :count "ge" :comparator "i;ascii-numeric" '
     '["to", "cc"] "3" { discard; }', "plain", FROM, TO, None),
    ("rel-numeric-inf", R + 'if header :value "gt" :comparator "i;ascii-numeric" '
     '"subject" "999999" { discard; }', "plain", FROM, TO, None),
    ("rel-numeric-is", 'require "comparator-i;ascii-numeric"; if header :is :comparator '
     '"i;ascii-numeric" "x-spam-score" "007" { discard; }', "plain", FROM, TO, None),
    # subaddress
    ("sub-user", R + 'if address :user "from" "alice" { discard; }', "plain", FROM, TO, None),
    ("sub-detail", R + 'if envelope :detail "to" "sieve" { fileinto "d"; }', "plain", FROM,
     TO, None),
    ("sub-detail-none", R + 'if address :detail :matches "cc" "*" { discard; }', "plain",
     FROM, TO, None),
    ("sub-detail-var", R + 'if envelope :detail :matches "to" "*" { fileinto "x-${1}"; }',
     "plain", FROM, TO, None),
    # body
    ("body-text", R + 'if body :contains "banana" { discard; }', "plain", FROM, TO, None),
    ("body-text-qp", R + 'if body :text :contains "schöne" { discard; }', "mime", FROM, TO,
     None),
    ("body-text-html", R + 'if body :text :contains "giraffe" { discard; }', "mime", FROM, TO,
     None),
    ("body-content-plain", R + 'if body :content "text/plain" :contains "giraffe" '
     '{ discard; }', "mime", FROM, TO, None),
    ("body-content-base64", R + 'if body :content "application" :contains "elephant" '
     '{ discard; }', "mime", FROM, TO, None),
    ("body-raw", R + 'if body :raw :contains "sch=C3=B6ne" { discard; }', "mime", FROM, TO,
     None),
    ("body-not", R + 'if body :contains "zzz-absent" { discard; }', "mime", FROM, TO, None),
    # date, index
    ("date-year", R + 'if date :is "date" "year" "2026" { discard; }', "plain", FROM, TO,
     None),
    ("date-originalzone", R + 'if date :originalzone "date" "hour" "10" { discard; }',
     "plain", FROM, TO, None),
    ("date-zone", R + 'if date :zone "-0500" "date" "time" "04:00:00" { discard; }', "plain",
     FROM, TO, None),
    ("date-weekday-utc", R + 'if date :zone "+0000" "date" "weekday" "1" { discard; }',
     "plain", FROM, TO, None),
    ("date-parts", R + 'if date :matches :zone "+0000" "date" "date" "*" { set "d" "${0}"; }'
     ' if date :matches :zone "+0000" "date" "julian" "*" { set "j" "${0}"; }'
     ' if date :matches :zone "+0000" "date" "std11" "*" { set "s" "${0}"; }'
     ' if date :matches :originalzone "date" "zone" "*" { set "z" "${0}"; }'
     ' fileinto "${d} ${j} ${s} ${z}";', "mime", FROM, TO, None),
    ("date-iso8601", R + 'if date :matches :originalzone "date" "iso8601" "*" { fileinto "${0}"; }',
     "plain", FROM, TO, None),
    ("date-received-index", R + 'if date :index 1 :last :zone "+0000" "received" "second" '
     '"01" { discard; }', "plain", FROM, TO, "Pigeonhole finds no date in Received fields; "
     "buzon reads the date after the last ';' (RFC 5321 §4.4 time stamp)", [("discard",)]),
    ("date-month-crossing", R + 'if date :zone "+0000" "date" "month" "02" { discard; }',
     "mime", FROM, TO, None),
    ("currentdate", R + 'if currentdate :value "ge" "year" "2024" { discard; }', "plain",
     FROM, TO, None),
    ("index-header", R + 'if header :index 2 :contains "received" "client" { discard; }',
     "plain", FROM, TO, None),
    ("index-header-last", R + 'if header :index 1 :last :contains "received" "mail.example" '
     '{ discard; }', "plain", FROM, TO, None),
    ("index-address", R + 'if address :index 1 :is "to" "bob@example.com" { discard; }',
     "plain", FROM, TO, None),
    # regex
    ("regex-match", R + 'if header :regex "subject" "^H.l+o (w[a-z]+)$" '
     '{ fileinto "r-${1}"; }', "plain", FROM, TO, None),
    ("regex-case", R + 'if header :regex "subject" "HELLO" { discard; }', "plain", FROM, TO,
     None),
    ("regex-octet", R + 'if header :regex :comparator "i;octet" "subject" "HELLO" '
     '{ discard; }', "plain", FROM, TO, None),
    ("regex-quoteregex", R + 'set :quoteregex "q" "a.b"; fileinto "${q}";', "plain", FROM,
     TO, "Pigeonhole 0.5 lacks :quoteregex (draft-ietf-sieve-regex §5)",
     [("fileinto", "a\\.b", False, ())]),
    # editheader (checked through later tests)
    ("edit-add-visible", R + 'addheader "X-Sieve" "seen"; if header :is "x-sieve" "seen" '
     '{ fileinto "added"; }', "plain", FROM, TO, None),
    ("edit-add-first", R + 'addheader "Received" "by sieve; Tue, 8 Dec 2026 00:00:00 +0000"; '
     'if header :index 1 :contains "received" "sieve" { fileinto "first"; }', "plain",
     FROM, TO, None),
    ("edit-add-last", R + 'addheader :last "X-A" "1"; addheader :last "X-A" "2"; '
     'if header :index 2 :is "x-a" "2" { fileinto "last"; }', "plain", FROM, TO, None),
    ("edit-delete", R + 'deleteheader "x-priority"; if not exists "x-priority" '
     '{ fileinto "gone"; }', "plain", FROM, TO, None),
    ("edit-delete-value", R + 'deleteheader :contains "received" "client"; '
     'if header :count "eq" :comparator "i;ascii-numeric" "received" "1" { fileinto "one"; }',
     "plain", FROM, TO, None),
    ("edit-delete-index", R + 'addheader "X-B" "1"; addheader "X-B" "2"; '
     'deleteheader :index 1 "x-b"; if header :is "x-b" "1" { fileinto "kept1"; }', "plain",
     FROM, TO, None),
    # environment
    ("env-phase", R + 'if environment :is "phase" "during" { discard; }', "plain", FROM, TO,
     "sieve-test says phase \"post\" (it is not a delivery); buzon gives the delivery's "
     "\"during\" (RFC 5183 §4)", [("discard",)]),
    ("env-location", R + 'if environment :is "location" "MDA" { discard; }', "plain", FROM,
     TO, "sieve-test says location \"MS\"; buzon runs Sieve in the MDA (RFC 5183 §4)",
     [("discard",)]),
    ("env-name", R + 'if environment :contains "name" "Pigeonhole" { discard; }', "plain",
     FROM, TO, "environment \"name\" is \"buzon\", not \"Pigeonhole Sieve\" (RFC 5183 §4)"),
    # encoded-character
    ("encoded-char", 'require ["fileinto", "encoded-character"]; '
     'fileinto "${hex:49 4e}-${unicode:263a}";', "plain", FROM, TO, None),
    # vacation
    ("vacation-basic", R + 'vacation "I am away";', "plain", FROM, TO, None),
    ("vacation-days", R + 'vacation :days 3 :subject "Away" :from "bob@example.com" '
     ':handle "h1" "Back soon";', "plain", FROM, TO, None),
    ("vacation-seconds", R + 'vacation :seconds 172800 "x";', "plain", FROM, TO, None),
    ("vacation-seconds-min", R + 'vacation :seconds 1 "x";', "plain", FROM, TO, None),
    ("vacation-rfc5230-example", R + 'if header :contains "subject" "hello" {\n'
     '  vacation :days 7 :addresses ["bob@example.com"] "I\'m away until October 19.\n'
     'If it\'s an emergency, call 911, I guess." ;\n}', "plain", FROM, TO, None),
    ("vacation-twice", R + 'vacation "a"; vacation "b";', "plain", FROM, TO, None),
    ("vacation-var-subject", R + 'if header :matches "subject" "*" '
     '{ vacation :subject "Re: ${1}" "x"; }', "plain", FROM, TO, None),
    # reject
    ("reject", 'require "reject"; reject "No thanks";', "plain", FROM, TO, None),
    ("reject-keep-conflict", 'require "reject"; reject "x"; keep;', "plain", FROM, TO, None),
    ("reject-fileinto-conflict", 'require ["reject", "fileinto"]; fileinto "a"; reject "x";',
     "plain", FROM, TO, None),
    ("reject-discard", 'require "reject"; discard; reject "x";', "plain", FROM, TO, None),
    ("reject-twice", 'require "reject"; reject "x"; reject "y";', "plain", FROM, TO, None),
    ("ereject", 'require "ereject"; ereject "go away";', "plain", FROM, TO,
     "Pigeonhole 0.5 has no ereject (RFC 5429 §2.1)", [("reject-e", "go away")]),
    # duplicate (no duplicate database here: never a duplicate)
    ("duplicate-first", R + 'if duplicate { discard; }', "plain", FROM, TO, None),
    # run-time errors and limits
    ("err-fileinto-empty", R + 'set "f" ""; fileinto "${f}";', "plain", FROM, TO,
     "Pigeonhole accepts an empty folder name until it stores; buzon fails the run "
     "(and keeps) at fileinto", [("error",)]),
    ("err-redirect-bad", R + 'set "a" "not an address"; redirect "${a}";', "plain", FROM, TO,
     None),
    ("err-actions-limit", 'require "fileinto"; ' + "".join('fileinto "f%d"; ' % i
     for i in range(33)), "plain", FROM, TO, None),
    ("null-sender", R + 'if envelope :all :is "from" "" { discard; }', "plain", "", TO,
     "sieve-test cannot take the null sender (-f)", [("discard",)]),
    # edge cases
    ("edge-contains-empty", 'if header :contains "subject" "" { discard; }', "plain", FROM,
     TO, None),
    ("edge-contains-missing-header", 'if header :contains "x-none" "" { discard; }', "plain",
     FROM, TO, None),
    ("edge-not-exists-empty", 'if not header :contains "x-none" "" { discard; }', "plain",
     FROM, TO, None),
    ("edge-matches-utf8-q", R + 'if header :matches "from" "J?rgen *" { fileinto "${1}"; }',
     "mime", FROM, TO, "Pigeonhole matches '?' to one UTF-8 character but puts only its "
     "first octet into ${1} (and fileinto then fails); buzon captures the character",
     [("fileinto", "ü", False, ())]),
    ("edge-matches-octet-q", R + 'if header :comparator "i;octet" :matches "from" '
     '"J??rgen *" { fileinto "o"; }', "mime", FROM, TO, None),
    ("edge-casemap-nonascii", 'if header :is "subject" "GRÜSSE AUS BERLIN" { discard; }',
     "mime", FROM, TO, None),
    ("edge-address-comment", 'if address :is "cc" "dave@example.com" { discard; }', "plain",
     FROM, TO, None),
    ("edge-address-name-ci", 'if address :is :domain "from" "EXAMPLE.org" { discard; }',
     "plain", FROM, TO, None),
    ("edge-address-octet-domain", 'if address :comparator "i;octet" :is :domain "from" '
     '"example.org" { discard; }', "plain", FROM, TO, None),
    ("edge-count-casemap", R + 'if header :count "gt" "received" "10" { discard; }', "plain",
     FROM, TO, None),
    ("edge-value-ne", R + 'if address :value "ne" :all "to" "bob@example.com" '
     '{ discard; }', "plain", FROM, TO, None),
    ("edge-matches-star-only", R + 'if header :matches "x-none" "*" { discard; }', "plain",
     FROM, TO, None),
    ("edge-matches-many-stars", R + 'if header :matches "subject" "*o*o*" '
     '{ fileinto "${1}|${2}|${3}"; }', "plain", FROM, TO, None),
    ("edge-matches-backslash", R + 'set "s" "a\\\\b"; if string :matches "${s}" '
     '"a\\\\*" { fileinto "bs-${1}"; }', "plain", FROM, TO, None),
    ("edge-var-case", R + 'set "Abc" "v"; fileinto "${aBC}";', "plain", FROM, TO, None),
    ("edge-var-match-kept", R + 'if header :matches "subject" "* *" {} '
     'if header :matches "subject" "nomatch*" {} fileinto "${1}";', "plain", FROM, TO, None),
    ("edge-string-list", R + 'if string :is ["a", "b"] "b" { discard; }', "plain", FROM, TO,
     None),
    ("edge-size-exact", "if size :over 0 { discard; }", "plain", FROM, TO, None),
    ("edge-flags-removeall", 'require "imap4flags"; addflag "a"; removeflag "A"; '
     'keep;', "plain", FROM, TO, None),
    ("edge-keep-twice-flags", 'require "imap4flags"; keep :flags "a"; keep :flags "b";',
     "plain", FROM, TO, None),
    ("edge-redirect-copy-then-plain", 'require "copy"; redirect :copy "a@example.net"; '
     'redirect "a@example.net";', "plain", FROM, TO, None),
    ("edge-fileinto-copy-then-plain", 'require ["fileinto", "copy"]; fileinto :copy "f"; '
     'fileinto "f";', "plain", FROM, TO, None),
    ("edge-body-is", R + 'if body :is "Body text here.\nSecond line with the word Banana." '
     '{ discard; }', "plain", FROM, TO, None),
    ("edge-header-trailing-space", 'if header :is "x-priority" "3" { discard; }', "plain",
     FROM, TO, None),
    ("edge-envelope-localpart", 'require "envelope"; if envelope :localpart :is "to" '
     '"bob+sieve" { discard; }', "plain", FROM, TO, None),
    ("edge-body-content-text", R + 'if body :content "text" :contains "giraffe" '
     '{ discard; }', "mime", FROM, TO, None),
    ("edge-body-content-multipart", R + 'if body :content "multipart" :contains "preamble" '
     '{ discard; }', "mime", FROM, TO, None),
    ("edge-body-content-html-is", R + 'if body :content "text/html" :matches "*giraffe*" '
     '{ discard; }', "mime", FROM, TO, None),
    ("edge-body-count", R + 'if body :content "text" :count "eq" :comparator '
     '"i;ascii-numeric" "2" { discard; }', "mime", FROM, TO, None),
    ("edge-body-text-single", R + 'if body :text :matches "*Banana*" { discard; }', "plain",
     FROM, TO, None),
    ("edge-header-2047-address-name", 'if header :contains "from" "Jürgen" { discard; }',
     "mime", FROM, TO, None),
    ("edge-header-is-empty-missing", 'if header :is "x-none" "" { discard; }', "plain", FROM,
     TO, None),
    ("edge-date-weekday-zone", R + 'if date :zone "+1400" "date" "weekday" "0" { discard; }',
     "mime", FROM, TO, None),
    ("edge-currentdate-zone", R + 'if currentdate :zone "-1200" :matches "zone" "-1200" '
     '{ discard; }', "plain", FROM, TO, None),
    ("edge-regex-anchors-multi", R + 'if header :regex ["to", "cc"] "^.*Jr.*$" '
     '{ discard; }', "plain", FROM, TO, None),
    ("edge-body-epilogue", R + 'if body :content "multipart" :contains "epi" { discard; }',
     "epilogue", FROM, TO, None),
    ("edge-body-preamble", R + 'if body :content "multipart" :contains "pre text" '
     '{ discard; }', "epilogue", FROM, TO, None),
    ("edge-body-delimiter", R + 'if body :content "multipart" :contains "--" { discard; }',
     "epilogue", FROM, TO, None),
    # include (RFC 6609): scripts of INCLUDES below
    ("include-keep", 'require "include"; include :personal "always_allow";', "plain", FROM,
     TO, None),
    ("include-fileinto", 'require "include"; include "inc-fileinto";', "plain", FROM, TO,
     None),
    ("include-return", 'require ["include", "fileinto"]; include "inc-return"; '
     'fileinto "main-after";', "plain", FROM, TO, None),
    ("include-stop", 'require ["include", "fileinto"]; include "inc-stop"; '
     'fileinto "main-after";', "plain", FROM, TO, None),
    ("include-global-var", 'require ["include", "variables"]; global "folder"; '
     'set "folder" "G-box"; include "inc-global";', "plain", FROM, TO, None),
    ("include-global-namespace", 'require ["include", "variables", "fileinto"]; '
     'include "inc-global-set"; fileinto "${global.folder}";', "plain", FROM, TO, None),
    ("include-local-var", 'require ["include", "variables"]; set "x" "main"; '
     'include "inc-vars-local";', "plain", FROM, TO, None),
    ("include-once", 'require "include"; include :once "inc-fileinto"; '
     'include :once "inc-fileinto";', "plain", FROM, TO, None),
    ("include-optional", 'require "include"; include :optional "no-such-script"; discard;',
     "plain", FROM, TO, None),
    ("include-missing", 'require "include"; include "no-such-script"; discard;', "plain",
     FROM, TO, None),
    ("include-global", 'require "include"; include :global "g1";', "plain", FROM, TO, None),
    ("include-loop", 'require "include"; include "inc-loop-a";', "plain", FROM, TO, None),
    ("include-flags", 'require ["include", "imap4flags"]; include "inc-flag";', "plain",
     FROM, TO, None),
    ("include-rfc6609-example",
     'require ["include"];\ninclude :personal "always_allow";\n'
     'include :global "spam_tests";\ninclude :personal "spam_tests";\n'
     'include :personal "mailing_lists";', "bulk", FROM, TO, None),
]

# personal/NAME.sieve and global/NAME.sieve for the include cases
INCLUDES = {
    "personal/always_allow": 'if address :is "from" "boss@example.com" { keep; }',
    "personal/inc-fileinto": 'require "fileinto"; fileinto "from-include";',
    "personal/inc-return": 'require ["fileinto", "include"]; if true { return; } '
                           'fileinto "after-return";',
    "personal/inc-stop": "stop;",
    "personal/inc-global": 'require ["include", "variables", "fileinto"]; global "folder"; '
                           'fileinto "${folder}";',
    "personal/inc-global-set": 'require ["include", "variables"]; global "folder"; '
                               'set "folder" "from-set";',
    "personal/inc-vars-local": 'require ["variables", "fileinto"]; fileinto "v-${x}";',
    "personal/inc-loop-a": 'require "include"; include "inc-loop-b";',
    "personal/inc-loop-b": 'require "include"; include "inc-loop-a";',
    "personal/inc-flag": 'require "imap4flags"; addflag "\\\\Seen";',
    "personal/spam_tests": 'require "fileinto"; if header :contains "subject" "sale" '
                           '{ fileinto "personal-spam"; }',
    "personal/mailing_lists": 'require "fileinto"; if exists "precedence" '
                              '{ fileinto "lists"; }',
    "global/g1": 'require "fileinto"; fileinto "global-one";',
    "global/spam_tests": 'require "fileinto"; if header :is "auto-submitted" '
                         '"auto-generated" { fileinto "global-spam"; }',
}


def conf(tmp):
    for sub in ("personal", "global", "Maildir/cur", "Maildir/new", "Maildir/tmp"):
        os.makedirs(os.path.join(tmp, sub), exist_ok=True)
    for name, text in INCLUDES.items():
        with open(os.path.join(tmp, name + ".sieve"), "w") as f:
            f.write(text + "\n")
    path = os.path.join(tmp, "dovecot.conf")
    with open(path, "w") as f:
        f.write("mail_location = maildir:%s/Maildir\n"
                "plugin {\n  sieve = file:%s/personal\n  sieve_global = %s/global\n"
                "  sieve_extensions = +editheader +vacation-seconds\n}\n" % (tmp, tmp, tmp))
    return path


def flags_of(text):
    return tuple(sorted(f.lower() for f in text.split()))


def norm_pigeonhole(out, rc):
    """sieve-test's "Performed actions" / "Implicit keep" listing in normal form."""
    if rc != 0:
        return [("error",)]
    acts, cur, section, reason, in_msg = [], None, None, [], False
    for line in out.splitlines():
        if line.startswith("Performed actions:"):
            section = "perf"
            continue
        if line.startswith("Implicit keep:"):
            section = "impl"
            continue
        if in_msg:
            if line == "END MESSAGE":
                in_msg = False
                cur["reason"] = "\n".join(reason).strip()
            else:
                reason.append(line)
            continue
        if line == "START MESSAGE":
            in_msg, reason = True, []
            continue
        m = re.match(r"^ \* (.*)$", line)
        if m:
            text = m.group(1)
            cur = {"section": section, "text": text, "copy": False, "flags": ()}
            acts.append(cur)
            continue
        m = re.match(r"^\s+\+ (.*)$", line)
        if m and cur is not None:
            if m.group(1) == "preserve implicit keep":
                cur["copy"] = True
            elif m.group(1).startswith("add IMAP flags: "):
                cur["flags"] = flags_of(m.group(1)[16:])
            continue
        m = re.match(r"^\s+=> (\w+)\s*: (.*)$", line)
        if m and cur is not None:
            cur[m.group(1)] = m.group(2)
    res = []
    for a in acts:
        t = a["text"]
        if t.startswith("store message in folder: "):
            folder = t[25:]
            if a["section"] == "impl":
                res.append(("implicit", a["flags"]))
            elif folder == "INBOX":
                res.append(("keep", a["flags"]))
            else:
                res.append(("fileinto", folder, a["copy"], a["flags"]))
        elif t == "discard":
            res.append(("discard",))
        elif t.startswith("redirect message to: "):
            res.append(("redirect", t[21:].strip("<>"), a["copy"]))
        elif t.startswith("reject message with reason: "):
            res.append(("reject", t[28:]))
        elif t == "track duplicate":
            continue	# the duplicate test's bookkeeping (RFC 7352 §3)
        elif t.startswith("send vacation message"):
            res.append(("vacation", a.get("seconds"), a.get("subject"), a.get("from"),
                        a.get("handle"), a.get("reason")))
        else:
            res.append(("unknown", t))
    return sorted(res, key=repr)


def unquote(s):
    """The inside of one "..." of buzon's format (docs/sieve.md)."""
    out, i = [], 0
    while i < len(s):
        c = s[i]
        if c == "\\" and i + 1 < len(s):
            n = s[i + 1]
            if n == "x":
                out.append(chr(int(s[i + 2:i + 4], 16)))
                i += 4
                continue
            out.append({"r": "\r", "n": "\n"}.get(n, n))
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


QSTR = r'"((?:[^"\\]|\\.)*)"'


def parse_buzon_line(line):
    """(verb, [positional strings], {key: value}, {bare words})"""
    verb, rest = (line.split(" ", 1) + [""])[:2]
    pos, kv, words = [], {}, set()
    for m in re.finditer(r'(\w+)=' + QSTR + r'|(\w+)=(\d+)|' + QSTR + r'|(\w+)', rest):
        if m.group(1):
            kv[m.group(1)] = unquote(m.group(2))
        elif m.group(3):
            kv[m.group(3)] = m.group(4)
        elif m.group(5) is not None:
            pos.append(unquote(m.group(5)))
        else:
            words.add(m.group(6))
    return verb, pos, kv, words


def norm_buzon(out, rc):
    if rc != 0:
        return [("error",)]
    res = []
    for line in out.splitlines():
        verb, pos, kv, words = parse_buzon_line(line)
        flags = flags_of(kv.get("flags", ""))
        if verb == "keep":
            res.append(("implicit", flags) if "implicit" in words else ("keep", flags))
        elif verb == "fileinto":
            res.append(("fileinto", pos[0], "copy" in words, flags))
        elif verb == "discard":
            res.append(("discard",))
        elif verb == "redirect":
            res.append(("redirect", pos[0], "copy" in words))
        elif verb in ("reject", "ereject"):
            res.append(("reject" if verb == "reject" else "reject-e", pos[0]))
        elif verb == "vacation":
            res.append(("vacation", kv.get("seconds"), kv.get("subject"), kv.get("from"),
                        kv.get("handle"), kv.get("reason", "").replace("\r\n", "\n").strip()))
        elif verb in ("addheader", "deleteheader"):
            continue
        else:
            res.append(("unknown", line))
    return sorted(res, key=repr)


def align_vacation(b, p):
    """Drop what sieve-test shows but buzon does not decide (default handle)."""
    out = []
    bv = [a for a in b if a[0] == "vacation"]
    for a in p:
        if a[0] == "vacation" and bv and bv[0][4] is None:
            a = a[:4] + (None,) + a[5:]
        out.append(a)
    return out


def run(cmd, env=None):
    r = subprocess.run(cmd, capture_output=True, env=env, timeout=30)
    return r.stdout.decode("utf-8", "replace"), r.returncode, r.stderr.decode("utf-8",
                                                                             "replace")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--buzon", default="build-dev/buzon")
    ap.add_argument("--sieve-test", default="sieve-test")
    ap.add_argument("names", nargs="*")
    args = ap.parse_args()
    st = shutil.which(args.sieve_test)
    cases = [c for c in CASES if not args.names or c[0] in args.names]
    passed = failed = 0
    with tempfile.TemporaryDirectory(prefix="buzon-sieve-exec-") as tmp:
        os.chmod(tmp, 0o755)
        cfg = conf(tmp)
        for name, data in MSGS.items():
            with open(os.path.join(tmp, name + ".eml"), "wb") as f:
                f.write(data)
        for c in cases:
            with open(os.path.join(tmp, c[0] + ".sieve"), "wb") as f:
                f.write(c[1].encode("utf-8"))
        if os.geteuid() == 0:
            subprocess.run(["chown", "-R", "65534:65534", tmp], check=True)
            prefix = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        else:
            prefix = []
        env = dict(os.environ, HOME=tmp, USER="nobody", TZ="UTC")

        def one(c):
            name, _, msg, efrom, eto = c[:5]
            script = os.path.join(tmp, name + ".sieve")
            mail = os.path.join(tmp, msg + ".eml")
            b = run([args.buzon, "sieve", "test", "-f", efrom, "-a", eto, "-d",
                     os.path.join(tmp, "personal"), "-g", os.path.join(tmp, "global"),
                     script, mail], env)
            if st is None:
                return b, None
            p = run(prefix + [st, "-C", "-c", cfg, "-f", efrom or "<>", "-a", eto, script,
                              mail], env)
            return b, p

        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            results = list(pool.map(one, cases))
        if st is None:
            print("FAIL sieve-test comparison: no sieve-test (scripts/install-deps.sh check "
                  "installs dovecot-sieve)")
            failed += 1
        for c, (b, p) in zip(cases, results):
            name, known = c[0], c[5]
            want = c[6] if len(c) > 6 else None
            nb = norm_buzon(b[0], b[1])
            if b[1] not in (0, 1):
                print("FAIL %s: buzon exit %d: %s" % (name, b[1], b[2].strip()))
                failed += 1
                continue
            if want is not None and nb != sorted(want, key=repr):
                print("FAIL %s: buzon %r, want %r" % (name, nb, want))
                failed += 1
                continue
            if p is None:
                continue
            np = align_vacation(nb, norm_pigeonhole(p[0], p[1]))
            if known is None and nb != np:
                print("FAIL %s: buzon %r, sieve-test %r %s" % (name, nb, np,
                                                              p[2].strip()[:300]))
                failed += 1
            elif known is not None and nb == np:
                print("FAIL %s: known difference no longer holds (%s)" % (name, known))
                failed += 1
            else:
                print("PASS %s" % name)
                passed += 1
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
