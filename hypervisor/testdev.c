// SPDX-License-Identifier: GPL-2.0-only
/*
 * The built-in test device (PVKIT_DEV_TEST, instance 0): one ring whose
 * requests are answered inside pvkit-hv with the same id and
 * value ^ PVKIT_TEST_XOR.  Exercises rings, kicks and vectors end to end
 * without any back-end process.
 */
#include <endian.h>
#include <errno.h>
#include <string.h>

#include "include/dev.h"
#include "include/hv.h"

static int tdev_req(struct hv *hv, struct dev *d, unsigned int qi,
		    const void *req, void *rsp, char *why, size_t whylen)
{
	struct pvkit_test_msg msg;

	(void)hv;
	(void)d;
	(void)qi;
	(void)why;
	(void)whylen;
	memcpy(&msg, req, sizeof(msg));
	msg.value = htole64(le64toh(msg.value) ^ PVKIT_TEST_XOR);
	memcpy(rsp, &msg, sizeof(msg));
	return 0;
}

void tdev_process(struct hv *hv, struct dev *d)
{
	hvq_serve(hv, d, 0, tdev_req);
}

static void tdev_kick(struct hv *hv, struct ev_src *src, uint32_t events)
{
	struct dev *d = src->arg;

	(void)events;
	if (hvq_kicked(d, src) == 0)
		tdev_process(hv, d);
}

static int tdev_connect(struct hv *hv, struct dev *d)
{
	return hvq_attach(hv, d, 0);
}

static int tdev_disconnect(struct hv *hv, struct dev *d)
{
	(void)hv;
	(void)d;
	return 0;	/* nothing in flight: every request is answered at once */
}

const struct dev_ops tdev_ops = {
	.name = "test",
	.connect = tdev_connect,
	.disconnect = tdev_disconnect,
};

int tdev_create(struct hv *hv)
{
	struct dev *d;
	int ret;

	d = dev_create(hv, PVKIT_DEV_TEST, 0, 1, HV_TEST_SLOTS,
		       HV_TEST_MSG_SIZE, HV_TEST_MSG_SIZE, &tdev_ops);
	if (!d)
		return -errno;
	ret = hvq_watch(hv, d, 0, tdev_kick);
	if (ret)
		return ret;
	d->state = PVKIT_DEV_STATE_OFFERED;	/* published by the caller */
	return 0;
}
