# SPDX-License-Identifier: GPL-2.0-only
# Tests every back-end must pass: be_control.c runs the control-protocol
# cases against each back-end program (one fixture variant per back-end,
# see struct fe_kind in blkback_fe.c); included from selftests/host/build.mk.
# A new back-end adds its binaries to BE_PROGS.

BE_PROGS := pvkit-blkback pvkit-netback

# An ASan/UBSan build of each back-end, build/bin/asan/PROG, for the asan
# tests to run (the back-end sees the hostile input).
define be_asan_rule
$(BUILD)/bin/asan/$(1): $(patsubst %.c,$(BUILD)/obj/asan/%.o,$($(1)_SRCS)) \
		$(BUILD)/lib/asan/libpvkit-host.a
	@mkdir -p $$(@D)
	@echo "  LD [asan] $$@"
	$(Q)$(CC_asan) $(LDFLAGS_asan) -o $$@ $$^ $($(1)_LDLIBS) $(LDLIBS) \
		-lpthread
-include $(patsubst %.c,$(BUILD)/obj/asan/%.d,$($(1)_SRCS))
endef
$(foreach p,$(BE_PROGS),$(eval $(call be_asan_rule,$(p))))

HOST_TESTS += be_control
be_control_SRCS := selftests/host/be_control.c selftests/host/blkback_fe.c \
		   selftests/host/netback_fe.c
be_control_LDLIBS := -lpthread
be_control_VARIANTS := plain asan

# order-only: the back-ends are run, not linked; the asan test runs the
# asan back-ends (built by each back-end's test fragment)
$(BUILD)/tests/host/plain/be_control: | $(addprefix $(BUILD)/bin/,$(BE_PROGS))
$(BUILD)/tests/host/asan/be_control: | $(addprefix $(BUILD)/bin/asan/,$(BE_PROGS))
