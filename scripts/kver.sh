#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Print the Debian kernel ABI version pvkit targets (e.g. 6.1.0-56-amd64).
# Derived from the linux-headers-amd64 metapackage dependency; falls back to
# the newest /lib/modules/6.1.*-amd64/build.

kver=$(dpkg-query -W -f='${Depends}' linux-headers-amd64 2>/dev/null |
	tr ',' '\n' | sed -n 's/^ *linux-headers-\([0-9][^ ]*-amd64\).*/\1/p' |
	head -n 1)

if [ -z "$kver" ]; then
	kver=$(for d in /lib/modules/6.1.*-amd64/build; do
		[ -d "$d" ] && basename "$(dirname "$d")"
	done | sort -V | tail -n 1)
fi

if [ -z "$kver" ]; then
	echo "kver.sh: cannot determine the target kernel version:" >&2
	echo "  linux-headers-amd64 is not installed and no" >&2
	echo "  /lib/modules/6.1.*-amd64/build exists; run 'make deps'" >&2
	exit 1
fi

echo "$kver"
