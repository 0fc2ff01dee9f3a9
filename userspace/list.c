// SPDX-License-Identifier: GPL-2.0-only
/* pvkit list [--json]: every running VM. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pvkit-host/json.h>
#include <pvkit-host/rundir.h>

#include "include/pvkit.h"

#define LIST_MAX	256

int cmd_list(int argc, char **argv)
{
	static char names[LIST_MAX][RUNDIR_NAME_MAX];
	bool json = false, first = true;
	int i, n;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json")) {
			json = true;
		} else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			printf("Usage: pvkit list [--json]\nLists running VMs.\n");
			return 0;
		} else {
			fprintf(stderr, "pvkit list: unknown argument '%s'\n",
				argv[i]);
			return 2;
		}
	}
	rundir_sweep(rundir_base());
	n = rundir_list(rundir_base(), names, LIST_MAX);
	if (n < 0) {
		fprintf(stderr, "pvkit list: %s: %s\n", rundir_base(),
			strerror(-n));
		return 1;
	}
	if (json)
		printf("[");
	else
		printf("%-16s %8s %8s %-9s %6s %4s %-4s %-4s %9s\n", "NAME", "PID",
		       "QEMU", "STATE", "MEM", "CPUS", "ACC", "MACH", "UPTIME");
	for (i = 0; i < n; i++) {
		struct json *r;
		char *raw, sz[16];

		/* a VM that goes away meanwhile is simply not listed */
		if (cli_request(names[i], "{\"cmd\":\"list-info\"}",
				CLI_TIMEOUT_MS, &r, &raw))
			continue;
		if (json) {
			printf("%s%s", first ? "" : ",", raw);
		} else {
			printf("%-16s %8.0f %8.0f %-9s %6s %4.0f %-4s %-4s %8.1fs\n",
			       names[i], json_get_num(r, "pid", 0),
			       json_get_num(r, "qemu_pid", 0),
			       json_get_str(r, "state") ?: "?",
			       cli_size((unsigned long long)json_get_num(r, "mem", 0),
					sz, sizeof(sz)),
			       json_get_num(r, "cpus", 0),
			       json_get_str(r, "accel") ?: "?",
			       json_get_str(r, "machine") ?: "?",
			       json_get_num(r, "uptime_ms", 0) / 1000);
		}
		first = false;
		free(raw);
		json_free(r);
	}
	if (json)
		printf("]\n");
	return 0;
}
