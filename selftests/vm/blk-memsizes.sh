#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# blk-memsizes.sh
#
# Description: block I/O works for every guest memory layout (issue #7).
# Boots one guest per machine type and RAM size that changes the layout:
#   pc   512M, 3583M (all below the PCI hole, which QEMU starts at 3.5G),
#        3585M (>= 3.5G: split at 3G, 513M above 4G), 6G
#   q35  512M, 2815M (below the 2.75G hole), 2817M (split at 2G, 769M
#        above 4G), 6G
# and runs blk_memmap (buffers located by pagemap in every RAM range,
# direct I/O and hypercalls from each, the 4-job fio reproducer, no
# bouncing) and the blk_fio verify suite in each.  Where RAM lies above
# 4 GiB, numa=fake=4 cuts it into four address-ordered nodes, the first
# wholly below 4 GiB, so that blk_memmap can place buffers there too
# (user memory comes from above 4 GiB first); those guests get 4 vCPUs,
# one per node (a node without a CPU makes 6.1 print a workqueue warning).
# Then pc 4G once more with swiotlb=force: every buffer bounced (as in an
# encrypted guest), segments capped to what swiotlb maps, blk_memmap must
# see the bouncing and still read back exactly what it wrote.
# Prints kselftest-style lines; exit 0 pass, 1 fail, 4 skip.
# 'make check' boots one layout per code path: pc:512M (all RAM low),
# pc:3585M (split across the pc hole), q35:2817M (split across the q35
# hole) and pc:4G:swiotlb; PVKIT_MEMSIZES=all (make soak) boots all nine.
# Env: PVKIT_MEMSIZES="pc:512M q35:6G pc:4G:swiotlb ..." to run a subset.
# A boot takes about a minute under TCG:
# pvkit-vm-timeout: 2400

set -uo pipefail

TOP=$(cd "$(dirname "$0")/../.." && pwd)
cd "$TOP"
# shellcheck source=selftests/vm/lib.sh
. "$TOP/selftests/vm/lib.sh"

all="pc:512M pc:3583M pc:3585M pc:6G q35:512M q35:2815M q35:2817M q35:6G pc:4G:swiotlb"
layouts=${PVKIT_MEMSIZES:-"pc:512M pc:3585M q35:2817M pc:4G:swiotlb"}
[ "$layouts" = all ] && layouts=$all

if [ ! -x build/bin/pvkit-hv ] || [ ! -f build/kernel/vmlinuz ] ||
   [ ! -x build/guest/tests/blk_memmap ]; then
	echo "# SKIP pvkit-hv, kernel or guest image missing: run 'make guest'"
	exit 4
fi

tmp=$(mktemp -d /dev/shm/pvkit-memsizes.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# RAM above 4 GiB for MACHINE and SIZE (MiB), as QEMU 7.2 splits it.
high_mb()
{
	local machine=$1 mb=$2 lowmem

	if [ "$machine" = pc ]; then
		lowmem=3584
		[ "$mb" -ge 3584 ] && lowmem=3072
	else
		lowmem=2816
		[ "$mb" -ge 2816 ] && lowmem=2048
	fi
	if [ "$mb" -gt "$lowmem" ]; then
		echo $((mb - lowmem))
	else
		echo 0
	fi
}

for l in $layouts; do
	IFS=: read -r machine size opt <<< "$l"
	case $size in
	*G) mb=$(( ${size%G} * 1024 )) ;;
	*M) mb=${size%M} ;;
	*)  echo "# bad layout '$l' in PVKIT_MEMSIZES"; exit 1 ;;
	esac
	high=0
	numa=
	cpus=2
	if [ "$(high_mb "$machine" "$mb")" -gt 0 ]; then
		high=1
		numa=numa=fake=4
		cpus=4
	fi
	env="PVKIT_MEMMAP_HIGH=$high"
	tests=(blk_memmap blk_fio)
	label=$machine-$size
	case $opt in
	"")	;;
	swiotlb)
		numa="swiotlb=force"
		cpus=2
		env+=" PVKIT_MEMMAP_BOUNCE=1"
		tests=(blk_memmap)
		label+=-swiotlb ;;
	*)	echo "# bad option '$opt' in PVKIT_MEMSIZES"; exit 1 ;;
	esac
	rm -f "$tmp/disk.img"
	truncate -s 1G "$tmp/disk.img"
	PVKIT_APPEND="${PVKIT_APPEND:-} $numa" \
	vm_run_tests "$label" "build/check/vm/memsizes/$label" "$env" \
		"${tests[@]}" -- \
		--machine "$machine" --mem "${mb}M" --cpus "$cpus" \
		--disk "$tmp/disk.img"
done

echo "# Totals: pass:$vm_pass fail:$vm_fail xfail:0 xpass:0 skip:$vm_skip error:0"
[ "$vm_fail" -eq 0 ]
