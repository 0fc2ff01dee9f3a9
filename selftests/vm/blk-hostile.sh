#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# blk-hostile.sh
#
# Description: run the guest test blk_hostile (pvkit_blk against forged
# ring responses; a broken request index under fio, which pvkit-hv must
# answer with a device reset) in a guest booted through pvkit-hv with
# iomem=relaxed,
# which the test needs to map the pvkit shared region from userspace.
# In the default test VM the test skips.  Prints the test's TAP; exits
# with its status (0 pass, 1 fail, 4 skip).  Env: PVKIT_HOSTILE_TIMEOUT.

set -uo pipefail

TOP=$(cd "$(dirname "$0")/../.." && pwd)
TMO=${PVKIT_HOSTILE_TIMEOUT:-300}

if [ ! -x "$TOP/build/bin/pvkit-hv" ] || [ ! -f "$TOP/build/kernel/vmlinuz" ] ||
   [ ! -x "$TOP/build/guest/tests/blk_hostile" ]; then
	echo "TAP version 13"
	echo "1..0 # SKIP pvkit-hv, kernel or blk_hostile missing: run 'make guest'"
	exit 4
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pvkit-hostile.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
truncate -s 256M "$tmp/disk.img"

# shellcheck disable=SC2016 # the command is expanded by the guest shell
PVKIT_APPEND="${PVKIT_APPEND:-} iomem=relaxed" PVKIT_BOOT=hv \
	"$TOP/scripts/boot-guest.sh" --timeout "$TMO" --log "$tmp/console.log" \
	--cmd '/selftests/blk_hostile; rc=$?; dmesg | grep -E "BUG:|WARNING:|Oops|Call Trace" && rc=1; exit $rc' \
	-- --disk "$tmp/disk.img" > /dev/null 2>&1
rc=$?
tr -d '\r' < "$tmp/console.log" | grep -a -E '^(TAP|[0-9]+\.\.|ok |not ok |#)'
exit $rc
