// SPDX-License-Identifier: GPL-2.0-only
/*
 * Description: pvkit.ko loads and unloads cleanly 100 times in a row
 * (finit_module/delete_module): after each load the bus, /dev/pvkit and
 * the test device come back bound; after each unload nothing of pvkit is
 * left (bus, debugfs, interrupts); at the end the interrupt lines match
 * the first load and the bus works (hypercall, ping-pong).  Dependent
 * pvkit_* modules are unloaded first and loaded again at the end.
 *
 * Environment: PVKIT_RELOAD_CYCLES  (default 100)
 */
#include "guest.h"

#define MODDIR		PVKIT_MODDIR
#define MAX_DEPS	16

/* Names of loaded pvkit_* modules with refcount 0 (unloadable now). */
static int unloadable_deps(char names[][64], int max)
{
	char line[1024], name[64];
	int n = 0, refs;
	FILE *f;

	f = fopen("/proc/modules", "re");
	if (!f)
		return -1;
	while (n < max && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%63s %*u %d", name, &refs) != 2)
			continue;
		if (!strncmp(name, "pvkit_", 6) && refs == 0)
			strcpy(names[n++], name);
	}
	fclose(f);
	return n;
}

static long meminfo_kb(const char *key)
{
	uint64_t v;

	return file_key_u64("/proc/meminfo", key, &v) ? -1 : (long)v;
}

FIXTURE(reload) {
	char deps[MAX_DEPS][64];	/* in unload order */
	int ndeps;
};

FIXTURE_SETUP(reload)
{
	int err;

	ASSERT_EQ(0, access(MODDIR "/pvkit.ko", R_OK))
		TH_LOG("%s/pvkit.ko: %s", MODDIR, strerror(errno));
	if (!module_loaded("pvkit")) {
		err = module_load(MODDIR "/pvkit.ko", NULL);
		ASSERT_EQ(0, err) TH_LOG("load pvkit: %s", strerror(-err));
	}
	self->ndeps = 0;
}

/* Unload dependents, leaves first, remembering the order; 0 or -errno. */
static int unload_deps(struct __test_metadata *_metadata,
		       FIXTURE_DATA(reload) *self)
{
	char found[MAX_DEPS][64];
	int n, i, err;

	for (;;) {
		n = unloadable_deps(found, MAX_DEPS);
		if (n <= 0)
			return 0;
		for (i = 0; i < n && self->ndeps < MAX_DEPS; i++) {
			err = module_unload(found[i]);
			if (err) {
				TH_LOG("cannot unload %s: %s", found[i],
				       strerror(-err));
				return err;
			}
			TH_LOG("unloaded dependent %s", found[i]);
			strcpy(self->deps[self->ndeps++], found[i]);
		}
	}
}

FIXTURE_TEARDOWN(reload)
{
	char path[256];
	int i, err;

	if (!module_loaded("pvkit")) {
		err = module_load(MODDIR "/pvkit.ko", NULL);
		if (err)
			TH_LOG("reload pvkit: %s", strerror(-err));
	}
	for (i = self->ndeps - 1; i >= 0; i--) {
		snprintf(path, sizeof(path), MODDIR "/%s.ko", self->deps[i]);
		err = module_load(path, NULL);
		if (err && err != -EEXIST)
			TH_LOG("reload %s: %s", self->deps[i], strerror(-err));
	}
}

TEST_F_TIMEOUT(reload, cycles, 240)
{
	const char *s = getenv("PVKIT_RELOAD_CYCLES");
	int cycles = s ? atoi(s) : 100;
	long long mark = klog_mark();
	long slab0, slab1;
	int base, i, err, fd;
	uint64_t t0 = now_ns();
	char link[256];
	struct stat st;
	ssize_t n;

	if (unload_deps(_metadata, self))
		SKIP(return, "a dependent pvkit module is in use");
	base = proc_irq_lines("pvkit");
	ASSERT_GE(base, 2) TH_LOG("pvkit-config/hypercall irqs missing");
	slab0 = meminfo_kb("SUnreclaim:");

	for (i = 0; i < cycles; i++) {
		err = module_unload("pvkit");
		ASSERT_EQ(0, err) TH_LOG("cycle %d: unload: %s", i,
					 strerror(-err));
		ASSERT_FALSE(module_loaded("pvkit"));
		ASSERT_NE(0, stat(PVKIT_SYSFS_BUS, &st))
			TH_LOG("cycle %d: bus left behind", i);
		ASSERT_NE(0, stat(PVKIT_DEBUGFS, &st))
			TH_LOG("cycle %d: debugfs left behind", i);
		ASSERT_NE(0, stat(PVKIT_DEV, &st))
			TH_LOG("cycle %d: /dev/pvkit left behind", i);
		ASSERT_EQ(0, proc_irq_lines("pvkit"))
			TH_LOG("cycle %d: interrupts left behind", i);

		err = module_load(MODDIR "/pvkit.ko", NULL);
		ASSERT_EQ(0, err) TH_LOG("cycle %d: load: %s", i,
					 strerror(-err));
		n = readlink(PVKIT_TEST_DEV "/driver", link, sizeof(link) - 1);
		ASSERT_GT(n, 0) TH_LOG("cycle %d: test.0 missing or unbound",
				       i);
		ASSERT_EQ(0, stat(PVKIT_DEV, &st));
		ASSERT_EQ(base, proc_irq_lines("pvkit"))
			TH_LOG("cycle %d: interrupt lines changed", i);
	}
	slab1 = meminfo_kb("SUnreclaim:");
	TH_LOG("%d cycles in %.1f s; SUnreclaim %ld -> %ld kB", cycles,
	       (now_ns() - t0) / 1e9, slab0, slab1);
	/* 300 clean cycles move it by < 100 kB; a lost core is 20+ kB */
	EXPECT_LT(slab1 - slab0, 1024 + cycles * 2)
		TH_LOG("unreclaimable slab grew: a leak per load/unload?");

	/* the bus still works */
	fd = pvkit_open();
	ASSERT_GE(fd, 0);
	{
		struct pvkit_ioc_pingpong pp = { .count = 100 };
		uint64_t args[6] = { 0 };
		int64_t ret;

		ASSERT_EQ(0, pvkit_hc(fd, PVKIT_HC_GET_VERSION, args, &ret));
		EXPECT_EQ((PVKIT_ABI_MAJOR << 16) | PVKIT_ABI_MINOR, ret);
		ASSERT_EQ(0, ioctl(fd, PVKIT_IOC_PINGPONG, &pp));
		EXPECT_EQ(100, pp.completed);
		EXPECT_EQ(0, pp.lost + pp.mismatched);
	}
	close(fd);
	EXPECT_EQ(0, counter("hypercall_timeouts"));
	/* a hundred probes and removes, not one kernel warning */
	EXPECT_KLOG_CLEAN(mark);
}

TEST_HARNESS_MAIN
