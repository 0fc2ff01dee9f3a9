// SPDX-License-Identifier: GPL-2.0-only
/*
 * fuzz-srcs: @hv
 *
 * The clock device pvkit-hv serves (hypervisor/clock.c) with its real
 * responder thread, fed control requests from the input -- SETUP at
 * aligned pages in RAM, at the last page, unaligned, in the hole, past
 * the end; WINDOW with any count; unknown ops; reserved bytes -- and
 * guest games in the registered area between them (random page contents,
 * req_seq flipped while a window is live).  Properties: every request is
 * answered once with its id and a known status, reserved bytes zero; OK
 * WINDOW says window_us and BUSY a wait of 1 ms .. one token; a refused
 * request changes nothing; the responder never answers more exchanges
 * than the windows granted; after SETUP(0) it answers nothing more (the
 * disarm is synchronous); the time it spun stays within the windows
 * granted (with slack for a preempted thread).
 */
#include <endian.h>
#include <time.h>
#include <unistd.h>

#include <pvkit/clock.h>
#include <pvkit/ring.h>
#include <pvkit-host/json.h>

#include "../../hypervisor/include/clk.h"
#include "../../hypervisor/include/dev.h"
#include "../../hypervisor/include/hc.h"
#include "../../hypervisor/include/hv.h"
#include "../../hypervisor/include/kind.h"
#include "fuzz.h"

#define MEM		(64ULL << 20)
#define WINDOW_US	100
#define RATE		1000
#define NR_OPS_MAX	32
/* per window, for a thread the fuzzing machine preempted */
#define SPIN_SLACK_US	50000

static struct hv *hv;
static struct dev *d;
static struct pvkit_ring fe;
static uint64_t next_id = 1;

static int64_t call(uint32_t nr, uint64_t a0, uint64_t a1)
{
	struct hc_call c = { .call_seq = 1, .nr = nr, .args = { a0, a1 } };

	return hc_handle(hv, 0, &c);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct hv_opts o;
	char err[256];

	(void)argc;
	(void)argv;
	hv = calloc(1, sizeof(*hv));
	if (!hv)
		abort();
	opts_defaults(&o);
	strcpy(o.name, "fuzz");
	o.kernel = "/dev/null";
	o.mem = MEM;
	o.cpus = 2;
	o.hotplug = 0;
	if (kind_parse(kind_by_option("clock"), &o.devs[0],
		       "on,window-us=100,rate=1000,xchg=8", err, sizeof(err)))
		abort();
	o.nr_devs = 1;
	log_set_level(LOG_LVL_ERR);
	hv_struct_init(hv);
	if (ev_init(hv) || hv_vm_init(hv, &o))
		abort();
	d = clk_find(hv);
	if (!d || call(PVKIT_HC_DEV_ACK_FEATURES, d->slot, d->features) ||
	    call(PVKIT_HC_DEV_CONNECT, d->slot, 0) ||
	    pvkit_ring_attach(&fe, hv->shm + d->q[0].ring_offset,
			      d->q[0].slots, d->q[0].req_size,
			      d->q[0].rsp_size))
		abort();
	return 0;
}

/* The clock's counters, through the same JSON `pvkit clock` shows. */
static void counters(uint64_t *exchanges, uint64_t *spun_us,
		     uint64_t *refused)
{
	struct json *j = NULL;
	struct jbuf jb;

	jb_init(&jb);
	jb_obj_begin(&jb);
	clk_json(hv, d, &jb);
	jb_obj_end(&jb);
	FUZZ_ASSERT(jb.buf && !json_parse(jb.buf, jb.len, &j));
	*exchanges = (uint64_t)json_get_num(j, "exchanges", -1);
	*spun_us = (uint64_t)json_get_num(j, "spun_us", -1);
	*refused = (uint64_t)json_get_num(j, "refused", -1);
	json_free(j);
	jb_free(&jb);
}

/* One request through the ring, served by pvkit-hv's loop. */
static struct pvkit_clock_rsp send_req(struct pvkit_clock_req *rq)
{
	struct pvkit_clock_rsp rsp;
	uint64_t one = 1;
	int i;

	rq->id = htole64(next_id++);
	FUZZ_ASSERT(!pvkit_ring_put_req(&fe, rq, sizeof(*rq)));
	pvkit_ring_push_reqs(&fe);
	FUZZ_ASSERT(write(hv->kick_fd[d->q[0].kick], &one, sizeof(one)) ==
		    sizeof(one));
	for (i = 0; i < 100 && pvkit_ring_rsp_avail(&fe) <= 0; i++)
		ev_run_once(hv, 10);
	FUZZ_ASSERT(pvkit_ring_rsp_avail(&fe) == 1);
	pvkit_ring_get_rsp(&fe, &rsp, sizeof(rsp));
	FUZZ_ASSERT(rsp.id == rq->id);
	FUZZ_ASSERT(!rsp.reserved[0] && !rsp.reserved[1] && !rsp.reserved[2]);
	return rsp;
}

