// SPDX-License-Identifier: GPL-2.0-only
/*
 * fuzz-srcs: @hv
 *
 * pvkit-hv's command line (opts_parse(): NUL-separated arguments) and
 * the device option syntax (kind_parse(), what --disk and `pvkit disk
 * add` take).  Properties: a refusal names the problem; an accepted
 * disk has back-end args that fit SETUP and name its path, and queue
 * counts the device table can hold.
 */
#include <errno.h>
#include <getopt.h>

#include "../../hypervisor/include/kind.h"
#include "../../hypervisor/include/opts.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char buf[2048], *argv[65], err[256];
	static struct hv_opts o;
	struct hv_dev_opt d;
	int argc = 1, ret;
	size_t i, n = size < sizeof(buf) - 1 ? size : sizeof(buf) - 1;

	memcpy(buf, data, n);
	buf[n] = '\0';
	/* the first argument also as a --disk spec */
	err[0] = '\0';
	if (!kind_parse(kind_by_option("disk"), &d, buf, err, sizeof(err))) {
		FUZZ_ASSERT(!strncmp(d.args, "path=", 5));
		FUZZ_ASSERT(strlen(d.args) < sizeof(d.args));
		FUZZ_ASSERT(kind_queues(&d, 64) <= PVKIT_MAX_QUEUES);
	} else {
		FUZZ_ASSERT(err[0]);
	}
	argv[0] = "pvkit-hv";
	argv[argc++] = buf;
	for (i = 0; i < n && argc < 64; i++)
		if (!buf[i])
			argv[argc++] = buf + i + 1;
	argv[argc] = NULL;
	opts_defaults(&o);
	ret = opts_parse(&o, argc, argv);
	FUZZ_ASSERT(ret == 0 || ret == 1 || ret == -EINVAL);
	if (!ret) {
		FUZZ_ASSERT(o.cpus >= 1 && o.cpus <= HV_MAX_CPUS);
		FUZZ_ASSERT(o.nr_devs <= HV_MAX_DEVS);
		FUZZ_ASSERT(o.mem >= (32ULL << 20));
	}
	return 0;
}
