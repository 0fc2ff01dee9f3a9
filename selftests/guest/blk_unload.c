// SPDX-License-Identifier: GPL-2.0-only
/*
 * Description: pvkit_blk unloads only when unused and comes back: rmmod
 * fails while /dev/pvda is open or mounted and succeeds after close or
 * umount; insmod brings /dev/pvda back with its data; module parameters
 * num_request_queues=1 and poll_queues=1 give one queue and a polled
 * queue (io_uring hipri), both passing fio verify.
 *
 * Every test leaves pvkit_blk loaded with default parameters.
 *
 * Copyright (c) 2026 The pvkit authors
 */
#include <stdint.h>
#include <sys/mount.h>

#include "guest.h"

#define MNT		"/tmp/pvblk-mnt"
#define UNLOAD_LOG	"/tmp/blk_unload.log"
#define EXT4_DEPS	"/lib/modules/kernel/ext4.deps"

static bool in_use_error(int err)
{
	/* delete_module() says EWOULDBLOCK (= EAGAIN) while refs are held */
	return err == -EAGAIN || err == -EBUSY;
}

FIXTURE(unload) {
	bool mounted;
	long long klog_start;
};

FIXTURE_SETUP(unload)
{
	self->mounted = false;
	self->klog_start = klog_mark();
	if (!blk_module_loaded())
		SKIP(return, BLK_MODULE " not loaded");
	if (!blk_present(BLK_DISK))
		SKIP(return, "/dev/" BLK_DISK " not present");
}

FIXTURE_TEARDOWN(unload)
{
	if (self->mounted)
		umount2(MNT, MNT_DETACH);
	/* loads, unloads, an open or mounted disk: no kernel warning */
	if (!_metadata->skip)
		EXPECT_KLOG_CLEAN(self->klog_start);
	/* leave the module as the next test expects it: loaded, defaults */
	if (!blk_module_loaded() && blk_module_load(NULL))
		printf("# teardown: insmod " BLK_MODULE " failed\n");
	blk_wait_disk(BLK_DISK, true, 10000);
}

/* Reload with default parameters and check the disk is usable. */
static int reload_default(void)
{
	char buf[512];
	int fd, ret;

	ret = blk_module_reload(BLK_DISK, NULL);
	if (ret)
		return ret;
	fd = open(blk_dev_path(BLK_DISK), O_RDONLY);
	if (fd < 0)
		return -errno;
	ret = read(fd, buf, sizeof(buf)) == sizeof(buf) ? 0 : -EIO;
	close(fd);
	return ret;
}

TEST_F(unload, open_blocks_unload)
{
	int fd, err;

	SKIP_IF_SETUP_SKIPPED();

	fd = open(blk_dev_path(BLK_DISK), O_RDONLY);
	ASSERT_LE(0, fd);
	err = blk_module_unload();
	EXPECT_TRUE(in_use_error(err)) TH_LOG("rmmod while open: %d", err);
	EXPECT_TRUE(blk_module_loaded());
	close(fd);
	ASSERT_EQ(0, blk_module_unload());
	EXPECT_FALSE(blk_module_loaded());
	EXPECT_TRUE(blk_wait_disk(BLK_DISK, false, 5000));
	ASSERT_EQ(0, reload_default());
}

static bool have_ext2(void)
{
	/* ext4 (which mounts ext2) needs a crc32c provider at mount time */
	char *const argv[] = { "/sbin/pvkit-loadmod", "crc32c_generic",
			       "ext4", NULL };
	char line[128];
	bool found = false;
	FILE *f;

	if (!access(EXT4_DEPS, F_OK))
		run_logged(argv, UNLOAD_LOG);
	f = fopen("/proc/filesystems", "r");
	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, "\text2\n") != NULL;
	fclose(f);
	return found;
}

