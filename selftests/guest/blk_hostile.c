// SPDX-License-Identifier: GPL-2.0-only
/*
 * Description: pvkit_blk survives a hostile host: the test plays the
 * back-end's part on the shared ring and answers with an impossible
 * response index, an id never issued, a duplicate completion, a stale id
 * and an unknown status.  Each must mark the disk broken (with the reason
 * in the kernel log), fail the request in flight and later I/O with EIO,
 * and leave the guest running; reloading pvkit_blk brings the disk back.
 * The other way round, ring_index_reset breaks the request index of a
 * live ring under fio (reset.ring_index): the host must reset the device (ABI.md 8) and
 * pvkit_blk reconnect and resubmit without losing a write.
 *
 * The ring lives in BAR2 of the pvkit PCI device, which the test maps
 * through sysfs; with pvkit.ko bound that needs the kernel parameter
 * iomem=relaxed (the test skips without it).  A request is kept
 * unanswered by moving the back-end's req_event far ahead, so the driver
 * does not kick it; the test's answer arrives through a PVKIT_HC_EVTCHN_SEND
 * loopback interrupt (/dev/pvkit).
 *
 * Copyright (c) 2026 The pvkit authors
 */
#include <sched.h>
#include <pvkit/abi.h>
#include <pvkit/blk.h>
#include <pvkit/pvkit_ioctl.h>
#include <pvkit/ring.h>

#include "guest.h"

#define FAR_AHEAD	0x40000000U	/* req_event no push reaches */

enum inject {
	INJ_RSP_INDEX,		/* rsp_prod beyond the requests in flight */
	INJ_UNKNOWN_ID,		/* an id that was never issued */
	INJ_DUPLICATE,		/* the id of a request already completed */
	INJ_STALE_ID,		/* right tag, wrong generation */
	INJ_BAD_STATUS,		/* right id, undefined status */
};

FIXTURE(hostile) {
	struct pvkit_shm shm;
	struct pvkit_dev_entry dev;
	long long klog_start;
	bool stalled;		/* req_event moved: the back-end is not kicked */
	pid_t child;		/* reader with a request in flight */
};

FIXTURE_VARIANT(hostile) {
	enum inject inject;
	bool in_flight;		/* needs an unanswered request */
	const char *reason;	/* expected in the "device broken" line */
};

FIXTURE_VARIANT_ADD(hostile, rsp_index) {
	.inject = INJ_RSP_INDEX,
	.reason = "response index beyond the requests in flight",
};

FIXTURE_VARIANT_ADD(hostile, unknown_id) {
	.inject = INJ_UNKNOWN_ID, .in_flight = true,
	.reason = "not in flight",
};

FIXTURE_VARIANT_ADD(hostile, duplicate) {
	/* "not in flight", or "stale" if the request reuses the tag */
	.inject = INJ_DUPLICATE, .in_flight = true,
	.reason = "response id",
};

FIXTURE_VARIANT_ADD(hostile, stale_id) {
	.inject = INJ_STALE_ID, .in_flight = true,
	.reason = "stale response id",
};

FIXTURE_VARIANT_ADD(hostile, bad_status) {
	.inject = INJ_BAD_STATUS, .in_flight = true,
	.reason = "unknown status",
};

FIXTURE_SETUP(hostile)
{
	volatile struct pvkit_dev_entry *e;
	cpu_set_t cpus;
	int err;

	self->shm.base = MAP_FAILED;
	self->stalled = false;
	self->child = 0;
	if (!blk_module_loaded() || access("/dev/pvkit", R_OK | W_OK))
		SKIP(return, BLK_MODULE " or /dev/pvkit missing");
	/* a fresh disk for every case */
	ASSERT_EQ(0, blk_module_reload(BLK_DISK, NULL));
	err = pvkit_shm_map(&self->shm);
	if (err == -EINVAL || err == -EPERM)
		SKIP(return, "cannot map BAR2 (boot with iomem=relaxed)");
	ASSERT_EQ(0, err) TH_LOG("map BAR2: %s", strerror(-err));
	e = pvkit_shm_dev(&self->shm, PVKIT_DEV_BLK, 0);
	ASSERT_NE(NULL, e);
	memcpy(&self->dev, (const void *)e, sizeof(self->dev));
	ASSERT_LE(1, le16toh(self->dev.nr_queues));
	/* submit from one CPU: its hardware queue is the one we watch */
	CPU_ZERO(&cpus);
	CPU_SET(0, &cpus);
	ASSERT_EQ(0, sched_setaffinity(0, sizeof(cpus), &cpus));
	self->klog_start = klog_mark();
}

static struct pvkit_ring_hdr *ring_hdr(struct pvkit_shm *shm,
				       const struct pvkit_queue_desc *q)
{
	return (void *)(shm->base + le32toh(q->ring_offset));
}

