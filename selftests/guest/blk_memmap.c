// SPDX-License-Identifier: GPL-2.0-only
/*
 * Description: every guest RAM range works for every path: the published
 * memory map covers all System RAM, direct I/O from and into buffers in
 * each range (1 MiB requests through the indirect segment array, single
 * pages at the edges of each range) returns exactly what was written, a
 * hypercall buffer above 4 GiB is served, and fio verify with 4 jobs x
 * QD32 x 4k-1m blocks (the issue #7 reproducer) completes while its I/O
 * buffers are seen above 4 GiB.
 *
 * How the test knows where buffers are: /proc/self/pagemap (and
 * /proc/PID/pagemap of the fio jobs) gives the page frame of each buffer
 * page; with O_DIRECT those very pages are what the driver hands the
 * host.  PVKIT_MEMMAP_HIGH=1 (or 0) says whether the booted layout has
 * RAM above 4 GiB, so a layout that silently lost its high range fails.
 * The page allocator serves user memory from above 4 GiB first; booted
 * with numa=fake=N the pool is spread over every (address-ordered) node
 * with mbind(), so it gets pages below 4 GiB as well.
 *
 * Copyright (c) 2026 The pvkit authors
 */
#include <ctype.h>
#include <dirent.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>

#include "guest.h"

#define MM_4G		0x100000000ULL
#define MM_PAGE		4096UL
#define MM_POOL		(96UL << 20)	/* pages to classify */
#define MM_REQ_PAGES	256		/* one 1 MiB request */
#define MM_MAX_RANGES	64
#define MM_FIO_LOG	"/tmp/blk_memmap_fio.log"
#define MM_FIO_SECS	200		/* fio is killed after this */
#define MM_MPOL_PREFERRED 1		/* <linux/mempolicy.h> */
#define MM_MPOL_INTERLEAVE 3
#define MM_MAX_NODES	64

struct mm_range {
	uint64_t start, end;		/* inclusive, like /proc/iomem */
};

/* Top-level "System RAM" lines of /proc/iomem. */
static int mm_iomem_ram(struct mm_range *r, int max)
{
	char line[256];
	int n = 0;
	FILE *f = fopen("/proc/iomem", "r");

	if (!f)
		return -errno;
	while (n < max && fgets(line, sizeof(line), f)) {
		unsigned long long s, e;

		if (isspace((unsigned char)line[0]) ||
		    !strstr(line, ": System RAM"))
			continue;
		if (sscanf(line, "%llx-%llx", &s, &e) != 2)
			continue;
		r[n].start = s;
		r[n].end = e;
		n++;
	}
	fclose(f);
	return n;
}

/* The memory map pvkit.ko validated and published in debugfs. */
static int mm_pvkit_map(struct mm_range *r, int max)
{
	char line[256];
	int n = 0;
	FILE *f = fopen(PVKIT_DEBUGFS "/info", "r");

	if (!f)
		return -errno;
	while (n < max && fgets(line, sizeof(line), f)) {
		unsigned long long g, sz, off;
		unsigned int i;

		if (sscanf(line, "mem%u gpa %llx size %llx file_offset %llx",
			   &i, &g, &sz, &off) != 4 || !sz)
			continue;
		r[n].start = g;
		r[n].end = g + sz - 1;
		n++;
	}
	fclose(f);
	return n;
}

/* Guest-physical address of the page at @p, or 0. */
static uint64_t mm_gpa(int pagemap, uintptr_t va)
{
	uint64_t ent;

	if (pread(pagemap, &ent, sizeof(ent), (off_t)(va / MM_PAGE) * 8) != 8)
		return 0;
	if (!(ent & (1ULL << 63)) || !(ent & ((1ULL << 55) - 1)))
		return 0;
	return (ent & ((1ULL << 55) - 1)) * MM_PAGE;
}

static int mm_nr_nodes(void)
{
	char path[64];
	int n;

	for (n = 0; n < MM_MAX_NODES; n++) {
		snprintf(path, sizeof(path), "/sys/devices/system/node/node%d", n);
		if (access(path, F_OK))
			break;
	}
	return n;
}

/*
 * Map the pool, a slice preferring each NUMA node (fake nodes are cut
 * from the address space in order; a full node falls back, no OOM), then
 * fault it in and pin it.
 */
