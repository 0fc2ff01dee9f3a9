#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""The host end of selftests/vm/balloon-basic.sh.

Follows the guest's console log and acts on its markers, each once:
  PVKIT-BAL-STEP NAME [MIB]   set the target to MIB MiB (if given), record
                              `pvkit balloon VM --json` as NAME, then ack
  PVKIT-BAL-PRESSURE on MIB   until "off": re-request the target every
                              0.25 s, alternating MIB and MIB - 4 so that
                              each one is a config change the guest sees
  PVKIT-BAL-PRESSURE off MIB  stop, leave the target at MIB, ack
  PVKIT-BAL-WATCH NAME MIB    follow the RAM file shrinking (free page
                              reporting) for 20 s or until 90% of MIB
                              MiB is gone, then ack
  PVKIT-EXIT                  write the results and stop
An ack is `pvkit balloon VM --stats`: the guest sees stats_seq move once
its stats report went out, so it knows the host is done with the step.
Results (JSON in OUT): {"steps": {NAME: balloon}, "pressure": requests,
"watch": {NAME: [[seconds, bytes_dropped], ...]}}.  Every wait
is bounded.

usage: bal_peer.py LOG OUT VM_NAME PVKIT
"""

import json
import subprocess
import sys
import threading
import time

LOG, OUT, VM, PVKIT = sys.argv[1:5]
MIB = 1 << 20
res = {"steps": {}, "pressure": 0, "watch": {}}
stop_pressure = threading.Event()


def pvkit(*args):
    try:
        r = subprocess.run([PVKIT, "balloon", VM] + list(args),
                           capture_output=True, timeout=20)
        return r.stdout.decode(errors="replace")
    except (OSError, subprocess.TimeoutExpired):
        return ""


def balloon():
    try:
        return json.loads(pvkit("--json")).get("balloon", {})
    except ValueError:
        return {}


def ack():
    pvkit("--stats")


def pressure(mib):
    n = 0
    while not stop_pressure.is_set() and n < 2400:
        pvkit("--target", "%dM" % (mib - 4 * (n & 1)))
        n += 1
        time.sleep(0.25)
    res["pressure"] = n


def watch(name, mib):
    """The RAM file's drop from now on, every 0.1 s for 20 s (or until
    90% of MIB MiB is gone): [[seconds, bytes], ...]."""
    start = balloon().get("ram_allocated", 0)
    t0 = time.monotonic()
    series = []
    while time.monotonic() - t0 < 20:
        now = balloon().get("ram_allocated", start)
        series.append([round(time.monotonic() - t0, 2), start - now])
        if start - now >= 0.9 * mib * MIB:
            break
        time.sleep(0.1)
    res["watch"][name] = series
    ack()


def main():
    seen, done, pth = 0, set(), None
    deadline = time.monotonic() + 1500
    while time.monotonic() < deadline:
        try:
            with open(LOG, errors="replace") as f:
                lines = f.read().replace("\r", "").splitlines()
        except OSError:
            lines = []
        for line in lines[seen:]:
            w = line.split()
            if not w or not w[0].startswith("PVKIT-"):
                continue
            if w[0] == "PVKIT-EXIT" or w[0].startswith("PVKIT-EXIT"):
                stop_pressure.set()
                with open(OUT, "w") as f:
                    json.dump(res, f)
                return
            key = " ".join(w)
            if key in done:
                continue
            done.add(key)
            if w[0] == "PVKIT-BAL-STEP" and len(w) in (2, 3):
                if len(w) == 3:
                    pvkit("--target", "%sM" % w[2])
                res["steps"][w[1]] = balloon()
                ack()
            elif w[0] == "PVKIT-BAL-PRESSURE" and len(w) == 3:
                if w[1] == "on" and pth is None:
                    stop_pressure.clear()
                    pth = threading.Thread(target=pressure,
                                           args=(int(w[2]),), daemon=True)
                    pth.start()
                elif w[1] == "off":
                    stop_pressure.set()
                    if pth:
                        pth.join(30)
                    pth = None
                    pvkit("--target", "%sM" % w[2])
                    ack()
            elif w[0] == "PVKIT-BAL-WATCH" and len(w) == 3:
                threading.Thread(target=watch, args=(w[1], int(w[2])),
                                 daemon=True).start()
        seen = len(lines)
        time.sleep(0.1)
    stop_pressure.set()
    with open(OUT, "w") as f:
        json.dump(res, f)


if __name__ == "__main__":
    main()