/* O_DIRECT read of one block from this CPU's queue; 0 or an errno. */
static int read_block(off_t off)
{
	void *buf;
	int fd, err = 0;

	fd = open(blk_dev_path(BLK_DISK), O_RDONLY | O_DIRECT);
	if (fd < 0)
		return errno;
	if (posix_memalign(&buf, 4096, 4096)) {
		close(fd);
		return ENOMEM;
	}
	if (pread(fd, buf, 4096, off) != 4096)
		err = errno ?: EIO;
	free(buf);
	close(fd);
	return err;
}

/* read_block() in a child that reports the result on @pipefd. */
static pid_t read_in_child(int pipefd)
{
	pid_t pid = fork();
	int err;

	if (pid)
		return pid;
	err = read_block(0);
	_exit(write(pipefd, &err, sizeof(err)) == sizeof(err) ? 0 : 2);
}

FIXTURE_TEARDOWN(hostile)
{
	unsigned int q;

	/*
	 * After a failed check the back-end may still be un-kicked with the
	 * reader's request: re-arm the kick, and a new request from this CPU
	 * gets both to the back-end.
	 */
	if (self->stalled) {
		for (q = 0; q < le16toh(self->dev.nr_queues); q++) {
			struct pvkit_ring_hdr *h =
				ring_hdr(&self->shm, &self->dev.queues[q]);

			h->req_event = h->req_prod;
		}
		__sync_synchronize();
		read_block(8192);
	}
	if (self->child > 0)
		waitpid(self->child, NULL, 0);
	pvkit_shm_unmap(&self->shm);
	/* leave a working disk behind */
	if (blk_module_reload(BLK_DISK, NULL))
		printf("# teardown: reload failed\n");
}

TEST_F_TIMEOUT(hostile, broken, 60)
{
	const struct pvkit_queue_desc *qd = NULL;
	struct pvkit_ring_hdr *hdr = NULL;
	uint32_t req_prod0[PVKIT_MAX_QUEUES], slots, rsp_prod, mask;
	unsigned int nq = le16toh(self->dev.nr_queues), q, i;
	struct pvkit_blk_rsp rsp = { 0 };
	uint64_t issued_id = 0;
	int pipefd[2], child_err = -1, fd;
	pid_t child = 0;
	char buf[4096] __attribute__((aligned(4096)));
	uint8_t *rsp_slots;

	SKIP_IF_SETUP_SKIPPED();

	/* a completed request on this CPU's queue, for the duplicate */
	ASSERT_EQ(0, read_block(4096));
	/* let the I/O settle: every queue idle, back-end asleep */
	usleep(200 * 1000);
	for (q = 0; q < nq; q++) {
		struct pvkit_ring_hdr *h = ring_hdr(&self->shm,
						    &self->dev.queues[q]);

		req_prod0[q] = le32toh(h->req_prod);
		if (variant->in_flight)
			h->req_event = htole32(req_prod0[q] + FAR_AHEAD);
	}
	self->stalled = variant->in_flight;
	__sync_synchronize();

	ASSERT_EQ(0, pipe(pipefd));
	if (variant->in_flight) {
		child = read_in_child(pipefd[1]);
		ASSERT_LT(0, child);
		self->child = child;
		/* which queue got it? */
		for (i = 0; i < 500 && !hdr; i++) {
			for (q = 0; q < nq && !hdr; q++) {
				struct pvkit_ring_hdr *h = ring_hdr(&self->shm,
						&self->dev.queues[q]);

				if (le32toh(h->req_prod) != req_prod0[q]) {
					hdr = h;
					qd = &self->dev.queues[q];
				}
			}
			usleep(10 * 1000);
		}
		ASSERT_NE(NULL, hdr) TH_LOG("the read never reached a ring");
	} else {
		qd = &self->dev.queues[0];
		hdr = ring_hdr(&self->shm, qd);
	}

	slots = le32toh(qd->ring_slots);
	mask = slots - 1;
	rsp_prod = le32toh(hdr->rsp_prod);
	rsp_slots = (uint8_t *)hdr + PVKIT_RING_HDR_SIZE +
		    (size_t)slots * le16toh(qd->req_size);
	if (variant->in_flight) {
		const struct pvkit_blk_req *rq = (const void *)
			((uint8_t *)hdr + PVKIT_RING_HDR_SIZE +
			 (size_t)((le32toh(hdr->req_prod) - 1) & mask) *
			 le16toh(qd->req_size));

		issued_id = le64toh(rq->id);
		TH_LOG("request id %#llx in flight on queue %ld, rsp_prod %u",
		       (unsigned long long)issued_id,
		       (long)(qd - self->dev.queues), rsp_prod);
	}

	switch (variant->inject) {
	case INJ_RSP_INDEX:
		hdr->rsp_prod = htole32(rsp_prod + 5);
		break;
	case INJ_UNKNOWN_ID:
		rsp.id = htole64(0xfffe);
		break;
	case INJ_DUPLICATE:
		/* the last response the back-end wrote, answered already */
		ASSERT_NE(0U, rsp_prod) TH_LOG("no earlier response to replay");
		memcpy(&rsp, rsp_slots + (size_t)((rsp_prod - 1) & mask) *
		       le16toh(qd->rsp_size), sizeof(rsp));
		rsp.status = PVKIT_BLK_S_OK;
		ASSERT_NE(issued_id, le64toh(rsp.id));
		break;
	case INJ_STALE_ID:
		rsp.id = htole64(issued_id + (1ULL << 16));
		break;
	case INJ_BAD_STATUS:
		rsp.id = htole64(issued_id);
		rsp.status = 0x77;
		break;
	}
	if (variant->inject != INJ_RSP_INDEX) {
		memcpy(rsp_slots + (size_t)(rsp_prod & mask) *
		       le16toh(qd->rsp_size), &rsp, sizeof(rsp));
		__sync_synchronize();
		hdr->rsp_prod = htole32(rsp_prod + 1);
	}
	__sync_synchronize();
	ASSERT_EQ(0, pvkit_hc1(PVKIT_HC_EVTCHN_SEND, le16toh(qd->vector)));

	if (child) {
		/* the request in flight fails */
		ASSERT_EQ((ssize_t)sizeof(child_err),
			  read(pipefd[0], &child_err, sizeof(child_err)));
		waitpid(child, NULL, 0);
		self->child = 0;
		EXPECT_EQ(EIO, child_err);
	}
	klog_wait(self->klog_start, variant->reason, 5000);
	EXPECT_TRUE(klog_has(self->klog_start, "device broken"));
	EXPECT_TRUE(klog_has(self->klog_start, variant->reason));

	/* later I/O fails too, and the guest is still fine */
	fd = open(blk_dev_path(BLK_DISK), O_RDONLY | O_DIRECT);
	ASSERT_LE(0, fd);
	errno = 0;
	EXPECT_EQ(-1, pread(fd, buf, sizeof(buf), 4096));
	EXPECT_EQ(EIO, errno);
	close(fd);
	close(pipefd[0]);
	close(pipefd[1]);

	/* a new driver instance gets a working disk (rings zeroed) */
	self->stalled = false;
	ASSERT_EQ(0, blk_module_reload(BLK_DISK, NULL));
	fd = open(blk_dev_path(BLK_DISK), O_RDONLY | O_DIRECT);
	ASSERT_LE(0, fd);
	EXPECT_EQ((ssize_t)sizeof(buf), pread(fd, buf, sizeof(buf), 0));
	close(fd);
	/* a broken disk is a logged error, never a kernel warning */
	EXPECT_KLOG_CLEAN(self->klog_start);
}

