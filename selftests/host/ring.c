// SPDX-License-Identifier: GPL-2.0-only
/*
 * Description: the generic shared ring (pvkit/ring.h): ordering and loss
 * across threads, index wraparound, event-index notification suppression
 * that never loses a wake-up, and hostile peers.
 *
 * The ring is used exactly as a front-end and a back-end use it: one thread
 * per side, each with its own struct pvkit_ring over the same memory, and
 * eventfds standing in for the doorbell (kick) and the MSI-X vector (irq).
 * A side that runs out of work calls final_check and sleeps only when it
 * returns 0; a side signals only when push returned true.  Every sleep is
 * bounded, so a lost wake-up shows up as a counted "stuck" event (and a
 * failure) rather than as a hang.
 *
 * Environment:
 *   PVKIT_RING_MSGS   messages for spsc.s64 (default 10M, fewer under
 *                     sanitizers)
 *   PVKIT_RING_SEED   PRNG seed (default: time and pid, printed)
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <pvkit/ring.h>

#include "kselftest_harness.h"

/* Sanitizers slow the threaded tests; keep each variant well under 60 s. */
#if defined(__SANITIZE_THREAD__)
#define RING_TSAN 1
#elif defined(__SANITIZE_ADDRESS__)
#define RING_ASAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define RING_TSAN 1
#elif __has_feature(address_sanitizer)
#define RING_ASAN 1
#endif
#endif

#if defined(RING_TSAN)
#define RING_SCALE_DIV	5
#elif defined(RING_ASAN)
#define RING_SCALE_DIV	2
#else
#define RING_SCALE_DIV	1
#endif

/* A sleep longer than this with work pending is a lost wake-up. */
#define STUCK_MS	2000

/* --------------------------------------------------------- helpers --- */

static uint64_t ring_seed(void)
{
	const char *s = getenv("PVKIT_RING_SEED");

	if (s && *s)
		return strtoull(s, NULL, 0);
	return (uint64_t)time(NULL) * 2654435761u ^ (uint64_t)getpid() << 32;
}

/* xorshift64*: cheap, per-thread, reproducible from the seed. */
static uint32_t rnd(uint64_t *state)
{
	uint64_t x = *state;

	if (!x)		/* xorshift's one fixed point */
		x = 0x9e3779b97f4a7c15ULL;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*state = x;
	return (uint32_t)((x * 0x2545f4914f6cdd1dULL) >> 32);
}

/* 1..max inclusive */
static uint32_t rnd_range(uint64_t *state, uint32_t max)
{
	return 1 + rnd(state) % max;
}

/* splitmix64 finaliser: a checksum no off-by-one can satisfy by accident */
static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

#define RSP_XOR		0xa5a5a5a5a5a5a5a5ULL

struct msg {
	uint64_t seq;
	uint64_t sum;	/* mix(seq), ^ RSP_XOR in a response */
};

static double now_sec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Busy-wait a little: widens race windows without a syscall. */
static void spin(uint32_t loops)
{
	while (loops--)
		__asm__ __volatile__("" ::: "memory");
}

/* One ring in private memory and the two sides' views of it. */
struct test_ring {
	void *mem;
	size_t bytes;
	struct pvkit_ring fe;	/* front-end (guest) view */
	struct pvkit_ring be;	/* back-end (host) view */
};

static int test_ring_init(struct test_ring *t, uint32_t slots,
			  uint32_t req_size, uint32_t rsp_size)
{
	int ret;

	if (!pvkit_ring_geometry_ok(slots, req_size, rsp_size))
		return -EINVAL;
	t->bytes = (pvkit_ring_bytes(slots, req_size, rsp_size) + 4095) &
		   ~(size_t)4095;
	t->mem = aligned_alloc(4096, t->bytes);
	if (!t->mem)
		return -ENOMEM;
	/* garbage, so that a slot the ring forgets to fill shows up */
	memset(t->mem, 0xcc, t->bytes);
	pvkit_ring_reset_shared(t->mem);
	ret = pvkit_ring_attach(&t->fe, t->mem, slots, req_size, rsp_size);
	if (!ret)
		ret = pvkit_ring_attach(&t->be, t->mem, slots, req_size,
					rsp_size);
	if (ret) {
		free(t->mem);
		t->mem = NULL;
	}
	return ret;
}

static void test_ring_free(struct test_ring *t)
{
	free(t->mem);
	t->mem = NULL;
}

/*
 * Move a freshly reset ring to index @base on both sides, as if @base
 * requests had gone round it: every shared and private index agrees, and
 * both event indices ask for the next entry (the state after connect).
 */
static void test_ring_set_base(struct test_ring *t, uint32_t base)
{
	struct pvkit_ring_hdr *h = t->fe.hdr;

	pvkit_ring_write(&h->req_prod, base);
	pvkit_ring_write(&h->req_event, base);
	pvkit_ring_write(&h->rsp_prod, base);
	pvkit_ring_write(&h->rsp_event, base);
	t->fe.req_prod_pvt = t->fe.req_pushed = t->fe.rsp_cons = base;
	t->be.req_cons = t->be.rsp_prod_pvt = t->be.rsp_pushed = base;
}

/* eventfd "doorbell": -ETIMEDOUT after @timeout_ms, else 0. */
static int evt_wait(int fd, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	uint64_t v;
	int ret;

	do
		ret = poll(&p, 1, timeout_ms);
	while (ret < 0 && errno == EINTR);
	if (ret < 0)
		return -errno;
	if (!ret)
		return -ETIMEDOUT;
	/* the only reader: poll said readable, so this cannot block */
	if (read(fd, &v, sizeof(v)) != sizeof(v))
		return -errno;
	return 0;
}

static int evt_signal(int fd)
{
	uint64_t one = 1;

	return write(fd, &one, sizeof(one)) == sizeof(one) ? 0 : -errno;
}

#define ARRAY_LEN(a)	(sizeof(a) / sizeof((a)[0]))

/*
 * ksft_print_msg() to stdout, flushed: the harness ends each test child
 * with _exit(), which would drop buffered output when stdout is a pipe.
 */
#define report(fmt, ...) do {					\
	ksft_print_msg(fmt, ##__VA_ARGS__);			\
	fflush(stdout);						\
} while (0)

/* -------------------------------------------------- spsc, 2 threads --- */

/*
 * Front-end thread sends nr_msgs requests in random batches of 1..32 and
 * checks every response; back-end thread checks every request and answers
 * it.  Worker threads must not use ASSERT_* (it longjmps across threads),
 * so they record the first error and the main thread reports it.
 */
struct side_stats {
	uint64_t pushes;	/* push_* calls that published something */
	uint64_t notifies;	/* ... returning true: kick / irq sent */
	uint64_t suppressed;	/* ... returning false: peer is busy */
	uint64_t final_checks;	/* final_check_* calls */
	uint64_t sleeps;	/* final_check returned 0, we slept */
	uint64_t stuck;		/* slept STUCK_MS with work pending */
	uint64_t spurious;	/* woken with nothing to do */
};

struct spsc {
	struct test_ring tr;
	uint64_t nr_msgs;
	uint32_t max_batch;
	uint32_t poll_us;	/* busy-poll before final_check, 0 = none */
	uint64_t seed;
	int kick_fd;		/* front-end -> back-end */
	int irq_fd;		/* back-end -> front-end */
	int stop;		/* set by a failing side */
	struct side_stats fe, be;
	int fe_err, be_err;
	char fe_msg[160], be_msg[160];
};

#define SIDE_FAIL(s, who, fmt, ...) do {				\
	snprintf((s)->who##_msg, sizeof((s)->who##_msg), fmt,		\
		 ##__VA_ARGS__);					\
	(s)->who##_err = 1;						\
	__atomic_store_n(&(s)->stop, 1, __ATOMIC_RELAXED);		\
	/* wake the peer so that it notices stop */			\
	evt_signal((s)->kick_fd);					\
	evt_signal((s)->irq_fd);					\
} while (0)

static bool spsc_stopped(struct spsc *s)
{
	return __atomic_load_n(&s->stop, __ATOMIC_RELAXED);
}

