#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""Description: SIGKILL pvkit-blkback again and again under fio verify.

Boots the test guest under pvkit-hv with a scratch disk (/dev/pvda) and a
1 MiB control disk (/dev/pvdb).  The guest runs fio passes back to back:
a 4 KiB random-write job pinned to CPU 0 and a 128 KiB sequential-write
job pinned to CPU 1, both QD32, libaio, O_DIRECT, verify=crc32c with
verify_fatal -- writes, then every block read back and checked.  The host
SIGKILLs pvkit-blkback KILLS times (default 100) at seeded random
spacings of 0.05 to 3 s, every fifth time also killing the successor as
soon as its pid exists (before it served anything), all far inside the
back-end's 30 s stable window, so pvkit-hv's restart backoff climbs to
its cap.  For each kill it measures the time until the new back-end has
served a request ('pvkit stat': per-back-end request counters), polled
every ~10 ms.  Then it writes STOP to the control disk; the guest ends
after its current pass.

Pass: every fio pass exited 0 (no verify error, no EIO), at least two
passes ran, the guest logged no I/O error, BUG, WARNING or Oops, and
every kill was followed by a new back-end serving I/O.  Writes
build/soak/blk-kill.json and prints p50/p99/max.

usage: blk-kill.py [--kills N] [--seed S] [--timeout SEC]
"""

import argparse
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PVKIT = os.path.join(TOP, "build", "bin", "pvkit")
OUT = os.path.join(TOP, "build", "soak")

GUEST = r"""
set -u
FIO="fio --direct=1 --ioengine=libaio --iodepth=32 --verify=crc32c
 --verify_fatal=1 --randrepeat=0 --filename=/dev/pvda
 --name=rand --rw=randwrite --bs=4k --size=48M --offset=0 --cpus_allowed=0
 --name=seq --rw=write --bs=128k --size=96M --offset=64M --cpus_allowed=1"
i=0
echo PVKIT-SOAK-START
while [ $i -lt 2000 ]; do
	i=$((i + 1))
	$FIO --output=/tmp/fio.out; rc=$?
	echo "PVKIT-SOAK-PASS $i $rc"
	if [ $rc != 0 ]; then
		sed 's/^/PVKIT-FIO: /' /tmp/fio.out | grep -i -E "err|verify" | head -n 20
		break
	fi
	stop=$(dd if=/dev/pvdb bs=4096 count=1 iflag=direct 2>/dev/null | head -c 4)
	[ "$stop" = STOP ] && break
done
echo "PVKIT-SOAK-DONE $i"
dmesg | grep -E "pvkit|pvda|I/O error|BUG:|WARNING:|Oops|Call Trace" | sed 's/^/PVKIT-DMESG: /'
"""


def stat(name):
    try:
        out = subprocess.run([PVKIT, "stat", name, "--json"],
                             capture_output=True, timeout=10).stdout
        return json.loads(out)
    except (subprocess.TimeoutExpired, ValueError):
        return None


def blk0(st):
    """(pid or None, requests served) of the scratch disk's back-end."""
    for d in (st or {}).get("devices", []):
        if d.get("type") == "blk" and d.get("instance") == 0:
            be = d.get("backend", {})
            reqs = sum(q.get("requests", 0) for q in d.get("queues", []))
            pid = be.get("pid", 0)
            return (pid if pid > 0 else None), reqs, be.get("state", "")
    return None, 0, ""


