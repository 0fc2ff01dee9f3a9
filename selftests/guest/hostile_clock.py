#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""Description: pvkit_clock against a hostile host ('selftests/vm/clock-hostile.sh').

hostile_host.py's fake pvkit-hv (imported, not copied) with a paravirt
clock: clock.0, one control queue (ABI.md 12).  Guest RAM is the file the
host maps, so it reads the clock area the guest registers with SETUP
(checked: 4 KiB aligned, inside RAM), rewrites info and steal[] under
the seqlock every steal_period_ms, and answers a granted WINDOW by
polling xchg.req_seq in that page in a tight loop and writing the host
half (resp_seq last) from its own CLOCK_REALTIME and CLOCK_MONOTONIC.
A request the ABI does not allow (reserved bytes, an unaligned area, a
WINDOW count over max_xchg) sets the host's verdict, which fails the
scenario.

The guest drives the host through a raw hypercall (pvkit-hc 0x7000 CMD
ARG: 1 the host's true CLOCK_REALTIME, 2 arm the scenario's forgery, 3
read a host counter, 4 the CLOCK_REALTIME the host answers now, forged
or not), since devmem cannot reach the shared region while pvkit.ko
holds it.  A forgery that needs a calibrated guest starts when armed:
the guest loads pvkit_clock (calib_ms=200), selects clocksource pvkit,
waits until its CLOCK_REALTIME agrees with the host's, then arms it.

Each scenario forges one thing, the expected outcome next to it.  Always:
`pvkit-clk mono 200000` (run while the forgery is live) sees no read go
back, CLOCK_REALTIME moves as CLOCK_MONOTONIC does (or, where the driver
documents a step, by exactly the step the host implied), the debugfs
counter that should move moved, rmmod pvkit_clock succeeds and leaves
"pvkit" no longer the clocksource, and the guest kernel logs no
BUG/WARNING/Oops/Call Trace.

