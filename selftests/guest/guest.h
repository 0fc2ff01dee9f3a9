/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The one header of the pvkit guest selftests (every test includes it):
 * the kselftest harness (with the warnings its own macros trigger under
 * -Wextra silenced), /dev/pvkit ioctls, readers for sysfs, debugfs and
 * /proc/interrupts, the pvkit shared region (BAR2) mapped from userspace
 * and the device table in it, pvkit devices in sysfs, kernel-log checks
 * since a mark, running helpers (fio, mkfs) with their output kept out of
 * the TAP stream, and the block tests' disks and module.
 *
 * Test VM contract for the block tests: /dev/pvda is a scratch disk of at
 * least 256 MiB, read-write; /dev/pvdb, if present, is read-only.  Tests
 * that need one of them skip when it is missing.
 *
 * Copyright (c) 2026 The pvkit authors
 */
#ifndef PVKIT_SELFTESTS_GUEST_H
#define PVKIT_SELFTESTS_GUEST_H

#pragma GCC diagnostic ignored "-Wunused-parameter"

#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
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

/*
 * The 6.1 harness runs a test body even when its FIXTURE_SETUP() called
 * SKIP(); every TEST_F() of such a fixture starts with this.
 */
#define SKIP_IF_SETUP_SKIPPED()					\
	do {							\
		if (_metadata->skip)				\
			return;					\
	} while (0)

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

/* One hypercall with one argument on a fresh /dev/pvkit: result or -errno. */
static inline int64_t pvkit_hc1(uint32_t nr, uint64_t a0)
{
	const uint64_t args[6] = { a0 };
	int64_t ret;
	int fd, err;

	fd = pvkit_open();
	if (fd < 0)
		return fd;
	err = pvkit_hc(fd, nr, args, &ret);
	close(fd);
	return err ?: ret;
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
		while (ll && line[ll - 1] == ' ')
			line[--ll] = '\0';
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

/* ------------------------------------------------ pvkit devices, sysfs */

/*
 * The sysfs directory of the pvkit device of @type and @instance (its
 * "type" and "instance" attributes, whatever the name), into @dir; 0 or
 * -ENODEV.
 */
static inline int pvkit_sysfs_dev(unsigned int type, unsigned int instance,
				  char *dir, size_t len)
{
	char buf[32], path[512];
	struct dirent *de;
	int ret = -ENODEV;
	DIR *d;

	d = opendir(PVKIT_SYSFS_BUS "/devices");
	if (!d)
		return -ENODEV;
	while (ret && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), PVKIT_SYSFS_BUS "/devices/%s",
			 de->d_name);
		if (read_attr(path, "type", buf, sizeof(buf)) ||
		    strtoul(buf, NULL, 0) != type ||
		    read_attr(path, "instance", buf, sizeof(buf)) ||
		    strtoul(buf, NULL, 0) != instance)
			continue;
		if ((size_t)snprintf(dir, len, "%s", path) < len)
			ret = 0;
	}
	closedir(d);
	return ret;
}

/* A numeric attribute of that device (state is a word: use read_attr). */
static inline long long pvkit_dev_ll(unsigned int type, unsigned int instance,
				     const char *attr)
{
	char dir[512], buf[64];

	if (pvkit_sysfs_dev(type, instance, dir, sizeof(dir)) ||
	    read_attr(dir, attr, buf, sizeof(buf)))
		return -1;
	return strtoll(buf, NULL, 0);
}

/* ---------------------------------------- the shared region (BAR2) ---- */

struct pvkit_shm {
	uint8_t *base;		/* MAP_FAILED when not mapped */
	size_t size;
};

/* A hex id file of a PCI device directory equals @want? */
static inline bool pci_id_is(const char *dir, const char *file, long want)
{
	char buf[32];

	return !read_attr(dir, file, buf, sizeof(buf)) &&
	       strtol(buf, NULL, 0) == want;
}

/*
 * Map BAR2 of the pvkit PCI device (the one whose region starts with the
 * magic) through sysfs.  0, or -errno: with pvkit.ko bound the kernel
 * refuses (EINVAL/EPERM) unless booted with iomem=relaxed.
 */
