// SPDX-License-Identifier: GPL-2.0-only
/*
 * Description: guest memory map for QEMU pc/q35 (gmem_qemu_layout) and
 * address translation (gmem_translate).  The expected layouts were read
 * from QEMU 7.2 itself ('info mtree': ram-below-4g / ram-above-4g) for
 * each size; translation must refuse empty, wrapping, straddling and
 * outside ranges.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <pvkit-host/gmem.h>

#include "kselftest_harness.h"

#define M(x)	((uint64_t)(x) << 20)
#define G4	0x100000000ULL

struct layout_case {
	const char *machine;
	uint64_t ram;
	uint64_t below;		/* bytes at gpa 0 */
	uint64_t above;		/* bytes at 4 GiB */
};

/* QEMU 7.2 'info mtree' */
static const struct layout_case cases[] = {
	{ "pc",  M(1024), M(1024), 0 },
	{ "pc",  M(2815), M(2815), 0 },
	{ "pc",  M(2816), M(2816), 0 },
	{ "pc",  M(3072), M(3072), 0 },
	{ "pc",  M(3584), M(3072), M(512) },
	{ "pc",  M(4096), M(3072), M(1024) },
	{ "pc",  M(8192), M(3072), M(5120) },
	{ "q35", M(1024), M(1024), 0 },
	{ "q35", M(2815), M(2815), 0 },
	{ "q35", M(2816), M(2048), M(768) },
	{ "q35", M(3072), M(2048), M(1024) },
	{ "q35", M(3584), M(2048), M(1536) },
	{ "q35", M(4096), M(2048), M(2048) },
	{ "q35", M(8192), M(2048), M(6144) },
};

TEST(qemu_layout)
{
	struct gmem_range r[PVKIT_MAX_MEM_RANGES];
	unsigned int i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct layout_case *c = &cases[i];
		int n = gmem_qemu_layout(c->machine, c->ram, r, PVKIT_MAX_MEM_RANGES);

		ASSERT_EQ(c->above ? 2 : 1, n) TH_LOG("%s %llu", c->machine,
						      (unsigned long long)c->ram);
		EXPECT_EQ(0, r[0].gpa);
		EXPECT_EQ(c->below, r[0].size);
		EXPECT_EQ(0, r[0].file_offset);
		if (c->above) {
			EXPECT_EQ(G4, r[1].gpa);
			EXPECT_EQ(c->above, r[1].size);
			EXPECT_EQ(c->below, r[1].file_offset);
		}
	}
	EXPECT_EQ(-EINVAL, gmem_qemu_layout("isapc", M(1024), r, 8));
	EXPECT_EQ(-EINVAL, gmem_qemu_layout("pc", 0, r, 8));
	EXPECT_EQ(-EINVAL, gmem_qemu_layout("pc", M(1024) + 1, r, 8));
	EXPECT_EQ(-EINVAL, gmem_qemu_layout("pc", M(1024), r, 1));
}

FIXTURE(tr)
{
	struct gmem gm;
	int fd;
};

/* 8 MiB "file": 6 MiB below, 2 MiB at 4 GiB (file offset 6 MiB) */
FIXTURE_SETUP(tr)
{
	struct gmem_range r[2] = {
		{ .gpa = 0, .size = M(6), .file_offset = 0 },
		{ .gpa = G4, .size = M(2), .file_offset = M(6) },
	};

	memset(&self->gm, 0, sizeof(self->gm));
	self->fd = memfd_create("gmem", MFD_CLOEXEC);
	ASSERT_LE(0, self->fd);
	ASSERT_EQ(0, ftruncate(self->fd, M(8)));
	ASSERT_EQ(0, gmem_init_map(&self->gm, r, 2, M(8)));
	ASSERT_EQ(0, gmem_map_fd(&self->gm, self->fd));
}

FIXTURE_TEARDOWN(tr)
{
	gmem_unmap(&self->gm);
	close(self->fd);
}

