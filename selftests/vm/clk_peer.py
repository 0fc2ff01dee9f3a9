#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""The host end of selftests/vm/clock-basic.sh and scripts/bench-clock.py.

Follows the guest's console log and compares the guest's CLOCK_REALTIME
with the host's on receipt, independently of pvkit's own path:
  PVKIT-CLK-NOW SEC.NSEC     the guest's time; the host's CLOCK_REALTIME
                             when the line arrives is recorded next to it
                             (offset = guest - host: the line's transit
                             makes it read low, by ms at most)
  PVKIT-CLK-MARK NAME        later NOW lines belong to phase NAME
  PVKIT-CLK-PAUSE NAME SECS  `pvkit pause VM`, SECS s, `pvkit resume VM`
                             (the resume's host time is kept); later NOW
                             lines belong to phase NAME
  PVKIT-EXIT                 write the results and stop
The log is polled every 0.5 ms: receipt is late by that much at most.
Results (JSON in OUT): {"phases": {NAME: [[guest_ns, host_ns], ...]},
"pauses": {NAME: {"pause_ns": t, "resume_ns": t, "rc": [p, r]}}}.
Every wait is bounded.

usage: clk_peer.py LOG OUT VM_NAME PVKIT
"""

import json
import os
import subprocess
import sys
import threading
import time

POLL_S = 0.0005
LIFE_S = 1800


class Peer:
    def __init__(self, log, out, vm, pvkit):
        self.log, self.out, self.vm, self.pvkit_bin = log, out, vm, pvkit
        self.res = {"phases": {}, "pauses": {}}
        self.phase = "boot"
        self.threads = []

    def pvkit(self, verb):
        try:
            r = subprocess.run([self.pvkit_bin, verb, self.vm],
                               capture_output=True, timeout=20)
            return r.returncode
        except (OSError, subprocess.TimeoutExpired):
            return -1

    def pause(self, name, secs):
        p = {}
        self.res["pauses"][name] = p
        time.sleep(0.5)
        rp = self.pvkit("pause")
        p["pause_ns"] = time.clock_gettime_ns(time.CLOCK_REALTIME)
        time.sleep(secs)
        rr = self.pvkit("resume")
        p["resume_ns"] = time.clock_gettime_ns(time.CLOCK_REALTIME)
        p["rc"] = [rp, rr]

    def line(self, text, now):
        w = text.split()
        if not w:
            return True
        if w[0] == "PVKIT-CLK-NOW" and len(w) == 2:
            sec, _, frac = w[1].partition(".")
            try:
                g = int(sec) * 1000000000 + int(frac.ljust(9, "0")[:9])
            except ValueError:
                return True
            self.res["phases"].setdefault(self.phase, []).append([g, now])
        elif w[0] == "PVKIT-CLK-MARK" and len(w) == 2:
            self.phase = w[1]
        elif w[0] == "PVKIT-CLK-PAUSE" and len(w) == 3:
            self.phase = w[1]
            try:
                secs = min(float(w[2]), 120.0)
            except ValueError:
                return True
            t = threading.Thread(target=self.pause, args=(w[1], secs))
            t.start()
            self.threads.append(t)
        elif w[0].startswith("PVKIT-EXIT"):
            return False
        return True

    def run(self):
        t0 = time.monotonic()
        fd = None
        buf = b""
        while time.monotonic() - t0 < LIFE_S:
            if fd is None:
                try:
                    fd = os.open(self.log, os.O_RDONLY)
                except OSError:
                    time.sleep(0.05)
                    continue
            data = os.read(fd, 65536)
            if not data:
                time.sleep(POLL_S)
                continue
            now = time.clock_gettime_ns(time.CLOCK_REALTIME)
            buf += data
            go = True
            while b"\n" in buf and go:
                raw, buf = buf.split(b"\n", 1)
                go = self.line(raw.decode(errors="replace").strip("\r"), now)
            if not go:
                break
        for t in self.threads:
            t.join(timeout=150)
        with open(self.out + ".tmp", "w") as f:
            json.dump(self.res, f)
        os.rename(self.out + ".tmp", self.out)


if __name__ == "__main__":
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    Peer(*sys.argv[1:]).run()
