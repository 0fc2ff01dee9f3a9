// SPDX-License-Identifier: GPL-2.0-only
/*
 * Description: pvkit-hv device table and state machine (ABI.md 6.1):
 * every (state, event) pair against the expected table, the hypercalls
 * that drive it (allowed vs ESTATE/ENODEV), generation seqcount and
 * config interrupts, and the built-in test device: echo through the
 * ring, notification suppression, ring index violation -> reset with a
 * new epoch.
 */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <pvkit/ring.h>

#include "kselftest_harness.h"

#include "hv_common.h"

#define F	PVKIT_DEV_STATE_FREE
#define O	PVKIT_DEV_STATE_OFFERED
#define C	PVKIT_DEV_STATE_CONNECTED
#define R	PVKIT_DEV_STATE_RESETTING
#define L	PVKIT_DEV_STATE_CLOSING
#define B	PVKIT_DEV_STATE_BROKEN
#define X	(-1)

/* expected[state][event], events in enum dev_event order */
static const int expected[6][DEV_EV_NR] = {
	/*        add conn disc reset died ready giveup fault remove */
	[F] = {   O,  X,   X,   X,    X,   X,    X,     X,    X },
	[O] = {   X,  C,   X,   O,    O,   O,    B,     X,    F },
	[C] = {   X,  X,   O,   O,    R,   X,    X,     R,    L },
	[R] = {   X,  X,   X,   R,    R,   O,    B,     X,    F },
	[L] = {   X,  X,   F,   F,    L,   X,    X,     L,    F },
	[B] = {   X,  X,   X,   R,    B,   X,    B,     X,    F },
};

TEST(fsm_table)
{
	unsigned int s, e;

	for (s = 0; s < 6; s++)
		for (e = 0; e < DEV_EV_NR; e++)
			EXPECT_EQ(expected[s][e], dev_next_state(s, e))
				TH_LOG("state %s event %s", dev_state_name(s),
				       dev_event_name(e));
	/* out of range is refused, not indexed */
	EXPECT_EQ(X, dev_next_state(6, DEV_EV_CONNECT));
	EXPECT_EQ(X, dev_next_state(UINT32_MAX, DEV_EV_CONNECT));
	EXPECT_EQ(X, dev_next_state(O, DEV_EV_NR));
	EXPECT_EQ(X, dev_next_state(O, (enum dev_event)-1));
}

FIXTURE(dev)
{
	struct hv *hv;
	struct dev *d;
	struct pvkit_ring fe;	/* the guest's view of the test ring */
};

FIXTURE_SETUP(dev)
{
	self->hv = calloc(1, sizeof(*self->hv));
	ASSERT_NE(NULL, self->hv);
	ASSERT_EQ(0, hvt_init(self->hv, 2, true, false));
	self->d = &self->hv->devs[0];
	ASSERT_EQ(PVKIT_DEV_TEST, self->d->type);
}

FIXTURE_TEARDOWN(dev)
{
	hvt_exit(self->hv);
	free(self->hv);
}

static const struct pvkit_dev_entry *entry(struct hv *hv, unsigned int slot)
{
	return (const struct pvkit_dev_entry *)(hv->shm + HV_DEVTAB_OFFSET) + slot;
}

static void fe_attach(struct hv *hv, struct pvkit_ring *fe)
{
	const struct pvkit_dev_entry *e = entry(hv, 0);

	pvkit_ring_attach(fe, hv->shm + le32toh(e->queues[0].ring_offset),
			  le32toh(e->queues[0].ring_slots),
			  le16toh(e->queues[0].req_size),
			  le16toh(e->queues[0].rsp_size));
}

