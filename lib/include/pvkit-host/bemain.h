/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The generic back-end process: everything a pvkit back-end does that is
 * not its device.  A back-end is a struct pvbe_ops and its device code:
 *
 *	static struct blkb_dev dev;	(embeds a struct pvbe)
 *	int main(int argc, char **argv)
 *	{
 *		return pvbe_main(&dev.be, &blkb_ops, argc, argv);
 *	}
 *
 * pvbe_main() checks argv ("--hv") and fd PVKIT_BE_SOCK_FD, blocks the
 * termination signals (queue threads inherit the mask) and serves the
 * control protocol of pvkit-host/backend.h:
 *
 *	INIT --SETUP--> READY --CONNECT--> CONNECTED --DISCONNECT--> DRAINING
 *	                  ^                                              |
 *	                  +------- every queue exited: DISCONNECTED -----+
 *
 * SETUP is validated (device type, queue count, fd count, ring geometry
 * and placement inside the shared region, memory map) and mapped here
 * before any op runs; then parse_args, open and fill_ready.  CONNECT
 * checks the acked features against the offer, attaches each queue's ring
 * and calls queue_start.  DISCONNECT signals be->stop_fd (and calls
 * queue_stop); each queue thread finishes its in-flight work and calls
 * pvbe_queue_exited(); once all have, queue_join runs and DISCONNECTED
 * goes out, STATS and signals being served meanwhile.  A queue's fatal
 * error (pvbe_queue_fail(); pvbe_queue_fail_guest() for a ring index
 * violation) is sent as PVKIT_BE_ERROR with PVKIT_BE_ERR_QUEUE (and
 * PVKIT_BE_ERR_GUEST) and the process stays up: pvkit-hv resets the
 * device with DISCONNECT + CONNECT.  What a guest can trigger at will is
 * logged rate-limited.  SHUTDOWN, socket EOF and
 * SIGTERM/SIGINT/SIGHUP stop the queues and exit 0; a malformed or
 * out-of-order control message, or a failed SETUP or CONNECT, sends
 * ERROR with the reason and exits 1 (pvkit-hv restarts the back-end).
 *
 * Queue threads use pvkit-host/bequeue.h.
 */
#ifndef PVKIT_HOST_BEMAIN_H
#define PVKIT_HOST_BEMAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <pvkit/abi.h>
#include <pvkit/ring.h>
#include <pvkit-host/backend.h>
#include <pvkit-host/gmem.h>
#include <pvkit-host/log.h>

#ifndef container_of
#define container_of(ptr, type, member)					\
	((type *)((char *)(ptr) - offsetof(type, member)))
#endif

struct pvbe;

/*
 * Generic per-queue state.  A back-end embeds it in its own queue struct
 * (ops->queue_size bytes, a multiple of 64: queues are cacheline
 * aligned) and gets back with container_of().
 */
struct pvbe_queue {
	struct pvbe *be;		/* the device */
	unsigned int index;		/* queue number, 0.. */
	struct pvkit_ring ring;		/* attached before queue_start */
	int kick_fd;			/* front-end -> us (SETUP fd) */
	int irq_fd;			/* us -> front-end (SETUP fd) */
	bool started;			/* main: queue_start succeeded */
	bool exited;			/* atomic: the queue thread is done */
	bool reported;			/* main: err was sent as ERROR */
	bool stopping;			/* queue thread: take no new work */
	uint64_t poll_ns;		/* busy-poll window, 0: never poll */
	uint64_t busy_ns;		/* queue thread: last time with work */

	/* queue -> main: a fatal problem to report (written once) */
	int err;			/* atomic, -errno; 0: none */
	bool err_guest;			/* the guest broke the ring protocol */
	char errmsg[192];

	/* counters: written by the queue thread, read by main (relaxed) */
	struct pvkit_be_queue_stats stats;
};

/* The control protocol state (see the diagram above). */
enum pvbe_state {
	PVBE_INIT,		/* waiting for SETUP */
	PVBE_READY,		/* READY sent, not connected */
	PVBE_CONNECTED,		/* queues running */
	PVBE_DRAINING,		/* DISCONNECT: waiting for the queues */
};

/*
 * A back-end's device operations.  Every op but the optional ones must be
 * set; ops returning int return 0 or -errno, and those with @err put a
 * readable reason there (it becomes the ERROR message).  All ops run on
 * the main thread.
 */
