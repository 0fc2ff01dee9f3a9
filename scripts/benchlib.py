# SPDX-License-Identifier: GPL-2.0-only
"""Helpers shared by the host-side benchmarks (bench-blk.py, bench-net.py,
bench-balloon.py) and selftests/vm/bal_peer.py.

The guest prints BENCH-* markers on its serial console; follow() reads
the console file as QEMU writes it, and host_cpu() samples the CPU time
of the engine's processes (QEMU, pvkit-hv, the back-ends) at the markers.
"""

import json
import os
import sys
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(TOP, "build", "bench")
CLK_TCK = os.sysconf("SC_CLK_TCK")


def follow(path, proc):
    """Yield lines of path as they are written, until proc (a Popen, or a
    callable saying whether the writer is alive) has exited; then what is
    left of the file."""
    alive = proc if callable(proc) else (lambda: proc.poll() is None)
    f = None
    pending = ""
    while True:
        if f is None:
            try:
                f = open(path, errors="replace")
            except OSError:
                f = None
        chunk = f.read() if f else ""
        if chunk:
            pending += chunk.replace("\r", "")
            *lines, pending = pending.split("\n")
            for line in lines:
                yield line
            continue
        if not alive():
            if f:
                pending += f.read().replace("\r", "")
                for line in pending.split("\n"):
                    yield line
                f.close()
            return
        time.sleep(0.02)


def proc_children(root):
    """Every descendant pid of root (QEMU, back-ends) plus root."""
    kids = {}
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % p) as f:
                st = f.read()
        except OSError:
            continue
        ppid = int(st[st.rindex(")") + 2:].split()[1])
        kids.setdefault(ppid, []).append(int(p))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo += kids.get(pid, [])
    return out


def cpu_seconds(pid):
    """utime + stime of pid (all its threads), in seconds."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            st = f.read()
    except OSError:
        return 0.0
    fields = st[st.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def comm(pid):
    try:
        with open("/proc/%d/comm" % pid) as f:
            return f.read().strip()
    except OSError:
        return ""


def engine_procs(root):
    """(pid, comm) of QEMU and the pvkit-* processes under root."""
    out = []
    for pid in proc_children(root):
        c = comm(pid)
        if c.startswith("qemu") or c.startswith("pvkit-"):
            out.append((pid, c))
    return out


def host_cpu_split(root):
    """CPU seconds of the engine under root, {comm: seconds}: QEMU, the
    back-ends and pvkit-hv itself."""
    out = {}
    for pid, c in engine_procs(root):
        out[c] = out.get(c, 0.0) + cpu_seconds(pid)
    return out


def host_cpu(root):
    """CPU seconds of the engine: QEMU + back-ends (+ pvkit-hv itself)."""
    return sum(host_cpu_split(root).values())


def median(xs):
    xs = sorted(x for x in xs if x is not None)
    if not xs:
        return None
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2.0


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return f.read().split()[:3]
    except OSError:
        return []


def fmt(v, nd=1):
    return "-" if v is None else ("%.*f" % (nd, v))


def unlink_quiet(path):
    try:
        os.unlink(path)
    except OSError:
        pass


def finish(name, meta, rows, text, missing, rc):
    """Write build/bench/NAME.{json,md}, print the table; exit status."""
    paths = [os.path.join(OUT, name + ext) for ext in (".json", ".md")]
    with open(paths[0], "w") as f:
        json.dump({"meta": meta, "results": rows}, f, indent=2)
    with open(paths[1], "w") as f:
        f.write(text)
    print()
    print(text)
    print("bench-%s: wrote %s and %s" % (name, paths[0], paths[1]))
    if missing:
        print("bench-%s: %d jobs produced no result" % (name, missing),
              file=sys.stderr)
        return 1
    return 0 if rc == 0 else 1
