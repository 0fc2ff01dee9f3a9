// SPDX-License-Identifier: GPL-2.0-only
/*
 * The memory balloon (PVKIT_DEV_BALLOON), served inside pvkit-hv because
 * pvkit-hv owns the RAM file and outlives any back-end: the bitmap of
 * ballooned pages must survive everything but the VM.
 *
 * Memory a guest gives up is returned to the host for real: a hole is
 * punched in the RAM file (fallocate PUNCH_HOLE), which frees its pages in
 * the page cache or hugetlbfs.  With a 2 MiB release granule (hugetlbfs,
 * or granule=2m) a 4 KiB inflate frees nothing until every 4 KiB page of
 * its 2 MiB block is in the balloon; then the block goes at once.
 *
 * The target is a live config field (ABI.md 6.2): `pvkit balloon VM
 * --target SIZE` changes it in place and the guest follows.  A page list
 * that breaks a rule is answered INVAL, counted, and the device reset.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <linux/magic.h>

#include <pvkit-host/json.h>
#include <pvkit-host/log.h>

#include "include/bln.h"
#include "include/dev.h"
#include "include/hv.h"
#include "include/kind.h"

struct bln_dev {
	struct bln_map map;
	unsigned int host_order;	/* release granule: 0 or 9 */
	uint64_t ram_pages;
	/* requests and 4 KiB pages per kind of request */
	uint64_t inflates, deflates, reports, resets;
	uint64_t inflated, deflated, reported;
	uint64_t report_kept;	/* reported, below the granule: not freed */
	uint64_t punched;	/* bytes handed back with PUNCH_HOLE */
	uint64_t punch_errors;
	uint64_t refused;	/* page lists answered INVAL */
	uint64_t last_change_ms;	/* last inflate/deflate */
	/* the last stats report */
	struct pvkit_balloon_stats_req stats;
	uint64_t stats_ms;		/* when it came; 0: none yet */
	uint64_t stats_reports;
	/* private copies of the list being worked on */
	uint64_t entries[PVKIT_BALLOON_MAX_ENTRIES];
	struct bln_block blocks[PVKIT_BALLOON_MAX_ENTRIES];
};

static struct bln_dev *bln(struct dev *d)
{
	return d->priv;
}

static struct pvkit_balloon_config *bln_config(struct dev *d)
{
	return (struct pvkit_balloon_config *)d->config;
}

/* ------------------------------------------------------------ options --- */

int bln_opts_parse(const char *spec, struct bln_opts *bo, char *err,
		   size_t errlen)
{
	char buf[HV_SPEC_MAX], *tok, *rest = buf;
	uint64_t v;

	memset(bo, 0, sizeof(*bo));
	bo->features = PVKIT_BALLOON_F_KNOWN;
	bo->granule = -1;
	if (strlen(spec) >= sizeof(buf)) {
		snprintf(err, errlen, "longer than %zu bytes", sizeof(buf) - 1);
		return -EINVAL;
	}
	strcpy(buf, spec);
	while ((tok = strsep(&rest, ","))) {
		if (!strcmp(tok, "on") && tok == buf && !rest) {
			break;
		} else if (!strncmp(tok, "target=", 7)) {
			if (opts_parse_size(tok + 7, &v) || (v & 4095)) {
				snprintf(err, errlen, "target '%s': a size in 4 KiB pages (e.g. 512M)",
					 tok + 7);
				return -EINVAL;
			}
			bo->target_pages = v >> BLN_PAGE_SHIFT;
		} else if (!strcmp(tok, "granule=4k")) {
			bo->granule = 0;
		} else if (!strcmp(tok, "granule=2m")) {
			bo->granule = PVKIT_BALLOON_HUGE_ORDER;
		} else if (!strcmp(tok, "huge=off")) {
			bo->features &= ~PVKIT_BALLOON_F_HUGE;
		} else if (!strcmp(tok, "stats=off")) {
			bo->features &= ~PVKIT_BALLOON_F_STATS;
		} else if (!strcmp(tok, "reporting=off")) {
			bo->features &= ~PVKIT_BALLOON_F_REPORTING;
		} else if (!strcmp(tok, "deflate-on-oom=off")) {
			bo->features &= ~PVKIT_BALLOON_F_DEFLATE_ON_OOM;
		} else {
			snprintf(err, errlen, "'%s': expected on or target=SIZE, granule=4k|2m, huge=off, stats=off, reporting=off, deflate-on-oom=off",
				 tok);
			return -EINVAL;
		}
	}
	return 0;
}

