// SPDX-License-Identifier: GPL-2.0-only
/*
 * Description: pvkit-hv hypercall handler and mailbox transport fed
 * hostile input: every call's reserved bits and arguments, unknown
 * numbers sampled over the whole 32-bit space, LOG ranges outside RAM,
 * straddling ranges and wrapping addresses, random mailbox bytes.  Only
 * the pinned return codes may come back, and nothing may crash.
 */
#include <errno.h>
#include <stdio.h>

#include "kselftest_harness.h"

#include <pvkit-host/log.h>

#include "hv_common.h"

FIXTURE(hc)
{
	struct hv *hv;
};

FIXTURE_SETUP(hc)
{
	self->hv = calloc(1, sizeof(*self->hv));
	ASSERT_NE(NULL, self->hv);
	ASSERT_EQ(0, hvt_init(self->hv, 4, true, false));
	/* the guest log goes to stderr; keep the test output readable */
}

FIXTURE_TEARDOWN(hc)
{
	hvt_exit(self->hv);
	free(self->hv);
}

TEST_F(hc, version_and_features)
{
	struct hv *hv = self->hv;

	EXPECT_EQ(((int64_t)PVKIT_ABI_MAJOR << 16 | PVKIT_ABI_MINOR), hvt_call(hv, PVKIT_HC_GET_VERSION, 0, 0, 0, 0));
	EXPECT_EQ((int64_t)(PVKIT_F_LOG | PVKIT_F_TESTDEV),
		  hvt_call(hv, PVKIT_HC_GET_FEATURES, 0, 0, 0, 0));
	EXPECT_EQ(0, hvt_call(hv, PVKIT_HC_GET_FEATURES, 1, 0, 0, 0));
	EXPECT_EQ(PVKIT_HC_EINVAL, hvt_call(hv, PVKIT_HC_GET_FEATURES, 2, 0, 0, 0));
	EXPECT_EQ(PVKIT_HC_EINVAL,
		  hvt_call(hv, PVKIT_HC_GET_FEATURES, UINT64_MAX, 0, 0, 0));
	/* never clock or hotplug: not implemented */
	EXPECT_EQ(0, hv->features[0] & (PVKIT_F_RETIRED_2 | PVKIT_F_HOTPLUG));

	EXPECT_EQ(PVKIT_HC_OK, hvt_call(hv, PVKIT_HC_ACK_FEATURES, 0, PVKIT_F_LOG, 0, 0));
	EXPECT_EQ(PVKIT_F_LOG, hv->acked[0]);
	EXPECT_EQ(PVKIT_HC_ENOTSUP,
		  hvt_call(hv, PVKIT_HC_ACK_FEATURES, 0, PVKIT_F_RETIRED_2, 0, 0));
	EXPECT_EQ(PVKIT_HC_ENOTSUP,
		  hvt_call(hv, PVKIT_HC_ACK_FEATURES, 0, 1ULL << 63, 0, 0));
	EXPECT_EQ(PVKIT_HC_ENOTSUP, hvt_call(hv, PVKIT_HC_ACK_FEATURES, 1, 1, 0, 0));
	EXPECT_EQ(PVKIT_HC_OK, hvt_call(hv, PVKIT_HC_ACK_FEATURES, 1, 0, 0, 0));
	EXPECT_EQ(PVKIT_HC_EINVAL, hvt_call(hv, PVKIT_HC_ACK_FEATURES, 2, 0, 0, 0));
}

TEST_F(hc, echo)
{
	struct hv *hv = self->hv;

	EXPECT_EQ(1 ^ 2 ^ 4 ^ 8, hvt_call(hv, PVKIT_HC_ECHO, 1, 2, 4, 8));
	EXPECT_EQ(INT64_MAX, hvt_call(hv, PVKIT_HC_ECHO, UINT64_MAX, 0, 0, 0));
	EXPECT_EQ(0, hvt_call(hv, PVKIT_HC_ECHO, 1ULL << 63, 0, 0, 0));
}

/* Arguments each call uses; everything after must be zero. */
static const unsigned int nargs[PVKIT_HC_NR] = {
	0, 1, 2, 4, 2, 1, 2, 1, 1, 1, 1,
};

