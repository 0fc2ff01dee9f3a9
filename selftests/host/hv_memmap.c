// SPDX-License-Identifier: GPL-2.0-only
/*
 * Description: the guest memory map three ways, for QEMU pc and q35 at
 * 512M, the sizes on either side of where the PCI hole starts, 4G, 6G
 * and the sizes of hv_gmem's table: what pvkit-hv publishes in the info
 * page, what a back-end translates from it (gmem_init_abi() on the RAM
 * file) and what a real QEMU, started on the same RAM file with the
 * machine, -m and memory-backend options of qemu_build_argv() and -S,
 * does with guest-physical addresses.  'published' checks the info page
 * against the expected table and the back-end's translation, and that
 * the PCI hole and everything past the last range are refused.  'qemu'
 * compares 'info mtree' (the ram-below-4g/ram-above-4g aliases) and
 * 'info mtree -f' (every byte QEMU maps to the RAM file) with the map,
 * then moves patterns both ways: generic loader devices write pages at
 * reset that the back-end must read at the same gpas, and pages the
 * back-end writes must come back from QMP pmemsave byte for byte.
 * Skipped without qemu-system-x86_64.
 */
#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <pvkit-host/json.h>

#include "kselftest_harness.h"

#include "hv_common.h"
#include "../../hypervisor/include/qemu.h"

#define M(x)		((uint64_t)(x) << 20)
#define G4		0x100000000ULL
#define PAGE		((uint64_t)PVKIT_PAGE_SIZE)

/*
 * VGA window and BIOS shadow: RAM in the map, but until firmware programs
 * PAM/SMRAM the chipset decodes these gpas as ROM or MMIO, so QEMU's flat
 * view may lack RAM here and no probe may use them.
 */
#define LEGACY_START	0xa0000ULL
#define LEGACY_END	0x100000ULL

#define MAX_PROBES	16
#define MAX_SEGS	64
#define NR_RANDOM	4
#define QMP_TIMEOUT_MS	10000
#define QUIT_WAIT_MS	5000

/* pattern tags: who wrote a page */
#define TAG_HV		0x766870ULL	/* back-end -> pvkit-hv's mapping */
#define TAG_QEMU	0x756d6571ULL	/* QEMU's loader -> back-end */
#define TAG_BE		0x6562ULL	/* back-end -> QEMU's pmemsave */

/* An expected layout: what QEMU 7.2 does for -machine and -m. */
struct layout {
	const char *machine;
	uint64_t ram;
	uint64_t below;		/* bytes at gpa 0 */
	uint64_t above;		/* bytes at 4 GiB, from file offset 'below' */
};

struct mm {
	struct hv *hv;
	struct gmem be;		/* a back-end's view of the published map */
	struct gmem_range pub[PVKIT_MAX_MEM_RANGES];
	unsigned int nr;
	uint64_t probe[MAX_PROBES];
	unsigned int nr_probes;
	struct qemu q;
	bool reaped;
	char ram_id[64];	/* QEMU's name of the RAM backend */
	int qmp;
	char *rx;
	size_t rx_len;
	size_t rx_cap;
	char dir[64];
};

FIXTURE(memmap)
{
	struct mm m;
};

FIXTURE_VARIANT(memmap)
{
	struct layout l;
};

/*
 * Read from QEMU 7.2 ('info mtree'); the 'qemu' case checks every line
 * against the QEMU installed.  pc splits at 3.5G, or at 3G once RAM
 * reaches 3.5G; q35 at 2.75G, or at 2G once RAM reaches 2.75G.
 */
FIXTURE_VARIANT_ADD(memmap, pc_512m) { { "pc", M(512), M(512), 0 } };
FIXTURE_VARIANT_ADD(memmap, pc_1024m) { { "pc", M(1024), M(1024), 0 } };
FIXTURE_VARIANT_ADD(memmap, pc_2815m) { { "pc", M(2815), M(2815), 0 } };
FIXTURE_VARIANT_ADD(memmap, pc_2816m) { { "pc", M(2816), M(2816), 0 } };
FIXTURE_VARIANT_ADD(memmap, pc_3072m) { { "pc", M(3072), M(3072), 0 } };
FIXTURE_VARIANT_ADD(memmap, pc_3583m) { { "pc", M(3583), M(3583), 0 } };
FIXTURE_VARIANT_ADD(memmap, pc_3584m) { { "pc", M(3584), M(3072), M(512) } };
FIXTURE_VARIANT_ADD(memmap, pc_3585m) { { "pc", M(3585), M(3072), M(513) } };
FIXTURE_VARIANT_ADD(memmap, pc_4096m) { { "pc", M(4096), M(3072), M(1024) } };
FIXTURE_VARIANT_ADD(memmap, pc_6144m) { { "pc", M(6144), M(3072), M(3072) } };
FIXTURE_VARIANT_ADD(memmap, pc_8192m) { { "pc", M(8192), M(3072), M(5120) } };
FIXTURE_VARIANT_ADD(memmap, q35_512m) { { "q35", M(512), M(512), 0 } };
FIXTURE_VARIANT_ADD(memmap, q35_1024m) { { "q35", M(1024), M(1024), 0 } };
FIXTURE_VARIANT_ADD(memmap, q35_2815m) { { "q35", M(2815), M(2815), 0 } };
FIXTURE_VARIANT_ADD(memmap, q35_2816m) { { "q35", M(2816), M(2048), M(768) } };
FIXTURE_VARIANT_ADD(memmap, q35_2817m) { { "q35", M(2817), M(2048), M(769) } };
FIXTURE_VARIANT_ADD(memmap, q35_3072m) { { "q35", M(3072), M(2048), M(1024) } };
FIXTURE_VARIANT_ADD(memmap, q35_3584m) { { "q35", M(3584), M(2048), M(1536) } };
FIXTURE_VARIANT_ADD(memmap, q35_4096m) { { "q35", M(4096), M(2048), M(2048) } };
FIXTURE_VARIANT_ADD(memmap, q35_6144m) { { "q35", M(6144), M(2048), M(4096) } };
FIXTURE_VARIANT_ADD(memmap, q35_8192m) { { "q35", M(8192), M(2048), M(6144) } };