static void *spsc_backend(void *arg)
{
	struct spsc *s = arg;
	struct pvkit_ring *r = &s->tr.be;
	uint64_t expect = 0;
	struct msg m, rsp;
	double deadline;
	int n, ret;

	while (expect < s->nr_msgs && !spsc_stopped(s)) {
		n = pvkit_ring_req_avail(r);
		/* busy-poll a little, as a back-end may; no kick needed then */
		if (!n && s->poll_us) {
			deadline = now_sec() + s->poll_us / 1e6;
			do
				n = pvkit_ring_req_avail(r);
			while (!n && now_sec() < deadline);
		}
		if (!n) {
			s->be.final_checks++;
			n = pvkit_ring_final_check_req(r);
		}
		if (!n) {
			s->be.sleeps++;
			ret = evt_wait(s->kick_fd, STUCK_MS);
			if (ret == -ETIMEDOUT && pvkit_ring_req_avail(r) > 0)
				s->be.stuck++;
			else if (ret && ret != -ETIMEDOUT)
				SIDE_FAIL(s, be, "kick wait: %d", ret);
			else if (!ret && !pvkit_ring_req_avail(r))
				s->be.spurious++;
			continue;
		}
		if (n < 0) {
			SIDE_FAIL(s, be, "req_avail %d at req %" PRIu64, n,
				  expect);
			break;
		}
		while (n--) {
			pvkit_ring_get_req(r, &m, sizeof(m));
			if (m.seq != expect || m.sum != mix(expect)) {
				SIDE_FAIL(s, be, "request %" PRIu64 ": seq %"
					  PRIu64 " sum %#" PRIx64, expect,
					  m.seq, m.sum);
				return NULL;
			}
			expect++;
			rsp.seq = m.seq;
			rsp.sum = m.sum ^ RSP_XOR;
			ret = pvkit_ring_put_rsp(r, &rsp, sizeof(rsp));
			if (ret) {
				SIDE_FAIL(s, be, "put_rsp %d", ret);
				return NULL;
			}
		}
		s->be.pushes++;
		if (pvkit_ring_push_rsps(r)) {
			s->be.notifies++;
			evt_signal(s->irq_fd);
		} else {
			s->be.suppressed++;
		}
	}
	return NULL;
}

static void *spsc_frontend(void *arg)
{
	struct spsc *s = arg;
	struct pvkit_ring *r = &s->tr.fe;
	uint64_t sent = 0, rcvd = 0, rng = s->seed;
	uint32_t want, room, i;
	double deadline;
	struct msg m;
	bool busy;
	int n, ret;

	while (rcvd < s->nr_msgs && !spsc_stopped(s)) {
		busy = false;
		n = pvkit_ring_rsp_avail(r);
		if (n < 0) {
			SIDE_FAIL(s, fe, "rsp_avail %d at rsp %" PRIu64, n,
				  rcvd);
			break;
		}
		for (; n > 0; n--) {
			pvkit_ring_get_rsp(r, &m, sizeof(m));
			if (m.seq != rcvd || m.sum != (mix(rcvd) ^ RSP_XOR)) {
				SIDE_FAIL(s, fe, "response %" PRIu64 ": seq %"
					  PRIu64 " sum %#" PRIx64, rcvd, m.seq,
					  m.sum);
				return NULL;
			}
			rcvd++;
			busy = true;
		}

		room = pvkit_ring_free_reqs(r);
		if (sent < s->nr_msgs && room) {
			want = rnd_range(&rng, s->max_batch);
			if (want > room)
				want = room;
			if (want > s->nr_msgs - sent)
				want = s->nr_msgs - sent;
			for (i = 0; i < want; i++, sent++) {
				m.seq = sent;
				m.sum = mix(sent);
				ret = pvkit_ring_put_req(r, &m, sizeof(m));
				if (ret) {
					SIDE_FAIL(s, fe, "put_req %d", ret);
					return NULL;
				}
			}
			s->fe.pushes++;
			if (pvkit_ring_push_reqs(r)) {
				s->fe.notifies++;
				evt_signal(s->kick_fd);
			} else {
				s->fe.suppressed++;
			}
			busy = true;
		}
		if (busy)
			continue;
		/* busy-poll a little, as a driver may; no irq needed then */
		if (s->poll_us) {
			deadline = now_sec() + s->poll_us / 1e6;
			while (!pvkit_ring_rsp_avail(r) && now_sec() < deadline)
				;
			if (pvkit_ring_rsp_avail(r))
				continue;
		}

		/* ring full or everything sent: wait for responses */
		s->fe.final_checks++;
		n = pvkit_ring_final_check_rsp(r);
		if (n < 0) {
			SIDE_FAIL(s, fe, "final_check_rsp %d", n);
			break;
		}
		if (n)
			continue;
		s->fe.sleeps++;
		ret = evt_wait(s->irq_fd, STUCK_MS);
		if (ret == -ETIMEDOUT && pvkit_ring_rsp_avail(r) > 0)
			s->fe.stuck++;
		else if (ret && ret != -ETIMEDOUT)
			SIDE_FAIL(s, fe, "irq wait: %d", ret);
		else if (!ret && !pvkit_ring_rsp_avail(r))
			s->fe.spurious++;
	}
	return NULL;
}

FIXTURE(spsc) {
	struct spsc s;
};

FIXTURE_VARIANT(spsc) {
	const char *name;
	uint32_t slots;
	uint32_t slot_size;
	uint32_t max_batch;
	uint32_t poll_us;
	uint64_t nr_msgs;		/* before sanitizer scaling */
	bool env_override;	/* PVKIT_RING_MSGS applies */
};

/* The headline number: 64 slots, so full-ring paths are hit constantly. */
FIXTURE_VARIANT_ADD(spsc, s64) {
	.name = "s64", .slots = 64, .slot_size = 16, .max_batch = 32,
	.nr_msgs = 10000000, .env_override = true,
};

/* Same, with both sides busy-polling briefly before they sleep. */
FIXTURE_VARIANT_ADD(spsc, s64_poll) {
	.name = "s64_poll", .slots = 64, .slot_size = 16, .max_batch = 32,
	.poll_us = 20, .nr_msgs = 10000000,
};

/* Smallest legal ring: every other put finds it full. */
FIXTURE_VARIANT_ADD(spsc, s2) {
	.name = "s2", .slots = 2, .slot_size = 16, .max_batch = 32,
	.nr_msgs = 200000,
};

/* Big ring, blk-sized request slots. */
FIXTURE_VARIANT_ADD(spsc, s1024_blk) {
	.name = "s1024_blk", .slots = 1024, .slot_size = 128, .max_batch = 32,
	.nr_msgs = 4000000,
};

FIXTURE_SETUP(spsc)
{
	const char *env = getenv("PVKIT_RING_MSGS");
	struct spsc *s = &self->s;

	s->nr_msgs = variant->nr_msgs / RING_SCALE_DIV;
	if (variant->env_override && env && *env)
		s->nr_msgs = strtoull(env, NULL, 0);
	s->max_batch = variant->max_batch;
	s->poll_us = variant->poll_us;
	s->seed = ring_seed();
	ASSERT_EQ(0, test_ring_init(&s->tr, variant->slots,
				    variant->slot_size, variant->slot_size));
	s->kick_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	s->irq_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	ASSERT_LE(0, s->kick_fd);
	ASSERT_LE(0, s->irq_fd);
}

FIXTURE_TEARDOWN(spsc)
{
	if (self->s.kick_fd > 0)
		close(self->s.kick_fd);
	if (self->s.irq_fd > 0)
		close(self->s.irq_fd);
	test_ring_free(&self->s.tr);
}

TEST_F_TIMEOUT(spsc, ordered_no_loss, 120)
{
	struct spsc *s = &self->s;
	pthread_t fe, be;
	double t0, dt;

	report("spsc.%s: %" PRIu64 " messages, %u slots, seed %#" PRIx64
	       "\n", variant->name, s->nr_msgs, s->tr.fe.slots, s->seed);
	t0 = now_sec();
	ASSERT_EQ(0, pthread_create(&be, NULL, spsc_backend, s));
	ASSERT_EQ(0, pthread_create(&fe, NULL, spsc_frontend, s));
	ASSERT_EQ(0, pthread_join(fe, NULL));
	ASSERT_EQ(0, pthread_join(be, NULL));
	dt = now_sec() - t0;

	if (s->fe_err)
		TH_LOG("front-end: %s", s->fe_msg);
	if (s->be_err)
		TH_LOG("back-end: %s", s->be_msg);
	ASSERT_EQ(0, s->fe_err);
	ASSERT_EQ(0, s->be_err);

	report("spsc.%s: %" PRIu64 " msgs in %.3f s = %.2f M msgs/s\n",
	       variant->name, s->nr_msgs, dt, s->nr_msgs / dt / 1e6);
	report("spsc.%s: fe pushes %" PRIu64 ", kicks %" PRIu64
	       ", suppressed kicks %" PRIu64 " (%.1f%%), sleeps %" PRIu64
	       ", spurious %" PRIu64 "\n", variant->name, s->fe.pushes,
	       s->fe.notifies, s->fe.suppressed,
	       100.0 * s->fe.suppressed / (s->fe.pushes ? s->fe.pushes : 1),
	       s->fe.sleeps, s->fe.spurious);
	report("spsc.%s: be pushes %" PRIu64 ", irqs %" PRIu64
	       ", suppressed irqs %" PRIu64 " (%.1f%%), sleeps %" PRIu64
	       ", spurious %" PRIu64 "\n", variant->name, s->be.pushes,
	       s->be.notifies, s->be.suppressed,
	       100.0 * s->be.suppressed / (s->be.pushes ? s->be.pushes : 1),
	       s->be.sleeps, s->be.spurious);

	/* every published batch either notified or was suppressed */
	EXPECT_EQ(s->fe.pushes, s->fe.notifies + s->fe.suppressed);
	EXPECT_EQ(s->be.pushes, s->be.notifies + s->be.suppressed);
	/* only the peer's final_check re-arms its event index */
	EXPECT_LE(s->fe.notifies, s->be.final_checks + 1);
	EXPECT_LE(s->be.notifies, s->fe.final_checks + 1);
	EXPECT_EQ(0U, s->fe.stuck);
	EXPECT_EQ(0U, s->be.stuck);
	/* everything was answered and consumed */
	EXPECT_EQ((uint32_t)s->nr_msgs, s->tr.fe.rsp_cons);
	EXPECT_EQ((uint32_t)s->nr_msgs, s->tr.be.req_cons);
	EXPECT_EQ(s->tr.fe.slots, pvkit_ring_free_reqs(&s->tr.fe));
}

