// SPDX-License-Identifier: GPL-2.0-only
/*
 * Description: pvkit-hv resets a block device whose back-end reports a
 * ring index violation (PVKIT_BE_ERROR, ABI.md 8): the real pvkit-blkback
 * is supervised by pvkit-hv's own code (backend.c, devtab.c, the event
 * loop), a fake guest connects through hypercalls and breaks a ring's
 * request index, and the device must go CONNECTED -> RESETTING ->
 * OFFERED with epoch + 1, raise the config vector, count the violation
 * (ctl "stat" JSON), serve requests again after a reconnect, pace a guest
 * that keeps violating (100 ms .. 1.6 s, no give-up, no back-end
 * restart) and rate-limit the log lines.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <sys/wait.h>

#include <pvkit/blk.h>
#include <pvkit/ring.h>
#include <pvkit-host/json.h>

#include "kselftest_harness.h"

#include "hv_be.h"
#include "../../hypervisor/include/be.h"
#include "../../hypervisor/include/ctl.h"
#include "../../hypervisor/include/kind.h"

#define IMG_SIZE	(16ULL << 20)

FIXTURE(beerr)
{
	struct hv *hv;
	struct dev *d;
	char img[64];
	char log[64];
	int saved_stderr;
	uint64_t config_irqs;	/* config vector counts read so far */
};

FIXTURE_SETUP(beerr)
{
	char bin[PATH_MAX];
	struct hv_opts o;
	char err[256];
	uint64_t end;
	int fd, ret;

	self->saved_stderr = -1;
	self->hv = NULL;
	self->img[0] = '\0';
	if (blkback_path(bin, sizeof(bin)))
		SKIP(return, "pvkit-blkback not built");
	setenv("PVKIT_BLKBACK", bin, 1);

	/* pvkit-hv's and the back-end's log, to count lines */
	snprintf(self->log, sizeof(self->log), "/tmp/hv_beerror.%d.log",
		 (int)getpid());
	fd = open(self->log, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);
	ASSERT_LE(0, fd);
	fflush(stderr);
	self->saved_stderr = dup(2);
	ASSERT_LE(0, self->saved_stderr);
	ASSERT_EQ(2, dup2(fd, 2));
	close(fd);

	ASSERT_EQ(0, hvt_make_img(self->img, sizeof(self->img), "hv_beerror",
				  IMG_SIZE));

	self->hv = calloc(1, sizeof(*self->hv));
	ASSERT_NE(NULL, self->hv);
	hvt_opts(&o, 2, false, "pc", HVT_MEM);
	ASSERT_EQ(0, kind_parse(kind_by_option("disk"), &o.devs[0], self->img,
				err, sizeof(err)));
	o.nr_devs = 1;
	hv_struct_init(self->hv);
	log_set_level(LOG_LVL_INFO);
	ASSERT_EQ(0, ev_init(self->hv));
	ASSERT_EQ(0, hv_vm_init(self->hv, &o));
	self->d = &self->hv->devs[0];
	ASSERT_EQ(PVKIT_DEV_BLK, self->d->type);
	ASSERT_EQ(2, self->d->nr_queues);
	ASSERT_EQ(0, be_start_all(self->hv));
	end = ev_now_ms() + WAIT_MS;
	while ((ret = be_all_ready(self->hv)) == 0 && ev_now_ms() < end)
		pump(self->hv, 10);
	ASSERT_EQ(1, ret);
	ASSERT_EQ(PVKIT_DEV_STATE_OFFERED, self->d->state);
	self->config_irqs = hvt_evcount(self->hv->irq_fd[HV_VEC_CONFIG]);
}

FIXTURE_TEARDOWN(beerr)
{
	hvt_be_teardown(self->hv, self->img);
	if (self->saved_stderr >= 0) {
		fflush(stderr);
		dup2(self->saved_stderr, 2);
		close(self->saved_stderr);
		/* the log holds TH_LOG()'s lines too: show it on failure */
		if (!_metadata->passed || getenv("HVT_VERBOSE")) {
			char line[1024];
			FILE *f = fopen(self->log, "r");

			while (f && fgets(line, sizeof(line), f))
				fputs(line, stderr);
			if (f)
				fclose(f);
		}
		unlink(self->log);
	}
}

