#!/bin/sh
# run.sh — buzon and Dovecot side by side on the same data (`make bench`).
#
# Builds buzon (the last commit, debugoptimized like the default build) and the load
# generator (bench/loadgen.c), writes a benchmark Maildir once (bench/genmail.py:
# 20,000 messages in INBOX, 100,000 with BENCH_LARGE=1, plus a 2,000-message folder
# "Mixed" and a 200-message folder "Closed"), gives each server its own copy (hard links: neither server rewrites a
# message file, only renames and unlinks), starts a private buzon (build-bench/buzon
# serve) and a private Dovecot 2.3 from Debian (dovecot -F -c its own config; no system
# service is touched) on 127.0.0.1 high ports with implicit TLS and the same
# certificate and SHA512-CRYPT password, runs every workload against buzon and then
# against Dovecot, and prints a table: operation, buzon, dovecot, ratio, target.
# BENCH_WORKTREE=1 measures the working tree instead of the last commit, BENCH_BUZON=PATH
# a given binary (a patched build).
# LMTP is measured by bench/lmtp/run.py (the LMTP helper's script) when it exists, and
# opening INBOX through JMAP (buzon, Cyrus) and Roundcube (over buzon and Dovecot IMAP)
# by bench/jmap/run.py.
#
# Everything lives in BENCH_DIR (default build-bench-data/). Run as root (the mail
# processes then run as uid/gid 2000 like a real server) or as a normal user.
# Environment:
#   BENCH_LARGE=1        100,000 messages instead of 20,000 (BENCH_MESSAGES=N: any count)
#   BENCH_MIXED_MSGS=2000, BENCH_CLOSED_MSGS=200  sizes of the folders Mixed and Closed
#   BENCH_REPS=5         repetitions of each targeted operation (median reported)
#   BENCH_COLD_REPS=3    repetitions of SELECT cold and SELECT after the restart
#   BENCH_RESTART_WAIT=30  seconds to wait for buzon's mail process to exit by itself
#                        before the SELECT-after-restart (then it gets SIGTERM)
#   BENCH_IDLE=1000      idle IDLE connections for the memory figure
#   BENCH_MIXED="10 50"  client counts of the mixed workload, BENCH_MIXED_SECS=20 each;
#   BENCH_MIXED_USERS=10 then the same mix over that many users, 2 clients each
#   BENCH_CLOSED="10 50" client counts (one user) of the closed-loop mix over the
#                        folder Closed, BENCH_CLOSED_SECS=20 each (default: MIXED_SECS);
#   BENCH_CLOSED_USERS=10, BENCH_CLOSED_PER_USER=5  then across that many users;
#   BENCH_CLOSED_RELOGIN=10  each of those again with LOGOUT + LOGIN every 10
#                        operations (0: not)
#   BENCH_CONNECT_SECS=10  connection setup: BENCH_CONNECT_CONNS=4 parallel loops
#   BENCH_LMTP_ARGS="..."  extra arguments of bench/lmtp/run.py (e.g. "-n 200 --repeat 1")
#   BENCH_JMAP_ARGS="..."  extra arguments of bench/jmap/run.py (e.g. "--reps 20 --seconds 5";
#                        it fills INBOX with the same BENCH_MESSAGES as the rest)
#   BENCH_ONLY="buzon dovecot"  servers to measure
#   BENCH_SKIP="..."     workloads to skip: select restart ops search sort mixed closed connect
#                        compare index idle lmtp jmap
#   BENCH_DIR=build-bench-data, BENCH_WORKTREE=1, BENCH_BUZON=PATH  (see above)
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
W=${BENCH_DIR:-$top/build-bench-data}
case $W in /*) ;; *) W=$top/$W ;; esac
if [ "${BENCH_LARGE:-0}" = 1 ]; then N=100000; else N=20000; fi
N=${BENCH_MESSAGES:-$N}
MIXED_MSGS=${BENCH_MIXED_MSGS:-2000}
REPS=${BENCH_REPS:-5}
COLD_REPS=${BENCH_COLD_REPS:-3}
IDLE_CONNS=${BENCH_IDLE:-1000}
MIXED=${BENCH_MIXED:-10 50}
MIXED_SECS=${BENCH_MIXED_SECS:-20}
MIXED_USERS=${BENCH_MIXED_USERS:-10}
CLOSED_MSGS=${BENCH_CLOSED_MSGS:-200}
CLOSED=${BENCH_CLOSED:-10 50}
CLOSED_SECS=${BENCH_CLOSED_SECS:-$MIXED_SECS}
CLOSED_USERS=${BENCH_CLOSED_USERS:-10}
CLOSED_PER_USER=${BENCH_CLOSED_PER_USER:-5}
CLOSED_RELOGIN=${BENCH_CLOSED_RELOGIN:-10}
RESTART_WAIT=${BENCH_RESTART_WAIT:-30}
# users bench0 .. bench<NUSERS-1>: as many as the mixed or the closed workload needs
NUSERS=$MIXED_USERS
[ "$CLOSED_USERS" -gt "$NUSERS" ] && NUSERS=$CLOSED_USERS
CONNECT_SECS=${BENCH_CONNECT_SECS:-10}
CONNECT_CONNS=${BENCH_CONNECT_CONNS:-4}
ONLY=${BENCH_ONLY:-buzon dovecot}
SKIP=${BENCH_SKIP:-}
BUZON_PORT=20993
DOVECOT_PORT=21993
PASS=bench
MAIL_ID=2000

say() { printf '%s\n' "bench: $*" >&2; }
skip() { case " $SKIP " in *" $1 "*) return 0 ;; esac; return 1; }

mkdir -p "$W"
RES=$W/results.txt
: >"$RES"

# ------------------------------------------------------------------ build
# buzon is built from the last commit (a `git archive` of HEAD in BENCH_DIR), so the
# figures belong to a commit and not to whatever is half-edited in the working tree;
# BENCH_WORKTREE=1 builds the working tree instead (in build-bench/).
if [ -n "${BENCH_BUZON:-}" ]; then
	BUZON=$BENCH_BUZON
	REV="given binary $BUZON"
	say "using $BUZON; building the load generator"
elif [ "${BENCH_WORKTREE:-0}" != 1 ] && git -C "$top" rev-parse --verify -q HEAD >/dev/null; then
	REV=$(git -C "$top" rev-parse --short HEAD)
	src=$W/src-$REV
	if [ ! -f "$src/.complete" ]; then
		rm -rf "$src"
		mkdir -p "$src"
		git -C "$top" archive HEAD | tar -x -C "$src"
		touch "$src/.complete"
	fi
	say "building buzon at $REV ($src) and the load generator"
	[ -f "$W/build-$REV/build.ninja" ] || meson setup "$W/build-$REV" "$src" -Dtests=disabled >/dev/null
	ninja -C "$W/build-$REV" buzon >/dev/null
	BUZON=$W/build-$REV/buzon
else
	say "building buzon from the working tree (build-bench) and the load generator"
	[ -f build-bench/build.ninja ] || meson setup build-bench >/dev/null
	ninja -C build-bench buzon >/dev/null
	REV="$(git -C "$top" describe --always --dirty 2>/dev/null || echo unknown), working tree"
	BUZON=$top/build-bench/buzon
fi
ln -sf "$BUZON" "$W/buzon-bin"
# shellcheck disable=SC2046
cc -O2 -g -Wall -Wextra -Wno-unused-parameter -o "$W/loadgen" bench/loadgen.c \
    $(pkg-config --cflags --libs libevent_openssl libevent openssl)
LG=$W/loadgen
command -v dovecot >/dev/null || { say "dovecot not installed (scripts/install-deps.sh bench)"; exit 1; }

# ------------------------------------------------------------------ data
if [ "$(id -u)" -eq 0 ]; then
	owner="$MAIL_ID:$MAIL_ID"
	chmod 0755 "$W"
else
	MAIL_ID=$(id -u)
	owner=""
fi
# v2: genmail.py marks subjects and senders for SEARCH SUBJECT / FROM, folder Closed
BASE=$W/base-v2-$N-$MIXED_MSGS-$CLOSED_MSGS
if [ ! -f "$BASE/.complete" ]; then
	say "writing $N + $MIXED_MSGS + $CLOSED_MSGS messages to $BASE (once)"
	rm -rf "$BASE" "$BASE.tmp"
	python3 bench/genmail.py "$BASE.tmp" "$N" --folder "Mixed:$MIXED_MSGS" \
	    --folder "Closed:$CLOSED_MSGS" >"$BASE.tmp.hits"
	mv "$BASE.tmp.hits" "$BASE.tmp/.hits"
	[ -n "$owner" ] && chown -R "$owner" "$BASE.tmp"
	touch "$BASE.tmp/.complete"
	mv "$BASE.tmp" "$BASE"
fi
hits() { awk -v w="$1" -v f="$2" '$1 == w && $2 == f { print $3 }' "$BASE/.hits"; }
HITS=$(hits search INBOX)
SUBJ_HITS=$(hits subject INBOX)
FROM_HITS=$(hits from INBOX)
CLOSED_SUBJ_HITS=$(hits subject Closed)
say "data: $N messages ($(du -sh "$BASE" | cut -f1)), SEARCH BODY zanzibar should find $HITS," \
    "SUBJECT kilimanjaro $SUBJ_HITS, FROM quimby $FROM_HITS"
# Read every file once so both servers start with the same warm page cache.
find "$BASE" -type f -print0 | xargs -0 cat >/dev/null

# users_file MAILROOT: passwd-file lines for bench and bench0 .. bench<NUSERS-1>
users_file() {
	printf 'bench:{SHA512-CRYPT}%s:%s:%s::%s::\n' "$HASH" "$MAIL_ID" "$MAIL_ID" "$1"
	k=0
	while [ $k -lt "$NUSERS" ]; do
		printf 'bench%d:{SHA512-CRYPT}%s:%s:%s::%s::\n' $k "$HASH" "$MAIL_ID" "$MAIL_ID" "$1"
		k=$((k + 1))
	done
}

# extra_users MAILROOT: bench0.. get an empty INBOX and their own copies of Mixed, Closed
extra_users() {
	k=0
	while [ $k -lt "$NUSERS" ]; do
		u=$1/bench$k
		rm -rf "$u"
		mkdir -p "$u/cur" "$u/new" "$u/tmp"
		cp -al "$BASE/.Mixed" "$u/.Mixed"
		cp -al "$BASE/.Closed" "$u/.Closed"
		chmod 0700 "$u"
		[ -n "$owner" ] && chown "$owner" "$u" "$u/cur" "$u/new" "$u/tmp"
		k=$((k + 1))
	done
}

fresh_copy() {	# fresh_copy DEST: the pristine data, hard-linked
	rm -rf "$1"
	mkdir -p "$(dirname "$1")"
	cp -al "$BASE" "$1"
	rm -f "$1/.hits" "$1/.complete"
}

# ------------------------------------------------------------------ TLS, users
scripts/mkcert.sh "$W/tls" localhost
chmod 0644 "$W/tls/fullchain.pem"
HASH=$(openssl passwd -6 "$PASS")
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# ------------------------------------------------------------------ buzon
buzon_pid=""
dovecot_pid=""
cleanup() {
	[ -n "$buzon_pid" ] && kill "$buzon_pid" 2>/dev/null || true
	[ -n "$dovecot_pid" ] && kill "$dovecot_pid" 2>/dev/null || true
	wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

wait_port() {	# wait_port PORT PID: until something listens (or the server died)
	i=0
	while ! python3 -c 'import socket, sys
socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1).close()' "$1" 2>/dev/null; do
		kill -0 "$2" 2>/dev/null || { say "server pid $2 died"; return 1; }
		i=$((i + 1))
		[ $i -gt 100 ] && { say "port $1 never opened"; return 1; }
		sleep 0.1
	done
}

start_buzon() {
	B=$W/buzon
	rm -rf "$B/run"
	mkdir -p "$B/run" "$B/mail"
	chmod 0755 "$B" "$B/mail" "$B/run"
	fresh_copy "$B/mail/bench"
	extra_users "$B/mail"
	if [ "$(id -u)" -eq 0 ]; then
		ids="login_user = nobody"
	else
		ids="login_user = $(id -un)"
	fi
	users_file "$B/mail" >"$B/users"
	chmod 0600 "$B/users"
	cat >"$B/buzon.conf" <<EOF
# written by bench/run.sh
listen = 127.0.0.1
imap_port = 0
imaps_port = $BUZON_PORT
ssl_cert = $W/tls/fullchain.pem
ssl_key = $W/tls/privkey.pem
passwd_file = $B/users
mail_location = maildir:$B/mail/%u
base_dir = $B/run
$ids
mail_max_userip_connections = 100000
# All load comes from 127.0.0.1: without this, auth checks one password at a time per
# client network and answers TEMPFAIL past 20 queued (a burst of 50 logins fails).
auth_trusted_networks = 127.0.0.0/8
log_level = warn
EOF
	"$BUZON" serve -c "$B/buzon.conf" 2>>"$W/buzon.log" &
	buzon_pid=$!
	wait_port "$BUZON_PORT" "$buzon_pid"
	MAILDIR=$B/mail/bench
	# cold: no uidlist, no mail process; restart: only the mail process is gone
	cat >"$W/buzon-reset.sh" <<EOF
#!/bin/sh
# buzon-reset.sh [cold|restart]: the bench user's mail process (its in-memory state) gone.
# cold: stopped at once (SIGTERM) and the uidlist removed. restart: wait (at most
# $RESTART_WAIT s) until it has exited by itself, as it does ~10 s after its last client
# left, i.e. until no child of the master is a mail process (/proc/PID/cmdline has
# "--role mail"; the master, auth and login processes stay); SIGTERM only if one is
# still there then (logged to $W/restart.log). The page cache is left alone.
mailprocs() {
	for p in \$(ps -o pid= --ppid $buzon_pid); do
		if tr '\0' ' ' </proc/\$p/cmdline 2>/dev/null | grep -q -- '--role mail'; then
			echo \$p
		fi
	done
}
if [ "\${1:-}" = restart ]; then
	t0=\$(date +%s)
	i=0
	while [ -n "\$(mailprocs)" ] && [ \$i -lt $((RESTART_WAIT * 20)) ]; do
		sleep 0.05
		i=\$((i + 1))
	done
	left=\$(mailprocs)
	echo "restart: waited \$((\$(date +%s) - t0)) s; \${left:+still running: \$left, SIGTERM}\${left:-exited by itself}" >>"$W/restart.log"
fi
for p in \$(mailprocs); do
	kill \$p
	while kill -0 \$p 2>/dev/null; do sleep 0.01; done
done
if [ "\${1:-}" = cold ]; then
	rm -f "$MAILDIR/dovecot-uidlist" "$MAILDIR/dovecot-uidvalidity"* "$MAILDIR"/.*/dovecot-uidlist
