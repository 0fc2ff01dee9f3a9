#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# blk-timeout.sh
#
# Description: a request stuck in the back-end is not waited for forever.
# The host freezes pvkit-blkback (SIGSTOP) under a guest write:
#   round 1  (timeout_retries=2): the guest's 3 s I/O timeout fires, is
#            logged and counted, pvkit_blk resets the device; pvkit-hv
#            finds the back-end not draining, kills and restarts it; the
#            request is resubmitted and the data reads back intact;
#   round 2  (timeout_retries=0): the same stall now fails the write
#            with an error the guest sees (dd fails), and the disk works
#            again afterwards.
# Prints kselftest TAP; exit 0 pass, 1 fail, 4 skip.
# Env: PVKIT_TIMEOUT_BOOT (whole boot, default 300 s).

set -uo pipefail

TOP=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=selftests/vm/lib.sh
. "$TOP/selftests/vm/lib.sh"
PVKIT=$TOP/build/bin/pvkit
TMO=${PVKIT_TIMEOUT_BOOT:-300}
name=blk-timeout-$$

tap_need_guest || exit 4

tmp=$(mktemp -d /dev/shm/pvkit-timeout.XXXXXX)
boot_pid=
stopped=
cleanup()
{
	[ -n "$stopped" ] && kill -CONT "$stopped" 2>/dev/null
	[ -n "$boot_pid" ] && kill "$boot_pid" 2>/dev/null
	wait 2>/dev/null
	[ -n "${PVKIT_KEEP:-}" ] && cp "$log" /tmp/blk-timeout.log
	rm -rf "$tmp"
}
trap cleanup EXIT
truncate -s 64M "$tmp/disk.img"
log=$tmp/console.log

# No channel back into the guest is needed: after printing PVKIT-STALL N
# the guest waits 3 s before its write, and the host, polling the console
# every 0.1 s, has frozen the back-end by then.
# shellcheck disable=SC2016 # expanded by the guest shell
cmd='
disk=/dev/pvda
q=/sys/block/pvda/queue
p=/sys/module/pvkit_blk/parameters
cnt=/sys/kernel/debug/pvkit/counters
tmo() { grep "^blk.0/q.*/timeouts" $cnt | awk "{s += \$2} END {print s + 0}"; }
echo 3000 > $q/io_timeout
echo "PVKIT-IOTIMEOUT: $(cat $q/io_timeout)"
yes pvkit-timeout-1 | head -c 4194304 > /tmp/p1
t0=$(tmo)
echo PVKIT-STALL 1
sleep 3
dd if=/tmp/p1 of=$disk bs=1M count=4 oflag=direct 2>/dev/null
echo "PVKIT-DD1: $?"
echo "PVKIT-TIMEOUTS1: $(( $(tmo) - t0 ))"
echo "PVKIT-SHA1: $(dd if=$disk bs=1M count=4 iflag=direct 2>/dev/null | sha256sum | cut -d" " -f1) $(sha256sum < /tmp/p1 | cut -d" " -f1)"
echo 0 > $p/timeout_retries
t0=$(tmo)
echo PVKIT-STALL 2
sleep 3
dd if=/tmp/p1 of=$disk bs=1M seek=8 count=4 oflag=direct 2>/dev/null
echo "PVKIT-DD2: $?"
echo "PVKIT-TIMEOUTS2: $(( $(tmo) - t0 ))"
echo 2 > $p/timeout_retries
dd if=/tmp/p1 of=$disk bs=1M seek=16 count=4 oflag=direct 2>/dev/null
echo "PVKIT-DD3: $?"
echo "PVKIT-SHA3: $(dd if=$disk bs=1M skip=16 count=4 iflag=direct 2>/dev/null | sha256sum | cut -d" " -f1)"
dmesg | grep -E "pvkit|BUG:|WARNING:|Oops|Call Trace" | sed "s/^/PVKIT-DMESG: /"
'

PVKIT_BOOT=hv "$TOP/scripts/boot-guest.sh" --timeout "$TMO" --log "$log" \
	--cmd "$cmd" -- --name "$name" --disk "$tmp/disk.img" > /dev/null 2>&1 &
boot_pid=$!

# backend_pid: pvkit-blkback's pid from 'pvkit stat --json', or empty.
backend_pid()
{
	"$PVKIT" stat "$name" --json 2>/dev/null |
		python3 -c 'import json, sys
for d in json.load(sys.stdin).get("devices", []):
    if d.get("type") == "blk" and "backend" in d:
        print(d["backend"]["pid"])' 2>/dev/null
}

# stall N: once the guest says PVKIT-STALL N, SIGSTOP the back-end.
stall()
{
	local deadline=$((SECONDS + TMO)) pid

	while ! tr -d '\r' 2>/dev/null < "$log" | grep -q "^PVKIT-STALL $1\$"; do
		kill -0 "$boot_pid" 2>/dev/null || return 1
		[ $SECONDS -lt $deadline ] || return 1
		sleep 0.1
	done
	pid=$(backend_pid)
	[ -n "$pid" ] || return 1
	kill -STOP "$pid" || return 1
	stopped=$pid
	echo "# round $1: pvkit-blkback (pid $pid) stopped"
	return 0
}

s1=0
s2=0
stall 1 || s1=1
stall 2 || s2=1
wait "$boot_pid"
boot_rc=$?
boot_pid=
stopped=


echo "1..9"
tap_check boot_ok "$boot_rc" "boot-guest exit $boot_rc"
tap_check io_timeout_set "$([ "$(tap_val PVKIT-IOTIMEOUT)" = 3000 ]; echo $?)" \
	"queue/io_timeout reads '$(tap_val PVKIT-IOTIMEOUT)'"
tap_check round1_backend_stopped "$s1"
read -r got want <<< "$(tap_val PVKIT-SHA1)"
tap_check round1_write_resubmitted_intact \
	"$([ "$(tap_val PVKIT-DD1)" = 0 ] && [ -n "$got" ] && [ "$got" = "$want" ]; echo $?)" \
	"dd exit '$(tap_val PVKIT-DD1)', read back $got, wrote $want"
tap_check round1_timeout_counted "$([ "$(tap_val PVKIT-TIMEOUTS1)" -gt 0 ] 2>/dev/null; echo $?)" \
	"timeouts counted: '$(tap_val PVKIT-TIMEOUTS1)'"
tap_check round1_logged \
	"$(tr -d '\r' < "$log" | grep -q 'PVKIT-DMESG: .*unanswered for 3000 ms'; echo $?)"
tap_check round2_write_fails "$([ "$(tap_val PVKIT-DD2)" != 0 ] && [ -n "$(tap_val PVKIT-DD2)" ]; echo $?)" \
	"dd exit '$(tap_val PVKIT-DD2)' (stall round 2: $s2)"
tap_check round2_failure_logged \
	"$(tr -d '\r' < "$log" | grep -q 'PVKIT-DMESG: .*requests failed after 1 timeouts'; echo $?)"
tap_check disk_works_after \
	"$([ "$(tap_val PVKIT-DD3)" = 0 ] && [ "$(tap_val PVKIT-SHA3)" = "$want" ]; echo $?)" \
	"dd exit '$(tap_val PVKIT-DD3)', sha $(tap_val PVKIT-SHA3)"
tap_finish
