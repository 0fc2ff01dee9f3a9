#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""make bench-balloon: pvkit_balloon against QEMU's virtio-balloon.

Same engine, same guest image and size (2 GiB, 2 vCPUs), same RAM: the
shared RAM file pvkit-hv creates, which QEMU maps as memory-backend-file
share=on, so both balloons release memory by punching holes in the same
file and `pvkit balloon VM --json`'s ram_allocated measures both.

Two boots, because free page reporting is a device property of QEMU's
virtio-balloon and the kernel takes one reporting device at a time:

  boot "inflate"  -device virtio-balloon-pci: per round (order alternating)
                  virtio-balloon, then pvkit_balloon (free_page_reporting=0),
                  each alone: the guest fills its memory, the host inflates
                  768 MiB, then deflates to 0
  boot "report"   -device virtio-balloon-pci,free-page-reporting=on: per
                  round virtio-balloon and pvkit_balloon
                  (free_page_reporting=1), each alone: the guest fills and
                  frees 512 MiB, the host follows the RAM file for 30 s

The host end is selftests/vm/bal_peer.py (MEASURE, WATCH, STEP markers);
virtio-balloon is driven through a QMP socket of the benchmark's own.
pvkit_balloon stays loaded (stats_interval_s=0, no reporting, target 0)
while virtio-balloon is measured: its stats handshake is how the guest
waits for the host.  Results: build/bench/balloon.json and balloon.md.
"""

import argparse
import ctypes
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

sys.dont_write_bytecode = True  # the source tree is never written
from benchlib import fmt, loadavg, median  # noqa: E402

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(TOP, "build", "bench")
sys.path.insert(0, os.path.join(TOP, "selftests", "vm"))
import bal_peer  # noqa: E402

MIB = 1 << 20
INFLATE_MIB = 768
REPORT_MIB = 512
REPORT_S = 30
VIRTIO_PFNS = 256            # VIRTIO_BALLOON_ARRAY_PFNS_MAX: pages/request

GUEST_COMMON = r'''
set -u
st() { sed -n "s/^$1: //p" /sys/kernel/debug/pvkit_balloon/*/status 2>/dev/null; }
# mark MARKER...: print it, wait (at most 400 s) for the host's ack
mark() {
	s=$(st stats_seq); echo "$*"
	i=0; while [ "$(st stats_seq)" = "$s" ] && [ $i -lt 2000 ]; do
		i=$((i + 1)); sleep 0.2
	done
}
avail() { awk "/^MemAvailable:/ {print int(\$2 / 1024)}" /proc/meminfo; }
pv() {
	rmmod pvkit_balloon 2>/dev/null
	insmod /lib/modules/pvkit/pvkit_balloon.ko stats_interval_s=0 "$@"
	i=0; while [ -z "$(st stats_seq)" ] && [ $i -lt 100 ]; do
		i=$((i + 1)); sleep 0.1
	done
}
vb() { pvkit-loadmod virtio_balloon || echo "BENCH-NOTE no virtio_balloon"; sleep 1; }
pvkit-loadmod virtio_pci
echo "BENCH-AUTOINIT: $(dmesg | grep -o "mem auto-init.*")"
pv free_page_reporting=0
'''

GUEST_INFLATE = r'''
# touch all but 16 MiB of what is free: pages never touched are holes in
# the RAM file, and a balloon that takes them releases nothing
inflate() {
	echo 3 > /proc/sys/vm/drop_caches
	pvkit-mem fill $(( $(avail) - 16 )) > /dev/null; echo "BENCH-FILL $1-$2: $?"
	echo "BENCH-FREE $1-$2: $(awk "/^MemFree:/ {print int(\$2 / 1024)}" /proc/meminfo)"
	mark PVKIT-BAL-STEP filled-$1-$2
	mark PVKIT-BAL-MEASURE inflate-$1-$2 $1 %(mib)d
	mark PVKIT-BAL-MEASURE deflate-$1-$2 $1 0
}
round() {
	for d in $2; do
		[ $d = virtio ] && vb
		inflate $d $1
		[ $d = virtio ] && rmmod virtio_balloon
	done
}
'''

GUEST_REPORT = r'''
# the first reports of everything free take up to 30 s on an idle guest
# (page_reporting works 2 s apart, a budget at a time): let them settle,
# and record the RAM file 5 s apart before the fill to show they did
report() {
	sleep %(settle)d
	mark PVKIT-BAL-STEP pre-$1-$2-a; sleep 5; mark PVKIT-BAL-STEP pre-$1-$2-b
	pvkit-mem fill %(mib)d > /dev/null; echo "BENCH-FILL report-$1-$2: $?"
	mark PVKIT-BAL-WATCH report-$1-$2 %(mib)d %(secs)d
}
round() {
	for d in $2; do
		if [ $d = virtio ]; then
			vb; report virtio $1; rmmod virtio_balloon
		else
			pv free_page_reporting=1
			report pvkit $1
			echo "BENCH-REPORTED pvkit-$1: $(st reported_pages)"
			pv free_page_reporting=0
		fi
	done
}
'''


def die(msg):
    print("bench-balloon: " + msg, file=sys.stderr)
    sys.exit(1)


def boot(kind, script, args, tmp, budget):
    """One boot with the peer following its console; the peer's results
    and the console lines that start with BENCH-."""
    name = "bench-balloon-%d-%s" % (os.getpid(), kind)
    console = os.path.join(OUT, "%s-%s-console.log" % (args.out, kind))
    out = os.path.join(tmp, "peer-%s.json" % kind)
    qmp = os.path.join(tmp, "qmp-%s.sock" % kind)
    dev = "virtio-balloon-pci,id=vb0"
    if kind == "report":
        dev += ",free-page-reporting=on"
    extra = ["--name", name, "--mem", args.mem, "--balloon", "on",
             "--qemu-arg", "-device", "--qemu-arg", dev,
             "--qemu-arg", "-qmp",
             "--qemu-arg", "unix:%s,server=on,wait=off" % qmp]
    cmd = [os.path.join(TOP, "scripts", "boot-guest.sh"), "--cmd", script,
           "--timeout", str(budget), "--log", console, "--"] + extra
    try:
        os.unlink(console)  # never follow the previous run's log
    except OSError:
        pass
    print("bench-balloon: boot '%s' (%s), at most %d s" %
          (kind, dev, budget), flush=True)
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL,
                            env=dict(os.environ, PVKIT_BOOT="hv",
                                     PVKIT_APPEND=args.append))
    peer = bal_peer.Peer(console, out, name,
                         os.path.join(TOP, "build", "bin", "pvkit"), qmp=qmp)
    th = threading.Thread(target=peer.run, daemon=True,
                          kwargs={"limit_s": budget + 30,
                                  "alive": lambda: proc.poll() is None})
    th.start()
    rc = proc.wait()
    th.join(60)
    if peer.qmp:
        peer.qmp.close()
    notes = []
    try:
        with open(console, errors="replace") as f:
            notes = [ln.strip() for ln in f if ln.startswith("BENCH-")]
    except OSError:
        pass
    print("bench-balloon: boot '%s' exited %d" % (kind, rc), flush=True)
    return rc, peer.res, notes


def punch_calibration(mib=INFLATE_MIB):
    """Host only: what releasing MIB MiB of a memfd costs, punched 4 KiB
    at a time (virtio-balloon's 196608 calls for 768 MiB, one per page
    in QEMU) and 2 MiB at a time (pvkit's 2 MiB blocks; pvkit-hv merges
    neighbours into longer runs).  A null system call loop of the same
    length gives the Python/ctypes overhead to subtract."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_long,
                               ctypes.c_long]
    punch = 0x02 | 0x01   # FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE
    out = {"mib": mib}
    fd = os.memfd_create("bench-punch")
    try:
        size = mib * MIB
        os.ftruncate(fd, size)
        for name, step in (("4k", 4096), ("2m", 2 * MIB)):
            os.posix_fallocate(fd, 0, size)
            t0, c0 = time.perf_counter(), time.process_time()
            for off in range(0, size, step):
                if libc.fallocate(fd, punch, off, step):
                    raise OSError(ctypes.get_errno(), "fallocate")
            out[name] = {"calls": size // step,
                         "s": time.perf_counter() - t0,
                         "cpu_s": time.process_time() - c0}
        t0 = time.perf_counter()
        for _ in range(size // 4096):
            libc.getppid()
        out["null_loop_4k_s"] = time.perf_counter() - t0
    finally:
        os.close(fd)
    return out


def cpu_delta(a, b):
    """CPU seconds between two samples: "qemu", "pvkit-hv", "total"."""
    d = {"qemu": 0.0, "pvkit-hv": 0.0}
    for k in b:
        who = "qemu" if k.startswith("qemu") else k
        d[who] = d.get(who, 0.0) + b[k] - a.get(k, 0.0)
    d["total"] = sum(d.values())
    return d


def inflate_row(m, nbytes):
    """Numbers of one MEASURE record."""
    if not m or "error" in m or m.get("t_actual") is None:
        return None
    row = {"s": m["t_actual"],
           "mib_s": nbytes / MIB / m["t_actual"] if m["t_actual"] else None,
           "cpu": cpu_delta(m["cpu0"], m["cpu_actual"]),
           "cpu_until_done": cpu_delta(m["cpu0"], m["cpu1"]),
           "release_s": m.get("t_release"),
           "ram_allocated0": m["ram_allocated0"],
           "ram_allocated1": m["ram_allocated1"],
           # never touched before: a hole already, nothing to release
           "unbacked_mib": (m.get("ram", 0) - m["ram_allocated0"]) / MIB,
           "dropped_mib": (m["ram_allocated0"] -
                           (m["ram_allocated1"] or 0)) / MIB}
    if m.get("t_release") is not None:
        row["release_lag_s"] = m["t_release"] - m["t_actual"]
    # when the RAM file got within 1% of the balloon's size of its
    # lowest: the release is over, whatever it came to
    series = m.get("ram_allocated_series") or []
    if series and nbytes:
        low = min(a for _, a in series)
        t_done = next(t for t, a in series if a <= low + nbytes // 100)
        row["release_done_lag_s"] = t_done - m["t_actual"]
    if m["dev"] == "pvkit" and m.get("inflates1") is not None:
        row["requests"] = (m["inflates1"] - m["inflates0"] +
                           m["deflates1"] - m["deflates0"])
    else:
        row["requests"] = -(-nbytes // 4096 // VIRTIO_PFNS)  # inferred
    return row


def watch_row(series, mib):
    if not series:
        return None

    def first(frac):
        return next((t for t, d in series if d >= frac * mib * MIB), None)

    return {"t50_s": first(0.5), "t80_s": first(0.8),
            "dropped_mib": series[-1][1] / MIB, "after_s": series[-1][0]}


def stats(rows, key, sub=None):
    vals = [(r[key][sub] if sub else r.get(key)) for r in rows
            if r and (r.get(key) is not None)]
    if not vals:
        return None
    return {"median": median(vals), "min": min(vals), "max": max(vals),
            "n": len(vals), "of": len(rows), "values": vals}


def summarize(res_inflate, res_report, rounds):
    devs = {}
    for dev in ("virtio", "pvkit"):
        ms = res_inflate.get("measure", {})
        inf = [inflate_row(ms.get("inflate-%s-%d" % (dev, r)),
                           INFLATE_MIB * MIB) for r in range(1, rounds + 1)]
        dfl = [inflate_row(ms.get("deflate-%s-%d" % (dev, r)),
                           INFLATE_MIB * MIB) for r in range(1, rounds + 1)]
        rep = [watch_row(res_report.get("watch", {}).get(
            "report-%s-%d" % (dev, r)), REPORT_MIB)
            for r in range(1, rounds + 1)]
        drift = []
        for r in range(1, rounds + 1):
            st = res_report.get("steps", {})
            a = st.get("pre-%s-%d-a" % (dev, r), {}).get("ram_allocated")
            b = st.get("pre-%s-%d-b" % (dev, r), {}).get("ram_allocated")
            drift.append(None if a is None or b is None else (a - b) / MIB)
        devs[dev] = {
            "inflate": {"rounds": inf,
                        "s": stats(inf, "s"), "mib_s": stats(inf, "mib_s"),
                        "cpu_s": stats(inf, "cpu", "total"),
                        "cpu_qemu_s": stats(inf, "cpu", "qemu"),
                        "cpu_hv_s": stats(inf, "cpu", "pvkit-hv"),
                        "release_s": stats(inf, "release_s"),
                        "release_lag_s": stats(inf, "release_lag_s"),
                        "release_done_lag_s": stats(inf,
                                                    "release_done_lag_s"),
                        "dropped_mib": stats(inf, "dropped_mib"),
                        "unbacked_mib": stats(inf, "unbacked_mib"),
                        "requests": stats(inf, "requests")},
            "deflate": {"rounds": dfl,
                        "s": stats(dfl, "s"), "mib_s": stats(dfl, "mib_s"),
                        "cpu_s": stats(dfl, "cpu", "total"),
                        "cpu_qemu_s": stats(dfl, "cpu", "qemu"),
                        "cpu_hv_s": stats(dfl, "cpu", "pvkit-hv"),
                        "requests": stats(dfl, "requests")},
            "report": {"rounds": rep, "t50_s": stats(rep, "t50_s"),
                       "t80_s": stats(rep, "t80_s"),
                       "pre_fill_drift_mib_per_5s": drift},
        }
    return devs


def cell(st, nd=2, scale=1.0):
    if not st:
        return "-"
    v = [None if x is None else x * scale
         for x in (st["median"], st["min"], st["max"])]
    n = "" if st["n"] == st["of"] else " (%d of %d)" % (st["n"], st["of"])
    if st["n"] == 1:
        return fmt(v[0], nd) + n
    return "%s [%s–%s]%s" % (fmt(v[0], nd), fmt(v[1], nd), fmt(v[2], nd),
                             n)


def med(devs, dev, part, key):
    st = devs[dev][part].get(key)
    return st["median"] if st else None


def ratio(a, b):
    return a / b if a is not None and b else None


def verdicts(devs):
    """The issue's targets: (inflate throughput ratio, met), (release lag
    of pvkit, met)."""
    tput = ratio(med(devs, "pvkit", "inflate", "mib_s"),
                 med(devs, "virtio", "inflate", "mib_s"))
    st = devs["pvkit"]["inflate"].get("release_done_lag_s")
    lag = st["max"] if st else None
    return ((tput, tput is not None and tput >= 5),
            (lag, lag is not None and lag <= 1.0))


def table(devs):
    v, p = "virtio", "pvkit"
    (tput, tput_ok), (lag, lag_ok) = verdicts(devs)
    lines = [
        "| measure | virtio-balloon | virtio-balloon, free-page-reporting"
        " | pvkit_balloon | pvkit / virtio | target |",
        "|---|---:|---:|---:|---:|---|"]

    def row(name, part, key, nd=2, target="", report=False, scale=1.0,
            has_ratio=True):
        sv, sp = devs[v][part].get(key), devs[p][part].get(key)
        # a ratio only of medians over every round
        whole = sv and sp and sv["n"] == sv["of"] and sp["n"] == sp["of"]
        r = ratio(sp["median"], sv["median"]) \
            if has_ratio and whole else None
        vcell = cell(devs[v][part].get(key), nd, scale)
        lines.append("| %s | %s | %s | %s | %s | %s |" % (
            name, "-" if report else vcell, vcell if report else "-",
            cell(devs[p][part].get(key), nd, scale),
            (fmt(r, 2) + "×") if r is not None else "-", target))

    row("inflate 768 MiB: s (command → balloon at target)", "inflate", "s")
    row("inflate: MiB/s", "inflate", "mib_s", 0,
        ">= 5× virtio: **%s**" % ("met" if tput_ok else "missed"))
    row("inflate: host CPU s (QEMU + pvkit-hv)", "inflate", "cpu_s")
    row("… of which QEMU (vCPUs; virtio-balloon's punches)", "inflate",
        "cpu_qemu_s")
    row("… of which pvkit-hv (pvkit's requests and punches)", "inflate",
        "cpu_hv_s")
    row("inflate: requests (virtio: pages / 256)", "inflate", "requests",
        0, has_ratio=False)
    row("RAM file −95% of 768 MiB: s from the command (rounds that "
        "got there)", "inflate", "release_s")
    row("… s after the balloon reached the target (< 0: before)",
        "inflate", "release_lag_s", 2, has_ratio=False)
    row("RAM file at its lowest (±1%): s after the balloon reached the "
        "target", "inflate", "release_done_lag_s", 2,
        "<= 1 s (every round): **%s**" % ("met" if lag_ok else "missed"),
        has_ratio=False)
    row("RAM file drop when done, MiB (of 768)", "inflate", "dropped_mib",
        0)
    row("guest RAM never touched before the inflate, MiB", "inflate",
        "unbacked_mib", 0, has_ratio=False)
    row("deflate 768 MiB: ms", "deflate", "s", 0, scale=1000.0)
    row("deflate: host CPU s", "deflate", "cpu_s")
    row("deflate: requests", "deflate", "requests", 0, has_ratio=False)
    row("free page reporting, 512 MiB freed: RAM file −50%: s", "report",
        "t50_s", 1, report=True)
    row("free page reporting: RAM file −80%: s", "report", "t80_s", 1,
        report=True)
    return lines


def markdown(devs, meta):
    lines = [
        "Engine: QEMU %s, %d vCPUs, %s guest, RAM in pvkit-hv's shared "
        "memfd (both balloons punch the same file); %d rounds, medians "
        "[min–max]; %s; host load average %s at the start, %s at the end "
        "(%s cores)." % (
            meta["engine"], meta["vcpus"], meta["guest_mem"],
            meta["rounds"], meta["time"], " ".join(meta["load_start"]),
            " ".join(meta.get("load_end", [])), meta["nproc"]),
        ""]
    if meta.get("guest_append"):
        lines += ["Diagnostic run: guest kernel booted with `%s`." %
                  meta["guest_append"], ""]
    lines += table(devs)
    lines += [
        "",
        "Reporting: the boot with free-page-reporting=on, whose "
        "pvkit_balloon rounds ran in that boot too; '-' means the "
        "threshold was not reached in %d s.  Ratios are of medians "
        "(for times, below 1 means pvkit is faster).  pvkit's requests "
        "are pvkit-hv's inflate + deflate counters; each virtio-balloon "
        "request carries at most 256 4 KiB pages." % REPORT_S]
    pc = meta.get("punch")
    if pc:
        lines += [
            "",
            "The host's release alone (a %d MiB memfd, no guest, no "
            "VM): %d punches of 4 KiB (virtio-balloon's way) %.3f s, %d "
            "of 2 MiB (pvkit's blocks) %.3f s; a loop of as many null "
            "system calls costs %.3f s of the former." % (
                pc["mib"], pc["4k"]["calls"], pc["4k"]["s"],
                pc["2m"]["calls"], pc["2m"]["s"], pc["null_loop_4k_s"])]
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5,
                    help="rounds per boot (default 5)")
    ap.add_argument("--mem", default="2G")
    ap.add_argument("--settle", type=int, default=20,
                    help="guest seconds between loading a reporting "
                         "driver and the fill (default 20)")
    ap.add_argument("--parts", default="punch,inflate,report",
                    help="boots to run and 'punch', the host's release "
                         "cost alone (default punch,inflate,report)")
    ap.add_argument("--append", default="",
                    help="guest kernel arguments, for a diagnostic run "
                         "(e.g. init_on_alloc=0); with --out")
    ap.add_argument("--out", default="balloon",
                    help="results: build/bench/OUT.{json,md} "
                         "(default balloon)")
    ap.add_argument("--render", metavar="JSON",
                    help="summarize a balloon.json's raw results again "
                         "(rewrites it and the .md beside it)")
    args = ap.parse_args()
    if args.render:
        with open(args.render) as f:
            d = json.load(f)
        d["devices"] = summarize(d["raw"].get("inflate", {}),
                                 d["raw"].get("report", {}),
                                 d["meta"]["rounds"])
        with open(args.render, "w") as f:
            json.dump(d, f, indent=2)
        with open(os.path.splitext(args.render)[0] + ".md", "w") as f:
            f.write(markdown(d["devices"], d["meta"]))
        return 0
    for b in ("pvkit-hv", "pvkit"):
        if not os.access(os.path.join(TOP, "build", "bin", b), os.X_OK):
            die("build/bin/%s missing: run 'make'" % b)
    os.makedirs(OUT, exist_ok=True)
    parts = [p for p in args.parts.split(",") if p]

    meta = {"engine": "TCG", "vcpus": 2, "guest_mem": args.mem,
            "rounds": args.rounds, "inflate_mib": INFLATE_MIB,
            "report_mib": REPORT_MIB, "report_cap_s": REPORT_S,
            "settle_s": args.settle, "nproc": os.cpu_count(),
            "guest_append": args.append,
            "time": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "load_start": loadavg(),
            "note": "host CPU = utime+stime of QEMU and pvkit-hv from "
                    "/proc/PID/stat; virtio requests inferred as "
                    "pages / 256; the host polls `pvkit balloon --json` "
                    "(and QMP query-balloon for virtio) every 20 ms"}
    if "punch" in parts:
        meta["punch"] = punch_calibration()
    res, notes, rcs = {}, {}, {}
    with tempfile.TemporaryDirectory(prefix="pvkit-bench-bal.") as tmp:
        for kind in (p for p in parts if p in ("inflate", "report")):
            body = GUEST_INFLATE if kind == "inflate" else GUEST_REPORT
            script = GUEST_COMMON + body % {
                "mib": INFLATE_MIB if kind == "inflate" else REPORT_MIB,
                "settle": args.settle, "secs": REPORT_S}
            # interleaved: round 1 virtio first, round 2 pvkit first, ...
            for r in range(1, args.rounds + 1):
                script += "round %d '%s'\n" % (
                    r, "virtio pvkit" if r % 2 else "pvkit virtio")
            script += ('dmesg | grep -E "BUG:|WARNING:|Oops|Killed process|'
                       'balloon" | sed "s/^/BENCH-DMESG: /"\n')
            budget = 180 + args.rounds * (900 if kind == "inflate" else
                                          2 * (args.settle + 60))
            rcs[kind], res[kind], notes[kind] = boot(kind, script, args,
                                                     tmp, budget)
    meta["load_end"] = loadavg()
    meta["boot_rc"] = rcs
    meta["guest_notes"] = notes
    devs = summarize(res.get("inflate", {}), res.get("report", {}),
                     args.rounds)
    js, md = (os.path.join(OUT, args.out + ext) for ext in (".json", ".md"))
    with open(js, "w") as f:
        json.dump({"meta": meta, "devices": devs, "raw": res}, f, indent=2)
    text = markdown(devs, meta)
    with open(md, "w") as f:
        f.write(text)
    print()
    print(text)
    print("bench-balloon: wrote %s and %s" % (js, md))
    return 0 if all(rc == 0 for rc in rcs.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
