// SPDX-License-Identifier: GPL-2.0-only
/*
 * ivshmem-doorbell server.
 *
 * On connect the server sends int64 messages (host byte order, which is
 * what QEMU reads), each in its own sendmsg so a descriptor travels with
 * exactly one message:
 *   IVS_PROTOCOL_VERSION              no fd
 *   the client's peer id (1)          no fd
 *   -1                                shared region fd
 *   0 (pvkit-hv) x nr_kicks           one doorbell eventfd each
 *   1 (guest) x nr_vectors            one interrupt eventfd each
 * QEMU then signals our eventfd c when the guest writes (0 << 16 | c) to
 * DOORBELL, and injects MSI-X vector v when we write its eventfd v.  The
 * client never sends anything; input from it is drained and ignored.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <pvkit-host/fdpass.h>
#include <pvkit-host/log.h>

#include "include/hv.h"
#include "include/ivshmem.h"

static int ivs_send(int fd, int64_t val, int evfd)
{
	return fdpass_send(fd, &val, sizeof(val), evfd >= 0 ? &evfd : NULL,
			   evfd >= 0 ? 1 : 0);
}

static int ivs_handshake(struct hv *hv, int fd)
{
	unsigned int i;
	int ret;

	ret = ivs_send(fd, IVS_PROTOCOL_VERSION, -1);
	if (!ret)
		ret = ivs_send(fd, HV_GUEST_PEER_ID, -1);
	if (!ret)
		ret = ivs_send(fd, -1, hv->shm_fd);
	for (i = 0; !ret && i < hv->nr_kicks; i++)
		ret = ivs_send(fd, HV_PEER_ID, hv->kick_fd[i]);
	for (i = 0; !ret && i < hv->nr_vectors; i++)
		ret = ivs_send(fd, HV_GUEST_PEER_ID, hv->irq_fd[i]);
	return ret;
}

static void ivs_drop_client(struct hv *hv, struct ivs *ivs, const char *why)
{
	if (ivs->client_fd < 0)
		return;
	ev_del(hv, &ivs->csrc);
	close(ivs->client_fd);
	ivs->client_fd = -1;
	log_debug("ivshmem client disconnected (%s)", why);
	if (ivs->on_disconnect)
		ivs->on_disconnect(hv);
}

static void ivs_client_event(struct hv *hv, struct ev_src *src,
			     uint32_t events)
{
	struct ivs *ivs = src->arg;
	char buf[4096];
	ssize_t n;

	if (events & EPOLLIN) {
		n = recv(ivs->client_fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n > 0) {
			/* QEMU never talks back: count and ignore */
			if (!ivs->errors++)
				log_warn("ivshmem client sent %zd unexpected bytes; ignored",
					 n);
			return;
		}
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			return;
		ivs_drop_client(hv, ivs, n ? strerror(errno) : "EOF");
		return;
	}
	if (events & (EPOLLHUP | EPOLLERR))
		ivs_drop_client(hv, ivs, "hang-up");
}

static void ivs_accept(struct hv *hv, struct ev_src *src, uint32_t events)
{
	struct ivs *ivs = src->arg;
	struct ucred cred;
	socklen_t clen = sizeof(cred);
	struct timeval tmo = { .tv_sec = 2 };
	int fd, ret;

	(void)events;
	fd = accept4(ivs->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return;
	if (ivs->client_fd >= 0) {
		ivs->rejected++;
		log_warn("ivshmem: second client refused (one VM per server)");
		close(fd);
		return;
	}
	/*
	 * Only our QEMU, and nobody before it runs: the pid is set right
	 * after fork(), before this loop can see QEMU's connect.
	 */
	if (!ivs->expect_pid ||
	    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) ||
	    cred.pid != ivs->expect_pid) {
		ivs->rejected++;
		if (ivs->expect_pid)
			log_warn("ivshmem: client pid %d is not our QEMU (%d); refused",
				 (int)cred.pid, (int)ivs->expect_pid);
		else
			log_warn("ivshmem: client refused: QEMU is not running yet");
		close(fd);
		return;
	}
	/*
	 * Blocking sends with a timeout: a few hundred descriptor messages
	 * may exceed the socket buffer before QEMU reads them, and a client
	 * that never reads must not stall the loop for long.
	 */
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tmo, sizeof(tmo));
	ret = ivs_handshake(hv, fd);
	if (!ret && fcntl(fd, F_SETFL, O_NONBLOCK) < 0)
		ret = -errno;
	if (ret) {
		ivs->errors++;
		log_warn("ivshmem: handshake failed: %s", strerror(-ret));
		close(fd);
		return;
	}
	ret = ev_add(hv, &ivs->csrc, fd, EPOLLIN, ivs_client_event, ivs);
	if (ret) {
		close(fd);
		return;
	}
	ivs->client_fd = fd;
	ivs->connects++;
	log_debug("ivshmem: client connected, %u doorbells, %u vectors",
		  hv->nr_kicks, hv->nr_vectors);
	if (ivs->on_connect)
		ivs->on_connect(hv);
}

int ivs_init(struct hv *hv, struct ivs *ivs, const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int ret;

	memset(ivs, 0, sizeof(*ivs));
	ivs->listen_fd = -1;
	ivs->client_fd = -1;
	if (strlen(path) >= sizeof(sun.sun_path))
		return -ENAMETOOLONG;
	strcpy(sun.sun_path, path);
	strcpy(ivs->path, path);
	ivs->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC |
				SOCK_NONBLOCK, 0);
	if (ivs->listen_fd < 0)
		return -errno;
	unlink(path);
	if (bind(ivs->listen_fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
	    listen(ivs->listen_fd, 4) < 0) {
		ret = -errno;
		close(ivs->listen_fd);
		ivs->listen_fd = -1;
		return ret;
	}
	return ev_add(hv, &ivs->lsrc, ivs->listen_fd, EPOLLIN, ivs_accept, ivs);
}

void ivs_exit(struct hv *hv, struct ivs *ivs)
{
	if (ivs->client_fd >= 0) {
		ev_del(hv, &ivs->csrc);
		close(ivs->client_fd);
		ivs->client_fd = -1;
	}
	if (ivs->listen_fd >= 0) {
		ev_del(hv, &ivs->lsrc);
		close(ivs->listen_fd);
		ivs->listen_fd = -1;
		unlink(ivs->path);
	}
}
