// SPDX-License-Identifier: GPL-2.0-only
/*
 * Description: pvkit-blkback end to end without QEMU: the test is the
 * hypervisor and the guest front-end (blkback_fe.c); it checks READY,
 * random reads/writes with random segment layouts (inline and indirect, up
 * to 1 MiB, across the memory-map hole) against a shadow copy, flush, FUA,
 * discard, write-zeroes, several queues at once, event-index notification
 * accounting, busy-poll kick suppression, the O_DIRECT fallback, STATS,
 * DISCONNECT/reconnect, SHUTDOWN, socket EOF and SIGTERM.
 *
 * PVKIT_BIN_DIR overrides where pvkit-blkback is found; PVKIT_SEED fixes
 * the random seed; PVKIT_BENCH_SECS sets the throughput test's length.
 */
#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "blkback_fe.h"

#define IMG_SIZE	(32ULL << 20)
#define IMG_SECTORS	(IMG_SIZE >> 9)
#define SLOTS		64
#define SHM_DIR		"/dev/shm"

static uint64_t test_seed(void)
{
	const char *s = getenv("PVKIT_SEED");
	uint64_t v;

	if (s && *s)
		v = strtoull(s, NULL, 0);
	else
		v = (uint64_t)time(NULL) * 1000003 ^ (uint64_t)getpid();
	return v ? v : 1;
}

static const uint64_t all_blk_features = PVKIT_BLK_F_FLUSH | PVKIT_BLK_F_FUA |
	PVKIT_BLK_F_INDIRECT | PVKIT_BLK_F_DISCARD | PVKIT_BLK_F_WRITE_ZEROES;

/* Flags of the back-end's descriptor for the image (O_DIRECT or not). */
static long backend_image_flags(pid_t pid, const char *image)
{
	char path[320], link[PATH_MAX], info[256];
	struct dirent *de;
	long flags = -1;
	ssize_t n;
	DIR *d;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/fd", pid);
	d = opendir(path);
	if (!d)
		return -1;
	while ((de = readdir(d))) {
		snprintf(path, sizeof(path), "/proc/%d/fd/%s", pid, de->d_name);
		n = readlink(path, link, sizeof(link) - 1);
		if (n <= 0)
			continue;
		link[n] = '\0';
		if (strncmp(link, image, strlen(image)))
			continue;
		snprintf(path, sizeof(path), "/proc/%d/fdinfo/%s", pid,
			 de->d_name);
		f = fopen(path, "re");
		if (!f)
			continue;
		while (fgets(info, sizeof(info), f)) {
			if (!strncmp(info, "flags:", 6))
				flags = strtol(info + 6, NULL, 8);
		}
		fclose(f);
		break;
	}
	closedir(d);
	return flags;
}

/* Read the whole image through the test's own fd and compare. */
static int image_matches(struct fe *fe, const uint8_t *shadow, uint64_t size,
			 uint64_t *bad)
{
	uint8_t *buf = malloc(1 << 20);
	uint64_t off, i;
	int ret = 0;

	if (!buf)
		return -ENOMEM;
	for (off = 0; off < size && !ret; off += 1 << 20) {
		if (pread(fe->image_fd, buf, 1 << 20, off) != 1 << 20) {
			ret = -EIO;
			break;
		}
		if (memcmp(buf, shadow + off, 1 << 20)) {
			for (i = 0; buf[i] == shadow[off + i]; i++)
				;
			*bad = off + i;
			ret = -EILSEQ;
		}
	}
	free(buf);
	return ret;
}

static uint8_t *image_snapshot(struct fe *fe, uint64_t size)
{
	uint8_t *s = malloc(size);

	if (s && pread(fe->image_fd, s, size, 0) != (ssize_t)size) {
		free(s);
		s = NULL;
	}
	return s;
}

static int simple_req(struct fe *fe, unsigned int qi, uint8_t op,
		      uint64_t sector, uint32_t nr_sectors)
{
	struct pvkit_blk_req rq;

	memset(&rq, 0, sizeof(rq));
	rq.id = htole64(0x5000 + op);
	rq.op = op;
	rq.sector = htole64(sector);
	rq.nr_sectors = htole32(nr_sectors);
	return fe_do(fe, qi, &rq);
}

/* ---------------------------------------------------- fixture: a disk --- */

FIXTURE(blk) {
	struct fe fe;
	uint64_t seed;
	uint8_t *shadow;
};

FIXTURE_VARIANT(blk) {
	const char *dir;
	const char *args;
	bool kick_nonblock;
};

/* tmpfs: O_DIRECT (6.6+), punch hole, no ZERO_RANGE (zeroes written) */
FIXTURE_VARIANT_ADD(blk, tmpfs) {
	.dir = SHM_DIR,
	.args = "",
};

/* the file system of /tmp (ext4 here): O_DIRECT and ZERO_RANGE */
FIXTURE_VARIANT_ADD(blk, tmpdir) {
	.dir = "/tmp",
	.args = "",
};

/* tmpfs through io_uring (io-wq) instead of inline reads and writes */
FIXTURE_VARIANT_ADD(blk, tmpfs_no_inline) {
	.dir = SHM_DIR,
	.args = "inline=off",
};

FIXTURE_VARIANT_ADD(blk, buffered) {
	.dir = SHM_DIR,
	.args = "direct=off",
};

FIXTURE_VARIANT_ADD(blk, poll) {
	.dir = SHM_DIR,
	.args = "poll=50",
};

/* asynchronous completions (not inline) reaped while busy-polling */
FIXTURE_VARIANT_ADD(blk, poll_tmpdir) {
	.dir = "/tmp",
	.args = "poll=50",
};

