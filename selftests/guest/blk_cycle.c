// SPDX-License-Identifier: GPL-2.0-only
/*
 * Description: pvkit_blk survives many rmmod/insmod cycles with a verified
 * write and read between them: after each insmod the 64 KiB the previous
 * cycle wrote (O_DIRECT, a pattern of that cycle) reads back intact, then
 * this cycle writes its own.  Unreclaimable slab, per-CPU and vmalloc
 * memory are sampled after a warm-up and at the end and must stay flat;
 * the kernel logs no warning.  'make soak' runs 1000 cycles.
 *
 * Environment: PVKIT_BLK_CYCLES (default 20)
 *
 * Copyright (c) 2026 The pvkit authors
 */
#include <stdint.h>

#include "guest.h"

#define CYCLE_LEN	(64U << 10)
#define CYCLE_SLOTS	256U		/* distinct 64 KiB places, 16 MiB */

static long meminfo_kb(const char *key)
{
	uint64_t v;

	return file_key_u64("/proc/meminfo", key, &v) ? -1 : (long)v;
}

struct mem_sample {
	long sunreclaim, percpu, vmalloc;
};

static void mem_sample(struct mem_sample *m)
{
	m->sunreclaim = meminfo_kb("SUnreclaim:");
	m->percpu = meminfo_kb("Percpu:");
	m->vmalloc = meminfo_kb("VmallocUsed:");
}

static void fill(uint8_t *buf, unsigned int cycle)
{
	uint64_t s = 0x9e3779b97f4a7c15ULL * (cycle + 1);
	unsigned int i;

	for (i = 0; i < CYCLE_LEN; i += 8) {
		uint64_t v = rnd64(&s);

		memcpy(buf + i, &v, 8);
	}
}

static off_t slot_off(unsigned int cycle)
{
	return (off_t)(cycle % CYCLE_SLOTS) * CYCLE_LEN;
}

/* O_DIRECT write (@write) or read of cycle @cycle's 64 KiB; 0 or -errno. */
static int cycle_io(bool write, unsigned int cycle, uint8_t *buf)
{
	int fd = open(blk_dev_path(BLK_DISK), O_RDWR | O_DIRECT);
	ssize_t n;
	int err = 0;

	if (fd < 0)
		return -errno;
	if (write)
		n = pwrite(fd, buf, CYCLE_LEN, slot_off(cycle));
	else
		n = pread(fd, buf, CYCLE_LEN, slot_off(cycle));
	if (n < 0)
		err = -errno;
	else if (n != CYCLE_LEN)
		err = -EIO;
	if (close(fd) && !err)
		err = -errno;
	return err;
}

FIXTURE(cycle) {
	long long klog_start;
	uint8_t *buf, *want;
};

FIXTURE_SETUP(cycle)
{
	self->klog_start = klog_mark();
	self->buf = NULL;
	self->want = NULL;
	if (!blk_module_loaded())
		SKIP(return, BLK_MODULE " not loaded");
	if (!blk_present(BLK_DISK))
		SKIP(return, "/dev/" BLK_DISK " not present");
	ASSERT_EQ(0, posix_memalign((void **)&self->buf, 4096, CYCLE_LEN));
	ASSERT_EQ(0, posix_memalign((void **)&self->want, 4096, CYCLE_LEN));
}

FIXTURE_TEARDOWN(cycle)
{
	if (!_metadata->skip)
		EXPECT_KLOG_CLEAN(self->klog_start);
	if (!blk_module_loaded() && blk_module_load(NULL))
		printf("# teardown: insmod " BLK_MODULE " failed\n");
	blk_wait_disk(BLK_DISK, true, 10000);
	free(self->buf);
	free(self->want);
}

TEST_F_TIMEOUT(cycle, reload_verified, 3600)
{
	const char *s = getenv("PVKIT_BLK_CYCLES");
	unsigned int cycles = s ? strtoul(s, NULL, 0) : 20, warm, i;
	struct mem_sample m0 = {}, m1;
	uint64_t t0 = now_ns(), tw = 0;
	int err;

	if (!cycles)
		cycles = 20;
	warm = cycles / 10 ? cycles / 10 : 1;
	fill(self->want, 0);
	ASSERT_EQ(0, cycle_io(true, 0, self->want));

	for (i = 1; i <= cycles; i++) {
		err = blk_module_unload();
		ASSERT_EQ(0, err) TH_LOG("cycle %u: rmmod: %s", i,
					 strerror(-err));
		ASSERT_TRUE(blk_wait_disk(BLK_DISK, false, 10000))
			TH_LOG("cycle %u: /dev/" BLK_DISK " stayed", i);
		err = blk_module_load(NULL);
		ASSERT_EQ(0, err) TH_LOG("cycle %u: insmod: %s", i,
					 strerror(-err));
		ASSERT_TRUE(blk_wait_disk(BLK_DISK, true, 10000))
			TH_LOG("cycle %u: /dev/" BLK_DISK " did not come back",
			       i);

		/* what the previous cycle wrote, through the new instance */
		err = cycle_io(false, i - 1, self->buf);
		ASSERT_EQ(0, err) TH_LOG("cycle %u: read: %s", i,
					 strerror(-err));
		fill(self->want, i - 1);
		ASSERT_EQ(0, memcmp(self->buf, self->want, CYCLE_LEN))
			TH_LOG("cycle %u: cycle %u's data did not read back",
			       i, i - 1);
		fill(self->want, i);
		err = cycle_io(true, i, self->want);
		ASSERT_EQ(0, err) TH_LOG("cycle %u: write: %s", i,
					 strerror(-err));

		if (i == warm) {
			mem_sample(&m0);
			tw = now_ns();
		}
		if (i % 100 == 0 || i == cycles) {
			mem_sample(&m1);
			printf("# cycle %u: SUnreclaim %ld kB, Percpu %ld kB, VmallocUsed %ld kB, %.1f s\n",
			       i, m1.sunreclaim, m1.percpu, m1.vmalloc,
			       (now_ns() - t0) / 1e9);
		}
	}
	mem_sample(&m1);
	printf("PVKIT-CYCLES: %u\n", cycles);
	printf("PVKIT-CYCLE-MS: %.0f\n",
	       (now_ns() - t0) / 1e6 / cycles);
	printf("PVKIT-CYCLE-MEM: cycle %u -> %u: SUnreclaim %ld -> %ld kB, Percpu %ld -> %ld kB, VmallocUsed %ld -> %ld kB (%.1f s)\n",
	       warm, cycles, m0.sunreclaim, m1.sunreclaim, m0.percpu,
	       m1.percpu, m0.vmalloc, m1.vmalloc, (now_ns() - tw) / 1e9);
	/*
	 * A lost disk (gendisk, tag set, queues) is tens of kB per cycle;
	 * background allocations move these by well under a MiB.
	 */
	EXPECT_LT(m1.sunreclaim - m0.sunreclaim, 1024 + 2 * (long)cycles)
		TH_LOG("unreclaimable slab grew: a leak per load/unload?");
	EXPECT_LT(m1.percpu - m0.percpu, 256 + (long)cycles)
		TH_LOG("per-CPU memory grew");
	EXPECT_LT(m1.vmalloc - m0.vmalloc, 1024 + 2 * (long)cycles)
		TH_LOG("vmalloc memory grew");
}

TEST_HARNESS_MAIN
