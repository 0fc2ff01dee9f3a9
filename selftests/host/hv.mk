# SPDX-License-Identifier: GPL-2.0-only
# pvkit-hv host tests (hv_memmap alone runs a QEMU, -S): hypercalls, ivshmem, device state
# machine, guest memory layout, control socket, janitor.
# Included by selftests/host/build.mk (its *.mk wildcard); guarded anyway.
ifndef HV_MK_INCLUDED
HV_MK_INCLUDED := 1
HV_TEST_DEPS := $(filter-out hypervisor/main.c,$(pvkit-hv_SRCS))

HOST_TESTS += hv_hypercall hv_ivshmem hv_devstate hv_gmem hv_ctl hv_janitor \
	hv_opts hv_beerror
hv_hypercall_SRCS := selftests/host/hv_hypercall.c $(HV_TEST_DEPS)
hv_ivshmem_SRCS := selftests/host/hv_ivshmem.c $(HV_TEST_DEPS)
hv_devstate_SRCS := selftests/host/hv_devstate.c $(HV_TEST_DEPS)
hv_gmem_SRCS := selftests/host/hv_gmem.c
hv_ctl_SRCS := selftests/host/hv_ctl.c $(HV_TEST_DEPS)
hv_janitor_SRCS := selftests/host/hv_janitor.c hypervisor/janitor.c
hv_opts_SRCS := selftests/host/hv_opts.c $(HV_TEST_DEPS)
hv_hypercall_VARIANTS := plain asan
hv_ivshmem_VARIANTS := plain asan
hv_devstate_VARIANTS := plain asan
hv_gmem_VARIANTS := plain asan
hv_ctl_VARIANTS := plain asan
hv_janitor_VARIANTS := plain asan
hv_opts_VARIANTS := plain asan
# pvkit-hv supervising the real pvkit-blkback (asan: the asan back-end)
hv_beerror_SRCS := selftests/host/hv_beerror.c $(HV_TEST_DEPS)
hv_beerror_VARIANTS := plain asan
$(BUILD)/tests/host/plain/hv_beerror: | $(BUILD)/bin/pvkit-blkback
$(BUILD)/tests/host/asan/hv_beerror: | $(BUILD)/bin/asan/pvkit-blkback
# the balloon served in pvkit-hv, against a fake guest
HOST_TESTS += hv_balloon
hv_balloon_SRCS := selftests/host/hv_balloon.c $(HV_TEST_DEPS)
hv_balloon_VARIANTS := plain asan
# the paravirt clock served in pvkit-hv (and its responder thread; TSan-clean
# when built by hand with EXTRA_CFLAGS=-Wno-tsan: gcc refuses the fences)
HOST_TESTS += hv_clock
hv_clock_SRCS := selftests/host/hv_clock.c $(HV_TEST_DEPS)
hv_clock_VARIANTS := plain asan
# the run directory against planted links and modes
HOST_TESTS += rundir
rundir_SRCS := selftests/host/rundir.c
rundir_VARIANTS := plain asan
# hot-add and hot-remove with the real pvkit-blkback
HOST_TESTS += hv_hotplug
hv_hotplug_SRCS := selftests/host/hv_hotplug.c $(HV_TEST_DEPS)
hv_hotplug_VARIANTS := plain asan
$(BUILD)/tests/host/plain/hv_hotplug: | $(BUILD)/bin/pvkit-blkback
$(BUILD)/tests/host/asan/hv_hotplug: | $(BUILD)/bin/asan/pvkit-blkback
# against a real QEMU (-S, TCG); skips itself without one
HOST_TESTS += hv_memmap
hv_memmap_SRCS := selftests/host/hv_memmap.c $(HV_TEST_DEPS)
hv_memmap_VARIANTS := plain asan
endif