TEST_F(dev, published_entry)
{
	struct hv *hv = self->hv;
	const struct pvkit_dev_entry *e = entry(hv, 0);
	const struct pvkit_queue_desc *q = &e->queues[0];
	unsigned int i;

	EXPECT_EQ(0, le32toh(hv->info->generation) & 1);
	EXPECT_EQ(PVKIT_DEV_TEST, le16toh(e->type));
	EXPECT_EQ(0, le16toh(e->instance));
	EXPECT_EQ(O, le32toh(e->state));
	EXPECT_EQ(1, le16toh(e->nr_queues));
	EXPECT_EQ(HV_RINGS_OFFSET, le32toh(q->ring_offset));
	EXPECT_EQ(256, le32toh(q->ring_slots));
	EXPECT_EQ(16, le16toh(q->req_size));
	EXPECT_EQ(16, le16toh(q->rsp_size));
	EXPECT_EQ(1, le16toh(q->kick));
	EXPECT_EQ(2, le16toh(q->vector));
	EXPECT_EQ(3, hv->nr_vectors);
	EXPECT_EQ(3, le32toh(hv->info->nr_vectors));
	EXPECT_EQ(3, le32toh(hv->info->nr_kicks));
	/* every other slot is free and zero */
	for (i = 1; i < PVKIT_MAX_DEVICES; i++)
		EXPECT_EQ(0, entry(hv, i)->type);
	/* info page sanity per ABI.md 2.2 */
	EXPECT_EQ(PVKIT_MAGIC, le32toh(hv->info->magic));
	EXPECT_EQ(384, le32toh(hv->info->info_size));
	EXPECT_EQ(HV_SHM_MIN_SIZE, le64toh(hv->info->shm_size));
	EXPECT_EQ(2, le32toh(hv->info->nr_mailboxes));
	EXPECT_EQ(0x1000, le32toh(hv->info->mailbox_offset));
	EXPECT_EQ(0x4000, le32toh(hv->info->devtab_offset));
	EXPECT_EQ(32, le32toh(hv->info->devtab_entries));
	EXPECT_EQ(1, le32toh(hv->info->nr_mem_ranges));
	EXPECT_EQ(HVT_MEM, le64toh(hv->info->ram_size));
	EXPECT_EQ(HVT_MEM, le64toh(hv->info->mem[0].size));
}

TEST_F(dev, hypercall_transitions)
{
	struct hv *hv = self->hv;
	uint32_t gen = hv->generation;

	hvt_evcount(hv->irq_fd[HV_VEC_CONFIG]);
	/* OFFERED: disconnect is ESTATE, reset is a no-op */
	EXPECT_EQ(PVKIT_HC_ESTATE, hvt_call(hv, PVKIT_HC_DEV_DISCONNECT, 0, 0, 0, 0));
	EXPECT_EQ(PVKIT_HC_OK, hvt_call(hv, PVKIT_HC_DEV_RESET, 0, 0, 0, 0));
	EXPECT_EQ(PVKIT_HC_OK, hvt_call(hv, PVKIT_HC_DEV_ACK_FEATURES, 0, 0, 0, 0));
	EXPECT_EQ(PVKIT_HC_ENOTSUP, hvt_call(hv, PVKIT_HC_DEV_ACK_FEATURES, 0, 1, 0, 0));
	gen = hv->generation;

	/* CONNECT: rings zeroed, CONNECTED, generation +2, config irq */
	memset(hv->shm + self->d->q[0].ring_offset, 0xa5, PVKIT_RING_HDR_SIZE);
	EXPECT_EQ(PVKIT_HC_OK, hvt_call(hv, PVKIT_HC_DEV_CONNECT, 0, 0, 0, 0));
	EXPECT_EQ(C, self->d->state);
	EXPECT_EQ(C, le32toh(entry(hv, 0)->state));
	EXPECT_EQ(gen + 2, hv->generation);
	EXPECT_EQ(gen + 2, le32toh(hv->info->generation));
	EXPECT_GE(hvt_evcount(hv->irq_fd[HV_VEC_CONFIG]), 1);
	EXPECT_EQ(0, ((uint32_t *)(hv->shm + self->d->q[0].ring_offset))[0]);
	EXPECT_EQ(0, ((uint32_t *)(hv->shm + self->d->q[0].ring_offset))[16]);

	/* CONNECTED: connect and ack are ESTATE */
	EXPECT_EQ(PVKIT_HC_ESTATE, hvt_call(hv, PVKIT_HC_DEV_CONNECT, 0, 0, 0, 0));
	EXPECT_EQ(PVKIT_HC_ESTATE, hvt_call(hv, PVKIT_HC_DEV_ACK_FEATURES, 0, 0, 0, 0));
	/* DISCONNECT -> OFFERED */
	EXPECT_EQ(PVKIT_HC_OK, hvt_call(hv, PVKIT_HC_DEV_DISCONNECT, 0, 0, 0, 0));
	EXPECT_EQ(O, self->d->state);
	/* again, and RESET from CONNECTED -> OFFERED */
	EXPECT_EQ(PVKIT_HC_OK, hvt_call(hv, PVKIT_HC_DEV_CONNECT, 0, 0, 0, 0));
	EXPECT_EQ(PVKIT_HC_OK, hvt_call(hv, PVKIT_HC_DEV_RESET, 0, 0, 0, 0));
	EXPECT_EQ(O, self->d->state);
	EXPECT_EQ(O, le32toh(entry(hv, 0)->state));
	EXPECT_EQ(0, le32toh(hv->info->generation) & 1);
}

