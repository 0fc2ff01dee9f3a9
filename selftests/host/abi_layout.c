// SPDX-License-Identifier: GPL-2.0-only
/*
 * Description: every offset, size and constant that hypercall-abi/ABI.md
 * pins matches the C headers.
 *
 * The tables come from build/gen/abi_layout_table.h, which
 * scripts/abi-layout.py generates from ABI.md at build time: a row naming a
 * struct or field that does not exist breaks the build, a row with a wrong
 * number fails here with the ABI.md line.  The row-count floors catch a
 * parser that silently stopped recognising the tables.  Numbers that only
 * appear in prose are checked one by one below.
 */
#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include <pvkit/abi.h>
#include <pvkit/blk.h>
#include <pvkit/ring.h>

#include "abi_layout_table.h"
#include "kselftest_harness.h"

/*
 * ABI.md v1.0 has 75 layout rows and 49 constants.  The floors sit a little
 * below so that moving a row is fine but losing a table is not.
 */
#define MIN_LAYOUT_ROWS		70
#define MIN_CONST_ROWS		40

TEST(layout_rows)
{
	unsigned int i, bad = 0;

	ASSERT_EQ(ARRAY_SIZE(abi_layout_rows), (size_t)ABI_LAYOUT_NR_ROWS);
	if (ABI_LAYOUT_NR_ROWS < MIN_LAYOUT_ROWS)
		TH_LOG("only %d layout rows in ABI.md (expected >= %d)",
		       ABI_LAYOUT_NR_ROWS, MIN_LAYOUT_ROWS);
	EXPECT_GE(ABI_LAYOUT_NR_ROWS, MIN_LAYOUT_ROWS);

	for (i = 0; i < ARRAY_SIZE(abi_layout_rows); i++) {
		const struct abi_layout_row *r = &abi_layout_rows[i];

		if (r->offset == r->want_offset && r->size == r->want_size)
			continue;
		TH_LOG("ABI.md:%d %s: offset %zu size %zu in the header, %zu %zu in ABI.md",
		       r->line, r->name, r->offset, r->size,
		       r->want_offset, r->want_size);
		bad++;
	}
	EXPECT_EQ(0U, bad);
}

TEST(const_rows)
{
	unsigned int i, bad = 0;

	ASSERT_EQ(ARRAY_SIZE(abi_const_rows), (size_t)ABI_CONST_NR_ROWS);
	if (ABI_CONST_NR_ROWS < MIN_CONST_ROWS)
		TH_LOG("only %d constants parsed from ABI.md (expected >= %d)",
		       ABI_CONST_NR_ROWS, MIN_CONST_ROWS);
	EXPECT_GE(ABI_CONST_NR_ROWS, MIN_CONST_ROWS);

	for (i = 0; i < ARRAY_SIZE(abi_const_rows); i++) {
		const struct abi_const_row *r = &abi_const_rows[i];

		if (r->value == r->want)
			continue;
		TH_LOG("ABI.md:%d %s: %lld (%#llx) in the header, %s = %lld in ABI.md",
		       r->line, r->name, r->value,
		       (unsigned long long)r->value, r->expr, r->want);
		bad++;
	}
	EXPECT_EQ(0U, bad);
}

/* "(`struct pvkit_info`, 384 bytes)" and the like, found by the script. */
TEST(prose_struct_sizes)
{
	int i, bad = 0;

	for (i = 0; i < ABI_SIZE_NR_ROWS; i++) {
		const struct abi_size_row *r = &abi_size_rows[i];

		if (r->size == r->want)
			continue;
		TH_LOG("ABI.md:%d struct %s: sizeof %zu, ABI.md says %zu bytes",
		       r->line, r->name, r->size, r->want);
		bad++;
	}
	EXPECT_EQ(0, bad);
	/* the diagram and the section titles name at least these */
	EXPECT_GE(ABI_SIZE_NR_ROWS, 4);
}

/*
 * Total sizes, whether or not the prose matcher found them: the wire size of
 * each struct is what a foreign guest implements.
 */
