# SPDX-License-Identifier: GPL-2.0-only
# pvkit-blkback host tests; included from selftests/host/build.mk.
#
# The tests exec the back-end (build/bin/pvkit-blkback; override with
# PVKIT_BIN_DIR).  The asan variant of the tests runs an ASan/UBSan build of
# the back-end, build/bin/asan/pvkit-blkback, so that hostile guest input is
# checked inside the back-end as well.

BLKBACK_TEST_COMMON := selftests/host/blkback_fe.c

HOST_TESTS += blkback_io blkback_hostile blkback_disk
# the image code itself, linked in: O_DIRECT decisions
blkback_disk_SRCS := selftests/host/blkback_disk.c backends/blk/disk.c \
	backends/blk/disk-raw.c backends/blk/opts.c lib/beopts.c lib/log.c
blkback_disk_LDLIBS := -luring -lpthread
blkback_disk_VARIANTS := plain asan
blkback_io_SRCS := selftests/host/blkback_io.c $(BLKBACK_TEST_COMMON)
blkback_io_LDLIBS := -luring -lpthread
blkback_io_VARIANTS := plain asan
blkback_hostile_SRCS := selftests/host/blkback_hostile.c $(BLKBACK_TEST_COMMON)
blkback_hostile_LDLIBS := -luring -lpthread
blkback_hostile_VARIANTS := plain asan

BLKBACK_ASAN := $(BUILD)/bin/asan/pvkit-blkback

# order-only: built before the tests, not linked into them
$(BUILD)/tests/host/plain/blkback_io $(BUILD)/tests/host/plain/blkback_hostile: \
	| $(BUILD)/bin/pvkit-blkback
$(BUILD)/tests/host/asan/blkback_io $(BUILD)/tests/host/asan/blkback_hostile: \
	| $(BLKBACK_ASAN)