TEST_F(dev, host_events)
{
	struct hv *hv = self->hv;
	struct dev *d = self->d;
	uint32_t epoch = d->epoch;

	/* not allowed: state unchanged, nothing published */
	EXPECT_EQ(X, dev_event(hv, d, DEV_EV_FAULT, "test"));
	EXPECT_EQ(O, d->state);
	EXPECT_EQ(PVKIT_HC_OK, hvt_call(hv, PVKIT_HC_DEV_CONNECT, 0, 0, 0, 0));
	EXPECT_EQ(R, dev_event(hv, d, DEV_EV_BE_DIED, "test"));
	EXPECT_EQ(PVKIT_HC_ESTATE, hvt_call(hv, PVKIT_HC_DEV_CONNECT, 0, 0, 0, 0));
	EXPECT_EQ(PVKIT_HC_ESTATE, hvt_call(hv, PVKIT_HC_DEV_DISCONNECT, 0, 0, 0, 0));
	EXPECT_EQ(O, dev_event(hv, d, DEV_EV_BE_READY, "test"));
	EXPECT_EQ(epoch + 1, d->epoch);
	EXPECT_EQ(epoch + 1, le32toh(entry(hv, 0)->epoch));
	EXPECT_EQ(B, dev_event(hv, d, DEV_EV_BE_GIVEUP, "test"));
	EXPECT_EQ(B, le32toh(entry(hv, 0)->state));
	EXPECT_EQ(PVKIT_HC_ESTATE, hvt_call(hv, PVKIT_HC_DEV_CONNECT, 0, 0, 0, 0));
	/* guest reset from BROKEN retries */
	EXPECT_EQ(PVKIT_HC_OK, hvt_call(hv, PVKIT_HC_DEV_RESET, 0, 0, 0, 0));
	EXPECT_EQ(R, d->state);
	EXPECT_EQ(O, dev_event(hv, d, DEV_EV_BE_READY, "test"));
	/* hot-remove while connected: CLOSING, guest disconnect frees it */
	EXPECT_EQ(PVKIT_HC_OK, hvt_call(hv, PVKIT_HC_DEV_CONNECT, 0, 0, 0, 0));
	EXPECT_EQ(L, dev_event(hv, d, DEV_EV_HOT_REMOVE, "test"));
	EXPECT_EQ(PVKIT_HC_OK, hvt_call(hv, PVKIT_HC_DEV_DISCONNECT, 0, 0, 0, 0));
	EXPECT_EQ(F, d->state);
	EXPECT_EQ(0, entry(hv, 0)->type);
	EXPECT_EQ(PVKIT_HC_ENODEV, hvt_call(hv, PVKIT_HC_DEV_CONNECT, 0, 0, 0, 0));
	EXPECT_EQ(PVKIT_HC_ENODEV, hvt_call(hv, PVKIT_HC_DEV_RESET, 0, 0, 0, 0));
}

