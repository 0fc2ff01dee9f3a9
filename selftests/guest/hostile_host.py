#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""Description: pvkit.ko against a hostile host ('make check-core-hostile').

A small ivshmem server stands in for pvkit-hv and serves plain QEMU an
ivshmem-doorbell device whose shared region it rewrites scenario by
scenario: malformed info pages, refused device-table entries, hostile
hypercall results (unpinned, wrong version, never answered), a generation
that never settles or never stops changing, hostile ring responses (wrong
id, impossible index, none at all), interrupt storms, hot-remove,
hot-re-add, CLOSING and back-end restart; and a disk (served from memory:
guest RAM is a shared file the server maps) removed by the host while it
is open, gracefully and by force.  For each scenario the guest loads
pvkit.ko (and pvkit_blk where there is a disk), checks what it bound and
what it logged, runs pvkit-bench or a disk check, and unloads it.  The guest kernel must log no BUG, WARNING,
Oops or Call Trace, and every unload must succeed.

The guest asks for the next scenario through two words in the last page
of the shared region (no area the info page names, no ring, reaches it),
written with devmem while pvkit.ko is not loaded; the server answers once
the region is set up.

usage: hostile_host.py [--only N[,N...]] [--keep-log FILE]
"""

import argparse
import collections
import mmap
import os
import re
import select
import shlex
import socket
import struct
import subprocess
import sys
import tempfile
import time

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

SHM_SIZE = 1 << 20
NVEC = 8                  # QEMU vectors= (and eventfds per peer)
HV_PEER, GUEST_PEER = 0, 1
MBOX_OFF, NR_MBOX = 0x1000, 2
CTL_PAGE = SHM_SIZE - 0x1000  # the control words: outside every area
CTL_REQ, CTL_ACK = CTL_PAGE, CTL_PAGE + 4
CTL_CONNECTS = CTL_PAGE + 8      # DEV_CONNECTs the host accepted this scenario
CTL_DISCONNECTS = CTL_PAGE + 12  # DEV_DISCONNECTs of a CLOSING device (-> FREE)
CTL_VERDICT = CTL_PAGE + 16      # host-side checks failing now (0: none)
DEVTAB_OFF, DEVTAB_N = 0x4000, 32
RING0, RING1 = 0x8000, 0xc000
VEC_CONFIG, VEC_HC, VEC_TEST, VEC_BLK = 0, 1, 2, 3
KICK_HC, KICK_TEST, KICK_BLK = 0, 1, 2
MAGIC = 0x544b5650


def abi_minor():
    """PVKIT_ABI_MINOR as the guest driver was built with (pvkit/abi.h)."""
    with open(os.path.join(TOP, "hypercall-abi", "include", "pvkit",
                           "abi.h")) as f:
        for line in f:
            w = line.split()
            if len(w) >= 3 and w[:2] == ["#define", "PVKIT_ABI_MINOR"]:
                return int(w[2])
    raise SystemExit("hostile_host.py: PVKIT_ABI_MINOR not in abi.h")


ABI_MINOR = abi_minor()
TEST_XOR = 0x5a5a5a5a5a5a5a5a
M64 = (1 << 64) - 1
MAX_QUEUES = 20           # PVKIT_MAX_QUEUES: queue descriptors per entry

HC_OK, HC_ENOSYS, HC_EINVAL, HC_EFAULT = 0, -1, -2, -3
HC_ENODEV, HC_ESTATE, HC_EBUSY, HC_ENOTSUP = -4, -5, -6, -7

S_FREE, S_OFFERED, S_CONNECTED, S_RESETTING, S_CLOSING = 0, 1, 2, 3, 4
S_BROKEN = 5

RAM_SIZE = 1 << 30        # boot-guest.sh's 1G, all below the PCI hole
BLK_SLOTS, BLK_REQ, BLK_RSP = 64, 128, 16
BLK_SECTORS = 16384       # an 8 MiB disk, kept in the server's memory
BLK_F_RO, BLK_F_FLUSH, BLK_F_DISCARD = 1 << 0, 1 << 1, 1 << 3
BLK_F_WZEROES, BLK_F_INDIRECT = 1 << 4, 1 << 5
BLK_OP_READ, BLK_OP_WRITE, BLK_OP_FLUSH, BLK_OP_GET_ID = 0, 1, 2, 5
BLK_S_OK, BLK_S_IOERR, BLK_S_UNSUPP, BLK_S_INVAL, BLK_S_RANGE = 0, 1, 2, 3, 4

INFO_FIELDS = [  # name, offset, struct format
    ("magic", 0, "I"), ("abi_major", 4, "H"), ("abi_minor", 6, "H"),
    ("info_size", 8, "I"), ("generation", 12, "I"), ("features0", 16, "Q"),
    ("features1", 24, "Q"), ("shm_size", 32, "Q"), ("nr_vcpus", 40, "I"),
    ("nr_mailboxes", 44, "I"), ("mailbox_offset", 48, "I"),
    ("mailbox_size", 52, "I"), ("devtab_offset", 56, "I"),
    ("devtab_entries", 60, "I"), ("devtab_entry_size", 64, "I"),
    ("reserved2", 68, "I"), ("hv_peer_id", 72, "I"),
    ("nr_vectors", 76, "I"), ("nr_kicks", 80, "I"),
    ("nr_mem_ranges", 84, "I"), ("vec_config", 88, "I"),
    ("vec_hypercall", 92, "I"), ("kick_hypercall", 96, "I"),
    ("ram_size", 104, "Q"),
]


def good_info():
    return dict(magic=MAGIC, abi_major=1, abi_minor=0, info_size=384,
                generation=0, features0=0x2, features1=0, shm_size=SHM_SIZE,
                nr_vcpus=2, nr_mailboxes=NR_MBOX, mailbox_offset=MBOX_OFF,
                mailbox_size=128, devtab_offset=DEVTAB_OFF,
                devtab_entries=DEVTAB_N, devtab_entry_size=512,
                reserved2=0, hv_peer_id=HV_PEER, nr_vectors=NVEC,
                nr_kicks=NVEC, nr_mem_ranges=1, vec_config=VEC_CONFIG,
                vec_hypercall=VEC_HC, kick_hypercall=KICK_HC,
                ram_size=1 << 30)


class Dev:
    """One device-table entry, as the host keeps it (its private copy)."""

    def __init__(self, type_, instance, state=S_OFFERED, features=0,
                 queues=None, nr_queues=None, config_size=0, epoch=0,
                 config=b""):
        self.type = type_
        self.instance = instance
        self.state = state
        self.features = features
        self.acked = 0
        self.queues = queues if queues is not None else []
        self.nr_queues = len(self.queues) if nr_queues is None else nr_queues
        self.config_size = config_size
        self.epoch = epoch
        self.config = config

    def copy(self):
        return Dev(self.type, self.instance, self.state, self.features,
                   list(self.queues), self.nr_queues, self.config_size,
                   self.epoch, self.config)

    def pack(self):
        b = bytearray(512)
        struct.pack_into("<HHIQQHHI", b, 0, self.type, self.instance,
                         self.state, self.features, self.acked,
                         self.nr_queues, self.config_size, self.epoch)
        b[64:64 + len(self.config)] = self.config
        for i, q in enumerate(self.queues[:MAX_QUEUES]):
            struct.pack_into("<IIHHHH", b, 192 + 16 * i, *q)
        return bytes(b)


def test_dev(**kw):
    return Dev(1, 0, queues=[(RING0, 256, 16, 16, KICK_TEST, VEC_TEST)], **kw)


BLK_CFG = dict(capacity=BLK_SECTORS, lbs=512, pbs=512, max_segs=6,
               max_seg_size=65536, max_sectors=128, max_discard=0,
               discard_gran=512, max_wzeroes=0)


def blk_dev(features=BLK_F_FLUSH, config_size=128, epoch=0, **kw):
    """blk.0: one queue; by default FLUSH, 512-byte blocks, 6 inline
    segments; @kw overrides BLK_CFG's pvkit_blk_config fields."""
    c = dict(BLK_CFG, **kw)
    cfg = struct.pack("<QIIIIIIIIII", c["capacity"], c["lbs"], c["pbs"],
                      c["max_segs"], c["max_seg_size"], c["max_sectors"],
                      c["max_discard"], c["discard_gran"], c["max_wzeroes"],
                      0, 0)
    return Dev(2, 0, features=features, config_size=config_size,
               epoch=epoch, config=cfg.ljust(128, b"\0"),
               queues=[(RING1, BLK_SLOTS, BLK_REQ, BLK_RSP, KICK_BLK,
                        VEC_BLK)])


