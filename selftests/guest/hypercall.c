// SPDX-License-Identifier: GPL-2.0-only
/*
 * Description: pvkit hypercalls from the guest through /dev/pvkit: version,
 * ECHO round trips with random values, and the pinned error codes for
 * unknown numbers, reserved arguments and bad arguments of every call
 * (ABI.md section 4).  Table-driven; a missing /dev/pvkit is a failure.
 *
 * Environment: PVKIT_SEED  PRNG seed (default 0x5eed, printed)
 */
#include <stdbool.h>

#include "guest.h"

/* Arguments each call uses; the rest are reserved (ABI.md 4.3). */
static const unsigned int hc_used_args[PVKIT_HC_NR] = {
	[PVKIT_HC_GET_VERSION]		= 0,
	[PVKIT_HC_GET_FEATURES]		= 1,
	[PVKIT_HC_ACK_FEATURES]		= 2,
	[PVKIT_HC_ECHO]			= 4,
	[PVKIT_HC_LOG]			= 2,
	[PVKIT_HC_CONFIG_ACK]		= 1,
	[PVKIT_HC_DEV_ACK_FEATURES]	= 2,
	[PVKIT_HC_DEV_CONNECT]		= 1,
	[PVKIT_HC_DEV_DISCONNECT]	= 1,
	[PVKIT_HC_DEV_RESET]		= 1,
	[PVKIT_HC_EVTCHN_SEND]		= 1,
};

static const char *const hc_names[PVKIT_HC_NR] = {
	"GET_VERSION", "GET_FEATURES", "ACK_FEATURES", "ECHO", "LOG",
	"CONFIG_ACK", "DEV_ACK_FEATURES", "DEV_CONNECT", "DEV_DISCONNECT",
	"DEV_RESET", "EVTCHN_SEND",
};

/* A guest-physical address for @p (root reads PFNs from pagemap). */
static uint64_t virt_to_gpa(void *p)
{
	uint64_t ent, va = (uint64_t)(uintptr_t)p;
	long psz = sysconf(_SC_PAGESIZE);
	int fd;

	fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	if (pread(fd, &ent, sizeof(ent), (off_t)(va / psz) * 8) != 8)
		ent = 0;
	close(fd);
	if (!(ent & (1ull << 63)) || !(ent & ((1ull << 55) - 1)))
		return 0;
	return (ent & ((1ull << 55) - 1)) * psz + va % psz;
}

FIXTURE(hc) {
	int fd;
	uint64_t seed;
	uint64_t offered;	/* global feature word 0 offered */
	uint64_t acked;		/* global feature word 0 acked by pvkit.ko */
	uint64_t nr_vectors;
	uint64_t test_slot;	/* device table slot of test.0 */
	uint64_t generation;	/* current device table generation */
	char logbuf[4096] __attribute__((aligned(4096)));
};

FIXTURE_SETUP(hc)
{
	const char *s = getenv("PVKIT_SEED");
	char buf[64];
	int64_t v;

	self->fd = pvkit_open();
	ASSERT_GE(self->fd, 0) {
		TH_LOG("%s: %s (pvkit.ko not loaded, or no pvkit device)",
		       PVKIT_DEV, strerror(-self->fd));
	}
	self->seed = s ? strtoull(s, NULL, 0) : 0x5eed;
	if (!self->seed)
		self->seed = 1;		/* xorshift needs a non-zero state */
	v = info_value("features");
	ASSERT_GE(v, 0) TH_LOG("no features line in debugfs info");
	self->offered = (uint64_t)v;
	v = info_value("acked_features");
	ASSERT_GE(v, 0);
	self->acked = (uint64_t)v;
	v = info_value("nr_vectors");
	ASSERT_GT(v, 0);
	self->nr_vectors = (uint64_t)v;
	v = info_value("generation");
	ASSERT_GE(v, 0);
	self->generation = (uint64_t)v & ~1ull;
	ASSERT_EQ(0, read_attr(PVKIT_TEST_DEV, "slot", buf, sizeof(buf)))
		TH_LOG("no test device %s", PVKIT_TEST_DEV);
	self->test_slot = strtoull(buf, NULL, 0);
}

FIXTURE_TEARDOWN(hc)
{
	if (self->fd >= 0)
		close(self->fd);
}

