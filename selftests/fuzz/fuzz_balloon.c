// SPDX-License-Identifier: GPL-2.0-only
/*
 * fuzz-srcs: hypervisor/balloon_list.c lib/gmem.c
 *
 * The balloon's page-list checker (bln_apply()), fed a guest memory map
 * with a hole, a balloon bitmap as the input says and a list of entries
 * from the input -- half of them built to land in RAM, so that the
 * ownership rules are reached, half raw.  Properties: a refused list
 * leaves the bitmap and its count exactly as they were and names an entry
 * of the list; an accepted one moved exactly its pages (INFLATE: none set
 * before, all after; DEFLATE: the reverse; REPORT: none set, nothing
 * moved); every block is inside the RAM file; the count always equals
 * the bits set.
 */
#include <endian.h>

#include "../../hypervisor/include/bln.h"
#include "fuzz.h"

#define NR_MAX	64

static uint64_t popcount_map(const struct bln_map *m)
{
	uint64_t i, n = 0;

	for (i = 0; i < (m->nr_pages + 63) / 64; i++)
		n += (uint64_t)__builtin_popcountll(m->bits[i]);
	return n;
}

/* An entry: raw, or a block placed in one of the two ranges. */
static uint64_t make_entry(struct fuzz_in *in)
{
	uint64_t v = fuzz_u64(in), gpa;
	unsigned int order;

	if (v >> 63)
		return v;
	order = (v >> 56) & 1 ? PVKIT_BALLOON_HUGE_ORDER : (v >> 48) & 0xf;
	gpa = (v & (FUZZ_LO - 1)) & ~0xfffULL;
	if ((v >> 57) & 1)
		gpa += FUZZ_HI_GPA;
	return gpa | order;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t ops[] = { PVKIT_BALLOON_OP_INFLATE,
				       PVKIT_BALLOON_OP_DEFLATE,
				       PVKIT_BALLOON_OP_REPORT, 0, 3, 9 };
	static uint64_t entries[NR_MAX];
	static struct bln_block blk[NR_MAX];
	struct fuzz_in in = { data, size };
	uint64_t saved[(FUZZ_RAM >> 12) / 64], pages = ~0ULL, before, p;
	struct bln_map m;
	struct gmem gm;
	uint32_t nr, i, bad = ~0U;
	uint8_t op, st;
	bool huge;

	fuzz_gmem(&gm);
	op = ops[fuzz_u8(&in) % sizeof(ops)];
	huge = fuzz_u8(&in) & 1;
	nr = fuzz_u8(&in) % (NR_MAX + 1);
	if (bln_map_init(&m, FUZZ_RAM))
		abort();
	fuzz_take(&in, m.bits, sizeof(saved));
	m.ballooned = popcount_map(&m);
	memcpy(saved, m.bits, sizeof(saved));
	before = m.ballooned;
	for (i = 0; i < nr; i++)
		entries[i] = htole64(make_entry(&in));

	st = bln_apply(&m, &gm, op, huge, entries, nr, blk, &pages, &bad);
	FUZZ_ASSERT(m.ballooned == popcount_map(&m));
	if (st != PVKIT_BALLOON_S_OK) {
		FUZZ_ASSERT(st == PVKIT_BALLOON_S_INVAL);
		FUZZ_ASSERT(bad < nr || (!nr && !bad));
		FUZZ_ASSERT(!memcmp(saved, m.bits, sizeof(saved)));
		FUZZ_ASSERT(m.ballooned == before);
		bln_map_free(&m);
		return 0;
	}
	/* only real ops with a non-empty list are accepted */
	FUZZ_ASSERT(nr && (op == PVKIT_BALLOON_OP_INFLATE ||
			   op == PVKIT_BALLOON_OP_DEFLATE ||
			   op == PVKIT_BALLOON_OP_REPORT));
	p = 0;
	for (i = 0; i < nr; i++) {
		uint64_t e = le64toh(entries[i]), k;
		unsigned int order = e & PVKIT_BALLOON_ENTRY_ORDER_MASK;

		FUZZ_ASSERT(blk[i].pages == 1ULL << order);
		FUZZ_ASSERT(blk[i].page + blk[i].pages <= m.nr_pages);
		FUZZ_ASSERT(gmem_translate(&gm, e & PVKIT_BALLOON_ENTRY_GPA_MASK,
					   blk[i].pages << 12) ==
			    gm.base + (blk[i].page << 12));
		if (op != PVKIT_BALLOON_OP_REPORT)
			FUZZ_ASSERT(order == 0 ||
				    (huge && order == PVKIT_BALLOON_HUGE_ORDER));
		for (k = blk[i].page; k < blk[i].page + blk[i].pages; k++) {
			bool was = saved[k / 64] & (1ULL << (k % 64));

			FUZZ_ASSERT(op == PVKIT_BALLOON_OP_DEFLATE ? was : !was);
			FUZZ_ASSERT(bln_test(&m, k) ==
				    (op == PVKIT_BALLOON_OP_INFLATE ||
				     (op == PVKIT_BALLOON_OP_REPORT && was)));
		}
		p += blk[i].pages;
	}
	FUZZ_ASSERT(p == pages);
	if (op == PVKIT_BALLOON_OP_INFLATE)
		FUZZ_ASSERT(m.ballooned == before + pages);
	else if (op == PVKIT_BALLOON_OP_DEFLATE)
		FUZZ_ASSERT(m.ballooned == before - pages);
	else
		FUZZ_ASSERT(!memcmp(saved, m.bits, sizeof(saved)));
	bln_map_free(&m);
	return 0;
}
