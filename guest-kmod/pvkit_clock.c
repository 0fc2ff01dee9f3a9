// SPDX-License-Identifier: GPL-2.0-only
/*
 * pvkit_clock: the paravirt clock front-end (pvkit/clock.h).
 *
 * pvkit-hv cannot know the guest's TSC (QEMU owns it), so it publishes
 * no TSC-to-time mapping: it answers timestamp exchanges in a page the
 * guest registers (SETUP), during windows the guest asks for (WINDOW).
 * An exchange brackets the host's clock reading between two guest TSC
 * reads t1 and t2; taken at the midpoint its error is at most
 * (t2 - t1) / 2 plus the host's read_ns.  Every calib_ms a work item
 * asks for a window, keeps the exchange with the smallest round trip and
 * builds from the history of such samples:
 *
 *   the rate    host ns per guest TSC tick, from the two samples that
 *               bound it best (at least 2 s apart), refused outside
 *               +-max_ppm of the nominal 1e6 / tsc_khz, and taken only
 *               if better than the rate in use has become with age;
 *   the anchor  the sample whose bound is the smallest now: host
 *               CLOCK_MONOTONIC and CLOCK_REALTIME at a guest TSC value,
 *               with its error.
 *
 * The mapping's error bound at a TSC value is the anchor's error plus
 * |tsc - anchor| times the rate's uncertainty (the two samples' errors
 * over their distance; before a rate was measured, max_ppm: the guest's
 * tsc_khz is a calibration of its own, and under TCG it can be off by
 * more than a host clock would be).
 *
 * What the guest gets from it:
 *
 *   clocksource "pvkit"  ns = ns0 + ((tsc - tsc0) * mul) >> 32 with the
 *        host's rate (registered once a burst of windows at probe gave a
 *        first one, from samples 50 ms apart), continuous at every update (a new record starts
 *        where the old one is at the switch), monotonic across vCPUs by
 *        a global last value (as pvclock_clocksource_read()).  Rating
 *        280 (param): below a stable TSC, so it displaces that only
 *        when selected (under TCG the TSC is no clocksource: "pvkit"
 *        beats hpet).  A module's clocksource has no vDSO fast path in 6.1:
 *        vdso_clock_mode must be TSC, PVCLOCK or HVCLOCK for the vDSO to
 *        read it, and each of those reads a fixed, built-in structure
 *        (the TSC's mult/shift in the vvar page, kvmclock's pvti page
 *        via pvclock_set_pvti_cpu0_va(), which is not exported, or the
 *        Hyper-V TSC page).  With "pvkit" current, clock_gettime() is a
 *        system call.
 *   PTP clock "pvkit"    /dev/ptpN: host CLOCK_REALTIME at the guest's
 *        TSC from the latest mapping (no exchange per read, like
 *        ptp_vmclock); a cross timestamp when "pvkit" is the system's
 *        clocksource.  For chrony: "refclock PHC /dev/ptpN".
 *   generation changes   (the config's live field: guest time stopped or
 *        jumped against the host's, e.g. a pause) drop the history and
 *        recalibrate at once; then CLOCK_REALTIME is stepped to the
 *        host's (param step) if it is off by more than step_threshold_us,
 *        with a uevent.  A calibration that finds host time away from
 *        the mapping's prediction by more than its error bound plus
 *        max(1 ms, 1% of the time since the anchor) is an unannounced
 *        disruption: it moves the mapping (and steps) only once a sample
 *        about a second later follows it at the rate in use within
 *        max_ppm; until then, and for ever if the host's time keeps
 *        jumping (standing still, racing), the clock runs on unmoved.
 *   steal time           steal[] is shown in sysfs ("steal" on the pvkit
 *        device).  It cannot feed the scheduler's steal accounting from
 *        a module in 6.1: the hook is the static call pv_steal_clock,
 *        defined in arch/x86/kernel/paravirt.c without
 *        EXPORT_STATIC_CALL(), and the keys that enable it
 *        (paravirt_steal_enabled, paravirt_steal_rq_enabled) are not
 *        exported either; only built-in code (kvm_guest_init(),
 *        xen_time_setup_guest(), hv_setup_sched_clock()) can set them.
 *
 * The host is not trusted beyond being the time source: every config
 * field is clamped, every answer checked (status, sequence, generation,
 * ordering, sanity of the times, the rate), every wait bounded (calls
 * time out, an exchange spins at most 200 us with interrupts off, BUSY
 * waits at most 10 s, a seqlock read gives up after 1000 tries), and a
 * host that keeps changing the generation gets at most one calibration
 * per 100 ms and one step per second.  The clocksource never goes back.
 */
#include <linux/atomic.h>
#include <linux/clocksource.h>
#include <linux/debugfs.h>
#include <linux/delay.h>
#include <linux/kobject.h>
#include <linux/math64.h>
#include <linux/module.h>
#include <linux/ptp_clock_kernel.h>
#include <linux/seq_file.h>
#include <linux/seqlock.h>
#include <linux/slab.h>
#include <linux/sysfs.h>
#include <linux/timekeeping.h>
#include <linux/workqueue.h>
#include <asm/tsc.h>
#include <asm/unaligned.h>
#include <pvkit/bus.h>
#include <pvkit/clock.h>
#include <pvkit/fe.h>

MODULE_IMPORT_NS(PVKIT);

#define PVCLK_CALL_TIMEOUT_MS	2000
#define PVCLK_RESTART_MS	30000
#define PVCLK_CONNECT_WAIT_MS	10000
#define PVCLK_XCHG_SPIN_US	200	/* one exchange, interrupts off */
#define PVCLK_HIST		16	/* samples of one generation */
#define PVCLK_RATE_MIN_NS	(2 * NSEC_PER_SEC) /* rate: samples apart */
/*
 * The first rate, before the clocksource is registered: samples at least
 * 50 ms apart, its uncertainty at most 100 ppm (the clocksource watchdog
 * allows about 800 ppm), from a burst of windows 50 ms apart at probe,
 * PVCLK_PROBE_WINDOWS at most.
 */
#define PVCLK_RATE_FIRST_NS	(50 * NSEC_PER_MSEC)
#define PVCLK_RATE_FIRST_PPM	100
#define PVCLK_PROBE_WINDOWS	10
#define PVCLK_PROBE_GAP_MS	50
/* a rate's uncertainty grows 10 ppb per second: ns of age / this */
#define PVCLK_RATE_AGE_DIV	(100000000ULL * NSEC_PER_SEC)
#define PVCLK_BUSY_MIN_MS	10	/* a BUSY answer: wait at least */
#define PVCLK_BUSY_MAX_MS	10000
#define PVCLK_FORCE_MIN_MS	100	/* forced calibrations at most */
#define PVCLK_STEP_MIN_MS	1000	/* steps at most */
#define PVCLK_STEP_DEFERS	20	/* calibrations waiting for a good bound */
#define PVCLK_STEP_GOOD		8	/* good: within threshold / 8 */
#define PVCLK_STEP_CHECKS	3	/* steps in a row on a poor bound */
#define PVCLK_RETRY_MS		1000	/* after a failed SETUP or WINDOW */
#define PVCLK_SEQ_TRIES		1000	/* info seqlock reads */
#define PVCLK_LEFT_WAIT_MS	500	/* remove: the state after a reset */
#define PVCLK_DISRUPT_MIN_NS	NSEC_PER_MSEC
/* an unannounced disruption is confirmed by a sample this much later */
#define PVCLK_CONFIRM_NS	(NSEC_PER_SEC * 9 / 10)
/* host CLOCK_REALTIME we accept: 2020-01-01 .. 2100-01-01 */
#define PVCLK_REAL_MIN_NS	(1577836800ULL * NSEC_PER_SEC)
#define PVCLK_REAL_MAX_NS	(4102444800ULL * NSEC_PER_SEC)
#define PVCLK_FRAC		32	/* mul: ns per tick << 32 */

static unsigned int calib_ms = 1000;
module_param(calib_ms, uint, 0644);
MODULE_PARM_DESC(calib_ms, "ms between calibrations (100..60000)");

static bool step = true;
module_param(step, bool, 0644);
MODULE_PARM_DESC(step, "step CLOCK_REALTIME to the host's on load and generation changes");

static unsigned int step_threshold_us = 1000;
module_param(step_threshold_us, uint, 0644);
MODULE_PARM_DESC(step_threshold_us, "step only when CLOCK_REALTIME is off by more (us)");

static unsigned int rating = 280;
module_param(rating, uint, 0444);
MODULE_PARM_DESC(rating, "clocksource rating (a stable TSC has 300)");

static unsigned int max_ppm = 50000;
module_param(max_ppm, uint, 0644);
MODULE_PARM_DESC(max_ppm, "refuse host rates further from the nominal TSC rate (ppm)");