TEST_F(hc, reserved_args_flags_pad)
{
	struct hv *hv = self->hv;
	unsigned int nr, i, bit;

	for (nr = 0; nr < PVKIT_HC_NR; nr++) {
		for (i = nargs[nr]; i < PVKIT_HC_NR_ARGS; i++) {
			struct hc_call c = { .call_seq = 1, .nr = nr };

			c.args[i] = 1ULL << (i * 7);
			EXPECT_EQ(PVKIT_HC_EINVAL, hc_handle(hv, 0, &c))
				TH_LOG("nr %u reserved arg %u", nr, i);
		}
		for (bit = 1; bit < 32; bit++) {
			struct hc_call c = { .call_seq = 1, .nr = nr,
					     .flags = 1U << bit };

			EXPECT_EQ(PVKIT_HC_EINVAL, hc_handle(hv, 0, &c))
				TH_LOG("nr %u flag bit %u", nr, bit);
		}
		{
			struct hc_call c = { .call_seq = 1, .nr = nr, .pad0 = 1 };

			EXPECT_EQ(PVKIT_HC_EINVAL, hc_handle(hv, 0, &c));
		}
		{
			/* F_IRQ itself is fine */
			struct hc_call c = { .call_seq = 1, .nr = PVKIT_HC_GET_VERSION,
					     .flags = PVKIT_MBOX_F_IRQ };

			EXPECT_EQ(((int64_t)PVKIT_ABI_MAJOR << 16 | PVKIT_ABI_MINOR), hc_handle(hv, 0, &c));
		}
	}
}

TEST_F(hc, unknown_numbers_sampled)
{
	struct hv *hv = self->hv;
	uint64_t s = 0x9e3779b97f4a7c15ULL, n;
	static const uint32_t edges[] = {
		PVKIT_HC_NR, PVKIT_HC_NR + 1, 0xff, 0x100, 0xffff, 0x10000,
		0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff,
	};
	unsigned int i;

	for (i = 0; i < sizeof(edges) / sizeof(edges[0]); i++)
		EXPECT_EQ(PVKIT_HC_ENOSYS, hvt_call(hv, edges[i], 0, 0, 0, 0));
	/* the whole space, in strides, with garbage everywhere */
	for (n = PVKIT_HC_NR; n <= 0xffffffffULL; n += 65521 + (hvt_rand(&s) & 0xff)) {
		struct hc_call c = {
			.call_seq = (uint32_t)hvt_rand(&s), .nr = (uint32_t)n,
			.flags = (uint32_t)hvt_rand(&s), .pad0 = (uint32_t)hvt_rand(&s),
		};

		for (i = 0; i < PVKIT_HC_NR_ARGS; i++)
			c.args[i] = hvt_rand(&s);
		ASSERT_EQ(PVKIT_HC_ENOSYS, hc_handle(hv, 0, &c));
	}
	EXPECT_GT(hv->hc_count[PVKIT_HC_NR], 60000);
}

TEST_F(hc, known_numbers_random_args)
{
	struct hv *hv = self->hv;
	uint64_t s = 12345;
	unsigned int k, i;

	for (k = 0; k < 200000; k++) {
		struct hc_call c = {
			.call_seq = 1, .nr = (uint32_t)(hvt_rand(&s) % PVKIT_HC_NR),
		};
		uint64_t r = hvt_rand(&s);
		int64_t ret;

		/* mostly well-formed frames so calls get past the checks */
		if (r & 1)
			c.flags = (uint32_t)hvt_rand(&s) & (r & 2 ? ~0U : 1U);
		for (i = 0; i < PVKIT_HC_NR_ARGS; i++) {
			uint64_t v = hvt_rand(&s);

			if (i >= nargs[c.nr] && (r & 4))
				v = 0;
			/* small values hit real slots, vectors, words */
			c.args[i] = (r & 8) ? v % 40 : v;
		}
		/* keep LOG's output bounded: valid LOG lines only now and then */
		if (c.nr == PVKIT_HC_LOG && c.args[1] && c.args[1] <= 256 &&
		    (k & 0xff))
			c.args[0] = UINT64_MAX;
		ret = hc_handle(hv, k % 4, &c);
		if (ret == HC_DEFERRED)
			continue;	/* not possible for the test device */
		ASSERT_TRUE(hvt_pinned(ret)) TH_LOG("nr %u ret %lld", c.nr,
						     (long long)ret);
	}
}

