/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Shared by the libFuzzer harnesses (selftests/fuzz/, run by
 * scripts/fuzz.sh): consume the input as typed fields, and a guest RAM
 * with a hole, as pvkit-hv lays it out, over a private buffer.
 */
#ifndef PVKIT_FUZZ_H
#define PVKIT_FUZZ_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pvkit-host/gmem.h>

/* A failed property: print it and abort, so libFuzzer keeps the input. */
#define FUZZ_ASSERT(cond) do {						\
		if (!(cond)) {						\
			fprintf(stderr, "%s:%d: property failed: %s\n",	\
				__FILE__, __LINE__, #cond);		\
			abort();					\
		}							\
	} while (0)

struct fuzz_in {
	const uint8_t *p;
	size_t left;
};

/* Up to @n bytes into @dst (zero-filled when the input is short). */
static inline void fuzz_take(struct fuzz_in *in, void *dst, size_t n)
{
	size_t k = n < in->left ? n : in->left;

	memcpy(dst, in->p, k);
	memset((uint8_t *)dst + k, 0, n - k);
	in->p += k;
	in->left -= k;
}

static inline uint64_t fuzz_u64(struct fuzz_in *in)
{
	uint64_t v;

	fuzz_take(in, &v, sizeof(v));
	return v;
}

static inline uint8_t fuzz_u8(struct fuzz_in *in)
{
	uint8_t v;

	fuzz_take(in, &v, sizeof(v));
	return v;
}

/*
 * Guest RAM of FUZZ_RAM bytes as two ranges: gpa 0 .. FUZZ_LO at file 0,
 * gpa 4 GiB .. at FUZZ_LO, so a gpa in the hole or past the end is
 * outside guest RAM.
 */
#define FUZZ_RAM	(1ULL << 20)
#define FUZZ_LO		(512ULL << 10)
#define FUZZ_HI_GPA	(4ULL << 30)

static inline uint8_t *fuzz_gmem(struct gmem *gm)
{
	static uint8_t *ram;
	struct gmem_range r[2] = {
		{ .gpa = 0, .size = FUZZ_LO, .file_offset = 0 },
		{ .gpa = FUZZ_HI_GPA, .size = FUZZ_RAM - FUZZ_LO,
		  .file_offset = FUZZ_LO },
	};

	if (!ram)
		ram = aligned_alloc(4096, FUZZ_RAM);
	if (!ram || gmem_init_map(gm, r, 2, FUZZ_RAM))
		abort();
	gm->base = ram;
	return ram;
}

/*
 * The rest of the input (up to a page) is what the guest left in its RAM:
 * the first page of both ranges, where the harnesses' indirect arrays
 * point.
 */
static inline void fuzz_ram_page(struct fuzz_in *in, uint8_t *ram)
{
	memset(ram, 0, 4096);
	fuzz_take(in, ram, in->left < 4096 ? in->left : 4096);
	memcpy(ram + FUZZ_LO, ram, 4096);
}

/* Is [p, p + len) inside the guest RAM buffer @ram? */
static inline int fuzz_in_ram(const uint8_t *ram, const void *p, uint64_t len)
{
	const uint8_t *b = p;

	return b >= ram && len <= FUZZ_RAM && b - ram <= (long)(FUZZ_RAM - len);
}

#ifdef PVKIT_FUZZ_HV
#include "../../hypervisor/include/hv.h"

/* The harness's VM: a core (test device, 2 vCPUs, no QEMU) for the run. */
static struct hv *fuzz_hv;

static inline struct hv *fuzz_vm(void)
{
	struct hv *hv = calloc(1, sizeof(*hv));
	struct hv_opts o;

	opts_defaults(&o);
	strcpy(o.name, "fuzz");
	o.kernel = "/dev/null";
	o.mem = 64ULL << 20;
	o.cpus = 2;
	log_set_level(LOG_LVL_ERR);
	if (!hv)
		abort();
	hv_struct_init(hv);
	if (hv_vm_init(hv, &o))
		abort();
	return hv;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_hv = fuzz_vm();
	return 0;
}
#endif

#endif /* PVKIT_FUZZ_H */
