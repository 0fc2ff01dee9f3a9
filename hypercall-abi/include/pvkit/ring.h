/* SPDX-License-Identifier: MIT */
/*
 * pvkit generic shared ring, ABI v1.
 *
 * One ring carries requests from a front-end (the guest driver) to a
 * back-end (a host process) and responses back.  Requests and responses
 * have separate slot arrays, so each side's slot size fits its payload:
 *
 *   ring_offset -> struct pvkit_ring_hdr      256 bytes, four cache lines
 *                  request slots   [slots]    slots * req_size bytes
 *                  response slots  [slots]    slots * rsp_size bytes
 *
 * Indices are free-running 32-bit counters; slot = index & (slots - 1).
 * Each index has one writer:
 *   req_prod  front-end   requests published
 *   req_event back-end    "kick me when req_prod moves past this"
 *   rsp_prod  back-end    responses published
 *   rsp_event front-end   "interrupt me when rsp_prod moves past this"
 * The consumer indices (req_cons, rsp_cons) are private to their side.
 *
 * The two sides do not trust each other.  Indices read from the peer are
 * validated on every read (see pvkit_ring_req_avail() and
 * pvkit_ring_rsp_avail()), and a consumer copies a slot into private memory
 * before it looks at it, so the peer cannot change a slot under validation.
 *
 * The same code is compiled by the kernel and by host programs; the access
 * macros below are the only difference.  The layout is normative; the code
 * is the reference implementation and is unit tested on the host.
 */
#ifndef PVKIT_RING_H
#define PVKIT_RING_H

#include <linux/types.h>

#ifdef __KERNEL__
#include <linux/compiler.h>
#include <linux/errno.h>
#include <linux/string.h>
#include <asm/barrier.h>
#include <asm/byteorder.h>

/* index load that orders the slot reads after it (consumer side) */
#define pvkit_ring_load_acquire(p)	le32_to_cpu(smp_load_acquire(p))
/* index store that orders the slot writes before it (producer side) */
#define pvkit_ring_store_release(p, v)	smp_store_release((p), cpu_to_le32(v))
#define pvkit_ring_read(p)		le32_to_cpu(READ_ONCE(*(p)))
#define pvkit_ring_write(p, v)		WRITE_ONCE(*(p), cpu_to_le32(v))
/* store->load ordering for the event-index handshake, see push/final_check */
#define pvkit_ring_mb()			smp_mb()
#else
#include <endian.h>
#include <errno.h>
#include <stdbool.h>
#include <string.h>

/* C11 atomics through the GCC/Clang builtins, which TSan understands. */
#define pvkit_ring_load_acquire(p)	\
	le32toh(__atomic_load_n((p), __ATOMIC_ACQUIRE))
#define pvkit_ring_store_release(p, v)	\
	__atomic_store_n((p), htole32(v), __ATOMIC_RELEASE)
#define pvkit_ring_read(p)		\
	le32toh(__atomic_load_n((p), __ATOMIC_RELAXED))
#define pvkit_ring_write(p, v)		\
	__atomic_store_n((p), htole32(v), __ATOMIC_RELAXED)
#if defined(__SANITIZE_THREAD__) && defined(__x86_64__)
/*
 * TSan does not model atomic_thread_fence() and GCC rejects it under
 * -fsanitize=thread (-Wtsan), so emit the instruction the fence compiles
 * to.  TSan still checks every acquire/release pair above; the barrier
 * only orders the event-index handshake, which TSan cannot check anyway.
 */
static inline void pvkit_ring_mb(void)
{
	__asm__ __volatile__("mfence" ::: "memory");
}
#elif defined(__SANITIZE_THREAD__) && defined(__aarch64__)
static inline void pvkit_ring_mb(void)
{
	__asm__ __volatile__("dmb ish" ::: "memory");
}
#else
#define pvkit_ring_mb()			__atomic_thread_fence(__ATOMIC_SEQ_CST)
#endif
#endif

#define PVKIT_RING_HDR_SIZE		256
#define PVKIT_RING_MIN_SLOTS		2
#define PVKIT_RING_MAX_SLOTS		4096
#define PVKIT_RING_MAX_SLOT_SIZE	4096

/*
 * Shared ring header.  Each index has a cache line of its own because the
 * two sides poll and write different ones.  MUST NOT change.
 */