TEST_F(hc, log_ranges)
{
	struct hv *hv = self->hv;
	static const char msg[] = "hello \x01\x7f\xff world\n";
	uint64_t end = HVT_MEM;

	memcpy(hv->gm.base + 0x1000, msg, sizeof(msg) - 1);
	EXPECT_EQ(PVKIT_HC_OK, hvt_call(hv, PVKIT_HC_LOG, 0x1000, sizeof(msg) - 1, 0, 0));
	EXPECT_EQ(1, hv->log_lines);
	EXPECT_EQ(PVKIT_HC_OK, hvt_call(hv, PVKIT_HC_LOG, end - 1, 1, 0, 0));
	EXPECT_EQ(PVKIT_HC_OK, hvt_call(hv, PVKIT_HC_LOG, end - 256, 256, 0, 0));
	EXPECT_EQ(PVKIT_HC_EINVAL, hvt_call(hv, PVKIT_HC_LOG, 0x1000, 0, 0, 0));
	EXPECT_EQ(PVKIT_HC_EINVAL, hvt_call(hv, PVKIT_HC_LOG, 0x1000, 257, 0, 0));
	EXPECT_EQ(PVKIT_HC_EINVAL, hvt_call(hv, PVKIT_HC_LOG, 0x1000, UINT64_MAX, 0, 0));
	/* straddles the end of RAM */
	EXPECT_EQ(PVKIT_HC_EFAULT, hvt_call(hv, PVKIT_HC_LOG, end - 1, 2, 0, 0));
	EXPECT_EQ(PVKIT_HC_EFAULT, hvt_call(hv, PVKIT_HC_LOG, end - 255, 256, 0, 0));
	/* outside */
	EXPECT_EQ(PVKIT_HC_EFAULT, hvt_call(hv, PVKIT_HC_LOG, end, 1, 0, 0));
	EXPECT_EQ(PVKIT_HC_EFAULT, hvt_call(hv, PVKIT_HC_LOG, 1ULL << 32, 16, 0, 0));
	EXPECT_EQ(PVKIT_HC_EFAULT, hvt_call(hv, PVKIT_HC_LOG, 1ULL << 63, 16, 0, 0));
	/* wraps around the address space */
	EXPECT_EQ(PVKIT_HC_EFAULT, hvt_call(hv, PVKIT_HC_LOG, UINT64_MAX, 1, 0, 0));
	EXPECT_EQ(PVKIT_HC_EFAULT, hvt_call(hv, PVKIT_HC_LOG, UINT64_MAX - 3, 8, 0, 0));
	EXPECT_EQ(PVKIT_HC_EFAULT, hvt_call(hv, PVKIT_HC_LOG, UINT64_MAX - 255, 256, 0, 0));
	/* without the feature */
	hv->features[0] &= ~PVKIT_F_LOG;
	EXPECT_EQ(PVKIT_HC_ENOTSUP, hvt_call(hv, PVKIT_HC_LOG, 0x1000, 4, 0, 0));
}

TEST_F(hc, log_sanitize)
{
	char out[32];

	EXPECT_EQ(5, log_sanitize(out, sizeof(out), "a\x1b[2J", 5));
	EXPECT_STREQ("a.[2J", out);
	EXPECT_EQ(3, log_sanitize(out, sizeof(out), "abc\0def", 7));
	EXPECT_EQ(3, log_sanitize(out, sizeof(out), "a\nb\n", 4));
	EXPECT_STREQ("a.b", out);
	EXPECT_EQ(31, log_sanitize(out, sizeof(out),
				   "0123456789012345678901234567890123456789", 40));
	EXPECT_EQ(0, log_sanitize(out, 0, "x", 1));
}

TEST_F(hc, log_rate_limited)
{
	struct hv *hv = self->hv;
	unsigned int i;

	memcpy(hv->gm.base, "flood", 5);
	for (i = 0; i < 1000; i++)
		ASSERT_EQ(PVKIT_HC_OK, hvt_call(hv, PVKIT_HC_LOG, 0, 5, 0, 0));
	EXPECT_LE(hv->log_lines, 400);
	EXPECT_GT(hv->log_dropped, 0);
}

TEST_F(hc, config_ack_and_evtchn)
{
	struct hv *hv = self->hv;
	uint32_t gen = hv->generation;

	EXPECT_EQ(0, gen & 1);
	EXPECT_EQ(PVKIT_HC_OK, hvt_call(hv, PVKIT_HC_CONFIG_ACK, gen, 0, 0, 0));
	EXPECT_EQ(gen, hv->config_acked);
	EXPECT_EQ(PVKIT_HC_EINVAL, hvt_call(hv, PVKIT_HC_CONFIG_ACK, gen + 1, 0, 0, 0));
	EXPECT_EQ(PVKIT_HC_EINVAL, hvt_call(hv, PVKIT_HC_CONFIG_ACK, gen + 2, 0, 0, 0));
	EXPECT_EQ(PVKIT_HC_EINVAL,
		  hvt_call(hv, PVKIT_HC_CONFIG_ACK, (1ULL << 32) + gen, 0, 0, 0));

	hvt_evcount(hv->irq_fd[0]);
	EXPECT_EQ(PVKIT_HC_OK, hvt_call(hv, PVKIT_HC_EVTCHN_SEND, 0, 0, 0, 0));
	EXPECT_EQ(1, hvt_evcount(hv->irq_fd[0]));
	EXPECT_EQ(PVKIT_HC_OK,
		  hvt_call(hv, PVKIT_HC_EVTCHN_SEND, hv->nr_vectors - 1, 0, 0, 0));
	EXPECT_EQ(1, hvt_evcount(hv->irq_fd[hv->nr_vectors - 1]));
	EXPECT_EQ(PVKIT_HC_EINVAL,
		  hvt_call(hv, PVKIT_HC_EVTCHN_SEND, hv->nr_vectors, 0, 0, 0));
	EXPECT_EQ(PVKIT_HC_EINVAL, hvt_call(hv, PVKIT_HC_EVTCHN_SEND, 256, 0, 0, 0));
	EXPECT_EQ(PVKIT_HC_EINVAL,
		  hvt_call(hv, PVKIT_HC_EVTCHN_SEND, UINT64_MAX, 0, 0, 0));
}

