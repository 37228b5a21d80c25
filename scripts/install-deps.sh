#!/bin/sh
# Install the Debian 12 packages buzon needs to build (build), to run its tests (check)
# or its benchmarks (bench), or to build the Debian package (deb). Installs only what is
# missing; safe to run repeatedly.
set -eu
BUILD="gcc clang meson ninja-build pkg-config libevent-dev libssl-dev libcrypt-dev
libargon2-dev libutf8proc-dev libpam0g-dev libseccomp-dev liblmdb-dev zlib1g-dev libjansson-dev openssl
scdoc libsystemd-dev"
# scdoc (man pages) and libsystemd-dev (sd_notify) are optional: the build goes without them
CHECK="libcmocka-dev python3 curl isync mutt tmux valgrind libclang-rt-14-dev strace gdb
postfix swaks fetchmail testssl.sh dovecot-sieve dovecot-imapd sieve-connect
roundcube roundcube-sqlite3 roundcube-plugins php-net-sieve php-cli php-sqlite3 chromium
fonts-ipafont-gothic nodejs certbot pebble systemd gsasl libsasl2-modules prometheus
python3-cryptography"
# gsasl: an independent SCRAM client for tests/scram; libsasl2-modules: Cyrus SASL's
# SCRAM plugin, through which mbsync logs in there; prometheus: promtool and a private
# Prometheus server for tests/metrics; python3-cryptography: the keys and tokens
# tests/oauth makes
# php-net-sieve: the ManageSieve client of Roundcube's managesieve plugin (only Suggested
# by roundcube-plugins), for tests/webmail's managesieve kind.
# systemd: systemd-analyze for tests/systemd (the tests never need systemd as PID 1).
# dovecot-sieve: Pigeonhole's sievec, the reference of tests/sieve/run.py (pulls dovecot-core);
# dovecot-imapd: Dovecot reads buzon's maildirsize in tests/delivery (quota). Tests never
# use a system Dovecot: they run its binaries with private configurations.
BENCH="dovecot-lmtpd linux-perf eatmydata libclamav12 libcom-err2 libical3 libicu72 libjansson4
libkrb5-3 libldap-2.5-0 libpcre3 libpq5 libsasl2-2 libsqlite3-0 libwrap0 libxapian30 libxml2
libzephyr4 libbrotli1 libnghttp2-14 libshp2 libzstd1"
# The libraries are those of Cyrus IMAP 3.6 (cyrus-common, cyrus-imapd, cyrus-caldav), which
# bench/jmap/run.py unpacks itself (apt-get download + dpkg-deb -x into
# /var/tmp/buzon-bench/cyrus) and runs privately: the packages conflict with dovecot-imapd.
# eatmydata: fsync as a no-op while it fills Cyrus by APPEND (not while it measures).
# make deb (scripts/build-deb.sh) and tests/package/run.py (a suite of make check)
DEB="debhelper dpkg-dev fakeroot lintian devscripts"
want=$BUILD
for what in "$@"; do
	case $what in
	build) ;;
	check) want="$want $CHECK $DEB" ;;	# tests/package is in make check
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