/* --------------------------------------- wraparound, single thread --- */

FIXTURE(wrap) {
	struct test_ring tr;
};

FIXTURE_VARIANT(wrap) {
	uint32_t base;
	uint32_t slots;
};

FIXTURE_VARIANT_ADD(wrap, near_max) {
	.base = 0xffffff00, .slots = 16,
};

FIXTURE_VARIANT_ADD(wrap, max_minus_1) {
	.base = 0xffffffff, .slots = 8,
};

/* sign-bit crossing: catches a signed difference anywhere */
FIXTURE_VARIANT_ADD(wrap, int_max) {
	.base = 0x7fffff80, .slots = 64,
};

FIXTURE_VARIANT_ADD(wrap, zero) {
	.base = 0, .slots = 4,
};

FIXTURE_SETUP(wrap)
{
	ASSERT_EQ(0, test_ring_init(&self->tr, variant->slots, 16, 16));
	test_ring_set_base(&self->tr, variant->base);
}

FIXTURE_TEARDOWN(wrap)
{
	test_ring_free(&self->tr);
}

/*
 * Push 4096 messages through the wrap in random batches, consume and answer
 * them in random chunks.  In one thread the event-index protocol is exact:
 * a push must notify iff the peer has drained and called final_check since
 * the previous notification, and never otherwise.
 */
TEST_F(wrap, through_wrap)
{
	struct pvkit_ring *fe = &self->tr.fe, *be = &self->tr.be;
	const uint32_t total = 4096, base = variant->base;
	uint32_t sent = 0, got_req = 0, got_rsp = 0, n, i, room;
	/* after reset both event indices ask for the first entry */
	bool be_idle = true, fe_idle = true, kick, irq;
	uint64_t rng = 0x1234567 ^ base;
	uint64_t kicks = 0, irqs = 0;
	struct msg m;
	int avail;

	while (got_rsp < total) {
		/* front-end: queue a random batch, push */
		room = pvkit_ring_free_reqs(fe);
		n = rnd_range(&rng, variant->slots);
		if (n > room)
			n = room;
		if (n > total - sent)
			n = total - sent;
		for (i = 0; i < n; i++, sent++) {
			m.seq = base + (uint64_t)sent;
			m.sum = mix(m.seq);
			ASSERT_EQ(0, pvkit_ring_put_req(fe, &m, sizeof(m)));
		}
		if (n) {
			kick = pvkit_ring_push_reqs(fe);
			ASSERT_EQ(be_idle, kick) {
				TH_LOG("kick %d with back-end %s at req %u",
				       kick, be_idle ? "idle" : "busy", sent);
			}
			kicks += kick;
			be_idle = false;
		}
		ASSERT_EQ((uint32_t)(base + sent),
			  pvkit_ring_read(&fe->hdr->req_prod));

		/* back-end: take a random part of what is there, answer */
		avail = pvkit_ring_req_avail(be);
		ASSERT_EQ(sent - got_req, (uint32_t)avail);
		n = rnd_range(&rng, avail + 1) - 1;	/* 0..avail */
		for (i = 0; i < n; i++, got_req++) {
			pvkit_ring_get_req(be, &m, sizeof(m));
			ASSERT_EQ(base + (uint64_t)got_req, m.seq);
			ASSERT_EQ(mix(m.seq), m.sum);
			m.sum ^= RSP_XOR;
			ASSERT_EQ(0, pvkit_ring_put_rsp(be, &m, sizeof(m)));
		}
		if (n) {
			irq = pvkit_ring_push_rsps(be);
			ASSERT_EQ(fe_idle, irq) {
				TH_LOG("irq %d with front-end %s at rsp %u",
				       irq, fe_idle ? "idle" : "busy",
				       got_req);
			}
			irqs += irq;
			fe_idle = false;
		}
		if (got_req == sent && pvkit_ring_final_check_req(be) == 0)
			be_idle = true;

		/* front-end: consume a random part of the responses */
		avail = pvkit_ring_rsp_avail(fe);
		ASSERT_EQ(got_req - got_rsp, (uint32_t)avail);
		n = rnd_range(&rng, avail + 1) - 1;
		for (i = 0; i < n; i++, got_rsp++) {
			pvkit_ring_get_rsp(fe, &m, sizeof(m));
			ASSERT_EQ(base + (uint64_t)got_rsp, m.seq);
			ASSERT_EQ(mix(m.seq) ^ RSP_XOR, m.sum);
		}
		if (got_rsp == got_req && pvkit_ring_final_check_rsp(fe) == 0)
			fe_idle = true;
	}

	ASSERT_EQ(total, sent);
	ASSERT_EQ(total, got_req);
	/* all private and shared indices moved by exactly total, mod 2^32 */
	EXPECT_EQ((uint32_t)(base + total), fe->req_prod_pvt);
	EXPECT_EQ((uint32_t)(base + total), fe->req_pushed);
	EXPECT_EQ((uint32_t)(base + total), fe->rsp_cons);
	EXPECT_EQ((uint32_t)(base + total), be->req_cons);
	EXPECT_EQ((uint32_t)(base + total), be->rsp_prod_pvt);
	EXPECT_EQ(fe->req_prod_pvt, pvkit_ring_read(&fe->hdr->req_prod));
	EXPECT_EQ(be->rsp_prod_pvt, pvkit_ring_read(&fe->hdr->rsp_prod));
	EXPECT_EQ(variant->slots, pvkit_ring_free_reqs(fe));
	EXPECT_EQ(0, pvkit_ring_req_avail(be));
	EXPECT_EQ(0, pvkit_ring_rsp_avail(fe));
	EXPECT_LT(0U, kicks);
	EXPECT_LT(0U, irqs);
	TH_LOG("base %#x -> %#x: %u msgs, %" PRIu64 " kicks, %" PRIu64
	       " irqs", base, (uint32_t)(base + total), total, kicks, irqs);
}

/* Fill and drain the ring exactly at the wrap: slot index math. */
TEST_F(wrap, full_ring_at_wrap)
{
	struct pvkit_ring *fe = &self->tr.fe, *be = &self->tr.be;
	uint32_t slots = variant->slots, round, i;
	struct msg m;

	for (round = 0; round < 3; round++) {
		for (i = 0; i < slots; i++) {
			m.seq = round * slots + i;
			ASSERT_EQ(0, pvkit_ring_put_req(fe, &m, sizeof(m)));
		}
		ASSERT_EQ(-ENOSPC, pvkit_ring_put_req(fe, &m, sizeof(m)));
		pvkit_ring_push_reqs(fe);
		ASSERT_EQ((int)slots, pvkit_ring_req_avail(be));
		for (i = 0; i < slots; i++) {
			pvkit_ring_get_req(be, &m, sizeof(m));
			ASSERT_EQ(round * slots + i, m.seq);
			ASSERT_EQ(0, pvkit_ring_put_rsp(be, &m, sizeof(m)));
		}
		ASSERT_EQ(-EINVAL, pvkit_ring_put_rsp(be, &m, sizeof(m)));
		pvkit_ring_push_rsps(be);
		ASSERT_EQ((int)slots, pvkit_ring_rsp_avail(fe));
		for (i = 0; i < slots; i++) {
			pvkit_ring_get_rsp(fe, &m, sizeof(m));
			ASSERT_EQ(round * slots + i, m.seq);
		}
		ASSERT_EQ(slots, pvkit_ring_free_reqs(fe));
	}
}

/* ------------------------------------------------- event indices --- */

