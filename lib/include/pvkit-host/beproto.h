/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Framing of the pvkit-hv <-> back-end control protocol (the messages
 * are in pvkit-host/backend.h): one table of every message type with
 * its exact size and the side that sends it, and the helpers both sides
 * (and the tests' fakes of either side) build, send, receive and check
 * messages with.  Written once so that the hypervisor, every back-end
 * and the tests cannot disagree on what a well-formed message is.
 */
#ifndef PVKIT_HOST_BEPROTO_H
#define PVKIT_HOST_BEPROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <pvkit-host/backend.h>

/* Who sends a message type. */
enum pvbe_dir {
	PVBE_TO_BE = 1,		/* pvkit-hv -> back-end */
	PVBE_TO_HV = 2,		/* back-end -> pvkit-hv */
};

/* One row of the message table. */
struct pvbe_msg_info {
	const char *name;	/* "SETUP", ...: for log lines */
	uint32_t size;		/* exact message length in bytes */
	bool fds;		/* may carry descriptors (SETUP only) */
};

/*
 * Any one message, plus room to notice an oversized one (it is received
 * whole, so a message longer than every type still shows its length).
 */
union pvbe_msg {
	struct pvkit_be_hdr hdr;
	struct pvkit_be_setup setup;
	struct pvkit_be_ready ready;
	struct pvkit_be_connect connect;
	struct pvkit_be_stats stats;
	struct pvkit_be_error error;
	struct pvkit_be_config config;
	uint8_t raw[sizeof(struct pvkit_be_setup) + 64];
};

/*
 * The table row of @type sent towards @to; NULL if no such message goes
 * that way.  STATS has a row each way: a bare header asks, the full
 * struct pvkit_be_stats answers.
 */
const struct pvbe_msg_info *pvbe_msg_info(uint16_t type, enum pvbe_dir to);

/*
 * Fill the header of a message of @type sent towards @to, its length
 * from the table (a bare header for a type the table does not have, so
 * tests can build wrong messages with it).
 */
void pvbe_hdr_init(struct pvkit_be_hdr *h, uint16_t type, enum pvbe_dir to);

/*
 * Fill the header of @msg (a struct of @type's size) and send it towards
 * @to with @nfds descriptors.  Returns 0 or -errno (the socket's, or
 * -EINVAL for a type that does not go that way).
 */
int pvbe_send(int sock, void *msg, uint16_t type, enum pvbe_dir to,
	      const int *fds, unsigned int nfds);

/*
 * Send a header-only message of @type (CONNECTED, DISCONNECT, a STATS
 * request, ...); -EINVAL if @type is not header-only towards @to.
 */
int pvbe_send_simple(int sock, uint16_t type, enum pvbe_dir to);

/*
 * Receive one message into @m with up to FDPASS_MAX_FDS descriptors into
 * @fds (*nfds of them; the caller owns them).  Returns its length, 0 on
 * EOF, -errno on a socket error.  Nothing is validated yet.
 */
ssize_t pvbe_recv(int sock, union pvbe_msg *m, int *fds,
		  unsigned int *nfds);

/*
 * Validate a received message of @n bytes that came with @nfds
 * descriptors, sent towards @to: magic, version, a type this direction
 * has, header length == @n == the type's size, descriptors only where
 * the table allows them.  Returns 0, or -EPROTO with a readable reason
 * in @why ("malformed control message (12 bytes, type 3)").
 */
int pvbe_check(const union pvbe_msg *m, ssize_t n, unsigned int nfds,
	       enum pvbe_dir to, char *why, size_t whylen);

#endif /* PVKIT_HOST_BEPROTO_H */
