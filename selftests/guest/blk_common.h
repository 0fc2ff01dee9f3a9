/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Helpers shared by the pvkit block guest selftests (blk_*.c): sysfs
 * reads, running fio and friends with their output kept out of the TAP
 * stream, loading and unloading pvkit_blk.
 *
 * Test VM contract: /dev/pvda is a scratch disk of at least 256 MiB,
 * read-write; /dev/pvdb, if present, is read-only.  Tests that need one
 * of them skip when it is missing.
 *
 * Copyright (c) 2026 The pvkit authors
 */
#ifndef PVKIT_SELFTEST_BLK_COMMON_H
#define PVKIT_SELFTEST_BLK_COMMON_H

/*
 * The 6.1 harness and the TEST() wrappers it expands have unused
 * parameters (ucontext, variant); nothing else is silenced.
 */
#pragma GCC diagnostic ignored "-Wunused-parameter"
#include "kselftest_harness.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/*
 * The 6.1 harness runs a test body even when its FIXTURE_SETUP() called
 * SKIP(); every TEST_F() starts with this.
 */
#define BLK_SKIP_IF_SETUP_SKIPPED()				\
	do {							\
		if (_metadata->skip)				\
			return;					\
	} while (0)

/*
 * main() for the block tests: the whole program skips (exit 4) when
 * @disk is missing, else the harness runs the tests.
 */
#define BLK_TEST_MAIN(disk)						\
	int main(int argc, char **argv)					\
	{								\
		if (!blk_present(disk)) {				\
			ksft_print_header();				\
			ksft_exit_skip("/dev/%s not present\n", disk);	\
		}							\
		return test_harness_run(argc, argv);			\
	}

#define BLK_DISK		"pvda"		/* scratch, read-write */
#define BLK_RO_DISK		"pvdb"		/* read-only, optional */
#define BLK_MODULE		"pvkit_blk"
#define BLK_MODULE_PATH		"/lib/modules/pvkit/pvkit_blk.ko"
#define BLK_FIO			"/usr/bin/fio"
#define BLK_MIN_SIZE		(256ULL << 20)

static inline const char *blk_dev_path(const char *disk)
{
	static char path[32];

	snprintf(path, sizeof(path), "/dev/%s", disk);
	return path;
}

/* Read /sys/block/DISK/ATTR into @buf, trailing newline removed. */
static inline int blk_sysfs_read(const char *disk, const char *attr,
				 char *buf, size_t len)
{
	char path[256];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/sys/block/%s/%s", disk, attr);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	if (n < 0) {
		n = -errno;
		close(fd);
		return n;
	}
	close(fd);
	buf[n] = '\0';
	while (n > 0 && buf[n - 1] == '\n')
		buf[--n] = '\0';
	return 0;
}

/* A numeric sysfs attribute, or -1. */
static inline long long blk_sysfs_ll(const char *disk, const char *attr)
{
	char buf[64];

	if (blk_sysfs_read(disk, attr, buf, sizeof(buf)))
		return -1;
	return strtoll(buf, NULL, 0);
}

/* Field @idx (0-based) of /sys/block/DISK/stat, or -1. */
static inline long long blk_stat_field(const char *disk, unsigned int idx)
{
	char buf[512], *p = buf, *end;
	long long v = -1;
	unsigned int i;

	if (blk_sysfs_read(disk, "stat", buf, sizeof(buf)))
		return -1;
	for (i = 0; i <= idx; i++) {
		v = strtoll(p, &end, 10);
		if (end == p)
			return -1;
		p = end;
	}
	return v;
}

#define BLK_STAT_WRITE_IOS	4
#define BLK_STAT_DISCARD_IOS	11
#define BLK_STAT_FLUSH_IOS	15

static inline bool blk_present(const char *disk)
{
	char path[128];

	snprintf(path, sizeof(path), "/sys/block/%s", disk);
	return !access(path, F_OK) && !access(blk_dev_path(disk), F_OK);
}

