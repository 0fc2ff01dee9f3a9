// SPDX-License-Identifier: GPL-2.0-only
/*
 * pvkit-hv: one VM.  Sets up guest RAM, the shared region and the device
 * table, serves the ivshmem socket, starts the back-ends and QEMU, then
 * runs the event loop until QEMU is gone, and removes everything it made.
 *
 * Exit status: 0 guest powered off, 1 startup error, 2 QEMU died
 * abnormally (signal, nonzero status), 3 stopped by a signal or
 * 'pvkit stop'.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <pvkit-host/log.h>
#include <pvkit-host/rundir.h>

#include "include/be.h"
#include "include/ctl.h"
#include "include/dev.h"
#include "include/hv.h"
#include "include/ivshmem.h"
#include "include/kind.h"
#include "include/qemu.h"

#define HV_EXIT_POWEROFF	0
#define HV_EXIT_STARTUP		1
#define HV_EXIT_QEMU_DIED	2
#define HV_EXIT_STOPPED		3

#define HV_TICK_MS		100

static struct hv the_hv;
static struct ivs the_ivs;
static struct qemu the_qemu;
static struct ctl the_ctl;

static void hv_reap(struct hv *hv)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if (hv->qemu && pid == hv->qemu->pid) {
			qemu_reaped(hv, hv->qemu, status);
			continue;
		}
		if (janitor_reaped(&hv->janitor, pid))
			continue;
		be_reaped(hv, pid, status);
	}
}

static void hv_signal(struct hv *hv, struct ev_src *src, uint32_t events)
{
	struct signalfd_siginfo si;

	(void)events;
	while (read(src->fd, &si, sizeof(si)) == sizeof(si)) {
		switch (si.ssi_signo) {
		case SIGCHLD:
			hv_reap(hv);
			break;
		case SIGINT:
		case SIGTERM:
		case SIGHUP:
			if (!hv->stopping)
				log_info("%s: stopping the VM",
					 strsignal((int)si.ssi_signo));
			hv->stopping = true;
			if (hv->exit_code < 0)
				hv->exit_code = HV_EXIT_STOPPED;
			if (!hv->qemu || hv->qemu->pid <= 0)
				hv->quit = true;
			else if (hv->qemu->stop == QEMU_STOP_NONE)
				qemu_stop_begin(hv, hv->qemu, false);
			else if (hv->qemu->stop < QEMU_STOP_TERM)
				/* asked twice: hurry up */
				hv->qemu->stop_deadline_ms = 0;
			break;
		}
	}
}

static int hv_signals(struct hv *hv, sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGCHLD);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGHUP);
	if (sigprocmask(SIG_BLOCK, set, NULL) < 0)
		return -errno;
	signal(SIGPIPE, SIG_IGN);
	hv->sig_fd = signalfd(-1, set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (hv->sig_fd < 0)
		return -errno;
	return ev_add(hv, &hv->sig_src, hv->sig_fd, EPOLLIN, hv_signal, NULL);
}

static void hv_tick(struct hv *hv)
{
	uint64_t now = ev_now_ms();

	be_tick(hv, now);
	dev_tick(hv, now);
	ctl_tick(hv, now);
	if (hv->qemu)
		qemu_tick(hv, hv->qemu, now);
}

/* Pick a free default name vmN. */
static int hv_take_name(struct hv_opts *o, int *lock_fd)
{
	unsigned int i;
	int fd;

	if (o->name_given) {
		fd = rundir_take(o->run_base, o->name);
		if (fd == -EBUSY) {
			pid_t pid = 0;

			rundir_alive(o->run_base, o->name, &pid);
			fprintf(stderr, "pvkit-hv: --name %s: a VM of that name is running (pid %d)\n",
				o->name, (int)pid);
		} else if (fd < 0) {
			fprintf(stderr, "pvkit-hv: run directory %s/%s: %s\n",
				o->run_base, o->name,
				*rundir_error() ? rundir_error() :
				strerror(-fd));
		}
		*lock_fd = fd;
		return fd < 0 ? fd : 0;
	}
	for (i = 0; i < 1000; i++) {
		snprintf(o->name, sizeof(o->name), "vm%u", i);
		fd = rundir_take(o->run_base, o->name);
		if (fd >= 0) {
			*lock_fd = fd;
			return 0;
		}
		if (fd != -EBUSY) {
			fprintf(stderr, "pvkit-hv: run directory %s/%s: %s\n",
				o->run_base, o->name,
				*rundir_error() ? rundir_error() :
				strerror(-fd));
			return fd;
		}
	}
	fprintf(stderr, "pvkit-hv: no free VM name\n");
	return -EBUSY;
}

