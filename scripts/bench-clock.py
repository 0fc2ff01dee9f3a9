#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""make bench-clock: the pvkit paravirt clock against the guest's own
clocksources and against a stock guest, in one boot (2 vCPUs, --clock on).

  cost     ns per clock_gettime(CLOCK_MONOTONIC) with each clocksource the
           guest offers (tsc, hpet, acpi_pm, pvkit ...), ROUNDS rounds in
           rotated order; pvkit's against hpet's (target <= 1/5), per call
           and per read (less a getppid() system call measured alongside:
           no clocksource of these has a vDSO mode here)
  ptp      PTP_SYS_OFFSET_EXTENDED on pvkit's /dev/ptpN: read latency and
           phc - sys offset; pvkit_clock's error bound and exchange RTTs
  offset   guest - host for OFFSET_S s twice: free-running (pvkit_clock
           stepped CLOCK_REALTIME once at load, then the guest's own clock
           runs on the best clocksource it has without pvkit, as a stock
           guest's would) and disciplined (chronyd, refclock PHC on pvkit's
           PTP clock, the guest's default clocksource), each second: the PHC - system offset (pvkit's estimate
           of host time, to the microsecond) and the serial-line offset
           (guest time printed, host time on receipt: independent of
           pvkit, ms-level); p50/p99 (target: chrony p99 <= 50 us)
  pause    `pvkit pause; sleep PAUSE_S; pvkit resume`: guest - host 1 s after
           the resume, with pvkit_clock (target <= 5 ms) and stock (module
           unloaded, same boot: >= PAUSE_S s expected)

