#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# moddeps.sh MODULES_DEP NAME...
# Print the modules.dep paths needed to load the named modules, in load
# order (dependencies first), each once.  Names may use '-' or '_'.
# Names that are not in modules.dep (built in, or absent) are reported on
# stderr as "moddeps: NAME: not found" and skipped.

if [ $# -lt 1 ] || [ ! -f "$1" ]; then
	echo "usage: moddeps.sh MODULES_DEP NAME..." >&2
	exit 2
fi
dep=$1
shift

awk -v names="$*" '
function norm(p,   b) {
	b = p
	sub(/.*\//, "", b)
	sub(/\.ko(\.[a-z]+)?$/, "", b)
	gsub(/-/, "_", b)
	return b
}
function emit(p,   i, n, d) {
	if (p in done)
		return
	done[p] = 1
	# modules.dep lists deps so that loading them last-to-first works.
	n = split(deps[p], d, " ")
	for (i = n; i >= 1; i--)
		emit(d[i])
	print p
}
{
	p = $1
	sub(/:$/, "", p)
	$1 = ""
	deps[p] = $0
	path[norm(p)] = p
}
END {
	n = split(names, want, " ")
	for (i = 1; i <= n; i++) {
		w = want[i]
		gsub(/-/, "_", w)
		if (!(w in path)) {
			print "moddeps: " want[i] ": not found" > "/dev/stderr"
			continue
		}
		emit(path[w])
	}
}' "$dep"
