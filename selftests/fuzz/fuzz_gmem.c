// SPDX-License-Identifier: GPL-2.0-only
/*
 * fuzz-srcs: lib/gmem.c
 *
 * The memory map a guest is told and a back-end receives in SETUP
 * (gmem_init_abi()) and every translation of a guest address through it
 * (gmem_translate()).  Properties: an accepted map is sorted, disjoint
 * and inside the file; a translation is NULL or wholly inside the file
 * and inside one range, and agrees with a slow reference computation.
 * Input: up to 8 ABI ranges (24 bytes each, after a count byte), a file
 * size, then (gpa, len) queries.
 */
#include <endian.h>

#include <pvkit/abi.h>

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pvkit_mem_range abi[PVKIT_MAX_MEM_RANGES];
	struct fuzz_in in = { data, size };
	unsigned int nr = fuzz_u8(&in) % (PVKIT_MAX_MEM_RANGES + 2), i, q;
	uint64_t file_size = (fuzz_u64(&in) & 0xffffffffffULL);
	uint8_t *fake = (uint8_t *)(uintptr_t)(1ULL << 40);
	struct gmem gm;

	fuzz_take(&in, abi, sizeof(abi));
	memset(&gm, 0, sizeof(gm));
	if (gmem_init_abi(&gm, abi, nr, file_size))
		return 0;
	FUZZ_ASSERT(gm.nr == nr && nr <= PVKIT_MAX_MEM_RANGES);
	for (i = 0; i < gm.nr; i++) {
		const struct gmem_range *r = &gm.r[i];

		FUZZ_ASSERT(r->size && r->file_offset <= file_size &&
			    r->size <= file_size - r->file_offset);
		FUZZ_ASSERT(r->gpa + r->size > r->gpa);
		if (i)
			FUZZ_ASSERT(gm.r[i - 1].gpa + gm.r[i - 1].size <= r->gpa);
	}
	/* translations are arithmetic on base: no memory behind it needed */
	gm.base = fake;
	for (q = 0; q < 64 && in.left; q++) {
		uint64_t gpa = fuzz_u64(&in), len = fuzz_u64(&in) & 0xffffffff;
		uint8_t *p = gmem_translate(&gm, gpa, len);
		const struct gmem_range *hit = NULL;

		if (q & 1 && gm.nr)	/* near a range's edges too */
			gpa = gm.r[q % gm.nr].gpa + gm.r[q % gm.nr].size -
			      (gpa & 0xfff);
		p = gmem_translate(&gm, gpa, len);
		for (i = 0; i < gm.nr; i++)
			if (len && gpa >= gm.r[i].gpa &&
			    gpa - gm.r[i].gpa < gm.r[i].size &&
			    len <= gm.r[i].size - (gpa - gm.r[i].gpa))
				hit = &gm.r[i];
		if (!hit) {
			FUZZ_ASSERT(!p);
			continue;
		}
		FUZZ_ASSERT((uintptr_t)p == (uintptr_t)fake + hit->file_offset +
			    (gpa - hit->gpa));
		FUZZ_ASSERT((uintptr_t)p - (uintptr_t)fake + len <= file_size);
	}
	return 0;
}