static uint8_t *mm_pool_alloc(int nodes)
{
	int i;
	size_t slice;
	uint8_t *p;

	p = mmap(NULL, MM_POOL, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	if (nodes > 1) {
		slice = MM_POOL / nodes / MM_PAGE * MM_PAGE;
		for (i = 0; i < nodes; i++) {
			unsigned long mask = 1UL << i;

			if (syscall(SYS_mbind, p + i * slice,
				    i == nodes - 1 ? MM_POOL - i * slice : slice,
				    MM_MPOL_PREFERRED, &mask, MM_MAX_NODES, 0))
				break;
		}
	}
	memset(p, 0x5a, MM_POOL);
	/* pinned, so the frames read from pagemap stay the buffer's */
	if (mlock(p, MM_POOL)) {
		munmap(p, MM_POOL);
		return NULL;
	}
	return p;
}

/*
 * Requests whose buffers the DMA layer bounced or remapped (pvkit_blk's
 * per-queue "bounced" counters, summed): while it stays 0 the host was
 * handed the very pages pagemap located.
 */
static long long mm_bounced(void)
{
	char line[256];
	long long sum = 0, v;
	FILE *f = fopen(PVKIT_DEBUGFS "/counters", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		char name[128];

		if (sscanf(line, "%127s %lld", name, &v) == 2 &&
		    !strncmp(name, "blk.", 4) && strstr(name, "/bounced"))
			sum += v;
	}
	fclose(f);
	return sum;
}

/*
 * PVKIT_MEMMAP_BOUNCE=1: the guest forces bouncing (swiotlb=force), so
 * the counters must move instead and the I/O must still be right.
 */
static void mm_check_bounced(struct __test_metadata *_metadata,
			     long long before, const char *what)
{
	const char *e = getenv("PVKIT_MEMMAP_BOUNCE");
	long long now = mm_bounced();

	if (e && atoi(e)) {
		EXPECT_LT(before, now) TH_LOG("swiotlb=force, yet %s were not bounced",
					      what);
	} else {
		EXPECT_EQ(before, now) TH_LOG("the DMA layer bounced %s: the host never saw those pages",
					      what);
	}
}

static int mm_expect_high(void)
{
	const char *e = getenv("PVKIT_MEMMAP_HIGH");

	return e ? atoi(e) : -1;
}

FIXTURE(mm) {
	struct mm_range ram[MM_MAX_RANGES];
	int nr_ram;
	bool has_high;			/* System RAM above 4 GiB */
	int nodes;			/* NUMA nodes (numa=fake) */
	int fd;				/* the scratch disk, O_DIRECT */
	uint8_t *pool;
	uint64_t *gpa;			/* per pool page */
	unsigned int *high, *low;	/* pool page indices */
	unsigned int nr_high, nr_low;
	unsigned int edge_low, edge_high; /* highest below, lowest above */
	uint64_t seed;
};

FIXTURE_SETUP(mm)
{
	size_t pages = MM_POOL / MM_PAGE, i;
	uint64_t top = 0, bottom = ~0ULL;
	int pm, k;

	self->fd = -1;
	self->nr_ram = mm_iomem_ram(self->ram, MM_MAX_RANGES);
	ASSERT_GT(self->nr_ram, 0);
	for (k = 0; k < self->nr_ram; k++)
		if (self->ram[k].end >= MM_4G)
			self->has_high = true;
	self->seed = 0x9e3779b97f4a7c15ULL ^ (uint64_t)getpid();

	self->nodes = mm_nr_nodes();
	self->pool = mm_pool_alloc(self->nodes);
	ASSERT_NE(NULL, self->pool);
	self->gpa = calloc(pages, sizeof(*self->gpa));
	self->high = calloc(pages, sizeof(*self->high));
	self->low = calloc(pages, sizeof(*self->low));
	ASSERT_TRUE(self->gpa && self->high && self->low);

	pm = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, pm);
	for (i = 0; i < pages; i++) {
		self->gpa[i] = mm_gpa(pm, (uintptr_t)self->pool + i * MM_PAGE);
		ASSERT_NE(0, self->gpa[i]) TH_LOG("no frame for page %zu", i);
		if (self->gpa[i] >= MM_4G) {
			if (self->gpa[i] < bottom) {
				bottom = self->gpa[i];
				self->edge_high = i;
			}
			self->high[self->nr_high++] = i;
		} else {
			if (self->gpa[i] >= top) {
				top = self->gpa[i];
				self->edge_low = i;
			}
			self->low[self->nr_low++] = i;
		}
	}
	close(pm);
	TH_LOG("pool over %d node(s): %u pages above 4 GiB (lowest 0x%llx), %u below (highest 0x%llx)",
	       self->nodes, self->nr_high,
	       self->nr_high ? (unsigned long long)bottom : 0,
	       self->nr_low, (unsigned long long)top);

	self->fd = open(blk_dev_path(BLK_DISK), O_RDWR | O_DIRECT | O_CLOEXEC);
	ASSERT_LE(0, self->fd);
}

