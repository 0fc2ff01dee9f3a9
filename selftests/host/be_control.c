// SPDX-License-Identifier: GPL-2.0-only
/*
 * Description: every back-end against a broken hypervisor: each malformed
 * SETUP (header, device type, queue count, fds, ring geometry and
 * placement, memory map, shared region, args) and each malformed or
 * out-of-order control message after a good SETUP ends the process with
 * PVKIT_BE_ERROR and exit status 1.  One fixture variant per back-end
 * (struct fe_kind in blkback_fe.c); a new back-end adds a variant.
 *
 * Run the asan variant to have the back-ends built with ASan/UBSan.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <pvkit-host/fdpass.h>

#include "kselftest_harness.h"
#include "blkback_fe.h"
#include "netback_fe.h"

#define SHM_DIR		"/dev/shm"

FIXTURE(be) {
	struct fe fe;
};

FIXTURE_VARIANT(be) {
	const struct fe_kind *kind;
};

FIXTURE_VARIANT_ADD(be, blk) {
	.kind = &fe_blk_kind,
};

FIXTURE_VARIANT_ADD(be, net) {
	.kind = &fe_net_kind,
};

FIXTURE_SETUP(be)
{
	memset(&self->fe, 0, sizeof(self->fe));
}

FIXTURE_TEARDOWN(be)
{
	fe_destroy(&self->fe);
}

/*
 * A fresh back-end of @kind, spawned, with what a valid SETUP needs
 * created and its args in @args; false if skipped (not built).
 */
static bool be_spawn(struct __test_metadata *_metadata, struct fe *fe,
		     const struct fe_kind *kind, unsigned int nq, char *args,
		     size_t len)
{
	int ret;

	fe->kind = kind;
	ASSERT_EQ(0, fe_init(fe, nq, 16));
	ret = kind->setup_args(fe, SHM_DIR, args, len);
	if (ret == -EPERM || ret == -EACCES) {
		fe_destroy(fe);
		SKIP(return false, "%s: %s (a network namespace and TAP need CAP_NET_ADMIN)",
		     kind->prog, strerror(-ret));
	}
	ASSERT_EQ(0, ret);
	ret = fe_spawn(fe);
	if (ret == -ENOENT) {
		fe_destroy(fe);
		SKIP(return false, "%s not built", kind->prog);
	}
	ASSERT_EQ(0, ret);
	return true;
}

static void expect_error_exit(struct __test_metadata *_metadata,
			      struct fe *fe, const char *what)
{
	int ret, status;

	ret = fe_expect(fe, 0, NULL, 0, 5000);
	EXPECT_EQ(1, ret) TH_LOG("%s: no ERROR (%d)", what, ret);
	if (ret == 1)
		TH_LOG("%s -> %s", what, fe->err_msg);
	status = fe_wait_exit(fe, 5000);
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1)
		TH_LOG("%s: wait status 0x%x", what, status);
}

/* ------------------------------------------------------ bad SETUPs --- */

enum mut {
	M_MAGIC, M_VERSION, M_SHORT, M_DEVTYPE, M_NOQUEUES, M_17QUEUES,
	M_FEWER_FDS, M_RING_OUTSIDE, M_RING_UNALIGNED, M_SLOTS, M_REQSIZE,
	M_OVERLAP, M_MEM_BEYOND, M_MEM_OVERLAP, M_MEM_NONE, M_SHM_BIG,
	M_ARGS_NONUL, M_BAD_ARGS,
};

static const struct {
	const char *name;
	enum mut m;
} setup_muts[] = {
	{ "bad magic", M_MAGIC },
	{ "bad version", M_VERSION },
	{ "truncated", M_SHORT },
	{ "another device type", M_DEVTYPE },
	{ "0 queues", M_NOQUEUES },
	{ "17 queues", M_17QUEUES },
	{ "one fd missing", M_FEWER_FDS },
	{ "ring outside the shared region", M_RING_OUTSIDE },
	{ "ring unaligned", M_RING_UNALIGNED },
	{ "3 slots", M_SLOTS },
	{ "wrong req_size", M_REQSIZE },
	{ "rings overlap", M_OVERLAP },
	{ "memory range beyond the RAM file", M_MEM_BEYOND },
	{ "memory ranges overlap in the file", M_MEM_OVERLAP },
	{ "no memory ranges", M_MEM_NONE },
	{ "shm_size beyond the file", M_SHM_BIG },
	{ "args without NUL", M_ARGS_NONUL },
	{ "bad args", M_BAD_ARGS },
};

