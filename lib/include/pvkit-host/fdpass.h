/* SPDX-License-Identifier: GPL-2.0-only */
/* Unix socket helpers: connecting, and passing descriptors (SCM_RIGHTS). */
#ifndef PVKIT_HOST_FDPASS_H
#define PVKIT_HOST_FDPASS_H

#include <stddef.h>
#include <sys/types.h>

#define FDPASS_MAX_FDS	64

/*
 * Send @len bytes and @nfds descriptors in one message.  Returns 0 or
 * -errno; a short send is -EIO.
 */
int fdpass_send(int sock, const void *buf, size_t len, const int *fds,
		unsigned int nfds);

/*
 * Receive one message into @buf (at most @len bytes) and up to @max_fds
 * descriptors (O_CLOEXEC).  Returns the byte count (0 on EOF) or -errno;
 * *@nfds gets the number of descriptors.  Descriptors beyond @max_fds and
 * truncated control data are closed and reported as -EMSGSIZE.
 */
ssize_t fdpass_recv(int sock, void *buf, size_t len, int *fds,
		    unsigned int max_fds, unsigned int *nfds);

/*
 * Connect a close-on-exec stream socket to @path.  Returns the fd,
 * -ENAMETOOLONG, or -errno from socket()/connect().
 */
int unix_connect(const char *path);

#endif /* PVKIT_HOST_FDPASS_H */
