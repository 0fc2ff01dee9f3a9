#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# blk-hotplug.sh
#
# Description: hot-add and hot-remove of pvkit disks in a running guest,
# driven by 'pvkit disk add/remove' on the control socket:
#   add      a disk added while the guest runs appears as /dev/pvdb, with
#            the image's size, and passes a fio verify run;
#   idle     removing it while nothing has it open is clean: the guest
#            releases it ("released"), /dev/pvdb disappears;
#   busy     removing a disk under a running fio (grace 3 s): the guest
#            keeps it while it is open, so the host forces the removal
#            after the grace ("forced"); fio ends with EIO (or, when
#            the removal lands while fio reopens the disk between
#            verify passes, ENOENT/ENXIO: CI saw a run where the EIO
#            check failed once), the disk disappears, nothing hangs;
#   cycles   after 10 warm-up cycles, 100 add/remove cycles, each waited
#            for until the guest has the disk connected: pvkit-hv's
#            descriptors, the guest's slab (within 1 MiB: one leaked
#            gendisk and tag set per cycle would be over 10 MiB) and its
#            pvkit bus come back to where they were;
#   the guest kernel log has no BUG/WARNING/Oops.
# Prints kselftest TAP; exit 0 pass, 1 fail, 4 skip.
# Env: PVKIT_TIMEOUT_BOOT (whole boot, default 600 s), HP_CYCLES (100).
# pvkit-vm-timeout: 700

set -uo pipefail

TOP=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=selftests/vm/lib.sh
. "$TOP/selftests/vm/lib.sh"
PVKIT=$TOP/build/bin/pvkit
TMO=${PVKIT_TIMEOUT_BOOT:-600}
CYCLES=${HP_CYCLES:-100}
name=blk-hotplug-$$

tap_need_guest || exit 4

tmp=$(mktemp -d /dev/shm/pvkit-hotplug.XXXXXX)
boot_pid=
cleanup()
{
	[ -n "$boot_pid" ] && kill "$boot_pid" 2>/dev/null
	wait 2>/dev/null
	[ -n "${PVKIT_KEEP:-}" ] && cp "$log" /tmp/blk-hotplug.log
	rm -rf "$tmp"
}
trap cleanup EXIT
truncate -s 64M "$tmp/a.img"
truncate -s 48M "$tmp/b.img"
truncate -s 2M "$tmp/warm.img"
truncate -s 3M "$tmp/sentinel.img"
log=$tmp/console.log

# The guest announces each phase on the console (PVKIT-HP NAME) and then
# waits, bounded, for the disk to come or go; the host polls the console.
# shellcheck disable=SC2016 # expanded by the guest shell
cmd='
wait_dev() { # present|absent NAME: up to 60 s
	i=0
	while [ $i -lt 600 ]; do
		if [ -b /dev/$2 ]; then [ $1 = present ] && return 0
		else [ $1 = absent ] && return 0; fi
		sleep 0.1; i=$((i + 1))
	done
	return 1
}
slab() { sed -n "s/^Slab: *\([0-9]*\) kB/\1/p" /proc/meminfo; }
ndev() { ls /sys/bus/pvkit/devices | wc -l; }
fio_v() { fio --name=hp --filename=/dev/pvdb --direct=1 --ioengine=libaio \
	--rw=randwrite --bs=4k --iodepth=8 --verify=crc32c --do_verify=1 \
	--verify_fatal=1 "$@" > /tmp/fio.log 2>&1; }

echo PVKIT-HP add1
wait_dev present pvdb; echo "PVKIT-ADD1: $?"
echo "PVKIT-SIZE1: $(cat /sys/block/pvdb/size 2>/dev/null)"
fio_v --size=32M; echo "PVKIT-FIO1: $?"
echo PVKIT-HP remove1
wait_dev absent pvdb; echo "PVKIT-GONE1: $?"

