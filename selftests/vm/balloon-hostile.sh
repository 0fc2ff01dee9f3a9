#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# balloon-hostile.sh
#
# Description: pvkit_balloon against a scripted hostile host.
# hostile_balloon.py (hostile_host.py's fake pvkit-hv with a balloon)
# serves plain QEMU a balloon.0 whose config (target far above RAM, too
# short, wrong queue count, unknown features) and answers on the pages,
# stats and report queues are forged, while the host checks every page
# list the guest writes in the RAM file it maps.  The guest must clamp or
# refuse (pages back in the allocator), or break the device, keep its
# memory consistent (a pattern fill of most free memory verifies), never
# OOM-kill, log no BUG/WARNING/Oops and rmmod cleanly.  Exit 0 pass, 1 fail.

set -uo pipefail
TOP=$(cd "$(dirname "$0")/../.." && pwd)
exec python3 "$TOP/selftests/guest/hostile_balloon.py"