fi
EOF
	chmod 0755 "$W/buzon-reset.sh"
}

stop_buzon() {
	kill "$buzon_pid" 2>/dev/null || true
	wait "$buzon_pid" 2>/dev/null || true
	buzon_pid=""
}

# ------------------------------------------------------------------ dovecot
start_dovecot() {
	D=$W/dovecot
	rm -rf "$D/run" "$D/state"
	mkdir -p "$D/run" "$D/state" "$D/mail"
	chmod 0755 "$D" "$D/mail" "$D/run"
	fresh_copy "$D/mail/bench"
	extra_users "$D/mail"
	users_file "$D/mail" >"$D/users"
	chmod 0640 "$D/users"
	if [ "$(id -u)" -eq 0 ]; then
		chgrp dovecot "$D/users"
		users="default_internal_user = dovecot
default_login_user = dovenull"
	else
		users="default_internal_user = $(id -un)
default_login_user = $(id -un)"
	fi
	dh=""
	[ -f /usr/share/dovecot/dh.pem ] && dh="ssl_dh = </usr/share/dovecot/dh.pem"
	# Debian's defaults otherwise (login processes in high-security mode: one per
	# connection); only the limits are raised so 1,000 connections fit.
	procs=$((IDLE_CONNS + 200))
	cat >"$D/dovecot.conf" <<EOF
# written by bench/run.sh: a private Dovecot instance, no system service
instance_name = buzon-bench
base_dir = $D/run
state_dir = $D/state
log_path = $W/dovecot.log
protocols = imap
listen = 127.0.0.1
$users
first_valid_uid = 500
ssl = required
ssl_cert = <$W/tls/fullchain.pem
ssl_key = <$W/tls/privkey.pem
$dh
disable_plaintext_auth = yes
auth_mechanisms = plain login
passdb {
  driver = passwd-file
  args = $D/users
}
userdb {
  driver = passwd-file
  args = $D/users
}
mail_location = maildir:$D/mail/%u
namespace inbox {
  inbox = yes
  separator = .
}
default_process_limit = $procs
default_client_limit = $((procs * 4))
default_vsz_limit = 1G
service imap-login {
  inet_listener imap {
    port = 0
  }
  inet_listener imaps {
    port = $DOVECOT_PORT
  }
}
protocol imap {
  mail_max_userip_connections = 100000
}
EOF
	dovecot -F -c "$D/dovecot.conf" 2>>"$W/dovecot.log" &
	dovecot_pid=$!
	wait_port "$DOVECOT_PORT" "$dovecot_pid"
	MAILDIR=$D/mail/bench
	cat >"$W/dovecot-reset.sh" <<EOF
#!/bin/sh
# dovecot-reset.sh [cold|restart]: imap processes end with their connection (restart:
# wait, at most 10 s, until none runs as uid $MAIL_ID); cold drops the index
if [ "\${1:-}" = restart ]; then
	i=0
	while [ \$i -lt 200 ]; do
		busy=""
		for p in \$(pgrep -u $MAIL_ID -x imap 2>/dev/null); do busy=1; done
		[ -z "\$busy" ] && break
		sleep 0.05
		i=\$((i + 1))
	done
fi
if [ "\${1:-}" = cold ]; then
	rm -f "$MAILDIR"/dovecot.index* "$MAILDIR"/dovecot-uidlist "$MAILDIR"/dovecot.list.index* \
	    "$MAILDIR"/dovecot-uidvalidity*
fi
EOF
	chmod 0755 "$W/dovecot-reset.sh"
}

