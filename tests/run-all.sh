#!/bin/sh
# run-all.sh — every test suite of buzon, run by `make check` after it has built
# build/ (normal) and build-asan/ (ASan+UBSan):
#   unit      meson test --suite unit, in both builds
#   docs      tests/docs/run.py (the README's configuration table, buzon.conf(5) and
#             contrib/buzon.conf are generated from docs/man/buzon.conf.keys, which
#             matches src/lib/config.c; buzon(8) has every command of cli.c's usage)
#   systemd   tests/systemd/run.py (systemd-analyze verify on the unit; sd_notify READY,
#             RELOADING, STATUS, STOPPING on a socket of the test; the unit's capabilities)
#             on build/buzon
#   protocol  tests/protocol/run.py --stdio (scripted IMAP dialogues), both builds, and
#             --serve (one process for all sessions of the user) on build
#   compress  tests/compress/run.py (COMPRESS=DEFLATE through zlib: commands, a non-reading
#             client's RSS, a decompression bomb, corrupt input), both builds
#   security  tests/security/run.py (black-box security checks) on build/buzon
#   faults    tests/faults/run.py (kill -9 at chosen syscalls via strace, corrupted uidlists,
#             injected I/O errors, a full tmpfs; root only, else SKIP) on build/buzon
#   fuzz      fuzz/run.sh: builds build-fuzz (clang), replays corpora, fuzzes each target
#   hostile   tests/hostile/run.py (hostile input: literals, NUL, nesting, floods, MIME
#             bombs, path-like names, LMTP smuggling, brute-force ban) on build/buzon
#   auth      tests/auth/run.py (system users through PAM: equal failure times, the PAM
#             worker pool, PAM_RHOST; root only, else SKIP) on build/buzon
#   resilience tests/resilience/run.py (one client must never take the service down: NUL
#             logins, non-reading floods, 1000-recipient LMTP, auth floods, EMFILE, connection
#             caps, kill -9 of a login process, malformed IPC, a 60 s chaos run; root only)
#             on build/buzon, and R-01/02a/03/05/06/09/10 on build-asan/buzon
#   delivery  tests/delivery/run.py (LMTP, buzon deliver, mbox import, faults, private Postfix),
#             both builds
#   submission tests/submission/run.py (the auth_listen socket: the Dovecot auth protocol
#             raw, malformed and flooded; a private Postfix submission service with
#             smtpd_sasl_type = dovecot and swaks: PLAIN, LOGIN, wrong password, ban,
#             no relay without AUTH) on build/buzon
#   sort      tests/sort/run.py (SORT against a reference implementation over generated
#             folders) on build/buzon, one round on build-asan/buzon
#   pop3      tests/pop3/run.py (POP3 dialogues, poplib, curl, fetchmail, IMAP EXPUNGE)
#   scram     tests/scram/run.py (SCRAM-SHA-256/-1/-256-PLUS over IMAP with gsasl and a
#             Python client, doveadm pw credentials, wrong binding, ban) on build/buzon
#   oauth     tests/oauth/run.py (OAUTHBEARER and XOAUTH2 with JWTs signed by keys made for
#             the run: valid, expired, wrong audience/issuer/signature/kid, alg none, HS256;
#             imaplib, curl --oauth2-bearer over IMAP and POP3; reload; ban) on build/buzon
#   managesieve tests/managesieve/run.py (ManageSieve dialogues, STARTTLS, SASL, every
#             command and response code, limits; sieve-connect) on build/buzon
#   jmap      tests/jmap/run.py (JMAP: jmap-jam from npm over HTTP and HTTPS, ids equal
#             IMAP's, every request and method error, hostile HTTP) on build/buzon
#   sieve     tests/sieve/run.py (`buzon sieve check`: its exit codes and messages, and
#             accept/reject of ~190 scripts against Pigeonhole's sievec from dovecot-sieve)
#             on build/buzon
#   sieve-exec tests/sieve/exec.py (`buzon sieve test` side by side with Pigeonhole's
#             sieve-test: ~165 scripts, messages and envelopes) on build/buzon
#   sieve-lda tests/sieve/lda.py (`buzon deliver` side by side with Pigeonhole's
#             dovecot-lda: ~25 scripts; folders, flags, exit status, what is sent)
#   logjson   tests/logjson/run.py (log_format = json: every line of a server's log, the
#             children's too, is a JSON object with ts/level/proc/pid/msg and fields)
#   metrics   tests/metrics/run.py (metrics_listen: counters before and after a load,
#             promtool check metrics, OpenMetrics, hostile HTTP clients, a private
#             Prometheus scraping it) on build/buzon
#   importcfg tests/importcfg/run.py (`buzon import-dovecot-config` on Debian's stock
#             Dovecot configuration, doveconf -n, two fixture setups, malformed input;
#             each result passes `buzon check`; the stock, system-users and virtual-users
#             results each serve a real IMAP login, the first two to a PAM system user)
#   admin     tests/admin/run.py (the control socket: buzon who, kick with BYE, mailbox
#             status against IMAP STATUS, quota/index through the server, ban list|remove,
#             --json, malformed requests, non-reading control clients, a peer of another
#             uid) on build/buzon
#   index     tests/index/run.py (the LMDB index across mail process restarts, a damaged
#             index file, SIGKILL, `buzon index check|rebuild`) on build/buzon
#   interop   tests/interop/run.py (curl, mbsync, mutt, openssl, imaplib) on build/buzon, and
#             its protocol-level tests (imaplib) again on build-asan/buzon
#   webmail   tests/webmail/run.py (Roundcube in headless Chromium over IMAPS, STARTTLS
#             and plain loopback IMAP, and its managesieve plugin's filter and vacation
#             reply through a private Postfix; screenshots in $LOGDIR/webmail) on build/buzon
#   package   tests/package/run.py (root: make deb, lintian, dpkg -i, the installed server,
#             dpkg -r, dpkg -P, the file system compared with before)
#   acme      tests/acme/run.py (certbot + pebble issue and renew a certificate, deploy
#             hook `buzon reload`; SNI; expiry warning) on build/buzon
#   benchsmoke tests/bench-smoke/run.py (bench/jmap/run.py --quick, 300 messages: the
#             JMAP benchmark's harness runs and buzon, Cyrus if unpacked, Roundcube over
#             buzon and Dovecot give the same list; no timing asserts; about 30 s)
# Each suite's output goes to $LOGDIR (default build/test-logs); the summary of each
# suite and the output of failed tests are shown indented.  The last line is exactly
# "N passed, M failed" summing every suite; the exit status is 1 if anything failed.
# A suite that cannot run (missing build, runner crash without a summary) counts as
# one failure.  Environment: BUILD, ASAN_BUILD, LOGDIR, SKIP_INTEROP=1, SKIP_SECURITY=1,
# SKIP_ASAN=1, SKIP_DELIVERY=1, SKIP_WEBMAIL=1, SKIP_BUZONMAIL=1, SKIP_ACME=1, SKIP_HOSTILE=1, SKIP_FAULTS=1,
# SKIP_AUTH=1, SKIP_RESILIENCE=1, SKIP_SUBMISSION=1, SKIP_PACKAGE=1,
# SKIP_FUZZ=1 (FUZZ_BUILD, FUZZ_SECONDS: see fuzz/run.sh), TEST_LANES=1 (one suite at
# a time instead of two lanes at once, see below).
set -u

