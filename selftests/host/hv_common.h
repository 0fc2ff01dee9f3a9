/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Helpers for pvkit-hv host tests: a VM core (guest RAM in a memfd, the
 * shared region, eventfds, device table, test device) without QEMU.
 */
#ifndef PVKIT_HV_TEST_COMMON_H
#define PVKIT_HV_TEST_COMMON_H

#include <endian.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <pvkit-host/fdpass.h>
#include <pvkit-host/log.h>

#include "../../hypervisor/include/dev.h"
#include "../../hypervisor/include/ev.h"
#include "../../hypervisor/include/hc.h"
#include "../../hypervisor/include/hv.h"
#include "../../hypervisor/include/kind.h"

#define HVT_MEM		(64ULL << 20)

/* Options of a test VM: no hot-plug reserve. */
static inline void hvt_opts(struct hv_opts *o, unsigned int cpus,
			    bool testdev, const char *machine, uint64_t mem)
{
	opts_defaults(o);
	strcpy(o->name, "hvtest");
	o->kernel = "/dev/null";
	o->machine = machine;
	o->mem = mem;
	o->cpus = cpus;
	o->testdev = testdev;
	o->hotplug = 0;	/* the layout the tests pin: no spare channels */
}

/* The core as pvkit-hv builds it for --machine/--mem; RAM in a memfd. */
static inline int hvt_init_layout(struct hv *hv, unsigned int cpus,
				  bool testdev, bool loop, const char *machine,
				  uint64_t mem)
{
	struct hv_opts o;

	hvt_opts(&o, cpus, testdev, machine, mem);
	hv_struct_init(hv);
	log_set_level(getenv("HVT_VERBOSE") ? LOG_LVL_DEBUG : LOG_LVL_ERR);
	if (loop && ev_init(hv))
		return -1;
	return hv_vm_init(hv, &o);
}

static inline int hvt_init(struct hv *hv, unsigned int cpus, bool testdev,
			   bool loop)
{
	return hvt_init_layout(hv, cpus, testdev, loop, "pc", HVT_MEM);
}

/*
 * A test VM (@cpus vCPUs, 64 MiB "pc", no test device, an event loop)
 * with one device of the kind whose option is @option, from @spec.  0 or
 * -1; *@out (calloc'ed) is set either way: hvt_exit() and free() it.
 */
static inline int hvt_init_dev(struct hv **out, const char *option,
			       const char *spec, unsigned int cpus)
{
	struct hv *hv = calloc(1, sizeof(*hv));
	struct hv_opts o;
	char err[256];

	if (!hv)
		return -1;
	*out = hv;
	hvt_opts(&o, cpus, false, "pc", HVT_MEM);
	if (kind_parse(kind_by_option(option), &o.devs[0], spec, err,
		       sizeof(err)))
		return -1;
	o.nr_devs = 1;
	hv_struct_init(hv);
	log_set_level(getenv("HVT_VERBOSE") ? LOG_LVL_DEBUG : LOG_LVL_ERR);
	if (ev_init(hv))
		return -1;
	return hv_vm_init(hv, &o);
}

static inline void hvt_exit(struct hv *hv)
{
	hv_core_exit(hv);
	ev_exit(hv);
}

static inline struct pvkit_mailbox *hvt_mbox(struct hv *hv, unsigned int i)
{
	return (struct pvkit_mailbox *)(hv->shm + HV_MBOX_OFFSET) + i;
}

/* Eventfd counter (0 if nothing was signalled); clears it. */
static inline uint64_t hvt_evcount(int fd)
{
	uint64_t v = 0;

	if (read(fd, &v, sizeof(v)) != sizeof(v))
		return 0;
	return v;
}

static inline int64_t hvt_call(struct hv *hv, uint32_t nr, uint64_t a0,
			       uint64_t a1, uint64_t a2, uint64_t a3)
{
	struct hc_call c = {
		.call_seq = 1, .nr = nr, .args = { a0, a1, a2, a3 },
	};

	return hc_handle(hv, 0, &c);
}

/* xorshift64*: reproducible noise */
static inline uint64_t hvt_rand(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dULL;
}

static inline bool hvt_pinned(int64_t ret)
{
	return ret >= 0 || (ret >= PVKIT_HC_EIO && ret <= PVKIT_HC_ENOSYS);
}

/* Run the hypervisor's event loop until nothing happens for a moment. */
static inline void hvt_pump(struct hv *hv, int ms)
{
	int i;

	for (i = 0; i < 5; i++)
		ev_run_once(hv, ms);
}

#endif /* PVKIT_HV_TEST_COMMON_H */