class Scenario:
    """name, info overrides, devices, expected guest result and behaviour."""

    def __init__(self, name, expect_devs="test.0", expect_log=None,
                 info=None, devs=None, action=None, action_rc=0, mode=None,
                 wait=0, connects=0, modules="", disconnects=0):
        self.name = name
        self.expect_devs = expect_devs
        self.expect_log = expect_log
        self.info = info or {}
        self.devs = devs
        self.action = action
        self.action_rc = action_rc
        self.mode = mode or {}
        self.wait = wait
        self.connects = connects    # at least this many DEV_CONNECTs
        # pvkit_* modules to load after pvkit, "name:arg=v,arg=v" for args
        self.modules = modules
        self.disconnects = disconnects  # at least this many of CLOSING


BENCH = "pvkit-bench -n 40 -w 0 >/dev/null"

# The disk checks.  The host moves blk.0 to CLOSING once it has served
# CLOSE_AFTER writes, i.e. in the middle of the first fio pass (256 random
# 4 KiB writes, at least 16 requests even if merged), which holds the disk
# open, as does fd 3.  Exit codes say which step failed.
CLOSE_AFTER = 16
DISK_WAIT = """
d=/dev/pvda; b=/sys/bus/pvkit/devices/blk.0
i=0; while [ ! -b $d ]; do i=$((i + 1)); [ $i -gt 100 ] && exit 10; sleep 0.1; done
fio_pass() {
	fio --name=$1 --filename=$d --rw=$2 --bs=4k --size=1M --offset=$3 \
		--direct=1 --ioengine=libaio --iodepth=8 --verify=crc32c \
		--randrepeat=0 --output=/dev/null
}
closing() {
	i=0; while [ "$(cat $b/state)" != closing ]; do
		i=$((i + 1)); [ $i -gt 100 ] && return 1; sleep 0.1
	done
}
gone() {
	i=0; while [ -e /sys/block/pvda ] || [ -e $b ]; do
		i=$((i + 1)); [ $i -gt 100 ] && return 1; sleep 0.1
	done
}
q=/sys/block/pvda/queue
want() {
	v=$(cat $1 2>/dev/null)
	[ "$v" = "$2" ] && return 0
	echo "hostile: $1 is '$v', want '$2'"; return 1
}
state_is() {
	i=0; while [ "$(cat $b/state)" != $1 ]; do
		i=$((i + 1)); [ $i -gt 100 ] && return 1; sleep 0.1
	done
}
"""
CLOSING_OPEN = DISK_WAIT + """
exec 3<$d
fio_pass a randwrite 0 || exit 11
closing || exit 12
dmesg | grep -q 'pvda: host removes the disk; in use, detaching on last close' || exit 13
fio_pass b randwrite 1M || exit 14
[ -b $d ] && [ "$(cat $b/state)" = closing ] || exit 15
exec 3<&-
gone || exit 16
dmesg | grep -q 'pvda: last close: detaching' || exit 17
"""
CLOSING_FREE = DISK_WAIT + """
exec 3<$d
fio_pass a randwrite 0 && exit 20
gone || exit 21
dmesg | grep -q 'pvda: host forced the removal' || exit 22
exec 3<&-
dd if=$d of=/dev/null bs=4k count=1 2>/dev/null && exit 23
exit 0
"""

# Hostile block configs.  A refused one leaves blk.0 unbound with the
# reason logged; an accepted one must show the clamped limits in sysfs and
# then verify data where it can (the host serves inline segments only, so
# a disk offering indirect ones is not given I/O that could merge).
NO_DISK = "sleep 0.5; [ ! -e /sys/block/pvda ]"
BLK_EXTREMES = DISK_WAIT + """
want /sys/block/pvda/size 18014398509481983 || exit 40
want $q/logical_block_size 512 || exit 41
want $q/physical_block_size 512 || exit 42
want $q/max_segments 1 || exit 43
want $q/max_segment_size 4294966784 || exit 44
want $q/max_hw_sectors_kb 1024 || exit 45
want $q/discard_max_bytes 0 || exit 46
want $q/write_zeroes_max_bytes 0 || exit 47
want $b/acked_features 0x0000000000000002 || exit 48
fio_pass a randwrite 0 || exit 49
fio_pass b write 7M || exit 50
dd if=$d of=/dev/null bs=4k count=1 skip=1000000 iflag=direct 2>/dev/null &&
	exit 51
exit 0
"""
BLK_4K = DISK_WAIT + """
want /sys/block/pvda/size 16376 || exit 40
want $q/logical_block_size 4096 || exit 41
want $q/physical_block_size 4096 || exit 42
want $q/max_hw_sectors_kb 4 || exit 43
want $q/discard_granularity 4096 || exit 44
want $q/discard_max_bytes 4096 || exit 45
fio_pass a randwrite 0 || exit 46
# (not busybox dd: it retries a refused O_DIRECT read buffered)
fio --name=c --filename=$d --rw=read --bs=512 --size=4k --direct=1 \
	--ioengine=psync --output=/dev/null 2>/dev/null && exit 47
exit 0
"""
BLK_DISCARD = DISK_WAIT + """
want $q/discard_granularity 512 || exit 40
want $q/discard_max_bytes 4294966784 || exit 41
want $q/write_zeroes_max_bytes 4294966784 || exit 42
fio_pass a randwrite 0 || exit 43
exit 0
"""
BLK_RO = DISK_WAIT + """
want /sys/block/pvda/ro 1 || exit 40
want $q/discard_max_bytes 0 || exit 41
want $q/write_zeroes_max_bytes 0 || exit 42
dd if=$d of=/dev/null bs=4k count=16 iflag=direct 2>/dev/null || exit 43
dd if=/dev/zero of=$d bs=4k count=1 oflag=direct 2>/dev/null && exit 44
exit 0
"""
BLK_INDIRECT = DISK_WAIT + """
want $q/max_segments 256 || exit 40
want $b/acked_features 0x0000000000000022 || exit 41
dd if=$d of=/dev/null bs=4k count=1 iflag=direct 2>/dev/null || exit 42
exit 0
"""
BLK_EMPTY = DISK_WAIT + """
want /sys/block/pvda/size 0 || exit 40
dd if=$d of=/dev/null bs=4k count=1 iflag=direct 2>/dev/null
[ "$(dd if=$d bs=4k count=1 iflag=direct 2>/dev/null | wc -c)" = 0 ] || exit 41
exit 0
"""

