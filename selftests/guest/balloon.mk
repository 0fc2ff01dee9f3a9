# SPDX-License-Identifier: GPL-2.0-only
#
# pvkit balloon: the guest's memory user in selftests/vm/balloon-*.sh and
# make bench-balloon (build.mk's GUEST_TOOLS), /usr/bin/pvkit-mem.

GUEST_TOOLS += pvkit-mem
