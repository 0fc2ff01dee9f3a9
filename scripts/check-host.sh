#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# check-host.sh [COUNTS_FILE]
# Run every host test binary (build/tests/host/<variant>/<test>), each with
# a timeout (PVKIT_TEST_TIMEOUT, default 300 s).  A binary passes when it
# exits 0 and prints a kselftest "# Totals:" line with no failures; exit 4
# (or only skipped cases) is a skip.  Writes "passed failed skipped"
# (counted per binary) to COUNTS_FILE.

set -uo pipefail

cd "$(dirname "$0")/.."

counts=${1:-}
tmo=${PVKIT_TEST_TIMEOUT:-300}
logdir=build/check/host
mkdir -p "$logdir"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1}

pass=0
fail=0
skip=0

for bin in build/tests/host/*/*; do
	[ -f "$bin" ] && [ -x "$bin" ] || continue
	variant=$(basename "$(dirname "$bin")")
	name=$(basename "$bin")
	log=$logdir/$variant-$name.log

	run=()
	# TSan cannot cope with high-entropy ASLR on some kernels.
	if [ "$variant" = tsan ] && command -v setarch >/dev/null; then
		run=(setarch "$(uname -m)" -R)
	fi
	timeout -k 10 "$tmo" "${run[@]}" "$bin" > "$log" 2>&1 < /dev/null
	rc=$?

	totals=$(grep -a '^# Totals:' "$log" | tail -n 1)
	t_pass=$(sed -n 's/.*pass:\([0-9]*\).*/\1/p' <<< "$totals")
	t_fail=$(sed -n 's/.* fail:\([0-9]*\).*/\1/p' <<< "$totals")
	t_xpass=$(sed -n 's/.*xpass:\([0-9]*\).*/\1/p' <<< "$totals")
	t_skip=$(sed -n 's/.*skip:\([0-9]*\).*/\1/p' <<< "$totals")
	t_err=$(sed -n 's/.*error:\([0-9]*\).*/\1/p' <<< "$totals")
	detail=${totals#\# Totals: }

	if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
		result=FAIL
		detail="timeout after ${tmo}s"
	elif [ $rc -eq 4 ]; then
		result=SKIP
	elif [ -z "$totals" ]; then
		result=FAIL
		detail="exit $rc, no '# Totals:' line"
	elif [ $rc -ne 0 ] || [ "${t_fail:-0}" -ne 0 ] ||
	     [ "${t_xpass:-0}" -ne 0 ] || [ "${t_err:-0}" -ne 0 ]; then
		result=FAIL
		detail="exit $rc, $detail"
	elif [ "${t_pass:-0}" -eq 0 ] && [ "${t_skip:-0}" -gt 0 ]; then
		result=SKIP
	else
		result=PASS
	fi

	printf '%-4s %s/%s (%s)\n' "$result" "$variant" "$name" "$detail"
	case $result in
	PASS)	pass=$((pass + 1)) ;;
	SKIP)	skip=$((skip + 1)) ;;
	FAIL)	fail=$((fail + 1))
		echo "---- $log (last 40 lines) ----"
		tail -n 40 "$log"
		echo "----" ;;
	esac
done

echo "check-host: $pass passed, $fail failed, $skip skipped"
[ -n "$counts" ] && echo "$pass $fail $skip" > "$counts"
[ $fail -eq 0 ]