/* One page of noise that names its gpa and writer in its first bytes. */
static void fill(uint8_t *p, uint64_t gpa, uint64_t tag)
{
	uint64_t s = (gpa * 0x9e3779b97f4a7c15ULL) ^ tag ^ 1;
	uint64_t i, v;

	for (i = 0; i < PAGE; i += sizeof(v)) {
		v = hvt_rand(&s);
		memcpy(p + i, &v, sizeof(v));
	}
	memcpy(p, &gpa, sizeof(gpa));
	memcpy(p + sizeof(gpa), &tag, sizeof(tag));
}

static long first_diff(const uint8_t *a, const uint8_t *b, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (a[i] != b[i])
			return (long)i;
	return -1;
}

/*
 * Where in the RAM file the page written for @gpa by @tag ended up, or -1:
 * only pages somebody touched hold data, so SEEK_DATA keeps this short.
 */
static int64_t find_page(int fd, const uint8_t *base, uint64_t size,
			 uint64_t gpa, uint64_t tag)
{
	off_t off = 0, end;

	while ((off = lseek(fd, off, SEEK_DATA)) >= 0 &&
	       (uint64_t)off < size) {
		end = lseek(fd, off, SEEK_HOLE);
		if (end < 0)
			break;
		for (off &= ~(off_t)(PAGE - 1); off < end; off += PAGE) {
			uint64_t g, t;

			memcpy(&g, base + off, sizeof(g));
			memcpy(&t, base + off + sizeof(g), sizeof(t));
			if (g == gpa && t == tag)
				return off;
		}
	}
	return -1;
}

static const struct pvkit_info *info(struct mm *m)
{
	return (const struct pvkit_info *)m->hv->shm;
}

static uint64_t range_end(const struct gmem_range *r)
{
	return r->gpa + r->size;
}

static void add_probe(struct mm *m, uint64_t gpa)
{
	unsigned int i;

	gpa &= ~(PAGE - 1);
	if (gpa >= LEGACY_START && gpa < LEGACY_END)
		return;
	for (i = 0; i < m->nr_probes; i++)
		if (m->probe[i] == gpa)
			return;
	if (m->nr_probes < MAX_PROBES)
		m->probe[m->nr_probes++] = gpa;
}

/*
 * Pages where a wrong split shows first: both ends of every range, the
 * page before the last one below the hole, the second page at 4 GiB,
 * and a few anywhere (same ones every run).
 */
static void pick_probes(struct mm *m, uint64_t ram)
{
	uint64_t s = ram ^ m->pub[m->nr - 1].gpa ^ 0x6d656d6d6170ULL;
	unsigned int i, j;

	for (i = 0; i < m->nr; i++) {
		add_probe(m, m->pub[i].gpa);
		add_probe(m, range_end(&m->pub[i]) - PAGE);
	}
	add_probe(m, range_end(&m->pub[0]) - 2 * PAGE);
	if (m->nr > 1)
		add_probe(m, G4 + PAGE);
	for (i = 0; i < NR_RANDOM; i++) {
		uint64_t off = (hvt_rand(&s) % (ram / PAGE)) * PAGE;

		for (j = 0; j < m->nr; j++) {
			const struct gmem_range *r = &m->pub[j];

			if (off >= r->file_offset &&
			    off - r->file_offset < r->size)
				add_probe(m, r->gpa + off - r->file_offset);
		}
	}
}

