// SPDX-License-Identifier: GPL-2.0-only
/*
 * pvkit pause NAME / pvkit resume NAME: stop and restart the VM's vCPUs
 * (QMP stop / cont).  A resume of a VM that really was paused tells the
 * guest's paravirt clock that guest time stood still (generation + 1).
 */
#include <stdio.h>
#include <string.h>

#include <pvkit-host/json.h>

#include "include/pvkit.h"

static int pause_verb(int argc, char **argv, bool resume)
{
	const char *verb = resume ? "resume" : "pause";
	const char *name = NULL;
	char req[64];
	struct json *r;
	const struct json *ch;
	int i;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			printf("Usage: pvkit %s NAME\n%s\n", verb, resume ?
			       "Resume a paused VM's vCPUs (QMP cont); its paravirt clock, if any,\nis told that guest time stood still." :
			       "Pause the VM's vCPUs (QMP stop); pvkit resume NAME restarts them.");
			return 0;
		} else if (argv[i][0] == '-' || name) {
			fprintf(stderr, "pvkit %s: unexpected argument '%s'\n",
				verb, argv[i]);
			fprintf(stderr, "Usage: pvkit %s NAME\n", verb);
			return 2;
		} else {
			name = argv[i];
		}
	}
	if (!name) {
		fprintf(stderr, "pvkit %s: which VM? (pvkit %s NAME)\n", verb,
			verb);
		return 2;
	}
	snprintf(req, sizeof(req), "{\"cmd\":\"%s\"}", verb);
	if (cli_request(name, req, CLI_TIMEOUT_MS, &r, NULL))
		return 1;
	ch = json_get(r, "changed");
	printf("%s: %s%s\n", name, json_get_str(r, "state") ?: "?",
	       ch && ch->type == JSON_BOOL && !ch->b ? " (already)" : "");
	json_free(r);
	return 0;
}

int cmd_pause(int argc, char **argv)
{
	return pause_verb(argc, argv, false);
}

int cmd_resume(int argc, char **argv)
{
	return pause_verb(argc, argv, true);
}
