// SPDX-License-Identifier: GPL-2.0-only
/*
 * fuzz-srcs: @hv
 *
 * pvkit-hv's control socket: one request line through json_parse() and
 * ctl_handle() on a VM core (test device, no QEMU).  Hot-add is refused
 * (the VM is "stopping") so no back-end is forked; its spec syntax is
 * fuzz_opts' (kind_parse()).  Properties: every reply is one JSON object with "ok" that
 * parses again, and a refusal says why.
 */
#include <pvkit-host/json.h>

#include "../../hypervisor/include/ctl.h"
#define PVKIT_FUZZ_HV
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hv *hv = fuzz_hv;
	struct json *reply = NULL;
	const struct json *ok;
	struct jbuf out;

	hv->stopping = true;	/* dev-add refuses: no fork in a fuzzer */
	hv->quit = false;
	hv->exit_code = -1;
	jb_init(&out);
	if (ctl_handle(hv, (const char *)data, size, &out, NULL)) {
		jb_free(&out);
		return 0;	/* a deferred reply (stat with back-ends) */
	}
	FUZZ_ASSERT(!out.err && out.buf);
	FUZZ_ASSERT(!json_parse(out.buf, out.len, &reply));
	FUZZ_ASSERT(reply->type == JSON_OBJ);
	ok = json_get(reply, "ok");
	FUZZ_ASSERT(ok && ok->type == JSON_BOOL);
	if (!ok->b)
		FUZZ_ASSERT(json_get_str(reply, "error"));
	json_free(reply);
	jb_free(&out);
	return 0;
}