/* a non-blocking kick eventfd: the back-end watches it with POLL_ADD */
FIXTURE_VARIANT_ADD(blk, kick_nonblock) {
	.dir = SHM_DIR,
	.args = "",
	.kick_nonblock = true,
};

FIXTURE_SETUP(blk)
{
	uint64_t img_seed;
	int ret;

	self->seed = test_seed();
	img_seed = self->seed ^ 0x9e3779b97f4a7c15ULL;
	self->fe.kick_nonblock = variant->kick_nonblock;
	ret = fe_start(&self->fe, variant->dir, IMG_SIZE, variant->args, 4,
		       SLOTS, &img_seed);
	if (ret == -ENOENT)
		SKIP(return, "pvkit-blkback not built (set PVKIT_BIN_DIR)");
	ASSERT_EQ(0, ret) TH_LOG("start: %s (%s)", strerror(-ret),
				 self->fe.err_msg);
	self->shadow = image_snapshot(&self->fe, IMG_SIZE);
	ASSERT_NE(NULL, self->shadow);
	TH_LOG("seed 0x%llx (PVKIT_SEED)", (unsigned long long)self->seed);
}

FIXTURE_TEARDOWN(blk)
{
	fe_destroy(&self->fe);
	free(self->shadow);
}

TEST_F_TIMEOUT(blk, random_rw, 120)
{
	struct fe_job_cfg c = {
		.qi = 0, .zone = 0, .zone_sectors = IMG_SECTORS, .qd = 16,
		.nreqs = 3000, .win = 0, .max_bytes = 1 << 20,
		.seed = self->seed, .shadow = self->shadow,
	};
	struct pvkit_be_stats st;
	uint64_t bad = 0;

	ASSERT_EQ(0, fe_random_io(&self->fe, &c)) TH_LOG("%s", c.err);
	ASSERT_EQ(PVKIT_BLK_S_OK, simple_req(&self->fe, 0,
					     PVKIT_BLK_OP_FLUSH, 0, 0));
	ASSERT_EQ(0, image_matches(&self->fe, self->shadow, IMG_SIZE, &bad))
		TH_LOG("image differs from the shadow at byte %llu",
		       (unsigned long long)bad);
	ASSERT_EQ(0, fe_stats(&self->fe, &st));
	EXPECT_EQ(4, st.nr_queues);
	EXPECT_EQ(3001, st.q[0].requests);
	EXPECT_EQ(0, st.q[0].errors);
	EXPECT_GT(st.q[0].bytes, 0);
	EXPECT_EQ(0, st.q[1].requests);
	EXPECT_TRUE(fe_alive(&self->fe));
}

struct mq_arg {
	struct fe *fe;
	struct fe_job_cfg cfg;
	int ret;
};

static void *mq_thread(void *p)
{
	struct mq_arg *a = p;

	a->ret = fe_random_io(a->fe, &a->cfg);
	return NULL;
}

TEST_F_TIMEOUT(blk, multiqueue, 120)
{
	struct mq_arg a[4];
	pthread_t t[4];
	struct pvkit_be_stats st;
	uint64_t bad = 0, zone = IMG_SECTORS / 4;
	unsigned int i;

	for (i = 0; i < 4; i++) {
		memset(&a[i], 0, sizeof(a[i]));
		a[i].fe = &self->fe;
		a[i].cfg = (struct fe_job_cfg){
			.qi = i, .zone = i * zone, .zone_sectors = zone,
			.qd = 8, .nreqs = 1000, .win = i * 8,
			.max_bytes = 256 << 10, .seed = self->seed + i,
			.shadow = self->shadow,
		};
		ASSERT_EQ(0, pthread_create(&t[i], NULL, mq_thread, &a[i]));
	}
	for (i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	for (i = 0; i < 4; i++)
		EXPECT_EQ(0, a[i].ret) TH_LOG("%s", a[i].cfg.err);
	ASSERT_EQ(PVKIT_BLK_S_OK, simple_req(&self->fe, 2,
					     PVKIT_BLK_OP_FLUSH, 0, 0));
	ASSERT_EQ(0, image_matches(&self->fe, self->shadow, IMG_SIZE, &bad))
		TH_LOG("image differs from the shadow at byte %llu",
		       (unsigned long long)bad);
	ASSERT_EQ(0, fe_stats_settled(&self->fe, &st));
	for (i = 0; i < 4; i++) {
		EXPECT_EQ(self->fe.q[i].reqs, st.q[i].requests);
		EXPECT_EQ(self->fe.q[i].irqs, st.q[i].irqs);
		EXPECT_EQ(0, st.q[i].errors);
	}
}

TEST_F(blk, flush_fua)
{
	struct fe *fe = &self->fe;
	uint8_t buf[8192], back[8192];

	EXPECT_TRUE(fe->features & PVKIT_BLK_F_FUA);
	fe_fill_random(buf, sizeof(buf), &self->seed);
	ASSERT_EQ(PVKIT_BLK_S_OK, fe_write(fe, 0, 1000, buf, sizeof(buf), 3,
					   PVKIT_BLK_RQ_FUA));
	/* FUA: on the image when the response arrives */
	ASSERT_EQ((ssize_t)sizeof(back), pread(fe->image_fd, back,
					       sizeof(back), 1000 * 512));
	EXPECT_EQ(0, memcmp(buf, back, sizeof(buf)));
	ASSERT_EQ(PVKIT_BLK_S_OK, fe_write(fe, 0, 5000, buf, sizeof(buf), 4,
					   0));
	ASSERT_EQ(PVKIT_BLK_S_OK, simple_req(fe, 0, PVKIT_BLK_OP_FLUSH, 0, 0));
	ASSERT_EQ(PVKIT_BLK_S_OK, fe_read(fe, 1, 5000, back, sizeof(back), 5));
	EXPECT_EQ(0, memcmp(buf, back, sizeof(buf)));
}

static bool all_zero(const uint8_t *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (p[i])
			return false;
	}
	return true;
}

