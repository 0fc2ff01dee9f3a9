// SPDX-License-Identifier: GPL-2.0-only
/*
 * pvkit-clk: the guest end of the clock tests.
 *
 *   pvkit-clk mono N
 *       N clock_gettime(CLOCK_MONOTONIC) reads on every online CPU at
 *       once (one pinned thread each).  Each thread checks its own reads,
 *       and all of them a shared last value (a read below the largest
 *       value any CPU published before that read started went back).
 *       Prints reads, backwards count and the largest step back.
 *   pvkit-clk cost N
 *       ns per clock_gettime(CLOCK_MONOTONIC) with the current
 *       clocksource (named in the output).
 *   pvkit-clk now
 *       CLOCK_REALTIME as "PVKIT-CLK-NOW <sec>.<nsec>", for the host to
 *       compare with its own when the line arrives.
 *   pvkit-clk ptp DEV N
 *       N PTP_SYS_OFFSET_EXTENDED samples on DEV (/dev/ptpN): offset
 *       phc - sys (the midpoint of the system reads around each PHC
 *       read) p50/p99 and the read latency; then PTP_SYS_OFFSET_PRECISE
 *       if the clock supports it.
 *
 * Every result is one "PVKIT-CLK: ..." line; exit 0 on success (mono:
 * no read went back), 1 on failure, 4 when a capability is missing.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>
#include <linux/ptp_clock.h>

#define KSFT_SKIP	4

static uint64_t now_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/* ---------------------------------------------------------------- mono */

struct mono_thread {
	pthread_t th;
	int cpu;
	uint64_t n;
	uint64_t back;		/* reads behind an earlier one */
	uint64_t max_back;	/* ns */
};

static _Atomic uint64_t mono_last;
static _Atomic int mono_ready;
static int mono_nthreads;

static void *mono_run(void *arg)
{
	struct mono_thread *t = arg;
	uint64_t i, v, last, own = 0;
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(t->cpu, &set);
	if (pthread_setaffinity_np(pthread_self(), sizeof(set), &set))
		fprintf(stderr, "pvkit-clk: cannot pin to cpu %d\n", t->cpu);
	atomic_fetch_add(&mono_ready, 1);
	while (atomic_load(&mono_ready) < mono_nthreads)
		;
	for (i = 0; i < t->n; i++) {
		/* what some CPU had read before this read began */
		last = atomic_load(&mono_last);
		v = now_ns(CLOCK_MONOTONIC);
		if (v < last || v < own) {
			uint64_t d = (last > own ? last : own) - v;

			t->back++;
			if (d > t->max_back)
				t->max_back = d;
		}
		own = v;
		while (last < v &&
		       !atomic_compare_exchange_weak(&mono_last, &last, v))
			;
	}
	return NULL;
}

static int do_mono(uint64_t n)
{
	int ncpu = sysconf(_SC_NPROCESSORS_ONLN), i, cpu;
	struct mono_thread *t = calloc(ncpu, sizeof(*t));
	uint64_t reads = 0, back = 0, max_back = 0;
	cpu_set_t online;

	if (!t)
		return 1;
	/* online CPUs: the ones this process may run on */
	if (sched_getaffinity(0, sizeof(online), &online))
		CPU_ZERO(&online);
	for (cpu = 0, i = 0; cpu < CPU_SETSIZE && i < ncpu; cpu++)
		if (CPU_ISSET(cpu, &online))
			t[i++].cpu = cpu;
	ncpu = i ? i : 1;
	mono_nthreads = ncpu;
	for (i = 0; i < ncpu; i++) {
		t[i].n = n;
		if (pthread_create(&t[i].th, NULL, mono_run, &t[i])) {
			perror("pthread_create");
			return 1;
		}
	}
	for (i = 0; i < ncpu; i++) {
		pthread_join(t[i].th, NULL);
		reads += t[i].n;
		back += t[i].back;
		if (t[i].max_back > max_back)
			max_back = t[i].max_back;
	}
	printf("PVKIT-CLK: mono cpus=%d reads=%" PRIu64 " backwards=%" PRIu64
	       " max_backwards_ns=%" PRIu64 "\n", ncpu, reads, back, max_back);
	free(t);
	return back ? 1 : 0;
}

/* ---------------------------------------------------------------- cost */

static void current_clocksource(char *buf, size_t len)
{
	FILE *f = fopen("/sys/devices/system/clocksource/clocksource0/current_clocksource",
			"r");

	snprintf(buf, len, "?");
	if (!f)
		return;
	if (fgets(buf, len, f))
		buf[strcspn(buf, "\n")] = 0;
	fclose(f);
}