static inline int pvkit_shm_map(struct pvkit_shm *shm)
{
	char path[300];
	int ret = -ENODEV;
	glob_t g;
	size_t i;

	shm->base = MAP_FAILED;
	if (glob("/sys/bus/pci/devices/*", 0, NULL, &g))
		return -ENODEV;
	for (i = 0; i < g.gl_pathc; i++) {
		struct stat st;
		int fd;

		if (!pci_id_is(g.gl_pathv[i], "vendor", PVKIT_PCI_VENDOR_ID) ||
		    !pci_id_is(g.gl_pathv[i], "device", PVKIT_PCI_DEVICE_ID))
			continue;
		snprintf(path, sizeof(path), "%s/resource%d", g.gl_pathv[i],
			 PVKIT_BAR_SHM);
		fd = open(path, O_RDWR | O_SYNC);
		if (fd < 0 || fstat(fd, &st)) {
			ret = -errno;
			if (fd >= 0)
				close(fd);
			continue;
		}
		shm->size = st.st_size;
		shm->base = mmap(NULL, shm->size, PROT_READ | PROT_WRITE,
				 MAP_SHARED, fd, 0);
		ret = shm->base == MAP_FAILED ? -errno : 0;
		close(fd);
		if (!ret && le32toh(*(uint32_t *)shm->base) == PVKIT_MAGIC)
			break;
		if (!ret)
			munmap(shm->base, shm->size);
		shm->base = MAP_FAILED;
		ret = ret ?: -ENODEV;
	}
	globfree(&g);
	return ret;
}

static inline void pvkit_shm_unmap(struct pvkit_shm *shm)
{
	if (shm->base != MAP_FAILED)
		munmap(shm->base, shm->size);
	shm->base = MAP_FAILED;
}

/*
 * The live (host-written) device-table entry of @type/@instance in the
 * mapped region, or NULL.
 */
static inline volatile struct pvkit_dev_entry *
pvkit_shm_dev(const struct pvkit_shm *shm, unsigned int type,
	      unsigned int instance)
{
	const struct pvkit_info *info = (const void *)shm->base;
	uint32_t off = le32toh(info->devtab_offset);
	uint32_t n = le32toh(info->devtab_entries), i;

	for (i = 0; i < n && i < PVKIT_MAX_DEVICES; i++) {
		struct pvkit_dev_entry *e;

		if (off + (i + 1) * sizeof(*e) > shm->size)
			break;
		e = (void *)(shm->base + off + i * sizeof(*e));
		if (le16toh(e->type) == type && le16toh(e->instance) == instance)
			return e;
	}
	return NULL;
}

/* ------------------------------------------------------- kernel log --- */

/*
 * The kernel log through /dev/kmsg, one record per read: a mark is the
 * sequence number of the last record, so a check "since the mark" is
 * exact even when the log buffer wrapped in between.
 *
 * Calls @fn(text, arg) for every record after @mark (all if @mark is -1)
 * until it returns true; returns the last sequence number seen, or -1.
 */
static inline long long klog_scan(long long mark,
				  bool (*fn)(const char *text, void *arg),
				  void *arg)
{
	long long seq, last = -1;
	char rec[8192];
	ssize_t n;
	int fd;

	fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -1;
	for (;;) {
		char *text;

		n = read(fd, rec, sizeof(rec) - 1);
		if (n < 0 && errno == EPIPE)
			continue;	/* overwritten while we read */
		if (n <= 0)
			break;
		rec[n] = '\0';
		text = strchr(rec, ';');
		if (!text || sscanf(rec, "%*u,%lld", &seq) != 1)
			continue;
		last = seq;
		if (seq <= mark || !fn)
			continue;
		text[strcspn(text, "\n")] = '\0';
		if (fn(text + 1, arg))
			break;
	}
	close(fd);
	return last;
}

/* A mark: checks after it look only at what the kernel logs from now. */
static inline long long klog_mark(void)
{
	return klog_scan(-1, NULL, NULL);
}

struct klog_hit {
	const char *what;
	bool found;
};

static inline bool klog_hit_fn(const char *text, void *arg)
{
	struct klog_hit *h = arg;

	h->found = strstr(text, h->what);
	return h->found;
}

/* Has the kernel logged a line containing @what since @mark? */
static inline bool klog_has(long long mark, const char *what)
{
	struct klog_hit h = { what, false };

	klog_scan(mark, klog_hit_fn, &h);
	return h.found;
}

/* Poll klog_has() up to @ms: the line is logged by a work item. */
static inline bool klog_wait(long long mark, const char *what, int ms)
{
	for (; ms > 0; ms -= 50) {
		if (klog_has(mark, what))
			return true;
		sleep_ms(50);
	}
	return klog_has(mark, what);
}

struct klog_problems {
	int n;
	char first[256];
};