struct pvbe_ops {
	const char *prog;	/* "pvkit-blkback": log prefix, usage */
	const char *dev_name;	/* "blk": the hv's device name prefix */
	uint16_t dev_type;	/* PVKIT_DEV_* served */
	const char *usage;	/* SETUP.args syntax, for --help */
	size_t queue_size;	/* bytes per queue, embeds struct pvbe_queue */
	size_t queue_offset;	/* offsetof(its queue struct, struct pvbe_queue) */

	/*
	 * Slot sizes queue @qi must have (a device may use different ones
	 * per queue, e.g. rx and tx; be->nr_queues is set); SETUP is
	 * refused otherwise.
	 */
	void (*slot_sizes)(const struct pvbe *be, unsigned int qi,
			   uint32_t *req_size, uint32_t *rsp_size);
	/* Parse SETUP.args (NUL-terminated). */
	int (*parse_args)(struct pvbe *be, const char *args, char *err,
			  size_t errlen);
	/*
	 * Open the device once guest RAM, the shared region and the queue
	 * descriptors are in @be; log what is served.
	 */
	int (*open)(struct pvbe *be, char *err, size_t errlen);
	/* Fill READY: the features to offer and the device config. */
	void (*fill_ready)(struct pvbe *be, struct pvkit_be_ready *r);
	/*
	 * Start serving queue @q (its ring attached, its counters and error
	 * kept, be->acked valid): typically a thread that runs until
	 * be->stop_fd or q->stopping, then calls pvbe_queue_exited().
	 */
	int (*queue_start)(struct pvbe *be, struct pvbe_queue *q);
	/* Optional: more than be->stop_fd to make the queues stop. */
	void (*queue_stop)(struct pvbe *be);
	/* Wait for a started queue and free its per-connection state. */
	void (*queue_join)(struct pvbe *be, struct pvbe_queue *q);
	/* Optional: release what open() took (also after a failed open). */
	void (*close)(struct pvbe *be);
	/*
	 * Optional: called from the control loop every tick_ms once READY
	 * was sent, to look at the device (a TAP's link) and report changes
	 * with pvbe_send_config().
	 */
	void (*tick)(struct pvbe *be);
	unsigned int tick_ms;
};

/* One back-end process's device.  Embedded in the back-end's own. */
struct pvbe {
	const struct pvbe_ops *ops;
	enum pvbe_state state;
	struct gmem gm;			/* guest RAM, mapped at SETUP */
	uint8_t *shm;			/* the shared region */
	uint64_t shm_size;
	uint32_t dev_index;		/* device table slot */
	uint16_t instance;		/* blk<instance> */
	uint32_t nr_queues;
	struct pvkit_be_queue qdesc[PVKIT_MAX_QUEUES]; /* validated */
	uint64_t features;		/* offered in READY */
	uint64_t acked;			/* from CONNECT */
	uint32_t epoch;			/* from CONNECT */
	int stop_fd;			/* eventfd: queues stop (connected) */
	int event_fd;			/* eventfd: a queue failed or exited */
	int sock;			/* control socket */
	int sigfd;			/* SIGTERM/SIGINT/SIGHUP */
	uint8_t *queues;		/* nr_queues * ops->queue_size */
	char err[256];			/* reason for a fatal ERROR */
	/*
	 * A guest can break its rings, and so have us reset, at will: what
	 * that logs (the violation, the reconnect) is rate-limited.
	 */
	struct log_ratelimit guest_rl;
};

/* Queue @i of @be. */
static inline struct pvbe_queue *pvbe_queue(struct pvbe *be, unsigned int i)
{
	return (struct pvbe_queue *)(be->queues + i * be->ops->queue_size +
				     be->ops->queue_offset);
}

/*
 * Tell pvkit-hv the device config changed (from ops->tick, the control
 * thread): @size must be what fill_ready() gave.  0 or -errno.
 */
int pvbe_send_config(struct pvbe *be, const void *config, uint16_t size);

/*
 * Run the back-end process (argv must be "PROG --hv") until SHUTDOWN,
 * EOF or a signal.  Returns the exit status for main(): 0, 1 after a
 * fatal error, 2 for a usage error.  @be is zeroed first.
 */
int pvbe_main(struct pvbe *be, const struct pvbe_ops *ops, int argc,
	      char **argv);

#endif /* PVKIT_HOST_BEMAIN_H */