/* The RAM file's own page size decides the granule unless one is given. */
static unsigned int bln_ram_order(struct hv *hv)
{
	struct statfs sfs;

	if (!fstatfs(hv->ram_fd, &sfs) && sfs.f_type == HUGETLBFS_MAGIC &&
	    sfs.f_bsize >= (1L << (BLN_PAGE_SHIFT + PVKIT_BALLOON_HUGE_ORDER)))
		return PVKIT_BALLOON_HUGE_ORDER;
	return 0;
}

/* ----------------------------------------------------- giving it back --- */

static void bln_punch(struct hv *hv, struct bln_dev *b, uint64_t page,
		      uint64_t pages)
{
	off_t off = (off_t)(page << BLN_PAGE_SHIFT);
	off_t len = (off_t)(pages << BLN_PAGE_SHIFT);

	if (fallocate(hv->ram_fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		      off, len)) {
		/* the guest's pages are ballooned all the same; say so once */
		if (!b->punch_errors++)
			log_warn("balloon: cannot release guest RAM at %#llx+%#llx: %s",
				 (unsigned long long)off,
				 (unsigned long long)len, strerror(errno));
		return;
	}
	b->punched += (uint64_t)len;
}

/*
 * Release the blocks of a list: runs of neighbours in the file at once;
 * with a 2 MiB granule, each 2 MiB block that is now wholly ballooned
 * (@inflate) or reported whole (@inflate false: blocks of the granule or
 * larger only).
 */
static void bln_release(struct hv *hv, struct bln_dev *b,
			const struct bln_block *blk, uint32_t n, bool inflate)
{
	uint64_t run = 0, len = 0, g = 1ULL << b->host_order, last = ~0ULL;
	uint32_t i;

	for (i = 0; i < n; i++) {
		uint64_t p = blk[i].page, np = blk[i].pages;

		if (g > 1) {
			uint64_t c = p & ~(g - 1);

			if (!inflate && np < g) {
				b->report_kept += np;
				continue;
			}
			if (inflate && np < g) {
				if (c == last || !bln_all_set(&b->map, c, g))
					continue;
				p = c;
				np = g;
				last = c;
			}
		}
		if (len && run + len == p) {
			len += np;
			continue;
		}
		if (len)
			bln_punch(hv, b, run, len);
		run = p;
		len = np;
	}
	if (len)
		bln_punch(hv, b, run, len);
}

/* ---------------------------------------------------------- requests --- */

static void bln_answer(void *rsp, uint64_t id, uint8_t status, uint32_t done)
{
	struct pvkit_balloon_rsp r = {
		.id = id,	/* as the guest wrote it: already LE */
		.done = htole32(done),
		.status = status,
	};

	memcpy(rsp, &r, sizeof(r));
}

static int bln_refuse(struct bln_dev *b, void *rsp, uint64_t id,
		      uint32_t bad, char *why, size_t whylen, const char *what)
{
	b->refused++;
	bln_answer(rsp, id, PVKIT_BALLOON_S_INVAL, bad);
	snprintf(why, whylen, "balloon: %s", what);
	return 1;
}

/* A page list: copy it out of guest RAM, check it whole, apply it. */
static int bln_list(struct hv *hv, struct dev *d,
		    const struct pvkit_balloon_req *rq, void *rsp, char *why,
		    size_t whylen)
{
	struct bln_dev *b = bln(d);
	uint32_t nr = le32toh(rq->nr_entries), bad = 0;
	uint64_t gpa = le64toh(rq->list_gpa), pages = 0;
	bool huge = d->acked & PVKIT_BALLOON_F_HUGE;
	char what[96];
	uint8_t st;

	if (!nr || nr > PVKIT_BALLOON_MAX_ENTRIES || (gpa & 7) ||
	    gmem_copy_in(&hv->gm, b->entries, gpa, (uint64_t)nr * 8)) {
		snprintf(what, sizeof(what),
			 "op %u: list of %u entries at %#llx not in guest RAM",
			 rq->op, nr, (unsigned long long)gpa);
		return bln_refuse(b, rsp, rq->id, 0, why, whylen, what);
	}
	st = bln_apply(&b->map, &hv->gm, rq->op, huge, b->entries, nr,
		       b->blocks, &pages, &bad);
	if (st != PVKIT_BALLOON_S_OK) {
		snprintf(what, sizeof(what), "op %u: entry %u of %u (%#llx) refused",
			 rq->op, bad, nr,
			 (unsigned long long)le64toh(b->entries[bad]));
		return bln_refuse(b, rsp, rq->id, bad, why, whylen, what);
	}
	switch (rq->op) {
	case PVKIT_BALLOON_OP_INFLATE:
		b->inflates++;
		b->inflated += pages;
		bln_release(hv, b, b->blocks, nr, true);
		b->last_change_ms = ev_now_ms();
		break;
	case PVKIT_BALLOON_OP_DEFLATE:
		b->deflates++;
		b->deflated += pages;
		b->last_change_ms = ev_now_ms();
		break;
	default:	/* REPORT */
		b->reports++;
		b->reported += pages;
		bln_release(hv, b, b->blocks, nr, false);
		break;
	}
	bln_answer(rsp, rq->id, PVKIT_BALLOON_S_OK,
		   pages > UINT32_MAX ? UINT32_MAX : (uint32_t)pages);
	return 0;
}

