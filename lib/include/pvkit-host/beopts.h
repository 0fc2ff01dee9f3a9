/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Helpers for parsing a back-end's SETUP.args ("key=value,flag,..."),
 * shared by every back-end's opts.c.
 */
#ifndef PVKIT_HOST_BEOPTS_H
#define PVKIT_HOST_BEOPTS_H

#include <stddef.h>

/* Format a reason into @err; returns -EINVAL for the caller to return. */
int pvbe_opt_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* A decimal number 0..@max, digits only.  0 or -EINVAL. */
int pvbe_opt_uint(const char *s, unsigned long max, unsigned long *out);

#endif /* PVKIT_HOST_BEOPTS_H */
