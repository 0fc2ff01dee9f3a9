// SPDX-License-Identifier: GPL-2.0-only
/*
 * Description: fio writes with verify=crc32c on the pvkit scratch disk:
 * sequential and random, 512 B to 1 MiB blocks, queue depth 1 and 32,
 * direct I/O through libaio; then jobs pinned to two CPUs so that two
 * hardware queues carry I/O at once.
 *
 * Sizes are kept small for TCG; PVKIT_BLK_FIO_SCALE=N multiplies them.
 *
 * Copyright (c) 2026 The pvkit authors
 */
#include "guest.h"

#define FIO_LOG		"/tmp/blk_fio.log"

/* Size in MiB for a block size: small blocks cost more per byte. */
static unsigned int fio_size_mb(unsigned int bs)
{
	const char *s = getenv("PVKIT_BLK_FIO_SCALE");
	unsigned int scale = s ? strtoul(s, NULL, 0) : 1;
	unsigned int mb = bs < 4096 ? 4 : bs < 65536 ? 16 : bs < (1 << 20) ?
			  32 : 64;

	return mb * (scale ?: 1);
}

/* Run fio on DISK with the common verify options plus @extra. */
static int run_fio(const char *disk, const char *name, const char *rw,
		   unsigned int bs, unsigned int iodepth, unsigned int size_mb,
		   const char *const *extra)
{
	char a_name[64], a_file[64], a_rw[32], a_bs[32], a_qd[32], a_size[32];
	char *argv[40];
	int n = 0;

	snprintf(a_name, sizeof(a_name), "--name=%s", name);
	snprintf(a_file, sizeof(a_file), "--filename=%s", blk_dev_path(disk));
	snprintf(a_rw, sizeof(a_rw), "--rw=%s", rw);
	snprintf(a_bs, sizeof(a_bs), "--bs=%u", bs);
	snprintf(a_qd, sizeof(a_qd), "--iodepth=%u", iodepth);
	snprintf(a_size, sizeof(a_size), "--size=%um", size_mb);

	argv[n++] = BLK_FIO;
	argv[n++] = a_name;
	argv[n++] = a_file;
	argv[n++] = a_rw;
	argv[n++] = a_bs;
	argv[n++] = a_qd;
	argv[n++] = a_size;
	argv[n++] = "--direct=1";
	argv[n++] = "--ioengine=libaio";
	argv[n++] = "--verify=crc32c";
	argv[n++] = "--do_verify=1";
	argv[n++] = "--verify_fatal=1";
	argv[n++] = "--exitall_on_error=1";
	argv[n++] = "--iodepth_batch_submit=8";
	argv[n++] = "--offset=0";
	while (extra && *extra && n < 39)
		argv[n++] = (char *)*extra++;
	argv[n] = NULL;
	return run_logged(argv, FIO_LOG);
}

FIXTURE(fio) {
	long long lbs;
};

FIXTURE_VARIANT(fio) {
	const char *rw;
	unsigned int bs;
	unsigned int iodepth;
};

#define FIO_CASE(_name, _rw, _bs, _qd)				\
	FIXTURE_VARIANT_ADD(fio, _name) {			\
		.rw = _rw, .bs = _bs, .iodepth = _qd,		\
	}

FIO_CASE(seq_512_qd1, "write", 512, 1);
FIO_CASE(seq_4k_qd32, "write", 4096, 32);
FIO_CASE(seq_64k_qd1, "write", 65536, 1);
FIO_CASE(seq_1m_qd32, "write", 1 << 20, 32);
FIO_CASE(rand_512_qd32, "randwrite", 512, 32);
FIO_CASE(rand_4k_qd1, "randwrite", 4096, 1);
FIO_CASE(rand_4k_qd32, "randwrite", 4096, 32);
FIO_CASE(rand_64k_qd32, "randwrite", 65536, 32);
FIO_CASE(rand_1m_qd1, "randwrite", 1 << 20, 1);

FIXTURE_SETUP(fio)
{
	if (!blk_present(BLK_DISK))
		SKIP(return, "/dev/" BLK_DISK " not present");
	if (access(BLK_FIO, X_OK))
		SKIP(return, BLK_FIO " not in the image");
	self->lbs = blk_sysfs_ll(BLK_DISK, "queue/logical_block_size");
	ASSERT_GT(self->lbs, 0);
	if ((long long)variant->bs < self->lbs)
		SKIP(return, "block size %u below the logical block size %lld",
		     variant->bs, self->lbs);
}

FIXTURE_TEARDOWN(fio)
{
}

TEST_F_TIMEOUT(fio, verify, 200)
{
	unsigned int mb = fio_size_mb(variant->bs);

	SKIP_IF_SETUP_SKIPPED();

	TH_LOG("%s bs=%u iodepth=%u size=%uMiB", variant->rw, variant->bs,
	       variant->iodepth, mb);
	ASSERT_EQ(0, run_fio(BLK_DISK, "verify", variant->rw, variant->bs,
			     variant->iodepth, mb, NULL));
}

FIXTURE(fio_mq) {
};

FIXTURE_SETUP(fio_mq)
{
	if (!blk_present(BLK_DISK))
		SKIP(return, "/dev/" BLK_DISK " not present");
	if (access(BLK_FIO, X_OK))
		SKIP(return, BLK_FIO " not in the image");
	if (blk_nr_hw_queues(BLK_DISK) < 2 || blk_nr_cpus() < 2)
		SKIP(return, "needs 2 CPUs and 2 queues (have %ld, %d)",
		     blk_nr_cpus(), blk_nr_hw_queues(BLK_DISK));
}

FIXTURE_TEARDOWN(fio_mq)
{
}

/*
 * Two jobs, one per CPU, each on its own region: blk-mq maps each CPU to
 * its own hardware queue, so both queues and both interrupt vectors carry
 * verified I/O at the same time.
 */
TEST_F_TIMEOUT(fio_mq, two_queues, 200)
{
	static const char *const extra[] = {
		"--numjobs=2", "--cpus_allowed=0-1",
		"--cpus_allowed_policy=split", "--offset_increment=64m",
		"--group_reporting", NULL,
	};
	long long irqs[2];
	char irq_name[32];
	int q;

	SKIP_IF_SETUP_SKIPPED();

	for (q = 0; q < 2; q++) {
		snprintf(irq_name, sizeof(irq_name), "%s-q%d", BLK_DISK, q);
		irqs[q] = proc_irq_count(irq_name);
	}
	ASSERT_EQ(0, run_fio(BLK_DISK, "mq", "randwrite", 4096, 32,
			     fio_size_mb(4096), extra));
	for (q = 0; q < 2; q++) {
		long long n;

		snprintf(irq_name, sizeof(irq_name), "%s-q%d", BLK_DISK, q);
		n = proc_irq_count(irq_name);
		TH_LOG("queue %d: %lld interrupts", q, n - irqs[q]);
		if (irqs[q] >= 0)
			EXPECT_GT(n, irqs[q]);
	}
}

BLK_TEST_MAIN(BLK_DISK)
