/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * pvkit front-end library (pvkit.ko, PVKIT symbol namespace): the queue
 * machinery every device driver needs, written once.
 *
 * A struct pvkit_fe_queue is one device queue as a driver sees it: the
 * ring checked against the device table and attached, its interrupt bound
 * and steered, batched push + kick honouring event suppression, the reap
 * loop with its final check, and a request-id tracker.  Ids are
 * seq << PVKIT_FE_TAG_BITS | tag: the tag (the driver's, e.g. the blk-mq
 * tag) indexes the in-flight table, the sequence number tells one use of
 * a tag from the next, so a duplicate or stale response is caught.
 * Every request and response slot starts with its __le64 id (ABI.md 7).
 *
 * The tracker keeps requests in submission order, so after a back-end
 * restart pvkit_fe_resubmit() can put every unanswered one on the fresh
 * ring in its original order.
 *
 * Locking: fq->lock (irq-safe) covers the ring view, live and the
 * tracker; functions marked "lock held" expect it.
 */
#ifndef PVKIT_FE_H
#define PVKIT_FE_H

#include <linux/bits.h>
#include <linux/completion.h>
#include <linux/cpumask.h>
#include <linux/interrupt.h>
#include <linux/list.h>
#include <linux/mutex.h>
#include <linux/spinlock.h>
#include <linux/workqueue.h>
#include <pvkit/bus.h>
#include <pvkit/ring.h>

#define PVKIT_FE_TAG_BITS	16	/* low bits of an id: the tag */
#define PVKIT_FE_TAG_MASK	(BIT_ULL(PVKIT_FE_TAG_BITS) - 1)

/* A tracked request, embedded in the driver's per-request data. */
struct pvkit_fe_req {
	struct list_head node;		/* in pvkit_fe_queue.submitted */
	void *slot;			/* request slot as built, id first */
	u16 tag;			/* index in the in-flight table */
};

struct pvkit_fe_queue {
	spinlock_t lock;		/* everything below but the setup */
	struct pvkit_ring ring;		/* private view of the shared ring */
	bool live;			/* attached and read; else requests wait */
	bool poll;			/* polled: never ask for an interrupt */
	u16 index;			/* device queue number */
	u32 depth;			/* entries in inflight[]: tags < depth */
	u32 req_size;			/* bytes of the driver's request slot */
	u32 rsp_size;			/* bytes of its response slot */
	int irq;			/* bound Linux irq, or 0 */
	u64 seq;			/* id generation counter */
	struct pvkit_fe_req **inflight;	/* by tag: submitted, unanswered */
	struct list_head submitted;	/* the same requests, oldest first */
	struct pvkit_device *pdev;
	cpumask_var_t affinity;		/* CPUs the driver submits from */
	char name[32];			/* irq name, set by the driver */
	char why[128];			/* the last protocol violation */
} ____cacheline_aligned_in_smp;

/*
 * Check device queue @index against what the driver needs (slots of at
 * least @req_size/@rsp_size bytes, at least @depth of them), allocate the
 * tracker for @depth tags and attach the ring.  0 or -errno (the reason
 * is logged).
 */
int pvkit_fe_queue_init(struct pvkit_fe_queue *fq, struct pvkit_device *pdev,
			unsigned int index, u32 depth, u32 req_size,
			u32 rsp_size);
void pvkit_fe_queue_destroy(struct pvkit_fe_queue *fq);

/* Would queue @index serve (as in pvkit_fe_queue_init())?  Logs why not. */
bool pvkit_fe_queue_ok(struct pvkit_device *pdev, unsigned int index,
		       u32 depth, u32 req_size, u32 rsp_size);

/*
 * Bind the queue's vector to @handler(@data), named fq->name, and steer
 * it to fq->affinity if that is not empty.  0 or -errno.
 */
int pvkit_fe_queue_bind_irq(struct pvkit_fe_queue *fq, irq_handler_t handler,
			    void *data);
void pvkit_fe_queue_unbind_irq(struct pvkit_fe_queue *fq, void *data);

/*
 * Track @r under @tag (< depth, not in use), write its id into the slot
 * and, if the ring is live, copy the slot onto it (a queue that is not
 * live sends it at pvkit_fe_resubmit()).  -ENOSPC if the ring is full
 * (nothing tracked), -EINVAL for a bad tag.  Lock held.
 */
int pvkit_fe_submit(struct pvkit_fe_queue *fq, struct pvkit_fe_req *r,
		    u16 tag);