/* Break queue @q's request index and make the back-end look at it. */
static void violate(struct hv *hv, struct dev *d, unsigned int q)
{
	hdr(hv, d, q)->req_prod = htole32(1000);	/* > 256 slots ahead */
	kick(hv, d, q);
}

/* "key": N of the device in the ctl "stat" reply, or -1. */
static long long stat_field(struct hv *hv, const char *key)
{
	char pat[64], *p;
	struct jbuf jb;
	long long v = -1;

	jb_init(&jb);
	ctl_stat_reply(hv, &jb);
	snprintf(pat, sizeof(pat), "\"%s\":", key);
	p = jb.buf ? strstr(jb.buf, "\"devices\"") : NULL;
	p = p ? strstr(p, pat) : NULL;
	if (p)
		v = strtoll(p + strlen(pat), NULL, 10);
	jb_free(&jb);
	return v;
}

/* Lines of the captured log containing @what. */
static int log_count(const char *path, const char *what)
{
	char line[1024];
	int n = 0;
	FILE *f;

	fflush(stderr);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		n += !!strstr(line, what);
	fclose(f);
	return n;
}

TEST_F_TIMEOUT(beerr, violation_resets, 60)
{
	struct hv *hv = self->hv;
	struct dev *d = self->d;
	uint32_t epoch = d->epoch;
	pid_t pid = d->be->pid;

	ASSERT_EQ(PVKIT_HC_OK, guest_connect(hv, d));
	ASSERT_EQ(PVKIT_DEV_STATE_CONNECTED, d->state);
	ASSERT_EQ(PVKIT_BLK_S_OK, guest_flush(hv, d, 0, 1));
	ASSERT_EQ(PVKIT_BLK_S_OK, guest_flush(hv, d, 1, 2));
	self->config_irqs += hvt_evcount(hv->irq_fd[HV_VEC_CONFIG]);
	EXPECT_EQ(0, stat_field(hv, "violations"));

	violate(hv, d, 0);
	/* first the rings stop (RESETTING), then the drain ends (OFFERED) */
	ASSERT_TRUE(wait_state(hv, d, PVKIT_DEV_STATE_RESETTING, epoch,
			       WAIT_MS))
		TH_LOG("state %s, epoch %u", dev_state_name(d->state),
		       d->epoch);
	EXPECT_EQ(PVKIT_DEV_STATE_RESETTING,
		  le32toh(((struct pvkit_dev_entry *)(hv->shm +
			   HV_DEVTAB_OFFSET))[d->slot].state));
	EXPECT_LE(1, hvt_evcount(hv->irq_fd[HV_VEC_CONFIG]));
	/* the guest can neither reconnect nor break anything meanwhile */
	EXPECT_EQ(PVKIT_HC_ESTATE, hvt_call(hv, PVKIT_HC_DEV_CONNECT, d->slot,
					    0, 0, 0));
	EXPECT_EQ(PVKIT_HC_OK, hvt_call(hv, PVKIT_HC_DEV_RESET, d->slot, 0, 0,
					0));
	ASSERT_TRUE(wait_state(hv, d, PVKIT_DEV_STATE_OFFERED, epoch + 1,
			       WAIT_MS))
		TH_LOG("state %s, epoch %u", dev_state_name(d->state),
		       d->epoch);
	EXPECT_LE(1, hvt_evcount(hv->irq_fd[HV_VEC_CONFIG]));
	EXPECT_EQ(epoch + 1,
		  le32toh(((struct pvkit_dev_entry *)(hv->shm +
			   HV_DEVTAB_OFFSET))[d->slot].epoch));
	EXPECT_EQ(1, d->violations);
	EXPECT_EQ(1, stat_field(hv, "violations"));
	EXPECT_EQ(1, stat_field(hv, "fault_resets"));
	/* a reset, not a restart: the same back-end serves on */
	EXPECT_EQ(pid, d->be->pid);
	EXPECT_EQ(0, d->be->total_restarts);

	/* the front-end reconnects on fresh rings: both queues work */
	ASSERT_EQ(PVKIT_HC_OK, guest_connect(hv, d));
	EXPECT_EQ(PVKIT_BLK_S_OK, guest_flush(hv, d, 0, 3));
	EXPECT_EQ(PVKIT_BLK_S_OK, guest_flush(hv, d, 1, 4));
	EXPECT_EQ(1, log_count(self->log, "ring protocol violation"));
}

