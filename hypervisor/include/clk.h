/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The paravirt clock device served inside pvkit-hv (clock.c, clock.h of
 * the ABI).  The control ring is served on the main loop like the
 * balloon's; the timestamp exchanges are answered by one responder thread
 * per device (the only thread pvkit-hv has besides its loop: clock.c says
 * why).  The pure helpers (options, schedstat parsing, the rate limiter)
 * have no other dependency, so host tests and the fuzz harness call them
 * alone.
 */
#ifndef PVKIT_HV_CLK_H
#define PVKIT_HV_CLK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <pvkit/clock.h>

#define CLK_DEFAULT_RATE	20	/* WINDOWs per second, and the burst */
#define CLK_MAX_RATE		1000
#define CLK_DEFAULT_WINDOW_US	2000
#define CLK_MIN_WINDOW_US	50
#define CLK_DEFAULT_XCHG	PVKIT_CLOCK_MAX_XCHG
#define CLK_STEAL_PERIOD_MS	100
/* External pauses (not through pvkit pause) are looked for this often. */
#define CLK_STATUS_POLL_MS	500

/* --clock SPEC */
struct clk_opts {
	bool on;		/* "off": no device */
	uint64_t features;	/* offered */
	unsigned int rate;	/* window_rate */
	unsigned int window_us;
	unsigned int xchg;	/* max_xchg */
};

/* Parse "on|off[,steal=off][,rate=N][,window-us=U][,xchg=N]": 0/-EINVAL. */
int clk_opts_parse(const char *spec, struct clk_opts *co, char *err,
		   size_t errlen);

/*
 * Parse the text of /proc/PID/task/TID/schedstat ("run_ns wait_ns
 * timeslices\n", @len bytes, not NUL-terminated necessarily): 0 with
 * *@run_ns and *@wait_ns, or -EINVAL for anything else (no number,
 * overflow, junk, fewer than three fields).
 */
int clk_parse_schedstat(const char *buf, size_t len, uint64_t *run_ns,
			uint64_t *wait_ns);

/*
 * Token bucket of WINDOW grants: @rate per second sustained, @rate at
 * once after a quiet second.  Times in ns (CLOCK_MONOTONIC).
 */
struct clk_bucket {
	uint64_t credit_ns;	/* accrued, capped at 1 s */
	uint64_t last_ns;
	uint64_t cost_ns;	/* 1 s / rate */
};

void clk_bucket_init(struct clk_bucket *b, unsigned int rate,
		     uint64_t now_ns);
/* Take a token: 0, or the ms (>= 1) until one is there. */
uint32_t clk_bucket_take(struct clk_bucket *b, uint64_t now_ns);

/* ------------------------------------------------ the device (clock.c) --- */

struct hv;
struct dev;
struct jbuf;
struct hv_dev_opt;

/* The kind row's constructor: the device, OFFERED (nothing for "off"). */
int clk_create(struct hv *hv, const struct hv_dev_opt *o);
struct hv_geom clk_queue_geom(unsigned int q);
/* The VM's clock device or NULL. */
struct dev *clk_find(struct hv *hv);
/*
 * Guest time stopped or jumped against host time (a resume): generation
 * + 1, a config change in place (ABI.md 6.2).  No-op without a device.
 */
void clk_time_jumped(struct hv *hv, const char *why);
/* The clock's members of a JSON object (generation, windows, steal...). */
void clk_json(struct hv *hv, struct dev *d, struct jbuf *out);

#endif /* PVKIT_HV_CLK_H */
