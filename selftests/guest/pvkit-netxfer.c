// SPDX-License-Identifier: GPL-2.0-only
/*
 * pvkit-netxfer: the guest end of the network tests' TCP transfers, a
 * netcat whose end of stream is exact (busybox nc has no half-close):
 *
 *   pvkit-netxfer send ADDR PORT   stdin -> ADDR:PORT, then shutdown(WR)
 *                                  and wait for the peer to close
 *   pvkit-netxfer recv PORT        accept one connection, -> stdout
 *
 * Every wait is bounded (PVKIT_NETXFER_IDLE_S, default 60 s without a
 * byte moving; connects are retried for 10 s).  Bytes and seconds go to
 * stderr; exit 0 only if the stream ended cleanly.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int idle_ms = 60000;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Wait for @fd to be ready for @ev; 0, or -ETIMEDOUT/-errno. */
static int wait_fd(int fd, short ev)
{
	struct pollfd p = { .fd = fd, .events = ev };
	int n;

	do {
		n = poll(&p, 1, idle_ms);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return n ? 0 : -ETIMEDOUT;
}

/* Copy @in to @out until EOF; bytes copied or -errno. */
static long long copy(int in, int out)
{
	static char buf[1 << 16];
	long long total = 0;
	ssize_t n, w, off;
	int err;

	for (;;) {
		err = wait_fd(in, POLLIN);
		if (err)
			return err;
		n = read(in, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (!n)
			return total;
		for (off = 0; off < n; off += w) {
			err = wait_fd(out, POLLOUT);
			if (err)
				return err;
			w = write(out, buf + off, n - off);
			if (w < 0 && errno == EINTR) {
				w = 0;
				continue;
			}
			if (w < 0)
				return -errno;
		}
		total += n;
	}
}

static int do_send(const char *addr, int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons(port) };
	double t0, deadline = now_s() + 10;
	long long n;
	char c;
	int fd;

	if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1) {
		fprintf(stderr, "netxfer: bad address '%s'\n", addr);
		return 2;
	}
	for (;;) {
		fd = socket(AF_INET, SOCK_STREAM, 0);
		if (fd < 0) {
			perror("netxfer: socket");
			return 1;
		}
		if (!connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
			break;
		close(fd);
		if (now_s() > deadline) {
			perror("netxfer: connect");
			return 1;
		}
		usleep(100000);
	}
	t0 = now_s();
	n = copy(0, fd);
	if (n < 0) {
		fprintf(stderr, "netxfer: send: %s\n", strerror(-n));
		return 1;
	}
	shutdown(fd, SHUT_WR);
	/* the peer closes once it has everything */
	if (wait_fd(fd, POLLIN) || read(fd, &c, 1) != 0) {
		fprintf(stderr, "netxfer: peer did not close cleanly\n");
		return 1;
	}
	fprintf(stderr, "netxfer: sent %lld bytes in %.2f s\n", n,
		now_s() - t0);
	close(fd);
	return 0;
}

static int do_recv(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons(port),
				  .sin_addr.s_addr = htonl(INADDR_ANY) };
	int one = 1, lfd, fd;
	long long n;
	double t0;

	lfd = socket(AF_INET, SOCK_STREAM, 0);
	if (lfd < 0 ||
	    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) || listen(lfd, 1)) {
		perror("netxfer: listen");
		return 1;
	}
	fprintf(stderr, "netxfer: listening on %d\n", port);
	if (wait_fd(lfd, POLLIN)) {
		fprintf(stderr, "netxfer: nobody connected\n");
		return 1;
	}
	fd = accept(lfd, NULL, NULL);
	if (fd < 0) {
		perror("netxfer: accept");
		return 1;
	}
	t0 = now_s();
	n = copy(fd, 1);
	if (n < 0) {
		fprintf(stderr, "netxfer: recv: %s\n", strerror(-n));
		return 1;
	}
	fprintf(stderr, "netxfer: received %lld bytes in %.2f s\n", n,
		now_s() - t0);
	close(fd);
	close(lfd);
	return 0;
}

int main(int argc, char **argv)
{
	const char *s = getenv("PVKIT_NETXFER_IDLE_S");

	if (s && atoi(s) > 0)
		idle_ms = atoi(s) * 1000;
	if (argc == 4 && !strcmp(argv[1], "send"))
		return do_send(argv[2], atoi(argv[3]));
	if (argc == 3 && !strcmp(argv[1], "recv"))
		return do_recv(atoi(argv[2]));
	fprintf(stderr, "usage: pvkit-netxfer send ADDR PORT | recv PORT\n");
	return 2;
}
