// SPDX-License-Identifier: GPL-2.0-only
/*
 * fuzz-srcs: @hv
 *
 * Everything a guest can make pvkit-hv do without a back-end: hypercalls
 * through the mailbox transport (hc_scan() on mailboxes the guest wrote:
 * any number, flags, arguments, slot, in any order, so the device-state
 * hypercalls walk the state machine) and the test device's ring (any
 * header and slot contents, then a kick).  Properties: every call is
 * answered with a pinned return code, a device's state stays one of the
 * six, and the table the guest sees is always a consistent snapshot.
 */
#include <endian.h>

#include "../../hypervisor/include/dev.h"
#include "../../hypervisor/include/hc.h"
#define PVKIT_FUZZ_HV
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hv *hv = fuzz_hv;
	struct fuzz_in in = { data, size };
	struct dev *td = &hv->devs[0];
	unsigned int step;

	for (step = 0; step < 32 && in.left; step++) {
		uint8_t what = fuzz_u8(&in);
		unsigned int mb = what % hv->nr_mbox;
		struct pvkit_mailbox *m = (struct pvkit_mailbox *)
			(hv->shm + HV_MBOX_OFFSET) + mb;
		int64_t ret;

		if (what & 0x80) {
			/* the guest scribbles on the test ring and kicks */
			uint8_t *ring = hv->shm + td->q[0].ring_offset;
			uint64_t rb = pvkit_ring_bytes(td->q[0].slots,
						       td->q[0].req_size,
						       td->q[0].rsp_size);

			fuzz_take(&in, ring + fuzz_u64(&in) % (rb - 8), 8);
			tdev_process(hv, td);
			continue;
		}
		/* a call: the guest half, then call_seq moves */
		m->nr = htole32((uint32_t)(fuzz_u8(&in) % (PVKIT_HC_NR + 2)));
		m->flags = htole32(fuzz_u8(&in) & 3);
		m->pad0 = fuzz_u8(&in) == 0xff ? 1 : 0;
		m->args[0] = htole64(fuzz_u8(&in) % 40);
		m->args[1] = htole64(fuzz_u64(&in));
		m->args[2] = fuzz_u8(&in) == 0xff ? 1 : 0;
		m->call_seq = htole32(le32toh(m->done_seq) + 1);
		hc_scan(hv);
		ret = (int64_t)le64toh(m->ret);
		/* answered now or deferred (test device: never deferred) */
		FUZZ_ASSERT(le32toh(m->done_seq) == le32toh(m->call_seq));
		FUZZ_ASSERT(ret >= 0 || (ret >= PVKIT_HC_EIO &&
					 ret <= PVKIT_HC_ENOSYS));
		FUZZ_ASSERT(td->state <= PVKIT_DEV_STATE_BROKEN);
		FUZZ_ASSERT(!(hv->generation & 1));
	}
	return 0;
}
