// SPDX-License-Identifier: GPL-2.0-only
/*
 * QEMU as the CPU/MMU engine: command line, launch, QMP, stop sequence.
 *
 * QEMU sees guest RAM as memory-backend-file,share=on on our RAM file and
 * the pvkit device as ivshmem-doorbell served by our ivshmem socket.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <pvkit-host/fdpass.h>
#include <pvkit-host/json.h>
#include <pvkit-host/log.h>

#include "include/hv.h"
#include "include/qemu.h"

#define QEMU_QUIT_WAIT_MS	3000
#define QEMU_TERM_WAIT_MS	2000

static bool qemu_cpu_has_virt(void)
{
	char line[8192];
	bool found = false;
	FILE *f;

	f = fopen("/proc/cpuinfo", "re");
	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		char *tok, *save = NULL;

		if (strncmp(line, "flags", 5))
			continue;
		for (tok = strtok_r(line, " \t\n", &save); tok;
		     tok = strtok_r(NULL, " \t\n", &save))
			if (!strcmp(tok, "vmx") || !strcmp(tok, "svm"))
				found = true;
	}
	fclose(f);
	return found;
}

const char *qemu_accel_resolve(enum hv_accel accel, char *why, size_t len)
{
	int fd;

	if (accel == HV_ACCEL_KVM) {
		snprintf(why, len, "--accel kvm");
		return "kvm";
	}
	if (accel == HV_ACCEL_TCG) {
		snprintf(why, len, "--accel tcg");
		return "tcg";
	}
	if (!qemu_cpu_has_virt()) {
		snprintf(why, len, "no vmx/svm in /proc/cpuinfo");
		return "tcg";
	}
	fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		snprintf(why, len, "/dev/kvm: %s", strerror(errno));
		return "tcg";
	}
	close(fd);
	snprintf(why, len, "vmx/svm and /dev/kvm present");
	return "kvm";
}

int qemu_add(struct qemu *q, const char *fmt, ...)
{
	char **argv;
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -ENOMEM;
	argv = realloc(q->argv, (q->argc + 2) * sizeof(*argv));
	if (!argv) {
		free(s);
		return -ENOMEM;
	}
	q->argv = argv;
	q->argv[q->argc++] = s;
	q->argv[q->argc] = NULL;
	return 0;
}

/* QEMU option values escape ',' as ",,". */
static char *qemu_escape(const char *s)
{
	size_t n = strlen(s), i, j = 0;
	char *out = malloc(2 * n + 1);

	if (!out)
		return NULL;
	for (i = 0; i < n; i++) {
		out[j++] = s[i];
		if (s[i] == ',')
			out[j++] = ',';
	}
	out[j] = '\0';
	return out;
}

void qemu_free_argv(struct qemu *q)
{
	unsigned int i;

	for (i = 0; i < q->argc; i++)
		free(q->argv[i]);
	free(q->argv);
	q->argv = NULL;
	q->argc = 0;
}

