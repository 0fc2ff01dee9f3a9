// SPDX-License-Identifier: GPL-2.0-only
/*
 * Description: pvkit-hv command-line values: sizes (--mem), disk specs
 * (--disk) and VM names are parsed exactly or refused, never guessed.
 */
#include <endian.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <pvkit/net.h>

#include "kselftest_harness.h"
#include "../../hypervisor/include/kind.h"
#include "../../hypervisor/include/opts.h"
#include "../../hypervisor/include/hv.h"
#include "../../hypervisor/include/qemu.h"

static const struct {
	const char *in;
	int ret;
	uint64_t out;
} sizes[] = {
	{ "1024", 0, 1024ULL << 20 },	/* plain number: MiB, like -m */
	{ "1G", 0, 1ULL << 30 },
	{ "2g", 0, 2ULL << 30 },
	{ "512M", 0, 512ULL << 20 },
	{ "4096m", 0, 4096ULL << 20 },
	{ "64k", 0, 64ULL << 10 },
	{ "1T", 0, 1ULL << 40 },
	{ "3GB", 0, 3ULL << 30 },
	{ "123B", 0, 123 },
	{ "", -EINVAL, 0 },
	{ "-1G", -EINVAL, 0 },
	{ "+1G", -EINVAL, 0 },
	{ "G", -EINVAL, 0 },
	{ "1X", -EINVAL, 0 },
	{ "1GG", -EINVAL, 0 },
	{ "1 G", -EINVAL, 0 },
	{ "99999999999999999999", -EINVAL, 0 },
	{ "17179869184T", -ERANGE, 0 },
};

TEST(size_table)
{
	unsigned int i;

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint64_t out = 0;
		int ret = opts_parse_size(sizes[i].in, &out);

		EXPECT_EQ(sizes[i].ret, ret)
			TH_LOG("'%s'", sizes[i].in);
		if (!ret && !sizes[i].ret)
			EXPECT_EQ(sizes[i].out, out)
				TH_LOG("'%s'", sizes[i].in);
	}
}

/* @good specs parse, each of @bad is refused with a reason. */
static void check_specs(struct __test_metadata *_metadata,
			const struct hv_kind *k, const char *const *good,
			unsigned int ngood, const char *const *bad,
			unsigned int nbad)
{
	struct hv_dev_opt d;
	char err[256];
	unsigned int i;

	for (i = 0; i < ngood; i++)
		EXPECT_EQ(0, kind_parse(k, &d, good[i], err, sizeof(err)))
			TH_LOG("%s: %s", good[i], err);
	for (i = 0; i < nbad; i++) {
		err[0] = '\0';
		EXPECT_NE(0, kind_parse(k, &d, bad[i], err, sizeof(err)))
			TH_LOG("%s", bad[i]);
		/* every refusal says why */
		EXPECT_NE('\0', err[0]) TH_LOG("%s", bad[i]);
	}
}

TEST(disk_specs)
{
	static const char *const good[] = {
		"/dev/null", "/dev/null,ro", "/dev/null,queues=2",
		"/dev/null,ro,queues=1,poll=50", "/dev/null,restarts=3",
	};
	static const char *const bad[] = {
		"", ",ro", "/tmp/a.img,queues=0", "/tmp/a.img,queues=x",
		"/tmp/a.img,poll=-1", "/tmp/a.img,bogus", "/tmp/a.img,,ro",
		"/tmp/a.img,", "/nonexistent/pvkit.img",
	};
	const struct hv_kind *k = kind_by_option("disk");
	struct hv_dev_opt d;
	char err[256];

	ASSERT_NE(NULL, k);
	check_specs(_metadata, k, good, ARRAY_SIZE(good), bad, ARRAY_SIZE(bad));
	/* the back-end gets its own syntax */
	ASSERT_EQ(0, kind_parse(k, &d, "/dev/null,ro,queues=1,poll=50", err,
				sizeof(err)));
	EXPECT_STREQ("path=/dev/null,ro,poll=50", d.args);
	EXPECT_EQ(1, d.queues);
	EXPECT_TRUE(d.ro);
}

