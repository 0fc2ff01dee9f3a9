// SPDX-License-Identifier: GPL-2.0-only
/*
 * Description: the pvkit-hv janitor.  A fake pvkit-hv (a child of the
 * test, which is a child subreaper so orphans come back to it) claims a run
 * directory, starts the janitor, hands it pidfds of 'sleep' children and
 * then dies by SIGKILL or exits cleanly.  After a SIGKILL the janitor
 * kills the watched children, removes the run directory (and the extra
 * file) and exits; after a clean exit it touches nothing.  It never
 * removes a directory someone else owns, ignores catchable signals, holds
 * no inherited descriptor (so not the run directory lock), and drops the
 * pidfds of processes that exited (its table never fills up).  Also
 * rundir_remove_dead()'s answers.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <pvkit-host/log.h>
#include <pvkit-host/rundir.h>

#include "kselftest_harness.h"

#include "../../hypervisor/include/janitor.h"

#define NAME	"jtest"

enum fake_end { FAKE_SIGKILL, FAKE_CLEAN, FAKE_BYE_ONLY, FAKE_GIVE_AWAY };

struct fake {
	pid_t hv;
	pid_t janitor;
	unsigned int nr;
	pid_t kids[8];
	int go;		/* write a byte: the fake hv ends */
};

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static pid_t spawn_sleep(void)
{
	pid_t pid = fork();

	if (!pid) {
		execl("/bin/sleep", "sleep", "1000", (char *)NULL);
		_exit(127);
	}
	return pid;
}

static int count_fds(pid_t pid, unsigned int *pidfds, unsigned int *other)
{
	char path[320], link[128];
	struct dirent *de;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	d = opendir(path);
	if (!d)
		return -1;
	*pidfds = *other = 0;
	while ((de = readdir(d))) {
		ssize_t n;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/fd/%s", (int)pid,
			 de->d_name);
		n = readlink(path, link, sizeof(link) - 1);
		link[n > 0 ? n : 0] = '\0';
		if (strstr(link, "pidfd"))
			(*pidfds)++;
		else if (atoi(de->d_name) > 3)
			(*other)++;
	}
	closedir(d);
	return 0;
}

/*
 * Start a fake pvkit-hv on BASE/NAME with @nr sleeping children (plus
 * @churn children that exit at once, each watched and reaped); it reports
 * the janitor's and the children's pids, then waits for a byte on f->go
 * and ends as @end says.
 */
static int fake_start(struct fake *f, const char *base, const char *also,
		      unsigned int nr, unsigned int churn, enum fake_end end)
{
	int up[2], go[2];
	pid_t pid;

	if (pipe(up) < 0 || pipe(go) < 0)
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (!pid) {
		struct janitor j;
		unsigned int i;
		pid_t kids[8];
		char c;
		int lock;

		close(up[0]);
		close(go[1]);
		lock = rundir_take(base, NAME);
		if (lock < 0)
			_exit(1);
		janitor_init(&j);
		if (janitor_start(&j, base, NAME, also))
			_exit(1);
		for (i = 0; i < churn; i++) {
			pid_t p = fork();

			if (!p)
				_exit(0);
			janitor_watch(&j, p);
			waitpid(p, NULL, 0);
		}
		for (i = 0; i < nr; i++) {
			kids[i] = spawn_sleep();
			janitor_watch(&j, kids[i]);
		}
		if (write(up[1], &j.pid, sizeof(j.pid)) < 0 ||
		    write(up[1], kids, nr * sizeof(kids[0])) < 0)
			_exit(1);
		if (read(go[0], &c, 1) != 1)
			_exit(1);
		switch (end) {
		case FAKE_SIGKILL:
			raise(SIGKILL);
			break;
		case FAKE_CLEAN:
			for (i = 0; i < nr; i++) {
				kill(kids[i], SIGKILL);
				waitpid(kids[i], NULL, 0);
			}
			rundir_remove(base, NAME);
			close(lock);
			janitor_stop(&j);
			_exit(0);
		case FAKE_BYE_ONLY:	/* leaves everything; janitor must too */
			janitor_stop(&j);
			_exit(0);
		case FAKE_GIVE_AWAY:	/* drop the lock; the test takes it */
			close(lock);
			if (write(up[1], &c, 1) != 1 || read(go[0], &c, 1) != 1)
				_exit(1);
			raise(SIGKILL);
			break;
		}
		_exit(1);
	}
	close(up[1]);
	close(go[0]);
	f->hv = pid;
	f->nr = nr;
	f->go = go[1];
	if (read(up[0], &f->janitor, sizeof(f->janitor)) != sizeof(f->janitor) ||
	    read(up[0], f->kids, nr * sizeof(f->kids[0])) !=
	    (ssize_t)(nr * sizeof(f->kids[0])))
		return -1;
	/* the janitor has dropped what it inherited (the lock among it) */
	for (;;) {
		unsigned int pidfds, other;

		if (count_fds(f->janitor, &pidfds, &other))
			return -1;
		if (!other)
			break;
		usleep(1000);
	}
	if (end == FAKE_GIVE_AWAY) {
		char c = 1;

		if (write(f->go, &c, 1) != 1 || read(up[0], &c, 1) != 1)
			return -1;
	}
	close(up[0]);
	return 0;
}

