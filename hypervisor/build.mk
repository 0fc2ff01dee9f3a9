# SPDX-License-Identifier: GPL-2.0-only
# pvkit-hv: the per-VM hypervisor process.
HV_CORE_SRCS := hypervisor/core.c hypervisor/ev.c hypervisor/hypercall.c \
		hypervisor/devtab.c hypervisor/testdev.c hypervisor/hvqueue.c \
		hypervisor/balloon.c hypervisor/balloon_list.c hypervisor/opts.c \
		hypervisor/clock.c \
		hypervisor/ivshmem.c hypervisor/qemu.c hypervisor/backend.c \
		hypervisor/ctl.c hypervisor/janitor.c hypervisor/kinds.c \
		hypervisor/vm.c

HOST_PROGS += pvkit-hv
pvkit-hv_SRCS := hypervisor/main.c $(HV_CORE_SRCS)