echo PVKIT-HP add2
wait_dev present pvdb; echo "PVKIT-ADD2: $?"
# held open for the whole phase, as a mount would: fio reopens per pass
exec 3< /dev/pvdb
fio_v --size=32M --time_based --runtime=120 &
fio_pid=$!
sleep 3
echo PVKIT-HP remove2
wait_dev absent pvdb; echo "PVKIT-GONE2: $?"
i=0
while kill -0 $fio_pid 2>/dev/null && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
if kill -0 $fio_pid 2>/dev/null; then echo "PVKIT-FIO2: hung"; kill -9 $fio_pid
else wait $fio_pid; echo "PVKIT-FIO2: $?"; fi
grep -m1 -E "err=|error" /tmp/fio.log | sed "s/^/PVKIT-FIO2ERR: /"
exec 3<&-

sentinel() { # SECTORS: up to 10 min for a disk of that size
	i=0
	while [ $i -lt 6000 ]; do
		cat /sys/block/pvd*/size 2>/dev/null | grep -q "^$1$" && break
		sleep 0.1; i=$((i + 1))
	done
	echo "PVKIT-SENTINEL$1: $i"
}
echo PVKIT-HP warmup
sentinel 4096
sleep 1
echo 3 > /proc/sys/vm/drop_caches
s0=$(slab); n0=$(ndev)
echo PVKIT-HP cycles
sentinel 6144
sleep 1
echo 3 > /proc/sys/vm/drop_caches
echo "PVKIT-SLAB: $s0 $(slab)"
echo "PVKIT-NDEV: $n0 $(ndev)"
dmesg | grep -E "pvkit|BUG:|WARNING:|Oops|Call Trace" | sed "s/^/PVKIT-DMESG: /"
'

PVKIT_BOOT=hv "$TOP/scripts/boot-guest.sh" --timeout "$TMO" --log "$log" \
	--cmd "$cmd" -- --name "$name" --disk "$tmp/a.img" > /dev/null 2>&1 &
boot_pid=$!

# phase NAME: wait until the guest says PVKIT-HP NAME.
phase()
{
	local deadline=$((SECONDS + TMO))

	while ! tr -d '\r' 2>/dev/null < "$log" | grep -q "^PVKIT-HP $1\$"; do
		kill -0 "$boot_pid" 2>/dev/null || return 1
		[ $SECONDS -lt $deadline ] || return 1
		sleep 0.1
	done
}

# dev_state ID: the device's state in 'pvkit stat', or empty.
dev_state()
{
	"$PVKIT" stat "$name" --json 2>/dev/null |
		python3 -c 'import json, sys
for d in json.load(sys.stdin).get("devices", []):
    if d.get("id") == sys.argv[1]:
        print(d["state"])' "$1" 2>/dev/null
}

# wait_state ID STATE: up to 20 s.
wait_state()
{
	local i

	for i in $(seq 200); do
		[ "$(dev_state "$1")" = "$2" ] && return 0
		sleep 0.1
	done
	return 1
}

hv_fds()
{
	local pid

	pid=$(pgrep -f -- "pvkit-hv .*--name $name" | head -n 1)
	[ -n "$pid" ] && ls "/proc/$pid/fd" | wc -l
}

add1=x rm1=x add2=x rm2=x cyc=1 cyc_fail= fd0= fd1=
if phase add1; then
	add1=$("$PVKIT" disk add "$name" "$tmp/b.img" 2>&1)
fi
if phase remove1; then
	rm1=$("$PVKIT" disk remove "$name" blk.1 2>&1)
fi
if phase add2; then
	add2=$("$PVKIT" disk add "$name" "$tmp/b.img" 2>&1)
fi
if phase remove2; then
	rm2=$("$PVKIT" disk remove --grace 3 "$name" blk.1 2>&1)