/*
 * Publish @ring's queued requests for device queue @q: true if the
 * back-end must be kicked; a kick the event index makes unnecessary is
 * counted (debugfs kicks_suppressed).  For drivers with a ring of their
 * own; pvkit_fe_push() is this for a pvkit_fe_queue.
 */
bool pvkit_fe_ring_push(struct pvkit_device *pdev, unsigned int q,
			struct pvkit_ring *ring);

/*
 * Publish what was submitted since the last push.  True if the back-end
 * must be kicked (pvkit_fe_kick(), best after dropping the lock); a kick
 * the event index makes unnecessary is counted.  Lock held.
 */
bool pvkit_fe_push(struct pvkit_fe_queue *fq);

static inline void pvkit_fe_kick(struct pvkit_fe_queue *fq)
{
	pvkit_queue_kick(fq->pdev, fq->index);
}

/*
 * Called by the reap loop for each response whose id matched an
 * in-flight request (already untracked): @rsp is a private copy.  Return
 * false if the response is still unacceptable (e.g. an unknown status;
 * set fq->why): the request is tracked again (the driver's failure path
 * fails it), the loop stops, the queue is no longer live.
 */
typedef bool (*pvkit_fe_complete_t)(struct pvkit_fe_queue *fq,
				    struct pvkit_fe_req *r, const void *rsp,
				    void *ctx);

/*
 * Consume every response (the final check unless fq->poll).  Returns the
 * number completed, or -EPROTO after a protocol violation (an impossible
 * index, an id not in flight, a stale id, or @complete refusing): the
 * queue is then not live and fq->why says what happened; the driver
 * breaks or resets the device.  @buf holds one response.  Lock held.
 */
int pvkit_fe_reap(struct pvkit_fe_queue *fq, void *buf,
		  pvkit_fe_complete_t complete, void *ctx);

/*
 * NAPI's reap: as pvkit_fe_reap(), but at most @budget responses and no
 * final check -- the driver completes NAPI first, then pvkit_fe_rearm(),
 * so that an interrupt between the two is not lost.  Lock held.
 */
int pvkit_fe_reap_budget(struct pvkit_fe_queue *fq, void *buf,
			 pvkit_fe_complete_t complete, void *ctx, int budget);

/*
 * Ask for an interrupt at the next response (the final check): true if
 * one arrived meanwhile, and the driver must poll again.  Lock held.
 */
bool pvkit_fe_rearm(struct pvkit_fe_queue *fq);

/*
 * Before the rings are reset: complete what the old back-end answered,
 * then stop reading.  A bad index only means those requests are sent
 * again; an unacceptable response returns -EPROTO as in the reap.
 * Takes the lock.
 */
int pvkit_fe_drain(struct pvkit_fe_queue *fq, void *buf,
		   pvkit_fe_complete_t complete, void *ctx);

/*
 * After a (re)connect, which zeroed the ring headers: attach the ring
 * again and put every unanswered request on it, oldest first with its
 * original id; the queue is live again.  A request for which @drop (if
 * not NULL) says true is untracked and moved to @dropped instead, for the
 * driver to fail.  Kicks if needed.  Returns how many were resubmitted,
 * or -errno.  Takes the lock.
 */
int pvkit_fe_resubmit(struct pvkit_fe_queue *fq,
		      bool (*drop)(struct pvkit_fe_req *r, void *ctx),
		      void *ctx, struct list_head *dropped);

/*
 * Stop the queue and hand every unanswered request to the driver (on
 * @out, oldest first) to fail: the host is done with them.  Takes the
 * lock.
 */
void pvkit_fe_take_all(struct pvkit_fe_queue *fq, struct list_head *out);

/* Mark the queue live (after a connect) or not.  Takes the lock. */
void pvkit_fe_set_live(struct pvkit_fe_queue *fq, bool live);

/*
 * Connect the device as ABI.md 6.1 reads: acknowledge @features and
 * DEV_CONNECT, retrying while the host answers EBUSY (back-end not
 * ready) for up to @wait_ms.  On a driver's @first connect a device
 * found CONNECTED was left so by an earlier driver instance: it is reset
 * (DEV_RESET drains it) and connected afresh.  Otherwise -EPERM means
 * the device is not OFFERED: a restart is under way, or a notification
 * lags behind our own last connect; the next state change says which.
 */
int pvkit_fe_connect(struct pvkit_device *pdev, u64 features,
		     unsigned int wait_ms, bool first);