stop_dovecot() {
	kill "$dovecot_pid" 2>/dev/null || true
	wait "$dovecot_pid" 2>/dev/null || true
	dovecot_pid=""
}

# ------------------------------------------------------------------ workloads
# record SERVER KEY VALUE
record() { printf '%s %s %s\n' "$1" "$2" "$3" >>"$RES"; }

# field NAME LINE: the value of NAME=... in a result line
field() { printf '%s\n' "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"; }

lg() {	# lg SERVER KEY FIELD ARGS...: run the load generator, record FIELD (and cpu)
	s=$1 key=$2 f=$3
	shift 3
	if [ "$s" = buzon ]; then port=$BUZON_PORT pid=$buzon_pid; else port=$DOVECOT_PORT pid=$dovecot_pid; fi
	if out=$("$LG" -p "$port" -u bench -w "$PASS" -P "$pid" "$@" 2>>"$W/loadgen.log"); then
		line=$(printf '%s\n' "$out" | grep '^result' | tail -n 1)
		printf '%s %s %s\n' "$s" "$key" "$line" >>"$W/raw.txt"
		v=$(field "$f" "$line")
		record "$s" "$key" "$v"
		cm=$(field cpu_median "$line")
		[ -n "$cm" ] && record "$s" "$key.cpu" "$cm"
		pk=$(field peak_rss_kib "$line")
		[ -n "$pk" ] && record "$s" peak_rss "$pk"
		say "$s $key: $v   ($line)"
		LAST=$line
	else
		record "$s" "$key" FAIL
		say "$s $key: FAILED (see $W/loadgen.log)"
		tail -n 3 "$W/loadgen.log" >&2
		LAST=""
	fi
}

