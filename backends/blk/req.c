// SPDX-License-Identifier: GPL-2.0-only
/*
 * Guest request validation (ABI.md section 9).  The caller hands us its
 * private copy of the ring slot; an indirect segment array is copied out of
 * guest RAM before any of it is looked at.  Every guest-physical range goes
 * through gmem_translate(), which only accepts ranges wholly inside one
 * range of the memory map pvkit-hv gave us.
 */
#include <endian.h>
#include <string.h>

#include "blkback.h"

/*
 * The segment array of a READ/WRITE/GET_ID, in private memory, or NULL if
 * its form is invalid.
 */
static const struct pvkit_blk_seg *
blkb_req_segs(const struct gmem *gm, const struct pvkit_blk_req *rq,
	      unsigned int nr_segs, struct pvkit_blk_seg *segbuf)
{
	if (!nr_segs || nr_segs > BLKB_MAX_SEGS)
		return NULL;
	if (!(rq->flags & PVKIT_BLK_RQ_INDIRECT))
		return nr_segs <= PVKIT_BLK_INLINE_SEGS ? rq->seg : NULL;
	/* copy, then validate: the guest may rewrite the array meanwhile */
	if (gmem_copy_in(gm, segbuf, le64toh(rq->indirect_gpa),
			 (uint64_t)nr_segs * sizeof(*segbuf)))
		return NULL;
	return segbuf;
}

static uint8_t blkb_req_rw(const struct blkb_limits *lim,
			   const struct gmem *gm,
			   const struct pvkit_blk_req *rq,
			   struct pvkit_blk_seg *segbuf, struct blkb_io *io)
{
	unsigned int nr_segs = le16toh(rq->nr_segs), i, n = 0;
	uint64_t sector = le64toh(rq->sector), total = 0;
	const struct pvkit_blk_seg *segs;

	if (rq->nr_sectors)
		return PVKIT_BLK_S_INVAL;
	segs = blkb_req_segs(gm, rq, nr_segs, segbuf);
	if (!segs)
		return PVKIT_BLK_S_INVAL;
	for (i = 0; i < nr_segs; i++) {
		uint64_t gpa = le64toh(segs[i].gpa);
		uint32_t len = le32toh(segs[i].len);
		uint8_t *p;

		if (segs[i].reserved || !len || len > BLKB_MAX_SEG_SIZE ||
		    (gpa & (BLKB_SECTOR_SIZE - 1)) || (len & (lim->lbs - 1)))
			return PVKIT_BLK_S_INVAL;
		p = gmem_translate(gm, gpa, len);
		if (!p)
			return PVKIT_BLK_S_INVAL;
		total += len;
		gmem_iov_add(io->iov, &n, p, len);
	}
	if (total > (uint64_t)BLKB_MAX_SECTORS * BLKB_SECTOR_SIZE)
		return PVKIT_BLK_S_INVAL;
	if ((sector & (lim->lbs / BLKB_SECTOR_SIZE - 1)))
		return PVKIT_BLK_S_INVAL;
	total >>= PVKIT_BLK_SECTOR_SHIFT;
	if (sector > lim->capacity || total > lim->capacity - sector)
		return PVKIT_BLK_S_RANGE;

	io->nr_iov = n;
	io->iov_idx = 0;
	io->off = sector << PVKIT_BLK_SECTOR_SHIFT;
	io->left = total << PVKIT_BLK_SECTOR_SHIFT;
	io->bytes = io->left;
	io->rwf = rq->flags & PVKIT_BLK_RQ_FUA ? RWF_DSYNC : 0;
	return PVKIT_BLK_S_OK;
}

static uint8_t blkb_req_get_id(const struct gmem *gm,
			       const struct pvkit_blk_req *rq,
			       struct pvkit_blk_seg *segbuf, struct blkb_io *io)
{
	const struct pvkit_blk_seg *segs;
	uint32_t len;
	void *p;

	if (rq->sector || rq->nr_sectors || le16toh(rq->nr_segs) != 1)
		return PVKIT_BLK_S_INVAL;
	segs = blkb_req_segs(gm, rq, 1, segbuf);
	if (!segs)
		return PVKIT_BLK_S_INVAL;
	len = le32toh(segs[0].len);
	if (segs[0].reserved || len < PVKIT_BLK_ID_BYTES ||
	    len > BLKB_MAX_SEG_SIZE)
		return PVKIT_BLK_S_INVAL;
	p = gmem_translate(gm, le64toh(segs[0].gpa), len);
	if (!p)
		return PVKIT_BLK_S_INVAL;
	io->iov[0].iov_base = p;
	io->iov[0].iov_len = PVKIT_BLK_ID_BYTES;
	io->nr_iov = 1;
	io->left = 0;
	io->bytes = 0;
	return PVKIT_BLK_S_OK;
}

