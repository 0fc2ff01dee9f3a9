// SPDX-License-Identifier: GPL-2.0-only
/*
 * Description: pvkit-hv's ivshmem-doorbell server against clients that
 * behave (full handshake checked message by message: version 0, peer id
 * 1, the shared region, the hv's doorbell eventfds as peer 0, the guest's
 * vector eventfds) and clients that do not: a second client, clients
 * that hang up mid-handshake, send garbage or truncated data, or are not
 * the expected QEMU.  The server must stay up and keep serving.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <pvkit-host/fdpass.h>

#include "kselftest_harness.h"

#include "hv_common.h"
#include "../../hypervisor/include/ivshmem.h"

FIXTURE(ivs)
{
	struct hv *hv;
	struct ivs ivs;
	char dir[64];
	char path[108];
};

FIXTURE_SETUP(ivs)
{
	self->hv = calloc(1, sizeof(*self->hv));
	ASSERT_NE(NULL, self->hv);
	ASSERT_EQ(0, hvt_init(self->hv, 2, true, true));
	strcpy(self->dir, "/tmp/hv_ivshmem.XXXXXX");
	ASSERT_NE(NULL, mkdtemp(self->dir));
	snprintf(self->path, sizeof(self->path), "%s/ivshmem.sock", self->dir);
	ASSERT_EQ(0, ivs_init(self->hv, &self->ivs, self->path));
	/* this test process plays QEMU */
	self->ivs.expect_pid = getpid();
}

FIXTURE_TEARDOWN(ivs)
{
	ivs_exit(self->hv, &self->ivs);
	hvt_exit(self->hv);
	free(self->hv);
	rmdir(self->dir);
}

/* One int64 message and its descriptor (-1 if none). */
static int recv_msg(int fd, int64_t *val, int *evfd)
{
	unsigned int nfds;
	int fds[4];
	ssize_t n;

	n = fdpass_recv(fd, val, sizeof(*val), fds, 4, &nfds);
	if (n != sizeof(*val))
		return -1;
	*evfd = nfds ? fds[0] : -1;
	return nfds > 1 ? -1 : 0;
}

/* A well-behaved client; returns the socket after the whole handshake. */
static int handshake(struct __test_metadata *_metadata, struct hv *hv,
		     const char *path)
{
	int fd = unix_connect(path), evfd, i;
	struct stat st;
	int64_t v;

	ASSERT_LE(0, fd);
	hvt_pump(hv, 20);
	ASSERT_EQ(0, recv_msg(fd, &v, &evfd));
	EXPECT_EQ(0, v);
	EXPECT_EQ(-1, evfd);
	ASSERT_EQ(0, recv_msg(fd, &v, &evfd));
	EXPECT_EQ(1, v);
	EXPECT_EQ(-1, evfd);
	ASSERT_EQ(0, recv_msg(fd, &v, &evfd));
	EXPECT_EQ(-1, v);
	ASSERT_LE(0, evfd);
	ASSERT_EQ(0, fstat(evfd, &st));
	EXPECT_EQ((off_t)hv->shm_size, st.st_size);
	close(evfd);
	for (i = 0; i < (int)hv->nr_kicks; i++) {
		uint64_t one = 1;

		ASSERT_EQ(0, recv_msg(fd, &v, &evfd));
		EXPECT_EQ(0, v);
		ASSERT_LE(0, evfd);
		/* QEMU's doorbell write: our kick eventfd i fires */
		ASSERT_EQ(8, write(evfd, &one, 8));
		EXPECT_EQ(1, hvt_evcount(hv->kick_fd[i])) TH_LOG("kick %d", i);
		close(evfd);
	}
	for (i = 0; i < (int)hv->nr_vectors; i++) {
		ASSERT_EQ(0, recv_msg(fd, &v, &evfd));
		EXPECT_EQ(1, v);
		ASSERT_LE(0, evfd);
		/* our raise lands on the guest's vector eventfd i */
		hvt_evcount(evfd);	/* the config irq raised at setup */
		hv_raise(hv, i);
		EXPECT_EQ(1, hvt_evcount(evfd)) TH_LOG("vector %d", i);
		close(evfd);
	}
	return fd;
}

TEST_F(ivs, handshake)
{
	int fd = handshake(_metadata, self->hv, self->path);

	EXPECT_EQ(1, self->ivs.connects);
	close(fd);
	hvt_pump(self->hv, 20);
	EXPECT_EQ(-1, self->ivs.client_fd);
	/* and a new client is served again */
	fd = handshake(_metadata, self->hv, self->path);
	EXPECT_EQ(2, self->ivs.connects);
	close(fd);
}