static const struct {
	const char *name;
	size_t size, want;
} abi_struct_sizes[] = {
	{ "pvkit_info",		sizeof(struct pvkit_info),	384 },
	{ "pvkit_mem_range",	sizeof(struct pvkit_mem_range),	32 },
	{ "pvkit_mailbox",	sizeof(struct pvkit_mailbox),	128 },
	{ "pvkit_dev_entry",	sizeof(struct pvkit_dev_entry),	512 },
	{ "pvkit_queue_desc",	sizeof(struct pvkit_queue_desc), 16 },
	{ "pvkit_test_msg",	sizeof(struct pvkit_test_msg),	16 },
	{ "pvkit_ring_hdr",	sizeof(struct pvkit_ring_hdr),	256 },
	{ "pvkit_blk_config",	sizeof(struct pvkit_blk_config), 128 },
	{ "pvkit_blk_req",	sizeof(struct pvkit_blk_req),	128 },
	{ "pvkit_blk_rsp",	sizeof(struct pvkit_blk_rsp),	16 },
	{ "pvkit_blk_seg",	sizeof(struct pvkit_blk_seg),	16 },
};

TEST(struct_sizes)
{
	unsigned int i, bad = 0;

	for (i = 0; i < ARRAY_SIZE(abi_struct_sizes); i++) {
		if (abi_struct_sizes[i].size == abi_struct_sizes[i].want)
			continue;
		TH_LOG("struct %s: sizeof %zu, ABI says %zu bytes",
		       abi_struct_sizes[i].name, abi_struct_sizes[i].size,
		       abi_struct_sizes[i].want);
		bad++;
	}
	EXPECT_EQ(0U, bad);
}

/*
 * Every struct a guest maps from shared memory must need no more than
 * 8-byte alignment, or a foreign compiler could pad it differently.
 */
TEST(struct_alignment)
{
	EXPECT_LE(_Alignof(struct pvkit_info), 8U);
	EXPECT_LE(_Alignof(struct pvkit_mailbox), 8U);
	EXPECT_LE(_Alignof(struct pvkit_dev_entry), 8U);
	EXPECT_LE(_Alignof(struct pvkit_ring_hdr), 8U);
	EXPECT_LE(_Alignof(struct pvkit_blk_req), 8U);
	/* each mailbox half is one 64-byte cache line (ABI.md 4.1) */
	EXPECT_EQ(64U, offsetof(struct pvkit_mailbox, done_seq));
	/* the queue array fills dev_entry to its end (1.1: the old pad) */
	EXPECT_EQ(PVKIT_MAX_QUEUES * sizeof(struct pvkit_queue_desc),
		  sizeof(((struct pvkit_dev_entry *)0)->queues));
	EXPECT_EQ((size_t)PVKIT_DEV_CONFIG_SIZE,
		  sizeof(((struct pvkit_dev_entry *)0)->config));
	/* blk config must fit the generic config area */
	EXPECT_LE(sizeof(struct pvkit_blk_config),
		  (size_t)PVKIT_DEV_CONFIG_SIZE);
	EXPECT_EQ(PVKIT_MAX_MEM_RANGES * sizeof(struct pvkit_mem_range),
		  sizeof(((struct pvkit_info *)0)->mem));
	EXPECT_EQ(PVKIT_FEATURE_WORDS * sizeof(__u64),
		  sizeof(((struct pvkit_info *)0)->features));
	EXPECT_EQ(PVKIT_BLK_INLINE_SEGS * sizeof(struct pvkit_blk_seg),
		  sizeof(((struct pvkit_blk_req *)0)->seg));
}