static uint8_t blkb_req_range(const struct blkb_limits *lim,
			      const struct pvkit_blk_req *rq, uint32_t max,
			      struct blkb_io *io)
{
	uint64_t sector = le64toh(rq->sector);
	uint32_t nr = le32toh(rq->nr_sectors);
	uint32_t mask = lim->lbs / BLKB_SECTOR_SIZE - 1;

	if (rq->nr_segs || !nr || nr > max || ((sector | nr) & mask))
		return PVKIT_BLK_S_INVAL;
	if (sector > lim->capacity || nr > lim->capacity - sector)
		return PVKIT_BLK_S_RANGE;
	io->off = sector << PVKIT_BLK_SECTOR_SHIFT;
	io->left = (uint64_t)nr << PVKIT_BLK_SECTOR_SHIFT;
	io->bytes = 0;
	return PVKIT_BLK_S_OK;
}

uint8_t blkb_req_parse(const struct blkb_limits *lim, const struct gmem *gm,
		       const struct pvkit_blk_req *rq,
		       struct pvkit_blk_seg *segbuf, struct blkb_io *io)
{
	uint8_t op = rq->op, flags = rq->flags;
	bool data = op == PVKIT_BLK_OP_READ || op == PVKIT_BLK_OP_WRITE ||
		    op == PVKIT_BLK_OP_GET_ID;
	uint64_t need = 0;

	/* op known and negotiated; a read-only disk refuses modifications */
	switch (op) {
	case PVKIT_BLK_OP_READ:
	case PVKIT_BLK_OP_GET_ID:
		break;
	case PVKIT_BLK_OP_WRITE:
		if (lim->ro)
			return PVKIT_BLK_S_RO;
		break;
	case PVKIT_BLK_OP_FLUSH:
		need = PVKIT_BLK_F_FLUSH;
		break;
	case PVKIT_BLK_OP_DISCARD:
		if (lim->ro)
			return PVKIT_BLK_S_RO;
		need = PVKIT_BLK_F_DISCARD;
		break;
	case PVKIT_BLK_OP_WRITE_ZEROES:
		if (lim->ro)
			return PVKIT_BLK_S_RO;
		need = PVKIT_BLK_F_WRITE_ZEROES;
		break;
	default:
		return PVKIT_BLK_S_UNSUPP;
	}
	if ((lim->acked & need) != need)
		return PVKIT_BLK_S_UNSUPP;
	io->op = op;
	io->zeroes = false;
	io->rwf = 0;
	io->retries = 0;
	io->nr_iov = 0;

	/* flags: known, FUA only on WRITE, each only when negotiated */
	if (flags & ~PVKIT_BLK_RQ_KNOWN)
		return PVKIT_BLK_S_INVAL;
	if ((flags & PVKIT_BLK_RQ_FUA) &&
	    (op != PVKIT_BLK_OP_WRITE || !(lim->acked & PVKIT_BLK_F_FUA)))
		return PVKIT_BLK_S_INVAL;
	if (flags & PVKIT_BLK_RQ_INDIRECT) {
		if (!data || !(lim->acked & PVKIT_BLK_F_INDIRECT))
			return PVKIT_BLK_S_INVAL;
	} else if (rq->indirect_gpa) {
		return PVKIT_BLK_S_INVAL;
	}

	switch (op) {
	case PVKIT_BLK_OP_READ:
	case PVKIT_BLK_OP_WRITE:
		return blkb_req_rw(lim, gm, rq, segbuf, io);
	case PVKIT_BLK_OP_GET_ID:
		return blkb_req_get_id(gm, rq, segbuf, io);
	case PVKIT_BLK_OP_DISCARD:
		return blkb_req_range(lim, rq, lim->max_discard_sectors, io);
	case PVKIT_BLK_OP_WRITE_ZEROES:
		return blkb_req_range(lim, rq, lim->max_wz_sectors, io);
	default: /* FLUSH */
		if (rq->nr_segs || rq->nr_sectors || rq->sector)
			return PVKIT_BLK_S_INVAL;
		io->left = 0;
		io->bytes = 0;
		return PVKIT_BLK_S_OK;
	}
}