static const struct {
	uint32_t event, new_idx, old_idx;
	bool want;
	const char *why;
} need_event_cases[] = {
	{ 0, 1, 0, true, "first request after reset" },
	{ 0, 2, 1, false, "event behind old: peer is busy" },
	{ 5, 10, 5, true, "event == old" },
	{ 9, 10, 5, true, "event == new - 1" },
	{ 10, 10, 5, false, "event == new: not published yet" },
	{ 4, 10, 5, false, "event == old - 1" },
	{ 5, 5, 5, false, "nothing published" },
	{ 4, 5, 5, false, "nothing published, event behind" },
	{ 0xffffffff, 0, 0xffffffff, true, "one entry across wrap" },
	{ 0xfffffffe, 2, 0xfffffffd, true, "event before wrap" },
	{ 0, 2, 0xfffffffe, true, "event at wrap" },
	{ 1, 2, 0xfffffffe, true, "event after wrap" },
	{ 2, 2, 0xfffffffe, false, "event == new after wrap" },
	{ 0xfffffffd, 2, 0xfffffffe, false, "event == old - 1 across wrap" },
	{ 0x80000005, 10, 5, false, "hostile: half the space away" },
	{ 0x7fffffff, 0x80000001, 0x7fffffff, true, "sign-bit crossing" },
	{ 0x80000001, 0x80000001, 0x7fffffff, false, "new at sign bit" },
	{ 0, 4096, 0, true, "whole ring in one push" },
	{ 4095, 4096, 0, true, "last of a whole ring" },
};

TEST(need_event_table)
{
	unsigned int i, bad = 0;

	for (i = 0; i < ARRAY_LEN(need_event_cases); i++) {
		bool got = pvkit_ring_need_event(need_event_cases[i].event,
						 need_event_cases[i].new_idx,
						 need_event_cases[i].old_idx);

		if (got == need_event_cases[i].want)
			continue;
		TH_LOG("need_event(%#x, new %#x, old %#x) = %d: %s",
		       need_event_cases[i].event, need_event_cases[i].new_idx,
		       need_event_cases[i].old_idx, got,
		       need_event_cases[i].why);
		bad++;
	}
	EXPECT_EQ(0U, bad);
}

/*
 * need_event(e, new, old) must mean "e is one of the indices old .. new-1
 * just published", for any placement relative to the wrap.
 */
TEST(need_event_model)
{
	uint64_t rng = 42, i;
	uint32_t old_idx, n, e, bad = 0;
	bool want;

	for (i = 0; i < 2000000; i++) {
		/* cluster half the cases around the wrap and the sign bit */
		old_idx = rnd(&rng);
		if (i & 1)
			old_idx = (i & 2 ? 0 : 0x80000000u) -
				  (rnd(&rng) % 8192);
		n = rnd(&rng) % (PVKIT_RING_MAX_SLOTS + 1);
		e = old_idx + (rnd(&rng) % 16384) - 8192;
		if (i % 7 == 0)
			e = rnd(&rng);
		want = (uint32_t)(e - old_idx) < n;
		if (pvkit_ring_need_event(e, old_idx + n, old_idx) != want &&
		    bad++ < 5)
			TH_LOG("need_event(%#x, %#x, %#x) != %d", e,
			       old_idx + n, old_idx, want);
	}
	EXPECT_EQ(0U, bad);
}

/*
 * pvkit_ring_rsp_pending()/req_pending(), the consumer loop's step: with
 * rearm they move the event index only when nothing waits (and then look
 * again); without it (busy polling) they never move it, so the producer's
 * notifications stay suppressed.
 */
TEST(pending_rearm)
{
	struct test_ring tr;
	struct pvkit_ring *fe = &tr.fe, *be = &tr.be;
	struct msg m = { 0, 0 };
	uint32_t ev;

	ASSERT_EQ(0, test_ring_init(&tr, 8, 16, 16));
	ASSERT_EQ(0, pvkit_ring_put_req(fe, &m, sizeof(m)));
	EXPECT_TRUE(pvkit_ring_push_reqs(fe));

	/* something waits: neither form touches req_event */
	ev = le32toh(be->hdr->req_event);
	EXPECT_EQ(1, pvkit_ring_req_pending(be, true));
	EXPECT_EQ(1, pvkit_ring_req_pending(be, false));
	EXPECT_EQ(ev, le32toh(be->hdr->req_event));
	pvkit_ring_get_req(be, &m, sizeof(m));

	/* drained, polling: req_event stays behind, the next push is quiet */
	EXPECT_EQ(0, pvkit_ring_req_pending(be, false));
	EXPECT_EQ(ev, le32toh(be->hdr->req_event));
	ASSERT_EQ(0, pvkit_ring_put_req(fe, &m, sizeof(m)));
	EXPECT_FALSE(pvkit_ring_push_reqs(fe));
	EXPECT_EQ(1, pvkit_ring_req_pending(be, false));
	pvkit_ring_get_req(be, &m, sizeof(m));

	/* drained, about to sleep: re-armed at req_cons, the push kicks */
	EXPECT_EQ(0, pvkit_ring_req_pending(be, true));
	EXPECT_EQ(be->req_cons, le32toh(be->hdr->req_event));
	ASSERT_EQ(0, pvkit_ring_put_req(fe, &m, sizeof(m)));
	EXPECT_TRUE(pvkit_ring_push_reqs(fe));
	pvkit_ring_get_req(be, &m, sizeof(m));

	/* responses, the same rules with rsp_event */
	ASSERT_EQ(0, pvkit_ring_put_rsp(be, &m, sizeof(m)));
	EXPECT_TRUE(pvkit_ring_push_rsps(be));
	EXPECT_EQ(1, pvkit_ring_rsp_pending(fe, true));
	pvkit_ring_get_rsp(fe, &m, sizeof(m));
	ev = le32toh(fe->hdr->rsp_event);
	EXPECT_EQ(0, pvkit_ring_rsp_pending(fe, false));
	EXPECT_EQ(ev, le32toh(fe->hdr->rsp_event));
	EXPECT_EQ(0, pvkit_ring_rsp_pending(fe, true));
	EXPECT_EQ(fe->rsp_cons, le32toh(fe->hdr->rsp_event));
	ASSERT_EQ(0, pvkit_ring_put_rsp(be, &m, sizeof(m)));
	EXPECT_TRUE(pvkit_ring_push_rsps(be));

	/* an impossible index is reported whatever rearm says */
	fe->hdr->rsp_prod = htole32(fe->rsp_cons + 5);
	EXPECT_EQ(-EPROTO, pvkit_ring_rsp_pending(fe, false));
	EXPECT_EQ(-EPROTO, pvkit_ring_rsp_pending(fe, true));
	test_ring_free(&tr);
}

/*
 * The two orders in which final_check and push can meet, plus the busy
 * peer, on both directions: whichever comes second sees the first.
 */
TEST(event_index_protocol)
{
	struct test_ring tr;
	struct pvkit_ring *fe = &tr.fe, *be = &tr.be;
	struct msg m = { 0, 0 };

	ASSERT_EQ(0, test_ring_init(&tr, 8, 16, 16));

	/* reset state asks for a kick on the first request */
	ASSERT_EQ(0, pvkit_ring_put_req(fe, &m, sizeof(m)));
	EXPECT_TRUE(pvkit_ring_push_reqs(fe));
	/* back-end never went idle: further pushes are suppressed */
	ASSERT_EQ(0, pvkit_ring_put_req(fe, &m, sizeof(m)));
	EXPECT_FALSE(pvkit_ring_push_reqs(fe));
	/* nothing new: no kick, whatever the event index says */
	EXPECT_FALSE(pvkit_ring_push_reqs(fe));

	/* back-end drains; final_check first, then push: push kicks */
	EXPECT_EQ(2, pvkit_ring_req_avail(be));
	pvkit_ring_get_req(be, &m, sizeof(m));
	pvkit_ring_get_req(be, &m, sizeof(m));
	EXPECT_EQ(0, pvkit_ring_final_check_req(be));
	ASSERT_EQ(0, pvkit_ring_put_req(fe, &m, sizeof(m)));
	EXPECT_TRUE(pvkit_ring_push_reqs(fe));

	/* push first, then final_check: final_check sees the entry */
	pvkit_ring_get_req(be, &m, sizeof(m));
	ASSERT_EQ(0, pvkit_ring_put_req(fe, &m, sizeof(m)));
	EXPECT_FALSE(pvkit_ring_push_reqs(fe));	/* back-end still busy */
	EXPECT_EQ(1, pvkit_ring_final_check_req(be));
	/* final_check moved req_event up to req_cons: kicks come back */
	pvkit_ring_get_req(be, &m, sizeof(m));
	EXPECT_EQ(0, pvkit_ring_final_check_req(be));
	ASSERT_EQ(0, pvkit_ring_put_req(fe, &m, sizeof(m)));
	ASSERT_EQ(0, pvkit_ring_put_req(fe, &m, sizeof(m)));
	EXPECT_TRUE(pvkit_ring_push_reqs(fe));	/* batch: one kick */
	ASSERT_EQ(2, pvkit_ring_req_avail(be));
	pvkit_ring_get_req(be, &m, sizeof(m));
	pvkit_ring_get_req(be, &m, sizeof(m));

	/* responses: same rules with rsp_event; 6 requests consumed */
	ASSERT_EQ(0, pvkit_ring_put_rsp(be, &m, sizeof(m)));
	EXPECT_TRUE(pvkit_ring_push_rsps(be));	/* reset asks for the first */
	ASSERT_EQ(0, pvkit_ring_put_rsp(be, &m, sizeof(m)));
	EXPECT_FALSE(pvkit_ring_push_rsps(be));	/* front-end busy */
	EXPECT_EQ(2, pvkit_ring_rsp_avail(fe));
	pvkit_ring_get_rsp(fe, &m, sizeof(m));
	pvkit_ring_get_rsp(fe, &m, sizeof(m));
	EXPECT_EQ(0, pvkit_ring_final_check_rsp(fe));
	ASSERT_EQ(0, pvkit_ring_put_rsp(be, &m, sizeof(m)));
	EXPECT_TRUE(pvkit_ring_push_rsps(be));
	ASSERT_EQ(0, pvkit_ring_put_rsp(be, &m, sizeof(m)));
	EXPECT_FALSE(pvkit_ring_push_rsps(be));
	EXPECT_EQ(2, pvkit_ring_final_check_rsp(fe));

	test_ring_free(&tr);
}

