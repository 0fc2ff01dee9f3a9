// SPDX-License-Identifier: GPL-2.0-only
/*
 * The balloon's page-list checker: every entry the guest wrote is taken
 * from a private copy, decoded, checked against the memory map and the
 * balloon bitmap, and either the whole list is applied or none of it.
 * Rolling back what an earlier entry of the same list did is what makes a
 * duplicate entry (or two overlapping ones) a refusal, not a double count.
 */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "include/bln.h"

int bln_map_init(struct bln_map *m, uint64_t file_size)
{
	memset(m, 0, sizeof(*m));
	m->nr_pages = file_size >> BLN_PAGE_SHIFT;
	m->bits = calloc((m->nr_pages + 63) / 64 ?: 1, sizeof(uint64_t));
	return m->bits ? 0 : -ENOMEM;
}

void bln_map_free(struct bln_map *m)
{
	free(m->bits);
	m->bits = NULL;
	m->nr_pages = 0;
	m->ballooned = 0;
}

void bln_map_clear(struct bln_map *m)
{
	memset(m->bits, 0, (m->nr_pages + 63) / 64 * sizeof(uint64_t));
	m->ballooned = 0;
}

/* Set (@set) or clear [page, page + n); all of them must differ now. */
static void bln_flip(struct bln_map *m, uint64_t page, uint64_t n, bool set)
{
	uint64_t i;

	for (i = page; i < page + n; i++) {
		if (set)
			m->bits[i / 64] |= 1ULL << (i % 64);
		else
			m->bits[i / 64] &= ~(1ULL << (i % 64));
	}
	if (set)
		m->ballooned += n;
	else
		m->ballooned -= n;
}

bool bln_all_set(const struct bln_map *m, uint64_t page, uint64_t n)
{
	uint64_t i;

	for (i = page; i < page + n; i++)
		if (!bln_test(m, i))
			return false;
	return true;
}

static bool bln_none_set(const struct bln_map *m, uint64_t page, uint64_t n)
{
	uint64_t i;

	for (i = page; i < page + n; i++)
		if (bln_test(m, i))
			return false;
	return true;
}

/* Decode and place one entry; false if it is malformed or not in RAM. */
static bool bln_decode(const struct gmem *gm, uint8_t op, bool huge,
		       uint64_t e, struct bln_block *b)
{
	unsigned int order = e & PVKIT_BALLOON_ENTRY_ORDER_MASK;
	uint64_t gpa = e & PVKIT_BALLOON_ENTRY_GPA_MASK, bytes;
	const uint8_t *p;

	if (e & PVKIT_BALLOON_ENTRY_RSVD_MASK)
		return false;
	if (op == PVKIT_BALLOON_OP_REPORT) {
		if (order > PVKIT_BALLOON_MAX_ORDER)
			return false;
	} else if (order != 0 &&
		   !(huge && order == PVKIT_BALLOON_HUGE_ORDER)) {
		return false;
	}
	bytes = 1ULL << (BLN_PAGE_SHIFT + order);
	if (gpa & (bytes - 1))
		return false;
	/* wholly inside one range: then the file offset is contiguous too */
	p = gmem_translate(gm, gpa, bytes);
	if (!p)
		return false;
	b->page = (uint64_t)(p - gm->base) >> BLN_PAGE_SHIFT;
	b->pages = bytes >> BLN_PAGE_SHIFT;
	return true;
}

uint8_t bln_apply(struct bln_map *m, const struct gmem *gm, uint8_t op,
		  bool huge, const uint64_t *entries, uint32_t nr,
		  struct bln_block *out, uint64_t *pages, uint32_t *bad)
{
	uint64_t total = 0;
	uint32_t i = 0, j;
	bool ok;

	/* an empty list or an op without one is nothing to apply */
	if (!nr || nr > PVKIT_BALLOON_MAX_ENTRIES ||
	    (op != PVKIT_BALLOON_OP_INFLATE && op != PVKIT_BALLOON_OP_DEFLATE &&
	     op != PVKIT_BALLOON_OP_REPORT))
		goto refuse;
	for (i = 0; i < nr; i++) {
		struct bln_block *b = &out[i];

		if (!bln_decode(gm, op, huge, le64toh(entries[i]), b) ||
		    b->page + b->pages > m->nr_pages)
			goto refuse;
		switch (op) {
		case PVKIT_BALLOON_OP_INFLATE:
			ok = bln_none_set(m, b->page, b->pages);
			if (ok)
				bln_flip(m, b->page, b->pages, true);
			break;
		case PVKIT_BALLOON_OP_DEFLATE:
			ok = bln_all_set(m, b->page, b->pages);
			if (ok)
				bln_flip(m, b->page, b->pages, false);
			break;
		case PVKIT_BALLOON_OP_REPORT:
			ok = bln_none_set(m, b->page, b->pages);
			break;
		default:
			ok = false;
		}
		if (!ok)
			goto refuse;
		total += b->pages;
	}
	*pages = total;
	return PVKIT_BALLOON_S_OK;

refuse:
	/* undo entries 0..i-1, newest first, so overlaps restore exactly */
	for (j = i; j-- > 0;) {
		if (op == PVKIT_BALLOON_OP_INFLATE)
			bln_flip(m, out[j].page, out[j].pages, false);
		else if (op == PVKIT_BALLOON_OP_DEFLATE)
			bln_flip(m, out[j].page, out[j].pages, true);
	}
	*bad = i;
	return PVKIT_BALLOON_S_INVAL;
}