FIXTURE_TEARDOWN(mm)
{
	if (self->fd >= 0)
		close(self->fd);
	if (self->pool)
		munmap(self->pool, MM_POOL);
	free(self->gpa);
	free(self->high);
	free(self->low);
}

/* The booted layout is the expected one, and the map covers all RAM. */
TEST_F(mm, layout)
{
	struct mm_range map[MM_MAX_RANGES];
	int nr_map, i, j, want = mm_expect_high();

	nr_map = mm_pvkit_map(map, MM_MAX_RANGES);
	ASSERT_GT(nr_map, 0) TH_LOG("no memory map in " PVKIT_DEBUGFS "/info");
	for (j = 0; j < nr_map; j++)
		TH_LOG("published mem%d: 0x%llx-0x%llx", j,
		       (unsigned long long)map[j].start,
		       (unsigned long long)map[j].end);
	for (i = 0; i < self->nr_ram; i++) {
		bool covered = false;

		for (j = 0; j < nr_map; j++)
			covered |= self->ram[i].start >= map[j].start &&
				   self->ram[i].end <= map[j].end;
		EXPECT_TRUE(covered) TH_LOG("System RAM 0x%llx-0x%llx is not in the published map",
					    (unsigned long long)self->ram[i].start,
					    (unsigned long long)self->ram[i].end);
	}
	if (want >= 0)
		EXPECT_EQ(want, self->has_high)
			TH_LOG("PVKIT_MEMMAP_HIGH=%d but RAM above 4 GiB: %d",
			       want, self->has_high);
	if (self->has_high)
		EXPECT_GT(self->nr_high, 0)
			TH_LOG("RAM above 4 GiB, but none of the pool landed there");
	if (self->has_high && self->nodes > 1)
		EXPECT_GT(self->nr_low, 0)
			TH_LOG("%d NUMA nodes, but none of the pool landed below 4 GiB",
			       self->nodes);
}

static void mm_fill(uint8_t *p, uint64_t tag)
{
	uint64_t *w = (uint64_t *)p;
	size_t i;

	for (i = 0; i < MM_PAGE / 8; i++)
		w[i] = tag * 0x100000001b3ULL + i;
}

static struct iovec *mm_iov(struct _test_data_mm *self, const unsigned int *idx,
			    unsigned int first, unsigned int n,
			    unsigned int nr)
{
	struct iovec *iov = calloc(n, sizeof(*iov));
	unsigned int i;

	if (!iov)
		return NULL;
	for (i = 0; i < n; i++) {
		/* every other page: no two neighbours merge into one segment */
		iov[i].iov_base = self->pool + idx[(first + 2 * i) % nr] * MM_PAGE;
		iov[i].iov_len = MM_PAGE;
	}
	return iov;
}

/*
 * Write a 1 MiB request gathered from pages of class @src, read it back
 * scattered into pages of class @dst, compare.  Returns the number of
 * mismatching pages, or -1 on an I/O error.
 */
static int mm_roundtrip(struct __test_metadata *_metadata,
			struct _test_data_mm *self, const unsigned int *src,
			unsigned int nsrc, const unsigned int *dst,
			unsigned int ndst, off_t off, unsigned int pages)
{
	struct iovec *wi, *ri;
	unsigned int i;
	int bad = 0;
	ssize_t n;

	wi = mm_iov(self, src, 0, pages, nsrc);
	ri = mm_iov(self, dst, 1, pages, ndst);
	if (!wi || !ri) {
		free(wi);
		free(ri);
		return -1;
	}
	self->seed++;
	for (i = 0; i < pages; i++)
		mm_fill(wi[i].iov_base, self->seed << 16 | i);
	n = pwritev(self->fd, wi, pages, off);
	if (n != (ssize_t)(pages * MM_PAGE)) {
		TH_LOG("pwritev %u pages at %lld: %zd (%s)", pages,
		       (long long)off, n, strerror(errno));
		bad = -1;
		goto out;
	}
	for (i = 0; i < pages; i++)
		memset(ri[i].iov_base, 0xa5, MM_PAGE);
	n = preadv(self->fd, ri, pages, off);
	if (n != (ssize_t)(pages * MM_PAGE)) {
		TH_LOG("preadv %u pages at %lld: %zd (%s)", pages,
		       (long long)off, n, strerror(errno));
		bad = -1;
		goto out;
	}
	for (i = 0; i < pages; i++) {
		uint8_t want[MM_PAGE];

		mm_fill(want, self->seed << 16 | i);
		if (memcmp(want, ri[i].iov_base, MM_PAGE))
			bad++;
	}
out:
	free(wi);
	free(ri);
	return bad;
}