static void mutate(const struct fe_kind *kind, struct pvkit_be_setup *s,
		   enum mut m, size_t *len, unsigned int *nfds)
{
	switch (m) {
	case M_MAGIC:
		s->hdr.magic ^= 1;
		break;
	case M_VERSION:
		s->hdr.version = 99;
		break;
	case M_SHORT:
		*len -= 8;
		s->hdr.len = *len;
		break;
	case M_DEVTYPE:
		s->dev_type = kind->other_type;
		break;
	case M_NOQUEUES:
		s->nr_queues = 0;
		*nfds = 2;
		break;
	case M_17QUEUES:
		s->nr_queues = 17;
		break;
	case M_FEWER_FDS:
		(*nfds)--;
		break;
	case M_RING_OUTSIDE:
		s->queues[1].ring_offset = FE_SHM_SIZE - 1024;
		break;
	case M_RING_UNALIGNED:
		s->queues[0].ring_offset += 4;
		break;
	case M_SLOTS:
		s->queues[0].ring_slots = 3;
		break;
	case M_REQSIZE:
		/* a valid ring geometry, but not this device's slot size */
		s->queues[1].req_size = s->queues[1].req_size == 64 ? 128 : 64;
		break;
	case M_OVERLAP:
		s->queues[1].ring_offset = s->queues[0].ring_offset + 256;
		break;
	case M_MEM_BEYOND:
		s->mem[1].size = htole64(FE_HI_SIZE + 4096);
		break;
	case M_MEM_OVERLAP:
		s->mem[1].file_offset = htole64(4096);
		break;
	case M_MEM_NONE:
		s->nr_mem_ranges = 0;
		break;
	case M_SHM_BIG:
		s->shm_size = FE_SHM_SIZE * 2;
		break;
	case M_ARGS_NONUL:
		memset(s->args, 'a', sizeof(s->args));
		break;
	case M_BAD_ARGS:
		snprintf(s->args, sizeof(s->args), "%s", kind->bad_args);
		break;
	}
}

TEST_F_TIMEOUT(be, bad_setup, 60)
{
	static struct pvkit_be_setup s;
	int fds[2 + 2 * PVKIT_MAX_QUEUES];
	char args[PATH_MAX + 8];
	unsigned int i, nfds;
	size_t len;

	for (i = 0; i < ARRAY_SIZE(setup_muts); i++) {
		if (!be_spawn(_metadata, &self->fe, variant->kind,
			      variant->kind->nr_queues ?: 2, args,
			      sizeof(args)))
			return;
		fe_setup_msg(&self->fe, args, &s, fds, &nfds);
		len = sizeof(s);
		mutate(variant->kind, &s, setup_muts[i].m, &len, &nfds);
		ASSERT_EQ(0, fdpass_send(self->fe.sock, &s, len, fds, nfds));
		expect_error_exit(_metadata, &self->fe, setup_muts[i].name);
		fe_destroy(&self->fe);
	}
}

/* ---------------------------------- bad messages after a good SETUP --- */

enum ctl_case {
	C_CONNECT_FIRST,	/* CONNECT before SETUP */
	C_ACK_UNOFFERED,	/* acks a feature that was not offered */
	C_TYPE_99,		/* unknown type */
	C_FD_WITH_STATS,	/* STATS with a descriptor attached */
	C_CONNECT_TWICE,
	C_LEN_LIES,		/* header length != message length */
	C_NR_CASES,
};

TEST_F_TIMEOUT(be, bad_control, 60)
{
	const struct fe_kind *kind = variant->kind;
	struct fe *fe = &self->fe;
	struct pvkit_be_connect c;
	char args[PATH_MAX + 8];
	struct pvkit_be_hdr h;
	unsigned int i;
	int fd;

	for (i = 0; i < C_NR_CASES; i++) {
		if (!be_spawn(_metadata, fe, kind, kind->nr_queues ?: 1, args,
			      sizeof(args)))
			return;
		if (i == C_CONNECT_FIRST) {
			memset(&c, 0, sizeof(c));
			ASSERT_EQ(0, fe_send(fe, &c, PVKIT_BE_CONNECT,
					     sizeof(c)));
			expect_error_exit(_metadata, fe, "CONNECT first");
			fe_destroy(fe);
			continue;
		}
		ASSERT_EQ(0, fe_setup(fe, args));
		switch (i) {
		case C_ACK_UNOFFERED:
			ASSERT_EQ(0, fe->features & kind->unoffered);
			memset(&c, 0, sizeof(c));
			c.acked_features = kind->unoffered;
			ASSERT_EQ(0, fe_send(fe, &c, PVKIT_BE_CONNECT,
					     sizeof(c)));
			expect_error_exit(_metadata, fe, "ack not offered");
			break;
		case C_TYPE_99:
			ASSERT_EQ(0, fe_send(fe, &h, 99, sizeof(h)));
			expect_error_exit(_metadata, fe, "type 99");
			break;
		case C_FD_WITH_STATS:
			fd = eventfd(0, EFD_CLOEXEC);
			pvbe_hdr_init(&h, PVKIT_BE_STATS, PVBE_TO_BE);
			ASSERT_EQ(0, fdpass_send(fe->sock, &h, sizeof(h), &fd, 1));
			close(fd);
			expect_error_exit(_metadata, fe, "fd with STATS");
			break;
		case C_CONNECT_TWICE:
			ASSERT_EQ(0, fe_connect(fe, fe->features));
			memset(&c, 0, sizeof(c));
			ASSERT_EQ(0, fe_send(fe, &c, PVKIT_BE_CONNECT,
					     sizeof(c)));
			expect_error_exit(_metadata, fe, "second CONNECT");
			break;
		case C_LEN_LIES:
			pvbe_hdr_init(&h, PVKIT_BE_STATS, PVBE_TO_BE);
			h.len = 4096;
			ASSERT_EQ(0, fdpass_send(fe->sock, &h, sizeof(h), NULL,
						 0));
			expect_error_exit(_metadata, fe, "len lies");
			break;
		}
		fe_destroy(fe);
	}
}

TEST_HARNESS_MAIN
