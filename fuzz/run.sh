#!/bin/sh
# fuzz/run.sh — the fuzz suite of `make check` (tests/run-all.sh) and of `make fuzz-run`.
# Builds the libFuzzer targets (clang, -Dfuzzing=true, ASan+UBSan) in $FUZZ_BUILD if
# needed, then for every target fuzz/<area>/fuzz_<name>:
#   1. replays its committed seed corpus fuzz/<area>/corpus/<name>/ and every crash
#      reproducer fuzz/<area>/regressions/<name>/* (each input must run clean);
#   2. fuzzes it for $FUZZ_SECONDS (default 3) from a scratch copy of the corpus, so the
#      committed corpus never changes, with the dictionary fuzz/<area>/<name>.dict,
#      fuzz_<name>.dict or (IMAP parser) imap.dict when there is one.
# Prints "PASS fuzz_x ..." or "FAIL fuzz_x: why" per target and "N passed, M failed".
# A crash leaves its input in $LOGDIR/fuzz-artifacts/ and the libFuzzer output in
# $LOGDIR/fuzz-<name>.log; reproduce with `build-fuzz/fuzz/<area>/fuzz_<name> FILE`.
# Environment: FUZZ_BUILD (default build-fuzz), FUZZ_SECONDS, LOGDIR (default
# $FUZZ_BUILD/fuzz-logs), FUZZ_ONLY (substring of target names), FUZZ_JOBS (targets
# run at once, default 2).
set -u

cd "$(dirname "$0")/.." || exit 2
FB=${FUZZ_BUILD:-build-fuzz}
SECS=${FUZZ_SECONDS:-3}
LOGDIR=${LOGDIR:-$FB/fuzz-logs}
mkdir -p "$LOGDIR" || exit 2
LOGDIR=$(cd "$LOGDIR" && pwd)
ART=$LOGDIR/fuzz-artifacts
mkdir -p "$ART"

if ! command -v clang >/dev/null 2>&1; then
	echo "FAIL fuzz-build: clang not installed (scripts/install-deps.sh check)"
	echo "0 passed, 1 failed"
	exit 1
fi
if [ ! -f "$FB/build.ninja" ]; then
	if ! CC=clang meson setup "$FB" -Dfuzzing=true -Db_sanitize=address,undefined \
	    -Db_lundef=false -Dtests=disabled >"$LOGDIR/fuzz-setup.log" 2>&1; then
		tail -n 20 "$LOGDIR/fuzz-setup.log"
		rm -rf "$FB"
		echo "FAIL fuzz-build: meson setup failed"
		echo "0 passed, 1 failed"
		exit 1
	fi
fi
if ! ninja -C "$FB" >"$LOGDIR/fuzz-build.log" 2>&1; then
	grep -E 'error|FAILED' "$LOGDIR/fuzz-build.log" | head -n 20
	echo "FAIL fuzz-build: ninja failed (see $LOGDIR/fuzz-build.log)"
	echo "0 passed, 1 failed"
	exit 1
fi

# Sanitizers: stop at the first report; leaks count as failures (detect_leaks=1).
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:allocator_may_return_null=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"

scratch=$(mktemp -d "${TMPDIR:-/tmp}/buzon-fuzz.XXXXXX") || exit 2
trap 'rm -rf "$scratch"' EXIT INT TERM

# run_target AREA T: replay and fuzz one target; prints its PASS/FAIL line(s)
run_target() {
	area=$1
	t=$2
	name=${t#fuzz_}
	bin=$FB/fuzz/$area/$t
	log=$LOGDIR/fuzz-$name.log
	if [ ! -x "$bin" ]; then
		echo "FAIL $t: not built ($bin)"
		return
	fi
	corpus=fuzz/$area/corpus/$name
	regr=fuzz/$area/regressions/$name
	dict=
	for d in "fuzz/$area/$name.dict" "fuzz/$area/$t.dict"; do
		[ -f "$d" ] && dict=$d
	done
	[ -z "$dict" ] && [ "$name" = imap_parser ] && [ -f fuzz/$area/imap.dict ] &&
	    dict=fuzz/$area/imap.dict
	why=
	: >"$log"
	# 1. replay: every committed input once (files as arguments = run each)
	inputs=$(find "$corpus" "$regr" -type f 2>/dev/null | sort)
	n=$(printf '%s\n' "$inputs" | grep -c . || true)
	if [ "$n" -gt 0 ]; then
		if ! printf '%s\n' "$inputs" | xargs -d '\n' "$bin" -rss_limit_mb=2048 \
		    -timeout=20 >>"$log" 2>&1; then
			why="replay of $n committed inputs failed"
		fi
	fi
	# 2. fuzz for a fixed time from a scratch copy of the corpus
	if [ -z "$why" ]; then
		work=$scratch/$name
		mkdir -p "$work"
		[ -d "$corpus" ] && cp -r "$corpus/." "$work/"
		set -- -max_total_time="$SECS" -rss_limit_mb=2048 -timeout=20 \
		    -print_final_stats=1 -artifact_prefix="$ART/$name-"
		[ -n "$dict" ] && set -- "$@" -dict="$dict"
		if ! "$bin" "$@" "$work" >>"$log" 2>&1; then
			why="crash or sanitizer report while fuzzing"
			why="$why ($(ls "$ART" | grep "^$name-" | head -n 1))"
		fi
		rm -rf "$work"
	fi
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	if [ -z "$why" ]; then
		echo "PASS $t ($n committed inputs, ${runs:-0} runs in ${SECS}s)"
	else
		echo "FAIL $t: $why; log $log"
		grep -E 'ERROR: |runtime error|SUMMARY' "$log" | head -n 5 | sed 's/^/    /'
	fi
}

# FUZZ_JOBS targets at a time (default 2: one per core of the test machine), each
# into its own output file, shown in order once its batch is done
jobs=${FUZZ_JOBS:-2}
running=0
batch=""
flush() {
	wait
	for f in $batch; do
		cat "$scratch/$f.out"
	done
	batch=""
	running=0
}
for area_dir in fuzz/*/; do
	area=$(basename "$area_dir")
	for src in "$area_dir"fuzz_*.c; do
		[ -f "$src" ] || continue
		t=$(basename "$src" .c)
		case "$t" in *"${FUZZ_ONLY:-}"*) ;; *) continue ;; esac
		run_target "$area" "$t" >"$scratch/$t.out" 2>&1 &
		batch="$batch $t"
		running=$((running + 1))
		[ "$running" -ge "$jobs" ] && flush
	done
done
flush
pass=$(cat "$scratch"/*.out 2>/dev/null | grep -c '^PASS' || true)
fail=$(cat "$scratch"/*.out 2>/dev/null | grep -c '^FAIL' || true)
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
