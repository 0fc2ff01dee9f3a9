# SPDX-License-Identifier: GPL-2.0-only
#
# Guest selftests for pvkit.ko (run inside the guest by 'make check-vm')
# and the pvkit-bench tool behind 'make bench-core'.

GUEST_TESTS += hypercall evtchn bus reload
hypercall_SRCS := selftests/guest/hypercall.c
evtchn_SRCS := selftests/guest/evtchn.c
bus_SRCS := selftests/guest/bus.c
reload_SRCS := selftests/guest/reload.c

# Other components' guest tests keep their own fragment here.
-include selftests/guest/blk.mk
-include selftests/guest/net.mk
-include selftests/guest/xdp.mk
-include selftests/guest/balloon.mk

# Static guest tools installed in /usr/bin: each fragment adds its own
# to GUEST_TOOLS (one source file selftests/guest/NAME.c each).
GUEST_TOOLS += pvkit-bench pvkit-clk
GUEST_TOOL_BINS := $(GUEST_TOOLS:%=$(BUILD)/guest/extra/usr/bin/%)
GUEST_EXTRA += $(GUEST_TOOL_BINS)
# (fragments are read before src2obj and ALL_OBJS exist: spell it out)
-include $(GUEST_TOOLS:%=$(BUILD)/obj/guest/selftests/guest/%.d)

$(GUEST_TOOL_BINS): $(BUILD)/guest/extra/usr/bin/%: $(BUILD)/obj/guest/selftests/guest/%.o
	@mkdir -p $(@D)
	@echo "  LD [guest] $@"
	$(Q)$(CC_guest) $(LDFLAGS_guest) -o $@ $^

# 'make bench-core': boot the guest once, run pvkit-bench, write
# build/bench/core.json and build/bench/core.md.
.PHONY: bench-core
bench-core:
	@$(MAKE) --no-print-directory all guest
	@scripts/bench-core.sh
BENCH_TARGETS += bench-core

# 'make check-core-hostile': pvkit.ko against a scripted hostile host
# (selftests/guest/hostile_host.py serves plain QEMU an ivshmem device);
# ends with "N passed, N failed".
.PHONY: check-core-hostile
check-core-hostile:
	@$(MAKE) --no-print-directory all guest
	@selftests/guest/hostile_host.py

# 'make check-net-hostile': pvkit_net against the same fake host with a
# network device (selftests/guest/hostile_net.py: forged config, rx
# responses, tx completions and control answers; the host is the link).
.PHONY: check-net-hostile
check-net-hostile:
	@$(MAKE) --no-print-directory all guest
	@selftests/guest/hostile_net.py
