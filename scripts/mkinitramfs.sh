#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Build the guest initramfs: build/guest/initramfs.cpio.gz
#
#   /init                      scripts/guest-init
#   /bin, /sbin, /usr/...      busybox-static (symlinks)
#   /lib/modules/pvkit/*.ko    build/modules/*.ko
#   /lib/modules/kernel/*.ko   in-tree modules (GUEST_KMODS + dependencies),
#                              decompressed; NAME.deps lists NAME's load order
#   /usr/bin/fio               plus its shared libraries and ELF interpreter
#                              (also ethtool, iperf3, chronyd and chronyc)
#   /selftests/*               build/guest/tests/*
#   /etc/pvkit/modules         pvkit modules loaded at boot, in order
#   /etc/pvkit/extra-modules   in-tree modules loaded at boot (empty)
#   build/guest/extra/*        overlaid onto /

set -euo pipefail

cd "$(dirname "$0")/.."
TOP=$PWD

KVER=$(scripts/kver.sh)
KMODS=build/kernel/modules/lib/modules/$KVER
OUT=build/guest/initramfs.cpio.gz
ROOT=build/guest/root

# In-tree modules the tests and benchmarks may need.  Crypto providers come
# first: library modules look them up at init time and there is no modprobe.
GUEST_KMODS=${GUEST_KMODS:-"crc32c_generic crc64_rocksoft_generic
	crct10dif_generic libcrc32c crc64 null_blk virtio_pci virtio_blk
	virtio_net virtio_console virtio_balloon ata_piix ahci sd_mod ext4 e1000"}

die()
{
	echo "mkinitramfs: $*" >&2
	exit 1
}

[ -f "$KMODS/modules.dep" ] ||
	die "$KMODS/modules.dep missing: run 'make deps'"
command -v busybox >/dev/null || die "busybox missing: run 'make deps'"

# Up to date?  (Inputs: this script, the init scripts, modules, tests,
# extras, the guest kernel's module tree, fio and busybox.)
if [ -f "$OUT" ] && [ -z "${PVKIT_FORCE:-}" ] && [ -z "$(find \
	scripts/mkinitramfs.sh scripts/guest-init scripts/guest-loadmod \
	scripts/moddeps.sh "$KMODS/modules.dep" build/modules build/guest/tests \
	build/guest/extra "$(command -v busybox)" "$(command -v fio || echo /)" \
	build/guest-pkgs \
	-newer "$OUT" -print -quit 2>/dev/null)" ] &&
   [ "$(cat "$OUT.inputs" 2>/dev/null)" = "$GUEST_KMODS" ]; then
	exit 0
fi

rm -rf "$ROOT"
mkdir -p "$ROOT"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,tmp,run,root,etc/pvkit}
mkdir -p "$ROOT"/lib/modules/{pvkit,kernel} "$ROOT/selftests"

# busybox: the equivalent of 'busybox --install -s' relative to $ROOT.
BB=$(command -v busybox)
cp "$BB" "$ROOT/bin/busybox"
"$ROOT/bin/busybox" --list-full | while read -r app; do
	[ -e "$ROOT/$app" ] || ln -s /bin/busybox "$ROOT/$app"
done

install -m 0755 scripts/guest-init "$ROOT/init"
install -m 0755 scripts/guest-loadmod "$ROOT/sbin/pvkit-loadmod"
echo "root:x:0:0:root:/root:/bin/sh" > "$ROOT/etc/passwd"
echo "root:x:0:" > "$ROOT/etc/group"

# pvkit modules: pvkit first, then the others.
: > "$ROOT/etc/pvkit/modules"
if [ -f build/modules/pvkit.ko ]; then
	echo pvkit >> "$ROOT/etc/pvkit/modules"
