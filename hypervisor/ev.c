// SPDX-License-Identifier: GPL-2.0-only
/* pvkit-hv event loop: one epoll instance, callbacks per descriptor. */
#include <errno.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "include/hv.h"

uint64_t ev_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int ev_init(struct hv *hv)
{
	hv->epfd = epoll_create1(EPOLL_CLOEXEC);
	return hv->epfd < 0 ? -errno : 0;
}

void ev_exit(struct hv *hv)
{
	if (hv->epfd >= 0)
		close(hv->epfd);
	hv->epfd = -1;
}

int ev_add(struct hv *hv, struct ev_src *src, int fd, uint32_t events,
	   ev_fn fn, void *arg)
{
	struct epoll_event ee = { .events = events, .data.ptr = src };

	src->fd = fd;
	src->fn = fn;
	src->arg = arg;
	src->added = 0;
	if (hv->epfd < 0)
		return 0;	/* no loop (host tests): nothing to watch */
	if (epoll_ctl(hv->epfd, EPOLL_CTL_ADD, fd, &ee) < 0)
		return -errno;
	src->added = 1;
	return 0;
}

void ev_del(struct hv *hv, struct ev_src *src)
{
	if (src->added && hv->epfd >= 0)
		epoll_ctl(hv->epfd, EPOLL_CTL_DEL, src->fd, NULL);
	src->added = 0;
}

int ev_run_once(struct hv *hv, int timeout_ms)
{
	struct epoll_event ee[32];
	int n, i;

	n = epoll_wait(hv->epfd, ee, 32, timeout_ms);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	for (i = 0; i < n; i++) {
		struct ev_src *src = ee[i].data.ptr;

		/*
		 * A callback may remove other sources; a removed source has
		 * added == 0 and is skipped for the rest of this batch.
		 */
		if (src->added)
			src->fn(hv, src, ee[i].events);
		if (hv->quit)
			break;
	}
	return 0;
}
