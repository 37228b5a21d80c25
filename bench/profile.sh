#!/bin/sh
# profile.sh — where buzon's mail process spends its time on one benchmark operation.
#
#   bench/profile.sh perf OP [REPS]        perf record (DWARF call graphs) of the bench
#                                          user's mail process while loadgen runs OP
#   bench/profile.sh perf mixed [CLIENTS]  the same for 10 s of the mixed workload
#   bench/profile.sh callgrind 'CMD' ...   callgrind of `buzon imap` (one pre-authenticated
#                                          session on stdin) running the IMAP commands
#
# OP is a loadgen op (select, fetch-flags, fetch-envelope, fetch-bodystructure,
# search-body, store-seen). Uses the data, configuration and binaries that bench/run.sh
# left in BENCH_DIR (default build-bench-data/; run `make bench` or bench/run.sh first),
# starts its own buzon on the benchmark port and stops it at the end. Prints the top
# functions by self time and by inclusive time; the raw data stays in BENCH_DIR
# (perf-OP.data, callgrind/callgrind.out.*) for `perf report -i` or `callgrind_annotate`.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
W=${BENCH_DIR:-$top/build-bench-data}
BUZON=${BUZON_BIN:-$W/buzon-bin}	# what run.sh built last
CONF=$W/buzon/buzon.conf
LG=$W/loadgen
[ -f "$CONF" ] && [ -x "$LG" ] || { echo "profile: run bench/run.sh first" >&2; exit 1; }
tool=${1:-}
shift || true

case $tool in
perf)
	op=${1:?usage: profile.sh perf OP [REPS]}
	reps=${2:-2}
	"$BUZON" serve -c "$CONF" 2>>"$W/buzon.log" &
	bz=$!
	trap 'kill $bz 2>/dev/null; wait $bz 2>/dev/null' EXIT
	i=0
	while ! python3 -c 'import socket
socket.create_connection(("127.0.0.1", 20993), 1).close()' 2>/dev/null; do
		i=$((i + 1)); [ $i -gt 100 ] && exit 1; sleep 0.1
	done
	# log in once so the mail process exists (and has the folder open)
	"$LG" -p 20993 -w bench -r 1 op fetch-flags >/dev/null
	mp=""
	for p in $(ps -o pid= --ppid "$bz"); do
		tr '\0' ' ' <"/proc/$p/cmdline" | grep -q -- '--role mail' && mp=$p
	done
	[ -n "$mp" ] || { echo "profile: no mail process" >&2; exit 1; }
	perf record --call-graph dwarf,16384 -F 499 -o "$W/perf-$op.data" -p "$mp" \
	    >/dev/null 2>&1 &
	pp=$!
	sleep 0.5
	if [ "$op" = mixed ]; then
		"$LG" -p 20993 -w bench -f Mixed -c "$reps" -t 10 mixed
	else
		"$LG" -p 20993 -w bench -r "$reps" op "$op"
	fi
	kill -INT "$pp"
	wait "$pp" || true
	echo "== self time"
	perf report -i "$W/perf-$op.data" --no-children --stdio --percent-limit 1.5 -g none \
	    2>/dev/null | grep -v '^#' | grep -v '^$' | head -30
	echo "== inclusive time"
	perf report -i "$W/perf-$op.data" --children --stdio --percent-limit 3 -g none \
	    2>/dev/null | grep -v '^#' | grep -v '^$' | head -60
	;;
callgrind)
	[ $# -ge 1 ] || { echo "usage: profile.sh callgrind 'IMAP COMMAND' ..." >&2; exit 2; }
	in=$W/callgrind.in
	: >"$in"
	n=0
	for cmd in "$@"; do
		n=$((n + 1))
		printf 'c%d %s\r\n' "$n" "$cmd" >>"$in"
	done
	printf 'z LOGOUT\r\n' >>"$in"
	# the session runs as the mail user: give it a directory it can write to
	mkdir -p "$W/callgrind"
	uid=$(head -n 1 "$W/buzon/users" | cut -d: -f3)
	[ "$(id -u)" -eq 0 ] && chown "$uid" "$W/callgrind"
	out=$W/callgrind/callgrind.out.$(date +%s)
	# valgrind creates the file before buzon drops privileges and writes it after
	: >"$out"
	[ "$(id -u)" -eq 0 ] && chown "$uid" "$out"
	valgrind --tool=callgrind --callgrind-out-file="$out" "$BUZON" imap -c "$CONF" -u bench \
	    <"$in" >"$W/callgrind.reply" 2>"$W/callgrind.log" || true
	tail -n 3 "$W/callgrind.reply"
	callgrind_annotate --inclusive=yes "$out" 2>/dev/null | head -45
	callgrind_annotate "$out" 2>/dev/null | sed -n '1,40p' | tail -n 25
	;;
*)
	sed -n '2,14p' "$0" >&2
	exit 2
	;;
esac
