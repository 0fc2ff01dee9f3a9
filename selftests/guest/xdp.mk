# SPDX-License-Identifier: GPL-2.0-only
#
# XDP in pvkit_net: the test programs (pvkit_xdp.bpf.c, clang -target bpf)
# and their loader, installed in the guest as /usr/lib/pvkit/ and
# /usr/bin/pvkit-xdp (libbpf linked statically: the guest image carries no
# shared libraries).

PVKIT_XDP_BIN := $(BUILD)/guest/extra/usr/bin/pvkit-xdp
PVKIT_XDP_OBJ := $(BUILD)/obj/guest/selftests/guest/pvkit-xdp.o
PVKIT_XDP_BPF := $(BUILD)/guest/extra/usr/lib/pvkit/pvkit_xdp.bpf.o
GUEST_EXTRA += $(PVKIT_XDP_BIN) $(PVKIT_XDP_BPF)
-include $(PVKIT_XDP_OBJ:.o=.d)

$(PVKIT_XDP_BIN): $(PVKIT_XDP_OBJ)
	@mkdir -p $(@D)
	@echo "  LD [guest] $@"
	$(Q)$(CC_guest) $(LDFLAGS_guest) -o $@ $^ -lbpf -lelf -lz

$(PVKIT_XDP_BPF): selftests/guest/pvkit_xdp.bpf.c
	@mkdir -p $(@D)
	@echo "  BPF     $@"
	$(Q)clang -O2 -g -Wall -Werror -target bpf \
		-I/usr/include/$(shell $(CC) -print-multiarch) \
		-c $< -o $@
