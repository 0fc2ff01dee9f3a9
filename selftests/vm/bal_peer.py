#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-only
"""The host end of selftests/vm/balloon-basic.sh and scripts/bench-balloon.py.

Follows the guest's console log and acts on its markers, each once:
  PVKIT-BAL-STEP NAME [MIB]   set the target to MIB MiB (if given), record
                              `pvkit balloon VM --json` as NAME, then ack
  PVKIT-BAL-PRESSURE on MIB   until "off": re-request the target every
                              0.25 s, alternating MIB and MIB - 4 so that
                              each one is a config change the guest sees
  PVKIT-BAL-PRESSURE off MIB  stop, leave the target at MIB, ack
  PVKIT-BAL-WATCH NAME MIB [S]
                              follow the RAM file shrinking (free page
                              reporting) for S s (default 20) or until
                              90% of MIB MiB is gone, then ack
  PVKIT-BAL-MEASURE NAME DEV MIB
                              set the balloon of DEV (pvkit: pvkit-hv's,
                              `pvkit balloon`; virtio: QEMU's
                              virtio-balloon, QMP `balloon`, needs --qmp)
                              to MIB MiB and time it: until the balloon
                              holds it and, when inflating, until the RAM
                              file has released 95% of what was added
                              (and 1.5 s more, at most 10 s more); host
                              CPU time over both; the RAM file's series;
                              then ack
  PVKIT-EXIT                  write the results and stop
An ack is `pvkit balloon VM --stats`: the guest sees stats_seq move once
its stats report went out, so it knows the host is done with the step
(pvkit_balloon must be loaded for that, with any parameters).
Results (JSON in OUT): {"steps": {NAME: balloon}, "pressure": requests,
"watch": {NAME: [[seconds, bytes_dropped], ...]},
"measure": {NAME: {...}}}.  Every wait is bounded.

usage: bal_peer.py LOG OUT VM_NAME PVKIT [--qmp SOCKET]
"""

import json
import os
import socket
import subprocess
import sys
import threading
import time

sys.dont_write_bytecode = True  # the source tree is never written
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(
    os.path.dirname(os.path.abspath(__file__)))), "scripts"))
from benchlib import comm, host_cpu_split  # noqa: E402

MIB = 1 << 20
MEASURE_CAP_S = 300
RELEASE_CAP_S = 10      # after the balloon reached its target
RELEASE_MORE_S = 1.5
POLL_S = 0.02


class Qmp:
    """A QMP client on a socket of its own (QEMU's -qmp serves one client
    at a time, and pvkit-hv uses its own socket to stop the VM)."""

    def __init__(self, path, timeout=10):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.buf = b""
        self._reply()                       # the greeting
        self.cmd("qmp_capabilities")

    def _reply(self):
        while True:
            while b"\n" not in self.buf:
                data = self.sock.recv(65536)
                if not data:
                    raise OSError("QMP connection closed")
                self.buf += data
            line, self.buf = self.buf.split(b"\n", 1)
            msg = json.loads(line)
            if "event" not in msg:
                return msg

    def cmd(self, name, **args):
        req = {"execute": name}
        if args:
            req["arguments"] = args
        self.sock.sendall(json.dumps(req).encode() + b"\n")
        r = self._reply()
        if "error" in r:
            raise OSError("QMP %s: %s" % (name, r["error"].get("desc")))
        return r.get("return")

    def close(self):
        self.sock.close()