settle() {	# settle SERVER: wait (<= 30 s) until the connections' processes are gone
	if [ "$1" = buzon ]; then pid=$buzon_pid; else pid=$dovecot_pid; fi
	i=0
	while [ "$(ps -o pid= --ppid "$pid" | wc -l)" -gt 12 ] && [ $i -lt 300 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	sleep 1
}

# Each workload runs against every server in turn before the next one starts, so a
# change in what else the machine runs affects both alike.
each() {	# each KEY FIELD ARGS...: the workload against each server
	for s in $ONLY; do
		lg "$s" "$@"
	done
}

for s in $ONLY; do
	case $s in
	buzon) start_buzon ;;
	dovecot) start_dovecot ;;
	*) say "unknown server $s"; exit 2 ;;
	esac
done

: >"$W/raw.txt"
: >"$W/loadgen.log"
: >"$W/restart.log"
if ! skip select; then
	for s in $ONLY; do
		lg "$s" select_cold median -e "$N" -r "$COLD_REPS" -x "$W/$s-reset.sh cold" op select
	done
	# Warm means steady state: Dovecot rescans a Maildir whose directories changed
	# within the last second or so, and the cold runs just moved new/ into cur/.
	sleep 2
	each select_warmup median -e "$N" -r 1 op select
	each select_warm median -e "$N" -r "$REPS" op select
	each select_held median -e "$N" -r "$REPS" -K op select
