# SPDX-License-Identifier: GPL-2.0-only
#
# pvkit balloon: the guest's memory user in selftests/vm/balloon-*.sh and
# make bench-balloon (build.mk's GUEST_TOOLS), /usr/bin/pvkit-mem; the
# raw hypercall the hostile hosts take commands through, /usr/bin/pvkit-hc.

GUEST_TOOLS += pvkit-mem pvkit-hc

# 'make check-balloon-hostile': pvkit_balloon against the scripted hostile
# host (selftests/guest/hostile_balloon.py: forged config, page, stats and
# report answers; the host checks every page list in the RAM file).
.PHONY: check-balloon-hostile
check-balloon-hostile:
	@$(MAKE) --no-print-directory all guest
	@selftests/guest/hostile_balloon.py