cd "$(dirname "$0")/.." || exit 2
BUILD=${BUILD:-build}
ASAN_BUILD=${ASAN_BUILD:-build-asan}
LOGDIR=${LOGDIR:-$BUILD/test-logs}
mkdir -p "$LOGDIR" || exit 2
LOGDIR=$(cd "$LOGDIR" && pwd)
PY=${PYTHON:-python3}

# every suite's "PASSED FAILED", from both lanes, summed at the end
COUNTS=$LOGDIR/.counts
: >"$COUNTS"
count_last=$(date +%s)

indent() {
	sed 's/^/    /'
}

# count NAME PASS FAIL
# count LABEL PASSED FAILED: one summary line, with the seconds since the previous one
# (the suite's own time, build steps included), for keeping make check in its budget.
count() {
	now=$(date +%s)
	printf '%-34s %s passed, %s failed  (%ss)\n' "$1" "$2" "$3" "$((now - ${count_last:-$now}))"
	count_last=$now
	echo "$2 $3" >>"$COUNTS"
}

# unit DIR LABEL: meson's summary lines "Ok: N", "Fail: N", "Unexpected Pass: N",
# "Timeout: N" (meson 1.0).
unit() {
	dir=$1
	label=$2
	log=$LOGDIR/$label.log
	if [ ! -f "$dir/build.ninja" ]; then
		echo "$label: no build in $dir (run make check)" | indent
		count "$label" 0 1
		return
	fi
	meson test -C "$dir" --suite unit --print-errorlogs >"$log" 2>&1
	rc=$?
	ok=$(sed -n 's/^Ok: *\([0-9][0-9]*\).*/\1/p' "$log" | tail -n 1)
	fail=0
	for k in 'Fail' 'Unexpected Pass' 'Timeout'; do
		n=$(sed -n "s/^$k: *\([0-9][0-9]*\).*/\1/p" "$log" | tail -n 1)
		fail=$((fail + ${n:-0}))
	done
	if [ -z "$ok" ]; then
		if grep -q 'No suitable tests defined' "$log"; then
			ok=0
		else
			tail -n 30 "$log" | indent
			ok=0
			fail=$((fail + 1))
		fi
	elif [ "$rc" -ne 0 ] && [ "$fail" -eq 0 ]; then
		tail -n 30 "$log" | indent
		fail=1
	fi
	if [ "$fail" -gt 0 ]; then
		grep -E '^ *[0-9]+/[0-9]+ .*(FAIL|TIMEOUT|UNEXPECTEDPASS)' "$log" | indent
	fi
	count "$label" "$ok" "$fail"
}

