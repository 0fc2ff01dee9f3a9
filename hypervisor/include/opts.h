/* SPDX-License-Identifier: GPL-2.0-only */
/* pvkit-hv command line. */
#ifndef PVKIT_HV_OPTS_H
#define PVKIT_HV_OPTS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define HV_NAME_MAX		32	/* bytes, including the NUL */
#define HV_MAX_DEVS		16	/* devices on the command line */
#define HV_SPEC_MAX		512	/* a device option's argument */
#define HV_DEFAULT_HOTPLUG	8	/* queues reserved for hot-adds */
#define HV_MAX_QEMU_ARGS	128
#define HV_MAX_CPUS		64	/* one mailbox per vCPU */
#define HV_DEFAULT_MEM		(512ULL << 20)
#define HV_DEFAULT_GRACE	5

enum hv_accel {
	HV_ACCEL_AUTO,
	HV_ACCEL_KVM,
	HV_ACCEL_TCG,
};

struct hv_kind;

/* One device: a --disk (or other kind's option), or a hot-add. */
struct hv_dev_opt {
	const struct hv_kind *kind;
	char spec[HV_SPEC_MAX];	/* the option's argument as given */
	char label[HV_SPEC_MAX]; /* what `pvkit stat` shows (disk image) */
	char args[HV_SPEC_MAX];	/* the back-end's SETUP args */
	unsigned int queues;	/* asked for; 0 = the kind's default */
	bool none;		/* "--clock off": the option makes no device */
	bool ro;		/* read-only: READY must say so */
	/* quick back-end failures before BROKEN; 0 = retry for ever */
	unsigned int max_restarts;
};

struct hv_opts {
	char name[HV_NAME_MAX];
	bool name_given;
	const char *kernel;
	const char *initrd;
	const char *append;
	uint64_t mem;
	unsigned int cpus;
	const char *machine;
	enum hv_accel accel;
	const char *hugepages;
	const char *console;	/* NULL: stdio */
	struct hv_dev_opt devs[HV_MAX_DEVS];
	unsigned int nr_devs;
	unsigned int hotplug;	/* queues reserved for hot-added devices */
	const char *qemu_args[HV_MAX_QEMU_ARGS];
	unsigned int nr_qemu_args;
	bool testdev;
	unsigned int grace;
	bool verbose;
	bool print_cmdline;	/* --print-qemu-cmdline: print and exit */
	const char *qemu_bin;
	/* environment: PVKIT_RUN_DIR, PVKIT_SHM_DIR (tests) */
	const char *run_base;
	const char *shm_dir;
};

void opts_defaults(struct hv_opts *o);
/*
 * Parse argv.  Returns 0, 1 if --help was printed, or -EINVAL after
 * printing an error that names the bad argument.
 */
int opts_parse(struct hv_opts *o, int argc, char **argv);
int opts_parse_size(const char *s, uint64_t *out);
/* Decimal @s in @min..@max into *@out: 0 or -EINVAL. */
int opts_uint(const char *s, unsigned int min, unsigned int max,
	      unsigned int *out);
bool opts_name_valid(const char *name);
void opts_usage(FILE *f);

#endif /* PVKIT_HV_OPTS_H */