static const struct mm_case {
	const char *name;
	bool src_high, dst_high;	/* the pages written, read into */
} mm_cases[] = {
	{ "low -> low", false, false },
	{ "low -> high", false, true },
	{ "high -> low", true, false },
	{ "high -> high", true, true },
};

TEST_F(mm, direct_io_every_range)
{
	unsigned int c, pages;
	long long bounced = mm_bounced();
	off_t off = 8 << 20;

	ASSERT_LE(0, bounced) TH_LOG("no bounced counters in " PVKIT_DEBUGFS "/counters");
	for (c = 0; c < ARRAY_LEN(mm_cases); c++) {
		const struct mm_case *mc = &mm_cases[c];
		const unsigned int *src = mc->src_high ? self->high : self->low;
		const unsigned int *dst = mc->dst_high ? self->high : self->low;
		unsigned int ns = mc->src_high ? self->nr_high : self->nr_low;
		unsigned int nd = mc->dst_high ? self->nr_high : self->nr_low;

		if (!ns || !nd) {
			TH_LOG("%s: no pages there in this layout", mc->name);
			continue;
		}
		/* a full indirect request, and one that fits the slot */
		for (pages = MM_REQ_PAGES; pages; pages = pages > 2 ? 2 : 0) {
			EXPECT_EQ(0, mm_roundtrip(_metadata, self, src, ns, dst,
						  nd, off, pages))
				TH_LOG("%s, %u pages", mc->name, pages);
			off += MM_REQ_PAGES * MM_PAGE;
		}
	}

	/* the pool's pages nearest 4 GiB on either side, alone */
	if (self->nr_low)
		EXPECT_EQ(0, mm_roundtrip(_metadata, self, &self->edge_low, 1,
					  &self->edge_low, 1, off, 1));
	if (self->nr_high)
		EXPECT_EQ(0, mm_roundtrip(_metadata, self, &self->edge_high, 1,
					  &self->edge_high, 1, off + MM_PAGE,
					  1));
	mm_check_bounced(_metadata, bounced, "the pool's buffers");
	if (self->has_high && !self->nr_high)
		SKIP(return, "no pool page above 4 GiB");
}

/* HC_LOG reads its buffer through the host's translation of the gpa. */
TEST_F(mm, hypercall_buffer_every_range)
{
	uint64_t args[6] = { 0 };
	unsigned int which[2], i, n = 0;
	int64_t ret;
	int fd;

	if (!(info_value("features") & PVKIT_F_LOG))
		SKIP(return, "host does not offer PVKIT_F_LOG");
	fd = pvkit_open();
	ASSERT_LE(0, fd);
	if (self->nr_low)
		which[n++] = self->edge_low;
	if (self->nr_high)
		which[n++] = self->edge_high;
	for (i = 0; i < n; i++) {
		char *p = (char *)self->pool + which[i] * MM_PAGE;

		snprintf(p, MM_PAGE, "pvkit selftest: log buffer at gpa 0x%llx",
			 (unsigned long long)self->gpa[which[i]]);
		args[0] = self->gpa[which[i]];
		args[1] = strlen(p);
		ASSERT_EQ(0, pvkit_hc(fd, PVKIT_HC_LOG, args, &ret));
		EXPECT_EQ(PVKIT_HC_OK, ret) TH_LOG("LOG from gpa 0x%llx",
						   (unsigned long long)args[0]);
	}
	close(fd);
}