# runner LABEL LOG CMD...: a runner that ends with "N passed, M failed".
runner() {
	label=$1
	log=$2
	shift 2
	"$@" >"$log" 2>&1
	rc=$?
	summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
	if [ -z "$summary" ]; then
		tail -n 40 "$log" | indent
		count "$label" 0 1
		return
	fi
	p=$(echo "$summary" | sed 's/^\([0-9]*\) passed.*/\1/')
	f=$(echo "$summary" | sed 's/^[0-9]* passed, \([0-9]*\) failed.*/\1/')
	if [ "$f" -gt 0 ]; then
		grep -v -E '^PASS |^[0-9]+ passed, [0-9]+ failed' "$log" | head -n 200 | indent
	elif [ "$rc" -ne 0 ]; then
		tail -n 20 "$log" | indent
		f=1
	fi
	count "$label" "$p" "$f"
}

have_binary() {
	if [ -x "$1/buzon" ]; then
		return 0
	fi
	echo "$2: no $1/buzon (run make check)" | indent
	count "$2" 0 1
	return 1
}

# Sanitizer settings for the ASan runs; buzontest.py puts log_path into each test's
# own directory and scans it at teardown.
SAN_ASAN="detect_leaks=1:abort_on_error=0"
SAN_UBSAN="print_stacktrace=1:halt_on_error=1"

# The build of a suite that runs once: the ASan+UBSan one when it is there (SKIP_ASAN=1:
# the normal one), so that those suites run instrumented too; the normal build is still
# what protocol, delivery, unit, resilience, compress, interop, sort, security, faults,
# auth, package and the Roundcube suite run.
san_build() {
	if [ "${SKIP_ASAN:-0}" != 1 ] && [ -x "$ASAN_BUILD/buzon" ]; then
		echo "$ASAN_BUILD"
	else
		echo "$BUILD"
	fi
}
SAN_ENV="env ASAN_OPTIONS=$SAN_ASAN UBSAN_OPTIONS=$SAN_UBSAN"

