# SPDX-License-Identifier: GPL-2.0-only
# Back-end processes started by pvkit-hv.

# Block back-end: raw images / block devices through io_uring.
HOST_PROGS += pvkit-blkback
pvkit-blkback_SRCS := backends/blk/main.c backends/blk/opts.c \
		      backends/blk/disk.c backends/blk/disk-raw.c \
		      backends/blk/req.c backends/blk/queue.c
pvkit-blkback_LDLIBS := -luring -lpthread

# Network back-end: a multi-queue TAP with vnet headers, or AF_XDP on a
# host interface (libbpf; the XDP program is built with clang -target bpf
# and linked in as a blob, so build/bin/pvkit-netback needs no file
# beside it).
HOST_PROGS += pvkit-netback
pvkit-netback_SRCS := backends/net/main.c backends/net/opts.c \
		      backends/net/txreq.c backends/net/queue.c backends/net/ctrl.c \
		      backends/net/port-tap.c backends/net/port-xdp.c
pvkit-netback_LDLIBS := $(shell pkg-config --libs libbpf 2>/dev/null || \
			  echo -lbpf) -lpthread

NETB_BPF_OBJ := $(BUILD)/obj/bpf/backends/net/xsk.bpf.o
NETB_BPF_BLOB := $(BUILD)/obj/bpf/backends/net/xsk-blob.o

$(NETB_BPF_OBJ): backends/net/xsk.bpf.c
	@mkdir -p $(@D)
	@echo "  BPF     $@"
	$(Q)clang -O2 -g -Wall -Werror -target bpf \
		-I/usr/include/$(shell $(CC) -print-multiarch) -c $< -o $@

# .incbin of the object: symbols netb_xsk_bpf, netb_xsk_bpf_end
$(NETB_BPF_BLOB): backends/net/xsk-blob.S $(NETB_BPF_OBJ)
	@echo "  AS      $@"
	$(Q)$(CC) -c -DXSK_BPF_OBJ='"$(NETB_BPF_OBJ)"' -o $@ $<

# an extra prerequisite: the link rules link $^
$(BUILD)/bin/pvkit-netback $(BUILD)/bin/asan/pvkit-netback: $(NETB_BPF_BLOB)
