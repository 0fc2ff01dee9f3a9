/* SPDX-License-Identifier: GPL-2.0-only */
/* pvkit CLI: one file per verb. */
#ifndef PVKIT_CLI_H
#define PVKIT_CLI_H

#include <stdbool.h>

#define CLI_TIMEOUT_MS	5000

struct json;

int cmd_run(int argc, char **argv);
int cmd_list(int argc, char **argv);
int cmd_stat(int argc, char **argv);
int cmd_stop(int argc, char **argv);
/* pvkit KIND add|remove ...: argv[0] is the kind's verb ("disk"). */
int cmd_dev(int argc, char **argv);
int cmd_balloon(int argc, char **argv);
int cmd_clock(int argc, char **argv);
/* pause.c: both directions */
int cmd_pause(int argc, char **argv);
int cmd_resume(int argc, char **argv);

/*
 * Send @req to VM @name and parse the reply.  Prints an error naming the
 * VM and returns nonzero on failure; *@out must be json_free()d.
 */
int cli_request(const char *name, const char *req, int timeout_ms,
		struct json **out, char **raw);
/* Human-readable byte count ("1.0G") into @buf. */
const char *cli_size(unsigned long long bytes, char *buf, unsigned int len);

#endif /* PVKIT_CLI_H */