/* ------------------------------------------------------------------------
 * Device lifecycle: what a driver does when the host changes the state of
 * its device (ABI.md 6.1), written once.  A driver embeds a struct
 * pvkit_fe_dev, fills in an ops table for the few things that depend on
 * its subsystem (hold and release I/O, complete or fail a request), and
 * forwards its state_changed(), its device's open/release and its I/O
 * timeouts here.  The helper then quiesces on RESETTING, drains, reconnects
 * and resubmits on OFFERED with a new epoch, resumes when a CONNECTED
 * shows that a reset predates its own last connect, breaks the device
 * (DEV_RESET once) on a protocol violation, and handles hot-remove:
 * CLOSING detaches at once, or, while the device is in use, on the last
 * close (a forced FREE from the host fails what is in flight).
 *
 * Locking: fd->lock (a mutex) serializes every lifecycle step; the I/O
 * path only reads fd->state (pvkit_fe_dev_dead()).
 */

/* struct pvkit_fe_dev.state */
enum pvkit_fe_state {
	PVKIT_FE_LIVE,		/* connected: I/O flows */
	PVKIT_FE_QUIESCED,	/* back-end restarting: I/O held, kept */
	PVKIT_FE_DETACHING,	/* CLOSING but in use: I/O flows until release */
	PVKIT_FE_DEAD,		/* broken, removed or gone: I/O fails */
};

struct pvkit_fe_dev;

/* What the helper needs of the driver; all called with fd->lock held. */
struct pvkit_fe_dev_ops {
	/* hold new I/O and wait for submitters to leave (may sleep) */
	void (*quiesce)(struct pvkit_fe_dev *fd);
	/* undo quiesce */
	void (*unquiesce)(struct pvkit_fe_dev *fd);
	/* let I/O that waits for ring space through (to send or to fail) */
	void (*restart)(struct pvkit_fe_dev *fd);
	/* a response, as in pvkit_fe_reap() (ctx NULL); fq->lock held */
	pvkit_fe_complete_t complete;
	/* fail an unanswered request: -EIO, or -ETIMEDOUT if dropped */
	void (*fail)(struct pvkit_fe_dev *fd, struct pvkit_fe_req *r, int err);
	/* optional resubmit filter: true fails @r instead of resending it */
	bool (*drop)(struct pvkit_fe_dev *fd, struct pvkit_fe_req *r);
	/* optional: @n requests of @fq were dropped at a reconnect */
	void (*dropped)(struct pvkit_fe_dev *fd, struct pvkit_fe_queue *fq,
			unsigned int n);
	/* the device goes away for good (e.g. blk_mark_disk_dead()) */
	void (*gone)(struct pvkit_fe_dev *fd);
	/* optional: is the device open?  Hot-remove then waits for release */
	bool (*in_use)(struct pvkit_fe_dev *fd);
};

struct pvkit_fe_dev {
	struct pvkit_device *pdev;
	const struct pvkit_fe_dev_ops *ops;
	const char *name;		/* in log lines, e.g. the disk name */
	const char *noun;		/* "disk": "host removes the disk" */
	struct pvkit_fe_queue **queues;	/* set by the driver after init */
	unsigned int nr_queues;
	u64 features;			/* acknowledged at every connect */

	struct mutex lock;		/* everything below */
	enum pvkit_fe_state state;	/* READ_ONCE() in the I/O path */
	bool connected;			/* DEV_CONNECT done and not undone */
	bool no_events;			/* in probe/remove: no state changes */
	u32 epoch;			/* ring epoch of the last connect */
	unsigned long flags;		/* private */
	struct work_struct broken_work;
	struct work_struct reset_work;	/* after an I/O timeout */
	void *rsp;			/* one response, for the helper's reaps */
};

/*
 * Initialize @fd for @nr_queues queues whose responses are at most
 * @rsp_size bytes; the driver then fills in fd->queues[], name, noun and
 * features.  State LIVE, not connected.  0 or -ENOMEM.
 */
int pvkit_fe_dev_init(struct pvkit_fe_dev *fd, struct pvkit_device *pdev,
		      const struct pvkit_fe_dev_ops *ops,
		      unsigned int nr_queues, u32 rsp_size);
/* Free what init allocated; after pvkit_fe_dev_remove_end(), last open. */
void pvkit_fe_dev_destroy(struct pvkit_fe_dev *fd);

/* Probe: the first connect (pvkit_fe_connect()), then the rings go live. */
int pvkit_fe_dev_connect(struct pvkit_fe_dev *fd, unsigned int wait_ms);

