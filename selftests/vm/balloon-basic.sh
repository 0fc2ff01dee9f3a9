#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# balloon-basic.sh
#
# Description: pvkit_balloon against the balloon pvkit-hv serves, one
# boot of a 1 GiB guest with --balloon granule=2m: the RAM file is plain
# shared memory, released in 2 MiB blocks as on 2 MiB hugetlbfs (no huge
# pages need to be reserved).  The host end (bal_peer.py) sets targets
# with `pvkit balloon` and measures the RAM file's allocated bytes.
# Checks:
#   the guest fills almost all its memory; inflated to leave 384 MiB
#   (640 MiB in the balloon, 2 MiB blocks) the RAM file holds at most
#   1 GiB less 95% of 640 MiB; deflating gives it back (all memory filled
#   and verified again);
#   inflated again (640 MiB), a program wants 500 MiB: it gets it and
#   every byte checks (deflate-on-OOM, nothing OOM-killed) while the host
#   re-requests its target 4 times a second; afterwards the balloon
#   refills (768 MiB would leave this guest, whose root file system of
#   110 MiB is in RAM, too little to settle: the guest itself then hits
#   OOM and the balloon gives way, as it should -- with 731 MiB available
#   after boot, that is why the first inflate is 640 MiB, not 768: CI saw
#   768 MiB missed after the guest's own OOMs deflated it);
#   with free memory fragmented the balloon falls back to 4 KiB pages;
#   4 KiB balloon pages in fragmented memory, the rest freed: compaction
#   migrates balloon pages;
#   free page reporting: 512 MiB allocated and freed leaves the RAM file
#   within seconds (the time is printed);
#   rmmod with the balloon inflated gives every page back first;
#   PVKIT_BAL_CYCLES (default 100) insmod / inflate / rmmod cycles, memory
#   flat; no BUG, WARNING or Oops, no OOM kill.
# Prints kselftest TAP; exit 0 pass, 1 fail, 4 skip.
# pvkit-vm-timeout: 900

set -uo pipefail

TOP=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=selftests/vm/lib.sh
. "$TOP/selftests/vm/lib.sh"
CYCLES=${PVKIT_BAL_CYCLES:-100}
WARM=$((CYCLES >= 10 ? 5 : 1))
MIB=1048576

tap_need_guest || exit 4
vm_peer_setup bal