TEST_F_TIMEOUT(beerr, violating_guest_is_paced, 90)
{
	/* OFFERED after: drain only, then 100, 200, 400, 800, 1600, 1600 ms */
	static const unsigned int min_ms[] = { 0, 100, 200, 400, 800, 1600,
					       1600 };
	const unsigned int n = sizeof(min_ms) / sizeof(min_ms[0]);
	struct hv *hv = self->hv;
	struct dev *d = self->d;
	uint32_t epoch = d->epoch;
	pid_t pid = d->be->pid;
	uint64_t start = ev_now_ms(), windows;
	unsigned int i;

	for (i = 0; i < n; i++) {
		uint64_t t0;

		ASSERT_EQ(PVKIT_HC_OK, guest_connect(hv, d));
		violate(hv, d, i % 2);
		ASSERT_TRUE(wait_state(hv, d, PVKIT_DEV_STATE_RESETTING, -1,
				       WAIT_MS));
		t0 = ev_now_ms();
		ASSERT_TRUE(wait_state(hv, d, PVKIT_DEV_STATE_OFFERED,
				       epoch + i + 1, WAIT_MS))
			TH_LOG("violation %u: state %s", i,
			       dev_state_name(d->state));
		EXPECT_LE(min_ms[i], ev_now_ms() - t0) TH_LOG("violation %u", i);
		EXPECT_GT(min_ms[i] + 1000, ev_now_ms() - t0)
			TH_LOG("violation %u", i);
	}
	EXPECT_EQ(n, d->violations);
	EXPECT_EQ(n, stat_field(hv, "violations"));
	/* never a restart, never BROKEN: the guest's disk stays usable */
	EXPECT_EQ(pid, d->be->pid);
	EXPECT_EQ(0, d->be->total_restarts);
	ASSERT_EQ(PVKIT_HC_OK, guest_connect(hv, d));
	EXPECT_EQ(PVKIT_BLK_S_OK, guest_flush(hv, d, 0, 9));

	/*
	 * Rate-limited: pvkit-hv logs 5 faults (and their transitions) per
	 * 10 s, the back-end 10 guest-triggered lines (+ its start-up line).
	 * A slow machine may have spread the test over two windows.
	 */
	windows = (ev_now_ms() - start) / DEV_FAULT_LOG_INTERVAL_MS + 1;
	EXPECT_GE(DEV_FAULT_LOG_BURST * windows,
		  log_count(self->log, "ring protocol violation"));
	EXPECT_LE(DEV_FAULT_LOG_BURST,
		  log_count(self->log, "ring protocol violation"));
	EXPECT_GE(DEV_FAULT_LOG_BURST * windows,
		  log_count(self->log, "-> resetting (fault"));
	EXPECT_GE(DEV_FAULT_LOG_BURST * windows,
		  log_count(self->log, "reset after a ring fault"));
	EXPECT_GE(10 * windows + 1,
		  log_count(self->log, "pvkit-blkback[blk0]: "));
	EXPECT_LE(1, log_count(self->log, "ring index violation: req_prod"));
}

/*
 * A guest that connects and disconnects in a loop must not flood the
 * host's log: the transitions it causes are rate-limited per device.
 */
TEST_F_TIMEOUT(beerr, connect_churn_is_rate_limited, 60)
{
	struct hv *hv = self->hv;
	struct dev *d = self->d;
	unsigned int i;

	for (i = 0; i < 50; i++) {
		ASSERT_EQ(PVKIT_HC_OK, guest_connect(hv, d)) TH_LOG("round %u", i);
		ASSERT_EQ(HC_DEFERRED, hvt_call(hv, PVKIT_HC_DEV_DISCONNECT,
						d->slot, 0, 0, 0));
		ASSERT_TRUE(wait_state(hv, d, PVKIT_DEV_STATE_OFFERED, -1,
				       WAIT_MS));
	}
	EXPECT_GE(DEV_GUEST_LOG_BURST, log_count(self->log, "(connect)"));
	EXPECT_LE(1, log_count(self->log, "(connect)"));
	/* the next line allowed says how many were left out */
	hv->devs[d->slot].guest_rl.begin_ms -= 2 * DEV_GUEST_LOG_INTERVAL_MS;
	ASSERT_EQ(PVKIT_HC_OK, guest_connect(hv, d));
	EXPECT_EQ(1, log_count(self->log, "lines suppressed"));
}

