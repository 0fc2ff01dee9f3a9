/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Client side of the pvkit-hv control socket (BASE/NAME/ctl.sock): one
 * JSON request line, one JSON reply line.  See docs/hypervisor.md.
 */
#ifndef PVKIT_HOST_CTLCLIENT_H
#define PVKIT_HOST_CTLCLIENT_H

#define CTLC_REPLY_MAX	(1024 * 1024)

/*
 * Send @req (one line, without the newline) to VM @name and wait up to
 * @timeout_ms for the reply line, returned malloc'ed in *@reply.
 * Returns 0, -ENOENT (no such VM), -ECONNREFUSED (VM gone), -ETIMEDOUT,
 * -EPROTO (reply too long or not a line), or -errno.
 */
int ctlc_request(const char *base, const char *name, const char *req,
		 char **reply, int timeout_ms);

#endif /* PVKIT_HOST_CTLCLIENT_H */