struct pvkit_ring_hdr {
	__le32 req_prod;	/* front-end: requests published */
	__u8 pad0[60];		/* must be zero */
	__le32 req_event;	/* back-end: kick when req_prod passes this */
	__u8 pad1[60];		/* must be zero */
	__le32 rsp_prod;	/* back-end: responses published */
	__u8 pad2[60];		/* must be zero */
	__le32 rsp_event;	/* front-end: irq when rsp_prod passes this */
	__u8 pad3[60];		/* must be zero */
};

_Static_assert(sizeof(struct pvkit_ring_hdr) == PVKIT_RING_HDR_SIZE,
	       "pvkit_ring_hdr size");
_Static_assert(__builtin_offsetof(struct pvkit_ring_hdr, req_event) == 64,
	       "req_event offset");
_Static_assert(__builtin_offsetof(struct pvkit_ring_hdr, rsp_prod) == 128,
	       "rsp_prod offset");
_Static_assert(__builtin_offsetof(struct pvkit_ring_hdr, rsp_event) == 192,
	       "rsp_event offset");

/*
 * One side's private view of a ring.  Never placed in shared memory: every
 * field here is trusted by its owner.  A front-end uses req_prod_pvt,
 * req_pushed and rsp_cons; a back-end uses req_cons, rsp_prod_pvt and
 * rsp_pushed.
 */
struct pvkit_ring {
	struct pvkit_ring_hdr *hdr;	/* shared header */
	__u8 *req;			/* shared request slots */
	__u8 *rsp;			/* shared response slots */
	__u32 slots;			/* power of two */
	__u32 req_size;			/* bytes per request slot */
	__u32 rsp_size;			/* bytes per response slot */
	__u32 req_prod_pvt;		/* front-end: requests written */
	__u32 req_pushed;		/* front-end: last req_prod published */
	__u32 rsp_cons;			/* front-end: responses consumed */
	__u32 req_cons;			/* back-end: requests consumed */
	__u32 rsp_prod_pvt;		/* back-end: responses written */
	__u32 rsp_pushed;		/* back-end: last rsp_prod published */
};

/*
 * Should the producer notify?  True when the peer's event index lies in
 * [old, new), i.e. the producer index just moved past it: the peer asked to
 * be told about an entry this push published.  Any event value is safe to
 * evaluate, so a hostile one only costs or saves a notification.
 */
static inline bool pvkit_ring_need_event(__u32 event, __u32 new_idx,
					 __u32 old_idx)
{
	return (__u32)(new_idx - event - 1) < (__u32)(new_idx - old_idx);
}

/*
 * Bytes a ring occupies in the shared region.  Only meaningful for
 * geometry that passed pvkit_ring_geometry_ok(): arbitrary u32 inputs can
 * overflow.
 */
static inline __u64 pvkit_ring_bytes(__u32 slots, __u32 req_size,
				     __u32 rsp_size)
{
	return PVKIT_RING_HDR_SIZE + (__u64)slots * req_size +
	       (__u64)slots * rsp_size;
}

/* Are these ring geometry values acceptable?  Both sides check. */
static inline bool pvkit_ring_geometry_ok(__u32 slots, __u32 req_size,
					  __u32 rsp_size)
{
	if (slots < PVKIT_RING_MIN_SLOTS || slots > PVKIT_RING_MAX_SLOTS ||
	    (slots & (slots - 1)))
		return false;
	if (!req_size || req_size > PVKIT_RING_MAX_SLOT_SIZE || req_size % 8)
		return false;
	if (!rsp_size || rsp_size > PVKIT_RING_MAX_SLOT_SIZE || rsp_size % 8)
		return false;
	return true;
}

/*
 * Attach a private view to a ring at @base.  Private indices start at the
 * values the shared header holds after pvkit_ring_reset_shared(): zero.
 */
static inline int pvkit_ring_attach(struct pvkit_ring *r, void *base,
				    __u32 slots, __u32 req_size,
				    __u32 rsp_size)
{
	if (!pvkit_ring_geometry_ok(slots, req_size, rsp_size))
		return -EINVAL;
	memset(r, 0, sizeof(*r));
	r->hdr = (struct pvkit_ring_hdr *)base;
	r->req = (__u8 *)base + PVKIT_RING_HDR_SIZE;
	r->rsp = r->req + (__u64)slots * req_size;
	r->slots = slots;
	r->req_size = req_size;
	r->rsp_size = rsp_size;
	return 0;
}

