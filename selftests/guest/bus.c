// SPDX-License-Identifier: GPL-2.0-only
/*
 * Description: the pvkit bus as userspace sees it: /sys/bus/pvkit with its
 * devices and drivers, sane sysfs attributes on every device (name
 * <type>.<instance>, known type and state, queue count, modalias), the
 * test device bound to pvkit_test and connected, and the debugfs files
 * (regular files only, readable, with the documented keys).
 */
#include <dirent.h>
#include <limits.h>
#include <sys/stat.h>

#include "guest.h"

static const char *const type_names[] = {
	[PVKIT_DEV_TEST] = "test",
	[PVKIT_DEV_BLK] = "blk",
	[PVKIT_DEV_NET] = "net",
	[PVKIT_DEV_BALLOON] = "balloon",
	[PVKIT_DEV_CLOCK] = "clock",
};

static const char *const state_names[] = {
	"free", "offered", "connected", "resetting", "closing", "broken",
};

static int parse_u64(const char *s, uint64_t *v)
{
	char *end;

	errno = 0;
	*v = strtoull(s, &end, 0);
	return (errno || end == s || *end) ? -1 : 0;
}

TEST(bus_exists)
{
	struct stat st;

	ASSERT_EQ(0, stat(PVKIT_SYSFS_BUS, &st))
		TH_LOG("%s: %s (pvkit.ko not loaded?)", PVKIT_SYSFS_BUS,
		       strerror(errno));
	EXPECT_EQ(0, stat(PVKIT_SYSFS_BUS "/devices", &st));
	EXPECT_EQ(0, stat(PVKIT_SYSFS_BUS "/drivers", &st));
	EXPECT_EQ(0, stat(PVKIT_SYSFS_BUS "/drivers/pvkit_test", &st))
		TH_LOG("built-in test driver not registered");
	EXPECT_EQ(0, stat(PVKIT_DEV, &st));
	EXPECT_TRUE(S_ISCHR(st.st_mode));
	EXPECT_EQ(0600, st.st_mode & 0777) TH_LOG("/dev/pvkit is root only");
}

/*
 * The kernel-log helpers every test relies on see a line logged after
 * their mark, and not one logged before it.
 */
TEST(klog_mark_works)
{
	char line[96];
	long long before, after;
	int fd;

	snprintf(line, sizeof(line), "pvkit-selftest: klog marker %d.%llu",
		 (int)getpid(), (unsigned long long)now_ns());
	before = klog_mark();
	ASSERT_LE(0, before) TH_LOG("/dev/kmsg unreadable");
	fd = open("/dev/kmsg", O_WRONLY | O_CLOEXEC);
	ASSERT_LE(0, fd);
	/* with its newline: an unterminated record stays open, unread */
	strcat(line, "\n");
	ASSERT_EQ((ssize_t)strlen(line), write(fd, line, strlen(line)));
	close(fd);
	line[strlen(line) - 1] = '\0';
	after = klog_mark();
	EXPECT_LT(before, after);
	EXPECT_TRUE(klog_has(before, line));
	EXPECT_FALSE(klog_has(after, line));
	EXPECT_KLOG_CLEAN(before);
}

/* Found by type and instance, the test device is test.0. */
TEST(lookup_by_type)
{
	char dir[512];

	ASSERT_EQ(0, pvkit_sysfs_dev(PVKIT_DEV_TEST, 0, dir, sizeof(dir)));
	EXPECT_STREQ(PVKIT_TEST_DEV, dir);
	EXPECT_EQ(0, pvkit_dev_ll(PVKIT_DEV_TEST, 0, "instance"));
	EXPECT_EQ(-ENODEV, pvkit_sysfs_dev(PVKIT_DEV_TEST, 0xffff, dir,
					   sizeof(dir)));
}