# Each suite is a function s_NAME; the lanes below run them.
# package: the .deb built, linted, installed, removed and purged on this machine (root
# only, else it reports a skip). auth, importcfg and package each write /etc/pam.d/buzon:
# they are in the same lane, one after the other.
s_package() {
	if [ -f tests/package/run.py ] && [ "${SKIP_PACKAGE:-0}" != 1 ]; then
		runner package "$LOGDIR/package.log" "$PY" tests/package/run.py
	fi
}

s_unit() {
	unit "$BUILD" unit
	[ "${SKIP_ASAN:-0}" = 1 ] || unit "$ASAN_BUILD" unit-asan
}

s_docs() {
	if [ -f tests/docs/run.py ]; then
		runner docs "$LOGDIR/docs.log" env BUZON="$BUILD/buzon" "$PY" tests/docs/run.py
	fi
}

s_systemd() {
	if [ -f tests/systemd/run.py ] && have_binary "$BUILD" systemd; then
		runner systemd "$LOGDIR/systemd.log" env BUZON="$BUILD/buzon" "$PY" tests/systemd/run.py
	fi
}

s_protocol() {
	if [ -f tests/protocol/run.py ]; then
		if have_binary "$BUILD" protocol; then
			runner protocol "$LOGDIR/protocol.log" \
			    "$PY" tests/protocol/run.py -j 3 --stdio "$BUILD/buzon imap -c {config} -u {user}"
			# every session of the user in one process (the mail process path): the
			# scripts marked @one-process (\Recent, NOTIFY, CONDSTORE across sessions)
			if [ -x "$BUILD/tests/unit/imap/buzon-imap-stdio" ]; then
				runner protocol-serve "$LOGDIR/protocol-serve.log" \
				    "$PY" tests/protocol/run.py -j 3 --serve \
				    "$BUILD/tests/unit/imap/buzon-imap-stdio -c {config} -u {user} -l {port}"
			else
				echo "protocol-serve: no $BUILD/tests/unit/imap/buzon-imap-stdio" | indent
				count protocol-serve 0 1
			fi
		fi
		if [ "${SKIP_ASAN:-0}" != 1 ] && have_binary "$ASAN_BUILD" protocol-asan; then
			runner protocol-asan "$LOGDIR/protocol-asan.log" \
			    env ASAN_OPTIONS="$SAN_ASAN" UBSAN_OPTIONS="$SAN_UBSAN" \
			    "$PY" tests/protocol/run.py -j 3 --stdio "$ASAN_BUILD/buzon imap -c {config} -u {user}"
		fi
	fi
}

# COMPRESS=DEFLATE: tests/protocol/run.py cannot speak DEFLATE (its own runner, on the
# one-process test server); under ASan without the RSS cases
s_compress() {
	if [ -f tests/compress/run.py ] && have_binary "$BUILD" compress; then
		runner compress "$LOGDIR/compress.log" "$PY" tests/compress/run.py --build "$BUILD"
		if [ "${SKIP_ASAN:-0}" != 1 ] && have_binary "$ASAN_BUILD" compress-asan; then
			runner compress-asan "$LOGDIR/compress-asan.log" \
			    env ASAN_OPTIONS="$SAN_ASAN" UBSAN_OPTIONS="$SAN_UBSAN" \
			    "$PY" tests/compress/run.py --build "$ASAN_BUILD" -k session -k idle -k bad \
			    -k pipelined -k corrupt -k stream
		fi
	fi
}

s_security() {
	if [ -f tests/security/run.py ] && [ "${SKIP_SECURITY:-0}" != 1 ]; then
		if have_binary "$BUILD" security; then
			runner security "$LOGDIR/security.log" \
			    env BUZON="$BUILD/buzon" "$PY" tests/security/run.py
		fi
	fi
}