int qemu_build_argv(struct hv *hv, struct qemu *q)
{
	const struct hv_opts *o = &hv->opt;
	char *ivs = NULL, *con = NULL, *qmp = NULL;
	unsigned int i;
	int ret = -ENOMEM;

	ivs = qemu_escape(q->ivs_path);
	if (!ivs)
		goto out;
	ret = 0;
	ret |= qemu_add(q, "%s", o->qemu_bin);
	ret |= qemu_add(q, "-nodefaults");
	ret |= qemu_add(q, "-no-user-config");
	ret |= qemu_add(q, "-machine");
	ret |= qemu_add(q, "%s,accel=%s,memory-backend=pvkit-ram", o->machine,
			q->accel);
	ret |= qemu_add(q, "-cpu");
	ret |= qemu_add(q, "%s", strcmp(q->accel, "kvm") ? "max" : "host");
	ret |= qemu_add(q, "-smp");
	ret |= qemu_add(q, "%u", o->cpus);
	ret |= qemu_add(q, "-m");
	ret |= qemu_add(q, "%lluM", (unsigned long long)(o->mem >> 20));
	ret |= qemu_add(q, "-object");
	/* the unlinked RAM file, inherited (see qemu_start()) */
	ret |= qemu_add(q, "memory-backend-file,id=pvkit-ram,size=%llu,mem-path=/proc/self/fd/%d,share=on",
			(unsigned long long)o->mem, QEMU_RAM_FD);
	ret |= qemu_add(q, "-chardev");
	ret |= qemu_add(q, "socket,id=pvkit-ivs,path=%s", ivs);
	ret |= qemu_add(q, "-device");
	ret |= qemu_add(q, "ivshmem-doorbell,id=pvkit,chardev=pvkit-ivs,vectors=%u",
			hv->nr_vectors);
	ret |= qemu_add(q, "-serial");
	if (o->console) {
		con = qemu_escape(o->console);
		if (!con) {
			ret = -ENOMEM;
			goto out;
		}
		ret |= qemu_add(q, "file:%s", con);
	} else if (isatty(STDIN_FILENO)) {
		/* interactive: Ctrl-C goes to the guest, Ctrl-A x quits */
		ret |= qemu_add(q, "mon:stdio");
	} else {
		ret |= qemu_add(q, "stdio");
	}
	ret |= qemu_add(q, "-qmp");
	/* -qmp is a chardev spec: a comma in the path must be doubled */
	qmp = qemu_escape(q->qmp_path);
	if (!qmp) {
		ret = -ENOMEM;
		goto out;
	}
	ret |= qemu_add(q, "unix:%s,server=on,wait=off", qmp);
	ret |= qemu_add(q, "-display");
	ret |= qemu_add(q, "none");
	ret |= qemu_add(q, "-no-reboot");
	ret |= qemu_add(q, "-kernel");
	ret |= qemu_add(q, "%s", o->kernel);
	if (o->initrd) {
		ret |= qemu_add(q, "-initrd");
		ret |= qemu_add(q, "%s", o->initrd);
	}
	if (o->append) {
		ret |= qemu_add(q, "-append");
		ret |= qemu_add(q, "%s", o->append);
	}
	for (i = 0; i < o->nr_qemu_args; i++)
		ret |= qemu_add(q, "%s", o->qemu_args[i]);
	if (ret)
		ret = -ENOMEM;
out:
	free(ivs);
	free(qmp);
	free(con);
	return ret;
}

char *qemu_cmdline(const struct qemu *q)
{
	size_t len = 1;
	unsigned int i;
	char *s, *p;

	for (i = 0; i < q->argc; i++)
		len += 4 * strlen(q->argv[i]) + 3;
	s = malloc(len);
	if (!s)
		return NULL;
	p = s;
	for (i = 0; i < q->argc; i++) {
		const char *a = q->argv[i];
		bool plain = *a && !strpbrk(a, " \t\n'\"\\$`*?;&|<>()[]{}!#~");

		if (i)
			*p++ = ' ';
		if (plain) {
			p = stpcpy(p, a);
			continue;
		}
		*p++ = '\'';
		for (; *a; a++) {
			if (*a == '\'')
				p = stpcpy(p, "'\\''");
			else
				*p++ = *a;
		}
		*p++ = '\'';
	}
	*p = '\0';
	return s;
}

int qemu_start(struct hv *hv, struct qemu *q)
{
	pid_t ppid = getpid(), pid;
	int fd;

	pid = fork();
	if (pid < 0)
		return -errno;
	if (!pid) {
		hv_child_init(ppid);
		if (hv->opt.console) {
			fd = open("/dev/null", O_RDONLY);
			if (fd >= 0 && fd != STDIN_FILENO) {
				dup2(fd, STDIN_FILENO);
				close(fd);
			}
		}
		/* the only one of our descriptors QEMU inherits besides stdio */
		if (hv->ram_fd == QEMU_RAM_FD)
			fcntl(QEMU_RAM_FD, F_SETFD, 0);
		else if (dup2(hv->ram_fd, QEMU_RAM_FD) < 0)
			_exit(127);
		execvp(q->argv[0], q->argv);
		fprintf(stderr, "pvkit-hv: cannot run %s: %s\n", q->argv[0],
			strerror(errno));
		_exit(127);
	}
	q->pid = pid;
	q->started_ms = ev_now_ms();
	janitor_watch(&hv->janitor, pid);
	return 0;
}

/* ----------------------------------------------------------------- QMP --- */