/* Number of blk-mq hardware queues of DISK. */
static inline int blk_nr_hw_queues(const char *disk)
{
	char path[128];
	struct dirent *de;
	int n = 0;
	DIR *d;

	snprintf(path, sizeof(path), "/sys/block/%s/mq", disk);
	d = opendir(path);
	if (!d)
		return -1;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static inline long blk_nr_cpus(void)
{
	return sysconf(_SC_NPROCESSORS_ONLN);
}

/* Print a log file as TAP diagnostics ("# " lines). */
static inline void blk_dump_log(const char *path, int max_lines)
{
	char line[512];
	FILE *f = fopen(path, "r");
	int n = 0;

	if (!f)
		return;
	while (fgets(line, sizeof(line), f) && n++ < max_lines)
		printf("#   %s%s", line, strchr(line, '\n') ? "" : "\n");
	fclose(f);
	fflush(stdout);
}

/*
 * Run @argv with stdin from /dev/null and stdout/stderr into @log.
 * Returns the exit status, 128 + signal, or -errno if it did not run.
 * On a non-zero status the log is printed as diagnostics.
 */
/*
 * In a forked child: stdin from /dev/null, stdout and stderr to @log,
 * exec argv[0].  Never returns.
 */
static inline __attribute__((noreturn)) void
blk_exec_logged(char *const argv[], const char *log)
{
	int fd = open("/dev/null", O_RDONLY);

	if (fd >= 0)
		dup2(fd, 0);
	fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd >= 0) {
		dup2(fd, 1);
		dup2(fd, 2);
	}
	execv(argv[0], argv);
	fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

static inline int blk_run(char *const argv[], const char *log)
{
	int status;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (!pid)
		blk_exec_logged(argv, log);
	if (waitpid(pid, &status, 0) < 0)
		return -errno;
	if (WIFSIGNALED(status))
		status = 128 + WTERMSIG(status);
	else
		status = WEXITSTATUS(status);
	if (status) {
		printf("# %s exited with %d:\n", argv[0], status);
		blk_dump_log(log, 40);
	}
	return status;
}

/* Wait up to @ms for DISK to appear (@present) or vanish. */
static inline bool blk_wait_disk(const char *disk, bool present, int ms)
{
	struct timespec ts = { 0, 50 * 1000 * 1000 };

	for (; ms > 0; ms -= 50) {
		if (blk_present(disk) == present)
			return true;
		nanosleep(&ts, NULL);
	}
	return blk_present(disk) == present;
}

static inline bool blk_module_loaded(void)
{
	return !access("/sys/module/" BLK_MODULE, F_OK);
}

/* insmod pvkit_blk with @params; 0 or -errno. */
static inline int blk_module_load(const char *params)
{
	int fd, ret;

	fd = open(BLK_MODULE_PATH, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ret = syscall(SYS_finit_module, fd, params ? params : "", 0);
	ret = ret ? -errno : 0;
	close(fd);
	return ret;
}

/* rmmod pvkit_blk (never waits); 0 or -errno. */
static inline int blk_module_unload(void)
{
	return syscall(SYS_delete_module, BLK_MODULE, O_NONBLOCK) ? -errno : 0;
}

/* Reload pvkit_blk with @params and wait for DISK; 0 or -errno. */
static inline int blk_module_reload(const char *disk, const char *params)
{
	int ret;

	if (blk_module_loaded()) {
		ret = blk_module_unload();
		if (ret)
			return ret;
	}
	ret = blk_module_load(params);
	if (ret)
		return ret;
	return blk_wait_disk(disk, true, 10000) ? 0 : -ETIMEDOUT;
}

/* Read a one-number debugfs file of DISK's hardware queue @hctx, or -1. */
static inline long long blk_hctx_ll(const char *disk, int hctx,
				    const char *file)
{
	char path[128], buf[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/sys/kernel/debug/block/%s/hctx%d/%s",
		 disk, hctx, file);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	return strtoll(buf, NULL, 0);
}

/* Sum over CPUs of the /proc/interrupts line named @name, or -1. */
static inline long long blk_irq_count(const char *name)
{
	char line[2048], *p, *end;
	long long sum = -1;
	FILE *f;

	f = fopen("/proc/interrupts", "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		size_t len = strlen(line), nlen = strlen(name);

		while (len && (line[len - 1] == '\n' || line[len - 1] == ' '))
			line[--len] = '\0';
		if (len < nlen || strcmp(line + len - nlen, name) ||
		    (len > nlen && line[len - nlen - 1] != ' '))
			continue;
		p = strchr(line, ':');
		if (!p)
			continue;
		sum = 0;
		for (p++;; p = end) {
			long long v = strtoll(p, &end, 10);

			if (end == p)
				break;
			sum += v;
		}
		break;
	}
	fclose(f);
	return sum;
}

#endif /* PVKIT_SELFTEST_BLK_COMMON_H */