TEST_F(dev, testdev_echo)
{
	struct hv *hv = self->hv;
	struct dev_queue *q = &self->d->q[0];
	struct pvkit_test_msg m;
	unsigned int i, round;
	int n;

	ASSERT_EQ(PVKIT_HC_OK, hvt_call(hv, PVKIT_HC_DEV_CONNECT, 0, 0, 0, 0));
	fe_attach(hv, &self->fe);
	hvt_evcount(hv->irq_fd[q->vector]);
	for (round = 0; round < 10; round++) {
		for (i = 0; i < 256; i++) {
			m.id = htole64(round * 1000 + i);
			m.value = htole64(i * 3);
			ASSERT_EQ(0, pvkit_ring_put_req(&self->fe, &m, sizeof(m)));
		}
		EXPECT_EQ(-ENOSPC, pvkit_ring_put_req(&self->fe, &m, sizeof(m)));
		pvkit_ring_push_reqs(&self->fe);
		/* the front-end asked for an irq at the first response */
		ASSERT_EQ(0, pvkit_ring_final_check_rsp(&self->fe));
		tdev_process(hv, self->d);
		EXPECT_EQ(1, hvt_evcount(hv->irq_fd[q->vector]));
		n = pvkit_ring_rsp_avail(&self->fe);
		ASSERT_EQ(256, n);
		for (i = 0; i < 256; i++) {
			pvkit_ring_get_rsp(&self->fe, &m, sizeof(m));
			EXPECT_EQ(round * 1000 + i, le64toh(m.id));
			EXPECT_EQ((i * 3) ^ PVKIT_TEST_XOR, le64toh(m.value));
		}
	}
	EXPECT_EQ(2560, q->reqs);
	/* the back-end asked to be kicked for the next request */
	EXPECT_EQ(self->fe.req_prod_pvt,
		  le32toh(((struct pvkit_ring_hdr *)(hv->shm + q->ring_offset))->req_event));
	/* no rsp_event advance: no irq (suppression) */
	m.id = 1;
	pvkit_ring_put_req(&self->fe, &m, sizeof(m));
	pvkit_ring_push_reqs(&self->fe);
	tdev_process(hv, self->d);
	EXPECT_EQ(0, hvt_evcount(hv->irq_fd[q->vector]));
	/* not connected: requests are not served */
	ASSERT_EQ(PVKIT_HC_OK, hvt_call(hv, PVKIT_HC_DEV_DISCONNECT, 0, 0, 0, 0));
	pvkit_ring_put_req(&self->fe, &m, sizeof(m));
	pvkit_ring_push_reqs(&self->fe);
	tdev_process(hv, self->d);
	EXPECT_EQ(2561, q->reqs);
}

TEST_F(dev, testdev_violation_resets)
{
	struct hv *hv = self->hv;
	struct dev_queue *q = &self->d->q[0];
	struct pvkit_ring_hdr *h;
	uint32_t epoch = self->d->epoch, gen;
	static const uint32_t bad[] = { 257, 1000, 0x80000000, 0xffffffff };
	unsigned int i;

	h = (struct pvkit_ring_hdr *)(hv->shm + q->ring_offset);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ASSERT_EQ(PVKIT_HC_OK, hvt_call(hv, PVKIT_HC_DEV_CONNECT, 0, 0, 0, 0));
		gen = hv->generation;
		/* a request index more than a ring ahead */
		h->req_prod = htole32(bad[i]);
		tdev_process(hv, self->d);
		EXPECT_EQ(O, self->d->state);
		EXPECT_EQ(epoch + i + 1, self->d->epoch);
		EXPECT_EQ(epoch + i + 1, le32toh(entry(hv, 0)->epoch));
		EXPECT_EQ(gen + 4, hv->generation);	/* RESETTING, OFFERED */
		EXPECT_EQ(i + 1, self->d->violations);
	}
	/* exactly a ring ahead is fine */
	ASSERT_EQ(PVKIT_HC_OK, hvt_call(hv, PVKIT_HC_DEV_CONNECT, 0, 0, 0, 0));
	h->req_prod = htole32(256);
	tdev_process(hv, self->d);
	EXPECT_EQ(C, self->d->state);
	EXPECT_EQ(256, q->reqs);
}

TEST_F(dev, testdev_garbage_ring)
{
	struct hv *hv = self->hv;
	struct dev_queue *q = &self->d->q[0];
	uint64_t s = 99;
	unsigned int k, j;

	for (k = 0; k < 5000; k++) {
		uint8_t *ring = hv->shm + q->ring_offset;

		if (self->d->state == O)
			ASSERT_EQ(PVKIT_HC_OK,
				  hvt_call(hv, PVKIT_HC_DEV_CONNECT, 0, 0, 0, 0));
		for (j = 0; j < 8; j++) {
			uint64_t v = hvt_rand(&s);
			unsigned int off = (unsigned int)(hvt_rand(&s) %
				(pvkit_ring_bytes(256, 16, 16) - 8)) & ~7U;

			memcpy(ring + off, &v, 8);
		}
		tdev_process(hv, self->d);
		ASSERT_TRUE(self->d->state == O || self->d->state == C);
	}
}