fi
for ko in build/modules/*.ko; do
	[ -f "$ko" ] || continue
	cp "$ko" "$ROOT/lib/modules/pvkit/"
	name=$(basename "$ko" .ko)
	[ "$name" = pvkit ] && continue
	case "$name" in
	pvkit_*) echo "$name" >> "$ROOT/etc/pvkit/modules" ;;
	esac
done
: > "$ROOT/etc/pvkit/extra-modules"

# In-tree modules, flat in /lib/modules/kernel, uncompressed.
copy_kmod()
{
	local rel=$1 src=$KMODS/$1 base
	base=$(basename "$rel")
	case "$rel" in
	*.ko)		cp "$src" "$ROOT/lib/modules/kernel/$base" ;;
	*.ko.xz)	xz -dc "$src" > "$ROOT/lib/modules/kernel/${base%.xz}" ;;
	*.ko.zst)	zstd -qdc "$src" > "$ROOT/lib/modules/kernel/${base%.zst}" ;;
	*.ko.gz)	gzip -dc "$src" > "$ROOT/lib/modules/kernel/${base%.gz}" ;;
	*)		die "unknown module format: $rel" ;;
	esac
}
modname()
{
	local b=${1##*/}
	b=${b%%.ko*}
	echo "${b//-/_}"
}
# shellcheck disable=SC2086
for m in $GUEST_KMODS; do
	scripts/moddeps.sh "$KMODS/modules.dep" "$m" 2>/dev/null > "$ROOT/tmp/deps" ||
		true
	if [ ! -s "$ROOT/tmp/deps" ]; then
		echo "mkinitramfs: note: module $m not found in $KVER (built in?)" >&2
		continue
	fi
	name=$(modname "$(tail -n 1 "$ROOT/tmp/deps")")
	: > "$ROOT/lib/modules/kernel/$name.deps"
	while read -r rel; do
		base=$(basename "$rel")
		base=${base%%.ko*}
		[ -f "$ROOT/lib/modules/kernel/$base.ko" ] || copy_kmod "$rel"
		echo "$base" >> "$ROOT/lib/modules/kernel/$name.deps"
	done < "$ROOT/tmp/deps"
done
rm -f "$ROOT/tmp/deps"

# fio, ethtool and iperf3 with their shared libraries and interpreter.
copy_elf()
{
	local bin=$1 lib
	mkdir -p "$ROOT/$(dirname "$bin")"
	cp -L "$bin" "$ROOT/$bin"
	ldd "$bin" | awk '/=> \//{print $3} /^\t\//{print $1}' | while read -r lib; do
		[ -e "$ROOT/$lib" ] && continue
		mkdir -p "$ROOT/$(dirname "$lib")"
		cp -L "$lib" "$ROOT/$lib"
	done
}
for tool in fio ethtool iperf3; do
	if command -v $tool >/dev/null; then
		copy_elf "$(command -v $tool)"
	else
		echo "mkinitramfs: note: $tool not installed, not in image" >&2
	fi
done
# chronyd and chronyc from the unpacked package (scripts/deps.sh)
CHRONY=build/guest-pkgs/chrony
if [ -x "$CHRONY/usr/sbin/chronyd" ]; then
	for bin in usr/sbin/chronyd usr/bin/chronyc; do
		copy_elf "$CHRONY/$bin"
		mkdir -p "$ROOT/$(dirname "$bin")"
		mv "$ROOT/$CHRONY/$bin" "$ROOT/$bin"
	done
	rm -rf "${ROOT:?}/build"
	mkdir -p "$ROOT/run/chrony" "$ROOT/var/lib/chrony"
else
	echo "mkinitramfs: note: chrony not unpacked (make deps), not in image" >&2
fi

# Guest selftests and other engineers' tools.
if compgen -G "build/guest/tests/*" >/dev/null; then
	cp -a build/guest/tests/. "$ROOT/selftests/"
fi
if [ -d build/guest/extra ]; then
	cp -a build/guest/extra/. "$ROOT/"
fi

# /dev/console for the kernel's early console open (the built-in
# initramfs usually has it too; mknod needs root, so best effort).
mknod -m 600 "$ROOT/dev/console" c 5 1 2>/dev/null || true

mkdir -p "$(dirname "$OUT")"
(cd "$ROOT" && find . -print0 | LC_ALL=C sort -z |
	cpio --null -o -H newc -R 0:0 --quiet) | gzip -6 > "$OUT.tmp"
mv "$OUT.tmp" "$OUT"
echo "$GUEST_KMODS" > "$OUT.inputs"
echo "  GUEST   $OUT ($(du -h "$OUT" | cut -f1))"
