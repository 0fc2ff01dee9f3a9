// SPDX-License-Identifier: GPL-2.0-only
/*
 * Device table (ABI.md 6): the hv's private copy, publication under the
 * generation seqcount, and the state machine of ABI.md 6.1.
 */
#include <endian.h>
#include <errno.h>
#include <string.h>

#include <pvkit-host/log.h>

#include "include/dev.h"
#include "include/hv.h"

/* How long a back-end may take to drain before DISCONNECT fails. */
#define DEV_STOP_TIMEOUT_MS	5000

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
		[DEV_EV_HOT_REMOVE] = NO,
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

struct dev *dev_create(struct hv *hv, uint16_t type, uint16_t instance,
		       unsigned int nr_queues, uint32_t slots,
		       uint16_t req_size, uint16_t rsp_size,
		       const struct dev_ops *ops)
{
	struct dev *d = NULL;
	unsigned int i;

	if (!nr_queues || nr_queues > PVKIT_MAX_QUEUES ||
	    !pvkit_ring_geometry_ok(slots, req_size, rsp_size) ||
	    HV_FIRST_QUEUE_VEC + hv->total_queues + nr_queues > hv->nr_vectors ||
	    HV_FIRST_QUEUE_KICK + hv->total_queues + nr_queues > hv->nr_kicks) {
		errno = EINVAL;
		return NULL;
	}
	for (i = 0; i < PVKIT_MAX_DEVICES; i++) {
		if (!hv->devs[i].used) {
			d = &hv->devs[i];
			break;
		}
	}
	if (!d) {
		errno = ENOSPC;
		return NULL;
	}
	memset(d, 0, sizeof(*d));
	d->slot = i;
	d->pending_mbox = -1;
	d->type = type;
	d->instance = instance;
	d->state = S(FREE);
	d->nr_queues = (uint16_t)nr_queues;
	d->ops = ops;
	for (i = 0; i < nr_queues; i++) {
		struct dev_queue *q = &d->q[i];
		int64_t off = hv_ring_alloc(hv, pvkit_ring_bytes(slots, req_size,
								 rsp_size));

		if (off < 0) {
			errno = ENOSPC;
			return NULL;
		}
		q->ring_offset = (uint32_t)off;
		q->slots = slots;
		q->req_size = req_size;
		q->rsp_size = rsp_size;
		q->kick = (uint16_t)(HV_FIRST_QUEUE_KICK + hv->total_queues);
		q->vector = (uint16_t)(HV_FIRST_QUEUE_VEC + hv->total_queues);
		q->kick_src.fd = -1;
		hv->total_queues++;
	}
	d->used = true;
	hv->nr_devs++;
	return d;
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

int dev_event(struct hv *hv, struct dev *d, enum dev_event ev,
	      const char *why)
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
	/* a new back-end generation: the front-end must reconnect */
	if (ev == DEV_EV_BE_READY)
		d->epoch++;
	if (ns == S(FREE))
		d->acked = 0;
	d->state = (uint32_t)ns;
	if (old != (uint32_t)ns || ev == DEV_EV_BE_READY) {
		log_info("%s%u (slot %u): %s -> %s (%s%s%s), epoch %u",
			 dev_type_name(d->type), d->instance, d->slot,
			 dev_state_name(old), dev_state_name(d->state),
			 dev_event_name(ev), why ? ": " : "", why ? why : "",
			 d->epoch);
		dev_publish(hv);
	}
	return ns;
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

void dev_stopped(struct hv *hv, struct dev *d)
{
	int mbox = d->pending_mbox;

	if (mbox < 0)
		return;
	d->pending_mbox = -1;
	dev_event(hv, d, (enum dev_event)d->pending_state, NULL);
	hc_complete(hv, (unsigned int)mbox, PVKIT_HC_OK);
}

void dev_tick(struct hv *hv, uint64_t now_ms)
{
	unsigned int i;

	for (i = 0; i < PVKIT_MAX_DEVICES; i++) {
		struct dev *d = &hv->devs[i];
		int mbox = d->pending_mbox;

		if (!d->used || mbox < 0 || now_ms < d->pending_deadline_ms)
			continue;
		log_warn("%s%u: back-end did not drain within %u ms, restarting it",
			 dev_type_name(d->type), d->instance,
			 DEV_STOP_TIMEOUT_MS);
		d->pending_mbox = -1;
		hc_complete(hv, (unsigned int)mbox, PVKIT_HC_EIO);
		dev_event(hv, d, DEV_EV_BE_DIED, "drain timeout");
		if (d->ops->abort)
			d->ops->abort(hv, d);
	}
}