s_delivery() {
	if [ -f tests/delivery/run.py ] && [ "${SKIP_DELIVERY:-0}" != 1 ]; then
		if have_binary "$BUILD" delivery; then
			runner delivery "$LOGDIR/delivery.log" "$PY" tests/delivery/run.py --buzon "$BUILD/buzon"
		fi
		if [ "${SKIP_ASAN:-0}" != 1 ] && have_binary "$ASAN_BUILD" delivery-asan; then
			runner delivery-asan "$LOGDIR/delivery-asan.log" \
			    env ASAN_OPTIONS="$SAN_ASAN" UBSAN_OPTIONS="$SAN_UBSAN" \
			    "$PY" tests/delivery/run.py --buzon "$ASAN_BUILD/buzon"
		fi
	fi
}

s_submission() {
	b=$(san_build)
	if [ -f tests/submission/run.py ] && [ "${SKIP_SUBMISSION:-0}" != 1 ] &&
	    have_binary "$b" submission; then
		runner submission "$LOGDIR/submission.log" \
		    $SAN_ENV "$PY" tests/submission/run.py --buzon "$b/buzon"
	fi
}

s_sieve() {
	b=$(san_build)
	if [ -f tests/sieve/run.py ] && have_binary "$b" sieve; then
		runner sieve "$LOGDIR/sieve.log" $SAN_ENV "$PY" tests/sieve/run.py --buzon "$b/buzon"
		runner sieve-exec "$LOGDIR/sieve-exec.log" \
		    $SAN_ENV "$PY" tests/sieve/exec.py --buzon "$b/buzon"
		runner sieve-lda "$LOGDIR/sieve-lda.log" \
		    $SAN_ENV "$PY" tests/sieve/lda.py --buzon "$b/buzon"
	fi
}

s_logjson() {
	b=$(san_build)
	if [ -f tests/logjson/run.py ] && have_binary "$b" logjson; then
		runner logjson "$LOGDIR/logjson.log" $SAN_ENV "$PY" tests/logjson/run.py --buzon "$b/buzon"
	fi
}

s_metrics() {
	b=$(san_build)
	if [ -f tests/metrics/run.py ] && have_binary "$b" metrics; then
		runner metrics "$LOGDIR/metrics.log" $SAN_ENV "$PY" tests/metrics/run.py --buzon "$b/buzon"
	fi
}

# the JMAP code (HTTP, JSON, MIME) is the most exposed to hostile input: an upload's
# Content-Type was once read past its end, found once the suite ran instrumented
s_jmap() {
	b=$(san_build)
	if [ -f tests/jmap/run.py ] && have_binary "$b" jmap; then
		runner jmap "$LOGDIR/jmap.log" $SAN_ENV "$PY" tests/jmap/run.py --buzon "$b/buzon"
	fi
}

# bench-smoke: bench/jmap/run.py --quick on 300 messages works and its systems agree
# (no timing asserts; make bench measures)
s_benchsmoke() {
	if [ -f tests/bench-smoke/run.py ] && have_binary "$BUILD" bench-smoke; then
		runner bench-smoke "$LOGDIR/bench-smoke.log" "$PY" tests/bench-smoke/run.py \
		    --buzon "$BUILD/buzon"
	fi
}

s_importcfg() {
	if [ -f tests/importcfg/run.py ] && have_binary "$BUILD" importcfg; then
		runner importcfg "$LOGDIR/importcfg.log" "$PY" tests/importcfg/run.py --buzon "$BUILD/buzon"
	fi
}

s_index() {
	b=$(san_build)
	if [ -f tests/index/run.py ] && have_binary "$b" index; then
		runner index "$LOGDIR/index.log" $SAN_ENV "$PY" tests/index/run.py --buzon "$b/buzon"
	fi
}

s_admin() {
	b=$(san_build)
	if [ -f tests/admin/run.py ] && have_binary "$b" admin; then
		runner admin "$LOGDIR/admin.log" $SAN_ENV "$PY" tests/admin/run.py --buzon "$b/buzon"
	fi
}

