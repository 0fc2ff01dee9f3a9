// SPDX-License-Identifier: GPL-2.0-only
/*
 * Hypercalls (ABI.md 4): mailbox transport and the call table.
 *
 * hc_handle() is a pure function of the hv state and a private copy of a
 * mailbox, so tests can feed it anything.  Every argument comes from the
 * guest and is hostile.
 */
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <pvkit-host/log.h>

#include "include/dev.h"
#include "include/hc.h"
#include "include/hv.h"

/* Guest LOG lines allowed per second before lines are dropped. */
#define HC_LOG_RATE		200

/* Number of arguments each call uses; the rest are reserved (zero). */
static const unsigned int hc_nargs[PVKIT_HC_NR] = {
	[PVKIT_HC_GET_VERSION] = 0,
	[PVKIT_HC_GET_FEATURES] = 1,
	[PVKIT_HC_ACK_FEATURES] = 2,
	[PVKIT_HC_ECHO] = 4,
	[PVKIT_HC_LOG] = 2,
	[PVKIT_HC_CONFIG_ACK] = 1,
	[PVKIT_HC_DEV_ACK_FEATURES] = 2,
	[PVKIT_HC_DEV_CONNECT] = 1,
	[PVKIT_HC_DEV_DISCONNECT] = 1,
	[PVKIT_HC_DEV_RESET] = 1,
	[PVKIT_HC_EVTCHN_SEND] = 1,
};

static struct pvkit_mailbox *hc_mailbox(struct hv *hv, unsigned int i)
{
	return (struct pvkit_mailbox *)(hv->shm + HV_MBOX_OFFSET) + i;
}

static int64_t hc_log(struct hv *hv, uint64_t gpa, uint64_t len)
{
	char raw[PVKIT_HC_LOG_MAX], line[PVKIT_HC_LOG_MAX + 1];
	const void *src;
	uint64_t now;

	if (!(hv->features[0] & PVKIT_F_LOG))
		return PVKIT_HC_ENOTSUP;
	if (!len || len > PVKIT_HC_LOG_MAX)
		return PVKIT_HC_EINVAL;
	src = gmem_translate(&hv->gm, gpa, len);
	if (!src)
		return PVKIT_HC_EFAULT;
	/* copy first: the guest may change the bytes while we look */
	memcpy(raw, src, len);
	log_sanitize(line, sizeof(line), raw, (unsigned int)len);

	/* a guest must not be able to flood the host log */
	now = ev_now_ms();
	if (now - hv->log_window_ms >= 1000) {
		if (hv->log_dropped)
			fprintf(stderr, "[%s] guest: (%llu log lines dropped)\n",
				hv->opt.name, (unsigned long long)hv->log_dropped);
		hv->log_window_ms = now;
		hv->log_in_window = 0;
		hv->log_dropped = 0;
	}
	if (hv->log_in_window >= HC_LOG_RATE) {
		hv->log_dropped++;
		return PVKIT_HC_OK;
	}
	hv->log_in_window++;
	hv->log_lines++;
	fprintf(stderr, "[%s] guest: %s\n", hv->opt.name, line);
	return PVKIT_HC_OK;
}

int64_t hc_handle(struct hv *hv, unsigned int mbox, const struct hc_call *c)
{
	const uint64_t *a = c->args;
	unsigned int i;

	hv->hc_count[c->nr < PVKIT_HC_NR ? c->nr : PVKIT_HC_NR]++;
	if (c->nr >= PVKIT_HC_NR)
		return PVKIT_HC_ENOSYS;
	if ((c->flags & ~PVKIT_MBOX_F_KNOWN) || c->pad0)
		return PVKIT_HC_EINVAL;
	for (i = hc_nargs[c->nr]; i < PVKIT_HC_NR_ARGS; i++)
		if (a[i])
			return PVKIT_HC_EINVAL;

	switch (c->nr) {
	case PVKIT_HC_GET_VERSION:
		return ((int64_t)PVKIT_ABI_MAJOR << 16) | PVKIT_ABI_MINOR;
	case PVKIT_HC_GET_FEATURES:
		if (a[0] >= PVKIT_FEATURE_WORDS)
			return PVKIT_HC_EINVAL;
		/* bit 63 is never offered, so this is >= 0 */
		return (int64_t)(hv->features[a[0]] & INT64_MAX);
	case PVKIT_HC_ACK_FEATURES:
		if (a[0] >= PVKIT_FEATURE_WORDS)
			return PVKIT_HC_EINVAL;
		if (a[1] & ~hv->features[a[0]])
			return PVKIT_HC_ENOTSUP;
		hv->acked[a[0]] = a[1];
		return PVKIT_HC_OK;
	case PVKIT_HC_ECHO:
		return (int64_t)((a[0] ^ a[1] ^ a[2] ^ a[3]) & INT64_MAX);
	case PVKIT_HC_LOG:
		return hc_log(hv, a[0], a[1]);
	case PVKIT_HC_CONFIG_ACK:
		if ((a[0] & 1) || a[0] > hv->generation)
			return PVKIT_HC_EINVAL;
		hv->config_acked = (uint32_t)a[0];
		return PVKIT_HC_OK;
	case PVKIT_HC_DEV_ACK_FEATURES:
		return dev_hc_ack_features(hv, a[0], a[1]);
	case PVKIT_HC_DEV_CONNECT:
		return dev_hc_connect(hv, a[0]);
	case PVKIT_HC_DEV_DISCONNECT:
		return dev_hc_disconnect(hv, a[0], mbox);
	case PVKIT_HC_DEV_RESET:
		return dev_hc_reset(hv, a[0], mbox);
	case PVKIT_HC_EVTCHN_SEND:
		if (a[0] >= hv->nr_vectors)
			return PVKIT_HC_EINVAL;
		hv_raise(hv, (unsigned int)a[0]);
		return PVKIT_HC_OK;
	}
	return PVKIT_HC_ENOSYS;
}