# Hostile state and epoch sequences, each started by the host once it has
# served CLOSE_AFTER writes of a running fio verify pass.
BLK_VERIFY2 = DISK_WAIT + """
fio_pass a randwrite 0 || exit 30
fio_pass b randwrite 1M || exit 31
"""
BLK_RESET_FOREVER = DISK_WAIT + """
fio_pass a randwrite 0 & f=$!
state_is resetting || exit 30
sleep 2
kill -0 $f 2>/dev/null || exit 31
echo blk.0 > /sys/bus/pvkit/drivers/pvkit_blk/unbind &
i=0; while kill -0 $f 2>/dev/null; do
	i=$((i + 1)); [ $i -gt 100 ] && exit 32; sleep 0.1
done
wait $f && exit 33
wait
[ -e /sys/block/pvda ] && exit 34
exit 0
"""
BLK_FAILS = DISK_WAIT + """
fio_pass a randwrite 0 && exit 30
dd if=$d of=/dev/null bs=4k count=1 iflag=direct 2>/dev/null && exit 31
exit 0
"""


def blk_steps(*steps):
    """Host-driven state changes: each step waits for 'writes' served or
    'delay' seconds after the previous one, then sets 'state' (with
    'epoch' added; the ring is forgotten unless 'keep_ring', or reset
    to zero behind the guest's back with 'zero_ring') or flaps the
    device for 'flap' seconds."""
    return dict(steps=list(steps))


BLK_SCENARIOS = [
    Scenario("blk config: 24 bytes", "blk.0", "config too short: 24 bytes",
             devs=[blk_dev(config_size=24)], modules="pvkit_blk",
             action=NO_DISK),
    Scenario("blk config: logical block size 1024", "blk.0",
             "unsupported logical block size 1024",
             devs=[blk_dev(lbs=1024)], modules="pvkit_blk", action=NO_DISK),
    Scenario("blk config: logical block size 0", "blk.0",
             "unsupported logical block size 0",
             devs=[blk_dev(lbs=0)], modules="pvkit_blk", action=NO_DISK),
    Scenario("blk config: max_segment_size 4095", "blk.0",
             "max_segment_size 4095 below the page size",
             devs=[blk_dev(max_seg_size=4095)], modules="pvkit_blk",
             action=NO_DISK),
    Scenario("blk config: max_segment_size 0", "blk.0",
             "max_segment_size 0 below the page size",
             devs=[blk_dev(max_seg_size=0)], modules="pvkit_blk",
             action=NO_DISK),
    Scenario("blk config: max_sectors 7", "blk.0",
             "max_sectors 7 below the page size",
             devs=[blk_dev(max_sectors=7)], modules="pvkit_blk",
             action=NO_DISK),
    Scenario("blk config: every limit at 0 or 2^n-1, capacity past loff_t: "
             "clamped, verifies", "blk.0", None,
             devs=[blk_dev(features=BLK_F_FLUSH | BLK_F_DISCARD |
                           BLK_F_WZEROES | 1 << 40, capacity=M64, pbs=3,
                           max_segs=0, max_seg_size=0xffffffff,
                           max_sectors=0xffffffff, discard_gran=0xffffffff)],
             modules="pvkit_blk", action=BLK_EXTREMES, connects=1),
    Scenario("blk config: 4096-byte blocks, odd capacity, 128 KiB physical "
             "blocks, discard granularity 0", "blk.0", None,
             devs=[blk_dev(features=BLK_F_FLUSH | BLK_F_DISCARD,
                           capacity=BLK_SECTORS - 1, lbs=4096, pbs=131072,
                           max_sectors=15, max_discard=12, discard_gran=0)],
             modules="pvkit_blk", action=BLK_4K, connects=1),
    Scenario("blk config: discard granularity 1536 (not a power of two), "
             "UINT_MAX discard and write-zeroes sectors", "blk.0", None,
             devs=[blk_dev(features=BLK_F_FLUSH | BLK_F_DISCARD |
                           BLK_F_WZEROES, max_discard=0xffffffff,
                           discard_gran=1536, max_wzeroes=0xffffffff)],
             modules="pvkit_blk", action=BLK_DISCARD, connects=1),
    Scenario("blk config: read-only with discard and write-zeroes", "blk.0",
             None, devs=[blk_dev(features=BLK_F_RO | BLK_F_FLUSH |
                                 BLK_F_DISCARD | BLK_F_WZEROES,
                                 max_discard=2048, max_wzeroes=2048)],
             modules="pvkit_blk", action=BLK_RO, connects=1),
    Scenario("blk config: indirect with 2^32-1 segments", "blk.0", None,
             devs=[blk_dev(features=BLK_F_FLUSH | BLK_F_INDIRECT,
                           max_segs=0xffffffff)],
             modules="pvkit_blk", action=BLK_INDIRECT, connects=1),
    Scenario("blk config: capacity 0", "blk.0", None,
             devs=[blk_dev(capacity=0)], modules="pvkit_blk",
             action=BLK_EMPTY, connects=1),
    Scenario("blk state: RESETTING for ever under I/O: held, then unbind "
             "fails it", "blk.0", None, devs=[blk_dev()],
             modules="pvkit_blk", action=BLK_RESET_FOREVER, connects=1,
             mode=blk_steps(dict(writes=CLOSE_AFTER, state=S_RESETTING))),
    Scenario("blk state: epoch 5 -> 2 under I/O: reconnects, verifies",
             "blk.0", "reconnected, epoch 2", devs=[blk_dev(epoch=5)],
             modules="pvkit_blk", action=BLK_VERIFY2 +
             "want $b/epoch 2 || exit 32\n", connects=2,
             mode=blk_steps(dict(writes=CLOSE_AFTER, state=S_RESETTING),
                            dict(delay=0.3, state=S_OFFERED, epoch=-3))),
    Scenario("blk state: RESETTING, then CONNECTED without DEV_CONNECT",
             "blk.0", "connection still live, resumed", devs=[blk_dev()],
             modules="pvkit_blk", action=BLK_VERIFY2, connects=1,
             mode=blk_steps(dict(writes=CLOSE_AFTER, state=S_RESETTING,
                                 keep_ring=True),
                            dict(delay=0.3, state=S_CONNECTED))),
    Scenario("blk state: CONNECTED in a new epoch on a ring reset behind "
             "the guest: broken", "blk.0", "device broken",
             devs=[blk_dev()], modules="pvkit_blk", action=BLK_FAILS,
             connects=1,
             mode=blk_steps(dict(writes=CLOSE_AFTER, state=S_RESETTING),
                            dict(delay=0.3, state=S_CONNECTED, epoch=1,
                                 zero_ring=True))),
    Scenario("blk state: OFFERED again in the same epoch: reconnects, "
             "verifies", "blk.0", "reconnected, epoch 0", devs=[blk_dev()],
             modules="pvkit_blk", action=BLK_VERIFY2, connects=2,
             mode=blk_steps(dict(writes=CLOSE_AFTER, state=S_OFFERED))),
    Scenario("blk state: BROKEN under I/O: EIO", "blk.0",
             "host gave up on the back-end", devs=[blk_dev()],
             modules="pvkit_blk", action=BLK_FAILS, connects=1,
             mode=blk_steps(dict(writes=CLOSE_AFTER, state=S_BROKEN))),
    Scenario("blk state: RESETTING/OFFERED flapping for 2 s under I/O: "
             "verifies", "blk.0", None, devs=[blk_dev()],
             modules="pvkit_blk", action=BLK_VERIFY2, connects=10,
             mode=blk_steps(dict(writes=CLOSE_AFTER, flap=2.0))),
]


