#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# clock-basic.sh
#
# Description: pvkit_clock against the clock pvkit-hv serves (--clock
# on), one boot.  Checks:
#   the driver calibrates (mapping valid, a measured rate, an error bound
#   under 1 ms) and registers clocksource "pvkit" and a PTP clock;
#   PTP_SYS_OFFSET_EXTENDED answers, phc - sys within 5 ms, and
#   PTP_SYS_OFFSET_PRECISE works while "pvkit" is the clocksource;
#   `pvkit pause` for 2 s and `pvkit resume`: generation 2, CLOCK_REALTIME
#   stepped by the pause (within 0.5 s) and a uevent with
#   PVKIT_CLOCK_GENERATION=2;
#   CLOCK_MONOTONIC never goes back on either CPU or across them, pause
#   included (pvkit-clk mono);
#   rmmod while "pvkit" is the current clocksource works (the timekeeper
#   moves away), and PVKIT_CLK_CYCLES (default 20) insmod / calibrate /
#   rmmod cycles leave slab memory flat; no BUG, WARNING or Oops.
# Prints kselftest TAP; exit 0 pass, 1 fail, 4 skip.
# pvkit-vm-timeout: 600

set -uo pipefail

TOP=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=selftests/vm/lib.sh
. "$TOP/selftests/vm/lib.sh"
CYCLES=${PVKIT_CLK_CYCLES:-20}
WARM=$((CYCLES >= 10 ? 5 : 1))

tap_need_guest || exit 4
tmp=$(mktemp -d /dev/shm/pvkit-clk.XXXXXX)
log=$tmp/console.log
boot_pid=
peer_pid=
cleanup()
{
	[ -n "$peer_pid" ] && kill "$peer_pid" 2>/dev/null
	[ -n "$boot_pid" ] && kill "$boot_pid" 2>/dev/null
	wait 2>/dev/null
	[ -n "${PVKIT_KEEP:-}" ] && cp "$log" /tmp/clock-basic.log
	rm -rf "$tmp"
}
trap cleanup EXIT

# shellcheck disable=SC2016 # expanded by the guest shell
cmd='
set -u
D=/sys/kernel/debug/pvkit_clock/clock.0/status
CS=/sys/devices/system/clocksource/clocksource0
st() { sed -n "s/^$1: //p" $D 2>/dev/null; }
mem() { awk "/^(SUnreclaim|Percpu|VmallocUsed):/ {printf \"%s %s \", \$1, \$2}" /proc/meminfo; }
uevent sh -c "env | grep PVKIT_CLOCK >> /tmp/ue" &
i=0; while [ "$(st rate_measured)" != 1 ] && [ $i -lt 600 ]; do
	i=$((i + 1)); sleep 0.1
done
sleep 2
echo "PVKIT-CLK-CAL: $(st mapping_valid) $(st rate_measured) $(st error_bound_ns) $(st calibrations) $(st best_rtt_ns)"
echo "PVKIT-CLK-CS: $(cat $CS/current_clocksource) $(cat $CS/available_clocksource)"
echo "PVKIT-CLK-PTPDEV: $(st ptp_index)"
pvkit-clk ptp /dev/ptp$(st ptp_index) 100
echo "PVKIT-CLK-PTP: $?"
pvkit-clk cost 20000
pvkit-clk mono 5000000 > /tmp/mono1 &
mp=$!
echo "PVKIT-CLK-PAUSE-NOW"
i=0; while ! grep -q GENERATION=2 /tmp/ue 2>/dev/null && [ $i -lt 600 ]; do
	i=$((i + 1)); sleep 0.1
done
wait $mp; echo "PVKIT-CLK-MONO1: $? $(cat /tmp/mono1)"
echo "PVKIT-CLK-GEN: $(st generation) $(st steps) $(st last_step_ns) $(st last_step_bound_ns)"
echo "PVKIT-CLK-UEVENT: $(tr "\n" " " < /tmp/ue)"
pvkit-clk mono 100000; echo "PVKIT-CLK-MONO2: $?"
rmmod pvkit_clock; echo "PVKIT-CLK-RMMOD: $? $(cat $CS/current_clocksource)"
ok=0
for i in $(seq '$CYCLES'); do
	insmod /lib/modules/pvkit/pvkit_clock.ko step=0 || break
	j=0; while [ "$(st mapping_valid)" != 1 ] && [ $j -lt 100 ]; do
		j=$((j + 1)); sleep 0.1
	done
	[ $j -lt 100 ] || break
	rmmod pvkit_clock || break
	ok=$i
	[ $i = '$WARM' ] && echo "PVKIT-CLK-MEM0: $(mem)"
