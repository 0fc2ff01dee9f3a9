#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""make bench-blk: paravirt vs emulated block I/O, side by side, one run.

One guest boot under pvkit-hv (same engine, same guest, same vCPUs) carries
every device under test, each backed by its own raw image in tmpfs:

  ide         QEMU PIIX IDE            (emulated)
  ahci        QEMU AHCI                (emulated)
  virtio-blk  QEMU virtio-blk-pci      (paravirt peer)
  pvkit       pvkit_blk, interrupts    (pvkit-blkback, no polling)
  pvkit-poll  pvkit_blk, polled        (back-end poll + guest poll queues,
                                        fio io_uring hipri)
  null_blk    inside the guest         (the guest stack's own limit)

QEMU drives use cache=none,aio=io_uring, as pvkit-blkback uses O_DIRECT
with io_uring, so both paths hit the image the same way.

The guest prints BENCH-BEGIN/BENCH-END markers around each fio job; this
script samples the CPU time of QEMU and the back-ends at the markers, so
"host CPU per I/O" covers exactly the job.  Results: build/bench/blk.json
and build/bench/blk.md (IOPS ratios against virtio-blk).
"""

import argparse
import json
import os
import re
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # the source tree is never written
from benchlib import follow, fmt, host_cpu  # noqa: E402

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(TOP, "build", "bench")

DEVICES = ["ide", "ahci", "virtio-blk", "pvkit", "pvkit-poll", "null_blk"]
WORKLOADS = [
    # name, rw, bs, iodepth
    ("4k-randread-qd1", "randread", "4k", 1),
    ("4k-randread-qd32", "randread", "4k", 32),
    ("4k-randwrite-qd1", "randwrite", "4k", 1),
    ("1m-seqread-qd4", "read", "1m", 4),
]
AHCI_ADDR = "0000:00:10.0"
IDE_ADDR = "0000:00:01.1"


def die(msg):
    print("bench-blk: " + msg, file=sys.stderr)
    sys.exit(1)


def guest_script(runtime, ramp, devices):
    """Shell run inside the guest: find each device, run fio per job."""
    lines = [
        "set -u",
        "pvkit-loadmod null_blk ata_piix ahci sd_mod virtio_pci virtio_blk"
        " >/dev/null 2>&1",
        # poll queues exist only when asked for at load time
        "rmmod pvkit_blk 2>/dev/null",
        "insmod /lib/modules/pvkit/pvkit_blk.ko poll_queues=1 ||"
        " echo 'BENCH-NOTE pvkit_blk reload failed'",
        "sleep 2",
        "findsd() { for b in /sys/block/sd*; do"
        " [ -e \"$b\" ] || continue;"
        " case $(readlink -f $b) in *\"$1\"*) echo /dev/${b##*/}; return;;"
        " esac; done; }",
        "dev_ide=$(findsd %s)" % IDE_ADDR,
        "dev_ahci=$(findsd %s)" % AHCI_ADDR,
        "dev_virtio=/dev/vda",
        "dev_pvkit=/dev/pvda",
        "dev_pvkitpoll=/dev/pvdb",
        "dev_null=/dev/nullb0",
    ]
    var = {"ide": "dev_ide", "ahci": "dev_ahci", "virtio-blk": "dev_virtio",
           "pvkit": "dev_pvkit", "pvkit-poll": "dev_pvkitpoll",
           "null_blk": "dev_null"}
    for dev in devices:
        for name, rw, bs, qd in WORKLOADS:
            engine = "io_uring --hipri=1" if dev == "pvkit-poll" else \
                     "libaio"
            job = "%s/%s" % (dev, name)
            fio = ("fio --name=bench --filename=$%s --direct=1"
                   " --ioengine=%s --rw=%s --bs=%s --iodepth=%d"
                   " --time_based --runtime=%d --ramp_time=%d"
                   " --size=900m --randrepeat=0 --norandommap"
                   " --lat_percentiles=1"
                   " --output-format=json --output=/tmp/fio.json"
                   % (var[dev], engine, rw, bs, qd, runtime, ramp))
            lines += [
                "if [ -b \"$%s\" ]; then" % var[dev],
                "  echo 'BENCH-BEGIN %s'" % job,
                "  %s >/tmp/fio.err 2>&1; rc=$?" % fio,
                "  echo \"BENCH-END %s $rc\"" % job,
                "  if [ $rc -eq 0 ]; then echo 'BENCH-JSON-BEGIN';"
                "  tr -d '\\n' </tmp/fio.json; echo; echo 'BENCH-JSON-END';"
                "  else cat /tmp/fio.err; fi",
                "else echo 'BENCH-SKIP %s no device'; fi" % job,
            ]
    return "\n".join(lines) + "\n"


def fio_summary(js):
    job = js["jobs"][0]
    rd, wr = job["read"], job["write"]
    side = rd if rd["io_bytes"] >= wr["io_bytes"] else wr
    # total latency (submission to completion), mean and percentile alike
    lat = side.get("lat_ns", {})
    pct = lat.get("percentile", {})
    return {
        "iops": side["iops"],
        "bw_mib_s": side["bw_bytes"] / 1048576.0,
        "lat_mean_us": lat.get("mean", 0) / 1000.0,
        "lat_p99_us": pct.get("99.000000", 0) / 1000.0,
        "ios": side["total_ios"],
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--runtime", type=int, default=8,
                    help="fio seconds per job (default 8)")
    ap.add_argument("--ramp", type=int, default=2,
                    help="fio ramp seconds per job (default 2)")
    ap.add_argument("--image-size", default="1G")
    ap.add_argument("--image-dir", default="/dev/shm")
    ap.add_argument("--poll-us", type=int, default=50,
                    help="pvkit-poll back-end idle spin (default 50)")
    ap.add_argument("--devices", default=",".join(DEVICES))
    args = ap.parse_args()

    devices = [d for d in args.devices.split(",") if d]
    for d in devices:
        if d not in DEVICES:
            die("unknown device '%s' (known: %s)" % (d, ", ".join(DEVICES)))
    hv = os.path.join(TOP, "build", "bin", "pvkit-hv")
    if not os.access(hv, os.X_OK):
        die("%s missing: run 'make'" % hv)
    os.makedirs(OUT, exist_ok=True)

    tag = "pvkit-bench-%d" % os.getpid()
    images = {}
    for d in ["ide", "ahci", "virtio-blk", "pvkit", "pvkit-poll"]:
        if d in devices:
            images[d] = os.path.join(args.image_dir, "%s-%s.img" % (tag, d))
    extra = []
    try:
        for d, img in images.items():
            subprocess.check_call(["truncate", "-s", args.image_size, img])
            # real data blocks, so reads hit allocated tmpfs pages
            subprocess.check_call(["fallocate", "-l", args.image_size, img])
        q = lambda *a: [x for s in a for x in ("--qemu-arg", s)]  # noqa
        drive = "file=%s,if=none,id=%s,format=raw,cache=none,aio=io_uring"
        if "ide" in images:
            extra += q("-drive", drive % (images["ide"], "dide"),
                       "-device", "ide-hd,drive=dide,bus=ide.0")
        if "ahci" in images:
            extra += q("-drive", drive % (images["ahci"], "dahci"),
                       "-device", "ahci,id=ahci0,addr=0x10",
                       "-device", "ide-hd,drive=dahci,bus=ahci0.0")
        if "virtio-blk" in images:
            extra += q("-drive", drive % (images["virtio-blk"], "dvirtio"),
                       "-device", "virtio-blk-pci,drive=dvirtio")
        # pvda, then pvdb: device table order is command line order
        if "pvkit" in images:
            extra += ["--disk", images["pvkit"]]
        if "pvkit-poll" in images:
            extra += ["--disk", "%s,poll=%d" % (images["pvkit-poll"],
                                                 args.poll_us)]
        extra += ["--name", tag]

        script = guest_script(args.runtime, args.ramp, devices)
        jobs = len(devices) * len(WORKLOADS)
        budget = 120 + jobs * (args.runtime + args.ramp + 15)
        console = os.path.join(OUT, "blk-console.log")
        cmd = [os.path.join(TOP, "scripts", "boot-guest.sh"),
               "--cmd", script, "--timeout", str(budget), "--log", console,
               "--"] + extra
        env = dict(os.environ, PVKIT_BOOT="hv")
        print("bench-blk: %d jobs, about %d s" %
              (jobs, jobs * (args.runtime + args.ramp + 4)), flush=True)
        # The console file is written by QEMU as the guest prints; reading
        # it directly (not boot-guest's piped copy, which is block
        # buffered) puts the CPU samples at the markers, not after them.
        try:
            os.unlink(console)  # never follow the previous run's log
        except OSError:
            pass
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, env=env)
        results, marks, json_buf, in_json, cur = {}, {}, [], False, None
        alive = lambda: proc.poll() is None  # noqa: E731
        for line in follow(console, alive):
            line = line.strip()
            m = re.match(r"BENCH-BEGIN (\S+)$", line)
            if m:
                cur = m.group(1)
                marks[cur] = (time.monotonic(), host_cpu(proc.pid))
                continue
            m = re.match(r"BENCH-END (\S+) (\d+)$", line)
            if m and m.group(1) in marks:
                t0, c0 = marks[m.group(1)]
                marks[m.group(1)] = (time.monotonic() - t0,
                                     host_cpu(proc.pid) - c0,
                                     int(m.group(2)))
                print("  %-28s rc=%s" % (m.group(1), m.group(2)), flush=True)
                continue
            if line == "BENCH-JSON-BEGIN":
                in_json, json_buf = True, []
                continue
            if line == "BENCH-JSON-END":
                in_json = False
                try:
                    results[cur] = fio_summary(json.loads("".join(json_buf)))
                except (ValueError, KeyError, IndexError) as e:
                    print("bench-blk: bad fio json for %s: %s" % (cur, e))
                continue
            if in_json:
                json_buf.append(line)
            elif line.startswith("BENCH-SKIP") or line.startswith("BENCH-NOTE"):
                print("  " + line, flush=True)
        rc = proc.wait()
    finally:
        for img in images.values():
            try:
                os.unlink(img)
            except OSError:
                pass
    if rc != 0:
        print("bench-blk: guest run exited %d (console: %s)" %
              (rc, os.path.join(OUT, "blk-console.log")), file=sys.stderr)

    rows = []
    for dev in devices:
        for name, _, _, _ in WORKLOADS:
            job = "%s/%s" % (dev, name)
            r = results.get(job)
            mk = marks.get(job)
            row = {"device": dev, "workload": name}
            if r:
                row.update(r)
                if mk and len(mk) == 3 and r["iops"] > 0 and mk[0] > 0:
                    # CPU rate over the job window / I/O rate: the window
                    # holds fio start-up and ramp too, which a ratio of
                    # rates tolerates and a ratio of totals would not
                    row["host_cpu_s"] = mk[1]
                    row["host_cpu_us_per_io"] = (mk[1] / mk[0]) / \
                        r["iops"] * 1e6
            rows.append(row)
    ref = {r["workload"]: r.get("iops") for r in rows
           if r["device"] == "virtio-blk"}
    for r in rows:
        base = ref.get(r["workload"])
        if r.get("iops") and base:
            r["vs_virtio"] = r["iops"] / base

    meta = {"engine": "tcg", "runtime_s": args.runtime, "ramp_s": args.ramp,
            "image_size": args.image_size, "image_dir": args.image_dir,
            "poll_us": args.poll_us, "vcpus": 2, "guest_mem": "1G",
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "note": "host CPU per I/O = (CPU seconds of QEMU + pvkit "
                    "back-ends + pvkit-hv per wall second of the job) / "
                    "IOPS"}
    with open(os.path.join(OUT, "blk.json"), "w") as f:
        json.dump({"meta": meta, "results": rows}, f, indent=2)

    md = ["| device | workload | IOPS | MiB/s | mean lat (µs) | p99 lat (µs)"
          " | host CPU µs/IO | IOPS vs virtio-blk |",
          "|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        md.append("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
            r["device"], r["workload"], fmt(r.get("iops"), 0),
            fmt(r.get("bw_mib_s")), fmt(r.get("lat_mean_us")),
            fmt(r.get("lat_p99_us")), fmt(r.get("host_cpu_us_per_io")),
            fmt(r.get("vs_virtio"), 2) + ("×" if r.get("vs_virtio") else "")))
    text = "\n".join(md) + "\n"
    with open(os.path.join(OUT, "blk.md"), "w") as f:
        f.write("Engine: QEMU TCG, 2 vCPUs, 1 GiB guest; images %s in %s; "
                "fio %ds (+%ds ramp) per job.\n\n" %
                (args.image_size, args.image_dir, args.runtime, args.ramp))
        f.write(text)
    print()
    print(text)
    print("bench-blk: wrote %s and %s" % (os.path.join(OUT, "blk.json"),
                                          os.path.join(OUT, "blk.md")))
    missing = [r for r in rows if "iops" not in r]
    if missing:
        print("bench-blk: %d jobs produced no result" % len(missing),
              file=sys.stderr)
        return 1
    return 0 if rc == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