TEST_F(hc, get_version)
{
	uint64_t args[6] = { 0 };
	int64_t ret;

	ASSERT_EQ(0, pvkit_hc(self->fd, PVKIT_HC_GET_VERSION, args, &ret));
	EXPECT_EQ((PVKIT_ABI_MAJOR << 16) | PVKIT_ABI_MINOR, ret) {
		TH_LOG("host speaks %" PRId64 ".%" PRId64, ret >> 16,
		       ret & 0xffff);
	}
}

TEST_F_TIMEOUT(hc, echo_random, 60)
{
	static const uint64_t edge[][4] = {
		{ 0, 0, 0, 0 },
		{ ~0ull, 0, 0, 0 },
		{ 1ull << 63, 0, 0, 1 },
		{ ~0ull, ~0ull, ~0ull, 0x8000000000000001ull },
	};
	uint64_t args[6] = { 0 }, want, seed = self->seed;
	unsigned int i, j, bad = 0;
	int64_t ret;

	TH_LOG("seed 0x%" PRIx64, self->seed);
	for (i = 0; i < 1000 + ARRAY_LEN(edge); i++) {
		for (j = 0; j < 4; j++)
			args[j] = i < ARRAY_LEN(edge) ? edge[i][j] :
				  rnd64(&seed);
		want = (args[0] ^ args[1] ^ args[2] ^ args[3]) & INT64_MAX;
		ASSERT_EQ(0, pvkit_hc(self->fd, PVKIT_HC_ECHO, args, &ret));
		if ((uint64_t)ret != want && bad++ < 5)
			TH_LOG("ECHO %u: got 0x%" PRIx64 " want 0x%" PRIx64,
			       i, (uint64_t)ret, want);
	}
	EXPECT_EQ(0, bad);
}

TEST_F(hc, unknown_numbers)
{
	static const uint32_t nrs[] = {
		PVKIT_HC_NR, PVKIT_HC_NR + 1, 0xff, 0xffff, 0x10000,
		0x80000000u, 0xffffffffu,
	};
	uint64_t args[6] = { 0 };
	unsigned int i;
	int64_t ret;

	for (i = 0; i < ARRAY_LEN(nrs); i++) {
		ASSERT_EQ(0, pvkit_hc(self->fd, nrs[i], args, &ret));
		EXPECT_EQ(PVKIT_HC_ENOSYS, ret) TH_LOG("nr 0x%x", nrs[i]);
	}
}

/*
 * Valid used arguments for each call, so that the reserved argument is
 * the only thing wrong: the host must answer EINVAL and do nothing.
 */
static void valid_args(struct __test_metadata *_metadata,
		       FIXTURE_DATA(hc) *self, uint32_t nr, uint64_t *args)
{
	memset(args, 0, 6 * sizeof(*args));
	switch (nr) {
	case PVKIT_HC_ACK_FEATURES:
		args[1] = self->acked;	/* re-acking changes nothing */
		break;
	case PVKIT_HC_ECHO:
		args[0] = 0x1234;
		break;
	case PVKIT_HC_LOG:
		strcpy(self->logbuf, "selftest: reserved args");
		args[0] = virt_to_gpa(self->logbuf);
		args[1] = strlen(self->logbuf);
		ASSERT_NE(0, args[0]);
		break;
	case PVKIT_HC_DEV_ACK_FEATURES:
	case PVKIT_HC_DEV_CONNECT:
	case PVKIT_HC_DEV_DISCONNECT:
	case PVKIT_HC_DEV_RESET:
		args[0] = self->test_slot;
		break;
	case PVKIT_HC_EVTCHN_SEND:
		args[0] = self->nr_vectors - 1;
		break;
	}
}