TEST_F(hc, device_slots)
{
	struct hv *hv = self->hv;
	static const uint64_t bad[] = { 1, 5, 31, 32, 33, 1ULL << 32, UINT64_MAX };
	unsigned int i, nr;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		for (nr = PVKIT_HC_DEV_ACK_FEATURES; nr <= PVKIT_HC_DEV_RESET; nr++)
			EXPECT_EQ(PVKIT_HC_ENODEV, hvt_call(hv, nr, bad[i], 0, 0, 0))
				TH_LOG("nr %u slot %llu", nr,
				       (unsigned long long)bad[i]);
}

TEST_F(hc, mailbox_transport)
{
	struct hv *hv = self->hv;
	struct pvkit_mailbox *mb = hvt_mbox(hv, 2);
	uint64_t count;

	mb->nr = htole32(PVKIT_HC_ECHO);
	mb->args[0] = htole64(0x1234);
	mb->args[1] = htole64(0x1000);
	mb->call_seq = htole32(1);
	EXPECT_EQ(1, hc_scan(hv));
	EXPECT_EQ(1, le32toh(mb->done_seq));
	EXPECT_EQ(0x0234, (int64_t)le64toh(mb->ret));
	count = hv->hc_count[PVKIT_HC_ECHO];
	/* idle mailbox: rewriting fields does nothing */
	mb->args[0] = htole64(7);
	EXPECT_EQ(0, hc_scan(hv));
	EXPECT_EQ(count, hv->hc_count[PVKIT_HC_ECHO]);
	/* a scribbled done_seq does not make the hv run the call again */
	mb->done_seq = htole32(0);
	EXPECT_EQ(0, hc_scan(hv));

	/* completion interrupt only when asked */
	hvt_evcount(hv->irq_fd[HV_VEC_HYPERCALL]);
	mb->call_seq = htole32(2);
	EXPECT_EQ(1, hc_scan(hv));
	EXPECT_EQ(0, hvt_evcount(hv->irq_fd[HV_VEC_HYPERCALL]));
	mb->flags = htole32(PVKIT_MBOX_F_IRQ);
	mb->call_seq = htole32(3);
	EXPECT_EQ(1, hc_scan(hv));
	EXPECT_EQ(3, le32toh(mb->done_seq));
	EXPECT_EQ(1, hvt_evcount(hv->irq_fd[HV_VEC_HYPERCALL]));
	/* mailboxes beyond nr_mailboxes are never looked at */
	hvt_mbox(hv, 4)->call_seq = htole32(9);
	EXPECT_EQ(0, hc_scan(hv));
	EXPECT_EQ(0, hvt_mbox(hv, 4)->done_seq);
}

TEST_F(hc, mailbox_garbage)
{
	struct hv *hv = self->hv;
	uint64_t s = 777;
	unsigned int round, i, j;

	for (round = 0; round < 20000; round++) {
		for (i = 0; i < hv->nr_mbox; i++) {
			uint8_t *p = (uint8_t *)hvt_mbox(hv, i);

			/* guest half only; the host half is ours */
			for (j = 0; j < 64; j += 8) {
				uint64_t v = hvt_rand(&s);

				memcpy(p + j, &v, 8);
			}
		}
		hc_scan(hv);
		for (i = 0; i < hv->nr_mbox; i++) {
			struct pvkit_mailbox *mb = hvt_mbox(hv, i);

			if (mb->done_seq == mb->call_seq)
				ASSERT_TRUE(hvt_pinned((int64_t)le64toh(mb->ret)));
		}
	}
}

TEST_HARNESS_MAIN