s_sort() {
	if [ -f tests/sort/run.py ] && have_binary "$BUILD" sort; then
		runner sort "$LOGDIR/sort.log" "$PY" tests/sort/run.py --buzon "$BUILD/buzon"
		if [ "${SKIP_ASAN:-0}" != 1 ] && have_binary "$ASAN_BUILD" sort-asan; then
			runner sort-asan "$LOGDIR/sort-asan.log" \
			    env ASAN_OPTIONS="$SAN_ASAN" UBSAN_OPTIONS="$SAN_UBSAN" \
			    "$PY" tests/sort/run.py --buzon "$ASAN_BUILD/buzon" --rounds 1
		fi
	fi
}

s_pop3() {
	b=$(san_build)
	if [ -f tests/pop3/run.py ] && have_binary "$b" pop3; then
		runner pop3 "$LOGDIR/pop3.log" $SAN_ENV "$PY" tests/pop3/run.py --buzon "$b/buzon"
	fi
}

s_scram() {
	b=$(san_build)
	if [ -f tests/scram/run.py ] && have_binary "$b" scram; then
		runner scram "$LOGDIR/scram.log" $SAN_ENV "$PY" tests/scram/run.py --buzon "$b/buzon"
	fi
}

s_oauth() {
	b=$(san_build)
	if [ -f tests/oauth/run.py ] && have_binary "$b" oauth; then
		runner oauth "$LOGDIR/oauth.log" $SAN_ENV "$PY" tests/oauth/run.py --buzon "$b/buzon"
	fi
}

s_managesieve() {
	b=$(san_build)
	if [ -f tests/managesieve/run.py ] && have_binary "$b" managesieve; then
		runner managesieve "$LOGDIR/managesieve.log" \
		    $SAN_ENV "$PY" tests/managesieve/run.py --buzon "$b/buzon"
	fi
}

s_hostile() {
	b=$(san_build)
	if [ -f tests/hostile/run.py ] && [ "${SKIP_HOSTILE:-0}" != 1 ] && have_binary "$b" hostile; then
		runner hostile "$LOGDIR/hostile.log" $SAN_ENV BUZON="$b/buzon" "$PY" tests/hostile/run.py
	fi
}

s_auth() {
	if [ -f tests/auth/run.py ] && [ "${SKIP_AUTH:-0}" != 1 ] && have_binary "$BUILD" auth; then
		runner auth "$LOGDIR/auth.log" env BUZON="$BUILD/buzon" "$PY" tests/auth/run.py
	fi
}

s_resilience() {
	if [ -f tests/resilience/run.py ] && [ "${SKIP_RESILIENCE:-0}" != 1 ]; then
		if have_binary "$BUILD" resilience; then
			runner resilience "$LOGDIR/resilience.log" env BUZON="$BUILD/buzon" "$PY" tests/resilience/run.py
		fi
		# the cases that exercise the new IPC, hand-over and cap code paths, under ASan+UBSan
		# (the floods and the chaos run only on the normal build: they measure time and RSS)
		if [ "${SKIP_ASAN:-0}" != 1 ] && have_binary "$ASAN_BUILD" resilience-asan; then
			runner resilience-asan "$LOGDIR/resilience-asan.log" \
			    env ASAN_OPTIONS="$SAN_ASAN" UBSAN_OPTIONS="$SAN_UBSAN" BUZON="$ASAN_BUILD/buzon" \
			    "$PY" tests/resilience/run.py -k R-01 -k R-02a -k R-03 -k R-05 -k R-06 -k R-09 -k R-10
		fi
	fi
}

s_faults() {
	if [ -f tests/faults/run.py ] && [ "${SKIP_FAULTS:-0}" != 1 ] && have_binary "$BUILD" faults; then
		runner faults "$LOGDIR/faults.log" env BUZON="$BUILD/buzon" "$PY" tests/faults/run.py
	fi
}