/* --net: syntax, the back-end's args, 2 x pairs + 1 queues, ack rules. */
TEST(net_specs)
{
	static const char *const good[] = {
		"tap=t0", "tap=t0,queues=8", "tap=t0,poll=50,mtu=9000",
		"tap=t0,mac=02:00:00:00:00:01", "tap=t0,restarts=2",
		"xdp=veth0", "xdp=veth0,queue=3", "xdp=veth0,queues=1",
		"xdp=eth0,queue=0,poll=50,mtu=1500,mac=02:00:00:00:00:01",
		"xdp=veth0,restarts=2", "xdp=v0,attach=generic",
		"xdp=v0,queue=1,attach=native",
	};
	static const char *const bad[] = {
		"", "t0", "tap=", "tap=t0,queues=0", "tap=t0,queues=9",
		"tap=t0,mtu=67", "tap=t0,mtu=65522", "tap=t0,,mtu=1500",
		"tap=t0,", "tap=t0,bogus=1", "queues=2", "tap=t0,poll=x",
		"xdp=", "xdp", "xdp=v0,tap=t0", "tap=t0,xdp=v0",
		"xdp=v0,xdp=v1", "tap=t0,tap=t1", "xdp=v0,queues=2",
		"xdp=v0,queue=256", "xdp=v0,queue=-1", "xdp=v0,queue=",
		"tap=t0,queue=1", "queue=0", "xdp=v0,mtu=67", "xdp=v0,,",
		"xdp=v0,attach=", "xdp=v0,attach=skb", "tap=t0,attach=native",
	};
	const struct hv_kind *k = kind_by_option("net");
	struct hv_geom g;
	struct hv_dev_opt d;
	char err[256];

	ASSERT_NE(NULL, k);
	EXPECT_EQ(PVKIT_DEV_NET, k->type);
	EXPECT_STREQ("pvkit-netback", k->prog);
	check_specs(_metadata, k, good, ARRAY_SIZE(good), bad, ARRAY_SIZE(bad));
	ASSERT_EQ(0, kind_parse(k, &d, "tap=t0,queues=3,poll=5,restarts=1",
				err, sizeof(err)));
	EXPECT_STREQ("tap=t0,poll=5", d.args);
	EXPECT_EQ(7, kind_queues(&d, 1));
	g = k->geom(&d, 0);
	EXPECT_EQ(256, g.slots);
	EXPECT_EQ(24, g.req_size);
	EXPECT_EQ(32, g.rsp_size);
	g = k->geom(&d, 5);
	EXPECT_EQ(256, g.req_size);
	EXPECT_EQ(16, g.rsp_size);
	g = k->geom(&d, 6);
	EXPECT_EQ(64, g.slots);
	EXPECT_EQ(64, g.req_size);
	EXPECT_EQ(16, g.rsp_size);
	ASSERT_EQ(0, kind_parse(k, &d, "tap=t0", err, sizeof(err)));
	EXPECT_EQ(3, kind_queues(&d, 4));
	ASSERT_EQ(0, kind_parse(k, &d, "tap=t0,queues=8", err, sizeof(err)));
	EXPECT_EQ(17, kind_queues(&d, 1));
	/* xdp= goes to the back-end like tap=, with its queue= */
	ASSERT_EQ(0, kind_parse(k, &d, "xdp=v0,queue=2,restarts=1,mtu=1500",
				err, sizeof(err)));
	EXPECT_STREQ("xdp=v0,queue=2,mtu=1500", d.args);
	EXPECT_EQ(3, kind_queues(&d, 4));
	EXPECT_NE(0, kind_parse(k, &d, "xdp=v0,queues=2", err, sizeof(err)));
	EXPECT_NE(NULL, strstr(err, "one queue pair")) TH_LOG("%s", err);
	/* segmentation needs the checksum offload of its direction */
	ASSERT_NE(NULL, k->ack_ok);
	EXPECT_TRUE(k->ack_ok(PVKIT_NET_F_CSUM | PVKIT_NET_F_HOST_TSO4));
	EXPECT_FALSE(k->ack_ok(PVKIT_NET_F_HOST_TSO4));
	EXPECT_FALSE(k->ack_ok(PVKIT_NET_F_GUEST_USO | PVKIT_NET_F_CSUM));
	EXPECT_TRUE(k->ack_ok(PVKIT_NET_F_GUEST_CSUM | PVKIT_NET_F_GUEST_TSO6));
	EXPECT_TRUE(k->ack_ok(0));
}