fi
if ! skip restart; then
	# the SELECT right after the mail process is gone: buzon's exits ~10 s after its last
	# client (the reset script waits for that, see above); Dovecot's imap process ended
	# with the last connection's LOGOUT, so its "restart" is the new login. Both warm.
	for s in $ONLY; do
		lg "$s" select_restart median -e "$N" -r "$COLD_REPS" -x "$W/$s-reset.sh restart" \
		    op select
	done
fi
if ! skip ops; then
	each fetch_flags median -e "$N" -r "$REPS" op fetch-flags
	for s in $ONLY; do
		lg "$s" fetch_envelope median -e "$N" -r "$REPS" op fetch-envelope
		record "$s" fetch_envelope_first "$(field first "$LAST")"
		record "$s" fetch_envelope_first.cpu "$(field cpu_first "$LAST")"
	done
	for s in $ONLY; do
		lg "$s" fetch_bodystructure median -e "$N" -r "$REPS" op fetch-bodystructure
		record "$s" fetch_bodystructure_first "$(field first "$LAST")"
		record "$s" fetch_bodystructure_first.cpu "$(field cpu_first "$LAST")"
	done
	each search_body median -e "$N" -s "$HITS" -r "$REPS" op search-body
	each store_seen median -e "$N" -r "$REPS" op store-seen
fi
if ! skip search; then
	# header SEARCHes; the median leaves out the first repetition (warm: second run on)
	each search_subject median -e "$N" -s "$SUBJ_HITS" -r "$REPS" op search-subject
	each search_from median -e "$N" -s "$FROM_HITS" -r "$REPS" op search-from
fi
if ! skip sort; then
	# SORT of the whole folder: the first repetition in the session, and the median of
	# the others (RFC 5256; the keys come from the same cached header fields as SEARCH)
	for op in date subject; do
		for s in $ONLY; do
			lg "$s" "sort_$op" median -e "$N" -s "$N" -r "$REPS" op "sort-$op"
			record "$s" "sort_${op}_first" "$(field first "$LAST")"
		done
	done
	# THREAD REFERENCES: every message appears once in the answer
	for s in $ONLY; do
		lg "$s" thread_refs median -e "$N" -s "$N" -r "$REPS" op thread-references
		record "$s" thread_refs_first "$(field first "$LAST")"
	done
fi
if ! skip mixed; then
	for c in $MIXED; do
		for s in $ONLY; do
			lg "$s" "mixed_$c" ops_per_sec -f Mixed -c "$c" -t "$MIXED_SECS" mixed
			record "$s" "mixed_$c.cpu" "$(field ops_per_cpu_sec "$LAST")"
		done
	done
	# the same mix spread over several users (2 clients each): one mail process per user
	if [ "$MIXED_USERS" -gt 0 ]; then
		for s in $ONLY; do
			lg "$s" mixed_users ops_per_sec -U "$MIXED_USERS" -f Mixed \
			    -c $((MIXED_USERS * 2)) -t "$MIXED_SECS" mixed
			record "$s" mixed_users.cpu "$(field ops_per_cpu_sec "$LAST")"
		done
	fi
fi
# closed_run KEY ARGS...: the closed-loop mix against each server, its figures recorded
closed_run() {
	key=$1
	shift
	for s in $ONLY; do
		lg "$s" "$key" cmds_per_sec -f Closed -e "$CLOSED_MSGS" -s "$CLOSED_SUBJ_HITS" \
		    -t "$CLOSED_SECS" "$@" closed
		# with -L the per-connection processes come and go: their CPU time is not seen
		case " $* " in *" -L "*) ;; *) record "$s" "$key.cpu" "$(field cmds_per_cpu_sec "$LAST")" ;; esac
		for f in p50 p99 append_p50 append_p99; do
			record "$s" "$key.$f" "$(field "${f}_ms" "$LAST")"
		done
	done
}
if ! skip closed; then
	for c in $CLOSED; do
		closed_run "closed_$c" -c "$c"
	done
	[ "$CLOSED_USERS" -gt 0 ] &&
	    closed_run closed_users -U "$CLOSED_USERS" -c $((CLOSED_USERS * CLOSED_PER_USER))
	if [ "$CLOSED_RELOGIN" -gt 0 ]; then
		for c in $CLOSED; do
			closed_run "closed_${c}_relogin" -c "$c" -L "$CLOSED_RELOGIN"
		done
		[ "$CLOSED_USERS" -gt 0 ] && closed_run closed_users_relogin -U "$CLOSED_USERS" \
		    -c $((CLOSED_USERS * CLOSED_PER_USER)) -L "$CLOSED_RELOGIN"
	fi