FIXTURE_SETUP(memmap)
{
	struct mm *m = &self->m;
	const struct layout *l = &variant->l;
	const struct pvkit_info *in;
	unsigned int i;
	int fd, ret;

	m->qmp = -1;
	m->hv = calloc(1, sizeof(*m->hv));
	ASSERT_NE(NULL, m->hv);
	ASSERT_EQ(0, hvt_init_layout(m->hv, 1, true, false, l->machine, l->ram));

	/* what pvkit-hv publishes: the info page at the start of the region */
	in = info(m);
	ASSERT_EQ(PVKIT_MAGIC, le32toh(in->magic));
	m->nr = le32toh(in->nr_mem_ranges);
	ASSERT_LE(1, m->nr);
	ASSERT_GE(PVKIT_MAX_MEM_RANGES, m->nr);
	for (i = 0; i < m->nr; i++) {
		m->pub[i].gpa = le64toh(in->mem[i].gpa);
		m->pub[i].size = le64toh(in->mem[i].size);
		m->pub[i].file_offset = le64toh(in->mem[i].file_offset);
	}

	/*
	 * What a back-end translates: pvkit-blkback's set-up, on its own
	 * descriptor of the RAM file (it gets one over its socket).
	 */
	ASSERT_EQ(0, gmem_init_abi(&m->be, in->mem, m->nr,
				   le64toh(in->ram_size)));
	fd = fcntl(m->hv->ram_fd, F_DUPFD_CLOEXEC, 0);
	ASSERT_LE(0, fd);
	ret = gmem_map_fd(&m->be, fd);
	close(fd);
	ASSERT_EQ(0, ret);

	pick_probes(m, l->ram);
}

static int qemu_reap(struct mm *m, int ms, int *status)
{
	uint64_t deadline = ev_now_ms() + (uint64_t)ms;
	pid_t r;

	for (;;) {
		r = waitpid(m->q.pid, status, WNOHANG);
		if (r == m->q.pid) {
			m->reaped = true;
			return 0;
		}
		if (r < 0 && errno != EINTR)
			return -errno;
		if (ev_now_ms() >= deadline)
			return -ETIMEDOUT;
		usleep(2000);
	}
}

/* Remove what a failed case left in the temporary directory. */
static void rm_dir(const char *path)
{
	struct dirent *de;
	DIR *d = opendir(path);

	if (!d)
		return;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			unlinkat(dirfd(d), de->d_name, 0);
	closedir(d);
	rmdir(path);
}

FIXTURE_TEARDOWN(memmap)
{
	struct mm *m = &self->m;
	int status;

	/* a failed case: QEMU would die with us (PDEATHSIG), but reap it */
	if (m->q.pid > 0 && !m->reaped) {
		kill(m->q.pid, SIGKILL);
		qemu_reap(m, QUIT_WAIT_MS, &status);
	}
	if (m->qmp >= 0)
		close(m->qmp);
	free(m->rx);
	qemu_free_argv(&m->q);
	if (m->dir[0])
		rm_dir(m->dir);
	gmem_unmap(&m->be);
	hv_core_exit(m->hv);
	free(m->hv);
}