# shellcheck disable=SC2016 # expanded by the guest shell
cmd='
set -u
st() { sed -n "s/^$1: //p" /sys/kernel/debug/pvkit_balloon/*/status 2>/dev/null; }
ack_wait() {
	i=0; while [ "$(st stats_seq)" = "$1" ] && [ $i -lt 900 ]; do
		i=$((i + 1)); sleep 0.1
	done
}
step() { s=$(st stats_seq); echo "PVKIT-BAL-STEP $*"; ack_wait "$s"; }
wait_actual() {
	i=0; while [ "$(st actual_pages)" != "$1" ] && [ $i -lt 1800 ]; do
		i=$((i + 1)); sleep 0.1
		[ $((i % 50)) = 0 ] && echo "PVKIT-BAL-WAIT-$2: $((i / 10)) s, $(st actual_pages) of $1, MemFree $(awk "/^MemFree:/ {print \$2}" /proc/meminfo) kB"
	done
	echo "PVKIT-BAL-ACTUAL-$2: $(st actual_pages) $((i / 10))"
}
avail() { awk "/^MemAvailable:/ {print int(\$2 / 1024)}" /proc/meminfo; }
ins() { insmod /lib/modules/pvkit/pvkit_balloon.ko "$@"; }
mem() { awk "/^(SUnreclaim|Percpu|VmallocUsed):/ {printf \"%s %s \", \$1, \$2}" /proc/meminfo; }
rmmod pvkit_balloon
ins free_page_reporting=0
# memory the guest really used: the RAM file holds it
echo "PVKIT-BAL-AVAIL0: $(avail)"
pvkit-mem fill $(( $(avail) - 48 )); echo "PVKIT-BAL-FILL0: $?"
step filled
step inflate 640
wait_actual 163840 inflate
echo "PVKIT-BAL-BLOCKS-A: $(st huge_blocks) $(st small_pages)"
step inflated
step deflate 0
wait_actual 0 deflate
echo "PVKIT-BAL-AVAIL1: $(avail)"
pvkit-mem fill $(( $(avail) - 48 )); echo "PVKIT-BAL-REFILL: $?"
# pressure while inflated, the host insisting
step inflate2 640
wait_actual 163840 inflate2
echo "PVKIT-BAL-PRESSURE on 640"
pvkit-mem fill 500 5; echo "PVKIT-BAL-PRESSURE-FILL: $?"
echo "PVKIT-BAL-OOM: $(st oom_deflated)"
s=$(st stats_seq); echo "PVKIT-BAL-PRESSURE off 640"; ack_wait "$s"
wait_actual 163840 reinflate
# free memory in 4 KiB holes: 2 MiB blocks fail, 4 KiB pages serve
frag() {
	pvkit-mem frag $(( $(avail) - 64 )) 300 > /tmp/frag.out &
	fp=$!
	i=0; while ! grep -q fragmented /tmp/frag.out && [ $i -lt 1200 ]; do
		i=$((i + 1)); sleep 0.1
	done
}
step empty1 0
wait_actual 0 empty1
frag
step inflatefrag 256
wait_actual 65536 frag
echo "PVKIT-BAL-FRAG: $(st huge_fallbacks) $(st small_pages) $(st huge_blocks)"
step empty2 0
wait_actual 0 empty2
kill $fp; wait $fp 2>/dev/null
# 4 KiB balloon pages in the holes, the rest freed: compaction moves them
rmmod pvkit_balloon; ins free_page_reporting=0 use_huge=0
frag
step inflate4k 128
wait_actual 32768 inflate4k
kill $fp; wait $fp 2>/dev/null
echo "PVKIT-BAL-SMALL: $(st small_pages) $(st huge_blocks)"
for i in 1 2 3; do echo 1 > /proc/sys/vm/compact_memory; done
echo "PVKIT-BAL-MIGRATED: $(st migrated)"
step compacted
step empty3 0
wait_actual 0 empty3
# free page reporting: no target needed
rmmod pvkit_balloon; ins
sleep 5
pvkit-mem fill 512; echo "PVKIT-BAL-REPFILL: $?"
s=$(st stats_seq); echo "PVKIT-BAL-WATCH report 512"; ack_wait "$s"
echo "PVKIT-BAL-REPORTED: $(st reported_pages)"
# unload with the balloon inflated
step inflaterm 256
wait_actual 65536 inflaterm
step rmready
rmmod pvkit_balloon; echo "PVKIT-BAL-RMMOD: $?"
echo "PVKIT-BAL-STEP afterrm"
sleep 3
# load / inflate 16 MiB / unload cycles
ins; step cycletarget 16; rmmod pvkit_balloon
ok=0
for i in $(seq '$CYCLES'); do
	ins || break
	j=0; while [ "$(st actual_pages)" != 4096 ] && [ $j -lt 300 ]; do
		j=$((j + 1)); sleep 0.1
	done
	[ $j -lt 300 ] || break
	rmmod pvkit_balloon || break
	ok=$i
	[ $i = '$WARM' ] && echo "PVKIT-BAL-MEM0: $(mem)"
done
echo "PVKIT-BAL-MEM1: $(mem)"
echo "PVKIT-BAL-CYCLES: $ok"
dmesg | grep -E "pvkit|BUG:|WARNING:|Oops|Call Trace|Killed process|Out of memory" | sed "s/^/PVKIT-DMESG: /"
'

vm_peer_boot bal_peer.py balloon-$$ 840 "$cmd" --balloon granule=2m

# peer EXPR: a Python expression over the peer's results r
peer()
{
	python3 -c '
import json, sys
try:
    r = json.load(open(sys.argv[1]))
except (OSError, ValueError):
    r = {"steps": {}, "watch": {}, "pressure": 0}
s = r["steps"]
try:
    v = eval(sys.argv[2])
except (KeyError, IndexError, TypeError):
    v = ""
print(v)
' "$tmp/peer.json" "$1"
}
isint() { [[ "$1" =~ ^[0-9]+$ ]]; }

echo "1..14"
tap_check boot_ok "$boot_rc" "boot-guest exit $boot_rc"
read -r actual secs <<< "$(tap_val PVKIT-BAL-ACTUAL-inflate)"
tap_check inflate_640M_reached "$([ "$actual" = 163840 ] && [ "$(peer 's["inflated"]["actual"]')" = $((640 * MIB)) ]; echo $?)" \
	"guest actual '$actual' after ${secs}s, host actual '$(peer 's["inflated"]["actual"]')'"
before=$(peer 's["filled"]["ram_allocated"]')
after=$(peer 's["inflated"]["ram_allocated"]')
fell=$(( ${before:-0} - ${after:-0} ))
# what the host holds for the guest: at most its RAM less 95% of the balloon
tap_check ram_file_holds_ram_less_95pct_of_640M "$(isint "$before" && isint "$after" && [ "$after" -le $((1024 * MIB - 640 * MIB * 95 / 100)) ]; echo $?)" \
	"RAM file allocated $before -> $after (fell $((fell / MIB)) MiB)"
echo "# RAM file: $((${before:-0} / MIB)) MiB allocated -> $((${after:-0} / MIB)) MiB with 640 MiB ballooned ($((fell / MIB)) MiB released), 2 MiB blocks $(tap_val PVKIT-BAL-BLOCKS-A)"
read -r a0 <<< "$(tap_val PVKIT-BAL-AVAIL0)"
read -r a1 <<< "$(tap_val PVKIT-BAL-AVAIL1)"
tap_check deflate_all_memory_usable "$([ "$(tap_val PVKIT-BAL-ACTUAL-deflate | cut -d' ' -f1)" = 0 ] && [ "$(tap_val PVKIT-BAL-REFILL)" = 0 ] && [ "$(tap_val PVKIT-BAL-FILL0)" = 0 ] && isint "$a0" && isint "$a1" && [ "$a1" -ge $((a0 - 16)) ]; echo $?)" \
	"deflated to '$(tap_val PVKIT-BAL-ACTUAL-deflate)', MemAvailable $a0 -> $a1 MiB, fills '$(tap_val PVKIT-BAL-FILL0)' '$(tap_val PVKIT-BAL-REFILL)'"
oom=$(tap_val PVKIT-BAL-OOM)
killed=$(tr -d '\r' < "$log" | grep -c -E 'PVKIT-DMESG: .*(Killed process|Out of memory)')
tap_check pressure_deflate_on_oom_no_kill "$([ "$(tap_val PVKIT-BAL-PRESSURE-FILL)" = 0 ] && isint "$oom" && [ "$oom" -gt 0 ] && [ "$killed" = 0 ] && [ "$(peer 'r["pressure"]')" -gt 10 ]; echo $?)" \
	"fill exit '$(tap_val PVKIT-BAL-PRESSURE-FILL)', OOM-deflated pages '$oom', OOM kills $killed, host re-requests $(peer 'r["pressure"]')"
tap_check balloon_refills_after_pressure "$([ "$(tap_val PVKIT-BAL-ACTUAL-reinflate | cut -d' ' -f1)" = 163840 ]; echo $?)" \
	"after the pressure: '$(tap_val PVKIT-BAL-ACTUAL-reinflate)'"
read -r small huge <<< "$(tap_val PVKIT-BAL-SMALL)"
mig=$(tap_val PVKIT-BAL-MIGRATED)
tap_check compaction_migrates_4k_balloon_pages "$([ "$small" = 32768 ] && [ "$huge" = 0 ] && isint "$mig" && [ "$mig" -gt 0 ] && [ "$(peer 's["compacted"]["actual"]')" = $((128 * MIB)) ]; echo $?)" \
	"small '$small' huge '$huge', migrated '$mig', host actual '$(peer 's["compacted"]["actual"]')'"
read -r fb fsmall fhuge <<< "$(tap_val PVKIT-BAL-FRAG)"
tap_check fragmented_falls_back_to_4k "$([ "$(tap_val PVKIT-BAL-ACTUAL-frag | cut -d' ' -f1)" = 65536 ] && isint "$fb" && [ "$fb" -gt 0 ] && [ "$fsmall" -gt 0 ]; echo $?)" \
	"fallbacks '$fb', 4 KiB pages '$fsmall', 2 MiB blocks '$fhuge', reached '$(tap_val PVKIT-BAL-ACTUAL-frag)'"
echo "# fragmented guest, 256 MiB target: $fhuge 2 MiB blocks + $fsmall 4 KiB pages ($fb fallbacks)"
# the RAM file's drop after the guest freed 512 MiB: [seconds, bytes]...
wdrop=$(peer 'r["watch"]["report"][-1][1]')
whalf=$(peer 'min([t for t, d in r["watch"]["report"] if d >= 256 * 1048576] or [-1])')
tap_check free_page_reporting_shrinks_ram_file "$([ "$(tap_val PVKIT-BAL-REPFILL)" = 0 ] && isint "$wdrop" && [ "$wdrop" -ge $((512 * MIB * 6 / 10)) ]; echo $?)" \
	"RAM file fell $((${wdrop:-0} / MIB)) MiB in 20 s (half of it after ${whalf} s), guest reported '$(tap_val PVKIT-BAL-REPORTED)' pages"
echo "# free page reporting: 512 MiB freed in the guest; RAM file -256 MiB after ${whalf} s, -$((${wdrop:-0} / MIB)) MiB after 20 s ($(peer '" ".join("%gs:%dM" % (t, d >> 20) for t, d in r["watch"]["report"][4::10])'))"
tap_check rmmod_inflated_gives_all_back "$([ "$(tap_val PVKIT-BAL-RMMOD)" = 0 ] && [ "$(peer 's["afterrm"]["actual"]')" = 0 ] && [ "$(peer 's["rmready"]["actual"]')" = $((256 * MIB)) ]; echo $?)" \
	"rmmod exit '$(tap_val PVKIT-BAL-RMMOD)', host actual before '$(peer 's["rmready"]["actual"]')' after '$(peer 's["afterrm"]["actual"]')'"
# released in whole 2 MiB blocks (4 KiB pages only once their block is full)
rel=$(peer 's["inflated"]["released"]')
tap_check granule_2m_released "$([ "$(peer 's["inflated"]["granule"]')" = 2097152 ] && isint "$rel" && [ "$rel" -ge $((640 * MIB * 95 / 100)) ] && [ $((rel % (2 * MIB))) = 0 ] && [ "$(peer 's["inflated"]["refused"]')" = 0 ]; echo $?)" \
	"granule '$(peer 's["inflated"]["granule"]')', released '$(peer 's["inflated"]["released"]')', refused '$(peer 's["inflated"]["refused"]')'"
# the report the "inflated" step asked for (kept until the next one)
tap_check guest_stats_reach_host "$(t=$(peer 's["deflate"]["stats"]["total"]'); isint "$t" && [ "$t" -gt $((512 * MIB)) ] && [ "$(peer 's["deflate"]["stats"]["balloon"]')" = $((640 * MIB)) ]; echo $?)" \
	"stats total '$(peer 's["deflate"]["stats"]["total"]')', balloon '$(peer 's["deflate"]["stats"]["balloon"]')'"
memdelta() { tap_memdelta PVKIT-BAL-MEM "$1"; }
tap_check "reload_${CYCLES}_cycles_no_leak" \
	"$([ "$(tap_val PVKIT-BAL-CYCLES)" = "$CYCLES" ] && [ "$(memdelta SUnreclaim)" -lt $((256 + 4 * CYCLES)) ] && [ "$(memdelta Percpu)" -lt $((64 + CYCLES)) ] && [ "$(memdelta VmallocUsed)" -lt $((256 + 4 * CYCLES)) ]; echo $?)" \
	"cycles $(tap_val PVKIT-BAL-CYCLES)/$CYCLES; from cycle $WARM: SUnreclaim +$(memdelta SUnreclaim) kB, Percpu +$(memdelta Percpu) kB, VmallocUsed +$(memdelta VmallocUsed) kB"
echo "# reload: from cycle $WARM: SUnreclaim +$(memdelta SUnreclaim) kB, Percpu +$(memdelta Percpu) kB, VmallocUsed +$(memdelta VmallocUsed) kB"
tap_check no_oom_kill_anywhere "$([ "$killed" = 0 ]; echo $?)" "$killed OOM kill lines"
tap_finish
