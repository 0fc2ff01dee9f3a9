/* SPDX-License-Identifier: GPL-2.0-only */
/* The single-threaded epoll loop of pvkit-hv. */
#ifndef PVKIT_HV_EV_H
#define PVKIT_HV_EV_H

#include <stdint.h>

struct hv;
struct ev_src;

typedef void (*ev_fn)(struct hv *hv, struct ev_src *src, uint32_t events);

/* One watched descriptor; embedded in the object that owns the fd. */
struct ev_src {
	int fd;
	ev_fn fn;
	void *arg;
	int added;
};

int ev_init(struct hv *hv);
void ev_exit(struct hv *hv);
int ev_add(struct hv *hv, struct ev_src *src, int fd, uint32_t events,
	   ev_fn fn, void *arg);
void ev_del(struct hv *hv, struct ev_src *src);
/* Wait up to @timeout_ms and dispatch.  0 or -errno. */
int ev_run_once(struct hv *hv, int timeout_ms);

/* Monotonic milliseconds. */
uint64_t ev_now_ms(void);

#endif /* PVKIT_HV_EV_H */
