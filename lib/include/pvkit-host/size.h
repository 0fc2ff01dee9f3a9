/* SPDX-License-Identifier: GPL-2.0-only */
#ifndef PVKIT_HOST_SIZE_H
#define PVKIT_HOST_SIZE_H

#include <stdint.h>

/*
 * "512M", "2G", "64k", "123B"; a plain number is MiB (like QEMU's -m).
 * 0, -EINVAL for anything else, -ERANGE past 2^64.
 */
int size_parse(const char *s, uint64_t *out);

#endif /* PVKIT_HOST_SIZE_H */
