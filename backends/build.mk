# SPDX-License-Identifier: GPL-2.0-only
# Back-end processes started by pvkit-hv.

# Block back-end: raw images / block devices through io_uring.
HOST_PROGS += pvkit-blkback
pvkit-blkback_SRCS := backends/blk/main.c backends/blk/opts.c \
		      backends/blk/disk.c backends/blk/disk-raw.c \
		      backends/blk/req.c backends/blk/queue.c
pvkit-blkback_LDLIBS := -luring -lpthread

# Network back-end: a multi-queue TAP with vnet headers.
HOST_PROGS += pvkit-netback
pvkit-netback_SRCS := backends/net/main.c backends/net/opts.c \
		      backends/net/txreq.c backends/net/queue.c
pvkit-netback_LDLIBS := -lpthread