TEST_F(dev, create_limits)
{
	struct hv *hv = self->hv;

	/* every vector is taken by the test device */
	EXPECT_EQ(NULL, dev_create(hv, PVKIT_DEV_BLK, 0, 1, 256, 128, 16, &tdev_ops));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(NULL, dev_create(hv, PVKIT_DEV_BLK, 0, 0, 256, 128, 16, &tdev_ops));
	EXPECT_EQ(NULL, dev_create(hv, PVKIT_DEV_BLK, 0, 1, 3, 128, 16, &tdev_ops));
	EXPECT_EQ(NULL, dev_create(hv, PVKIT_DEV_BLK, 0, PVKIT_MAX_QUEUES + 1,
				   256, 128, 16, &tdev_ops));
}

static uint64_t shm_size(const struct hv_opts *o, struct hv_plan *p)
{
	kind_plan(o, p);
	return hv_shm_size_for(p);
}

TEST(shm_sizing)
{
	struct hv_opts o;
	struct hv_plan p;
	unsigned int i;

	opts_defaults(&o);
	o.cpus = 4;
	o.hotplug = 0;
	EXPECT_EQ(HV_SHM_MIN_SIZE, shm_size(&o, &p));
	o.nr_devs = HV_MAX_DEVS;
	for (i = 0; i < HV_MAX_DEVS; i++) {
		o.devs[i].kind = kind_by_option("disk");
		o.devs[i].queues = 16;
	}
	/* 16 disks x 4 queues (clamped to cpus) x 40 KiB rings */
	EXPECT_EQ(4 * 1024 * 1024, shm_size(&o, &p));
	o.cpus = 64;
	EXPECT_EQ(16 * 1024 * 1024, shm_size(&o, &p));
	EXPECT_EQ(1 + 16 * 16, p.queues);
	EXPECT_EQ(16, kind_queues(&o.devs[0], o.cpus));
	o.devs[0].queues = 0;
	/* one per vCPU, clamped to what a device table entry holds */
	EXPECT_EQ(PVKIT_MAX_QUEUES, kind_queues(&o.devs[0], o.cpus));
	o.cpus = 2;
	EXPECT_EQ(2, kind_queues(&o.devs[0], o.cpus));
	/* the hot-plug reserve: channels and ring memory for blk queues */
	o.hotplug = 8;
	kind_plan(&o, &p);
	EXPECT_EQ(8, p.spare_queues);
	EXPECT_EQ(8 * 40960, p.spare_bytes);
	/* never more channels than MSI-X vectors */
	o.cpus = 8;
	o.hotplug = 200;
	kind_plan(&o, &p);
	EXPECT_EQ(1 + 16 * 8, p.queues);
	EXPECT_EQ(PVKIT_MAX_VECTORS - HV_FIRST_QUEUE_VEC - 1 - 16 * 8,
		  p.spare_queues);
	o.cpus = 64;
	kind_plan(&o, &p);
	EXPECT_EQ(0, p.spare_queues);
}

/*
 * QEMU and every back-end map guest RAM from one file; if any of them
 * could shrink it, the others' next access past the end is a SIGBUS.
 * The file is sealed: no size change is possible, the pages stay.
 */
TEST(ram_file_sealed)
{
	struct hv *hv = calloc(1, sizeof(*hv));
	struct hv_opts o;
	struct hv_plan p;
	struct stat st;

	ASSERT_NE(NULL, hv);
	hvt_opts(&o, 1, false, "pc", HVT_MEM);
	hv_struct_init(hv);
	kind_plan(&o, &p);
	ASSERT_EQ(0, hv_core_init(hv, &o, &p));
	EXPECT_EQ(-1, ftruncate(hv->ram_fd, HVT_MEM / 2));
	EXPECT_EQ(EPERM, errno);
	EXPECT_EQ(-1, ftruncate(hv->ram_fd, HVT_MEM * 2));
	EXPECT_EQ(EPERM, errno);
	ASSERT_EQ(0, fstat(hv->ram_fd, &st));
	EXPECT_EQ((off_t)HVT_MEM, st.st_size);
	/* a reopen (QEMU's mem-path=/proc/self/fd/N) is sealed too */
	{
		char path[64];
		int fd;

		snprintf(path, sizeof(path), "/proc/self/fd/%d", hv->ram_fd);
		fd = open(path, O_RDWR);
		ASSERT_LE(0, fd);
		EXPECT_EQ(-1, ftruncate(fd, 0));
		close(fd);
	}
	/* and nobody can lift the seals */
	EXPECT_EQ(-1, fcntl(hv->ram_fd, F_ADD_SEALS, F_SEAL_WRITE));
	hv_core_exit(hv);
	free(hv);
}

TEST_HARNESS_MAIN