usage: hostile_clock.py [--only N[,N...]] [--list] [--log FILE]
"""

import collections
import os
import struct
import sys
import time

import hostile_host as hh
from hostile_host import Scenario, Dev, S_CONNECTED

DEV_CLOCK = 5
F_STEAL = 1 << 0
OP_SETUP, OP_WINDOW = 1, 2
S_OK, S_INVAL, S_BUSY = 0, 1, 2
MAX_XCHG, WINDOW_MAX_US, MAX_VCPUS = 64, 5000, 64
AREA_SIZE = 4096
XCHG = 128                      # offset of the exchange slot in the area
STEAL_OFF = 256                     # offset of steal[]
GEN0 = 1

# The control queue: 8 slots of 24/16 bytes, kick and vector 2.
CLK_RING = 0x10000

# The guest's commands (pvkit-hc HC_CTL CMD ARG)
HC_CTL = 0x7000
CMD_NOW, CMD_ARM, CMD_COUNT, CMD_IMPLIED = 1, 2, 3, 4
COUNTERS = ("setups", "windows", "answered", "busy", "bumps", "forged",
            "info")

# host verdict bits (hh.CTL_VERDICT)
V_BAD_REQ, V_MISSING = 1, 2

HOUR_NS = 3600 * 10 ** 9
# How long the host waits for a window's first exchange: the guest has to
# take the answer's interrupt and wake its worker first (TCG is slow).
FIRST_GRACE_NS = 500 * 10 ** 6
MONO, REAL = time.CLOCK_MONOTONIC, time.CLOCK_REALTIME


def clk_config(generation=GEN0, max_xchg=16, window_rate=100,
               window_us=5000, steal_period_ms=100, nr_vcpus=2):
    return struct.pack("<6I", generation, max_xchg, window_rate,
                       window_us, steal_period_ms,
                       nr_vcpus).ljust(128, b"\0")


def clk_dev(features=F_STEAL, config_size=128, **cfg):
    return Dev(DEV_CLOCK, 0, features=features, config_size=config_size,
               config=clk_config(**cfg),
               queues=[(CLK_RING, 8, 24, 16, 2, 2)])


class ClockHost(hh.Host):
    """Host with a paravirt clock (type 5) on top of the test and block
    devices; scenario.mode["clk"] says what it forges."""

    def setup(self, n):
        if getattr(self, "count", None) is not None and self.cur:
            self.note("host: %s" % " ".join(
                "%s %d" % kv for kv in sorted(self.count.items())))
        super().setup(n)
        self.clk = dict(self.mode.get("clk", {}))
        self.count = collections.Counter()
        self.area = None            # gpa of the registered clock area
        self.armed = 0              # CLOCK_MONOTONIC ns when armed
        self.phase = 0              # the guest's word when it armed
        self.arm_real = 0
        self.version = 0            # info.version as written last
        self.next_info = 0
        self.tokens = 0.0
        self.token_t = time.monotonic()
        self.cfg = struct.unpack_from("<6I", clk_config())
        self.next_bump = 0
        self.steal0 = time.monotonic_ns()
        self.last_req = None
        d = self.clock_dev()
        if d is not None:
            self.cfg = struct.unpack_from("<6I", d.config.ljust(24, b"\0"))
        self.tokens = float(max(self.cfg[2], 1))    # burst window_rate
        self.update_verdict()

    def clock_dev(self):
        for d in self.devs:
            if d.type == DEV_CLOCK:
                return d
        return None

    def note(self, msg):
        print("hostile-clock: %s: %s" % (self.cur.name, msg), flush=True)

    def update_verdict(self):
        v = V_BAD_REQ if self.count["bad"] else 0
        for what, n in self.clk.get("want", {}).items():
            if self.count[what] < n:
                v |= V_MISSING
        self.w32(hh.CTL_VERDICT, v)

    def ring_state(self, d):
        if d.type == DEV_CLOCK:
            return hh.RingConn(d)
        return super().ring_state(d)

    def forging(self, what):
        return self.armed and self.clk.get("forge") == what

    # ---- the guest's commands
    def hypercall(self, nr, a):
        if nr != HC_CTL:
            return super().hypercall(nr, a)
        if a[0] == CMD_NOW:
            return time.clock_gettime_ns(REAL)
        if a[0] == CMD_ARM:
            self.armed = time.monotonic_ns()
            self.arm_real = time.clock_gettime_ns(REAL)
            self.phase = a[1]
            self.note("armed: %s %d" % (self.clk.get("forge"), a[1]))
            return 0
        if a[0] == CMD_COUNT and a[1] < len(COUNTERS):
            return self.count[COUNTERS[a[1]]]
        if a[0] == CMD_IMPLIED:
            m = time.monotonic_ns()
            return self.forge_times(m, time.clock_gettime_ns(REAL), m)[1]
        return hh.HC_EINVAL

    # ---- the clock area
    def write_info(self):
        """info and steal[] under the seqlock (or the scenario's
        forgery: a version left odd, steal going back or huge)."""
        a = self.area
        ram = self.ram
        v = (self.version + 1) | 1
        struct.pack_into("<I", ram, a, v)
        nr = self.cfg[5]
        el = time.monotonic_ns() - self.steal0
        steal = [(el // 100 * (i + 1) + 10 ** 9, el // 2) for i in
                 range(min(nr, MAX_VCPUS))]
        if self.forging("steal"):
            if self.phase < 2:          # backwards: a second less
                steal = [(max(s - 10 ** 9, 0), r // 2) for s, r in steal]
            else:                       # then huge, nr_steal past 64
                steal = [(hh.M64, hh.M64)] * len(steal)
                nr = 1000
        struct.pack_into("<IQQQQ", ram, a + 4, nr, 0, 1000, 100,
                         time.monotonic_ns())
        for i, (s, r) in enumerate(steal):
            struct.pack_into("<QQ", ram, a + STEAL_OFF + 16 * i, s, r)
        self.count["info"] += 1
        if self.forging("odd"):
            self.version = v            # stays odd
            self.count["forged"] += 1
            return
        self.version = v + 1
        struct.pack_into("<I", ram, a, self.version)

    def forge_times(self, m0, r, m1):
        """(monotonic, realtime) the host answers for a reading."""
        kind = self.clk.get("forge") if self.armed else None
        if kind == "back":
            return m1 - 60 * 10 ** 9, r - 60 * 10 ** 9
        if kind == "stall":
            return self.armed, self.arm_real
        if kind == "fast":
            return (self.armed + 1000 * (m1 - self.armed),
                    self.arm_real + 1000 * (m1 - self.armed))
        if kind == "jump":
            return m1, r + HOUR_NS
        return m1, r

    def window(self, count, win_us):
        """Answer up to @count exchanges: from the first request seen (at
        most FIRST_GRACE_NS after the WINDOW answer) for @win_us."""
        ram, xo = self.ram, self.area + XCHG
        first = time.monotonic_ns() + FIRST_GRACE_NS
        end = None
        answered = 0
        kind = self.clk.get("forge") if self.armed else None
        while answered < count:
            now = time.monotonic_ns()
            if now > (end if end is not None else first):
                if end is None:
                    self.count["no_first"] += 1
                break
            s = struct.unpack_from("<I", ram, xo)[0]
            if s == struct.unpack_from("<I", ram, xo + 64)[0] or \
                    s == self.last_req:
                os.sched_yield()
                continue
            if end is None:
                end = now + win_us * 1000
                wait = (now - first + FIRST_GRACE_NS) // 1000
                self.count["first_us_max"] = max(
                    self.count["first_us_max"], wait)
            self.last_req = s
            if kind == "silent_xchg":
                self.count["forged"] += 1
                continue
            m0 = time.clock_gettime_ns(MONO)
            r = time.clock_gettime_ns(REAL)
            m1 = time.clock_gettime_ns(MONO)
            mono, real = self.forge_times(m0, r, m1)
            gen = self.cfg[0]
            if kind == "gen":
                gen = (gen + 1) & 0xffffffff
            struct.pack_into("<IQQI", ram, xo + 68, gen, real, mono, m1 - m0)
            if kind == "seq":
                s = (s + 1) & 0xffffffff
            if kind:
                self.count["forged"] += 1
            struct.pack_into("<I", ram, xo + 64, s)     # resp_seq last
            answered += 1
        self.count["answered"] += answered

    # ---- the control queue
    def bad(self, what):
        self.count["bad"] += 1
        self.note("bad request: " + what)
        return S_INVAL, 0

    def control(self, r):
        """One request (a copy): (status, value), or None: no answer;
        the second item of a granted WINDOW is its window in us."""
        _, gpa, count, op, r0, r1, r2 = struct.unpack("<QQIBBBB", r)
        if self.clk.get("silent") or \
                (self.forging("silent_ctrl") and op == OP_WINDOW):
            self.count["forged"] += 1
            return None
        if r0 | r1 | r2:
            return self.bad("reserved bytes")
        if op == OP_SETUP:
            if count:
                return self.bad("SETUP count %d" % count)
            if self.clk.get("setup") == "inval" and gpa:
                self.count["forged"] += 1
                return S_INVAL, 0
            if not gpa:
                self.area = None
                return S_OK, 0
            if gpa % AREA_SIZE or gpa + AREA_SIZE > hh.RAM_SIZE:
                return self.bad("SETUP area %#x" % gpa)
            self.area = gpa
            self.last_req = None
            self.count["setups"] += 1
            self.write_info()
            return S_OK, 0
        if op != OP_WINDOW:
            return self.bad("op %d" % op)
        allowed = min(max(self.cfg[1], 1), MAX_XCHG)
        if gpa or not 1 <= count <= allowed or self.area is None:
            return self.bad("WINDOW %d at %#x, area %s" % (count, gpa,
                                                            self.area))
        self.count["windows"] += 1
        if self.forging("busy"):
            self.count["busy"] += 1
            self.count["forged"] += 1
            return S_BUSY, 0xffffffff
        now = time.monotonic()
        rate = max(self.cfg[2], 1)
        self.tokens = min(rate, self.tokens + (now - self.token_t) * rate)
        self.token_t = now
        if self.tokens < 1:
            self.count["busy"] += 1
            return S_BUSY, int((1 - self.tokens) * 1000 / rate) + 1
        self.tokens -= 1
        return S_OK, self.cfg[3]

    def serve_other(self, slot, d, c):
        if d.type != DEV_CLOCK:
            return False
        if d.state != S_CONNECTED:
            self.area = None
            return True
        grant = None
        for r in self.reqs(d, c, 0):
            ans = self.control(r)
            if ans is None:
                continue
            status, value = ans
            self.rsp(d, c, 0, struct.pack("<QIB", struct.unpack_from(
                "<Q", r)[0], value & 0xffffffff, status))
            if r[20] == OP_WINDOW and status == S_OK:
                grant = (struct.unpack_from("<I", r, 16)[0],
                         min(value, WINDOW_MAX_US))
        self.publish_q(d, c, 0)
        if grant:
            self.window(*grant)
        self.update_verdict()
        return True

    def tick(self):
        super().tick()
        d = self.clock_dev()
        if d is None:
            return
        if d.state != S_CONNECTED:
            self.area = None
        now = time.monotonic_ns()
        if self.area is not None and now >= self.next_info:
            self.next_info = now + max(self.cfg[4], 10) * 10 ** 6
            if not (self.forging("odd") and self.version & 1):
                self.write_info()
        storm = self.clk.get("storm")
        if storm and self.armed and now < self.armed + storm * 10 ** 9 \
                and now >= self.next_bump:
            self.next_bump = now + 10 ** 7
            cfg = list(self.cfg)
            cfg[0] = (cfg[0] + 1) & 0xffffffff or 1
            self.cfg = tuple(cfg)
            d.config = clk_config(*cfg)
            self.count["bumps"] += 1
            self.publish()          # in place: generation and vec_config


# ---- the guest's side: pvkit.ko loaded; the script loads pvkit_clock
# itself ($1: its arguments), selects its clocksource and judges.
CLK_PRE = r"""
s=/sys/kernel/debug/pvkit_clock/clock.0/status
b=/sys/bus/pvkit/devices/clock.0
cs=/sys/devices/system/clocksource/clocksource0
st() { sed -n "s/^$1: //p" $s 2>/dev/null; }
hc() { pvkit-hc 0x7000 "$@"; }
fail() {
	echo "hostile: $*"
	[ -e $s ] && echo "hostile: status: $(grep -v '^host_\|^ptp\|^features\|^max_\|^window_us\|^nr_' $s | tr '\n' ' ')"
	exit 1
}
meminfo() { sed -n "s/^$1: *\([0-9]*\) kB/\1/p" /proc/meminfo; }
# CLOCK_REALTIME in ns; CLOCK_BOOTTIME (= MONOTONIC, no suspend) in ms
rt() { pvkit-clk now | sed -n 's/^PVKIT-CLK-NOW \([0-9]*\)\.\([0-9]*\)$/\1\2/p'; }
up() { awk '{ printf "%d\n", $1 * 1000 }' /proc/uptime; }
abs() { [ $1 -lt 0 ] && echo $((-$1)) || echo $1; }
# guest CLOCK_REALTIME - host's (command $1: 1 true, 4 as answered), ms
offset() {
	a=$(rt); h=$(hc ${1:-1}); z=$(rt)
	echo $(( ((a + z) / 2 - h) / 1000000 ))
}
ge() { v=$(st $1); [ -n "$v" ] && [ $v -ge $2 ] || fail "$1 is '$v', want >= $2"; }
le() { v=$(st $1); [ -n "$v" ] && [ $v -le $2 ] || fail "$1 is '$v', want <= $2"; }
eq() { v=$(st $1); [ "$v" = "$2" ] || fail "$1 is '$v', want $2"; }
until_ge() {
	i=0; while v=$(st $1); [ -z "$v" ] || [ $v -lt $2 ]; do
		i=$((i + 1)); [ $i -gt ${3:-100} ] && fail "$1 is '$v', want >= $2"
		sleep 0.1
	done
}
host() { hc 3 $1; }
# loaded, bound, clocksource pvkit current.  MUST_VERIFY: it is listed
# once the watchdog has checked it (0.5 s ticks).  Before the rate is
# measured it runs at the guest's tsc_khz, which TCG can leave 1000 ppm
# off: the watchdog may mark it unstable then.  A failure with $1 =
# strict (the good scenarios), a note otherwise.
bound() {
	i=0; while [ ! -e $s ]; do i=$((i + 1)); [ $i -gt 50 ] && fail "not bound"; sleep 0.1; done
	i=0; while ! grep -qw pvkit $cs/available_clocksource; do
		if dmesg | tail -n +$((d0 + 1)) | grep -q "Marking clocksource 'pvkit' as unstable"; then
			w="the watchdog marked clocksource pvkit unstable ($(st rate_measured) rate measured, rate_ppm $(st rate_ppm))"
			[ "${1:-}" = strict ] && fail "$w"
			echo "hostile: note: $w: not selected"; return
		fi
		i=$((i + 1)); [ $i -gt 50 ] && fail "no clocksource pvkit"; sleep 0.1
	done
	echo pvkit > $cs/current_clocksource
	[ "$(cat $cs/current_clocksource)" = pvkit ] || fail "pvkit not selected"
}
# CLOCK_REALTIME stepped to the host's: within 50 ms (10 s)
synced() {
	i=0; while o=$(offset); [ $(abs $o) -gt 50 ]; do
		i=$((i + 1)); [ $i -gt 50 ] && fail "CLOCK_REALTIME $o ms off the host's"
		sleep 0.2
	done
}
# the forgery starts; the clocks from here on
arm() {
	c0=$(st calibrations); steps0=$(st steps)
	r0=$(rt); u0=$(up)
	[ "$(hc 2)" = 0 ] || fail "arm failed"
}
mono() {
	m0=$(up)
	out=$(pvkit-clk mono 200000) || fail "mono: $out"
	echo "hostile: mono: $(($(up) - m0)) ms"
	echo "$out" | grep -q ' backwards=0 ' || fail "mono: $out"
}
# CLOCK_REALTIME moved as CLOCK_MONOTONIC did, but for $2 ms, within $1 ms
drift() {
	r1=$(rt); u1=$(up)
	d=$(( (r1 - r0) / 1000000 - (u1 - u0) - ${2:-0} ))
	[ $(abs $d) -le $1 ] || fail "CLOCK_REALTIME moved $(( (r1 - r0) / 1000000 )) ms in $((u1 - u0)) ms of CLOCK_MONOTONIC (steps $(st steps), last $(st last_step_ns) ns)"
}
# calibrations stopped at arming (one in flight may finish)
stopped() { le calibrations $((c0 + 1)); le steps $steps0; }
unload() {
	rmmod pvkit_clock || fail "rmmod pvkit_clock failed"
	[ "$(cat $cs/current_clocksource)" != pvkit ] || fail "pvkit still current"
	! grep -qw pvkit $cs/available_clocksource || fail "pvkit still registered"
}
d0=$(dmesg | wc -l)
insmod /lib/modules/pvkit/pvkit_clock.ko calib_ms=200 $1 || exit 8
"""


def script(body, args=""):
    """The scenario's guest shell: pvkit_clock loaded with @args."""
    return "(set -- %s\n%s\n%s); rc=$?\n" % (
        hh.shlex.quote(args), CLK_PRE, body) + \
        "[ -d /sys/module/pvkit_clock ] && rmmod pvkit_clock\nexit $rc\n"