fi
if ! skip connect; then
	each connect logins_per_sec -c "$CONNECT_CONNS" -t "$CONNECT_SECS" connect
fi
# Do both answer the same? (After the ops: STORE left INBOX's flags alike on both, and
# before, it would fill Dovecot's cache ahead of the "first" FETCH figures.)
COMPARE=""
if ! skip compare && [ "$ONLY" = "buzon dovecot" ]; then
	say "---- comparing the answers (bench/compare.py)"
	if python3 bench/compare.py "$BUZON_PORT" "$DOVECOT_PORT" bench "$PASS" >"$W/compare.txt" \
	    2>&1; then
		COMPARE=$(tail -n 1 "$W/compare.txt")
	else
		COMPARE="compare: failed (see $W/compare.txt)"
	fi
	say "$COMPARE"
fi

# Index size per message after all the above (before idle restarts buzon on a fresh
# copy), over all folders of the user bench (INBOX, Mixed, Closed): buzon's per-user
# LMDB index (buzon.index at the Maildir root, or buzon-index*; the lock file not
# counted; "none" where the branch has none), written when a folder leaves memory, so
# measured after the mail process has exited (buzon-reset.sh restart); Dovecot's
# dovecot.index* and dovecot.list.index* (index, log, cache) of every folder. Apparent
# bytes (du -b) over the messages in cur/ and new/ of those folders. Each folder is
# SELECTed once first, so both servers have indexed all three whatever was skipped.
if ! skip index; then
	for s in $ONLY; do
		M=$W/$s/mail/bench
		if [ "$s" = buzon ]; then port=$BUZON_PORT; else port=$DOVECOT_PORT; fi
		for f in INBOX Mixed Closed; do
			"$LG" -p "$port" -u bench -w "$PASS" -f "$f" -r 1 op select \
			    >/dev/null 2>>"$W/loadgen.log" || say "$s: SELECT $f failed"
		done
		if [ "$s" = buzon ]; then
			"$W/buzon-reset.sh" restart
			files=$(find "$M" -maxdepth 1 -type f \( -name 'buzon.index*' -o \
			    -name 'buzon-index*' \) ! -name '*-lock' ! -name '*.lock')
		else
			files=$(find "$M" -maxdepth 2 -type f \( -name 'dovecot.index*' -o \
			    -name 'dovecot.list.index*' \))
		fi
		msgs=$(find "$M" -maxdepth 3 -type f \( -path '*/cur/*' -o -path '*/new/*' \) |
		    wc -l)
		if [ -n "$files" ]; then
			# shellcheck disable=SC2086
			b=$(du -cb $files | tail -n 1 | cut -f1)
			record "$s" index_per_msg "$(awk -v b="$b" -v n="$msgs" 'BEGIN { printf "%.1f", b / n }')"
			say "$s index: $b bytes for $msgs messages:" $files
		else
			record "$s" index_per_msg "none"
			say "$s index: none (no buzon.index or buzon-index* in $M)"
		fi
	done
fi

if ! skip idle; then
	# A fresh buzon for each figure: memory freed by earlier work stays in its processes'
	# heaps and would be reused by the connections, hiding their cost. Dovecot's
	# per-connection processes start afresh anyway.
	for s in $ONLY; do
		[ "$s" = buzon ] && { stop_buzon; start_buzon; }
		settle "$s"
		lg "$s" idle_pss pss_per_conn_kib -c "$IDLE_CONNS" idle
		record "$s" idle_rss "$(field rss_per_conn_kib "$LAST")"
		record "$s" idle_procs "$(field procs_after "$LAST")"
		[ "$s" = buzon ] && { stop_buzon; start_buzon; }
		settle "$s"
		lg "$s" idle_small_pss pss_per_conn_kib -f Mixed -c "$IDLE_CONNS" idle
		record "$s" idle_small_rss "$(field rss_per_conn_kib "$LAST")"
	done
fi
stop_buzon
stop_dovecot
for s in $ONLY; do
	record "$s" peak_rss_max "$(awk -v s="$s" '$1 == s && $2 == "peak_rss" && $3 + 0 > m {
	    m = $3 + 0 } END { print m }' "$RES")"
done

LMTP_TABLE=""
if ! skip lmtp && [ -f bench/lmtp/run.py ]; then
	say "---- LMTP (bench/lmtp/run.py)"
	mkdir -p "$W/lmtp"
	[ "$(id -u)" -eq 0 ] && chmod 0755 "$W/lmtp"
	# shellcheck disable=SC2086
	if LMTP_TABLE=$(python3 bench/lmtp/run.py --buzon "$BUZON" --dir "$W/lmtp" --sieve \
	    ${BENCH_LMTP_ARGS:-} 2>>"$W/lmtp.log"); then
		# its "result" line: rates per session count (raw = the Maildir ceiling)
		line=$(printf '%s\n' "$LMTP_TABLE" | grep '^result' | tail -n 1)
		LMTP_TABLE=$(printf '%s\n' "$LMTP_TABLE" | grep -v '^result')
		for s in raw buzon dovecot; do
			for n in 1 4; do
				v=$(field "${s}_$n" "$line")
				[ -n "$v" ] && record "$s" "lmtp_$n" "$v"
			done
		done
		# the user with a 50-rule Sieve script (issue 15), on both servers
		for s in buzon dovecot; do
			v=$(field "${s}_sieve_4" "$line")
			[ -n "$v" ] && record "$s" "lmtp_sieve_4" "$v"
		done
	else
		say "bench/lmtp/run.py failed (see $W/lmtp.log)"
		LMTP_TABLE=""
	fi