TEST_F(hc, reserved_args)
{
	static const uint64_t junk[] = { 1, 1ull << 63, ~0ull };
	uint64_t args[6];
	unsigned int a, j, checked = 0;
	uint32_t nr;
	int64_t ret;

	for (nr = 0; nr < PVKIT_HC_NR; nr++) {
		for (a = hc_used_args[nr]; a < 6; a++) {
			for (j = 0; j < ARRAY_LEN(junk); j++) {
				valid_args(_metadata, self, nr, args);
				args[a] = junk[j];
				ASSERT_EQ(0, pvkit_hc(self->fd, nr, args, &ret));
				EXPECT_EQ(PVKIT_HC_EINVAL, ret) {
					TH_LOG("%s with a%u = 0x%" PRIx64,
					       hc_names[nr], a, junk[j]);
				}
				checked++;
			}
		}
	}
	TH_LOG("%u reserved-argument cases", checked);
	/* the test device must still be connected and working */
	{
		struct pvkit_ioc_pingpong pp = { .count = 10 };

		ASSERT_EQ(0, ioctl(self->fd, PVKIT_IOC_PINGPONG, &pp));
		EXPECT_EQ(10, pp.completed);
	}
}

struct bad_case {
	const char *what;
	uint32_t nr;
	uint64_t a0, a1;
	bool a0_is_logbuf;	/* a0 = gpa of a valid buffer */
	int64_t want;
};

TEST_F(hc, bad_arguments)
{
	const struct bad_case cases[] = {
		{ "LOG gpa in the PCI hole", PVKIT_HC_LOG, 0xfee00000ull, 16,
		  false, PVKIT_HC_EFAULT },
		{ "LOG gpa far beyond RAM", PVKIT_HC_LOG, 1ull << 50, 16,
		  false, PVKIT_HC_EFAULT },
		{ "LOG gpa + len wraps", PVKIT_HC_LOG, ~0ull - 7, 16,
		  false, PVKIT_HC_EFAULT },
		{ "LOG length 0", PVKIT_HC_LOG, 0, 0, true, PVKIT_HC_EINVAL },
		{ "LOG length 257", PVKIT_HC_LOG, 0, PVKIT_HC_LOG_MAX + 1,
		  true, PVKIT_HC_EINVAL },
		{ "LOG length 2^32 + 1", PVKIT_HC_LOG, 0, (1ull << 32) + 1,
		  true, PVKIT_HC_EINVAL },
		{ "GET_FEATURES word 2", PVKIT_HC_GET_FEATURES,
		  PVKIT_FEATURE_WORDS, 0, false, PVKIT_HC_EINVAL },
		{ "GET_FEATURES word 2^32", PVKIT_HC_GET_FEATURES, 1ull << 32,
		  0, false, PVKIT_HC_EINVAL },
		{ "GET_FEATURES word ~0", PVKIT_HC_GET_FEATURES, ~0ull, 0,
		  false, PVKIT_HC_EINVAL },
		{ "ACK_FEATURES word 2", PVKIT_HC_ACK_FEATURES,
		  PVKIT_FEATURE_WORDS, 0, false, PVKIT_HC_EINVAL },
		{ "ACK_FEATURES bit 62 (not offered)", PVKIT_HC_ACK_FEATURES,
		  0, self->acked | (1ull << 62), false, PVKIT_HC_ENOTSUP },
		{ "ACK_FEATURES word 1 bit 0", PVKIT_HC_ACK_FEATURES, 1, 1,
		  false, PVKIT_HC_ENOTSUP },
		{ "EVTCHN_SEND vector nr_vectors", PVKIT_HC_EVTCHN_SEND,
		  self->nr_vectors, 0, false, PVKIT_HC_EINVAL },
		{ "EVTCHN_SEND vector 0xffff", PVKIT_HC_EVTCHN_SEND, 0xffff, 0,
		  false, PVKIT_HC_EINVAL },
		{ "EVTCHN_SEND vector 2^32", PVKIT_HC_EVTCHN_SEND, 1ull << 32,
		  0, false, PVKIT_HC_EINVAL },
		{ "CONFIG_ACK odd generation", PVKIT_HC_CONFIG_ACK, 1, 0,
		  false, PVKIT_HC_EINVAL },
		{ "CONFIG_ACK future generation", PVKIT_HC_CONFIG_ACK,
		  self->generation + 2, 0, false, PVKIT_HC_EINVAL },
		{ "DEV_CONNECT slot 32", PVKIT_HC_DEV_CONNECT,
		  PVKIT_MAX_DEVICES, 0, false, PVKIT_HC_ENODEV },
		{ "DEV_RESET slot ~0", PVKIT_HC_DEV_RESET, ~0ull, 0, false,
		  PVKIT_HC_ENODEV },
		{ "DEV_ACK_FEATURES slot 2^32", PVKIT_HC_DEV_ACK_FEATURES,
		  1ull << 32, 0, false, PVKIT_HC_ENODEV },
		{ "DEV_CONNECT test device (already connected)",
		  PVKIT_HC_DEV_CONNECT, self->test_slot, 0, false,
		  PVKIT_HC_ESTATE },
	};
	uint64_t args[6];
	unsigned int i;
	int64_t ret;

	strcpy(self->logbuf, "pvkit selftest: bad arguments");
	for (i = 0; i < ARRAY_LEN(cases); i++) {
		const struct bad_case *c = &cases[i];

		memset(args, 0, sizeof(args));
		args[0] = c->a0_is_logbuf ? virt_to_gpa(self->logbuf) : c->a0;
		args[1] = c->a1;
		if (c->nr == PVKIT_HC_LOG && !(self->offered & PVKIT_F_LOG)) {
			TH_LOG("%s: PVKIT_F_LOG not offered, expect ENOTSUP",
			       c->what);
			ASSERT_EQ(0, pvkit_hc(self->fd, c->nr, args, &ret));
			EXPECT_EQ(PVKIT_HC_ENOTSUP, ret);
			continue;
		}
		ASSERT_EQ(0, pvkit_hc(self->fd, c->nr, args, &ret));
		EXPECT_EQ(c->want, ret) TH_LOG("%s", c->what);
	}
}

