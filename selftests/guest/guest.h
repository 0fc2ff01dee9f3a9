/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Helpers shared by the pvkit guest selftests: the kselftest harness (with
 * the warnings its own macros trigger under -Wextra silenced), /dev/pvkit
 * ioctls, and readers for sysfs, debugfs and /proc/interrupts.
 *
 * Copyright (c) 2026 The pvkit authors
 */
#ifndef PVKIT_SELFTESTS_GUEST_H
#define PVKIT_SELFTESTS_GUEST_H

#pragma GCC diagnostic ignored "-Wunused-parameter"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <pvkit/abi.h>
#include <pvkit/pvkit_ioctl.h>

#include "kselftest_harness.h"

#define PVKIT_DEV		"/dev/pvkit"
#define PVKIT_DEBUGFS		"/sys/kernel/debug/pvkit"
#define PVKIT_SYSFS_BUS		"/sys/bus/pvkit"
#define PVKIT_TEST_DEV		PVKIT_SYSFS_BUS "/devices/test.0"

#define ARRAY_LEN(a)		(sizeof(a) / sizeof((a)[0]))

/* Open /dev/pvkit; -errno on failure. */
static inline int pvkit_open(void)
{
	int fd = open(PVKIT_DEV, O_RDWR | O_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

/* Raw hypercall through the ioctl: 0 and *ret, or -errno of the ioctl. */
static inline int pvkit_hc(int fd, uint32_t nr, const uint64_t args[6],
			   int64_t *ret)
{
	struct pvkit_ioc_hypercall hc;

	*ret = INT64_MIN;
	memset(&hc, 0, sizeof(hc));
	hc.nr = nr;
	memcpy(hc.args, args, sizeof(hc.args));
	if (ioctl(fd, PVKIT_IOC_HYPERCALL, &hc))
		return -errno;
	*ret = hc.ret;
	return 0;
}

/* Read a whole (small) file into buf, NUL-terminated; length or -errno. */
static inline ssize_t read_text(const char *path, char *buf, size_t len)
{
	ssize_t n, off = 0;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	while ((size_t)off < len - 1) {
		n = read(fd, buf + off, len - 1 - off);
		if (n < 0) {
			n = -errno;
			close(fd);
			return n;
		}
		if (n == 0)
			break;
		off += n;
	}
	close(fd);
	buf[off] = '\0';
	return off;
}

/* Read one line of a sysfs attribute, without the newline. */
static inline int read_attr(const char *dir, const char *attr, char *buf,
			    size_t len)
{
	char path[8192];
	ssize_t n;

	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, attr) >=
	    sizeof(path))
		return -ENAMETOOLONG;
	n = read_text(path, buf, len);
	if (n < 0)
		return (int)n;
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

/*
 * Find "key value..." in a text file (debugfs info/counters) and parse
 * the first value as a number; 0 on success.
 */
static inline int file_key_u64(const char *path, const char *key,
			       uint64_t *val)
{
	static char buf[65536];
	size_t klen = strlen(key);
	char *line, *save = NULL, *end;

	if (read_text(path, buf, sizeof(buf)) < 0)
		return -1;
	for (line = strtok_r(buf, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, key, klen) || (line[klen] != ' ' &&
						 line[klen] != '\t'))
			continue;
		errno = 0;
		*val = strtoull(line + klen, &end, 0);
		return (errno || end == line + klen) ? -1 : 0;
	}
	return -1;
}

static inline int64_t counter(const char *name)
{
	uint64_t v;

	if (file_key_u64(PVKIT_DEBUGFS "/counters", name, &v))
		return -1;
	return (int64_t)v;
}

static inline int64_t info_value(const char *name)
{
	uint64_t v;

	if (file_key_u64(PVKIT_DEBUGFS "/info", name, &v))
		return -1;
	return (int64_t)v;
}

/*
 * MSI-X vector of queue @q of the device named @dev, from debugfs
 * "devices"; -1 if not found.
 */
static inline int queue_vector(const char *dev, unsigned int q)
{
	static char buf[65536];
	char *line, *save = NULL, *p;
	int in_dev = 0;
	char qname[16];

	if (read_text(PVKIT_DEBUGFS "/devices", buf, sizeof(buf)) < 0)
		return -1;
	snprintf(qname, sizeof(qname), "q%u", q);
	for (line = strtok_r(buf, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char first[64], second[64];

		if (sscanf(line, "%63s %63s", first, second) != 2)
			continue;
		if (line[0] != ' ') {
			in_dev = !strcmp(second, dev);
			continue;
		}
		if (!in_dev || strcmp(first, qname))
			continue;
		p = strstr(line, " vector ");
		return p ? atoi(p + 8) : -1;
	}
	return -1;
}

/* Sum of the per-CPU counts of the /proc/interrupts line named @name. */
static inline int64_t proc_irq_count(const char *name)
{
	char line[4096];
	int64_t total = -1;
	FILE *f;

	f = fopen("/proc/interrupts", "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		char *p = strchr(line, ':');
		size_t nl = strlen(name);
		size_t ll;

		line[strcspn(line, "\n")] = '\0';
		ll = strlen(line);
		if (!p || ll < nl || strcmp(line + ll - nl, name) ||
		    (ll > nl && line[ll - nl - 1] != ' '))
			continue;
		total = 0;
		for (p++;;) {
			char *end;
			long long v = strtoll(p, &end, 10);

			if (end == p)
				break;
			total += v;
			p = end;
		}
		break;
	}
	fclose(f);
	return total;
}

/* Lines of /proc/interrupts that mention @needle. */
static inline int proc_irq_lines(const char *needle)
{
	char line[4096];
	int n = 0;
	FILE *f;

	f = fopen("/proc/interrupts", "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (strstr(line, needle))
			n++;
	fclose(f);
	return n;
}

static inline uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static inline void sleep_ms(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

/* xorshift64*: deterministic per seed, printed by each test. */
static inline uint64_t rnd64(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dull;
}

#endif /* PVKIT_SELFTESTS_GUEST_H */
