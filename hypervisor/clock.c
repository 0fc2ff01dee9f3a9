// SPDX-License-Identifier: GPL-2.0-only
/*
 * The paravirt clock (PVKIT_DEV_CLOCK), served inside pvkit-hv: pvkit-hv
 * owns the guest RAM the clock area lives in, knows when QEMU pauses,
 * and can ask QEMU for its vCPU threads (steal time).
 *
 * The guest builds its TSC-to-host-time mapping from exchanges (clock.h):
 * it stores req_seq in its registered page and spins until the host has
 * stored resp_seq, reading its TSC before and after; the host reads its
 * clocks between seeing req_seq and storing resp_seq.  The error of a
 * sample is half the guest's round trip, so the host side must see the
 * store within about a microsecond and answer on a cache line.  An epoll
 * loop woken through an ivshmem doorbell eventfd cannot (tens of µs, and
 * asymmetric: the wake-up latency lands before the host's reading, which
 * biases every sample rather than widening it).  So each clock device has
 * ONE responder thread, the only thread of pvkit-hv besides its loop.  It
 * sleeps on a condition variable until the main loop arms it for a WINDOW
 * the guest asked for (rate-limited), spins for at most window_us or the
 * exchanges asked for, and sleeps again.  It touches nothing but the
 * exchange slot of the area and its own atomics; the main loop never
 * changes the area pointer while it spins (clk_disarm() waits for it to
 * leave the window), and writes the info and steal[] (other cache lines)
 * itself under the area's seqlock.
 *
 * The generation is the config's one live field (ABI.md 6.2): it goes up
 * when guest time stopped against host time (a resume, through `pvkit
 * resume` or a pause seen by polling QMP), in place like the balloon's
 * target.
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timex.h>
#include <time.h>
#include <unistd.h>

#include <pvkit-host/bequeue.h>
#include <pvkit-host/json.h>
#include <pvkit-host/log.h>

#include "include/clk.h"
#include "include/dev.h"
#include "include/hv.h"
#include "include/kind.h"
#include "include/qemu.h"

#define CLK_SLOTS		16	/* a control request per WINDOW: few */
#define CLK_TID_TRIES		20	/* query-cpus-fast attempts */
#define CLK_TID_RETRY_MS	1000
#define CLK_QMP_TIMEOUT_MS	200	/* the main loop waits at most this */
#define CLK_QMP_BACKOFF_MS	5000	/* after a QMP timeout */
#define CLK_ARM_WAIT_MS		100	/* the responder wakes well within */
#define CLK_LOG_INTERVAL_MS	10000
#define CLK_LOG_BURST		5

struct clk_dev {
	struct clk_opts co;

	/* --- shared with the responder --- */
	pthread_t thr;
	bool thr_started;
	pthread_mutex_t mu;
	pthread_cond_t cv;	/* to the responder: armed, or quit */
	pthread_cond_t done_cv;	/* from it: entered or left a window */
	bool armed;		/* mu: a window is asked for */
	bool busy;		/* mu: the responder is in a window */
	bool quit;		/* mu */
	struct pvkit_clock_area *area;	/* mu; changed only while idle */
	uint64_t x_window_ns;	/* mu: the window asked for */
	/* atomics: the live window, read while spinning */
	uint64_t x_deadline_ns;
	uint32_t x_left;
	int cancel;
	uint32_t generation;	/* the config's, host order */
	uint64_t answered;	/* exchanges answered, ever */
	uint64_t win_spun_ns;	/* time spent in windows, ever */

	/* --- main loop only --- */
	uint64_t area_gpa;
	struct clk_bucket bucket;
	uint64_t setups, windows, busy_answers, refused;
	uint32_t info_version;	/* private: the guest may scribble its copy */
	uint64_t info_updates;
	uint64_t next_info_ms;
	/* steal: QEMU's vCPU threads */
	pid_t tids[PVKIT_CLOCK_MAX_VCPUS];
	unsigned int nr_tids;
	unsigned int tid_tries;
	uint64_t tid_next_ms;
	struct pvkit_clock_steal steal[PVKIT_CLOCK_MAX_VCPUS];	/* host order */
	unsigned int nr_steal;
	uint64_t steal_errors;
	/* pauses not done through pvkit: QMP query-status */
	uint64_t status_next_ms;
	bool saw_paused;
	uint64_t bumps;
	struct log_ratelimit rl;
};

static struct clk_dev *clk(struct dev *d)
{
	return d->priv;
}

