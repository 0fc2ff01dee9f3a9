// SPDX-License-Identifier: GPL-2.0-only
/*
 * fuzz-srcs:
 *
 * The ring consumer of ring.h as a back-end (or pvkit-hv) runs it while
 * the guest rewrites the shared header at will: between any two steps
 * the input may set req_prod, rsp_event or the slots.  Properties: the
 * consumer never reports more requests than the ring holds, refuses an
 * index beyond it (-EPROTO) and then stays refused, copies only inside
 * the ring, and never publishes more responses than requests consumed.
 */
#include <errno.h>

#include <pvkit/ring.h>

#include "fuzz.h"

#define SLOTS		8
#define REQ		32
#define RSP		16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t shm[8192] __attribute__((aligned(64)));
	struct fuzz_in in = { data, size };
	struct pvkit_ring r;
	uint8_t buf[REQ];
	uint32_t consumed = 0, answered = 0;
	unsigned int step;

	FUZZ_ASSERT(pvkit_ring_bytes(SLOTS, REQ, RSP) <= sizeof(shm));
	memset(shm, 0, sizeof(shm));
	if (pvkit_ring_attach(&r, shm, SLOTS, REQ, RSP))
		abort();
	for (step = 0; step < 256 && in.left; step++) {
		uint8_t op = fuzz_u8(&in);
		int n;

		switch (op % 6) {
		case 0:	/* the guest writes the producer index */
			r.hdr->req_prod = (uint32_t)fuzz_u64(&in);
			break;
		case 1:	/* ... or a slot, or the event index */
			fuzz_take(&in, shm + sizeof(*r.hdr) +
				  fuzz_u8(&in) % (SLOTS * REQ), 8);
			r.hdr->rsp_event = (uint32_t)fuzz_u64(&in);
			break;
		case 2:
		case 3:
			n = op % 6 == 2 ? pvkit_ring_req_avail(&r) :
					  pvkit_ring_final_check_req(&r);
			if (n < 0) {
				FUZZ_ASSERT(n == -EPROTO);
				return 0;	/* the device is reset now */
			}
			FUZZ_ASSERT(n <= SLOTS);
			/* requests in flight + new ones fit the ring */
			FUZZ_ASSERT(consumed - answered + (uint32_t)n <= SLOTS ||
				    n == 0);
			while (n-- > 0 && consumed - answered < SLOTS) {
				pvkit_ring_get_req(&r, buf, sizeof(buf));
				consumed++;
			}
			break;
		case 4:
			if (answered == consumed)
				break;
			memset(buf, op, RSP);
			FUZZ_ASSERT(!pvkit_ring_put_rsp(&r, buf, RSP));
			answered++;
			break;
		default:
			pvkit_ring_push_rsps(&r);
			break;
		}
	}
	return 0;
}
