// SPDX-License-Identifier: GPL-2.0-only
/*
 * The janitor: cleans up after a pvkit-hv that died without doing it
 * itself (include/janitor.h).  It is forked, never exec'd, and must stay
 * small enough to be obviously correct:
 *
 *  - it holds no descriptor of pvkit-hv's but its socket end (so not the
 *    run directory lock) and is in its own session (a process-group kill
 *    or a terminal hang-up of pvkit-hv does not take it along);
 *  - it ignores every signal that can be ignored: only EOF on the socket
 *    (all of pvkit-hv's copies closed: it exited or was killed) or a "bye"
 *    ends it;
 *  - it only ever signals processes through pidfds pvkit-hv handed it, so a
 *    recycled pid is never hit;
 *  - it only removes a run directory that nobody locks and whose pid file
 *    names the pvkit-hv that forked it.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <pvkit-host/fdpass.h>
#include <pvkit-host/log.h>
#include <pvkit-host/rundir.h>

#include "include/janitor.h"

#define JAN_MSG_PIDFD	'P'	/* one pidfd attached: watch it */
#define JAN_MSG_BYE	'X'	/* pvkit-hv cleaned up: just exit */
#define JAN_SOCK_FD	3	/* the janitor's end, in the janitor */

static uint64_t jan_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Close the pidfds (pfd[1..*n]) whose process has exited. */
static void jan_drop_exited(struct pollfd *pfd, unsigned int *n)
{
	unsigned int i = 1;

	while (i <= *n) {
		if (pfd[i].revents) {
			close(pfd[i].fd);
			pfd[i] = pfd[*n];
			(*n)--;
		} else {
			i++;
		}
	}
}

/* One message: 1 bye, 0 go on, -1 pvkit-hv is gone. */
static int jan_recv(int sock, struct pollfd *pfd, unsigned int *n)
{
	int fds[FDPASS_MAX_FDS];
	unsigned int nfds = 0, i;
	char c = 0;
	ssize_t r;

	r = fdpass_recv(sock, &c, 1, fds, FDPASS_MAX_FDS, &nfds);
	for (i = 0; i < nfds; i++) {
		if (r == 1 && c == JAN_MSG_PIDFD && *n < JANITOR_MAX_PROCS) {
			(*n)++;
			pfd[*n] = (struct pollfd){ .fd = fds[i], .events = POLLIN };
		} else {
			close(fds[i]);
		}
	}
	if (r == -EINTR || r == -EAGAIN || r == -EMSGSIZE)
		return 0;
	if (r <= 0)
		return -1;	/* EOF (or a dead socket) */
	return r == 1 && c == JAN_MSG_BYE ? 1 : 0;
}

static void __attribute__((noreturn))
jan_main(int sock, const char *base, const char *name, pid_t owner,
	 const char *also)
{
	struct pollfd pfd[1 + JANITOR_MAX_PROCS];
	unsigned int n = 0, i, killed = 0;
	uint64_t deadline;
	int ret;

	pfd[0] = (struct pollfd){ .fd = sock, .events = POLLIN };
	for (;;) {
		if (poll(pfd, 1 + n, -1) < 0) {
			if (errno != EINTR)
				usleep(100000);	/* ENOMEM: never a reason to act */
			continue;
		}
		jan_drop_exited(pfd, &n);
		if (!pfd[0].revents)
			continue;
		ret = jan_recv(sock, pfd, &n);
		if (ret > 0)
			_exit(0);
		if (ret < 0)
			break;
	}

	/* pvkit-hv died without cleaning up */
	for (i = 1; i <= n; i++)
		if (!syscall(SYS_pidfd_send_signal, pfd[i].fd, SIGKILL, NULL, 0))
			killed++;
	pfd[0].fd = -1;	/* poll() ignores it */
	deadline = jan_now_ms() + JANITOR_KILL_WAIT_MS;
	for (;;) {
		uint64_t now = jan_now_ms();

		if (!n || now >= deadline)
			break;
		if (poll(pfd, 1 + n, (int)(deadline - now)) > 0)
			jan_drop_exited(pfd, &n);
	}
	/* its lock goes with its last descriptor (a child between fork and exec) */
	deadline = jan_now_ms() + JANITOR_LOCK_WAIT_MS;
	while ((ret = rundir_remove_dead(base, name, owner, also)) == -EBUSY &&
	       jan_now_ms() < deadline)
		usleep(20000);
	if (killed || ret != -ENOENT)
		fprintf(stderr, "pvkit-hv[%s]: janitor: pvkit-hv (pid %d) died: signalled %u process(es), run directory %s%s\n",
			name, (int)owner, killed,
			!ret ? "removed" : ret == -ENOENT ? "already gone" : "left: ",
			ret && ret != -ENOENT ? strerror(-ret) : "");
	_exit(0);
}

