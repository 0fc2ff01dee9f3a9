#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# core-hostile.sh
#
# Description: pvkit.ko against a scripted hostile host.  hostile_host.py
# stands in for pvkit-hv and serves plain QEMU a pvkit device whose info
# page, device table, hypercall results and ring responses are forged; the
# guest must refuse or survive each scenario with no BUG/WARNING/Oops.
# Exit 0 pass, 1 fail.

set -uo pipefail
TOP=$(cd "$(dirname "$0")/../.." && pwd)
exec python3 "$TOP/selftests/guest/hostile_host.py"
