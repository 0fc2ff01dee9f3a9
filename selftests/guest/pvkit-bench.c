// SPDX-License-Identifier: GPL-2.0-only
/*
 * pvkit-bench: core latency benchmark, run inside the guest.
 *
 * Measures, through /dev/pvkit (the loops run in the kernel, so no
 * syscall is inside a measured interval):
 *   hypercall      PVKIT_HC_ECHO round trips
 *   pingpong_irq   test-device ring round trips, waiting for the queue irq
 *   pingpong_poll  the same, busy-polling the ring
 * and prints one JSON object on stdout.
 *
 * usage: pvkit-bench [-n COUNT] [-w WARMUP]
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <pvkit/abi.h>
#include <pvkit/pvkit_ioctl.h>

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

#define ULL(x)	((unsigned long long)(x))

static void print_lat(const char *name, uint32_t count, uint64_t completed,
		      uint64_t errors, const struct pvkit_ioc_lat *lat,
		      uint64_t wall_ns, const char *extra, int last)
{
	printf("  \"%s\": {\"count\": %u, \"completed\": %llu, \"errors\": %llu, \"min_ns\": %llu, \"p50_ns\": %llu, \"p99_ns\": %llu, \"max_ns\": %llu, \"mean_ns\": %llu, \"wall_ns\": %llu%s}%s\n",
	       name, count, ULL(completed), ULL(errors), ULL(lat->min_ns),
	       ULL(lat->p50_ns), ULL(lat->p99_ns), ULL(lat->max_ns),
	       ULL(completed ? lat->total_ns / completed : 0), ULL(wall_ns),
	       extra, last ? "" : ",");
}

static int run_hc(int fd, uint32_t count, struct pvkit_ioc_hc_bench *hb,
		  uint64_t *wall)
{
	uint64_t t0 = now_ns();

	memset(hb, 0, sizeof(*hb));
	hb->count = count;
	if (ioctl(fd, PVKIT_IOC_HC_BENCH, hb)) {
		fprintf(stderr, "pvkit-bench: HC_BENCH: %s\n",
			strerror(errno));
		return -1;
	}
	*wall = now_ns() - t0;
	return 0;
}

static int run_pp(int fd, uint32_t count, uint32_t mode,
		  struct pvkit_ioc_pingpong *pp, uint64_t *wall)
{
	uint64_t t0 = now_ns();

	memset(pp, 0, sizeof(*pp));
	pp->count = count;
	pp->mode = mode;
	if (ioctl(fd, PVKIT_IOC_PINGPONG, pp)) {
		fprintf(stderr, "pvkit-bench: PINGPONG: %s\n",
			strerror(errno));
		return -1;
	}
	*wall = now_ns() - t0;
	return 0;
}

int main(int argc, char **argv)
{
	struct pvkit_ioc_pingpong irq, poll;
	struct pvkit_ioc_hc_bench hb;
	uint32_t count = 20000, warmup = 1000;
	uint64_t w_hc, w_irq, w_poll, w;
	char extra[256];
	long ncpu;
	int fd, opt;

	while ((opt = getopt(argc, argv, "n:w:h")) != -1) {
		switch (opt) {
		case 'n':
			count = strtoul(optarg, NULL, 0);
			break;
		case 'w':
			warmup = strtoul(optarg, NULL, 0);
			break;
		default:
			fprintf(stderr, "usage: %s [-n COUNT] [-w WARMUP]\n",
				argv[0]);
			return 2;
		}
	}
	if (!count || count > PVKIT_BENCH_MAX_COUNT ||
	    warmup > PVKIT_BENCH_MAX_COUNT) {
		fprintf(stderr, "pvkit-bench: bad count\n");
		return 2;
	}
	fd = open("/dev/pvkit", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		fprintf(stderr, "pvkit-bench: /dev/pvkit: %s\n",
			strerror(errno));
		return 1;
	}
	if (warmup && (run_hc(fd, warmup, &hb, &w) ||
		       run_pp(fd, warmup, PVKIT_PINGPONG_IRQ, &irq, &w) ||
		       run_pp(fd, warmup, PVKIT_PINGPONG_POLL, &poll, &w)))
		return 1;
	if (run_hc(fd, count, &hb, &w_hc) ||
	    run_pp(fd, count, PVKIT_PINGPONG_IRQ, &irq, &w_irq) ||
	    run_pp(fd, count, PVKIT_PINGPONG_POLL, &poll, &w_poll))
		return 1;
	close(fd);

	ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	printf("{\n  \"tool\": \"pvkit-bench\", \"count\": %u, \"warmup\": %u, \"guest_cpus\": %ld,\n",
	       count, warmup, ncpu);
	snprintf(extra, sizeof(extra), ", \"sleeps\": %llu", ULL(hb.sleeps));
	print_lat("hypercall", count, hb.completed, hb.errors, &hb.lat, w_hc,
		  extra, 0);
	snprintf(extra, sizeof(extra),
		 ", \"lost\": %llu, \"irqs\": %llu, \"kicks\": %llu, \"kicks_suppressed\": %llu",
		 ULL(irq.lost), ULL(irq.irqs), ULL(irq.kicks),
		 ULL(irq.kicks_suppressed));
	print_lat("pingpong_irq", count, irq.completed, irq.mismatched,
		  &irq.lat, w_irq, extra, 0);
	snprintf(extra, sizeof(extra),
		 ", \"lost\": %llu, \"irqs\": %llu, \"kicks\": %llu, \"kicks_suppressed\": %llu",
		 ULL(poll.lost), ULL(poll.irqs), ULL(poll.kicks),
		 ULL(poll.kicks_suppressed));
	print_lat("pingpong_poll", count, poll.completed, poll.mismatched,
		  &poll.lat, w_poll, extra, 1);
	printf("}\n");
	return (hb.errors || irq.lost || irq.mismatched || poll.lost ||
		poll.mismatched) ? 1 : 0;
}