static int bln_req(struct hv *hv, struct dev *d, unsigned int qi,
		   const void *req, void *rsp, char *why, size_t whylen)
{
	struct bln_dev *b = bln(d);
	struct pvkit_balloon_req rq;
	struct pvkit_balloon_stats_req sr;
	uint64_t was;

	if (qi == PVKIT_BALLOON_Q_STATS) {
		memcpy(&sr, req, sizeof(sr));
		if (!(d->acked & PVKIT_BALLOON_F_STATS)) {
			bln_answer(rsp, sr.id, PVKIT_BALLOON_S_UNSUPP, 0);
			return 0;
		}
		/* only numbers, shown as they are: nothing to refuse */
		b->stats = sr;
		b->stats_ms = ev_now_ms();
		b->stats_reports++;
		bln_answer(rsp, sr.id, PVKIT_BALLOON_S_OK, 0);
		return 0;
	}
	memcpy(&rq, req, sizeof(rq));
	if (rq.reserved[0] | rq.reserved[1] | rq.reserved[2])
		return bln_refuse(b, rsp, rq.id, 0, why, whylen,
				  "reserved request bytes set");
	if (qi == PVKIT_BALLOON_Q_REPORT) {
		if (!(d->acked & PVKIT_BALLOON_F_REPORTING)) {
			bln_answer(rsp, rq.id, PVKIT_BALLOON_S_UNSUPP, 0);
			return 0;
		}
		if (rq.op != PVKIT_BALLOON_OP_REPORT)
			return bln_refuse(b, rsp, rq.id, 0, why, whylen,
					  "not a REPORT on the report queue");
		return bln_list(hv, d, &rq, rsp, why, whylen);
	}
	switch (rq.op) {
	case PVKIT_BALLOON_OP_INFLATE:
	case PVKIT_BALLOON_OP_DEFLATE:
		return bln_list(hv, d, &rq, rsp, why, whylen);
	case PVKIT_BALLOON_OP_DEFLATE_ALL:
		if (rq.nr_entries || rq.list_gpa)
			return bln_refuse(b, rsp, rq.id, 0, why, whylen,
					  "DEFLATE_ALL with a list");
		/* a fresh driver: what the balloon held is the guest's again */
		was = b->map.ballooned;
		bln_map_clear(&b->map);
		b->resets++;
		b->deflated += was;
		b->last_change_ms = ev_now_ms();
		bln_answer(rsp, rq.id, PVKIT_BALLOON_S_OK,
			   was > UINT32_MAX ? UINT32_MAX : (uint32_t)was);
		return 0;
	default:
		return bln_refuse(b, rsp, rq.id, 0, why, whylen,
				  "unknown op on the pages queue");
	}
}

static void bln_kick(struct hv *hv, struct ev_src *src, uint32_t events)
{
	struct dev *d = src->arg;
	int qi;

	(void)events;
	qi = hvq_kicked(d, src);
	if (qi >= 0)
		hvq_serve(hv, d, (unsigned int)qi, bln_req);
}

static int bln_connect(struct hv *hv, struct dev *d)
{
	unsigned int i;
	int ret;

	for (i = 0; i < d->nr_queues; i++) {
		ret = hvq_attach(hv, d, i);
		if (ret)
			return ret;
	}
	return 0;
}

