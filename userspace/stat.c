// SPDX-License-Identifier: GPL-2.0-only
/* pvkit stat NAME [--json]: hypercall counts, irqs, devices and queues. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pvkit-host/json.h>

#include "include/pvkit.h"

static void stat_print(const struct json *r)
{
	const struct json *hc = json_get(r, "hypercalls");
	const struct json *irqs = json_get(r, "irqs");
	const struct json *devs = json_get(r, "devices");
	const struct json *c, *d, *q;
	unsigned int i = 0;

	printf("VM %s (%s): generation %.0f (guest acked %.0f), features 0x%llx (acked 0x%llx)\n",
	       json_get_str(r, "name") ?: "?", json_get_str(r, "state") ?: "?",
	       json_get_num(r, "generation", 0),
	       json_get_num(r, "config_acked", 0),
	       (unsigned long long)json_get_num(r, "features", 0),
	       (unsigned long long)json_get_num(r, "acked_features", 0));
	printf("hypercalls (%.0f doorbells, %.0f log lines):\n",
	       json_get_num(r, "hypercall_kicks", 0),
	       json_get_num(r, "log_lines", 0));
	for (c = hc ? hc->child : NULL; c; c = c->next)
		if (c->type == JSON_NUM && c->num)
			printf("  %-18s %12.0f\n", c->key, c->num);
	printf("irqs per vector:");
	for (c = irqs ? irqs->child : NULL; c; c = c->next, i++)
		printf(" %u:%.0f", i, c->num);
	printf("\n");
	printf("%-4s %-7s %-10s %5s  %s\n", "SLOT", "ID", "STATE", "EPOCH",
	       "QUEUES (kick/vector: requests kicks irqs)");
	for (d = devs ? devs->child : NULL; d; d = d->next) {
		const struct json *qs = json_get(d, "queues");
		const struct json *be = json_get(d, "backend");

		const struct json *rm = json_get(d, "removing");

		printf("%-4.0f %-7s %-10s %5.0f ",
		       json_get_num(d, "slot", 0), json_get_str(d, "id") ?: "?",
		       rm && rm->type == JSON_BOOL && rm->b ? "removing" :
		       json_get_str(d, "state") ?: "?",
		       json_get_num(d, "epoch", 0));
		for (q = qs ? qs->child : NULL; q; q = q->next)
			printf(" [%.0f/%.0f: %.0f %.0f %.0f]",
			       json_get_num(q, "kick", 0),
			       json_get_num(q, "vector", 0),
			       json_get_num(q, "requests", 0),
			       json_get_num(q, "kicks", 0),
			       json_get_num(q, "irqs", 0));
		if (be)
			printf("  backend pid %.0f, %.0f restarts, %s",
			       json_get_num(be, "pid", 0),
			       json_get_num(be, "restarts", 0),
			       json_get_str(be, "disk") ?: "");
		if (json_get_num(d, "violations", 0))
			printf("  %.0f violations",
			       json_get_num(d, "violations", 0));
		printf("\n");
	}
}

int cmd_stat(int argc, char **argv)
{
	const char *name = NULL;
	struct json *r;
	bool json = false;
	char *raw;
	int i;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--json")) {
			json = true;
		} else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			printf("Usage: pvkit stat NAME [--json]\n"
			       "Hypercall, interrupt and per-queue counters and the device table.\n");
			return 0;
		} else if (argv[i][0] == '-' || name) {
			fprintf(stderr, "pvkit stat: unexpected argument '%s'\n",
				argv[i]);
			return 2;
		} else {
			name = argv[i];
		}
	}
	if (!name) {
		fprintf(stderr, "pvkit stat: which VM? (pvkit stat NAME)\n");
		return 2;
	}
	if (cli_request(name, "{\"cmd\":\"stat\"}", CLI_TIMEOUT_MS, &r, &raw))
		return 1;
	if (json)
		printf("%s\n", raw);
	else
		stat_print(r);
	free(raw);
	json_free(r);
	return 0;
}