/*
 * Put the shared header into its initial state.  Only the party that owns
 * the ring's lifecycle (the hypervisor, at connect) calls this, while no
 * one else uses the ring.
 */
static inline void pvkit_ring_reset_shared(struct pvkit_ring_hdr *hdr)
{
	memset(hdr, 0, sizeof(*hdr));
}

/* ------------------------------------------------- front-end (guest) --- */

/* Request slots the front-end may fill now. */
static inline __u32 pvkit_ring_free_reqs(const struct pvkit_ring *r)
{
	/* every request not yet answered holds a slot on both sides */
	return r->slots - (r->req_prod_pvt - r->rsp_cons);
}

/* Pointer to the next request slot, for filling in place. */
static inline void *pvkit_ring_next_req(struct pvkit_ring *r)
{
	return r->req + (__u64)(r->req_prod_pvt & (r->slots - 1)) *
	       r->req_size;
}

/*
 * Queue one request (not yet visible to the back-end).  @len may be
 * shorter than the slot; the rest of the slot is zeroed so that no stale
 * guest data leaks to the host.  Returns -ENOSPC when the ring is full.
 */
static inline int pvkit_ring_put_req(struct pvkit_ring *r, const void *src,
				     __u32 len)
{
	__u8 *slot;

	if (len > r->req_size)
		return -EINVAL;
	if (!pvkit_ring_free_reqs(r))
		return -ENOSPC;
	slot = (__u8 *)pvkit_ring_next_req(r);
	memcpy(slot, src, len);
	memset(slot + len, 0, r->req_size - len);
	r->req_prod_pvt++;
	return 0;
}

/*
 * Publish queued requests.  Returns true if the back-end asked to be
 * kicked for one of them.
 */
static inline bool pvkit_ring_push_reqs(struct pvkit_ring *r)
{
	__u32 old = r->req_pushed, new_idx = r->req_prod_pvt;

	if (old == new_idx)
		return false;
	/* slot contents before the index that publishes them */
	pvkit_ring_store_release(&r->hdr->req_prod, new_idx);
	r->req_pushed = new_idx;
	/*
	 * Order the req_prod store before the req_event load; pairs with
	 * the back-end's barrier in pvkit_ring_final_check_req().  Without
	 * it both sides could miss each other's write and the back-end
	 * would sleep on a published request.
	 */
	pvkit_ring_mb();
	return pvkit_ring_need_event(pvkit_ring_read(&r->hdr->req_event),
				     new_idx, old);
}

/*
 * Responses ready to consume, or -EPROTO if the back-end published an
 * index that claims more responses than there are outstanding requests.
 * Only published requests count: the back-end cannot have seen one that
 * was queued but not pushed, so it cannot legitimately answer it.
 */
static inline int pvkit_ring_rsp_avail(struct pvkit_ring *r)
{
	/* acquire: the slot contents are read after the index */
	__u32 prod = pvkit_ring_load_acquire(&r->hdr->rsp_prod);
	__u32 avail = prod - r->rsp_cons;

	if (avail > r->req_pushed - r->rsp_cons)
		return -EPROTO;
	return (int)avail;
}

/*
 * Copy the next response out of the ring.  The caller has seen
 * pvkit_ring_rsp_avail() > 0; @dst gets rsp_size bytes (at most @len).
 */
static inline void pvkit_ring_get_rsp(struct pvkit_ring *r, void *dst,
				      __u32 len)
{
	const __u8 *slot = r->rsp + (__u64)(r->rsp_cons & (r->slots - 1)) *
			   r->rsp_size;

	memcpy(dst, slot, len < r->rsp_size ? len : r->rsp_size);
	r->rsp_cons++;
}

/*
 * Ask for an interrupt at the next response, then look once more.  Returns
 * what pvkit_ring_rsp_avail() returns; the caller may stop polling only on
 * 0.
 */
static inline int pvkit_ring_final_check_rsp(struct pvkit_ring *r)
{
	pvkit_ring_write(&r->hdr->rsp_event, r->rsp_cons);
	/* pairs with the barrier in pvkit_ring_push_rsps() */
	pvkit_ring_mb();
	return pvkit_ring_rsp_avail(r);
}

