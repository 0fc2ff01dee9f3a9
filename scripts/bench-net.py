#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""make bench-net: paravirt vs emulated networking, side by side, one run.

One guest boot under pvkit-hv (same engine, same guest, same vCPUs)
carries every device under test, each on its own TAP (or veth) with its
own /24 out of 10.215.0.0/16 (host 10.215.N.1, guest 10.215.N.2):

  e1000             QEMU e1000                 (emulated), N=1
  virtio-net        QEMU virtio-net-pci, vhost=off (userspace tap), N=2
  virtio-net-vhost  QEMU virtio-net-pci, vhost=on, N=3 (only with
                    /dev/vhost-net)
  pvkit             pvkit_net, interrupts      (pvkit-netback on TAP), N=4
  pvkit-poll        pvkit_net, back-end busy-poll (poll=US), N=5
  pvkit-xdp         pvkit_net on AF_XDP over a veth pair, N=6 (only when
                    pvkit-hv accepts --net xdp=)

Everything runs inside one network namespace this script creates
(pvkit-bench-PID) and removes, also on failure and on SIGINT/SIGTERM/
SIGHUP: the TAPs, QEMU, the back-ends and the host's iperf3 and pvkit-rr
servers.  No packet is addressed outside it.  The TAPs are made up front,
all with vnet_hdr (QEMU opens a single-queue TAP, pvkit-netback a
multi_queue one: each opens what it asks for, with one queue pair).

