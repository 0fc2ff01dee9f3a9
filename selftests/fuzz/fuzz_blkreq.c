// SPDX-License-Identifier: GPL-2.0-only
/*
 * fuzz-srcs: backends/blk/req.c lib/gmem.c
 * fuzz-libs: -luring
 *
 * pvkit-blkback's request parser (blkb_req_parse()) with guest-memory
 * translation: the guest writes the request slot and, for indirect
 * requests, the segment array in its RAM.  Properties of an accepted
 * request: every iovec lies inside guest RAM, the lengths add up to the
 * request's bytes and are whole logical blocks, the range is inside the
 * disk, a read-only disk accepts no write, an op not negotiated is never
 * accepted.  Input: limits (16 bytes), the 128-byte slot, then guest RAM
 * contents for the segment array.  The custom mutator keeps the input a
 * plausible request (valid op, near-capacity sectors, segments pointing
 * into the RAM ranges) so the deep checks are reached.
 */
#include <endian.h>

#include <pvkit/blk.h>

#include "../../backends/blk/blkback.h"
#include "fuzz.h"

#define CAPACITY	(1ULL << 21)	/* sectors: 1 GiB */

size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct pvkit_blk_seg segbuf[BLKB_MAX_SEGS];
	static struct blkb_io io;
	struct fuzz_in in = { data, size };
	struct blkb_limits lim;
	struct pvkit_blk_req rq;
	struct gmem gm;
	uint8_t *ram = fuzz_gmem(&gm), st;
	uint64_t bytes = 0;
	unsigned int i;

	lim.acked = fuzz_u8(&in) & PVKIT_BLK_F_KNOWN;
	lim.ro = lim.acked & PVKIT_BLK_F_RO;
	lim.lbs = (fuzz_u8(&in) & 1) ? 4096 : 512;
	lim.capacity = CAPACITY - (fuzz_u8(&in) & 7);
	lim.max_discard_sectors = fuzz_u8(&in) << 8;
	lim.max_wz_sectors = fuzz_u8(&in) << 8;
	fuzz_take(&in, &rq, 3);		/* padding of the limits header */
	fuzz_take(&in, &rq, sizeof(rq));
	fuzz_ram_page(&in, ram);

	memset(&io, 0, sizeof(io));
	st = blkb_req_parse(&lim, &gm, &rq, segbuf, &io);
	if (st != PVKIT_BLK_S_OK)
		return 0;
	switch (rq.op) {
	case PVKIT_BLK_OP_READ:
	case PVKIT_BLK_OP_WRITE:
		FUZZ_ASSERT(!(rq.op == PVKIT_BLK_OP_WRITE && lim.ro));
		FUZZ_ASSERT(io.nr_iov >= 1 && io.nr_iov <= BLKB_MAX_SEGS);
		for (i = 0; i < io.nr_iov; i++) {
			FUZZ_ASSERT(io.iov[i].iov_len > 0);
			FUZZ_ASSERT(io.iov[i].iov_len % lim.lbs == 0);
			FUZZ_ASSERT(fuzz_in_ram(ram, io.iov[i].iov_base,
						io.iov[i].iov_len));
			bytes += io.iov[i].iov_len;
		}
		FUZZ_ASSERT(bytes == io.left);
		FUZZ_ASSERT(io.off % lim.lbs == 0);
		FUZZ_ASSERT(io.off / 512 + bytes / 512 <= lim.capacity);
		break;
	case PVKIT_BLK_OP_DISCARD:
	case PVKIT_BLK_OP_WRITE_ZEROES:
		FUZZ_ASSERT(!lim.ro);
		FUZZ_ASSERT(lim.acked & (rq.op == PVKIT_BLK_OP_DISCARD ?
					 PVKIT_BLK_F_DISCARD :
					 PVKIT_BLK_F_WRITE_ZEROES));
		FUZZ_ASSERT(io.left && io.off / 512 + io.left / 512 <=
			    lim.capacity);
		break;
	case PVKIT_BLK_OP_FLUSH:
		FUZZ_ASSERT(lim.acked & PVKIT_BLK_F_FLUSH);
		break;
	default:
		/* GET_ID: the 20-byte target is in guest RAM */
		FUZZ_ASSERT(io.nr_iov == 1);
		FUZZ_ASSERT(fuzz_in_ram(ram, io.iov[0].iov_base,
					io.iov[0].iov_len));
		break;
	}
	return 0;
}

/* Keep the request plausible half of the time so the checks deep in
 * the parser are reached, not only the first refusal. */
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max,
			       unsigned int seed)
{
	struct pvkit_blk_req *rq;
	unsigned int i, n;

	size = LLVMFuzzerMutate(data, size, max);
	if (max < 8 + sizeof(*rq) || (seed & 1))
		return size;
	if (size < 8 + sizeof(*rq)) {
		memset(data + size, 0, 8 + sizeof(*rq) - size);
		size = 8 + sizeof(*rq);
	}
	rq = (struct pvkit_blk_req *)(data + 8);
	rq->op = (seed >> 1) % 6;
	rq->flags &= PVKIT_BLK_RQ_INDIRECT;
	n = (seed >> 4) % 9;
	rq->nr_segs = htole16(n ? n : 1);
	rq->sector = htole64((seed & 0x100) ? CAPACITY - (seed >> 9) % 64 :
			     (seed >> 9) % 4096);
	for (i = 0; i < PVKIT_BLK_INLINE_SEGS; i++) {
		rq->seg[i].gpa = htole64(((seed >> (i + 3)) & 1 ? FUZZ_HI_GPA : 0) +
					 4096 * ((seed >> i) % 100));
		rq->seg[i].len = htole32(512u << ((seed >> (2 * i)) % 4));
		rq->seg[i].reserved = 0;
	}
	if (rq->flags & PVKIT_BLK_RQ_INDIRECT)
		rq->indirect_gpa = htole64((seed & 0x200) ? FUZZ_HI_GPA : 0);
	return size;
}
