// SPDX-License-Identifier: GPL-2.0-only
/* Per-VM run directories and their liveness lock. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <pvkit-host/rundir.h>

/* Files pvkit-hv may create in a run directory. */
static const char *const rundir_files[] = {
	"ivshmem.sock", "ctl.sock", "qmp.sock", "ram", "pid",
};

const char *rundir_base(void)
{
	const char *env = getenv("PVKIT_RUN_DIR");

	return env && *env ? env : "/run/pvkit";
}

static int rundir_path(char *buf, size_t size, const char *base,
		       const char *name, const char *file)
{
	int n;

	if (strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, ".."))
		return -EINVAL;
	if (file)
		n = snprintf(buf, size, "%s/%s/%s", base, name, file);
	else
		n = snprintf(buf, size, "%s/%s", base, name);
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

/* Remove the RAM file a dead VM left behind, if the link names one. */
static void rundir_remove_ram(const char *link)
{
	char target[PATH_MAX];
	const char *base;
	ssize_t n;

	n = readlink(link, target, sizeof(target) - 1);
	if (n <= 0)
		return;
	target[n] = '\0';
	base = strrchr(target, '/');
	base = base ? base + 1 : target;
	/* only ever a file named like ours */
	if (!strncmp(base, "pvkit-", 6) && strlen(base) > 10 &&
	    !strcmp(base + strlen(base) - 4, "-ram"))
		unlink(target);
}

static void rundir_clean_files(const char *base, const char *name,
			       bool keep_pid)
{
	char p[PATH_MAX];
	unsigned int i;

	for (i = 0; i < sizeof(rundir_files) / sizeof(rundir_files[0]); i++) {
		if (keep_pid && !strcmp(rundir_files[i], "pid"))
			continue;
		if (rundir_path(p, sizeof(p), base, name, rundir_files[i]))
			continue;
		if (!strcmp(rundir_files[i], "ram"))
			rundir_remove_ram(p);
		unlink(p);
	}
}

void rundir_remove(const char *base, const char *name)
{
	char p[PATH_MAX];

	rundir_clean_files(base, name, false);
	if (!rundir_path(p, sizeof(p), base, name, NULL))
		rmdir(p);
}

static int rundir_lock(const char *base, const char *name, bool create)
{
	char p[PATH_MAX];
	int fd, ret;

	ret = rundir_path(p, sizeof(p), base, name, "pid");
	if (ret)
		return ret;
	fd = open(p, O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0), 0644);
	if (fd < 0)
		return -errno;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		ret = errno == EWOULDBLOCK ? -EBUSY : -errno;
		close(fd);
		return ret;
	}
	return fd;
}

int rundir_take(const char *base, const char *name)
{
	char p[PATH_MAX], buf[32];
	int fd, ret, n;

	if (mkdir(base, 0755) < 0 && errno != EEXIST)
		return -errno;
	ret = rundir_path(p, sizeof(p), base, name, NULL);
	if (ret)
		return ret;
	if (mkdir(p, 0700) < 0 && errno != EEXIST)
		return -errno;
	fd = rundir_lock(base, name, true);
	if (fd < 0)
		return fd;
	/* ours now: whatever else is here belongs to a dead VM */
	rundir_clean_files(base, name, true);
	n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
	if (ftruncate(fd, 0) < 0 || write(fd, buf, (size_t)n) != n) {
		ret = -errno;
		close(fd);
		return ret ? ret : -EIO;
	}
	return fd;
}

bool rundir_alive(const char *base, const char *name, pid_t *pid)
{
	char p[PATH_MAX], buf[32];
	ssize_t n;
	int fd;

	fd = rundir_lock(base, name, false);
	if (fd >= 0) {
		close(fd);	/* we could lock it: nobody holds it */
		return false;
	}
	if (fd != -EBUSY)
		return false;
	if (pid) {
		*pid = 0;
		if (!rundir_path(p, sizeof(p), base, name, "pid")) {
			fd = open(p, O_RDONLY | O_CLOEXEC);
			if (fd >= 0) {
				n = read(fd, buf, sizeof(buf) - 1);
				if (n > 0) {
					buf[n] = '\0';
					*pid = (pid_t)atoi(buf);
				}
				close(fd);
			}
		}
	}
	return true;
}

int rundir_remove_dead(const char *base, const char *name, pid_t owner,
		       const char *also)
{
	char p[PATH_MAX], buf[32];
	ssize_t n;
	int fd;

	fd = rundir_lock(base, name, false);
	if (fd < 0)
		return fd;
	/* unlocked; but is it still the directory of @owner? */
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	buf[n > 0 ? n : 0] = '\0';
	if (n <= 0 || (pid_t)atoi(buf) != owner) {
		close(fd);
		return -ESTALE;
	}
	if (also)
		unlink(also);
	rundir_clean_files(base, name, false);
	if (!rundir_path(p, sizeof(p), base, name, NULL))
		rmdir(p);
	close(fd);
	return 0;
}

static bool rundir_entry_ok(const struct dirent *de)
{
	return de->d_name[0] != '.' && strlen(de->d_name) < RUNDIR_NAME_MAX;
}

int rundir_sweep(const char *base)
{
	struct dirent *de;
	int removed = 0;
	DIR *dir;

	dir = opendir(base);
	if (!dir)
		return 0;
	while ((de = readdir(dir))) {
		int fd;

		if (!rundir_entry_ok(de))
			continue;
		fd = rundir_lock(base, de->d_name, false);
		if (fd == -EBUSY)
			continue;
		/*
		 * A pid file nobody holds: dead.  No pid file: a VM that is
		 * just starting (or an empty leftover): only rmdir, which
		 * fails on a non-empty directory.
		 */
		if (fd >= 0) {
			rundir_clean_files(base, de->d_name, false);
			close(fd);
		}
		{
			char p[PATH_MAX];

			if (!rundir_path(p, sizeof(p), base, de->d_name, NULL) &&
			    !rmdir(p))
				removed++;
		}
	}
	closedir(dir);
	return removed;
}

static int rundir_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

int rundir_list(const char *base, char (*names)[RUNDIR_NAME_MAX],
		unsigned int max)
{
	struct dirent *de;
	unsigned int n = 0;
	DIR *dir;

	dir = opendir(base);
	if (!dir)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(dir)) && n < max) {
		if (!rundir_entry_ok(de) || !rundir_alive(base, de->d_name, NULL))
			continue;
		strcpy(names[n++], de->d_name);
	}
	closedir(dir);
	qsort(names, n, RUNDIR_NAME_MAX, rundir_cmp);
	return (int)n;
}