static unsigned int xchg = 16;
module_param(xchg, uint, 0644);
MODULE_PARM_DESC(xchg, "exchanges per window (clamped to the host's max_xchg)");

static bool mono_guard = true;
module_param(mono_guard, bool, 0644);
MODULE_PARM_DESC(mono_guard, "clocksource: never below the last value any CPU read (for measurements: N may go back)");

/* Why a sample or a rate was refused (debugfs rejects). */
enum pvclk_rej {
	PVCLK_REJ_TIMEOUT,	/* no answer within the spin bound */
	PVCLK_REJ_SEQ,		/* answer for another sequence number */
	PVCLK_REJ_GEN,		/* sample of another generation */
	PVCLK_REJ_ORDER,	/* t2 <= t1 */
	PVCLK_REJ_MONO,		/* host monotonic went back */
	PVCLK_REJ_REAL,		/* host realtime out of range */
	PVCLK_REJ_RATE,		/* rate outside +-max_ppm */
	PVCLK_REJ_NR,
};

static const char * const pvclk_rej_names[PVCLK_REJ_NR] = {
	"timeout", "seq", "generation", "order", "monotonic", "realtime",
	"rate",
};

/* One exchange, taken at its TSC midpoint. */
struct pvclk_sample {
	u64 tsc;
	u64 mono;		/* host CLOCK_MONOTONIC */
	u64 real;		/* host CLOCK_REALTIME */
	u64 err;		/* ns: half the round trip + read_ns */
	u64 rtt;		/* ns */
	u32 gen;
};

/*
 * What the readers use: the clocksource's record (tsc0, ns0, mul) and
 * the host mapping (valid once calibrated in generation gen).
 */
struct pvclk_rec {
	u64 tsc0;		/* clocksource: ns0 at tsc0, then mul */
	u64 ns0;
	u64 mul;		/* ns per tick << PVCLK_FRAC */
	u64 htsc;		/* host mapping anchor */
	u64 hmono;
	u64 hreal;
	u64 herr;		/* ns, at htsc */
	u64 hunc;		/* rate uncertainty, ns per tick << FRAC */
	u32 gen;
	bool valid;
};

/* Published through a latch: readers in any context never wait. */
static struct {
	seqcount_latch_t seq;
	struct pvclk_rec rec[2];
} pvclk_latch;
static atomic64_t pvclk_last;	/* the clocksource's last value */

struct pvclk {
	struct pvkit_device *pdev;
	struct pvkit_fe_dev fd;
	struct pvkit_fe_queue fq;
	struct pvkit_fe_call call;
	struct pvkit_clock_req req;
	struct pvkit_clock_rsp rsp;
	struct pvkit_clock_area *area;	/* one zeroed page */
	u64 features;

	/* the config as set up, clamped */
	u32 max_xchg;
	u32 window_us;
	u32 window_rate;
	u32 steal_period_ms;
	u32 nr_vcpus;

	/* everything below under lock (the counters' readers excepted) */
	struct mutex lock;
	bool setup;			/* the host has the area */
	u32 setup_epoch;
	/*
	 * The device was seen out of CONNECTED (and CLOSING) since the last
	 * SETUP answered OK: the host forgot the area (ABI.md 12).
	 * WRITE_ONCE(): set by state_changed() without the lock.
	 */
	bool area_left;
	u32 seq;			/* last req_seq */
	u32 gen;			/* generation of hist[] */
	struct pvclk_sample hist[PVCLK_HIST];	/* oldest first */
	unsigned int nhist;
	u64 nom_mul;			/* 1e6 / tsc_khz << FRAC */
	struct pvclk_rec cur;		/* the record published last */
	bool rate_measured;		/* over PVCLK_RATE_MIN_NS at least */
	bool rate_estimated;		/* a first rate, PVCLK_RATE_FIRST_NS */
	u64 rate_mul;			/* the rate in use, */
	u64 rate_unc;			/* its uncertainty when measured, */
	u64 rate_tsc;			/* and when */
	/*
	 * An unannounced disruption waiting for confirmation: the first
	 * sample off the mapping.  Meanwhile the history (the mapping
	 * before it) stays as it was and the clock runs on.
	 */
	bool pend;
	struct pvclk_sample pend_s;
	bool force;			/* recalibrate now (rate-limited) */
	bool need_step;			/* check CLOCK_REALTIME */
	unsigned long last_run;		/* jiffies of the last calibration */
	unsigned long last_step;	/* jiffies */
	bool stepped_once;
	unsigned int step_defers;	/* waiting for a better sample */
	unsigned int step_checks;	/* steps taken on a poor bound */

	/* counters (debugfs) */
	unsigned long calibrations;
	unsigned long windows_ok;
	unsigned long windows_busy;
	unsigned long windows_failed;	/* refused or unanswered */
	unsigned long exchanges;	/* answered */
	unsigned long rejects[PVCLK_REJ_NR];
	unsigned long gen_changes;
	unsigned long steps;
	s64 last_step_ns;
	u64 last_step_bound;		/* ns, the mapping's at the step */
	unsigned long disruptions;	/* samples off the mapping */
	unsigned long disruptions_confirmed;
	unsigned long disruptions_refused;	/* inconsistent host time */
	u64 best_rtt;			/* ns, ever */
	u64 last_rtt;			/* ns, the last window's best */
	u64 last_err;			/* ns, the last sample's */
	s64 last_dev;			/* ns, last sample vs prediction */
	u64 first_wait;			/* ns, WINDOW answer to first answer */
	u64 call_ns;			/* ns, the last WINDOW call */

	/* the host half of the area, copied under info.version */
	struct mutex info_lock;
	struct pvkit_clock_info info;
	/* per vCPU, the largest values read: what sysfs shows */
	struct pvkit_clock_steal steal[PVKIT_CLOCK_MAX_VCPUS];
	struct pvkit_clock_steal steal_copy[PVKIT_CLOCK_MAX_VCPUS];
	u32 nr_steal;
	unsigned long odd_giveups;
	unsigned long steal_backwards;	/* entries that went back, ignored */

	struct delayed_work work;
	struct ptp_clock_info ptp_info;
	struct ptp_clock *ptp;
	bool cs_registered;
	bool steal_attrs;
	struct dentry *dbg;
};

static struct dentry *pvclk_dbg_root;
static struct pvclk *pvclk_bound;	/* one clock per guest */
static DEFINE_MUTEX(pvclk_bind_lock);

/* ---------------------------------------------------------- the mapping */

static void pvclk_publish(const struct pvclk_rec *r)
{
	raw_write_seqcount_latch(&pvclk_latch.seq);
	pvclk_latch.rec[0] = *r;
	raw_write_seqcount_latch(&pvclk_latch.seq);
	pvclk_latch.rec[1] = *r;
}

static __always_inline void pvclk_get(struct pvclk_rec *r)
{
	unsigned int seq;

	do {
		seq = raw_read_seqcount_latch(&pvclk_latch.seq);
		*r = pvclk_latch.rec[seq & 1];
	} while (raw_read_seqcount_latch_retry(&pvclk_latch.seq, seq));
}

/* @d ticks in ns at @mul, either sign; 64-bit wraparound arithmetic. */
static __always_inline u64 pvclk_scale(u64 d, u64 mul)
{
	return mul_s64_u64_shr((s64)d, mul, PVCLK_FRAC);
}

static __always_inline u64 pvclk_cs_at(const struct pvclk_rec *r, u64 tsc)
{
	return r->ns0 + pvclk_scale(tsc - r->tsc0, r->mul);
}

static __always_inline u64 pvclk_real_at(const struct pvclk_rec *r, u64 tsc)
{
	return r->hreal + pvclk_scale(tsc - r->htsc, r->mul);
}

static u64 pvclk_mono_at(const struct pvclk_rec *r, u64 tsc)
{
	return r->hmono + pvclk_scale(tsc - r->htsc, r->mul);
}

/* The mapping's error bound at @tsc, ns. */
static u64 pvclk_err_at(const struct pvclk_rec *r, u64 tsc)
{
	u64 d = tsc >= r->htsc ? tsc - r->htsc : r->htsc - tsc;

	return r->herr + mul_u64_u64_shr(d, r->hunc, PVCLK_FRAC);
}

/*
 * Never behind a value any CPU returned (TSCs of vCPUs need not agree,
 * and a reader may use the record before an update at a later TSC).
 */
static __always_inline u64 pvclk_guard(u64 ns)
{
	s64 last = atomic64_read(&pvclk_last);

	do {
		if ((s64)(ns - (u64)last) <= 0)
			return last;
	} while (!atomic64_try_cmpxchg(&pvclk_last, &last, ns));
	return ns;
}

