// SPDX-License-Identifier: GPL-2.0-only
/*
 * Description: pvkit event channels: 10,000 ping-pong round trips on the
 * test device in irq and in poll mode (no request lost or mismatched,
 * every push either kicked or suppressed by the event index, no irqs while
 * polling), and EVTCHN_SEND loopback raising a queue vector, the hypercall
 * vector and the config vector (counted in debugfs and /proc/interrupts).
 */
#include "guest.h"

#define ROUND_TRIPS	10000

static int open_with_testdev(struct __test_metadata *_metadata)
{
	int fd = pvkit_open();

	if (fd < 0)
		TH_LOG("%s: %s (pvkit.ko not loaded, or no pvkit device)",
		       PVKIT_DEV, strerror(-fd));
	else if (access(PVKIT_TEST_DEV, F_OK))
		TH_LOG("no test device %s", PVKIT_TEST_DEV);
	return fd;
}

FIXTURE(pingpong) {
	int fd;
};

FIXTURE_VARIANT(pingpong) {
	uint32_t mode;
	const char *name;
};

FIXTURE_VARIANT_ADD(pingpong, irq) {
	.mode = PVKIT_PINGPONG_IRQ,
	.name = "irq",
};

FIXTURE_VARIANT_ADD(pingpong, poll) {
	.mode = PVKIT_PINGPONG_POLL,
	.name = "poll",
};

FIXTURE_SETUP(pingpong)
{
	self->fd = open_with_testdev(_metadata);
	ASSERT_GE(self->fd, 0);
	ASSERT_EQ(0, access(PVKIT_TEST_DEV, F_OK));
}

FIXTURE_TEARDOWN(pingpong)
{
	if (self->fd >= 0)
		close(self->fd);
}

FIXTURE(evt) {
	int fd;
};

FIXTURE_SETUP(evt)
{
	self->fd = open_with_testdev(_metadata);
	ASSERT_GE(self->fd, 0);
	ASSERT_EQ(0, access(PVKIT_TEST_DEV, F_OK));
}

FIXTURE_TEARDOWN(evt)
{
	if (self->fd >= 0)
		close(self->fd);
}

TEST_F_TIMEOUT(pingpong, round_trips, 120)
{
	struct pvkit_ioc_pingpong pp = {
		.count = ROUND_TRIPS,
		.mode = variant->mode,
	};
	uint64_t t0 = now_ns();

	ASSERT_EQ(0, ioctl(self->fd, PVKIT_IOC_PINGPONG, &pp))
		TH_LOG("PINGPONG: %s", strerror(errno));
	TH_LOG("%s: %llu ok, %llu lost, %llu mismatched in %.2f s; irqs %llu kicks %llu suppressed %llu",
	       variant->name, (unsigned long long)pp.completed,
	       (unsigned long long)pp.lost,
	       (unsigned long long)pp.mismatched,
	       (now_ns() - t0) / 1e9, (unsigned long long)pp.irqs,
	       (unsigned long long)pp.kicks,
	       (unsigned long long)pp.kicks_suppressed);
	TH_LOG("%s latency ns: min %llu p50 %llu p99 %llu max %llu",
	       variant->name, (unsigned long long)pp.lat.min_ns,
	       (unsigned long long)pp.lat.p50_ns,
	       (unsigned long long)pp.lat.p99_ns,
	       (unsigned long long)pp.lat.max_ns);
	EXPECT_EQ(ROUND_TRIPS, pp.completed);
	EXPECT_EQ(0, pp.lost);
	EXPECT_EQ(0, pp.mismatched);
	/* every push either rang the doorbell or was suppressed */
	EXPECT_EQ(ROUND_TRIPS, pp.kicks + pp.kicks_suppressed);
	EXPECT_LE(pp.lat.min_ns, pp.lat.p50_ns);
	EXPECT_LE(pp.lat.p50_ns, pp.lat.p99_ns);
	EXPECT_LE(pp.lat.p99_ns, pp.lat.max_ns);
	EXPECT_GE(pp.lat.total_ns, pp.lat.max_ns);
	if (variant->mode == PVKIT_PINGPONG_POLL) {
		/* rsp_event stays behind: at most the first response irqs */
		EXPECT_LE(pp.irqs, 2);
	} else {
		EXPECT_GT(pp.irqs, 0);
		EXPECT_LE(pp.irqs, ROUND_TRIPS);
	}
}