done
echo "PVKIT-CLK-MEM1: $(mem)"
echo "PVKIT-CLK-CYCLES: $ok"
dmesg | grep -E "pvkit|BUG:|WARNING:|Oops|Call Trace" | sed "s/^/PVKIT-DMESG: /"
'

name=clock-$$
(
	for _ in $(seq 3000); do
		grep -q PVKIT-CLK-PAUSE-NOW "$log" 2>/dev/null && break
		sleep 0.1
	done
	"$TOP/build/bin/pvkit" pause "$name" > /dev/null
	sleep 2
	"$TOP/build/bin/pvkit" resume "$name" > /dev/null
) &
peer_pid=$!
PVKIT_BOOT=hv "$TOP/scripts/boot-guest.sh" --timeout 540 --log "$log" \
	--cmd "$cmd" -- --name "$name" --clock on > /dev/null 2>&1 &
boot_pid=$!
wait "$boot_pid"
boot_rc=$?
boot_pid=
kill "$peer_pid" 2>/dev/null
wait "$peer_pid" 2>/dev/null
peer_pid=

isint() { [[ "$1" =~ ^-?[0-9]+$ ]]; }

echo "1..8"
tap_check boot_ok "$boot_rc" "boot-guest exit $boot_rc"
read -r valid measured bound cals rtt <<< "$(tap_val PVKIT-CLK-CAL)"
tap_check calibrated_bound_under_1ms "$([ "$valid" = 1 ] && [ "$measured" = 1 ] && isint "$bound" && [ "$bound" -lt 1000000 ]; echo $?)" \
	"valid '$valid' rate measured '$measured' bound '$bound' ns after '$cals' calibrations, best round trip '$rtt' ns"
echo "# error bound $bound ns after $cals calibrations, best round trip $rtt ns"
cs=$(tap_val PVKIT-CLK-CS)
ptp=$(tr -d '\r' < "$log" | grep "^PVKIT-CLK: ptp dev" | tail -1)
p50=$(sed -n 's/.*offset_p50_ns=\(-\{0,1\}[0-9]*\).*/\1/p' <<< "$ptp")
precise=$(tr -d '\r' < "$log" | grep -c "^PVKIT-CLK: ptp precise offset_ns=")
tap_check ptp_offset_under_5ms_and_precise "$([ "$(tap_val PVKIT-CLK-PTP)" = 0 ] && isint "$p50" && [ "${p50#-}" -lt 5000000 ] && { [ "${cs%% *}" != pvkit ] || [ "$precise" = 1 ]; }; echo $?)" \
	"clocksources '$cs', $ptp, precise lines $precise"
echo "# $ptp"
read -r gen steps stepns stepbound <<< "$(tap_val PVKIT-CLK-GEN)"
tap_check pause_2s_steps_realtime "$([ "$gen" = 2 ] && isint "$stepns" && [ "$stepns" -gt 1500000000 ] && [ "$stepns" -lt 2500000000 ]; echo $?)" \
	"generation '$gen' steps '$steps' last step '$stepns' ns (bound '$stepbound')"
echo "# pause of 2 s: stepped $stepns ns, bound $stepbound ns"
ue=$(tap_val PVKIT-CLK-UEVENT)
tap_check uevent_generation_2 "$(grep -q "PVKIT_CLOCK_GENERATION=2 PVKIT_CLOCK_STEP_NS=" <<< "$ue"; echo $?)" "uevents '$ue'"
mono1=$(tap_val PVKIT-CLK-MONO1)
tap_check monotonic_never_back "$([ "${mono1%% *}" = 0 ] && [ "$(tap_val PVKIT-CLK-MONO2)" = 0 ]; echo $?)" \
	"across the pause '$mono1', after '$(tap_val PVKIT-CLK-MONO2)'"
rm_=$(tap_val PVKIT-CLK-RMMOD)
tap_check rmmod_while_current "$([ "${rm_%% *}" = 0 ] && [ "${rm_#* }" != pvkit ]; echo $?)" "rmmod '$rm_'"
slab=$(tap_memdelta PVKIT-CLK-MEM SUnreclaim)
tap_check reload_cycles_no_leak "$([ "$(tap_val PVKIT-CLK-CYCLES)" = "$CYCLES" ] && [ "$slab" -lt 256 ]; echo $?)" \
	"cycles '$(tap_val PVKIT-CLK-CYCLES)' of $CYCLES, SUnreclaim +$slab kB"
tap_finish