TEST_F(memmap, published)
{
	struct mm *m = &self->m;
	const struct layout *l = &variant->l;
	struct gmem_range r[PVKIT_MAX_MEM_RANGES];
	const struct pvkit_info *in = info(m);
	const struct gmem *be = &m->be, *hg = &m->hv->gm;
	uint64_t below_end, last_end, total = 0, s = l->ram;
	uint8_t buf[PVKIT_PAGE_SIZE];
	unsigned int i;
	int n;

	/* the layout pvkit-hv computes is the table's */
	n = gmem_qemu_layout(l->machine, l->ram, r,
			     PVKIT_MAX_MEM_RANGES);
	ASSERT_EQ(l->above ? 2 : 1, n);
	EXPECT_EQ(0, r[0].gpa);
	EXPECT_EQ(l->below, r[0].size);
	EXPECT_EQ(0, r[0].file_offset);
	if (l->above) {
		EXPECT_EQ(G4, r[1].gpa);
		EXPECT_EQ(l->above, r[1].size);
		EXPECT_EQ(l->below, r[1].file_offset);
	}

	/* ... it publishes exactly that, and hands the same to back-ends */
	ASSERT_EQ(n, m->nr);
	EXPECT_EQ(l->ram, le64toh(in->ram_size));
	ASSERT_EQ((unsigned int)n, hg->nr);
	for (i = 0; i < m->nr; i++) {
		EXPECT_EQ(r[i].gpa, m->pub[i].gpa);
		EXPECT_EQ(r[i].size, m->pub[i].size);
		EXPECT_EQ(r[i].file_offset, m->pub[i].file_offset);
		/* hv->gm is what be_spawn() copies into SETUP */
		EXPECT_EQ(0, memcmp(&hg->r[i], &m->pub[i], sizeof(r[i])));
		total += m->pub[i].size;
	}
	for (; i < PVKIT_MAX_MEM_RANGES; i++) {
		EXPECT_EQ(0, in->mem[i].gpa);
		EXPECT_EQ(0, in->mem[i].size);
		EXPECT_EQ(0, in->mem[i].file_offset);
	}
	EXPECT_EQ(l->ram, total);

	/* the back-end maps every range where pvkit-hv does */
	ASSERT_EQ(m->nr, be->nr);
	EXPECT_EQ(l->ram, be->file_size);
	for (i = 0; i < m->nr; i++) {
		const struct gmem_range *p = &m->pub[i];

		EXPECT_EQ(be->base + p->file_offset,
			  gmem_translate(be, p->gpa, p->size));
		EXPECT_EQ(hg->base + p->file_offset,
			  gmem_translate(hg, p->gpa, p->size));
		EXPECT_EQ(NULL, gmem_translate(be, p->gpa, p->size + 1));
		EXPECT_EQ(NULL, gmem_translate(be, range_end(p) - 1, 2));
	}

	/* bytes the back-end writes are the bytes pvkit-hv reads */
	for (i = 0; i < m->nr_probes; i++) {
		uint64_t gpa = m->probe[i];
		uint8_t *w = gmem_translate(be, gpa, PAGE);
		uint8_t *rd = gmem_translate(hg, gpa, PAGE);

		ASSERT_NE(NULL, w) TH_LOG("gpa %#" PRIx64, gpa);
		ASSERT_NE(NULL, rd) TH_LOG("gpa %#" PRIx64, gpa);
		fill(buf, gpa, TAG_HV);
		memcpy(w, buf, PAGE);
		EXPECT_EQ(-1, first_diff(rd, buf, PAGE))
			TH_LOG("gpa %#" PRIx64, gpa);
	}

	/* the PCI hole: every pc/q35 layout has one below 4 GiB */
	below_end = range_end(&m->pub[0]);
	last_end = range_end(&m->pub[m->nr - 1]);
	ASSERT_LT(below_end, G4);
	EXPECT_EQ(NULL, gmem_translate(be, below_end, 1));
	EXPECT_EQ(NULL, gmem_translate(be, below_end, PAGE));
	EXPECT_EQ(NULL, gmem_translate(be, below_end + PAGE, 1));
	EXPECT_EQ(NULL, gmem_translate(be, (below_end + G4) / 2, 8));
	EXPECT_EQ(NULL, gmem_translate(be, G4 - PAGE, PAGE));
	EXPECT_EQ(NULL, gmem_translate(be, G4 - 1, 1));
	EXPECT_EQ(NULL, gmem_translate(be, below_end - 1, 2));
	EXPECT_EQ(NULL, gmem_translate(be, below_end - PAGE, 2 * PAGE));
	EXPECT_EQ(NULL, gmem_translate(be, G4 - 1, 2));
	EXPECT_EQ(NULL, gmem_translate(be, 0, G4));
	for (i = 0; i < 1000; i++) {
		uint64_t gpa = below_end + hvt_rand(&s) % (G4 - below_end);

		ASSERT_EQ(NULL, gmem_translate(be, gpa, 1))
			TH_LOG("gpa %#" PRIx64 " is in the PCI hole", gpa);
	}

	/* nothing past the last range, with or without RAM above 4 GiB */
	EXPECT_EQ(NULL, gmem_translate(be, last_end, 1));
	EXPECT_EQ(NULL, gmem_translate(be, last_end + PAGE, PAGE));
	EXPECT_EQ(NULL, gmem_translate(be, last_end - 1, 2));
	EXPECT_EQ(NULL, gmem_translate(be, last_end + G4, 1));
	EXPECT_EQ(NULL, gmem_translate(be, UINT64_MAX - PAGE + 1, PAGE));
	EXPECT_EQ(NULL, gmem_translate(be, G4 + l->ram, 1));
	if (!l->above)
		EXPECT_EQ(NULL, gmem_translate(be, G4, 1));
}

/* ----------------------------------------------------------- QEMU --- */

static bool qemu_found(const char *bin)
{
	const char *path = getenv("PATH");
	char buf[4096];

	if (strchr(bin, '/'))
		return !access(bin, X_OK);
	if (!path)
		path = "/usr/bin:/bin";
	while (*path) {
		size_t n = strcspn(path, ":");

		snprintf(buf, sizeof(buf), "%.*s/%s", (int)n, n ? path : ".",
			 bin);
		if (!access(buf, X_OK))
			return true;
		path += n + !!path[n];
	}
	return false;
}

/* The pvkit device, its chardev, the console and the kernel. */
static bool argv_dropped(const char *opt)
{
	static const char *const drop[] = {
		"-chardev", "-device", "-serial", "-kernel", "-initrd",
		"-append",
	};
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(drop); i++)
		if (!strcmp(opt, drop[i]))
			return true;
	return false;
}

/*
 * pvkit-hv's own command line (qemu_build_argv()) minus what needs an
 * ivshmem server or a kernel, plus -S and a loader device per probe.
 * Whatever decides the memory map -- -machine, -m, -object -- is kept
 * as pvkit-hv passes it.
 */
