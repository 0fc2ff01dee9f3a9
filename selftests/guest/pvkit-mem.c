// SPDX-License-Identifier: GPL-2.0-only
/*
 * pvkit-mem: the guest end of the balloon tests, memory that is really
 * used and checked:
 *
 *   pvkit-mem fill MIB [SECONDS]
 *       map MIB MiB, write every 4 KiB page with a pattern of its own
 *       (page number and a seed), read all of it back, hold it SECONDS
 *       (default 0) and read it back again; exit 0 only if every byte
 *       matched.  The kernel's OOM killer ending us is the failure the
 *       deflate-on-OOM test looks for.
 *   pvkit-mem frag MIB SECONDS
 *       map MIB MiB, touch it, give back every other 4 KiB page
 *       (MADV_DONTNEED) and hold the rest SECONDS: free memory with no
 *       free 2 MiB block in it.
 *
 * Prints one "PVKIT-MEM: ..." line.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define PAGE	4096UL

static uint64_t word(size_t page, size_t i, uint64_t seed)
{
	return (page * 0x9e3779b97f4a7c15ULL) ^ (i * 0xbf58476d1ce4e5b9ULL) ^
	       seed;
}

static void fill(uint8_t *p, size_t pages, uint64_t seed)
{
	size_t pg, i;

	for (pg = 0; pg < pages; pg++) {
		uint64_t *w = (uint64_t *)(p + pg * PAGE);

		for (i = 0; i < PAGE / 8; i++)
			w[i] = word(pg, i, seed);
	}
}

/* Pages that differ from the pattern. */
static size_t check(const uint8_t *p, size_t pages, uint64_t seed)
{
	size_t pg, i, bad = 0;

	for (pg = 0; pg < pages; pg++) {
		const uint64_t *w = (const uint64_t *)(p + pg * PAGE);

		for (i = 0; i < PAGE / 8; i++) {
			if (w[i] != word(pg, i, seed)) {
				bad++;
				break;
			}
		}
	}
	return bad;
}

static int usage(void)
{
	fprintf(stderr, "usage: pvkit-mem fill MIB [SECONDS] | frag MIB SECONDS\n");
	return 2;
}

int main(int argc, char **argv)
{
	unsigned long mib, secs = 0;
	uint64_t seed = (uint64_t)time(NULL) * 2654435761u;
	size_t pages, bad, pg;
	uint8_t *p;
	char *end;

	if (argc < 3)
		return usage();
	mib = strtoul(argv[2], &end, 10);
	if (*end || !mib || mib > (1UL << 20))
		return usage();
	if (argc > 3) {
		secs = strtoul(argv[3], &end, 10);
		if (*end || secs > 3600)
			return usage();
	}
	pages = mib << 20 >> 12;
	p = mmap(NULL, pages * PAGE, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED) {
		printf("PVKIT-MEM: mmap %lu MiB: %s\n", mib, strerror(errno));
		return 1;
	}
	/* no transparent huge pages: 4 KiB pages, so "frag" fragments */
	madvise(p, pages * PAGE, MADV_NOHUGEPAGE);
	fill(p, pages, seed);
	if (!strcmp(argv[1], "frag")) {
		for (pg = 1; pg < pages; pg += 2)
			madvise(p + pg * PAGE, PAGE, MADV_DONTNEED);
		printf("PVKIT-MEM: fragmented %lu MiB, holding %lu s\n", mib,
		       secs);
		fflush(stdout);
		sleep((unsigned int)secs);
		return 0;
	}
	if (strcmp(argv[1], "fill"))
		return usage();
	bad = check(p, pages, seed);
	if (!bad && secs) {
		sleep((unsigned int)secs);
		bad = check(p, pages, seed);
	}
	printf("PVKIT-MEM: filled %lu MiB, %zu bad pages\n", mib, bad);
	return bad ? 1 : 0;
}