static int qmp_read_line(int fd, char *buf, size_t len, size_t *have,
			 uint64_t deadline)
{
	char *nl;

	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		uint64_t now = ev_now_ms();
		ssize_t n;
		int ret;

		nl = memchr(buf, '\n', *have);
		if (nl) {
			size_t line = (size_t)(nl - buf) + 1;

			*nl = '\0';
			return (int)line;
		}
		if (*have + 1 >= len)
			*have = 0;	/* an over-long line: drop it */
		if (now >= deadline)
			return -ETIMEDOUT;
		ret = poll(&pfd, 1, (int)(deadline - now));
		if (ret < 0 && errno == EINTR)
			continue;
		if (ret <= 0)
			return ret ? -errno : -ETIMEDOUT;
		n = read(fd, buf + *have, len - *have - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n ? -errno : -ECONNRESET;
		*have += (size_t)n;
		buf[*have] = '\0';
	}
}

/* Read lines until an answer ("return" or "error"); events are skipped. */
static int qmp_answer(int fd, char *buf, size_t len, size_t *have,
		      uint64_t deadline, char *reply, size_t reply_len)
{
	for (;;) {
		int n = qmp_read_line(fd, buf, len, have, deadline);
		int ret = 1;

		if (n < 0)
			return n;
		if (strstr(buf, "\"return\""))
			ret = 0;
		else if (strstr(buf, "\"error\""))
			ret = -EIO;
		if (ret <= 0 && reply && reply_len)
			snprintf(reply, reply_len, "%s", buf);
		memmove(buf, buf + n, *have - (size_t)n);
		*have -= (size_t)n;
		if (ret <= 0)
			return ret;
	}
}

int qmp_command(const char *path, const char *cmd, char *reply,
		size_t reply_len, int timeout_ms)
{
	uint64_t deadline = ev_now_ms() + (uint64_t)timeout_ms;
	char buf[16384], req[256];
	size_t have = 0;
	int fd, ret, n;

	fd = unix_connect(path);
	if (fd < 0)
		return fd;
	/* greeting */
	ret = qmp_read_line(fd, buf, sizeof(buf), &have, deadline);
	if (ret < 0)
		goto out;
	memmove(buf, buf + ret, have - (size_t)ret);
	have -= (size_t)ret;
	n = snprintf(req, sizeof(req), "{\"execute\":\"qmp_capabilities\"}\n");
	if (send(fd, req, (size_t)n, MSG_NOSIGNAL) != n) {
		ret = -EIO;
		goto out;
	}
	ret = qmp_answer(fd, buf, sizeof(buf), &have, deadline, NULL, 0);
	if (ret)
		goto out;
	n = snprintf(req, sizeof(req), "{\"execute\":\"%s\"}\n", cmd);
	if (n >= (int)sizeof(req) || send(fd, req, (size_t)n, MSG_NOSIGNAL) != n) {
		ret = -EIO;
		goto out;
	}
	ret = qmp_answer(fd, buf, sizeof(buf), &have, deadline, reply,
			 reply_len);
	/* "quit" may close the socket before answering */
	if (ret == -ECONNRESET && !strcmp(cmd, "quit"))
		ret = 0;
out:
	close(fd);
	return ret;
}

#define QMP_REPLY_MAX	16384

int qmp_query_running(const char *path, int timeout_ms)
{
	const struct json *ret, *run;
	struct json *j = NULL;
	char reply[1024];
	const char *st;
	int r;

	r = qmp_command(path, "query-status", reply, sizeof(reply), timeout_ms);
	if (r)
		return r;
	if (json_parse(reply, strlen(reply), &j))
		return -EPROTO;
	ret = json_get(j, "return");
	run = ret ? json_get(ret, "running") : NULL;
	st = ret ? json_get_str(ret, "status") : NULL;
	if (!run || run->type != JSON_BOOL)
		r = -EPROTO;
	else if (run->b || (st && !strcmp(st, "prelaunch")))
		r = 1;	/* not started yet is not a pause of guest time */
	else
		r = 0;
	json_free(j);
	return r;
}