static void build_argv(struct __test_metadata *_metadata, struct mm *m,
		       const struct layout *l)
{
	static const char key[] = "memory-backend=";
	struct qemu full = { .accel = "tcg" };
	bool machine_ok = false, mem_ok = false, object_ok = false;
	char dev[160], want_m[32], want_size[48], want_path[48];
	size_t n = strlen(l->machine);
	unsigned int i;
	int ret = 0;
	char *id;

	snprintf(want_m, sizeof(want_m), "%" PRIu64 "M", l->ram >> 20);
	snprintf(want_size, sizeof(want_size), ",size=%" PRIu64 ",", l->ram);
	snprintf(want_path, sizeof(want_path), ",mem-path=/proc/self/fd/%d,",
		 QEMU_RAM_FD);
	snprintf(full.qmp_path, sizeof(full.qmp_path), "%s/qmp", m->dir);
	snprintf(full.ivs_path, sizeof(full.ivs_path), "%s/ivs", m->dir);
	memcpy(m->q.qmp_path, full.qmp_path, sizeof(full.qmp_path));
	ASSERT_EQ(0, qemu_build_argv(m->hv, &full));
	ret |= qemu_add(&m->q, "%s", full.argv[0]);
	for (i = 1; i < full.argc; i++) {
		const char *a = full.argv[i], *v = full.argv[i + 1];
		bool pair = v && v[0] != '-';

		if (pair && argv_dropped(a)) {
			i++;
			continue;
		}
		if (pair && !strcmp(a, "-machine")) {
			id = strstr(v, key);
			machine_ok = !strncmp(v, l->machine, n) &&
				     v[n] == ',' && id;
			if (id) {
				id += sizeof(key) - 1;
				snprintf(m->ram_id, sizeof(m->ram_id), "%.*s",
					 (int)strcspn(id, ","), id);
			}
		}
		if (pair && !strcmp(a, "-m"))
			mem_ok = !strcmp(v, want_m);
		if (pair && !strcmp(a, "-object"))
			object_ok = strstr(v, "memory-backend-file,") == v &&
				    strstr(v, want_size) &&
				    strstr(v, want_path) &&
				    strstr(v, ",share=on");
		ret |= qemu_add(&m->q, "%s", a);
		if (pair)
			ret |= qemu_add(&m->q, "%s", full.argv[++i]);
	}
	qemu_free_argv(&full);
	ASSERT_EQ(0, ret);
	/* what this test knows about QEMU's options must still hold */
	ASSERT_TRUE(machine_ok) TH_LOG("qemu_build_argv: -machine changed?");
	ASSERT_TRUE(mem_ok) TH_LOG("qemu_build_argv: -m changed?");
	ASSERT_TRUE(object_ok) TH_LOG("qemu_build_argv: -object changed?");

	/* no CPU runs: the loaders write at reset, nothing else touches RAM */
	ret |= qemu_add(&m->q, "-S");
	for (i = 0; i < m->nr_probes; i++) {
		snprintf(dev, sizeof(dev),
			 "loader,file=%s/qw%u,addr=%#" PRIx64 ",force-raw=on",
			 m->dir, i, m->probe[i]);
		ret |= qemu_add(&m->q, "-device");
		ret |= qemu_add(&m->q, "%s", dev);
	}
	ASSERT_EQ(0, ret);
}