TEST_F(ivs, second_client_refused)
{
	int fd = handshake(_metadata, self->hv, self->path);
	int fd2 = unix_connect(self->path);
	char c;

	ASSERT_LE(0, fd2);
	hvt_pump(self->hv, 20);
	/* refused: closed without a word */
	EXPECT_EQ(0, read(fd2, &c, 1));
	EXPECT_EQ(1, self->ivs.rejected);
	close(fd2);
	/* the first one still works: garbage from it is ignored */
	EXPECT_EQ(5, write(fd, "hello", 5));
	hvt_pump(self->hv, 20);
	EXPECT_EQ(fd >= 0, self->ivs.client_fd >= 0);
	EXPECT_EQ(1, self->ivs.errors);
	close(fd);
}

TEST_F(ivs, hangup_mid_handshake)
{
	unsigned int i;
	int fd;

	for (i = 0; i < 20; i++) {
		int64_t v;
		int evfd = -1;

		fd = unix_connect(self->path);
		ASSERT_LE(0, fd);
		/* close before, during and after the server's sends */
		if (i % 3 == 1)
			hvt_pump(self->hv, 20);
		if (i % 3 == 2) {
			hvt_pump(self->hv, 20);
			recv_msg(fd, &v, &evfd);
			if (evfd >= 0)
				close(evfd);
		}
		close(fd);
		hvt_pump(self->hv, 20);
	}
	fd = handshake(_metadata, self->hv, self->path);
	close(fd);
}

TEST_F(ivs, garbage_and_truncated_input)
{
	static const uint8_t junk[][9] = {
		{ 0xff }, { 1, 2, 3 }, { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff },
		{ 0, 0, 0, 0, 0, 0, 0, 0x80, 0x55 },
	};
	unsigned int i;
	int fd = handshake(_metadata, self->hv, self->path);

	for (i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
		ASSERT_EQ((ssize_t)sizeof(junk[i]), write(fd, junk[i], sizeof(junk[i])));
		hvt_pump(self->hv, 20);
	}
	/* a descriptor sent our way is not ours to keep */
	{
		int64_t bad_peer = 0x7fff;
		int efd = self->hv->kick_fd[0];

		ASSERT_EQ(0, fdpass_send(fd, &bad_peer, sizeof(bad_peer), &efd, 1));
		hvt_pump(self->hv, 20);
	}
	EXPECT_LE(0, self->ivs.client_fd);
	close(fd);
	hvt_pump(self->hv, 20);
	EXPECT_EQ(-1, self->ivs.client_fd);
	fd = handshake(_metadata, self->hv, self->path);
	close(fd);
}

TEST_F(ivs, only_expected_pid)
{
	char c;
	int fd;

	self->ivs.expect_pid = getpid() + 100000;	/* not us */
	fd = unix_connect(self->path);
	ASSERT_LE(0, fd);
	hvt_pump(self->hv, 20);
	EXPECT_EQ(0, read(fd, &c, 1));
	EXPECT_EQ(1, self->ivs.rejected);
	close(fd);
	self->ivs.expect_pid = getpid();
	fd = handshake(_metadata, self->hv, self->path);
	close(fd);
}

/*
 * Before QEMU runs nobody may attach: the first client would get the
 * shared region and every eventfd and could act as the guest.
 */
TEST_F(ivs, nobody_before_qemu)
{
	char c;
	int fd;

	self->ivs.expect_pid = 0;
	fd = unix_connect(self->path);
	ASSERT_LE(0, fd);
	hvt_pump(self->hv, 20);
	EXPECT_EQ(0, read(fd, &c, 1));
	EXPECT_EQ(1, self->ivs.rejected);
	EXPECT_EQ(-1, self->ivs.client_fd);
	close(fd);
}

TEST_F(ivs, doorbell_runs_hypercalls)
{
	struct pvkit_mailbox *mb = hvt_mbox(self->hv, 1);
	int fd = handshake(_metadata, self->hv, self->path);
	uint64_t one = 1;

	mb->nr = htole32(PVKIT_HC_GET_VERSION);
	mb->call_seq = htole32(1);
	/* the guest rings (hv_peer_id << 16 | kick_hypercall) */
	ASSERT_EQ(8, write(self->hv->kick_fd[HV_KICK_HYPERCALL], &one, 8));
	hvt_pump(self->hv, 20);
	EXPECT_EQ(1, le32toh(mb->done_seq));
	EXPECT_EQ(((int64_t)PVKIT_ABI_MAJOR << 16 | PVKIT_ABI_MINOR), (int64_t)le64toh(mb->ret));
	EXPECT_EQ(1, self->hv->hc_kicks);
	close(fd);
}

TEST_HARNESS_MAIN
