# SPDX-License-Identifier: GPL-2.0-only
#
# pvkit balloon: the guest's memory user in selftests/vm/balloon-*.sh,
# installed as /usr/bin/pvkit-mem.

PVKIT_MEM_BIN := $(BUILD)/guest/extra/usr/bin/pvkit-mem
PVKIT_MEM_OBJ := $(BUILD)/obj/guest/selftests/guest/pvkit-mem.o
GUEST_EXTRA += $(PVKIT_MEM_BIN)
-include $(PVKIT_MEM_OBJ:.o=.d)

$(PVKIT_MEM_BIN): $(PVKIT_MEM_OBJ)
	@mkdir -p $(@D)
	@echo "  LD [guest] $@"
	$(Q)$(CC_guest) $(LDFLAGS_guest) -o $@ $^