static int bln_disconnect(struct hv *hv, struct dev *d)
{
	(void)hv;
	(void)d;
	return 0;	/* every request is answered when it is read */
}

static void bln_destroy(struct hv *hv, struct dev *d)
{
	struct bln_dev *b = bln(d);

	(void)hv;
	if (!b)
		return;
	bln_map_free(&b->map);
	free(b);
	d->priv = NULL;
}

static const struct dev_ops bln_ops = {
	.name = "balloon",
	.connect = bln_connect,
	.disconnect = bln_disconnect,
	.destroy = bln_destroy,
};

/* ------------------------------------------------------------ create --- */

static const struct hv_geom bln_geom[PVKIT_BALLOON_NR_QUEUES] = {
	[PVKIT_BALLOON_Q_PAGES] = { 64, sizeof(struct pvkit_balloon_req),
				    sizeof(struct pvkit_balloon_rsp) },
	[PVKIT_BALLOON_Q_STATS] = { 8, sizeof(struct pvkit_balloon_stats_req),
				    sizeof(struct pvkit_balloon_rsp) },
	[PVKIT_BALLOON_Q_REPORT] = { 64, sizeof(struct pvkit_balloon_req),
				     sizeof(struct pvkit_balloon_rsp) },
};

struct hv_geom bln_queue_geom(unsigned int q)
{
	return bln_geom[q < PVKIT_BALLOON_NR_QUEUES ? q : 0];
}

int bln_create(struct hv *hv, const struct hv_dev_opt *o)
{
	struct pvkit_balloon_config *cfg;
	struct bln_opts bo;
	struct bln_dev *b;
	char err[256];
	struct dev *d;
	unsigned int i;
	int ret;

	ret = bln_opts_parse(o->spec, &bo, err, sizeof(err));
	if (ret) {
		log_err("--balloon %s: %s", o->spec, err);
		return ret;
	}
	if (bln_find(hv)) {
		log_err("--balloon %s: a VM has one balloon", o->spec);
		return -EEXIST;
	}
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	ret = bln_map_init(&b->map, hv->gm.file_size);
	if (ret) {
		free(b);
		return ret;
	}
	for (i = 0; i < hv->gm.nr; i++)
		b->ram_pages += hv->gm.r[i].size >> BLN_PAGE_SHIFT;
	b->host_order = bo.granule >= 0 ? (unsigned int)bo.granule :
			bln_ram_order(hv);
	if (bo.target_pages > b->ram_pages) {
		log_err("--balloon %s: target above the guest's %llu MiB",
			o->spec, (unsigned long long)(b->ram_pages >> 8));
		bln_map_free(&b->map);
		free(b);
		return -EINVAL;
	}

	d = dev_create_geom(hv, PVKIT_DEV_BALLOON, 0, PVKIT_BALLOON_NR_QUEUES,
			    bln_geom, &bln_ops);
	if (!d) {
		ret = -errno;
		bln_map_free(&b->map);
		free(b);
		return ret;
	}
	d->priv = b;
	d->kind = o->kind;
	d->features = bo.features;
	d->config_size = sizeof(*cfg);
	cfg = bln_config(d);
	memset(cfg, 0, sizeof(*cfg));
	cfg->target_pages = htole64(bo.target_pages);
	cfg->host_order = (uint8_t)b->host_order;
	cfg->ram_pages = htole64(b->ram_pages);
	for (i = 0; i < PVKIT_BALLOON_NR_QUEUES; i++) {
		ret = hvq_watch(hv, d, i, bln_kick);
		if (ret)
			return ret;	/* the VM does not start: exit frees */
	}
	d->state = PVKIT_DEV_STATE_OFFERED;	/* published by the caller */
	log_info("balloon: %llu MiB of RAM, target %llu MiB, released in %s blocks",
		 (unsigned long long)(b->ram_pages >> 8),
		 (unsigned long long)(bo.target_pages >> 8),
		 b->host_order ? "2 MiB" : "4 KiB");
	return 0;
}

/* ------------------------------------------------------------ control --- */

struct dev *bln_find(struct hv *hv)
{
	unsigned int i;

	for (i = 0; i < PVKIT_MAX_DEVICES; i++)
		if (hv->devs[i].used && hv->devs[i].type == PVKIT_DEV_BALLOON &&
		    hv->devs[i].priv)
			return &hv->devs[i];
	return NULL;
}