static void jan_close_from(int first)
{
	int fd;

	if (!syscall(SYS_close_range, (unsigned int)first, ~0U, 0))
		return;
	for (fd = first; fd < 65536; fd++)
		close(fd);
}

void janitor_init(struct janitor *j)
{
	j->pid = 0;
	j->sock = -1;
}

int janitor_start(struct janitor *j, const char *base, const char *name,
		  const char *also)
{
	static const int ign[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE,
				   SIGUSR1, SIGUSR2, SIGALRM, SIGTSTP,
				   SIGTTIN, SIGTTOU };
	pid_t owner = getpid(), pid;
	unsigned int i;
	sigset_t none;
	int sv[2], fd, ret;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		ret = -errno;
		close(sv[0]);
		close(sv[1]);
		return ret;
	}
	if (!pid) {
		for (i = 0; i < sizeof(ign) / sizeof(ign[0]); i++)
			signal(ign[i], SIG_IGN);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		setsid();
		if (sv[1] != JAN_SOCK_FD && dup2(sv[1], JAN_SOCK_FD) < 0)
			_exit(1);
		jan_close_from(JAN_SOCK_FD + 1);
		fd = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (fd >= 0) {
			dup2(fd, STDIN_FILENO);
			dup2(fd, STDOUT_FILENO);
			close(fd);
		}
		jan_main(JAN_SOCK_FD, base, name, owner, also);
	}
	close(sv[1]);
	/* never block the VM on a stuck janitor */
	fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);
	j->pid = pid;
	j->sock = sv[0];
	return 0;
}

void janitor_watch(struct janitor *j, pid_t pid)
{
	char c = JAN_MSG_PIDFD;
	int fd, ret;

	if (j->sock < 0 || pid <= 0)
		return;
	fd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (fd < 0) {
		log_warn("janitor: pidfd_open(%d): %s", (int)pid,
			 strerror(errno));
		return;
	}
	ret = fdpass_send(j->sock, &c, 1, &fd, 1);
	if (ret)
		log_warn("janitor: cannot hand over pid %d: %s", (int)pid,
			 strerror(-ret));
	close(fd);
}

bool janitor_reaped(struct janitor *j, pid_t pid)
{
	if (j->pid <= 0 || pid != j->pid)
		return false;
	log_warn("janitor (pid %d) is gone: a SIGKILL of pvkit-hv would now leave the run directory behind",
		 (int)pid);
	j->pid = 0;
	if (j->sock >= 0)
		close(j->sock);
	j->sock = -1;
	return true;
}

void janitor_stop(struct janitor *j)
{
	char c = JAN_MSG_BYE;

	if (j->sock >= 0) {
		fdpass_send(j->sock, &c, 1, NULL, 0);
		close(j->sock);
		j->sock = -1;
	}
	if (j->pid > 0) {
		while (waitpid(j->pid, NULL, 0) < 0 && errno == EINTR)
			;
		j->pid = 0;
	}
}
