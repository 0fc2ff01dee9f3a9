// SPDX-License-Identifier: GPL-2.0-only
/*
 * fuzz-srcs: lib/beproto.c lib/fdpass.c lib/log.c
 *
 * The back-end control protocol framing (pvbe_check(), used by pvkit-hv
 * on everything a back-end sends and by every back-end on what it
 * receives): any bytes, any claimed length and descriptor count, both
 * directions.  Properties: an accepted message has the exact size its
 * type's table entry gives, carries descriptors only if the type may,
 * and a refusal always explains itself.
 */
#include <pvkit-host/backend.h>
#include <pvkit-host/beproto.h>

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	enum pvbe_dir to = fuzz_u8(&in) & 1 ? PVBE_TO_HV : PVBE_TO_BE;
	unsigned int nfds = fuzz_u8(&in) % 4;
	const struct pvbe_msg_info *mi;
	union pvbe_msg m;
	char why[128] = "";
	ssize_t n = in.left < sizeof(m) ? (ssize_t)in.left : (ssize_t)sizeof(m);

	fuzz_take(&in, &m, sizeof(m));
	if (pvbe_check(&m, n, nfds, to, why, sizeof(why))) {
		FUZZ_ASSERT(why[0]);
		return 0;
	}
	mi = pvbe_msg_info(m.hdr.type, to);
	FUZZ_ASSERT(mi);
	FUZZ_ASSERT((size_t)n == mi->size);
	FUZZ_ASSERT(!nfds || mi->fds);
	return 0;
}
