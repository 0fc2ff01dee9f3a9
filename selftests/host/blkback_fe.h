/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Fake pvkit-hv and fake pvkit_blk front-end for the back-end host tests:
 * guest RAM is a memfd mapped with two ranges around a "PCI hole", the
 * shared region another memfd, kicks and irqs eventfds; the back-end is
 * the real binary, started with its control socket on fd 3.  The fake
 * hypervisor side serves any back-end described by a struct fe_kind
 * (pvkit-blkback by default); the front-end helpers are block ones.
 */
#ifndef PVKIT_SELFTESTS_BLKBACK_FE_H
#define PVKIT_SELFTESTS_BLKBACK_FE_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <pvkit/abi.h>
#include <pvkit/blk.h>
#include <pvkit/ring.h>
#include <pvkit-host/backend.h>
#include <pvkit-host/beproto.h>
#include <pvkit-host/gmem.h>

/* Guest RAM: 64 MiB file; gpa 0..32M at file 0, gpa 4G..4G+32M at 32M. */
#define FE_RAM_SIZE		(64ULL << 20)
#define FE_LO_SIZE		(32ULL << 20)
#define FE_HI_GPA		(4ULL << 30)
#define FE_HI_SIZE		(FE_RAM_SIZE - FE_LO_SIZE)
#define FE_SHM_SIZE		(1ULL << 20)
#define FE_RING_BASE		0x8000

/*
 * Buffer windows: 4 KiB for an indirect segment array, then up to 1 MiB of
 * data spread with gaps.  Even windows live below the hole, odd ones above.
 */
#define FE_WIN_SIZE		(1280ULL << 10)
#define FE_WIN_DATA		4096ULL
#define FE_WIN_SLACK		(FE_WIN_SIZE - FE_WIN_DATA - (1ULL << 20))
#define FE_NR_WINDOWS		(2 * (unsigned int)(FE_LO_SIZE / FE_WIN_SIZE))

#define FE_TIMEOUT_MS		10000

struct fe;

/*
 * What the fake hypervisor knows about one back-end program: enough to
 * give it a valid SETUP and to build wrong ones.  One per back-end, so
 * the control-protocol tests (be_control.c) run against every back-end.
 */
struct fe_kind {
	const char *prog;	/* binary name in build/bin */
	uint16_t dev_type;	/* PVKIT_DEV_* it serves */
	uint16_t other_type;	/* a device type it must refuse */
	/* queues a valid SETUP has; 0: any (the test picks) */
	unsigned int nr_queues;
	/* slot sizes queue @qi of @fe (fe->nr_queues queues) has */
	void (*slot_sizes)(const struct fe *fe, unsigned int qi,
			   uint32_t *req_size, uint32_t *rsp_size);
	/*
	 * Create what a valid SETUP needs (an image in @dir, ...) and write
	 * its SETUP.args into @args.  0 or -errno.
	 */
	int (*setup_args)(struct fe *fe, const char *dir, char *args,
			  size_t len);
	const char *bad_args;	/* SETUP.args it must refuse */
	uint64_t unoffered;	/* a feature bit the setup_args device lacks */
	/* Decode READY's device config; 0 or -EBADMSG. */
	int (*ready)(struct fe *fe, const struct pvkit_be_ready *r);
};

/* pvkit-blkback: the default kind */
extern const struct fe_kind fe_blk_kind;

struct fe_queue {
	struct pvkit_ring ring;
	int kick_fd;		/* the guest's doorbell: we write it */
	int irq_fd;		/* the guest's vector: we read it */
	uint64_t kicks;		/* doorbell writes */
	uint64_t irqs;		/* sum of irq eventfd counts read */
	uint64_t reqs;		/* requests published */
	uint64_t rsps;		/* responses consumed */
	bool polling;		/* never arm rsp_event: spin on rsp_prod */
};

