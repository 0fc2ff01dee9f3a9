/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The ivshmem-doorbell server side (QEMU docs/specs/ivshmem-spec.rst),
 * served by pvkit-hv on BASE/NAME/ivshmem.sock.  pvkit-hv is peer 0,
 * the guest peer 1.  One client at a time.
 */
#ifndef PVKIT_HV_IVSHMEM_H
#define PVKIT_HV_IVSHMEM_H

#include <stdint.h>
#include <sys/types.h>

#include "ev.h"

#define IVS_PROTOCOL_VERSION	0

struct ivs {
	char path[108];
	int listen_fd;
	struct ev_src lsrc;
	int client_fd;
	struct ev_src csrc;
	pid_t expect_pid;	/* accept only this peer pid; 0: anyone */
	uint64_t connects;	/* handshakes completed */
	uint64_t rejected;	/* connections refused */
	uint64_t errors;	/* handshake failures, unexpected input */
	void (*on_connect)(struct hv *hv);
	void (*on_disconnect)(struct hv *hv);
};

/* Listen on @path.  0 or -errno. */
int ivs_init(struct hv *hv, struct ivs *ivs, const char *path);
void ivs_exit(struct hv *hv, struct ivs *ivs);

#endif /* PVKIT_HV_IVSHMEM_H */
