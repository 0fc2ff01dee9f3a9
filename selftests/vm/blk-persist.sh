#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# blk-persist.sh [IMAGE]
#
# Description: data written to a pvkit disk survives a guest reboot.
# Boots the guest twice through pvkit-hv (scripts/boot-guest.sh,
# PVKIT_BOOT=hv) with the same raw image as /dev/pvda:
#   boot 1  writes 16 MiB of a seeded pattern at 8 MiB with dd
#           conv=fsync, prints its sha256;
#   host    checks the image file holds exactly that pattern;
#   boot 2  reads the range back and prints its sha256.
# Without IMAGE a 64 MiB scratch image is made and removed.
# Prints kselftest TAP; exit 0 pass, 1 fail, 4 skip (no pvkit-hv or
# kernel).  Env: PVKIT_PERSIST_TIMEOUT (per boot, default 300 s).

set -uo pipefail

TOP=$(cd "$(dirname "$0")/../.." && pwd)
BOOT=$TOP/scripts/boot-guest.sh
TMO=${PVKIT_PERSIST_TIMEOUT:-300}
OFF_MB=8
LEN_MB=16

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pvkit-persist.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

echo "TAP version 13"
if [ ! -x "$TOP/build/bin/pvkit-hv" ] || [ ! -f "$TOP/build/kernel/vmlinuz" ] ||
   [ ! -f "$TOP/build/guest/initramfs.cpio.gz" ]; then
	echo "1..0 # SKIP pvkit-hv, kernel or guest image missing: run 'make guest'"
	exit 4
fi
echo "1..3"

if [ $# -ge 1 ]; then
	img=$1
else
	img=$tmp/disk.img
	truncate -s 64M "$img"
fi

seed="pvkit-persist-$$-$RANDOM"
# The pattern, identical in the guest (busybox) and on the host.
pattern="yes '$seed' | head -c $((LEN_MB << 20))"
expect=$(eval "$pattern" | sha256sum | cut -d' ' -f1)

pass=0
fail=0
result()	# result GOT WANT NAME [DIAG]: pass if GOT equals WANT
{
	if [ "$1" = "$2" ]; then
		echo "ok $((pass + fail + 1)) $3"
		pass=$((pass + 1))
	else
		echo "not ok $((pass + fail + 1)) $3"
		[ -n "${4:-}" ] && echo "# $4"
		fail=$((fail + 1))
	fi
}

# boot LOG CMD: run CMD in a guest with the image as /dev/pvda
boot()
{
	PVKIT_BOOT=hv "$BOOT" --timeout "$TMO" --log "$1" --cmd "$2" \
		-- --disk "$img" > /dev/null 2>&1
}

# The checksum the guest printed after "PVKIT-SHA: ".
guest_sha()
{
	tr -d '\r' < "$1" | sed -n 's/^PVKIT-SHA: \([0-9a-f]\{64\}\).*/\1/p' |
		tail -n 1
}

cmd1="[ -b /dev/pvda ] || exit 3
$pattern | dd of=/dev/pvda bs=1M seek=$OFF_MB conv=fsync 2>/dev/null || exit 2
sync
echo \"PVKIT-SHA: \$(dd if=/dev/pvda bs=1M skip=$OFF_MB count=$LEN_MB 2>/dev/null | sha256sum)\""
boot "$tmp/boot1.log" "$cmd1"
rc=$?
sha=$(guest_sha "$tmp/boot1.log")
result "$rc:$sha" "0:$expect" "boot1_write" \
	"boot exit $rc, guest sha '$sha', expected $expect"

sha=$(dd if="$img" bs=1M skip=$OFF_MB count=$LEN_MB 2>/dev/null | sha256sum |
      cut -d' ' -f1)
result "$sha" "$expect" "host_image_holds_pattern" \
	"image sha $sha, expected $expect"

cmd2="[ -b /dev/pvda ] || exit 3
echo \"PVKIT-SHA: \$(dd if=/dev/pvda bs=1M skip=$OFF_MB count=$LEN_MB 2>/dev/null | sha256sum)\""
boot "$tmp/boot2.log" "$cmd2"
rc=$?
sha=$(guest_sha "$tmp/boot2.log")
result "$rc:$sha" "0:$expect" "boot2_reads_pattern" \
	"boot exit $rc, guest sha '$sha', expected $expect"

if [ $fail -ne 0 ]; then
	for l in "$tmp"/boot*.log; do
		echo "# ---- $(basename "$l") (last 20 lines)"
		tr -d '\r' < "$l" | tail -n 20 | sed 's/^/# /'
	done
fi
echo "# Totals: pass:$pass fail:$fail xfail:0 xpass:0 skip:0 error:0"
[ $fail -eq 0 ]