def bad_entry_devs():
    q = (RING1, 16, 16, 16, KICK_BLK, VEC_BLK)
    blk = Dev(2, 0, queues=[q], features=0x3)
    devs = [test_dev(), blk]
    bad = [
        ("ring outside the region", [(SHM_SIZE - 256, 16, 16, 16, 2, 3)]),
        ("ring over the info page", [(0, 2, 16, 16, 2, 3)]),
        ("ring over the mailboxes", [(MBOX_OFF, 2, 16, 16, 2, 3)]),
        ("ring over the device table", [(DEVTAB_OFF + 512, 2, 8, 8, 2, 3)]),
        ("slots not a power of two", [(RING1, 3, 16, 16, 2, 3)]),
        ("slots 8192", [(RING1, 8192, 16, 16, 2, 3)]),
        ("slot size 12", [(RING1, 16, 12, 16, 2, 3)]),
        ("slot size 0", [(RING1, 16, 16, 0, 2, 3)]),
        ("kick out of range", [(RING1, 16, 16, 16, NVEC, 3)]),
        ("kick = hypercall kick", [(RING1, 16, 16, 16, KICK_HC, 3)]),
        ("vector out of range", [(RING1, 16, 16, 16, 2, NVEC)]),
        ("vector = config vector", [(RING1, 16, 16, 16, 2, VEC_CONFIG)]),
        ("ring not aligned", [(RING1 + 4, 16, 16, 16, 2, 3)]),
        ("ring offset wraps", [(0xffffff00, 4096, 4096, 4096, 2, 3)]),
        ("queues overlap", [(RING1, 16, 16, 16, 2, 3),
                            (RING1 + 256, 16, 16, 16, 3, 4)]),
        ("queues share a vector", [(RING1, 16, 16, 16, 2, 3),
                                   (RING1 + 0x1000, 16, 16, 16, 3, 3)]),
    ]
    for i, (_, queues) in enumerate(bad):
        devs.append(Dev(2, 10 + i, queues=queues))
    devs.append(Dev(2, 40, nr_queues=17))                 # too many queues
    devs.append(Dev(2, 41, config_size=129))              # config too big
    devs.append(Dev(1, 0, queues=[(RING1 + 0x2000, 2, 16, 16, 3, 4)]))
    devs.append(Dev(99, 0))                               # unknown type
    devs.append(Dev(2, 42, state=77))                     # unknown state
    devs.append(Dev(0, 43, state=S_OFFERED))              # type NONE
    devs.append(Dev(2, 44, state=S_FREE))                 # state FREE
    return devs[:DEVTAB_N]


SCENARIOS = [
    Scenario("good device table", action=BENCH),
    Scenario("no magic", "", "ivshmem device without pvkit magic",
             info=dict(magic=0x12345678)),
    Scenario("ABI major 2", "", "host speaks pvkit ABI 2.3, this driver 1.%d"
             % ABI_MINOR,
             info=dict(abi_major=2, abi_minor=3)),
    Scenario("ABI minor 7 is compatible", "test.0", "pvkit ABI 1.7",
             info=dict(abi_minor=7), action=BENCH),
    Scenario("info_size 100", "", "info_size 100", info=dict(info_size=100)),
    Scenario("shm_size is not BAR2", "", "shm_size 0x200000",
             info=dict(shm_size=2 * SHM_SIZE)),
    Scenario("mailbox_size 64", "", "mailbox_size 64",
             info=dict(mailbox_size=64)),
    Scenario("devtab_entry_size 256", "", "devtab_entry_size 256",
             info=dict(devtab_entry_size=256)),
    Scenario("0 mailboxes", "", "0 mailboxes", info=dict(nr_mailboxes=0)),
    Scenario("65 mailboxes", "", "65 mailboxes", info=dict(nr_mailboxes=65)),
    Scenario("33 device slots", "", "33 device slots",
             info=dict(devtab_entries=33)),
    Scenario("0 vectors", "", "0 vectors", info=dict(nr_vectors=0)),
    Scenario("300 vectors", "", "300 vectors", info=dict(nr_vectors=300)),
    Scenario("vec_config >= nr_vectors", "", "config 8",
             info=dict(vec_config=8)),
    Scenario("kick_hypercall >= nr_kicks", "", "kicks (hypercall 9)",
             info=dict(kick_hypercall=9)),
    Scenario("9 memory ranges", "", "9 memory ranges",
             info=dict(nr_mem_ranges=9)),
    Scenario("memory map short of guest RAM", "",
             "is outside the host's memory map",
             info=dict(mem0_size=512 << 20)),
    Scenario("mailboxes beyond the region", "", "mailboxes at 0xff000",
             info=dict(mailbox_offset=SHM_SIZE - 0x1000, nr_mailboxes=64)),
    Scenario("mailboxes not page aligned", "",
             "mailboxes at 0x1040 not page aligned",
             info=dict(mailbox_offset=0x1040)),
    Scenario("device table over the mailboxes", "",
             "device table overlaps mailboxes",
             info=dict(devtab_offset=MBOX_OFF)),
    Scenario("device table offset wraps", "", "device table at 0xfffff000",
             info=dict(devtab_offset=0xfffff000)),
    Scenario("vectors beyond the MSI-X table", "",
             "MSI-X table has 8 vectors",
             info=dict(nr_vectors=200, vec_config=100)),
    Scenario("refused and ignored entries", "blk.0 test.0",
             "device slot 2 refused", devs=bad_entry_devs(), action=BENCH),
    Scenario("unpinned hypercall result", "", "unpinned result -100",
             mode=dict(hc_result={1: -100})),
    Scenario("GET_VERSION says 3.0", "", "host answers ABI 3.0",
             mode=dict(hc_result={0: 3 << 16})),
    Scenario("hypercalls never answered", "", "GET_VERSION failed: -110",
             mode=dict(hc_silent=True)),
    Scenario("generation stays odd", "", "device table kept changing",
             info=dict(generation=1), wait=2),
    Scenario("ring: wrong response id", "test.0", "round trip 0: ",
             mode=dict(ring="bad_id"), action=BENCH, action_rc=1),
    Scenario("ring: wrong response value", "test.0", None,
             mode=dict(ring="bad_value"), action=BENCH, action_rc=1),
    Scenario("ring: impossible rsp_prod", "test.0", "bad response index",
             mode=dict(ring="bad_index"), action=BENCH, action_rc=1),
    Scenario("ring: no responses", "test.0", "no response",
             mode=dict(ring="silent"),
             action="pvkit-bench -n 2 -w 0 >/dev/null", action_rc=1),
    Scenario("interrupt storm", "test.0", None, mode=dict(storm=2.0),
             action=BENCH),
    Scenario("device table flapping", "test.0", None,
             mode=dict(flap=2.0), wait=4, action=BENCH, connects=10),
    Scenario("hot-remove and re-add", "test.0", None,
             mode=dict(event="hotplug"), wait=3, action=BENCH, connects=2),
    Scenario("CLOSING while bound", "", None, mode=dict(event="closing"),
             wait=2, connects=1),
    Scenario("back-end restart (new epoch)", "test.0", None,
             mode=dict(event="restart"), wait=3, connects=2,
             action=BENCH + " && grep -qx 1 /sys/bus/pvkit/devices/test.0/epoch"),
    Scenario("CLOSING while open: I/O keeps verifying until the file is "
             "closed, then DEV_DISCONNECT", "blk.0",
             "host removes the disk; in use", devs=[blk_dev()],
             modules="pvkit_blk", mode=dict(blk="closing_open"),
             action=CLOSING_OPEN, connects=1, disconnects=1),
    Scenario("CLOSING then FREE while under I/O: EIO, disk gone, no Oops",
             "blk.0", "host removes the disk; in use", devs=[blk_dev()],
             modules="pvkit_blk", mode=dict(blk="closing_free"),
             action=CLOSING_FREE, connects=1),
] + BLK_SCENARIOS


