// SPDX-License-Identifier: GPL-2.0-only
/* Per-VM run directories and their liveness lock. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <pvkit-host/rundir.h>

/* Files pvkit-hv may create in a run directory. */
static const char *const rundir_files[] = {
	"ivshmem.sock", "ctl.sock", "qmp.sock", "pid",
};

static char rundir_err[256];

const char *rundir_error(void)
{
	return rundir_err;
}

static __attribute__((format(printf, 2, 3))) int rundir_fail(int err,
							       const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(rundir_err, sizeof(rundir_err), fmt, ap);
	va_end(ap);
	return err;
}

const char *rundir_base(void)
{
	const char *env = getenv("PVKIT_RUN_DIR");

	return env && *env ? env : "/run/pvkit";
}

static bool rundir_name_ok(const char *name)
{
	return *name && !strchr(name, '/') && strcmp(name, ".") &&
	       strcmp(name, "..");
}

/*
 * Directory @fd (@path for messages) must be ours (or root's for the
 * base) and let nobody else write -- with @strict nobody else in at all.
 * Anything else may have been planted by another local user.
 */
static int rundir_dir_ok(int fd, const char *path, bool strict)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return rundir_fail(-ENOTDIR, "%s: not a directory", path);
	if (st.st_uid != geteuid() && (strict || st.st_uid != 0))
		return rundir_fail(-EPERM, "%s: owned by uid %u, not by this user (uid %u)",
				   path, (unsigned int)st.st_uid,
				   (unsigned int)geteuid());
	if (st.st_mode & (strict ? 077 : 022))
		return rundir_fail(-EPERM, "%s: mode %04o lets other users in (needs %s)",
				   path, (unsigned int)(st.st_mode & 07777),
				   strict ? "0700" : "no group or other write");
	return 0;
}

/* Open directory @name in @dirfd, never through a symbolic link. */
static int rundir_open_at(int dirfd, const char *name, const char *path,
			  bool strict)
{
	int fd, ret;

	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
		    O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		if (errno == ELOOP || errno == ENOTDIR)
			return rundir_fail(ret, "%s: a symbolic link or not a directory (refused)",
					   path);
		return rundir_fail(ret, "%s: %s", path, strerror(errno));
	}
	ret = rundir_dir_ok(fd, path, strict);
	if (ret) {
		close(fd);
		return ret;
	}
	return fd;
}

/* The base directory, created (0755) if @create and absent. */
static int rundir_open_base(const char *base, bool create)
{
	if (create && mkdir(base, 0755) < 0 && errno != EEXIST)
		return rundir_fail(-errno, "cannot create %s: %s", base,
				   strerror(errno));
	return rundir_open_at(AT_FDCWD, base, base, false);
}

/* BASE/NAME, created (0700) if @create and absent. */
static int rundir_open_vm(const char *base, const char *name, bool create)
{
	char path[PATH_MAX];
	int bfd, fd;

	if (!rundir_name_ok(name))
		return rundir_fail(-EINVAL, "bad VM name '%s'", name);
	snprintf(path, sizeof(path), "%s/%s", base, name);
	bfd = rundir_open_base(base, create);
	if (bfd < 0)
		return bfd;
	if (create && mkdirat(bfd, name, 0700) < 0 && errno != EEXIST) {
		fd = rundir_fail(-errno, "cannot create %s: %s", path,
				 strerror(errno));
		close(bfd);
		return fd;
	}
	fd = rundir_open_at(bfd, name, path, true);
	close(bfd);
	return fd;
}

/* Remove our files from the VM directory @vfd; links are not followed. */
static void rundir_clean_files(int vfd, bool keep_pid)
{
	unsigned int i;

	for (i = 0; i < sizeof(rundir_files) / sizeof(rundir_files[0]); i++) {
		if (keep_pid && !strcmp(rundir_files[i], "pid"))
			continue;
		unlinkat(vfd, rundir_files[i], 0);
	}
}

