#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Install the packages pvkit needs (idempotent, quiet) and unpack the Debian
# guest kernel matching the installed headers into build/kernel/.
# Prints nothing when everything is already in place.

set -e

cd "$(dirname "$0")/.."

PKGS="gcc make qemu-system-x86 linux-headers-amd64 busybox-static cpio kmod
liburing-dev libbpf-dev libelf-dev zlib1g-dev fio linux-source-6.1 clang
libclang-rt-14-dev pkg-config xz-utils perl python3 ethtool iperf3 iproute2
libedit2 libgnutls30 libseccomp2"

missing=""
for p in $PKGS; do
	st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null) || st=""
	[ "$st" = installed ] || missing="$missing $p"
done

if [ "$(id -u)" -eq 0 ]; then
	SUDO=""
elif command -v sudo >/dev/null 2>&1; then
	SUDO="sudo"
else
	SUDO="none"
fi

if [ -n "$missing" ]; then
	if [ "$SUDO" = none ]; then
		echo "deps.sh: missing packages:$missing" >&2
		echo "deps.sh: not root and sudo is not available; install them as root:" >&2
		echo "  apt-get install$missing" >&2
		exit 1
	fi
	echo "deps.sh: installing:$missing"
	$SUDO apt-get update -qq
	$SUDO env DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq --no-install-recommends $missing
fi

# chronyd and chronyc for the guest (the clock tests discipline it from
# pvkit's PTP clock): Debian's package unpacked, never installed on the
# host, where its postinst would start a daemon.  Their libraries are in
# PKGS above.
CHRONY=build/guest-pkgs/chrony
if [ ! -x "$CHRONY/usr/sbin/chronyd" ]; then
	echo "deps.sh: fetching chrony for the guest"
	rm -rf "$CHRONY" "$CHRONY.dl"
	mkdir -p "$CHRONY.dl"
	(cd "$CHRONY.dl" && apt-get download -qq chrony 2>&1 |
		grep -v -e '_apt' -e 'pkgAcquire::Run' >&2 || true)
	deb=$(ls "$CHRONY".dl/chrony_*.deb 2>/dev/null | head -n 1)
	if [ -z "$deb" ]; then
		echo "deps.sh: could not download chrony" >&2
		exit 1
	fi
	dpkg-deb -x "$deb" "$CHRONY.tmp"
	mv "$CHRONY.tmp" "$CHRONY"
	rm -rf "$CHRONY.dl"
fi

# Guest kernel: the Debian image package of the same ABI version as the
# headers, unpacked (never installed on the host).
KVER=$(scripts/kver.sh)
KDIR=build/kernel
if [ -f "$KDIR/vmlinuz" ] && [ -f "$KDIR/modules/lib/modules/$KVER/modules.dep" ]; then
	exit 0
fi

echo "deps.sh: fetching guest kernel linux-image-$KVER"
rm -rf "$KDIR/dl"
mkdir -p "$KDIR/dl"
# apt-get download as root warns that _apt cannot access the directory; harmless.
(cd "$KDIR/dl" && apt-get download -qq "linux-image-$KVER" 2>&1 |
	grep -v -e '_apt' -e 'pkgAcquire::Run' >&2 || true)
deb=$(ls "$KDIR"/dl/linux-image-"$KVER"_*.deb 2>/dev/null | head -n 1)
if [ -z "$deb" ]; then
	echo "deps.sh: could not download linux-image-$KVER" >&2
	exit 1
fi
rm -rf "$KDIR/modules"
mkdir -p "$KDIR/modules"
dpkg-deb -x "$deb" "$KDIR/modules"
cp "$KDIR/modules/boot/vmlinuz-$KVER" "$KDIR/vmlinuz.tmp"
mv "$KDIR/vmlinuz.tmp" "$KDIR/vmlinuz"
rm -rf "$KDIR/dl"
# The package ships no modules.dep (postinst runs depmod); generate it.
depmod -b "$KDIR/modules" "$KVER"
if [ ! -f "$KDIR/modules/lib/modules/$KVER/modules.dep" ]; then
	echo "deps.sh: depmod did not produce modules.dep" >&2
	exit 1
fi