int qmp_parse_vcpu_threads(const char *reply, pid_t *tids, unsigned int max)
{
	const struct json *ret, *c;
	struct json *j = NULL;
	unsigned int n = 0, i;

	if (json_parse(reply, strlen(reply), &j))
		return -EPROTO;
	ret = json_get(j, "return");
	if (!ret || ret->type != JSON_ARR) {
		json_free(j);
		return -EPROTO;
	}
	memset(tids, 0, max * sizeof(*tids));
	for (c = ret->child; c; c = c->next) {
		double idx = json_get_num(c, "cpu-index", -1);
		double tid = json_get_num(c, "thread-id", -1);

		/* QEMU's word, but checked: whole numbers in range */
		if (idx < 0 || idx >= max || idx != (double)(unsigned int)idx ||
		    tid <= 0 || tid > 4194304 || tid != (double)(pid_t)tid)
			continue;
		tids[(unsigned int)idx] = (pid_t)tid;
	}
	for (i = 0; i < max && tids[i]; i++)
		n++;
	json_free(j);
	return (int)n;
}

int qmp_vcpu_threads(const char *path, pid_t *tids, unsigned int max,
		     int timeout_ms)
{
	char *reply = malloc(QMP_REPLY_MAX);
	int r;

	if (!reply)
		return -ENOMEM;
	r = qmp_command(path, "query-cpus-fast", reply, QMP_REPLY_MAX,
			timeout_ms);
	if (!r)
		r = qmp_parse_vcpu_threads(reply, tids, max);
	free(reply);
	return r;
}

/* ---------------------------------------------------------------- stop --- */

static void qemu_stop_step(struct hv *hv, struct qemu *q, enum qemu_stop to)
{
	uint64_t now = ev_now_ms();
	int ret;

	q->stop = to;
	switch (to) {
	case QEMU_STOP_POWERDOWN:
		ret = qmp_command(q->qmp_path, "system_powerdown", NULL, 0, 1000);
		if (ret) {
			log_info("QMP system_powerdown failed (%s), quitting",
				 strerror(-ret));
			qemu_stop_step(hv, q, QEMU_STOP_QUIT);
			return;
		}
		log_info("stop: ACPI power-down sent, waiting up to %u s",
			 hv->opt.grace);
		q->stop_how = "powerdown";
		q->stop_deadline_ms = now + hv->opt.grace * 1000ULL;
		break;
	case QEMU_STOP_QUIT:
		ret = qmp_command(q->qmp_path, "quit", NULL, 0, 1000);
		if (ret) {
			log_info("QMP quit failed (%s), sending SIGTERM",
				 strerror(-ret));
			qemu_stop_step(hv, q, QEMU_STOP_TERM);
			return;
		}
		q->stop_how = "quit";
		q->stop_deadline_ms = now + QEMU_QUIT_WAIT_MS;
		break;
	case QEMU_STOP_TERM:
		kill(q->pid, SIGTERM);
		q->stop_how = "sigterm";
		q->stop_deadline_ms = now + QEMU_TERM_WAIT_MS;
		break;
	case QEMU_STOP_KILL:
		log_warn("QEMU (pid %d) did not stop, killing it", (int)q->pid);
		kill(q->pid, SIGKILL);
		q->stop_how = "sigkill";
		q->stop_deadline_ms = UINT64_MAX;
		break;
	case QEMU_STOP_NONE:
		break;
	}
}

void qemu_stop_begin(struct hv *hv, struct qemu *q, bool graceful)
{
	if (q->pid <= 0 || q->exited || q->stop != QEMU_STOP_NONE)
		return;
	qemu_stop_step(hv, q, graceful && hv->opt.grace ?
			      QEMU_STOP_POWERDOWN : QEMU_STOP_QUIT);
}

void qemu_tick(struct hv *hv, struct qemu *q, uint64_t now_ms)
{
	if (q->pid <= 0 || q->exited || q->stop == QEMU_STOP_NONE ||
	    q->stop == QEMU_STOP_KILL || now_ms < q->stop_deadline_ms)
		return;
	qemu_stop_step(hv, q, (enum qemu_stop)(q->stop + 1));
}

void qemu_reaped(struct hv *hv, struct qemu *q, int status)
{
	(void)hv;
	q->exited = true;
	q->status = status;
	if (WIFEXITED(status))
		log_info("QEMU exited with status %d after %llu ms",
			 WEXITSTATUS(status),
			 (unsigned long long)(ev_now_ms() - q->started_ms));
	else if (WIFSIGNALED(status))
		log_info("QEMU killed by signal %d (%s)", WTERMSIG(status),
			 strsignal(WTERMSIG(status)));
}
