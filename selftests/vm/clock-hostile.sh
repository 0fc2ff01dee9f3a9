#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# clock-hostile.sh [--only N[,N...]]
#
# Description: pvkit_clock against a scripted hostile host.
# hostile_clock.py (hostile_host.py's fake pvkit-hv with a paravirt clock)
# serves plain QEMU a clock.0 whose config (max_xchg, window_us, nr_vcpus
# out of range, unknown features, too short), control answers (SETUP
# INVAL, BUSY for ever, none), exchange answers (time going back, standing
# still, 1000x fast, +1 hour, wrong sequence, another generation, none),
# info seqlock (stuck odd), steal (backwards, huge) and generation (a
# storm of in-place bumps) are forged, one per scenario, in one guest
# boot; plus 100 insmod/rmmod cycles with memory flat.  With clocksource
# pvkit selected the guest checks that no CLOCK_MONOTONIC read goes back,
# that CLOCK_REALTIME moves as CLOCK_MONOTONIC does (or by the step the
# driver documents), the debugfs counter that should move, a clean rmmod,
# and no BUG/WARNING/Oops.  Prints kselftest TAP; exit 0 pass, 1 fail,
# 4 skip.
# pvkit-vm-timeout: 420

set -uo pipefail
TOP=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=selftests/vm/lib.sh
. "$TOP/selftests/vm/lib.sh"

tap_need_guest || exit 4
missing=
for f in build/guest/extra/usr/bin/pvkit-clk build/guest/extra/usr/bin/pvkit-hc \
	build/kmod/guest-kmod/pvkit_clock.ko; do
	[ -e "$TOP/$f" ] || missing+=" $f"
done
command -v qemu-system-x86_64 > /dev/null || missing+=" qemu-system-x86_64"
[ -z "$missing" ] || { echo "1..0 # SKIP missing:$missing (make all guest)"; exit 4; }
if [ $# = 0 ]; then
	echo "1..$(python3 "$TOP/selftests/guest/hostile_clock.py" --list | grep -c .)"
fi
start=$(date +%s)
# TAP from 1 (the scenario's number, which --only takes, kept as
# "scenario N"); everything else the host and the guest say as comments
python3 "$TOP/selftests/guest/hostile_clock.py" "$@" 2>&1 | awk '
	/^(not )?ok [0-9]+ - / {
		n++; ok = ($1 == "ok") ? "ok" : "not ok"
		sub(/^(not )?ok /, ""); i = $1; sub(/^[0-9]+ - /, "")
		printf "%s %d - scenario %d: %s\n", ok, n, i, $0; fflush(); next
	}
	{ print "# " $0; fflush() }'
rc=$?
echo "# run time $(( $(date +%s) - start )) s"
exit $rc