/* rmdir BASE/NAME, through the base's descriptor.  0 or -errno. */
static int rundir_rmdir(const char *base, const char *name)
{
	int bfd = rundir_open_base(base, false), ret = 0;

	if (bfd < 0)
		return bfd;
	if (unlinkat(bfd, name, AT_REMOVEDIR) < 0)
		ret = -errno;
	close(bfd);
	return ret;
}

void rundir_remove(const char *base, const char *name)
{
	int vfd = rundir_open_vm(base, name, false);

	if (vfd < 0)
		return;
	rundir_clean_files(vfd, false);
	close(vfd);
	rundir_rmdir(base, name);
}

/*
 * Open and lock VM directory @vfd's pid file: a regular file of ours
 * with one link (a planted symlink or hard link to another file is
 * refused, never opened for writing or truncated).
 */
static int rundir_lock_at(int vfd, const char *base, const char *name,
			  bool create)
{
	struct stat st;
	int fd, ret;

	fd = openat(vfd, "pid", O_RDWR | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK |
		    (create ? O_CREAT : 0), 0600);
	if (fd < 0) {
		ret = -errno;
		if (errno == ELOOP)
			return rundir_fail(ret, "%s/%s/pid: a symbolic link (refused)",
					   base, name);
		return ret;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1 ||
	    st.st_uid != geteuid()) {
		close(fd);
		return rundir_fail(-EPERM, "%s/%s/pid: not a regular file of ours with one link (refused)",
				   base, name);
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		ret = errno == EWOULDBLOCK ? -EBUSY : -errno;
		close(fd);
		return ret;
	}
	return fd;
}

static int rundir_lock(const char *base, const char *name, bool create)
{
	int vfd = rundir_open_vm(base, name, create), fd;

	if (vfd < 0)
		return vfd;
	fd = rundir_lock_at(vfd, base, name, create);
	close(vfd);
	return fd;
}

int rundir_take(const char *base, const char *name)
{
	char buf[32];
	int vfd, fd, ret, n;

	rundir_err[0] = '\0';
	vfd = rundir_open_vm(base, name, true);
	if (vfd < 0)
		return vfd;
	fd = rundir_lock_at(vfd, base, name, true);
	if (fd < 0) {
		close(vfd);
		return fd;
	}
	/* ours now: whatever else is here belongs to a dead VM */
	rundir_clean_files(vfd, true);
	close(vfd);
	n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, (size_t)n, 0) != n) {
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
		if (rundir_name_ok(name) &&
		    snprintf(p, sizeof(p), "%s/%s/pid", base, name) <
		    (int)sizeof(p)) {
			fd = open(p, O_RDONLY | O_CLOEXEC | O_NOFOLLOW |
				  O_NONBLOCK);
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
	char buf[32];
	ssize_t n;
	int vfd, fd;

	vfd = rundir_open_vm(base, name, false);
	if (vfd < 0)
		return vfd;
	fd = rundir_lock_at(vfd, base, name, false);
	if (fd < 0) {
		close(vfd);
		return fd;
	}
	/* unlocked; but is it still the directory of @owner? */
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	buf[n > 0 ? n : 0] = '\0';
	if (n <= 0 || (pid_t)atoi(buf) != owner) {
		close(fd);
		close(vfd);
		return -ESTALE;
	}
	if (also)
		unlink(also);
	rundir_clean_files(vfd, false);
	close(vfd);
	rundir_rmdir(base, name);
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
		int vfd, fd;

		/* only real directories: a symlinked entry is never followed */
		if (!rundir_entry_ok(de) || de->d_type != DT_DIR)
			continue;
		vfd = rundir_open_vm(base, de->d_name, false);
		if (vfd < 0)
			continue;	/* not ours, or not private: left alone */
		fd = rundir_lock_at(vfd, base, de->d_name, false);
		if (fd == -EBUSY) {
			close(vfd);
			continue;
		}
		/*
		 * A pid file nobody holds: dead.  No pid file: a VM that is
		 * just starting (or an empty leftover): only rmdir, which
		 * fails on a non-empty directory.
		 */
		if (fd >= 0) {
			rundir_clean_files(vfd, false);
			close(fd);
		}
		close(vfd);
		if (!rundir_rmdir(base, de->d_name))
			removed++;
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