The host end is selftests/vm/clk_peer.py.  Results: build/bench/clock.json
and clock.md.
"""

import argparse
import os
import subprocess
import sys
import tempfile
import threading

sys.dont_write_bytecode = True  # the source tree is never written
from benchlib import finish, fmt, loadavg, median  # noqa: E402

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(TOP, "build", "bench")
sys.path.insert(0, os.path.join(TOP, "selftests", "vm"))
import clk_peer  # noqa: E402

GUEST = r'''
set -u
st() { sed -n "s/^$1: //p" /sys/kernel/debug/pvkit_clock/*/status 2>/dev/null; }
valid() {
	i=0; while [ "$(st mapping_valid)" != 1 ] && [ $i -lt 200 ]; do
		i=$((i + 1)); sleep 0.05
	done
}
cs=/sys/devices/system/clocksource/clocksource0
valid
# the clocksource comes once a host rate is measured (seconds at boot)
i=0; while ! grep -qw pvkit $cs/available_clocksource && [ $i -lt 300 ]; do
	i=$((i + 1)); sleep 0.1
done
sleep 2
def=$(cat $cs/current_clocksource)
echo "BENCH-CS-DEFAULT: $def"
echo "BENCH-CS-AVAIL: $(cat $cs/available_clocksource)"
all=$(cat $cs/available_clocksource)
r=0
while [ $r -lt @ROUNDS@ ]; do
	r=$((r + 1))
	set -- $all
	k=0; while [ $k -lt $((r - 1)) ]; do set -- "$@" "$1"; shift; k=$((k + 1)); done
	for c in "$@"; do
		echo "$c" > $cs/current_clocksource &&
			pvkit-clk cost @CALLS@ | sed "s/^PVKIT-CLK: /BENCH-COST $r /"
	done
done
echo "$def" > $cs/current_clocksource
ptp=$(st ptp_index)
echo "BENCH-PTPDEV: $ptp"
pvkit-clk ptp /dev/ptp$ptp 2000 | sed "s/^PVKIT-CLK: /BENCH-PTP: /"
for i in 1 2 3 4 5 6 7 8 9 10; do
	echo "BENCH-BOUND: $(st error_bound_ns) $(st best_rtt_ns) $(st last_rtt_ns) $(st last_sample_err_ns) $(st rate_ppm) $(st rate_uncertainty_ppb)"
	sleep 1
done
# free-running: one step at load (to 50 us), then the guest clock on the
# best clocksource it has without pvkit (a stock guest's)
rmmod pvkit_clock
own=$(for c in $(cat $cs/available_clocksource); do [ $c = pvkit ] || { echo $c; break; }; done)
echo "BENCH-FREE-CS: $own"
insmod /lib/modules/pvkit/pvkit_clock.ko step_threshold_us=50; valid
echo "$own" > $cs/current_clocksource
sleep 3
echo "BENCH-STEP: $(st steps) $(st last_step_ns)"
ptp=$(st ptp_index)
echo "PVKIT-CLK-MARK free"
i=0; while [ $i -lt @OFFSET_S@ ]; do
	i=$((i + 1)); sleep 1
	pvkit-clk ptp /dev/ptp$ptp 5 | sed -n "s/^PVKIT-CLK: ptp /BENCH-FREE /p"
	pvkit-clk now
done
cat > /tmp/chrony.conf <<EOF
refclock PHC /dev/ptp$ptp poll 0 dpoll -2
makestep 0.001 -1
cmdport 0
driftfile /tmp/chrony.drift
EOF
echo "$def" > $cs/current_clocksource
chronyd -u root -f /tmp/chrony.conf -L 0 || echo "BENCH-NOTE chronyd failed"
sleep 15
echo "PVKIT-CLK-MARK chrony"
i=0; while [ $i -lt @OFFSET_S@ ]; do
	i=$((i + 1)); sleep 1
	pvkit-clk ptp /dev/ptp$ptp 5 | sed -n "s/^PVKIT-CLK: ptp /BENCH-CHRONY /p"
	echo "BENCH-CHRONYC $(chronyc -c tracking | cut -d, -f6)"
	pvkit-clk now
done
killall chronyd; sleep 0.5
echo "PVKIT-CLK-PAUSE withclock @PAUSE_S@"
for i in $(seq 40); do sleep 0.25; pvkit-clk now; done
echo "BENCH-PAUSESTEP: $(st steps) $(st last_step_ns)"
rmmod pvkit_clock
echo "PVKIT-CLK-PAUSE stock @PAUSE_S@"
for i in $(seq 40); do sleep 0.25; pvkit-clk now; done
'''


def kv(line):
    """{key: value} of the key=value words of a line."""
    return dict(w.split("=", 1) for w in line.split() if "=" in w)


def pct(v, q):
    v = sorted(v)
    return v[min(len(v) - 1, int(q * len(v)))] if v else None


def boot(args, tmp):
    name = "bench-clock-%d" % os.getpid()
    console = os.path.join(OUT, "%s-console.log" % args.out)
    out = os.path.join(tmp, "peer.json")
    script = GUEST
    for k, v in (("ROUNDS", args.rounds), ("CALLS", args.calls),
                 ("OFFSET_S", args.offset_s), ("PAUSE_S", args.pause_s)):
        script = script.replace("@%s@" % k, str(v))
    budget = 600 + 3 * args.offset_s + 2 * args.pause_s
    cmd = [os.path.join(TOP, "scripts", "boot-guest.sh"), "--cmd", script,
           "--timeout", str(budget), "--log", console, "--",
           "--name", name, "--clock", "on", "--cpus", "2"]
    try:
        os.unlink(console)
    except OSError:
        pass
    print("bench-clock: one boot, at most %d s" % budget, flush=True)
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL,
                            env=dict(os.environ, PVKIT_BOOT="hv"))
    peer = clk_peer.Peer(console, out, name,
                         os.path.join(TOP, "build", "bin", "pvkit"))
    th = threading.Thread(target=peer.run, daemon=True)
    th.start()
    rc = proc.wait()
    th.join(180)
    lines = []
    try:
        with open(console, errors="replace") as f:
            lines = [ln.strip() for ln in f if ln.startswith("BENCH-")]
    except OSError:
        pass
    print("bench-clock: boot exited %d" % rc, flush=True)
    return rc, peer.res, lines


def serial(res, phase):
    """Guest - host on the serial line (ms): the best (fastest) line."""
    v = [(g - h) / 1e6 for g, h in res["phases"].get(phase, [])]
    return {"n": len(v), "best": max(v, default=None), "median": median(v)}


def after_resume(res, phase, a=1.0, b=2.5):
    t = res["pauses"].get(phase, {}).get("resume_ns")
    if not t:
        return []
    return [(g - h) / 1e6 for g, h in res["phases"].get(phase, [])
            if t + a * 1e9 <= h <= t + b * 1e9]


def summarize(rc, res, lines):
    s = {"cost": {}, "null": [], "default": None, "available": []}
    free, chrony, chronyc, bounds = [], [], [], []
    for ln in lines:
        head, _, rest = ln.partition(" ")
        if ln.startswith("BENCH-CS-DEFAULT:"):
            s["default"] = rest.strip()
        elif ln.startswith("BENCH-FREE-CS:"):
            s["free_cs"] = rest.strip()
        elif ln.startswith("BENCH-CS-AVAIL:"):
            s["available"] = rest.split()
        elif head == "BENCH-COST":
            d = kv(rest)
            try:
                s["cost"].setdefault(d["clocksource"], []).append(
                    float(d["ns_per_call"]))
                s["null"].append(float(d["ns_per_null_syscall"]))
            except (KeyError, ValueError):
                pass
        elif ln.startswith("BENCH-PTP: ptp dev"):
            s["ptp"] = {k: int(v) for k, v in kv(rest).items()
                        if v.lstrip("-").isdigit()}
        elif ln.startswith("BENCH-PTP: ptp precise"):
            s["ptp_precise"] = rest.split("precise", 1)[1].strip()
        elif ln.startswith("BENCH-BOUND:"):
            w = rest.split()
            if len(w) >= 6 and all(x.lstrip("-").isdigit() for x in w[:6]):
                bounds.append([int(x) for x in w[:6]])
        elif head == "BENCH-FREE":
            d = kv(rest)
            if "offset_p50_ns" in d:
                free.append(int(d["offset_p50_ns"]))
        elif head == "BENCH-CHRONY":
            d = kv(rest)
            if "offset_p50_ns" in d:
                chrony.append(int(d["offset_p50_ns"]))
        elif head == "BENCH-CHRONYC":
            try:
                chronyc.append(float(rest) * 1e9)
            except ValueError:
                pass
        elif ln.startswith("BENCH-STEP:") or ln.startswith("BENCH-PAUSESTEP:"):
            s[head.rstrip(":").lower()] = rest.strip()
    s["cost_median"] = {k: median(v) for k, v in s["cost"].items()}
    s["null_syscall"] = median(s["null"])
    s["read_median"] = {k: v - s["null_syscall"] for k, v in
                        s["cost_median"].items()
                        if v is not None and s["null_syscall"] is not None}
    s["bounds"] = bounds

    def abs_us(v, **more):
        """|v| (ns) percentiles in us, None without samples."""
        a = [abs(x) / 1e3 for x in v]
        return dict(n=len(v), p50=pct(a, .5), p99=pct(a, .99), **more)
    s["offset"] = {
        "free_phc_us": abs_us(free, first=free[0] / 1e3 if free else None,
                              last=free[-1] / 1e3 if free else None),
        "chrony_phc_us": abs_us(chrony),
        "chronyc_last_us": abs_us(chronyc),
        "free_serial_ms": serial(res, "free"),
        "chrony_serial_ms": serial(res, "chrony"),
    }
    s["pause"] = {p: {"rc": res["pauses"].get(p, {}).get("rc"),
                      "after_1s_ms": after_resume(res, p),
                      "best_ms": max(after_resume(res, p), default=None)}
                  for p in ("withclock", "stock")}
    s["rc"] = rc
    return s


def ratio(a, b):
    return None if a is None or not b else a / b


def markdown(s, meta):
    cm = s["cost_median"]
    pv, hp = cm.get("pvkit"), cm.get("hpet")
    o, p = s["offset"], s["pause"]
    ptp = s.get("ptp", {})
    b = s["bounds"]
    t = ["# bench-clock", "",
         "%s; guest default clocksource %s; one boot, 2 vCPUs, TCG." %
         (meta["when"], s["default"]), "",
         "| measure | value | peer | ratio / target |", "|---|---|---|---|"]
    for c in sorted(cm):
        t.append("| clock_gettime, %s: ns/call (median of %d rounds) | %s | "
                 "hpet %s | %s |" % (c, len(s["cost"][c]), fmt(cm[c]),
                                     fmt(hp), fmt(ratio(cm[c], hp), 2)))
    t.append("| pvkit / hpet, clock_gettime | %s | | target <= 0.20: %s |" %
             (fmt(ratio(pv, hp), 2),
              "met" if ratio(pv, hp) is not None and ratio(pv, hp) <= 0.2
              else "missed"))
    rm = s["read_median"]
    rpv, rhp = rm.get("pvkit"), rm.get("hpet")
    t.append("| null system call (getppid), ns | %s | | the floor of all "
             "three: no vDSO |" % fmt(s["null_syscall"]))
    for c in sorted(rm):
        t.append("| %s read: clock_gettime less a null syscall, ns | %s | "
                 "hpet %s | %s |" % (c, fmt(rm[c]), fmt(rhp),
                                     fmt(ratio(rm[c], rhp), 2)))
    t.append("| pvkit / hpet, the clocksource read alone | %s | | "
             "target <= 0.20: %s |" %
             (fmt(ratio(rpv, rhp), 2),
              "met" if ratio(rpv, rhp) is not None and ratio(rpv, rhp) <= 0.2
              else "missed"))
    t.append("| PTP read (PTP_SYS_OFFSET_EXTENDED) latency p50 / p99, us | "
             "%s / %s | | |" % (fmt(ptp.get("read_p50_ns", 0) / 1e3, 2),
                                fmt(ptp.get("read_p99_ns", 0) / 1e3, 2)))
    if b:
        t.append("| pvkit_clock error bound, us (median of %d) | %s | | "
                 "best exchange RTT %s us, last sample error %s us |" %
                 (len(b), fmt(median([x[0] for x in b]) / 1e3, 1),
                  fmt(median([x[1] for x in b]) / 1e3, 1),
                  fmt(median([x[3] for x in b]) / 1e3, 1)))
        t.append("| host rate vs nominal TSC, ppm (uncertainty ppb) | %s (%s) "
                 "| | |" % (b[-1][4], b[-1][5]))
    t.append("| guest - host, free-running %d s on %s (PHC): |offset| p50 / "
             "p99, us | %s / %s | | first %s, last %s us |" %
             (o["free_phc_us"]["n"], s.get("free_cs"),
              fmt(o["free_phc_us"]["p50"]),
              fmt(o["free_phc_us"]["p99"]), fmt(o["free_phc_us"]["first"]),
              fmt(o["free_phc_us"]["last"])))
    cp99 = o["chrony_phc_us"]["p99"]
    t.append("| guest - host, chrony + pvkit PHC (PHC): |offset| p50 / p99, "
             "us | %s / %s | free-running p99 %s | target p99 <= 50: %s |" %
             (fmt(o["chrony_phc_us"]["p50"]), fmt(cp99),
              fmt(o["free_phc_us"]["p99"]),
              "met" if cp99 is not None and cp99 <= 50 else "missed"))
    t.append("| chronyc last offset |x| p50 / p99, us | %s / %s | | |" %
             (fmt(o["chronyc_last_us"]["p50"]),
              fmt(o["chronyc_last_us"]["p99"])))
    t.append("| guest - host on the serial line (independent, ms-level; "
             "best line), ms | chrony %s | free-running %s | |" %
             (fmt(o["chrony_serial_ms"]["best"], 3),
              fmt(o["free_serial_ms"]["best"], 3)))
    w, st = p["withclock"]["best_ms"], p["stock"]["best_ms"]
    t.append("| time error 1 s after a %d s pause, ms | pvkit %s | stock %s "
             "| target <= 5 ms vs >= %d s: %s |" %
             (meta["pause_s"], fmt(w, 3), fmt(st, 0), meta["pause_s"],
              "met" if w is not None and abs(w) <= 5 and st is not None and
              st <= -1000 * (meta["pause_s"] - 1) else "missed"))
    t += ["", "PHC offsets are pvkit's own estimate of host time against the "
          "guest's CLOCK_REALTIME; the serial-line offsets are independent of "
          "pvkit but include the line's transit (ms).", ""]
    return "\n".join(t) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--calls", type=int, default=20000)
    ap.add_argument("--offset-s", type=int, default=60)
    ap.add_argument("--pause-s", type=int, default=20)
    ap.add_argument("--out", default="clock")
    args = ap.parse_args()
    for f in ("pvkit-hv", "pvkit"):
        if not os.access(os.path.join(TOP, "build", "bin", f), os.X_OK):
            sys.exit("bench-clock: build/bin/%s missing: run 'make'" % f)
    os.makedirs(OUT, exist_ok=True)
    meta = {"when": subprocess.run(["date", "-u", "+%Y-%m-%d %H:%M UTC"],
                                   capture_output=True,
                                   text=True).stdout.strip(),
            "load_before": loadavg(), "rounds": args.rounds,
            "calls": args.calls, "offset_s": args.offset_s,
            "pause_s": args.pause_s}
    with tempfile.TemporaryDirectory(prefix="pvkit-bench-clock.") as tmp:
        rc, res, lines = boot(args, tmp)
    s = summarize(rc, res, lines)
    missing = sum(1 for x in (s["cost_median"].get("pvkit"),
                              s["offset"]["chrony_phc_us"]["p99"],
                              s["pause"]["withclock"]["best_ms"],
                              s["pause"]["stock"]["best_ms"]) if x is None)
    return finish(args.out, meta, s, markdown(s, meta), missing, rc)


if __name__ == "__main__":
    sys.exit(main())