TEST_F(hc, good_arguments)
{
	uint64_t args[6] = { 0 };
	int64_t ret;

	/* GET_FEATURES agrees with the info page; word 1 is reserved */
	ASSERT_EQ(0, pvkit_hc(self->fd, PVKIT_HC_GET_FEATURES, args, &ret));
	EXPECT_EQ(self->offered, (uint64_t)ret);
	EXPECT_EQ(0, self->offered & ~PVKIT_F_KNOWN_0)
		TH_LOG("host offers bits unknown to ABI 1.0");
	args[0] = 1;
	ASSERT_EQ(0, pvkit_hc(self->fd, PVKIT_HC_GET_FEATURES, args, &ret));
	EXPECT_EQ(0, ret);

	/* re-acking what is acked is fine */
	args[0] = 0;
	args[1] = self->acked;
	ASSERT_EQ(0, pvkit_hc(self->fd, PVKIT_HC_ACK_FEATURES, args, &ret));
	EXPECT_EQ(PVKIT_HC_OK, ret);

	/* a LOG line from a real buffer */
	if (self->offered & PVKIT_F_LOG) {
		strcpy(self->logbuf, "pvkit selftest: hello from the guest");
		args[0] = virt_to_gpa(self->logbuf);
		args[1] = strlen(self->logbuf);
		ASSERT_NE(0, args[0]);
		ASSERT_EQ(0, pvkit_hc(self->fd, PVKIT_HC_LOG, args, &ret));
		EXPECT_EQ(PVKIT_HC_OK, ret);
		args[1] = PVKIT_HC_LOG_MAX;
		memset(self->logbuf, 'x', PVKIT_HC_LOG_MAX);
		ASSERT_EQ(0, pvkit_hc(self->fd, PVKIT_HC_LOG, args, &ret));
		EXPECT_EQ(PVKIT_HC_OK, ret);
	}

	/* CONFIG_ACK of generation 0 (never newer than the current one) */
	args[0] = 0;
	args[1] = 0;
	ASSERT_EQ(0, pvkit_hc(self->fd, PVKIT_HC_CONFIG_ACK, args, &ret));
	EXPECT_EQ(PVKIT_HC_OK, ret);
}

TEST(ioctl_rejects_bad_input)
{
	struct pvkit_ioc_hypercall hc = { .nr = PVKIT_HC_GET_VERSION,
					  .pad = 1 };
	int fd = pvkit_open();

	ASSERT_GE(fd, 0);
	EXPECT_EQ(-1, ioctl(fd, PVKIT_IOC_HYPERCALL, &hc));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, ioctl(fd, PVKIT_IOC_HYPERCALL, (void *)8));
	EXPECT_EQ(EFAULT, errno);
	EXPECT_EQ(-1, ioctl(fd, _IO(PVKIT_IOC_MAGIC, 0x7f)));
	EXPECT_EQ(ENOTTY, errno);
	close(fd);
}

TEST_HARNESS_MAIN
