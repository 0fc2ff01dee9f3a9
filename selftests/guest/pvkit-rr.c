// SPDX-License-Identifier: GPL-2.0-only
/*
 * pvkit-rr: 1-byte TCP request/response latency, for make bench-net.
 *
 *   pvkit-rr server ADDR PORT SECONDS
 *       accept connections on ADDR:PORT one at a time and echo every byte
 *       back; exits after SECONDS
 *   pvkit-rr client ADDR PORT COUNT SECONDS
 *       connect (retried for 10 s), then send one byte and wait for it to
 *       come back, COUNT times or for SECONDS, whichever ends first;
 *       prints "n=N p50_us=X p99_us=X mean_us=X min_us=X max_us=X"
 *
 * Both sockets have TCP_NODELAY.  Every wait is bounded (5 s for one
 * answer).  The binary is static: the bench runs the same file on the
 * host (server) and in the guest (client).  Exit 0 only if at least one
 * round trip was measured (client) or SECONDS passed (server).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define RR_WAIT_MS	5000
#define RR_MAX_COUNT	10000000L

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int parse_addr(const char *addr, const char *port,
		      struct sockaddr_in *sa)
{
	char *end;
	long p = strtol(port, &end, 10);

	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	if (*end || p <= 0 || p > 65535 ||
	    inet_pton(AF_INET, addr, &sa->sin_addr) != 1) {
		fprintf(stderr, "pvkit-rr: bad address %s:%s\n", addr, port);
		return -1;
	}
	sa->sin_port = htons((unsigned short)p);
	return 0;
}

static void nodelay(int fd)
{
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* 1 when fd is ready for ev, 0 on timeout, -1 on error */
static int wait_fd(int fd, short ev, int ms)
{
	struct pollfd p = { .fd = fd, .events = ev };
	int n;

	do
		n = poll(&p, 1, ms);
	while (n < 0 && errno == EINTR);
	return n;
}

/* Echo one connection until it closes, goes idle or the deadline. */
static void echo_conn(int c, double deadline)
{
	char buf[4096];
	ssize_t n;

	nodelay(c);
	while (now_s() < deadline) {
		if (wait_fd(c, POLLIN, 1000) <= 0)
			continue;
		n = read(c, buf, sizeof(buf));
		if (n <= 0 || write(c, buf, (size_t)n) != n)
			break;
	}
	close(c);
}

static int rr_server(const struct sockaddr_in *sa, double secs)
{
	double deadline = now_s() + secs;
	int one = 1, s, c;

	s = socket(AF_INET, SOCK_STREAM, 0);
	if (s < 0) {
		perror("pvkit-rr: socket");
		return 1;
	}
	setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(s, (const struct sockaddr *)sa, sizeof(*sa)) ||
	    listen(s, 4)) {
		perror("pvkit-rr: bind/listen");
		close(s);
		return 1;
	}
	while (now_s() < deadline) {
		if (wait_fd(s, POLLIN, 1000) <= 0)
			continue;
		c = accept(s, NULL, NULL);
		if (c >= 0)
			echo_conn(c, deadline);
	}
	close(s);
	return 0;
}

static int rr_connect(const struct sockaddr_in *sa)
{
	double give_up = now_s() + 10;
	int fd;

	do {
		fd = socket(AF_INET, SOCK_STREAM, 0);
		if (fd < 0)
			return -1;
		if (!connect(fd, (const struct sockaddr *)sa, sizeof(*sa)))
			return fd;
		close(fd);
		usleep(200000);
	} while (now_s() < give_up);
	return -1;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* nearest-rank percentile of the sorted v[0..n-1] */
static double pct(const double *v, long n, double p)
{
	long k = (long)(p / 100.0 * n + 0.999999);

	if (k < 1)
		k = 1;
	return v[k > n ? n - 1 : k - 1];
}

static int rr_client(const struct sockaddr_in *sa, long count, double secs)
{
	double deadline, t0, sum = 0, *lat;
	long n = 0;
	char b = 'r';
	int fd;

	lat = calloc((size_t)count, sizeof(*lat));
	if (!lat) {
		perror("pvkit-rr: calloc");
		return 1;
	}
	fd = rr_connect(sa);
	if (fd < 0) {
		perror("pvkit-rr: connect");
		free(lat);
		return 1;
	}
	nodelay(fd);
	deadline = now_s() + secs;
	while (n < count) {
		t0 = now_s();
		if (t0 >= deadline)
			break;
		if (write(fd, &b, 1) != 1 ||
		    wait_fd(fd, POLLIN, RR_WAIT_MS) != 1 || read(fd, &b, 1) != 1) {
			fprintf(stderr, "pvkit-rr: round trip %ld failed\n", n);
			break;
		}
		lat[n] = (now_s() - t0) * 1e6;
		sum += lat[n++];
	}
	close(fd);
	if (!n) {
		free(lat);
		return 1;
	}
	qsort(lat, (size_t)n, sizeof(*lat), cmp_double);
	printf("n=%ld p50_us=%.1f p99_us=%.1f mean_us=%.1f min_us=%.1f max_us=%.1f\n",
	       n, pct(lat, n, 50), pct(lat, n, 99), sum / n, lat[0],
	       lat[n - 1]);
	free(lat);
	return 0;
}

static void die_usage(void)
{
	fprintf(stderr,
		"usage: pvkit-rr server ADDR PORT SECONDS\n"
		"       pvkit-rr client ADDR PORT COUNT SECONDS\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa;
	double secs;
	long count;

	if (argc < 5)
		die_usage();
	if (parse_addr(argv[2], argv[3], &sa))
		return 2;
	if (!strcmp(argv[1], "server") && argc == 5) {
		secs = atof(argv[4]);
		if (secs <= 0)
			die_usage();
		return rr_server(&sa, secs);
	}
	if (!strcmp(argv[1], "client") && argc == 6) {
		count = atol(argv[4]);
		secs = atof(argv[5]);
		if (count < 1 || count > RR_MAX_COUNT || secs <= 0)
			die_usage();
		return rr_client(&sa, count, secs);
	}
	die_usage();
	return 2;
}