/* --------------------------------- lost wake-up stress, 2 threads --- */

/*
 * Rounds of random bursts with random pauses on both sides, so that each
 * side goes to sleep very often and the peer's push lands at every point
 * around final_check.  A side that times out with work pending counts a
 * lost wake-up.  The broken_producer variant drops kicks on purpose to
 * prove that the detector catches them.
 */
struct wake {
	struct test_ring tr;
	uint32_t rounds;
	uint32_t max_burst;
	uint32_t drop_kick_every;	/* 0: never; else every n-th kick */
	int stuck_ms;
	uint64_t seed;
	int kick_fd, irq_fd;
	int stop;		/* front-end done, or back-end failed */
	struct side_stats fe, be;
	uint64_t dropped;
	char fe_msg[160], be_msg[160];	/* non-empty: that side failed */
};

/* Random pause: nothing, a spin, a yield, or a short sleep. */
static void wake_pause(uint64_t *rng)
{
	uint32_t r = rnd(rng) % 16;

	if (r < 6)
		return;
	if (r < 12)
		spin(rnd(rng) % 2000);
	else if (r < 14)
		sched_yield();
	else
		usleep(rnd(rng) % 50);
}

static bool wake_stopped(struct wake *w)
{
	return __atomic_load_n(&w->stop, __ATOMIC_ACQUIRE);
}

/*
 * Sleep on @fd after final_check said we may; count a timeout with work
 * pending (@pending re-checks the ring) as a lost wake-up.
 */
static void wake_sleep(struct wake *w, struct side_stats *st, int fd,
		       struct pvkit_ring *r,
		       int (*pending)(struct pvkit_ring *r))
{
	int ret;

	st->sleeps++;
	ret = evt_wait(fd, w->stuck_ms);
	if (ret == -ETIMEDOUT && pending(r) > 0)
		st->stuck++;
}

static void *wake_backend(void *arg)
{
	struct wake *w = arg;
	struct pvkit_ring *r = &w->tr.be;
	uint64_t rng = w->seed ^ 0xbeef, expect = 0;
	struct msg m;
	int n;

	while (!wake_stopped(w)) {
		n = pvkit_ring_req_avail(r);
		if (!n) {
			w->be.final_checks++;
			n = pvkit_ring_final_check_req(r);
			if (!n) {
				wake_pause(&rng);	/* widen the window */
				wake_sleep(w, &w->be, w->kick_fd, r,
					   pvkit_ring_req_avail);
				continue;
			}
		}
		if (n < 0) {
			snprintf(w->be_msg, sizeof(w->be_msg),
				 "req_avail %d", n);
			break;
		}
		/* answer a random part now, the rest on the next pass */
		n = rnd_range(&rng, n);
		while (n--) {
			pvkit_ring_get_req(r, &m, sizeof(m));
			if (m.seq != expect || m.sum != mix(expect)) {
				snprintf(w->be_msg, sizeof(w->be_msg),
					 "request %" PRIu64 ": seq %" PRIu64,
					 expect, m.seq);
				goto out;
			}
			expect++;
			m.sum ^= RSP_XOR;
			pvkit_ring_put_rsp(r, &m, sizeof(m));
		}
		wake_pause(&rng);
		w->be.pushes++;
		if (pvkit_ring_push_rsps(r)) {
			w->be.notifies++;
			wake_pause(&rng);	/* late irq */
			evt_signal(w->irq_fd);
		} else {
			w->be.suppressed++;
		}
	}
out:
	if (w->be_msg[0])
		__atomic_store_n(&w->stop, 1, __ATOMIC_RELEASE);
	return NULL;
}

/*
 * Take the responses there are; if there are none, final_check and sleep.
 * Returns -EPROTO or -EBADMSG on a bad ring or response.
 */
static int wake_collect(struct wake *w, uint64_t *rcvd)
{
	struct pvkit_ring *r = &w->tr.fe;
	struct msg m;
	int n;

	n = pvkit_ring_rsp_avail(r);
	if (!n) {
		w->fe.final_checks++;
		n = pvkit_ring_final_check_rsp(r);
		if (!n) {
			wake_sleep(w, &w->fe, w->irq_fd, r,
				   pvkit_ring_rsp_avail);
			return 0;
		}
	}
	if (n < 0) {
		snprintf(w->fe_msg, sizeof(w->fe_msg), "rsp_avail %d", n);
		return n;
	}
	for (; n > 0; n--, (*rcvd)++) {
		pvkit_ring_get_rsp(r, &m, sizeof(m));
		if (m.seq != *rcvd || m.sum != (mix(*rcvd) ^ RSP_XOR)) {
			snprintf(w->fe_msg, sizeof(w->fe_msg),
				 "response %" PRIu64 ": seq %" PRIu64, *rcvd,
				 m.seq);
			return -EBADMSG;
		}
	}
	return 0;
}

/* Front-end: runs in the test's main thread. */
static void wake_frontend(struct wake *w)
{
	struct pvkit_ring *r = &w->tr.fe;
	uint64_t rng = w->seed, sent = 0, rcvd = 0, kicks = 0;
	uint32_t round, burst, room, n, i;
	struct msg m;

	for (round = 0; round < w->rounds && !wake_stopped(w); round++) {
		burst = rnd_range(&rng, w->max_burst);
		/* send the burst in random sub-batches, with pauses */
		while (burst && !wake_stopped(w)) {
			room = pvkit_ring_free_reqs(r);
			if (!room) {
				if (wake_collect(w, &rcvd))
					return;
				continue;
			}
			n = rnd_range(&rng, burst < room ? burst : room);
			for (i = 0; i < n; i++, sent++, burst--) {
				m.seq = sent;
				m.sum = mix(sent);
				pvkit_ring_put_req(r, &m, sizeof(m));
			}
			wake_pause(&rng);
			w->fe.pushes++;
			if (!pvkit_ring_push_reqs(r)) {
				w->fe.suppressed++;
				continue;
			}
			w->fe.notifies++;
			wake_pause(&rng);	/* late kick */
			if (w->drop_kick_every &&
			    ++kicks % w->drop_kick_every == 0)
				w->dropped++;
			else
				evt_signal(w->kick_fd);
		}
		/* end of round: wait for every response */
		while (rcvd < sent && !wake_stopped(w))
			if (wake_collect(w, &rcvd))
				return;
		wake_pause(&rng);
	}
}

FIXTURE(wakeup) {
	struct wake w;
};

FIXTURE_VARIANT(wakeup) {
	uint32_t rounds;
	uint32_t slots;
	uint32_t drop_kick_every;
	int stuck_ms;
	bool expect_stuck;
};

FIXTURE_VARIANT_ADD(wakeup, s8) {
	.rounds = 20000, .slots = 8, .stuck_ms = STUCK_MS,
};

FIXTURE_VARIANT_ADD(wakeup, s2) {
	.rounds = 20000, .slots = 2, .stuck_ms = STUCK_MS,
};

/* negative control: a producer that skips some kicks must be caught */
FIXTURE_VARIANT_ADD(wakeup, broken_producer) {
	.rounds = 300, .slots = 8, .drop_kick_every = 50, .stuck_ms = 100,
	.expect_stuck = true,
};

FIXTURE_SETUP(wakeup)
{
	struct wake *w = &self->w;

	w->rounds = variant->rounds;
	if (!variant->expect_stuck)
		w->rounds /= RING_SCALE_DIV;
	w->max_burst = 3 * variant->slots;
	w->drop_kick_every = variant->drop_kick_every;
	w->stuck_ms = variant->stuck_ms;
	w->seed = ring_seed();
	ASSERT_EQ(0, test_ring_init(&w->tr, variant->slots, 16, 16));
	w->kick_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	w->irq_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	ASSERT_LE(0, w->kick_fd);
	ASSERT_LE(0, w->irq_fd);
}