static struct pvkit_clock_config *clk_config(struct dev *d)
{
	return (struct pvkit_clock_config *)d->config;
}

/* ------------------------------------------------------- pure helpers --- */

int clk_opts_parse(const char *spec, struct clk_opts *co, char *err,
		   size_t errlen)
{
	char buf[HV_SPEC_MAX], *tok, *rest = buf;
	bool first = true;

	memset(co, 0, sizeof(*co));
	co->features = PVKIT_CLOCK_F_KNOWN;
	co->rate = CLK_DEFAULT_RATE;
	co->window_us = CLK_DEFAULT_WINDOW_US;
	co->xchg = CLK_DEFAULT_XCHG;
	if (strlen(spec) >= sizeof(buf)) {
		snprintf(err, errlen, "longer than %zu bytes", sizeof(buf) - 1);
		return -EINVAL;
	}
	strcpy(buf, spec);
	while ((tok = strsep(&rest, ","))) {
		if (first) {
			first = false;
			if (!strcmp(tok, "on")) {
				co->on = true;
				continue;
			}
			if (!strcmp(tok, "off")) {
				if (rest)
					goto syntax;	/* options of nothing */
				return 0;
			}
			goto syntax;
		}
		if (!strcmp(tok, "steal=off")) {
			co->features &= ~PVKIT_CLOCK_F_STEAL;
		} else if (!strncmp(tok, "rate=", 5)) {
			if (opts_uint(tok + 5, 1, CLK_MAX_RATE, &co->rate))
				goto syntax;
		} else if (!strncmp(tok, "window-us=", 10)) {
			if (opts_uint(tok + 10, CLK_MIN_WINDOW_US,
				      PVKIT_CLOCK_WINDOW_MAX_US, &co->window_us))
				goto syntax;
		} else if (!strncmp(tok, "xchg=", 5)) {
			if (opts_uint(tok + 5, 1, PVKIT_CLOCK_MAX_XCHG,
				      &co->xchg))
				goto syntax;
		} else {
			goto syntax;
		}
	}
	return 0;
syntax:
	snprintf(err, errlen, "'%s': expected on|off[,steal=off][,rate=1..%d][,window-us=%d..%d][,xchg=1..%d]",
		 spec, CLK_MAX_RATE, CLK_MIN_WINDOW_US,
		 PVKIT_CLOCK_WINDOW_MAX_US, PVKIT_CLOCK_MAX_XCHG);
	return -EINVAL;
}

