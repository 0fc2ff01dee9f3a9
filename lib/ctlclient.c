// SPDX-License-Identifier: GPL-2.0-only
/* Control socket client: one request line, one reply line. */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <pvkit-host/ctlclient.h>
#include <pvkit-host/fdpass.h>

static long long ctlc_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int ctlc_request(const char *base, const char *name, const char *req,
		 char **reply, int timeout_ms)
{
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	long long deadline = ctlc_now_ms() + timeout_ms;
	size_t len = 0, cap = 4096, reqlen = strlen(req);
	char *buf = NULL, *nl;
	int fd, ret;

	*reply = NULL;
	if (strchr(name, '/') || strchr(req, '\n'))
		return -EINVAL;
	if ((size_t)snprintf(path, sizeof(path), "%s/%s/ctl.sock", base,
			     name) >= sizeof(path))
		return -ENAMETOOLONG;
	fd = unix_connect(path);
	if (fd < 0)
		return fd;
	if (send(fd, req, reqlen, MSG_NOSIGNAL) != (ssize_t)reqlen ||
	    send(fd, "\n", 1, MSG_NOSIGNAL) != 1) {
		ret = -EIO;
		goto out;
	}
	buf = malloc(cap);
	if (!buf) {
		ret = -ENOMEM;
		goto out;
	}
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		long long left = deadline - ctlc_now_ms();
		ssize_t n;

		if (left <= 0) {
			ret = -ETIMEDOUT;
			goto out;
		}
		ret = poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int)left);
		if (ret < 0 && errno == EINTR)
			continue;
		if (ret <= 0) {
			ret = ret ? -errno : -ETIMEDOUT;
			goto out;
		}
		if (len + 1 >= cap) {
			char *p;

			if (cap >= CTLC_REPLY_MAX) {
				ret = -EPROTO;
				goto out;
			}
			cap *= 2;
			p = realloc(buf, cap);
			if (!p) {
				ret = -ENOMEM;
				goto out;
			}
			buf = p;
		}
		n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			ret = n ? -errno : -EPROTO;
			goto out;
		}
		len += (size_t)n;
		buf[len] = '\0';
		nl = memchr(buf, '\n', len);
		if (nl) {
			*nl = '\0';
			*reply = buf;
			buf = NULL;
			ret = 0;
			goto out;
		}
	}
out:
	free(buf);
	close(fd);
	return ret;
}