/* Count resident pages of @pid's large anonymous mappings by range. */
static void mm_scan_pid(pid_t pid, unsigned long *high, unsigned long *low)
{
	char path[64], line[512];
	FILE *maps;
	int pm;

	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	maps = fopen(path, "r");
	if (!maps)
		return;
	snprintf(path, sizeof(path), "/proc/%d/pagemap", pid);
	pm = open(path, O_RDONLY | O_CLOEXEC);
	if (pm < 0) {
		fclose(maps);
		return;
	}
	while (fgets(line, sizeof(line), maps)) {
		unsigned long s, e, ino, va;
		char perms[8], dev[16], name[256] = "";

		if (sscanf(line, "%lx-%lx %7s %*s %15s %lu %255s", &s, &e,
			   perms, dev, &ino, name) < 5)
			continue;
		/* fio's io buffers: big, writable, anonymous */
		if (ino || perms[1] != 'w' || e - s < (1UL << 20) ||
		    (name[0] && strcmp(name, "[heap]")))
			continue;
		for (va = s; va < e; va += MM_PAGE) {
			uint64_t g = mm_gpa(pm, va);

			if (!g)
				continue;
			if (g >= MM_4G)
				(*high)++;
			else
				(*low)++;
		}
	}
	close(pm);
	fclose(maps);
}

/* Pages of every running fio process, by range (the most seen so far). */
static void mm_scan_fio(unsigned long *max_high, unsigned long *max_low)
{
	unsigned long high = 0, low = 0;
	struct dirent *de;
	DIR *d = opendir("/proc");

	if (!d)
		return;
	while ((de = readdir(d))) {
		char path[64], comm[32] = "";
		pid_t pid = atoi(de->d_name);

		if (pid <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/comm", pid);
		if (read_text(path, comm, sizeof(comm)) < 0 ||
		    strncmp(comm, "fio", 3))
			continue;
		mm_scan_pid(pid, &high, &low);
	}
	closedir(d);
	if (high > *max_high)
		*max_high = high;
	if (low > *max_low)
		*max_low = low;
}

TEST_F_TIMEOUT(mm, fio_verify_buffers_located, MM_FIO_SECS + 60)
{
	static char *const argv[] = {
		BLK_FIO, "--name=memmap", "--filename=/dev/" BLK_DISK,
		"--direct=1", "--ioengine=libaio", "--iodepth=32",
		"--numjobs=4", "--size=32M", "--offset_increment=64M",
		"--verify=crc32c", "--do_verify=1", "--verify_fatal=1",
		"--rw=randwrite", "--bsrange=4k-1m", "--group_reporting",
		NULL,
	};
	unsigned long high = 0, low = 0;
	long long bounced = mm_bounced();
	uint64_t t0 = now_ns();
	int status;
	pid_t pid;

	if (access(BLK_FIO, X_OK))
		SKIP(return, BLK_FIO " not in the image");
	if (blk_sysfs_ll(BLK_DISK, "size") < (256LL << 11))
		SKIP(return, "needs a 256 MiB scratch disk");
	/* our own pool is not fio's: give its memory back first */
	munlock(self->pool, MM_POOL);
	munmap(self->pool, MM_POOL);
	self->pool = NULL;

	fflush(stdout);
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		unsigned long all = (1UL << self->nodes) - 1;

		/* spread over every node: buffers on both sides of 4 GiB */
		if (self->nodes > 1)
			syscall(SYS_set_mempolicy, MM_MPOL_INTERLEAVE, &all,
				MM_MAX_NODES);
		exec_logged(argv, MM_FIO_LOG);
	}
	for (;;) {
		pid_t w = waitpid(pid, &status, WNOHANG);

		ASSERT_LE(0, w);
		if (w == pid)
			break;
		if (now_ns() - t0 > MM_FIO_SECS * 1000000000ULL) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			dump_log(MM_FIO_LOG, 40);
			ASSERT_TRUE(false) TH_LOG("fio still running after %u s: I/O hangs",
						  MM_FIO_SECS);
		}
		mm_scan_fio(&high, &low);
		sleep_ms(100);
	}
	TH_LOG("fio took %.1f s; its I/O buffers: %lu pages above 4 GiB, %lu below",
	       (now_ns() - t0) / 1e9, high, low);
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		dump_log(MM_FIO_LOG, 40);
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(0, WEXITSTATUS(status));
	EXPECT_GT(high + low, 0) TH_LOG("never saw fio's buffers");
	mm_check_bounced(_metadata, bounced, "fio's buffers");
	if (self->has_high)
		EXPECT_GT(high, 0) TH_LOG("RAM above 4 GiB but fio's buffers never there");
	if (self->has_high && self->nodes > 1)
		EXPECT_GT(low, 0) TH_LOG("fio's buffers interleaved, yet never below 4 GiB");
}

BLK_TEST_MAIN(BLK_DISK)