static void hv_guest_connected(struct hv *hv)
{
	log_debug("QEMU attached to the pvkit device");
	(void)hv;
}

static int hv_path(char *buf, size_t len, const struct hv *hv,
		   const char *file)
{
	int n = snprintf(buf, len, "%s/%s", hv->run_dir, file);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* Wait in the loop for every back-end to be READY (before QEMU runs). */
static int hv_wait_backends(struct hv *hv)
{
	int ret;

	for (;;) {
		ret = be_all_ready(hv);
		if (ret)
			return ret < 0 ? ret : 0;
		if (hv->quit || hv->stopping)
			return -EINTR;
		ret = ev_run_once(hv, HV_TICK_MS);
		if (ret)
			return ret;
		hv_tick(hv);
	}
}

static int hv_exit_code(struct hv *hv, struct qemu *q)
{
	if (hv->exit_code >= 0)
		return hv->exit_code;
	if (!q->exited)
		return HV_EXIT_QEMU_DIED;
	if (WIFEXITED(q->status) && WEXITSTATUS(q->status) == 0)
		return HV_EXIT_POWEROFF;
	if (WIFEXITED(q->status))
		log_err("QEMU failed with status %d", WEXITSTATUS(q->status));
	else
		log_err("QEMU died: %s", strsignal(WTERMSIG(q->status)));
	return HV_EXIT_QEMU_DIED;
}

static int hv_run(struct hv *hv, int lock_fd)
{
	struct hv_opts *o = &hv->opt;
	struct qemu *q = &the_qemu;
	static char ram_name[4096];
	char why[128], path[256];
	sigset_t sigs;
	int ret;

	log_set_prefix("pvkit-hv", o->name);
	if (o->verbose)
		log_set_level(LOG_LVL_DEBUG);
	snprintf(hv->run_dir, sizeof(hv->run_dir), "%s/%s", o->run_base,
		 o->name);

	ret = ev_init(hv);
	if (!ret)
		ret = hv_signals(hv, &sigs);
	if (ret) {
		log_err("event loop: %s", strerror(-ret));
		return HV_EXIT_STARTUP;
	}
	/* from here on, whatever kills us, the janitor cleans up */
	hv_ram_name(o, ram_name, sizeof(ram_name));
	ret = janitor_start(&hv->janitor, o->run_base, o->name, ram_name);
	if (ret) {
		log_err("cannot start the janitor: %s", strerror(-ret));
		return HV_EXIT_STARTUP;
	}
	ret = hv_vm_init(hv, o);
	if (ret) {
		log_err("cannot set up the VM: %s", strerror(-ret));
		return HV_EXIT_STARTUP;
	}
	q->accel = qemu_accel_resolve(o->accel, why, sizeof(why));
	if (hv_path(q->qmp_path, sizeof(q->qmp_path), hv, "qmp.sock") ||
	    hv_path(q->ivs_path, sizeof(q->ivs_path), hv, "ivshmem.sock") ||
	    hv_path(path, sizeof(path), hv, "ctl.sock")) {
		log_err("run directory path too long: %s", hv->run_dir);
		return HV_EXIT_STARTUP;
	}
	ret = qemu_build_argv(hv, q);
	if (ret) {
		log_err("QEMU command line: %s", strerror(-ret));
		return HV_EXIT_STARTUP;
	}
	hv->qemu = q;

	ret = ivs_init(hv, &the_ivs, q->ivs_path);
	if (ret) {
		log_err("ivshmem socket %s: %s", q->ivs_path, strerror(-ret));
		return HV_EXIT_STARTUP;
	}
	hv->ivs = &the_ivs;
	the_ivs.on_connect = hv_guest_connected;
	ret = ctl_init(hv, &the_ctl, path);
	if (ret) {
		log_err("control socket %s: %s", path, strerror(-ret));
		return HV_EXIT_STARTUP;
	}

	be_start_all(hv);
	ret = hv_wait_backends(hv);
	if (ret) {
		log_err("back-ends did not start%s",
			ret == -EINTR ? " (interrupted)" : "");
		return hv->exit_code >= 0 ? hv->exit_code : HV_EXIT_STARTUP;
	}

	log_info("starting QEMU: %s, %u vCPU, %llu MiB, %s (%s), %u devices, %u vectors",
		 o->machine, o->cpus, (unsigned long long)(o->mem >> 20),
		 q->accel, why, hv->nr_devs, hv->nr_vectors);
	if (log_enabled(LOG_LVL_DEBUG)) {
		char *cl = qemu_cmdline(q);

		log_debug("%s", cl ? cl : "?");
		free(cl);
	}
	ret = qemu_start(hv, q);
	if (ret) {
		log_err("cannot start QEMU: %s", strerror(-ret));
		return HV_EXIT_STARTUP;
	}
	/* only our QEMU may attach to the pvkit device */
	the_ivs.expect_pid = q->pid;
	(void)lock_fd;

	while (!hv->quit) {
		ret = ev_run_once(hv, HV_TICK_MS);
		if (ret) {
			log_err("event loop: %s", strerror(-ret));
			break;
		}
		hv_tick(hv);
		if (q->exited) {
			ctl_stop_done(hv, q->stop_how ? q->stop_how : "exited");
			break;
		}
	}
	if (!q->exited && q->pid > 0) {
		kill(q->pid, SIGKILL);
		if (waitpid(q->pid, &q->status, 0) == q->pid)
			q->exited = true;
	}
	return hv_exit_code(hv, q);
}

static void hv_cleanup(struct hv *hv, int lock_fd)
{
	hv->stopping = true;
	if (hv->qemu && hv->qemu->pid > 0 && !hv->qemu->exited) {
		kill(hv->qemu->pid, SIGKILL);
		waitpid(hv->qemu->pid, NULL, 0);
	}
	be_shutdown_all(hv);
	if (hv->ctl)
		ctl_exit(hv, hv->ctl);
	if (hv->ivs)
		ivs_exit(hv, hv->ivs);
	hv_core_exit(hv);
	if (hv->qemu)
		qemu_free_argv(hv->qemu);
	if (hv->sig_fd >= 0)
		close(hv->sig_fd);
	ev_exit(hv);
	rundir_remove(hv->opt.run_base, hv->opt.name);
	if (lock_fd >= 0)
		close(lock_fd);
	/* last: nothing is left for it to do */
	janitor_stop(&hv->janitor);
}

static int hv_print_cmdline(struct hv_opts *o)
{
	struct hv *hv = &the_hv;
	struct qemu *q = &the_qemu;
	struct hv_plan plan;
	char why[128];
	char *cl;

	if (!o->name_given)
		snprintf(o->name, sizeof(o->name), "NAME");
	hv->opt = *o;
	kind_plan(o, &plan);
	hv->nr_vectors = HV_FIRST_QUEUE_VEC + plan.queues + plan.spare_queues;
	snprintf(hv->run_dir, sizeof(hv->run_dir), "%s/%s", o->run_base,
		 o->name);
	if (hv_path(q->qmp_path, sizeof(q->qmp_path), hv, "qmp.sock") ||
	    hv_path(q->ivs_path, sizeof(q->ivs_path), hv, "ivshmem.sock"))
		return HV_EXIT_STARTUP;
	q->accel = qemu_accel_resolve(o->accel, why, sizeof(why));
	if (qemu_build_argv(hv, q))
		return HV_EXIT_STARTUP;
	cl = qemu_cmdline(q);
	printf("%s\n", cl ? cl : "");
	free(cl);
	qemu_free_argv(q);
	return 0;
}

int main(int argc, char **argv)
{
	struct hv *hv = &the_hv;
	struct hv_opts o;
	int lock_fd = -1, ret;

	opts_defaults(&o);
	ret = opts_parse(&o, argc, argv);
	if (ret)
		return ret > 0 ? 0 : HV_EXIT_STARTUP;
	if (o.print_cmdline) {
		hv_struct_init(hv);
		return hv_print_cmdline(&o);
	}
	/* leftovers of VMs that died without cleaning up */
	rundir_sweep(o.run_base);
	if (hv_take_name(&o, &lock_fd))
		return HV_EXIT_STARTUP;

	hv_struct_init(hv);
	hv->opt = o;
	ret = hv_run(hv, lock_fd);
	hv_cleanup(hv, lock_fd);
	return ret;
}