GOOD = """
bound strict; synced
arm; mono
until_ge rate_measured 1 50
o=$(offset)
[ $(abs $o) -le 50 ] || fail "CLOCK_REALTIME $o ms off the host's"
[ $(abs $(st rate_ppm)) -lt 50000 ] || fail "rate_ppm $(st rate_ppm)"
for f in generation monotonic realtime rate seq; do eq rejects_$f 0; done
eq disruptions 0; le steps 1; eq version_odd_giveups 0
eq mapping_valid 1
eq features 0x1
[ "$(grep -c '^cpu[01] [0-9]* [0-9]*$' $b/steal)" = 2 ] || fail "steal: $(cat $b/steal)"
p=$(pvkit-clk ptp /dev/ptp$(st ptp_index) 20) || fail "ptp: $p"
echo "$p" | grep -q 'samples=20' || fail "ptp: $p"
drift 100
echo "hostile: good: $(st calibrations) calibrations, rtt best $(st best_rtt_ns) ns, bound $(st error_bound_ns) ns, rate $(st rate_ppm) ppm, offset $o ms"
unload
"""

CYCLES = 100
RELOAD = """
bound; unload
mem() { awk '/^(SUnreclaim|Percpu|VmallocUsed):/ { printf "%%s ", $2 }' /proc/meminfo; }
n=0; while [ $n -lt %d ]; do
	[ $n = 5 ] && set -- $(mem)
	insmod /lib/modules/pvkit/pvkit_clock.ko calib_ms=200 || fail "insmod $n"
	[ -e $s ] || fail "cycle $n: not bound"
	rmmod pvkit_clock || fail "rmmod $n"
	n=$((n + 1))
done
set -- $1 $2 $3 $(mem)
echo "hostile: reload: %d cycles, from cycle 5: SUnreclaim +$(($4 - $1)) kB, Percpu +$(($5 - $2)) kB, VmallocUsed +$(($6 - $3)) kB"
[ $(($4 - $1)) -lt %d ] && [ $(($5 - $2)) -lt 64 ] && [ $(($6 - $3)) -lt %d ] ||
	fail "memory grew"
insmod /lib/modules/pvkit/pvkit_clock.ko calib_ms=200 || fail "insmod"
""" % (CYCLES, CYCLES, 256 + CYCLES, 256 + CYCLES)