class Peer:
    def __init__(self, log, out, vm, pvkit, qmp=None):
        self.log, self.out, self.vm, self.pvkit_bin = log, out, vm, pvkit
        self.qmp_path, self.qmp = qmp, None
        self.res = {"steps": {}, "pressure": 0, "watch": {}, "measure": {}}
        self.stop_pressure = threading.Event()
        self.pth = None
        self.alive = lambda: True

    def pvkit(self, *args):
        try:
            r = subprocess.run([self.pvkit_bin, "balloon", self.vm] +
                               list(args), capture_output=True, timeout=20)
            return r.stdout.decode(errors="replace")
        except (OSError, subprocess.TimeoutExpired):
            return ""

    def balloon(self):
        try:
            return json.loads(self.pvkit("--json")).get("balloon", {})
        except ValueError:
            return {}

    def ack(self):
        self.pvkit("--stats")

    def pressure(self, mib):
        n = 0
        while not self.stop_pressure.is_set() and n < 2400:
            self.pvkit("--target", "%dM" % (mib - 4 * (n & 1)))
            n += 1
            time.sleep(0.25)
        self.res["pressure"] = n

    def watch(self, name, mib, secs=20.0):
        """The RAM file's drop from now on, every 0.1 s for secs s (or
        until 90% of MIB MiB is gone): [[seconds, bytes], ...]."""
        start = self.balloon().get("ram_allocated", 0)
        t0 = time.monotonic()
        series = []
        while time.monotonic() - t0 < secs and self.alive():
            now = self.balloon().get("ram_allocated", start)
            series.append([round(time.monotonic() - t0, 2), start - now])
            if start - now >= 0.9 * mib * MIB:
                break
            time.sleep(0.1)
        self.res["watch"][name] = series
        self.ack()

    # --- MEASURE -------------------------------------------------------
    def hv_pid(self):
        base = os.environ.get("PVKIT_RUN_DIR", "/run/pvkit")
        try:
            with open(os.path.join(base, self.vm, "pid")) as f:
                return int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def cpu(self):
        """{"qemu": s, "pvkit-hv": s, ...} of this VM's processes."""
        pid = self.hv_pid()
        return host_cpu_split(pid) if pid and comm(pid) else {}

    def virtio_held(self, ram):
        """Bytes in QEMU's virtio-balloon (query-balloon gives the RAM
        the guest keeps)."""
        return ram - self.qmp.cmd("query-balloon")["actual"]

    def measure(self, name, dev, mib):
        b0 = self.balloon()
        ram, base = b0.get("ram", 0), b0.get("ram_allocated", 0)
        want = mib * MIB
        r = {"dev": dev, "target": want, "ram": ram, "ram_allocated0": base,
             "inflates0": b0.get("inflates"), "deflates0": b0.get("deflates")}
        if dev == "virtio" and self.qmp is None:
            self.qmp = Qmp(self.qmp_path)

        def held(b):
            return b.get("actual", 0) if dev == "pvkit" else \
                self.virtio_held(ram)

        held0 = held(b0)
        # the RAM file must lose 95% of what goes into the balloon
        release = want - held0 > 0 and base - int(0.95 * (want - held0))
        cpu0 = self.cpu()
        t0 = time.monotonic()
        if dev == "virtio":
            self.qmp.cmd("balloon", value=ram - want)
        else:
            self.pvkit("--target", "%dM" % mib)
        t_act = t_rel = None
        series = []
        while time.monotonic() - t0 < MEASURE_CAP_S and self.alive():
            b = self.balloon()
            now = time.monotonic() - t0
            series.append([round(now, 3), b.get("ram_allocated", base)])
            if t_act is None and held(b) == want:
                t_act, cpu_act = now, self.cpu()
            if release and t_rel is None and \
               b.get("ram_allocated", base) <= release:
                t_rel = now
            # past the target, watch the RAM file a little longer: what
            # it releases late shows
            if t_act is not None and (
                    not release or now - t_act > RELEASE_CAP_S or
                    (t_rel is not None and now - t_act > RELEASE_MORE_S)):
                break
            time.sleep(POLL_S)
        cpu1 = self.cpu()
        b1 = self.balloon()
        r.update({"t_actual": t_act, "t_release": t_rel,
                  "ram_allocated_series": series,
                  "ram_allocated1": b1.get("ram_allocated"),
                  "inflates1": b1.get("inflates"),
                  "deflates1": b1.get("deflates"),
                  "cpu0": cpu0, "cpu1": cpu1,
                  "cpu_actual": cpu_act if t_act is not None else None})
        self.res["measure"][name] = r
        self.ack()

    # --- the console -------------------------------------------------------
    def save(self):
        with open(self.out, "w") as f:
            json.dump(self.res, f)

    def act(self, w):
        if w[0] == "PVKIT-BAL-STEP" and len(w) in (2, 3):
            if len(w) == 3:
                self.pvkit("--target", "%sM" % w[2])
            self.res["steps"][w[1]] = self.balloon()
            self.ack()
        elif w[0] == "PVKIT-BAL-PRESSURE" and len(w) == 3:
            if w[1] == "on" and self.pth is None:
                self.stop_pressure.clear()
                self.pth = threading.Thread(target=self.pressure,
                                            args=(int(w[2]),), daemon=True)
                self.pth.start()
            elif w[1] == "off":
                self.stop_pressure.set()
                if self.pth:
                    self.pth.join(30)
                self.pth = None
                self.pvkit("--target", "%sM" % w[2])
                self.ack()
        elif w[0] == "PVKIT-BAL-WATCH" and len(w) in (3, 4):
            args = (w[1], int(w[2])) + ((float(w[3]),) if len(w) == 4
                                        else ())
            threading.Thread(target=self.watch, args=args,
                             daemon=True).start()
        elif w[0] == "PVKIT-BAL-MEASURE" and len(w) == 4 and \
                w[2] in ("pvkit", "virtio"):
            try:
                self.measure(w[1], w[2], int(w[3]))
            except (OSError, ValueError, KeyError, TypeError) as e:
                self.res["measure"][w[1]] = {"dev": w[2], "error": str(e)}
                self.ack()

    def run(self, limit_s=1500, alive=lambda: True):
        """Until PVKIT-EXIT, limit_s or alive() false (the VM is gone)."""
        self.alive = alive
        seen, done = 0, set()
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline and alive():
            try:
                with open(self.log, errors="replace") as f:
                    lines = f.read().replace("\r", "").splitlines()
            except OSError:
                lines = []
            for line in lines[seen:]:
                w = line.split()
                if not w or not w[0].startswith("PVKIT-"):
                    continue
                if w[0].startswith("PVKIT-EXIT"):
                    self.stop_pressure.set()
                    self.save()
                    return
                key = " ".join(w)
                if key in done:
                    continue
                done.add(key)
                self.act(w)
            seen = len(lines)
            time.sleep(0.1)
        self.stop_pressure.set()
        self.save()


def main():
    args = sys.argv[1:]
    qmp = None
    if "--qmp" in args:
        i = args.index("--qmp")
        qmp = args[i + 1]
        del args[i:i + 2]
    Peer(*args[:4], qmp=qmp).run()


if __name__ == "__main__":
    main()
