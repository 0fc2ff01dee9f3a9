// SPDX-License-Identifier: GPL-2.0-only
/*
 * Device table (ABI.md 6): the hv's private copy, publication under the
 * generation seqcount, and the state machine of ABI.md 6.1.
 */
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <pvkit-host/log.h>

#include "include/dev.h"
#include "include/hv.h"


#define S(x)	PVKIT_DEV_STATE_##x
#define NO	(-1)

/*
 * next[state][event].  Guest events not listed for a state are ESTATE.
 * FREE only leaves on hot-add; OFFERED/RESETTING absorb back-end churn;
 * leaving CONNECTED always goes through a state that stops the rings.
 */
static const int dev_fsm[6][DEV_EV_NR] = {
	[S(FREE)] = {
		[DEV_EV_HOT_ADD] = S(OFFERED),
		[DEV_EV_CONNECT] = NO, [DEV_EV_DISCONNECT] = NO,
		[DEV_EV_RESET] = NO, [DEV_EV_BE_DIED] = NO,
		[DEV_EV_BE_READY] = NO, [DEV_EV_BE_GIVEUP] = NO,
		[DEV_EV_FAULT] = NO, [DEV_EV_HOT_REMOVE] = NO,
	},
	[S(OFFERED)] = {
		[DEV_EV_HOT_ADD] = NO,
		[DEV_EV_CONNECT] = S(CONNECTED),
		[DEV_EV_DISCONNECT] = NO,
		[DEV_EV_RESET] = S(OFFERED),
		[DEV_EV_BE_DIED] = S(OFFERED),
		[DEV_EV_BE_READY] = S(OFFERED),
		[DEV_EV_BE_GIVEUP] = S(BROKEN),
		[DEV_EV_FAULT] = NO,
		[DEV_EV_HOT_REMOVE] = S(FREE),
	},
	[S(CONNECTED)] = {
		[DEV_EV_HOT_ADD] = NO,
		[DEV_EV_CONNECT] = NO,
		[DEV_EV_DISCONNECT] = S(OFFERED),
		[DEV_EV_RESET] = S(OFFERED),
		[DEV_EV_BE_DIED] = S(RESETTING),
		[DEV_EV_BE_READY] = NO,
		[DEV_EV_BE_GIVEUP] = NO,
		[DEV_EV_FAULT] = S(RESETTING),
		[DEV_EV_HOT_REMOVE] = S(CLOSING),
	},
	[S(RESETTING)] = {
		[DEV_EV_HOT_ADD] = NO,
		[DEV_EV_CONNECT] = NO,
		[DEV_EV_DISCONNECT] = NO,
		[DEV_EV_RESET] = S(RESETTING),
		[DEV_EV_BE_DIED] = S(RESETTING),
		[DEV_EV_BE_READY] = S(OFFERED),
		[DEV_EV_BE_GIVEUP] = S(BROKEN),
		[DEV_EV_FAULT] = NO,
		[DEV_EV_HOT_REMOVE] = S(FREE),
	},
	[S(CLOSING)] = {
		[DEV_EV_HOT_ADD] = NO,
		[DEV_EV_CONNECT] = NO,
		[DEV_EV_DISCONNECT] = S(FREE),
		[DEV_EV_RESET] = S(FREE),
		[DEV_EV_BE_DIED] = S(CLOSING),
		[DEV_EV_BE_READY] = NO,
		[DEV_EV_BE_GIVEUP] = NO,
		[DEV_EV_FAULT] = S(CLOSING),
		/* the guest's grace is over: the host drained it itself */
		[DEV_EV_HOT_REMOVE] = S(FREE),
	},
	[S(BROKEN)] = {
		[DEV_EV_HOT_ADD] = NO,
		[DEV_EV_CONNECT] = NO,
		[DEV_EV_DISCONNECT] = NO,
		[DEV_EV_RESET] = S(RESETTING),
		[DEV_EV_BE_DIED] = S(BROKEN),
		[DEV_EV_BE_READY] = NO,
		[DEV_EV_BE_GIVEUP] = S(BROKEN),
		[DEV_EV_FAULT] = NO,
		[DEV_EV_HOT_REMOVE] = S(FREE),
	},
};