def hostile(body):
    """Calibrated and synced, the forgery armed, mono under it once
    the body has seen it work."""
    return "bound; synced\narm\n" + body + "\nmono\nunload\n"


NOT_BOUND = """
sleep 0.5; [ -e $s ] && fail "bound"
! grep -qw pvkit $cs/available_clocksource || fail "clocksource registered"
unload
"""

# calibrations every 200 ms or 100 ms (a step pending): the storm's 5 s
# allow at most one per 100 ms, one step per second
STORM = """
sleep 5
drift 100
ge generation_changes 5; le generation_changes 80
le calibrations $((c0 + 80)); le steps $((steps0 + 7))
[ $(host 4) -ge 300 ] || fail "host bumped $(host 4) times"
i=0; while [ "$(st mapping_generation)" != "$(st generation)" ] || [ "$(st mapping_valid)" != 1 ]; do
	i=$((i + 1)); [ $i -gt 50 ] && fail "no mapping after the storm"; sleep 0.1
done
c1=$(st calibrations); sleep 1; ge calibrations $((c1 + 2))
echo "hostile: storm: $(host 4) bumps, $(st generation_changes) generation changes, $(st calibrations) calibrations, $(st steps) steps"
"""

# the driver's documented disruption handling: a step to the host's time
JUMP = """
until_ge disruptions 1 50
until_ge steps $((steps0 + 1)) 50
sleep 1
l=$(st last_step_ns)
[ $(abs $((l / 1000000 - 3600000))) -le 100 ] || fail "stepped $l ns, want 3600 s"
drift 200 3600000
o=$(offset 4)
[ $(abs $o) -le 50 ] || fail "CLOCK_REALTIME $o ms off the host's implied"
eq rejects_rate 0
"""