int bln_set_target(struct hv *hv, struct dev *d, uint64_t pages)
{
	struct pvkit_balloon_config *cfg = bln_config(d);

	if (pages > bln(d)->ram_pages)
		return -ERANGE;
	if (le64toh(cfg->target_pages) == pages)
		return 0;
	cfg->target_pages = htole64(pages);
	log_info("balloon: target %llu MiB",
		 (unsigned long long)(pages >> 8));
	dev_publish(hv);	/* a change in place, ABI.md 6.2 */
	return 0;
}

void bln_ask_stats(struct hv *hv, struct dev *d)
{
	struct pvkit_balloon_config *cfg = bln_config(d);

	cfg->stats_seq = htole32(le32toh(cfg->stats_seq) + 1);
	dev_publish(hv);
}

/* Bytes of the RAM file that really hold memory now. */
static uint64_t bln_ram_allocated(struct hv *hv)
{
	struct stat st;

	return fstat(hv->ram_fd, &st) ? 0 : (uint64_t)st.st_blocks * 512;
}

static const char *const bln_stat_names[PVKIT_BALLOON_NR_STATS] = {
	[PVKIT_BALLOON_STAT_SWAP_IN] = "swap_in",
	[PVKIT_BALLOON_STAT_SWAP_OUT] = "swap_out",
	[PVKIT_BALLOON_STAT_MAJFLT] = "major_faults",
	[PVKIT_BALLOON_STAT_MINFLT] = "minor_faults",
	[PVKIT_BALLOON_STAT_FREE] = "free",
	[PVKIT_BALLOON_STAT_TOTAL] = "total",
	[PVKIT_BALLOON_STAT_AVAIL] = "available",
	[PVKIT_BALLOON_STAT_CACHES] = "caches",
	[PVKIT_BALLOON_STAT_HTLB_ALLOC] = "hugetlb_allocs",
	[PVKIT_BALLOON_STAT_HTLB_FAIL] = "hugetlb_failures",
	[PVKIT_BALLOON_STAT_BALLOON] = "balloon",
	[PVKIT_BALLOON_STAT_HUGE] = "huge_pages",
	[PVKIT_BALLOON_STAT_OOM] = "oom_deflated_pages",
	[PVKIT_BALLOON_STAT_MIGRATED] = "migrated_pages",
};

void bln_json(struct hv *hv, struct dev *d, struct jbuf *out)
{
	const struct pvkit_balloon_config *cfg = bln_config(d);
	struct bln_dev *b = bln(d);
	uint32_t valid = le32toh(b->stats.valid);
	unsigned int i;

	jb_u64(out, "target", le64toh(cfg->target_pages) << BLN_PAGE_SHIFT);
	jb_u64(out, "actual", b->map.ballooned << BLN_PAGE_SHIFT);
	jb_u64(out, "ram", b->ram_pages << BLN_PAGE_SHIFT);
	jb_u64(out, "ram_allocated", bln_ram_allocated(hv));
	jb_u64(out, "granule", 4096ULL << b->host_order);
	jb_str(out, "state", dev_state_name(d->state));
	jb_u64(out, "features", d->acked);
	jb_u64(out, "inflates", b->inflates);
	jb_u64(out, "deflates", b->deflates);
	jb_u64(out, "reports", b->reports);
	jb_u64(out, "inflated", b->inflated << BLN_PAGE_SHIFT);
	jb_u64(out, "deflated", b->deflated << BLN_PAGE_SHIFT);
	jb_u64(out, "reported", b->reported << BLN_PAGE_SHIFT);
	jb_u64(out, "report_kept", b->report_kept << BLN_PAGE_SHIFT);
	jb_u64(out, "released", b->punched);
	jb_u64(out, "release_errors", b->punch_errors);
	jb_u64(out, "refused", b->refused);
	jb_u64(out, "resets", b->resets);
	jb_u64(out, "stats_seq", le32toh(cfg->stats_seq));
	jb_u64(out, "stats_reports", b->stats_reports);
	jb_u64(out, "stats_age_ms", b->stats_ms ? ev_now_ms() - b->stats_ms :
		0);
	jb_key(out, "stats");
	jb_obj_begin(out);
	for (i = 0; i < PVKIT_BALLOON_NR_STATS; i++)
		if (valid & (1U << i))
			jb_u64(out, bln_stat_names[i],
			       le64toh(b->stats.stat[i]));
	jb_obj_end(out);
}
