# SPDX-License-Identifier: GPL-2.0-only
# pvkit-netback host tests; included from selftests/host/build.mk.  They
# exec build/bin/pvkit-netback (the asan ones build/bin/asan/pvkit-netback,
# built by backends.mk) inside a network namespace of their own.

NETBACK_TEST_COMMON := selftests/host/netback_fe.c selftests/host/blkback_fe.c

HOST_TESTS += netback_io netback_hostile netback_xdp
netback_io_SRCS := selftests/host/netback_io.c $(NETBACK_TEST_COMMON)
netback_io_LDLIBS := -lpthread
netback_io_VARIANTS := plain asan
netback_hostile_SRCS := selftests/host/netback_hostile.c $(NETBACK_TEST_COMMON)
netback_hostile_LDLIBS := -lpthread
netback_hostile_VARIANTS := plain asan
netback_xdp_SRCS := selftests/host/netback_xdp.c $(NETBACK_TEST_COMMON)
netback_xdp_LDLIBS := -lpthread
netback_xdp_VARIANTS := plain asan

# order-only: built before the tests, not linked into them
$(BUILD)/tests/host/plain/netback_io $(BUILD)/tests/host/plain/netback_hostile \
	$(BUILD)/tests/host/plain/netback_xdp: | $(BUILD)/bin/pvkit-netback
$(BUILD)/tests/host/asan/netback_io $(BUILD)/tests/host/asan/netback_hostile \
	$(BUILD)/tests/host/asan/netback_xdp: | $(BUILD)/bin/asan/pvkit-netback
