#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# fuzz.sh [TARGET...]: build every libFuzzer harness selftests/fuzz/fuzz_*.c
# (clang, -fsanitize=fuzzer,address,undefined) and run each for FUZZ_S
# seconds (default 30) on its seed corpus (selftests/fuzz/corpus/NAME, kept
# and grown in build/fuzz/corpus/NAME).  Writes build/fuzz/summary.json and
# summary.md (executions, coverage, crashes per target); crashing inputs
# land in build/fuzz/crashes/NAME.  Exit 1 if any target crashed or did
# not build.
#
# A harness names what it links in its header: "fuzz-srcs: a.c b.c"
# (@hv = pvkit-hv without main.c, plus lib/) and optionally
# "fuzz-libs: -lfoo".  Env: FUZZ_S; FUZZ_RUNS=N stops each target after N
# executions instead (FUZZ_S then caps the time, default 3600 s: the
# 10^7 run of docs/security.md is FUZZ_RUNS=10000000); FUZZ_COUNTS=FILE gets
# "passed failed skipped" for make check's summary.

set -uo pipefail
cd "$(dirname "$0")/.."
TOP=$PWD
OUT=$TOP/build/fuzz
RUNS=${FUZZ_RUNS:-}
if [ -n "$RUNS" ]; then
	S=${FUZZ_S:-3600}
else
	S=${FUZZ_S:-30}
fi
CC=${FUZZ_CC:-clang}
CFLAGS=(-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
	-fno-omit-frame-pointer -Wall -Wextra -Werror -Wno-unused-parameter
	-D_GNU_SOURCE -Ihypercall-abi/include -Ilib/include)

if ! command -v "$CC" > /dev/null; then
	echo "fuzz.sh: $CC not found (make deps installs clang)" >&2
	exit 1
fi
mkdir -p "$OUT/bin" "$OUT/corpus" "$OUT/crashes" "$OUT/log"

hv_srcs()
{
	ls hypervisor/*.c lib/*.c | grep -v '^hypervisor/main.c$'
}

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
	for f in selftests/fuzz/fuzz_*.c; do
		targets+=("$(basename "$f" .c)")
	done
fi

json="["
md="| target | seconds | executions | exec/s | coverage (edges) | features | corpus | crashes |
|---|---:|---:|---:|---:|---:|---:|---:|"
bad=0
npass=0
nfail=0
for t in "${targets[@]}"; do
	src=selftests/fuzz/$t.c
	srcs=$(sed -n 's/^ \* fuzz-srcs://p' "$src" | head -n 1)
	libs=$(sed -n 's/^ \* fuzz-libs://p' "$src" | head -n 1)
	srcs=${srcs//@hv/$(hv_srcs | tr '\n' ' ')}
	# shellcheck disable=SC2086 # word lists
	if ! $CC "${CFLAGS[@]}" -o "$OUT/bin/$t" "$src" $srcs $libs -lpthread \
		> "$OUT/log/$t.build" 2>&1; then
		echo "FAIL fuzz/$t (build, see $OUT/log/$t.build)"
		sed 's/^/# /' "$OUT/log/$t.build" | head -n 20
		bad=1
		nfail=$((nfail + 1))
		json+="{\"target\":\"$t\",\"built\":false},"
		continue
	fi
	mkdir -p "$OUT/corpus/$t" "$OUT/crashes/$t"
	seeds=selftests/fuzz/corpus/$t
	[ -d "$seeds" ] || seeds=
	(cd "$OUT/crashes/$t" && "$OUT/bin/$t" -max_total_time="$S" ${RUNS:+-runs="$RUNS"} \
		-print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
		"$OUT/corpus/$t" ${seeds:+"$TOP/$seeds"}) > "$OUT/log/$t.run" 2>&1
	rc=$?
	secs=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$OUT/log/$t.run" | tail -n 1)
	secs=${secs:-$S}
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$OUT/log/$t.run" | tail -n 1)
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$OUT/log/$t.run" | tail -n 1)
	cov=$(grep -o 'cov: [0-9]*' "$OUT/log/$t.run" | tail -n 1 | cut -d' ' -f2)
	ft=$(grep -o 'ft: [0-9]*' "$OUT/log/$t.run" | tail -n 1 | cut -d' ' -f2)
	corpus=$(find "$OUT/corpus/$t" -type f | wc -l)
	crashes=$(find "$OUT/crashes/$t" -type f \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | wc -l)
	if [ "$rc" -ne 0 ] || [ "$crashes" -ne 0 ]; then
		echo "FAIL fuzz/$t (exit $rc, $crashes crashes; $OUT/log/$t.run)"
		grep -m 5 -E 'ERROR|property failed|SUMMARY' "$OUT/log/$t.run" | sed 's/^/# /'
		bad=1
		nfail=$((nfail + 1))
	else
		echo "PASS fuzz/$t (${execs:-0} execs, cov ${cov:-0}, ${secs}s)"
		npass=$((npass + 1))
	fi
	json+="{\"target\":\"$t\",\"built\":true,\"seconds\":$secs,\"execs\":${execs:-0},\"exec_per_sec\":${rate:-0},\"cov\":${cov:-0},\"ft\":${ft:-0},\"corpus\":$corpus,\"crashes\":$crashes,\"exit\":$rc},"
	md+=$'\n'"| $t | $secs | ${execs:-0} | ${rate:-0} | ${cov:-0} | ${ft:-0} | $corpus | $crashes |"
done
json="${json%,}]"
echo "$json" > "$OUT/summary.json"
echo "$md" > "$OUT/summary.md"
echo "fuzz: wrote $OUT/summary.json and $OUT/summary.md"
[ -n "${FUZZ_COUNTS:-}" ] && echo "$npass $nfail 0" > "$FUZZ_COUNTS"
exit $bad