static int do_cost(uint64_t n)
{
	uint64_t i, t0, t1;
	struct timespec ts;
	char cs[64];

	current_clocksource(cs, sizeof(cs));
	t0 = now_ns(CLOCK_MONOTONIC);
	for (i = 0; i < n; i++)
		clock_gettime(CLOCK_MONOTONIC, &ts);
	t1 = now_ns(CLOCK_MONOTONIC);
	printf("PVKIT-CLK: cost clocksource=%s calls=%" PRIu64
	       " ns_per_call=%.1f\n", cs, n, (double)(t1 - t0) / n);
	return 0;
}

/* ----------------------------------------------------------------- ptp */

static int cmp_s64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

static int64_t pct(int64_t *v, size_t n, int p)
{
	size_t i = (n * p) / 100;

	return v[i < n ? i : n - 1];
}

static int64_t pct_ns(const struct ptp_clock_time *t)
{
	return (int64_t)t->sec * 1000000000LL + t->nsec;
}

static int do_ptp(const char *dev, unsigned int n)
{
	int64_t *off = calloc(n, sizeof(*off)), *lat = calloc(n, sizeof(*lat));
	struct ptp_sys_offset_extended ext;
	struct ptp_sys_offset_precise pre;
	unsigned int i, got = 0;
	int fd, rc = 0;

	if (!off || !lat)
		return 1;
	fd = open(dev, O_RDONLY);
	if (fd < 0) {
		fprintf(stderr, "pvkit-clk: %s: %s\n", dev, strerror(errno));
		return errno == ENOENT ? KSFT_SKIP : 1;
	}
	for (i = 0; i < n; i++) {
		memset(&ext, 0, sizeof(ext));
		ext.n_samples = 1;
		if (ioctl(fd, PTP_SYS_OFFSET_EXTENDED, &ext)) {
			fprintf(stderr, "pvkit-clk: PTP_SYS_OFFSET_EXTENDED: %s\n",
				strerror(errno));
			rc = 1;
			break;
		}
		/* ts[0]: sys before, phc, sys after */
		lat[got] = pct_ns(&ext.ts[0][2]) - pct_ns(&ext.ts[0][0]);
		off[got] = pct_ns(&ext.ts[0][1]) -
			   (pct_ns(&ext.ts[0][0]) + lat[got] / 2);
		got++;
	}
	if (got) {
		qsort(off, got, sizeof(*off), cmp_s64);
		qsort(lat, got, sizeof(*lat), cmp_s64);
		printf("PVKIT-CLK: ptp dev=%s samples=%u offset_p50_ns=%" PRId64
		       " offset_p99_ns=%" PRId64 " offset_min_ns=%" PRId64
		       " offset_max_ns=%" PRId64 " read_p50_ns=%" PRId64
		       " read_p99_ns=%" PRId64 "\n", dev, got, pct(off, got, 50),
		       pct(off, got, 99), off[0], off[got - 1], pct(lat, got, 50),
		       pct(lat, got, 99));
	}
	memset(&pre, 0, sizeof(pre));
	if (ioctl(fd, PTP_SYS_OFFSET_PRECISE, &pre)) {
		printf("PVKIT-CLK: ptp precise: %s\n", strerror(errno));
	} else {
		printf("PVKIT-CLK: ptp precise offset_ns=%" PRId64
		       " (phc %" PRId64 " sys %" PRId64 ")\n",
		       pct_ns(&pre.device) - pct_ns(&pre.sys_realtime),
		       pct_ns(&pre.device), pct_ns(&pre.sys_realtime));
	}
	close(fd);
	free(off);
	free(lat);
	return rc;
}

static void usage(void)
{
	fprintf(stderr, "usage: pvkit-clk mono N | cost N | now | ptp DEV N\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct timespec ts;

	if (argc < 2)
		usage();
	if (!strcmp(argv[1], "mono") && argc == 3)
		return do_mono(strtoull(argv[2], NULL, 0));
	if (!strcmp(argv[1], "cost") && argc == 3)
		return do_cost(strtoull(argv[2], NULL, 0) ? : 1);
	if (!strcmp(argv[1], "now") && argc == 2) {
		clock_gettime(CLOCK_REALTIME, &ts);
		printf("PVKIT-CLK-NOW %lld.%09ld\n", (long long)ts.tv_sec,
		       ts.tv_nsec);
		fflush(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "ptp") && argc == 4) {
		unsigned int n = strtoul(argv[3], NULL, 0);

		return do_ptp(argv[2], n ? n : 1);
	}
	usage();
	return 2;
}
