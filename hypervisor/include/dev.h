/* SPDX-License-Identifier: GPL-2.0-only */
/* Device table and the device state machine of ABI.md 6.1. */
#ifndef PVKIT_HV_DEV_H
#define PVKIT_HV_DEV_H

#include "hv.h"
#include "kind.h"

enum dev_event {
	DEV_EV_HOT_ADD,		/* host: back-end READY for a new device */
	DEV_EV_CONNECT,		/* guest: PVKIT_HC_DEV_CONNECT */
	DEV_EV_DISCONNECT,	/* guest: PVKIT_HC_DEV_DISCONNECT */
	DEV_EV_RESET,		/* guest: PVKIT_HC_DEV_RESET */
	DEV_EV_BE_DIED,		/* host: back-end gone */
	DEV_EV_BE_READY,	/* host: (new) back-end ready */
	DEV_EV_BE_GIVEUP,	/* host: restart limit reached */
	DEV_EV_FAULT,		/* host: ring protocol violation */
	DEV_EV_HOT_REMOVE,	/* host: remove the device */
	DEV_EV_NR,
};

/*
 * The state machine as a pure function: the state after @ev in @state,
 * or -1 if @ev is not allowed there (hypercalls answer ESTATE).
 */
int dev_next_state(uint32_t state, enum dev_event ev);
const char *dev_state_name(uint32_t state);
const char *dev_type_name(uint16_t type);
const char *dev_event_name(enum dev_event ev);

/*
 * Create a device in the first free slot with @nr_queues rings of the
 * given geometry; allocates ring memory, kicks and vectors (state FREE,
 * not yet published).  Returns the device or NULL (errno set).
 */
struct dev *dev_create(struct hv *hv, uint16_t type, uint16_t instance,
		       unsigned int nr_queues, uint32_t slots,
		       uint16_t req_size, uint16_t rsp_size,
		       const struct dev_ops *ops);

/* dev_create() with a geometry per queue (@geom[@nr_queues]). */
struct dev *dev_create_geom(struct hv *hv, uint16_t type, uint16_t instance,
			    unsigned int nr_queues, const struct hv_geom *geom,
			    const struct dev_ops *ops);
/*
 * Free @d's slot, rings and channels (ops->destroy first).  The slot is
 * reused only after the guest acknowledged a generation showing it FREE.
 */
void dev_destroy(struct hv *hv, struct dev *d);
/* The device with @serial, or NULL once it is destroyed. */
struct dev *dev_by_serial(struct hv *hv, uint32_t serial);
/* @d's name, "@type.@instance" (e.g. "blk.1"), in @buf. */
const char *dev_id(const struct dev *d, char *buf, size_t len);
/* The device called "@type.@instance" (e.g. "blk.1"), or NULL. */
struct dev *dev_by_id(struct hv *hv, const char *id);

/*
 * Hot-remove @d.  Not connected: FREE at once.  Connected: CLOSING, and
 * the guest has @grace_ms to release it (DEV_DISCONNECT); then the host
 * drains the back-end itself and frees the slot, and the guest fails
 * what it still had in flight.  Either way the back-end is shut down and
 * the device destroyed (dev_tick()).  0, or -EALREADY.
 */
int dev_hot_remove(struct hv *hv, struct dev *d, uint64_t grace_ms);

/* Publish the whole table under the generation seqcount, raise config. */
void dev_publish(struct hv *hv);
/* Apply @ev (host side); publishes on change.  New state or -1. */
int dev_event(struct hv *hv, struct dev *d, enum dev_event ev,
	      const char *why);
/* Back-end finished a deferred DISCONNECT/RESET. */
void dev_stopped(struct hv *hv, struct dev *d);
/* Expire deferred stops that took too long.  Called from the loop. */
void dev_tick(struct hv *hv, uint64_t now_ms);
/*
 * The host side serving @d stopped a ring because of a protocol fault
 * (@guest: the guest's ring index violation, counted in violations):
 * reset the device, CONNECTED -> RESETTING -> (drain, pacing) -> OFFERED
 * with a new epoch.  Rate-limits its log lines.
 */
void dev_fault(struct hv *hv, struct dev *d, bool guest, const char *why);
/* The back-end died during a fault reset: its restart takes over. */
void dev_fault_cancel(struct dev *d);

/* How long a back-end may take to drain before DISCONNECT fails. */
#define DEV_STOP_TIMEOUT_MS	5000

/* Host resets after ring faults, paced (see dev_fault()). */
#define DEV_FAULT_STABLE_MS	30000	/* quiet this long: no pacing */
#define DEV_FAULT_BACKOFF_MS	100	/* 100 ms .. 1.6 s, like restarts */
#define DEV_FAULT_BACKOFF_SHIFT	4
#define DEV_FAULT_LOG_INTERVAL_MS 10000	/* at most 5 lines per 10 s */
#define DEV_FAULT_LOG_BURST	5
/* Transitions the guest asks for: at most 10 lines per 10 s. */
#define DEV_GUEST_LOG_INTERVAL_MS 10000
#define DEV_GUEST_LOG_BURST	10

/* Hypercall side; return PVKIT_HC_* or HC_DEFERRED. */
int64_t dev_hc_ack_features(struct hv *hv, uint64_t slot, uint64_t bits);
int64_t dev_hc_connect(struct hv *hv, uint64_t slot);
int64_t dev_hc_disconnect(struct hv *hv, uint64_t slot, unsigned int mbox);
int64_t dev_hc_reset(struct hv *hv, uint64_t slot, unsigned int mbox);

/*
 * hvqueue.c: rings served inside pvkit-hv.  A request handler answers the
 * private copy @req of a request of queue @qi in @rsp (zeroed; both of
 * the queue's slot sizes) and returns 0, or non-zero with a reason in
 * @why when the device must be reset after this answer (the guest broke
 * the protocol).
 */
typedef int (*hvq_req_fn)(struct hv *hv, struct dev *d, unsigned int qi,
			  const void *req, void *rsp, char *why,
			  size_t whylen);
/* Serve every published request of queue @qi (CONNECTED only). */
void hvq_serve(struct hv *hv, struct dev *d, unsigned int qi, hvq_req_fn fn);
/* Attach our view of queue @qi's ring (at create and at each connect). */
int hvq_attach(struct hv *hv, struct dev *d, unsigned int qi);
/* hvq_attach() and watch the queue's kick eventfd with @fn (arg @d). */
int hvq_watch(struct hv *hv, struct dev *d, unsigned int qi, ev_fn fn);
/* In a kick handler: consume the kick; the queue index or -ENOENT. */
int hvq_kicked(struct dev *d, struct ev_src *src);

/* testdev.c: the built-in echo device */
int tdev_create(struct hv *hv);
/* Serve the test device's ring once (also called by tests). */
void tdev_process(struct hv *hv, struct dev *d);
extern const struct dev_ops tdev_ops;

#endif /* PVKIT_HV_DEV_H */
