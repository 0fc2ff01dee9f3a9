// SPDX-License-Identifier: GPL-2.0-only
/* pvkit stop NAME [--grace S]: power-down, then quit after S seconds. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pvkit-host/json.h>

#include "include/pvkit.h"

int cmd_stop(int argc, char **argv)
{
	const char *name = NULL;
	long grace = -1;
	char req[96], *end;
	struct json *r;
	int i;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--grace")) {
			if (i + 1 >= argc) {
				fprintf(stderr, "pvkit stop: --grace needs a value\n");
				return 2;
			}
			errno = 0;
			grace = strtol(argv[++i], &end, 10);
			if (errno || *end || !*argv[i] || grace < 0 || grace > 3600) {
				fprintf(stderr, "pvkit stop: --grace '%s': must be 0..3600 seconds\n",
					argv[i]);
				return 2;
			}
		} else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			printf("Usage: pvkit stop NAME [--grace S]\n"
			       "ACPI power-down, QMP quit after S seconds (default: the VM's --grace).\n");
			return 0;
		} else if (argv[i][0] == '-' || name) {
			fprintf(stderr, "pvkit stop: unexpected argument '%s'\n",
				argv[i]);
			return 2;
		} else {
			name = argv[i];
		}
	}
	if (!name) {
		fprintf(stderr, "pvkit stop: which VM? (pvkit stop NAME)\n");
		return 2;
	}
	if (grace >= 0)
		snprintf(req, sizeof(req), "{\"cmd\":\"stop\",\"grace\":%ld}", grace);
	else
		snprintf(req, sizeof(req), "{\"cmd\":\"stop\"}");
	/* the reply comes when QEMU is gone: grace + quit + kill */
	if (cli_request(name, req, (int)((grace >= 0 ? grace : 3600) + 15) * 1000,
			&r, NULL))
		return 1;
	printf("%s: stopped (%s)\n", name, json_get_str(r, "stopped") ?: "?");
	json_free(r);
	return 0;
}