fi

JMAP_TABLE=""
if ! skip jmap && [ -f bench/jmap/run.py ]; then
	say "---- JMAP (bench/jmap/run.py: buzon JMAP, Cyrus JMAP, Roundcube over IMAP)"
	mkdir -p "$W/jmap"
	# shellcheck disable=SC2086
	if JMAP_TABLE=$(python3 bench/jmap/run.py --buzon "$BUZON" --dir "$W/jmap" -n "$N" \
	    ${BENCH_JMAP_ARGS:-} 2>>"$W/jmap.log"); then
		:
	else
		say "bench/jmap/run.py failed or the answers differ (see $W/jmap.log)"
	fi
	# its "result" line: latencies (ms) and rates (requests/s) per system
	line=$(printf '%s\n' "$JMAP_TABLE" | grep '^result' | tail -n 1)
	JMAP_TABLE=$(printf '%s\n' "$JMAP_TABLE" | grep -v '^result')
	for k in $(printf '%s\n' "$line" | tr ' ' '\n' | sed -n 's/=.*//p'); do
		record jmap "$k" "$(field "$k" "$line")"
	done
fi

# ------------------------------------------------------------------ table
get() { awk -v s="$1" -v k="$2" '$1 == s && $2 == k { v = $3 } END { print v }' "$RES"; }

# row LABEL KEY UNIT BETTER TARGET: BETTER is "low" (times, memory) or "high" (rates).
# The last three columns are the server's CPU time for the same work (seconds, or
# operations per CPU second for the mixed workload) and their ratio.
row() {
	awk -v l="$1" -v u="$3" -v better="$4" -v t="$5" \
	    -v b="$(get buzon "$2")" -v d="$(get dovecot "$2")" \
	    -v bc="$(get buzon "$2.cpu")" -v dc="$(get dovecot "$2.cpu")" '
	function num(x) { return x ~ /^[0-9.]+$/ && x + 0 > 0 }
	function show(x, fmt) { return x ~ /^[0-9.]+$/ ? sprintf(fmt, x) : (x == "" ? "-" : x) }
	BEGIN {
		r = "-"; ok = ""; cr = "-"
		if (num(b) && num(d)) {
			x = better == "low" ? d / b : b / d
			r = sprintf(x >= 0.1 ? "%.2fx" : "%.3fx", x)
			if (t != "") ok = (x >= t + 0) ? "met" : "MISSED"
		}
		if (num(bc) && num(dc)) {
			cr = better == "low" ? dc / bc : bc / dc
			cr = sprintf(cr >= 0.1 ? "%.2fx" : "%.3fx", cr)
		}
		fmt = u == "s" ? "%.4f" : u == "ms" ? "%.2f" : u == "KiB" ? "%.0f" : "%.1f"
		printf "| %-58s | %9s | %9s | %7s | %-12s | %9s | %9s | %7s |\n", l " (" u ")",
		    show(b, fmt), show(d, fmt), r, t == "" ? "" : t "x " ok,
		    show(bc, u == "s" ? "%.4f" : "%.0f"), show(dc, u == "s" ? "%.4f" : "%.0f"), cr
	}'
}

echo
echo "buzon $("$BUZON" version 2>/dev/null | head -n 1) ($REV)" \
    "vs Dovecot $(dovecot --version | cut -d' ' -f1);" \
    "$N messages in INBOX ($(du -sh "$BASE" | cut -f1)); $(nproc) CPUs; $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "ratio: how many times better buzon is (Dovecot's time / buzon's, buzon's rate / Dovecot's);"
echo "cpu: the servers' CPU time for the same work (mixed: operations per CPU second)"
echo
printf '| %-58s | %9s | %9s | %7s | %-12s | %9s | %9s | %7s |\n' operation buzon dovecot ratio \
    target "buzon cpu" "dove cpu" "cpu rat"
printf '|%s|%s|%s|%s|%s|%s|%s|%s|\n' ------------------------------------------------------------ \
    ----------- ----------- --------- -------------- ----------- ----------- ---------