static void hc_finish(struct hv *hv, unsigned int i, uint32_t seq, int64_t ret)
{
	struct pvkit_mailbox *mb = hc_mailbox(hv, i);
	uint32_t flags;

	__atomic_store_n(&mb->ret, htole64((uint64_t)ret), __ATOMIC_RELAXED);
	__atomic_store_n(&mb->pad2, 0, __ATOMIC_RELAXED);
	/* ret before done_seq: pairs with the guest's load-acquire */
	__atomic_store_n(&mb->done_seq, htole32(seq), __ATOMIC_RELEASE);
	hv->mbox_done[i] = seq;
	/*
	 * done_seq before the flags load; pairs with the guest's barrier
	 * between setting F_IRQ and re-checking done_seq.
	 */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	flags = le32toh(__atomic_load_n(&mb->flags, __ATOMIC_RELAXED));
	if (flags & PVKIT_MBOX_F_IRQ)
		hv_raise(hv, HV_VEC_HYPERCALL);
}

void hc_complete(struct hv *hv, unsigned int mbox, int64_t ret)
{
	if (mbox >= hv->nr_mbox || !hv->mbox_busy[mbox])
		return;
	hv->mbox_busy[mbox] = false;
	hc_finish(hv, mbox, hv->mbox_seq[mbox], ret);
}

unsigned int hc_scan(struct hv *hv)
{
	unsigned int i, handled = 0;

	for (i = 0; i < hv->nr_mbox; i++) {
		struct pvkit_mailbox *mb = hc_mailbox(hv, i);
		struct pvkit_mailbox copy;
		struct hc_call c;
		unsigned int j;
		uint32_t seq;
		int64_t ret;

		if (hv->mbox_busy[i])
			continue;
		/* acquire: the call's fields are read after call_seq */
		seq = le32toh(__atomic_load_n(&mb->call_seq, __ATOMIC_ACQUIRE));
		if (seq == hv->mbox_done[i])
			continue;
		/* copy the guest half, then look only at the copy */
		memcpy(&copy, mb, offsetof(struct pvkit_mailbox, done_seq));
		c.call_seq = seq;
		c.flags = le32toh(copy.flags);
		c.nr = le32toh(copy.nr);
		c.pad0 = le32toh(copy.pad0);
		for (j = 0; j < PVKIT_HC_NR_ARGS; j++)
			c.args[j] = le64toh(copy.args[j]);

		ret = hc_handle(hv, i, &c);
		handled++;
		if (ret == HC_DEFERRED) {
			hv->mbox_busy[i] = true;
			hv->mbox_seq[i] = seq;
			continue;
		}
		hc_finish(hv, i, seq, ret);
	}
	return handled;
}

static void hc_kick(struct hv *hv, struct ev_src *src, uint32_t events)
{
	uint64_t cnt;

	(void)events;
	if (read(src->fd, &cnt, sizeof(cnt)) == sizeof(cnt))
		hv->hc_kicks++;
	hc_scan(hv);
}

int hc_watch(struct hv *hv)
{
	hv->hc_done = hc_complete;
	return ev_add(hv, &hv->hc_src, hv->kick_fd[HV_KICK_HYPERCALL], EPOLLIN,
		      hc_kick, NULL);
}