/* The driver's state_changed(): follow the host's state machine. */
void pvkit_fe_dev_state_changed(struct pvkit_fe_dev *fd, u32 old_state);

/*
 * A protocol violation: log "<name>: device broken: <why>" once, then
 * (from a work item) stop the rings, DEV_RESET once and fail all I/O.
 */
__printf(2, 3) void pvkit_fe_dev_broken(struct pvkit_fe_dev *fd,
					const char *fmt, ...);

/*
 * pvkit_fe_reap() with the driver's complete op; a violation breaks the
 * device.  The number completed (0 after a violation).  fq->lock held.
 */
int pvkit_fe_dev_reap(struct pvkit_fe_dev *fd, struct pvkit_fe_queue *fq,
		      void *buf, void *ctx);
/* pvkit_fe_reap_budget() with the driver's complete op, as above. */
int pvkit_fe_dev_reap_budget(struct pvkit_fe_dev *fd,
			     struct pvkit_fe_queue *fq, void *buf, void *ctx,
			     int budget);

/*
 * A request stayed unanswered for the driver's I/O timeout.  True if it
 * counts: a device reset is scheduled (while detaching: the detach is
 * completed).  False if not: a restart the host announced is waited out,
 * and during probe or remove (no state changes can arrive) the device
 * breaks instead.  Any context.
 */
bool pvkit_fe_dev_timed_out(struct pvkit_fe_dev *fd);

/*
 * A release of the device (after the driver's open count dropped): once
 * nothing has it open (ops->in_use) a hot-remove that waited completes.
 * Process context; takes fd->lock.
 */
void pvkit_fe_dev_release(struct pvkit_fe_dev *fd);

/* In probe (or remove), around code that may wait for I/O. */
static inline void pvkit_fe_dev_set_no_events(struct pvkit_fe_dev *fd,
					      bool no_events)
{
	WRITE_ONCE(fd->no_events, no_events);
}

/*
 * Driver remove, before it waits for I/O (del_gendisk()): no state
 * change arrives any more, so I/O that nothing will answer is failed.
 */
void pvkit_fe_dev_remove_begin(struct pvkit_fe_dev *fd);
/*
 * Driver remove after that (and a failed probe after connecting): stop
 * the rings, DEV_DISCONNECT if connected, dead; the work items are done.
 */
void pvkit_fe_dev_remove_end(struct pvkit_fe_dev *fd);

/* In the I/O path: fail at once? */
static inline bool pvkit_fe_dev_dead(const struct pvkit_fe_dev *fd)
{
	return READ_ONCE(fd->state) == PVKIT_FE_DEAD;
}

/* ------------------------------------------------------------------------
 * Synchronous calls: one request, wait for its answer (a control command,
 * a balloon page list).  The driver builds the slot, points c->fr.slot at
 * it and c->rsp at room for the response; its complete and fail ops hand
 * requests that are calls to pvkit_fe_call_complete()/_fail().
 */
struct pvkit_fe_call {
	struct pvkit_fe_req fr;
	struct completion done;
	void *rsp;			/* the answer is copied here */
	u32 rsp_size;
	int err;			/* 0: answered; -EIO: failed */
	/* never answered: slot and buffers are the host's, never reuse */
	bool lost;
};

/* Before the first call. */
void pvkit_fe_call_init(struct pvkit_fe_call *c, void *slot, void *rsp,
			u32 rsp_size);

/*
 * Send @c on @fq under @tag and wait for the answer.  While the host has
 * the device in a reset or restart the wait goes on (up to @restart_ms);
 * otherwise a call unanswered after @timeout_ms breaks the device, whose
 * reset then fails it.  Returns 0 (the response is in c->rsp), -ENODEV
 * (dead device, or an earlier call was lost), -ENOSPC (ring full), -EIO
 * (failed by a reset, or lost now).  Process context; one call per @c at
 * a time (the caller serializes).
 */
int pvkit_fe_call(struct pvkit_fe_dev *fd, struct pvkit_fe_queue *fq,
		  struct pvkit_fe_call *c, u16 tag, unsigned int timeout_ms,
		  unsigned int restart_ms);

/* In the driver's complete op: @r is @c's; copy and wake.  True. */
bool pvkit_fe_call_complete(struct pvkit_fe_call *c, const void *rsp);
/* In the driver's fail op. */
void pvkit_fe_call_fail(struct pvkit_fe_call *c);

#endif /* PVKIT_FE_H */