/*
 * The consumer loop's step, one reading for every front-end: responses
 * waiting, or, when there are none and the consumer sleeps on interrupts
 * (@rearm), ask for an interrupt at the next one and look once more.  A
 * polled consumer passes false: its rsp_event stays behind, so the
 * back-end sends it no interrupts.  Loop until this returns 0; -EPROTO as
 * for pvkit_ring_rsp_avail().
 */
static inline int pvkit_ring_rsp_pending(struct pvkit_ring *r, bool rearm)
{
	int avail = pvkit_ring_rsp_avail(r);

	if (!avail && rearm)
		avail = pvkit_ring_final_check_rsp(r);
	return avail;
}

/* ------------------------------------------------------ back-end (host) --- */

/*
 * Requests ready to consume, or -EPROTO if the front-end published an
 * index more than a ring ahead of what was consumed.  Also bounded by the
 * responses still owed, so a front-end that republishes slots cannot make
 * the back-end hold more than @slots requests in flight.
 */
static inline int pvkit_ring_req_avail(struct pvkit_ring *r)
{
	/* acquire: the slot contents are read after the index */
	__u32 prod = pvkit_ring_load_acquire(&r->hdr->req_prod);
	__u32 avail = prod - r->req_cons;
	__u32 room = r->slots - (r->req_cons - r->rsp_prod_pvt);

	if (avail > r->slots)
		return -EPROTO;
	return (int)(avail < room ? avail : room);
}

/* Copy the next request out of the ring (see pvkit_ring_get_rsp()). */
static inline void pvkit_ring_get_req(struct pvkit_ring *r, void *dst,
				      __u32 len)
{
	const __u8 *slot = r->req + (__u64)(r->req_cons & (r->slots - 1)) *
			   r->req_size;

	memcpy(dst, slot, len < r->req_size ? len : r->req_size);
	r->req_cons++;
}

/*
 * Queue one response (not yet visible).  Returns -EINVAL if that would
 * answer a request that was never consumed.
 */
static inline int pvkit_ring_put_rsp(struct pvkit_ring *r, const void *src,
				     __u32 len)
{
	__u8 *slot;

	if (len > r->rsp_size || r->rsp_prod_pvt == r->req_cons)
		return -EINVAL;
	slot = r->rsp + (__u64)(r->rsp_prod_pvt & (r->slots - 1)) *
	       r->rsp_size;
	memcpy(slot, src, len);
	memset(slot + len, 0, r->rsp_size - len);
	r->rsp_prod_pvt++;
	return 0;
}

/* Publish queued responses; true if the front-end asked for an irq. */
static inline bool pvkit_ring_push_rsps(struct pvkit_ring *r)
{
	__u32 old = r->rsp_pushed, new_idx = r->rsp_prod_pvt;

	if (old == new_idx)
		return false;
	/* slot contents before the index that publishes them */
	pvkit_ring_store_release(&r->hdr->rsp_prod, new_idx);
	r->rsp_pushed = new_idx;
	/* pairs with the barrier in pvkit_ring_final_check_rsp() */
	pvkit_ring_mb();
	return pvkit_ring_need_event(pvkit_ring_read(&r->hdr->rsp_event),
				     new_idx, old);
}

/*
 * Ask for a kick at the next request, then look once more.  The back-end
 * may sleep only when this returns 0.
 */
static inline int pvkit_ring_final_check_req(struct pvkit_ring *r)
{
	pvkit_ring_write(&r->hdr->req_event, r->req_cons);
	/* pairs with the barrier in pvkit_ring_push_reqs() */
	pvkit_ring_mb();
	return pvkit_ring_req_avail(r);
}

/*
 * The back-end's loop step, as pvkit_ring_rsp_pending(): requests waiting,
 * or with none and @rearm (the back-end is about to sleep until a kick),
 * ask for a kick and look once more.  A busy-polling back-end passes
 * false so that the front-end's kicks stay suppressed.
 */
static inline int pvkit_ring_req_pending(struct pvkit_ring *r, bool rearm)
{
	int avail = pvkit_ring_req_avail(r);

	if (!avail && rearm)
		avail = pvkit_ring_final_check_req(r);
	return avail;
}

#endif /* PVKIT_RING_H */
