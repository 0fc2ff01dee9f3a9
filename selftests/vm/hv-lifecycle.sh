#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# hv-lifecycle.sh
#
# Description: however a VM dies, nothing of it is left behind.
# Boots guests under build/bin/pvkit-hv (a --disk on tmpfs, so a
# pvkit-blkback runs; a unique --name; console to a file) and ends each one
# a different way:
#   1 SIGTERM to pvkit-hv                     exit 3
#   2 SIGKILL to pvkit-hv                     (killed; the janitor cleans up)
#   3 SIGKILL to QEMU                         exit 2
#   4 SIGKILL to the back-end: the VM survives, a new back-end is started;
#     then 'pvkit stop'                       exit 3
#   5 the guest powers off (its command ends) exit 0
#   6 the guest panics (sysrq c; panic=-1 and -no-reboot end QEMU)  exit 0
#   7 SIGKILL to pvkit-hv's whole process group (what a timeout does)
# and checks, within a bounded time, that no process of the VM (pvkit-hv,
# its janitor, QEMU, back-ends: by recorded pid + start time and by the
# name in /proc/*/cmdline) and no file (run directory, /dev/shm/pvkit-NAME-*)
# remains, and pvkit-hv's exit status (docs/hypervisor.md).
# Prints kselftest TAP; exit 0 pass, 1 fail, 4 skip (no pvkit-hv, kernel
# or guest image).  Env: PVKIT_LIFECYCLE_BOOT_TIMEOUT (default 120 s).

set -uo pipefail

TOP=$(cd "$(dirname "$0")/../.." && pwd)
HV=$TOP/build/bin/pvkit-hv
PVKIT=$TOP/build/bin/pvkit
KERNEL=$TOP/build/kernel/vmlinuz
BASE_INITRD=$TOP/build/guest/initramfs.cpio.gz
RUN_BASE=${PVKIT_RUN_DIR:-/run/pvkit}
BOOT_TMO=${PVKIT_LIFECYCLE_BOOT_TIMEOUT:-120}
GONE_TMO=15	# s: for everything to disappear after the death

echo "TAP version 13"
for f in "$HV" "$PVKIT" "$KERNEL" "$BASE_INITRD" "$TOP/build/bin/pvkit-blkback"; do
	if [ ! -e "$f" ]; then
		echo "1..0 # SKIP $f missing: run 'make guest'"
		exit 4
	fi
done
if ! command -v qemu-system-x86_64 > /dev/null; then
	echo "1..0 # SKIP qemu-system-x86_64 missing"
	exit 4
fi