TEST_F(evt, bad_requests)
{
	static const struct pvkit_ioc_pingpong bad[] = {
		{ .count = 0 },
		{ .count = PVKIT_BENCH_MAX_COUNT + 1 },
		{ .count = 1, .mode = 2 },
		{ .count = 1, .flags = 1 },
	};
	struct pvkit_ioc_pingpong pp = { .count = 1, .instance = 0xffff };
	unsigned int i;

	for (i = 0; i < ARRAY_LEN(bad); i++) {
		pp = bad[i];
		EXPECT_EQ(-1, ioctl(self->fd, PVKIT_IOC_PINGPONG, &pp));
		EXPECT_EQ(EINVAL, errno) TH_LOG("case %u", i);
	}
	pp = (struct pvkit_ioc_pingpong){ .count = 1, .instance = 0xffff };
	EXPECT_EQ(-1, ioctl(self->fd, PVKIT_IOC_PINGPONG, &pp));
	EXPECT_EQ(ENODEV, errno);
}

/* Wait up to 2 s for a counter to pass @floor; the last value seen. */
static int64_t wait_counter(const char *name, int64_t floor)
{
	int64_t v = -1;
	int i;

	for (i = 0; i < 200; i++) {
		v = counter(name);
		if (v > floor)
			break;
		sleep_ms(10);
	}
	return v;
}

struct loopback {
	const char *what;
	const char *info_key;	/* vector from debugfs info, or NULL */
	const char *counter;	/* debugfs counter that must move */
	const char *irq_name;	/* /proc/interrupts line that must move */
};

TEST_F(evt, evtchn_send_loopback)
{
	static const struct loopback cases[] = {
		{ "test.0 queue 0", NULL, "test.0/q0/irqs",
		  "pvkit-test.0-q0" },
		{ "hypercall vector", "vec_hypercall", "hypercall_irqs",
		  "pvkit-hypercall" },
		{ "config vector", "vec_config", "config_irqs",
		  "pvkit-config" },
	};
	unsigned int i;

	for (i = 0; i < ARRAY_LEN(cases); i++) {
		const struct loopback *c = &cases[i];
		uint64_t args[6] = { 0 };
		int64_t before, after, pbefore, pafter, ret;
		int64_t vec;

		if (!c->info_key) {
			int v = queue_vector("test.0", 0);

			ASSERT_GE(v, 0) TH_LOG("no vector for test.0 q0");
			vec = v;
		} else {
			vec = info_value(c->info_key);
			ASSERT_GE(vec, 0) TH_LOG("no %s in info", c->info_key);
		}
		before = counter(c->counter);
		pbefore = proc_irq_count(c->irq_name);
		ASSERT_GE(before, 0) TH_LOG("no counter %s", c->counter);
		ASSERT_GE(pbefore, 0) TH_LOG("no irq %s", c->irq_name);

		args[0] = (uint64_t)vec;
		ASSERT_EQ(0, pvkit_hc(self->fd, PVKIT_HC_EVTCHN_SEND, args,
				      &ret));
		EXPECT_EQ(PVKIT_HC_OK, ret) TH_LOG("%s (vector %lld)", c->what,
						   (long long)vec);
		after = wait_counter(c->counter, before);
		pafter = proc_irq_count(c->irq_name);
		EXPECT_GT(after, before) {
			TH_LOG("%s: vector %lld raised no interrupt", c->what,
			       (long long)vec);
		}
		EXPECT_GT(pafter, pbefore) TH_LOG("%s", c->irq_name);
		TH_LOG("%s: vector %lld, %s %lld -> %lld", c->what,
		       (long long)vec, c->counter, (long long)before,
		       (long long)after);
	}
}

TEST_HARNESS_MAIN
