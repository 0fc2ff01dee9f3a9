/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Device kinds: one row per device type pvkit-hv can serve (kinds.c).
 *
 * A row says everything the hypervisor needs to know about a type: the
 * command-line option and its syntax, the back-end program (or the
 * in-process constructor), how many queues of which geometry a device
 * gets, and what a back-end's READY may offer.  Nothing else in pvkit-hv
 * branches on a device type, so a new device is its own files plus one
 * row here.
 */
#ifndef PVKIT_HV_KIND_H
#define PVKIT_HV_KIND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <pvkit/abi.h>

#include "opts.h"

struct hv;
struct dev;

/* One queue's ring geometry. */
struct hv_geom {
	uint32_t slots;		/* per side, power of two */
	uint16_t req_size;	/* bytes per request slot */
	uint16_t rsp_size;	/* bytes per response slot */
};

struct hv_kind {
	uint16_t type;		/* PVKIT_DEV_* */
	const char *name;	/* "blk": logs, `pvkit stat`, ids "blk.N" */
	const char *option;	/* "disk": --disk, `pvkit disk add` */
	const char *usage;	/* the option's syntax, for --help and errors */
	const char *help;	/* one line for --help */
	const char *prog;	/* back-end program; NULL: served in pvkit-hv */
	const char *prog_env;	/* environment variable overriding prog */
	bool hotplug;		/* may be added and removed at run time */
	unsigned int max_instances;
	uint64_t features_known; /* a READY offering more is refused */
	/*
	 * Parse @spec (the option's argument) into @o: the back-end's SETUP
	 * args, the label `pvkit stat` shows, the queues asked for.  0, or
	 * -EINVAL with @err naming the bad part.
	 */
	int (*parse)(struct hv_dev_opt *o, const char *spec, char *err,
		     size_t errlen);
	/* Queues of a device of this kind in a VM with @cpus vCPUs. */
	unsigned int (*nr_queues)(const struct hv_dev_opt *o,
				  unsigned int cpus);
	/* Geometry of queue @q. */
	struct hv_geom (*geom)(const struct hv_dev_opt *o, unsigned int q);
	/* What READY offered is consistent with @o?  Else *@why says. */
	bool (*ready_ok)(const struct hv_dev_opt *o, uint64_t features,
			 const char **why);
	/*
	 * Optional: may a guest acknowledge @acked (a subset of what was
	 * offered)?  DEV_ACK_FEATURES answers EINVAL otherwise (features
	 * that need each other, ABI.md 10).
	 */
	bool (*ack_ok)(uint64_t acked);
	/*
	 * Optional: may a back-end's CONFIG turn config @old into @new
	 * (@size bytes each)?  Without it the config is fixed at READY.
	 * Else *@why says what may not change.
	 */
	bool (*config_ok)(const uint8_t *old, const uint8_t *new, size_t size,
			  const char **why);
	/* In-process devices: create it (state FREE or OFFERED). */
	int (*create)(struct hv *hv, const struct hv_dev_opt *o);
};

/* What the configured devices need, for sizing before anything exists. */
struct hv_plan {
	unsigned int queues;	/* queues of the devices on the command line */
	uint64_t ring_bytes;	/* their rings, page-aligned each */
	unsigned int spare_queues; /* reserved for hot-added devices */
	uint64_t spare_bytes;	/* ring memory reserved for them */
};

extern const struct hv_kind *const hv_kinds[];

/* The kind with --@option (or type name @option), or NULL. */
const struct hv_kind *kind_by_option(const char *option);
const struct hv_kind *kind_by_type(uint16_t type);
/* Parse @spec for @k into @o (zeroed first). */
int kind_parse(const struct hv_kind *k, struct hv_dev_opt *o,
	       const char *spec, char *err, size_t errlen);
/* Queues device @o gets with @cpus vCPUs (clamped to PVKIT_MAX_QUEUES). */
unsigned int kind_queues(const struct hv_dev_opt *o, unsigned int cpus);
/* Page-aligned ring bytes of device @o's queues. */
uint64_t kind_ring_bytes(const struct hv_dev_opt *o, unsigned int cpus);
/* Resources the command line asks for, hot-plug reserve included. */
void kind_plan(const struct hv_opts *opt, struct hv_plan *p);
/* Create every device of the command line (the test device included). */
int kind_create_all(struct hv *hv);
/*
 * Create a device of @o's kind at run time (hot-add).  Its back-end is
 * started; the device is offered once it is READY.  Returns the device
 * or NULL with @err saying why.
 */
struct dev *kind_hot_add(struct hv *hv, const struct hv_dev_opt *o,
			 char *err, size_t errlen);

#endif /* PVKIT_HV_KIND_H */