TEST_F_TIMEOUT(blk, discard_write_zeroes, 60)
{
	struct fe *fe = &self->fe;
	uint64_t bad = 0;
	uint8_t *buf = malloc(1 << 20);
	uint32_t max;

	ASSERT_NE(NULL, buf);
	ASSERT_TRUE(fe->features & PVKIT_BLK_F_DISCARD);
	ASSERT_TRUE(fe->features & PVKIT_BLK_F_WRITE_ZEROES);
	EXPECT_GE(fe->cfg.max_discard_sectors, 2048);
	EXPECT_GE(fe->cfg.max_write_zeroes_sectors, 2048);
	EXPECT_GE(fe->cfg.discard_granularity, 512);

	/* discard 512 KiB in the middle of 1 MiB of data */
	fe_fill_random(buf, 1 << 20, &self->seed);
	ASSERT_EQ(PVKIT_BLK_S_OK, fe_write(fe, 0, 8192, buf, 1 << 20, 0, 0));
	memcpy(self->shadow + 8192 * 512, buf, 1 << 20);
	ASSERT_EQ(PVKIT_BLK_S_OK, simple_req(fe, 0, PVKIT_BLK_OP_DISCARD,
					     8192 + 512, 1024));
	memset(self->shadow + (8192 + 512) * 512, 0, 512 << 10);
	ASSERT_EQ(PVKIT_BLK_S_OK, fe_read(fe, 0, 8192, buf, 1 << 20, 1));
	EXPECT_EQ(0, memcmp(buf, self->shadow + 8192 * 512, 1 << 20));
	EXPECT_TRUE(all_zero(buf + (512 << 9), 512 << 10));

	/* write-zeroes, unaligned to pages */
	ASSERT_EQ(PVKIT_BLK_S_OK, simple_req(fe, 1,
					     PVKIT_BLK_OP_WRITE_ZEROES,
					     20001, 77));
	memset(self->shadow + 20001ULL * 512, 0, 77 * 512);
	/* a big one: more than one step when zeroes are written */
	max = fe->cfg.max_write_zeroes_sectors;
	ASSERT_GE(max, 40960);
	ASSERT_EQ(PVKIT_BLK_S_OK, simple_req(fe, 2,
					     PVKIT_BLK_OP_WRITE_ZEROES,
					     24576, 40960));
	memset(self->shadow + 24576ULL * 512, 0, 40960ULL * 512);
	ASSERT_EQ(PVKIT_BLK_S_OK, simple_req(fe, 3, PVKIT_BLK_OP_FLUSH, 0, 0));
	ASSERT_EQ(0, image_matches(fe, self->shadow, IMG_SIZE, &bad))
		TH_LOG("image differs at byte %llu", (unsigned long long)bad);
	ASSERT_EQ(PVKIT_BLK_S_OK, fe_read(fe, 3, 20000, buf, 79 * 512, 2));
	EXPECT_TRUE(all_zero(buf + 512, 77 * 512));
	EXPECT_FALSE(all_zero(buf, 512));
	/* the whole disk */
	ASSERT_EQ(PVKIT_BLK_S_OK, simple_req(fe, 0, PVKIT_BLK_OP_DISCARD, 0,
					     IMG_SECTORS));
	memset(self->shadow, 0, IMG_SIZE);
	ASSERT_EQ(0, image_matches(fe, self->shadow, IMG_SIZE, &bad));
	free(buf);
}

/*
 * Notification accounting: every irq the back-end raised is seen exactly
 * once, a front-end that sleeps never loses a completion, and a front-end
 * that polls (never re-arms rsp_event) gets at most one more irq.
 */
TEST_F_TIMEOUT(blk, notify, 60)
{
	struct fe *fe = &self->fe;
	struct fe_queue *q = &fe->q[1];
	struct pvkit_be_stats st;
	struct pvkit_blk_rsp rsp;
	struct fe_io io;
	uint64_t irqs_before, batches = 0;
	unsigned int i, j, n;

	/* ping-pong and random small batches, front-end sleeping */
	for (i = 0; i < 2000; i++) {
		n = 1 + fe_rand(&self->seed) % 8;
		for (j = 0; j < n; j++) {
			fe_build_rw(fe, &io, PVKIT_BLK_OP_READ, i * 8 + j,
				    fe_rand(&self->seed) % (IMG_SECTORS - 8),
				    4096, j, -1, NULL, &self->seed);
			ASSERT_EQ(0, fe_queue_req(fe, 1, &io.rq));
		}
		fe_push(fe, 1);
		batches++;
		for (j = 0; j < n; j++) {
			ASSERT_EQ(0, fe_get_rsp(fe, 1, &rsp, 5000))
				TH_LOG("lost completion at batch %u", i);
			ASSERT_EQ(PVKIT_BLK_S_OK, rsp.status);
		}
		/* sometimes let the back-end fall asleep */
		if (!(fe_rand(&self->seed) % 16))
			usleep(200);
	}
	ASSERT_EQ(0, fe_stats_settled(fe, &st));
	EXPECT_EQ(q->reqs, st.q[1].requests);
	EXPECT_EQ(q->irqs, st.q[1].irqs);
	EXPECT_LE(st.q[1].irqs, q->rsps);
	EXPECT_GE(st.q[1].kicks, 1);
	EXPECT_LE(st.q[1].kicks, q->kicks);
	EXPECT_LE(q->kicks, batches);
	TH_LOG("%llu requests in %llu batches: %llu kicks sent, %llu seen; %llu irqs, %llu pushes without irq",
	       (unsigned long long)q->reqs, (unsigned long long)batches,
	       (unsigned long long)q->kicks,
	       (unsigned long long)st.q[1].kicks,
	       (unsigned long long)st.q[1].irqs,
	       (unsigned long long)st.q[1].irqs_suppressed);

	/* a polling front-end: irqs suppressed by the event index */
	irqs_before = st.q[1].irqs;
	q->polling = true;
	for (i = 0; i < 500; i++) {
		fe_build_rw(fe, &io, PVKIT_BLK_OP_READ, 100000 + i,
			    (i * 8) % IMG_SECTORS, 4096, 0, 0, NULL,
			    &self->seed);
		ASSERT_EQ(0, fe_submit(fe, 1, &io.rq));
		ASSERT_EQ(0, fe_get_rsp(fe, 1, &rsp, 5000));
		ASSERT_EQ(PVKIT_BLK_S_OK, rsp.status);
	}
	ASSERT_EQ(0, fe_stats(fe, &st));
	EXPECT_LE(st.q[1].irqs - irqs_before, 1);
	EXPECT_GE(st.q[1].irqs_suppressed, 499);
}