def pct(xs, p):
    xs = sorted(xs)
    if not xs:
        return None
    k = min(len(xs) - 1, max(0, int(round(p / 100.0 * len(xs) + 0.5)) - 1))
    return xs[k]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kills", type=int, default=100)
    ap.add_argument("--seed", type=int, default=int(time.time()))
    ap.add_argument("--timeout", type=int, default=3600)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    name = "soak-kill-%d" % os.getpid()
    tmp = tempfile.mkdtemp(prefix="pvkit-soak.", dir="/dev/shm")
    disk, ctl = os.path.join(tmp, "disk.img"), os.path.join(tmp, "ctl.img")
    for path, size in ((disk, 256 << 20), (ctl, 1 << 20)):
        with open(path, "wb") as f:
            f.truncate(size)
    os.makedirs(OUT, exist_ok=True)
    log = os.path.join(OUT, "blk-kill.console.log")
    print("blk-kill: seed %d, %d kills, console in %s" %
          (args.seed, args.kills, log), flush=True)
    env = dict(os.environ, PVKIT_BOOT="hv")
    boot = subprocess.Popen(
        [os.path.join(TOP, "scripts", "boot-guest.sh"), "--cmd", GUEST,
         "--timeout", str(args.timeout), "--log", log, "--",
         "--name", name, "--disk", disk, "--disk", ctl],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True)

    lat, early, missing = [], 0, 0
    problems = []
    t_start = time.monotonic()
    try:
        deadline = time.monotonic() + 300
        while not (os.path.exists(log) and "PVKIT-SOAK-START" in
                   open(log, errors="replace").read()):
            if boot.poll() is not None or time.monotonic() > deadline:
                problems.append("guest never started fio")
                raise StopIteration
            time.sleep(0.2)
        time.sleep(1.0)
        for k in range(args.kills):
            if boot.poll() is not None:
                problems.append("guest ended after %d kills" % k)
                break
            # the back-end to kill: wait for one to exist (it may be
            # waiting out the restart backoff)
            t_wait = time.monotonic() + 60
            pid = None
            while pid is None and time.monotonic() < t_wait:
                pid, _, _ = blk0(stat(name))
                if pid is None:
                    time.sleep(0.01)
            if pid is None:
                problems.append("kill %d: no back-end for 60 s" % k)
                break
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            t0 = time.monotonic()
            if k % 5 == 4:
                # and its successor, before it serves anything
                t_wait = time.monotonic() + 60
                while time.monotonic() < t_wait:
                    npid, _, _ = blk0(stat(name))
                    if npid and npid != pid:
                        try:
                            os.kill(npid, signal.SIGKILL)
                        except ProcessLookupError:
                            pass
                        pid = npid
                        early += 1
                        break
                    time.sleep(0.005)
            served = None
            t_wait = time.monotonic() + 60
            while time.monotonic() < t_wait:
                npid, reqs, _ = blk0(stat(name))
                if npid and npid != pid and reqs > 0:
                    served = time.monotonic() - t0
                    break
                time.sleep(0.01)
            if served is None:
                missing += 1
                problems.append("kill %d: no I/O served within 60 s" % k)
            else:
                lat.append(served)
            if k % 10 == 9:
                print("blk-kill: %d/%d kills, %.0f s, last %.2f s" %
                      (k + 1, args.kills, time.monotonic() - t_start,
                       served or -1), flush=True)
            time.sleep(rng.uniform(0.05, 3.0))
    except StopIteration:
        pass
    finally:
        fd = os.open(ctl, os.O_WRONLY)
        os.pwrite(fd, b"STOP", 0)
        os.fsync(fd)
        os.close(fd)
        try:
            rc = boot.wait(timeout=600)
        except subprocess.TimeoutExpired:
            os.killpg(boot.pid, signal.SIGKILL)
            rc = boot.wait()
        shutil.rmtree(tmp, ignore_errors=True)

    text = open(log, errors="replace").read().replace("\r", "")
    passes = [(int(a), int(b)) for a, b in
              re.findall(r"^PVKIT-SOAK-PASS (\d+) (\d+)$", text, re.M)]
    failed = [p for p in passes if p[1] != 0]
    dmesg = re.findall(r"^PVKIT-DMESG: (.*)$", text, re.M)
    bad = [line for line in dmesg if re.search(
        r"I/O error|BUG:|WARNING:|Oops|Call Trace|broken", line)]
    if rc != 0:
        problems.append("boot-guest exit %d" % rc)
    if len(passes) < 2:
        problems.append("only %d fio passes" % len(passes))
    if failed:
        problems.append("fio pass(es) failed: %s" % failed[:5])
        problems += re.findall(r"^PVKIT-FIO: (.*)$", text, re.M)[:10]
    problems += ["guest: " + line for line in bad[:10]]

    res = dict(kills=args.kills, seed=args.seed, killed_while_starting=early,
               fio_passes=len(passes), fio_failed=len(failed),
               guest_errors=len(bad), samples=len(lat), missing=missing,
               p50_s=pct(lat, 50), p99_s=pct(lat, 99),
               max_s=max(lat) if lat else None,
               min_s=min(lat) if lat else None,
               elapsed_s=round(time.monotonic() - t_start, 1),
               ok=not problems, problems=problems)
    with open(os.path.join(OUT, "blk-kill.json"), "w") as f:
        json.dump(res, f, indent=1)
    for p in problems:
        print("blk-kill: " + p)
    print("blk-kill: %d kills (%d while starting), %d fio passes, %d failed, "
          "kill -> first I/O p50 %s s, p99 %s s, max %s s: %s" % (
              args.kills, early, len(passes), len(failed),
              "%.3f" % res["p50_s"] if lat else "-",
              "%.3f" % res["p99_s"] if lat else "-",
              "%.3f" % res["max_s"] if lat else "-",
              "PASS" if not problems else "FAIL"))
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main())