fi
# cycles N: N add/remove cycles; 0 or 1 with cyc_fail set.
cycles()
{
	local i out

	for i in $(seq "$1"); do
		out=$("$PVKIT" disk add "$name" "$tmp/b.img" 2>&1) &&
			wait_state "$out" connected &&
			"$PVKIT" disk remove "$name" "$out" > /dev/null 2>&1 &&
			[ -z "$(dev_state "$out")" ] || {
				cyc_fail="cycle $i: add '$out', state '$(dev_state "$out")'"
				return 1
			}
	done
}

if phase warmup; then
	cycles 10 && warm=$("$PVKIT" disk add "$name" "$tmp/warm.img" 2>&1)
fi
if phase cycles; then
	"$PVKIT" disk remove "$name" "$warm" > /dev/null 2>&1
	fd0=$(hv_fds)
	cycles "$CYCLES"
	cyc=$?
	fd1=$(hv_fds)
	"$PVKIT" disk add "$name" "$tmp/sentinel.img" > /dev/null 2>&1
fi
wait "$boot_pid"
boot_rc=$?
boot_pid=


read -r s0 s1 <<< "$(tap_val PVKIT-SLAB)"
read -r n0 n1 <<< "$(tap_val PVKIT-NDEV)"
echo "1..12"
tap_check boot_ok "$boot_rc" "boot-guest exit $boot_rc"
tap_check add_reply "$([ "$add1" = blk.1 ]; echo $?)" "pvkit disk add said '$add1'"
tap_check added_disk_appears "$([ "$(tap_val PVKIT-ADD1)" = 0 ] &&
	[ "$(tap_val PVKIT-SIZE1)" = 98304 ]; echo $?)" \
	"appeared: '$(tap_val PVKIT-ADD1)', size '$(tap_val PVKIT-SIZE1)' sectors"
tap_check added_disk_verifies "$([ "$(tap_val PVKIT-FIO1)" = 0 ]; echo $?)" \
	"fio exit '$(tap_val PVKIT-FIO1)'"
tap_check idle_remove_released "$([ "$rm1" = "blk.1: removed (released)" ]; echo $?)" \
	"pvkit disk remove said '$rm1'"
tap_check idle_remove_disk_gone "$([ "$(tap_val PVKIT-GONE1)" = 0 ]; echo $?)"
tap_check busy_remove_reply "$([ "$add2" = blk.1 ] &&
	[ "$rm2" = "blk.1: removed (forced)" ]; echo $?)" \
	"add '$add2', remove '$rm2'"
tap_check busy_remove_disk_gone "$([ "$(tap_val PVKIT-GONE2)" = 0 ]; echo $?)"
tap_check busy_remove_fails_io "$(f=$(tap_val PVKIT-FIO2); [ -n "$f" ] &&
	[ "$f" != 0 ] && [ "$f" != hung ] &&
	[[ "$(tap_val PVKIT-FIO2ERR)" =~ "Input/output error"|"No such file or directory"|"No such device" ]]; echo $?)" \
	"fio under removal: exit '$(tap_val PVKIT-FIO2)' $(tap_val PVKIT-FIO2ERR)"
tap_check cycles_done "$cyc" "${cyc_fail:-no cycle phase}"
tap_check cycles_no_hv_fd_leak "$([ -n "$fd0" ] && [ "$fd0" = "$fd1" ]; echo $?)" \
	"pvkit-hv descriptors before $fd0, after $fd1"
# n0 counts the warm-up sentinel, n1 the final one
tap_check cycles_no_guest_leak "$([ -n "$s1" ] && [ -n "$n1" ] &&
	[ $((s1 - s0)) -lt 1024 ] && [ "$n1" = "$n0" ]; echo $?)" \
	"guest slab $s0 -> $s1 kB, pvkit devices $n0 -> $n1, sentinels after $(tap_val PVKIT-SENTINEL4096) $(tap_val PVKIT-SENTINEL6144)"
echo "# guest slab over $CYCLES cycles: $s0 -> $s1 kB; pvkit-hv fds $fd0 -> $fd1"
tap_finish
