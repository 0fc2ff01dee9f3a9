# SPDX-License-Identifier: GPL-2.0-only
# Host unit tests: the shared ring and the ABI tables.  Other components'
# host tests live in selftests/host/<component>.mk and are included below.

HOST_TESTS += ring abi_layout

ring_SRCS := selftests/host/ring.c
ring_LDLIBS := -lpthread
ring_VARIANTS := plain asan tsan

abi_layout_SRCS := selftests/host/abi_layout.c
abi_layout_VARIANTS := plain asan

# abi_layout.c checks tables generated from the normative ABI.md, so an
# edit to the document or to a header rebuilds and reruns the check.
ABI_LAYOUT_H := $(BUILD)/gen/abi_layout_table.h
ABI_LAYOUT_OBJS := $(foreach v,$(abi_layout_VARIANTS),\
	$(BUILD)/obj/$(v)/selftests/host/abi_layout.o)

$(ABI_LAYOUT_H): hypercall-abi/ABI.md scripts/abi-layout.py \
		 $(wildcard hypercall-abi/include/pvkit/*.h)
	@mkdir -p $(@D)
	@echo "  GEN     $@"
	$(Q)python3 scripts/abi-layout.py hypercall-abi/ABI.md -o $@

$(ABI_LAYOUT_OBJS): $(ABI_LAYOUT_H)
$(foreach v,$(abi_layout_VARIANTS),\
	$(eval $(BUILD)/obj/$(v)/selftests/host/abi_layout.o: \
		CFLAGS_$(v) += -I$(BUILD)/gen))

include $(filter-out selftests/host/build.mk,$(wildcard selftests/host/*.mk))
