#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# boot-guest.sh [--cmd "CMD"] [--timeout SEC] [--log FILE] [-- ENGINE-ARGS...]
#
# The one place that knows how to boot the pvkit guest.
#
# Without --cmd: interactive shell on the serial console (stdio).
# With --cmd: CMD runs in the guest (see scripts/guest-init); the console
# is streamed to stdout (and kept in --log FILE), and the exit status is
# CMD's, parsed from the "PVKIT-EXIT: <status>" marker.
#   124  timeout (--timeout SEC, default 600; the VM is killed)
#   125  the guest died without printing the marker
#
# PVKIT_BOOT=hv (default) runs build/bin/pvkit-hv, which supervises QEMU
# and provides the pvkit device; PVKIT_BOOT=qemu runs QEMU directly
# (no pvkit device).
# Extra arguments after "--" go to the engine unchanged.
# PVKIT_APPEND adds kernel command line arguments.

set -uo pipefail

TOP=$(cd "$(dirname "$0")/.." && pwd)
KERNEL=$TOP/build/kernel/vmlinuz
BASE_INITRD=$TOP/build/guest/initramfs.cpio.gz
MEM=1G
CPUS=2
APPEND="console=ttyS0 quiet panic=-1 ${PVKIT_APPEND:-}"

cmd=""
have_cmd=0
timeout=600
log=""
extra=()

usage()
{
	sed -n '4,20s/^# \{0,1\}//p' "$0" >&2
	exit 2
}

while [ $# -gt 0 ]; do
	case "$1" in
	--cmd)		[ $# -ge 2 ] || usage; cmd=$2; have_cmd=1; shift 2 ;;
	--timeout)	[ $# -ge 2 ] || usage; timeout=$2; shift 2 ;;
	--log)		[ $# -ge 2 ] || usage; log=$2; shift 2 ;;
	--)		shift; extra=("$@"); break ;;
	-h|--help)	usage ;;
	*)		echo "boot-guest: unknown argument: $1" >&2; usage ;;
	esac
done

for f in "$KERNEL" "$BASE_INITRD"; do
	if [ ! -f "$f" ]; then
		echo "boot-guest: $f missing: run 'make deps guest'" >&2
		exit 1
	fi
done

# --- engines ----------------------------------------------------------------
# engine_<name> INITRD CONSOLE
#   CONSOLE is "stdio" (interactive) or a file path the guest's serial
#   console must be written to.  Extra engine args are in "${extra[@]}".
#   Runs in the foreground; returns when the VM is gone.  In command mode
#   it runs in its own process group, which is killed on timeout.

engine_qemu()
{
	local initrd=$1 console=$2 serial

	if [ "$console" = stdio ]; then
		serial=(-serial mon:stdio)
	else
		serial=(-serial "file:$console")
	fi
	exec qemu-system-x86_64 -nodefaults -no-user-config -machine pc \
		-accel tcg -cpu max -smp "$CPUS" -m "$MEM" \
		-display none "${serial[@]}" -no-reboot \
		-kernel "$KERNEL" -initrd "$initrd" -append "$APPEND" \
		"${extra[@]}"
}

# ===== PVKIT_BOOT=hv: boot through the pvkit hypervisor =====================
# pvkit-hv creates guest RAM and the pvkit device and spawns QEMU itself.
# Expected interface: same options as below; the guest's serial console is
# pvkit-hv's stdout/stdin when --console is not given, else the file.
engine_hv()
{
	local initrd=$1 console=$2 hv=$TOP/build/bin/pvkit-hv

	if [ ! -x "$hv" ]; then
		echo "boot-guest: $hv missing: run 'make'" >&2
		return 1
	fi
	# accelerator: pvkit-hv's default (auto: KVM only with vmx/svm)
	if [ "$console" = stdio ]; then
		exec "$hv" --kernel "$KERNEL" --initrd "$initrd" --append "$APPEND" \
			--mem "$MEM" --cpus "$CPUS" "${extra[@]}"
	else
		exec "$hv" --kernel "$KERNEL" --initrd "$initrd" --append "$APPEND" \
			--mem "$MEM" --cpus "$CPUS" --console "$console" \
			"${extra[@]}"
	fi
}
# ============================================================================

engine=engine_${PVKIT_BOOT:-hv}
if ! declare -F "$engine" >/dev/null; then
	echo "boot-guest: unknown PVKIT_BOOT=${PVKIT_BOOT}" >&2
	exit 2
fi

if [ $have_cmd -eq 0 ]; then
	("$engine" "$BASE_INITRD" stdio)
	exit $?
fi

# --- command mode -----------------------------------------------------------
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pvkit-boot.XXXXXX")
vm_pid=""
tail_pid=""
cleanup()
{
	[ -n "$vm_pid" ] && kill -KILL -- "-$vm_pid" 2>/dev/null
	[ -n "$tail_pid" ] && kill "$tail_pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ -n "$log" ] || log=$tmp/console.log
mkdir -p "$(dirname "$log")"
: > "$log"

"$TOP/scripts/mkcmd-initrd.sh" "$cmd" "$tmp/cmd.cpio.gz" || exit 1
cat "$BASE_INITRD" "$tmp/cmd.cpio.gz" > "$tmp/initrd"

# No stdin: CI has none, and the guest must not read the caller's tty.
# Job control puts the VM in its own process group (pgid == vm_pid).
set -m
"$engine" "$tmp/initrd" "$log" < /dev/null &
vm_pid=$!
tail -n +1 -f --pid="$vm_pid" "$log" | sed -u 's/\r$//' &
tail_pid=$!
set +m

timed_out=0
deadline=$((SECONDS + timeout))
while kill -0 "$vm_pid" 2>/dev/null; do
	if [ $SECONDS -ge $deadline ]; then
		timed_out=1
		kill -TERM -- "-$vm_pid" 2>/dev/null
		sleep 2
		kill -KILL -- "-$vm_pid" 2>/dev/null
		break
	fi
	sleep 0.2
done
wait "$vm_pid" 2>/dev/null
vm_pid=""
wait "$tail_pid" 2>/dev/null
tail_pid=""

if [ $timed_out -eq 1 ]; then
	echo >&2
	echo "boot-guest: timeout after ${timeout}s, VM killed" >&2
	exit 124
fi

status=$(tr -d '\r' < "$log" | grep -a -o '^PVKIT-EXIT: [0-9]*' | tail -n 1)
if [ -z "$status" ]; then
	echo >&2
	echo "boot-guest: guest died without a PVKIT-EXIT marker" >&2
	exit 125
fi
exit "${status#PVKIT-EXIT: }"
