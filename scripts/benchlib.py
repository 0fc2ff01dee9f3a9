# SPDX-License-Identifier: GPL-2.0-only
"""What the host ends of the benchmarks share (bench-blk.py,
bench-balloon.py, selftests/vm/bal_peer.py): following a console log as
the guest writes it, the CPU time of the engine's processes, medians and
number formatting."""

import os
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")


def follow(path, alive):
    """Yield lines of path as they are written, until alive() is false
    (then what is left of the file)."""
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
    """utime + stime of pid, in seconds (0 once it is gone)."""
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


def host_cpu_split(root):
    """CPU seconds of the engine under root, {comm: seconds}: QEMU, the
    back-ends and pvkit-hv itself."""
    out = {}
    for pid in proc_children(root):
        c = comm(pid)
        if c.startswith("qemu") or c.startswith("pvkit-"):
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


def fmt(v, nd=1):
    return "-" if v is None else ("%.*f" % (nd, v))


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return f.read().split()[:3]
    except OSError:
        return []