/* ------------------------------------------------- stand-alone tests --- */

/* The 6.1 harness has per-test timeouts only for fixtures. */
FIXTURE(slow) {
	int unused;
};

FIXTURE_SETUP(slow)
{
}

FIXTURE_TEARDOWN(slow)
{
}

/* Start a connected back-end; false if the test was skipped. */
static bool start_fe(struct __test_metadata *_metadata, struct fe *fe,
		     const char *dir, uint64_t size, const char *args,
		     unsigned int nq, unsigned int slots)
{
	return fe_start_test(_metadata, fe, dir, size, args, nq, slots, 42);
}

/* spawn + SETUP on an image in @dir; 0 READY, 1 ERROR, -ENOENT no binary */
static int setup_with(struct fe *fe, const char *dir, uint64_t size,
		      const char *fmt_args)
{
	char args[PATH_MAX + PVKIT_BE_ARGS_MAX];
	uint64_t seed = 7;
	int ret;

	ret = fe_init(fe, 1, 16);
	if (!ret)
		ret = fe_image(fe, dir, size, false, &seed);
	if (!ret)
		ret = fe_spawn(fe);
	if (ret)
		return ret;
	/* %s in the args is the image path */
	snprintf(args, sizeof(args), fmt_args, fe->image);
	return fe_setup(fe, args);
}

TEST(ready_config)
{
	struct fe fe = { 0 };
	int ret;

	/* a size that is not a multiple of 512: the tail is not exposed */
	ret = setup_with(&fe, SHM_DIR, (16 << 20) + 1000, "path=%s");
	if (ret == -ENOENT)
		SKIP(return, "pvkit-blkback not built");
	ASSERT_EQ(0, ret) TH_LOG("%s", fe.err_msg);
	EXPECT_EQ(32769, fe.cfg.capacity);
	EXPECT_EQ(512, fe.cfg.logical_block_size);
	EXPECT_GE(fe.cfg.physical_block_size, 512);
	EXPECT_EQ(256, fe.cfg.max_segments);
	EXPECT_EQ(1 << 20, fe.cfg.max_segment_size);
	EXPECT_GE(fe.cfg.max_sectors, 2048);
	EXPECT_EQ(0, fe.cfg.poll_us);
	EXPECT_EQ(0, fe.cfg.reserved0);
	EXPECT_EQ(all_blk_features, fe.features);
	EXPECT_EQ(0, fe.features & ~PVKIT_BLK_F_KNOWN);
	ASSERT_EQ(0, fe_connect(&fe, fe.features));
	fe_destroy(&fe);

	ret = setup_with(&fe, SHM_DIR, 1 << 20, "path=%s,poll=123,ro");
	ASSERT_EQ(0, ret) TH_LOG("%s", fe.err_msg);
	EXPECT_EQ(PVKIT_BLK_F_FLUSH | PVKIT_BLK_F_FUA | PVKIT_BLK_F_INDIRECT |
		  PVKIT_BLK_F_RO | PVKIT_BLK_F_BACKEND_POLL, fe.features);
	EXPECT_EQ(123, fe.cfg.poll_us);
	EXPECT_EQ(0, fe.cfg.max_discard_sectors);
	EXPECT_EQ(0, fe.cfg.max_write_zeroes_sectors);
	fe_destroy(&fe);
}

TEST(bad_args)
{
	static const char *const bad[] = {
		"",
		"path=",
		"ro",
		"path=%s,foo=bar",
		"path=%s,bogus",
		"path=%s,ro=1",
		"path=%s,poll=abc",
		"path=%s,poll=-1",
		"path=%s,poll=2000000",
		"path=%s,direct=maybe",
		"path=%s,inline=on",
		"path=%s,serial=123456789012345678901",
		"path=%s,format=qcow2",
		"path=/nonexistent/pvkit-image",
		"path=/dev/null",
		"path=/tmp",
		"path=%s.empty",
	};
	char empty[PATH_MAX + 8], args[PATH_MAX + 64];
	struct fe fe = { 0 };
	uint64_t seed = 1;
	unsigned int i;
	int ret, status, fd;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		ret = fe_init(&fe, 1, 16);
		ASSERT_EQ(0, ret);
		ASSERT_EQ(0, fe_image(&fe, SHM_DIR, 1 << 20, false, &seed));
		/* an empty image next to it, for "%s.empty" */
		snprintf(empty, sizeof(empty), "%s.empty", fe.image);
		fd = open(empty, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
		ASSERT_LE(0, fd);
		close(fd);
		ret = fe_spawn(&fe);
		if (ret == -ENOENT) {
			unlink(empty);
			fe_destroy(&fe);
			SKIP(return, "pvkit-blkback not built");
		}
		snprintf(args, sizeof(args), bad[i], fe.image);
		ret = fe_setup(&fe, args);
		unlink(empty);
		EXPECT_EQ(1, ret) TH_LOG("args \"%s\" accepted", bad[i]);
		if (ret == 1) {
			EXPECT_NE(0, fe.err_code);
			EXPECT_NE(0, strlen(fe.err_msg));
			TH_LOG("\"%s\" -> %s", bad[i], fe.err_msg);
		}
		status = fe_wait_exit(&fe, 5000);
		EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1)
			TH_LOG("\"%s\": wait status 0x%x", bad[i], status);
		fe_destroy(&fe);
	}
}