static void fake_end(struct fake *f)
{
	char c = 1;

	if (write(f->go, &c, 1) != 1)
		return;
	close(f->go);
}

/* Wait (as subreaper) for @pid; its status, or -1 after @ms. */
static int reap(pid_t pid, unsigned int ms)
{
	uint64_t deadline = now_ms() + ms;
	int status;

	while (now_ms() < deadline) {
		pid_t r = waitpid(pid, &status, WNOHANG);

		if (r == pid)
			return status;
		if (r < 0)
			return -1;
		usleep(5000);
	}
	return -1;
}

FIXTURE(jan)
{
	char base[64];
	char dir[96];
	char also[96];
};

FIXTURE_SETUP(jan)
{
	int fd;

	log_set_level(LOG_LVL_ERR);
	ASSERT_EQ(0, prctl(PR_SET_CHILD_SUBREAPER, 1));
	strcpy(self->base, "/tmp/hv_janitor.XXXXXX");
	ASSERT_NE(NULL, mkdtemp(self->base));
	snprintf(self->dir, sizeof(self->dir), "%s/%s", self->base, NAME);
	snprintf(self->also, sizeof(self->also), "%s/pvkit-%s-ram", self->base,
		 NAME);
	fd = open(self->also, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	ASSERT_LE(0, fd);
	close(fd);
}

FIXTURE_TEARDOWN(jan)
{
	rundir_remove(self->base, NAME);
	unlink(self->also);
	rmdir(self->base);
}

/* SIGKILL of the hv: children killed, run directory and RAM name gone. */
TEST_F(jan, killed_hv)
{
	struct fake f;
	unsigned int i;
	int status;

	ASSERT_EQ(0, fake_start(&f, self->base, self->also, 3, 0, FAKE_SIGKILL));
	ASSERT_EQ(0, access(self->dir, F_OK));
	fake_end(&f);
	status = reap(f.hv, 2000);
	ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	/* the janitor came back to us, the subreaper */
	status = reap(f.janitor, 5000);
	ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	for (i = 0; i < f.nr; i++) {
		status = reap(f.kids[i], 1000);
		EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	}
	EXPECT_EQ(-1, access(self->dir, F_OK));
	EXPECT_EQ(-1, access(self->also, F_OK));
}

/* A clean exit: the hv cleaned up, the janitor exits before it does. */
TEST_F(jan, clean_exit)
{
	struct fake f;
	uint64_t t0;
	int status;

	ASSERT_EQ(0, fake_start(&f, self->base, self->also, 2, 0, FAKE_CLEAN));
	t0 = now_ms();
	fake_end(&f);
	status = reap(f.hv, 2000);
	ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	EXPECT_GT(500ULL, now_ms() - t0);
	/* reaped by the hv in janitor_stop() */
	EXPECT_EQ(-1, kill(f.janitor, 0));
	EXPECT_EQ(-1, access(self->dir, F_OK));
}

/* After "bye" the janitor touches nothing, even what is left. */
TEST_F(jan, bye_touches_nothing)
{
	struct fake f;
	unsigned int i;
	int status;

	ASSERT_EQ(0, fake_start(&f, self->base, self->also, 1, 0,
				FAKE_BYE_ONLY));
	fake_end(&f);
	status = reap(f.hv, 2000);
	ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	EXPECT_EQ(0, access(self->dir, F_OK));
	EXPECT_EQ(0, access(self->also, F_OK));
	usleep(100000);
	for (i = 0; i < f.nr; i++) {
		EXPECT_EQ(0, kill(f.kids[i], 0));
		kill(f.kids[i], SIGKILL);
		reap(f.kids[i], 1000);
	}
}

/* The name was taken by a new VM before the old hv died: left alone. */
TEST_F(jan, new_owner_untouched)
{
	char pidfile[128], buf[32];
	struct fake f;
	ssize_t n;
	int lock, fd, status;

	ASSERT_EQ(0, fake_start(&f, self->base, self->also, 0, 0,
				FAKE_GIVE_AWAY));
	lock = rundir_take(self->base, NAME);
	ASSERT_LE(0, lock);
	fake_end(&f);
	status = reap(f.hv, 2000);
	ASSERT_TRUE(WIFSIGNALED(status));
	status = reap(f.janitor, JANITOR_LOCK_WAIT_MS + 3000);
	ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	snprintf(pidfile, sizeof(pidfile), "%s/pid", self->dir);
	fd = open(pidfile, O_RDONLY);
	ASSERT_LE(0, fd);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	ASSERT_LT(0, n);
	buf[n] = '\0';
	EXPECT_EQ(getpid(), atoi(buf));
	EXPECT_EQ(0, access(self->also, F_OK));
	close(lock);
}

/* Catchable signals do not stop it; it holds no inherited descriptor. */
TEST_F(jan, signals_and_fds)
{
	unsigned int pidfds, other;
	uint64_t deadline;
	struct fake f;
	int status;

	ASSERT_EQ(0, fake_start(&f, self->base, self->also, 2, 0, FAKE_SIGKILL));
	/*
	 * The pidfds arrive over the socket and the inherited descriptors
	 * are closed by the janitor as it starts: on a loaded machine that
	 * takes a moment, so wait (bounded) for the settled state.
	 */
	deadline = now_ms() + 2000;
	do {
		ASSERT_EQ(0, count_fds(f.janitor, &pidfds, &other));
		if (pidfds == 2 && !other)
			break;
		usleep(10000);
	} while (now_ms() < deadline);
	EXPECT_EQ(2U, pidfds);
	EXPECT_EQ(0U, other);
	/* its own session: not in the hv's process group */
	EXPECT_EQ(f.janitor, getsid(f.janitor));
	kill(f.janitor, SIGTERM);
	kill(f.janitor, SIGINT);
	kill(f.janitor, SIGHUP);
	kill(f.janitor, SIGQUIT);
	kill(f.janitor, SIGTSTP);
	usleep(100000);
	ASSERT_EQ(-1, reap(f.janitor, 1));
	fake_end(&f);
	reap(f.hv, 2000);
	status = reap(f.janitor, 5000);
	ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	reap(f.kids[0], 1000);
	reap(f.kids[1], 1000);
	EXPECT_EQ(-1, access(self->dir, F_OK));
}

/* Pidfds of exited processes are dropped: 3x the table, then live ones. */
TEST_F(jan, exited_dropped)
{
	unsigned int pidfds = 99, other, i;
	uint64_t deadline;
	struct fake f;
	int status;

	ASSERT_EQ(0, fake_start(&f, self->base, self->also, 2,
				3 * JANITOR_MAX_PROCS, FAKE_SIGKILL));
	deadline = now_ms() + 2000;
	while (now_ms() < deadline) {
		ASSERT_EQ(0, count_fds(f.janitor, &pidfds, &other));
		if (pidfds == 2)
			break;
		usleep(10000);
	}
	EXPECT_EQ(2U, pidfds);
	fake_end(&f);
	reap(f.hv, 2000);
	status = reap(f.janitor, 5000);
	ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	for (i = 0; i < f.nr; i++) {
		status = reap(f.kids[i], 1000);
		EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	}
}

TEST_F(jan, remove_dead)
{
	int lock;

	EXPECT_EQ(-ENOENT, rundir_remove_dead(self->base, NAME, getpid(), NULL));
	lock = rundir_take(self->base, NAME);
	ASSERT_LE(0, lock);
	EXPECT_EQ(-EBUSY, rundir_remove_dead(self->base, NAME, getpid(), NULL));
	close(lock);
	EXPECT_EQ(-ESTALE, rundir_remove_dead(self->base, NAME, getpid() + 1,
					      self->also));
	EXPECT_EQ(0, access(self->dir, F_OK));
	EXPECT_EQ(0, access(self->also, F_OK));
	EXPECT_EQ(0, rundir_remove_dead(self->base, NAME, getpid(), self->also));
	EXPECT_EQ(-1, access(self->dir, F_OK));
	EXPECT_EQ(-1, access(self->also, F_OK));
}

TEST_HARNESS_MAIN
