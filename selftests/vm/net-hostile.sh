#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# net-hostile.sh
#
# Description: pvkit_net against a scripted hostile host.
# hostile_net.py (hostile_host.py's fake pvkit-hv with a network device)
# serves plain QEMU a net.0 whose config, rx responses, tx completions and
# control answers are forged; the host is the whole link (it answers ARP
# and ping), so no TAP or namespace is needed.  The guest must clamp or
# refuse, drop and count, or break the device, with no BUG/WARNING/Oops
# and a clean rmmod.  Exit 0 pass, 1 fail.

set -uo pipefail
TOP=$(cd "$(dirname "$0")/../.." && pwd)
exec python3 "$TOP/selftests/guest/hostile_net.py"