/* fio with crc32c verify on queue 0 (CPU 0), in a child; its pid. */
static pid_t fio_in_child(const char *name, const char *size,
			  const char *log)
{
	char a_name[64], a_size[32];
	char *argv[] = {
		BLK_FIO, a_name, "--filename=/dev/" BLK_DISK, "--rw=randwrite",
		"--bs=4k", "--iodepth=16", a_size, "--direct=1",
		"--ioengine=libaio", "--verify=crc32c", "--do_verify=1",
		"--verify_fatal=1", "--exitall_on_error=1", "--offset=0",
		"--cpus_allowed=0", "--randrepeat=0", NULL,
	};
	pid_t pid;

	snprintf(a_name, sizeof(a_name), "--name=%s", name);
	snprintf(a_size, sizeof(a_size), "--size=%s", size);
	fflush(stdout);
	pid = fork();
	if (pid)
		return pid;
	exec_logged(argv, log);
}

/*
 * The guest breaks the request index of a live ring while pvkit_blk has
 * fio's verified writes in flight on it: pvkit-blkback sees the index
 * violation and reports it, pvkit-hv resets the device (RESETTING, then
 * OFFERED with a new epoch), pvkit_blk reconnects and resubmits, and
 * fio's crc32c verify passes -- within seconds, not after pvkit_blk's
 * own I/O timeout (30 s).
 */
FIXTURE(reset) {
};

FIXTURE_SETUP(reset)
{
}

FIXTURE_TEARDOWN(reset)
{
}