int dev_next_state(uint32_t state, enum dev_event ev)
{
	if (state > S(BROKEN) || (unsigned int)ev >= DEV_EV_NR)
		return NO;
	return dev_fsm[state][ev];
}

const char *dev_state_name(uint32_t state)
{
	static const char *const names[] = {
		"free", "offered", "connected", "resetting", "closing", "broken",
	};

	return state <= S(BROKEN) ? names[state] : "?";
}

const char *dev_type_name(uint16_t type)
{
	static const char *const names[] = {
		"none", "test", "blk", "net", "balloon", "clock",
	};

	return type <= PVKIT_DEV_CLOCK ? names[type] : "?";
}

const char *dev_event_name(enum dev_event ev)
{
	static const char *const names[DEV_EV_NR] = {
		"hot-add", "connect", "disconnect", "reset", "backend-died",
		"backend-ready", "backend-giveup", "fault", "hot-remove",
	};

	return (unsigned int)ev < DEV_EV_NR ? names[ev] : "?";
}

/* A free slot, preferring one whose freeing the guest has seen. */
static struct dev *dev_free_slot(struct hv *hv)
{
	struct dev *held = NULL;
	unsigned int i;

	for (i = 0; i < PVKIT_MAX_DEVICES; i++) {
		struct dev *d = &hv->devs[i];

		if (d->used)
			continue;
		if (!d->held || (int32_t)(hv->config_acked - d->held_gen) >= 0)
			return d;
		if (!held || (int32_t)(d->held_gen - held->held_gen) < 0)
			held = d;
	}
	/* a guest that never acks (no driver) must not starve hot-add */
	return held;
}

static void dev_release_queues(struct hv *hv, struct dev *d, unsigned int n)
{
	unsigned int i;

	for (i = 0; i < n; i++) {
		struct dev_queue *q = &d->q[i];

		if (q->kick_src.fd >= 0)
			ev_del(hv, &q->kick_src);
		hv_ring_free(hv, q->ring_offset,
			     pvkit_ring_bytes(q->slots, q->req_size,
					      q->rsp_size));
		hv_chan_free(hv, q->vector - HV_FIRST_QUEUE_VEC);
		hv->total_queues--;
	}
}

struct dev *dev_create_geom(struct hv *hv, uint16_t type, uint16_t instance,
			    unsigned int nr_queues, const struct hv_geom *geom,
			    const struct dev_ops *ops)
{
	struct dev *d;
	unsigned int i;
	int err = 0;

	if (!nr_queues || nr_queues > PVKIT_MAX_QUEUES) {
		errno = EINVAL;
		return NULL;
	}
	for (i = 0; i < nr_queues; i++) {
		if (!pvkit_ring_geometry_ok(geom[i].slots, geom[i].req_size,
					    geom[i].rsp_size)) {
			errno = EINVAL;
			return NULL;
		}
	}
	d = dev_free_slot(hv);
	if (!d) {
		errno = ENOSPC;
		return NULL;
	}
	i = d->slot;
	memset(d, 0, sizeof(*d));
	d->slot = i;
	d->pending_mbox = -1;
	d->type = type;
	d->instance = instance;
	d->state = S(FREE);
	d->ops = ops;
	d->serial = ++hv->next_serial;
	d->fault_rl.interval_ms = DEV_FAULT_LOG_INTERVAL_MS;
	d->fault_rl.burst = DEV_FAULT_LOG_BURST;
	d->guest_rl.interval_ms = DEV_GUEST_LOG_INTERVAL_MS;
	d->guest_rl.burst = DEV_GUEST_LOG_BURST;
	for (i = 0; i < nr_queues; i++) {
		struct dev_queue *q = &d->q[i];
		int64_t off;
		int chan;

		q->kick_src.fd = -1;
		chan = hv_chan_alloc(hv);
		if (chan < 0) {
			err = EINVAL;	/* no vector: QEMU's vectors= is fixed */
			break;
		}
		off = hv_ring_alloc(hv, pvkit_ring_bytes(geom[i].slots,
							 geom[i].req_size,
							 geom[i].rsp_size));
		if (off < 0) {
			hv_chan_free(hv, (unsigned int)chan);
			err = ENOSPC;
			break;
		}
		q->ring_offset = (uint32_t)off;
		q->slots = geom[i].slots;
		q->req_size = geom[i].req_size;
		q->rsp_size = geom[i].rsp_size;
		q->kick = (uint16_t)(HV_FIRST_QUEUE_KICK + chan);
		q->vector = (uint16_t)(HV_FIRST_QUEUE_VEC + chan);
		hv->total_queues++;
	}
	if (err) {
		dev_release_queues(hv, d, i);
		errno = err;
		return NULL;
	}
	d->nr_queues = (uint16_t)nr_queues;
	d->used = true;
	hv->nr_devs++;
	return d;
}