/* Numbers that ABI.md states in running text rather than in a table. */
TEST(prose_constants)
{
	/* 2: transport and discovery */
	EXPECT_EQ(0x1af4, PVKIT_PCI_VENDOR_ID);
	EXPECT_EQ(0x1110, PVKIT_PCI_DEVICE_ID);
	EXPECT_EQ(0x08, PVKIT_REG_IV_POSITION);
	EXPECT_EQ(0x0c, PVKIT_REG_DOORBELL);
	EXPECT_EQ(2, PVKIT_BAR_SHM);
	EXPECT_EQ(64 * 1024, PVKIT_SHM_MIN_SIZE);
	EXPECT_EQ(0x544b5650, PVKIT_MAGIC);
	/* "PVKT" in the first four bytes, little-endian */
	EXPECT_EQ('P' | 'V' << 8 | 'K' << 16 | 'T' << 24, PVKIT_MAGIC);
	EXPECT_EQ(1, PVKIT_ABI_MAJOR);
	EXPECT_EQ(4, PVKIT_ABI_MINOR);

	/* 2.1: 8 KiB of mailboxes (64 x 128), 16 KiB of devices (32 x 512) */
	EXPECT_EQ(8U * 1024,
		  PVKIT_MAX_MAILBOXES * sizeof(struct pvkit_mailbox));
	EXPECT_EQ(16U * 1024,
		  PVKIT_MAX_DEVICES * sizeof(struct pvkit_dev_entry));
	EXPECT_EQ(4096, PVKIT_PAGE_SIZE);

	/* 2.2: validation bounds */
	EXPECT_EQ(8, PVKIT_MAX_MEM_RANGES);
	EXPECT_EQ(64, PVKIT_MAX_MAILBOXES);
	EXPECT_EQ(32, PVKIT_MAX_DEVICES);
	EXPECT_EQ(256, PVKIT_MAX_VECTORS);
	EXPECT_EQ(256, PVKIT_MAX_KICKS);

	/* 3: word 1 reserved -> two words; bit 63 never offered */
	EXPECT_EQ(2, PVKIT_FEATURE_WORDS);
	EXPECT_EQ(0ULL, PVKIT_F_KNOWN_0 & (1ULL << 63));
	EXPECT_EQ(0xbULL, PVKIT_F_KNOWN_0);

	/* 4: six arguments, log lines 1..256 bytes, 11 calls */
	EXPECT_EQ(6, PVKIT_HC_NR_ARGS);
	EXPECT_EQ(48U, sizeof(((struct pvkit_mailbox *)0)->args));
	EXPECT_EQ(256, PVKIT_HC_LOG_MAX);
	EXPECT_EQ(PVKIT_HC_EVTCHN_SEND + 1, PVKIT_HC_NR);

	/* 5: doorbell = peer << 16 | channel */
	EXPECT_EQ(0x00030007u, PVKIT_DOORBELL(3, 7));
	EXPECT_EQ(0xffff00ffu, PVKIT_DOORBELL(0xffff, 0xff));

	/* 6: nr_queues <= 16, config_size <= 128 */
	/* 1.1: an 8-pair NIC and its control queue fit (ABI.md 6) */
	EXPECT_EQ(20, PVKIT_MAX_QUEUES);
	EXPECT_EQ(sizeof(struct pvkit_dev_entry),
		  offsetof(struct pvkit_dev_entry, queues) +
		  PVKIT_MAX_QUEUES * sizeof(struct pvkit_queue_desc));
	EXPECT_EQ(128, PVKIT_DEV_CONFIG_SIZE);

	/* 7: slots in [2, 4096], slot sizes <= 4096 */
	EXPECT_EQ(256, PVKIT_RING_HDR_SIZE);
	EXPECT_EQ(2, PVKIT_RING_MIN_SLOTS);
	EXPECT_EQ(4096, PVKIT_RING_MAX_SLOTS);
	EXPECT_EQ(4096, PVKIT_RING_MAX_SLOT_SIZE);

	/* 9: block */
	EXPECT_EQ(9, PVKIT_BLK_SECTOR_SHIFT);
	EXPECT_EQ(6, PVKIT_BLK_INLINE_SEGS);
	EXPECT_EQ(256, PVKIT_BLK_MAX_SEGS);
	EXPECT_EQ(20, PVKIT_BLK_ID_BYTES);
	EXPECT_EQ(0x7fULL, PVKIT_BLK_F_KNOWN);
}

/*
 * Wire values that only the headers spell out (ABI.md names them but gives
 * no number).  They are frozen all the same: renumbering one breaks every
 * guest built against the old header.
 */
TEST(header_only_constants)
{
	EXPECT_EQ(1U, PVKIT_MBOX_F_IRQ);
	EXPECT_EQ(PVKIT_MBOX_F_IRQ, PVKIT_MBOX_F_KNOWN);

	EXPECT_EQ(0, PVKIT_DEV_STATE_FREE);
	EXPECT_EQ(1, PVKIT_DEV_STATE_OFFERED);
	EXPECT_EQ(2, PVKIT_DEV_STATE_CONNECTED);
	EXPECT_EQ(3, PVKIT_DEV_STATE_RESETTING);
	EXPECT_EQ(4, PVKIT_DEV_STATE_CLOSING);
	EXPECT_EQ(5, PVKIT_DEV_STATE_BROKEN);

	EXPECT_EQ(1U, PVKIT_BLK_RQ_FUA);
	EXPECT_EQ(2U, PVKIT_BLK_RQ_INDIRECT);
	EXPECT_EQ(3U, PVKIT_BLK_RQ_KNOWN);

	EXPECT_EQ(0x5a5a5a5a5a5a5a5aULL, PVKIT_TEST_XOR);
	EXPECT_EQ(0, PVKIT_REG_INTR_MASK);
	EXPECT_EQ(4, PVKIT_REG_INTR_STATUS);
	EXPECT_EQ(0, PVKIT_BAR_REGS);
	EXPECT_EQ(1, PVKIT_BAR_MSIX);
}

TEST_HARNESS_MAIN