def need_event(event, new, old):
    return ((new - event - 1) & 0xffffffff) < ((new - old) & 0xffffffff)


RING_HDR = 256


class RingConn:
    """A connected device with several queues (a subclass's device): per
    queue the private req_cons, rsp_prod and the rsp_prod published."""

    def __init__(self, d):
        n = len(d.queues)
        self.cons, self.prod, self.pub = [0] * n, [0] * n, [0] * n


class Host:
    """The fake pvkit-hv: serves the ivshmem device and the scenarios of
    @scenarios (the test and block devices; a subclass adds others)."""

    def __init__(self, sock_path, ram_path, scenarios=None):
        self.scenarios = SCENARIOS if scenarios is None else scenarios
        self.memfd = os.memfd_create("pvkit-hostile")
        os.ftruncate(self.memfd, SHM_SIZE)
        self.mm = mmap.mmap(self.memfd, SHM_SIZE)
        # guest RAM (QEMU memory-backend-file, share=on): gpa = offset
        self.ram_fd = os.open(ram_path, os.O_RDWR | os.O_CREAT, 0o600)
        os.ftruncate(self.ram_fd, RAM_SIZE)
        self.ram = mmap.mmap(self.ram_fd, RAM_SIZE)
        self.kick_efd = [os.eventfd(0, os.EFD_NONBLOCK) for _ in range(NVEC)]
        self.irq_efd = [os.eventfd(0, os.EFD_NONBLOCK) for _ in range(NVEC)]
        self.lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.lsock.bind(sock_path)
        self.lsock.listen(1)
        self.conn = None
        self.cur = None
        self.setup(0)

    # ---- shared-memory accessors
    def r32(self, off):
        return struct.unpack_from("<I", self.mm, off)[0]

    def w32(self, off, v):
        struct.pack_into("<I", self.mm, off, v & 0xffffffff)

    def r64(self, off):
        return struct.unpack_from("<Q", self.mm, off)[0]

    def w64(self, off, v):
        struct.pack_into("<Q", self.mm, off, v & M64)

    def irq(self, v):
        if 0 <= v < NVEC:
            os.eventfd_write(self.irq_efd[v], 1)

    # ---- ivshmem server protocol
    def send(self, val, fd=None):
        data = [struct.pack("<q", val)]
        if fd is None:
            self.conn.sendmsg(data)
        else:
            socket.send_fds(self.conn, data, [fd])

    def accept(self):
        self.conn, _ = self.lsock.accept()
        self.send(0)                       # protocol version
        self.send(GUEST_PEER)              # the guest's peer id
        self.send(-1, self.memfd)          # the shared region
        for fd in self.kick_efd:           # doorbells to us, per channel
            self.send(HV_PEER, fd)
        for fd in self.irq_efd:            # the guest's vectors
            self.send(GUEST_PEER, fd)

    # ---- scenarios
    def setup(self, n):
        sc = self.scenarios[n]
        self.cur = sc
        self.mode = sc.mode
        self.info = good_info()
        self.info.update(sc.info)
        ctl = bytes(self.mm[CTL_REQ:CTL_REQ + 8])
        self.mm[0:SHM_SIZE] = bytes(SHM_SIZE)      # CTL_CONNECTS = 0 too
        self.mm[CTL_REQ:CTL_REQ + 8] = ctl
        devs = sc.devs if sc.devs is not None else [test_dev()]
        self.devs = [d.copy() for d in devs]
        for name, off, fmt in INFO_FIELDS:
            struct.pack_into("<" + fmt, self.mm, off, self.info[name])
        # mem[0] (offset 128, ABI.md 2.2); the guest has 1 GiB
        # (boot-guest.sh), all below the hole
        struct.pack_into("<QQQ", self.mm, 128, 0,
                         self.info.get("mem0_size", 1 << 30), 0)
        self.gen = self.info["generation"]
        self.write_table()
        self.ring = {}          # dev index -> [req_cons, rsp_prod_pvt]
        self.events = []        # (time, callable)
        self.first_connect = True
        self.storm_until = self.flap_until = 0
        self.disk = bytearray(BLK_SECTORS * 512)
        self.blk_writes = 0     # WRITEs answered this scenario
        self.blk_held = 0       # requests consumed and never answered
        self.step, self.step_t = 0, 0.0     # mode "steps": next, when
        # the last hypercalls served, for diagnostics
        self.hc_log = collections.deque(maxlen=12)
        self.t0 = time.monotonic()

    def write_table(self):
        for i in range(DEVTAB_N):
            off = DEVTAB_OFF + 512 * i
            b = self.devs[i].pack() if i < len(self.devs) else bytes(512)
            self.mm[off:off + 512] = b

    def publish(self):
        """Host update under the generation seqcount, then vec_config."""
        if self.gen & 1:        # "generation stays odd": never settles
            self.write_table()
            self.irq(VEC_CONFIG)
            return
        self.w32(12, self.gen + 1)
        self.write_table()
        self.gen += 2
        self.w32(12, self.gen)
        self.irq(VEC_CONFIG)

    def dev_at(self, slot):
        if slot < len(self.devs) and self.devs[slot].type and \
                self.devs[slot].state != S_FREE:
            return self.devs[slot]
        return None

    def hypercall(self, nr, a):
        forced = self.mode.get("hc_result", {})
        if nr in forced:
            return forced[nr]
        used = {0: 0, 1: 1, 2: 2, 3: 4, 4: 2, 5: 1, 6: 2, 7: 1, 8: 1, 9: 1,
                10: 1}
        if nr not in used:
            return HC_ENOSYS
        if any(a[used[nr]:]):
            return HC_EINVAL
        if nr == 0:
            return (self.info["abi_major"] << 16) | self.info["abi_minor"]
        if nr == 1:
            if a[0] >= 2:
                return HC_EINVAL
            return self.info["features0"] if a[0] == 0 else 0
        if nr == 2:
            if a[0] >= 2:
                return HC_EINVAL
            offered = self.info["features0"] if a[0] == 0 else 0
            return HC_ENOTSUP if a[1] & ~offered else HC_OK
        if nr == 3:
            return (a[0] ^ a[1] ^ a[2] ^ a[3]) & ((1 << 63) - 1)
        if nr == 4:
            return HC_ENOTSUP
        if nr == 5:
            return HC_EINVAL if a[0] & 1 or a[0] > self.gen else HC_OK
        if nr == 10:
            if a[0] >= NVEC:
                return HC_EINVAL
            self.irq(a[0])
            return HC_OK
        d = self.dev_at(a[0]) if a[0] < DEVTAB_N else None
        if d is None:
            return HC_ENODEV
        if nr == 6:
            if d.state != S_OFFERED:
                return HC_ESTATE
            if a[1] & ~d.features:
                return HC_ENOTSUP
            d.acked = a[1]
            return HC_OK
        if nr == 7:
            if d.state != S_OFFERED:
                return HC_ESTATE
            for q in d.queues:
                if q[0] + 256 <= SHM_SIZE:
                    self.mm[q[0]:q[0] + 256] = bytes(256)
            self.ring[a[0]] = self.ring_state(d)
            self.w32(CTL_CONNECTS, self.r32(CTL_CONNECTS) + 1)
            d.state = S_CONNECTED
            self.publish()
            self.on_connect(a[0])
            return HC_OK
        if nr == 8:
            if d.state == S_CONNECTED:
                d.state = S_OFFERED
            elif d.state == S_CLOSING:
                d.state, d.type = S_FREE, 0
                self.w32(CTL_DISCONNECTS, self.r32(CTL_DISCONNECTS) + 1)
            else:
                return HC_ESTATE
            self.ring.pop(a[0], None)
            self.publish()
            return HC_OK
        if nr == 9:
            if d.state in (S_CONNECTED, S_RESETTING, 5):
                d.state = S_OFFERED
            elif d.state == S_CLOSING:
                d.state, d.type = S_FREE, 0
            self.ring.pop(a[0], None)
            self.publish()
            return HC_OK
        return HC_ENOSYS

    # ---- ring access for a subclass's devices (state: a RingConn)
    def reqs(self, d, c, q):
        """The new requests of queue @q (copies), consumed."""
        base, slots, rqs = d.queues[q][:3]
        prod = self.r32(base)
        out = []
        while c.cons[q] != prod and \
                ((prod - c.cons[q]) & 0xffffffff) <= slots:
            off = base + RING_HDR + rqs * (c.cons[q] & (slots - 1))
            out.append(bytes(self.mm[off:off + rqs]))
            c.cons[q] = (c.cons[q] + 1) & 0xffffffff
        self.w32(base + 64, c.cons[q])      # req_event: kick me next
        return out

    def rsp(self, d, c, q, data):
        base, slots, rqs, rss = d.queues[q][:4]
        off = base + RING_HDR + rqs * slots + rss * (c.prod[q] & (slots - 1))
        self.mm[off:off + rss] = data.ljust(rss, b"\0")
        c.prod[q] = (c.prod[q] + 1) & 0xffffffff

    def publish_q(self, d, c, q, extra=0):
        """Publish queue @q's responses (@extra: rsp_prod that far beyond
        them, a ring index violation) and raise its vector if asked."""
        if c.prod[q] == c.pub[q] and not extra:
            return
        base, old = d.queues[q][0], c.pub[q]
        new = (c.prod[q] + extra) & 0xffffffff
        self.w32(base + 128, new)
        c.pub[q] = c.prod[q]
        if extra or need_event(self.r32(base + 192), new, old):
            self.irq(d.queues[q][5])

    def ring_state(self, d):
        """What serve_rings keeps per connected device: [req_cons,
        rsp_prod_pvt] of its one queue."""
        return [0, 0]

    def serve_other(self, slot, d, st):
        """A subclass serves its device types here; True if it did."""
        return False

    def on_connect(self, slot):
        if not self.first_connect:
            return
        self.first_connect = False
        now = time.monotonic()
        ev = self.mode.get("event")
        d = self.devs[slot]

        def set_state(state, epoch_inc=0, free=False):
            def f():
                d.state = state
                d.epoch += epoch_inc
                if free:
                    d.type = 0
                self.ring.pop(slot, None)
                self.publish()
            return f

        def readd():
            self.devs[slot] = test_dev()
            self.publish()

        if ev == "hotplug":
            self.events += [(now + 0.3, set_state(S_FREE, free=True)),
                            (now + 0.8, readd)]
        elif ev == "closing":
            self.events += [(now + 0.3, set_state(S_CLOSING))]
        elif ev == "restart":
            self.events += [(now + 0.3, set_state(S_RESETTING)),
                            (now + 0.6, set_state(S_OFFERED, 1))]
        if "storm" in self.mode:
            self.storm_until = now + self.mode["storm"]
        if "flap" in self.mode:
            self.flap_until = now + self.mode["flap"]

    def serve_mailboxes(self):
        if self.mode.get("hc_silent"):
            return
        for i in range(NR_MBOX):
            base = MBOX_OFF + 128 * i
            call, done = self.r32(base), self.r32(base + 64)
            if call == done:
                continue
            nr = self.r32(base + 8)
            args = [self.r64(base + 16 + 8 * k) for k in range(6)]
            if self.r32(base + 4) & ~1 or self.r32(base + 12):
                ret = HC_EINVAL
            else:
                ret = self.hypercall(nr, args)
            self.hc_log.append("%.3f mbox %d seq %#x: %d(%#x, %#x) = %d" % (
                time.monotonic() - self.t0, i, call, nr, args[0], args[1],
                ret))
            self.w64(base + 72, ret)
            self.w32(base + 64, call)
            # Python has no full barrier to order done_seq before the
            # flags load: always raise (a spurious irq is harmless).
            self.irq(VEC_HC)

    def blk_io(self, req):
        """One block request (a private copy): its status."""
        op, flags, nsegs, nsect, sector = struct.unpack_from("<BBHIQ", req)
        if op == BLK_OP_FLUSH:
            return BLK_S_OK
        if op not in (BLK_OP_READ, BLK_OP_WRITE) or flags or \
                not 0 < nsegs <= 6 or nsect:
            return BLK_S_UNSUPP if op not in (BLK_OP_READ, BLK_OP_WRITE) \
                else BLK_S_INVAL
        segs = [struct.unpack_from("<QII", req, 24 + 16 * i)
                for i in range(nsegs)]
        if sum(s[1] for s in segs) + sector * 512 > len(self.disk):
            return BLK_S_RANGE
        off = sector * 512
        for gpa, ln, _ in segs:
            if ln % 512 or gpa % 512 or gpa + ln > RAM_SIZE:
                return BLK_S_INVAL
            if op == BLK_OP_READ:
                self.ram[gpa:gpa + ln] = self.disk[off:off + ln]
            else:
                self.disk[off:off + ln] = self.ram[gpa:gpa + ln]
            off += ln
        if op == BLK_OP_WRITE:
            self.blk_writes += 1
        return BLK_S_OK

    def blk_event(self, slot, d):
        """The disk scenarios' host side, driven by the writes served."""
        kind = self.mode.get("blk")
        if d.state == S_CONNECTED and self.blk_writes >= CLOSE_AFTER:
            d.state = S_CLOSING         # keep serving: the grace period
            self.publish()
        elif kind == "closing_free" and d.state == S_CLOSING and \
                self.blk_held:
            d.state, d.type = S_FREE, 0     # grace over: forced remove
            self.ring.pop(slot, None)
            self.publish()

    def blk_steps(self):
        steps = self.mode.get("steps", [])
        now = time.monotonic()
        while self.step < len(steps):
            st = steps[self.step]
            if self.blk_writes < st.get("writes", 0) or \
                    now < self.step_t + st.get("delay", 0):
                return
            self.step, self.step_t = self.step + 1, now
            if "flap" in st:
                self.flap_until = now + st["flap"]
                continue
            d = self.devs[0]
            d.state = st["state"]
            d.epoch = (d.epoch + st.get("epoch", 0)) & 0xffffffff
            if st.get("zero_ring"):
                base = d.queues[0][0]
                self.mm[base:base + 256] = bytes(256)
                self.ring[0] = [0, 0]
            elif not st.get("keep_ring"):
                self.ring.pop(0, None)
            self.publish()

    def serve_blk(self, slot, d, st):
        base = d.queues[0][0]
        req, rsp = base + 256, base + 256 + BLK_SLOTS * BLK_REQ
        prod, old = self.r32(base), st[1]
        hold = self.mode.get("blk") == "closing_free" and \
            d.state == S_CLOSING and self.blk_writes >= 2 * CLOSE_AFTER
        while st[0] != prod and ((prod - st[0]) & 0xffffffff) <= BLK_SLOTS:
            i = st[0] & (BLK_SLOTS - 1)
            r = bytes(self.mm[req + BLK_REQ * i:req + BLK_REQ * (i + 1)])
            st[0] = (st[0] + 1) & 0xffffffff
            if hold:
                self.blk_held += 1
                continue
            status = self.blk_io(r[8:])
            struct.pack_into("<QB7x", self.mm,
                             rsp + BLK_RSP * (st[1] & (BLK_SLOTS - 1)),
                             struct.unpack_from("<Q", r)[0], status)
            st[1] = (st[1] + 1) & 0xffffffff
        self.w32(base + 64, st[0])
        if st[1] != old:
            self.w32(base + 128, st[1])
            if need_event(self.r32(base + 192), st[1], old):
                self.irq(d.queues[0][5])
        if self.mode.get("blk"):
            self.blk_event(slot, d)

    def serve_rings(self):
        kind = self.mode.get("ring")
        for slot, st in list(self.ring.items()):
            d = self.devs[slot]
            if d.type == 2 and d.state in (S_CONNECTED, S_CLOSING):
                self.serve_blk(slot, d, st)
                continue
            if self.serve_other(slot, d, st):
                continue
            if d.type != 1 or d.state != S_CONNECTED:
                continue
            base, slots = d.queues[0][0], d.queues[0][1]
            req, rsp = base + 256, base + 256 + slots * 16
            prod = self.r32(base)
            if kind == "silent":
                continue
            old = st[1]
            while st[0] != prod and ((prod - st[0]) & 0xffffffff) <= slots:
                i = st[0] & (slots - 1)
                mid, val = struct.unpack_from("<QQ", self.mm, req + 16 * i)
                st[0] = (st[0] + 1) & 0xffffffff
                if kind == "bad_id":
                    mid ^= 0x55
                if kind != "bad_value":
                    val ^= TEST_XOR
                struct.pack_into("<QQ", self.mm,
                                 rsp + 16 * (st[1] & (slots - 1)), mid, val)
                st[1] = (st[1] + 1) & 0xffffffff
            if st[1] == old:
                continue
            if ((st[1] - old) & 0xffffffff) > 1:
                # the test device has one request in flight at most: a
                # second one served now is an old one served again
                print("hostile: %s: test ring: %d responses in one pass "
                      "(req_cons now %#x, rsp_prod %#x -> %#x); hypercalls "
                      "before: %s" % (self.cur.name,
                                      (st[1] - old) & 0xffffffff, st[0], old,
                                      st[1], "; ".join(self.hc_log)),
                      flush=True)
            new = st[1] if kind != "bad_index" else st[1] + 1000
            self.w32(base + 128, new)
            self.w32(base + 64, st[0])          # req_event: kick me next
            if need_event(self.r32(base + 192), new, old):
                self.irq(d.queues[0][5])

    def tick(self):
        now = time.monotonic()
        self.blk_steps()
        for ev in [e for e in self.events if e[0] <= now]:
            self.events.remove(ev)
            ev[1]()
        if now < self.storm_until:
            for v in range(NVEC):
                self.irq(v)
        if now < self.flap_until:
            d = self.devs[0]
            d.epoch += 1          # identity unchanged: state_changed only
            d.state = S_RESETTING if d.state == S_CONNECTED else d.state
            self.ring.pop(0, None)
            self.publish()
            if d.state == S_RESETTING:
                d.state = S_OFFERED
                self.publish()
        elif self.flap_until:
            self.flap_until = 0

    def check_control(self):
        req = self.r32(CTL_REQ)
        if req != self.r32(CTL_ACK) and req < len(self.scenarios):
            self.setup(req)
            self.w32(CTL_ACK, req)

    def loop(self, proc):
        fds = [self.lsock] + self.kick_efd
        while proc.poll() is None:
            busy = self.storm_until or self.flap_until
            r, _, _ = select.select(fds, [], [], 0.0005 if busy else 0.002)
            for f in r:
                if f is self.lsock:
                    self.accept()
                    continue
                try:
                    os.eventfd_read(f)
                except BlockingIOError:
                    pass
            self.check_control()
            self.serve_mailboxes()
            self.serve_rings()
            self.tick()