TEST(read_only)
{
	struct fe fe = { 0 };
	uint8_t buf[4096];

	if (!start_fe(_metadata, &fe, SHM_DIR, 4 << 20, "ro", 1, 16))
		return;
	ASSERT_TRUE(fe.features & PVKIT_BLK_F_RO);
	EXPECT_FALSE(fe.features & PVKIT_BLK_F_DISCARD);
	EXPECT_FALSE(fe.features & PVKIT_BLK_F_WRITE_ZEROES);
	memset(buf, 0xab, sizeof(buf));
	EXPECT_EQ(PVKIT_BLK_S_RO, fe_write(&fe, 0, 8, buf, sizeof(buf), 0, 0));
	EXPECT_EQ(PVKIT_BLK_S_RO, simple_req(&fe, 0, PVKIT_BLK_OP_DISCARD, 0,
					     8));
	EXPECT_EQ(PVKIT_BLK_S_RO, simple_req(&fe, 0,
					     PVKIT_BLK_OP_WRITE_ZEROES, 0, 8));
	EXPECT_EQ(PVKIT_BLK_S_OK, fe_read(&fe, 0, 8, buf, sizeof(buf), 1));
	EXPECT_EQ(PVKIT_BLK_S_OK, simple_req(&fe, 0, PVKIT_BLK_OP_FLUSH, 0, 0));
	fe_destroy(&fe);
}

/* An image the back-end cannot open for writing is served read-only. */
TEST(read_only_unwritable)
{
	struct fe fe = { 0 };
	char path[PATH_MAX], args[PATH_MAX + 8];
	uint8_t buf[512];
	int attr, ret, fd;
	bool immutable = false;
	uint64_t seed = 3;

	ASSERT_EQ(0, fe_init(&fe, 1, 16));
	ASSERT_EQ(0, fe_image(&fe, "/tmp", 1 << 20, true, &seed));
	snprintf(path, sizeof(path), "%s", fe.image);
	fd = fe.image_fd;
	/* root ignores modes, not the immutable attribute */
	if (ioctl(fd, FS_IOC_GETFLAGS, &attr) == 0) {
		attr |= FS_IMMUTABLE_FL;
		immutable = ioctl(fd, FS_IOC_SETFLAGS, &attr) == 0;
	}
	if (!immutable && (geteuid() == 0 || fchmod(fd, 0444))) {
		fe_destroy(&fe);
		SKIP(return, "cannot make a file unwritable here");
	}
	ret = fe_spawn(&fe);
	if (ret == -ENOENT) {
		attr &= ~FS_IMMUTABLE_FL;
		if (immutable)
			ioctl(fd, FS_IOC_SETFLAGS, &attr);
		fe_destroy(&fe);
		SKIP(return, "pvkit-blkback not built");
	}
	snprintf(args, sizeof(args), "path=%s", path);
	ret = fe_setup(&fe, args);
	if (immutable) {
		attr &= ~FS_IMMUTABLE_FL;
		ioctl(fd, FS_IOC_SETFLAGS, &attr);
	}
	unlink(path);
	ASSERT_EQ(0, ret) TH_LOG("%s", fe.err_msg);
	EXPECT_TRUE(fe.features & PVKIT_BLK_F_RO);
	ASSERT_EQ(0, fe_connect(&fe, fe.features));
	memset(buf, 1, sizeof(buf));
	EXPECT_EQ(PVKIT_BLK_S_RO, fe_write(&fe, 0, 0, buf, sizeof(buf), 0, 0));
	EXPECT_EQ(PVKIT_BLK_S_OK, fe_read(&fe, 0, 0, buf, sizeof(buf), 0));
	fe_destroy(&fe);
}

static int do_get_id(struct fe *fe, char *out)
{
	struct pvkit_blk_req rq;
	uint64_t gpa = fe_window_gpa(3);
	int ret;

	memset(&rq, 0, sizeof(rq));
	rq.id = htole64(77);
	rq.op = PVKIT_BLK_OP_GET_ID;
	rq.nr_segs = htole16(1);
	rq.seg[0].gpa = htole64(gpa);
	rq.seg[0].len = htole32(512);
	memset(fe_gpa(fe, gpa, 512), 0xff, 512);
	ret = fe_do(fe, 0, &rq);
	memcpy(out, fe_gpa(fe, gpa, 21), 21);
	return ret;
}

TEST(get_id)
{
	struct fe fe = { 0 };
	char id[21], base[64];

	if (!start_fe(_metadata, &fe, SHM_DIR, 1 << 20,
		      "serial=pvkit-serial-01", 1, 16))
		return;
	ASSERT_EQ(PVKIT_BLK_S_OK, do_get_id(&fe, id));
	EXPECT_EQ(0, memcmp(id, "pvkit-serial-01\0\0\0\0\0", 20));
	EXPECT_EQ((char)0xff, id[20]);	/* exactly 20 bytes written */
	fe_destroy(&fe);

	/* default: the image's file name, "pvkit-blkback-XXXXXX" */
	if (!start_fe(_metadata, &fe, SHM_DIR, 1 << 20, "", 1, 16))
		return;
	ASSERT_EQ(PVKIT_BLK_S_OK, do_get_id(&fe, id));
	snprintf(base, sizeof(base), "%.20s", id);
	EXPECT_EQ(0, strncmp(base, "pvkit-blkback-", 14)) TH_LOG("%s", base);
	fe_destroy(&fe);
}