static inline bool klog_problem_fn(const char *text, void *arg)
{
	static const char *const bad[] = {
		"BUG:", "WARNING:", "Oops", "Kernel panic",
		"general protection", "Call Trace",
	};
	struct klog_problems *p = arg;
	size_t i;

	for (i = 0; i < ARRAY_LEN(bad); i++) {
		if (!strstr(text, bad[i]))
			continue;
		if (!p->n++)
			snprintf(p->first, sizeof(p->first), "%s", text);
		break;
	}
	return false;
}

/*
 * Kernel-log lines since @mark that say the kernel is in trouble (BUG,
 * WARNING, Oops, panic, GPF, Call Trace): their number; the first one
 * in @first.  Use: EXPECT_EQ(0, klog_problems(mark, buf, sizeof(buf))).
 */
static inline int klog_problems(long long mark, char *first, size_t len)
{
	struct klog_problems p = { 0, "" };

	klog_scan(mark, klog_problem_fn, &p);
	snprintf(first, len, "%s", p.first);
	return p.n;
}

/* The test fails if the kernel got into trouble since @mark. */
#define EXPECT_KLOG_CLEAN(mark)						\
	do {								\
		char __klog_first[256];					\
									\
		EXPECT_EQ(0, klog_problems(mark, __klog_first,		\
					   sizeof(__klog_first)))	\
			TH_LOG("kernel log: %s", __klog_first);		\
	} while (0)

/* ---------------------------------------------------------- modules --- */

#define PVKIT_MODDIR		"/lib/modules/pvkit"

/* finit_module() of the file @path with @params; 0 or -errno. */
static inline int module_load(const char *path, const char *params)
{
	int fd, ret;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ret = syscall(SYS_finit_module, fd, params ? params : "", 0);
	ret = ret ? -errno : 0;
	close(fd);
	return ret;
}

/* delete_module() that never waits; 0 or -errno (EAGAIN: in use). */
static inline int module_unload(const char *name)
{
	return syscall(SYS_delete_module, name, O_NONBLOCK) ? -errno : 0;
}

static inline bool module_loaded(const char *name)
{
	char path[128];

	snprintf(path, sizeof(path), "/sys/module/%s/initstate", name);
	return !access(path, F_OK);
}

/* -------------------------------------------------- running helpers --- */

/* Print a log file as TAP diagnostics ("# " lines). */
static inline void dump_log(const char *path, int max_lines)
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
 * In a forked child: stdin from /dev/null, stdout and stderr to @log,
 * exec argv[0].  Never returns.
 */
static inline __attribute__((noreturn)) void
exec_logged(char *const argv[], const char *log)
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

/* waitpid() @pid: its exit status, 128 + signal, or -1. */
static inline int wait_status(pid_t pid)
{
	int status;

	if (waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/*
 * Run @argv with stdin from /dev/null and stdout/stderr into @log.
 * Returns the exit status, 128 + signal, or -errno if it did not run.
 * On a non-zero status the log is printed as diagnostics.
 */
static inline int run_logged(char *const argv[], const char *log)
{
	int status;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return -errno;
	if (!pid)
		exec_logged(argv, log);
	status = wait_status(pid);
	if (status < 0)
		return -errno;
	if (status) {
		printf("# %s exited with %d:\n", argv[0], status);
		dump_log(log, 40);
	}
	return status;
}

/* ------------------------------------------------------ block tests --- */

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
#define BLK_MODULE_PATH		PVKIT_MODDIR "/pvkit_blk.ko"
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
	char dir[128];

	snprintf(dir, sizeof(dir), "/sys/block/%s", disk);
	return read_attr(dir, attr, buf, len);
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

/* Wait up to @ms for DISK to appear (@present) or vanish. */
static inline bool blk_wait_disk(const char *disk, bool present, int ms)
{
	for (; ms > 0; ms -= 50) {
		if (blk_present(disk) == present)
			return true;
		sleep_ms(50);
	}
	return blk_present(disk) == present;
}

static inline bool blk_module_loaded(void)
{
	return module_loaded(BLK_MODULE);
}

/* insmod pvkit_blk with @params; 0 or -errno. */
static inline int blk_module_load(const char *params)
{
	return module_load(BLK_MODULE_PATH, params);
}

/* rmmod pvkit_blk (never waits); 0 or -errno. */
static inline int blk_module_unload(void)
{
	return module_unload(BLK_MODULE);
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

	snprintf(path, sizeof(path), "/sys/kernel/debug/block/%s/hctx%d/%s",
		 disk, hctx, file);
	if (read_text(path, buf, sizeof(buf)) <= 0)
		return -1;
	return strtoll(buf, NULL, 0);
}

#endif /* PVKIT_SELFTESTS_GUEST_H */
