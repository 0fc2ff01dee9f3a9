# SPDX-License-Identifier: GPL-2.0-only
#
# pvkit network front-end: static guest tools, installed in /usr/bin:
#   pvkit-netxfer  the guest end of the transfers in selftests/vm/net-*.sh
#   pvkit-rr       1-byte TCP request/response latency for make bench-net
#                  (static, so the bench runs the same file on the host
#                  as the server)

PVKIT_NET_TOOLS := pvkit-netxfer pvkit-rr
PVKIT_NET_BINS := $(PVKIT_NET_TOOLS:%=$(BUILD)/guest/extra/usr/bin/%)
GUEST_EXTRA += $(PVKIT_NET_BINS)
-include $(PVKIT_NET_TOOLS:%=$(BUILD)/obj/guest/selftests/guest/%.d)

$(PVKIT_NET_BINS): $(BUILD)/guest/extra/usr/bin/%: $(BUILD)/obj/guest/selftests/guest/%.o
	@mkdir -p $(@D)
	@echo "  LD [guest] $@"
	$(Q)$(CC_guest) $(LDFLAGS_guest) -o $@ $^