struct dev *dev_create(struct hv *hv, uint16_t type, uint16_t instance,
		       unsigned int nr_queues, uint32_t slots,
		       uint16_t req_size, uint16_t rsp_size,
		       const struct dev_ops *ops)
{
	struct hv_geom geom[PVKIT_MAX_QUEUES];
	unsigned int i;

	if (!nr_queues || nr_queues > PVKIT_MAX_QUEUES) {
		errno = EINVAL;
		return NULL;
	}
	for (i = 0; i < nr_queues; i++)
		geom[i] = (struct hv_geom){ slots, req_size, rsp_size };
	return dev_create_geom(hv, type, instance, nr_queues, geom, ops);
}

void dev_destroy(struct hv *hv, struct dev *d)
{
	unsigned int g;

	if (!d->used)
		return;
	dev_release_queues(hv, d, d->nr_queues);
	g = hv->gone_next++ % HV_GONE_MAX;
	hv->gone[g].serial = d->serial;
	hv->gone[g].failed = d->hot_added && !d->offered;
	snprintf(hv->gone[g].why, sizeof(hv->gone[g].why), "%s", d->why);
	if (d->state != S(FREE)) {
		d->state = S(FREE);
		dev_publish(hv);
	}
	d->used = false;
	d->held = true;
	d->held_gen = hv->generation;
	hv->nr_devs--;
}

static void dev_fill_entry(const struct dev *d, struct pvkit_dev_entry *e)
{
	unsigned int i;

	memset(e, 0, sizeof(*e));
	if (!d->used || d->state == S(FREE))
		return;
	e->type = htole16(d->type);
	e->instance = htole16(d->instance);
	e->state = htole32(d->state);
	e->features = htole64(d->features);
	e->acked_features = htole64(d->acked);
	e->nr_queues = htole16(d->nr_queues);
	e->config_size = htole16(d->config_size);
	e->epoch = htole32(d->epoch);
	memcpy(e->config, d->config, sizeof(e->config));
	for (i = 0; i < d->nr_queues; i++) {
		e->queues[i].ring_offset = htole32(d->q[i].ring_offset);
		e->queues[i].ring_slots = htole32(d->q[i].slots);
		e->queues[i].req_size = htole16(d->q[i].req_size);
		e->queues[i].rsp_size = htole16(d->q[i].rsp_size);
		e->queues[i].kick = htole16(d->q[i].kick);
		e->queues[i].vector = htole16(d->q[i].vector);
	}
}