static u64 notrace pvclk_cs_read(struct clocksource *cs)
{
	struct pvclk_rec r;
	u64 ns;

	pvclk_get(&r);
	ns = pvclk_cs_at(&r, rdtsc_ordered());
	return likely(READ_ONCE(mono_guard)) ? pvclk_guard(ns) : ns;
}

/*
 * Its rate is the host's, which may differ from the TSC's nominal one by
 * up to max_ppm: "pvkit" must never be the watchdog that judges the TSC
 * (a host could get the TSC marked unstable).  MUST_VERIFY keeps it out
 * of the watchdog role and lets the watchdog judge it instead.
 */
static struct clocksource pvclk_cs = {
	.name		= "pvkit",
	.read		= pvclk_cs_read,
	.mask		= CLOCKSOURCE_MASK(64),
	.flags		= CLOCK_SOURCE_IS_CONTINUOUS |
			  CLOCK_SOURCE_MUST_VERIFY,
	/* VDSO_CLOCKMODE_NONE: no vDSO for a module, see the top */
};

static int pvclk_now_fn(ktime_t *device, struct system_counterval_t *sc,
			void *ctx)
{
	sc->cycles = pvclk_cs_read(&pvclk_cs);
	sc->cs = &pvclk_cs;
	*device = 0;
	return 0;
}

/* Is "pvkit" the timekeeper's clocksource?  (No exported getter.) */
static bool pvclk_cs_current(void)
{
	struct system_device_crosststamp xt;

	return !get_device_system_crosststamp(pvclk_now_fn, NULL, NULL, &xt);
}

/* ------------------------------------------------------------- the host */

static bool pvclk_complete(struct pvkit_fe_queue *fq, struct pvkit_fe_req *r,
			   const void *rsp, void *ctx)
{
	struct pvclk *c = container_of(fq, struct pvclk, fq);
	const struct pvkit_clock_rsp *cr = rsp;

	/* an unknown status is a protocol violation (ABI.md 8): broken */
	if (cr->status > PVKIT_CLOCK_S_BUSY) {
		snprintf(fq->why, sizeof(fq->why), "unknown status %u",
			 cr->status);
		return false;
	}
	return pvkit_fe_call_complete(&c->call, rsp);
}

static void pvclk_fail(struct pvkit_fe_dev *fd, struct pvkit_fe_req *r,
		       int err)
{
	pvkit_fe_call_fail(container_of(r, struct pvkit_fe_call, fr));
}

static void pvclk_nop(struct pvkit_fe_dev *fd)
{
}

static void pvclk_gone(struct pvkit_fe_dev *fd)
{
	dev_warn(&fd->pdev->dev, "device gone: the mapping is no longer updated\n");
}

static const struct pvkit_fe_dev_ops pvclk_fe_ops = {
	.quiesce	= pvclk_nop,
	.unquiesce	= pvclk_nop,
	.restart	= pvclk_nop,
	.complete	= pvclk_complete,
	.fail		= pvclk_fail,
	.gone		= pvclk_gone,
};

static irqreturn_t pvclk_irq(int irq, void *data)
{
	struct pvclk *c = data;
	struct pvkit_clock_rsp rsp;
	unsigned long flags;

	spin_lock_irqsave(&c->fq.lock, flags);
	pvkit_fe_dev_reap(&c->fd, &c->fq, &rsp, NULL);
	spin_unlock_irqrestore(&c->fq.lock, flags);
	return IRQ_HANDLED;
}

/* One control request; 0 with c->rsp filled in, or -errno.  Lock held. */
static int pvclk_call(struct pvclk *c, u8 op, u64 gpa, u32 count)
{
	memset(&c->req, 0, sizeof(c->req));
	c->req.op = op;
	c->req.gpa = cpu_to_le64(gpa);
	c->req.count = cpu_to_le32(count);
	return pvkit_fe_call(&c->fd, &c->fq, &c->call, 0, PVCLK_CALL_TIMEOUT_MS,
			     PVCLK_RESTART_MS);
}

static int pvclk_setup(struct pvclk *c, u64 gpa)
{
	int err = pvclk_call(c, PVKIT_CLOCK_OP_SETUP, gpa, 0);

	if (err)
		return err;
	if (c->rsp.status != PVKIT_CLOCK_S_OK) {
		dev_err_ratelimited(&c->pdev->dev, "host refused SETUP %#llx: status %u\n",
				    gpa, c->rsp.status);
		return -EINVAL;
	}
	return 0;
}

static u32 pvclk_cfg_gen(struct pvclk *c)
{
	const struct pvkit_clock_config *cfg = (const void *)c->pdev->config;

	return le32_to_cpu(READ_ONCE(cfg->generation));
}

/*
 * steal[] is cumulative: a value below the one shown last is a host's
 * error (ABI.md 12: a guest ignores a step backwards).  Each field keeps
 * the largest value shown; a step back is counted.  info_lock held.
 */
static void pvclk_steal_merge(struct pvclk *c, struct pvkit_clock_steal *shown,
			      const struct pvkit_clock_steal *new)
{
	bool back = false;

	if (le64_to_cpu(new->steal_ns) >= le64_to_cpu(shown->steal_ns))
		shown->steal_ns = new->steal_ns;
	else
		back = true;
	if (le64_to_cpu(new->run_ns) >= le64_to_cpu(shown->run_ns))
		shown->run_ns = new->run_ns;
	else
		back = true;
	if (back)
		c->steal_backwards++;
}

/*
 * Copy the host half of the area between two equal, even versions;
 * -EAGAIN (counted, old values kept) after PVCLK_SEQ_TRIES.
 */
static int pvclk_read_info(struct pvclk *c)
{
	struct pvkit_clock_info *hi = &c->area->info;
	bool steal = c->features & PVKIT_CLOCK_F_STEAL;
	struct pvkit_clock_info info;
	unsigned int tries, i;
	u32 v, n;

	mutex_lock(&c->info_lock);
	for (tries = 0; tries < PVCLK_SEQ_TRIES; tries++) {
		/* pairs with the host's release of version: info after */
		v = le32_to_cpu(smp_load_acquire(&hi->version));
		if (v & 1) {
			udelay(1);
			continue;
		}
		memcpy(&info, hi, sizeof(info));
		n = steal ? min3(le32_to_cpu(info.nr_steal), c->nr_vcpus,
				 (u32)PVKIT_CLOCK_MAX_VCPUS) : 0;
		memcpy(c->steal_copy, c->area->steal, n * sizeof(c->steal[0]));
		smp_rmb();	/* the copies before the second version read */
		if (le32_to_cpu(READ_ONCE(hi->version)) != v)
			continue;
		c->info = info;
		for (i = 0; i < n; i++)
			pvclk_steal_merge(c, &c->steal[i], &c->steal_copy[i]);
		c->nr_steal = n;
		mutex_unlock(&c->info_lock);
		return 0;
	}
	/* the values of the last good read stay */
	c->odd_giveups++;
	mutex_unlock(&c->info_lock);
	dev_warn_ratelimited(&c->pdev->dev, "clock area version stays odd: host info not read\n");
	return -EAGAIN;
}

/* --------------------------------------------------------- exchanges */

static u64 pvclk_us_to_tsc(u64 us)
{
	return us * tsc_khz / 1000;
}

/*
 * One exchange, spinning until the TSC reaches @limit at most, with
 * interrupts off unless @irqs_on (then preemption only).  -1 and @s
 * filled in, or why it is refused (PVCLK_REJ_*).
 */
static int pvclk_exchange(struct pvclk *c, u64 limit, struct pvclk_sample *s,
			  bool irqs_on)
{
	struct pvkit_clock_xchg *x = &c->area->xchg;
	unsigned long flags;
	u32 seq, rsp, old, rns;
	u64 t1, t2;

	old = le32_to_cpu(READ_ONCE(x->resp_seq));
	seq = c->seq + 1;
	if (seq == old)
		seq++;		/* it must differ to ask */
	c->seq = seq;

	if (irqs_on)
		preempt_disable();
	else
		local_irq_save(flags);
	t1 = rdtsc_ordered();
	/* release: nothing of ours is read by the host; order vs t1 */
	smp_store_release(&x->req_seq, cpu_to_le32(seq));
	for (;;) {
		/* acquire, pairs with the host's release of resp_seq */
		rsp = le32_to_cpu(smp_load_acquire(&x->resp_seq));
		t2 = rdtsc_ordered();
		if (rsp == seq || t2 >= limit)
			break;
		cpu_relax();
	}
	if (irqs_on)
		preempt_enable();
	else
		local_irq_restore(flags);
	if (rsp != seq)		/* unanswered, or answered for another */
		return rsp == old ? PVCLK_REJ_TIMEOUT : PVCLK_REJ_SEQ;
	s->gen = le32_to_cpu(READ_ONCE(x->generation));
	s->real = le64_to_cpu(READ_ONCE(x->realtime_ns));
	s->mono = le64_to_cpu(READ_ONCE(x->monotonic_ns));
	rns = le32_to_cpu(READ_ONCE(x->read_ns));
	smp_rmb();	/* the copies before the check */
	if (le32_to_cpu(READ_ONCE(x->resp_seq)) != seq)
		return PVCLK_REJ_SEQ;
	if (t2 <= t1)
		return PVCLK_REJ_ORDER;
	s->tsc = t1 + (t2 - t1) / 2;
	s->rtt = mul_u64_u64_shr(t2 - t1, c->cur.mul, PVCLK_FRAC);
	s->err = s->rtt / 2 + 1 + rns;
	return -1;
}