STEAL = """
bound; synced
cpu0() { sed -n 's/^cpu0 \\([0-9]*\\) .*/\\1/p' $b/steal; }
s0=$(cpu0); [ -n "$s0" ] || fail "no steal before"
arm; hc 2 1 > /dev/null; sleep 0.5
s1=$(cpu0)
[ -n "$s1" ] && [ $s1 -ge $s0 ] || fail "steal went back: $s0 -> '$s1' ns (ABI.md 12: a guest ignores a step backwards)"
hc 2 2 > /dev/null; sleep 0.5
n=$(grep -c . $b/steal)
[ $n -le 2 ] || fail "$n steal lines, config nr_vcpus 2"
mono; drift 100
unload
"""


def clk(name, action, log=None, devs=None, connects=1, args="",
        **clk_mode):
    return Scenario(name, "clock.0", log, devs=devs or [clk_dev()],
                    action=script(action, args), connects=connects,
                    mode=dict(clk=clk_mode))


CLK_SCENARIOS = [
    clk("good: calibrated, rate measured, CLOCK_REALTIME on the host's, "
        "steal, PTP", GOOD, want={"answered": 20, "setups": 1}),
    clk("reload: %d insmod/rmmod cycles with the host answering, memory "
        "flat" % CYCLES, RELOAD + "unload\n",
        want={"setups": CYCLES}),
    # ---- info and steal
    clk("info version stuck odd: given up and counted, the last good "
        "steal kept, calibrations go on",
        hostile("""
until_ge version_odd_giveups 1 50
[ "$(grep -c '^cpu[01] ' $b/steal)" = 2 ] || fail "last good steal not shown: '$(cat $b/steal)'"
until_ge calibrations $((c0 + 3)) 50; drift 100
"""), forge="odd"),
    clk("steal backwards, then 2^64-1 with nr_steal 1000: never shown "
        "going back, at most nr_vcpus entries", STEAL,
        forge="steal"),
    # ---- exchange answers
    clk("answers 60 s back in time: refused (monotonic), no step",
        hostile("until_ge rejects_monotonic 1 50; stopped; eq disruptions 0; "
                "drift 100"), forge="back"),
    clk("host time stands still (rate 0): CLOCK_REALTIME not dragged "
        "back", hostile("until_ge disruptions 1 50; sleep 3; drift 1000"),
        forge="stall"),
    clk("host time 1000x fast: CLOCK_REALTIME not dragged ahead",
        hostile("until_ge disruptions 1 50; sleep 3; drift 1000"),
        forge="fast"),
    clk("wrong resp_seq: refused (seq), no calibration",
        hostile("until_ge rejects_seq 1 50; stopped; drift 100"), forge="seq"),
    clk("answers of another generation: refused (generation)",
        hostile("until_ge rejects_generation 1 50; stopped; drift 100"),
        forge="gen"),
    clk("exchanges never answered: windows time out, no hang",
        hostile("until_ge rejects_timeout 1 50; "
                "until_ge windows_ok $(($(st windows_ok) + 2)) 50; "
                "stopped; drift 100"), forge="silent_xchg"),
    clk("BUSY for ever, value 0xffffffff: the wait clamped (10 s)",
        hostile("until_ge windows_busy 2 130; stopped; drift 100"),
        forge="busy"),
    # ---- control
    clk("SETUP answered INVAL: not bound, rmmod works", NOT_BOUND,
        "host refused SETUP", setup="inval"),
    clk("control never answered: SETUP times out, not bound", NOT_BOUND,
        "clock call on queue 0 unanswered", silent=True),
    clk("WINDOW never answered once calibrated: broken, the clocksource "
        "keeps going, rmmod works", hostile("""
i=0; while ! dmesg | tail -n +$((d0 + 1)) | grep -q 'clock.0: device broken'; do
	i=$((i + 1)); [ $i -gt 60 ] && fail "not broken"; sleep 0.1
done
stopped; drift 100
"""), "clock call on queue 0 unanswered", forge="silent_ctrl"),
    # ---- config
    clk("config max_xchg 1000, window_us 10^9, nr_vcpus 1000, unknown "
        "features: clamped, masked, calibrates", """
bound; synced; arm
eq max_xchg 64; eq window_us 5000; eq nr_vcpus 64; eq features 0x1
[ $(grep -c . $b/steal) -le 64 ] || fail "$(grep -c . $b/steal) steal lines"
until_ge calibrations $(($(st calibrations) + 2)) 50
mono; drift 100; unload
""", "config max_xchg 1000: using 64",
        devs=[clk_dev(features=F_STEAL | 1 << 5 | 1 << 63, max_xchg=1000,
                      window_us=10 ** 9, nr_vcpus=1000)]),
    clk("config max_xchg 0: clamped to 1, calibrates", """
bound; synced; arm
eq max_xchg 1
until_ge calibrations $(($(st calibrations) + 2)) 50
mono; drift 100; unload
""", "config max_xchg 0: using 1", devs=[clk_dev(max_xchg=0)]),
    clk("config window_us 0, each WINDOW granted for 0 us: exchanges "
        "time out, no hang", """
bound; eq window_us 5000
until_ge windows_ok 3 50; ge rejects_timeout 1
mono; unload
""", "config window_us 0: using 5000", devs=[clk_dev(window_us=0)]),
    clk("config 16 bytes: not bound", NOT_BOUND,
        "config too short: 16 bytes", devs=[clk_dev(config_size=16)],
        connects=0),
    # ---- generation
    clk("generation storm (+1 every 10 ms for 5 s): rate-limited, no "
        "livelock", hostile(STORM), storm=5),
    clk("CLOCK_REALTIME +1 hour, same generation: disruption, stepped by "
        "+1 hour (documented)", hostile(JUMP), forge="jump"),
    clk("good after the hostile ones", GOOD, want={"answered": 20}),
]


if __name__ == "__main__":
    sys.exit(hh.main(__doc__, CLK_SCENARIOS, ClockHost, "clock-hostile"))