def guest_script(scenarios, indices):
    lines = ["""
set -u
pci=""
for d in /sys/bus/pci/devices/*; do
	if [ "$(cat $d/vendor)" = 0x1af4 ] && [ "$(cat $d/device)" = 0x1110 ]; then
		pci=$d
	fi
done
[ -n "$pci" ] || { echo "hostile: no ivshmem device"; exit 1; }
bar=$(sed -n 3p $pci/resource | cut -d' ' -f1)
req=$((bar + %d)); ack=$((bar + %d)); conns=$((bar + %d)); discs=$((bar + %d))
verdict=$((bar + %d))
for m in $(lsmod | sed -n 's/^\\(pvkit_[a-z0-9_]*\\) .*/\\1/p'); do rmmod $m; done
rmmod pvkit 2>/dev/null
pass=0; fail=0
scenario() {
	n=$1; name=$2; devs=$3; logre=$4; act=$5; act_rc=$6; wait=$7; nconn=$8
	mods=$9; ndisc=${10}
	why=""
	devmem $req 32 $n
	i=0
	while [ "$(devmem $ack 32)" != "$(printf 0x%%08X $n)" ]; do
		i=$((i + 1)); [ $i -gt 200 ] && break; sleep 0.05
	done
	[ $i -gt 200 ] && why="host did not switch"
	start=$(dmesg | wc -l)
	insmod /lib/modules/pvkit/pvkit.ko hc_timeout_ms=400 || why="$why insmod failed"
	for m in $mods; do
		insmod /lib/modules/pvkit/${m%%%%:*}.ko $(echo "$m" |
			sed -n 's/^[^:]*://p' | tr , ' ') ||
			why="$why insmod $m failed"
	done
	sleep $wait
	i=0
	while :; do
		got=$(ls /sys/bus/pvkit/devices 2>/dev/null | sort | tr '\\n' ' ' | sed 's/ $//')
		[ "$got" = "$devs" ] && break
		i=$((i + 1)); [ $i -gt 50 ] && break; sleep 0.1
	done
	[ "$got" = "$devs" ] || why="$why devices '$got', want '$devs'"
	if [ -n "$act" ]; then
		sh -c "$act"; rc=$?
		a1=$(echo "$act" | grep -m 1 .)
		[ $rc = $act_rc ] || why="$why '$a1...' exit $rc, want $act_rc"
	fi
	if [ -n "$logre" ] &&
	   ! dmesg | tail -n +$((start + 1)) | grep -q -F -- "$logre"; then
		why="$why log lacks '$logre'"
	fi
	for m in $mods; do rmmod ${m%%%%:*} || why="$why rmmod $m failed"; done
	rmmod pvkit || why="$why rmmod failed"
	[ -d /sys/module/pvkit ] && why="$why still loaded"
	c=$(($(devmem $conns 32)))
	[ $c -ge $nconn ] || why="$why $c connects, want >= $nconn"
	c=$(($(devmem $discs 32)))
	[ $c -ge $ndisc ] || why="$why $c disconnects of CLOSING, want >= $ndisc"
	c=$(devmem $verdict 32)
	[ $((c)) = 0 ] || why="$why host-side checks failed ($c, see the host's log)"
	if [ -z "$why" ]; then
		echo "ok $n - $name"; pass=$((pass + 1))
	else
		echo "not ok $n - $name #$why"; fail=$((fail + 1))
		dmesg | tail -n +$((start + 1)) | grep -i pvkit | tail -n 8
	fi
}
""" % (CTL_REQ, CTL_ACK, CTL_CONNECTS, CTL_DISCONNECTS, CTL_VERDICT)]
    for n in indices:
        sc = scenarios[n]
        lines.append("scenario %d %s %s %s %s %d %d %d %s %d" % (
            n, shlex.quote(sc.name), shlex.quote(sc.expect_devs),
            shlex.quote(sc.expect_log or ""), shlex.quote(sc.action or ""),
            sc.action_rc, sc.wait, sc.connects, shlex.quote(sc.modules),
            sc.disconnects))
    lines.append('echo HOSTILE-DMESG-BEGIN; dmesg; echo HOSTILE-DMESG-END')
    lines.append('echo "hostile: $pass passed, $fail failed"')
    lines.append('[ $fail -eq 0 ]')
    return "\n".join(lines) + "\n"