/*
 * A WINDOW and its exchanges: the valid answer with the smallest round
 * trip in @best.  0, -EAGAIN (BUSY: *retry_ms), -ENOENT (no valid
 * sample) or -errno.  Lock held.
 */
static int pvclk_window(struct pvclk *c, u32 gen, struct pvclk_sample *best,
			unsigned int *retry_ms)
{
	u64 prev_mono = c->nhist ? c->hist[c->nhist - 1].mono : 0;
	u64 now, end, limit, spin = pvclk_us_to_tsc(PVCLK_XCHG_SPIN_US);
	struct pvclk_sample s;
	unsigned int i, n, win;
	bool found = false;
	int err, why;

	n = clamp(xchg, 1U, c->max_xchg);
	now = rdtsc_ordered();
	err = pvclk_call(c, PVKIT_CLOCK_OP_WINDOW, 0, n);
	c->call_ns = mul_u64_u64_shr(rdtsc_ordered() - now, c->cur.mul,
				     PVCLK_FRAC);
	if (err) {
		c->windows_failed++;
		return err;
	}
	if (c->rsp.status == PVKIT_CLOCK_S_BUSY) {
		c->windows_busy++;
		*retry_ms = clamp(le32_to_cpu(c->rsp.value),
				  (u32)PVCLK_BUSY_MIN_MS, (u32)PVCLK_BUSY_MAX_MS);
		return -EAGAIN;
	}
	if (c->rsp.status != PVKIT_CLOCK_S_OK) {
		c->windows_failed++;
		dev_err_ratelimited(&c->pdev->dev, "host refused WINDOW %u: status %u\n",
				    n, c->rsp.status);
		/* it may have dropped the area (a reset): SETUP again */
		c->setup = false;
		return -EINVAL;
	}
	c->windows_ok++;
	/* the host's word, within what it announced and the ABI's maximum */
	win = min3(le32_to_cpu(c->rsp.value), c->window_us,
		   (u32)PVKIT_CLOCK_WINDOW_MAX_US);
	now = rdtsc_ordered();
	end = now + pvclk_us_to_tsc(win);

	/*
	 * The first exchange finds the host spinning (our wake-up and the
	 * host's responder may both be late, e.g. under TCG on few host
	 * CPUs): interrupts on, up to the window's end.  An interrupt only
	 * widens its bracket, so its sample is as valid as the others.
	 */
	for (i = 0; i < n; i++) {
		if (i) {
			now = rdtsc_ordered();
			if (now >= end)
				break;
		}
		limit = i ? min(end, now + spin) : end;
		why = pvclk_exchange(c, limit, &s, !i);
		if (!i)
			c->first_wait = mul_u64_u64_shr(rdtsc_ordered() - now,
							c->cur.mul, PVCLK_FRAC);
		if (why == PVCLK_REJ_TIMEOUT || why == PVCLK_REJ_SEQ) {
			/* the host stopped answering: the window is over */
			c->rejects[why]++;
			break;
		}
		c->exchanges++;
		if (why < 0) {
			if (s.gen != gen)
				why = PVCLK_REJ_GEN;
			else if (s.real < PVCLK_REAL_MIN_NS ||
				 s.real > PVCLK_REAL_MAX_NS)
				why = PVCLK_REJ_REAL;
			else if (s.mono < prev_mono)
				why = PVCLK_REJ_MONO;
		}
		if (why >= 0) {
			c->rejects[why]++;
			continue;
		}
		prev_mono = s.mono;
		if (!found || s.rtt < best->rtt)
			*best = s;
		found = true;
	}
	return found ? 0 : -ENOENT;
}

/* ------------------------------------------------------------ calibrate */

/* |mul - nominal| in ppm of nominal (saturating). */
static s64 pvclk_ppm(const struct pvclk *c, u64 mul)
{
	u64 d = mul > c->nom_mul ? mul - c->nom_mul : c->nom_mul - mul;
	u64 ppm;

	if (d > U64_MAX / 1000000)
		return mul > c->nom_mul ? S64_MAX : S64_MIN;
	ppm = div64_u64(d * 1000000, c->nom_mul);
	return mul > c->nom_mul ? (s64)ppm : -(s64)ppm;
}

/*
 * The rate from the two samples of the history that bound it best (at
 * least @min_ns apart): 1, 0 if none are far enough apart (or, @unc_max
 * not 0, their uncertainty is over it), -1 if the rate is refused.
 */
static int pvclk_rate(struct pvclk *c, u64 min_ns, u64 unc_max, u64 *mul,
		      u64 *unc)
{
	const struct pvclk_sample *n = NULL, *o = NULL, *a, *b;
	u64 min_d = div64_u64(min_ns << PVCLK_FRAC, c->nom_mul);
	u64 d, best_score = 0, score, m;
	unsigned int i, j;
	s64 ppm;

	for (i = 0; i < c->nhist; i++) {
		for (j = i + 1; j < c->nhist; j++) {
			a = &c->hist[i];
			b = &c->hist[j];
			d = b->tsc - a->tsc;
			if (b->tsc <= a->tsc || d < min_d || b->mono < a->mono)
				continue;
			/* ticks per ns of error: larger is better */
			score = div64_u64(d, a->err + b->err);
			if (score > best_score) {
				best_score = score;
				o = a;
				n = b;
			}
		}
	}
	if (!n)
		return 0;
	d = n->tsc - o->tsc;
	*unc = mul_u64_u64_div_u64(n->err + o->err, 1ULL << PVCLK_FRAC, d);
	if (unc_max && *unc > unc_max)
		return 0;
	m = mul_u64_u64_div_u64(n->mono - o->mono, 1ULL << PVCLK_FRAC, d);
	ppm = pvclk_ppm(c, m);
	if (ppm > (s64)max_ppm || ppm < -(s64)max_ppm) {
		c->rejects[PVCLK_REJ_RATE]++;
		dev_warn_ratelimited(&c->pdev->dev, "host rate %lld ppm off the TSC's nominal: refused\n",
				     ppm);
		return -1;
	}
	*mul = m;
	return 1;
}

static void pvclk_drop_history(struct pvclk *c)
{
	c->nhist = 0;
}

static void pvclk_add(struct pvclk *c, const struct pvclk_sample *s)
{
	if (c->nhist == PVCLK_HIST) {
		memmove(&c->hist[0], &c->hist[1],
			(PVCLK_HIST - 1) * sizeof(c->hist[0]));
		c->nhist--;
	}
	c->hist[c->nhist++] = *s;
}

/*
 * The rate in use's uncertainty at @tsc: as measured, plus 10 ppb per
 * second since (the host's NTP may slew its clock meanwhile).
 */
static u64 pvclk_rate_unc(const struct pvclk *c, u64 tsc)
{
	u64 age = tsc > c->rate_tsc ?
		  mul_u64_u64_shr(tsc - c->rate_tsc, c->nom_mul, PVCLK_FRAC) : 0;

	return c->rate_unc + mul_u64_u64_div_u64(c->nom_mul, age,
						 PVCLK_RATE_AGE_DIV);
}

/*
 * A new record, continuous with the old at the switch, anchored on the
 * sample of the history whose bound is the smallest now: a sample with
 * a short round trip serves for seconds after one with a long one.
 * Lock held.
 */
static void pvclk_update(struct pvclk *c, u64 mul, u64 unc)
{
	const struct pvclk_sample *s = &c->hist[c->nhist - 1];
	struct pvclk_rec r = c->cur;
	u64 now = rdtsc_ordered();
	u64 bound, best = U64_MAX;
	unsigned int i;

	for (i = 0; i < c->nhist; i++) {
		bound = c->hist[i].err +
			mul_u64_u64_shr(now - c->hist[i].tsc, unc, PVCLK_FRAC);
		if (bound < best) {
			best = bound;
			s = &c->hist[i];
		}
	}

	r.ns0 = pvclk_cs_at(&c->cur, now);
	r.tsc0 = now;
	r.mul = mul;
	r.htsc = s->tsc;
	r.hmono = s->mono;
	r.hreal = s->real;
	r.herr = s->err;
	r.hunc = unc;
	r.gen = s->gen;
	r.valid = true;
	c->cur = r;
	pvclk_publish(&r);
}

