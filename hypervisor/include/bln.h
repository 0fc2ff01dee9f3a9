/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The balloon device served inside pvkit-hv (balloon.c) and its page-list
 * checker (balloon_list.c), which has no other dependency than the memory
 * map, so that host tests and the fuzz harness run it alone.
 *
 * State: one bit per 4 KiB page of the RAM file, set while the guest has
 * the page in its balloon.  A page list is applied whole or not at all.
 */
#ifndef PVKIT_HV_BLN_H
#define PVKIT_HV_BLN_H

#include <stdbool.h>
#include <stdint.h>

#include <pvkit/balloon.h>
#include <pvkit-host/gmem.h>

#define BLN_PAGE_SHIFT		12
#define BLN_HUGE_PAGES		(1U << PVKIT_BALLOON_HUGE_ORDER)

struct bln_map {
	uint64_t nr_pages;	/* 4 KiB pages of the RAM file */
	uint64_t *bits;		/* set: in the balloon */
	uint64_t ballooned;	/* bits set */
};

/* A validated block: where it is in the RAM file. */
struct bln_block {
	uint64_t page;		/* first 4 KiB page of the RAM file */
	uint64_t pages;		/* 4 KiB pages */
};

int bln_map_init(struct bln_map *m, uint64_t file_size);
void bln_map_free(struct bln_map *m);
void bln_map_clear(struct bln_map *m);
static inline bool bln_test(const struct bln_map *m, uint64_t page)
{
	return m->bits[page / 64] & (1ULL << (page % 64));
}
/* Every page of [page, page + n) set? */
bool bln_all_set(const struct bln_map *m, uint64_t page, uint64_t n);

/*
 * Apply page list @entries (@nr little-endian entries, a private copy)
 * of @op (PVKIT_BALLOON_OP_INFLATE, _DEFLATE or _REPORT) to @m: each
 * block must be inside one memory-map range of @gm, aligned to its size,
 * of an order the op allows (@huge: 2 MiB entries negotiated); INFLATE
 * blocks not in the balloon yet (nor twice in the list), DEFLATE blocks
 * wholly in it, REPORT blocks wholly outside it.  INFLATE sets the bits,
 * DEFLATE clears them, REPORT leaves them.  @out (@nr entries) receives
 * the blocks.
 *
 * Returns PVKIT_BALLOON_S_OK with *@pages the 4 KiB pages covered, or
 * PVKIT_BALLOON_S_INVAL with *@bad the first bad entry's index and @m as
 * it was before the call.
 */
uint8_t bln_apply(struct bln_map *m, const struct gmem *gm, uint8_t op,
		  bool huge, const uint64_t *entries, uint32_t nr,
		  struct bln_block *out, uint64_t *pages, uint32_t *bad);

/* ------------------------------------------ the device (balloon.c) --- */

struct hv;
struct dev;
struct jbuf;
struct hv_dev_opt;

/* --balloon SPEC */
struct bln_opts {
	uint64_t target_pages;	/* initial target */
	int granule;		/* release order 0 or 9; -1: the RAM file's */
	uint64_t features;	/* offered */
};

/* Parse "on" or "target=SIZE,granule=4k|2m,huge=off,...": 0 or -EINVAL. */
int bln_opts_parse(const char *spec, struct bln_opts *bo, char *err,
		   size_t errlen);
/* The kind row's constructor: the device, OFFERED. */
int bln_create(struct hv *hv, const struct hv_dev_opt *o);
struct hv_geom bln_queue_geom(unsigned int q);
/* The VM's balloon or NULL. */
struct dev *bln_find(struct hv *hv);
/* Set the target in 4 KiB pages (a config change in place); -ERANGE. */
int bln_set_target(struct hv *hv, struct dev *d, uint64_t pages);
/* Ask the guest for a stats report (stats_seq + 1). */
void bln_ask_stats(struct hv *hv, struct dev *d);
/* The balloon's members of a JSON object (target, actual, stats...). */
void bln_json(struct hv *hv, struct dev *d, struct jbuf *out);

#endif /* PVKIT_HV_BLN_H */
