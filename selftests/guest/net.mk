# SPDX-License-Identifier: GPL-2.0-only
#
# pvkit network front-end: the guest end of the transfers in
# selftests/vm/net-*.sh, installed as /usr/bin/pvkit-netxfer.

PVKIT_NETXFER_BIN := $(BUILD)/guest/extra/usr/bin/pvkit-netxfer
PVKIT_NETXFER_OBJ := $(BUILD)/obj/guest/selftests/guest/pvkit-netxfer.o
GUEST_EXTRA += $(PVKIT_NETXFER_BIN)
-include $(PVKIT_NETXFER_OBJ:.o=.d)

$(PVKIT_NETXFER_BIN): $(PVKIT_NETXFER_OBJ)
	@mkdir -p $(@D)
	@echo "  LD [guest] $@"
	$(Q)$(CC_guest) $(LDFLAGS_guest) -o $@ $^

# pvkit-rr: 1-byte TCP request/response latency for make bench-net
# (static, so the bench runs the same file on the host as the server).
PVKIT_RR_BIN := $(BUILD)/guest/extra/usr/bin/pvkit-rr
PVKIT_RR_OBJ := $(BUILD)/obj/guest/selftests/guest/pvkit-rr.o
GUEST_EXTRA += $(PVKIT_RR_BIN)
-include $(PVKIT_RR_OBJ:.o=.d)

$(PVKIT_RR_BIN): $(PVKIT_RR_OBJ)
	@mkdir -p $(@D)
	@echo "  LD [guest] $@"
	$(Q)$(CC_guest) $(LDFLAGS_guest) -o $@ $^