row "SELECT cold (no index, no uidlist)" select_cold s low 2
row "SELECT after the mail process exited (see notes)" select_restart s low 1
row "SELECT warm" select_warm s low 2
row "SELECT warm, another session has it selected" select_held s low ""
row "FETCH 1:* (UID FLAGS)" fetch_flags s low 2
row "FETCH 1:* (UID FLAGS ENVELOPE), first" fetch_envelope_first s low ""
row "FETCH 1:* (UID FLAGS ENVELOPE), again" fetch_envelope s low 2
row "FETCH 1:* (BODYSTRUCTURE), first" fetch_bodystructure_first s low ""
row "FETCH 1:* (BODYSTRUCTURE), again" fetch_bodystructure s low 2
row "SEARCH BODY word" search_body s low 2
row "STORE 1:* +FLAGS.SILENT (\\Seen)" store_seen s low 2
row "SEARCH SUBJECT word, warm" search_subject s low 2
row "SEARCH FROM name, warm" search_from s low 2
row "UID SORT (REVERSE DATE), first" sort_date_first s low ""
row "UID SORT (REVERSE DATE), again" sort_date s low 2
row "UID SORT (SUBJECT), first" sort_subject_first s low ""
row "UID SORT (SUBJECT), again" sort_subject s low 2
row "UID THREAD REFERENCES, first" thread_refs_first s low ""
row "UID THREAD REFERENCES, again" thread_refs s low 2
for c in $MIXED; do
	row "mixed workload, $c clients" "mixed_$c" "ops/s" high 2
done
row "mixed workload, $MIXED_USERS users x 2 clients" mixed_users "ops/s" high ""
# closed_rows KEY LABEL
closed_rows() {
	row "closed loop, $2" "$1" "cmd/s" high 2
	row "  latency p50, all commands" "$1.p50" ms low ""
	row "  latency p99, all commands" "$1.p99" ms low ""
	row "  APPEND latency p50" "$1.append_p50" ms low ""
	row "  APPEND latency p99" "$1.append_p99" ms low ""
}
if ! skip closed; then
	for c in $CLOSED; do
		closed_rows "closed_$c" "$c clients, 1 user"
	done
	[ "$CLOSED_USERS" -gt 0 ] && closed_rows closed_users \
	    "$CLOSED_USERS users x $CLOSED_PER_USER clients"
	if [ "$CLOSED_RELOGIN" -gt 0 ]; then
		for c in $CLOSED; do
			closed_rows "closed_${c}_relogin" "$c clients, 1 user, re-LOGIN /$CLOSED_RELOGIN"
		done
		[ "$CLOSED_USERS" -gt 0 ] && closed_rows closed_users_relogin \
		    "$CLOSED_USERS users x $CLOSED_PER_USER, re-LOGIN /$CLOSED_RELOGIN"
	fi
fi
row "TLS handshake + LOGIN, $CONNECT_CONNS parallel" connect "/s" high 1
row "memory per idle IDLE connection, PSS" idle_pss KiB low ""
row "memory per idle IDLE connection, RSS" idle_rss KiB low ""
row "the same, $MIXED_MSGS-message folder selected, PSS" idle_small_pss KiB low ""
row "the same, $MIXED_MSGS-message folder selected, RSS" idle_small_rss KiB low ""
row "peak RSS of largest process, targeted ops" peak_rss_max KiB low ""
row "index bytes per message (bench's folders)" index_per_msg B low ""
row "LMTP 4 sessions to one user" lmtp_4 "msg/s" high ""
row "LMTP 4 sessions, 50-rule Sieve script" lmtp_sieve_4 "msg/s" high 2
# LMTP against the raw Maildir ceiling of the same run (target: buzon >= 50 %)
r4=$(get raw lmtp_4)
if [ -n "$r4" ]; then
	awk -v r="$r4" -v b="$(get buzon lmtp_4)" -v d="$(get dovecot lmtp_4)" 'BEGIN {
		fb = b + 0 > 0 ? sprintf("%.0f %%", 100 * b / r) : "-"
		fd = d + 0 > 0 ? sprintf("%.0f %%", 100 * d / r) : "-"
		ok = b + 0 > 0 ? (b / r >= 0.5 ? "met" : "MISSED") : ""
		printf "| %-58s | %9s | %9s | %7s | %-12s | %9s | %9s | %7s |\n",
		    "LMTP 4 sessions, share of raw ceiling " sprintf("(%.0f/s)", r), fb, fd, "-",
		    ">=50% " ok, "", "", ""
	}'
fi
b=$(get buzon idle_pss)
if [ -n "$b" ] && [ "$b" != FAIL ]; then
	echo
	awk -v b="$b" -v n="$IDLE_CONNS" 'BEGIN { printf "idle memory target: <= 256 KiB per connection with %d connections: buzon %.0f KiB, %s\n", n, b, (b <= 256 ? "met" : "MISSED") }'
fi
if [ -n "$COMPARE" ]; then
	echo
	echo "answers (A = buzon, B = Dovecot; 1:2000 and whole-folder SEARCHes, $W/compare.txt):"
	grep -E 'DIFFERENT|[1-9][0-9]* different' "$W/compare.txt" || true
	echo "$COMPARE"
fi
if [ -n "$LMTP_TABLE" ]; then
	echo
	printf '%s\n' "$LMTP_TABLE"
fi
if [ -n "$JMAP_TABLE" ]; then
	echo
	printf '%s\n' "$JMAP_TABLE"
fi
echo
echo "SELECT after the mail process exited: buzon's exits by itself ~10 s after the last"
echo "client; bench/run.sh waits for that (<= ${RESTART_WAIT} s, SIGTERM after: $W/restart.log);"
echo "Dovecot's imap process ends with each connection, so it is a new login. Page cache warm."
echo "raw results: $W/raw.txt; logs: $W/buzon.log $W/dovecot.log $W/loadgen.log"