# fuzz: build the libFuzzer targets (clang), replay every committed corpus and
# regression input, then fuzz each target for FUZZ_SECONDS (3) seconds.
s_fuzz() {
	if [ -x fuzz/run.sh ] && [ "${SKIP_FUZZ:-0}" != 1 ]; then
		runner fuzz "$LOGDIR/fuzz.log" env LOGDIR="$LOGDIR" fuzz/run.sh
	fi
}

s_interop() {
	if [ "${SKIP_INTEROP:-0}" != 1 ]; then
		if have_binary "$BUILD" interop; then
			runner interop "$LOGDIR/interop.log" \
			    "$PY" tests/interop/run.py --buzon "$BUILD/buzon"
		fi
		if [ "${SKIP_ASAN:-0}" != 1 ] && have_binary "$ASAN_BUILD" interop-asan; then
			runner interop-asan "$LOGDIR/interop-asan.log" \
			    env ASAN_OPTIONS="$SAN_ASAN" UBSAN_OPTIONS="$SAN_UBSAN" \
			    "$PY" tests/interop/run.py --kind protocol --buzon "$ASAN_BUILD/buzon" --timeout 300
		fi
	fi
}

s_webmail() {
	if [ -f tests/webmail/run.py ] && [ "${SKIP_WEBMAIL:-0}" != 1 ]; then
		if have_binary "$BUILD" webmail; then
			runner webmail "$LOGDIR/webmail.log" \
			    "$PY" tests/webmail/run.py --buzon "$BUILD/buzon" --artifacts "$LOGDIR/webmail"
		fi
	fi
}

s_buzonmail() {
	b=$(san_build)
	if [ -f tests/buzonmail/run.py ] && [ "${SKIP_BUZONMAIL:-0}" != 1 ]; then
		if have_binary "$b" buzonmail; then
			runner buzonmail "$LOGDIR/buzonmail.log" $SAN_ENV \
			    "$PY" tests/buzonmail/run.py --buzon "$b/buzon" --artifacts "$LOGDIR/buzonmail"
		fi
	fi
}

s_acme() {
	if [ -f tests/acme/run.py ] && [ "${SKIP_ACME:-0}" != 1 ]; then
		if have_binary "$BUILD" acme; then
			runner acme "$LOGDIR/acme.log" \
			    "$PY" tests/acme/run.py --buzon "$BUILD/buzon"
		fi
	fi
}

# Two lanes run at once (TEST_LANES=1: one after the other). Lane A has the suites that
# measure time or descriptors (hostile checks memory bounds, not time) (they share the machine with lane B but not with
# each other); lane B starts with the fuzz suite, whose clang build is the longest
# CPU-bound step, and continues with suites that only check behaviour. Each lane draws
# its test ports from its own range (tests/lib/buzontest.py free_ports), so the two
# never race for a port.
# (LANE_A and LANE_B in the environment replace the lists, e.g. to run a few suites.)
LANE_A=${LANE_A:-"unit docs systemd protocol security delivery submission auth importcfg
    resilience faults package"}
LANE_B=${LANE_B:-"fuzz compress hostile sieve logjson metrics index admin sort pop3 scram oauth
    managesieve jmap interop webmail buzonmail acme benchsmoke"}

run_lane() {
	for s in $1; do
		"s_$s"
	done
}

start=$(date +%s)
if [ "${TEST_LANES:-2}" = 1 ]; then
	run_lane "$LANE_A $LANE_B"
else
	(export BUZON_TEST_PORTS=10000-19999; run_lane "$LANE_B") &
	lane_b=$!
	export BUZON_TEST_PORTS=20000-29999
	run_lane "$LANE_A"
	wait "$lane_b"
fi
total_pass=0
total_fail=0
while read -r p f; do
	total_pass=$((total_pass + p))
	total_fail=$((total_fail + f))
done <"$COUNTS"
echo "logs in $LOGDIR; $(($(date +%s) - start)) s"
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