static void pvclk_invalidate(struct pvclk *c)
{
	c->cur.valid = false;
	pvclk_publish(&c->cur);
}

static void pvclk_new_gen(struct pvclk *c, u32 gen)
{
	if (c->calibrations)
		dev_info_ratelimited(&c->pdev->dev, "generation %u -> %u: recalibrating\n",
				     c->gen, gen);
	c->gen = gen;
	c->gen_changes++;
	c->pend = false;	/* announced: no confirmation needed */
	pvclk_drop_history(c);	/* the rate stays: a pause does not change it */
	pvclk_invalidate(c);
	c->need_step = true;
}

/*
 * Does @s leave the current mapping's prediction by more than the error
 * bound allows?  Then guest time stopped or jumped unannounced, or the
 * host's time is wrong.
 */
static bool pvclk_off_mapping(struct pvclk *c, const struct pvclk_sample *s,
			      s64 *dm, s64 *dr, u64 *allow)
{
	const struct pvclk_rec *r = &c->cur;
	u64 elapsed;

	if (!r->valid || r->gen != s->gen)
		return false;
	*dm = s->mono - pvclk_mono_at(r, s->tsc);
	*dr = s->real - pvclk_real_at(r, s->tsc);
	c->last_dev = *dm;
	elapsed = abs((s64)pvclk_scale(s->tsc - r->htsc, r->mul));
	*allow = pvclk_err_at(r, s->tsc) + s->err +
		 max_t(u64, PVCLK_DISRUPT_MIN_NS, div_u64(elapsed, 100));
	return (u64)abs(*dm) > *allow || (u64)abs(*dr) > *allow;
}

/*
 * Does @s follow @a at the rate in use, within max_ppm?  Then the
 * host's time runs consistently since @a.  *el: ns from @a to @s.
 */
static bool pvclk_fits(struct pvclk *c, const struct pvclk_sample *a,
		       const struct pvclk_sample *s, u64 *el)
{
	u64 allow;
	s64 dm, dr;

	if (s->tsc <= a->tsc)
		return false;
	*el = pvclk_scale(s->tsc - a->tsc, c->rate_mul);
	allow = a->err + s->err + div_u64(*el, 1000000) * max_ppm;
	dm = s->mono - a->mono - *el;
	dr = s->real - a->real - *el;
	return (u64)abs(dm) <= allow && (u64)abs(dr) <= allow;
}

/*
 * An unannounced disruption must be confirmed before it moves the
 * mapping (and CLOCK_REALTIME): a host whose time stands still or races
 * would otherwise be followed at every calibration.  The first sample off
 * the mapping is kept aside (pend_s) while the history stays; a sample at
 * least PVCLK_CONFIRM_NS later that follows it at the rate in use within
 * max_ppm confirms it (the host's time is consistent again, only offset:
 * the history starts afresh from the two, a step is due).  One that
 * follows neither it nor the old mapping is refused (counted, logged),
 * and becomes the sample kept aside.  One back on the old mapping ends
 * the wait.  True if @s must not be used now.  Lock held.
 */
static bool pvclk_disrupted(struct pvclk *c, const struct pvclk_sample *s)
{
	u64 allow, el;
	s64 dm, dr;
	bool off;

	off = pvclk_off_mapping(c, s, &dm, &dr, &allow);
	if (c->pend) {
		if (c->pend_s.gen == s->gen && pvclk_fits(c, &c->pend_s, s, &el)) {
			if (el < PVCLK_CONFIRM_NS)
				return true;	/* not long enough yet */
			c->pend = false;
			c->disruptions_confirmed++;
			dev_warn_ratelimited(&c->pdev->dev, "generation %u: host time consistent for %llu ms since the disruption: confirmed\n",
					     s->gen, div_u64(el, NSEC_PER_MSEC));
			pvclk_drop_history(c);
			pvclk_add(c, &c->pend_s);
			c->need_step = true;
			return false;
		}
		if (!off) {
			/* back on the mapping: the departure was the error */
			c->pend = false;
			c->disruptions_refused++;
			return false;
		}
		c->disruptions++;
		c->disruptions_refused++;
		dev_warn_ratelimited(&c->pdev->dev, "generation %u: host time %+lld ns (monotonic), %+lld ns (realtime) from the mapping and inconsistent with its last departure: refused, the clock runs on\n",
				     s->gen, dm, dr);
		c->pend_s = *s;
		return true;
	}
	if (!off)
		return false;
	c->disruptions++;
	dev_warn_ratelimited(&c->pdev->dev, "generation %u: host time %+lld ns (monotonic), %+lld ns (realtime) from the prediction (bound %llu ns): disruption, to be confirmed\n",
			     s->gen, dm, dr, allow);
	c->pend = true;
	c->pend_s = *s;
	return true;
}

/* Step CLOCK_REALTIME to the host's if it is off.  Lock held. */
static void pvclk_step(struct pvclk *c)
{
	struct pvclk_rec r;
	struct timespec64 ts;
	unsigned long flags;
	char gen_env[40], step_env[48];
	char *envp[3];
	u64 tsc, sys, a, bound;
	s64 delta;
	int err;

	pvclk_get(&r);
	if (!r.valid)
		return;
	local_irq_save(flags);
	tsc = rdtsc_ordered();
	sys = ktime_get_real_ns();
	local_irq_restore(flags);
	delta = pvclk_real_at(&r, tsc) - sys;
	if (abs(delta) <= (s64)step_threshold_us * NSEC_PER_USEC) {
		c->need_step = false;
		c->step_defers = 0;
		c->step_checks = 0;
		return;
	}
	/*
	 * A step lands where the mapping says: wait (up to 20
	 * calibrations, 100 ms apart) for a mapping whose bound is within
	 * an eighth of the threshold, so the step is not off by a bad
	 * round trip.
	 */
	bound = pvclk_err_at(&r, tsc);
	if (bound > (u64)step_threshold_us * NSEC_PER_USEC / PVCLK_STEP_GOOD &&
	    c->step_defers < PVCLK_STEP_DEFERS) {
		c->step_defers++;
		return;
	}
	if (c->stepped_once &&
	    time_before(jiffies, c->last_step +
			msecs_to_jiffies(PVCLK_STEP_MIN_MS)))
		return;		/* need_step stays: the next calibration */
	ts = ns_to_timespec64(ktime_get_real_ns() + delta);
	err = do_settimeofday64(&ts);
	/* taken on a poor bound: check again once a better one comes */
	c->need_step = bound > (u64)step_threshold_us * NSEC_PER_USEC /
			       PVCLK_STEP_GOOD &&
		       ++c->step_checks < PVCLK_STEP_CHECKS;
	if (!c->need_step)
		c->step_checks = 0;
	c->step_defers = 0;
	c->stepped_once = true;
	c->last_step = jiffies;
	if (err) {
		dev_err_ratelimited(&c->pdev->dev, "stepping CLOCK_REALTIME failed: %d\n",
				    err);
		return;
	}
	c->steps++;
	c->last_step_ns = delta;
	c->last_step_bound = bound;
	a = abs(delta);
	dev_info_ratelimited(&c->pdev->dev, "generation %u: stepped CLOCK_REALTIME by %c%llu.%09llu s\n",
			     r.gen, delta < 0 ? '-' : '+', a / NSEC_PER_SEC,
			     a % NSEC_PER_SEC);
	snprintf(gen_env, sizeof(gen_env), "PVKIT_CLOCK_GENERATION=%u", r.gen);
	snprintf(step_env, sizeof(step_env), "PVKIT_CLOCK_STEP_NS=%lld", delta);
	envp[0] = gen_env;
	envp[1] = step_env;
	envp[2] = NULL;
	kobject_uevent_env(&c->pdev->dev.kobj, KOBJ_CHANGE, envp);
}