TEST(devices_sane)
{
	unsigned int n = 0;
	struct dirent *de;
	DIR *d;

	d = opendir(PVKIT_SYSFS_BUS "/devices");
	ASSERT_NE(NULL, d) TH_LOG("%s", strerror(errno));
	while ((de = readdir(d))) {
		char dir[PATH_MAX], buf[256], want[64];
		uint64_t type, inst, nq, feat, acked, epoch;
		unsigned int s;
		int known = 0;

		if (de->d_name[0] == '.')
			continue;
		n++;
		snprintf(dir, sizeof(dir), PVKIT_SYSFS_BUS "/devices/%s",
			 de->d_name);
		ASSERT_EQ(0, read_attr(dir, "type", buf, sizeof(buf)));
		ASSERT_EQ(0, parse_u64(buf, &type)) TH_LOG("type '%s'", buf);
		ASSERT_LT(type, ARRAY_LEN(type_names));
		ASSERT_NE(NULL, type_names[type]);
		ASSERT_EQ(0, read_attr(dir, "instance", buf, sizeof(buf)));
		ASSERT_EQ(0, parse_u64(buf, &inst));
		EXPECT_LE(inst, 0xffff);
		snprintf(want, sizeof(want), "%s.%llu", type_names[type],
			 (unsigned long long)inst);
		EXPECT_STREQ(want, de->d_name);

		ASSERT_EQ(0, read_attr(dir, "state", buf, sizeof(buf)));
		for (s = 0; s < ARRAY_LEN(state_names); s++)
			known |= !strcmp(buf, state_names[s]);
		EXPECT_TRUE(known) TH_LOG("%s: state '%s'", de->d_name, buf);
		EXPECT_STRNE("free", buf);

		ASSERT_EQ(0, read_attr(dir, "nr_queues", buf, sizeof(buf)));
		ASSERT_EQ(0, parse_u64(buf, &nq));
		EXPECT_LE(nq, PVKIT_MAX_QUEUES);
		ASSERT_EQ(0, read_attr(dir, "features", buf, sizeof(buf)));
		ASSERT_EQ(0, parse_u64(buf, &feat));
		ASSERT_EQ(0, read_attr(dir, "acked_features", buf,
				       sizeof(buf)));
		ASSERT_EQ(0, parse_u64(buf, &acked));
		EXPECT_EQ(0, acked & ~feat) TH_LOG("acked a bit not offered");
		ASSERT_EQ(0, read_attr(dir, "epoch", buf, sizeof(buf)));
		ASSERT_EQ(0, parse_u64(buf, &epoch));

		ASSERT_EQ(0, read_attr(dir, "modalias", buf, sizeof(buf)));
		snprintf(want, sizeof(want), "pvkit:t%llu",
			 (unsigned long long)type);
		EXPECT_STREQ(want, buf);
		ASSERT_LT(0, read_text(strcat(dir, "/uevent"), buf,
				       sizeof(buf)));
		snprintf(want, sizeof(want), "MODALIAS=pvkit:t%llu",
			 (unsigned long long)type);
		EXPECT_NE(NULL, strstr(buf, want)) TH_LOG("uevent: %s", buf);
		TH_LOG("%s: features 0x%llx acked 0x%llx queues %llu epoch %llu",
		       de->d_name, (unsigned long long)feat,
		       (unsigned long long)acked, (unsigned long long)nq,
		       (unsigned long long)epoch);
	}
	closedir(d);
	EXPECT_GT(n, 0) TH_LOG("no devices on the pvkit bus");
}

TEST(test_device)
{
	char buf[256], link[PATH_MAX];
	ssize_t n;

	ASSERT_EQ(0, read_attr(PVKIT_TEST_DEV, "type", buf, sizeof(buf)))
		TH_LOG("no %s", PVKIT_TEST_DEV);
	EXPECT_STREQ("1", buf);
	ASSERT_EQ(0, read_attr(PVKIT_TEST_DEV, "instance", buf, sizeof(buf)));
	EXPECT_STREQ("0", buf);
	ASSERT_EQ(0, read_attr(PVKIT_TEST_DEV, "state", buf, sizeof(buf)));
	EXPECT_STREQ("connected", buf);
	ASSERT_EQ(0, read_attr(PVKIT_TEST_DEV, "nr_queues", buf, sizeof(buf)));
	EXPECT_STRNE("0", buf);
	n = readlink(PVKIT_TEST_DEV "/driver", link, sizeof(link) - 1);
	ASSERT_GT(n, 0) TH_LOG("test.0 is not bound to a driver");
	link[n] = '\0';
	EXPECT_NE(NULL, strstr(link, "/pvkit_test")) TH_LOG("%s", link);
	/* the parent is the pvkit PCI device */
	ASSERT_NE(NULL, realpath(PVKIT_TEST_DEV, link));
	EXPECT_NE(NULL, strstr(link, "/devices/pci")) TH_LOG("%s", link);
}

TEST(debugfs_files)
{
	static const char *const files[] = { "info", "counters", "devices" };
	static const char *const keys[][4] = {
		{ "abi", "features", "vcpus", "generation" },
		{ "hypercalls", "hypercall_sleeps", "hypercall_timeouts",
		  "config_irqs" },
		{ "slot", "test.0", "q0", "vector" },
	};
	static char buf[65536];
	char path[PATH_MAX];
	struct dirent *de;
	unsigned int i, j;
	struct stat st;
	DIR *d;

	d = opendir(PVKIT_DEBUGFS);
	ASSERT_NE(NULL, d) TH_LOG("%s: %s", PVKIT_DEBUGFS, strerror(errno));
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), PVKIT_DEBUGFS "/%s", de->d_name);
		ASSERT_EQ(0, stat(path, &st));
		EXPECT_TRUE(S_ISREG(st.st_mode)) TH_LOG("%s", path);
		EXPECT_LT(0, read_text(path, buf, sizeof(buf)))
			TH_LOG("%s unreadable or empty", path);
	}
	closedir(d);

	for (i = 0; i < ARRAY_LEN(files); i++) {
		snprintf(path, sizeof(path), PVKIT_DEBUGFS "/%s", files[i]);
		ASSERT_LT(0, read_text(path, buf, sizeof(buf)))
			TH_LOG("%s", path);
		for (j = 0; j < ARRAY_LEN(keys[i]); j++) {
			const char *key = keys[i][j];

			EXPECT_NE(NULL, strstr(buf, key))
				TH_LOG("%s lacks '%s'", path, key);
		}
	}
	EXPECT_LE(0, info_value("generation"));
	EXPECT_EQ(0, info_value("generation") & 1);
	EXPECT_LT(0, counter("hypercalls"));
	EXPECT_EQ(0, counter("hypercall_bad_results"));
	EXPECT_LE(0, counter("test.0/q0/irqs"));
}

TEST_HARNESS_MAIN
