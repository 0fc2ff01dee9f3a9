// SPDX-License-Identifier: GPL-2.0-only
/*
 * pvkit balloon NAME [--target SIZE] [--stats] [--wait [S]] [--json]:
 * the balloon's target and actual size, the guest's memory stats and the
 * host RAM the guest really holds (the RAM file's allocated blocks).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <pvkit-host/json.h>
#include <pvkit-host/size.h>

#include "include/pvkit.h"

#define BALLOON_WAIT_DEFAULT_S	60
#define BALLOON_POLL_MS		100

static void balloon_print(const char *name, const struct json *b)
{
	const struct json *st = json_get(b, "stats");
	const struct json *c;
	char t[16], a[16], r[16], al[16];

	printf("%s: balloon target %s, actual %s (guest RAM %s, host holds %s)\n",
	       name,
	       cli_size((unsigned long long)json_get_num(b, "target", 0), t, sizeof(t)),
	       cli_size((unsigned long long)json_get_num(b, "actual", 0), a, sizeof(a)),
	       cli_size((unsigned long long)json_get_num(b, "ram", 0), r, sizeof(r)),
	       cli_size((unsigned long long)json_get_num(b, "ram_allocated", 0), al,
			sizeof(al)));
	printf("  state %s, %.0f inflates, %.0f deflates, %.0f reports, %.0f refused\n",
	       json_get_str(b, "state") ?: "?", json_get_num(b, "inflates", 0),
	       json_get_num(b, "deflates", 0), json_get_num(b, "reports", 0),
	       json_get_num(b, "refused", 0));
	if (!st || !st->child) {
		printf("  no stats from the guest yet\n");
		return;
	}
	printf("  guest stats (%.1f s old):\n",
	       json_get_num(b, "stats_age_ms", 0) / 1000);
	for (c = st->child; c; c = c->next)
		printf("    %-20s %.0f\n", c->key, c->num);
}

static uint64_t balloon_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int balloon_usage(FILE *f)
{
	fprintf(f, "Usage: pvkit balloon NAME [--target SIZE] [--stats] [--wait [S]] [--json]\n"
		"  --target SIZE  ask the guest to hold SIZE in its balloon (e.g. 768M; 0 gives all back)\n"
		"  --stats        ask the guest for fresh memory stats first\n"
		"  --wait [S]     wait until actual == target, at most S seconds (default %d)\n"
		"  --json         print the balloon as JSON\n",
		BALLOON_WAIT_DEFAULT_S);
	return f == stdout ? 0 : 2;
}

int cmd_balloon(int argc, char **argv)
{
	const char *name = NULL;
	bool json = false, stats = false, have_target = false;
	long wait_s = -1;
	uint64_t target = 0, end;
	struct json *r = NULL;
	const struct json *b;
	char req[128], *raw = NULL, *e;
	int i, n, rc = 0;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--target")) {
			if (i + 1 >= argc || size_parse(argv[i + 1], &target) ||
			    (target & 4095)) {
				fprintf(stderr, "pvkit balloon: --target '%s': a size in 4 KiB pages (e.g. 512M)\n",
					i + 1 < argc ? argv[i + 1] : "");
				return 2;
			}
			have_target = true;
			i++;
		} else if (!strcmp(argv[i], "--wait")) {
			wait_s = BALLOON_WAIT_DEFAULT_S;
			if (i + 1 < argc && argv[i + 1][0] >= '0' &&
			    argv[i + 1][0] <= '9') {
				errno = 0;
				wait_s = strtol(argv[++i], &e, 10);
				if (errno || *e || wait_s > 3600) {
					fprintf(stderr, "pvkit balloon: --wait '%s': 0..3600 seconds\n",
						argv[i]);
					return 2;
				}
			}
		} else if (!strcmp(argv[i], "--stats")) {
			stats = true;
		} else if (!strcmp(argv[i], "--json")) {
			json = true;
		} else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			return balloon_usage(stdout);
		} else if (argv[i][0] == '-' || name) {
			fprintf(stderr, "pvkit balloon: unexpected argument '%s'\n",
				argv[i]);
			return balloon_usage(stderr);
		} else {
			name = argv[i];
		}
	}
	if (!name) {
		fprintf(stderr, "pvkit balloon: which VM? (pvkit balloon NAME)\n");
		return 2;
	}
	n = snprintf(req, sizeof(req), "{\"cmd\":\"balloon\"");
	if (have_target)
		n += snprintf(req + n, sizeof(req) - (size_t)n,
			      ",\"target\":%llu", (unsigned long long)target);
	if (stats)
		n += snprintf(req + n, sizeof(req) - (size_t)n, ",\"stats\":true");
	snprintf(req + n, sizeof(req) - (size_t)n, "}");

	end = balloon_now_ms() + (uint64_t)(wait_s > 0 ? wait_s : 0) * 1000;
	for (;;) {
		if (cli_request(name, req, CLI_TIMEOUT_MS, &r, &raw))
			return 1;
		b = json_get(r, "balloon");
		if (!b) {
			fprintf(stderr, "pvkit balloon: %s: no balloon in the reply\n",
				name);
			rc = 1;
			break;
		}
		if (wait_s < 0 || json_get_num(b, "target", 0) ==
		    json_get_num(b, "actual", -1))
			break;
		if (balloon_now_ms() >= end) {
			fprintf(stderr, "pvkit balloon: %s: actual did not reach the target in %ld s\n",
				name, wait_s);
			rc = 1;
			break;
		}
		free(raw);
		json_free(r);
		r = NULL;
		raw = NULL;
		/* ask once: later rounds only look */
		snprintf(req, sizeof(req), "{\"cmd\":\"balloon\"}");
		nanosleep(&(struct timespec){ 0, BALLOON_POLL_MS * 1000000L },
			  NULL);
	}
	if (b && json)
		printf("%s\n", raw);
	else if (b)
		balloon_print(name, b);
	free(raw);
	json_free(r);
	return rc;
}
