/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Host-side logging: one line per message on stderr, prefixed with the
 * program and (once known) the VM name, e.g. "pvkit-hv[vm0]: ...".
 */
#ifndef PVKIT_HOST_LOG_H
#define PVKIT_HOST_LOG_H

#include <stdbool.h>

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

#endif /* PVKIT_HOST_LOG_H */