TEST_F_TIMEOUT(reset, ring_index, 180)
{
	volatile struct pvkit_dev_entry *e;
	struct pvkit_ring_hdr *h;
	struct pvkit_shm shm = { .base = MAP_FAILED };
	uint32_t epoch, prod0, bogus;
	long long klog_start;
	struct timespec t0, t1;
	cpu_set_t cpus;
	unsigned long spins = 0;
	double secs = 0;
	pid_t fio;
	int err, i, rc;
	char line[64];

	if (!blk_module_loaded() || access("/dev/pvkit", R_OK | W_OK) ||
	    access(BLK_FIO, X_OK))
		SKIP(return, BLK_MODULE ", /dev/pvkit or fio missing");
	if (blk_nr_cpus() < 2)
		SKIP(return, "needs 2 CPUs");
	ASSERT_EQ(0, blk_module_reload(BLK_DISK, NULL));
	err = pvkit_shm_map(&shm);
	if (err == -EINVAL || err == -EPERM)
		SKIP(return, "cannot map BAR2 (boot with iomem=relaxed)");
	ASSERT_EQ(0, err) TH_LOG("map BAR2: %s", strerror(-err));
	e = pvkit_shm_dev(&shm, PVKIT_DEV_BLK, 0);
	ASSERT_NE(NULL, e);
	ASSERT_EQ(PVKIT_DEV_STATE_CONNECTED, le32toh(e->state));
	epoch = le32toh(e->epoch);
	/* fio submits on CPU 0, so on queue 0; we write from CPU 1 */
	h = (void *)(shm.base + le32toh(e->queues[0].ring_offset));
	CPU_ZERO(&cpus);
	CPU_SET(1, &cpus);
	ASSERT_EQ(0, sched_setaffinity(0, sizeof(cpus), &cpus));
	klog_start = klog_mark();

	prod0 = le32toh(h->req_prod);
	fio = fio_in_child("reset", "48m", "/tmp/blk_hostile_fio.log");
	ASSERT_LT(0, fio);
	for (i = 0; i < 1000 && le32toh(h->req_prod) == prod0; i++)
		usleep(10 * 1000);
	ASSERT_NE(prod0, le32toh(h->req_prod)) TH_LOG("fio never started");
	usleep(300 * 1000);

	/*
	 * Far beyond the 256 slots, whatever the driver publishes meanwhile.
	 * The driver overwrites req_prod at every push, so keep writing it
	 * until the back-end has seen it: the host then takes the device
	 * out of CONNECTED (the fix under test).  Stop at once, or the next
	 * connection's fresh ring gets the bad index too.
	 */
	bogus = prod0 + 0x40000000U;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (le32toh(e->state) == PVKIT_DEV_STATE_CONNECTED &&
	       le32toh(e->epoch) == epoch) {
		__atomic_store_n(&h->req_prod, htole32(bogus),
				 __ATOMIC_RELEASE);
		if (!(++spins % 4096)) {
			clock_gettime(CLOCK_MONOTONIC, &t1);
			secs = t1.tv_sec - t0.tv_sec +
			       (t1.tv_nsec - t0.tv_nsec) / 1e9;
			if (secs > 15)
				break;
			sched_yield();
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = t1.tv_sec - t0.tv_sec + (t1.tv_nsec - t0.tv_nsec) / 1e9;
	TH_LOG("state %u, epoch %u after %.2f s of bad indices",
	       le32toh(e->state), le32toh(e->epoch), secs);
	EXPECT_GT(15, secs) TH_LOG("the host never reset the device");

	/* pvkit_blk reconnects with the new epoch and resubmits */
	snprintf(line, sizeof(line), "reconnected, epoch %u", epoch + 1);
	klog_wait(klog_start, line, 10000);
	EXPECT_TRUE(klog_has(klog_start, line)) TH_LOG("no \"%s\"", line);
	EXPECT_LT(epoch, le32toh(e->epoch));
	/* the bus device shows the epoch pvkit_blk reconnected with */
	EXPECT_EQ(epoch + 1, pvkit_dev_ll(PVKIT_DEV_BLK, 0, "epoch"));

	rc = wait_status(fio);
	EXPECT_EQ(0, rc) TH_LOG("fio (verify) exited with %d", rc);
	if (rc)
		dump_log("/tmp/blk_hostile_fio.log", 40);
	/* the host's reset, not the driver's I/O timeout, nor a broken disk */
	EXPECT_FALSE(klog_has(klog_start, "unanswered for"));
	EXPECT_FALSE(klog_has(klog_start, "device broken"));

	/* and the disk keeps working on the new connection */
	fio = fio_in_child("after", "8m", "/tmp/blk_hostile_fio2.log");
	ASSERT_LT(0, fio);
	rc = wait_status(fio);
	EXPECT_EQ(0, rc) TH_LOG("second fio exited with %d", rc);
	if (rc)
		dump_log("/tmp/blk_hostile_fio2.log", 40);
	EXPECT_KLOG_CLEAN(klog_start);
	pvkit_shm_unmap(&shm);
}

BLK_TEST_MAIN(BLK_DISK)
