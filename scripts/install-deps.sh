#!/bin/sh
# Install the Debian 12 packages buzon needs to build (build), to run its tests (check)
# or its benchmarks (bench), or to build the Debian package (deb). Installs only what is
# missing; safe to run repeatedly.
set -eu
BUILD="gcc clang meson ninja-build pkg-config libevent-dev libssl-dev libcrypt-dev
libargon2-dev libutf8proc-dev libpam0g-dev libseccomp-dev liblmdb-dev libjansson-dev zlib1g-dev openssl
scdoc libsystemd-dev"
# scdoc (man pages) and libsystemd-dev (sd_notify) are optional: the build goes without them
CHECK="libcmocka-dev python3 curl isync mutt tmux valgrind libclang-rt-14-dev strace gdb
postfix swaks fetchmail testssl.sh dovecot-sieve dovecot-imapd sieve-connect
roundcube roundcube-sqlite3 roundcube-plugins php-cli php-sqlite3 chromium
fonts-ipafont-gothic nodejs certbot pebble systemd gsasl libsasl2-modules"
# gsasl: an independent SCRAM client for tests/scram; libsasl2-modules: Cyrus SASL's
# SCRAM plugin, through which mbsync logs in there
# systemd: systemd-analyze for tests/systemd (the tests never need systemd as PID 1).
# dovecot-sieve: Pigeonhole's sievec, the reference of tests/sieve/run.py (pulls dovecot-core);
# dovecot-imapd: Dovecot reads buzon's maildirsize in tests/delivery (quota). Tests never
# use a system Dovecot: they run its binaries with private configurations.
BENCH="dovecot-lmtpd linux-perf"
# make deb (scripts/build-deb.sh) and tests/package/run.py
DEB="debhelper dpkg-dev fakeroot lintian devscripts"
want=$BUILD
for what in "$@"; do
	case $what in
	build) ;;
	check) want="$want $CHECK" ;;
	bench) want="$want $CHECK $BENCH" ;;
	deb) want="$want $DEB" ;;
	*) echo "usage: $0 [build|check|bench|deb]" >&2; exit 2 ;;
	esac
done
missing=""
for p in $want; do
	s=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	case $s in *"install ok installed"*) ;; *) missing="$missing $p" ;; esac
done
[ -z "$missing" ] && exit 0
echo "install-deps: installing:$missing" >&2
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
# postfix: no questions, no running system instance needed (tests run private instances)
echo "postfix postfix/main_mailer_type select No configuration" | $SUDO debconf-set-selections 2>/dev/null || true
# roundcube: no dbconfig database (tests/webmail makes its own SQLite database per test)
echo "roundcube-core roundcube/dbconfig-install boolean false" | $SUDO debconf-set-selections 2>/dev/null || true
$SUDO apt-get update -qq >/dev/null 2>&1 || $SUDO apt-get update
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
