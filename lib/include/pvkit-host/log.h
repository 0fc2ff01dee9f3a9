/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Host-side logging: one line per message on stderr, prefixed with the
 * program and (once known) the VM name, e.g. "pvkit-hv[vm0]: ...".
 */
#ifndef PVKIT_HOST_LOG_H
#define PVKIT_HOST_LOG_H

#include <stdbool.h>
#include <stdint.h>

enum log_level {
	LOG_LVL_ERR,
	LOG_LVL_WARN,
	LOG_LVL_INFO,
	LOG_LVL_DEBUG,
};

/* @prog and @name are copied; @name may be NULL. */
void log_set_prefix(const char *prog, const char *name);
void log_set_level(enum log_level lvl);
bool log_enabled(enum log_level lvl);

void log_msg(enum log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#define log_err(...)	log_msg(LOG_LVL_ERR, __VA_ARGS__)
#define log_warn(...)	log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...)	log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...)	log_msg(LOG_LVL_DEBUG, __VA_ARGS__)

/*
 * Copy at most @len bytes of untrusted text into @dst (size @dst_size,
 * always NUL terminated), replacing every byte outside printable ASCII by
 * '.', stopping at a NUL; trailing newlines are dropped.  Returns the length written.
 */
unsigned int log_sanitize(char *dst, unsigned int dst_size,
			  const void *src, unsigned int len);

/*
 * A rate limit for lines a peer can trigger at will (a guest's ring
 * violations): at most @burst lines per @interval_ms, like the kernel's
 * ratelimit.  Zero-initialise, then set interval_ms and burst.
 */
struct log_ratelimit {
	uint64_t interval_ms;
	unsigned int burst;
	uint64_t begin_ms;	/* start of the current interval */
	unsigned int printed;	/* lines in it */
	uint64_t missed;	/* lines suppressed since the last printed one */
};

/*
 * May a line be printed at @now_ms?  On true, *@missed (if not NULL) is
 * the number of lines suppressed since the last printed one, for the
 * caller to mention; the count is then reset.
 */
bool log_ratelimit(struct log_ratelimit *rl, uint64_t now_ms,
		   uint64_t *missed);
/* log_ratelimit() with CLOCK_MONOTONIC. */
bool log_ratelimit_now(struct log_ratelimit *rl, uint64_t *missed);

#endif /* PVKIT_HOST_LOG_H */
