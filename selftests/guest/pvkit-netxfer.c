// SPDX-License-Identifier: GPL-2.0-only
/*
 * pvkit-netxfer: the guest end of the network tests' TCP transfers, a
 * netcat whose end of stream is exact (busybox nc has no half-close):
 *
 *   pvkit-netxfer send ADDR PORT SEED BYTES
 *       BYTES of the line "pvkit-net-SEED\n" repeated -> ADDR:PORT, then
 *       shutdown(WR) and wait for the peer to close
 *   pvkit-netxfer recv PORT
 *       accept one connection and read it to its end
 *
 * Both print "SHA256 BYTES" of the stream on stdout: the pattern is made
 * and hashed here because a busybox pipeline (yes | head | sha256sum)
 * runs at 4 MB/s under TCG, slower than the network it should test.
 *
 * Every wait is bounded (PVKIT_NETXFER_IDLE_S, default 60 s without a
 * byte moving; connects are retried for 10 s).  Bytes and seconds go to
 * stderr; exit 0 only if the stream ended cleanly.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int idle_ms = 60000;

/* SHA-256 (FIPS 180-4), for the stream's digest. */
struct sha256 {
	uint32_t h[8];
	uint64_t len;
	uint8_t buf[64];
	unsigned int n;
};

static const uint32_t sha256_k[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1,
	0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
	0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
	0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
	0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
	0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
	0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
	0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
	0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static inline uint32_t ror32(uint32_t x, unsigned int n)
{
	return x >> n | x << (32 - n);
}

static void sha256_block(struct sha256 *c, const uint8_t *p)
{
	uint32_t w[64], a, b, d, e, f, g, h, cc, t1, t2;
	int i;

	for (i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 | p[4 * i + 1] << 16 |
		       p[4 * i + 2] << 8 | p[4 * i + 3];
	for (; i < 64; i++)
		w[i] = w[i - 16] + w[i - 7] +
		       (ror32(w[i - 15], 7) ^ ror32(w[i - 15], 18) ^
			w[i - 15] >> 3) +
		       (ror32(w[i - 2], 17) ^ ror32(w[i - 2], 19) ^
			w[i - 2] >> 10);
	a = c->h[0]; b = c->h[1]; cc = c->h[2]; d = c->h[3];
	e = c->h[4]; f = c->h[5]; g = c->h[6]; h = c->h[7];
	for (i = 0; i < 64; i++) {
		t1 = h + (ror32(e, 6) ^ ror32(e, 11) ^ ror32(e, 25)) +
		     ((e & f) ^ (~e & g)) + sha256_k[i] + w[i];
		t2 = (ror32(a, 2) ^ ror32(a, 13) ^ ror32(a, 22)) +
		     ((a & b) ^ (a & cc) ^ (b & cc));
		h = g; g = f; f = e; e = d + t1;
		d = cc; cc = b; b = a; a = t1 + t2;
	}
	c->h[0] += a; c->h[1] += b; c->h[2] += cc; c->h[3] += d;
	c->h[4] += e; c->h[5] += f; c->h[6] += g; c->h[7] += h;
}

static void sha256_init(struct sha256 *c)
{
	static const uint32_t iv[8] = {
		0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
		0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
	};

	memcpy(c->h, iv, sizeof(iv));
	c->len = 0;
	c->n = 0;
}

static void sha256_update(struct sha256 *c, const uint8_t *p, size_t len)
{
	c->len += len;
	if (c->n) {
		while (len && c->n < 64) {
			c->buf[c->n++] = *p++;
			len--;
		}
		if (c->n < 64)
			return;
		sha256_block(c, c->buf);
		c->n = 0;
	}
	for (; len >= 64; p += 64, len -= 64)
		sha256_block(c, p);
	memcpy(c->buf, p, len);
	c->n = len;
}

static void sha256_print(struct sha256 *c)
{
	uint64_t bits = c->len * 8;
	uint8_t pad = 0x80, z = 0, l[8];
	int i;

	sha256_update(c, &pad, 1);
	while (c->n != 56)
		sha256_update(c, &z, 1);
	for (i = 0; i < 8; i++)
		l[i] = bits >> (56 - 8 * i);
	sha256_update(c, l, 8);
	for (i = 0; i < 8; i++)
		printf("%08x", c->h[i]);
}

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

/* Send @total bytes of the repeated @line on @fd, hashed; 0 or -errno. */
static int send_pattern(int fd, const char *line, long long total,
			struct sha256 *c)
{
	static char buf[1 << 16];
	size_t ll = strlen(line), have = 0;
	long long off = 0;
	ssize_t w;
	int err;

	/* whole lines, so that each chunk continues where the last ended */
	while (have + ll <= sizeof(buf)) {
		memcpy(buf + have, line, ll);
		have += ll;
	}
	while (off < total) {
		size_t start = off % ll, n = have - start;

		if ((long long)n > total - off)
			n = total - off;
		err = wait_fd(fd, POLLOUT);
		if (err)
			return err;
		w = write(fd, buf + start, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		sha256_update(c, (uint8_t *)buf + start, w);
		off += w;
	}
	return 0;
}

/* Read @fd to its end, hashed; bytes or -errno. */
static long long recv_all(int fd, struct sha256 *c)
{
	static uint8_t buf[1 << 16];
	long long total = 0;
	ssize_t n;
	int err;

	for (;;) {
		err = wait_fd(fd, POLLIN);
		if (err)
			return err;
		n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (!n)
			return total;
		sha256_update(c, buf, n);
		total += n;
	}
}

static int do_send(const char *addr, int port, const char *seed,
		   long long bytes)
{
	struct sha256 c;
	char line[128];
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons(port) };
	double t0, deadline = now_s() + 10;
	long long n;
	char eof;
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
	snprintf(line, sizeof(line), "pvkit-net-%s\n", seed);
	sha256_init(&c);
	t0 = now_s();
	n = send_pattern(fd, line, bytes, &c);
	if (n < 0) {
		fprintf(stderr, "netxfer: send: %s\n", strerror(-n));
		return 1;
	}
	n = bytes;
	shutdown(fd, SHUT_WR);
	/* the peer closes once it has everything */
	if (wait_fd(fd, POLLIN) || read(fd, &eof, 1) != 0) {
		fprintf(stderr, "netxfer: peer did not close cleanly\n");
		return 1;
	}
	fprintf(stderr, "netxfer: sent %lld bytes in %.2f s\n", n,
		now_s() - t0);
	sha256_print(&c);
	printf(" %lld\n", n);
	close(fd);
	return 0;
}

static int do_recv(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons(port),
				  .sin_addr.s_addr = htonl(INADDR_ANY) };
	int one = 1, lfd, fd;
	struct sha256 c;
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
	sha256_init(&c);
	t0 = now_s();
	n = recv_all(fd, &c);
	if (n < 0) {
		fprintf(stderr, "netxfer: recv: %s\n", strerror(-n));
		return 1;
	}
	fprintf(stderr, "netxfer: received %lld bytes in %.2f s\n", n,
		now_s() - t0);
	sha256_print(&c);
	printf(" %lld\n", n);
	close(fd);
	close(lfd);
	return 0;
}

int main(int argc, char **argv)
{
	const char *s = getenv("PVKIT_NETXFER_IDLE_S");

	if (s && atoi(s) > 0)
		idle_ms = atoi(s) * 1000;
	if (argc == 6 && !strcmp(argv[1], "send"))
		return do_send(argv[2], atoi(argv[3]), argv[4],
			       atoll(argv[5]));
	if (argc == 3 && !strcmp(argv[1], "recv"))
		return do_recv(atoi(argv[2]));
	fprintf(stderr, "usage: pvkit-netxfer send ADDR PORT SEED BYTES | recv PORT\n");
	return 2;
}
