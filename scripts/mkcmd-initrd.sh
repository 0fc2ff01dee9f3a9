#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# mkcmd-initrd.sh "COMMAND" OUT
# Write a small gzip'ed newc cpio to OUT holding /cmd.sh (COMMAND), to be
# appended to the base initramfs.  If PVKIT_EXTRA_MODULES is set (names
# of in-tree modules), it also carries /etc/pvkit/extra-modules.

set -e

if [ $# -ne 2 ]; then
	echo "usage: mkcmd-initrd.sh COMMAND OUT" >&2
	exit 2
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

printf '%s\n' "$1" > "$tmp/cmd.sh"
chmod 0755 "$tmp/cmd.sh"
list="cmd.sh"
if [ -n "${PVKIT_EXTRA_MODULES:-}" ]; then
	mkdir -p "$tmp/etc/pvkit"
	for m in $PVKIT_EXTRA_MODULES; do
		echo "$m"
	done > "$tmp/etc/pvkit/extra-modules"
	list="$list
etc
etc/pvkit
etc/pvkit/extra-modules"
fi

out=$(realpath -m "$2")
(cd "$tmp" && echo "$list" | cpio -o -H newc -R 0:0 --quiet) | gzip -1 > "$out"