static uint64_t pick_gpa(struct fuzz_in *in)
{
	uint64_t v = fuzz_u64(in);

	switch (fuzz_u8(in) % 6) {
	case 0:
		return (v % MEM) & ~0xfffULL;		/* a page of RAM */
	case 1:
		return MEM - 4096;			/* the last one */
	case 2:
		return v % MEM;				/* any alignment */
	case 3:
		return MEM + (v & 0xfffff000ULL);	/* past the end */
	case 4:
		return 0;				/* none */
	default:
		return v;				/* anything */
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = { data, size };
	uint64_t ex0, spun0, ref0, ex1, spun1, ref1, granted = 0, windows = 0;
	uint64_t area = 0;
	unsigned int n;

	counters(&ex0, &spun0, &ref0);
	for (n = 0; n < NR_OPS_MAX && in.left; n++) {
		struct pvkit_clock_req rq;
		struct pvkit_clock_rsp r;
		uint8_t sel = fuzz_u8(&in);
		uint64_t refused_before, x, s;

		memset(&rq, 0, sizeof(rq));
		rq.op = sel & 0x80 ? fuzz_u8(&in) :
			(sel & 1 ? PVKIT_CLOCK_OP_WINDOW : PVKIT_CLOCK_OP_SETUP);
		rq.gpa = htole64(sel & 2 ? pick_gpa(&in) : 0);
		rq.count = htole32(sel & 4 ? (uint32_t)fuzz_u64(&in) :
				   fuzz_u8(&in) % 10);
		if (sel & 8)
			fuzz_take(&in, rq.reserved, sizeof(rq.reserved));
		counters(&x, &s, &refused_before);
		r = send_req(&rq);
		counters(&x, &s, &ref1);
		FUZZ_ASSERT(r.status <= PVKIT_CLOCK_S_BUSY);
		FUZZ_ASSERT((r.status == PVKIT_CLOCK_S_INVAL) ==
			    (ref1 == refused_before + 1));
		if (r.status == PVKIT_CLOCK_S_INVAL) {
			FUZZ_ASSERT(!r.value);
			continue;
		}
		if (r.status == PVKIT_CLOCK_S_BUSY) {
			FUZZ_ASSERT(rq.op == PVKIT_CLOCK_OP_WINDOW);
			FUZZ_ASSERT(le32toh(r.value) >= 1 &&
				    le32toh(r.value) <= 1000 / RATE + 1);
			continue;
		}
		if (rq.op == PVKIT_CLOCK_OP_SETUP) {
			area = le64toh(rq.gpa);
			FUZZ_ASSERT(!(area & 4095) && area <= MEM - 4096);
			FUZZ_ASSERT(!rq.count && !rq.reserved[0] &&
				    !rq.reserved[1] && !rq.reserved[2]);
			/* the guest's page as the input says, req_seq games */
			if (area)
				fuzz_take(&in, hv->gm.base + area,
					  in.left < 256 ? in.left : 256);
			continue;
		}
		FUZZ_ASSERT(rq.op == PVKIT_CLOCK_OP_WINDOW && area);
		FUZZ_ASSERT(le32toh(r.value) == WINDOW_US);
		FUZZ_ASSERT(le32toh(rq.count) >= 1 && le32toh(rq.count) <= 8);
		granted += le32toh(rq.count);
		windows++;
		/* a guest flipping req_seq under the live window */
		if (sel & 16) {
			struct pvkit_clock_area *a = (void *)(hv->gm.base + area);
			unsigned int k, flips = fuzz_u8(&in) % 16;

			for (k = 0; k < flips; k++)
				__atomic_store_n(&a->xchg.req_seq,
						 (uint32_t)fuzz_u64(&in),
						 __ATOMIC_RELEASE);
		}
	}
	/* stop using the area: from its answer on, nothing is answered */
	{
		struct pvkit_clock_req rq = { .op = PVKIT_CLOCK_OP_SETUP };
		struct pvkit_clock_rsp r = send_req(&rq);
		struct pvkit_clock_area *a = area ?
			(void *)(hv->gm.base + area) : NULL;
		uint32_t resp;

		FUZZ_ASSERT(r.status == PVKIT_CLOCK_S_OK);
		counters(&ex1, &spun1, &ref1);
		if (a) {
			resp = __atomic_load_n(&a->xchg.resp_seq,
					       __ATOMIC_ACQUIRE);
			__atomic_store_n(&a->xchg.req_seq, resp + 1,
					 __ATOMIC_RELEASE);
			nanosleep(&(struct timespec){ 0, 300000 }, NULL);
			FUZZ_ASSERT(__atomic_load_n(&a->xchg.resp_seq,
						    __ATOMIC_ACQUIRE) == resp);
		}
	}
	FUZZ_ASSERT(ex1 - ex0 <= granted);
	FUZZ_ASSERT(spun1 - spun0 <= windows * (WINDOW_US + SPIN_SLACK_US));
	return 0;
}
