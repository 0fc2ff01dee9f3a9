/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Helpers for a back-end's queue threads (struct pvbe_queue, see
 * pvkit-host/bemain.h), on top of the ring of pvkit/ring.h.  A queue
 * thread's loop, whatever it waits with (io_uring, poll):
 *
 *	for (;;) {
 *		progress = !q->stopping &&
 *			   pvbe_queue_drain(q, &req, sizeof(req), n, fn) > 0;
 *		... start and complete device work, pvkit_ring_put_rsp() ...
 *		pvbe_queue_push(q);			(irq if asked)
 *		if (q->stopping && nothing in flight)
 *			break;
 *		if (progress) {
 *			pvbe_poll_busy(q);
 *			continue;
 *		}
 *		if (pvbe_poll_spin(q))			(poll= window)
 *			continue;
 *		if (!pvbe_queue_may_sleep(q))		(final check)
 *			continue;
 *		sleep until the kick fd, a completion or be->stop_fd;
 *		pvbe_queue_kicked(q, ...) for a kick;
 *		pvbe_poll_busy(q);
 *	}
 *	pvbe_queue_exited(q);
 *
 * No wake-up is lost: pvbe_queue_may_sleep() publishes req_event behind a
 * full barrier and looks at req_prod again, so either the front-end's push
 * sees the new req_event and kicks, or we see its req_prod.  While a
 * queue busy-polls it leaves req_event alone, which suppresses the
 * front-end's kicks.
 */
#ifndef PVKIT_HOST_BEQUEUE_H
#define PVKIT_HOST_BEQUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <pvkit-host/bemain.h>

/* Counters have a single writer, so a relaxed load and store suffice. */
#define pvbe_stat_add(q, field, n)					\
	__atomic_store_n(&(q)->stats.field,				\
			 __atomic_load_n(&(q)->stats.field,		\
					 __ATOMIC_RELAXED) + (n),	\
			 __ATOMIC_RELAXED)
#define pvbe_stat_read(q, field)					\
	__atomic_load_n(&(q)->stats.field, __ATOMIC_RELAXED)

static inline void pvbe_cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield" ::: "memory");
#endif
}

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t pvbe_now_ns(void);

/*
 * Record a fatal error of the queue for the main thread (which sends it
 * as PVKIT_BE_ERROR with PVKIT_BE_ERR_QUEUE, "queue N: <msg>") and set
 * q->stopping.  Only the first error of a connection is kept.  The
 * process stays up: pvkit-hv resets the device (DISCONNECT + CONNECT).
 */
void pvbe_queue_fail(struct pvbe_queue *q, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* The same for the guest's fault (a ring index violation). */
void pvbe_queue_fail_guest(struct pvbe_queue *q, int err, const char *fmt,
			   ...) __attribute__((format(printf, 3, 4)));

/* The queue thread is done (its in-flight work included): tell main. */
void pvbe_queue_exited(struct pvbe_queue *q);

/* Called by pvbe_queue_drain() with the private copy of each request. */
typedef void (*pvbe_req_fn)(struct pvbe_queue *q, const void *req);

/*
 * Consume up to @max published requests: each slot is copied into @buf
 * (@len bytes, at most the ring's req_size) and handed to @fn, which must
 * validate the copy and eventually answer it.  Counts them in
 * stats.requests.  Returns how many, or -EPROTO on a ring index
 * violation (the queue failed: pvbe_queue_fail()).
 */
int pvbe_queue_drain(struct pvbe_queue *q, void *buf, size_t len,
		     unsigned int max, pvbe_req_fn fn);

/*
 * Queue the response (@len bytes) to a consumed request; @error counts it
 * in stats.errors.  A response without a request is a bug of the caller
 * (logged, dropped): every consumed request is answered exactly once.
 */
void pvbe_queue_answer(struct pvbe_queue *q, const void *rsp, size_t len,
		       bool error);

/*
 * Publish the responses put so far; interrupt the front-end only if it
 * asked for it (event index).  Counts irqs / irqs_suppressed.
 */
void pvbe_queue_push(struct pvbe_queue *q);

/*
 * A kick arrived.  @consume: the kick fd was only reported readable
 * (poll, POLL_ADD), so read its count now.  Returns 0, or -errno after
 * failing the queue.
 */
int pvbe_queue_kicked(struct pvbe_queue *q, bool consume);

/* The iteration did work: the busy-poll window starts again. */
static inline void pvbe_poll_busy(struct pvbe_queue *q)
{
	if (q->poll_ns)
		q->busy_ns = pvbe_now_ns();
}

/*
 * An idle iteration: true (after a CPU pause) while the busy-poll window
 * is still open, so the caller iterates again instead of sleeping.
 */
bool pvbe_poll_spin(struct pvbe_queue *q);

/*
 * The final check before sleeping: re-arm req_event and look at req_prod
 * once more.  True when the thread may block (nothing was published in
 * between, or the queue is stopping and takes nothing anyway).
 */
bool pvbe_queue_may_sleep(struct pvbe_queue *q);

#endif /* PVKIT_HOST_BEQUEUE_H */