FIXTURE_TEARDOWN(wakeup)
{
	if (self->w.kick_fd > 0)
		close(self->w.kick_fd);
	if (self->w.irq_fd > 0)
		close(self->w.irq_fd);
	test_ring_free(&self->w.tr);
}

TEST_F_TIMEOUT(wakeup, never_lost, 120)
{
	struct wake *w = &self->w;
	double t0 = now_sec();
	pthread_t be;

	ASSERT_EQ(0, pthread_create(&be, NULL, wake_backend, w));
	wake_frontend(w);
	__atomic_store_n(&w->stop, 1, __ATOMIC_RELEASE);
	evt_signal(w->kick_fd);
	ASSERT_EQ(0, pthread_join(be, NULL));

	if (w->fe_msg[0])
		TH_LOG("front-end: %s", w->fe_msg);
	if (w->be_msg[0])
		TH_LOG("back-end: %s", w->be_msg);
	ASSERT_EQ(0, w->fe_msg[0] | w->be_msg[0]);

	report("wakeup: %u rounds in %.2f s, seed %#" PRIx64
		       "; fe sleeps %" PRIu64 " kicks %" PRIu64
		       " suppressed %" PRIu64 "; be sleeps %" PRIu64
		       " irqs %" PRIu64 " suppressed %" PRIu64
		       "; stuck fe %" PRIu64 " be %" PRIu64
		       ", kicks dropped %" PRIu64 "\n",
		       w->rounds, now_sec() - t0, w->seed, w->fe.sleeps,
		       w->fe.notifies, w->fe.suppressed, w->be.sleeps,
		       w->be.notifies, w->be.suppressed, w->fe.stuck,
		       w->be.stuck, w->dropped);

	if (variant->expect_stuck) {
		/* the detector works: dropped kicks were noticed */
		EXPECT_LT(0U, w->dropped);
		EXPECT_LT(0U, w->be.stuck);
		return;
	}
	EXPECT_EQ(0U, w->fe.stuck);
	EXPECT_EQ(0U, w->be.stuck);
	/* the sleep paths were really exercised */
	EXPECT_LT(w->rounds / 10, w->be.sleeps);
	EXPECT_LT(w->rounds / 10, w->fe.sleeps);
	EXPECT_LT(0U, w->fe.suppressed + w->be.suppressed);
}

/* ------------------------------------- store-buffering litmus test --- */

/*
 * The event-index handshake is the classic store-buffering pattern:
 *
 *   producer: store req_prod;  mb; load req_event   (push_reqs)
 *   consumer: store req_event; mb; load req_prod    (final_check_req)
 *
 * Without the two full barriers a CPU may satisfy each load before its
 * own store is visible (x86 does, through its store buffer), both sides
 * see stale values, no kick is sent and the consumer sleeps on a request:
 * a lost wake-up.  Here both threads meet at a spin barrier and then run
 * their half at the same instant, many times over, with a little random
 * skew; the outcome (no kick, final_check == 0) must never happen.  The
 * same for responses.  With pvkit_ring_mb() reduced to a compiler barrier
 * about one round in ten loses a wake-up on x86.
 */
struct spin_barrier {
	unsigned int count;
	unsigned int gen;
};

/* Two-party barrier; yields when the peer is slow (descheduled). */
static void barrier_wait(struct spin_barrier *b)
{
	unsigned int gen = __atomic_load_n(&b->gen, __ATOMIC_ACQUIRE);
	unsigned int spins = 0;

	if (__atomic_add_fetch(&b->count, 1, __ATOMIC_ACQ_REL) == 2) {
		__atomic_store_n(&b->count, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&b->gen, gen + 1, __ATOMIC_RELEASE);
		return;
	}
	while (__atomic_load_n(&b->gen, __ATOMIC_ACQUIRE) == gen)
		if (++spins % 64 == 0)
			sched_yield();
}

struct litmus {
	struct test_ring tr;
	struct spin_barrier bar;
	uint32_t rounds;	/* at most; fewer if the time budget runs out */
	double deadline;
	uint64_t seed;
	/* written by one side before a barrier, read by the other after */
	bool done, kick, irq;
	/* results, read after join */
	uint64_t lost_kicks, lost_irqs, kicks, irqs, both_req, both_rsp;
	char be_msg[128];
};

static void *litmus_backend(void *arg)
{
	struct litmus *l = arg;
	struct pvkit_ring *r = &l->tr.be;
	uint64_t rng = l->seed ^ 0x5eed;
	struct msg m = { 0, 0 };
	uint32_t i;
	int seen;

	for (i = 0;; i++) {
		/* phase 1: front-end pushes a request, we final_check */
		barrier_wait(&l->bar);
		if (l->done)
			break;
		spin(rnd(&rng) % 32);
		seen = pvkit_ring_final_check_req(r);
		barrier_wait(&l->bar);
		if (!l->kick && seen == 0)
			l->lost_kicks++;
		if (l->kick && seen > 0)
			l->both_req++;
		if (pvkit_ring_req_avail(r) != 1) {
			snprintf(l->be_msg, sizeof(l->be_msg),
				 "round %u: req_avail %d", i,
				 pvkit_ring_req_avail(r));
			/* keep meeting the barriers so the peer finishes */
		} else {
			pvkit_ring_get_req(r, &m, sizeof(m));
		}

		/* phase 2: we push a response, front-end final_checks */
		barrier_wait(&l->bar);
		spin(rnd(&rng) % 32);
		if (!pvkit_ring_put_rsp(r, &m, sizeof(m)))
			l->irq = pvkit_ring_push_rsps(r);
		barrier_wait(&l->bar);
	}
	return NULL;
}

static void litmus_frontend(struct litmus *l)
{
	struct pvkit_ring *r = &l->tr.fe;
	uint64_t rng = l->seed;
	struct msg m = { 0, 0 };
	uint32_t i;
	int seen;

	for (i = 0;; i++) {
		/* a loaded machine gets fewer rounds, not a timeout */
		if (i == l->rounds ||
		    (i % 1024 == 0 && now_sec() > l->deadline))
			l->done = true;
		barrier_wait(&l->bar);
		if (l->done)
			break;
		spin(rnd(&rng) % 32);
		m.seq = i;
		pvkit_ring_put_req(r, &m, sizeof(m));
		l->kick = pvkit_ring_push_reqs(r);
		barrier_wait(&l->bar);
		l->kicks += l->kick;

		barrier_wait(&l->bar);
		spin(rnd(&rng) % 32);
		seen = pvkit_ring_final_check_rsp(r);
		barrier_wait(&l->bar);
		if (!l->irq && seen == 0)
			l->lost_irqs++;
		if (l->irq && seen > 0)
			l->both_rsp++;
		l->irqs += l->irq;
		if (pvkit_ring_rsp_avail(r) == 1)
			pvkit_ring_get_rsp(r, &m, sizeof(m));
	}
	l->rounds = i;
}

FIXTURE(litmus) {
	struct litmus l;
};

FIXTURE_SETUP(litmus)
{
	self->l.rounds = 250000 / RING_SCALE_DIV;
	self->l.seed = ring_seed();
	ASSERT_EQ(0, test_ring_init(&self->l.tr, 4, 16, 16));
}

FIXTURE_TEARDOWN(litmus)
{
	test_ring_free(&self->l.tr);
}

TEST_F_TIMEOUT(litmus, store_buffering, 120)
{
	struct litmus *l = &self->l;
	double t0 = now_sec();
	pthread_t be;

	l->deadline = t0 + 15;
	ASSERT_EQ(0, pthread_create(&be, NULL, litmus_backend, l));
	litmus_frontend(l);
	ASSERT_EQ(0, pthread_join(be, NULL));
	if (l->be_msg[0])
		TH_LOG("back-end: %s", l->be_msg);
	ASSERT_EQ(0, l->be_msg[0]);

	report("litmus: %u rounds in %.2f s, seed %#" PRIx64 ": kicks %"
	       PRIu64 ", irqs %" PRIu64 "; both sides saw each other: req %"
	       PRIu64 ", rsp %" PRIu64 "; lost kicks %" PRIu64
	       ", lost irqs %" PRIu64 "\n", l->rounds, now_sec() - t0,
	       l->seed, l->kicks, l->irqs, l->both_req, l->both_rsp,
	       l->lost_kicks, l->lost_irqs);
	/* neither outcome that needs overlap: the halves never ran at once */
	if (!l->both_req && !l->both_rsp && !l->lost_kicks && !l->lost_irqs)
		TH_LOG("no overlapping rounds (machine busy?): inconclusive");
	EXPECT_EQ(0U, l->lost_kicks);
	EXPECT_EQ(0U, l->lost_irqs);
}

/* ------------------------------------------------- hostile indices --- */