TEST(direct_io_flags)
{
	struct fe fe = { 0 };
	long flags;
	int ret;

	ret = setup_with(&fe, SHM_DIR, 1 << 20, "path=%s");
	if (ret == -ENOENT)
		SKIP(return, "pvkit-blkback not built");
	ASSERT_EQ(0, ret);
	flags = backend_image_flags(fe.pid, "/dev/shm/pvkit-blkback-");
	ASSERT_NE(-1, flags);
	EXPECT_TRUE(flags & O_DIRECT) TH_LOG("tmpfs without O_DIRECT?");
	EXPECT_EQ(O_RDWR, flags & O_ACCMODE);
	fe_destroy(&fe);

	ret = setup_with(&fe, SHM_DIR, 1 << 20, "path=%s,direct=off,ro");
	ASSERT_EQ(0, ret);
	flags = backend_image_flags(fe.pid, "/dev/shm/pvkit-blkback-");
	ASSERT_NE(-1, flags);
	EXPECT_FALSE(flags & O_DIRECT);
	EXPECT_EQ(O_RDONLY, flags & O_ACCMODE);
	fe_destroy(&fe);
}

/*
 * A file system without O_DIRECT (ramfs, in a private mount namespace):
 * direct=auto falls back to buffered I/O with a warning, direct=on fails.
 */
TEST_F_TIMEOUT(slow, odirect_fallback, 60)
{
	char dir[] = "/tmp/pvkit-ramfs-XXXXXX", prefix[64];
	struct fe fe = { 0 };
	struct fe_job_cfg c;
	uint8_t *shadow;
	uint64_t seed = test_seed(), bad = 0;
	long flags;
	int ret;

	if (unshare(CLONE_NEWNS) ||
	    mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL))
		SKIP(return, "no private mount namespace: %s",
		     strerror(errno));
	ASSERT_NE(NULL, mkdtemp(dir));
	if (mount("ramfs", dir, "ramfs", 0, "mode=0700")) {
		rmdir(dir);
		SKIP(return, "cannot mount ramfs: %s", strerror(errno));
	}
	snprintf(prefix, sizeof(prefix), "%s/", dir);

	ret = setup_with(&fe, dir, 4 << 20, "path=%s,direct=on");
	if (ret == -ENOENT) {
		umount2(dir, MNT_DETACH);
		rmdir(dir);
		SKIP(return, "pvkit-blkback not built");
	}
	EXPECT_EQ(1, ret);
	TH_LOG("direct=on: %s", fe.err_msg);
	fe_destroy(&fe);

	ret = fe_init(&fe, 1, 32);
	if (!ret)
		ret = fe_image(&fe, dir, 4 << 20, true, &seed);
	if (!ret)
		ret = fe_spawn(&fe);
	ASSERT_EQ(0, ret);
	{
		char args[PATH_MAX + 8];

		snprintf(args, sizeof(args), "path=%s", fe.image);
		ret = fe_setup(&fe, args);
	}
	ASSERT_EQ(0, ret) TH_LOG("%s", fe.err_msg);
	flags = backend_image_flags(fe.pid, prefix);
	EXPECT_NE(-1, flags);
	EXPECT_FALSE(flags & O_DIRECT);
	ASSERT_EQ(0, fe_connect(&fe, fe.features));
	shadow = image_snapshot(&fe, 4 << 20);
	ASSERT_NE(NULL, shadow);
	c = (struct fe_job_cfg){
		.qi = 0, .zone = 0, .zone_sectors = 8192, .qd = 8,
		.nreqs = 500, .win = 0, .max_bytes = 1 << 20, .seed = seed,
		.shadow = shadow,
	};
	EXPECT_EQ(0, fe_random_io(&fe, &c)) TH_LOG("%s", c.err);
	EXPECT_EQ(0, image_matches(&fe, shadow, 4 << 20, &bad));
	free(shadow);
	fe_destroy(&fe);
	umount2(dir, MNT_DETACH);
	rmdir(dir);
}

/* io_uring worker threads (iou-wrk-*) of process @pid */
static int io_wq_threads(pid_t pid)
{
	char path[64], comm[64];
	struct dirent *de;
	int n = 0;
	DIR *d;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	d = opendir(path);
	if (!d)
		return -1;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%.16s/comm", pid,
			 de->d_name);
		f = fopen(path, "re");
		if (!f)
			continue;
		if (fgets(comm, sizeof(comm), f) &&
		    !strncmp(comm, "iou-wrk-", 8))
			n++;
		fclose(f);
	}
	closedir(d);
	return n;
}

/*
 * On tmpfs (no RWF_NOWAIT) small reads and writes are done inline by the
 * queue thread: no io-wq worker is ever started for them.  With
 * inline=off the same I/O goes through io-wq (which shows the check
 * above can see a worker), and both give the same data.
 */
