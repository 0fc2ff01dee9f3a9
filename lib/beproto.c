// SPDX-License-Identifier: GPL-2.0-only
/*
 * pvkit-hv <-> back-end message framing (see pvkit-host/beproto.h).  The
 * tables below are the only place that says how long a message is and
 * who may send it; a new message type is one row here.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <pvkit-host/beproto.h>
#include <pvkit-host/fdpass.h>

#define PVBE_MSG(t, n, st, f)	\
	[t] = { .name = n, .size = sizeof(st), .fds = f }

/* hv -> be */
static const struct pvbe_msg_info pvbe_to_be[] = {
	PVBE_MSG(PVKIT_BE_SETUP, "SETUP", struct pvkit_be_setup, true),
	PVBE_MSG(PVKIT_BE_CONNECT, "CONNECT", struct pvkit_be_connect, false),
	PVBE_MSG(PVKIT_BE_DISCONNECT, "DISCONNECT", struct pvkit_be_hdr, false),
	PVBE_MSG(PVKIT_BE_STATS, "STATS", struct pvkit_be_hdr, false),
	PVBE_MSG(PVKIT_BE_SHUTDOWN, "SHUTDOWN", struct pvkit_be_hdr, false),
};

/* be -> hv */
static const struct pvbe_msg_info pvbe_to_hv[] = {
	PVBE_MSG(PVKIT_BE_READY, "READY", struct pvkit_be_ready, false),
	PVBE_MSG(PVKIT_BE_CONNECTED, "CONNECTED", struct pvkit_be_hdr, false),
	PVBE_MSG(PVKIT_BE_DISCONNECTED, "DISCONNECTED", struct pvkit_be_hdr,
		 false),
	PVBE_MSG(PVKIT_BE_STATS, "STATS", struct pvkit_be_stats, false),
	PVBE_MSG(PVKIT_BE_ERROR, "ERROR", struct pvkit_be_error, false),
	PVBE_MSG(PVKIT_BE_CONFIG, "CONFIG", struct pvkit_be_config, false),
};

#define PVBE_ROWS(t)	(sizeof(t) / sizeof((t)[0]))

const struct pvbe_msg_info *pvbe_msg_info(uint16_t type, enum pvbe_dir to)
{
	const struct pvbe_msg_info *t = to == PVBE_TO_BE ? pvbe_to_be :
					pvbe_to_hv;
	size_t rows = to == PVBE_TO_BE ? PVBE_ROWS(pvbe_to_be) :
		      PVBE_ROWS(pvbe_to_hv);

	if (type >= rows || !t[type].name)
		return NULL;
	return &t[type];
}

void pvbe_hdr_init(struct pvkit_be_hdr *h, uint16_t type, enum pvbe_dir to)
{
	const struct pvbe_msg_info *i = pvbe_msg_info(type, to);

	memset(h, 0, sizeof(*h));
	h->magic = PVKIT_BE_MAGIC;
	h->type = type;
	h->version = PVKIT_BE_VERSION;
	h->len = i ? i->size : sizeof(*h);
}

int pvbe_send(int sock, void *msg, uint16_t type, enum pvbe_dir to,
	      const int *fds, unsigned int nfds)
{
	struct pvkit_be_hdr *h = msg;

	if (!pvbe_msg_info(type, to))
		return -EINVAL;
	pvbe_hdr_init(h, type, to);
	return fdpass_send(sock, msg, h->len, fds, nfds);
}

int pvbe_send_simple(int sock, uint16_t type, enum pvbe_dir to)
{
	const struct pvbe_msg_info *i = pvbe_msg_info(type, to);
	struct pvkit_be_hdr h;

	if (!i || i->size != sizeof(h))
		return -EINVAL;
	return pvbe_send(sock, &h, type, to, NULL, 0);
}

ssize_t pvbe_recv(int sock, union pvbe_msg *m, int *fds,
		  unsigned int *nfds)
{
	*nfds = 0;
	return fdpass_recv(sock, m, sizeof(*m), fds, FDPASS_MAX_FDS, nfds);
}

int pvbe_check(const union pvbe_msg *m, ssize_t n, unsigned int nfds,
	       enum pvbe_dir to, char *why, size_t whylen)
{
	bool whole = n >= (ssize_t)sizeof(m->hdr);
	const struct pvbe_msg_info *i;

	i = whole ? pvbe_msg_info(m->hdr.type, to) : NULL;
	if (!i || m->hdr.magic != PVKIT_BE_MAGIC ||
	    m->hdr.version != PVKIT_BE_VERSION || m->hdr.len != (size_t)n ||
	    i->size != (size_t)n) {
		snprintf(why, whylen,
			 "malformed control message (%zd bytes, type %u)", n,
			 whole ? m->hdr.type : 0);
		return -EPROTO;
	}
	if (nfds && !i->fds) {
		snprintf(why, whylen, "unexpected fds with message %u",
			 m->hdr.type);
		return -EPROTO;
	}
	return 0;
}