void dev_publish(struct hv *hv)
{
	struct pvkit_dev_entry *tab;
	struct pvkit_dev_entry e;
	unsigned int i;

	if (!hv->shm)
		return;
	tab = (struct pvkit_dev_entry *)(hv->shm + HV_DEVTAB_OFFSET);
	/* seqcount write side: odd, entries, even (+2 in total) */
	hv->generation++;
	__atomic_store_n(&hv->info->generation, htole32(hv->generation),
			 __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	for (i = 0; i < PVKIT_MAX_DEVICES; i++) {
		dev_fill_entry(&hv->devs[i], &e);
		memcpy(&tab[i], &e, sizeof(e));
	}
	hv->generation++;
	__atomic_store_n(&hv->info->generation, htole32(hv->generation),
			 __ATOMIC_RELEASE);
	hv_raise(hv, HV_VEC_CONFIG);
}

/* dev_event() with the transition logged at @lvl */
static int dev_apply(struct hv *hv, struct dev *d, enum dev_event ev,
		     const char *why, enum log_level lvl)
{
	int ns = dev_next_state(d->state, ev);
	uint32_t old = d->state;

	if (ns < 0) {
		log_debug("dev %u: %s ignored in state %s", d->slot,
			  dev_event_name(ev), dev_state_name(d->state));
		return ns;
	}
	if (old == S(CONNECTED) && ns != S(CONNECTED))
		d->acked = 0;	/* an ack lasts until the device leaves CONNECTED */
	if (ns == S(OFFERED))
		d->offered = true;
	/* a new back-end generation: the front-end must reconnect */
	if (ev == DEV_EV_BE_READY)
		d->epoch++;
	if (ns == S(FREE))
		d->acked = 0;
	d->state = (uint32_t)ns;
	if (old != (uint32_t)ns || ev == DEV_EV_BE_READY) {
		char more[48] = "";
		uint64_t missed = 0;

		/* the guest can cause these at will: rate-limited per device */
		if ((ev == DEV_EV_CONNECT || ev == DEV_EV_DISCONNECT ||
		     ev == DEV_EV_RESET) && lvl < LOG_LVL_DEBUG) {
			if (!log_ratelimit(&d->guest_rl, ev_now_ms(), &missed))
				lvl = LOG_LVL_DEBUG;
			else if (missed)
				snprintf(more, sizeof(more),
					 " (%llu lines suppressed)",
					 (unsigned long long)missed);
		}
		log_msg(lvl, "%s%u (slot %u): %s -> %s (%s%s%s), epoch %u%s",
			 dev_type_name(d->type), d->instance, d->slot,
			 dev_state_name(old), dev_state_name(d->state),
			 dev_event_name(ev), why ? ": " : "", why ? why : "",
			 d->epoch, more);
		dev_publish(hv);
	}
	return ns;
}

int dev_event(struct hv *hv, struct dev *d, enum dev_event ev,
	      const char *why)
{
	return dev_apply(hv, d, ev, why, LOG_LVL_INFO);
}

static struct dev *dev_lookup(struct hv *hv, uint64_t slot)
{
	struct dev *d;

	if (slot >= PVKIT_MAX_DEVICES)
		return NULL;
	d = &hv->devs[slot];
	return d->used && d->state != S(FREE) ? d : NULL;
}

int64_t dev_hc_ack_features(struct hv *hv, uint64_t slot, uint64_t bits)
{
	struct dev *d = dev_lookup(hv, slot);

	if (!d)
		return PVKIT_HC_ENODEV;
	if (d->state != S(OFFERED))
		return PVKIT_HC_ESTATE;
	if (bits & ~d->features)
		return PVKIT_HC_ENOTSUP;
	if (d->kind && d->kind->ack_ok && !d->kind->ack_ok(bits))
		return PVKIT_HC_EINVAL;
	d->acked = bits;
	dev_publish(hv);
	return PVKIT_HC_OK;
}

int64_t dev_hc_connect(struct hv *hv, uint64_t slot)
{
	struct dev *d = dev_lookup(hv, slot);
	unsigned int i;

	if (!d)
		return PVKIT_HC_ENODEV;
	if (d->pending_mbox >= 0)
		return PVKIT_HC_EBUSY;
	if (d->state != S(OFFERED))
		return PVKIT_HC_ESTATE;
	if (d->ops->ready && !d->ops->ready(hv, d))
		return PVKIT_HC_EBUSY;
	for (i = 0; i < d->nr_queues; i++)
		pvkit_ring_reset_shared((struct pvkit_ring_hdr *)
					(hv->shm + d->q[i].ring_offset));
	if (d->ops->connect && d->ops->connect(hv, d) < 0)
		return PVKIT_HC_EIO;
	dev_event(hv, d, DEV_EV_CONNECT, NULL);
	return PVKIT_HC_OK;
}

/* DISCONNECT and the stopping half of RESET. */
static int64_t dev_stop(struct hv *hv, struct dev *d, enum dev_event ev,
			unsigned int mbox)
{
	int ret = 0;

	if (d->ops->disconnect)
		ret = d->ops->disconnect(hv, d);
	if (ret == 1) {
		d->pending_mbox = (int)mbox;
		d->pending_state = (uint32_t)ev;
		d->pending_deadline_ms = ev_now_ms() + DEV_STOP_TIMEOUT_MS;
		return HC_DEFERRED;
	}
	/* a back-end that cannot be told is dead: its death path follows */
	dev_event(hv, d, ev, NULL);
	return PVKIT_HC_OK;
}

int64_t dev_hc_disconnect(struct hv *hv, uint64_t slot, unsigned int mbox)
{
	struct dev *d = dev_lookup(hv, slot);

	if (!d)
		return PVKIT_HC_ENODEV;
	if (d->pending_mbox >= 0)
		return PVKIT_HC_EBUSY;
	if (d->state != S(CONNECTED) && d->state != S(CLOSING))
		return PVKIT_HC_ESTATE;
	return dev_stop(hv, d, DEV_EV_DISCONNECT, mbox);
}

int64_t dev_hc_reset(struct hv *hv, uint64_t slot, unsigned int mbox)
{
	struct dev *d = dev_lookup(hv, slot);

	if (!d)
		return PVKIT_HC_ENODEV;
	if (d->pending_mbox >= 0)
		return PVKIT_HC_EBUSY;
	switch (d->state) {
	case S(CONNECTED):
	case S(CLOSING):
		return dev_stop(hv, d, DEV_EV_RESET, mbox);
	case S(BROKEN):
		dev_event(hv, d, DEV_EV_RESET, "guest retries");
		if (d->ops->retry)
			d->ops->retry(hv, d);
		return PVKIT_HC_OK;
	default:
		/* OFFERED, RESETTING: nothing is running */
		return PVKIT_HC_OK;
	}
}

static void dev_fault_drained(struct hv *hv, struct dev *d, bool pace);

static void dev_hc_done(struct hv *hv, int mbox, int64_t ret)
{
	if (hv->hc_done)
		hv->hc_done(hv, (unsigned int)mbox, ret);
}

void dev_stopped(struct hv *hv, struct dev *d)
{
	int mbox = d->pending_mbox;

	if (d->fault == DEV_FAULT_DRAINING) {
		dev_fault_drained(hv, d, true);
		return;
	}
	if (d->force_draining) {
		d->force_draining = false;
		dev_event(hv, d, DEV_EV_HOT_REMOVE, "drained by the host");
		return;
	}
	if (mbox < 0)
		return;
	d->pending_mbox = -1;
	dev_event(hv, d, (enum dev_event)d->pending_state, NULL);
	dev_hc_done(hv, mbox, PVKIT_HC_OK);
}

/* ------------------------------------------------------ ring faults --- */

/*
 * Why a reset and not a restart: the back-end that reported the fault
 * is healthy (it stopped the one ring the guest broke), so pvkit-hv
 * drains it with DISCONNECT -- the other queues finish their in-flight
 * I/O and publish the responses, nothing is answered twice or lost --
 * and offers the device again on the same process.  Only a back-end that
 * does not drain in time is killed and restarted, with the restart
 * backoff and limit of a crash.
 *
 * A guest can break its rings at will, so what this costs the host is
 * bounded: log lines are rate-limited per device, and a fault within
 * DEV_FAULT_STABLE_MS of the previous one delays the OFFERED by
 * 100 ms, 200 ms, ... 1.6 s (the restart backoff), so a guest that keeps
 * violating resets its device at most every 1.6 s and never makes the
 * host spin.  There is no give-up: that would take the guest's disk for
 * the guest's own fault (DESIGN.md 8), and BROKEN would be left with the
 * guest's DEV_RESET at once anyway.  The test device has nothing to
 * drain and resets for the price of a table update, unpaced.
 */

static bool dev_fault_log_ok(struct dev *d, uint64_t *missed)
{
	return log_ratelimit(&d->fault_rl, ev_now_ms(), missed);
}

static void dev_fault_done(struct hv *hv, struct dev *d)
{
	d->fault = DEV_FAULT_NONE;
	/* a new connection generation: the front-end must reconnect */
	dev_apply(hv, d, DEV_EV_BE_READY, "reset after a ring fault",
		  d->fault_loud ? LOG_LVL_INFO : LOG_LVL_DEBUG);
}

/* Nothing is in flight any more: offer the device again, paced. */
static void dev_fault_drained(struct hv *hv, struct dev *d, bool pace)
{
	uint64_t now = ev_now_ms(), delay = 0;

	if (pace && d->fault_last_ms &&
	    now - d->fault_last_ms < DEV_FAULT_STABLE_MS) {
		if (d->fault_streak < DEV_FAULT_BACKOFF_SHIFT + 1)
			d->fault_streak++;
		delay = (uint64_t)DEV_FAULT_BACKOFF_MS << (d->fault_streak - 1);
	} else {
		d->fault_streak = 0;
	}
	d->fault_last_ms = now;
	if (!delay) {
		dev_fault_done(hv, d);
		return;
	}
	log_msg(d->fault_loud ? LOG_LVL_INFO : LOG_LVL_DEBUG,
		"%s%u: fault %u in a row, offering again in %llu ms",
		dev_type_name(d->type), d->instance, d->fault_streak + 1,
		(unsigned long long)delay);
	d->fault = DEV_FAULT_BACKOFF;
	d->fault_deadline_ms = now + delay;
}

static void dev_fault_expired(struct hv *hv, struct dev *d)
{
	if (d->fault == DEV_FAULT_BACKOFF) {
		dev_fault_done(hv, d);
		return;
	}
	log_warn("%s%u: back-end did not drain within %u ms after a ring fault, restarting it",
		 dev_type_name(d->type), d->instance, DEV_STOP_TIMEOUT_MS);
	d->fault = DEV_FAULT_NONE;
	/* its death path (RESETTING stays) restarts it: OFFERED, epoch + 1 */
	if (d->ops->abort)
		d->ops->abort(hv, d);
}

void dev_fault_cancel(struct dev *d)
{
	d->fault = DEV_FAULT_NONE;
}

void dev_fault(struct hv *hv, struct dev *d, bool guest, const char *why)
{
	uint64_t missed = 0;
	bool loud = dev_fault_log_ok(d, &missed);
	int ret = 0;

	if (guest)
		d->violations++;
	/*
	 * Only a live connection needs a reset.  A fault while one is being
	 * torn down anyway (RESETTING, a guest DISCONNECT/RESET draining,
	 * CLOSING) is counted and logged, nothing more.
	 */
	if (d->state != PVKIT_DEV_STATE_CONNECTED || d->pending_mbox >= 0 ||
	    d->fault != DEV_FAULT_NONE) {
		if (loud)
			log_warn("%s%u: %s: %s (%llu violations; already stopping)",
				 dev_type_name(d->type), d->instance,
				 guest ? "ring protocol violation" : "queue error",
				 why, (unsigned long long)d->violations);
		return;
	}
	if (loud) {
		char more[64] = "";

		if (missed)
			snprintf(more, sizeof(more), ", %llu lines suppressed",
				 (unsigned long long)missed);
		log_warn("%s%u: %s: %s, resetting the device (%llu violations%s)",
			 dev_type_name(d->type), d->instance,
			 guest ? "ring protocol violation" : "queue error", why,
			 (unsigned long long)d->violations, more);
	}
	d->fault_loud = loud;
	d->fault_resets++;
	dev_apply(hv, d, DEV_EV_FAULT, why,
		  loud ? LOG_LVL_INFO : LOG_LVL_DEBUG);
	if (d->ops->disconnect)
		ret = d->ops->disconnect(hv, d);
	if (ret == 1) {
		/* completes in dev_stopped() (DISCONNECTED) or dev_tick() */
		d->fault = DEV_FAULT_DRAINING;
		d->fault_deadline_ms = ev_now_ms() + DEV_STOP_TIMEOUT_MS;
		return;
	}
	/* < 0: the back-end could not be told and is dead; it is restarted */
	if (ret == 0)
		dev_fault_drained(hv, d, false);
}

/* ------------------------------------------------------ hot-remove --- */

struct dev *dev_by_serial(struct hv *hv, uint32_t serial)
{
	unsigned int i;

	for (i = 0; i < PVKIT_MAX_DEVICES; i++)
		if (hv->devs[i].used && hv->devs[i].serial == serial)
			return &hv->devs[i];
	return NULL;
}

const char *dev_id(const struct dev *d, char *buf, size_t len)
{
	snprintf(buf, len, "%s.%u", dev_type_name(d->type), d->instance);
	return buf;
}

struct dev *dev_by_id(struct hv *hv, const char *id)
{
	unsigned int i;
	char name[32];

	for (i = 0; i < PVKIT_MAX_DEVICES; i++) {
		struct dev *d = &hv->devs[i];

		if (d->used && !strcmp(dev_id(d, name, sizeof(name)), id))
			return d;
	}
	return NULL;
}

int dev_hot_remove(struct hv *hv, struct dev *d, uint64_t grace_ms)
{
	if (d->removing)
		return -EALREADY;
	d->removing = true;
	snprintf(d->why, sizeof(d->why), "removed");
	dev_fault_cancel(d);
	d->remove_deadline_ms = ev_now_ms() + grace_ms;	/* CLOSING only */
	/* FREE: never offered, its back-end is still starting */
	if (d->state != S(FREE))
		dev_event(hv, d, DEV_EV_HOT_REMOVE, "host removes it");
	return 0;
}

/* The guest's grace ran out: drain the back-end ourselves, then FREE. */
static void dev_remove_force(struct hv *hv, struct dev *d)
{
	int ret = 0;

	log_warn("%s%u: the guest did not release it in time, removing it anyway (its I/O in flight fails)",
		 dev_type_name(d->type), d->instance);
	snprintf(d->why, sizeof(d->why),
		 "forced: the guest did not release it in time");
	if (d->ops->disconnect)
		ret = d->ops->disconnect(hv, d);
	if (ret == 1) {
		d->force_draining = true;
		d->remove_deadline_ms = ev_now_ms() + DEV_STOP_TIMEOUT_MS;
		return;
	}
	if (ret == 0)
		dev_event(hv, d, DEV_EV_HOT_REMOVE, "forced");
	else
		d->server_dead = true;	/* FREE once it is reaped */
}

static void dev_remove_tick(struct hv *hv, struct dev *d, uint64_t now_ms)
{
	if (d->state == S(CLOSING) && d->pending_mbox < 0) {
		if (d->force_draining && now_ms >= d->remove_deadline_ms) {
			d->force_draining = false;
			d->server_dead = true;
			if (d->ops->abort)
				d->ops->abort(hv, d);
		} else if (!d->force_draining && !d->server_dead &&
			   now_ms >= d->remove_deadline_ms) {
			dev_remove_force(hv, d);
		}
		/*
		 * A dead server may still have I/O on its way: the guest
		 * reuses its buffers once it sees FREE, so FREE waits for
		 * the process to be reaped.
		 */
		if (d->server_dead && d->state == S(CLOSING) &&
		    (!d->ops->gone || d->ops->gone(hv, d)))
			dev_event(hv, d, DEV_EV_HOT_REMOVE, "server gone");
	}
	if (d->state != S(FREE) || d->pending_mbox >= 0)
		return;
	if (!d->released) {
		d->released = true;
		if (d->ops->release)
			d->ops->release(hv, d);
	}
	if (d->ops->gone && !d->ops->gone(hv, d))
		return;
	log_info("%s%u (slot %u): removed", dev_type_name(d->type),
		 d->instance, d->slot);
	if (d->ops->destroy)
		d->ops->destroy(hv, d);
	dev_destroy(hv, d);
}

void dev_tick(struct hv *hv, uint64_t now_ms)
{
	unsigned int i;

	for (i = 0; i < PVKIT_MAX_DEVICES; i++) {
		struct dev *d = &hv->devs[i];
		int mbox = d->pending_mbox;

		if (d->used && d->removing)
			dev_remove_tick(hv, d, now_ms);
		if (d->used && d->ops && d->ops->tick)
			d->ops->tick(hv, d, now_ms);

		if (d->used && d->fault != DEV_FAULT_NONE &&
		    now_ms >= d->fault_deadline_ms)
			dev_fault_expired(hv, d);
		if (!d->used || mbox < 0 || now_ms < d->pending_deadline_ms)
			continue;
		log_warn("%s%u: back-end did not drain within %u ms, restarting it",
			 dev_type_name(d->type), d->instance,
			 DEV_STOP_TIMEOUT_MS);
		d->pending_mbox = -1;
		dev_hc_done(hv, mbox, PVKIT_HC_EIO);
		dev_event(hv, d, DEV_EV_BE_DIED, "drain timeout");
		if (d->ops->abort)
			d->ops->abort(hv, d);
	}
}
