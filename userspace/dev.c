// SPDX-License-Identifier: GPL-2.0-only
/*
 * pvkit disk add VM SPEC / pvkit disk remove VM ID [--grace S]: hot-add
 * and hot-remove over the control socket.  The verb is the device kind's
 * option name (pvkit-hv's kinds.c): a new kind adds its row to
 * cli_verbs[] in main.c, pointing here.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pvkit-host/json.h>

#include "include/pvkit.h"

/* Client-side wait beyond the grace: back-end start, drain, shutdown. */
#define DEV_SLACK_MS	30000

static void dev_usage(FILE *f, const char *kind)
{
	fprintf(f,
		"Usage: pvkit %s add VM SPEC\n"
		"       pvkit %s remove VM ID [--grace S]\n"
		"add: hot-add a device (SPEC as for pvkit-hv --%s); prints its id.\n"
		"remove: hot-remove device ID (e.g. blk.1, see pvkit stat).  A device\n"
		"the guest uses gets S seconds (default 10) to be released; then the\n"
		"host removes it anyway and the guest's I/O in flight fails.\n",
		kind, kind, kind);
}

/* Send {"cmd":@cmd, @k1:@v1, @k2:@v2} (@k2 NULL: "grace": @grace). */
static int dev_request(const char *kind, const char *vm, const char *cmd,
		       const char *k1, const char *v1, const char *k2,
		       const char *v2, long grace, struct json **r)
{
	struct jbuf jb;
	int ret;

	jb_init(&jb);
	jb_obj_begin(&jb);
	jb_str(&jb, "cmd", cmd);
	jb_str(&jb, k1, v1);
	if (k2)
		jb_str(&jb, k2, v2);
	else
		jb_u64(&jb, "grace", (uint64_t)grace);
	jb_obj_end(&jb);
	if (jb.err) {
		jb_free(&jb);
		fprintf(stderr, "pvkit %s: out of memory\n", kind);
		return 1;
	}
	ret = cli_request(vm, jb.buf, (int)grace * 1000 + DEV_SLACK_MS, r,
			  NULL);
	jb_free(&jb);
	return ret;
}

static int dev_add(const char *kind, const char *vm, const char *spec)
{
	struct json *r;

	if (dev_request(kind, vm, "dev-add", "kind", kind, "spec", spec, 0,
			&r))
		return 1;
	printf("%s\n", json_get_str(r, "id") ?: "?");
	json_free(r);
	return 0;
}

static int dev_remove(const char *kind, const char *vm, const char *id,
		      long grace)
{
	struct json *r;

	if (dev_request(kind, vm, "dev-remove", "id", id, NULL, NULL, grace,
			&r))
		return 1;
	printf("%s: removed (%s)\n", id, json_get_str(r, "removed") ?: "?");
	json_free(r);
	return 0;
}

int cmd_dev(int argc, char **argv)
{
	const char *kind = argv[0], *pos[3] = { NULL };
	unsigned int npos = 0;
	long grace = 10;
	char *end;
	int i;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			dev_usage(stdout, kind);
			return 0;
		} else if (!strcmp(argv[i], "--grace")) {
			if (i + 1 >= argc) {
				fprintf(stderr, "pvkit %s: --grace needs a value\n",
					kind);
				return 2;
			}
			errno = 0;
			grace = strtol(argv[++i], &end, 10);
			if (errno || *end || !*argv[i] || grace < 0 ||
			    grace > 3600) {
				fprintf(stderr, "pvkit %s: --grace '%s': must be 0..3600 seconds\n",
					kind, argv[i]);
				return 2;
			}
		} else if (npos < 3) {
			pos[npos++] = argv[i];
		} else {
			fprintf(stderr, "pvkit %s: unexpected argument '%s'\n",
				kind, argv[i]);
			return 2;
		}
	}
	if (npos == 3 && !strcmp(pos[0], "add"))
		return dev_add(kind, pos[1], pos[2]);
	if (npos == 3 && !strcmp(pos[0], "remove"))
		return dev_remove(kind, pos[1], pos[2], grace);
	dev_usage(stderr, kind);
	return 2;
}