enum { HOSTILE_REQ_PROD, HOSTILE_RSP_PROD };

/*
 * Bring an honest ring to a state (queued/pushed/consumed/answered/seen
 * requests from @base), then let the peer overwrite one shared producer
 * index with its consumer's index + @delta, and check what the consumer's
 * *_avail() and final_check_*() make of it.
 */
FIXTURE(hostile) {
	struct test_ring tr;
};

FIXTURE_VARIANT(hostile) {
	uint32_t base;
	uint32_t queued;		/* requests the front-end put */
	uint32_t pushed;		/* ... and published */
	uint32_t consumed;		/* ... the back-end took */
	uint32_t answered;		/* ... and answered (published) */
	uint32_t seen;		/* responses the front-end took */
	int which;		/* HOSTILE_* index overwritten */
	int64_t delta;		/* from the victim's consumer index */
	int want;		/* *_avail() result */
};

#define HSLOTS 8

/* back-end side: req_prod from a hostile front-end */
FIXTURE_VARIANT_ADD(hostile, req_prod_slots_plus_1) {
	.which = HOSTILE_REQ_PROD, .delta = HSLOTS + 1, .want = -EPROTO,
};
FIXTURE_VARIANT_ADD(hostile, req_prod_behind_cons) {
	.queued = 3, .pushed = 3, .consumed = 3,
	.which = HOSTILE_REQ_PROD, .delta = -1, .want = -EPROTO,
};
FIXTURE_VARIANT_ADD(hostile, req_prod_half_space) {
	.which = HOSTILE_REQ_PROD, .delta = 0x80000000LL, .want = -EPROTO,
};
FIXTURE_VARIANT_ADD(hostile, req_prod_full_ring_ok) {
	.which = HOSTILE_REQ_PROD, .delta = HSLOTS, .want = HSLOTS,
};
FIXTURE_VARIANT_ADD(hostile, req_prod_unchanged) {
	.queued = 2, .pushed = 2, .consumed = 2, .answered = 2,
	.which = HOSTILE_REQ_PROD, .delta = 0, .want = 0,
};
/* 3 consumed, unanswered: a "full" republish may only yield 5 more */
FIXTURE_VARIANT_ADD(hostile, req_prod_capped_by_in_flight) {
	.queued = 5, .pushed = 5, .consumed = 5, .answered = 2,
	.which = HOSTILE_REQ_PROD, .delta = HSLOTS, .want = HSLOTS - 3,
};
FIXTURE_VARIANT_ADD(hostile, req_prod_all_in_flight) {
	.queued = HSLOTS, .pushed = HSLOTS, .consumed = HSLOTS,
	.which = HOSTILE_REQ_PROD, .delta = HSLOTS, .want = 0,
};
FIXTURE_VARIANT_ADD(hostile, req_prod_slots_plus_1_wrap) {
	.base = 0xfffffffc, .queued = 2, .pushed = 2, .consumed = 2,
	.which = HOSTILE_REQ_PROD, .delta = HSLOTS + 1, .want = -EPROTO,
};
FIXTURE_VARIANT_ADD(hostile, req_prod_behind_wrap) {
	.base = 0xfffffffe, .queued = 4, .pushed = 4, .consumed = 4,
	.answered = 4, .which = HOSTILE_REQ_PROD, .delta = -1,
	.want = -EPROTO,
};

/* front-end side: rsp_prod from a hostile back-end */
FIXTURE_VARIANT_ADD(hostile, rsp_prod_beyond_outstanding) {
	.queued = 4, .pushed = 4, .consumed = 4, .answered = 4,
	.which = HOSTILE_RSP_PROD, .delta = 5, .want = -EPROTO,
};
FIXTURE_VARIANT_ADD(hostile, rsp_prod_all_outstanding_ok) {
	.queued = 4, .pushed = 4, .consumed = 4, .answered = 1,
	.which = HOSTILE_RSP_PROD, .delta = 4, .want = 4,
};
FIXTURE_VARIANT_ADD(hostile, rsp_prod_nothing_outstanding) {
	.which = HOSTILE_RSP_PROD, .delta = 1, .want = -EPROTO,
};
FIXTURE_VARIANT_ADD(hostile, rsp_prod_behind_cons) {
	.queued = 4, .pushed = 4, .consumed = 4, .answered = 4, .seen = 4,
	.which = HOSTILE_RSP_PROD, .delta = -1, .want = -EPROTO,
};
/* requests queued but never pushed: the back-end cannot have seen them */
FIXTURE_VARIANT_ADD(hostile, rsp_prod_answers_unpushed) {
	.queued = 6, .pushed = 4, .consumed = 4, .answered = 4,
	.which = HOSTILE_RSP_PROD, .delta = 5, .want = -EPROTO,
};
FIXTURE_VARIANT_ADD(hostile, rsp_prod_half_space) {
	.queued = 4, .pushed = 4,
	.which = HOSTILE_RSP_PROD, .delta = 0x80000000LL, .want = -EPROTO,
};
FIXTURE_VARIANT_ADD(hostile, rsp_prod_beyond_wrap) {
	.base = 0xfffffffd, .queued = 8, .pushed = 8, .consumed = 8,
	.answered = 8, .seen = 2,
	.which = HOSTILE_RSP_PROD, .delta = 7, .want = -EPROTO,
};

FIXTURE_SETUP(hostile)
{
	struct pvkit_ring *fe = &self->tr.fe, *be = &self->tr.be;
	struct msg m = { 0, 0 };
	uint32_t i;

	ASSERT_EQ(0, test_ring_init(&self->tr, HSLOTS, 16, 16));
	test_ring_set_base(&self->tr, variant->base);

	/* honest history */
	for (i = 0; i < variant->queued; i++) {
		ASSERT_EQ(0, pvkit_ring_put_req(fe, &m, sizeof(m)));
		if (i + 1 == variant->pushed)
			pvkit_ring_push_reqs(fe);
	}
	ASSERT_LE(variant->consumed, (uint32_t)pvkit_ring_req_avail(be));
	for (i = 0; i < variant->consumed; i++)
		pvkit_ring_get_req(be, &m, sizeof(m));
	for (i = 0; i < variant->answered; i++)
		ASSERT_EQ(0, pvkit_ring_put_rsp(be, &m, sizeof(m)));
	pvkit_ring_push_rsps(be);
	ASSERT_LE(variant->seen, (uint32_t)pvkit_ring_rsp_avail(fe));
	for (i = 0; i < variant->seen; i++)
		pvkit_ring_get_rsp(fe, &m, sizeof(m));
}

FIXTURE_TEARDOWN(hostile)
{
	test_ring_free(&self->tr);
}

TEST_F_TIMEOUT(hostile, avail, 10)
{
	struct pvkit_ring *fe = &self->tr.fe, *be = &self->tr.be;
	uint32_t forged;

	if (variant->which == HOSTILE_REQ_PROD) {
		forged = be->req_cons + (uint32_t)variant->delta;
		pvkit_ring_write(&be->hdr->req_prod, forged);
		EXPECT_EQ(variant->want, pvkit_ring_req_avail(be));
		EXPECT_EQ(variant->want, pvkit_ring_final_check_req(be));
		/* final_check asked for the next index, forged or not */
		EXPECT_EQ(be->req_cons, pvkit_ring_read(&be->hdr->req_event));
	} else {
		forged = fe->rsp_cons + (uint32_t)variant->delta;
		pvkit_ring_write(&fe->hdr->rsp_prod, forged);
		EXPECT_EQ(variant->want, pvkit_ring_rsp_avail(fe));
		EXPECT_EQ(variant->want, pvkit_ring_final_check_rsp(fe));
		EXPECT_EQ(fe->rsp_cons, pvkit_ring_read(&fe->hdr->rsp_event));
	}
	/* a rejected index consumed nothing */
	EXPECT_EQ(variant->base + variant->consumed, be->req_cons);
	EXPECT_EQ(variant->base + variant->seen, fe->rsp_cons);
}

/* ---------------------------------------- misuse and bad geometry --- */

TEST(put_rsp_without_request)
{
	struct test_ring tr;
	struct msg m = { 1, 2 };

	ASSERT_EQ(0, test_ring_init(&tr, 4, 16, 16));
	EXPECT_EQ(-EINVAL, pvkit_ring_put_rsp(&tr.be, &m, sizeof(m)));
	/* published but not consumed is not enough */
	ASSERT_EQ(0, pvkit_ring_put_req(&tr.fe, &m, sizeof(m)));
	pvkit_ring_push_reqs(&tr.fe);
	EXPECT_EQ(-EINVAL, pvkit_ring_put_rsp(&tr.be, &m, sizeof(m)));
	ASSERT_EQ(1, pvkit_ring_req_avail(&tr.be));
	pvkit_ring_get_req(&tr.be, &m, sizeof(m));
	EXPECT_EQ(0, pvkit_ring_put_rsp(&tr.be, &m, sizeof(m)));
	/* one answer per consumed request */
	EXPECT_EQ(-EINVAL, pvkit_ring_put_rsp(&tr.be, &m, sizeof(m)));
	EXPECT_EQ(1U, tr.be.rsp_prod_pvt);
	test_ring_free(&tr);
}