TEST_F(tr, inside)
{
	uint8_t *base = self->gm.base;

	EXPECT_EQ(base, gmem_translate(&self->gm, 0, 1));
	EXPECT_EQ(base, gmem_translate(&self->gm, 0, M(6)));
	EXPECT_EQ(base + M(6) - 1, gmem_translate(&self->gm, M(6) - 1, 1));
	EXPECT_EQ(base + M(6), gmem_translate(&self->gm, G4, 1));
	EXPECT_EQ(base + M(8) - 16, gmem_translate(&self->gm, G4 + M(2) - 16, 16));
	EXPECT_EQ(base + M(6), gmem_translate(&self->gm, G4, M(2)));
}

TEST_F(tr, refused)
{
	struct gmem *gm = &self->gm;

	EXPECT_EQ(NULL, gmem_translate(gm, 0, 0));		/* empty */
	EXPECT_EQ(NULL, gmem_translate(gm, M(6) - 1, 2));	/* straddles the end */
	EXPECT_EQ(NULL, gmem_translate(gm, 0, M(6) + 1));
	EXPECT_EQ(NULL, gmem_translate(gm, M(6), 1));		/* in the hole */
	EXPECT_EQ(NULL, gmem_translate(gm, G4 - 1, 2));	/* straddles into range 1 */
	EXPECT_EQ(NULL, gmem_translate(gm, M(5), G4));	/* spans both */
	EXPECT_EQ(NULL, gmem_translate(gm, G4 + M(2), 1));	/* past the end */
	EXPECT_EQ(NULL, gmem_translate(gm, G4 + M(2) - 1, 2));
	EXPECT_EQ(NULL, gmem_translate(gm, UINT64_MAX, 1));	/* wraps */
	EXPECT_EQ(NULL, gmem_translate(gm, UINT64_MAX - 7, 16));
	EXPECT_EQ(NULL, gmem_translate(gm, 16, UINT64_MAX));
	EXPECT_EQ(NULL, gmem_translate(gm, G4, UINT64_MAX - G4 + 2));
}

TEST_F(tr, random)
{
	uint64_t s = 42;
	unsigned int i;

	for (i = 0; i < 1000000; i++) {
		uint64_t gpa, len;
		uint8_t *p;

		s ^= s << 13;
		s ^= s >> 7;
		s ^= s << 17;
		gpa = (s & 1) ? s : (s >> 40) + ((s & 2) ? G4 : 0);
		len = (s & 4) ? (s >> 20) : ((s >> 8) & 0xfff);
		p = gmem_translate(&self->gm, gpa, len);
		if (!p)
			continue;
		/* whatever is accepted lies inside the mapping */
		ASSERT_TRUE(p >= self->gm.base);
		ASSERT_TRUE(p + len <= self->gm.base + M(8));
		ASSERT_TRUE(len > 0);
	}
}

TEST(bad_maps)
{
	struct gmem gm = { 0 };
	struct gmem_range r[2] = {
		{ .gpa = 0, .size = M(4), .file_offset = 0 },
		{ .gpa = M(2), .size = M(4), .file_offset = M(4) },
	};

	EXPECT_EQ(-EINVAL, gmem_init_map(&gm, r, 2, M(8)));	/* gpa overlap */
	r[1].gpa = G4;
	r[1].file_offset = M(2);
	EXPECT_EQ(-EINVAL, gmem_init_map(&gm, r, 2, M(8)));	/* file overlap */
	r[1].file_offset = M(4);
	EXPECT_EQ(0, gmem_init_map(&gm, r, 2, M(8)));
	EXPECT_EQ(-EINVAL, gmem_init_map(&gm, r, 2, M(7)));	/* beyond file */
	r[1].size = 100;
	EXPECT_EQ(-EINVAL, gmem_init_map(&gm, r, 2, M(8)));	/* unaligned */
	EXPECT_EQ(-EINVAL, gmem_init_map(&gm, r, 0, M(8)));
	EXPECT_EQ(-EINVAL, gmem_init_map(&gm, r, 9, M(8)));
}

TEST_HARNESS_MAIN