/* Run-directory paths are chardev specs on QEMU's command line. */
/*
 * A back-end's CONFIG (ABI.md 6.2): the net kind lets only the link
 * status change, and only to known bits; the disk kind nothing.
 */
TEST(live_config)
{
	const struct hv_kind *net = kind_by_option("net");
	const struct hv_kind *disk = kind_by_option("disk");
	struct pvkit_net_config a, b;
	const uint8_t *pa = (const uint8_t *)&a, *pb = (const uint8_t *)&b;
	const char *why;
	size_t i;

	ASSERT_NE(NULL, net);
	ASSERT_NE(NULL, disk);
	EXPECT_EQ(NULL, disk->config_ok);
	ASSERT_NE(NULL, net->config_ok);
	memset(&a, 0, sizeof(a));
	memcpy(a.mac, "\x02\x11\x22\x33\x44\x55", 6);
	a.status = htole16(PVKIT_NET_S_LINK_UP);
	a.max_queue_pairs = htole16(2);
	a.mtu = htole16(1500);
	a.max_mtu = htole16(9000);

	b = a;
	b.status = 0;
	EXPECT_TRUE(net->config_ok(pa, pb, sizeof(a), &why));
	EXPECT_TRUE(net->config_ok(pb, pa, sizeof(a), &why));
	b.status = htole16(2);
	EXPECT_FALSE(net->config_ok(pa, pb, sizeof(a), &why));
	/* any other byte changed is refused */
	for (i = 0; i < sizeof(a); i++) {
		if (i == offsetof(struct pvkit_net_config, status) ||
		    i == offsetof(struct pvkit_net_config, status) + 1)
			continue;
		b = a;
		((uint8_t *)&b)[i] ^= 0x40;
		why = NULL;
		EXPECT_FALSE(net->config_ok(pa, pb, sizeof(a), &why))
			TH_LOG("byte %zu", i);
		EXPECT_NE(NULL, why);
	}
	/* too short to hold the status */
	EXPECT_FALSE(net->config_ok(pa, pb, 7, &why));
}

TEST(qemu_cmdline_escapes_commas)
{
	struct hv *hv = calloc(1, sizeof(*hv));
	struct qemu q;
	char *cl;

	ASSERT_NE(NULL, hv);
	memset(&q, 0, sizeof(q));
	hv_struct_init(hv);
	opts_defaults(&hv->opt);
	strcpy(hv->opt.name, "x");
	hv->opt.kernel = "/dev/null";
	hv->nr_vectors = 3;
	strcpy(q.qmp_path, "/tmp/a,b/x/qmp.sock");
	strcpy(q.ivs_path, "/tmp/a,b/x/ivshmem.sock");
	q.accel = "tcg";
	ASSERT_EQ(0, qemu_build_argv(hv, &q));
	cl = qemu_cmdline(&q);
	ASSERT_NE(NULL, cl);
	EXPECT_NE(NULL, strstr(cl, "unix:/tmp/a,,b/x/qmp.sock,server=on")) TH_LOG("%s", cl);
	EXPECT_NE(NULL, strstr(cl, "path=/tmp/a,,b/x/ivshmem.sock")) TH_LOG("%s", cl);
	free(cl);
	qemu_free_argv(&q);
	free(hv);
}

TEST(names)
{
	EXPECT_TRUE(opts_name_valid("vm0"));
	EXPECT_TRUE(opts_name_valid("bench-blk_1.a"));
	EXPECT_FALSE(opts_name_valid(""));
	EXPECT_FALSE(opts_name_valid("a/b"));
	EXPECT_FALSE(opts_name_valid(".."));
}

TEST_HARNESS_MAIN