TEST(inline_rw_tmpfs)
{
	static const char *const args[] = { "", "inline=off" };
	struct fe fe = { 0 };
	uint64_t seed = 11;
	unsigned int i, a;
	int workers;

	for (a = 0; a < ARRAY_SIZE(args); a++) {
		if (!start_fe(_metadata, &fe, SHM_DIR, 4 << 20, args[a], 1, 16))
			return;
		for (i = 0; i < 200; i++) {
			uint32_t bytes = 512u << (i % 8);	/* 512 .. 64 KiB */

			ASSERT_EQ(0, fe_check_io(&fe, 0, (i * 131) % 7000,
						 bytes, &seed))
				TH_LOG("%s: request %u", args[a], i);
		}
		workers = io_wq_threads(fe.pid);
		TH_LOG("\"%s\": %d io-wq worker(s)", args[a], workers);
		if (a == 0) {
			EXPECT_EQ(0, workers);
		} else {
			EXPECT_LT(0, workers);
		}
		fe_destroy(&fe);
		memset(&fe, 0, sizeof(fe));
	}
}

TEST(busy_poll_suppresses_kicks)
{
	struct fe fe = { 0 };
	struct pvkit_be_stats st;
	struct pvkit_blk_rsp rsp;
	struct fe_io io;
	uint64_t seed = 5;
	unsigned int i;

	/* 200 ms of polling: a quick ping-pong never lets it sleep */
	if (!start_fe(_metadata, &fe, SHM_DIR, 4 << 20, "poll=200000", 1, 16))
		return;
	ASSERT_TRUE(fe.features & PVKIT_BLK_F_BACKEND_POLL);
	EXPECT_EQ(200000, fe.cfg.poll_us);
	for (i = 0; i < 2000; i++) {
		fe_build_rw(&fe, &io, PVKIT_BLK_OP_READ, i, (i * 8) % 8192,
			    4096, 0, 0, NULL, &seed);
		ASSERT_EQ(0, fe_submit(&fe, 0, &io.rq));
		ASSERT_EQ(0, fe_get_rsp(&fe, 0, &rsp, 5000));
		ASSERT_EQ(PVKIT_BLK_S_OK, rsp.status);
	}
	ASSERT_EQ(0, fe_stats(&fe, &st));
	TH_LOG("2000 requests: %llu kicks sent, %llu seen",
	       (unsigned long long)fe.q[0].kicks,
	       (unsigned long long)st.q[0].kicks);
	EXPECT_LE(fe.q[0].kicks, 200);
	fe_destroy(&fe);
}

TEST_F_TIMEOUT(slow, stats_disconnect_reconnect, 60)
{
	struct fe fe = { 0 };
	struct pvkit_be_stats st, st2;
	struct pvkit_ring_hdr *hdr;
	struct pvkit_be_hdr h;
	uint8_t buf[4096];
	struct fe_io io;
	uint64_t seed = 9;
	unsigned int i, n = 0, got;
	int ret;

	if (!start_fe(_metadata, &fe, SHM_DIR, 16 << 20, "", 2, 64))
		return;
	for (i = 0; i < 100; i++) {
		fe_fill_random(buf, sizeof(buf), &seed);
		ASSERT_EQ(PVKIT_BLK_S_OK, fe_write(&fe, 0, i * 8, buf,
						   sizeof(buf), 0, 0));
	}
	/* the counters trail the responses by a moment */
	for (i = 0; i < 100; i++) {
		ASSERT_EQ(0, fe_stats(&fe, &st));
		if (st.q[0].irqs + st.q[0].irqs_suppressed == 100)
			break;
		usleep(10000);
	}
	EXPECT_EQ(2, st.nr_queues);
	EXPECT_EQ(100, st.q[0].requests);
	EXPECT_EQ(409600, st.q[0].bytes);
	EXPECT_EQ(0, st.q[0].errors);
	EXPECT_EQ(0, st.q[1].requests);
	EXPECT_GE(st.q[0].kicks, 1);
	EXPECT_EQ(100, st.q[0].irqs + st.q[0].irqs_suppressed);

	/* DISCONNECT with a full ring of 256 KiB writes in flight */
	for (i = 0; i < 64; i++) {
		fe_build_rw(&fe, &io, PVKIT_BLK_OP_WRITE, 1000 + i, i * 512,
			    256 << 10, i % FE_NR_WINDOWS, -1, NULL, &seed);
		if (fe_queue_req(&fe, 0, &io.rq))
			break;
		n++;
	}
	fe_push(&fe, 0);
	/* STATS is served while the DISCONNECT drains: answers in any order */
	ASSERT_EQ(0, fe_send(&fe, &h, PVKIT_BE_DISCONNECT, sizeof(h)));
	ASSERT_EQ(0, fe_send(&fe, &h, PVKIT_BE_STATS, sizeof(h)));
	for (i = 0, got = 0; i < 2; i++) {
		ret = fe_recv_any(&fe, &st, sizeof(st), 5000);
		ASSERT_TRUE(ret == PVKIT_BE_DISCONNECTED ||
			    ret == PVKIT_BE_STATS) TH_LOG("got %d", ret);
		got |= 1 << (ret == PVKIT_BE_STATS);
	}
	EXPECT_EQ(3, got);
	/* every request it took is answered: nothing left in flight */
	ASSERT_EQ(0, fe_stats(&fe, &st2));
	hdr = fe.q[0].ring.hdr;
	EXPECT_EQ(st2.q[0].requests,
		  le32toh(__atomic_load_n(&hdr->rsp_prod, __ATOMIC_ACQUIRE)));
	EXPECT_LE(st2.q[0].requests, 100 + n);
	TH_LOG("%u submitted before DISCONNECT, %llu taken", n,
	       (unsigned long long)(st2.q[0].requests - 100));
	/* nothing more is taken while disconnected */
	usleep(20000);
	ASSERT_EQ(0, fe_stats(&fe, &st));
	EXPECT_EQ(st2.q[0].requests, st.q[0].requests);
	/* DISCONNECT again is harmless */
	ASSERT_EQ(0, fe_disconnect(&fe));

	/* reconnect: fresh rings, counters keep counting */
	ASSERT_EQ(0, fe_connect(&fe, fe.features));
	EXPECT_EQ(0, fe_check_io(&fe, 1, 100, 64 << 10, &seed));
	EXPECT_EQ(0, fe_check_io(&fe, 0, 300, 4096, &seed));
	ASSERT_EQ(0, fe_stats(&fe, &st));
	EXPECT_EQ(st2.q[0].requests + 2, st.q[0].requests);
	EXPECT_EQ(2, st.q[1].requests);
	EXPECT_TRUE(fe_alive(&fe));
	fe_destroy(&fe);
}

