// SPDX-License-Identifier: GPL-2.0-only
/*
 * pvkit: command line front end.  'run' execs pvkit-hv; the other verbs
 * talk to running VMs through their control sockets.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pvkit-host/ctlclient.h>
#include <pvkit-host/json.h>
#include <pvkit-host/rundir.h>

#include "include/pvkit.h"

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *help;
} cli_verbs[] = {
	{ "run", cmd_run, "start a VM (runs pvkit-hv with the arguments)" },
	{ "list", cmd_list, "list running VMs" },
	{ "stat", cmd_stat, "show a VM's counters and devices" },
	{ "stop", cmd_stop, "stop a VM" },
	{ "disk", cmd_dev, "hot-add or hot-remove a disk (disk add|remove)" },
	{ "balloon", cmd_balloon, "show or set a VM's memory balloon" },
	{ "clock", cmd_clock, "show a VM's paravirt clock device" },
	{ "pause", cmd_pause, "pause a VM's vCPUs (QMP stop)" },
	{ "resume", cmd_resume, "resume a paused VM (QMP cont)" },
};

#define CLI_NR_VERBS (sizeof(cli_verbs) / sizeof(cli_verbs[0]))

static void cli_usage(FILE *f)
{
	unsigned int i;

	fprintf(f, "Usage: pvkit VERB [ARGS...]   (pvkit VERB --help for details)\n\n");
	for (i = 0; i < CLI_NR_VERBS; i++)
		fprintf(f, "  %-7s %s\n", cli_verbs[i].name, cli_verbs[i].help);
	fprintf(f, "\nRun directory: %s (set PVKIT_RUN_DIR to change)\n",
		rundir_base());
}

const char *cli_size(unsigned long long bytes, char *buf, unsigned int len)
{
	static const char units[] = "BKMGT";
	double v = (double)bytes;
	unsigned int u = 0;

	while (v >= 1024 && u < sizeof(units) - 2) {
		v /= 1024;
		u++;
	}
	snprintf(buf, len, u ? "%.1f%c" : "%.0f%c", v, units[u]);
	return buf;
}

int cli_request(const char *name, const char *req, int timeout_ms,
		struct json **out, char **raw)
{
	char *reply = NULL;
	const struct json *ok;
	int ret;

	*out = NULL;
	if (raw)
		*raw = NULL;
	ret = ctlc_request(rundir_base(), name, req, &reply, timeout_ms);
	if (ret == -ENOENT || ret == -ECONNREFUSED) {
		fprintf(stderr, "pvkit: no running VM named '%s'\n", name);
		return 1;
	}
	if (ret) {
		fprintf(stderr, "pvkit: VM '%s': %s\n", name, strerror(-ret));
		return 1;
	}
	if (json_parse(reply, strlen(reply), out) || (*out)->type != JSON_OBJ) {
		fprintf(stderr, "pvkit: VM '%s': malformed reply\n", name);
		json_free(*out);
		*out = NULL;
		free(reply);
		return 1;
	}
	ok = json_get(*out, "ok");
	if (!ok || ok->type != JSON_BOOL || !ok->b) {
		const char *err = json_get_str(*out, "error");

		fprintf(stderr, "pvkit: VM '%s': %s\n", name,
			err ? err : "request failed");
		json_free(*out);
		*out = NULL;
		free(reply);
		return 1;
	}
	if (raw)
		*raw = reply;
	else
		free(reply);
	return 0;
}

int main(int argc, char **argv)
{
	unsigned int i;

	if (argc < 2) {
		cli_usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") ||
	    !strcmp(argv[1], "help")) {
		cli_usage(stdout);
		return 0;
	}
	for (i = 0; i < CLI_NR_VERBS; i++)
		if (!strcmp(argv[1], cli_verbs[i].name))
			return cli_verbs[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "pvkit: unknown verb '%s'\n", argv[1]);
	cli_usage(stderr);
	return 2;
}
