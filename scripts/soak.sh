#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# soak.sh: the long runs that 'make check' does not do ('make soak').
#   kill     selftests/soak/blk-kill.py: SOAK_KILLS (100) SIGKILLs of
#            pvkit-blkback under fio verify, QD32 on both CPUs; p50/p99
#            time from a kill to the new back-end's first served request
#   cycles   the guest test blk_cycle with SOAK_CYCLES (1000) rmmod/insmod
#            cycles of pvkit_blk, a verified write and read between,
#            slab, per-CPU and vmalloc memory before and after
#   bigmem   selftests/vm/blk-memsizes.sh for 4 GiB guests with 4 vCPUs
#            (pc and q35: RAM across the PCI hole, buffers above 4 GiB),
#            blk_memmap and the blk_fio suite at PVKIT_BLK_FIO_SCALE=4
#   memsizes selftests/vm/blk-memsizes.sh with all nine layouts ('make
#            check' boots four of them)
#   net      selftests/vm/net-basic.sh with SOAK_NET_CYCLES (1000)
#            insmod / ping / rmmod cycles of pvkit_net
# Arguments pick parts (default: all).  Writes build/soak/summary.md and
# exits 1 if any part failed.  About 35 minutes under TCG on 2 cores.

set -uo pipefail
cd "$(dirname "$0")/.."
TOP=$PWD
OUT=$TOP/build/soak
mkdir -p "$OUT"
parts=("$@")
[ ${#parts[@]} -gt 0 ] || parts=(kill cycles bigmem memsizes net)
fail=0
summary=$OUT/summary.md
{
	echo "# pvkit soak, $(date -u +%Y-%m-%dT%H:%MZ)"
	echo
	echo "| part | result | numbers |"
	echo "|---|---|---|"
} > "$summary"

row()	# row PART RC NUMBERS
{
	local r=PASS

	[ "$2" -eq 0 ] || { r=FAIL; fail=1; }
	echo "| $1 | $r | $3 |" >> "$summary"
	echo "soak: $r $1: $3"
}

soak_kill()
{
	local rc nums

	python3 selftests/soak/blk-kill.py --kills "${SOAK_KILLS:-100}" \
		${SOAK_SEED:+--seed "$SOAK_SEED"}
	rc=$?
	nums=$(python3 -c 'import json, sys
r = json.load(open(sys.argv[1]))
f = lambda v: "-" if v is None else "%.2f s" % v
print("%d kills (%d of a back-end still starting), %d fio passes, %d failed, "
      "%d guest I/O errors; kill to first I/O p50 %s, p99 %s, max %s; %.0f s"
      % (r["kills"], r["killed_while_starting"], r["fio_passes"],
         r["fio_failed"], r["guest_errors"], f(r["p50_s"]), f(r["p99_s"]),
         f(r["max_s"]), r["elapsed_s"]))' "$OUT/blk-kill.json" 2>/dev/null)
	row kill "$rc" "${nums:-no result}"
}

soak_cycles()
{
	local tmp rc nums

	tmp=$(mktemp -d /dev/shm/pvkit-soak.XXXXXX)
	truncate -s 256M "$tmp/disk.img"
	# shellcheck source=selftests/vm/lib.sh
	. selftests/vm/lib.sh
	PVKIT_TEST_TIMEOUT=3600 vm_run_tests cycles "$OUT/cycles" \
		"PVKIT_BLK_CYCLES=${SOAK_CYCLES:-1000}" blk_cycle -- \
		--disk "$tmp/disk.img"
	rc=$vm_fail
	rm -rf "$tmp"
	nums=$(tr -d '\r' < "$OUT/cycles/console.log" 2>/dev/null | sed -n \
		-e 's/^PVKIT-CYCLES: \(.*\)/\1 cycles,/p' \
		-e 's/^PVKIT-CYCLE-MS: \(.*\)/\1 ms each;/p' \
		-e 's/^PVKIT-CYCLE-MEM: //p' | tr '\n' ' ')
	row cycles "$rc" "${nums:-no result}"
}

soak_bigmem()
{
	local rc

	PVKIT_MEMSIZES="pc:4G q35:4G" PVKIT_BLK_FIO_SCALE=4 \
		PVKIT_TEST_TIMEOUT=1800 \
		bash selftests/vm/blk-memsizes.sh > "$OUT/bigmem.out" 2>&1
	rc=$?
	cat "$OUT/bigmem.out"
	row bigmem "$rc" "$(grep -c '^PASS' "$OUT/bigmem.out") passed, $(grep -c '^FAIL' "$OUT/bigmem.out") failed (4 GiB, 4 vCPUs, pc and q35)"
}

soak_memsizes()
{
	local rc

	PVKIT_MEMSIZES=all PVKIT_TEST_TIMEOUT=1800 \
		bash selftests/vm/blk-memsizes.sh > "$OUT/memsizes.out" 2>&1
	rc=$?
	cat "$OUT/memsizes.out"
	row memsizes "$rc" "$(grep -c '^PASS' "$OUT/memsizes.out") passed, $(grep -c '^FAIL' "$OUT/memsizes.out") failed (all nine layouts)"
}

soak_net()
{
	local rc

	PVKIT_NET_CYCLES=${SOAK_NET_CYCLES:-1000} \
		bash selftests/vm/net-basic.sh > "$OUT/net.out" 2>&1
	rc=$?
	cat "$OUT/net.out"
	row net "$rc" "$(grep -c '^ok' "$OUT/net.out") ok, $(grep -c '^not ok' "$OUT/net.out") not ok; $(sed -n 's/^# reload: //p' "$OUT/net.out")"
}

for p in "${parts[@]}"; do
	case $p in
	kill|cycles|bigmem|memsizes|net) "soak_$p" ;;
	*) echo "soak: unknown part '$p' (kill, cycles, bigmem, memsizes, net)" >&2; exit 2 ;;
	esac
done
cat "$summary"
exit $fail
