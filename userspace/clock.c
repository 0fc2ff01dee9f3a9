// SPDX-License-Identifier: GPL-2.0-only
/*
 * pvkit clock NAME [--json]: the paravirt clock device -- its generation,
 * the windows granted and refused for the rate, the exchanges answered,
 * whether the guest registered its area, and steal time per vCPU.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pvkit-host/json.h>

#include "include/pvkit.h"

static void clock_print(const char *name, const struct json *c)
{
	const struct json *st = json_get(c, "steal");
	const struct json *a = json_get(c, "area");
	const struct json *e;

	printf("%s: clock %s, generation %.0f (%.0f bumps), area %s",
	       name, json_get_str(c, "state") ?: "?",
	       json_get_num(c, "generation", 0),
	       json_get_num(c, "generation_bumps", 0),
	       a && a->type == JSON_BOOL && a->b ? "registered" : "none");
	if (a && a->type == JSON_BOOL && a->b)
		printf(" at %#llx",
		       (unsigned long long)json_get_num(c, "area_gpa", 0));
	printf("\n");
	printf("  windows %.0f granted, %.0f busy (limit %.0f/s of %.0f us, %.0f exchanges)\n",
	       json_get_num(c, "windows", 0),
	       json_get_num(c, "windows_busy", 0),
	       json_get_num(c, "window_rate", 0),
	       json_get_num(c, "window_us", 0),
	       json_get_num(c, "max_xchg", 0));
	printf("  exchanges %.0f answered, %.0f us spun, %.0f refused requests\n",
	       json_get_num(c, "exchanges", 0), json_get_num(c, "spun_us", 0),
	       json_get_num(c, "refused", 0));
	if (!st || !st->child) {
		printf("  no steal time (not negotiated, no area, or no QEMU threads yet)\n");
		return;
	}
	printf("  %-5s %16s %16s\n", "VCPU", "STEAL_MS", "RUN_MS");
	for (e = st->child; e; e = e->next)
		printf("  %-5.0f %16.1f %16.1f\n", json_get_num(e, "vcpu", 0),
		       json_get_num(e, "steal_ns", 0) / 1e6,
		       json_get_num(e, "run_ns", 0) / 1e6);
}

int cmd_clock(int argc, char **argv)
{
	const char *name = NULL;
	const struct json *c;
	struct json *r;
	bool json = false;
	char *raw;
	int i, rc = 0;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json")) {
			json = true;
		} else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			printf("Usage: pvkit clock NAME [--json]\n"
			       "The paravirt clock device: generation, windows, exchanges, steal time.\n");
			return 0;
		} else if (argv[i][0] == '-' || name) {
			fprintf(stderr, "pvkit clock: unexpected argument '%s'\n",
				argv[i]);
			fprintf(stderr, "Usage: pvkit clock NAME [--json]\n");
			return 2;
		} else {
			name = argv[i];
		}
	}
	if (!name) {
		fprintf(stderr, "pvkit clock: which VM? (pvkit clock NAME)\n");
		return 2;
	}
	if (cli_request(name, "{\"cmd\":\"clock\"}", CLI_TIMEOUT_MS, &r, &raw))
		return 1;
	c = json_get(r, "clock");
	if (!c) {
		fprintf(stderr, "pvkit clock: %s: no clock in the reply\n", name);
		rc = 1;
	} else if (json) {
		printf("%s\n", raw);
	} else {
		clock_print(name, c);
	}
	free(raw);
	json_free(r);
	return rc;
}