/* One line from QMP (malloc'ed, no newline) or -errno. */
static int qmp_line(struct mm *m, uint64_t deadline, char **line)
{
	for (;;) {
		struct pollfd pfd = { .fd = m->qmp, .events = POLLIN };
		char *nl = m->rx ? memchr(m->rx, '\n', m->rx_len) : NULL;
		uint64_t now = ev_now_ms();
		ssize_t n;
		int ret;

		if (nl) {
			size_t len = (size_t)(nl - m->rx);

			*line = strndup(m->rx, len);
			memmove(m->rx, nl + 1, m->rx_len - len - 1);
			m->rx_len -= len + 1;
			return *line ? 0 : -ENOMEM;
		}
		if (m->rx_cap - m->rx_len < 4096) {
			size_t cap = m->rx_cap ? 2 * m->rx_cap : 65536;
			char *p;

			if (cap > JSON_MAX_INPUT)
				return -E2BIG;
			p = realloc(m->rx, cap);
			if (!p)
				return -ENOMEM;
			m->rx = p;
			m->rx_cap = cap;
		}
		if (now >= deadline)
			return -ETIMEDOUT;
		ret = poll(&pfd, 1, (int)(deadline - now));
		if (ret < 0 && errno == EINTR)
			continue;
		if (ret <= 0)
			return ret ? -errno : -ETIMEDOUT;
		n = read(m->qmp, m->rx + m->rx_len,
			 m->rx_cap - m->rx_len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n ? -errno : -ECONNRESET;
		m->rx_len += (size_t)n;
	}
}

/*
 * Send @req (one JSON line) and wait for its answer, skipping events.
 * 0 with the answer in *@doc (if given; json_free() it), -EIO on an
 * "error" answer, or -errno.
 */
static int qmp_exec(struct mm *m, const char *req, struct json **doc)
{
	uint64_t deadline = ev_now_ms() + QMP_TIMEOUT_MS;
	size_t len = strlen(req);
	struct json *v;
	char *line;
	int ret;

	if (send(m->qmp, req, len, MSG_NOSIGNAL) != (ssize_t)len)
		return -errno;
	for (;;) {
		ret = qmp_line(m, deadline, &line);
		if (ret)
			return ret;
		ret = json_parse(line, strlen(line), &v);
		if (ret) {
			fprintf(stderr, "# QMP: unparsable answer: %.200s\n",
				line);
			free(line);
			return ret;
		}
		if (json_get(v, "return")) {
			free(line);
			if (doc)
				*doc = v;
			else
				json_free(v);
			return 0;
		}
		if (json_get(v, "error")) {
			fprintf(stderr, "# QMP: %s -> %.300s\n", req, line);
			free(line);
			json_free(v);
			return -EIO;
		}
		free(line);	/* an event */
		json_free(v);
	}
}

/* Connect once QEMU has created the socket; greeting and capabilities. */
static int qmp_open(struct mm *m)
{
	uint64_t deadline = ev_now_ms() + QMP_TIMEOUT_MS;
	char *line;
	int ret, status;

	for (;;) {
		m->qmp = unix_connect(m->q.qmp_path);
		if (m->qmp >= 0)
			break;
		if (!qemu_reap(m, 0, &status)) {
			fprintf(stderr,
				"# QEMU exited before QMP (status %#x)\n",
				status);
			return -ECHILD;
		}
		if (ev_now_ms() >= deadline)
			return -ETIMEDOUT;
		usleep(5000);
	}
	ret = qmp_line(m, deadline, &line);
	if (ret)
		return ret;
	ret = strstr(line, "\"QMP\"") ? 0 : -EPROTO;
	free(line);
	if (ret)
		return ret;
	return qmp_exec(m, "{\"execute\":\"qmp_capabilities\"}\n", NULL);
}

/* HMP @cmd through QMP; its output (malloc'ed, no '\r') in *@out. */
static int hmp(struct mm *m, const char *cmd, char **out)
{
	const struct json *r;
	struct json *doc;
	char req[256];
	char *s, *d;
	int ret;

	snprintf(req, sizeof(req),
		 "{\"execute\":\"human-monitor-command\",\"arguments\":{\"command-line\":\"%s\"}}\n",
		 cmd);
	ret = qmp_exec(m, req, &doc);
	if (ret)
		return ret;
	r = json_get(doc, "return");
	*out = r->type == JSON_STR ? strdup(r->str) : NULL;
	json_free(doc);
	if (!*out)
		return -EPROTO;
	for (s = d = *out; *s; s++)
		if (*s != '\r')
			*d++ = *s;
	*d = '\0';
	return 0;
}

/*
 * The lines of the block of @text that starts with @head, up to the next
 * empty line: @head's position (text is cut there), or NULL.
 */
static char *block(char *text, const char *head)
{
	char *p = strstr(text, head), *end;

	if (!p)
		return NULL;
	end = strstr(p + 1, "\n\n");
	if (end)
		end[1] = '\0';
	return p;
}

/*
 * 'info mtree': QEMU's RAM aliases in the system address space, e.g.
 * "0000000100000000-000000013fffffff (prio 0, ram): alias ram-above-4g
 * @pvkit-ram 00000000c0000000-00000000ffffffff": gpa range, RAM region,
 * offset range in it (the RAM file offset).
 */
static void check_mtree(struct __test_metadata *_metadata, struct mm *m,
			const struct layout *l)
{
	struct gmem_range seen[2] = { { 0 } };
	unsigned int nseen[2] = { 0, 0 };
	char *text, *sec, *line, *save = NULL;
	unsigned int i;

	ASSERT_EQ(0, hmp(m, "info mtree", &text));
	sec = block(text, "\naddress-space: memory\n");
	if (!sec)
		free(text);
	ASSERT_NE(NULL, sec) TH_LOG("no system address space in 'info mtree'");
	for (line = strtok_r(sec, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		uint64_t s, e, os, oe;
		char type[16], name[64], target[64];
		int prio;

		if (sscanf(line, " %" SCNx64 "-%" SCNx64
			   " (prio %d, %15[^)]): alias %63s @%63s %" SCNx64
			   "-%" SCNx64,
			   &s, &e, &prio, type, name, target, &os, &oe) != 8)
			continue;
		if (!strcmp(name, "ram-below-4g"))
			i = 0;
		else if (!strcmp(name, "ram-above-4g"))
			i = 1;
		else
			continue;
		EXPECT_STREQ(m->ram_id, target) TH_LOG("%s", line);
		EXPECT_EQ(e - s, oe - os) TH_LOG("%s", line);
		seen[i] = (struct gmem_range){ .gpa = s, .size = e - s + 1,
					       .file_offset = os };
		nseen[i]++;
	}
	free(text);

	/* QEMU's split is the table's and the published one */
	ASSERT_EQ(1, nseen[0]) TH_LOG("ram-below-4g aliases in 'info mtree'");
	EXPECT_EQ(0, seen[0].gpa);
	EXPECT_EQ(l->below, seen[0].size);
	EXPECT_EQ(0, seen[0].file_offset);
	EXPECT_EQ(m->pub[0].gpa, seen[0].gpa);
	EXPECT_EQ(m->pub[0].size, seen[0].size);
	EXPECT_EQ(m->pub[0].file_offset, seen[0].file_offset);
	if (!l->above) {
		EXPECT_EQ(0, nseen[1]) TH_LOG("QEMU has RAM above 4 GiB");
		EXPECT_EQ(1, m->nr);
		return;
	}
	ASSERT_EQ(1, nseen[1]) TH_LOG("ram-above-4g aliases in 'info mtree'");
	EXPECT_EQ(G4, seen[1].gpa);
	EXPECT_EQ(l->above, seen[1].size);
	EXPECT_EQ(l->below, seen[1].file_offset);
	ASSERT_EQ(2, m->nr);
	EXPECT_EQ(m->pub[1].gpa, seen[1].gpa);
	EXPECT_EQ(m->pub[1].size, seen[1].size);
	EXPECT_EQ(m->pub[1].file_offset, seen[1].file_offset);
}

static void check_gap(struct __test_metadata *_metadata, uint64_t from,
		      uint64_t to)
{
	if (from >= to)
		return;
	EXPECT_TRUE(from >= LEGACY_START && to <= LEGACY_END)
		TH_LOG("gpa %#" PRIx64 "-%#" PRIx64 " is RAM in the map but not in QEMU",
		       from, to - 1);
}

/*
 * 'info mtree -f': the flat view of the system address space, every
 * piece QEMU maps to the RAM file ("... (prio 0, ram): pvkit-ram
 * @0000000000100000").  Each must lie where the back-end finds it, and
 * together they must cover the map but for the legacy window.  Every
 * probe must be RAM to QEMU, or moving patterns would prove nothing.
 */
static void check_flat(struct __test_metadata *_metadata, struct mm *m)
{
	struct gmem_range seg[MAX_SEGS];
	char *text, *sec, *line, *save = NULL;
	unsigned int nseg = 0, i, j;

	ASSERT_EQ(0, hmp(m, "info mtree -f", &text));
	sec = block(text, "\n AS \"memory\",");
	if (!sec)
		free(text);
	ASSERT_NE(NULL, sec) TH_LOG("no system flat view in 'info mtree -f'");
	for (line = strtok_r(sec, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char type[16], name[64], *at;
		uint64_t s, e, off = 0;
		int prio;

		if (sscanf(line, " %" SCNx64 "-%" SCNx64
			   " (prio %d, %15[^)]): %63s",
			   &s, &e, &prio, type, name) != 5 ||
		    strcmp(type, "ram") || strcmp(name, m->ram_id))
			continue;
		at = strstr(line, " @");
		if (at && sscanf(at, " @%" SCNx64, &off) != 1)
			off = UINT64_MAX;
		if (nseg == MAX_SEGS)
			break;
		seg[nseg++] = (struct gmem_range){ .gpa = s,
						   .size = e - s + 1,
						   .file_offset = off };
		/* QEMU's [s, e] is the file at off: is it the back-end's? */
		EXPECT_EQ(m->be.base + off,
			  gmem_translate(&m->be, s, e - s + 1))
			TH_LOG("QEMU: %s", line);
	}
	free(text);
	ASSERT_LT(0, nseg) TH_LOG("QEMU maps nothing of %s", m->ram_id);

	for (i = 0; i < m->nr; i++) {
		const struct gmem_range *r = &m->pub[i];
		uint64_t at = r->gpa;

		for (j = 0; j < nseg; j++) {
			if (seg[j].gpa < r->gpa || seg[j].gpa >= range_end(r))
				continue;
			check_gap(_metadata, at, seg[j].gpa);
			at = range_end(&seg[j]);
		}
		check_gap(_metadata, at, range_end(r));
	}
	for (i = 0; i < m->nr_probes; i++) {
		uint64_t gpa = m->probe[i];

		for (j = 0; j < nseg; j++)
			if (gpa >= seg[j].gpa &&
			    gpa + PAGE <= range_end(&seg[j]))
				break;
		EXPECT_GT(nseg, j)
			TH_LOG("probe %#" PRIx64 " is no RAM to QEMU", gpa);
	}
}

/* Pages QEMU's loaders wrote at reset, through the back-end. */
static void check_qemu_writes(struct __test_metadata *_metadata, struct mm *m)
{
	uint8_t buf[PVKIT_PAGE_SIZE];
	unsigned int i;
	int64_t at;

	for (i = 0; i < m->nr_probes; i++) {
		uint64_t gpa = m->probe[i];
		uint8_t *p = gmem_translate(&m->be, gpa, PAGE);
		long diff;

		ASSERT_NE(NULL, p);
		fill(buf, gpa, TAG_QEMU);
		diff = first_diff(p, buf, PAGE);
		EXPECT_EQ(-1, diff)
			TH_LOG("QEMU wrote gpa %#" PRIx64 ", back-end reads file offset %#lx: byte %ld differs",
			       gpa, (unsigned long)(p - m->be.base), diff);
		if (diff < 0)
			continue;
		at = find_page(m->hv->ram_fd, m->be.base,
			       m->be.file_size, gpa, TAG_QEMU);
		if (at < 0)
			TH_LOG("QEMU's page for gpa %#" PRIx64 " is nowhere in the RAM file",
			       gpa);
		else
			TH_LOG("QEMU's page for gpa %#" PRIx64 " is at file offset %#" PRIx64,
			       gpa, (uint64_t)at);
	}
}

/* Pages the back-end writes, read back by QEMU's pmemsave. */
static void check_qemu_reads(struct __test_metadata *_metadata, struct mm *m)
{
	uint8_t buf[PVKIT_PAGE_SIZE], got[PVKIT_PAGE_SIZE];
	char req[512], out[96];
	unsigned int i;
	ssize_t n;
	int fd;

	/* all first: a page QEMU reads must not be one written later */
	for (i = 0; i < m->nr_probes; i++) {
		fill(buf, m->probe[i], TAG_BE);
		memcpy(gmem_translate(&m->be, m->probe[i], PAGE), buf, PAGE);
	}
	snprintf(out, sizeof(out), "%s/pmem", m->dir);
	for (i = 0; i < m->nr_probes; i++) {
		uint64_t gpa = m->probe[i];
		uint8_t *p = gmem_translate(&m->be, gpa, PAGE);

		snprintf(req, sizeof(req),
			 "{\"execute\":\"pmemsave\",\"arguments\":{\"val\":%" PRIu64
			 ",\"size\":%" PRIu64 ",\"filename\":\"%s\"}}\n",
			 gpa, PAGE, out);
		ASSERT_EQ(0, qmp_exec(m, req, NULL));
		fd = open(out, O_RDONLY | O_CLOEXEC);
		ASSERT_LE(0, fd);
		n = read(fd, got, sizeof(got));
		close(fd);
		ASSERT_EQ(0, unlink(out));
		ASSERT_EQ((ssize_t)PAGE, n);
		fill(buf, gpa, TAG_BE);
		EXPECT_EQ(-1, first_diff(got, buf, PAGE))
			TH_LOG("back-end wrote gpa %#" PRIx64 " (file offset %#lx), QEMU reads something else there",
			       gpa, (unsigned long)(p - m->be.base));
	}
}

TEST_F(memmap, qemu)
{
	struct mm *m = &self->m;
	const struct layout *l = &variant->l;
	uint8_t buf[PVKIT_PAGE_SIZE];
	const struct json *st;
	struct json *doc;
	char path[128];
	unsigned int i;
	int fd, ret, status;

	if (!qemu_found(m->hv->opt.qemu_bin))
		SKIP(return, "%s not found in PATH: no QEMU to compare the memory map with",
		     m->hv->opt.qemu_bin);

	strcpy(m->dir, "/tmp/hv_memmap.XXXXXX");
	if (!mkdtemp(m->dir))
		m->dir[0] = '\0';
	ASSERT_NE(0, m->dir[0]);
	for (i = 0; i < m->nr_probes; i++) {
		snprintf(path, sizeof(path), "%s/qw%u", m->dir, i);
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		ASSERT_LE(0, fd);
		fill(buf, m->probe[i], TAG_QEMU);
		ret = write(fd, buf, PAGE) == (ssize_t)PAGE ? 0 : -1;
		close(fd);
		ASSERT_EQ(0, ret);
	}
	build_argv(_metadata, m, l);

	/* as pvkit-hv does: the RAM file becomes QEMU's fd 3 */
	ASSERT_EQ(0, qemu_start(m->hv, &m->q));
	ASSERT_EQ(0, qmp_open(m));
	ASSERT_EQ(0, qmp_exec(m, "{\"execute\":\"query-status\"}\n", &doc));
	st = json_get(doc, "return");
	EXPECT_STREQ("prelaunch", json_get_str(st, "status"));
	json_free(doc);

	check_mtree(_metadata, m, l);
	check_flat(_metadata, m);
	check_qemu_writes(_metadata, m);
	check_qemu_reads(_metadata, m);

	/* "quit" may close the socket before it answers */
	ret = qmp_exec(m, "{\"execute\":\"quit\"}\n", NULL);
	EXPECT_TRUE(!ret || ret == -ECONNRESET) TH_LOG("quit: %d", ret);
	ASSERT_EQ(0, qemu_reap(m, QUIT_WAIT_MS, &status));
	EXPECT_TRUE(WIFEXITED(status) && !WEXITSTATUS(status))
		TH_LOG("QEMU status %#x", status);

	/* nothing may be left but what this case created */
	for (i = 0; i < m->nr_probes; i++) {
		snprintf(path, sizeof(path), "%s/qw%u", m->dir, i);
		EXPECT_EQ(0, unlink(path));
	}
	if (unlink(m->q.qmp_path))
		EXPECT_EQ(ENOENT, errno);
	ASSERT_EQ(0, rmdir(m->dir)) TH_LOG("%s: %s", m->dir,
					       strerror(errno));
	m->dir[0] = '\0';
}

TEST_HARNESS_MAIN