struct fe {
	const struct fe_kind *kind;	/* kept by fe_init(); NULL: blk */
	pid_t pid;
	int sock;
	int ram_fd;
	int shm_fd;
	uint8_t *ram;
	uint8_t *shm;
	struct gmem gm;
	unsigned int nr_queues;
	unsigned int slots;
	bool kick_nonblock;	/* give the back-end O_NONBLOCK kick fds */
	struct fe_queue q[PVKIT_MAX_QUEUES];
	struct pvkit_blk_config cfg;	/* host byte order (blk) */
	uint8_t config[PVKIT_DEV_CONFIG_SIZE];	/* READY config as sent */
	uint16_t config_size;
	uint64_t features;
	char image[PATH_MAX];
	int image_fd;
	uint64_t image_size;
	int err_code;		/* last PVKIT_BE_ERROR */
	char err_msg[256];
};

/* xorshift64*: reproducible test data */
static inline uint64_t fe_rand(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ULL;
}

void fe_fill_random(void *buf, size_t len, uint64_t *seed);

/*
 * Zero the struct (but for ->kind and ->kick_nonblock) and create guest
 * RAM, shared region and eventfds.
 */
int fe_init(struct fe *fe, unsigned int nr_queues, unsigned int slots);
/* Create an image of @size bytes in @dir; @random fills it. */
int fe_image(struct fe *fe, const char *dir, uint64_t size, bool random,
	     uint64_t *seed);
/*
 * Fork/exec the back-end with the control socket on fd 3; -ENOENT if it
 * was not built.
 */
int fe_spawn(struct fe *fe);
/*
 * SETUP with @args; 0 on READY (cfg/features filled), 1 on ERROR
 * (err_code/err_msg filled), -errno otherwise.  The image is unlinked
 * after the answer (the test keeps image_fd).
 */
int fe_setup(struct fe *fe, const char *args);
/* The SETUP message and fds fe_setup() sends (for hostile-hv tests). */
void fe_setup_msg(struct fe *fe, const char *args, struct pvkit_be_setup *s,
		  int *fds, unsigned int *nfds);
/* Reset the ring headers like pvkit-hv, CONNECT, wait for CONNECTED. */
int fe_connect(struct fe *fe, uint64_t acked);
int fe_disconnect(struct fe *fe);
int fe_stats(struct fe *fe, struct pvkit_be_stats *st);
/*
 * STATS once the irq counts agree with what the eventfds delivered (an
 * irq may be in between the back-end's eventfd write and its counter).
 */
int fe_stats_settled(struct fe *fe, struct pvkit_be_stats *st);
int fe_shutdown(struct fe *fe);
/* Receive one message of @type (ERROR is stored and returns 1). */
int fe_expect(struct fe *fe, uint16_t type, void *buf, size_t len,
	      int timeout_ms);
int fe_send(struct fe *fe, void *msg, uint16_t type, size_t len);
/* Receive any one message into @buf; returns its type or -errno. */
int fe_recv_any(struct fe *fe, void *buf, size_t len, int timeout_ms);
/* Wait for the back-end to exit; returns its wait status or -ETIMEDOUT. */
int fe_wait_exit(struct fe *fe, int timeout_ms);
bool fe_alive(struct fe *fe);
void fe_destroy(struct fe *fe);
/* spawn + setup + connect with every offered feature acked */
int fe_start(struct fe *fe, const char *dir, uint64_t image_size,
	     const char *extra_args, unsigned int nr_queues,
	     unsigned int slots, uint64_t *seed);

/* Host pointer for guest memory, NULL if outside RAM. */
void *fe_gpa(struct fe *fe, uint64_t gpa, uint64_t len);
uint64_t fe_window_gpa(unsigned int w);

/*
 * Any device's requests and responses (@len bytes, at most the slot):
 * queue without publishing, and the next response as fe_get_rsp().
 */
int fe_queue_req_raw(struct fe *fe, unsigned int qi, const void *rq,
		     size_t len);
int fe_get_rsp_raw(struct fe *fe, unsigned int qi, void *rsp, size_t len,
		   int timeout_ms);

/* Queue a request and publish it, kicking if the back-end asked. */
int fe_submit(struct fe *fe, unsigned int qi, const struct pvkit_blk_req *rq);
/* Queue without publishing; fe_push() publishes the batch. */
int fe_queue_req(struct fe *fe, unsigned int qi,
		 const struct pvkit_blk_req *rq);