/* Kill the back-end @n times, each time once its successor is READY. */
static void kill_n(struct __test_metadata *_metadata, struct hv *hv,
		   struct dev *d, unsigned int n, bool expect_broken)
{
	unsigned int i;

	for (i = 0; i < n; i++) {
		ASSERT_EQ(PVKIT_DEV_STATE_OFFERED, d->state) TH_LOG("kill %u", i);
		ASSERT_EQ(0, kill(d->be->pid, SIGKILL));
		/* died: restarted after the backoff, or given up */
		while (d->be->state == BE_READY)
			pump(hv, 10);
		if (expect_broken && i == n - 1)
			break;
		ASSERT_TRUE(wait_state(hv, d, PVKIT_DEV_STATE_OFFERED, -1,
				       3 * BE_RESTART_MAX_MS)) TH_LOG("kill %u", i);
		while (d->be->state != BE_READY)
			pump(hv, 10);
	}
}

/*
 * Losing a disk the guest uses is the worst outcome: by default a
 * back-end that keeps dying is restarted for ever with a capped backoff
 * (the guest's I/O waits, like multipath's queue_if_no_path) ...
 */
TEST_F_TIMEOUT(beerr, restarts_never_give_up_by_default, 90)
{
	struct dev *d = self->d;

	kill_n(_metadata, self->hv, d, BE_MAX_RESTARTS + 2, false);
	EXPECT_EQ(PVKIT_DEV_STATE_OFFERED, d->state);
	EXPECT_EQ(BE_MAX_RESTARTS + 2, d->be->total_restarts);
	EXPECT_EQ(1, stat_field(self->hv, "attempts") >= 1);
}

/* ... and fail-fast is a per-disk choice: restarts=N. */
TEST_F_TIMEOUT(beerr, restarts_limit_when_asked, 60)
{
	struct dev *d = self->d;

	d->be->opt.max_restarts = 2;
	kill_n(_metadata, self->hv, d, 3, true);
	EXPECT_TRUE(wait_state(self->hv, d, PVKIT_DEV_STATE_BROKEN, -1, WAIT_MS));
	EXPECT_EQ(BE_GAVE_UP, d->be->state);
}

/*
 * A killed back-end's successor starts only once the old process is
 * reaped: until then its io_uring may still complete writes, and a
 * request the guest resubmits to the successor must not be overtaken.
 */
TEST_F_TIMEOUT(beerr, restart_waits_for_the_reap, 30)
{
	struct hv *hv = self->hv;
	struct dev *d = self->d;
	pid_t old = d->be->pid;
	uint64_t end;
	int status;

	ASSERT_EQ(PVKIT_HC_OK, guest_connect(hv, d));
	ASSERT_EQ(0, kill(old, SIGKILL));
	/* the loop without reaping: socket EOF, restart delay passes */
	end = ev_now_ms() + 1000;
	while (ev_now_ms() < end) {
		ev_run_once(hv, 10);
		be_tick(hv, ev_now_ms());
		dev_tick(hv, ev_now_ms());
	}
	EXPECT_EQ(BE_WAITING, d->be->state);
	EXPECT_EQ(old, d->be->pid);
	EXPECT_EQ(0, d->be->total_restarts);
	/* reaped: now the successor starts and the device comes back */
	ASSERT_EQ(old, waitpid(old, &status, 0));
	EXPECT_TRUE(be_reaped(hv, old, status));
	EXPECT_TRUE(wait_state(hv, d, PVKIT_DEV_STATE_OFFERED, -1, WAIT_MS));
	EXPECT_EQ(1, d->be->total_restarts);
	EXPECT_NE(old, d->be->pid);
	EXPECT_EQ(PVKIT_HC_OK, guest_connect(hv, d));
	EXPECT_EQ(0, guest_flush(hv, d, 0, 1));
}

TEST_HARNESS_MAIN
