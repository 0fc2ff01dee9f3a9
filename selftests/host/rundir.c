// SPDX-License-Identifier: GPL-2.0-only
/*
 * Description: the run directory does not trust what another local user
 * may have planted (lib/rundir.c): a symlinked or hard-linked pid file,
 * a symlinked VM directory, a group/other-accessible or foreign-owned
 * directory and base are refused with a reason, and nothing outside
 * the run directory is written, truncated or removed -- by rundir_take(),
 * rundir_sweep() or rundir_remove_dead().
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <pvkit-host/rundir.h>

#include "kselftest_harness.h"

#define VICTIM_TEXT	"precious\n"

FIXTURE(rd)
{
	char top[64];		/* mkdtemp: holds base/ and victim files */
	char base[96];
	char vm[128];
	char victim[96];	/* a file another user's link points at */
};

FIXTURE_SETUP(rd)
{
	FILE *f;

	strcpy(self->top, "/tmp/pvkit-rundir.XXXXXX");
	ASSERT_NE(NULL, mkdtemp(self->top));
	snprintf(self->base, sizeof(self->base), "%s/base", self->top);
	snprintf(self->vm, sizeof(self->vm), "%s/vm0", self->base);
	snprintf(self->victim, sizeof(self->victim), "%s/victim", self->top);
	ASSERT_EQ(0, mkdir(self->base, 0755));
	f = fopen(self->victim, "w");
	ASSERT_NE(NULL, f);
	fputs(VICTIM_TEXT, f);
	fclose(f);
}

FIXTURE_TEARDOWN(rd)
{
	char cmd[160];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", self->top);
	if (system(cmd))
		perror(cmd);
}

static bool victim_intact(const char *path)
{
	char buf[64] = "";
	FILE *f = fopen(path, "r");
	bool ok;

	if (!f)
		return false;
	ok = fgets(buf, sizeof(buf), f) && !strcmp(buf, VICTIM_TEXT);
	fclose(f);
	return ok;
}

static void plant(const char *dir, const char *name, const char *target,
		  bool hard)
{
	char p[256];

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	if (hard ? link(target, p) : symlink(target, p))
		perror(p);
}

TEST_F(rd, good_take_is_private)
{
	struct stat st;
	int fd = rundir_take(self->base, "vm0");

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, lstat(self->vm, &st));
	EXPECT_EQ(0, st.st_mode & 077);
	EXPECT_EQ(-EBUSY, rundir_take(self->base, "vm0"));
	close(fd);
	rundir_remove(self->base, "vm0");
	EXPECT_EQ(-1, access(self->vm, F_OK));
}

TEST_F(rd, symlinked_pid_refused)
{
	ASSERT_EQ(0, mkdir(self->vm, 0700));
	plant(self->vm, "pid", self->victim, false);
	EXPECT_EQ(-ELOOP, rundir_take(self->base, "vm0"));
	EXPECT_NE(NULL, strstr(rundir_error(), "symbolic link")) TH_LOG("%s", rundir_error());
	EXPECT_TRUE(victim_intact(self->victim));
	/* the sweep does not touch it either */
	rundir_sweep(self->base);
	EXPECT_TRUE(victim_intact(self->victim));
}

TEST_F(rd, hardlinked_pid_refused)
{
	ASSERT_EQ(0, mkdir(self->vm, 0700));
	plant(self->vm, "pid", self->victim, true);
	EXPECT_EQ(-EPERM, rundir_take(self->base, "vm0"));
	EXPECT_NE(NULL, strstr(rundir_error(), "one link")) TH_LOG("%s", rundir_error());
	EXPECT_TRUE(victim_intact(self->victim));
}

TEST_F(rd, symlinked_vm_dir_refused)
{
	char elsewhere[128];

	snprintf(elsewhere, sizeof(elsewhere), "%s/elsewhere", self->top);
	ASSERT_EQ(0, mkdir(elsewhere, 0700));
	plant(self->base, "vm0", elsewhere, false);
	EXPECT_GT(0, rundir_take(self->base, "vm0"));
	EXPECT_NE(NULL, strstr(rundir_error(), "symbolic link")) TH_LOG("%s", rundir_error());
	/* nothing was created through the link */
	snprintf(elsewhere, sizeof(elsewhere), "%s/elsewhere/pid", self->top);
	EXPECT_EQ(-1, access(elsewhere, F_OK));
}

TEST_F(rd, open_modes_refused)
{
	ASSERT_EQ(0, mkdir(self->vm, 0700));
	ASSERT_EQ(0, chmod(self->vm, 0777));
	EXPECT_EQ(-EPERM, rundir_take(self->base, "vm0"));
	EXPECT_NE(NULL, strstr(rundir_error(), "mode 0777")) TH_LOG("%s", rundir_error());
	ASSERT_EQ(0, chmod(self->vm, 0700));
	ASSERT_EQ(0, chmod(self->base, 0777));
	EXPECT_EQ(-EPERM, rundir_take(self->base, "vm0"));
	EXPECT_NE(NULL, strstr(rundir_error(), self->base)) TH_LOG("%s", rundir_error());
}

TEST_F(rd, foreign_owner_refused)
{
	if (geteuid())
		SKIP(return, "needs root to make a directory someone else's");
	ASSERT_EQ(0, mkdir(self->vm, 0700));
	ASSERT_EQ(0, chown(self->vm, 65534, 65534));
	EXPECT_EQ(-EPERM, rundir_take(self->base, "vm0"));
	EXPECT_NE(NULL, strstr(rundir_error(), "owned by uid 65534")) TH_LOG("%s", rundir_error());
}

/* A symlinked entry in the base is never followed by the sweep. */
TEST_F(rd, sweep_does_not_follow)
{
	char elsewhere[128], pid[160], sock[160];
	FILE *f;

	snprintf(elsewhere, sizeof(elsewhere), "%s/elsewhere", self->top);
	ASSERT_EQ(0, mkdir(elsewhere, 0700));
	snprintf(pid, sizeof(pid), "%s/pid", elsewhere);
	snprintf(sock, sizeof(sock), "%s/ctl.sock", elsewhere);
	f = fopen(pid, "w");
	ASSERT_NE(NULL, f);
	fclose(f);
	f = fopen(sock, "w");
	ASSERT_NE(NULL, f);
	fclose(f);
	plant(self->base, "vm7", elsewhere, false);
	rundir_sweep(self->base);
	EXPECT_EQ(0, access(pid, F_OK));
	EXPECT_EQ(0, access(sock, F_OK));
	/* a dead VM's own directory is still swept */
	ASSERT_EQ(0, mkdir(self->vm, 0700));
	snprintf(pid, sizeof(pid), "%s/pid", self->vm);
	f = fopen(pid, "w");
	ASSERT_NE(NULL, f);
	fclose(f);
	EXPECT_EQ(1, rundir_sweep(self->base));
	EXPECT_EQ(-1, access(self->vm, F_OK));
}

TEST_HARNESS_MAIN