/* One calibration: the next run's delay in ms, or -1 for none. */
static int pvclk_calibrate(struct pvclk *c)
{
	struct pvclk_sample s;
	unsigned int retry_ms = PVCLK_RETRY_MS;
	u64 mul, unc;
	int err, rate;
	u32 gen;

	if (pvkit_fe_dev_dead(&c->fd))
		return -1;
	if (!c->setup) {
		err = pvclk_setup(c, virt_to_phys(c->area));
		if (err)
			return err == -ENODEV ? -1 : PVCLK_RETRY_MS;
		c->setup = true;
		c->setup_epoch = READ_ONCE(c->pdev->epoch);
		WRITE_ONCE(c->area_left, false);
	}
	pvclk_read_info(c);
	gen = pvclk_cfg_gen(c);
	if (gen != c->gen)
		pvclk_new_gen(c, gen);

	err = pvclk_window(c, gen, &s, &retry_ms);
	if (err == -ENODEV)
		return -1;
	/* a window without a valid sample while a step waits: soon again */
	if (err == -ENOENT && c->need_step)
		return PVCLK_FORCE_MIN_MS;
	if (err)
		return retry_ms;
	c->calibrations++;
	c->last_rtt = s.rtt;
	c->last_err = s.err;
	if (!c->best_rtt || s.rtt < c->best_rtt)
		c->best_rtt = s.rtt;
	if (pvclk_disrupted(c, &s))
		goto held;	/* the mapping stays as it is */
	pvclk_add(c, &s);
	/*
	 * A new estimate replaces the rate in use only if it is better
	 * than that one has become with age: a history dropped at a
	 * generation change starts with few, maybe poor samples.  Until
	 * a first rate is known, samples closer together will do if they
	 * bound it well enough (the probe's burst, before it registers
	 * the clocksource).
	 */
	rate = pvclk_rate(c, PVCLK_RATE_MIN_NS, 0, &mul, &unc);
	if (rate > 0) {
		c->rate_measured = true;
	} else if (!rate && !c->rate_measured && !c->rate_estimated) {
		rate = pvclk_rate(c, PVCLK_RATE_FIRST_NS,
				  mul_u64_u64_div_u64(c->nom_mul,
						      PVCLK_RATE_FIRST_PPM,
						      1000000),
				  &mul, &unc);
		if (rate > 0)
			c->rate_estimated = true;
	}
	if (rate > 0 && unc <= pvclk_rate_unc(c, s.tsc)) {
		c->rate_mul = mul;
		c->rate_unc = unc;
		c->rate_tsc = s.tsc;
	} else {
		mul = c->rate_mul;
		unc = pvclk_rate_unc(c, s.tsc);
		if (rate < 0) {
			/* start over from the newest sample */
			pvclk_drop_history(c);
			pvclk_add(c, &s);
		}
	}
	pvclk_update(c, mul, unc);
held:
	if (c->need_step && step)
		pvclk_step(c);
	else if (!step)
		c->need_step = false;
	return c->need_step ? PVCLK_FORCE_MIN_MS : clamp(calib_ms, 100U, 60000U);
}

static void pvclk_work(struct work_struct *work)
{
	struct pvclk *c = container_of(to_delayed_work(work), struct pvclk,
				       work);
	int next;

	mutex_lock(&c->lock);
	c->force = false;
	c->last_run = jiffies;
	next = pvclk_calibrate(c);
	/* a change that came in meanwhile: at most every 100 ms */
	if (c->force && next > PVCLK_FORCE_MIN_MS)
		next = PVCLK_FORCE_MIN_MS;
	if (next >= 0)
		queue_delayed_work(system_freezable_wq, &c->work,
				   msecs_to_jiffies(next));
	mutex_unlock(&c->lock);
}

/* Recalibrate soon: at most one forced run per 100 ms. */
static void pvclk_force(struct pvclk *c)
{
	unsigned long due = READ_ONCE(c->last_run) +
			    msecs_to_jiffies(PVCLK_FORCE_MIN_MS);
	unsigned long delay = time_after(due, jiffies) ? due - jiffies : 0;

	WRITE_ONCE(c->force, true);
	mod_delayed_work(system_freezable_wq, &c->work, delay);
}

/* ---------------------------------------------------------------- PTP */

static int pvclk_ptp_gettimex(struct ptp_clock_info *pi, struct timespec64 *ts,
			      struct ptp_system_timestamp *sts)
{
	struct pvclk_rec r;
	unsigned long flags;
	u64 tsc;

	pvclk_get(&r);
	if (!r.valid)
		return -EAGAIN;
	local_irq_save(flags);
	ptp_read_system_prets(sts);
	tsc = rdtsc_ordered();
	ptp_read_system_postts(sts);
	local_irq_restore(flags);
	*ts = ns_to_timespec64(pvclk_real_at(&r, tsc));
	return 0;
}

static int pvclk_ptp_gettime(struct ptp_clock_info *pi, struct timespec64 *ts)
{
	return pvclk_ptp_gettimex(pi, ts, NULL);
}

/* Inside the timekeeper's seqcount read: no locks, nothing that waits. */
static int pvclk_get_time_fn(ktime_t *device, struct system_counterval_t *sc,
			     void *ctx)
{
	struct pvclk_rec r;
	u64 tsc;

	pvclk_get(&r);
	if (!r.valid)
		return -EAGAIN;
	tsc = rdtsc_ordered();
	sc->cycles = pvclk_guard(pvclk_cs_at(&r, tsc));
	sc->cs = &pvclk_cs;
	*device = ns_to_ktime(pvclk_real_at(&r, tsc));
	return 0;
}

static int pvclk_ptp_crosststamp(struct ptp_clock_info *pi,
				 struct system_device_crosststamp *xt)
{
	int err = get_device_system_crosststamp(pvclk_get_time_fn, NULL, NULL,
						xt);

	/* not the system's clocksource: PTP_SYS_OFFSET_EXTENDED instead */
	return err == -ENODEV ? -EOPNOTSUPP : err;
}

static int pvclk_ptp_adjfine(struct ptp_clock_info *pi, long scaled_ppm)
{
	return -EOPNOTSUPP;
}

static int pvclk_ptp_adjtime(struct ptp_clock_info *pi, s64 delta)
{
	return -EOPNOTSUPP;
}

static int pvclk_ptp_settime(struct ptp_clock_info *pi,
			     const struct timespec64 *ts)
{
	return -EOPNOTSUPP;
}

static int pvclk_ptp_enable(struct ptp_clock_info *pi,
			    struct ptp_clock_request *rq, int on)
{
	return -EOPNOTSUPP;
}

static const struct ptp_clock_info pvclk_ptp_caps = {
	.owner		= THIS_MODULE,
	.name		= "pvkit",
	.adjfine	= pvclk_ptp_adjfine,
	.adjtime	= pvclk_ptp_adjtime,
	.gettime64	= pvclk_ptp_gettime,
	.gettimex64	= pvclk_ptp_gettimex,
	.getcrosststamp	= pvclk_ptp_crosststamp,
	.settime64	= pvclk_ptp_settime,
	.enable		= pvclk_ptp_enable,
};

/* ------------------------------------------------------- sysfs, debugfs */

static ssize_t steal_show(struct device *dev, struct device_attribute *attr,
			  char *buf)
{
	struct pvclk *c = dev_get_drvdata(dev);
	ssize_t len = 0;
	unsigned int i;

	if (!c)
		return -ENODEV;
	pvclk_read_info(c);
	mutex_lock(&c->info_lock);
	for (i = 0; i < c->nr_steal; i++)
		len += sysfs_emit_at(buf, len, "cpu%u %llu %llu\n", i,
				     le64_to_cpu(c->steal[i].steal_ns),
				     le64_to_cpu(c->steal[i].run_ns));
	mutex_unlock(&c->info_lock);
	return len;
}
static DEVICE_ATTR_RO(steal);

static struct attribute *pvclk_steal_attrs[] = {
	&dev_attr_steal.attr,
	NULL,
};

static const struct attribute_group pvclk_steal_group = {
	.attrs = pvclk_steal_attrs,
};