tmp=$(mktemp -d /dev/shm/hvlc-test.XXXXXX)
hv_pid=""
cleanup()
{
	[ -n "$hv_pid" ] && kill -KILL -- "-$hv_pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
truncate -s 16M "$tmp/disk.img"

mkinitrd()	# mkinitrd OUT CMD
{
	"$TOP/scripts/mkcmd-initrd.sh" "$2" "$tmp/cmd.cpio.gz" &&
		cat "$BASE_INITRD" "$tmp/cmd.cpio.gz" > "$1"
}
mkinitrd "$tmp/sleep.img" 'echo HVLC-UP; sleep 600' || exit 1
mkinitrd "$tmp/poweroff.img" 'echo HVLC-UP; sleep 3; exit 7' || exit 1
mkinitrd "$tmp/panic.img" 'echo HVLC-UP; sleep 3; echo c > /proc/sysrq-trigger; sleep 60' || exit 1

echo "1..7"
n=0
fails=0
ok()		# ok NAME
{
	n=$((n + 1))
	echo "ok $n $1"
}
not_ok()	# not_ok NAME WHY...
{
	local t=$1

	shift
	n=$((n + 1))
	fails=$((fails + 1))
	echo "not ok $n $t"
	for l in "$@"; do
		echo "# $l"
	done
	[ -f "$tmp/hv.err" ] && sed 's/^/#   hv: /' "$tmp/hv.err" | tail -n 15
}

# Start time of a process (field 22 of /proc/PID/stat), empty if gone or
# a zombie (dead, only waiting for its reaper).
starttime()
{
	local s

	s=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
	s=${s##*) }
	# shellcheck disable=SC2086
	set -- $s
	[ "$1" = Z ] || echo "${20}"
}

# Record the VM's processes as "pid:starttime": pvkit-hv and its children
# (the janitor, QEMU, back-ends).
record_procs()
{
	local p st ppid s

	procs=("$hv_pid:$(starttime "$hv_pid")")
	for p in /proc/[0-9]*; do
		s=$(cat "$p/stat" 2>/dev/null) || continue
		s=${s##*) }
		# shellcheck disable=SC2086
		set -- $s
		ppid=$2
		[ "$ppid" = "$hv_pid" ] || continue
		st=$(starttime "${p#/proc/}")
		[ -n "$st" ] && procs+=("${p#/proc/}:$st")
	done
}

# What of VM $name is still there (one line per leftover; nothing: clean).
leftovers()
{
	local e p c

	for e in "${procs[@]}"; do
		p=${e%%:*}
		[ "$(starttime "$p")" = "${e#*:}" ] &&
			echo "process $p: $(tr '\0' ' ' 2>/dev/null < "/proc/$p/cmdline")" \
			     "[$(grep -E '^(State|PPid)' "/proc/$p/status" 2>/dev/null | tr '\n\t' '  ')]"
	done
	for p in /proc/[0-9]*; do
		c=$(tr '\0' ' ' 2>/dev/null < "$p/cmdline") || continue
		case " $c " in
		*" $name "*|*"/$name/"*)
			[ -n "$(starttime "${p#/proc/}")" ] || continue
			case " ${procs[*]} " in
			*" ${p#/proc/}:"*) ;;	# reported above
			*) echo "process ${p#/proc/}: $c" ;;
			esac ;;
		esac
	done
	[ -e "$RUN_BASE/$name" ] && echo "file $RUN_BASE/$name:" "$RUN_BASE/$name"/*
	for p in /dev/shm/pvkit-"$name"-*; do
		[ -e "$p" ] && echo "file $p"
	done
	return 0
}

# boot INITRD: start VM $name in its own process group, wait for HVLC-UP.
boot()
{
	local deadline=$((SECONDS + BOOT_TMO))

	: > "$tmp/console.log"
	: > "$tmp/hv.err"
	set -m
	"$HV" --kernel "$KERNEL" --initrd "$1" \
		--append "console=ttyS0 quiet panic=-1" --mem 512M --cpus 1 \
		--name "$name" --console "$tmp/console.log" \
		--disk "$tmp/disk.img" < /dev/null > /dev/null 2> "$tmp/hv.err" &
	hv_pid=$!
	set +m
	while ! grep -aq '^HVLC-UP' "$tmp/console.log"; do
		if ! kill -0 "$hv_pid" 2>/dev/null || [ $SECONDS -ge $deadline ]; then
			echo "guest did not come up"
			return 1
		fi
		sleep 0.2
	done
	record_procs
	# pvkit-hv, janitor, QEMU, back-end
	if [ ${#procs[@]} -lt 4 ]; then
		echo "only ${#procs[@]} processes: ${procs[*]}"
		return 1
	fi
	if ! "$PVKIT" list --json 2>/dev/null | grep -q "\"$name\""; then
		echo "'pvkit list --json' does not show $name"
		return 1
	fi
	if [ ! -S "$RUN_BASE/$name/ctl.sock" ]; then
		echo "no $RUN_BASE/$name/ctl.sock"
		return 1
	fi
	# guest RAM is an unlinked file from the start
	for f in /dev/shm/pvkit-"$name"-*; do
		if [ -e "$f" ]; then
			echo "$f exists while the VM runs"
			return 1
		fi
	done
	return 0
}

# The child of pvkit-hv whose cmdline starts with $1 (QEMU, back-end).
child_pid()
{
	local e p

	for e in "${procs[@]}"; do
		p=${e%%:*}
		[ "$p" = "$hv_pid" ] && continue
		case "$(tr '\0' ' ' 2>/dev/null < "/proc/$p/cmdline")" in
		"$1"*|*/"$1"*) echo "$p"; return ;;
		esac
	done
}

# finish TEST WANT_STATUS JANITOR: wait for pvkit-hv's exit and for every
# leftover to disappear, then report.  JANITOR=yes: the janitor must have
# reported the death of pvkit-hv (it cleaned up: the run directory, unless
# a concurrent 'pvkit list' swept it first); no: it must have been silent.
finish()
{
	local t=$1 want=$2 jan=$3 deadline=$((SECONDS + GONE_TMO)) rc left
	local jmsg="janitor: pvkit-hv (pid $hv_pid) died"

	while kill -0 "$hv_pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do
		sleep 0.1
	done
	if kill -0 "$hv_pid" 2>/dev/null; then
		kill -KILL -- "-$hv_pid" 2>/dev/null
		{ wait "$hv_pid"; } 2>/dev/null
		hv_pid=""
		not_ok "$t" "pvkit-hv did not exit within ${GONE_TMO}s"
		return
	fi
	{ wait "$hv_pid"; } 2>/dev/null
	rc=$?
	hv_pid=""
	while left=$(leftovers); [ -n "$left" ] && [ $SECONDS -lt $deadline ]; do
		sleep 0.1
	done
	if [ -n "$left" ]; then
		mapfile -t lines <<< "$left"
		not_ok "$t" "left behind after ${GONE_TMO}s:" "${lines[@]}"
	elif [ "$rc" != "$want" ]; then
		not_ok "$t" "pvkit-hv exit status $rc, want $want"
	elif [ "$jan" = yes ] &&
	     ! grep -q "$jmsg.*run directory \(removed\|already gone\)" "$tmp/hv.err"; then
		not_ok "$t" "no '$jmsg ... run directory removed' message"
	elif [ "$jan" = no ] && grep -q "janitor" "$tmp/hv.err"; then
		not_ok "$t" "the janitor spoke after a clean exit"
	else
		ok "$t"
	fi
}

# start_case NR TEST INITRD: boot a fresh VM (name unique per case).
start_case()
{
	name=hvlc-$$-$1
	if ! boot "$3" > "$tmp/why"; then
		[ -n "$hv_pid" ] && kill -KILL -- "-$hv_pid" 2>/dev/null
		{ wait "$hv_pid"; } 2>/dev/null
		hv_pid=""
		not_ok "$2" "$(cat "$tmp/why")"
		return 1
	fi
	return 0
}

t="SIGTERM to pvkit-hv: exit 3, nothing left"
if start_case 1 "$t" "$tmp/sleep.img"; then
	kill -TERM "$hv_pid"
	finish "$t" 3 no
fi

t="SIGKILL to pvkit-hv: janitor removes everything"
if start_case 2 "$t" "$tmp/sleep.img"; then
	kill -KILL "$hv_pid"
	finish "$t" 137 yes
fi

t="SIGKILL to QEMU: exit 2, nothing left"
if start_case 3 "$t" "$tmp/sleep.img"; then
	q=$(child_pid qemu-system)
	if [ -z "$q" ]; then
		kill -KILL -- "-$hv_pid"
		{ wait "$hv_pid"; } 2>/dev/null
		hv_pid=""
		not_ok "$t" "no QEMU among ${procs[*]}"
	else
		kill -KILL "$q"
		finish "$t" 2 no
	fi
fi

t="SIGKILL to the back-end: VM survives, back-end restarted; then pvkit stop: exit 3"
if start_case 4 "$t" "$tmp/sleep.img"; then
	be=$(child_pid pvkit-blkback)
	be_st=$(starttime "${be:-0}")
	kill -KILL "${be:-0}" 2>/dev/null
	new=""
	deadline=$((SECONDS + 15))
	while [ $SECONDS -lt $deadline ]; do
		new=$("$PVKIT" stat "$name" --json 2>/dev/null |
			python3 -c 'import json,sys
d = json.load(sys.stdin)
b = [x["backend"] for x in d["devices"] if x.get("backend")]
print(" ".join("%d:%d" % (x["pid"], x["restarts"]) for x in b))' 2>/dev/null)
		case "$new" in
		"${be}:"*|"0:"*|"") ;;
		*:[1-9]*) break ;;
		esac
		new=""
		sleep 0.2
	done
	new_pid=${new%%:*}
	if [ -z "$be" ] || [ -z "$new" ] || ! kill -0 "$hv_pid" 2>/dev/null ||
	   [ -z "$(starttime "$(child_pid qemu-system)")" ] ||
	   [ "$(starttime "$be")" = "$be_st" ]; then
		kill -KILL -- "-$hv_pid" 2>/dev/null
		{ wait "$hv_pid"; } 2>/dev/null
		hv_pid=""
		not_ok "$t" "back-end '$be' killed; restarted: '$new'"
	else
		procs+=("$new_pid:$(starttime "$new_pid")")
		"$PVKIT" stop "$name" --grace 1 > "$tmp/stop.out" 2>&1
		finish "$t" 3 no
	fi
fi

t="guest powers off: exit 0, nothing left"
if start_case 5 "$t" "$tmp/poweroff.img"; then
	finish "$t" 0 no
	grep -aq '^PVKIT-EXIT: 7' "$tmp/console.log" ||
		echo "# note: no PVKIT-EXIT: 7 in the console"
fi

t="guest panics: exit 0 (-no-reboot), nothing left"
if start_case 6 "$t" "$tmp/panic.img"; then
	finish "$t" 0 no
	grep -aq 'Kernel panic' "$tmp/console.log" ||
		echo "# note: no 'Kernel panic' in the console"
fi

t="SIGKILL to pvkit-hv's process group: janitor removes everything"
if start_case 7 "$t" "$tmp/sleep.img"; then
	kill -KILL -- "-$hv_pid"
	finish "$t" 137 yes
fi

echo "# Totals: pass:$((n - fails)) fail:$fails xfail:0 xpass:0 skip:0 error:0"
[ $fails -eq 0 ]
