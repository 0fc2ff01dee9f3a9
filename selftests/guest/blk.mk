# SPDX-License-Identifier: GPL-2.0
#
# pvkit block front-end guest selftests (included from
# selftests/guest/build.mk).  Each runs in the guest as /selftests/NAME.

GUEST_TESTS += blk_cycle blk_fio blk_hostile blk_memmap blk_ops blk_ro blk_unload
blk_cycle_SRCS := selftests/guest/blk_cycle.c
blk_fio_SRCS := selftests/guest/blk_fio.c
blk_hostile_SRCS := selftests/guest/blk_hostile.c
blk_memmap_SRCS := selftests/guest/blk_memmap.c
blk_ops_SRCS := selftests/guest/blk_ops.c
blk_ro_SRCS := selftests/guest/blk_ro.c
blk_unload_SRCS := selftests/guest/blk_unload.c