static int pvclk_status_show(struct seq_file *m, void *v)
{
	struct pvclk *c = m->private;
	struct pvclk_rec r;
	unsigned int i;
	u64 tsc;

	pvclk_get(&r);
	tsc = rdtsc_ordered();
	seq_printf(m, "generation: %u\n", pvclk_cfg_gen(c));
	seq_printf(m, "mapping_generation: %u\n", r.gen);
	seq_printf(m, "mapping_valid: %d\n", r.valid);
	seq_printf(m, "calibrations: %lu\n", c->calibrations);
	seq_printf(m, "windows_ok: %lu\n", c->windows_ok);
	seq_printf(m, "windows_busy: %lu\n", c->windows_busy);
	seq_printf(m, "windows_failed: %lu\n", c->windows_failed);
	seq_printf(m, "exchanges: %lu\n", c->exchanges);
	seq_printf(m, "history: %u\n", c->nhist);
	seq_printf(m, "best_rtt_ns: %llu\n", c->best_rtt);
	seq_printf(m, "last_rtt_ns: %llu\n", c->last_rtt);
	seq_printf(m, "last_sample_err_ns: %llu\n", c->last_err);
	seq_printf(m, "window_call_ns: %llu\n", c->call_ns);
	seq_printf(m, "window_first_answer_ns: %llu\n", c->first_wait);
	seq_printf(m, "last_deviation_ns: %lld\n", c->last_dev);
	seq_printf(m, "error_bound_ns: %llu\n",
		   r.valid ? pvclk_err_at(&r, tsc) : 0);
	seq_printf(m, "rate_measured: %d\n", c->rate_measured);
	seq_printf(m, "rate_ppm: %lld\n", pvclk_ppm(c, r.mul));
	seq_printf(m, "rate_uncertainty_ppb: %llu\n",
		   mul_u64_u64_div_u64(r.hunc, NSEC_PER_SEC, c->nom_mul));
	for (i = 0; i < PVCLK_REJ_NR; i++)
		seq_printf(m, "rejects_%s: %lu\n", pvclk_rej_names[i],
			   c->rejects[i]);
	seq_printf(m, "generation_changes: %lu\n", c->gen_changes);
	seq_printf(m, "steps: %lu\n", c->steps);
	seq_printf(m, "last_step_ns: %lld\n", c->last_step_ns);
	seq_printf(m, "last_step_bound_ns: %llu\n", c->last_step_bound);
	seq_printf(m, "disruptions: %lu\n", c->disruptions);
	seq_printf(m, "disruptions_confirmed: %lu\n",
		   c->disruptions_confirmed);
	seq_printf(m, "disruptions_refused: %lu\n", c->disruptions_refused);
	seq_printf(m, "disruption_pending: %d\n", c->pend);
	seq_printf(m, "version_odd_giveups: %lu\n", c->odd_giveups);
	mutex_lock(&c->info_lock);
	seq_printf(m, "steal_backwards: %lu\n", c->steal_backwards);
	seq_printf(m, "host_status: %#llx\n", le64_to_cpu(c->info.host_status));
	seq_printf(m, "host_maxerror_ns: %llu\n",
		   le64_to_cpu(c->info.maxerror_ns));
	seq_printf(m, "host_esterror_ns: %llu\n",
		   le64_to_cpu(c->info.esterror_ns));
	mutex_unlock(&c->info_lock);
	seq_printf(m, "ptp_index: %d\n", c->ptp ? ptp_clock_index(c->ptp) : -1);
	seq_printf(m, "rate_estimated: %d\n", c->rate_estimated);
	seq_printf(m, "clocksource_registered: %d\n", c->cs_registered);
	seq_printf(m, "clocksource_current: %d\n", pvclk_cs_current());
	seq_printf(m, "features: %#llx\n", c->features);
	seq_printf(m, "max_xchg: %u\n", c->max_xchg);
	seq_printf(m, "window_us: %u\n", c->window_us);
	seq_printf(m, "nr_vcpus: %u\n", c->nr_vcpus);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(pvclk_status);

/* ---------------------------------------------------- host changes */

static void pvclk_config_changed(struct pvkit_device *pdev, const u8 *old)
{
	struct pvclk *c = dev_get_drvdata(&pdev->dev);

	/* generation is the live field; the rest was set up and stays */
	if (c && pvclk_cfg_gen(c) != get_unaligned_le32(old))
		pvclk_force(c);
}

static void pvclk_state_changed(struct pvkit_device *pdev, u32 old_state)
{
	struct pvclk *c = dev_get_drvdata(&pdev->dev);
	u32 state = READ_ONCE(pdev->state);

	if (!c)
		return;
	/*
	 * Out of CONNECTED (a DEV_RESET or DEV_DISCONNECT answered, a
	 * back-end restart, a fault): the host forgot the area.  Noted
	 * before the helper may reconnect, whose SETUP then clears it.
	 */
	if (state != PVKIT_DEV_STATE_CONNECTED &&
	    state != PVKIT_DEV_STATE_CLOSING)
		WRITE_ONCE(c->area_left, true);
	pvkit_fe_dev_state_changed(&c->fd, old_state);
	/* a reconnect starts the host afresh: the area again */
	if (READ_ONCE(pdev->state) == PVKIT_DEV_STATE_CONNECTED &&
	    READ_ONCE(pdev->epoch) != READ_ONCE(c->setup_epoch)) {
		WRITE_ONCE(c->setup, false);
		pvclk_force(c);
	}
}

/* ------------------------------------------------------------- probe */

/* The config as the host offers it, clamped to what the ABI allows. */
static void pvclk_read_config(struct pvclk *c)
{
	struct pvkit_clock_config cfg;
	struct device *dev = &c->pdev->dev;
	u32 v;

	memset(&cfg, 0, sizeof(cfg));
	memcpy(&cfg, c->pdev->config, min_t(size_t, c->pdev->config_size,
					    sizeof(cfg)));
	v = le32_to_cpu(cfg.max_xchg);
	c->max_xchg = clamp(v, 1U, (u32)PVKIT_CLOCK_MAX_XCHG);
	if (v != c->max_xchg)
		dev_warn(dev, "config max_xchg %u: using %u\n", v, c->max_xchg);
	v = le32_to_cpu(cfg.window_us);
	c->window_us = v && v <= PVKIT_CLOCK_WINDOW_MAX_US ? v :
		       PVKIT_CLOCK_WINDOW_MAX_US;
	if (v != c->window_us)
		dev_warn(dev, "config window_us %u: using %u\n", v,
			 c->window_us);
	c->window_rate = le32_to_cpu(cfg.window_rate);
	c->steal_period_ms = le32_to_cpu(cfg.steal_period_ms);
	v = le32_to_cpu(cfg.nr_vcpus);
	c->nr_vcpus = min_t(u32, v, PVKIT_CLOCK_MAX_VCPUS);
	if (v != c->nr_vcpus)
		dev_warn(dev, "config nr_vcpus %u: using %u\n", v, c->nr_vcpus);
	c->gen = le32_to_cpu(cfg.generation);
}

static int pvclk_init_queue(struct pvclk *c)
{
	int err;

	if (c->pdev->nr_queues != PVKIT_CLOCK_NR_QUEUES) {
		dev_err(&c->pdev->dev, "%u queues, expected %u\n",
			c->pdev->nr_queues, PVKIT_CLOCK_NR_QUEUES);
		return -EINVAL;
	}
	err = pvkit_fe_queue_init(&c->fq, c->pdev, PVKIT_CLOCK_Q_CTRL, 1,
				  sizeof(struct pvkit_clock_req),
				  sizeof(struct pvkit_clock_rsp));
	if (err)
		return err;
	pvkit_fe_call_init(&c->call, &c->req, &c->rsp, sizeof(c->rsp));
	snprintf(c->fq.name, sizeof(c->fq.name), "%s-ctrl",
		 dev_name(&c->pdev->dev));
	err = pvkit_fe_queue_bind_irq(&c->fq, pvclk_irq, c);
	if (err)
		return err;
	c->fd.queues[0] = &c->fq;
	return 0;
}

static void pvclk_free_queue(struct pvclk *c)
{
	if (c->fq.irq)
		pvkit_fe_queue_unbind_irq(&c->fq, c);
	pvkit_fe_queue_destroy(&c->fq);
}

/*
 * The area goes back to the allocator only once the host is known to
 * have let go of it: SETUP 0 answered, the device seen out of CONNECTED
 * since the last SETUP (e.g. the DEV_RESET of a broken device answered:
 * the host forgets the area then, ABI.md 12), or the slot FREE (the host
 * stops before it publishes that, ABI.md 6.1).  Otherwise it is leaked.
 */
static bool pvclk_host_left(struct pvclk *c)
{
	u32 state = READ_ONCE(c->pdev->state);

	return READ_ONCE(c->area_left) ||
	       (state != PVKIT_DEV_STATE_CONNECTED &&
		state != PVKIT_DEV_STATE_CLOSING);
}

static void pvclk_free_area(struct pvclk *c, bool released)
{
	if (!released && !pvclk_host_left(c)) {
		dev_warn(&c->pdev->dev, "host may still write the clock area: its page is not freed\n");
		return;
	}
	free_page((unsigned long)c->area);
}

/* The first mapping: the guest's own TSC rate, no host time yet. */
static void pvclk_init_mapping(struct pvclk *c)
{
	u64 now = rdtsc_ordered();

	memset(&c->cur, 0, sizeof(c->cur));
	c->nom_mul = div_u64(1000000ULL << PVCLK_FRAC, tsc_khz);
	c->cur.mul = c->nom_mul;
	c->cur.tsc0 = now;
	c->cur.ns0 = mul_u64_u64_shr(now, c->nom_mul, PVCLK_FRAC);
	c->cur.hunc = mul_u64_u64_div_u64(c->nom_mul, max_ppm, 1000000);
	c->rate_mul = c->nom_mul;
	c->rate_unc = c->cur.hunc;
	c->rate_tsc = now;
	atomic64_set(&pvclk_last, c->cur.ns0);
	pvclk_publish(&c->cur);
}

static int pvclk_probe(struct pvkit_device *pdev)
{
	struct pvclk *c;
	unsigned int i;
	int err, next;

	if (!boot_cpu_has(X86_FEATURE_TSC) || !tsc_khz) {
		dev_err(&pdev->dev, "no TSC: the clock cannot be used\n");
		return -ENODEV;
	}
	if (pdev->config_size < offsetofend(struct pvkit_clock_config,
					    nr_vcpus)) {
		dev_err(&pdev->dev, "config too short: %u bytes\n",
			pdev->config_size);
		return -EINVAL;
	}
	mutex_lock(&pvclk_bind_lock);
	if (pvclk_bound) {
		mutex_unlock(&pvclk_bind_lock);
		dev_info(&pdev->dev, "a pvkit clock is bound already: not this one\n");
		return -EBUSY;
	}
	c = kzalloc(sizeof(*c), GFP_KERNEL);
	if (!c) {
		err = -ENOMEM;
		goto err_unlock;
	}
	c->pdev = pdev;
	mutex_init(&c->lock);
	mutex_init(&c->info_lock);
	INIT_DELAYED_WORK(&c->work, pvclk_work);
	c->features = pdev->features & PVKIT_CLOCK_F_KNOWN;
	pvclk_read_config(c);
	c->area = (void *)get_zeroed_page(GFP_KERNEL);
	if (!c->area) {
		err = -ENOMEM;
		goto err_free;
	}
	err = pvkit_fe_dev_init(&c->fd, pdev, &pvclk_fe_ops,
				PVKIT_CLOCK_NR_QUEUES,
				sizeof(struct pvkit_clock_rsp));
	if (err)
		goto err_area;
	c->fd.name = dev_name(&pdev->dev);
	c->fd.noun = "clock";
	c->fd.features = c->features;
	err = pvclk_init_queue(c);
	if (err)
		goto err_queue;
	dev_set_drvdata(&pdev->dev, c);
	err = pvkit_fe_dev_connect(&c->fd, PVCLK_CONNECT_WAIT_MS);
	if (err) {
		dev_err(&pdev->dev, "cannot connect: %d\n", err);
		goto err_clear;
	}
	pvkit_fe_dev_set_no_events(&c->fd, true);
	mutex_lock(&c->lock);
	err = pvclk_setup(c, virt_to_phys(c->area));
	if (!err) {
		c->setup = true;
		c->setup_epoch = READ_ONCE(pdev->epoch);
		WRITE_ONCE(c->area_left, false);
	}
	mutex_unlock(&c->lock);
	pvkit_fe_dev_set_no_events(&c->fd, false);
	if (err) {
		dev_err(&pdev->dev, "SETUP failed: %d\n", err);
		goto err_disconnect;
	}

	pvclk_init_mapping(c);
	c->need_step = true;
	/*
	 * A first host rate before the clocksource starts: at the guest's
	 * tsc_khz, which TCG can leave over 1000 ppm off the host's rate,
	 * the clocksource watchdog (about 800 ppm) may mark it unstable
	 * before the first 2 s rate.  A burst of windows 50 ms apart
	 * (usually two or three, well under half a second).  No state
	 * change arrives during probe: a call that times out breaks the
	 * device rather than waiting for a restart.
	 */
	pvkit_fe_dev_set_no_events(&c->fd, true);
	for (i = 0; i < PVCLK_PROBE_WINDOWS; i++) {
		if (i)
			msleep(PVCLK_PROBE_GAP_MS);
		mutex_lock(&c->lock);
		next = pvclk_calibrate(c);
		mutex_unlock(&c->lock);
		if (next < 0 || c->rate_estimated || c->rate_measured)
			break;
	}
	pvkit_fe_dev_set_no_events(&c->fd, false);
	/* afresh, whatever the watchdog did to an earlier registration */
	pvclk_cs.rating = rating;
	pvclk_cs.flags = CLOCK_SOURCE_IS_CONTINUOUS | CLOCK_SOURCE_MUST_VERIFY;
	err = clocksource_register_hz(&pvclk_cs, NSEC_PER_SEC);
	if (err)
		dev_err(&pdev->dev, "clocksource: %d\n", err);
	else
		c->cs_registered = true;
	if (c->rate_estimated || c->rate_measured)
		dev_info(&pdev->dev, "clocksource pvkit at the host's rate, %+lld ppm from the TSC's nominal\n",
			 pvclk_ppm(c, c->cur.mul));
	else
		dev_warn(&pdev->dev, "no host rate from %u windows: clocksource pvkit starts at the TSC's nominal rate\n",
			 PVCLK_PROBE_WINDOWS);

	c->ptp_info = pvclk_ptp_caps;
	c->ptp = ptp_clock_register(&c->ptp_info, &pdev->dev);
	if (IS_ERR(c->ptp)) {
		dev_warn(&pdev->dev, "PTP clock: %ld\n", PTR_ERR(c->ptp));
		c->ptp = NULL;
	}
	if (c->features & PVKIT_CLOCK_F_STEAL) {
		err = device_add_group(&pdev->dev, &pvclk_steal_group);
		if (err)
			dev_warn(&pdev->dev, "steal attributes: %d\n", err);
		else
			c->steal_attrs = true;
	}
	c->dbg = debugfs_create_dir(dev_name(&pdev->dev), pvclk_dbg_root);
	debugfs_create_file("status", 0444, c->dbg, c, &pvclk_status_fops);

	pvclk_bound = c;
	mutex_unlock(&pvclk_bind_lock);
	dev_info(&pdev->dev, "pvkit clock: generation %u, clocksource pvkit (rating %u), PTP /dev/ptp%d, features %#llx\n",
		 c->gen, rating, c->ptp ? ptp_clock_index(c->ptp) : -1,
		 c->features);
	queue_delayed_work(system_freezable_wq, &c->work, 0);
	return 0;

err_disconnect:
	pvkit_fe_dev_remove_end(&c->fd);
err_clear:
	dev_set_drvdata(&pdev->dev, NULL);
err_queue:
	pvclk_free_queue(c);
	pvkit_fe_dev_destroy(&c->fd);
err_area:
	/* no SETUP answered OK: the host never had it */
	free_page((unsigned long)c->area);
err_free:
	kfree(c);
err_unlock:
	mutex_unlock(&pvclk_bind_lock);
	return err;
}

static void pvclk_remove(struct pvkit_device *pdev)
{
	struct pvclk *c = dev_get_drvdata(&pdev->dev);
	bool released = false;
	unsigned int i;

	pvkit_fe_dev_remove_begin(&c->fd);
	cancel_delayed_work_sync(&c->work);
	debugfs_remove_recursive(c->dbg);
	if (c->steal_attrs)
		device_remove_group(&pdev->dev, &pvclk_steal_group);
	if (c->ptp)
		ptp_clock_unregister(c->ptp);
	/* switches the timekeeper away first if "pvkit" is current */
	if (c->cs_registered && clocksource_unregister(&pvclk_cs))
		dev_err(&pdev->dev, "clocksource pvkit could not be unregistered\n");
	pvclk_invalidate(c);
	mutex_lock(&c->lock);
	if (!pvkit_fe_dev_dead(&c->fd))
		released = !pvclk_setup(c, 0);
	mutex_unlock(&c->lock);
	pvkit_fe_dev_remove_end(&c->fd);
	/*
	 * Broken (DEV_RESET sent, done by now) or gone: the bus notes the
	 * state the host left CONNECTED for asynchronously, and our
	 * state_changed() cannot run while we are removed.  A short wait
	 * for pdev->state, which the bus writes before it takes the lock.
	 */
	for (i = 0; !released && i < PVCLK_LEFT_WAIT_MS / 20 &&
	     !pvclk_host_left(c); i++)
		msleep(20);
	dev_set_drvdata(&pdev->dev, NULL);
	pvclk_free_queue(c);
	pvkit_fe_dev_destroy(&c->fd);
	pvclk_free_area(c, released);
	mutex_lock(&pvclk_bind_lock);
	pvclk_bound = NULL;
	mutex_unlock(&pvclk_bind_lock);
	kfree(c);
}

static struct pvkit_driver pvclk_driver = {
	.driver.name	= KBUILD_MODNAME,
	.type		= PVKIT_DEV_CLOCK,
	.probe		= pvclk_probe,
	.remove		= pvclk_remove,
	.state_changed	= pvclk_state_changed,
	.config_changed	= pvclk_config_changed,
};

static int __init pvclk_init(void)
{
	int err;

	seqcount_latch_init(&pvclk_latch.seq);
	pvclk_dbg_root = debugfs_create_dir(KBUILD_MODNAME, NULL);
	err = pvkit_register_driver(&pvclk_driver);
	if (err)
		debugfs_remove_recursive(pvclk_dbg_root);
	return err;
}
module_init(pvclk_init);

static void __exit pvclk_exit(void)
{
	pvkit_unregister_driver(&pvclk_driver);
	debugfs_remove_recursive(pvclk_dbg_root);
}
module_exit(pvclk_exit);

MODULE_DESCRIPTION("pvkit paravirt clock: clocksource, PTP clock, steal time");
MODULE_AUTHOR("The pvkit authors");
MODULE_LICENSE("GPL");