TEST_F_TIMEOUT(unload, mounted_fs_blocks_unload, 120)
{
	char *const mkfs[] = { "/sbin/mke2fs", "-F", "/dev/" BLK_DISK,
			       "65536", NULL };
	static const char msg[] = "pvkit survives a module reload\n";
	char buf[64] = "";
	int fd, err;

	SKIP_IF_SETUP_SKIPPED();

	if (access("/sbin/mke2fs", X_OK) || !have_ext2())
		SKIP(return, "no ext2 support in the guest image");
	ASSERT_EQ(0, run_logged(mkfs, UNLOAD_LOG));
	mkdir(MNT, 0755);
	ASSERT_EQ(0, mount("/dev/" BLK_DISK, MNT, "ext2", 0, NULL))
		TH_LOG("mount: %s", strerror(errno));
	self->mounted = true;
	fd = open(MNT "/file", O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ASSERT_LE(0, fd);
	ASSERT_EQ((ssize_t)sizeof(msg), write(fd, msg, sizeof(msg)));
	ASSERT_EQ(0, fsync(fd));
	close(fd);

	err = blk_module_unload();
	EXPECT_TRUE(in_use_error(err)) TH_LOG("rmmod while mounted: %d", err);
	EXPECT_TRUE(blk_module_loaded());

	ASSERT_EQ(0, umount(MNT));
	self->mounted = false;
	ASSERT_EQ(0, blk_module_unload());
	ASSERT_EQ(0, blk_module_load(NULL));
	ASSERT_TRUE(blk_wait_disk(BLK_DISK, true, 10000));

	ASSERT_EQ(0, mount("/dev/" BLK_DISK, MNT, "ext2", MS_RDONLY, NULL));
	self->mounted = true;
	fd = open(MNT "/file", O_RDONLY);
	ASSERT_LE(0, fd);
	EXPECT_EQ((ssize_t)sizeof(msg), read(fd, buf, sizeof(buf)));
	EXPECT_STREQ(msg, buf);
	close(fd);
	ASSERT_EQ(0, umount(MNT));
	self->mounted = false;
}

TEST_F(unload, reload_loop)
{
	int i;

	SKIP_IF_SETUP_SKIPPED();

	for (i = 0; i < 5; i++)
		ASSERT_EQ(0, reload_default()) TH_LOG("round %d", i);
}

static int quick_fio(const char *engine, bool hipri)
{
	char a_engine[64];
	char *argv[] = {
		BLK_FIO, "--name=param", "--filename=/dev/" BLK_DISK,
		"--rw=randwrite", "--bs=4k", "--iodepth=16", "--size=4m",
		"--direct=1", "--verify=crc32c", "--do_verify=1",
		"--verify_fatal=1", "--offset=128m", a_engine,
		hipri ? "--hipri=1" : NULL, NULL,
	};

	snprintf(a_engine, sizeof(a_engine), "--ioengine=%s", engine);
	return run_logged(argv, UNLOAD_LOG);
}

TEST_F_TIMEOUT(unload, one_queue, 120)
{
	int nr = blk_nr_hw_queues(BLK_DISK);

	SKIP_IF_SETUP_SKIPPED();

	if (access(BLK_FIO, X_OK))
		SKIP(return, BLK_FIO " not in the image");
	ASSERT_EQ(0, blk_module_reload(BLK_DISK, "num_request_queues=1"));
	EXPECT_EQ(1, blk_nr_hw_queues(BLK_DISK));
	EXPECT_EQ(0, quick_fio("libaio", false));
	ASSERT_EQ(0, reload_default());
	EXPECT_EQ(nr, blk_nr_hw_queues(BLK_DISK));
}

TEST_F_TIMEOUT(unload, poll_queue, 120)
{
	int nr = blk_nr_hw_queues(BLK_DISK);
	long long irqs;
	char type[32] = "";
	char path[96];
	int fd;

	SKIP_IF_SETUP_SKIPPED();

	if (access(BLK_FIO, X_OK))
		SKIP(return, BLK_FIO " not in the image");
	if (nr < 2)
		SKIP(return, "needs 2 device queues (have %d)", nr);
	ASSERT_EQ(0, blk_module_reload(BLK_DISK, "poll_queues=1"));
	EXPECT_EQ(1, blk_sysfs_ll(BLK_DISK, "queue/io_poll"));

	/* the last hardware queue is the polled one */
	snprintf(path, sizeof(path), "/sys/kernel/debug/block/%s/hctx%d/type",
		 BLK_DISK, nr - 1);
	fd = open(path, O_RDONLY);
	if (fd >= 0) {
		ssize_t n = read(fd, type, sizeof(type) - 1);

		type[n > 0 ? n : 0] = '\0';
		close(fd);
		EXPECT_EQ(0, strncmp(type, "poll", 4)) TH_LOG("type %s", type);
	}
	/* a polled queue has no interrupt; polled I/O raises none at all */
	snprintf(path, sizeof(path), "%s-q%d", BLK_DISK, nr - 1);
	EXPECT_EQ(-1, proc_irq_count(path));
	snprintf(path, sizeof(path), "%s-q0", BLK_DISK);
	irqs = proc_irq_count(path);
	EXPECT_EQ(0, quick_fio("io_uring", true));
	EXPECT_EQ(irqs, proc_irq_count(path))
		TH_LOG("polled I/O completed by interrupt");
	/* interrupt-driven I/O still works next to it */
	EXPECT_EQ(0, quick_fio("libaio", false));
	ASSERT_EQ(0, reload_default());
	EXPECT_EQ(0, blk_sysfs_ll(BLK_DISK, "queue/io_poll"));
}

BLK_TEST_MAIN(BLK_DISK)