TEST(put_req_full_ring)
{
	struct test_ring tr;
	struct msg m = { 0, 0 };
	uint32_t i;

	ASSERT_EQ(0, test_ring_init(&tr, 4, 16, 16));
	for (i = 0; i < 4; i++)
		ASSERT_EQ(0, pvkit_ring_put_req(&tr.fe, &m, sizeof(m)));
	EXPECT_EQ(-ENOSPC, pvkit_ring_put_req(&tr.fe, &m, sizeof(m)));
	pvkit_ring_push_reqs(&tr.fe);
	/* consumed is not free: the slot is held until answered and seen */
	ASSERT_EQ(4, pvkit_ring_req_avail(&tr.be));
	for (i = 0; i < 4; i++)
		pvkit_ring_get_req(&tr.be, &m, sizeof(m));
	EXPECT_EQ(-ENOSPC, pvkit_ring_put_req(&tr.fe, &m, sizeof(m)));
	ASSERT_EQ(0, pvkit_ring_put_rsp(&tr.be, &m, sizeof(m)));
	pvkit_ring_push_rsps(&tr.be);
	EXPECT_EQ(-ENOSPC, pvkit_ring_put_req(&tr.fe, &m, sizeof(m)));
	ASSERT_EQ(1, pvkit_ring_rsp_avail(&tr.fe));
	pvkit_ring_get_rsp(&tr.fe, &m, sizeof(m));
	EXPECT_EQ(1U, pvkit_ring_free_reqs(&tr.fe));
	EXPECT_EQ(0, pvkit_ring_put_req(&tr.fe, &m, sizeof(m)));
	EXPECT_EQ(-ENOSPC, pvkit_ring_put_req(&tr.fe, &m, sizeof(m)));
	test_ring_free(&tr);
}

TEST(oversized_put)
{
	struct test_ring tr;
	uint8_t buf[64] = { 0 };

	ASSERT_EQ(0, test_ring_init(&tr, 4, 16, 8));
	EXPECT_EQ(-EINVAL, pvkit_ring_put_req(&tr.fe, buf, 17));
	EXPECT_EQ(0U, tr.fe.req_prod_pvt);
	ASSERT_EQ(0, pvkit_ring_put_req(&tr.fe, buf, 16));
	pvkit_ring_push_reqs(&tr.fe);
	ASSERT_EQ(1, pvkit_ring_req_avail(&tr.be));
	pvkit_ring_get_req(&tr.be, buf, sizeof(buf));
	EXPECT_EQ(-EINVAL, pvkit_ring_put_rsp(&tr.be, buf, 9));
	EXPECT_EQ(0U, tr.be.rsp_prod_pvt);
	EXPECT_EQ(0, pvkit_ring_put_rsp(&tr.be, buf, 8));
	test_ring_free(&tr);
}

static const struct {
	uint32_t slots, req_size, rsp_size;
	bool ok;
} geometry_cases[] = {
	{ 2, 8, 8, true },
	{ 64, 16, 16, true },
	{ 4096, 4096, 4096, true },
	{ 1024, 128, 16, true },
	{ 0, 16, 16, false },
	{ 1, 16, 16, false },
	{ 3, 16, 16, false },
	{ 6, 16, 16, false },
	{ 4095, 16, 16, false },
	{ 8192, 16, 16, false },
	{ 0x80000000u, 16, 16, false },
	{ 0xffffffffu, 16, 16, false },
	{ 64, 0, 16, false },
	{ 64, 4, 16, false },
	{ 64, 12, 16, false },
	{ 64, 4097, 16, false },
	{ 64, 4104, 16, false },
	{ 64, 0xfffffff8u, 16, false },
	{ 64, 16, 0, false },
	{ 64, 16, 20, false },
	{ 64, 16, 8192, false },
	{ 64, 16, 0xfffffff8u, false },
};

TEST(geometry)
{
	unsigned int i, bad = 0;
	struct pvkit_ring r;
	uint8_t mem[512];

	for (i = 0; i < ARRAY_LEN(geometry_cases); i++) {
		uint32_t s = geometry_cases[i].slots;
		uint32_t q = geometry_cases[i].req_size;
		uint32_t p = geometry_cases[i].rsp_size;
		bool ok = pvkit_ring_geometry_ok(s, q, p);

		if (ok != geometry_cases[i].ok) {
			TH_LOG("geometry_ok(%u, %u, %u) = %d", s, q, p, ok);
			bad++;
		}
		/* attach only checks; it must refuse exactly the same */
		if (!geometry_cases[i].ok &&
		    pvkit_ring_attach(&r, mem, s, q, p) != -EINVAL) {
			TH_LOG("attach(%u, %u, %u) accepted", s, q, p);
			bad++;
		}
	}
	EXPECT_EQ(0U, bad);
	/*
	 * The largest legal ring (32 MiB + 256) must not overflow 32 bits.
	 * ring_bytes() is only meaningful for a geometry that passed
	 * geometry_ok(): with three arbitrary u32s it can wrap 64 bits.
	 */
	EXPECT_EQ(256ULL + 2ULL * 4096 * 4096,
		  pvkit_ring_bytes(4096, 4096, 4096));
}

/* ------------------------------------------ copy, then validate --- */

/*
 * A consumer's copy must not change when the producer scribbles on the
 * slot afterwards, and the copy length must be clamped to the slot.
 */
TEST(copy_is_stable)
{
	struct test_ring tr;
	struct pvkit_ring *fe = &tr.fe, *be = &tr.be;
	uint8_t src[64], dst[96], *slot;
	unsigned int i;

	ASSERT_EQ(0, test_ring_init(&tr, 4, 64, 32));
	for (i = 0; i < sizeof(src); i++)
		src[i] = i + 1;

	/* request side */
	ASSERT_EQ(0, pvkit_ring_put_req(fe, src, sizeof(src)));
	pvkit_ring_push_reqs(fe);
	slot = fe->req;
	ASSERT_EQ(1, pvkit_ring_req_avail(be));
	memset(dst, 0xee, sizeof(dst));
	pvkit_ring_get_req(be, dst, sizeof(dst));	/* asks for too much */
	memset(slot, 0xff, 64);				/* hostile rewrite */
	EXPECT_EQ(0, memcmp(dst, src, 64));
	for (i = 64; i < sizeof(dst); i++)
		ASSERT_EQ(0xee, dst[i]);	/* clamped to req_size */

	/* response side, shorter copy than the slot */
	ASSERT_EQ(0, pvkit_ring_put_rsp(be, src, 32));
	pvkit_ring_push_rsps(be);
	slot = be->rsp;
	ASSERT_EQ(1, pvkit_ring_rsp_avail(fe));
	memset(dst, 0xee, sizeof(dst));
	pvkit_ring_get_rsp(fe, dst, 10);
	memset(slot, 0xff, 32);
	EXPECT_EQ(0, memcmp(dst, src, 10));
	for (i = 10; i < sizeof(dst); i++)
		ASSERT_EQ(0xee, dst[i]);
	test_ring_free(&tr);
}

/* A short put zero-fills the rest of the slot: no stale data leaks. */
TEST(short_put_zero_fills)
{
	struct test_ring tr;
	uint8_t src[5] = { 1, 2, 3, 4, 5 }, *slot, one = 0x5a;
	unsigned int i;

	ASSERT_EQ(0, test_ring_init(&tr, 2, 64, 24));
	slot = tr.fe.req;
	memset(slot, 0xab, 64);
	ASSERT_EQ(0, pvkit_ring_put_req(&tr.fe, src, sizeof(src)));
	EXPECT_EQ(0, memcmp(slot, src, sizeof(src)));
	for (i = sizeof(src); i < 64; i++)
		ASSERT_EQ(0, slot[i]);

	pvkit_ring_push_reqs(&tr.fe);
	ASSERT_EQ(1, pvkit_ring_req_avail(&tr.be));
	pvkit_ring_get_req(&tr.be, &one, 0);	/* zero-length copy */
	slot = tr.be.rsp;
	memset(slot, 0xab, 24);
	ASSERT_EQ(0, pvkit_ring_put_rsp(&tr.be, src, 3));
	for (i = 3; i < 24; i++)
		ASSERT_EQ(0, slot[i]);
	EXPECT_EQ(0x5a, one);
	/* the header padding is untouched by all of the above */
	for (i = 0; i < sizeof(tr.fe.hdr->pad0); i++)
		ASSERT_EQ(0, tr.fe.hdr->pad0[i]);
	test_ring_free(&tr);
}

TEST_HARNESS_MAIN