void fe_push(struct fe *fe, unsigned int qi);
/*
 * Next response, sleeping on the irq eventfd with the event-index
 * protocol (or spinning if the queue is polling).  -ETIMEDOUT means a
 * completion was lost; -EPROTO a bad response index.
 */
int fe_get_rsp(struct fe *fe, unsigned int qi, struct pvkit_blk_rsp *rsp,
	       int timeout_ms);
/* Submit one request and return its status (or -errno). */
int fe_do(struct fe *fe, unsigned int qi, const struct pvkit_blk_req *rq);
/* Read any irq counts left in the eventfd. */
void fe_drain_irqs(struct fe *fe, unsigned int qi);

/* One read or write spread over a window with a random segment layout. */
struct fe_io {
	struct pvkit_blk_req rq;
	uint8_t op;
	uint64_t sector;
	uint32_t bytes;
	unsigned int nr_segs;
	uint64_t seg_gpa[PVKIT_BLK_MAX_SEGS];
	uint32_t seg_len[PVKIT_BLK_MAX_SEGS];
};

/*
 * Build a READ/WRITE of @bytes at @sector using window @w; @indirect:
 * -1 random, 0 inline (at most 6 segments), 1 indirect.  WRITE data comes
 * from @data (copied into the segments).
 */
void fe_build_rw(struct fe *fe, struct fe_io *io, uint8_t op, uint64_t id,
		 uint64_t sector, uint32_t bytes, unsigned int w,
		 int indirect, const uint8_t *data, uint64_t *seed);
/* Gather the segments of a completed READ into @out. */
void fe_gather(struct fe *fe, const struct fe_io *io, uint8_t *out);

/* Simple synchronous helpers on window @w (returns status or -errno). */
int fe_write(struct fe *fe, unsigned int qi, uint64_t sector,
	     const void *buf, uint32_t bytes, unsigned int w, uint8_t flags);
int fe_read(struct fe *fe, unsigned int qi, uint64_t sector, void *buf,
	    uint32_t bytes, unsigned int w);
/* Write random data to @sector, read it back; 0 if it matches. */
int fe_check_io(struct fe *fe, unsigned int qi, uint64_t sector,
		uint32_t bytes, uint64_t *seed);

/*
 * Random I/O on one queue: @nreqs requests, up to @qd in flight, over the
 * sectors [zone, zone + zone_sectors), buffer windows from @win; keeps
 * @shadow (the whole image) up to date and checks every read against it.
 * Returns 0 or -1 with a reason in @err.
 */
struct fe_job_cfg {
	unsigned int qi;
	uint64_t zone;
	uint64_t zone_sectors;
	unsigned int qd;
	unsigned int nreqs;
	unsigned int win;
	uint32_t max_bytes;
	uint64_t seed;
	uint8_t *shadow;
	char err[256];
	uint64_t done;
};
int fe_random_io(struct fe *fe, struct fe_job_cfg *cfg);

#ifdef __KSELFTEST_HARNESS_H
#include <errno.h>
#include <string.h>

/*
 * Start a connected back-end for a test (fe_start() with @seed); false if
 * the test was skipped because pvkit-blkback is not built.  Only for
 * files that include the kselftest harness before this header.
 */
static inline bool fe_start_test(struct __test_metadata *_metadata,
				 struct fe *fe, const char *dir, uint64_t size,
				 const char *args, unsigned int nq,
				 unsigned int slots, uint64_t seed)
{
	int ret;

	ret = fe_start(fe, dir, size, args, nq, slots, &seed);
	if (ret == -ENOENT) {
		fe_destroy(fe);
		SKIP(return false, "pvkit-blkback not built (PVKIT_BIN_DIR)");
	}
	ASSERT_EQ(0, ret) TH_LOG("start: %s (%s)", strerror(-ret),
				 fe->err_msg);
	return true;
}
#endif

#endif /* PVKIT_SELFTESTS_BLKBACK_FE_H */
