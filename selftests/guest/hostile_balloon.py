#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""Description: pvkit_balloon against a hostile host ('make check-balloon-hostile').

hostile_host.py's fake pvkit-hv (imported, not copied) with a balloon:
balloon.0, three queues (pages, stats, report; ABI.md 11).  Guest RAM is
the file the host maps, so it reads every page list the guest sends and
checks it (8-byte aligned list inside RAM, 1..4096 entries, every entry
aligned, inside RAM, an order the operation allows, reserved bits zero;
inflate only pages not in the balloon nor twice in the list, deflate only
pages in it, report only pages outside it) and counts the balloon itself.
A bad list sets the host's verdict, which fails the scenario.

The guest drives the host through a raw hypercall (pvkit-hc 0x7000 CMD
ARG: 1 set target_pages in place -- generation bump and config vector,
ABI.md 6.2 --, 2 bump stats_seq, 3 read a host counter), since devmem
cannot reach the shared region while pvkit.ko holds it.

Each scenario forges one thing the host writes: the config (target far
above RAM, too short, wrong queue count, unknown features), the answer to
the first INFLATE (done short, INVAL, UNSUPP, status 77, an unknown id, a
duplicate, an id never issued, rsp_prod far ahead, none at all), the
answer to a stats request (INVAL, an unknown id) or to every free page
report (INVAL, none).  The expected outcome stands next to each: clamped,
not bound (the message), refused (status `refused` +1, the pages back in
the allocator, the balloon works again afterwards) or broken ("device
broken" logged, the balloon stops).  Always: a pattern fill of most of
the free memory verifies, rmmod pvkit_balloon succeeds and gives every
page back (MemFree), no BUG/WARNING/Oops and no OOM kill.

usage: hostile_balloon.py [--only N[,N...]] [--list] [--log FILE]
"""

import collections
import struct
import sys

import hostile_host as hh
from hostile_host import Scenario, Dev, S_CONNECTED

DEV_BALLOON = 4
F_HUGE, F_STATS, F_REPORTING, F_DOOM = 1 << 0, 1 << 1, 1 << 2, 1 << 3
F_ALL = F_HUGE | F_STATS | F_REPORTING | F_DOOM
Q_PAGES, Q_STATS, Q_REPORT = 0, 1, 2
OP_INFLATE, OP_DEFLATE, OP_DEFLATE_ALL, OP_REPORT = 1, 2, 3, 4
S_OK, S_INVAL, S_UNSUPP = 0, 1, 2
MAX_ENTRIES, HUGE_ORDER, MAX_ORDER = 4096, 9, 18
RAM_PAGES = hh.RAM_SIZE >> 12
BAD_ID = 0xdead00000000fff0     # tag 0xfff0: beyond every queue's depth

# Queue q: its ring at BAL_BASE + 4 KiB q, 8 slots, kick and vector 2 + q.
BAL_BASE = 0x10000
REQ_SIZES = (24, 128, 24)

# The guest's commands (pvkit-hc HC_CTL CMD ARG)
HC_CTL = 0x7000
CMD_TARGET, CMD_STATS, CMD_COUNT = 1, 2, 3
COUNTERS = ("balloon", "inflates", "reports", "stats", "forged")

# host verdict bits (hh.CTL_VERDICT)
V_BAD_LIST, V_MISSING = 1, 2


def bal_queues(n=3):
    return [(BAL_BASE + 0x1000 * q, 8, REQ_SIZES[q % 3], 16, 2 + q, 2 + q)
            for q in range(n)]


def bal_config(target=0, seq=0):
    return struct.pack("<QIB3xQ", target, seq, 0,
                       RAM_PAGES).ljust(128, b"\0")


def bal_dev(features=F_ALL, target=0, config_size=128, nq=3):
    return Dev(DEV_BALLOON, 0, features=features, config_size=config_size,
               config=bal_config(target), queues=bal_queues(nq))


class BalHost(hh.Host):
    """Host with a balloon (type 4) on top of the test and block devices;
    scenario.mode["bal"] says what it forges."""

    def setup(self, n):
        super().setup(n)
        self.bal = self.mode.get("bal", {})
        self.pfns = set()           # 4 KiB frames in the balloon
        self.count = collections.Counter()
        self.stats_seq = 0
        self.target = 0
        self.pending = {}           # forged: requests never answered
        self.update_verdict()

    def update_verdict(self):
        v = V_BAD_LIST if self.count["bad"] else 0
        for what, n in self.bal.get("want", {}).items():
            if self.count[what] < n:
                v |= V_MISSING
        self.w32(hh.CTL_VERDICT, v)

    def note(self, msg):
        print("hostile-balloon: %s: %s" % (self.cur.name, msg), flush=True)

    def ring_state(self, d):
        if d.type == DEV_BALLOON:
            return hh.RingConn(d)
        return super().ring_state(d)

    # ---- the guest's commands
    def set_config(self):
        d = self.devs[0]
        d.config = bal_config(self.target, self.stats_seq)
        self.publish()

    def hypercall(self, nr, a):
        if nr != HC_CTL:
            return super().hypercall(nr, a)
        if a[0] == CMD_TARGET:
            self.target = a[1]
            self.set_config()
            return 0
        if a[0] == CMD_STATS:
            self.stats_seq = (self.stats_seq + 1) & 0xffffffff
            self.set_config()
            return self.stats_seq
        if a[0] == CMD_COUNT and a[1] < len(COUNTERS):
            return len(self.pfns) if a[1] == 0 else \
                self.count[COUNTERS[a[1]]]
        return hh.HC_EINVAL

    # ---- page lists
    def check_list(self, d, req):
        """A page list request (a copy): (status, done, frames)."""
        _, gpa, n, op, r0, r1, r2 = struct.unpack("<QQIBBBB", req)
        if r0 | r1 | r2:
            return self.bad("reserved request bytes")
        if op == OP_DEFLATE_ALL:
            if n or gpa:
                return self.bad("DEFLATE_ALL with a list")
            return S_OK, len(self.pfns), None
        if not 1 <= n <= MAX_ENTRIES or gpa % 8 or gpa + 8 * n > hh.RAM_SIZE:
            return self.bad("list of %d at %#x" % (n, gpa))
        huge = d.acked & F_HUGE
        frames, seen = [], set()
        for i, e in enumerate(struct.unpack_from("<%dQ" % n, self.ram,
                                                 gpa)):
            order, base = e & 0x3f, e & ~0xfff
            ok = order == 0 or (order == HUGE_ORDER and huge) if \
                op != OP_REPORT else order <= MAX_ORDER
            size = 4096 << order
            if e & 0xfc0 or not ok or base % size or \
                    base + size > hh.RAM_SIZE:
                return self.bad("op %d entry %d: %#x" % (op, i, e))
            f = range(base >> 12, (base + size) >> 12)
            if seen.intersection(f):
                return self.bad("op %d entry %d: %#x twice" % (op, i, e))
            seen.update(f)
            frames.append(f)
        held = len(seen & self.pfns)
        if (op == OP_DEFLATE and held != len(seen)) or \
                (op in (OP_INFLATE, OP_REPORT) and held):
            return self.bad("op %d: %d of %d pages in the balloon" %
                            (op, held, len(seen)))
        return S_OK, len(seen), seen

    def bad(self, what):
        self.count["bad"] += 1
        self.note("bad page list: " + what)
        return S_INVAL, 0, None

    def forge(self, d, c, q, rid, status, done):
        """Answer one request as the scenario's @q forgery says: False if
        it answered nothing (the request is not applied then)."""
        how = self.bal.pop(("pages", "stats", "report")[q], None)
        if q == Q_REPORT and how is not None:
            self.bal["report"] = how            # every report
        self.count["forged"] += how is not None
        if how is None:
            self.rsp(d, c, q, struct.pack("<QIB", rid, done, status))
            return True
        if how == "never":
            return False
        if how == "index":
            self.publish_q(d, c, q, extra=1000)
            return False
        if how in ("bad_id", "stale"):
            rid = BAD_ID if how == "bad_id" else rid + (1000 << 16)
            self.rsp(d, c, q, struct.pack("<QIB", rid, done, status))
            return False
        if how == "dup":
            self.rsp(d, c, q, struct.pack("<QIB", rid, done, status))
            self.rsp(d, c, q, struct.pack("<QIB", rid, done, status))
            return True
        if how == "short":
            done -= 1
        elif how == "inval":
            status, done = S_INVAL, 0
        else:
            status = how
        self.rsp(d, c, q, struct.pack("<QIB", rid, done, status))
        return False

    def serve_pages(self, d, c, q):
        for r in self.reqs(d, c, q):
            rid, op = struct.unpack_from("<Q", r)[0], r[20]
            if q == Q_REPORT and op != OP_REPORT or \
                    q == Q_PAGES and op not in (OP_INFLATE, OP_DEFLATE,
                                                OP_DEFLATE_ALL):
                self.bad("op %d on queue %d" % (op, q))
                self.rsp(d, c, q, struct.pack("<QIB", rid, 0, S_INVAL))
                continue
            status, done, seen = self.check_list(d, r)
            if status != S_OK:
                self.rsp(d, c, q, struct.pack("<QIB", rid, done, status))
                continue
            if op in (OP_INFLATE, OP_REPORT):
                if not self.forge(d, c, q, rid, status, done):
                    continue
            else:
                self.rsp(d, c, q, struct.pack("<QIB", rid, done, status))
            if op == OP_INFLATE:
                self.pfns |= seen
                self.count["inflates"] += 1
            elif op == OP_DEFLATE:
                self.pfns -= seen
            elif op == OP_DEFLATE_ALL:
                self.pfns = set()
            else:
                self.count["reports"] += 1
        self.publish_q(d, c, q)

    def serve_stats(self, d, c):
        for r in self.reqs(d, c, Q_STATS):
            rid, seq, valid = struct.unpack_from("<QII", r)
            if valid >> 14:
                self.bad("stats valid %#x" % valid)
            self.count["stats"] += 1
            if seq and seq == self.stats_seq:
                self.forge(d, c, Q_STATS, rid, S_OK, 0)
            else:
                self.rsp(d, c, Q_STATS, struct.pack("<QIB", rid, 0, S_OK))
        self.publish_q(d, c, Q_STATS)

    def serve_other(self, slot, d, c):
        if d.type != DEV_BALLOON:
            return False
        if d.state != S_CONNECTED:
            return True
        self.serve_pages(d, c, Q_PAGES)
        self.serve_stats(d, c)
        self.serve_pages(d, c, Q_REPORT)
        self.update_verdict()
        return True


# ---- the guest's side: run with pvkit.ko loaded; it loads pvkit_balloon
# itself ($1: its arguments) so that it can check memory after rmmod.
BAL_PRE = r"""
meminfo() { sed -n "s/^$1: *\([0-9]*\) kB/\1/p" /proc/meminfo; }
s=/sys/kernel/debug/pvkit_balloon/balloon.0/status
b=/sys/bus/pvkit/devices/balloon.0
st() { sed -n "s/^$1: //p" $s 2>/dev/null; }
hc() { pvkit-hc 0x7000 "$@"; }
target() { [ "$(hc 1 $1)" = 0 ] || { echo "hostile: command failed"; exit 9; }; }
host() { hc 3 $1; }
fail() { echo "hostile: $*"; exit 1; }
# until the status field $1 reads $2 (30 s)
until_st() {
	i=0; while [ "$(st $1)" != "$2" ]; do
		i=$((i + 1)); [ $i -gt 300 ] && fail "$1 is '$(st $1)', want $2"
		sleep 0.1
	done
}
until_log() {
	i=0; while ! dmesg | grep -q -F -- "$1"; do
		i=$((i + 1)); [ $i -gt 150 ] && fail "no '$1' logged"
		sleep 0.1
	done
}
# the balloon (debugfs and the host's count) holds $1 pages
holds() {
	until_st actual_pages $1
	[ "$(host 0)" = $1 ] || fail "host counts $(host 0) pages, want $1"
}
# MemFree back to at least $1 kB (free page reporting holds free blocks
# off the free lists while a report is in flight: a few seconds)
free_back() {
	i=0; while [ $(meminfo MemFree) -lt $1 ]; do
		i=$((i + 1))
		[ $i -gt 100 ] && fail "MemFree $(meminfo MemFree) kB, want $1"
		sleep 0.1
	done
}
# a pattern fill of 3/4 of the available memory verifies
fillok() {
	pvkit-mem fill $(($(meminfo MemAvailable) * 3 / 4096)) >/dev/null ||
		fail "pvkit-mem fill failed"
}
# rmmod gives every page back: MemFree within 32 MiB of before insmod
# (2 MiB blocks freed may wait on per-CPU lists, outside MemFree)
unload() {
	rmmod pvkit_balloon || fail "rmmod pvkit_balloon failed"
	free_back $((m0 - 32768))
	! dmesg | grep -q 'oom-kill\|Killed process' || fail "OOM kill"
}
sync; echo 3 > /proc/sys/vm/drop_caches
m0=$(meminfo MemFree)
insmod /lib/modules/pvkit/pvkit_balloon.ko $1 || exit 8
"""
BOUND = BAL_PRE + """
i=0; while [ ! -e $s ]; do i=$((i + 1)); [ $i -gt 100 ] && exit 10; sleep 0.1; done
until_st actual_pages 0
"""
NOT_BOUND = BAL_PRE + """
sleep 1; [ -e $s ] && fail "bound"
unload
"""

N = 16384                       # 64 MiB


def script(body, args=""):
    """The scenario's guest shell: pvkit_balloon loaded with @args."""
    return "(set -- %s\n%s); rc=$?\n" % (hh.shlex.quote(args), body) + \
        "[ -d /sys/module/pvkit_balloon ] && rmmod pvkit_balloon\nexit $rc\n"


# The control: 64 MiB inflated as asked (MemFree down), stats on request,
# deflated at target 0 (MemFree back), inflated again.
GOOD = BOUND + """
f0=$(meminfo MemFree)
target %d; holds %d
[ $(meminfo MemFree) -le $((f0 - 61440)) ] || fail "MemFree $(meminfo MemFree), was $f0"
q=$(hc 2); until_st stats_seq $q
[ $(host 3) -ge 1 ] || fail "no stats"
target 0; holds 0
free_back $((f0 - 32768))
target 4097; holds 4097
[ "$(st refused)" = 0 ] || fail "refused $(st refused)"
target 0; holds 0
unload
""" % (N, N)


def refused(extra=""):
    """The first INFLATE's answer is refused: counted, pages back, and
    the next target is reached."""
    return BOUND + """
f0=$(meminfo MemFree)
target %d; until_st refused 1
until_st actual_pages 0
[ $(host 0) = 0 ] || fail "host holds $(host 0)"
free_back $((f0 - 32768))
target 0; target 8192; holds 8192
target 0; holds 0
%s
fillok; unload
""" % (N, extra)


def broken(log, pages=N):
    """The device breaks (@log): the balloon stops, memory stays usable,
    rmmod frees what it held."""
    return BOUND + """
target %d; until_log %s
sleep 0.5; a=$(st actual_pages)
target 0; sleep 1
[ "$(st actual_pages)" = "$a" ] || fail "balloon moved after broken"
fillok; unload
""" % (pages, hh.shlex.quote(log))


# A target past the RAM: clamped to what the kernel manages; the balloon
# grows until allocations fail, never OOM-kills, and deflates at 0.
CLAMP = BOUND + """
t0=$(($(meminfo MemTotal) / 4))
target $T
# until it has grown and not moved for 3 s (at most 2 min)
i=0; n=0; a=0; while [ $n -lt 3 ] && [ $i -lt 120 ]; do
	x=$(st actual_pages); [ "$x" = "$a" ] && [ $a != 0 ] && n=$((n + 1)) || n=0
	a=$x; i=$((i + 1)); sleep 1
done
echo "hostile: target $T: $(st target_pages) wanted, $a in the balloon, MemFree $(meminfo MemFree) kB"
[ $(st target_pages) -le $t0 ] || fail "target $(st target_pages) > $t0 pages"
[ $a -le $(st target_pages) ] || fail "holds $a"
[ $(host 0) = $a ] || fail "host counts $(host 0)"
target 0; holds 0
fillok; unload
"""


def bal(name, action, log=None, devs=None, connects=1, **bal_mode):
    return Scenario(name, "balloon.0", log, devs=devs or [bal_dev()],
                    action=action, connects=connects,
                    mode=dict(bal=bal_mode))


# The answer to the stats for a new stats_seq is forged.  Refused: counted,
# the seq not taken, sent again on the next config change; broken: the
# balloon stops where it was.
STATS_INVAL = BOUND + """
target 4096; holds 4096
q=$(hc 2); until_st refused 1
[ "$(st stats_seq)" != $q ] || fail "stats_seq taken from a refused report"
target 0; holds 0; until_st stats_seq $q
unload
"""
STATS_BROKEN = BOUND + """
target 4096; holds 4096
q=$(hc 2); until_log 'device broken'
target 0; sleep 1; [ "$(st actual_pages)" = 4096 ] || fail "balloon moved"
fillok; unload
"""


REPORT = BOUND + """
sleep 3
pvkit-mem fill 256 >/dev/null || fail "fill 256"
[ "$(st reported_pages)" = 0 ] || fail "reported $(st reported_pages)"
target 2048; holds 2048; target 0; holds 0
fillok; unload
"""
REPORT_NEVER = BOUND + """
until_log 'device broken'
pvkit-mem fill 256 >/dev/null || fail "fill 256"
fillok; unload
"""

BAL_SCENARIOS = [
    bal("good: 64 MiB inflated and deflated, host checks every list, "
        "stats on request", script(GOOD), want={"stats": 1}),
    # ---- config
    bal("config: target 2^63 with deflate-on-OOM: clamped, no OOM kill",
        script(CLAMP.replace("$T", str(1 << 63)))),
    bal("config: target RAM+1 without deflate-on-OOM: clamped, no OOM "
        "kill", script(CLAMP.replace("$T", str(RAM_PAGES + 1))),
        devs=[bal_dev(features=F_HUGE | F_STATS)]),
    bal("config: 16 bytes: not bound", script(NOT_BOUND),
        "config too short: 16 bytes", devs=[bal_dev(config_size=16)],
        connects=0),
    bal("config: 2 queues: not bound", script(NOT_BOUND),
        "2 queues, expected 3", devs=[bal_dev(nq=2)], connects=0),
    bal("config: unknown feature bits 4, 40, 63: not acked, inflates",
        script(BOUND + """
[ $(($(cat $b/acked_features) & ~15)) = 0 ] || fail "acked $(cat $b/acked_features)"
target 4096; holds 4096; target 0; holds 0
unload
"""), devs=[bal_dev(features=F_ALL | 1 << 4 | 1 << 40 | 1 << 63)]),
    # ---- the pages queue: refused
    bal("pages: done one short: refused, pages back", script(refused()),
        "status 0, done 16383", pages="short"),
    bal("pages: INVAL: refused, pages back", script(refused()),
        "status 1, done 0", pages="inval"),
    bal("pages: UNSUPP: refused, pages back", script(refused()),
        "status 2, done", pages=S_UNSUPP),
    # ---- the pages queue: broken
    bal("pages: status 77: broken", script(broken("unknown status 77")),
        "device broken", pages=77),
    bal("pages: unknown id: broken", script(broken("not in flight")),
        "device broken", pages="bad_id"),
    bal("pages: answered twice: broken, rmmod frees the inflated pages",
        script(broken("not in flight")), "device broken", pages="dup"),
    bal("pages: an id never issued: broken", script(broken("stale")),
        "device broken", pages="stale"),
    bal("pages: rsp_prod 1000 ahead: broken",
        script(broken("response index beyond")), "device broken",
        pages="index"),
    bal("pages: never answered: broken after 5 s, rmmod works",
        script(broken("balloon call on queue 0 unanswered")),
        "device broken", pages="never"),
    bal("good after broken devices", script(GOOD), want={"stats": 1}),
    # ---- stats and report queues
    bal("stats: INVAL: refused, stats_seq not taken",
        script(STATS_INVAL), stats="inval"),
    bal("stats: unknown id: broken", script(STATS_BROKEN),
        "device broken", stats="bad_id"),
    bal("report: every report INVAL: none counted, memory usable",
        script(REPORT), want={"forged": 1}, report="inval"),
    bal("report: never answered: broken after 5 s, allocations go on",
        script(REPORT_NEVER), "balloon call on queue 2 unanswered",
        report="never"),
]


if __name__ == "__main__":
    sys.exit(hh.main(__doc__, BAL_SCENARIOS, BalHost, "balloon-hostile"))