/* One decimal u64 at *@p (< @end), then skip blanks: 0 or -EINVAL. */
static int clk_u64(const char **p, const char *end, uint64_t *out)
{
	const char *s = *p;
	uint64_t v = 0;

	if (s >= end || *s < '0' || *s > '9')
		return -EINVAL;
	for (; s < end && *s >= '0' && *s <= '9'; s++) {
		if (v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return -EINVAL;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	*p = s;
	return 0;
}

int clk_parse_schedstat(const char *buf, size_t len, uint64_t *run_ns,
			uint64_t *wait_ns)
{
	const char *p = buf, *end = buf + len;
	uint64_t v[3];
	unsigned int i;

	for (i = 0; i < 3; i++) {
		if (i) {
			if (p >= end || *p != ' ')
				return -EINVAL;
			p++;
		}
		if (clk_u64(&p, end, &v[i]))
			return -EINVAL;
	}
	/* the kernel ends the line; nothing else may follow */
	if (p < end && *p == '\n')
		p++;
	if (p != end)
		return -EINVAL;
	*run_ns = v[0];
	*wait_ns = v[1];
	return 0;
}

#define CLK_NS_PER_S	1000000000ULL

void clk_bucket_init(struct clk_bucket *b, unsigned int rate,
		     uint64_t now_ns)
{
	b->cost_ns = CLK_NS_PER_S / (rate ? rate : 1);
	b->credit_ns = CLK_NS_PER_S;	/* a full burst to begin with */
	b->last_ns = now_ns;
}

uint32_t clk_bucket_take(struct clk_bucket *b, uint64_t now_ns)
{
	uint64_t wait;

	if (now_ns > b->last_ns) {
		uint64_t add = now_ns - b->last_ns;

		b->credit_ns = add >= CLK_NS_PER_S - b->credit_ns ?
			       CLK_NS_PER_S : b->credit_ns + add;
		b->last_ns = now_ns;
	}
	if (b->credit_ns >= b->cost_ns) {
		b->credit_ns -= b->cost_ns;
		return 0;
	}
	wait = (b->cost_ns - b->credit_ns + 999999) / 1000000;
	return wait ? (uint32_t)wait : 1;
}

/* ------------------------------------------------------ the responder --- */

static uint64_t clk_now_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * CLK_NS_PER_S + (uint64_t)ts.tv_nsec;
}

/* Answer the exchange the guest asked for with @seq. */
static void clk_answer(struct clk_dev *c, struct pvkit_clock_xchg *x,
		       uint32_t seq)
{
	uint64_t m0, r, m1, dt;

	m0 = clk_now_ns(CLOCK_MONOTONIC);
	r = clk_now_ns(CLOCK_REALTIME);
	m1 = clk_now_ns(CLOCK_MONOTONIC);
	dt = m1 - m0;
	/*
	 * Relaxed stores: the guest reads them only after its acquire load
	 * of resp_seq has seen the release store below.
	 */
	__atomic_store_n(&x->generation,
			 htole32(__atomic_load_n(&c->generation,
						 __ATOMIC_RELAXED)),
			 __ATOMIC_RELAXED);
	__atomic_store_n(&x->realtime_ns, htole64(r), __ATOMIC_RELAXED);
	__atomic_store_n(&x->monotonic_ns, htole64(m1), __ATOMIC_RELAXED);
	__atomic_store_n(&x->read_ns,
			 htole32(dt > UINT32_MAX ? UINT32_MAX : (uint32_t)dt),
			 __ATOMIC_RELAXED);
	__atomic_store_n(&x->resp_seq, seq, __ATOMIC_RELEASE);
	__atomic_fetch_add(&c->answered, 1, __ATOMIC_RELAXED);
}

/* One fewer answer left; false when there was none. */
static bool clk_take_answer(struct clk_dev *c)
{
	uint32_t l = __atomic_load_n(&c->x_left, __ATOMIC_RELAXED);

	do {
		if (!l)
			return false;
	} while (!__atomic_compare_exchange_n(&c->x_left, &l, l - 1, false,
					      __ATOMIC_RELAXED,
					      __ATOMIC_RELAXED));
	return true;
}

static bool clk_window_over(struct clk_dev *c, uint64_t now)
{
	return __atomic_load_n(&c->cancel, __ATOMIC_ACQUIRE) ||
	       !__atomic_load_n(&c->x_left, __ATOMIC_RELAXED) ||
	       now >= __atomic_load_n(&c->x_deadline_ns, __ATOMIC_RELAXED);
}

/* Spin on req_seq until the window is over (count, deadline, cancel). */
/*
 * Spin on req_seq until the window is over (count, deadline, cancel).
 *
 * sched_yield() after CLK_YIELD_NS without a request (CLK_YIELD_XCHG_NS
 * once the guest is exchanging): free when the CPU is ours alone, but on
 * a host with fewer free CPUs than spinners it lets the threads the guest
 * waits on run -- pvkit-hv's loop that posts the WINDOW's OK, the vCPU
 * sharing our CPU -- instead of burning the window; rarer once exchanges
 * flow, as a yield to a busy CPU can cost milliseconds.  A yield only
 * delays when the host sees a request, which widens that sample's
 * bracket; it cannot bias it (the host reads its clocks after it saw the
 * store).
 */
#define CLK_YIELD_NS		20000
#define CLK_YIELD_XCHG_NS	200000

static void clk_spin(struct clk_dev *c, struct pvkit_clock_area *a)
{
	struct pvkit_clock_xchg *x = &a->xchg;
	uint64_t idle_since = clk_now_ns(CLOCK_MONOTONIC), now;
	bool answered = false;

	for (;;) {
		uint32_t req = __atomic_load_n(&x->req_seq, __ATOMIC_ACQUIRE);

		/* the deadline first: a preempted responder answers late never */
		now = clk_now_ns(CLOCK_MONOTONIC);
		if (clk_window_over(c, now))
			return;
		if (req != __atomic_load_n(&x->resp_seq, __ATOMIC_RELAXED) &&
		    clk_take_answer(c)) {
			clk_answer(c, x, req);
			answered = true;
			idle_since = clk_now_ns(CLOCK_MONOTONIC);
			continue;
		}
		if (now - idle_since >= (answered ? CLK_YIELD_XCHG_NS :
					 CLK_YIELD_NS)) {
			sched_yield();
			idle_since = now;
		} else {
			pvbe_cpu_relax();
		}
	}
}

static void *clk_responder(void *arg)
{
	struct clk_dev *c = arg;
	struct pvkit_clock_area *a;
	uint64_t t0;

	pthread_mutex_lock(&c->mu);
	for (;;) {
		while (!c->quit && !c->armed)
			pthread_cond_wait(&c->cv, &c->mu);
		if (c->quit)
			break;
		c->busy = true;
		a = c->area;
		/* the window counts from here: a late wake-up costs nothing */
		__atomic_store_n(&c->x_deadline_ns,
				 clk_now_ns(CLOCK_MONOTONIC) + c->x_window_ns,
				 __ATOMIC_RELAXED);
		pthread_cond_broadcast(&c->done_cv);
		pthread_mutex_unlock(&c->mu);
		t0 = clk_now_ns(CLOCK_MONOTONIC);
		for (;;) {
			if (a)
				clk_spin(c, a);
			pthread_mutex_lock(&c->mu);
			/* re-armed while we decided to stop?  Go on. */
			if (a && !c->quit &&
			    !clk_window_over(c, clk_now_ns(CLOCK_MONOTONIC))) {
				pthread_mutex_unlock(&c->mu);
				continue;
			}
			break;
		}
		__atomic_fetch_add(&c->win_spun_ns,
				   clk_now_ns(CLOCK_MONOTONIC) - t0,
				   __ATOMIC_RELAXED);
		c->armed = false;
		c->busy = false;
		pthread_cond_broadcast(&c->done_cv);
	}
	pthread_mutex_unlock(&c->mu);
	return NULL;
}

/*
 * Start a window (or extend the live one): @count answers or @us
 * microseconds.  Returns once the responder is spinning, so it already
 * watches req_seq when the guest sees the OK.
 */
static void clk_arm(struct clk_dev *c, uint32_t count, uint32_t us)
{
	struct timespec until;

	pthread_mutex_lock(&c->mu);
	__atomic_store_n(&c->x_left, count, __ATOMIC_RELAXED);
	c->x_window_ns = (uint64_t)us * 1000;
	/* a live window is extended; an idle responder starts its own */
	if (c->busy)
		__atomic_store_n(&c->x_deadline_ns,
				 clk_now_ns(CLOCK_MONOTONIC) + c->x_window_ns,
				 __ATOMIC_RELAXED);
	c->armed = true;
	pthread_cond_signal(&c->cv);
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_nsec += CLK_ARM_WAIT_MS * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	/* bounded: a responder that does not wake only costs the window */
	while (c->armed && !c->busy && !c->quit)
		if (pthread_cond_timedwait(&c->done_cv, &c->mu, &until))
			break;
	pthread_mutex_unlock(&c->mu);
}

/* End any window now and wait until the responder is out of it. */
static void clk_disarm(struct clk_dev *c)
{
	pthread_mutex_lock(&c->mu);
	if (c->armed || c->busy) {
		__atomic_store_n(&c->cancel, 1, __ATOMIC_RELEASE);
		c->armed = false;
		while (c->busy)	/* at most one spin iteration */
			pthread_cond_wait(&c->done_cv, &c->mu);
		__atomic_store_n(&c->cancel, 0, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&c->mu);
}

/* Use @a (NULL: none) from now on; no window survives the change. */
static void clk_set_area(struct clk_dev *c, struct pvkit_clock_area *a,
			 uint64_t gpa)
{
	clk_disarm(c);
	pthread_mutex_lock(&c->mu);
	c->area = a;
	pthread_mutex_unlock(&c->mu);
	c->area_gpa = a ? gpa : 0;
}

/* ------------------------------------------------- host info + steal --- */

static void clk_info_fill(struct clk_dev *c, struct pvkit_clock_info *in)
{
	struct timex tx;
	int st;

	memset(in, 0, sizeof(*in));
	memset(&tx, 0, sizeof(tx));
	st = adjtimex(&tx);
	if (st < 0 || st == TIME_ERROR || (tx.status & STA_UNSYNC))
		in->host_status |= PVKIT_CLOCK_HS_UNSYNC;
	if (st >= 0 && (tx.status & STA_INS))
		in->host_status |= PVKIT_CLOCK_HS_LEAP_INS;
	if (st >= 0 && (tx.status & STA_DEL))
		in->host_status |= PVKIT_CLOCK_HS_LEAP_DEL;
	if (st >= 0) {
		in->maxerror_ns = (uint64_t)(tx.maxerror > 0 ? tx.maxerror : 0) *
				  1000;
		in->esterror_ns = (uint64_t)(tx.esterror > 0 ? tx.esterror : 0) *
				  1000;
	}
	in->host_status = htole64(in->host_status);
	in->maxerror_ns = htole64(in->maxerror_ns);
	in->esterror_ns = htole64(in->esterror_ns);
	in->update_ns = htole64(clk_now_ns(CLOCK_MONOTONIC));
	in->nr_steal = htole32(c->nr_steal);
}

/* info and steal[] under the area's seqlock (clock.h). */
static void clk_info_write(struct clk_dev *c, struct pvkit_clock_area *a)
{
	struct pvkit_clock_info in;
	unsigned int i;

	clk_info_fill(c, &in);
	/* seqlock write side, like dev_publish(): odd, data, even */
	c->info_version += 1;
	__atomic_store_n(&a->info.version, htole32(c->info_version),
			 __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	__atomic_store_n(&a->info.nr_steal, in.nr_steal, __ATOMIC_RELAXED);
	__atomic_store_n(&a->info.host_status, in.host_status,
			 __ATOMIC_RELAXED);
	__atomic_store_n(&a->info.maxerror_ns, in.maxerror_ns,
			 __ATOMIC_RELAXED);
	__atomic_store_n(&a->info.esterror_ns, in.esterror_ns,
			 __ATOMIC_RELAXED);
	__atomic_store_n(&a->info.update_ns, in.update_ns, __ATOMIC_RELAXED);
	for (i = 0; i < c->nr_steal; i++) {
		__atomic_store_n(&a->steal[i].steal_ns,
				 htole64(c->steal[i].steal_ns),
				 __ATOMIC_RELAXED);
		__atomic_store_n(&a->steal[i].run_ns,
				 htole64(c->steal[i].run_ns),
				 __ATOMIC_RELAXED);
	}
	c->info_version += 1;
	__atomic_store_n(&a->info.version, htole32(c->info_version),
			 __ATOMIC_RELEASE);
	c->info_updates++;
}

static bool clk_qemu_up(struct hv *hv)
{
	return hv->qemu && hv->qemu->pid > 0 && !hv->qemu->exited &&
	       hv->qemu->stop == QEMU_STOP_NONE && !hv->stopping;
}

/* QEMU's vCPU threads, asked once QEMU runs; bounded, paced retries. */
static void clk_fetch_tids(struct hv *hv, struct clk_dev *c, uint64_t now)
{
	int n;

	if (c->nr_tids || c->tid_tries >= CLK_TID_TRIES ||
	    now < c->tid_next_ms)
		return;
	c->tid_tries++;
	n = qmp_vcpu_threads(hv->qemu->qmp_path, c->tids,
			     PVKIT_CLOCK_MAX_VCPUS, CLK_QMP_TIMEOUT_MS);
	if (n > 0) {
		c->nr_tids = (unsigned int)n > hv->opt.cpus ? hv->opt.cpus :
			     (unsigned int)n;
		log_debug("clock: %u vCPU threads for steal time", c->nr_tids);
		return;
	}
	c->tid_next_ms = now + CLK_TID_RETRY_MS;
	if (c->tid_tries == CLK_TID_TRIES)
		log_warn("clock: no vCPU threads from QMP (%s): no steal time",
			 strerror(n ? -n : ENOENT));
}

static void clk_read_steal(struct hv *hv, struct clk_dev *c)
{
	char path[96], buf[128];
	unsigned int i;
	ssize_t n;
	int fd;

	for (i = 0; i < c->nr_tids; i++) {
		uint64_t run, wait;

		snprintf(path, sizeof(path), "/proc/%d/task/%d/schedstat",
			 (int)hv->qemu->pid, (int)c->tids[i]);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		n = fd < 0 ? -1 : read(fd, buf, sizeof(buf));
		if (fd >= 0)
			close(fd);
		if (n <= 0 || clk_parse_schedstat(buf, (size_t)n, &run, &wait)) {
			/* a thread gone or no schedstats: stop at it */
			c->steal_errors++;
			break;
		}
		c->steal[i].steal_ns = wait;
		c->steal[i].run_ns = run;
	}
	c->nr_steal = i;
}

/* Pauses not done through `pvkit pause`: query-status, paced. */
static void clk_poll_status(struct hv *hv, struct dev *d, struct clk_dev *c,
			    uint64_t now)
{
	int ret;

	if (now < c->status_next_ms)
		return;
	c->status_next_ms = now + CLK_STATUS_POLL_MS;
	ret = qmp_query_running(hv->qemu->qmp_path, CLK_QMP_TIMEOUT_MS);
	if (ret == -ETIMEDOUT) {
		c->status_next_ms = now + CLK_QMP_BACKOFF_MS;
		return;
	}
	if (ret < 0)
		return;
	hv->qemu->paused = !ret;
	if (!ret) {
		c->saw_paused = true;
	} else if (c->saw_paused) {
		(void)d;
		clk_time_jumped(hv, "resumed outside pvkit");
	}
}

static void clk_tick(struct hv *hv, struct dev *d, uint64_t now_ms)
{
	struct clk_dev *c = clk(d);

	if (!c)
		return;
	if (clk_qemu_up(hv)) {
		clk_poll_status(hv, d, c, now_ms);
		if (d->acked & PVKIT_CLOCK_F_STEAL)
			clk_fetch_tids(hv, c, now_ms);
	}
	if (now_ms < c->next_info_ms)
		return;
	c->next_info_ms = now_ms + CLK_STEAL_PERIOD_MS;
	if (!c->area)
		return;
	c->nr_steal = 0;
	if ((d->acked & PVKIT_CLOCK_F_STEAL) && c->nr_tids && hv->qemu)
		clk_read_steal(hv, c);
	clk_info_write(c, c->area);
}

/* ------------------------------------------------------------ requests --- */

static void clk_reply(void *rsp, uint64_t id, uint8_t status, uint32_t value)
{
	struct pvkit_clock_rsp r = {
		.id = id,	/* as the guest wrote it: already LE */
		.value = htole32(value),
		.status = status,
	};

	memcpy(rsp, &r, sizeof(r));
}

static int clk_refuse(struct dev *d, void *rsp, uint64_t id, const char *what)
{
	struct clk_dev *c = clk(d);
	uint64_t missed = 0;

	c->refused++;
	clk_reply(rsp, id, PVKIT_CLOCK_S_INVAL, 0);
	/* the guest can send these at will: rate-limited */
	if (log_ratelimit(&c->rl, ev_now_ms(), &missed))
		log_info("clock: refused: %s (%llu refused in all)", what,
			 (unsigned long long)c->refused);
	return 0;	/* refused, nothing changed: no reset */
}

static int clk_setup(struct hv *hv, struct dev *d,
		     const struct pvkit_clock_req *rq, void *rsp)
{
	uint64_t gpa = le64toh(rq->gpa);
	void *p;

	if (rq->count)
		return clk_refuse(d, rsp, rq->id, "SETUP with a count");
	if (!gpa) {
		clk_set_area(clk(d), NULL, 0);
		clk_reply(rsp, rq->id, PVKIT_CLOCK_S_OK, 0);
		return 0;
	}
	if (gpa & (PVKIT_CLOCK_AREA_SIZE - 1))
		return clk_refuse(d, rsp, rq->id, "SETUP area not 4 KiB aligned");
	p = gmem_translate(&hv->gm, gpa, PVKIT_CLOCK_AREA_SIZE);
	if (!p)
		return clk_refuse(d, rsp, rq->id,
				  "SETUP area not in one guest RAM range");
	clk_set_area(clk(d), p, gpa);
	clk(d)->setups++;
	/* the guest sees the host's info at once, not a period later */
	clk(d)->next_info_ms = 0;
	clk_reply(rsp, rq->id, PVKIT_CLOCK_S_OK, 0);
	return 0;
}

static int clk_window(struct dev *d, const struct pvkit_clock_req *rq,
		      void *rsp)
{
	struct clk_dev *c = clk(d);
	uint32_t count = le32toh(rq->count), wait;

	if (!c->area)
		return clk_refuse(d, rsp, rq->id, "WINDOW without an area");
	if (rq->gpa)
		return clk_refuse(d, rsp, rq->id, "WINDOW with a gpa");
	if (!count || count > c->co.xchg)
		return clk_refuse(d, rsp, rq->id, "WINDOW count out of range");
	wait = clk_bucket_take(&c->bucket, clk_now_ns(CLOCK_MONOTONIC));
	if (wait) {
		c->busy_answers++;
		clk_reply(rsp, rq->id, PVKIT_CLOCK_S_BUSY, wait);
		return 0;
	}
	c->windows++;
	/* spinning before the guest can see the OK */
	clk_arm(c, count, c->co.window_us);
	clk_reply(rsp, rq->id, PVKIT_CLOCK_S_OK, c->co.window_us);
	return 0;
}

static int clk_req(struct hv *hv, struct dev *d, unsigned int qi,
		   const void *req, void *rsp, char *why, size_t whylen)
{
	struct pvkit_clock_req rq;

	(void)qi;
	(void)why;
	(void)whylen;
	memcpy(&rq, req, sizeof(rq));
	if (rq.reserved[0] | rq.reserved[1] | rq.reserved[2])
		return clk_refuse(d, rsp, rq.id, "reserved request bytes set");
	switch (rq.op) {
	case PVKIT_CLOCK_OP_SETUP:
		return clk_setup(hv, d, &rq, rsp);
	case PVKIT_CLOCK_OP_WINDOW:
		return clk_window(d, &rq, rsp);
	default:
		return clk_refuse(d, rsp, rq.id, "unknown op");
	}
}

static void clk_kick(struct hv *hv, struct ev_src *src, uint32_t events)
{
	struct dev *d = src->arg;
	int qi;

	(void)events;
	qi = hvq_kicked(d, src);
	if (qi >= 0)
		hvq_serve(hv, d, (unsigned int)qi, clk_req);
}

static int clk_connect(struct hv *hv, struct dev *d)
{
	clk_bucket_init(&clk(d)->bucket, clk(d)->co.rate,
			clk_now_ns(CLOCK_MONOTONIC));
	return hvq_attach(hv, d, PVKIT_CLOCK_Q_CTRL);
}

/* DISCONNECT, RESET, a fault: the area is the guest's again. */
static int clk_disconnect(struct hv *hv, struct dev *d)
{
	(void)hv;
	if (clk(d))
		clk_set_area(clk(d), NULL, 0);
	return 0;
}

static void clk_destroy(struct hv *hv, struct dev *d)
{
	struct clk_dev *c = clk(d);

	(void)hv;
	if (!c)
		return;
	if (c->thr_started) {
		pthread_mutex_lock(&c->mu);
		c->quit = true;
		__atomic_store_n(&c->cancel, 1, __ATOMIC_RELEASE);
		pthread_cond_signal(&c->cv);
		pthread_mutex_unlock(&c->mu);
		pthread_join(c->thr, NULL);
	}
	pthread_cond_destroy(&c->done_cv);
	pthread_cond_destroy(&c->cv);
	pthread_mutex_destroy(&c->mu);
	free(c);
	d->priv = NULL;
}

static const struct dev_ops clk_ops = {
	.name = "clock",
	.connect = clk_connect,
	.disconnect = clk_disconnect,
	.destroy = clk_destroy,
	.tick = clk_tick,
};

/* ------------------------------------------------------------- create --- */

static const struct hv_geom clk_geom[PVKIT_CLOCK_NR_QUEUES] = {
	[PVKIT_CLOCK_Q_CTRL] = { CLK_SLOTS, sizeof(struct pvkit_clock_req),
				 sizeof(struct pvkit_clock_rsp) },
};

struct hv_geom clk_queue_geom(unsigned int q)
{
	(void)q;
	return clk_geom[PVKIT_CLOCK_Q_CTRL];
}

int clk_create(struct hv *hv, const struct hv_dev_opt *o)
{
	struct pvkit_clock_config *cfg;
	struct clk_opts co;
	struct clk_dev *c;
	char err[256];
	struct dev *d;
	int ret;

	ret = clk_opts_parse(o->spec, &co, err, sizeof(err));
	if (ret) {
		log_err("--clock %s: %s", o->spec, err);
		return ret;
	}
	if (!co.on)
		return 0;
	if (clk_find(hv)) {
		log_err("--clock %s: a VM has one clock device", o->spec);
		return -EEXIST;
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->co = co;
	c->generation = 1;
	c->rl.interval_ms = CLK_LOG_INTERVAL_MS;
	c->rl.burst = CLK_LOG_BURST;
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->cv, NULL);
	pthread_cond_init(&c->done_cv, NULL);
	d = dev_create_geom(hv, PVKIT_DEV_CLOCK, 0, PVKIT_CLOCK_NR_QUEUES,
			    clk_geom, &clk_ops);
	if (!d) {
		ret = -errno;
		d = NULL;
		goto fail;
	}
	d->priv = c;
	d->kind = o->kind;
	d->features = co.features;
	d->config_size = sizeof(*cfg);
	cfg = clk_config(d);
	memset(cfg, 0, sizeof(*cfg));
	cfg->generation = htole32(1);
	cfg->max_xchg = htole32(co.xchg);
	cfg->window_rate = htole32(co.rate);
	cfg->window_us = htole32(co.window_us);
	if (co.features & PVKIT_CLOCK_F_STEAL) {
		cfg->steal_period_ms = htole32(CLK_STEAL_PERIOD_MS);
		cfg->nr_vcpus = htole32(hv->opt.cpus < PVKIT_CLOCK_MAX_VCPUS ?
					hv->opt.cpus : PVKIT_CLOCK_MAX_VCPUS);
	}
	ret = -pthread_create(&c->thr, NULL, clk_responder, c);
	if (ret)
		return ret;	/* the VM does not start: exit frees */
	c->thr_started = true;
	ret = hvq_watch(hv, d, PVKIT_CLOCK_Q_CTRL, clk_kick);
	if (ret)
		return ret;
	d->state = PVKIT_DEV_STATE_OFFERED;	/* published by the caller */
	log_info("clock: %u windows/s of %u us, %u exchanges each%s",
		 co.rate, co.window_us, co.xchg,
		 co.features & PVKIT_CLOCK_F_STEAL ? ", steal time" : "");
	return 0;
fail:
	pthread_cond_destroy(&c->done_cv);
	pthread_cond_destroy(&c->cv);
	pthread_mutex_destroy(&c->mu);
	free(c);
	return ret;
}

/* ------------------------------------------------------------ control --- */

struct dev *clk_find(struct hv *hv)
{
	unsigned int i;

	for (i = 0; i < PVKIT_MAX_DEVICES; i++)
		if (hv->devs[i].used && hv->devs[i].type == PVKIT_DEV_CLOCK &&
		    hv->devs[i].priv)
			return &hv->devs[i];
	return NULL;
}

void clk_time_jumped(struct hv *hv, const char *why)
{
	struct dev *d = clk_find(hv);
	struct pvkit_clock_config *cfg;
	struct clk_dev *c;
	uint32_t gen;

	if (!d)
		return;
	c = clk(d);
	cfg = clk_config(d);
	gen = le32toh(cfg->generation) + 1;
	if (!gen)
		gen = 1;	/* >= 1, even after 2^32 resumes */
	cfg->generation = htole32(gen);
	__atomic_store_n(&c->generation, gen, __ATOMIC_RELAXED);
	c->saw_paused = false;
	c->bumps++;
	log_info("clock: generation %u (%s)", gen, why);
	dev_publish(hv);	/* a change in place, ABI.md 6.2 */
}

void clk_json(struct hv *hv, struct dev *d, struct jbuf *out)
{
	const struct pvkit_clock_config *cfg = clk_config(d);
	struct clk_dev *c = clk(d);
	unsigned int i;

	(void)hv;
	jb_str(out, "state", dev_state_name(d->state));
	jb_u64(out, "features", d->acked);
	jb_u64(out, "generation", le32toh(cfg->generation));
	jb_u64(out, "generation_bumps", c->bumps);
	jb_bool(out, "area", c->area != NULL);
	jb_u64(out, "area_gpa", c->area_gpa);
	jb_u64(out, "setups", c->setups);
	jb_u64(out, "window_rate", c->co.rate);
	jb_u64(out, "window_us", c->co.window_us);
	jb_u64(out, "max_xchg", c->co.xchg);
	jb_u64(out, "windows", c->windows);
	jb_u64(out, "windows_busy", c->busy_answers);
	jb_u64(out, "exchanges", __atomic_load_n(&c->answered,
						 __ATOMIC_RELAXED));
	jb_u64(out, "spun_us", __atomic_load_n(&c->win_spun_ns,
					       __ATOMIC_RELAXED) / 1000);
	jb_u64(out, "refused", c->refused);
	jb_u64(out, "info_updates", c->info_updates);
	jb_u64(out, "steal_errors", c->steal_errors);
	jb_key(out, "steal");
	jb_arr_begin(out);
	for (i = 0; i < c->nr_steal; i++) {
		jb_key(out, NULL);
		jb_obj_begin(out);
		jb_u64(out, "vcpu", i);
		jb_u64(out, "steal_ns", c->steal[i].steal_ns);
		jb_u64(out, "run_ns", c->steal[i].run_ns);
		jb_obj_end(out);
	}
	jb_arr_end(out);
}