TEST(shutdown)
{
	struct fe fe = { 0 };
	int status;

	if (!start_fe(_metadata, &fe, SHM_DIR, 1 << 20, "", 1, 16))
		return;
	ASSERT_EQ(0, fe_shutdown(&fe));
	status = fe_wait_exit(&fe, 5000);
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
		TH_LOG("wait status 0x%x", status);
	fe_destroy(&fe);
}

TEST(socket_eof)
{
	struct fe fe = { 0 };
	int status;

	if (!start_fe(_metadata, &fe, SHM_DIR, 1 << 20, "", 1, 16))
		return;
	close(fe.sock);
	fe.sock = -1;
	status = fe_wait_exit(&fe, 5000);
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
		TH_LOG("wait status 0x%x", status);
	fe_destroy(&fe);
}

TEST(sigterm)
{
	struct fe fe = { 0 };
	uint64_t seed = 11;
	int status;

	if (!start_fe(_metadata, &fe, SHM_DIR, 1 << 20, "", 2, 16))
		return;
	ASSERT_EQ(0, fe_check_io(&fe, 1, 0, 8192, &seed));
	kill(fe.pid, SIGTERM);
	status = fe_wait_exit(&fe, 5000);
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
		TH_LOG("wait status 0x%x", status);
	fe_destroy(&fe);
}

/*
 * Sanity throughput: 4 KiB random reads at queue depth 32 on a tmpfs
 * image, one queue, front-end sleeping on irqs.  Prints IOPS.
 */
static double bench_randread(struct __test_metadata *_metadata,
			     const char *args, double secs)
{
	struct fe fe = { 0 };
	struct pvkit_blk_req rq[32];
	struct pvkit_blk_rsp rsp;
	struct pvkit_be_stats st;
	uint64_t seed = 123, done = 0, loops = 0, start, now, sectors;
	struct timespec ts;
	unsigned int i, j;
	double iops;

	if (!start_fe(_metadata, &fe, SHM_DIR, 256 << 20, args, 1, 64))
		return 0;
	sectors = fe.cfg.capacity;
	memset(rq, 0, sizeof(rq));
	for (i = 0; i < 32; i++) {
		rq[i].op = PVKIT_BLK_OP_READ;
		rq[i].nr_segs = htole16(1);
		rq[i].seg[0].gpa = htole64(fe_window_gpa(i) + FE_WIN_DATA);
		rq[i].seg[0].len = htole32(4096);
	}
	clock_gettime(CLOCK_MONOTONIC, &ts);
	start = ts.tv_sec * 1000000000ULL + ts.tv_nsec;
	for (i = 0; i < 32; i++) {
		rq[i].id = htole64(i);
		rq[i].sector = htole64((fe_rand(&seed) % (sectors / 8)) * 8);
		ASSERT_EQ(0, fe_queue_req(&fe, 0, &rq[i]));
	}
	fe_push(&fe, 0);
	for (;;) {
		ASSERT_EQ(0, fe_get_rsp(&fe, 0, &rsp, 5000));
		ASSERT_EQ(PVKIT_BLK_S_OK, rsp.status);
		done++;
		j = le64toh(rsp.id);
		/* refill everything that completed, then one push */
		rq[j].sector = htole64((fe_rand(&seed) % (sectors / 8)) * 8);
		ASSERT_EQ(0, fe_queue_req(&fe, 0, &rq[j]));
		while (pvkit_ring_rsp_avail(&fe.q[0].ring) > 0) {
			pvkit_ring_get_rsp(&fe.q[0].ring, &rsp, sizeof(rsp));
			fe.q[0].rsps++;
			ASSERT_EQ(PVKIT_BLK_S_OK, rsp.status);
			done++;
			j = le64toh(rsp.id);
			rq[j].sector = htole64((fe_rand(&seed) %
						(sectors / 8)) * 8);
			ASSERT_EQ(0, fe_queue_req(&fe, 0, &rq[j]));
		}
		fe_push(&fe, 0);
		if (++loops & 63)
			continue;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		now = ts.tv_sec * 1000000000ULL + ts.tv_nsec;
		if (now - start >= secs * 1e9)
			break;
	}
	iops = done / ((now - start) / 1e9);
	for (i = 0; i < 32; i++)
		fe_get_rsp(&fe, 0, &rsp, 5000);
	fe_drain_irqs(&fe, 0);
	ASSERT_EQ(0, fe_stats(&fe, &st));
	TH_LOG("4k randread QD32 1 queue%s%s: %.0f IOPS (%llu reqs, %llu kicks, %llu irqs)",
	       *args ? ", " : "", args, iops,
	       (unsigned long long)st.q[0].requests,
	       (unsigned long long)st.q[0].kicks,
	       (unsigned long long)st.q[0].irqs);
	fe_destroy(&fe);
	return iops;
}

TEST_F_TIMEOUT(slow, bench_randread_qd32, 60)
{
	const char *s = getenv("PVKIT_BENCH_SECS");
	double secs = s ? atof(s) : 1.0;

	EXPECT_GT(bench_randread(_metadata, "", secs), 1000);
	EXPECT_GT(bench_randread(_metadata, "poll=50", secs), 1000);
}

TEST_HARNESS_MAIN
