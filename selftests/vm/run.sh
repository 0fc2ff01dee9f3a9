#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# run.sh [COUNTS_FILE]
# Run every guest selftest (/selftests/* in the guest image) inside one
# guest boot and judge it (vm_run_tests in lib.sh), then every
# host-orchestrated selftests/vm/*.sh.
# Writes "passed failed skipped" to COUNTS_FILE.
#
# Env: PVKIT_TEST_TIMEOUT (per test), PVKIT_VM_TIMEOUT (whole boot),
#      PVKIT_EXTRA_MODULES (in-tree modules to load at boot).

set -uo pipefail

TOP=$(cd "$(dirname "$0")/../.." && pwd)
cd "$TOP"

# shellcheck source=selftests/vm/lib.sh
. "$TOP/selftests/vm/lib.sh"

counts=${1:-}
logdir=build/check/vm
log=$logdir/console.log
mkdir -p "$logdir"

tests=()
for t in build/guest/tests/*; do
	[ -f "$t" ] && [ -x "$t" ] && tests+=("$(basename "$t")")
done

# The test guest's disks: /dev/pvda is a read-write scratch disk, /dev/pvdb
# a read-only disk whose first MiB is a known pattern.  tmpfs keeps them
# fast and O_DIRECT-capable; they are removed whatever happens.
disks=$(mktemp -d /dev/shm/pvkit-check.XXXXXX)
trap 'rm -rf "$disks"' EXIT
truncate -s 512M "$disks/scratch.img"
truncate -s 64M "$disks/ro.img"
head -c 1048576 /dev/urandom > "$disks/ro-head"
dd if="$disks/ro-head" of="$disks/ro.img" conv=notrunc status=none
engine_args=()
if [ "${PVKIT_BOOT:-hv}" = hv ]; then
	engine_args=(--disk "$disks/scratch.img" --disk "$disks/ro.img,ro")
fi

vm_run_tests "" "$logdir" "" ${tests[@]+"${tests[@]}"} -- \
	${engine_args[@]+"${engine_args[@]}"}
pass=$vm_pass
fail=$vm_fail
skip=$vm_skip

# Host-orchestrated VM tests: each selftests/vm/*.sh (but this runner)
# boots its own guests (reboots, hostile hosts) and exits 0 pass, 4 skip,
# anything else fail.
for s in "$TOP"/selftests/vm/*.sh; do
	n=$(basename "$s" .sh)
	[ "$n" = run ] || [ "$n" = lib ] && continue
	out=$logdir/$n.out
	# a script may ask for more time: "# pvkit-vm-timeout: SECONDS"
	stmo=$(sed -n 's/^# pvkit-vm-timeout: \([0-9][0-9]*\)$/\1/p' "$s" | head -n 1)
	stmo=${PVKIT_VM_TIMEOUT:-${stmo:-900}}
	timeout "$stmo" bash "$s" > "$out" 2>&1 < /dev/null
	rc=$?
	# These scripts race real QEMU guests against host timing on a
	# 2-core TCG box.  One retry, said out loud: a failure that repeats
	# still fails, and a flake is printed with its first output kept.
	if [ $rc -ne 0 ] && [ $rc -ne 4 ]; then
		cp "$out" "$out.first"
		echo "FLAKY? vm/$n failed (exit $rc, $out.first); retrying once"
		grep -a '^not ok' "$out.first" | head -n 5
		timeout "$stmo" bash "$s" > "$out" 2>&1 < /dev/null
		rc=$?
		[ $rc -eq 0 ] && echo "FLAKY vm/$n passed on retry"
	fi
	case $rc in
	0)	result=PASS; pass=$((pass + 1)) ;;
	4)	result=SKIP; skip=$((skip + 1)) ;;
	*)	result=FAIL; fail=$((fail + 1)) ;;
	esac
	printf '%-4s vm/%s (exit %d, %s)\n' "$result" "$n" "$rc" "$out"
	if [ $result = FAIL ]; then
		echo "---- $out (last 40 lines) ----"
		tail -n 40 "$out"
		echo "----"
	fi
done

echo "check-vm: $pass passed, $fail failed, $skip skipped (log: $log)"
[ -n "$counts" ] && echo "$pass $fail $skip" > "$counts"
[ $fail -eq 0 ]