def main(doc=__doc__, scenarios=None, host_class=Host, logdir="hostile"):
    """Boot the guest against @host_class serving @scenarios: the TAP
    lines, any kernel complaint, "N passed, N failed"; 0 if all passed."""
    scenarios = SCENARIOS if scenarios is None else scenarios
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--only", help="comma-separated scenario numbers")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--log", default=os.path.join(
        TOP, "build", "check", logdir, "console.log"))
    args = ap.parse_args()
    if args.list:
        for i, sc in enumerate(scenarios):
            print("%2d %s" % (i, sc.name))
        return 0
    idx = [int(x) for x in args.only.split(",")] if args.only else \
        list(range(len(scenarios)))

    tmp = tempfile.mkdtemp(prefix="pvkit-%s." % logdir)
    sock = os.path.join(tmp, "ivshmem.sock")
    ram = tempfile.NamedTemporaryFile(prefix="pvkit-%s-ram." % logdir,
                                      dir="/dev/shm")
    host = host_class(sock, ram.name, scenarios)
    os.makedirs(os.path.dirname(args.log), exist_ok=True)
    env = dict(os.environ, PVKIT_BOOT="qemu")
    cmd = [os.path.join(TOP, "scripts", "boot-guest.sh"), "--cmd",
           guest_script(scenarios, idx), "--timeout", "900", "--log",
           args.log, "--",
           "-chardev", "socket,path=%s,id=pvkit-hostile" % sock,
           "-device", "ivshmem-doorbell,chardev=pvkit-hostile,vectors=%d"
           % NVEC,
           "-object", "memory-backend-file,id=pvkit-ram,size=%d,mem-path=%s,"
           "share=on" % (RAM_SIZE, ram.name),
           "-machine", "memory-backend=pvkit-ram"]
    print("hostile: %d scenarios, console in %s" % (len(idx), args.log))
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL)
    try:
        host.loop(proc)
    finally:
        if proc.poll() is None:
            proc.terminate()
        proc.wait()
        os.unlink(sock)
        os.rmdir(tmp)
        ram.close()

    with open(args.log, errors="replace") as f:
        log = f.read().replace("\r", "")
    for line in log.splitlines():
        if re.match(r"^(not )?ok \d+ - ", line) or line.startswith("hostile:"):
            print(line)
    # (not the TAP lines: a scenario's name may say "no Oops")
    bad = sorted(set(m.group(0) for m in re.finditer(
        r".*(BUG:|WARNING:|Oops|Kernel panic|general protection|"
        r"Call Trace).*", log)
        if not re.match(r"(not )?ok \d+ - ", m.group(0))))
    for line in bad:
        print("kernel log: " + line)
    m = re.search(r"^hostile: (\d+) passed, (\d+) failed", log, re.M)
    passed = int(m.group(1)) if m else 0
    failed = (int(m.group(2)) if m else len(idx)) + (1 if bad else 0)
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 and proc.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