Per device, driven from the guest (iperf3 and pvkit-rr as clients, the
servers on the host bound to that device's address):
  tcp-g2h-1/4  TCP stream guest -> host, 1 and 4 streams
  tcp-h2g-1/4  TCP stream host -> guest (iperf3 -R), 1 and 4 streams
  udp64-g2h/h2g  UDP, 64-byte payloads at --udp-rate: received pps, loss
  rr-1b        1-byte TCP request/response (pvkit-rr): p50/p99 latency
The guest prints BENCH-BEGIN/BENCH-END around each job and its counters
(netdev packets, /proc/interrupts of the device's vectors, ethtool -S
kicks/irqs/napi_polls) before and after; the host samples the CPU time
of QEMU, pvkit-hv and the device's own back-end at the markers.
Results: build/bench/net.json and net.md, ratios against virtio-net and
the issue's targets marked met or missed.
"""

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time

from benchlib import (CLK_TCK, OUT, TOP, cpu_seconds, engine_procs, finish, fmt,
                      follow, unlink_quiet)

SUBNET = "10.215.%d"
IPERF_PORT = 5201
RR_PORT = 5300

# name, N (subnet, MAC, TAP), what serves it
DEVICES = [
    ("e1000", 1, "qemu"),
    ("virtio-net", 2, "qemu"),
    ("virtio-net-vhost", 3, "qemu"),
    ("pvkit", 4, "pvkit"),
    ("pvkit-poll", 5, "pvkit"),
    ("pvkit-xdp", 6, "xdp"),
]
DEV_INDEX = {name: n for name, n, _ in DEVICES}
DEV_KIND = {name: kind for name, _, kind in DEVICES}
REF = "virtio-net"
VIRTIO = ("virtio-net", "virtio-net-vhost")
PVKIT = ("pvkit", "pvkit-poll", "pvkit-xdp")

# name, kind, iperf3 options (None: pvkit-rr), what is reported
WORKLOADS = [
    ("tcp-g2h-1", "tcp", "", "Gbit/s"),
    ("tcp-g2h-4", "tcp", "-P 4", "Gbit/s"),
    ("tcp-h2g-1", "tcp", "-R", "Gbit/s"),
    ("tcp-h2g-4", "tcp", "-R -P 4", "Gbit/s"),
    ("udp64-g2h", "udp", "-u -l 64", "kpps"),
    ("udp64-h2g", "udp", "-u -l 64 -R", "kpps"),
    ("rr-1b", "rr", None, "µs p50"),
]
# the targets for pvkit against the best virtio-net
TARGETS = {"tcp": (1.2, "≥ 1.2× best virtio-net"),
           "udp": (1.5, "≥ 1.5× best virtio-net"),
           "rr": (0.8, "p50 ≤ 0.8× best virtio-net")}


def die(msg):
    print("bench-net: " + msg, file=sys.stderr)
    sys.exit(1)


def run(*cmd, check=True):
    return subprocess.run(cmd, check=check, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)


def mac(n):
    return "02:15:00:00:00:%02x" % n


def tap_name(n):
    return "pvbt%d" % n


def engine():
    """What pvkit-hv picks: KVM only with vmx/svm (and /dev/kvm)."""
    with open("/proc/cpuinfo") as f:
        flags = re.findall(r"\b(vmx|svm)\b", f.read())
    return "kvm" if flags and os.path.exists("/dev/kvm") else "tcg"


def hv_accepts(spec):
    """Does pvkit-hv take '--net SPEC'?  (None, or its refusal.)"""
    hv = os.path.join(TOP, "build", "bin", "pvkit-hv")
    r = subprocess.run([hv, "--print-qemu-cmdline", "--kernel", "/dev/null",
                        "--initrd", "/dev/null", "--net", spec],
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       text=True)
    return None if r.returncode == 0 else (r.stderr.strip() or "refused")


def skip_reasons(devices):
    """Devices this host cannot run, with the reason."""
    skip = {}
    if "virtio-net-vhost" in devices and not os.path.exists("/dev/vhost-net"):
        skip["virtio-net-vhost"] = "no /dev/vhost-net on this host"
    if "pvkit-xdp" in devices and hv_accepts("xdp=pvbx6"):
        skip["pvkit-xdp"] = "pvkit-netback has no xdp= support " \
                            "(pvkit-hv refuses --net xdp=IFNAME)"
    return skip


class Namespace:
    """The bench's network namespace, its links and host-side servers."""

    def __init__(self, name):
        self.name = name
        self.procs = []
        run("ip", "netns", "add", name)
        try:
            self.ip("link", "set", "lo", "up")
        except subprocess.CalledProcessError:
            run("ip", "netns", "del", name, check=False)
            raise

    def ip(self, *args):
        run("ip", "-n", self.name, *args)

    def host_addr(self, link, n):
        self.ip("addr", "add", "%s.1/24" % (SUBNET % n), "dev", link)
        self.ip("link", "set", link, "up")

    def add_device(self, dev, n):
        if DEV_KIND[dev] == "xdp":
            # pvkit-netback binds the guest end, the peer is the host
            self.ip("link", "add", "pvbx%d" % n, "type", "veth", "peer",
                    "name", "pvbh%d" % n)
            self.ip("link", "set", "pvbx%d" % n, "up")
            self.host_addr("pvbh%d" % n, n)
            # AF_XDP carries no offload metadata: the peer must send
            # whole, checksummed frames (docs/net.md, AF_XDP set-up)
            run("ip", "netns", "exec", self.name, "ethtool", "-K",
                "pvbh%d" % n, "tx", "off", "tso", "off", "gso", "off")
            return
        # QEMU opens a single-queue TAP, pvkit-netback a multi_queue one
        mq = ["multi_queue"] if DEV_KIND[dev] == "pvkit" else []
        self.ip("tuntap", "add", "dev", tap_name(n), "mode", "tap",
                *mq, "vnet_hdr")
        self.host_addr(tap_name(n), n)

    def spawn(self, *cmd):
        p = subprocess.Popen(["ip", "netns", "exec", self.name] + list(cmd),
                             stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        self.procs.append(p)
        return p

    def close(self):
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        # TAPs are persistent: delete them, then the namespace
        r = subprocess.run(["ip", "-n", self.name, "-o", "link", "show"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                           text=True)
        for m in re.finditer(r"^\d+: (pvb[a-z]\d+)[@:]", r.stdout, re.M):
            run("ip", "-n", self.name, "link", "del", m.group(1),
                check=False)
        run("ip", "netns", "del", self.name, check=False)


def engine_args(devices, poll_us):
    """pvkit-hv options that add the devices under test."""
    q = lambda *a: [x for s in a for x in ("--qemu-arg", s)]  # noqa: E731
    out = []
    for dev in devices:
        n = DEV_INDEX[dev]
        tap = "netdev=nd%d" % n
        tapdev = "tap,id=nd%d,ifname=%s,script=no,downscript=no" % (
            n, tap_name(n))
        if dev == "e1000":
            out += q("-netdev", tapdev + ",vhost=off",
                     "-device", "e1000,%s,mac=%s" % (tap, mac(n)))
        elif dev in VIRTIO:
            vhost = "on" if dev == "virtio-net-vhost" else "off"
            out += q("-netdev", tapdev + ",vhost=" + vhost,
                     "-device", "virtio-net-pci,%s,mac=%s" % (tap, mac(n)))
        elif dev == "pvkit":
            out += ["--net", "tap=%s,mac=%s" % (tap_name(n), mac(n))]
        elif dev == "pvkit-poll":
            out += ["--net", "tap=%s,poll=%d,mac=%s" % (tap_name(n), poll_us,
                                                        mac(n))]
        elif dev == "pvkit-xdp":
            out += ["--net", "xdp=pvbx%d,mac=%s" % (n, mac(n))]
    return out


# Guest helpers: find a netdev by MAC, its interrupt lines, counters.
GUEST_HELPERS = r"""
set -u
pvkit-loadmod virtio_pci virtio_net e1000 >/dev/null 2>&1
bymac() { for d in /sys/class/net/*; do
	[ "$(cat $d/address)" = "$1" ] && { echo ${d##*/}; return; }; done; }
# irqpat DEV: the /proc/interrupts names of DEV's data vectors
irqpat() {
	case $(basename "$(readlink /sys/class/net/$1/device/driver)") in
	e1000) echo " $1\$" ;;
	virtio_net) echo "$(basename "$(readlink /sys/class/net/$1/device)")-(input|output)" ;;
	pvkit_net) echo "[ -]$(basename "$(readlink /sys/class/net/$1/device)")-(rx|tx)" ;;
	*) echo "^NONE" ;;
	esac
}
# ctr JOB PHASE DEV: counters before/after a job
ctr() {
	s=/sys/class/net/$3/statistics
	irq=$(grep -E "$(irqpat $3)" /proc/interrupts | awk '{ for (i = 2; i <= NF && $i ~ /^[0-9]+$/; i++) t += $i } END { print t + 0 }')
	ek=$(ethtool -S $3 2>/dev/null | awk -F': *' '$1 ~ /kicks$/ { k += $2; K = 1 } $1 ~ /_irqs$/ { q += $2; Q = 1 } $1 ~ /napi_polls$/ { n += $2; N = 1 } END { if (K) printf "kicks=%d ", k; if (Q) printf "eirqs=%d ", q; if (N) printf "napi=%d", n }')
	gc=$(awk '/^cpu / { printf "gbusy=%d gidle=%d", $2 + $3 + $4 + $7 + $8 + $9, $5 + $6 }' /proc/stat)
	echo "BENCH-CTR $1 $2 rxp=$(cat $s/rx_packets) txp=$(cat $s/tx_packets) rxb=$(cat $s/rx_bytes) txb=$(cat $s/tx_bytes) irq=$irq $ek $gc"
}
# job NAME DEV CMD...: markers around CMD, its stdout as one line
job() {
	n=$1; d=$2; shift 2
	ctr $n before $d
	echo "BENCH-BEGIN $n"
	"$@" >/tmp/job.out 2>/tmp/job.err; rc=$?
	echo "BENCH-END $n $rc"
	ctr $n after $d
	echo "BENCH-OUT $n $(tr -d '\n' </tmp/job.out)"
	[ $rc -eq 0 ] || sed "s/^/BENCH-NOTE $n: /" /tmp/job.err | head -5
	sleep 1
}
"""


def guest_script(devices, args):
    lines = [GUEST_HELPERS]
    for dev in devices:
        n = DEV_INDEX[dev]
        v = "d%d" % n
        lines += [
            "%s=$(bymac %s)" % (v, mac(n)),
            "if [ -n \"$%s\" ]; then ip addr add %s.2/24 dev $%s;"
            " ip link set $%s up; fi" % (v, SUBNET % n, v, v),
        ]
    lines.append("sleep 2")
    for dev in devices:
        n = DEV_INDEX[dev]
        v, host = "d%d" % n, "%s.1" % (SUBNET % n)
        lines += [
            "if [ -n \"$%s\" ]; then" % v,
            "  i=0; while ! ping -c 1 -W 1 %s >/dev/null 2>&1; do"
            " i=$((i + 1)); [ $i -ge 20 ] && break; done" % host,
            "  echo \"BENCH-IF %s $%s $(ethtool -i $%s | sed -n"
            " 's/^driver: //p') ping=$i irq='$(irqpat $%s)'\"" % (dev, v, v, v),
            "else echo 'BENCH-SKIP %s no netdev with MAC %s'; fi"
            % (dev, mac(n)),
        ]
    lines.append("grep -E 'virtio|eth|net\\.' /proc/interrupts |"
                 " sed 's/^/BENCH-IRQS /'")
    wait = args.runtime + 30
    # workload-major and round by round: a device's jobs are spread over
    # the run, so a change in the host's other load hits every device
    for rnd in range(1, args.rounds + 1):
        for name, kind, opts, _ in WORKLOADS:
            for dev in devices:
                n = DEV_INDEX[dev]
                host, me = "%s.1" % (SUBNET % n), "%s.2" % (SUBNET % n)
                if kind == "rr":
                    cmd = "timeout %d pvkit-rr client %s %d %d %d" % (
                        wait, host, RR_PORT, args.rr_count, args.runtime)
                else:
                    cmd = ("timeout %d iperf3 -c %s -B %s -p %d -t %d -i 0"
                           " -J --connect-timeout 5000 %s" %
                           (wait, host, me, IPERF_PORT, args.runtime, opts))
                    if kind == "udp":
                        cmd += " -b %s" % args.udp_rate
                lines.append("if [ -n \"$d%d\" ]; then job %s/%s/%d $d%d %s;"
                             " fi" % (n, dev, name, rnd, n, cmd))
    return "\n".join(lines) + "\n"


def stat_cpu(text=None):
    """(busy, idle) jiffies of the 'cpu' line of /proc/stat (or text)."""
    if text is None:
        with open("/proc/stat") as f:
            text = f.readline()
    v = [int(x) for x in text.split()[1:9]]
    return v[0] + v[1] + v[2] + v[5] + v[6] + v[7], v[3] + v[4]


def tun_ifaces(pid):
    """Names of the TUN/TAP devices pid has open (from fdinfo)."""
    names = set()
    try:
        fds = os.listdir("/proc/%d/fdinfo" % pid)
    except OSError:
        return names
    for fd in fds:
        try:
            with open("/proc/%d/fdinfo/%s" % (pid, fd)) as f:
                m = re.search(r"^iff:\s*(\S+)", f.read(), re.M)
        except OSError:
            continue
        if m:
            names.add(m.group(1))
    return names


class CpuMeter:
    """CPU seconds of QEMU + pvkit-hv + one device's own back-end."""

    def __init__(self, root):
        self.root = root

    def pids(self, dev):
        """{pid: role} of the processes a job on dev is charged for."""
        n, kind = DEV_INDEX[dev], DEV_KIND[dev]
        out = {}
        for pid, c in engine_procs(self.root):
            if c.startswith("qemu"):
                out[pid] = "qemu"
            elif c == "pvkit-hv":
                out[pid] = "hv"
            elif c == "pvkit-netback" and kind != "qemu":
                taps = tun_ifaces(pid)
                # the AF_XDP back-end is the one without a TAP
                if (tap_name(n) in taps) if kind == "pvkit" else not taps:
                    out[pid] = "backend"
        return out

    def sample(self, dev):
        s = {"qemu": 0.0, "hv": 0.0, "backend": 0.0}
        for pid, role in self.pids(dev).items():
            s[role] += cpu_seconds(pid)
        return s

    def sample_host(self):
        """(busy, idle) seconds of the whole host, and the engine's."""
        busy, idle = stat_cpu()
        engine = sum(cpu_seconds(pid) for pid, _ in engine_procs(self.root))
        return busy / CLK_TCK, idle / CLK_TCK, engine


class Perf:
    """perf stat + perf record on QEMU and the back-end for one job."""

    def __init__(self, job, pids):
        base = os.path.join(OUT, "net-perf-" + job.replace("/", "-"))
        plist = ",".join(str(p) for p in pids)
        self.files = (base + ".stat", base + ".data")
        self.procs = [
            subprocess.Popen(["perf", "stat", "--per-thread", "-e",
                              "task-clock,context-switches,cpu-migrations,"
                              "page-faults", "-p", plist, "-o",
                              self.files[0]],
                             stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL),
            subprocess.Popen(["perf", "record", "-F", "499", "-g", "-p",
                              plist, "-o", self.files[1]],
                             stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL),
        ]

    def stop(self):
        for p in self.procs:
            p.send_signal(signal.SIGINT)
        for p in self.procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()

    def report(self):
        """perf report into .report (after the run: it takes a while)."""
        report = self.files[1][:-len(".data")] + ".report"
        with open(report, "w") as f:
            subprocess.run(["perf", "report", "-i", self.files[1], "--stdio",
                            "--no-children", "--sort", "comm,dso,sym",
                            "--percent-limit", "0.5"],
                           stdout=f, stderr=subprocess.DEVNULL, timeout=300)
        print("bench-net: perf: %s, %s" % (self.files[0], report))


def parse_iperf(kind, js):
    end = js["end"]
    if kind == "tcp":
        rx = end["sum_received"]
        return {"value": rx["bits_per_second"] / 1e9, "bytes": rx["bytes"],
                "seconds": rx["seconds"],
                "retransmits": end.get("sum_sent", {}).get("retransmits")}
    rx = end["sum_received"]
    got = rx["packets"] - rx["lost_packets"]
    secs = rx["seconds"] or 1
    return {"value": got / secs / 1e3, "pps": got / secs,
            "bytes": got * 64, "seconds": secs,
            "sent_pps": end["sum_sent"]["packets"] /
            (end["sum_sent"]["seconds"] or 1),
            "loss_pct": rx["lost_percent"]}


def parse_rr(text):
    kv = dict(re.findall(r"(\w+)=([0-9.]+)", text))
    if "p50_us" not in kv:
        raise ValueError("no pvkit-rr result")
    return {"value": float(kv["p50_us"]), "p99_us": float(kv["p99_us"]),
            "mean_us": float(kv["mean_us"]), "round_trips": int(kv["n"]),
            "bytes": 2 * int(kv["n"])}


def ctr_delta(before, after):
    """Raw counter deltas over one job."""
    return {k: after[k] - before[k] for k in after if k in before}


def per_packet(d):
    """Counters of summed deltas d, and per guest packet."""
    pkts = d.get("rxp", 0) + d.get("txp", 0)
    out = {"guest_packets": pkts, "guest_irqs": d.get("irq", 0)}
    gt = d.get("gbusy", 0) + d.get("gidle", 0)
    if gt > 0:
        out["guest_busy_pct"] = 100.0 * d["gbusy"] / gt
    # only what the driver counts (e1000 has none, virtio_net kicks)
    for k, name in (("kicks", "kicks"), ("eirqs", "ethtool_irqs"),
                    ("napi", "napi_polls")):
        if k in d:
            out[name] = d[k]
    if pkts:
        out["irqs_per_pkt"] = d.get("irq", 0) / pkts
        for k, name in (("kicks", "kicks_per_pkt"),
                        ("ethtool_irqs", "ethtool_irqs_per_pkt"),
                        ("napi_polls", "napi_polls_per_pkt")):
            if k in out:
                out[name] = out[k] / pkts
    return out


def run_guest(ns, devices, args):
    """Boot, follow the console, return (rc, results, notes)."""
    console = os.path.join(OUT, "net-console.log")
    unlink_quiet(console)  # never follow the previous run's log
    script = guest_script(devices, args)
    jobs = len(devices) * len(WORKLOADS) * args.rounds
    budget = 180 + jobs * (args.runtime + 20)
    for dev in devices:
        host = "%s.1" % (SUBNET % DEV_INDEX[dev])
        ns.spawn("iperf3", "-s", "-B", host, "-p", str(IPERF_PORT))
        ns.spawn(os.path.join(TOP, "build", "guest", "extra", "usr", "bin",
                              "pvkit-rr"),
                 "server", host, str(RR_PORT), str(budget))
    cmd = ["ip", "netns", "exec", ns.name, "env", "PVKIT_BOOT=hv",
           os.path.join(TOP, "scripts", "boot-guest.sh"), "--cmd", script,
           "--timeout", str(budget), "--log", console, "--"] + \
        engine_args(devices, args.poll_us) + \
        ["--name", ns.name]
    print("bench-net: %d jobs, about %d s" %
          (jobs, 60 + jobs * (args.runtime + 5)), flush=True)
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    ns.procs.append(proc)
    meter = CpuMeter(proc.pid)
    res, ctr, notes, perf, perfs = {}, {}, [], None, []
    for line in follow(console, proc):
        line = line.strip()
        m = re.match(r"BENCH-(BEGIN|END|CTR|OUT) (\S+)(?: (.*))?$", line)
        if not m:
            if re.match(r"BENCH-(SKIP|NOTE|IF) ", line):
                notes.append(line)
                print("  " + line, flush=True)
            continue
        what, job, rest = m.group(1), m.group(2), m.group(3) or ""
        dev, wl, _ = job.split("/")
        r = res.setdefault(job, {})
        if what == "BEGIN":
            r["_t0"], r["_cpu0"] = time.monotonic(), meter.sample(dev)
            r["_host0"] = meter.sample_host()
            if job.endswith("/1") and job[:-2] in (args.perf or []):
                perf = Perf(job, meter.pids(dev))
        elif what == "END" and "_t0" in r:
            r["wall_s"] = time.monotonic() - r.pop("_t0")
            c0, c1 = r.pop("_cpu0"), meter.sample(dev)
            r["host_cpu"] = {k: c1[k] - c0[k] for k in c1}
            h = [b - a for a, b in zip(r.pop("_host0"), meter.sample_host())]
            if h[0] + h[1] > 0:
                # the host's busy share, and what was not the engine's
                # (the host's iperf3/pvkit-rr end, other users' guests)
                r["host_busy_pct"] = 100.0 * h[0] / (h[0] + h[1])
                r["host_other_pct"] = 100.0 * max(h[0] - h[2], 0) / \
                    (h[0] + h[1])
            r["rc"] = int(rest)
            if perf:
                perf.stop()
                perfs.append(perf)
                perf = None
            print("  %-28s rc=%s" % (job, rest), flush=True)
        elif what == "CTR":
            phase, kv = rest.split(" ", 1)
            ctr.setdefault(job, {})[phase] = {
                k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", kv)}
        elif what == "OUT":
            kind = dict((w[0], w[1]) for w in WORKLOADS)[wl]
            try:
                r.update(parse_rr(rest) if kind == "rr" else
                         parse_iperf(kind, json.loads(rest)))
            except (ValueError, KeyError, TypeError) as e:
                notes.append("BENCH-NOTE %s: no result (%s)" % (job, e))
    for job, c in ctr.items():
        if "before" in c and "after" in c:
            res.setdefault(job, {})["ctr"] = ctr_delta(c["before"],
                                                       c["after"])
    rc = proc.wait()
    for p in perfs:
        p.report()
    return rc, res, notes


def median(v):
    v = sorted(v)
    return (v[(len(v) - 1) // 2] + v[len(v) // 2]) / 2


def aggregate(runs):
    """One row out of a job's rounds: medians, spread, summed counters."""
    row = {"rounds": [{k: v for k, v in r.items() if not k.startswith("_")}
                      for r in runs]}
    done = [r for r in runs if "value" in r]
    if not done:
        return row
    for k in ("value", "p99_us", "mean_us", "loss_pct", "pps", "sent_pps",
              "host_busy_pct", "host_other_pct"):
        vals = [r[k] for r in done if r.get(k) is not None]
        if vals:
            row[k] = median(vals)
    row["spread"] = [min(r["value"] for r in done),
                     max(r["value"] for r in done)]
    d = {}
    for r in done:
        for k, v in r.get("ctr", {}).items():
            d[k] = d.get(k, 0) + v
    row["counters"] = per_packet(d)
    cpu = [sum(r["host_cpu"].values()) for r in done if "host_cpu" in r]
    if len(cpu) == len(done):
        row["host_cpu_s"] = sum(cpu)
        nbytes = sum(r.get("bytes", 0) for r in done)
        pkts = row["counters"]["guest_packets"]
        if nbytes:
            row["host_cpu_s_per_gb"] = row["host_cpu_s"] / (nbytes / 1e9)
        if pkts:
            row["host_cpu_us_per_pkt"] = row["host_cpu_s"] / pkts * 1e6
    return row


def build_rows(devices, skip, res):
    rows = []
    for dev in devices:
        for name, kind, _, unit in WORKLOADS:
            row = {"device": dev, "workload": name, "unit": unit}
            if dev in skip:
                row["skipped"] = skip[dev]
                rows.append(row)
                continue
            runs = [res[j] for j in sorted(res)
                    if j.startswith("%s/%s/" % (dev, name))]
            row.update(aggregate(runs))
            if "value" not in row:
                row["missing"] = True
            rows.append(row)
    by = {(r["device"], r["workload"]): r.get("value") for r in rows}
    for r in rows:
        kind = dict((w[0], w[1]) for w in WORKLOADS)[r["workload"]]
        base = by.get((REF, r["workload"]))
        if r.get("value") and base:
            r["vs_virtio_net"] = r["value"] / base
        if r["device"] not in PVKIT or not r.get("value"):
            continue
        vals = [by.get((v, r["workload"])) for v in VIRTIO]
        vals = [v for v in vals if v]
        if not vals:
            continue
        best = min(vals) if kind == "rr" else max(vals)
        limit, text = TARGETS[kind]
        ratio = r["value"] / best
        r["vs_best_virtio"] = ratio
        r["target"] = text
        r["target_met"] = ratio <= limit if kind == "rr" else ratio >= limit
    return rows


def value_text(r):
    if "skipped" in r:
        return "skipped"
    if r.get("value") is None:
        return "no result"
    if r["unit"] == "Gbit/s":
        return fmt(r["value"], 3)
    if r["unit"] == "kpps":
        return "%s (loss %s%%)" % (fmt(r["value"], 1), fmt(r.get("loss_pct")))
    return "%s (p99 %s)" % (fmt(r["value"], 0), fmt(r.get("p99_us"), 0))


def markdown(rows, skip, meta):
    md = ["Engine: QEMU %s, %d vCPUs, %s guest; %d s per job, median of %d"
          " interleaved rounds (spread in the JSON); UDP at -b %s;"
          " pvkit-poll poll=%d µs; %s." % (
              meta["engine"].upper(), meta["vcpus"], meta["guest_mem"],
              meta["runtime_s"], meta["rounds"], meta["udp_rate"],
              meta["poll_us"], meta["time"]), ""]
    for dev, why in skip.items():
        md.append("- %s: skipped, %s" % (dev, why))
    if skip:
        md.append("")
    md += ["| device | workload | result | unit | host CPU s/GB"
           " | host CPU µs/pkt | irqs/pkt | kicks/pkt | guest busy %"
           " | host busy, not engine % | vs virtio-net"
           " | target (pvkit vs best virtio-net) |",
           "|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        if "skipped" in r and r["workload"] != WORKLOADS[0][0]:
            continue
        c = r.get("counters", {})
        vs, met = r.get("vs_virtio_net"), r.get("target_met")
        gb = r.get("host_cpu_s_per_gb") if r["unit"] == "Gbit/s" else None
        target = ""
        if met is not None:
            target = "%s: %s× %s" % (r["target"], fmt(r["vs_best_virtio"], 2),
                                     "met" if met else "**missed**")
        cells = [r["device"], "all" if "skipped" in r else r["workload"],
                 value_text(r), r["unit"], fmt(gb, 1),
                 fmt(r.get("host_cpu_us_per_pkt"), 0),
                 fmt(c.get("irqs_per_pkt"), 3), fmt(c.get("kicks_per_pkt"), 3),
                 fmt(c.get("guest_busy_pct"), 0),
                 fmt(r.get("host_other_pct"), 0),
                 fmt(vs, 2) + ("×" if vs else ""), target]
        md.append("| " + " | ".join(cells) + " |")
    return "\n".join(md) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--runtime", type=int, default=8,
                    help="seconds per job (default 8)")
    ap.add_argument("--rounds", type=int, default=2,
                    help="every job this many times, interleaved; the"
                         " table has medians\n(default 2: about 11 minutes"
                         " for the four devices this host runs)")
    ap.add_argument("--devices", default=",".join(d for d, _, _ in DEVICES))
    ap.add_argument("--poll-us", type=int, default=50,
                    help="pvkit-poll back-end busy-poll (default 50)")
    ap.add_argument("--udp-rate", default="50M",
                    help="iperf3 -b for the 64-byte UDP jobs (default 50M:"
                         " about 98k packets/s offered,\nseveral times what a"
                         " TCG guest takes, without the host sender taking"
                         "\na whole core from QEMU)")
    ap.add_argument("--rr-count", type=int, default=100000,
                    help="request/response round trips at most (default"
                         " 100000; --runtime bounds them too)")
    ap.add_argument("--perf", metavar="DEVICE/WORKLOAD", action="append",
                    help="perf stat + perf record QEMU and the device's "
                         "back-end during that job's\nfirst round "
                         "(build/bench/net-perf-*.{stat,data,report});"
                         " may be repeated")
    args = ap.parse_args()

    devices = [d for d in args.devices.split(",") if d]
    for d in devices:
        if d not in DEV_INDEX:
            die("unknown device '%s' (known: %s)" %
                (d, ", ".join(DEV_INDEX)))
    for job in args.perf or []:
        dev, _, wl = job.partition("/")
        if dev not in DEV_INDEX or wl not in [w[0] for w in WORKLOADS]:
            die("--perf %s: not DEVICE/WORKLOAD" % job)
    if min(args.runtime, args.rr_count, args.rounds) < 1:
        die("--runtime, --rounds and --rr-count must be positive")
    for f in ("build/bin/pvkit-hv", "build/guest/extra/usr/bin/pvkit-rr"):
        if not os.access(os.path.join(TOP, f), os.X_OK):
            die("%s missing: run 'make && make guest'" % f)
    if os.geteuid() != 0:
        die("needs root (a network namespace and TAPs)")
    os.makedirs(OUT, exist_ok=True)

    skip = skip_reasons(devices)
    active = [d for d in devices if d not in skip]
    for d, why in skip.items():
        print("bench-net: %s skipped: %s" % (d, why), flush=True)

    def on_signal(sig, _frame):
        raise SystemExit("bench-net: signal %d, cleaning up" % sig)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)

    try:
        ns = Namespace("pvkit-bench-%d" % os.getpid())
    except subprocess.CalledProcessError as e:
        die("cannot create a network namespace: %s" % e.stderr.strip())
    try:
        for d in active:
            ns.add_device(d, DEV_INDEX[d])
        rc, res, notes = run_guest(ns, active, args)
    except subprocess.CalledProcessError as e:
        die("%s: %s" % (" ".join(e.cmd), e.stderr.strip()))
    finally:
        ns.close()
    if rc != 0:
        print("bench-net: guest run exited %d (console: %s)" %
              (rc, os.path.join(OUT, "net-console.log")), file=sys.stderr)

    rows = build_rows(devices, skip, res)
    meta = {"engine": engine(),
            "runtime_s": args.runtime, "rounds": args.rounds,
            "udp_rate": args.udp_rate,
            "poll_us": args.poll_us, "rr_count": args.rr_count,
            "vcpus": 2, "guest_mem": "1G", "queue_pairs": 1, "mtu": 1500,
            "cpus_host": os.cpu_count(),
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "skipped": skip, "notes": notes,
            "note": "host CPU = utime+stime of QEMU + pvkit-hv + the "
                    "device's own back-end over the job; per GB of "
                    "payload received. Counters are guest-side deltas "
                    "over the job: irqs from /proc/interrupts of the "
                    "device's data vectors, kicks from ethtool -S, per "
                    "packet = / (rx + tx packets of the netdev)."}
    missing = sum(1 for r in rows if r.get("missing"))
    return finish("net", meta, rows, markdown(rows, skip, meta), missing, rc)


if __name__ == "__main__":
    sys.exit(main())
